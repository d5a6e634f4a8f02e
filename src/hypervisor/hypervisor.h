/* The hypervisor layer: one ops table per VMM (QEMU now; Cloud Hypervisor,
 * Firecracker, StratoVirt and the built-in VMM later), so the sandbox code
 * never knows which one runs its VM.  Adding a hypervisor adds a file and one
 * entry in hypervisor.c's table. */
#ifndef KATA_HYPERVISOR_H
#define KATA_HYPERVISOR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

enum vm_accel { VM_ACCEL_TCG, VM_ACCEL_KVM };

struct vm_config {
    const char *hypervisor_path; /* the VMM binary */
    const char *kernel;          /* vmlinux (PVH entry) or bzImage */
    const char *initrd;          /* NULL when booting an image */
    const char *image;           /* ext4 rootfs as virtio-blk root, or NULL */
    const char *machine_type;    /* "microvm" or "q35" for QEMU */
    unsigned vcpus;
    unsigned memory_mb;
    const char *agent_params;  /* agent.* kernel parameters */
    const char *kernel_params; /* the user's, appended last so they win */
    const char *run_dir;       /* sockets and logs of this VM */
    bool debug;                /* console output unquieted */
};

struct vm {
    const struct hypervisor_ops *ops;
    struct vm_config cfg;
    enum vm_accel accel;
    bool vsock;       /* agent on vhost-vsock (else virtio-serial) */
    uint32_t cid;     /* guest CID when vsock */
    int vsock_fd;     /* /dev/vhost-vsock with cid set, for the VMM; -1 if none */
    pid_t pid;        /* the VMM process, 0 when not running */
    int console_fd;   /* read end of the guest console, -1 if none */
    int agent_listen; /* where a serial-channel VMM connects to us */
    char *agent_socket;
    char *log_path; /* the VMM's own stderr */
    void *priv;
};

struct hypervisor_ops {
    const char *name;
    /* Launch the VMM; the guest boots.  On failure nothing is left running. */
    int (*start)(struct vm *vm, struct kerr **err);
    /* A connected stream to the agent (the caller owns the fd).  Waits at most
     * timeout_ns for the VMM side to be there. */
    int (*agent_connect)(struct vm *vm, uint64_t timeout_ns, struct kerr **err);
    /* Stop the VMM (gracefully within grace_ns, then SIGKILL) and reap it. */
    int (*stop)(struct vm *vm, uint64_t grace_ns, struct kerr **err);
};

extern const struct hypervisor_ops qemu_ops;

const struct hypervisor_ops *hypervisor_find(const char *name);

/* KVM when the CPU has hardware virtualisation (vmx or svm) and /dev/kvm opens
 * read-write, TCG otherwise.  A /dev/kvm on a CPU without either (a PVM nested
 * host's kvm_pvm) runs only PVM-aware guests, not ours. */
enum vm_accel vm_detect_accel(void);
bool vm_cpu_has_virt(void);
const char *vm_accel_name(enum vm_accel accel);
/* The host TSC frequency in kHz (0 if unknown): a microvm guest under TCG
 * needs it as tsc_early_khz or it may hang calibrating. */
unsigned long vm_host_tsc_khz(void);

/* Initialise vm from cfg (copies nothing: cfg strings must outlive vm). */
void vm_init(struct vm *vm, const struct hypervisor_ops *ops, const struct vm_config *cfg);
void vm_release(struct vm *vm);

/* The guest kernel command line, in a fixed order: our defaults, then the
 * agent's parameters, then the user's kernel_params (last, so they win). */
char *vm_kernel_cmdline(const struct vm *vm);

/* Wait for the VMM to exit, at most timeout_ns; returns its wait status, or
 * -1 with errno ETIMEDOUT. */
int vm_wait_exit(struct vm *vm, uint64_t timeout_ns);

#endif
