/* OCI hooks: fork, exec with the state on stdin, wait with a timeout. */
#include "hooks.h"
#include "container.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *const hook_names[] = {
    [HOOK_PRESTART] = "prestart",
    [HOOK_CREATE_RUNTIME] = "createRuntime",
    [HOOK_CREATE_CONTAINER] = "createContainer",
    [HOOK_START_CONTAINER] = "startContainer",
    [HOOK_POSTSTART] = "poststart",
    [HOOK_POSTSTOP] = "poststop",
};

static void hooks_of(const Grpc__Spec *spec, enum hook_kind kind, Grpc__Hook ***hooks, size_t *n)
{
    const Grpc__Hooks *h = spec ? spec->hooks : NULL;
    *hooks = NULL;
    *n = 0;
    if (h == NULL)
        return;
    switch (kind) {
    case HOOK_PRESTART:
        *hooks = h->prestart, *n = h->n_prestart;
        break;
    case HOOK_CREATE_RUNTIME:
        *hooks = h->createruntime, *n = h->n_createruntime;
        break;
    case HOOK_CREATE_CONTAINER:
        *hooks = h->createcontainer, *n = h->n_createcontainer;
        break;
    case HOOK_START_CONTAINER:
        *hooks = h->startcontainer, *n = h->n_startcontainer;
        break;
    case HOOK_POSTSTART:
        *hooks = h->poststart, *n = h->n_poststart;
        break;
    case HOOK_POSTSTOP:
        *hooks = h->poststop, *n = h->n_poststop;
        break;
    }
}

/* The container state as the runtime spec's "state" operation gives it.  Ids
 * and paths are validated (no quotes or backslashes to escape). */
static char *state_json(const char *id, const char *status, pid_t pid, const char *bundle)
{
    return xasprintf("{\"ociVersion\":\"%s\",\"id\":\"%s\",\"status\":\"%s\",\"pid\":%d,"
                     "\"bundle\":\"%s\"}",
                     OCI_SPEC_VERSION, id, status, (int)pid, bundle);
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
    uint64_t deadline = hook->timeout > 0 ? now_ns() + (uint64_t)hook->timeout * 1000000000ull : 0;
    int status;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR)
            return kerr_make(err, errno, "hook `%s`: wait", hook->path);
        if (deadline && now_ns() >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return kerr_make(err, ETIMEDOUT, "hook `%s`: timed out after %lld s", hook->path,
                             (long long)hook->timeout);
        }
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFSIGNALED(status))
        return kerr_make(err, 0, "hook `%s`: killed by signal %d", hook->path, WTERMSIG(status));
    return kerr_make(err, 0, "hook `%s`: exit status %d", hook->path, WEXITSTATUS(status));
}

int hooks_run_spec(const Grpc__Spec *spec, enum hook_kind kind, const char *id, const char *status,
                   pid_t pid, const char *bundle, struct kerr **err)
{
    Grpc__Hook **hooks;
    size_t n;
    hooks_of(spec, kind, &hooks, &n);
    if (n == 0)
        return 0;
    cleanup_free char *state = state_json(id, status, pid, bundle);
    for (size_t i = 0; i < n; i++)
        if (run_one(hooks[i], state, err) < 0)
            return kerr_wrap(err, "%s hook %zu", hook_names[kind], i);
    return 0;
}

static const char *status_name(const struct container *c)
{
    switch (c->state) {
    case CONTAINER_CREATED:
        return "created";
    case CONTAINER_RUNNING:
        return "running";
    case CONTAINER_PAUSED:
        return "paused";
    case CONTAINER_STOPPED:
        break;
    }
    return "stopped";
}

int hooks_run(struct container *c, enum hook_kind kind, struct kerr **err)
{
    pid_t pid = c->init ? c->init->pid : 0;
    return hooks_run_spec(c->spec, kind, c->id, status_name(c), pid, c->bundle_root, err);
}

void hooks_run_poststop(struct container *c)
{
    cleanup_kerr struct kerr *err = NULL;
    if (hooks_run(c, HOOK_POSTSTOP, &err) < 0)
        log_warn("container `%s`: %s", c->id, err->msg);
}
