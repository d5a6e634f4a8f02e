/* The MP table, laid out byte by byte (Intel MultiProcessor Specification
 * 1.4, chapter 4).  Offsets are the specification's; both checksums are the
 * byte sum's two's complement, as for ACPI. */
#include "mptable.h"
#include "acpi.h"
#include "le_bytes.h"

#include <errno.h>
#include <string.h>

#define FLOATING_LEN   16
#define HEADER_LEN     44
#define PROCESSOR_LEN  20
#define SHORT_ENTRY    8 /* bus, I/O APIC, interrupt and local interrupt entries */
#define CONFIG_GPA     (VMM_MPTABLE_GPA + FLOATING_LEN)
#define LAPIC_VERSION  0x14 /* what KVM's local APIC reports */
#define IOAPIC_VERSION 0x11 /* what KVM's IOAPIC reports */

enum entry_type { PROCESSOR, BUS, IO_APIC, IO_INTERRUPT, LOCAL_INTERRUPT };
enum interrupt_type { INT = 0, NMI = 1, EXTINT = 3 };
#define CPU_ENABLED         1u
#define CPU_BOOT_PROCESSOR  2u
#define IOAPIC_USABLE       1u
#define ISA_BUS_ID          0
#define ALL_LOCAL_APICS     0xff
#define CPU_SIGNATURE       0x600u              /* family 6: only informative */
#define CPU_FEATURES        (1u << 0 | 1u << 9) /* FPU, on-chip APIC */
#define CONFORMS_TO_DEFAULT 0                   /* ISA: edge triggered, active high */

static uint8_t *processor(uint8_t *e, unsigned apic_id)
{
    e[0] = PROCESSOR;
    e[1] = (uint8_t)apic_id;
    e[2] = LAPIC_VERSION;
    e[3] = (uint8_t)(CPU_ENABLED | (apic_id == 0 ? CPU_BOOT_PROCESSOR : 0));
    put32(e + 4, CPU_SIGNATURE);
    put32(e + 8, CPU_FEATURES);
    return e + PROCESSOR_LEN;
}

/* An interrupt entry; for an I/O interrupt `dest` is the IOAPIC's ID and
 * `line` its pin, for a local one the local APIC (or all) and LINT0/1. */
static uint8_t *interrupt(uint8_t *e, enum entry_type type, enum interrupt_type kind,
                          unsigned source_irq, unsigned dest, unsigned line)
{
    e[0] = (uint8_t)type;
    e[1] = (uint8_t)kind;
    put16(e + 2, CONFORMS_TO_DEFAULT);
    e[4] = ISA_BUS_ID;
    e[5] = (uint8_t)source_irq;
    e[6] = (uint8_t)dest;
    e[7] = (uint8_t)line;
    return e + SHORT_ENTRY;
}

int vmm_write_mptable(uint8_t *mem, size_t mem_size, unsigned vcpus, struct kerr **err)
{
    if (vcpus == 0 || vcpus > VMM_MPTABLE_MAX_CPUS)
        return kerr_make(err, EINVAL, "MP table for %u vCPUs (1 to %d)", vcpus,
                         VMM_MPTABLE_MAX_CPUS);
    if (mem_size < VMM_MPTABLE_END_GPA)
        return kerr_make(err, EINVAL, "guest memory too small for the MP table");
    memset(mem + VMM_MPTABLE_GPA, 0, VMM_MPTABLE_END_GPA - VMM_MPTABLE_GPA);
    uint8_t *table = mem + CONFIG_GPA;
    uint8_t *e = table + HEADER_LEN;
    unsigned entries = 0;
    unsigned ioapic_id = vcpus;

    for (unsigned i = 0; i < vcpus; i++, entries++)
        e = processor(e, i);

    e[0] = BUS;
    e[1] = ISA_BUS_ID;
    memcpy(e + 2, "ISA   ", 6);
    e += SHORT_ENTRY;
    entries++;

    e[0] = IO_APIC;
    e[1] = (uint8_t)ioapic_id;
    e[2] = IOAPIC_VERSION;
    e[3] = IOAPIC_USABLE;
    put32(e + 4, VMM_IOAPIC_GPA);
    e += SHORT_ENTRY;
    entries++;

    /* ISA IRQ n on pin n for every pin, as KVM's default GSI routing wires
     * them: Linux then allocates IRQ n for each at boot. */
    for (unsigned pin = 0; pin < VMM_MPTABLE_PINS; pin++, entries++)
        e = interrupt(e, IO_INTERRUPT, INT, pin, ioapic_id, pin);
    /* LINT0 takes the 8259's ExtINT, LINT1 the NMI, on every CPU. */
    e = interrupt(e, LOCAL_INTERRUPT, EXTINT, 0, ALL_LOCAL_APICS, 0);
    e = interrupt(e, LOCAL_INTERRUPT, NMI, 0, ALL_LOCAL_APICS, 1);
    entries += 2;

    uint32_t len = (uint32_t)(e - table);
    memcpy(table, "PCMP", 4);
    put16(table + 4, (uint16_t)len);
    table[6] = 4; /* specification 1.4 */
    memcpy(table + 8, "KATAC   ", 8);
    memcpy(table + 16, "KATAVMM     ", 12);
    put16(table + 34, (uint16_t)entries);
    put32(table + 36, VMM_LAPIC_GPA);
    table[7] = (uint8_t)(0 - vmm_acpi_sum(table, len));

    uint8_t *mpf = mem + VMM_MPTABLE_GPA;
    memcpy(mpf, "_MP_", 4);
    put32(mpf + 4, (uint32_t)CONFIG_GPA);
    mpf[8] = 1; /* length in 16-byte paragraphs */
    mpf[9] = 4; /* specification 1.4 */
    /* feature bytes 0: the configuration table is present; no IMCR (virtual
     * wire mode) */
    mpf[10] = (uint8_t)(0 - vmm_acpi_sum(mpf, FLOATING_LEN));
    return 0;
}
