/* Starting and cleaning the sandbox daemon: see daemon.h. */
#include "daemon.h"
#include "proc_ref.h"

#include "config.h"
#include "log.h"
#include "runtime.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DAEMON_START_TIMEOUT_MS 60000
#define DAEMON_OUTPUT_MAX       (64u << 10)

static const char *const daemon_env_names[] = {"KATA_SHIM_PATH", "KATA_STATE_DIR",
                                               "KATA_SHARED_DIR", "KATA_SHIM_SOCKET_DIR"};

/* NAME's value in s->daemon_env, or NULL. */
static const char *daemon_env_get(const struct container_state *s, const char *name)
{
    size_t n = strlen(name);
    for (char **e = s ? s->daemon_env : NULL; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

char *daemon_binary(const struct container_state *s)
{
    const char *env = daemon_env_get(s, "KATA_SHIM_PATH");
    if (!env)
        env = getenv("KATA_SHIM_PATH");
    if (env && *env)
        return xstrdup(env);
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            char *beside = xasprintf("%s/" DAEMON_BINARY_NAME, self);
            if (access(beside, X_OK) == 0)
                return beside;
            free(beside);
            /* The build tree: build/src/runtime/kata-runtime beside build/src/shim/. */
            char *built = xasprintf("%s/../shim/" DAEMON_BINARY_NAME, self);
            if (access(built, X_OK) == 0)
                return built;
            free(built);
        }
    }
    return xstrdup(DAEMON_BINARY_NAME);
}

void daemon_env_record(struct container_state *s)
{
    kata_strv_free(s->daemon_env);
    s->daemon_env = xcalloc(ARRAY_SIZE(daemon_env_names) + 1, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < ARRAY_SIZE(daemon_env_names); i++) {
        const char *v = getenv(daemon_env_names[i]);
        if (v && *v)
            s->daemon_env[k++] = xasprintf("%s=%s", daemon_env_names[i], v);
    }
}

struct captured {
    char *out; /* stdout */
    char *err; /* stderr */
    int status;
};

/* Run the shim with verb in the bundle directory, capturing stdout and
 * stderr (bounded).  Returns -1 only when it could not run or timed out. */
static int run_shim(const struct container_state *s, const char *verb, struct captured *cap,
                    struct kerr **err)
{
    memset(cap, 0, sizeof(*cap));
    cleanup_free char *binary = daemon_binary(s);
    int out[2], errp[2];
    if (pipe2(out, O_CLOEXEC) < 0)
        return kerr_make(err, errno, "pipe");
    if (pipe2(errp, O_CLOEXEC) < 0) {
        close(out[0]);
        close(out[1]);
        return kerr_make(err, errno, "pipe");
    }
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(out[0]), close(out[1]), close(errp[0]), close(errp[1]);
        return kerr_make(err, e, "fork");
    }
    if (pid == 0) {
        signal(SIGPIPE, SIG_DFL);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out[1], 1) < 0 || dup2(errp[1], 2) < 0)
            _exit(127);
        if (s->bundle && chdir(s->bundle) < 0)
            _exit(127);
        if (s->config_path)
            setenv("KATA_CONF_FILE", s->config_path, 1);
        for (char **e = s->daemon_env; e && *e; e++)
            putenv(*e);
        const char *argv[] = {binary,
                              "-namespace",
                              s->namespace ? s->namespace : DAEMON_NAMESPACE,
                              "-id",
                              s->sandbox_id ? s->sandbox_id : s->id,
                              "-bundle",
                              s->bundle ? s->bundle : "/",
                              runtime_opts.debug ? "-debug" : verb,
                              runtime_opts.debug ? verb : NULL,
                              NULL};
        execvp(binary, (char **)argv);
        dprintf(2, "exec `%s`: %s", binary, strerror(errno));
        _exit(127);
    }
    close(out[1]);
    close(errp[1]);
    size_t out_len = 0, err_len = 0;
    cap->out = xcalloc(1, DAEMON_OUTPUT_MAX + 1);
    cap->err = xcalloc(1, DAEMON_OUTPUT_MAX + 1);
    struct pollfd fds[2] = {{.fd = out[0], .events = POLLIN}, {.fd = errp[0], .events = POLLIN}};
    uint64_t deadline = now_ns() + (uint64_t)DAEMON_START_TIMEOUT_MS * 1000000ull;
    bool timed_out = false;
    while (fds[0].fd >= 0 || fds[1].fd >= 0) {
        uint64_t now = now_ns();
        if (now >= deadline) {
            timed_out = true;
            break;
        }
        int r = poll(fds, 2, (int)((deadline - now) / 1000000ull) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !fds[i].revents)
                continue;
            char *buf = i == 0 ? cap->out : cap->err;
            size_t *len = i == 0 ? &out_len : &err_len;
            char tmp[4096];
            ssize_t n = read(fds[i].fd, tmp, sizeof(tmp));
            if (n <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                continue;
            }
            size_t take = (size_t)n;
            if (take > DAEMON_OUTPUT_MAX - *len)
                take = DAEMON_OUTPUT_MAX - *len;
            memcpy(buf + *len, tmp, take);
            *len += take;
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0)
            close(fds[i].fd);
    if (timed_out)
        kill(pid, SIGKILL);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    cap->status = status;
    if (timed_out) {
        free(cap->out), free(cap->err);
        cap->out = cap->err = NULL;
        return kerr_make(err, ETIMEDOUT, "`%s %s` did not finish within %d s", binary, verb,
                         DAEMON_START_TIMEOUT_MS / 1000);
    }
    return 0;
}

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && strchr(" \t\r\n", s[n - 1]))
        s[--n] = '\0';
}

static int shim_failed(const struct container_state *s, const struct captured *cap,
                       const char *verb, struct kerr **err)
{
    trim(cap->err);
    cleanup_free char *binary = daemon_binary(s);
    if (WIFEXITED(cap->status))
        return kerr_make(err, 0, "`%s %s` exited with status %d%s%s", binary, verb,
                         WEXITSTATUS(cap->status), *cap->err ? ": " : "", cap->err);
    return kerr_make(err, 0, "`%s %s` was killed by signal %d%s%s", binary, verb,
                     WTERMSIG(cap->status), *cap->err ? ": " : "", cap->err);
}

char *daemon_start(const struct container_state *s, struct kerr **err)
{
    struct captured cap;
    if (run_shim(s, "start", &cap, err) < 0)
        return NULL;
    char *address = NULL;
    if (!WIFEXITED(cap.status) || WEXITSTATUS(cap.status) != 0) {
        shim_failed(s, &cap, "start", err);
    } else {
        trim(cap.out);
        if (!*cap.out || strchr(cap.out, '\n'))
            kerr_make(err, 0, "sandbox daemon: `start` printed no single address (`%s`)", cap.out);
        else
            address = xstrdup(cap.out);
    }
    if (address && *cap.err)
        log_debug("sandbox daemon start: %s", cap.err);
    free(cap.out);
    free(cap.err);
    return address;
}

int daemon_cleanup(const struct container_state *s, struct kerr **err)
{
    struct captured cap;
    if (run_shim(s, "delete", &cap, err) < 0)
        return -1;
    int r = 0;
    if (!WIFEXITED(cap.status) || WEXITSTATUS(cap.status) != 0)
        r = shim_failed(s, &cap, "delete", err);
    free(cap.out);
    free(cap.err);
    return r;
}

bool daemon_wait_gone(pid_t pid, uint64_t start_time, int timeout_ms)
{
    if (pid <= 0)
        return true;
    uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ull;
    while (process_alive(pid, start_time)) {
        if (now_ns() >= deadline) {
            struct proc_ref p = {pid, start_time ? start_time : process_start_time(pid)};
            proc_ref_kill(&p, SIGKILL);
            for (int i = 0; i < 100 && process_alive(pid, start_time); i++)
                usleep(10000);
            return false;
        }
        usleep(10000);
    }
    return true;
}
