/* containerd-shim-kata-v2: the per-sandbox daemon serving containerd's
 * containerd.task.v2.Task over ttrpc, owning the VMM, virtiofsd, the agent
 * connection and the sandbox's state dir.
 *
 * One epoll loop, no threads: Task calls that wait (Wait) are deferred replies;
 * calls to the agent are synchronous with deadlines except the long ones
 * (WaitProcess, ReadStdout/ReadStderr), which are asynchronous. */
#ifndef KATA_SHIM_H
#define KATA_SHIM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/types.h>

#include "agent.pb-c.h"
#include "any.pb-c.h"
#include "config.h"
#include "error.h"
#include "hypervisor.h"
#include "loop.h"
#include "oci_spec.h"
#include "proc_ref.h"
#include "shim.pb-c.h"
#include "ttrpc.h"

#define SHIM_VERSION "containerd-shim-kata-v2 " KATA_VERSION

/* Guest paths (Kata's layout). */
#define GUEST_SHARED_DIR "/run/kata-containers/shared/containers"
/* Where the agent mounts a container's block-device rootfs (blockroot.c). */
#define GUEST_BLOCK_ROOTFS_DIR "/run/kata-containers/block-rootfs"

struct shim_options {
    const char *namespace;
    const char *address;        /* containerd's socket (events), may be NULL */
    const char *publish_binary; /* may be NULL: events are skipped */
    const char *id;
    const char *bundle;
    bool debug;
};

enum process_status { PROCESS_CREATED, PROCESS_RUNNING, PROCESS_PAUSED, PROCESS_STOPPED };

struct waiter; /* a deferred Wait call */
struct io_relay;

/* A container rootfs on a host block device, given to the VM as a disk. */
struct blockroot {
    char *device;   /* host block device */
    char *fstype;   /* file system on it */
    char **options; /* guest mount options (not ro/rw), NULL-terminated, may be NULL */
    bool readonly;
    bool from_create; /* containerd's Create rootfs mount: the host never mounts it */
    char *disk_id;    /* the VM's device id and serial */
    struct vm_block_device disk;
    char *guest_source; /* PCI path (hotplugged) or /dev/vdX (attached at boot) */
    bool coldplugged, hotplugged;
};

struct process {
    struct container *container;
    char *exec_id; /* "" for the init process */
    enum process_status status;
    uint32_t exit_status;
    uint64_t exited_at; /* CLOCK_REALTIME ns */
    char *stdin_path, *stdout_path, *stderr_path;
    bool terminal;
    struct waiter *waiters;
    struct io_relay *io;
    bool wait_pending; /* an agent WaitProcess is in flight */
    uint64_t serial;   /* unique in the daemon: a late answer finds its own process */
    bool starting;     /* a Start is in progress: an exit waits for its answer */
    bool exit_held;    /* the exit came during the Start: held_status, published after */
    uint32_t held_status;
    struct process *next;
};

/* A bind the daemon made beneath the sandbox's mounts/ dir (share.c). */
struct shared_mount {
    char *rel;       /* "<container id>/rootfs", "<container id>/mounts/<n>" */
    uint64_t mnt_id; /* the mount's id: only this very mount is unmounted */
};

struct container {
    struct shim *shim;
    char *id;
    char *bundle;
    bool is_sandbox; /* the pod's sandbox container (or a single-container sandbox) */
    struct process init;
    struct process *execs;
    char *host_rootfs;                  /* bundle rootfs, with containerd's rootfs mounts mounted */
    bool rootfs_mounted;                /* we mounted containerd's rootfs mounts there */
    struct shared_mount *shared_mounts; /* binds beneath the sandbox's mounts/ */
    size_t n_shared_mounts;
    struct blockroot *blockroot; /* the rootfs as a disk of the VM, or NULL */
    Grpc__Hooks *hooks;          /* the spec's hooks: run on the host (hooks.c) */
    bool created;                /* the create hooks ran: poststop runs on delete */
    struct container *next;
};

struct sandbox {
    char *id;
    struct kata_config *cfg;
    const struct hypervisor_ops *driver; /* the configured driver, known before the VM starts */
    struct vm_config vm_cfg;
    struct vm vm;
    bool vm_started;
    struct ttrpc_client *agent;
    char *state_dir;                  /* state.json */
    char *run_dir;                    /* VM sockets and logs */
    char *console_path;               /* the guest console, a file that outlives the daemon */
    char *share_root;                 /* <shared root>/<id>: mounts/ and shared/ (share.c) */
    char *shared_dir;                 /* share_root/shared, exported to the guest */
    int share_fd;                     /* O_PATH of share_root, or -1 */
    int mounts_fd;                    /* O_PATH of the mounts/ mount, or -1 */
    bool share_mounted;               /* mounts/ was bound: state.json says so */
    struct loop_watch *vmm_watch;     /* pidfd of the VMM */
    struct loop_timer *console_timer; /* console.c */
    int vmm_pidfd;
    bool vmm_gone; /* the VMM exited on its own: vmm_status is its wait status */
    int vmm_status;
    char *netns_path; /* the pod's netns with our taps (state.json), NULL: no NIC */
    struct sandbox_network *net;
    struct proc_ref daemon_ref, vmm_ref;                    /* recorded in state.json */
    struct proc_ref vm_refs[VM_HOST_PIDS_MAX];              /* the VM's host processes, likewise */
    void (*vmm_exited)(struct shim *shim, uint32_t status); /* sandbox_boot_args */
};

struct shim {
    struct shim_options opts;
    struct loop *loop;
    struct ttrpc_server *server;
    struct sandbox *sandbox;
    struct container *containers;
    bool quit;
    /* The hypervisor driver the first Create boots the VM with; NULL: the
     * configuration's (unit tests set a mock). */
    const struct hypervisor_ops *driver;
    unsigned next_disk; /* numbers the VM's disk ids */
    uint64_t next_process_serial;
};

/* start.c / delete.c: the shim binary protocol. */
int shim_cmd_start(const struct shim_options *opts, struct kerr **err);
int shim_cmd_delete(const struct shim_options *opts, struct kerr **err);
int shim_daemon_run(const struct shim_options *opts, int listen_fd, struct kerr **err);

/* console.c: the guest console log rotated past 1 MiB while the sandbox runs */
void console_log_bound(struct shim *shim);
void console_log_unbound(struct sandbox *sb);

/* hooks.c: the container's OCI hooks, run on the host */
void container_hooks_take(struct container *c, Grpc__Spec *spec);
int container_hooks_create(struct container *c, struct kerr **err);
void container_hooks_poststart(struct container *c);
void container_hooks_poststop(struct container *c);
void container_hooks_free(struct container *c);

/* probe.c: true when a daemon answers on socket_path (a dying one does not) */
bool shim_daemon_serves(const char *socket_path);

/* paths.c */
char *shim_socket_path(const char *namespace, const char *sandbox_id);
char *shim_state_root(void);
char *shim_shared_root(void);
/* The sandbox a bundle's container belongs to (CRI annotations), else id. */
char *shim_sandbox_id_of(const Grpc__Spec *spec, const char *id, bool *is_sandbox);

/* sandbox.c */
/* What boots the VM: the pod's first container's Create. */
struct sandbox_boot_args {
    const char *sandbox_id;
    const Grpc__Spec *spec;
    const char *container_id; /* the container whose Create boots it */
    const char *rootfs_path;  /* its host rootfs */
    /* Its rootfs as a disk (may be NULL): blockroot_boot_prepare may attach
     * it at boot, or free it (and set NULL) to share the files instead. */
    struct blockroot **rootfs;
    /* The hypervisor driver; NULL: the configuration's (unit tests give a
     * mock). */
    const struct hypervisor_ops *driver;
    /* Called when the VMM exits on its own (every process is stopped with
     * status); may be NULL. */
    void (*vmm_exited)(struct shim *shim, uint32_t status);
};
int sandbox_boot(struct shim *shim, const struct sandbox_boot_args *args, struct kerr **err);
/* The teardown, in two steps around the containers' own (shim_teardown):
 * stop: DestroySandbox, the VMM stopped, the taps gone; free: the share
 * tree and the state dir removed, shim->sandbox NULL. */
void sandbox_stop(struct shim *shim);
void sandbox_free(struct shim *shim);
int sandbox_state_write(struct shim *shim, struct kerr **err);
int sandbox_cleanup_from_state(const char *state_dir, struct kerr **err);
/* The pid Task calls report for a container: the VMM's (as Kata's shim
 * does): a host process that lives exactly as long as the sandbox. */
uint32_t shim_task_pid(const struct shim *shim);
/* The daemon the sandbox's state records is no longer running (false when
 * unknown: no state, no pid). */
bool sandbox_daemon_gone(const char *state_dir);
/* agent_client.c: the guest agent's client.  open: over fd (taken, closed
 * on failure), replacing any earlier connection; call: synchronously, at
 * most timeout_ns (call_status: with the ttrpc status in *code). */
int agent_client_open(struct shim *shim, int fd, struct kerr **err);
void agent_client_close(struct shim *shim);
int agent_call(struct shim *shim, const char *method, const ProtobufCMessage *req,
               const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
               uint64_t timeout_ns, struct kerr **err);
int agent_call_status(struct shim *shim, const char *method, const ProtobufCMessage *req,
                      const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
                      uint64_t timeout_ns, int *code, struct kerr **err);
/* connected: a connection is open (the VM runs); call_async: cb gets the
 * answer later (connection loss answers TTRPC_UNAVAILABLE); health_check:
 * grpc.Health/Check, synchronously. */
bool agent_client_connected(const struct shim *shim);
int agent_call_async(struct shim *shim, const char *method, const ProtobufCMessage *req,
                     uint64_t timeout_ns, ttrpc_reply_cb cb, void *data, struct kerr **err);
int agent_health_check(struct shim *shim, uint64_t timeout_ns, int *code, struct kerr **err);

/* network.c: the pod's network (Kata's tcfilter model, docs/network.md).
 * select: the netns of the spec's `network` namespace entry, as [runtime]
 *   internetworking_model and disable_new_netns allow (none: no NIC);
 * attach: taps beside its veths, into sb->vm_cfg.net_devices (state.json
 *   must name the netns first); vmm_started: our tap fd copies closed;
 * configure_guest: UpdateInterface, UpdateRoutes, AddARPNeighbors (before
 *   CreateSandbox, as Kata); teardown: detach once the VMM is gone;
 * detach: the same from a path alone (delete after a crash). */
int sandbox_network_select(struct sandbox *sb, const Grpc__Spec *spec, struct kerr **err);
int sandbox_network_attach(struct sandbox *sb, struct kerr **err);
void sandbox_network_vmm_started(struct sandbox *sb);
int sandbox_network_configure_guest(struct shim *shim, struct kerr **err);
void sandbox_network_teardown(struct sandbox *sb);
int sandbox_network_detach(const char *netns_path, struct kerr **err);
/* The spec as the guest sees it (Kata's): no `network` namespace entry (the
 * host's netns path means nothing there; containers share the VM's). */
void network_spec_for_guest(Grpc__Spec *spec);

/* container.c */
struct container *container_find(struct shim *shim, const char *id);
struct process *process_find(struct shim *shim, const char *id, const char *exec_id);
int container_create(struct shim *shim, const Containerd__Task__V2__CreateTaskRequest *req,
                     struct container **out, struct kerr **err);
/* Start (the agent's StartContainer for an init); then process_start_done
 * once the Start's answer and event are out, failed or not (an exit that
 * came meanwhile is published then). */
int process_start(struct shim *shim, struct process *p, struct kerr **err);
void process_start_done(struct process *p);
/* The agent's WaitProcess, in flight from CreateContainer (an init), Start
 * or a Kill (an exec): the exit is recorded whether it ever started or not. */
void process_wait_begin(struct shim *shim, struct process *p);
void process_exited(struct process *p, uint32_t status);
void container_destroy(struct shim *shim, struct container *c);
/* The sandbox goes: its VM stopped, then every container destroyed (their
 * binds and disks released once the VMM holds them no more), then its dirs. */
void shim_teardown(struct shim *shim);
void shim_all_stopped(struct shim *shim, uint32_t status);
/* Deferred Wait */
void process_add_waiter(struct process *p, struct ttrpc_call *call);

/* share.c: the sandbox's share tree (host-private mounts/, read-only
 * exported shared/).  share_bind returns the guest path of host (a copy of
 * it beneath <container>/<name>), readonly on the host side too. */
int share_tree_prepare(struct sandbox *sb, struct kerr **err);
char *share_bind(struct sandbox *sb, struct container *c, const char *host, const char *name,
                 bool readonly, struct kerr **err);
void share_unbind_container(struct sandbox *sb, struct container *c);
void share_tree_remove(struct sandbox *sb);
/* delete after a crash: the recorded binds, then the tree. */
int share_cleanup_recorded(const char *share_root, const struct shared_mount *recorded, size_t n,
                           struct kerr **err);

/* blockroot.c: the container rootfs as a disk of the VM (docs/block-rootfs.md). */
/* Is the rootfs on a block device: containerd's rootfs mount, else the
 * bundle's rootfs directory as a mount point?  *out NULL: no. */
int blockroot_detect(const Containerd__Task__V2__CreateTaskRequest *req, const char *host_rootfs,
                     struct blockroot **out, struct kerr **err);
/* The configuration's say (disable_block_device_use, block_device_driver,
 * shared_fs, machine): keeps *br, frees it to share the files instead, or
 * fails when nothing can carry the rootfs. */
int blockroot_decide(struct shim *shim, const char *cid, const char *host_rootfs,
                     struct blockroot **br, bool at_boot, struct kerr **err);
/* Called by sandbox_boot before the VM starts: decides for the booting
 * container (cid, its host rootfs and *br), attaches its disk at boot when
 * the driver cannot hot-plug one, and leaves hotplug ports when it can. */
int blockroot_boot_prepare(struct shim *shim, const char *cid, const char *host_rootfs,
                           struct blockroot **br, struct kerr **err);
/* Hotplug the disk if not attached at boot; the agent's storage for it and
 * the spec's root path in the guest. */
int blockroot_plug(struct shim *shim, struct container *c, Grpc__Spec *spec,
                   Grpc__Storage **storage, struct kerr **err);
/* Unplug (while the VM stays for other containers) and free. */
void blockroot_release(struct shim *shim, struct container *c);
void blockroot_free(struct blockroot *br);

/* guest_copy.c: a host file copied into the guest with CopyFile. */
int guest_copy_file(struct shim *shim, const char *host, const char *guest, struct kerr **err);

/* io.c */
int io_relay_start(struct shim *shim, struct process *p, struct kerr **err);
void io_relay_free(struct io_relay *io);
/* The process runs: relay its stdin (the fifo is opened at Create/Exec). */
void io_relay_stdin_begin(struct shim *shim, struct process *p);
/* CloseIO: forward what the fifo still holds, then close the guest's stdin. */
void io_relay_close_stdin(struct shim *shim, struct process *p);

/* events.c */
void shim_publish(struct shim *shim, const char *topic, const ProtobufCMessage *event);
/* Publish what is queued before the daemon exits (at most timeout_ns). */
void shim_events_flush(struct shim *shim, uint64_t timeout_ns);

/* pod_config.c: the pod's io.katacontainers.config.* annotations (as far
 * as enable_annotations allows), and the VM grown by the CRI sandbox CPU and
 * memory annotations. */
int pod_config_apply(struct kata_config *cfg, const Grpc__Spec *spec, struct kerr **err);
int pod_vm_size(struct vm_config *v, const struct kata_config *cfg, const Grpc__Spec *spec,
                struct kerr **err);

/* oom.c: TaskOOM events from the agent's GetOOMEvent, once the VM is up. */
void shim_oom_watch(struct shim *shim);

/* metrics.c: the agent's cgroup stats as an Any of containerd's
 * io.containerd.cgroups.v2.Metrics (free with protobuf_c_message_free_unpacked). */
Google__Protobuf__Any *shim_metrics_any(const Grpc__CgroupStats *stats);

/* task.c */
extern const struct ttrpc_method shim_task_methods[];
extern const size_t shim_task_methods_count;

uint64_t realtime_ns(void);

#endif
