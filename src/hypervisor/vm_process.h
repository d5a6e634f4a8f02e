/* What every driver that runs its VMM as a child process shares: spawning it
 * with the guest console and its own log wired up, the tail of that log for
 * error messages, noticing an early exit, and starting virtiofsd for a
 * virtio-fs share. */
#ifndef KATA_VM_PROCESS_H
#define KATA_VM_PROCESS_H

#include "hypervisor.h"

/* Fork and exec argv with stdin /dev/null, stdout the guest console
 * (cfg.console_path appended, else a pipe whose read end becomes
 * vm->console_fd) and stderr `<run_dir>/<log_name>` (vm->log_path).
 * child_setup (may be NULL) runs in the child before exec, to keep fds open.
 * `what` names the VMM in errors ("QEMU").  Sets vm->pid. */
int vm_spawn(struct vm *vm, char **argv, const char *log_name, const char *what,
             void (*child_setup)(struct vm *vm), struct kerr **err);

/* Between fork and exec: the child waits at the gate until the parent has
 * recorded its pid (vm->spawned), so no process of the VM runs unrecorded.
 * open before the fork; wait in the child (first thing after the fork:
 * returns to exec, or _exit()s when the parent closed the gate without
 * passing it, having died or failed to record); pass in the parent with the
 * child's pid already in the vm: calls record(data) (may be NULL), then
 * lets the child go, or on failure closes the gate and reaps the child. */
struct vm_exec_gate {
    int rd, wr;
};
int vm_exec_gate_open(struct vm_exec_gate *g, struct kerr **err);
void vm_exec_gate_wait(struct vm_exec_gate *g);
int vm_exec_gate_pass(struct vm_exec_gate *g, pid_t pid,
                      int (*record)(void *data, struct kerr **err), void *data, struct kerr **err);
/* The vm's spawned hook as a gate's record (data: the vm). */
int vm_spawned_record(void *vm, struct kerr **err);

/* Rootless VMMs run as uid and gid VM_ROOTLESS_ID_BASE + their own pid:
 * unique among live processes, no /etc/passwd entry to create, and a range
 * that no host user or group may use (checked by vm_rootless_range_free). */
#define VM_ROOTLESS_ID_BASE  0x5a000000u
#define VM_ROOTLESS_ID_RANGE 0x00400000u /* PID_MAX_LIMIT */

/* No user or group of the host (passwd and group databases) is in the
 * rootless range. */
int vm_rootless_range_free(struct kerr **err);

/* In a VMM child before exec: an empty capability bounding set (so exec
 * gives even uid 0 none), no ambient, inheritable, permitted or effective
 * capabilities, no_new_privs; with rootless, uid and gid
 * VM_ROOTLESS_ID_BASE + getpid() and the one supplementary group extra_gid
 * ((gid_t)-1: none).  0, or -1 with why filled (no allocation: fork-safe). */
int vm_child_drop_privileges(bool rootless, gid_t extra_gid, char *why, size_t len);

/* How large a daemon's log (qemu.log, virtiofsd.log) may grow before its
 * content moves to `<log>.1` (as the console log). */
#define VM_LOG_MAX (1 << 20)

/* A daemon's stderr, bounded: a pipe whose read end a relay process drains
 * into path (created 0600, truncated), moving the content to `path.1` past
 * max_bytes, so path stays below max_bytes + 64 KiB.  The relay is a
 * grandchild (init reaps it); it exits when the last writer has closed the
 * pipe and holds an flock on path until then (vm_log_tail waits for it).
 * Returns the write end (O_CLOEXEC) or -1. */
int vm_log_relay(const char *path, off_t max_bytes, struct kerr **err);

/* The ops' pids for a VMM child: the VMM, then virtiofsd when running. */
size_t vm_process_pids(const struct vm *vm, pid_t *out, size_t max);

/* The last 400 bytes of the VMM's log ("(no output)" when empty), once its
 * relay has written everything (waits at most 1 s for it); malloc'd. */
char *vm_log_tail(const struct vm *vm);

/* The VMM's exit (reaped) as an error (vm_exit_error), or 0 while it runs. */
int vm_check_exited(struct vm *vm, const char *what, struct kerr **err);

/* "WHAT exited (status N) before the agent answered: REASON; its log: ...;
 * the guest console: ...", with the driver's exit_reason for wait_status and
 * the last lines of the VMM's log and of the guest console (the console
 * file, or what is still unread in the console pipe, left there), escaped
 * and bounded (vm_text_tail).  Returns -1. */
int vm_exit_error(struct vm *vm, const char *what, int wait_status, struct kerr **err);

/* The last complete lines (at most max_lines, empty ones skipped) of len
 * bytes of untrusted text, each escaped (text_escape, at most 160 bytes) and
 * joined by " | ", at most max bytes in all (older lines dropped first);
 * "(nothing)" when there is no line.  Caller frees. */
char *vm_text_tail(const char *text, size_t len, unsigned max_lines, size_t max);

/* Retry connect(vm, err) every 10 ms until it gives an fd, the VMM exits
 * (vm_check_exited with `what`) or timeout_ns passes (ETIMEDOUT naming
 * `channel` and the last connect error).  For an agent that listens only
 * once the guest is up. */
int vm_connect_until(struct vm *vm, const char *what, const char *channel, uint64_t timeout_ns,
                     int (*connect)(struct vm *vm, struct kerr **err), struct kerr **err);

/* The VMM binary, kernel, initrd or image and boot disks are there and
 * open to us (disks writable unless read-only). */
int vm_check_files(const struct vm *vm, struct kerr **err);

#define VHOST_VSOCK_DEVICE "/dev/vhost-vsock"

/* Reserve a guest CID the way Kata does: open VHOST_VSOCK_DEVICE and set a
 * CID on it, from a pseudo-random start until one is free.  The VMM gets
 * the fd (vhostfd=), so the CID stays ours until it exits: sets vm->vsock,
 * vm->cid and vm->vsock_fd. */
int vm_reserve_vsock_cid(struct vm *vm, struct kerr **err);

/* shared_fs = virtio-fs: start virtiofsd on `<run_dir>/virtiofsd.sock`
 * (vm->virtiofsd); otherwise nothing. */
int vm_start_virtiofsd(struct vm *vm, struct kerr **err);

#endif
