/* The guest's RAM as the device model sees it: one host mapping of guest
 * physical addresses [0, size).  Every guest-supplied address goes through
 * guest_memory_ptr(), which refuses ranges that leave RAM or wrap. */
#ifndef KATA_VMM_GUEST_MEMORY_H
#define KATA_VMM_GUEST_MEMORY_H

#include <stddef.h>
#include <stdint.h>

struct guest_memory {
    uint8_t *base;
    uint64_t size;
};

/* The host address of guest-physical [gpa, gpa + len), or NULL when any byte
 * of it is outside RAM.  len 0 is valid anywhere up to and including size. */
static inline void *guest_memory_ptr(const struct guest_memory *m, uint64_t gpa, uint64_t len)
{
    if (gpa > m->size || len > m->size - gpa)
        return NULL;
    return m->base + gpa;
}

#endif
