/* The device side of a virtio split virtqueue (virtio 1.x §2.7): take the
 * next available descriptor chain, hand back used buffers.
 *
 * The guest owns the rings and may change them at any time, so everything is
 * read once and checked before use: ring areas inside guest RAM and aligned,
 * the available index never more than a queue ahead, head and next indices
 * below the queue size, chains (and indirect tables) no longer than the queue
 * or table, no loops, no indirect table inside another, no descriptor both
 * indirect and chained, device-readable buffers before device-writable ones,
 * and every buffer inside guest RAM.  A chain that breaks a rule is an error:
 * the transport then marks the device as needing a reset. */
#ifndef KATA_VMM_VIRTQUEUE_H
#define KATA_VMM_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "error.h"
#include "guest_memory.h"

#define VIRTQ_SIZE_MAX 32768u /* the split ring's limit */

#define VIRTQ_DESC_F_NEXT          1
#define VIRTQ_DESC_F_WRITE         2
#define VIRTQ_DESC_F_INDIRECT      4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

/* A chain may hold at most this many buffers (direct or indirect); our
 * transports offer queues of at most this size. */
#define VIRTQ_CHAIN_MAX 256u

struct virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct virtq {
    uint16_t size;       /* QueueNum: a power of two, 1..VIRTQ_SIZE_MAX */
    uint64_t desc_gpa;   /* descriptor table, 16-byte aligned */
    uint64_t avail_gpa;  /* driver area, 2-byte aligned */
    uint64_t used_gpa;   /* device area, 4-byte aligned */
    bool indirect;       /* VIRTIO_F_RING_INDIRECT_DESC negotiated */
    uint16_t next_avail; /* the next available ring slot the device reads */
    uint16_t next_used;  /* the used index the device publishes next */
};

/* One buffer of a chain, already translated to a host address. */
struct virtq_buffer {
    uint8_t *addr;
    uint32_t len;
};

/* A chain: buf[0..readable) the device reads, buf[readable..readable+writable)
 * it writes. */
struct virtq_chain {
    uint16_t head;
    unsigned readable, writable;
    uint64_t readable_len, writable_len;
    struct virtq_buffer buf[VIRTQ_CHAIN_MAX];
};

/* Check the queue's geometry before the device uses it (when the driver sets
 * QueueReady): size, alignment, and the three areas inside guest RAM. */
int virtq_check(const struct virtq *q, const struct guest_memory *m, struct kerr **err);

/* Take the next available chain.  Returns 1 with *chain filled, 0 when the
 * driver has made nothing available, -1 with err when the ring or the chain
 * is malformed (the slot is consumed; the queue should not be used again). */
int virtq_pop(struct virtq *q, const struct guest_memory *m, struct virtq_chain *chain,
              struct kerr **err);

/* Give back the chain last taken by virtq_pop unused (the device had nothing
 * to put in it yet). */
void virtq_unpop(struct virtq *q);

/* Return chain `head` to the driver with `written` bytes written into it. */
int virtq_push(struct virtq *q, const struct guest_memory *m, uint16_t head, uint32_t written,
               struct kerr **err);

/* Whether the driver wants an interrupt for used buffers (it has not set
 * VIRTQ_AVAIL_F_NO_INTERRUPT). */
bool virtq_wants_interrupt(const struct virtq *q, const struct guest_memory *m);

/* Copy up to len bytes from the chain's readable part, starting at byte
 * offset of it; returns how many were copied. */
size_t virtq_chain_read(const struct virtq_chain *c, uint64_t offset, void *out, size_t len);
/* Copy up to len bytes into the chain's writable part at byte offset. */
size_t virtq_chain_write(struct virtq_chain *c, uint64_t offset, const void *data, size_t len);
/* iovecs for at most len bytes of the readable (or writable) part from
 * offset; returns the number of iovecs used (at most max) and the bytes they
 * cover in *covered. */
unsigned virtq_chain_iovec(const struct virtq_chain *c, bool writable, uint64_t offset,
                           uint64_t len, struct iovec *iov, unsigned max, uint64_t *covered);

#endif
