/* The QEMU driver: -M microvm or q35, KVM or TCG, launched directly (no
 * -daemonize).  The agent channel is vhost-vsock where the host has it, else a
 * virtio-serial port whose chardev connects to a socket we listen on, so the
 * channel is there before the guest boots and nothing polls for a file. */
#include "hypervisor.h"
#include "channel.h"
#include "qemu.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/vhost.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define VHOST_VSOCK_DEVICE "/dev/vhost-vsock"

struct argv_builder {
    char **argv;
    size_t n, cap;
};

static void add(struct argv_builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct argv_builder *b, const char *fmt, ...)
{
    if (b->n + 2 > b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        b->argv = xrealloc(b->argv, b->cap * sizeof(char *));
    }
    va_list ap;
    va_start(ap, fmt);
    b->argv[b->n++] = xvasprintf(fmt, ap);
    va_end(ap);
    b->argv[b->n] = NULL;
}

void qemu_argv_free(char **argv)
{
    if (argv == NULL)
        return;
    for (char **p = argv; *p; p++)
        free(*p);
    free(argv);
}

static bool is_microvm(const struct vm *vm)
{
    return strcmp(vm->cfg.machine_type, "microvm") == 0;
}

char **qemu_build_argv(const struct vm *vm, struct kerr **err)
{
    const struct vm_config *cfg = &vm->cfg;
    if (cfg->machine_type == NULL ||
        (strcmp(cfg->machine_type, "microvm") != 0 && strcmp(cfg->machine_type, "q35") != 0)) {
        kerr_make(err, EINVAL, "machine type `%s`: QEMU supports `microvm` and `q35`",
                  cfg->machine_type ? cfg->machine_type : "");
        return NULL;
    }
    if (cfg->kernel == NULL || (cfg->initrd == NULL && cfg->image == NULL)) {
        kerr_make(err, EINVAL, "a kernel and an initrd or image are required");
        return NULL;
    }
    bool microvm = is_microvm(vm);
    /* Device names differ by bus: virtio-mmio on microvm, PCI on q35. */
    const char *bus_suffix = microvm ? "device" : "pci";
    struct argv_builder b = {0};

    add(&b, "%s", cfg->hypervisor_path);
    add(&b, "-name");
    add(&b, "kata-sandbox");
    add(&b, "-M");
    if (microvm)
        add(&b, "microvm,x-option-roms=off,pit=off,pic=off,isa-serial=on,rtc=on");
    else
        add(&b, "q35,nvdimm=off");
    add(&b, "-accel");
    add(&b, vm->accel == VM_ACCEL_KVM ? "kvm" : "tcg");
    add(&b, "-cpu");
    add(&b, vm->accel == VM_ACCEL_KVM ? "host" : "max");
    add(&b, "-smp");
    add(&b, "%u", cfg->vcpus ? cfg->vcpus : 1);
    add(&b, "-m");
    add(&b, "%uM", cfg->memory_mb ? cfg->memory_mb : 256);
    add(&b, "-nodefaults");
    add(&b, "-no-user-config");
    add(&b, "-nographic");
    add(&b, "-no-reboot");
    if (microvm) {
        /* Modern virtio-mmio: virtio-fs and others need it. */
        add(&b, "-global");
        add(&b, "virtio-mmio.force-legacy=false");
    }
    /* The guest console: a pipe the caller reads. */
    add(&b, "-serial");
    add(&b, "stdio");

    add(&b, "-kernel");
    add(&b, "%s", cfg->kernel);
    if (cfg->initrd) {
        add(&b, "-initrd");
        add(&b, "%s", cfg->initrd);
    }
    if (cfg->image) {
        add(&b, "-drive");
        add(&b, "if=none,id=rootfs,file=%s,format=raw,readonly=off", cfg->image);
        add(&b, "-device");
        add(&b, "virtio-blk-%s,drive=rootfs", bus_suffix);
    }
    cleanup_free char *cmdline = vm_kernel_cmdline(vm);
    add(&b, "-append");
    add(&b, "%s", cmdline);

    if (vm->vsock) {
        add(&b, "-device");
        if (vm->vsock_fd >= 0)
            add(&b, "vhost-vsock-%s,guest-cid=%u,vhostfd=%d", bus_suffix, vm->cid, vm->vsock_fd);
        else
            add(&b, "vhost-vsock-%s,guest-cid=%u", bus_suffix, vm->cid);
    } else {
        add(&b, "-device");
        add(&b, "virtio-serial-%s,id=serial0", bus_suffix);
        add(&b, "-chardev");
        add(&b, "socket,id=agent,path=%s", vm->agent_socket);
        add(&b, "-device");
        add(&b, "virtserialport,chardev=agent,name=%s", AGENT_SERIAL_NAME);
    }
    add(&b, "-device");
    add(&b, "virtio-rng-%s", bus_suffix);
    return b.argv;
}

/* Reserve a guest CID the way Kata does: open /dev/vhost-vsock and set the CID
 * on it, trying from a pseudo-random start until one is free; QEMU gets this
 * fd (vhostfd=), so the CID stays ours from here until QEMU exits. */
static int qemu_reserve_vsock_cid(struct vm *vm, struct kerr **err)
{
    int fd = open(VHOST_VSOCK_DEVICE, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return kerr_make(err, errno, "open `%s`", VHOST_VSOCK_DEVICE);
    /* CIDs 0-2 are reserved (hypervisor, local, host); the top one is "any". */
    uint32_t span = 0xfffffffeu - 3;
    uint32_t start = (uint32_t)((now_ns() ^ ((uint64_t)getpid() << 16)) % span);
    for (uint32_t i = 0; i < 4096; i++) {
        uint64_t cid = 3 + (start + i) % span;
        if (ioctl(fd, VHOST_VSOCK_SET_GUEST_CID, &cid) == 0) {
            vm->cid = (uint32_t)cid;
            vm->vsock_fd = fd;
            vm->vsock = true;
            return 0;
        }
        if (errno != EADDRINUSE) {
            int saved = errno;
            close(fd);
            return kerr_make(err, saved, "set a guest CID on `%s`", VHOST_VSOCK_DEVICE);
        }
    }
    close(fd);
    return kerr_make(err, EADDRINUSE, "no free guest CID on `%s`", VHOST_VSOCK_DEVICE);
}

static int qemu_prepare_channel(struct vm *vm, struct kerr **err)
{
    if (mkdir_all(vm->cfg.run_dir, 0700, err) < 0)
        return -1;
    /* vhost-vsock where the host has it (agent on vsock port 1024), else a
     * virtio-serial port. */
    if (access(VHOST_VSOCK_DEVICE, F_OK) == 0)
        return qemu_reserve_vsock_cid(vm, err);
    vm->vsock = false;
    vm->agent_socket = xasprintf("%s/agent.sock", vm->cfg.run_dir);
    vm->agent_listen = unix_listen(vm->agent_socket, err);
    return vm->agent_listen < 0 ? -1 : 0;
}

/* The tail of the VMM's own log, for error messages. */
static char *qemu_log_tail(const struct vm *vm)
{
    cleanup_free char *log = NULL;
    size_t len = 0;
    if (file_read_all(vm->log_path, 1 << 20, &log, &len, NULL) < 0 || len == 0)
        return xstrdup("(no output)");
    while (len > 0 && (log[len - 1] == '\n' || log[len - 1] == '\r'))
        log[--len] = '\0';
    const char *start = len > 400 ? log + len - 400 : log;
    return xstrdup(start);
}

static int qemu_start(struct vm *vm, struct kerr **err)
{
    if (access(vm->cfg.hypervisor_path, X_OK) < 0)
        return kerr_make(err, errno, "hypervisor `%s`", vm->cfg.hypervisor_path);
    if (access(vm->cfg.kernel, R_OK) < 0)
        return kerr_make(err, errno, "guest kernel `%s`", vm->cfg.kernel);
    if (vm->cfg.initrd && access(vm->cfg.initrd, R_OK) < 0)
        return kerr_make(err, errno, "guest initrd `%s`", vm->cfg.initrd);
    if (vm->cfg.image && access(vm->cfg.image, R_OK) < 0)
        return kerr_make(err, errno, "guest image `%s`", vm->cfg.image);
    if (qemu_prepare_channel(vm, err) < 0)
        return -1;
    char **argv = qemu_build_argv(vm, err);
    if (argv == NULL)
        return -1;

    vm->log_path = xasprintf("%s/qemu.log", vm->cfg.run_dir);
    int log_fd = open(vm->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int console[2];
    if (log_fd < 0 || pipe2(console, O_CLOEXEC) < 0) {
        int saved = errno;
        if (log_fd >= 0)
            close(log_fd);
        qemu_argv_free(argv);
        return kerr_make(err, saved, "prepare QEMU log `%s`", vm->log_path);
    }
    pid_t pid = fork();
    if (pid < 0) {
        int saved = errno;
        close(log_fd);
        close(console[0]);
        close(console[1]);
        qemu_argv_free(argv);
        return kerr_make(err, saved, "fork QEMU");
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        dup2(console[1], 1);
        dup2(log_fd, 2);
        /* A VMM must not outlive a crashed parent unnoticed: it is reaped by
         * whoever cleans the sandbox; keep default signal dispositions. */
        signal(SIGPIPE, SIG_DFL);
        if (vm->vsock_fd >= 0)
            fcntl(vm->vsock_fd, F_SETFD, 0); /* QEMU's vhostfd= */
        execv(argv[0], argv);
        dprintf(log_fd, "exec `%s`: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(log_fd);
    close(console[1]);
    qemu_argv_free(argv);
    vm->pid = pid;
    vm->console_fd = console[0];
    return 0;
}

/* QEMU's exit as an error, or 0 while it runs. */
static int qemu_exited(struct vm *vm, struct kerr **err)
{
    int status;
    if (vm->pid <= 0 || waitpid(vm->pid, &status, WNOHANG) != vm->pid)
        return 0;
    vm->pid = 0;
    cleanup_free char *tail = qemu_log_tail(vm);
    return kerr_make(err, 0, "QEMU exited (status %d) before the agent answered: %s",
                     WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), tail);
}

/* The agent listens on vsock port 1024 once it is up: connect until it
 * accepts (a guest not listening yet resets the connection). */
static int qemu_agent_connect_vsock(struct vm *vm, uint64_t timeout_ns, struct kerr **err)
{
    uint64_t deadline = now_ns() + timeout_ns;
    for (;;) {
        cleanup_kerr struct kerr *last = NULL;
        int fd = vsock_connect(vm->cid, AGENT_VSOCK_PORT, &last);
        if (fd >= 0)
            return fd;
        if (qemu_exited(vm, err) < 0)
            return -1;
        if (now_ns() >= deadline)
            return kerr_make(err, ETIMEDOUT, "wait for the agent on vsock CID %u port %d (%s)",
                             vm->cid, AGENT_VSOCK_PORT, last->msg);
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static int qemu_agent_connect(struct vm *vm, uint64_t timeout_ns, struct kerr **err)
{
    if (vm->vsock)
        return qemu_agent_connect_vsock(vm, timeout_ns, err);
    if (vm->agent_listen < 0)
        return kerr_make(err, ENOTCONN, "agent channel of this VM is not set up");
    uint64_t deadline = now_ns() + timeout_ns;
    for (;;) {
        struct pollfd p = {.fd = vm->agent_listen, .events = POLLIN};
        int r = poll(&p, 1, 10);
        if (r > 0) {
            int fd = accept4(vm->agent_listen, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0)
                return fd;
        }
        int status;
        if (vm->pid > 0 && waitpid(vm->pid, &status, WNOHANG) == vm->pid) {
            vm->pid = 0;
            cleanup_free char *tail = qemu_log_tail(vm);
            return kerr_make(err, 0,
                             "QEMU exited (status %d) before connecting the agent "
                             "channel: %s",
                             WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
                             tail);
        }
        if (now_ns() >= deadline)
            return kerr_make(err, ETIMEDOUT, "wait for QEMU to connect `%s`", vm->agent_socket);
    }
}

static int qemu_stop(struct vm *vm, uint64_t grace_ns, struct kerr **err)
{
    if (vm->pid <= 0)
        return 0;
    kill(vm->pid, SIGTERM);
    if (vm_wait_exit(vm, grace_ns) < 0 && errno == ETIMEDOUT) {
        kill(vm->pid, SIGKILL);
        if (vm_wait_exit(vm, 5000000000ull) < 0 && errno == ETIMEDOUT)
            return kerr_make(err, ETIMEDOUT, "QEMU pid %d did not exit after SIGKILL",
                             (int)vm->pid);
    }
    return 0;
}

const struct hypervisor_ops qemu_ops = {
    .name = "qemu",
    .start = qemu_start,
    .agent_connect = qemu_agent_connect,
    .stop = qemu_stop,
};
