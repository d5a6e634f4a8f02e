/* Little-endian fields of the tables and headers the VMM reads and writes in
 * guest memory (ACPI, MP table, boot protocol).  memcpy keeps them free of
 * alignment; the host is x86 (KVM on x86-64), little-endian like the guest. */
#ifndef KATA_VMM_LE_BYTES_H
#define KATA_VMM_LE_BYTES_H

#include <stdint.h>
#include <string.h>

static inline uint16_t le16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static inline uint32_t le32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline void put16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}

static inline void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static inline void put64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

#endif
