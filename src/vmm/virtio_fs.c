/* virtio-fs over vhost-user (see virtio_fs.h).  The rings are set up with the
 * back-end when the driver sets DRIVER_OK (on the vCPU thread, device lock
 * held) and stopped on reset. */
#include "virtio_fs.h"
#include "util.h"
#include "vhost_user.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define FS_QUEUES               2u /* hiprio, one request queue */
#define VIRTIO_F_RING_EVENT_IDX (1ull << 29)

struct virtio_fs {
    struct virtio_mmio *dev;
    struct vhost_user vu;
    char *socket_path;
    int mem_fd;
    int call_fd[FS_QUEUES];
    struct loop_watch *call_watch[FS_QUEUES];
    bool started[FS_QUEUES];
};

/* The back-end used buffers of a queue: raise the virtio-mmio interrupt. */
static void on_call(struct loop_watch *w, uint32_t events, void *data)
{
    struct virtio_fs *fs = data;
    uint64_t v;
    if (read(loop_watch_fd(w), &v, sizeof(v)) < 0)
        return;
    pthread_mutex_lock(&fs->dev->lock);
    virtio_mmio_interrupt(fs->dev, VIRTIO_INTERRUPT_VRING);
    pthread_mutex_unlock(&fs->dev->lock);
}

static void fs_activate(struct virtio_mmio *dev)
{
    struct virtio_fs *fs = dev->device;
    cleanup_kerr struct kerr *err = NULL;
    uint64_t features = dev->driver_features & fs->vu.backend_features;
    if (vhost_user_set_features(&fs->vu, features, &err) < 0 ||
        vhost_user_set_mem_table(&fs->vu, dev->mem.size, (uintptr_t)dev->mem.base, fs->mem_fd,
                                 &err) < 0)
        goto fail;
    for (unsigned q = 0; q < FS_QUEUES; q++) {
        const struct virtio_mmio_queue *mq = &dev->queues[q];
        if (!mq->ready)
            continue;
        uintptr_t base = (uintptr_t)dev->mem.base; /* checked by virtq_check at QueueReady */
        if (vhost_user_start_vring(&fs->vu, q, mq->vq.size, base + mq->vq.desc_gpa,
                                   base + mq->vq.avail_gpa, base + mq->vq.used_gpa, dev->kick_fd[q],
                                   fs->call_fd[q], &err) < 0)
            goto fail;
        fs->started[q] = true;
    }
    return;
fail:
    virtio_mmio_fail(dev, &err);
}

static void fs_reset(struct virtio_mmio *dev)
{
    struct virtio_fs *fs = dev->device;
    for (unsigned q = 0; q < FS_QUEUES; q++) {
        cleanup_kerr struct kerr *err = NULL;
        if (fs->started[q] && vhost_user_stop_vring(&fs->vu, q, &err) < 0 && dev->log)
            dev->log(dev->log_ctx, err->msg);
        fs->started[q] = false;
    }
}

static void fs_queue_notify(struct virtio_mmio *dev, unsigned queue)
{
    /* never called: the back-end reads the kicks */
}

static void fs_free(struct virtio_mmio *dev)
{
    struct virtio_fs *fs = dev->device;
    if (fs == NULL)
        return;
    for (unsigned q = 0; q < FS_QUEUES; q++) {
        if (fs->call_watch[q])
            loop_watch_remove(fs->call_watch[q]);
        if (fs->call_fd[q] >= 0)
            close(fs->call_fd[q]);
    }
    vhost_user_close(&fs->vu);
    free(fs->socket_path);
    free(fs);
}

static const struct virtio_device_ops fs_ops = {
    .name = "virtio-fs",
    .device_id = VIRTIO_ID_FS,
    .num_queues = FS_QUEUES,
    .queue_notify = fs_queue_notify,
    .activate = fs_activate,
    .reset = fs_reset,
    .free = fs_free,
    .backend_queues = true,
};

int virtio_fs_init(struct virtio_mmio *dev, struct loop *loop, const char *socket_path,
                   const char *tag, int mem_fd, const struct guest_memory *mem, uint64_t base,
                   unsigned irq, struct kerr **err)
{
    if (tag == NULL || *tag == '\0' || strlen(tag) > VIRTIO_FS_TAG_MAX)
        return kerr_make(err, EINVAL, "virtio-fs `%s`: tag `%s` (1 to %u bytes)", socket_path,
                         tag ? tag : "", VIRTIO_FS_TAG_MAX);
    if (mem_fd < 0)
        return kerr_make(err, EINVAL, "virtio-fs `%s`: guest memory is not shareable (no memfd)",
                         socket_path);
    struct virtio_fs *fs = xcalloc(1, sizeof(*fs));
    fs->mem_fd = mem_fd;
    fs->socket_path = xstrdup(socket_path);
    fs->vu.fd = -1;
    for (unsigned q = 0; q < FS_QUEUES; q++)
        fs->call_fd[q] = -1;
    virtio_mmio_init(dev, &fs_ops, fs, 0, mem, base, irq);
    fs->dev = dev;
    if (vhost_user_connect(&fs->vu, socket_path, err) < 0)
        goto fail;
    for (unsigned q = 0; q < FS_QUEUES; q++) {
        fs->call_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fs->call_fd[q] < 0) {
            kerr_make(err, errno, "virtio-fs: eventfd");
            goto fail;
        }
        fs->call_watch[q] = loop_watch_add(loop, fs->call_fd[q], EPOLLIN, on_call, fs, err);
        if (fs->call_watch[q] == NULL)
            goto fail;
    }
    /* What the back-end supports among what the transport can carry. */
    dev->device_features |= fs->vu.backend_features & VIRTIO_F_RING_EVENT_IDX;
    dev->device_features &= fs->vu.backend_features | VIRTIO_F_VERSION_1;
    /* Config: tag[36] (not NUL-terminated when 36 long), num_request_queues. */
    uint32_t request_queues = FS_QUEUES - 1;
    memcpy(dev->config, tag, strlen(tag));
    memcpy(dev->config + VIRTIO_FS_TAG_MAX, &request_queues, 4);
    dev->config_size = VIRTIO_FS_TAG_MAX + 4;
    return 0;
fail:
    fs_free(dev);
    dev->device = NULL;
    pthread_mutex_destroy(&dev->lock);
    return -1;
}
