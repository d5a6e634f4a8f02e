/* virtio-vsock device: tx packets go to the muxer, the muxer's packets go
 * into rx buffers.  Each packet passes through a bounce buffer, so the muxer
 * never sees guest memory and the guest cannot change a header after it was
 * checked. */
#include "virtio_vsock.h"
#include "util.h"
#include "vsock_mux.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define QUEUE_RX    0u
#define QUEUE_TX    1u
#define QUEUE_EVENT 2u
#define PACKET_MAX  (VSOCK_HEADER_SIZE + VSOCK_MAX_PAYLOAD)

struct virtio_vsock {
    struct virtio_mmio *dev;
    struct vsock_mux *mux;
    struct virtq_chain chain;
    uint8_t packet[PACKET_MAX];
};

/* Fill rx buffers while the muxer has packets (lock held). */
static void vsock_pump_rx(struct virtio_mmio *dev)
{
    struct virtio_vsock *vs = dev->device;
    struct virtq *q = virtio_mmio_queue(dev, QUEUE_RX);
    cleanup_kerr struct kerr *err = NULL;
    bool used = false;
    if (q == NULL)
        return;
    while (vsock_mux_has_work(vs->mux)) {
        int r = virtq_pop(q, &dev->mem, &vs->chain, &err);
        if (r < 0) {
            virtio_mmio_fail(dev, &err);
            break;
        }
        if (r == 0)
            break; /* no buffers: the guest notifies rx when it adds some */
        size_t cap = vs->chain.writable_len < PACKET_MAX ? vs->chain.writable_len : PACKET_MAX;
        size_t n = vsock_mux_to_guest(vs->mux, vs->packet, cap);
        if (n == 0) {
            virtq_unpop(q);
            break;
        }
        virtq_chain_write(&vs->chain, 0, vs->packet, n);
        if (virtq_push(q, &dev->mem, vs->chain.head, (uint32_t)n, &err) < 0) {
            virtio_mmio_fail(dev, &err);
            break;
        }
        used = true;
    }
    if (used)
        virtio_mmio_used(dev, q);
}

static void vsock_process_tx(struct virtio_mmio *dev)
{
    struct virtio_vsock *vs = dev->device;
    struct virtq *q = virtio_mmio_queue(dev, QUEUE_TX);
    cleanup_kerr struct kerr *err = NULL;
    bool used = false;
    if (q == NULL)
        return;
    for (;;) {
        int r = virtq_pop(q, &dev->mem, &vs->chain, &err);
        if (r < 0) {
            virtio_mmio_fail(dev, &err);
            break;
        }
        if (r == 0)
            break;
        /* A packet larger than the biggest the spec allows is dropped. */
        if (vs->chain.readable_len <= PACKET_MAX) {
            size_t n = virtq_chain_read(&vs->chain, 0, vs->packet, PACKET_MAX);
            vsock_mux_from_guest(vs->mux, vs->packet, n);
        }
        if (virtq_push(q, &dev->mem, vs->chain.head, 0, &err) < 0) {
            virtio_mmio_fail(dev, &err);
            break;
        }
        used = true;
    }
    if (used)
        virtio_mmio_used(dev, q);
}

static void vsock_queue_notify(struct virtio_mmio *dev, unsigned queue)
{
    if (queue == QUEUE_TX)
        vsock_process_tx(dev);
    if (queue == QUEUE_TX || queue == QUEUE_RX)
        vsock_pump_rx(dev); /* answers to what the guest sent, or new rx room */
}

/* The muxer has something for the guest (device thread, lock not held). */
static void vsock_wake(void *ctx)
{
    struct virtio_mmio *dev = ctx;
    pthread_mutex_lock(&dev->lock);
    virtio_mmio_settle(dev);
    vsock_pump_rx(dev);
    pthread_mutex_unlock(&dev->lock);
}

/* On the device thread (reset_on_device_thread): the muxer's sockets and
 * watches are its loop's. */
static void vsock_reset(struct virtio_mmio *dev)
{
    struct virtio_vsock *vs = dev->device;
    vsock_mux_reset(vs->mux);
}

static void vsock_free(struct virtio_mmio *dev)
{
    struct virtio_vsock *vs = dev->device;
    if (vs == NULL)
        return;
    vsock_mux_free(vs->mux);
    free(vs);
}

static const struct virtio_device_ops vsock_ops = {
    .name = "virtio-vsock",
    .device_id = VIRTIO_ID_VSOCK,
    .num_queues = 3,
    .queue_notify = vsock_queue_notify,
    .reset = vsock_reset,
    .reset_on_device_thread = true,
    .free = vsock_free,
};

int virtio_vsock_init(struct virtio_mmio *dev, struct loop *loop, uint64_t guest_cid,
                      const char *uds_path, const struct guest_memory *mem, uint64_t base,
                      unsigned irq, struct kerr **err)
{
    struct virtio_vsock *vs = xcalloc(1, sizeof(*vs));
    vs->dev = dev;
    vs->mux = vsock_mux_new(loop, uds_path, guest_cid, vsock_wake, dev, err);
    if (vs->mux == NULL) {
        free(vs);
        return -1;
    }
    virtio_mmio_init(dev, &vsock_ops, vs, 0, mem, base, irq);
    memcpy(dev->config, &guest_cid, 8);
    dev->config_size = 8;
    return 0;
}
