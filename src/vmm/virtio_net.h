/* virtio-net (virtio 1.x §5.1) over a tap the caller opened
 * (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR): one rx and one tx queue, the MAC and
 * MTU in the config space, no offloads.  The tap's vnet header is set to the
 * 12 bytes of a VERSION_1 virtio_net_hdr, so frames move between the tap and
 * guest buffers with one readv/writev each, header included. */
#ifndef KATA_VMM_VIRTIO_NET_H
#define KATA_VMM_VIRTIO_NET_H

#include "loop.h"
#include "virtio_mmio.h"

/* tap_fd stays the caller's; mac "aa:bb:cc:dd:ee:ff" or NULL; mtu 0: not told. */
int virtio_net_init(struct virtio_mmio *dev, struct loop *loop, int tap_fd, const char *mac,
                    unsigned mtu, const struct guest_memory *mem, uint64_t base, unsigned irq,
                    struct kerr **err);

#endif
