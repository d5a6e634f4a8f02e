/* vhost-user messages, front-end side (see vhost_user.h). */
#include "vhost_user.h"
#include "channel.h"
#include "util.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct vring_state {
    uint32_t index, num;
};

struct vring_addr {
    uint32_t index, flags;
    uint64_t desc, used, avail, log;
};

struct mem_region {
    uint64_t guest_phys_addr, memory_size, userspace_addr, mmap_offset;
};

struct mem_table {
    uint32_t nregions, padding;
    struct mem_region regions[1];
};

static int send_message(struct vhost_user *vu, enum vhost_user_request request, const void *payload,
                        uint32_t size, int fd, struct kerr **err)
{
    uint32_t header[3] = {request, VHOST_USER_VERSION, size};
    struct iovec iov[2] = {{header, sizeof(header)}, {(void *)payload, size}};
    ssize_t n = unix_send_with_fd(vu->fd, iov, size ? 2 : 1, fd);
    if (n != (ssize_t)(sizeof(header) + size))
        return kerr_make(err, n < 0 ? errno : EPIPE, "vhost-user: send request %d", request);
    return 0;
}

/* The reply to `request`, exactly `size` bytes of payload. */
static int read_reply(struct vhost_user *vu, enum vhost_user_request request, void *payload,
                      uint32_t size, struct kerr **err)
{
    uint32_t header[3];
    int r = fd_read_full(vu->fd, header, sizeof(header));
    if (r != 0)
        return kerr_make(err, r < 0 ? errno : ECONNRESET, "vhost-user: reply to request %d",
                         request);
    if (header[0] != (uint32_t)request || !(header[1] & VHOST_USER_REPLY_FLAG) || header[2] != size)
        return kerr_make(err, EPROTO,
                         "vhost-user: request %d answered with request %u, flags 0x%x, %u bytes",
                         request, header[0], header[1], header[2]);
    if (fd_read_full(vu->fd, payload, size) != 0)
        return kerr_make(err, ECONNRESET, "vhost-user: reply to request %d cut short", request);
    return 0;
}

int vhost_user_open_fd(struct vhost_user *vu, int fd, struct kerr **err)
{
    vu->fd = fd;
    vu->backend_features = 0;
    if (send_message(vu, VHOST_USER_SET_OWNER, NULL, 0, -1, err) < 0 ||
        send_message(vu, VHOST_USER_GET_FEATURES, NULL, 0, -1, err) < 0 ||
        read_reply(vu, VHOST_USER_GET_FEATURES, &vu->backend_features, 8, err) < 0) {
        vhost_user_close(vu);
        return -1;
    }
    return 0;
}

int vhost_user_connect(struct vhost_user *vu, const char *path, struct kerr **err)
{
    vu->fd = -1;
    int fd = unix_connect(path, err);
    if (fd < 0 || vhost_user_open_fd(vu, fd, err) < 0)
        return kerr_wrap(err, "vhost-user back-end `%s`", path);
    return 0;
}

void vhost_user_close(struct vhost_user *vu)
{
    if (vu->fd >= 0)
        close(vu->fd);
    vu->fd = -1;
}

int vhost_user_set_features(struct vhost_user *vu, uint64_t features, struct kerr **err)
{
    return send_message(vu, VHOST_USER_SET_FEATURES, &features, 8, -1, err);
}

int vhost_user_set_mem_table(struct vhost_user *vu, uint64_t size, uint64_t base, int mem_fd,
                             struct kerr **err)
{
    struct mem_table t = {
        .nregions = 1,
        .regions = {{.guest_phys_addr = 0, .memory_size = size, .userspace_addr = base}},
    };
    return send_message(vu, VHOST_USER_SET_MEM_TABLE, &t, sizeof(t), mem_fd, err);
}

int vhost_user_start_vring(struct vhost_user *vu, unsigned index, unsigned num, uint64_t desc,
                           uint64_t avail, uint64_t used, int kick_fd, int call_fd,
                           struct kerr **err)
{
    struct vring_state size = {index, num}, base = {index, 0};
    struct vring_addr addr = {.index = index, .desc = desc, .used = used, .avail = avail};
    uint64_t which = index;
    if (send_message(vu, VHOST_USER_SET_VRING_NUM, &size, sizeof(size), -1, err) < 0 ||
        send_message(vu, VHOST_USER_SET_VRING_ADDR, &addr, sizeof(addr), -1, err) < 0 ||
        send_message(vu, VHOST_USER_SET_VRING_BASE, &base, sizeof(base), -1, err) < 0 ||
        send_message(vu, VHOST_USER_SET_VRING_CALL, &which, 8, call_fd, err) < 0 ||
        send_message(vu, VHOST_USER_SET_VRING_KICK, &which, 8, kick_fd, err) < 0)
        return -1;
    return 0;
}

int vhost_user_stop_vring(struct vhost_user *vu, unsigned index, struct kerr **err)
{
    struct vring_state state = {index, 0};
    if (send_message(vu, VHOST_USER_GET_VRING_BASE, &state, sizeof(state), -1, err) < 0 ||
        read_reply(vu, VHOST_USER_GET_VRING_BASE, &state, sizeof(state), err) < 0)
        return -1;
    return (int)state.num;
}
