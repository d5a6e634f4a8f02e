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
#include <linux/netlink.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The serial port's name arrives from the host shortly after the device
 * appears; look for it this long. */
#define SERIAL_WAIT_MS 5000
/* Between looks when no uevent says that something changed. */
#define SERIAL_RESCAN_MS 10

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

/* The host configured a virtio-vsock device (virtio device id 19): it talks
 * to us over vsock, whatever virtio-serial ports (a log port) there are. */
static bool has_vsock_device(struct agent *a)
{
    cleanup_free char *dir = xasprintf("%s/bus/virtio/devices", a->opts.sysfs_root);
    DIR *d = opendir(dir);
    if (d == NULL)
        return false;
    bool found = false;
    struct dirent *de;
    while (!found && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        cleanup_free char *path = xasprintf("%s/%s/device", dir, de->d_name);
        cleanup_free char *id = NULL;
        found = file_read_all(path, 64, &id, NULL, NULL) == 0 && strtoul(id, NULL, 0) == 19;
    }
    closedir(d);
    return found;
}

static int open_serial(struct agent *a, const char *path, struct kerr **err)
{
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return kerr_make(err, errno, "open agent channel `%s`", path);
    log_debug("serving on virtio-serial port `%s`", path);
    free(a->channel);
    a->channel = xasprintf("virtio-serial port `%s`", path);
    return ttrpc_server_add_stream(a->server, fd, true, err);
}

/* Kernel uevents: the guest's virtio-console driver sends one (KOBJ_CHANGE)
 * when a port gets its name, so we look again at once instead of at the next
 * rescan.  -1 where netlink is not there (the agent on a host with --sysfs
 * still works, by rescanning). */
static int uevent_socket(void)
{
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT);
    if (fd < 0)
        return -1;
    struct sockaddr_nl addr = {.nl_family = AF_NETLINK, .nl_groups = 1};
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Waits up to ms for a uevent (or just sleeps without a socket), then
 * drops whatever arrived: any event is a reason to look again. */
static void uevent_wait(int fd, int ms)
{
    if (fd < 0) {
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        return;
    }
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, ms) <= 0)
        return;
    char buf[4096];
    while (recv(fd, buf, sizeof(buf), 0) > 0)
        ;
}

static int find_serial(struct agent *a, struct kerr **err)
{
    /* Listening before the first look: a name set in between is not missed. */
    cleanup_close int uevents = uevent_socket();
    uint64_t deadline = now_ns() + (uint64_t)SERIAL_WAIT_MS * 1000000ull;
    for (unsigned looks = 1;; looks++) {
        cleanup_kerr struct kerr *find_err = NULL;
        cleanup_free char *path =
            serial_port_find(a->opts.sysfs_root, AGENT_SERIAL_NAME, &find_err);
        if (path) {
            log_debug("channel: port `%s` found at look %u", AGENT_SERIAL_NAME, looks);
            return open_serial(a, path, err);
        }
        uint64_t now = now_ns();
        if (now >= deadline) {
            *err = steal_pointer(&find_err);
            return -1;
        }
        uint64_t left_ms = (deadline - now) / 1000000ull + 1;
        uevent_wait(uevents, left_ms < SERIAL_RESCAN_MS ? (int)left_ms : SERIAL_RESCAN_MS);
    }
}

static int listen_vsock(struct agent *a, struct kerr **err)
{
    int fd = vsock_listen(AGENT_VSOCK_PORT, err);
    if (fd < 0)
        return -1;
    log_debug("serving on vsock port %d", AGENT_VSOCK_PORT);
    free(a->channel);
    a->channel = xasprintf("vsock port %d", AGENT_VSOCK_PORT);
    return ttrpc_server_add_listener(a->server, fd, err);
}

static int listen_unix(struct agent *a, const char *path, struct kerr **err)
{
    int fd = unix_listen(path, err);
    if (fd < 0)
        return -1;
    log_debug("serving on unix socket `%s`", path);
    free(a->channel);
    a->channel = xasprintf("unix socket `%s`", path);
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
    /* Automatic: the devices the host configured decide.  A port named
     * agent.channel.0 means that port; else a vsock device means vsock; else
     * virtio-serial ports mean agent.channel.0 still (its name may be on its
     * way); with neither, vsock when the kernel has it (bind() needs no
     * device). */
    cleanup_kerr struct kerr *find_err = NULL;
    cleanup_free char *path = serial_port_find(a->opts.sysfs_root, AGENT_SERIAL_NAME, &find_err);
    if (path)
        return open_serial(a, path, err);
    if (has_vsock_device(a))
        return listen_vsock(a, err);
    if (has_serial_ports(a) || access("/dev/vsock", F_OK) < 0)
        return find_serial(a, err);
    return listen_vsock(a, err);
}
