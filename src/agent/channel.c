/* The agent's end of the host connection: vsock port 1024 where /dev/vsock
 * works, else the virtio-serial port agent.channel.0; on the host a unix
 * socket. */
#include "agent.h"
#include "channel.h"
#include "log.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The serial port's name arrives from the host shortly after the device
 * appears; look for it this long. */
#define SERIAL_WAIT_MS 5000

static bool has_serial_ports(struct agent *a)
{
    cleanup_free char *dir = xasprintf("%s/class/virtio-ports", a->opts.sysfs_root);
    DIR *d = opendir(dir);
    if (d == NULL)
        return false;
    bool any = false;
    struct dirent *de;
    while (!any && (de = readdir(d)) != NULL)
        any = de->d_name[0] != '.';
    closedir(d);
    return any;
}

static int open_serial(struct agent *a, const char *path, struct kerr **err)
{
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return kerr_make(err, errno, "open agent channel `%s`", path);
    log_info("serving on virtio-serial port `%s`", path);
    return ttrpc_server_add_stream(a->server, fd, true, err);
}

static int find_serial(struct agent *a, struct kerr **err)
{
    for (int waited = 0;; waited += 10) {
        cleanup_kerr struct kerr *find_err = NULL;
        cleanup_free char *path =
            serial_port_find(a->opts.sysfs_root, AGENT_SERIAL_NAME, &find_err);
        if (path)
            return open_serial(a, path, err);
        if (waited >= SERIAL_WAIT_MS) {
            *err = steal_pointer(&find_err);
            return -1;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static int listen_vsock(struct agent *a, struct kerr **err)
{
    int fd = vsock_listen(AGENT_VSOCK_PORT, err);
    if (fd < 0)
        return -1;
    log_info("serving on vsock port %d", AGENT_VSOCK_PORT);
    return ttrpc_server_add_listener(a->server, fd, err);
}

static int listen_unix(struct agent *a, const char *path, struct kerr **err)
{
    int fd = unix_listen(path, err);
    if (fd < 0)
        return -1;
    log_info("serving on unix socket `%s`", path);
    return ttrpc_server_add_listener(a->server, fd, err);
}

int agent_channel_open(struct agent *a, struct kerr **err)
{
    const char *spec = a->opts.listen;
    if (spec && strncmp(spec, "unix:", 5) == 0)
        return listen_unix(a, spec + 5, err);
    if (spec && strncmp(spec, "serial:", 7) == 0)
        return open_serial(a, spec + 7, err);
    if (spec && strcmp(spec, "vsock") == 0)
        return listen_vsock(a, err);
    if (spec && strcmp(spec, "serial") == 0)
        return find_serial(a, err);
    if (spec && *spec)
        return kerr_make(err, EINVAL,
                         "agent channel `%s`: expected unix:PATH, serial:PATH, serial or vsock",
                         spec);
    /* Automatic.  The host configures a virtio-serial device only when it
     * talks to us on it, so its presence decides; vsock is served as well
     * when it listens, since bind() succeeds even without a host device. */
    cleanup_kerr struct kerr *vsock_err = NULL;
    log_debug("channel: auto");
    bool vsock = access("/dev/vsock", F_OK) == 0 && listen_vsock(a, &vsock_err) == 0;
    if (!vsock && vsock_err)
        log_debug("vsock unavailable: %s", vsock_err->msg);
    if (vsock && !has_serial_ports(a))
        return 0;
    return find_serial(a, err);
}
