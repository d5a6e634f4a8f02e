/* virtio-blk (virtio 1.x §5.2) over a raw file: read, write, flush, get-id;
 * read-only disks refuse writes.  Requests run synchronously on the device
 * thread.  The file behind a disk can be swapped while the guest runs
 * (virtio-mmio has no hotplug: a pool of empty drives attached at boot
 * takes the disks that would be hotplugged, as Firecracker's drives do). */
#ifndef KATA_VMM_VIRTIO_BLK_H
#define KATA_VMM_VIRTIO_BLK_H

#include <stdbool.h>

#include "virtio_mmio.h"

#define VIRTIO_BLK_ID_BYTES 20 /* the serial /sys/block/vdX/serial shows */

/* Open path (read-only when readonly) as the disk; id is its serial (at most
 * 20 bytes, may be NULL).  An empty file is a drive without a medium
 * (capacity 0); otherwise the disk holds at least one 512-byte sector. */
int virtio_blk_init(struct virtio_mmio *dev, const char *path, bool readonly, const char *id,
                    const struct guest_memory *mem, uint64_t base, unsigned irq, struct kerr **err);

/* dev is a virtio-blk disk whose serial is id. */
bool virtio_blk_has_id(const struct virtio_mmio *dev, const char *id);

/* Put path behind the disk instead of its current file (takes the lock):
 * from the swap on, every request goes to the new file and is checked
 * against its size; the old file is closed.  The new capacity goes into the
 * config space, the config generation changes and, once the driver is
 * running, a configuration interrupt tells it (Linux's virtio_blk then
 * re-reads the capacity).  A disk attached read-only stays so: it cannot
 * take a writable file. */
int virtio_blk_replace(struct virtio_mmio *dev, const char *path, bool readonly, struct kerr **err);

struct virtio_blk_state {
    char id[VIRTIO_BLK_ID_BYTES + 1];
    char *path; /* malloc'd */
    bool readonly;
    uint64_t sectors;
    bool guest_seen; /* the driver read the config space since it last changed */
};

/* A snapshot of the disk (zeroed when dev is not one); free out->path. */
void virtio_blk_state(struct virtio_mmio *dev, struct virtio_blk_state *out);

#endif
