/* libFuzzer target: arbitrary bytes as a kernel image for the built-in VMM's
 * PVH ELF loader.  It must accept or reject with a message, never read or
 * write outside the image or the (small) guest memory; accepted images must
 * report an entry inside what they loaded. */
#include "boot.h"
#include "util.h"

#include <stdlib.h>

#define GUEST_MEM (32u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *mem;
    if (mem == NULL)
        mem = xmalloc(GUEST_MEM);
    cleanup_kerr struct kerr *err = NULL;
    uint64_t entry = 0, end = 0;
    if (vmm_load_pvh_elf(data, size, mem, GUEST_MEM, &entry, &end, &err) < 0) {
        if (err == NULL || err->msg == NULL)
            abort();
        return 0;
    }
    if (entry < VMM_HIGH_RAM_START || entry >= end || end > GUEST_MEM)
        abort();
    return 0;
}
