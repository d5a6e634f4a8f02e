/* The Intel MultiProcessor table (MP specification 1.4) of the built-in VMM,
 * written when the virtio-mmio devices are announced on the kernel command
 * line (virtio_mmio.device=4K@0xd0000000:5).  Such a device names a bare
 * Linux IRQ number, which exists only when the guest routes the IOAPIC's
 * pins itself: with the MP table and `acpi=noirq` Linux takes the IOAPIC and
 * one ISA interrupt per pin from here (IRQ n = pin n, 0 to 23) while ACPI
 * still gives the vCPUs (MADT) and power-off (FADT).  Its processor entries
 * let a guest booted with `acpi=off` bring up every vCPU too. */
#ifndef KATA_VMM_MPTABLE_H
#define KATA_VMM_MPTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* The floating pointer, found by the guest's scan of 0xf0000-0xfffff (the
 * reserved BIOS area); the configuration table follows it. */
#define VMM_MPTABLE_GPA      0xf0000ull
#define VMM_MPTABLE_END_GPA  0xf1000ull /* the table stays below this */
#define VMM_MPTABLE_PINS     24         /* KVM's in-kernel IOAPIC */
#define VMM_MPTABLE_MAX_CPUS 64
/* What the command line needs for the guest to route interrupts by it. */
#define VMM_MPTABLE_CMDLINE "acpi=noirq"

/* Write the floating pointer and configuration table for `vcpus` vCPUs (APIC
 * IDs 0..vcpus-1, the IOAPIC gets ID vcpus, as in the MADT) into guest memory
 * at VMM_MPTABLE_GPA. */
int vmm_write_mptable(uint8_t *mem, size_t mem_size, unsigned vcpus, struct kerr **err);

#endif
