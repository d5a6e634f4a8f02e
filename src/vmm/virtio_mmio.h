/* The virtio-mmio transport, version 2 (virtio 1.x §4.2.2): the register
 * block of one device, device status, feature negotiation, queue setup,
 * interrupt status.  Pure state over guest memory: the KVM side (MMIO exits,
 * ioeventfd for QueueNotify, irqfd for the interrupt) lives in vmm_devices.c,
 * so the register semantics are unit-tested without KVM.
 *
 * Threads: the vCPU thread calls virtio_mmio_read/_write; the device thread
 * calls the device's queue_notify.  Both hold dev->lock. */
#ifndef KATA_VMM_VIRTIO_MMIO_H
#define KATA_VMM_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "guest_memory.h"
#include "virtqueue.h"

#define VIRTIO_MMIO_SIZE       0x1000u
#define VIRTIO_MMIO_MAGIC      0x74726976u /* "virt" */
#define VIRTIO_MMIO_VERSION    2u
#define VIRTIO_MMIO_VENDOR     0x4b415441u /* "KATA" */
#define VIRTIO_MMIO_MAX_QUEUES 4u
#define VIRTIO_MMIO_QUEUE_MAX  256u /* QueueNumMax: VIRTQ_CHAIN_MAX */
#define VIRTIO_MMIO_CONFIG_MAX 256u

/* Register offsets. */
enum {
    VIRTIO_MMIO_MAGIC_VALUE = 0x000,
    VIRTIO_MMIO_VERSION_REG = 0x004,
    VIRTIO_MMIO_DEVICE_ID = 0x008,
    VIRTIO_MMIO_VENDOR_ID = 0x00c,
    VIRTIO_MMIO_DEVICE_FEATURES = 0x010,
    VIRTIO_MMIO_DEVICE_FEATURES_SEL = 0x014,
    VIRTIO_MMIO_DRIVER_FEATURES = 0x020,
    VIRTIO_MMIO_DRIVER_FEATURES_SEL = 0x024,
    VIRTIO_MMIO_QUEUE_SEL = 0x030,
    VIRTIO_MMIO_QUEUE_NUM_MAX = 0x034,
    VIRTIO_MMIO_QUEUE_NUM = 0x038,
    VIRTIO_MMIO_QUEUE_READY = 0x044,
    VIRTIO_MMIO_QUEUE_NOTIFY = 0x050,
    VIRTIO_MMIO_INTERRUPT_STATUS = 0x060,
    VIRTIO_MMIO_INTERRUPT_ACK = 0x064,
    VIRTIO_MMIO_STATUS = 0x070,
    VIRTIO_MMIO_QUEUE_DESC_LOW = 0x080,
    VIRTIO_MMIO_QUEUE_DESC_HIGH = 0x084,
    VIRTIO_MMIO_QUEUE_DRIVER_LOW = 0x090,
    VIRTIO_MMIO_QUEUE_DRIVER_HIGH = 0x094,
    VIRTIO_MMIO_QUEUE_DEVICE_LOW = 0x0a0,
    VIRTIO_MMIO_QUEUE_DEVICE_HIGH = 0x0a4,
    VIRTIO_MMIO_SHM_SEL = 0x0ac,
    VIRTIO_MMIO_SHM_LEN_LOW = 0x0b0,
    VIRTIO_MMIO_SHM_LEN_HIGH = 0x0b4,
    VIRTIO_MMIO_CONFIG_GENERATION = 0x0fc,
    VIRTIO_MMIO_CONFIG = 0x100,
};

/* Device status bits (§2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE        1u
#define VIRTIO_STATUS_DRIVER             2u
#define VIRTIO_STATUS_DRIVER_OK          4u
#define VIRTIO_STATUS_FEATURES_OK        8u
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 0x40u
#define VIRTIO_STATUS_FAILED             0x80u

#define VIRTIO_INTERRUPT_VRING  1u
#define VIRTIO_INTERRUPT_CONFIG 2u

#define VIRTIO_F_RING_INDIRECT_DESC (1ull << 28)
#define VIRTIO_F_VERSION_1          (1ull << 32)

/* Device types (§5). */
#define VIRTIO_ID_NET     1u
#define VIRTIO_ID_BLOCK   2u
#define VIRTIO_ID_CONSOLE 3u
#define VIRTIO_ID_RNG     4u
#define VIRTIO_ID_VSOCK   19u
#define VIRTIO_ID_FS      26u

struct virtio_mmio;

/* What a device type adds to the transport. */
struct virtio_device_ops {
    const char *name; /* "virtio-blk", in messages */
    uint32_t device_id;
    unsigned num_queues;
    /* A queue has buffers (the driver wrote QueueNotify); device thread. */
    void (*queue_notify)(struct virtio_mmio *dev, unsigned queue);
    /* Optional: the driver wrote the config space (bytes already stored). */
    void (*config_write)(struct virtio_mmio *dev, unsigned offset, unsigned len);
    /* Optional: the driver reset the device (status 0) or set DRIVER_OK. */
    void (*reset)(struct virtio_mmio *dev);
    void (*activate)(struct virtio_mmio *dev);
    /* reset touches state the device thread owns (loop watches, sockets):
     * with a reset_kick set, it runs there (virtio_mmio_settle), not on the
     * vCPU thread that wrote status 0.  Such a device has no activate. */
    bool reset_on_device_thread;
    /* Optional: release the device's state (dev->device). */
    void (*free)(struct virtio_mmio *dev);
    /* A vhost-user back-end reads the queues' kick eventfds itself: the
     * device thread must not (queue_notify is then never called). */
    bool backend_queues;
};

struct virtio_mmio_queue {
    struct virtq vq;
    bool ready;
};

struct virtio_mmio {
    const struct virtio_device_ops *ops;
    void *device; /* the device type's state */
    struct guest_memory mem;
    uint64_t base; /* guest-physical address of the register block */
    unsigned irq;
    pthread_mutex_t lock;

    uint64_t device_features; /* offered: the device's plus VERSION_1 and INDIRECT_DESC */
    uint64_t driver_features;
    uint32_t device_features_sel, driver_features_sel, queue_sel;
    uint32_t status, interrupt_status, config_generation;
    uint32_t config_read_generation; /* config_generation at the driver's last config read */
    struct virtio_mmio_queue queues[VIRTIO_MMIO_MAX_QUEUES];
    uint8_t config[VIRTIO_MMIO_CONFIG_MAX];
    unsigned config_size;

    /* Raise the interrupt line (an edge: irqfd). */
    void (*interrupt)(void *ctx);
    void *interrupt_ctx;
    /* The eventfd each queue's QueueNotify signals (-1: none yet). */
    int kick_fd[VIRTIO_MMIO_MAX_QUEUES];
    /* QueueNotify written through an MMIO exit (no ioeventfd matched). */
    void (*notify)(void *ctx, unsigned queue);
    void *notify_ctx;
    /* Why the device stopped, for the log. */
    void (*log)(void *ctx, const char *message);
    void *log_ctx;
    /* Wake the device thread for a deferred reset (reset_on_device_thread). */
    void (*reset_kick)(void *ctx);
    void *reset_kick_ctx;
    bool reset_pending;
};

/* Set up the transport for a device type; features are the type's own. */
void virtio_mmio_init(struct virtio_mmio *dev, const struct virtio_device_ops *ops, void *device,
                      uint64_t features, const struct guest_memory *mem, uint64_t base,
                      unsigned irq);
void virtio_mmio_destroy(struct virtio_mmio *dev);

/* A guest access of len (1, 2, 4 or 8) bytes at offset from the base.  Reads
 * of unknown registers return 0, writes to them are ignored; both take the
 * lock. */
void virtio_mmio_read(struct virtio_mmio *dev, uint64_t offset, uint8_t *data, unsigned len);
void virtio_mmio_write(struct virtio_mmio *dev, uint64_t offset, const uint8_t *data, unsigned len);

/* Device thread, lock held: run the reset a vCPU thread deferred (see
 * reset_on_device_thread).  Every device-thread entry calls it first. */
void virtio_mmio_settle(struct virtio_mmio *dev);

/* For devices (lock held): the queue if the driver made it ready and the
 * device is running, else NULL. */
struct virtq *virtio_mmio_queue(struct virtio_mmio *dev, unsigned queue);
/* Raise the interrupt for used buffers or a config change. */
void virtio_mmio_interrupt(struct virtio_mmio *dev, uint32_t why);
/* The device changed its config space (lock held): a new config generation
 * and, when a driver is attached, a configuration interrupt. */
void virtio_mmio_config_changed(struct virtio_mmio *dev);
/* The driver has read the config space since its last change, or no driver
 * is attached (a driver reads it when it probes). */
bool virtio_mmio_config_seen(const struct virtio_mmio *dev);
/* After pushing used buffers to q: interrupt unless the driver opted out. */
void virtio_mmio_used(struct virtio_mmio *dev, const struct virtq *q);
/* The driver broke the rules (a malformed queue): log err, set
 * DEVICE_NEEDS_RESET, stop using the queues until a reset. */
void virtio_mmio_fail(struct virtio_mmio *dev, struct kerr **err);
bool virtio_mmio_negotiated(const struct virtio_mmio *dev, uint64_t feature);

#endif
