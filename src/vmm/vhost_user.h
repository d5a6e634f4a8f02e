/* The front-end side of the vhost-user protocol (QEMU's
 * docs/interop/vhost-user.rst), as much as a virtio-fs device needs: the
 * back-end (virtiofsd) gets the guest memory as a memfd and processes the
 * virtqueues itself, woken by our kick eventfds and waking us through call
 * eventfds.  Blocking calls on one connected socket; each reply is checked
 * (request code, reply flag, size). */
#ifndef KATA_VMM_VHOST_USER_H
#define KATA_VMM_VHOST_USER_H

#include <stdint.h>

#include "error.h"

enum vhost_user_request {
    VHOST_USER_GET_FEATURES = 1,
    VHOST_USER_SET_FEATURES = 2,
    VHOST_USER_SET_OWNER = 3,
    VHOST_USER_SET_MEM_TABLE = 5,
    VHOST_USER_SET_VRING_NUM = 8,
    VHOST_USER_SET_VRING_ADDR = 9,
    VHOST_USER_SET_VRING_BASE = 10,
    VHOST_USER_GET_VRING_BASE = 11,
    VHOST_USER_SET_VRING_KICK = 12,
    VHOST_USER_SET_VRING_CALL = 13,
};

#define VHOST_USER_VERSION    0x1u
#define VHOST_USER_REPLY_FLAG 0x4u
#define VHOST_USER_HEADER     12u /* request, flags, size (u32 each) */

struct vhost_user {
    int fd;
    uint64_t backend_features; /* from GET_FEATURES */
};

/* Connect to the back-end's socket, SET_OWNER, GET_FEATURES. */
int vhost_user_connect(struct vhost_user *vu, const char *path, struct kerr **err);
/* Use an already connected socket (tests: a socketpair); takes fd. */
int vhost_user_open_fd(struct vhost_user *vu, int fd, struct kerr **err);
void vhost_user_close(struct vhost_user *vu);

int vhost_user_set_features(struct vhost_user *vu, uint64_t features, struct kerr **err);
/* One region: guest-physical [0, size) at our address `base`, backed by
 * mem_fd from offset 0. */
int vhost_user_set_mem_table(struct vhost_user *vu, uint64_t size, uint64_t base, int mem_fd,
                             struct kerr **err);
/* Start ring `index`: its size, the three areas as our addresses, avail index
 * 0, then its call and kick eventfds. */
int vhost_user_start_vring(struct vhost_user *vu, unsigned index, unsigned num, uint64_t desc,
                           uint64_t avail, uint64_t used, int kick_fd, int call_fd,
                           struct kerr **err);
/* Stop ring `index`; returns its next available index (or -1). */
int vhost_user_stop_vring(struct vhost_user *vu, unsigned index, struct kerr **err);

#endif
