/* virtio-rng (virtio 1.x §5.4): one queue whose buffers the device fills with
 * bytes from the host's getrandom(). */
#ifndef KATA_VMM_VIRTIO_RNG_H
#define KATA_VMM_VIRTIO_RNG_H

#include "virtio_mmio.h"

void virtio_rng_init(struct virtio_mmio *dev, const struct guest_memory *mem, uint64_t base,
                     unsigned irq);

#endif
