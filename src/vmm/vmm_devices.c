/* virtio-mmio devices on KVM: register blocks, ioeventfds, irqfds and the
 * device thread's epoll loop (see vmm_devices.h). */
#include "vmm_devices.h"
#include "loop.h"
#include "util.h"
#include "virtio_blk.h"
#include "virtio_console.h"
#include "virtio_fs.h"
#include "virtio_net.h"
#include "virtio_mmio.h"
#include "virtio_rng.h"
#include "virtio_vsock.h"
#include "vmm_seccomp.h"

#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

struct vmm_device {
    struct virtio_mmio mmio;
    struct vmm_devices *owner;
    int irqfd;
    int notify_fd[VIRTIO_MMIO_MAX_QUEUES];
    struct loop_watch *notify_watch[VIRTIO_MMIO_MAX_QUEUES];
    int reset_fd; /* a vCPU thread's deferred reset (reset_on_device_thread) */
    struct loop_watch *reset_watch;
    bool initialized; /* mmio set up by the device type */
};

struct vmm_devices {
    int vm_fd;
    int mem_fd;
    struct guest_memory mem;
    struct loop *loop;
    int quit_fd;
    struct loop_watch *quit_watch;
    pthread_t thread;
    bool thread_running;
    bool seccomp;
    sem_t started; /* the thread set itself up: start_status says how */
    int start_status;
    struct kerr *start_err;
    void (*log)(void *ctx, const char *message);
    void *log_ctx;
    unsigned count;
    struct vmm_device *dev[VMM_MAX_DEVICES];
};

static void on_quit(struct loop_watch *w, uint32_t events, void *data)
{
    struct vmm_devices *devs = data;
    uint64_t v;
    if (read(devs->quit_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        return;
    loop_quit(devs->loop);
}

struct vmm_devices *vmm_devices_new(int vm_fd, const struct guest_memory *mem,
                                    void (*log)(void *ctx, const char *message), void *log_ctx,
                                    struct kerr **err)
{
    struct vmm_devices *devs = xcalloc(1, sizeof(*devs));
    devs->vm_fd = vm_fd;
    devs->mem_fd = -1;
    devs->mem = *mem;
    devs->log = log;
    devs->log_ctx = log_ctx;
    devs->quit_fd = -1;
    devs->loop = loop_new(err);
    if (devs->loop == NULL)
        goto fail;
    devs->quit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (devs->quit_fd < 0) {
        kerr_make(err, errno, "eventfd");
        goto fail;
    }
    devs->quit_watch = loop_watch_add(devs->loop, devs->quit_fd, EPOLLIN, on_quit, devs, err);
    if (devs->quit_watch == NULL)
        goto fail;
    return devs;
fail:
    vmm_devices_free(devs);
    return NULL;
}

static void device_free(struct vmm_device *d)
{
    for (unsigned q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++) {
        if (d->notify_watch[q])
            loop_watch_remove(d->notify_watch[q]);
        if (d->notify_fd[q] >= 0)
            close(d->notify_fd[q]);
    }
    if (d->reset_watch)
        loop_watch_remove(d->reset_watch);
    if (d->reset_fd >= 0)
        close(d->reset_fd);
    if (d->initialized)
        virtio_mmio_destroy(&d->mmio);
    if (d->irqfd >= 0)
        close(d->irqfd);
    free(d);
}

void vmm_devices_free(struct vmm_devices *devs)
{
    if (devs == NULL)
        return;
    if (devs->thread_running) {
        uint64_t one = 1;
        if (write(devs->quit_fd, &one, sizeof(one)) == sizeof(one))
            pthread_join(devs->thread, NULL);
    }
    for (unsigned i = 0; i < devs->count; i++)
        device_free(devs->dev[i]);
    if (devs->quit_watch)
        loop_watch_remove(devs->quit_watch);
    if (devs->quit_fd >= 0)
        close(devs->quit_fd);
    if (devs->loop)
        loop_free(devs->loop);
    free(devs);
}

static void device_interrupt(void *ctx)
{
    struct vmm_device *d = ctx;
    uint64_t one = 1;
    if (write(d->irqfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        return; /* the counter is saturated: the interrupt is pending anyway */
}

/* A QueueNotify that reached us as an MMIO exit: hand it to the device
 * thread the way KVM's ioeventfd would. */
static void device_notify(void *ctx, unsigned queue)
{
    struct vmm_device *d = ctx;
    uint64_t one = 1;
    if (queue < VIRTIO_MMIO_MAX_QUEUES && d->notify_fd[queue] >= 0 &&
        write(d->notify_fd[queue], &one, sizeof(one)) < 0 && errno != EAGAIN)
        return;
}

static void device_log(void *ctx, const char *message)
{
    struct vmm_device *d = ctx;
    if (d->owner->log)
        d->owner->log(d->owner->log_ctx, message);
}

static void on_queue_notify(struct loop_watch *w, uint32_t events, void *data)
{
    struct vmm_device *d = data;
    int fd = loop_watch_fd(w);
    uint64_t v;
    if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        return;
    for (unsigned q = 0; q < d->mmio.ops->num_queues; q++) {
        if (d->notify_fd[q] != fd)
            continue;
        pthread_mutex_lock(&d->mmio.lock);
        virtio_mmio_settle(&d->mmio);
        d->mmio.ops->queue_notify(&d->mmio, q);
        pthread_mutex_unlock(&d->mmio.lock);
    }
}

static void reset_kick(void *ctx)
{
    struct vmm_device *d = ctx;
    uint64_t one = 1;
    if (write(d->reset_fd, &one, sizeof(one)) < 0) {
        /* a full counter: a wake-up is pending anyway */
    }
}

static void on_reset(struct loop_watch *w, uint32_t events, void *data)
{
    struct vmm_device *d = data;
    uint64_t v;
    if (read(d->reset_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        return;
    pthread_mutex_lock(&d->mmio.lock);
    virtio_mmio_settle(&d->mmio);
    pthread_mutex_unlock(&d->mmio.lock);
}

/* A new device slot: its address, GSI, eventfds (registered with KVM when
 * there is a VM).  The device type then fills d->mmio. */
static struct vmm_device *device_slot(struct vmm_devices *devs, struct kerr **err)
{
    if (devs->thread_running)
        return kerr_make(err, EBUSY, "devices are added before the VM starts"), NULL;
    if (devs->count == VMM_MAX_DEVICES)
        return kerr_make(err, ENOSPC, "more than %u virtio devices", VMM_MAX_DEVICES), NULL;
    struct vmm_device *d = xcalloc(1, sizeof(*d));
    d->owner = devs;
    d->irqfd = d->reset_fd = -1;
    for (unsigned q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++)
        d->notify_fd[q] = -1;
    return d;
}

static uint64_t slot_base(const struct vmm_devices *devs)
{
    return VMM_MMIO_BASE + (uint64_t)devs->count * VIRTIO_MMIO_SIZE;
}

static unsigned slot_gsi(const struct vmm_devices *devs)
{
    return VMM_MMIO_FIRST_GSI + devs->count;
}

/* The device type has set up d->mmio: wire it to KVM and the loop. */
static int device_attach(struct vmm_devices *devs, struct vmm_device *d, struct kerr **err)
{
    struct virtio_mmio *m = &d->mmio;
    d->initialized = true;
    m->interrupt = device_interrupt;
    m->interrupt_ctx = d;
    m->notify = device_notify;
    m->notify_ctx = d;
    m->log = device_log;
    m->log_ctx = d;
    d->irqfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (d->irqfd < 0)
        return kerr_make(err, errno, "%s: eventfd", m->ops->name);
    if (devs->vm_fd >= 0) {
        struct kvm_irqfd irqfd = {.fd = (uint32_t)d->irqfd, .gsi = m->irq};
        if (ioctl(devs->vm_fd, KVM_IRQFD, &irqfd) < 0)
            return kerr_make(err, errno, "%s: KVM_IRQFD for GSI %u", m->ops->name, m->irq);
    }
    for (unsigned q = 0; q < m->ops->num_queues; q++) {
        d->notify_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (d->notify_fd[q] < 0)
            return kerr_make(err, errno, "%s: eventfd", m->ops->name);
        if (devs->vm_fd >= 0) {
            struct kvm_ioeventfd ioe = {
                .datamatch = q,
                .addr = m->base + VIRTIO_MMIO_QUEUE_NOTIFY,
                .len = 4,
                .fd = d->notify_fd[q],
                .flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
            };
            if (ioctl(devs->vm_fd, KVM_IOEVENTFD, &ioe) < 0)
                return kerr_make(err, errno, "%s: KVM_IOEVENTFD for queue %u", m->ops->name, q);
        }
        m->kick_fd[q] = d->notify_fd[q];
        if (m->ops->backend_queues)
            continue; /* the vhost-user back-end reads the kicks */
        d->notify_watch[q] =
            loop_watch_add(devs->loop, d->notify_fd[q], EPOLLIN, on_queue_notify, d, err);
        if (d->notify_watch[q] == NULL)
            return -1;
    }
    if (m->ops->reset_on_device_thread) {
        d->reset_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (d->reset_fd < 0)
            return kerr_make(err, errno, "%s: eventfd", m->ops->name);
        d->reset_watch = loop_watch_add(devs->loop, d->reset_fd, EPOLLIN, on_reset, d, err);
        if (d->reset_watch == NULL)
            return -1;
        m->reset_kick = reset_kick;
        m->reset_kick_ctx = d;
    }
    devs->dev[devs->count++] = d;
    return 0;
}

static int add_or_free(struct vmm_devices *devs, struct vmm_device *d, struct kerr **err)
{
    if (device_attach(devs, d, err) < 0) {
        device_free(d);
        return -1;
    }
    return 0;
}

int vmm_devices_add_rng(struct vmm_devices *devs, struct kerr **err)
{
    struct vmm_device *d = device_slot(devs, err);
    if (d == NULL)
        return -1;
    virtio_rng_init(&d->mmio, &devs->mem, slot_base(devs), slot_gsi(devs));
    return add_or_free(devs, d, err);
}

int vmm_devices_add_console(struct vmm_devices *devs, int input_fd,
                            void (*output)(void *ctx, const uint8_t *bytes, size_t len),
                            void *output_ctx, struct kerr **err)
{
    struct vmm_device *d = device_slot(devs, err);
    if (d == NULL) {
        if (input_fd >= 0)
            close(input_fd);
        return -1;
    }
    virtio_console_init(&d->mmio, devs->loop, input_fd, output, output_ctx, &devs->mem,
                        slot_base(devs), slot_gsi(devs));
    return add_or_free(devs, d, err);
}

int vmm_devices_add_blk(struct vmm_devices *devs, const char *path, bool readonly, const char *id,
                        struct kerr **err)
{
    struct vmm_device *d = device_slot(devs, err);
    if (d == NULL)
        return -1;
    if (virtio_blk_init(&d->mmio, path, readonly, id, &devs->mem, slot_base(devs), slot_gsi(devs),
                        err) < 0) {
        device_free(d);
        return -1;
    }
    return add_or_free(devs, d, err);
}

int vmm_devices_replace_blk(struct vmm_devices *devs, const char *id, const char *path,
                            bool readonly, struct kerr **err)
{
    /* The device list is fixed once the VM runs: no lock needed to walk it. */
    for (unsigned i = 0; i < devs->count; i++)
        if (virtio_blk_has_id(&devs->dev[i]->mmio, id))
            return virtio_blk_replace(&devs->dev[i]->mmio, path, readonly, err);
    return kerr_make(err, ENOENT, "no disk with id `%s`", id);
}

unsigned vmm_devices_blk_states(struct vmm_devices *devs, struct virtio_blk_state *out,
                                unsigned max)
{
    unsigned n = 0;
    for (unsigned i = 0; i < devs->count && n < max; i++) {
        virtio_blk_state(&devs->dev[i]->mmio, &out[n]);
        if (out[n].path)
            n++;
    }
    return n;
}

int vmm_devices_add_vsock(struct vmm_devices *devs, uint64_t guest_cid, const char *uds_path,
                          struct kerr **err)
{
    struct vmm_device *d = device_slot(devs, err);
    if (d == NULL)
        return -1;
    if (virtio_vsock_init(&d->mmio, devs->loop, guest_cid, uds_path, &devs->mem, slot_base(devs),
                          slot_gsi(devs), err) < 0) {
        device_free(d);
        return -1;
    }
    return add_or_free(devs, d, err);
}

int vmm_devices_add_net(struct vmm_devices *devs, int tap_fd, const char *mac, unsigned mtu,
                        struct kerr **err)
{
    struct vmm_device *d = device_slot(devs, err);
    if (d == NULL)
        return -1;
    if (virtio_net_init(&d->mmio, devs->loop, tap_fd, mac, mtu, &devs->mem, slot_base(devs),
                        slot_gsi(devs), err) < 0) {
        device_free(d);
        return -1;
    }
    return add_or_free(devs, d, err);
}

void vmm_devices_set_memory_fd(struct vmm_devices *devs, int fd)
{
    devs->mem_fd = fd;
}

int vmm_devices_add_fs(struct vmm_devices *devs, const char *socket_path, const char *tag,
                       struct kerr **err)
{
    struct vmm_device *d = device_slot(devs, err);
    if (d == NULL)
        return -1;
    if (virtio_fs_init(&d->mmio, devs->loop, socket_path, tag, devs->mem_fd, &devs->mem,
                       slot_base(devs), slot_gsi(devs), err) < 0) {
        device_free(d);
        return -1;
    }
    return add_or_free(devs, d, err);
}

unsigned vmm_devices_count(const struct vmm_devices *devs)
{
    return devs->count;
}

unsigned vmm_devices_acpi(const struct vmm_devices *devs, struct vmm_acpi_mmio *out, unsigned max)
{
    unsigned n = 0;
    for (; n < devs->count && n < max; n++)
        out[n] = (struct vmm_acpi_mmio){.base = devs->dev[n]->mmio.base,
                                        .size = VIRTIO_MMIO_SIZE,
                                        .gsi = devs->dev[n]->mmio.irq};
    return n;
}

char *vmm_devices_cmdline(const struct vmm_devices *devs)
{
    char *line = xstrdup("");
    for (unsigned i = 0; i < devs->count; i++) {
        char *next = xasprintf("%s virtio_mmio.device=4K@0x%llx:%u", line,
                               (unsigned long long)devs->dev[i]->mmio.base, devs->dev[i]->mmio.irq);
        free(line);
        line = next;
    }
    return line;
}

struct virtio_mmio *vmm_devices_get(struct vmm_devices *devs, unsigned n)
{
    return n < devs->count ? &devs->dev[n]->mmio : NULL;
}

int vmm_devices_irqfd(const struct vmm_devices *devs, unsigned n)
{
    return n < devs->count ? devs->dev[n]->irqfd : -1;
}

static void *device_thread(void *arg)
{
    struct vmm_devices *devs = arg;
    cleanup_kerr struct kerr *err = NULL;
    if (devs->seccomp && vmm_seccomp_apply(VMM_THREAD_DEVICE, &devs->start_err) < 0) {
        devs->start_status = -1;
        sem_post(&devs->started);
        return NULL;
    }
    sem_post(&devs->started);
    if (loop_run(devs->loop, NULL, &err) < 0 && devs->log)
        devs->log(devs->log_ctx, err->msg);
    return NULL;
}

int vmm_devices_start(struct vmm_devices *devs, bool seccomp, struct kerr **err)
{
    if (devs->thread_running)
        return 0;
    devs->seccomp = seccomp;
    devs->start_status = 0;
    sem_init(&devs->started, 0, 0);
    /* The thread inherits a mask blocking every signal: process-directed
     * signals (stop, timeout) then go to the vCPU thread, whose KVM_RUN
     * they interrupt. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int r = pthread_create(&devs->thread, NULL, device_thread, devs);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0) {
        sem_destroy(&devs->started);
        return kerr_make(err, r, "start the device thread");
    }
    while (sem_wait(&devs->started) < 0 && errno == EINTR)
        ;
    sem_destroy(&devs->started);
    if (devs->start_status < 0) {
        pthread_join(devs->thread, NULL);
        *err = devs->start_err; /* the thread has ended: its error is ours */
        devs->start_err = NULL;
        return -1;
    }
    devs->thread_running = true;
    return 0;
}

bool vmm_devices_mmio(struct vmm_devices *devs, uint64_t gpa, uint8_t *data, unsigned len,
                      bool is_write)
{
    if (gpa < VMM_MMIO_BASE)
        return false;
    uint64_t index = (gpa - VMM_MMIO_BASE) / VIRTIO_MMIO_SIZE;
    if (index >= devs->count)
        return false;
    struct virtio_mmio *m = &devs->dev[index]->mmio;
    uint64_t offset = gpa - m->base;
    if (len == 0 || len > 8 || offset + len > VIRTIO_MMIO_SIZE)
        return false;
    if (is_write)
        virtio_mmio_write(m, offset, data, len);
    else
        virtio_mmio_read(m, offset, data, len);
    return true;
}
