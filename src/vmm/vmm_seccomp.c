/* Per-thread seccomp allowlists of the built-in VMM (see vmm_seccomp.h). */
#include "vmm_seccomp.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <seccomp.h>
#include <stddef.h>
#include <sys/socket.h>

/* Every thread: memory (error messages allocate), locks, signals, time,
 * exiting. */
static const char *const common_syscalls[] = {
    "brk",          "mmap",           "munmap",          "mremap", "madvise",    "futex",
    "rt_sigreturn", "rt_sigprocmask", "restart_syscall", "exit",   "exit_group", "clock_gettime",
    "gettid",       "getpid",         "sched_yield",     "write",  "read",       "close",
    "tgkill",       "newfstatat",     "fstat",           "lseek",  "mprotect",   "getrandom",
    "sigaltstack", /* ASan's runtime, at thread exit */
};

static const char *const vcpu_syscalls[] = {
    "unlink",       /* the vsock socket, at teardown */
    "alarm",        /* kata-vmm's --timeout, cancelled after the run */
    "setitimer",    /* alarm() on some libcs */
    "rt_sigaction", /* signals restored at teardown */
    "epoll_ctl",    /* device watches removed at teardown */
    "sendmsg",      /* vhost-user set-up when the driver sets DRIVER_OK */
    "recvfrom",     /* vhost-user replies (read) */
    "recvmsg",
};

/* open flags the API thread may not use. */
#define OPEN_FORBIDDEN_FLAGS (O_CREAT | O_TRUNC | (O_TMPFILE & ~O_DIRECTORY))

/* The KVM ioctls a vCPU thread makes after setup. */
static const unsigned long vcpu_ioctls[] = {KVM_RUN, KVM_IRQ_LINE};

/* The API (control) thread once the VM is built: the control socket's loop
 * (accept4, epoll, read/write of requests, the signalfd), pause and stop
 * (kicks, condition variables, joins) and the teardown: closing fds,
 * unmapping guest RAM, unlinking the vsock and control sockets.  Requests
 * are read with recvmsg (vm.add-net's tap comes as SCM_RIGHTS; after boot
 * any fd received is closed). */
static const char *const api_syscalls[] = {
    "epoll_wait", "epoll_pwait", "epoll_ctl", "accept4", "unlink", "recvmsg",
};

static const char *const device_syscalls[] = {
    "epoll_wait", "epoll_pwait", "epoll_ctl", "preadv",    "pwritev", "pread64",    "pwrite64",
    "readv",      "writev",      "fdatasync", "getrandom", "accept4", "connect",    "sendto",
    "recvfrom",   "sendmsg",     "recvmsg",   "shutdown",  "fcntl",   "getsockopt",
};

static int allow_names(scmp_filter_ctx ctx, const char *const *names, size_t n, struct kerr **err)
{
    for (size_t i = 0; i < n; i++) {
        int nr = seccomp_syscall_resolve_name(names[i]);
        if (nr == __NR_SCMP_ERROR)
            continue; /* not a system call on this architecture */
        int r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
        if (r < 0)
            return kerr_make(err, -r, "seccomp: allow `%s`", names[i]);
    }
    return 0;
}

static const char *const kind_names[] = {
    [VMM_THREAD_VCPU] = "vCPU",
    [VMM_THREAD_DEVICE] = "device",
    [VMM_THREAD_API] = "API",
};

static int build(scmp_filter_ctx ctx, enum vmm_thread_kind kind, struct kerr **err)
{
    if (allow_names(ctx, common_syscalls, ARRAY_SIZE(common_syscalls), err) < 0)
        return -1;
    int r = 0;
    switch (kind) {
    case VMM_THREAD_VCPU:
        if (allow_names(ctx, vcpu_syscalls, ARRAY_SIZE(vcpu_syscalls), err) < 0)
            return -1;
        for (size_t i = 0; i < ARRAY_SIZE(vcpu_ioctls) && r == 0; i++)
            r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                                 SCMP_A1(SCMP_CMP_EQ, vcpu_ioctls[i]));
        break;
    case VMM_THREAD_DEVICE:
        if (allow_names(ctx, device_syscalls, ARRAY_SIZE(device_syscalls), err) < 0)
            return -1;
        /* vsock's guest-initiated connections: unix stream sockets only. */
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                             SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
        break;
    case VMM_THREAD_API:
        if (allow_names(ctx, api_syscalls, ARRAY_SIZE(api_syscalls), err) < 0)
            return -1;
        /* vm.update-disk opens the drive's new file (virtio_blk_replace): an
         * existing file only, never created, truncated or a tmpfile. */
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
                             SCMP_A2(SCMP_CMP_MASKED_EQ, OPEN_FORBIDDEN_FLAGS, 0));
        break;
    }
    if (r < 0)
        return kerr_make(err, -r, "seccomp: add the %s rules", kind_names[kind]);
    return 0;
}

int vmm_seccomp_apply(enum vmm_thread_kind kind, struct kerr **err)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
    if (ctx == NULL)
        return kerr_make(err, ENOMEM, "seccomp_init");
    int r = build(ctx, kind, err);
    if (r == 0) {
        r = seccomp_load(ctx);
        if (r < 0)
            kerr_make(err, -r, "load the %s thread's seccomp filter", kind_names[kind]);
    }
    seccomp_release(ctx);
    return r < 0 ? -1 : 0;
}
