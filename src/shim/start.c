/* `start`: find or fork the sandbox's daemon and print its address. */
#include "channel.h"
#include "runtimeoptions.pb-c.h"
#include "any.pb-c.h"
#include "shim.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RUNTIME_OPTIONS_MAX (1u << 20)

/* Runtime options containerd writes on stdin (a protobuf Any holding
 * runtimeoptions.v1.Options): ConfigPath becomes the daemon's KATA_CONF_FILE. */
static void read_runtime_options(void)
{
    if (isatty(0))
        return;
    struct pollfd p = {.fd = 0, .events = POLLIN};
    if (poll(&p, 1, 0) <= 0)
        return;
    uint8_t *buf = xmalloc(RUNTIME_OPTIONS_MAX);
    size_t len = 0;
    for (;;) {
        ssize_t n = read(0, buf + len, RUNTIME_OPTIONS_MAX - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || (len += (size_t)n) == RUNTIME_OPTIONS_MAX)
            break;
    }
    Google__Protobuf__Any *any = len ? google__protobuf__any__unpack(NULL, len, buf) : NULL;
    if (any && any->type_url && strstr(any->type_url, "runtimeoptions.v1.Options")) {
        Runtimeoptions__V1__Options *o =
            runtimeoptions__v1__options__unpack(NULL, any->value.len, any->value.data);
        if (o && o->config_path && *o->config_path)
            setenv("KATA_CONF_FILE", o->config_path, 1);
        if (o)
            runtimeoptions__v1__options__free_unpacked(o, NULL);
    }
    if (any)
        google__protobuf__any__free_unpacked(any, NULL);
    free(buf);
}

/* The bundle's config.json, for the pod annotations (NULL if unreadable). */
static Grpc__Spec *bundle_spec(const char *bundle)
{
    cleanup_free char *path = xasprintf("%s/config.json", bundle ? bundle : ".");
    return oci_spec_load(path, NULL);
}

static int spawn_daemon(const struct shim_options *opts, int listen_fd, struct kerr **err)
{
    const char *argv[16];
    int n = 0;
    argv[n++] = "containerd-shim-kata-v2";
    argv[n++] = "-namespace";
    argv[n++] = opts->namespace;
    argv[n++] = "-id";
    argv[n++] = opts->id;
    if (opts->address) {
        argv[n++] = "-address";
        argv[n++] = opts->address;
    }
    if (opts->publish_binary) {
        argv[n++] = "-publish-binary";
        argv[n++] = opts->publish_binary;
    }
    if (opts->bundle) {
        argv[n++] = "-bundle";
        argv[n++] = opts->bundle;
    }
    if (opts->debug)
        argv[n++] = "-debug";
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        return kerr_make(err, errno, "fork the sandbox daemon");
    if (pid > 0)
        return 0; /* the daemon reparents to init (or containerd's subreaper) */
    setsid();
    int null = open("/dev/null", O_RDWR);
    /* Logs go to the bundle's `log` fifo when containerd reads one (containerd
     * runs `start` in the bundle dir without -bundle). */
    cleanup_free char *log_path = xasprintf("%s/log", opts->bundle ? opts->bundle : ".");
    struct stat st;
    int log = stat(log_path, &st) == 0 && S_ISFIFO(st.st_mode)
                  ? open(log_path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
                  : -1;
    if (log >= 0)
        fd_set_nonblock(log, false);
    dup2(null, 0);
    dup2(null, 1);
    dup2(log >= 0 ? log : null, 2);
    if (dup2(listen_fd, 3) < 0)
        _exit(127);
    fd_set_cloexec(3, false);
    execv("/proc/self/exe", (char **)argv);
    _exit(127);
}

/* containerd finds a running shim after its own restart by the `address`
 * file in the bundle (the shim writes it, as containerd's shims do). */
static int write_address(const struct shim_options *opts, const char *address, struct kerr **err)
{
    cleanup_free char *path = xasprintf("%s/address", opts->bundle ? opts->bundle : ".");
    if (file_write_atomic(path, address, strlen(address), 0644, err) < 0)
        return kerr_wrap(err, "start `%s`: write the address file", opts->id);
    return 0;
}

int shim_cmd_start(const struct shim_options *opts, struct kerr **err)
{
    read_runtime_options();
    cleanup_oci_spec Grpc__Spec *spec = bundle_spec(opts->bundle);
    bool is_sandbox;
    cleanup_free char *sid = shim_sandbox_id_of(spec, opts->id, &is_sandbox);
    cleanup_free char *path = shim_socket_path(opts->namespace, sid);
    /* A pod's later containers: the pod's daemon is already there. */
    cleanup_free char *address = xasprintf("unix://%s", path);
    if (shim_daemon_serves(path)) {
        if (write_address(opts, address, err) < 0)
            return -1;
        printf("%s\n", address);
        return 0;
    }
    if (!is_sandbox)
        return kerr_make(err, ENOENT, "start container `%s`: no daemon for sandbox `%s`", opts->id,
                         sid);
    cleanup_free char *dir = xstrdup(path);
    *strrchr(dir, '/') = '\0';
    if (mkdir_all(dir, 0711, err) < 0)
        return -1;
    unlink(path); /* a dead daemon's socket */
    cleanup_close int fd = unix_listen(path, err);
    if (fd < 0)
        return kerr_wrap(err, "start sandbox `%s`", sid);
    if (write_address(opts, address, err) < 0 || spawn_daemon(opts, fd, err) < 0) {
        unlink(path);
        return -1;
    }
    printf("%s\n", address);
    return 0;
}
