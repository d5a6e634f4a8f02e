/* The built-in VMM (issue 8): one KVM VM with up to 16 vCPUs booting a vmlinux
 * through its PVH entry, with an in-kernel PIC/IOAPIC/LAPIC and PIT,
 * hardware-reduced ACPI (MADT, power-off through the FADT sleep register),
 * a 16450 UART as COM1 for the console, and virtio-mmio devices (rng, blk,
 * net, fs, vsock with the hybrid unix-socket protocol, console) run by a
 * device thread. */
#ifndef KATA_VMM_H
#define KATA_VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define VMM_MAX_VCPUS 16

struct vmm_disk {
    const char *path; /* raw image or block device */
    const char *id;   /* serial (at most 20 bytes), or NULL */
    bool readonly;
};

/* A virtio-fs share served by a vhost-user back-end (virtiofsd). */
struct vmm_fs {
    const char *socket; /* the back-end's vhost-user socket */
    const char *tag;    /* what the guest mounts (at most 36 bytes) */
};

/* A virtio-net interface on a tap the caller opened. */
struct vmm_net {
    int tap_fd;      /* IFF_TAP|IFF_NO_PI|IFF_VNET_HDR */
    const char *mac; /* "aa:bb:cc:dd:ee:ff" or NULL */
    unsigned mtu;    /* 0: not told */
};

struct vmm_config {
    const char *kernel;  /* uncompressed vmlinux with a PVH entry note */
    const char *initrd;  /* or NULL */
    const char *cmdline; /* the kernel command line (device announcements are added) */
    unsigned memory_mb;
    unsigned vcpus; /* 1 to VMM_MAX_VCPUS (0: 1) */
    bool rng;       /* a virtio-rng device */
    const struct vmm_disk *disks;
    unsigned disk_count;
    const struct vmm_net *nets;
    unsigned net_count;
    const struct vmm_fs *fs; /* guest memory is then a memfd shared with the back-ends */
    unsigned fs_count;
    const char *vsock_socket; /* hybrid vsock unix socket, or NULL: no vsock */
    uint64_t vsock_cid;       /* the guest's CID (default 3) */
    /* A virtio-console (the guest's hvc0, the last device): its output goes
     * to the console callback like COM1's; its input is kata-vmm's stdin
     * when that is a terminal or a pipe, else it is output-only. */
    bool virtio_console;
    /* COM1's output is dropped (Cloud Hypervisor's serial "Off"/"Null"). */
    bool serial_off;
    /* Announce the devices with virtio_mmio.device= on the command line
     * instead of in the DSDT; the guest then routes their IRQs by an MP
     * table, with acpi=noirq (mptable.h). */
    bool devices_on_cmdline;
    /* Seccomp filters on the vCPU and device threads (vmm_seccomp.h). */
    bool seccomp;
};

/* Why vmm_run returned. */
enum vmm_exit {
    VMM_EXIT_RESET,        /* the guest reset (i8042 0xfe, KVM_SYSTEM_EVENT_RESET): a reboot */
    VMM_EXIT_STOPPED,      /* vmm_request_stop() */
    VMM_EXIT_SHUTDOWN,     /* ACPI S5, KVM_SYSTEM_EVENT shutdown: a power-off */
    VMM_EXIT_TRIPLE_FAULT, /* KVM_EXIT_SHUTDOWN: the guest crashed (or reboot=t) */
};

/* kata-vmm's exit status (vmm_exit.h) for vmm_run's result and why: a
 * failed vmm_run (-1) is VMM_STATUS_VCPU_FAILED. */
int vmm_exit_code(int run_result, enum vmm_exit why);

struct vmm;

/* console receives every byte the guest writes to COM1 (on a vCPU thread)
 * or to the virtio-console (on the device thread), one call at a time. */
struct vmm *vmm_create(const struct vmm_config *cfg,
                       void (*console)(void *ctx, const uint8_t *bytes, size_t len), void *ctx,
                       struct kerr **err);
/* Run the vCPUs (the boot CPU on the calling thread, the others on threads of
 * their own) until the guest resets or powers off, or a stop request; -1 with
 * err on a KVM error or an exit we cannot handle.  Uses SIGRTMIN to interrupt
 * the vCPU threads. */
int vmm_run(struct vmm *vm, enum vmm_exit *why, struct kerr **err);
/* Async-signal-safe: make vmm_run return VMM_EXIT_STOPPED at its next exit
 * (a signal delivered to the calling thread of vmm_run interrupts KVM_RUN). */
void vmm_request_stop(struct vmm *vm);
/* From another thread: stop the VM now (every vCPU's KVM_RUN interrupted);
 * vmm_run returns VMM_EXIT_STOPPED. */
void vmm_stop(struct vmm *vm);
/* Park every vCPU (waits until all are out of KVM_RUN, at most 5 s); resume
 * lets them run again.  The device thread keeps serving sockets and disks. */
int vmm_pause(struct vmm *vm, struct kerr **err);
void vmm_resume(struct vmm *vm);
void vmm_free(struct vmm *vm);

/* Swap the file behind the disk `id` while the VM runs or is paused (see
 * virtio_blk_replace): virtio-mmio's stand-in for disk hotplug. */
int vmm_disk_replace(struct vmm *vm, const char *id, const char *path, bool readonly,
                     struct kerr **err);
struct virtio_blk_state;
/* The disks as they are now, in device order (at most max; free each path). */
unsigned vmm_disk_states(struct vmm *vm, struct virtio_blk_state *out, unsigned max);

#endif
