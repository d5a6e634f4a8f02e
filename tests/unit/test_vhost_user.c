/* The vhost-user front-end against a scripted back-end on a socketpair: the
 * messages and file descriptors it sends, the replies it checks. */
#include "test.h"
#include "util.h"
#include "vhost_user.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

/* One message as the back-end receives it; *fd gets a passed descriptor (or -1). */
static int backend_read(int sock, uint32_t hdr[3], void *payload, size_t cap, int *fd)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    struct iovec iov = {hdr, 12};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = control.buf,
                         .msg_controllen = sizeof(control.buf)};
    *fd = -1;
    if (recvmsg(sock, &msg, 0) != 12)
        return -1;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (c && c->cmsg_type == SCM_RIGHTS)
        memcpy(fd, CMSG_DATA(c), sizeof(int));
    if (hdr[2] > cap)
        return -1;
    return hdr[2] ? fd_read_full(sock, payload, hdr[2]) : 0;
}

static void backend_reply(int sock, uint32_t request, const void *payload, uint32_t size)
{
    uint32_t hdr[3] = {request, VHOST_USER_VERSION | VHOST_USER_REPLY_FLAG, size};
    if (write(sock, hdr, 12) != 12 || write(sock, payload, size) != (ssize_t)size)
        abort();
}

TEST(vhost_user_front_end_sends_what_a_back_end_expects)
{
    int sv[2];
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    uint64_t features = (1ull << 32) | (1ull << 30) | (1ull << 28);
    backend_reply(sv[1], VHOST_USER_GET_FEATURES, &features, 8);
    struct vhost_user vu;
    cleanup_kerr struct kerr *err = NULL;
    CHECK_INT(vhost_user_open_fd(&vu, sv[0], &err), 0);
    CHECK_INT(vu.backend_features, features);
    uint32_t hdr[3];
    uint8_t payload[128];
    int fd = -1;
    CHECK_INT(backend_read(sv[1], hdr, payload, sizeof(payload), &fd), 0);
    CHECK_INT(hdr[0], VHOST_USER_SET_OWNER);
    CHECK_INT(hdr[1], VHOST_USER_VERSION);
    CHECK_INT(backend_read(sv[1], hdr, payload, sizeof(payload), &fd), 0);
    CHECK_INT(hdr[0], VHOST_USER_GET_FEATURES);

    CHECK_INT(vhost_user_set_features(&vu, 1ull << 32, &err), 0);
    CHECK_INT(backend_read(sv[1], hdr, payload, sizeof(payload), &fd), 0);
    CHECK_INT(hdr[0], VHOST_USER_SET_FEATURES);
    uint64_t got;
    memcpy(&got, payload, 8);
    CHECK_INT(got, 1ull << 32);

    int memfd = memfd_create("test", MFD_CLOEXEC);
    CHECK_INT(vhost_user_set_mem_table(&vu, 1 << 20, 0x7f0000000000ull, memfd, &err), 0);
    CHECK_INT(backend_read(sv[1], hdr, payload, sizeof(payload), &fd), 0);
    CHECK_INT(hdr[0], VHOST_USER_SET_MEM_TABLE);
    CHECK_INT(hdr[2], 8 + 32);
    CHECK(fd >= 0); /* the memfd travelled */
    close(fd);
    uint64_t region[4];
    memcpy(region, payload + 8, 32);
    CHECK_INT(region[0], 0);       /* guest physical */
    CHECK_INT(region[1], 1 << 20); /* size */
    CHECK_INT(region[2], 0x7f0000000000ull);

    int kick = memfd_create("kick", MFD_CLOEXEC), call = memfd_create("call", MFD_CLOEXEC);
    CHECK_INT(vhost_user_start_vring(&vu, 1, 128, 0x1000, 0x2000, 0x3000, kick, call, &err), 0);
    static const uint32_t order[] = {VHOST_USER_SET_VRING_NUM, VHOST_USER_SET_VRING_ADDR,
                                     VHOST_USER_SET_VRING_BASE, VHOST_USER_SET_VRING_CALL,
                                     VHOST_USER_SET_VRING_KICK};
    for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
        CHECK_INT(backend_read(sv[1], hdr, payload, sizeof(payload), &fd), 0);
        CHECK_INT(hdr[0], order[i]);
        uint32_t index;
        memcpy(&index, payload, 4);
        CHECK_INT(index, 1);
        if (order[i] == VHOST_USER_SET_VRING_ADDR) {
            uint64_t addrs[3];
            memcpy(addrs, payload + 8, 24);
            CHECK_INT(addrs[0], 0x1000); /* desc, used, avail */
            CHECK_INT(addrs[1], 0x3000);
            CHECK_INT(addrs[2], 0x2000);
        }
        if (order[i] == VHOST_USER_SET_VRING_CALL || order[i] == VHOST_USER_SET_VRING_KICK) {
            CHECK(fd >= 0);
            close(fd);
        }
    }
    uint32_t state[2] = {1, 42};
    backend_reply(sv[1], VHOST_USER_GET_VRING_BASE, state, 8);
    CHECK_INT(vhost_user_stop_vring(&vu, 1, &err), 42);
    CHECK_INT(backend_read(sv[1], hdr, payload, sizeof(payload), &fd), 0);
    CHECK_INT(hdr[0], VHOST_USER_GET_VRING_BASE);

    /* A reply to the wrong request, or none, is an error. */
    backend_reply(sv[1], VHOST_USER_GET_FEATURES, &features, 8);
    CHECK_INT(vhost_user_stop_vring(&vu, 0, &err), -1);
    CHECK_CONTAINS(err->msg, "answered with request 1");
    kerr_clear(&err);
    close(sv[1]);
    CHECK_INT(vhost_user_stop_vring(&vu, 0, &err), -1);
    vhost_user_close(&vu);
    close(memfd);
    close(kick);
    close(call);
}
