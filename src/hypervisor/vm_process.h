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

/* The ops' pids for a VMM child: the VMM, then virtiofsd when running. */
size_t vm_process_pids(const struct vm *vm, pid_t *out, size_t max);

/* The last 400 bytes of the VMM's log ("(no output)" when empty); malloc'd. */
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

/* shared_fs = virtio-fs: start virtiofsd on `<run_dir>/virtiofsd.sock`
 * (vm->virtiofsd); otherwise nothing. */
int vm_start_virtiofsd(struct vm *vm, struct kerr **err);

#endif
