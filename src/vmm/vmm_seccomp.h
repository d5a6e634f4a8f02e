/* Seccomp filters for the built-in VMM's threads, in the spirit of
 * Firecracker's: once a thread has set itself up it may make only the system
 * calls its job needs; anything else kills the whole process (SIGSYS).
 *
 * - vCPU threads: KVM_RUN and the few KVM ioctls of their exits, writes to
 *   the console and to eventfds, locks, memory for error messages, signals
 *   between vCPU threads, and the teardown after the VM stopped (closing
 *   and unmapping, unlinking the vsock socket, joining threads).
 * - the device thread: epoll, file I/O on the disks (preadv/pwritev,
 *   fdatasync), getrandom, unix sockets for vsock (socket(AF_UNIX) only,
 *   connect, accept4, send/recv, shutdown), eventfd reads and writes.
 * - the API thread (`--api-socket`), once vm.boot built the VM: the control
 *   socket's loop (accept4, epoll, reads and writes, the signalfd), pause
 *   and stop (kicks, futexes, joins) and the teardown (closing, unmapping,
 *   unlinking the vsock and control sockets).  It opens nothing after boot.
 * No filesystem paths are opened, no processes created, no exec. */
#ifndef KATA_VMM_SECCOMP_H
#define KATA_VMM_SECCOMP_H

#include "error.h"

enum vmm_thread_kind {
    VMM_THREAD_VCPU,
    VMM_THREAD_DEVICE,
    VMM_THREAD_API,
};

/* Load the filter for `kind` on the calling thread (and the threads it
 * creates later). */
int vmm_seccomp_apply(enum vmm_thread_kind kind, struct kerr **err);

#endif
