/* A test driver for the virtio-mmio devices without KVM: it does what
 * Linux's virtio_mmio driver does, through vmm_devices_mmio() on a fake guest
 * memory; the device thread runs for real, and interrupts are read from the
 * devices' irqfds.  Queue q's rings live at queue_gpa(q), buffers from
 * DATA_GPA up. */
#ifndef KATA_TEST_VIRTIO_TEST_DRIVER_H
#define KATA_TEST_VIRTIO_TEST_DRIVER_H

#include <stdint.h>

#include "guest_memory.h"
#include "virtio_mmio.h"
#include "vmm_devices.h"

#define MEM_SIZE (4u << 20)
#define QSIZE    8
#define DATA_GPA 0x100000u

struct driver {
    struct guest_memory mem;
    struct vmm_devices *devs;
    unsigned index; /* the device under test */
    uint64_t base;  /* its register block */
    uint16_t avail_idx[VIRTIO_MMIO_MAX_QUEUES];
    uint16_t used_seen[VIRTIO_MMIO_MAX_QUEUES];
};

uint64_t queue_gpa(unsigned q);
uint32_t reg_read(struct driver *d, uint64_t offset);
void reg_write(struct driver *d, uint64_t offset, uint32_t v);
/* Fresh guest memory and devices (none yet; no KVM). */
void driver_open(struct driver *d);
void driver_close(struct driver *d);
/* Linux's probe order: reset, ACK, DRIVER, features, FEATURES_OK, queues,
 * DRIVER_OK.  Returns the status read back. */
uint32_t driver_setup(struct driver *d, unsigned queues, uint64_t want);
void set_desc(struct driver *d, unsigned q, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
              uint16_t next);
/* Make chain `head` available on queue q and notify. */
void submit(struct driver *d, unsigned q, uint16_t head);
/* Wait for the next used element of queue q (through the interrupt);
 * returns its length or -1 on timeout (5 s). */
long wait_used(struct driver *d, unsigned q);
/* Run fn in a child; its wait status. */
int in_child(int (*fn)(void));

#endif
