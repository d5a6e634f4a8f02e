/* kata-vmm's exit statuses: how the VM ended, for whoever ran it (the
 * `dragonball` driver reads them, src/hypervisor/dragonball.c).  A guest that
 * resets or crashes must never look like a clean power-off (docs/vmm.md):
 *
 *   0  the guest powered off (ACPI S5), or the VM was stopped (SIGTERM,
 *      SIGINT, vm.shutdown, vmm.shutdown)
 *   1  kata-vmm failed: bad configuration, the VM could not be built,
 *      --timeout passed, --marker not seen
 *   2  usage
 *   3  the guest reset the VM: a reboot (i8042 reset command, KVM reset
 *      event), which is also how a guest kernel panic ends with panic=-1
 *      reboot=k (the drivers' default command line)
 *   4  the guest triple-faulted (KVM_EXIT_SHUTDOWN): a crash, or reboot=t
 *   5  a vCPU failed: KVM_EXIT_INTERNAL_ERROR, KVM_EXIT_FAIL_ENTRY, an exit
 *      kata-vmm cannot handle, a KVM_RUN error
 *
 * kata-vmm logs one line on stderr saying which, for 3 to 5. */
#ifndef KATA_VMM_EXIT_H
#define KATA_VMM_EXIT_H

#include <stddef.h>

enum vmm_exit_status {
    VMM_STATUS_OFF = 0,
    VMM_STATUS_ERROR = 1,
    VMM_STATUS_USAGE = 2,
    VMM_STATUS_RESET = 3,
    VMM_STATUS_TRIPLE_FAULT = 4,
    VMM_STATUS_VCPU_FAILED = 5,
};

/* What kata-vmm's exit status says about the guest, or NULL when it says
 * nothing about it (0 to 2, or not one of ours). */
static inline const char *vmm_exit_status_text(int status)
{
    switch (status) {
    case VMM_STATUS_RESET:
        return "the guest reset the VM (a reboot, or a guest kernel panic with panic=-1)";
    case VMM_STATUS_TRIPLE_FAULT:
        return "the guest triple-faulted (KVM_EXIT_SHUTDOWN): it crashed";
    case VMM_STATUS_VCPU_FAILED:
        return "a vCPU failed (a KVM internal error, a failed VM entry or an unhandled exit; "
               "see the VMM's log)";
    default:
        return NULL;
    }
}

#endif
