/* virtio-rng: fill each writable buffer with getrandom() bytes. */
#include "virtio_rng.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

/* A request is filled up to this many bytes (Linux asks for 64 at a time). */
#define RNG_CHAIN_MAX_BYTES (64u << 10)

static void rng_queue_notify(struct virtio_mmio *dev, unsigned queue)
{
    struct virtq_chain *chain = dev->device;
    struct virtq *q = virtio_mmio_queue(dev, 0);
    bool used = false;
    cleanup_kerr struct kerr *err = NULL;
    if (q == NULL)
        return;
    for (;;) {
        int r = virtq_pop(q, &dev->mem, chain, &err);
        if (r < 0) {
            virtio_mmio_fail(dev, &err);
            break;
        }
        if (r == 0)
            break;
        uint32_t written = 0;
        for (unsigned i = chain->readable; i < chain->readable + chain->writable; i++) {
            const struct virtq_buffer *b = &chain->buf[i];
            size_t want = b->len;
            if (want > RNG_CHAIN_MAX_BYTES - written)
                want = RNG_CHAIN_MAX_BYTES - written;
            ssize_t n = want ? getrandom(b->addr, want, 0) : 0;
            if (n <= 0)
                break;
            written += (uint32_t)n;
            if ((size_t)n < b->len)
                break;
        }
        if (virtq_push(q, &dev->mem, chain->head, written, &err) < 0) {
            virtio_mmio_fail(dev, &err);
            break;
        }
        used = true;
    }
    if (used)
        virtio_mmio_used(dev, q);
}

static void rng_free(struct virtio_mmio *dev)
{
    free(dev->device);
}

static const struct virtio_device_ops rng_ops = {
    .name = "virtio-rng",
    .device_id = VIRTIO_ID_RNG,
    .num_queues = 1,
    .queue_notify = rng_queue_notify,
    .free = rng_free,
};

void virtio_rng_init(struct virtio_mmio *dev, const struct guest_memory *mem, uint64_t base,
                     unsigned irq)
{
    virtio_mmio_init(dev, &rng_ops, xmalloc(sizeof(struct virtq_chain)), 0, mem, base, irq);
}
