/* virtio-net over a tap (see virtio_net.h).  The device thread reads the tap
 * only while the guest has rx buffers (EPOLLIN interest off otherwise) and
 * writes each tx chain with one writev; a frame the tap will not take now is
 * dropped, as a full NIC queue would. */
#include "virtio_net.h"
#include "util.h"

#include <errno.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#define QUEUE_RX 0u
#define QUEUE_TX 1u

#define VIRTIO_NET_F_MTU (1ull << 3)
#define VIRTIO_NET_F_MAC (1ull << 5)
#define NET_HDR_SIZE     12 /* struct virtio_net_hdr_v1 */

struct virtio_net {
    struct virtio_mmio *dev;
    struct loop *loop;
    int tap_fd;
    struct loop_watch *watch;
    bool rx_waiting; /* EPOLLIN on: rx buffers are there, the tap was empty */
    struct virtq_chain chain;
};

static void tap_event(struct loop_watch *w, uint32_t events, void *data);

static void rx_wait(struct virtio_net *net, bool on)
{
    if (net->rx_waiting == on)
        return;
    if (on)
        net->watch = loop_watch_add(net->loop, net->tap_fd, EPOLLIN, tap_event, net, NULL);
    else if (net->watch) {
        loop_watch_remove(net->watch);
        net->watch = NULL;
    }
    net->rx_waiting = on && net->watch;
}

/* Move frames from the tap into rx buffers until either runs out (lock held). */
static void net_rx(struct virtio_mmio *dev)
{
    struct virtio_net *net = dev->device;
    struct virtq *q = virtio_mmio_queue(dev, QUEUE_RX);
    cleanup_kerr struct kerr *err = NULL;
    struct iovec iov[VIRTQ_CHAIN_MAX];
    bool used = false;
    if (q == NULL) {
        rx_wait(net, false);
        return;
    }
    for (;;) {
        int r = virtq_pop(q, &dev->mem, &net->chain, &err);
        if (r < 0) {
            virtio_mmio_fail(dev, &err);
            rx_wait(net, false);
            break;
        }
        if (r == 0) {
            rx_wait(net, false); /* the guest notifies rx when it adds buffers */
            break;
        }
        uint64_t covered = 0;
        unsigned n = virtq_chain_iovec(&net->chain, true, 0, net->chain.writable_len, iov,
                                       VIRTQ_CHAIN_MAX, &covered);
        ssize_t got = 0; /* a buffer smaller than the header goes back empty */
        if (covered >= NET_HDR_SIZE)
            got = readv(net->tap_fd, iov, (int)n);
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) {
            virtq_unpop(q);
            rx_wait(net, true);
            break;
        }
        if (virtq_push(q, &dev->mem, net->chain.head, got > 0 ? (uint32_t)got : 0, &err) < 0) {
            virtio_mmio_fail(dev, &err);
            break;
        }
        used = true;
    }
    if (used)
        virtio_mmio_used(dev, q);
}

static void net_tx(struct virtio_mmio *dev)
{
    struct virtio_net *net = dev->device;
    struct virtq *q = virtio_mmio_queue(dev, QUEUE_TX);
    cleanup_kerr struct kerr *err = NULL;
    struct iovec iov[VIRTQ_CHAIN_MAX];
    bool used = false;
    if (q == NULL)
        return;
    for (;;) {
        int r = virtq_pop(q, &dev->mem, &net->chain, &err);
        if (r < 0) {
            virtio_mmio_fail(dev, &err);
            break;
        }
        if (r == 0)
            break;
        uint64_t covered = 0;
        unsigned n = virtq_chain_iovec(&net->chain, false, 0, net->chain.readable_len, iov,
                                       VIRTQ_CHAIN_MAX, &covered);
        if (covered > NET_HDR_SIZE) {
            ssize_t w;
            do
                w = writev(net->tap_fd, iov, (int)n);
            while (w < 0 && errno == EINTR);
        }
        if (virtq_push(q, &dev->mem, net->chain.head, 0, &err) < 0) {
            virtio_mmio_fail(dev, &err);
            break;
        }
        used = true;
    }
    if (used)
        virtio_mmio_used(dev, q);
}

static void tap_event(struct loop_watch *w, uint32_t events, void *data)
{
    struct virtio_net *net = data;
    pthread_mutex_lock(&net->dev->lock);
    virtio_mmio_settle(net->dev);
    net_rx(net->dev);
    pthread_mutex_unlock(&net->dev->lock);
}

static void net_queue_notify(struct virtio_mmio *dev, unsigned queue)
{
    if (queue == QUEUE_TX)
        net_tx(dev);
    else
        net_rx(dev);
}

/* On the device thread (reset_on_device_thread): the tap's watch is its loop's. */
static void net_reset(struct virtio_mmio *dev)
{
    rx_wait(dev->device, false);
}

static void net_free(struct virtio_mmio *dev)
{
    struct virtio_net *net = dev->device;
    if (net == NULL)
        return;
    rx_wait(net, false);
    free(net);
}

static const struct virtio_device_ops net_ops = {
    .name = "virtio-net",
    .device_id = VIRTIO_ID_NET,
    .num_queues = 2,
    .queue_notify = net_queue_notify,
    .reset = net_reset,
    .reset_on_device_thread = true,
    .free = net_free,
};

static int parse_mac(const char *text, uint8_t mac[6])
{
    unsigned v[6];
    char end;
    if (sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &end) !=
        6)
        return -1;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)v[i];
    return 0;
}

int virtio_net_init(struct virtio_mmio *dev, struct loop *loop, int tap_fd, const char *mac,
                    unsigned mtu, const struct guest_memory *mem, uint64_t base, unsigned irq,
                    struct kerr **err)
{
    uint8_t addr[6];
    if (mac && parse_mac(mac, addr) < 0)
        return kerr_make(err, EINVAL, "virtio-net: MAC `%s` (expected aa:bb:cc:dd:ee:ff)", mac);
    if (mtu > 65535)
        return kerr_make(err, EINVAL, "virtio-net: MTU %u", mtu);
    int hdr = NET_HDR_SIZE;
    if (ioctl(tap_fd, TUNSETVNETHDRSZ, &hdr) < 0)
        return kerr_make(err, errno,
                         "virtio-net: tap fd %d: TUNSETVNETHDRSZ (a tap opened with "
                         "IFF_VNET_HDR?)",
                         tap_fd);
    if (ioctl(tap_fd, TUNSETOFFLOAD, 0) < 0 || fd_set_nonblock(tap_fd, true) < 0)
        return kerr_make(err, errno, "virtio-net: tap fd %d", tap_fd);
    struct virtio_net *net = xcalloc(1, sizeof(*net));
    net->loop = loop;
    net->tap_fd = tap_fd;
    uint64_t features = (mac ? VIRTIO_NET_F_MAC : 0) | (mtu ? VIRTIO_NET_F_MTU : 0);
    virtio_mmio_init(dev, &net_ops, net, features, mem, base, irq);
    net->dev = dev;
    /* Config: mac[6], status (le16), max_virtqueue_pairs (le16), mtu (le16). */
    if (mac)
        memcpy(dev->config, addr, 6);
    uint16_t mtu16 = (uint16_t)mtu;
    memcpy(dev->config + 10, &mtu16, 2);
    dev->config_size = 12;
    return 0;
}
