/* The `dragonball` hypervisor: the built-in VMM (src/vmm, kata-vmm) as a
 * process per sandbox.  The agent channel is hybrid vsock on
 * `<run_dir>/kata.hvsock`; disks and the image are virtio-blk, and a
 * virtio-rng feeds the guest's entropy.  Shares (virtio-fs, 9p) and network
 * devices are not in the built-in VMM yet: asking for them is an error. */
#include "channel.h"
#include "hypervisor.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define VMM_GUEST_CID 3u
#define VMM_ARGS_MAX  64u

struct args {
    char *argv[VMM_ARGS_MAX + 1];
    size_t n;
};

static void add(struct args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct args *a, const char *fmt, ...)
{
    if (a->n == VMM_ARGS_MAX)
        abort(); /* bounded by the caller's checks below */
    va_list ap;
    va_start(ap, fmt);
    a->argv[a->n++] = xvasprintf(fmt, ap);
    va_end(ap);
}

static void args_free(struct args *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->argv[i]);
}

static int check_config(const struct vm *vm, struct kerr **err)
{
    const struct vm_config *cfg = &vm->cfg;
    if (vm->accel != VM_ACCEL_KVM)
        return kerr_make(err, ENOTSUP,
                         "hypervisor `dragonball` (the built-in VMM) needs KVM: no usable "
                         "`/dev/kvm` on a CPU with vmx or svm");
    if (cfg->hypervisor_path == NULL || access(cfg->hypervisor_path, X_OK) < 0)
        return kerr_make(err, cfg->hypervisor_path ? errno : EINVAL, "built-in VMM `%s`",
                         cfg->hypervisor_path ? cfg->hypervisor_path : "(no path)");
    if (access(cfg->kernel, R_OK) < 0)
        return kerr_make(err, errno, "guest kernel `%s`", cfg->kernel);
    if (cfg->initrd && access(cfg->initrd, R_OK) < 0)
        return kerr_make(err, errno, "guest initrd `%s`", cfg->initrd);
    if (cfg->image && access(cfg->image, R_OK) < 0)
        return kerr_make(err, errno, "guest image `%s`", cfg->image);
    enum vm_shared_fs fs = vm_shared_fs_kind(cfg->shared_fs, err);
    if ((int)fs < 0)
        return -1;
    if (fs != VM_SHARED_FS_NONE)
        return kerr_make(err, ENOTSUP,
                         "shared_fs `%s`: the built-in VMM has no virtio-fs or 9p yet (use "
                         "\"none\")",
                         cfg->shared_fs);
    if (cfg->n_net_devices)
        return kerr_make(err, ENOTSUP, "the built-in VMM has no virtio-net yet");
    if (cfg->vcpus > 16)
        return kerr_make(err, EINVAL, "%u vCPUs: the built-in VMM runs at most 16", cfg->vcpus);
    if (cfg->n_block_devices + (cfg->image != NULL) > 8)
        return kerr_make(err, E2BIG, "the built-in VMM takes at most 8 disks");
    for (size_t i = 0; i < cfg->n_block_devices; i++) {
        const struct vm_block_device *d = &cfg->block_devices[i];
        if (d->path == NULL || strchr(d->path, ',') || (d->id && strchr(d->id, ',')))
            return kerr_make(err, EINVAL, "block device `%s`: a path and id without commas",
                             d->path ? d->path : "(none)");
        if (access(d->path, d->readonly ? R_OK : R_OK | W_OK) < 0)
            return kerr_make(err, errno, "block device `%s`", d->path);
    }
    return 0;
}

static void build_args(const struct vm *vm, struct args *a)
{
    const struct vm_config *cfg = &vm->cfg;
    cleanup_free char *cmdline = vm_kernel_cmdline(vm);
    add(a, "%s", cfg->hypervisor_path);
    add(a, "--kernel=%s", cfg->kernel);
    if (cfg->initrd)
        add(a, "--initrd=%s", cfg->initrd);
    add(a, "--cmdline=%s", cmdline);
    add(a, "--memory=%u", cfg->memory_mb ? cfg->memory_mb : 256);
    add(a, "--vcpus=%u", cfg->vcpus ? cfg->vcpus : 1);
    add(a, "--timeout=0");
    add(a, "--rng");
    if (cfg->image) /* the root disk is /dev/vda (root=/dev/vda) */
        add(a, "--disk=%s,ro", cfg->image);
    for (size_t i = 0; i < cfg->n_block_devices; i++) {
        const struct vm_block_device *d = &cfg->block_devices[i];
        add(a, "--disk=%s%s%s%s", d->path, d->readonly ? ",ro" : "", d->id ? ",id=" : "",
            d->id ? d->id : "");
    }
    add(a, "--vsock=%s", vm->agent_socket);
    add(a, "--cid=%u", VMM_GUEST_CID);
}

static char *log_tail(const struct vm *vm)
{
    cleanup_free char *log = NULL;
    size_t len = 0;
    if (vm->log_path == NULL || file_read_all(vm->log_path, 1 << 20, &log, &len, NULL) < 0 ||
        len == 0)
        return xstrdup("(no output)");
    while (len > 0 && log[len - 1] == '\n')
        log[--len] = '\0';
    return xstrdup(len > 400 ? log + len - 400 : log);
}

static int spawn(struct vm *vm, char **argv, struct kerr **err)
{
    vm->log_path = xasprintf("%s/kata-vmm.log", vm->cfg.run_dir);
    cleanup_close int log_fd = open(vm->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (log_fd < 0)
        return kerr_make(err, errno, "prepare the built-in VMM's log `%s`", vm->log_path);
    int console[2] = {-1, -1};
    if (vm->cfg.console_path) {
        console[1] = open(vm->cfg.console_path,
                          O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (console[1] < 0)
            return kerr_make(err, errno, "built-in VMM console `%s`", vm->cfg.console_path);
    } else if (pipe2(console, O_CLOEXEC) < 0) {
        return kerr_make(err, errno, "built-in VMM console pipe");
    }
    pid_t pid = fork();
    if (pid < 0) {
        int saved = errno;
        if (console[0] >= 0)
            close(console[0]);
        close(console[1]);
        return kerr_make(err, saved, "fork the built-in VMM");
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        dup2(console[1], 1);
        dup2(log_fd, 2);
        signal(SIGPIPE, SIG_DFL);
        execv(argv[0], argv);
        dprintf(log_fd, "exec `%s`: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(console[1]);
    vm->pid = pid;
    vm->console_fd = console[0];
    return 0;
}

static int dragonball_start(struct vm *vm, struct kerr **err)
{
    if (check_config(vm, err) < 0)
        return -1;
    vm->agent_socket = xasprintf("%s/kata.hvsock", vm->cfg.run_dir);
    vm->vsock = true; /* the agent listens on vsock; we reach it through the VMM's socket */
    vm->cid = VMM_GUEST_CID;
    struct args a = {0};
    build_args(vm, &a);
    int r = spawn(vm, a.argv, err);
    args_free(&a);
    return r;
}

/* The VMM's exit as an error, or 0 while it runs. */
static int vmm_exited(struct vm *vm, struct kerr **err)
{
    int status;
    if (vm->pid <= 0 || waitpid(vm->pid, &status, WNOHANG) != vm->pid)
        return 0;
    vm->pid = 0;
    cleanup_free char *tail = log_tail(vm);
    return kerr_make(err, 0, "the built-in VMM exited (status %d) before the agent answered: %s",
                     WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), tail);
}

/* Hybrid vsock: the VMM asks the guest for port 1024 on each CONNECT; a guest
 * not listening yet refuses (the connection closes): retry. */
static int dragonball_agent_connect(struct vm *vm, uint64_t timeout_ns, struct kerr **err)
{
    uint64_t deadline = now_ns() + timeout_ns;
    for (;;) {
        cleanup_kerr struct kerr *last = NULL;
        int fd = hybrid_vsock_connect(vm->agent_socket, AGENT_VSOCK_PORT, &last);
        if (fd >= 0)
            return fd;
        if (vmm_exited(vm, err) < 0)
            return -1;
        if (now_ns() >= deadline)
            return kerr_make(err, ETIMEDOUT, "wait for the agent through `%s` (%s)",
                             vm->agent_socket, last->msg);
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* SIGTERM: kata-vmm stops its vCPU and device thread and exits; SIGKILL
 * after grace_ns. */
static int dragonball_stop(struct vm *vm, uint64_t grace_ns, struct kerr **err)
{
    if (vm->pid <= 0)
        return 0;
    kill(vm->pid, SIGCONT); /* a paused VMM must see the SIGTERM */
    kill(vm->pid, SIGTERM);
    if (vm_wait_exit(vm, grace_ns) < 0 && errno == ETIMEDOUT) {
        kill(vm->pid, SIGKILL);
        if (vm_wait_exit(vm, 5000000000ull) < 0 && errno == ETIMEDOUT)
            return kerr_make(err, ETIMEDOUT, "built-in VMM pid %d did not exit after SIGKILL",
                             (int)vm->pid);
    }
    return 0;
}

/* Until the control socket's pause/resume: stop and continue the whole VMM
 * process (its vCPU and device threads). */
static int dragonball_pause(struct vm *vm, struct kerr **err)
{
    if (vm->pid <= 0 || kill(vm->pid, SIGSTOP) < 0)
        return kerr_make(err, vm->pid <= 0 ? ESRCH : errno, "pause the built-in VMM");
    return 0;
}

static int dragonball_resume(struct vm *vm, struct kerr **err)
{
    if (vm->pid <= 0 || kill(vm->pid, SIGCONT) < 0)
        return kerr_make(err, vm->pid <= 0 ? ESRCH : errno, "resume the built-in VMM");
    return 0;
}

static size_t dragonball_pids(const struct vm *vm, pid_t *out, size_t max)
{
    if (vm->pid > 0 && max > 0) {
        out[0] = vm->pid;
        return 1;
    }
    return 0;
}

const struct hypervisor_ops dragonball_ops = {
    .name = "dragonball",
    .start = dragonball_start,
    .agent_connect = dragonball_agent_connect,
    .stop = dragonball_stop,
    .pause = dragonball_pause,
    .resume = dragonball_resume,
    .pids = dragonball_pids,
};
