/* OCI hooks: fork, exec with the state on stdin, wait with a timeout. */
#include "oci_hooks.h"
#include "util.h"

#include <stdbool.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *const kind_names[] = {
    [OCI_HOOK_PRESTART] = "prestart",
    [OCI_HOOK_CREATE_RUNTIME] = "createRuntime",
    [OCI_HOOK_CREATE_CONTAINER] = "createContainer",
    [OCI_HOOK_START_CONTAINER] = "startContainer",
    [OCI_HOOK_POSTSTART] = "poststart",
    [OCI_HOOK_POSTSTOP] = "poststop",
};

const char *oci_hook_kind_name(enum oci_hook_kind kind)
{
    return kind_names[kind];
}

static void hooks_of(const Grpc__Hooks *h, enum oci_hook_kind kind, Grpc__Hook ***hooks, size_t *n)
{
    *hooks = NULL;
    *n = 0;
    if (h == NULL)
        return;
    switch (kind) {
    case OCI_HOOK_PRESTART:
        *hooks = h->prestart, *n = h->n_prestart;
        break;
    case OCI_HOOK_CREATE_RUNTIME:
        *hooks = h->createruntime, *n = h->n_createruntime;
        break;
    case OCI_HOOK_CREATE_CONTAINER:
        *hooks = h->createcontainer, *n = h->n_createcontainer;
        break;
    case OCI_HOOK_START_CONTAINER:
        *hooks = h->startcontainer, *n = h->n_startcontainer;
        break;
    case OCI_HOOK_POSTSTART:
        *hooks = h->poststart, *n = h->n_poststart;
        break;
    case OCI_HOOK_POSTSTOP:
        *hooks = h->poststop, *n = h->n_poststop;
        break;
    }
}

/* A JSON string body: quotes, backslashes and control bytes escaped. */
static void json_escape(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
}

static char *state_json(const struct oci_hook_state *st)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL)
        abort();
    fprintf(f, "{\"ociVersion\":\"%s\",\"id\":\"", OCI_SPEC_VERSION);
    json_escape(f, st->id);
    fprintf(f, "\",\"status\":\"%s\",", st->status);
    /* No process (a poststop after the VM died): the spec makes pid optional
     * then, and any pid of ours would be in the host's namespaces. */
    if (st->pid > 0)
        fprintf(f, "\"pid\":%d,", (int)st->pid);
    fputs("\"bundle\":\"", f);
    json_escape(f, st->bundle);
    fputs("\"}", f);
    fclose(f);
    return buf;
}

static int run_one(const Grpc__Hook *hook, const char *state, struct kerr **err)
{
    if (hook->path == NULL || hook->path[0] != '/')
        return kerr_make(err, EINVAL, "hook `%s`: path must be absolute",
                         hook->path ? hook->path : "");
    int in[2];
    if (pipe2(in, O_CLOEXEC) < 0)
        return kerr_make(err, errno, "hook `%s`: pipe", hook->path);
    pid_t pid = fork();
    if (pid < 0) {
        close(in[0]);
        close(in[1]);
        return kerr_make(err, errno, "hook `%s`: fork", hook->path);
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        dup2(in[0], 0);
        char **argv = xcalloc(hook->n_args + 2, sizeof(char *));
        if (hook->n_args == 0)
            argv[0] = hook->path;
        for (size_t i = 0; i < hook->n_args; i++)
            argv[i] = hook->args[i];
        char **env = xcalloc(hook->n_env + 1, sizeof(char *));
        for (size_t i = 0; i < hook->n_env; i++)
            env[i] = hook->env[i];
        execve(hook->path, argv, env);
        _exit(127);
    }
    close(in[0]);
    /* The state is small: it fits the pipe, a hook that does not read it
     * does not block us. */
    (void)!write(in[1], state, strlen(state));
    close(in[1]);
    int64_t timeout = hook->timeout > 0 && hook->timeout < OCI_HOOK_TIMEOUT_MAX_S
                          ? hook->timeout
                          : OCI_HOOK_TIMEOUT_MAX_S;
    uint64_t deadline = now_ns() + (uint64_t)timeout * 1000000000ull;
    int status;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR)
            return kerr_make(err, errno, "hook `%s`: wait", hook->path);
        if (now_ns() >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return kerr_make(err, ETIMEDOUT, "hook `%s`: timed out after %lld s", hook->path,
                             (long long)timeout);
        }
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFSIGNALED(status))
        return kerr_make(err, 0, "hook `%s`: killed by signal %d", hook->path, WTERMSIG(status));
    if (WEXITSTATUS(status) == 127)
        return kerr_make(err, ENOENT, "hook `%s`: cannot be executed (exit status 127)",
                         hook->path);
    return kerr_make(err, 0, "hook `%s`: exit status %d", hook->path, WEXITSTATUS(status));
}

int oci_hooks_run(const Grpc__Hooks *h, enum oci_hook_kind kind, const struct oci_hook_state *state,
                  struct kerr **err)
{
    Grpc__Hook **hooks;
    size_t n;
    hooks_of(h, kind, &hooks, &n);
    if (n == 0)
        return 0;
    cleanup_free char *json = state_json(state);
    /* The spec: a failed poststart or poststop hook is only warned about,
     * and the remaining hooks still run. */
    bool go_on = kind == OCI_HOOK_POSTSTART || kind == OCI_HOOK_POSTSTOP;
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        cleanup_kerr struct kerr *e = NULL;
        if (run_one(hooks[i], json, &e) == 0)
            continue;
        if (failed++ == 0 && err) {
            kerr_wrap(&e, "%s hook %zu", kind_names[kind], i);
            kerr_free(*err);
            *err = e;
            e = NULL;
        }
        if (!go_on)
            return -1;
    }
    if (failed > 1)
        kerr_wrap(err, "%zu of %zu %s hooks failed, the first", failed, n, kind_names[kind]);
    return failed ? -1 : 0;
}
