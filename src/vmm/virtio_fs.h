/* virtio-fs (virtio 1.x §5.11) as a vhost-user front-end: virtiofsd owns the
 * queues (one high-priority, one request queue); the VMM shares the guest
 * memory with it (memfd), gives it each queue's kick eventfd (the one KVM
 * signals on QueueNotify) and a call eventfd that the device thread turns
 * into the virtio-mmio interrupt (the driver reads InterruptStatus, so the
 * back-end cannot signal the irqfd directly). */
#ifndef KATA_VMM_VIRTIO_FS_H
#define KATA_VMM_VIRTIO_FS_H

#include "loop.h"
#include "virtio_mmio.h"

#define VIRTIO_FS_TAG_MAX 36u

/* Connect to the back-end at socket_path; the guest mounts it with
 * `mount -t virtiofs <tag> DIR`.  mem_fd backs guest memory. */
int virtio_fs_init(struct virtio_mmio *dev, struct loop *loop, const char *socket_path,
                   const char *tag, int mem_fd, const struct guest_memory *mem, uint64_t base,
                   unsigned irq, struct kerr **err);

#endif
