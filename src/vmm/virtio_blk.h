/* virtio-blk (virtio 1.x §5.2) over a raw file: read, write, flush, get-id;
 * read-only disks refuse writes.  Requests run synchronously on the device
 * thread. */
#ifndef KATA_VMM_VIRTIO_BLK_H
#define KATA_VMM_VIRTIO_BLK_H

#include <stdbool.h>

#include "virtio_mmio.h"

#define VIRTIO_BLK_ID_BYTES 20 /* the serial /sys/block/vdX/serial shows */

/* Open path (read-only when readonly) as the disk; id is its serial (at most
 * 20 bytes, may be NULL). */
int virtio_blk_init(struct virtio_mmio *dev, const char *path, bool readonly, const char *id,
                    const struct guest_memory *mem, uint64_t base, unsigned irq, struct kerr **err);

#endif
