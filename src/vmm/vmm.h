/* The built-in VMM (issue 8), first part: one KVM VM with one vCPU booting a
 * vmlinux through its PVH entry, with an in-kernel PIC/IOAPIC/LAPIC and PIT,
 * hardware-reduced ACPI (MADT, power-off through the FADT sleep register),
 * and a 16450 UART as COM1 for the console.  No virtio devices yet. */
#ifndef KATA_VMM_H
#define KATA_VMM_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct vmm_config {
    const char *kernel;  /* uncompressed vmlinux with a PVH entry note */
    const char *initrd;  /* or NULL */
    const char *cmdline; /* the whole kernel command line */
    unsigned memory_mb;
};

/* Why vmm_run returned. */
enum vmm_exit {
    VMM_EXIT_RESET,    /* the guest reset (i8042 0xfe, triple fault): reboot or power-off */
    VMM_EXIT_STOPPED,  /* vmm_request_stop() */
    VMM_EXIT_SHUTDOWN, /* KVM_SYSTEM_EVENT shutdown */
};

struct vmm;

/* console receives every byte the guest writes to COM1. */
struct vmm *vmm_create(const struct vmm_config *cfg,
                       void (*console)(void *ctx, const uint8_t *bytes, size_t len), void *ctx,
                       struct kerr **err);
/* Run the vCPU until the guest resets or stops; -1 with err on a KVM error or
 * an exit we cannot handle. */
int vmm_run(struct vmm *vm, enum vmm_exit *why, struct kerr **err);
/* Async-signal-safe: make vmm_run return VMM_EXIT_STOPPED at its next exit
 * (a signal delivered to the vCPU thread interrupts KVM_RUN). */
void vmm_request_stop(struct vmm *vm);
void vmm_free(struct vmm *vm);

#endif
