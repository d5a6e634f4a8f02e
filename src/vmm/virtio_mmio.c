/* virtio-mmio v2 register semantics (see virtio_mmio.h). */
#include "virtio_mmio.h"

#include <errno.h>
#include <string.h>

void virtio_mmio_init(struct virtio_mmio *dev, const struct virtio_device_ops *ops, void *device,
                      uint64_t features, const struct guest_memory *mem, uint64_t base,
                      unsigned irq)
{
    memset(dev, 0, sizeof(*dev));
    dev->ops = ops;
    dev->device = device;
    dev->device_features = features | VIRTIO_F_VERSION_1 | VIRTIO_F_RING_INDIRECT_DESC;
    dev->mem = *mem;
    dev->base = base;
    dev->irq = irq;
    for (unsigned q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++)
        dev->kick_fd[q] = -1;
    pthread_mutex_init(&dev->lock, NULL);
}

void virtio_mmio_destroy(struct virtio_mmio *dev)
{
    if (dev->ops && dev->ops->free)
        dev->ops->free(dev);
    dev->device = NULL;
    pthread_mutex_destroy(&dev->lock);
}

bool virtio_mmio_negotiated(const struct virtio_mmio *dev, uint64_t feature)
{
    return (dev->driver_features & feature) == feature;
}

static struct virtio_mmio_queue *selected_queue(struct virtio_mmio *dev)
{
    if (dev->queue_sel >= dev->ops->num_queues || dev->queue_sel >= VIRTIO_MMIO_MAX_QUEUES)
        return NULL;
    return &dev->queues[dev->queue_sel];
}

static void device_reset(struct virtio_mmio *dev)
{
    dev->driver_features = 0;
    dev->device_features_sel = dev->driver_features_sel = dev->queue_sel = 0;
    dev->status = dev->interrupt_status = 0;
    memset(dev->queues, 0, sizeof(dev->queues));
    if (dev->ops->reset == NULL)
        return;
    if (dev->ops->reset_on_device_thread && dev->reset_kick) {
        dev->reset_pending = true;
        dev->reset_kick(dev->reset_kick_ctx);
    } else {
        dev->ops->reset(dev);
    }
}

void virtio_mmio_settle(struct virtio_mmio *dev)
{
    if (!dev->reset_pending)
        return;
    dev->reset_pending = false;
    dev->ops->reset(dev);
}

static void log_message(struct virtio_mmio *dev, const char *message)
{
    if (dev->log)
        dev->log(dev->log_ctx, message);
}

void virtio_mmio_fail(struct virtio_mmio *dev, struct kerr **err)
{
    if (err && *err) {
        kerr_wrap(err, "%s at 0x%llx", dev->ops->name, (unsigned long long)dev->base);
        log_message(dev, (*err)->msg);
        kerr_clear(err);
    }
    if (dev->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET)
        return;
    dev->status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
    if (dev->status & VIRTIO_STATUS_DRIVER_OK)
        virtio_mmio_interrupt(dev, VIRTIO_INTERRUPT_CONFIG);
}

struct virtq *virtio_mmio_queue(struct virtio_mmio *dev, unsigned queue)
{
    if (queue >= dev->ops->num_queues || !dev->queues[queue].ready ||
        !(dev->status & VIRTIO_STATUS_DRIVER_OK) ||
        (dev->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET))
        return NULL;
    return &dev->queues[queue].vq;
}

void virtio_mmio_interrupt(struct virtio_mmio *dev, uint32_t why)
{
    dev->interrupt_status |= why;
    if (dev->interrupt)
        dev->interrupt(dev->interrupt_ctx);
}

void virtio_mmio_config_changed(struct virtio_mmio *dev)
{
    dev->config_generation++;
    /* Linux takes the interrupt from its probe on (a change before
     * virtio_config_enable is kept pending). */
    if (dev->status & VIRTIO_STATUS_DRIVER)
        virtio_mmio_interrupt(dev, VIRTIO_INTERRUPT_CONFIG);
}

bool virtio_mmio_config_seen(const struct virtio_mmio *dev)
{
    return !(dev->status & VIRTIO_STATUS_DRIVER) ||
           dev->config_read_generation == dev->config_generation;
}

void virtio_mmio_used(struct virtio_mmio *dev, const struct virtq *q)
{
    if (virtq_wants_interrupt(q, &dev->mem))
        virtio_mmio_interrupt(dev, VIRTIO_INTERRUPT_VRING);
}

static void queue_set_ready(struct virtio_mmio *dev, struct virtio_mmio_queue *q, uint32_t value)
{
    if (value == 0) {
        q->ready = false;
        return;
    }
    cleanup_kerr struct kerr *err = NULL;
    if (q->vq.size > VIRTIO_MMIO_QUEUE_MAX) {
        kerr_make(&err, 0, "queue %u: size %u above QueueNumMax %u", dev->queue_sel, q->vq.size,
                  VIRTIO_MMIO_QUEUE_MAX);
        virtio_mmio_fail(dev, &err);
        return;
    }
    if (virtq_check(&q->vq, &dev->mem, &err) < 0) {
        kerr_wrap(&err, "queue %u", dev->queue_sel);
        virtio_mmio_fail(dev, &err);
        return;
    }
    q->vq.indirect = virtio_mmio_negotiated(dev, VIRTIO_F_RING_INDIRECT_DESC);
    q->vq.next_avail = q->vq.next_used = 0;
    q->ready = true;
}

static void set_status(struct virtio_mmio *dev, uint32_t value)
{
    if (value == 0) {
        device_reset(dev);
        return;
    }
    uint32_t added = value & ~dev->status;
    if ((added & VIRTIO_STATUS_FEATURES_OK) && !virtio_mmio_negotiated(dev, VIRTIO_F_VERSION_1)) {
        /* A legacy driver: refuse FEATURES_OK, the driver reads it back. */
        log_message(dev, "driver did not accept VIRTIO_F_VERSION_1");
        value &= ~VIRTIO_STATUS_FEATURES_OK;
    }
    dev->status = value | (dev->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    if ((added & VIRTIO_STATUS_DRIVER_OK) && dev->ops->activate &&
        !(dev->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET))
        dev->ops->activate(dev);
}

static void set_address_half(struct virtio_mmio *dev, uint64_t offset, uint32_t value)
{
    struct virtio_mmio_queue *q = selected_queue(dev);
    if (q == NULL || q->ready)
        return; /* the spec forbids changing a live queue */
    uint64_t *field = offset < VIRTIO_MMIO_QUEUE_DRIVER_LOW   ? &q->vq.desc_gpa
                      : offset < VIRTIO_MMIO_QUEUE_DEVICE_LOW ? &q->vq.avail_gpa
                                                              : &q->vq.used_gpa;
    if (offset % 8 == 0)
        *field = (*field & 0xffffffff00000000ull) | value;
    else
        *field = (*field & 0xffffffffull) | (uint64_t)value << 32;
}

static uint32_t register_read(struct virtio_mmio *dev, uint64_t offset)
{
    struct virtio_mmio_queue *q = selected_queue(dev);
    switch (offset) {
    case VIRTIO_MMIO_MAGIC_VALUE:
        return VIRTIO_MMIO_MAGIC;
    case VIRTIO_MMIO_VERSION_REG:
        return VIRTIO_MMIO_VERSION;
    case VIRTIO_MMIO_DEVICE_ID:
        return dev->ops->device_id;
    case VIRTIO_MMIO_VENDOR_ID:
        return VIRTIO_MMIO_VENDOR;
    case VIRTIO_MMIO_DEVICE_FEATURES:
        if (dev->device_features_sel > 1)
            return 0;
        return (uint32_t)(dev->device_features >> (32 * dev->device_features_sel));
    case VIRTIO_MMIO_QUEUE_NUM_MAX:
        return q ? VIRTIO_MMIO_QUEUE_MAX : 0;
    case VIRTIO_MMIO_QUEUE_READY:
        return q ? q->ready : 0;
    case VIRTIO_MMIO_INTERRUPT_STATUS:
        return dev->interrupt_status;
    case VIRTIO_MMIO_STATUS:
        return dev->status;
    case VIRTIO_MMIO_SHM_LEN_LOW:
    case VIRTIO_MMIO_SHM_LEN_HIGH:
        return 0xffffffffu; /* no shared memory regions */
    case VIRTIO_MMIO_CONFIG_GENERATION:
        return dev->config_generation;
    default:
        return 0;
    }
}

static void register_write(struct virtio_mmio *dev, uint64_t offset, uint32_t value)
{
    struct virtio_mmio_queue *q = selected_queue(dev);
    switch (offset) {
    case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
        dev->device_features_sel = value;
        break;
    case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
        dev->driver_features_sel = value;
        break;
    case VIRTIO_MMIO_DRIVER_FEATURES:
        if ((dev->status & VIRTIO_STATUS_FEATURES_OK) || dev->driver_features_sel > 1)
            break;
        if (dev->driver_features_sel == 0)
            dev->driver_features = (dev->driver_features & 0xffffffff00000000ull) | value;
        else
            dev->driver_features = (dev->driver_features & 0xffffffffull) | (uint64_t)value << 32;
        dev->driver_features &= dev->device_features; /* only what was offered */
        break;
    case VIRTIO_MMIO_QUEUE_SEL:
        dev->queue_sel = value;
        break;
    case VIRTIO_MMIO_QUEUE_NUM:
        if (q && !q->ready)
            q->vq.size = value > 0xffff ? 0 : (uint16_t)value;
        break;
    case VIRTIO_MMIO_QUEUE_READY:
        if (q)
            queue_set_ready(dev, q, value);
        break;
    case VIRTIO_MMIO_QUEUE_NOTIFY:
        if (value < dev->ops->num_queues && dev->notify)
            dev->notify(dev->notify_ctx, value);
        break;
    case VIRTIO_MMIO_INTERRUPT_ACK:
        dev->interrupt_status &= ~value;
        break;
    case VIRTIO_MMIO_STATUS:
        set_status(dev, value);
        break;
    case VIRTIO_MMIO_QUEUE_DESC_LOW:
    case VIRTIO_MMIO_QUEUE_DESC_HIGH:
    case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
    case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
    case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
    case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
        set_address_half(dev, offset, value);
        break;
    default:
        break;
    }
}

void virtio_mmio_read(struct virtio_mmio *dev, uint64_t offset, uint8_t *data, unsigned len)
{
    memset(data, 0, len);
    pthread_mutex_lock(&dev->lock);
    if (offset >= VIRTIO_MMIO_CONFIG) {
        uint64_t at = offset - VIRTIO_MMIO_CONFIG;
        if (at < dev->config_size && len <= dev->config_size - at) {
            memcpy(data, dev->config + at, len);
            dev->config_read_generation = dev->config_generation;
        }
    } else if (len == 4 && offset % 4 == 0) {
        uint32_t value = register_read(dev, offset);
        memcpy(data, &value, 4);
    }
    pthread_mutex_unlock(&dev->lock);
}

void virtio_mmio_write(struct virtio_mmio *dev, uint64_t offset, const uint8_t *data, unsigned len)
{
    pthread_mutex_lock(&dev->lock);
    if (offset >= VIRTIO_MMIO_CONFIG) {
        uint64_t at = offset - VIRTIO_MMIO_CONFIG;
        if (dev->ops->config_write && at < dev->config_size && len <= dev->config_size - at) {
            memcpy(dev->config + at, data, len);
            dev->ops->config_write(dev, (unsigned)at, len);
        }
    } else if (len == 4 && offset % 4 == 0) {
        uint32_t value;
        memcpy(&value, data, 4);
        register_write(dev, offset, value);
    }
    pthread_mutex_unlock(&dev->lock);
}
