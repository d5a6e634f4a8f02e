/* The ACPI tables of the built-in VMM: hardware-reduced ACPI with an RSDP, an
 * XSDT, a FADT whose sleep control register is a port the VMM watches (so the
 * guest can power off), a DSDT with only the \_S5 sleep package, and a MADT
 * listing the vCPUs' local APICs and one IOAPIC; the DSDT also describes the
 * virtio-mmio devices. */
#ifndef KATA_VMM_ACPI_H
#define KATA_VMM_ACPI_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define VMM_ACPI_RSDP_GPA   0xe0000ull
#define VMM_ACPI_END_GPA    0xe1000ull /* the tables stay below this */
#define VMM_ACPI_SLEEP_PORT 0x600      /* FADT sleep control register (status at +1) */
#define VMM_ACPI_SLEEP_EN   0x20       /* SLP_EN in the sleep control register */
#define VMM_ACPI_S5_TYPE    5          /* SLP_TYP of \_S5 */
#define VMM_IOAPIC_GPA      0xfec00000u
#define VMM_LAPIC_GPA       0xfee00000u
#define VMM_ACPI_MAX_VCPUS  64
#define VMM_ACPI_MAX_MMIO   24 /* virtio-mmio devices the DSDT has room for */

/* A virtio-mmio device for the DSDT. */
struct vmm_acpi_mmio {
    uint64_t base;
    uint32_t size;
    uint32_t gsi;
};

/* Write the tables for `vcpus` vCPUs and mmio_count virtio-mmio devices into
 * guest memory at VMM_ACPI_RSDP_GPA.. */
int vmm_write_acpi(uint8_t *mem, size_t mem_size, unsigned vcpus, const struct vmm_acpi_mmio *mmio,
                   unsigned mmio_count, struct kerr **err);

/* The byte sum of len bytes (a valid ACPI table sums to 0). */
uint8_t vmm_acpi_sum(const uint8_t *p, size_t len);

#endif
