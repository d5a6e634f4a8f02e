/* The built-in VMM's MP table (mptable.c), read back the way Linux's
 * arch/x86/kernel/mpparse.c finds and walks it: the floating pointer on a
 * 16-byte boundary of 0xf0000-0xfffff, both checksums, every entry's size by
 * its type, the entry count and the length adding up. */
#include "acpi.h"
#include "boot.h"
#include "le_bytes.h"
#include "mptable.h"
#include "test.h"
#include "util.h"
#include "vmm_devices.h"

#include <errno.h>

#define MEM_SIZE (2u << 20)

struct parsed {
    unsigned cpus, boot_cpus, buses, ioapics, local_ints;
    unsigned ioapic_id;
    uint32_t ioapic_addr, lapic_addr;
    bool pin_seen[VMM_MPTABLE_PINS];
    bool pins_identity; /* ISA IRQ n on pin n, edge/high (conforming), on our IOAPIC */
    bool cpus_in_order; /* APIC IDs 0, 1, ... enabled; only 0 is the boot CPU */
    uint64_t config_gpa;
    uint32_t config_len;
};

/* The floating pointer's address as the guest's scan finds it, or 0. */
static uint64_t find_floating_pointer(const uint8_t *mem)
{
    for (uint64_t gpa = 0xf0000; gpa < 0x100000; gpa += 16) {
        const uint8_t *p = mem + gpa;
        if (memcmp(p, "_MP_", 4) == 0 && p[8] == 1 && vmm_acpi_sum(p, 16) == 0 &&
            (p[9] == 1 || p[9] == 4))
            return gpa;
    }
    return 0;
}

/* Walk the configuration table; false if it is malformed. */
static bool parse(const uint8_t *mem, struct parsed *out)
{
    *out = (struct parsed){.pins_identity = true, .cpus_in_order = true};
    uint64_t mpf = find_floating_pointer(mem);
    if (mpf == 0 || mem[mpf + 11] != 0) /* feature byte 1: not a default configuration */
        return false;
    const uint8_t *t = mem + le32(mem + mpf + 4);
    out->config_gpa = le32(mem + mpf + 4);
    out->config_len = le16(t + 4);
    if (memcmp(t, "PCMP", 4) != 0 || vmm_acpi_sum(t, out->config_len) != 0 || t[6] != 4)
        return false;
    out->lapic_addr = le32(t + 36);
    unsigned count = 0, off = 44;
    while (off < out->config_len) {
        const uint8_t *e = t + off;
        count++;
        switch (e[0]) {
        case 0: /* processor */
            if (e[1] != out->cpus || !(e[3] & 1) || ((e[3] & 2) != 0) != (e[1] == 0))
                out->cpus_in_order = false;
            out->boot_cpus += (e[3] & 2) != 0;
            out->cpus++;
            off += 20;
            continue;
        case 1:
            if (e[1] != 0 || memcmp(e + 2, "ISA   ", 6) != 0)
                return false;
            out->buses++;
            break;
        case 2:
            if (!(e[3] & 1))
                return false;
            out->ioapic_id = e[1];
            out->ioapic_addr = le32(e + 4);
            out->ioapics++;
            break;
        case 3: /* I/O interrupt: type, flags, bus, bus IRQ, IOAPIC, pin */
            if (e[7] >= VMM_MPTABLE_PINS || out->pin_seen[e[7]])
                return false;
            out->pin_seen[e[7]] = true;
            if (e[1] != 0 || le16(e + 2) != 0 || e[4] != 0 || e[5] != e[7] ||
                e[6] != out->ioapic_id)
                out->pins_identity = false;
            break;
        case 4:
            out->local_ints++;
            break;
        default:
            return false;
        }
        off += 8;
    }
    return off == out->config_len && count == le16(t + 34);
}

TEST(mptable_is_found_and_walks_like_linux_reads_it)
{
    cleanup_free uint8_t *mem = xmalloc(MEM_SIZE);
    memset(mem, 0xee, MEM_SIZE);
    CHECK_INT(vmm_write_mptable(mem, MEM_SIZE, 2, NULL), 0);
    struct parsed p;
    CHECK(parse(mem, &p));
    CHECK_INT(find_floating_pointer(mem), VMM_MPTABLE_GPA);
    CHECK_INT(p.cpus, 2);
    CHECK_INT(p.boot_cpus, 1);
    CHECK(p.cpus_in_order);
    CHECK_INT(p.buses, 1);
    CHECK_INT(p.ioapics, 1);
    CHECK_INT(p.ioapic_id, 2); /* after the CPUs' APIC IDs, as in the MADT */
    CHECK_INT(p.ioapic_addr, VMM_IOAPIC_GPA);
    CHECK_INT(p.lapic_addr, VMM_LAPIC_GPA);
    CHECK_INT(p.local_ints, 2);
    CHECK(p.pins_identity);
    for (unsigned pin = 0; pin < VMM_MPTABLE_PINS; pin++)
        CHECK(p.pin_seen[pin]);
}

TEST(mptable_stays_in_the_reserved_bios_area_clear_of_acpi)
{
    cleanup_free uint8_t *mem = xmalloc(MEM_SIZE);
    memset(mem, 0xee, MEM_SIZE);
    CHECK_INT(vmm_write_mptable(mem, MEM_SIZE, VMM_MPTABLE_MAX_CPUS, NULL), 0);
    struct parsed p;
    CHECK(parse(mem, &p));
    CHECK_INT(p.cpus, VMM_MPTABLE_MAX_CPUS);
    CHECK(p.cpus_in_order);
    CHECK(p.config_gpa + p.config_len <= VMM_MPTABLE_END_GPA);
    CHECK(VMM_MPTABLE_GPA >= VMM_ACPI_END_GPA && VMM_MPTABLE_GPA >= VMM_BIOS_AREA_START &&
          VMM_MPTABLE_END_GPA <= VMM_HIGH_RAM_START);
    CHECK_INT(mem[VMM_MPTABLE_GPA - 1], 0xee); /* nothing outside its range written */
    CHECK_INT(mem[VMM_MPTABLE_END_GPA], 0xee);
    CHECK_INT(mem[VMM_ACPI_RSDP_GPA], 0xee);
}

TEST(mptable_has_a_pin_for_every_virtio_mmio_gsi)
{
    CHECK(VMM_MMIO_FIRST_GSI + VMM_MAX_DEVICES <= VMM_MPTABLE_PINS);
    cleanup_free uint8_t *mem = xcalloc(1, MEM_SIZE);
    CHECK_INT(vmm_write_mptable(mem, MEM_SIZE, 1, NULL), 0);
    struct parsed p;
    CHECK(parse(mem, &p));
    CHECK_INT(p.ioapic_id, 1);
    for (unsigned n = 0; n < VMM_MAX_DEVICES; n++)
        CHECK(p.pin_seen[VMM_MMIO_FIRST_GSI + n]);
    /* Writing again for fewer CPUs leaves no stale entries behind. */
    CHECK_INT(vmm_write_mptable(mem, MEM_SIZE, 16, NULL), 0);
    CHECK_INT(vmm_write_mptable(mem, MEM_SIZE, 3, NULL), 0);
    CHECK(parse(mem, &p));
    CHECK_INT(p.cpus, 3);
}

TEST(mptable_rejects_what_it_cannot_describe)
{
    cleanup_free uint8_t *mem = xcalloc(1, MEM_SIZE);
    cleanup_kerr struct kerr *e = NULL;
    CHECK_INT(vmm_write_mptable(mem, MEM_SIZE, 0, &e), -1);
    CHECK_CONTAINS(e->msg, "MP table for 0 vCPUs (1 to 64)");
    kerr_clear(&e);
    CHECK_INT(vmm_write_mptable(mem, MEM_SIZE, VMM_MPTABLE_MAX_CPUS + 1, &e), -1);
    CHECK_CONTAINS(e->msg, "65 vCPUs");
    kerr_clear(&e);
    CHECK_INT(vmm_write_mptable(mem, VMM_MPTABLE_END_GPA - 1, 1, &e), -1);
    CHECK_CONTAINS(e->msg, "guest memory too small for the MP table");
    CHECK_INT(find_floating_pointer(mem), 0); /* nothing written */
}
