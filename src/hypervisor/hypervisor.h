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
#include "proc_ref.h"
#include "virtiofsd.h"

enum vm_accel { VM_ACCEL_TCG, VM_ACCEL_KVM };

/* How the sandbox's shared directory reaches the guest (Kata's `shared_fs`). */
enum vm_shared_fs { VM_SHARED_FS_NONE, VM_SHARED_FS_VIRTIO_FS, VM_SHARED_FS_VIRTIO_9P };

/* Kata's mount tag of the sandbox share. */
#define VM_SHARE_TAG_DEFAULT   "kataShared"
#define VIRTIOFSD_PATH_DEFAULT "/usr/lib/qemu/virtiofsd"

/* A virtio-blk disk attached at boot or hotplugged.  The guest finds it by
 * its serial (= id, in /sys/block/vdX/serial) or, on q35, by its PCI path
 * (docs/hypervisor.md). */
struct vm_block_device {
    const char *id; /* QEMU drive/device id, guest-visible serial (at most 20 bytes) */
    const char *path;
    bool readonly;
    /* hotplug_block only: a SCSI disk on the VM's virtio-scsi controller
     * (vm_config.scsi_controller) instead of a virtio-blk device. */
    bool scsi;
};

/* A network interface of the guest: a tap the caller opened (Kata's
 * tcfilter model, src/lib/network.h), given to the VMM by fd. */
struct vm_net_device {
    int tap_fd;      /* IFF_TAP|IFF_NO_PI|IFF_VNET_HDR; the VMM inherits a copy */
    const char *mac; /* "aa:bb:cc:dd:ee:ff": the guest interface's address */
    unsigned mtu;    /* told to the guest (virtio-net host_mtu); 0: not told */
    /* The tap's name, for a VMM that opens the tap by name (Firecracker's
     * host_dev_name); NULL: asked of tap_fd (TUNGETIFF). */
    const char *name;
};

struct vm_config {
    const char *hypervisor_path; /* the VMM binary */
    const char *jailer_path;     /* firecracker: its jailer (not implemented: refused) */
    const char *kernel;          /* vmlinux (PVH entry) or bzImage */
    const char *initrd;          /* NULL when booting an image */
    const char *image;           /* ext4 rootfs as virtio-blk root, or NULL */
    const char *machine_type;    /* "microvm" or "q35" for QEMU */
    unsigned vcpus;
    unsigned max_vcpus; /* the most vCPUs the VM may ever have (0: vcpus) */
    unsigned memory_mb;
    const char *agent_params;  /* agent.* kernel parameters */
    const char *kernel_params; /* the user's, appended last so they win */
    const char *run_dir;       /* sockets and logs of this VM */
    bool debug;                /* console output unquieted */
    /* The guest console appended to this file instead of a pipe (a daemon
     * that may die must not take the VMM with it); NULL: a pipe. */
    const char *console_path;

    /* The sandbox share: "virtio-fs", "virtio-9p", or "none"/NULL. */
    const char *shared_fs;
    const char *shared_dir;                  /* host directory exported */
    const char *share_tag;                   /* NULL: VM_SHARE_TAG_DEFAULT */
    const char *virtiofsd_path;              /* NULL: VIRTIOFSD_PATH_DEFAULT */
    const char *virtiofs_cache;              /* never|metadata|auto|always (NULL: auto) */
    const char *const *virtiofsd_extra_args; /* NULL-terminated, may be NULL */

    /* Disks attached at boot, after the image (if any). */
    const struct vm_block_device *block_devices;
    size_t n_block_devices;
    /* q35: PCIe root ports left free for hotplug (microvm has none). */
    unsigned hotplug_slots;
    /* A virtio-scsi controller (id scsi0) for hotplugged SCSI disks; on
     * microvm too, whose only hotplug bus it is. */
    bool scsi_controller;
    /* virtio-net devices (ids net0, net1, ...), vhost where /dev/vhost-net is. */
    const struct vm_net_device *net_devices;
    size_t n_net_devices;
    bool disable_vhost_net; /* never vhost-net, even where /dev/vhost-net opens */
    /* The network namespace the VMM process starts in (opened and entered by
     * its child before the exec); NULL: the caller's.  The VMM's pid is the
     * one callers and hooks see, so it must be in the pod's netns. */
    const char *netns_path;
    /* dragonball: announce the virtio-mmio devices on the kernel command line
     * (with an MP table) instead of in the DSDT (docs/vmm.md). */
    bool virtio_mmio_cmdline;
    /* QEMU's -sandbox value (NULL or "": none); QEMU run as an unprivileged
     * uid and gid of its own (docs/hypervisor.md, "Confinement"). */
    const char *seccomp_sandbox;
    bool rootless;
};

enum vm_shared_fs vm_shared_fs_kind(const char *name, struct kerr **err);

/* What a driver can do with a VM of this configuration: callers ask this
 * instead of testing the driver's name. */
#define VM_CAP_FS(kind) (1u << (kind)) /* kind: enum vm_shared_fs */
struct vm_capabilities {
    unsigned shared_fs;        /* VM_CAP_FS() of each shared_fs that works */
    bool blk_hotplug;          /* virtio-blk disks hot-plug; else they attach at boot only */
    bool scsi_hotplug;         /* virtio-scsi disks hot-plug (on the VM's scsi0 controller) */
    bool cpu_hotplug;          /* vCPUs added to a running VM */
    bool memory_hotplug;       /* memory added to a running VM */
    bool pause;                /* pause and resume */
    bool needs_binary;         /* `path` names a VMM binary that must exist (else built in) */
    bool runs_without_kvm;     /* software emulation (TCG) works, if slowly */
    const char *agent_channel; /* how the agent is reached, for people */
    bool needs_vhost_vsock;    /* the agent is reached only over /dev/vhost-vsock */
    /* The VMM opens each tap itself, by name (vm_net_device.name), and takes
     * no fd: the caller makes its taps persistent and closes its fds before
     * the start (a single-queue tap opens once), and removes them on delete. */
    bool tap_by_name;
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
    char *log_path;             /* the VMM's own stderr */
    struct virtiofsd virtiofsd; /* pid 0 unless shared_fs is virtio-fs */
    void *priv;                 /* the driver's own state, freed by its release op */
    /* Called in the parent for each host process of the VM (the VMM,
     * virtiofsd) once it is forked and its pid is in this struct (pid,
     * virtiofsd.pid), before it may exec: the caller records it, so that a
     * caller killed at any moment leaves no process it has not named.  The
     * child execs only once this returned 0; it exits without exec when the
     * caller died first or this failed (start then fails).  NULL: none. */
    int (*spawned)(struct vm *vm, void *data, struct kerr **err);
    void *spawned_data;
};

struct hypervisor_ops {
    const char *name;
    /* What the driver can do with a VM of cfg (see struct vm_capabilities);
     * pause is filled from the ops by vm_capabilities(). */
    void (*capabilities)(const struct vm_config *cfg, struct vm_capabilities *caps);
    /* Launch the VMM; the guest boots.  On failure nothing is left running. */
    int (*start)(struct vm *vm, struct kerr **err);
    /* A connected stream to the agent (the caller owns the fd).  Waits at most
     * timeout_ns for the VMM side to be there. */
    int (*agent_connect)(struct vm *vm, uint64_t timeout_ns, struct kerr **err);
    /* Stop the VMM (gracefully within grace_ns, then SIGKILL) and reap it. */
    int (*stop)(struct vm *vm, uint64_t grace_ns, struct kerr **err);

    /* Optional (NULL: the VMM cannot; callers report ENOTSUP). */
    int (*pause)(struct vm *vm, struct kerr **err);
    int (*resume)(struct vm *vm, struct kerr **err);
    /* The VMM's view of the guest: "running", "paused", ... (caller frees). */
    char *(*status)(struct vm *vm, struct kerr **err);
    /* Hotplug a disk; *guest_path gets where the guest finds it (PCI path
     * "18/00" on q35, SCSI address "TARGET:LUN" for a SCSI disk, the device
     * node "/dev/vdX" of a virtio-mmio drive; caller frees). */
    int (*hotplug_block)(struct vm *vm, const struct vm_block_device *dev, char **guest_path,
                         struct kerr **err);
    /* Unplug a disk hotplug_block added (by its id): waits at most timeout_ns
     * for the guest to release it; its port is free again afterwards. */
    int (*unplug_block)(struct vm *vm, const char *id, uint64_t timeout_ns, struct kerr **err);
    /* Every host process of this VM (VMM, helper daemons), for stats and
     * cleanup; returns how many were written (at most max). */
    size_t (*pids)(const struct vm *vm, pid_t *out, size_t max);
    /* What the VMM's exit (a waitpid status) says about the guest: "the guest
     * reset the VM ...", or NULL when it says nothing (vm_check_exited). */
    const char *(*exit_reason)(struct vm *vm, int wait_status);
    /* Free the driver's own state (vm->priv) and whatever it holds open
     * (vm_release calls it first).  NULL: the driver keeps none. */
    void (*release)(struct vm *vm);
};

/* The optional ops, with a clear error when the driver lacks them. */
int vm_pause(struct vm *vm, struct kerr **err);
int vm_resume(struct vm *vm, struct kerr **err);

extern const struct hypervisor_ops qemu_ops;
extern const struct hypervisor_ops dragonball_ops; /* the built-in VMM, kata-vmm */
extern const struct hypervisor_ops clh_ops;        /* Cloud Hypervisor */
extern const struct hypervisor_ops stratovirt_ops;
extern const struct hypervisor_ops firecracker_ops; /* Firecracker */

const struct hypervisor_ops *hypervisor_find(const char *name);
/* The drivers of this build, one by one (NULL past the last). */
const struct hypervisor_ops *hypervisor_at(size_t i);

/* Most host processes one VM has (the VMM and its helper daemons). */
#define VM_HOST_PIDS_MAX 8
/* The host processes this VM owns, the VMM first (the driver's pids op). */
size_t vm_host_pids(const struct vm *vm, pid_t *out, size_t max);
/* After a crash, from the recorded state: SIGKILL each recorded process of a
 * VM (by pid and start time, never by name; the VMM first) and wait up to
 * timeout_ms for each to be gone. */
void vm_kill_recorded(const struct proc_ref *procs, size_t n, unsigned timeout_ms);

/* The driver's capabilities for a VM of cfg. */
void vm_capabilities(const struct hypervisor_ops *ops, const struct vm_config *cfg,
                     struct vm_capabilities *caps);

/* KVM when the CPU has hardware virtualisation (vmx or svm) and /dev/kvm opens
 * read-write, TCG otherwise.  A /dev/kvm on a CPU without either (a PVM nested
 * host's kvm_pvm) runs only PVM-aware guests, not ours. */
enum vm_accel vm_detect_accel(void);
bool vm_cpu_has_virt(void);
const char *vm_accel_name(enum vm_accel accel);
/* The host TSC frequency in kHz (0 if unknown): a microvm guest under TCG
 * needs it as tsc_early_khz or it may hang calibrating. */
unsigned long vm_host_tsc_khz(void);
/* Under TCG the guest's local APIC has no TSC-deadline mode and its kernel
 * spends 100 ms calibrating the APIC timer.  A 1-vCPU q35 guest ticks from
 * the HPET instead (noapictimer).  microvm has no such timer: its PIT
 * (pit=on) delivers no interrupts there, so it keeps the APIC timer. */
bool vm_tcg_noapictimer(const struct vm *vm);

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
