/* virtio-vsock (virtio 1.x §5.10): queues rx (0), tx (1) and event (2), the
 * guest CID in the config space, and the hybrid unix-socket muxer
 * (vsock_mux.h) behind it. */
#ifndef KATA_VMM_VIRTIO_VSOCK_H
#define KATA_VMM_VIRTIO_VSOCK_H

#include "loop.h"
#include "virtio_mmio.h"

int virtio_vsock_init(struct virtio_mmio *dev, struct loop *loop, uint64_t guest_cid,
                      const char *uds_path, const struct guest_memory *mem, uint64_t base,
                      unsigned irq, struct kerr **err);

#endif
