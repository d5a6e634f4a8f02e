/* Launch, watch and stop virtiofsd. */
#include "virtiofsd.h"
#include "channel.h"
#include "config.h"
#include "vm_process.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const struct {
    const char *kata, *c_daemon;
} cache_modes[] = {
    {"never", "none"}, {"none", "none"},     {"metadata", "auto"},
    {"auto", "auto"},  {"always", "always"},
};

const char *virtiofsd_cache_mode(const char *kata_cache)
{
    if (kata_cache == NULL || *kata_cache == '\0')
        return "auto";
    for (size_t i = 0; i < ARRAY_SIZE(cache_modes); i++)
        if (strcmp(cache_modes[i].kata, kata_cache) == 0)
            return cache_modes[i].c_daemon;
    return NULL;
}

static void strv_add(char ***v, size_t *n, char *s)
{
    *v = xrealloc(*v, (*n + 2) * sizeof(char *));
    (*v)[(*n)++] = s;
    (*v)[*n] = NULL;
}

char **virtiofsd_build_argv(const struct virtiofsd_config *cfg, int listen_fd, struct kerr **err)
{
    const char *cache = virtiofsd_cache_mode(cfg->cache);
    if (cache == NULL) {
        kerr_make(err, EINVAL,
                  "virtio-fs cache mode `%s`: expected never, metadata, auto or always",
                  cfg->cache);
        return NULL;
    }
    if (cfg->source == NULL || cfg->source[0] != '/') {
        kerr_make(err, EINVAL, "virtio-fs shared directory `%s` is not an absolute path",
                  cfg->source ? cfg->source : "");
        return NULL;
    }
    const char *bad = NULL, *why = NULL;
    if (kata_virtiofsd_args_check((char *const *)cfg->extra_args, &bad, &why) < 0) {
        kerr_make(err, EPERM, "virtiofsd extra argument `%s` refused: %s", bad, why);
        return NULL;
    }
    char **argv = NULL;
    size_t n = 0;
    strv_add(&argv, &n, xstrdup(cfg->path));
    strv_add(&argv, &n, xasprintf("--fd=%d", listen_fd));
    strv_add(&argv, &n, xstrdup("-f"));
    strv_add(&argv, &n, xstrdup("-o"));
    strv_add(&argv, &n, xasprintf("source=%s", cfg->source));
    strv_add(&argv, &n, xstrdup("-o"));
    strv_add(&argv, &n, xasprintf("cache=%s", cache));
    for (const char *const *a = cfg->extra_args; a && *a; a++)
        strv_add(&argv, &n, xstrdup(*a));
    /* Last, so that they win: its own mount, pid and net namespaces pivoted
     * into the share, and no capability to create device nodes or to set
     * file capabilities on host files (docs/hypervisor.md, "Confinement"). */
    strv_add(&argv, &n, xstrdup("-o"));
    strv_add(&argv, &n, xstrdup("sandbox=namespace"));
    strv_add(&argv, &n, xstrdup("-o"));
    strv_add(&argv, &n, xstrdup(VIRTIOFSD_MODCAPS));
    return argv;
}

static void argv_free(char **argv)
{
    for (char **p = argv; p && *p; p++)
        free(*p);
    free(argv);
}

int virtiofsd_start(struct virtiofsd *d, const struct virtiofsd_config *cfg, struct kerr **err)
{
    memset(d, 0, sizeof(*d));
    d->vmm_fd = -1;
    if (access(cfg->path, X_OK) < 0)
        return kerr_make(err, errno, "virtiofsd `%s`", cfg->path);
    struct stat st;
    if (cfg->source == NULL || stat(cfg->source, &st) < 0 || !S_ISDIR(st.st_mode))
        return kerr_make(err, cfg->source && errno != 0 ? errno : ENOTDIR,
                         "virtio-fs shared directory `%s`", cfg->source ? cfg->source : "");
    /* The daemon's fd number is fixed (3): the listening socket. */
    char **argv = virtiofsd_build_argv(cfg, 3, err);
    if (argv == NULL)
        return -1;
    cleanup_close int listen_fd = unix_listen(cfg->socket_path, err);
    if (listen_fd < 0) {
        argv_free(argv);
        return -1;
    }
    cleanup_close int log_fd = cfg->log_path ? vm_log_relay(cfg->log_path, VM_LOG_MAX, err)
                                             : open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (log_fd < 0) {
        int saved = errno;
        argv_free(argv);
        unlink(cfg->socket_path);
        return cfg->log_path ? kerr_wrap(err, "virtiofsd log")
                             : kerr_make(err, saved, "virtiofsd log `/dev/null`");
    }
    struct vm_exec_gate gate = {-1, -1};
    pid_t pid = vm_exec_gate_open(&gate, err) < 0 ? -2 : fork();
    if (pid < 0) {
        int saved = errno;
        argv_free(argv);
        unlink(cfg->socket_path);
        if (pid == -2)
            return kerr_wrap(err, "start virtiofsd");
        close(gate.rd);
        close(gate.wr);
        return kerr_make(err, saved, "fork virtiofsd");
    }
    if (pid == 0) {
        vm_exec_gate_wait(&gate);
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(log_fd, 1);
        dup2(log_fd, 2);
        if (dup2(listen_fd, 3) < 0)
            _exit(127);
        fd_set_cloexec(3, false);
        signal(SIGPIPE, SIG_DFL);
        execv(argv[0], argv);
        dprintf(2, "exec `%s`: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    argv_free(argv);
    d->pid = pid;
    if (vm_exec_gate_pass(&gate, pid, cfg->spawned, cfg->spawned_data, err) < 0) {
        d->pid = 0;
        unlink(cfg->socket_path);
        return kerr_wrap(err, "start virtiofsd");
    }
    d->socket_path = xstrdup(cfg->socket_path);
    return 0;
}

bool virtiofsd_exited(struct virtiofsd *d, int *status)
{
    if (d->pid <= 0)
        return true;
    int st;
    pid_t r = waitpid(d->pid, &st, WNOHANG);
    if (r == d->pid || (r < 0 && errno == ECHILD)) {
        if (status)
            *status = r == d->pid ? st : 0;
        d->pid = 0;
        return true;
    }
    return false;
}

static bool wait_gone(struct virtiofsd *d, uint64_t timeout_ns)
{
    uint64_t deadline = now_ns() + timeout_ns;
    while (!virtiofsd_exited(d, NULL)) {
        if (now_ns() >= deadline)
            return false;
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return true;
}

void virtiofsd_stop(struct virtiofsd *d, uint64_t grace_ns)
{
    if (d->pid > 0) {
        kill(d->pid, SIGTERM);
        if (!wait_gone(d, grace_ns)) {
            kill(d->pid, SIGKILL);
            wait_gone(d, 5000000000ull);
        }
    }
    if (d->socket_path) {
        unlink(d->socket_path);
        free(d->socket_path);
        d->socket_path = NULL;
    }
}
