/* libFuzzer target: arbitrary bytes as a guest's rings and descriptors for
 * the split virtqueue walker.  The first bytes choose the queue (size,
 * indirect, where the device is); the rest is guest memory.  Every chain the
 * walker accepts must lie inside guest memory with readable buffers first;
 * the device writes into it and pushes it back, as a device would. */
#include "util.h"
#include "virtqueue.h"

#include <stdlib.h>
#include <string.h>

#define GUEST_MEM (64u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *mem;
    static struct virtq_chain chain;
    if (size < 8)
        return 0;
    if (mem == NULL)
        mem = xmalloc(GUEST_MEM);
    memset(mem, 0, GUEST_MEM);
    memcpy(mem, data + 8, size - 8 < GUEST_MEM ? size - 8 : GUEST_MEM);
    struct guest_memory gm = {.base = mem, .size = GUEST_MEM};
    struct virtq q = {
        .size = (uint16_t)(1u << (data[0] % 11)), /* 1..1024 */
        .indirect = data[1] & 1,
        .desc_gpa = (uint64_t)data[2] << 8,
        .avail_gpa = (uint64_t)data[3] << 8,
        .used_gpa = (uint64_t)data[4] << 8,
        .next_avail = (uint16_t)(data[5] | data[6] << 8),
    };
    q.next_used = q.next_avail;
    cleanup_kerr struct kerr *err = NULL;
    if (virtq_check(&q, &gm, &err) < 0) {
        if (err == NULL || err->msg == NULL)
            abort();
        return 0;
    }
    for (unsigned round = 0; round < 64; round++) {
        int r = virtq_pop(&q, &gm, &chain, &err);
        if (r < 0) {
            if (err == NULL || err->msg == NULL)
                abort();
            return 0;
        }
        if (r == 0)
            return 0;
        if (chain.head >= q.size || chain.readable + chain.writable > VIRTQ_CHAIN_MAX)
            abort();
        for (unsigned i = 0; i < chain.readable + chain.writable; i++) {
            const struct virtq_buffer *b = &chain.buf[i];
            if (b->addr < mem || b->addr + b->len > mem + GUEST_MEM)
                abort();
        }
        uint8_t scratch[64];
        virtq_chain_read(&chain, data[7], scratch, sizeof(scratch));
        size_t written = virtq_chain_write(&chain, data[7], scratch, sizeof(scratch));
        if (virtq_push(&q, &gm, chain.head, (uint32_t)written, &err) < 0)
            abort();
    }
    return 0;
}
