/* Split virtqueue walker: every guest address, length and index is checked
 * before use (see virtqueue.h for the rules). */
#include "virtqueue.h"

#include <string.h>

#define DESC_SIZE 16u

static uint64_t desc_area_size(uint16_t size)
{
    return (uint64_t)DESC_SIZE * size;
}

static uint64_t avail_area_size(uint16_t size)
{
    return 6 + 2 * (uint64_t)size; /* flags, idx, ring[size], used_event */
}

static uint64_t used_area_size(uint16_t size)
{
    return 6 + 8 * (uint64_t)size; /* flags, idx, ring[size] of {id, len}, avail_event */
}

static int check_area(const struct guest_memory *m, const char *what, uint64_t gpa, uint64_t len,
                      uint64_t align, struct kerr **err)
{
    if (gpa % align)
        return kerr_make(err, 0, "%s at 0x%llx is not %llu-byte aligned", what,
                         (unsigned long long)gpa, (unsigned long long)align);
    if (guest_memory_ptr(m, gpa, len) == NULL)
        return kerr_make(err, 0, "%s at 0x%llx (%llu bytes) is outside guest memory", what,
                         (unsigned long long)gpa, (unsigned long long)len);
    return 0;
}

int virtq_check(const struct virtq *q, const struct guest_memory *m, struct kerr **err)
{
    if (q->size == 0 || q->size > VIRTQ_SIZE_MAX || (q->size & (q->size - 1)))
        return kerr_make(err, 0, "queue size %u is not a power of two up to %u", q->size,
                         VIRTQ_SIZE_MAX);
    if (check_area(m, "descriptor table", q->desc_gpa, desc_area_size(q->size), 16, err) < 0 ||
        check_area(m, "available ring", q->avail_gpa, avail_area_size(q->size), 2, err) < 0 ||
        check_area(m, "used ring", q->used_gpa, used_area_size(q->size), 4, err) < 0)
        return -1;
    return 0;
}

static int chain_add(struct virtq_chain *c, const struct guest_memory *m,
                     const struct virtq_desc *d, struct kerr **err)
{
    bool writable = d->flags & VIRTQ_DESC_F_WRITE;
    if (!writable && c->writable)
        return kerr_make(err, 0, "chain %u: device-readable buffer after a writable one", c->head);
    unsigned n = c->readable + c->writable;
    if (n == VIRTQ_CHAIN_MAX)
        return kerr_make(err, 0, "chain %u: more than %u buffers", c->head, VIRTQ_CHAIN_MAX);
    uint8_t *p = guest_memory_ptr(m, d->addr, d->len);
    if (p == NULL)
        return kerr_make(err, 0, "chain %u: buffer at 0x%llx (%u bytes) is outside guest memory",
                         c->head, (unsigned long long)d->addr, d->len);
    c->buf[n] = (struct virtq_buffer){.addr = p, .len = d->len};
    if (writable) {
        c->writable++;
        c->writable_len += d->len;
    } else {
        c->readable++;
        c->readable_len += d->len;
    }
    return 0;
}

/* Follow the chain from descriptor `index` of table[0..count); an indirect
 * descriptor switches to its table once. */
static int chain_walk(const struct virtq *q, const struct guest_memory *m, struct virtq_chain *c,
                      struct kerr **err)
{
    const uint8_t *table = guest_memory_ptr(m, q->desc_gpa, desc_area_size(q->size));
    uint32_t count = q->size, index = c->head, steps = 0;
    bool in_indirect = false;
    if (table == NULL)
        return kerr_make(err, 0, "descriptor table outside guest memory");
    for (;;) {
        if (++steps > count)
            return kerr_make(err, 0, "chain %u: longer than its %s of %u descriptors (a loop?)",
                             c->head, in_indirect ? "indirect table" : "queue", count);
        struct virtq_desc d;
        memcpy(&d, table + (uint64_t)index * DESC_SIZE, sizeof(d));
        if (d.flags & VIRTQ_DESC_F_INDIRECT) {
            if (in_indirect)
                return kerr_make(err, 0, "chain %u: indirect descriptor inside an indirect table",
                                 c->head);
            if (!q->indirect)
                return kerr_make(
                    err, 0, "chain %u: indirect descriptor without VIRTIO_F_RING_INDIRECT_DESC",
                    c->head);
            if (d.flags & VIRTQ_DESC_F_NEXT)
                return kerr_make(err, 0, "chain %u: indirect descriptor with NEXT set", c->head);
            if (d.len == 0 || d.len % DESC_SIZE || d.len / DESC_SIZE > VIRTQ_CHAIN_MAX)
                return kerr_make(err, 0,
                                 "chain %u: indirect table of %u bytes (a multiple of %u, at most "
                                 "%u descriptors)",
                                 c->head, d.len, DESC_SIZE, VIRTQ_CHAIN_MAX);
            table = guest_memory_ptr(m, d.addr, d.len);
            if (table == NULL)
                return kerr_make(err, 0,
                                 "chain %u: indirect table at 0x%llx (%u bytes) is outside guest "
                                 "memory",
                                 c->head, (unsigned long long)d.addr, d.len);
            count = d.len / DESC_SIZE;
            index = 0;
            steps = 0;
            in_indirect = true;
            continue;
        }
        if (chain_add(c, m, &d, err) < 0)
            return -1;
        if (!(d.flags & VIRTQ_DESC_F_NEXT))
            return 0;
        if (d.next >= count)
            return kerr_make(err, 0, "chain %u: next index %u outside its %s of %u", c->head,
                             d.next, in_indirect ? "indirect table" : "queue", count);
        index = d.next;
    }
}

int virtq_pop(struct virtq *q, const struct guest_memory *m, struct virtq_chain *chain,
              struct kerr **err)
{
    uint8_t *avail = guest_memory_ptr(m, q->avail_gpa, avail_area_size(q->size));
    if (avail == NULL || q->size == 0)
        return kerr_make(err, 0, "available ring outside guest memory");
    uint16_t idx = __atomic_load_n((uint16_t *)(avail + 2), __ATOMIC_ACQUIRE);
    uint16_t pending = (uint16_t)(idx - q->next_avail);
    if (pending == 0)
        return 0;
    if (pending > q->size)
        return kerr_make(err, 0,
                         "available index %u is %u entries ahead of the device (queue size %u)",
                         idx, pending, q->size);
    uint16_t head;
    memcpy(&head, avail + 4 + 2 * (uint64_t)(q->next_avail % q->size), sizeof(head));
    q->next_avail++;
    if (head >= q->size)
        return kerr_make(err, 0, "available ring names descriptor %u (queue size %u)", head,
                         q->size);
    chain->head = head;
    chain->readable = chain->writable = 0;
    chain->readable_len = chain->writable_len = 0;
    if (chain_walk(q, m, chain, err) < 0)
        return -1;
    return 1;
}

void virtq_unpop(struct virtq *q)
{
    q->next_avail--;
}

int virtq_push(struct virtq *q, const struct guest_memory *m, uint16_t head, uint32_t written,
               struct kerr **err)
{
    uint8_t *used = guest_memory_ptr(m, q->used_gpa, used_area_size(q->size));
    if (used == NULL || q->size == 0)
        return kerr_make(err, 0, "used ring outside guest memory");
    if (head >= q->size)
        return kerr_make(err, 0, "used descriptor %u (queue size %u)", head, q->size);
    uint32_t elem[2] = {head, written};
    memcpy(used + 4 + 8 * (uint64_t)(q->next_used % q->size), elem, sizeof(elem));
    q->next_used++;
    /* The element must be visible before the index that publishes it. */
    __atomic_store_n((uint16_t *)(used + 2), q->next_used, __ATOMIC_RELEASE);
    return 0;
}

bool virtq_wants_interrupt(const struct virtq *q, const struct guest_memory *m)
{
    const uint8_t *avail = guest_memory_ptr(m, q->avail_gpa, 2);
    if (avail == NULL)
        return true;
    /* Our used index store must be ordered before reading the driver's flags. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    uint16_t flags = __atomic_load_n((const uint16_t *)avail, __ATOMIC_RELAXED);
    return !(flags & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

/* Copy at most len bytes between `bytes` and buffers [first, first + n) of
 * the chain, starting at byte offset of those buffers. */
static size_t chain_copy(const struct virtq_chain *c, unsigned first, unsigned n, uint64_t offset,
                         uint8_t *bytes, size_t len, bool to_guest)
{
    size_t done = 0;
    for (unsigned i = first; i < first + n && done < len; i++) {
        const struct virtq_buffer *b = &c->buf[i];
        if (offset >= b->len) {
            offset -= b->len;
            continue;
        }
        size_t piece = b->len - offset;
        if (piece > len - done)
            piece = len - done;
        if (to_guest)
            memcpy(b->addr + offset, bytes + done, piece);
        else
            memcpy(bytes + done, b->addr + offset, piece);
        done += piece;
        offset = 0;
    }
    return done;
}

size_t virtq_chain_read(const struct virtq_chain *c, uint64_t offset, void *out, size_t len)
{
    return chain_copy(c, 0, c->readable, offset, out, len, false);
}

size_t virtq_chain_write(struct virtq_chain *c, uint64_t offset, const void *data, size_t len)
{
    return chain_copy(c, c->readable, c->writable, offset, (uint8_t *)data, len, true);
}

unsigned virtq_chain_iovec(const struct virtq_chain *c, bool writable, uint64_t offset,
                           uint64_t len, struct iovec *iov, unsigned max, uint64_t *covered)
{
    unsigned first = writable ? c->readable : 0, n = writable ? c->writable : c->readable, used = 0;
    uint64_t done = 0;
    for (unsigned i = first; i < first + n && done < len && used < max; i++) {
        const struct virtq_buffer *b = &c->buf[i];
        if (offset >= b->len) {
            offset -= b->len;
            continue;
        }
        uint64_t piece = b->len - offset;
        if (piece > len - done)
            piece = len - done;
        iov[used++] = (struct iovec){.iov_base = b->addr + offset, .iov_len = piece};
        done += piece;
        offset = 0;
    }
    *covered = done;
    return used;
}
