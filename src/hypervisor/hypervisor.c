/* What every hypervisor driver shares: the table of drivers, accelerator
 * detection, the kernel command line, and waiting for the VMM. */
#include "hypervisor.h"
#include "util.h"
#include "vm_process.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const struct hypervisor_ops *const drivers[] = {
    &qemu_ops, &dragonball_ops, &clh_ops, &stratovirt_ops, &firecracker_ops,
};

const struct hypervisor_ops *hypervisor_find(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(drivers); i++)
        if (strcmp(drivers[i]->name, name) == 0)
            return drivers[i];
    return NULL;
}

const struct hypervisor_ops *hypervisor_at(size_t i)
{
    return i < ARRAY_SIZE(drivers) ? drivers[i] : NULL;
}

void vm_capabilities(const struct hypervisor_ops *ops, const struct vm_config *cfg,
                     struct vm_capabilities *caps)
{
    memset(caps, 0, sizeof(*caps));
    caps->shared_fs = VM_CAP_FS(VM_SHARED_FS_NONE);
    caps->needs_binary = true;
    caps->agent_channel = "unknown";
    if (ops->capabilities)
        ops->capabilities(cfg, caps);
    caps->pause = ops->pause != NULL && ops->resume != NULL;
}

size_t vm_host_pids(const struct vm *vm, pid_t *out, size_t max)
{
    if (vm->ops && vm->ops->pids)
        return vm->ops->pids(vm, out, max);
    return vm_process_pids(vm, out, max);
}

void vm_kill_recorded(const struct proc_ref *procs, size_t n, unsigned timeout_ms)
{
    for (size_t i = 0; i < n; i++)
        if (procs[i].pid > 0)
            proc_ref_kill_wait(&procs[i], timeout_ms);
}

bool vm_cpu_has_virt(void)
{
    FILE *f = fopen("/proc/cpuinfo", "re");
    if (f == NULL)
        return false;
    cleanup_free char *line = NULL;
    size_t cap = 0;
    bool found = false;
    while (getline(&line, &cap, f) > 0) {
        if (strncmp(line, "flags", 5) != 0)
            continue;
        /* The first CPU's flags: "vmx" or "svm" as a whole word. */
        char *colon = strchr(line, ':');
        for (char *tok = colon ? strtok(colon + 1, " \t\n") : NULL; tok;
             tok = strtok(NULL, " \t\n"))
            if (strcmp(tok, "vmx") == 0 || strcmp(tok, "svm") == 0)
                found = true;
        break;
    }
    fclose(f);
    return found;
}

enum vm_accel vm_detect_accel(void)
{
    if (!vm_cpu_has_virt())
        return VM_ACCEL_TCG;
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return VM_ACCEL_TCG;
    close(fd);
    return VM_ACCEL_KVM;
}

const char *vm_accel_name(enum vm_accel accel)
{
    return accel == VM_ACCEL_KVM ? "kvm" : "tcg";
}

unsigned long vm_host_tsc_khz(void)
{
    /* The kernel's refined calibration is the precise value; cpuinfo's
     * "cpu MHz" of the first CPU is close enough when it is not readable. */
    cleanup_free char *cpuinfo = NULL;
    if (file_read_all("/proc/cpuinfo", 1 << 20, &cpuinfo, NULL, NULL) < 0)
        return 0;
    const char *p = strstr(cpuinfo, "cpu MHz");
    if (p == NULL || (p = strchr(p, ':')) == NULL)
        return 0;
    double mhz = strtod(p + 1, NULL);
    return mhz > 0 ? (unsigned long)lround(mhz * 1000.0) : 0;
}

bool vm_tcg_noapictimer(const struct vm *vm)
{
    return vm->accel == VM_ACCEL_TCG && vm->cfg.vcpus <= 1 && vm->cfg.machine_type &&
           strcmp(vm->cfg.machine_type, "q35") == 0;
}

void vm_init(struct vm *vm, const struct hypervisor_ops *ops, const struct vm_config *cfg)
{
    memset(vm, 0, sizeof(*vm));
    vm->ops = ops;
    vm->cfg = *cfg;
    vm->accel = vm_detect_accel();
    vm->console_fd = -1;
    vm->agent_listen = -1;
    vm->vsock_fd = -1;
}

static const struct {
    const char *name;
    enum vm_shared_fs kind;
} shared_fs_kinds[] = {
    {"virtio-fs", VM_SHARED_FS_VIRTIO_FS},
    {"virtio-9p", VM_SHARED_FS_VIRTIO_9P},
    {"none", VM_SHARED_FS_NONE},
    {"", VM_SHARED_FS_NONE},
};

enum vm_shared_fs vm_shared_fs_kind(const char *name, struct kerr **err)
{
    if (name == NULL)
        return VM_SHARED_FS_NONE;
    for (size_t i = 0; i < ARRAY_SIZE(shared_fs_kinds); i++)
        if (strcmp(shared_fs_kinds[i].name, name) == 0)
            return shared_fs_kinds[i].kind;
    kerr_make(err, EINVAL, "shared_fs `%s`: expected virtio-fs, virtio-9p or none", name);
    return (enum vm_shared_fs) - 1;
}

int vm_pause(struct vm *vm, struct kerr **err)
{
    if (vm->ops->pause == NULL)
        return kerr_make(err, ENOTSUP, "pause: hypervisor `%s`", vm->ops->name);
    return vm->ops->pause(vm, err);
}

int vm_resume(struct vm *vm, struct kerr **err)
{
    if (vm->ops->resume == NULL)
        return kerr_make(err, ENOTSUP, "resume: hypervisor `%s`", vm->ops->name);
    return vm->ops->resume(vm, err);
}

void vm_release(struct vm *vm)
{
    if (vm->ops && vm->ops->release)
        vm->ops->release(vm);
    if (vm->console_fd >= 0)
        close(vm->console_fd);
    if (vm->agent_listen >= 0)
        close(vm->agent_listen);
    if (vm->vsock_fd >= 0)
        close(vm->vsock_fd);
    vm->console_fd = vm->agent_listen = vm->vsock_fd = -1;
    if (vm->agent_socket)
        unlink(vm->agent_socket);
    free(vm->agent_socket);
    free(vm->log_path);
    vm->agent_socket = vm->log_path = NULL;
    virtiofsd_stop(&vm->virtiofsd, 1000000000ull);
}

char *vm_kernel_cmdline(const struct vm *vm)
{
    char *line = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&line, &len);
    bool microvm = vm->cfg.machine_type && strcmp(vm->cfg.machine_type, "microvm") == 0;

    /* 1. Defaults.  no_timer_check: no 40 ms test of the PIT's interrupt
     * routing (q35); noreplace-smp: a 1-vCPU guest keeps its lock prefixes
     * instead of rewriting thousands of them one text_poke() at a time
     * (docs/boot.md has the measurements). */
    fputs("console=ttyS0 reboot=k panic=-1 nomodule no_timer_check noreplace-smp", f);
    fputs(vm->cfg.debug ? " debug" : " quiet", f);
    if (microvm && vm->accel == VM_ACCEL_TCG) {
        unsigned long khz = vm_host_tsc_khz();
        if (khz)
            fprintf(f, " tsc_early_khz=%lu", khz);
    }
    if (vm_tcg_noapictimer(vm))
        fputs(" noapictimer", f);
    if (vm->cfg.image)
        fputs(" root=/dev/vda rw rootfstype=ext4 init=/sbin/init", f);
    else
        fputs(" rdinit=/init", f);
    /* 2. The agent's parameters. */
    if (vm->cfg.agent_params && *vm->cfg.agent_params)
        fprintf(f, " %s", vm->cfg.agent_params);
    /* 3. The user's, last. */
    if (vm->cfg.kernel_params && *vm->cfg.kernel_params)
        fprintf(f, " %s", vm->cfg.kernel_params);
    fclose(f);
    return line;
}

int vm_wait_exit(struct vm *vm, uint64_t timeout_ns)
{
    uint64_t deadline = now_ns() + timeout_ns;
    for (;;) {
        int status;
        pid_t r = waitpid(vm->pid, &status, WNOHANG);
        if (r == vm->pid) {
            vm->pid = 0;
            return status;
        }
        if (r < 0 && errno != EINTR) {
            vm->pid = 0;
            return r;
        }
        if (now_ns() >= deadline) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}
