/* The virtio-mmio test driver (see virtio_test_driver.h). */
#include "virtio_test_driver.h"
#include "util.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

uint64_t queue_gpa(unsigned q)
{
    return 0x10000u + q * 0x1000u;
}

uint32_t reg_read(struct driver *d, uint64_t offset)
{
    uint8_t b[4];
    if (!vmm_devices_mmio(d->devs, d->base + offset, b, 4, false))
        return 0xdeadbeef;
    uint32_t v;
    memcpy(&v, b, 4);
    return v;
}

void reg_write(struct driver *d, uint64_t offset, uint32_t v)
{
    uint8_t b[4];
    memcpy(b, &v, 4);
    vmm_devices_mmio(d->devs, d->base + offset, b, 4, true);
}

void driver_open(struct driver *d)
{
    memset(d, 0, sizeof(*d));
    d->mem.base = xcalloc(1, MEM_SIZE);
    d->mem.size = MEM_SIZE;
    d->devs = vmm_devices_new(-1, &d->mem, NULL, NULL, NULL);
    d->base = VMM_MMIO_BASE;
}

void driver_close(struct driver *d)
{
    vmm_devices_free(d->devs);
    free(d->mem.base);
}

/* Linux's probe order: reset, ACK, DRIVER, features, FEATURES_OK, queues,
 * DRIVER_OK.  Returns the status read back. */
uint32_t driver_setup(struct driver *d, unsigned queues, uint64_t want)
{
    reg_write(d, VIRTIO_MMIO_STATUS, 0);
    reg_write(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    reg_write(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    reg_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    uint64_t offered = (uint64_t)reg_read(d, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
    reg_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    offered |= reg_read(d, VIRTIO_MMIO_DEVICE_FEATURES);
    uint64_t features = offered & want;
    reg_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    reg_write(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
    reg_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    reg_write(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
    uint32_t status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK;
    reg_write(d, VIRTIO_MMIO_STATUS, status);
    if (!(reg_read(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK))
        return reg_read(d, VIRTIO_MMIO_STATUS);
    for (unsigned q = 0; q < queues; q++) {
        uint64_t g = queue_gpa(q);
        reg_write(d, VIRTIO_MMIO_QUEUE_SEL, q);
        reg_write(d, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
        reg_write(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)g);
        reg_write(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
        reg_write(d, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)(g + 0x200));
        reg_write(d, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 0);
        reg_write(d, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)(g + 0x400));
        reg_write(d, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 0);
        reg_write(d, VIRTIO_MMIO_QUEUE_READY, 1);
    }
    reg_write(d, VIRTIO_MMIO_STATUS, status | VIRTIO_STATUS_DRIVER_OK);
    return reg_read(d, VIRTIO_MMIO_STATUS);
}

void set_desc(struct driver *d, unsigned q, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
              uint16_t next)
{
    struct virtq_desc desc = {.addr = addr, .len = len, .flags = flags, .next = next};
    memcpy(d->mem.base + queue_gpa(q) + 16 * i, &desc, sizeof(desc));
}

void submit(struct driver *d, unsigned q, uint16_t head)
{
    uint8_t *avail = d->mem.base + queue_gpa(q) + 0x200;
    memcpy(avail + 4 + 2 * (d->avail_idx[q] % QSIZE), &head, 2);
    d->avail_idx[q]++;
    __atomic_store_n((uint16_t *)(avail + 2), d->avail_idx[q], __ATOMIC_RELEASE);
    reg_write(d, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

/* Wait for the next used element of queue q (through the interrupt);
 * returns its length or -1 on timeout. */
long wait_used(struct driver *d, unsigned q)
{
    uint8_t *used = d->mem.base + queue_gpa(q) + 0x400;
    for (int tries = 0; tries < 50; tries++) {
        uint16_t idx = __atomic_load_n((uint16_t *)(used + 2), __ATOMIC_ACQUIRE);
        if (idx != d->used_seen[q]) {
            uint32_t elem[2];
            memcpy(elem, used + 4 + 8 * (d->used_seen[q] % QSIZE), 8);
            d->used_seen[q]++;
            return elem[1];
        }
        struct pollfd p = {.fd = vmm_devices_irqfd(d->devs, d->index), .events = POLLIN};
        if (poll(&p, 1, 100) == 1) {
            uint64_t v;
            if (read(p.fd, &v, 8) != 8)
                return -1;
            reg_write(d, VIRTIO_MMIO_INTERRUPT_ACK, reg_read(d, VIRTIO_MMIO_INTERRUPT_STATUS));
        }
    }
    return -1;
}

/* Run fn in a child; its wait status. */
int in_child(int (*fn)(void))
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(fn());
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
}
