/* The QEMU driver: -M microvm or q35, KVM or TCG, launched directly (no
 * -daemonize).  The agent channel is vhost-vsock where the host has it, else a
 * virtio-serial port whose chardev connects to a socket we listen on, so the
 * channel is there before the guest boots and nothing polls for a file. */
#include "hypervisor.h"
#include "channel.h"
#include "log.h"
#include "qemu.h"
#include "qmp.h"
#include "vm_process.h"
#include "util.h"

#include <json-c/json.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define VHOST_NET_DEVICE "/dev/vhost-net"

/* One QMP command may take this long (QEMU under TCG can be slow). */
#define QEMU_QMP_TIMEOUT_NS (10ull * 1000 * 1000 * 1000)

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

/* QEMU's option syntax: a comma inside a value is written twice. */
static char *qemu_opt_escape(const char *value)
{
    size_t extra = 0;
    for (const char *p = value; *p; p++)
        extra += *p == ',';
    char *out = xmalloc(strlen(value) + extra + 1), *o = out;
    for (const char *p = value; *p; p++) {
        *o++ = *p;
        if (*p == ',')
            *o++ = ',';
    }
    *o = '\0';
    return out;
}

/* Ids become QEMU ids and virtio-blk serials (20 bytes). */
static bool qemu_id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > 20)
        return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_'))
            return false;
    return true;
}

/* q35 slots we assign ourselves, so the guest can find devices by PCI path;
 * QEMU auto-assigns the others from slot 1 up. */
#define Q35_BLOCK_SLOT_FIRST   0x10
#define Q35_HOTPLUG_SLOT_FIRST 0x18
#define Q35_MAX_BLOCK_DEVICES  (Q35_HOTPLUG_SLOT_FIRST - Q35_BLOCK_SLOT_FIRST)
#define Q35_MAX_HOTPLUG_SLOTS  QEMU_HOTPLUG_SLOTS_MAX

static int qemu_add_shares(struct argv_builder *b, const struct vm *vm, const char *bus_suffix,
                           struct kerr **err)
{
    const struct vm_config *cfg = &vm->cfg;
    enum vm_shared_fs kind = vm_shared_fs_kind(cfg->shared_fs, err);
    if ((int)kind < 0)
        return -1;
    if (kind == VM_SHARED_FS_NONE)
        return 0;
    const char *tag = cfg->share_tag ? cfg->share_tag : VM_SHARE_TAG_DEFAULT;
    if (*tag == '\0' || strlen(tag) > 36)
        return kerr_make(err, EINVAL, "share tag `%s`: 1 to 36 bytes", tag);
    if (cfg->shared_dir == NULL || cfg->shared_dir[0] != '/')
        return kerr_make(err, EINVAL, "shared_fs `%s` needs an absolute shared directory",
                         cfg->shared_fs);
    cleanup_free char *tag_esc = qemu_opt_escape(tag);
    if (kind == VM_SHARED_FS_VIRTIO_9P) {
        cleanup_free char *dir = qemu_opt_escape(cfg->shared_dir);
        add(b, "-fsdev");
        add(b, "local,id=extra-9p-share,path=%s,security_model=none,multidevs=remap", dir);
        add(b, "-device");
        add(b, "virtio-9p-%s,fsdev=extra-9p-share,mount_tag=%s", bus_suffix, tag_esc);
        return 0;
    }
    /* virtio-fs: vhost-user needs guest memory QEMU can share with virtiofsd. */
    if (vm->virtiofsd.socket_path == NULL)
        return kerr_make(err, EINVAL, "virtio-fs: virtiofsd is not started");
    cleanup_free char *sock = qemu_opt_escape(vm->virtiofsd.socket_path);
    if (cfg->rootless && vm->virtiofsd.vmm_fd < 0)
        return kerr_make(err, EINVAL, "virtio-fs: rootless QEMU needs a connection to virtiofsd");
    add(b, "-object");
    add(b, "memory-backend-memfd,id=mem,size=%uM,share=on", cfg->memory_mb ? cfg->memory_mb : 256);
    add(b, "-machine");
    add(b, "memory-backend=mem");
    add(b, "-chardev");
    if (cfg->rootless)
        add(b, "socket,id=virtiofs-char,fd=%d", vm->virtiofsd.vmm_fd); /* we connected */
    else
        add(b, "socket,id=virtiofs-char,path=%s", sock);
    add(b, "-device");
    add(b, "vhost-user-fs-%s,chardev=virtiofs-char,tag=%s,queue-size=1024", bus_suffix, tag_esc);
    return 0;
}

static int qemu_add_block_devices(struct argv_builder *b, const struct vm *vm,
                                  const char *bus_suffix, struct kerr **err)
{
    const struct vm_config *cfg = &vm->cfg;
    if (!is_microvm(vm) && cfg->n_block_devices > Q35_MAX_BLOCK_DEVICES)
        return kerr_make(err, E2BIG, "%zu block devices: at most %d on q35", cfg->n_block_devices,
                         Q35_MAX_BLOCK_DEVICES);
    for (size_t i = 0; i < cfg->n_block_devices; i++) {
        const struct vm_block_device *d = &cfg->block_devices[i];
        if (!qemu_id_valid(d->id))
            return kerr_make(err, EINVAL,
                             "block device id `%s`: 1 to 20 letters, digits, `-` or `_`",
                             d->id ? d->id : "");
        if (d->path == NULL || *d->path == '\0')
            return kerr_make(err, EINVAL, "block device `%s` has no path", d->id);
        cleanup_free char *path = qemu_opt_escape(d->path);
        add(b, "-drive");
        add(b, "if=none,id=drive-%s,file=%s,format=raw,readonly=%s,cache=none,aio=threads", d->id,
            path, d->readonly ? "on" : "off");
        add(b, "-device");
        if (is_microvm(vm))
            add(b, "virtio-blk-device,drive=drive-%s,id=%s,serial=%s", d->id, d->id, d->id);
        else
            add(b, "virtio-blk-%s,drive=drive-%s,id=%s,serial=%s,bus=pcie.0,addr=0x%zx", bus_suffix,
                d->id, d->id, d->id, Q35_BLOCK_SLOT_FIRST + i);
    }
    if (cfg->scsi_controller) {
        add(b, "-device");
        add(b, "virtio-scsi-%s,id=scsi0", bus_suffix);
    }
    if (cfg->hotplug_slots > 0 && !is_microvm(vm)) {
        if (cfg->hotplug_slots > Q35_MAX_HOTPLUG_SLOTS)
            return kerr_make(err, E2BIG, "%u hotplug slots: at most %d", cfg->hotplug_slots,
                             Q35_MAX_HOTPLUG_SLOTS);
        for (unsigned i = 0; i < cfg->hotplug_slots; i++) {
            add(b, "-device");
            add(b, "pcie-root-port,id=hotplug%u,bus=pcie.0,chassis=%u,slot=%u,addr=0x%x", i, i + 1,
                i + 1, Q35_HOTPLUG_SLOT_FIRST + i);
        }
    }
    return 0;
}

/* Kata's and ours: letters, digits and colons, six bytes. */
static bool qemu_mac_valid(const char *mac)
{
    unsigned b[6];
    char tail;
    return mac && strlen(mac) == 17 &&
           sscanf(mac, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
                  &tail) == 6;
}

/* -netdev tap,fd=N (QEMU inherits the tap fd) with a virtio-net device. */
static int qemu_add_net_devices(struct argv_builder *b, const struct vm *vm, const char *bus_suffix,
                                struct kerr **err)
{
    const struct vm_config *cfg = &vm->cfg;
    /* Rootless QEMU cannot open /dev/vhost-net (docs/hypervisor.md). */
    bool vhost = cfg->n_net_devices > 0 && !cfg->disable_vhost_net && !cfg->rootless &&
                 access(VHOST_NET_DEVICE, R_OK | W_OK) == 0;
    for (size_t i = 0; i < cfg->n_net_devices; i++) {
        const struct vm_net_device *d = &cfg->net_devices[i];
        if (d->tap_fd < 0)
            return kerr_make(err, EBADF, "network device %zu: no tap fd", i);
        if (!qemu_mac_valid(d->mac))
            return kerr_make(err, EINVAL, "network device %zu: bad MAC `%s`", i,
                             d->mac ? d->mac : "");
        add(b, "-netdev");
        add(b, "tap,id=net%zu,fd=%d,vhost=%s", i, d->tap_fd, vhost ? "on" : "off");
        add(b, "-device");
        if (d->mtu > 0)
            add(b, "virtio-net-%s,netdev=net%zu,mac=%s,host_mtu=%u", bus_suffix, i, d->mac, d->mtu);
        else
            add(b, "virtio-net-%s,netdev=net%zu,mac=%s", bus_suffix, i, d->mac);
    }
    return 0;
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
    /* TCG runs each iteration of a rep string instruction separately: without
     * ERMS the guest clears and copies pages 8 bytes (not 1) per iteration. */
    add(&b, vm->accel == VM_ACCEL_KVM ? "host" : "max,-erms");
    add(&b, "-smp");
    add(&b, "%u", cfg->vcpus ? cfg->vcpus : 1);
    add(&b, "-m");
    add(&b, "%uM", cfg->memory_mb ? cfg->memory_mb : 256);
    add(&b, "-nodefaults");
    add(&b, "-no-user-config");
    add(&b, "-nographic");
    add(&b, "-no-reboot");
    if (cfg->seccomp_sandbox && *cfg->seccomp_sandbox) {
        /* QEMU's own seccomp filter, installed before the guest runs. */
        add(&b, "-sandbox");
        add(&b, "%s", cfg->seccomp_sandbox);
    }
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
        cleanup_free char *image = qemu_opt_escape(cfg->image);
        add(&b, "-drive");
        add(&b, "if=none,id=rootfs,file=%s,format=raw,readonly=off", image);
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
        /* One port (number 0 is reserved for a console): the guest sets up
         * queues for max_ports, 31 by default. */
        add(&b, "virtio-serial-%s,id=serial0,max_ports=2", bus_suffix);
        add(&b, "-chardev");
        if (cfg->rootless && vm->agent_listen >= 0)
            /* Rootless QEMU cannot reach the run dir: it inherits the
             * listening socket and we connect, as for QMP. */
            add(&b, "socket,id=agent,fd=%d,server=on,wait=off", vm->agent_listen);
        else
            add(&b, "socket,id=agent,path=%s", vm->agent_socket);
        add(&b, "-device");
        add(&b, "virtserialport,chardev=agent,name=%s", AGENT_SERIAL_NAME);
    }
    add(&b, "-device");
    add(&b, "virtio-rng-%s", bus_suffix);
    if (qemu_add_shares(&b, vm, bus_suffix, err) < 0 ||
        qemu_add_block_devices(&b, vm, bus_suffix, err) < 0 ||
        qemu_add_net_devices(&b, vm, bus_suffix, err) < 0) {
        qemu_argv_free(b.argv);
        return NULL;
    }
    const struct qemu_state *qs = vm->priv;
    if (qs && qs->qmp_listen >= 0) {
        /* QEMU inherits our listening socket. */
        add(&b, "-chardev");
        add(&b, "socket,id=qmp,fd=%d,server=on,wait=off", qs->qmp_listen);
        add(&b, "-mon");
        add(&b, "chardev=qmp,mode=control");
    }
    return b.argv;
}

static int qemu_prepare_channel(struct vm *vm, struct kerr **err)
{
    if (mkdir_all(vm->cfg.run_dir, 0700, err) < 0)
        return -1;
    /* vhost-vsock where the host has it (agent on vsock port 1024), else a
     * virtio-serial port. */
    if (access(VHOST_VSOCK_DEVICE, F_OK) == 0)
        return vm_reserve_vsock_cid(vm, err);
    vm->vsock = false;
    vm->agent_socket = xasprintf("%s/agent.sock", vm->cfg.run_dir);
    vm->agent_listen = unix_listen(vm->agent_socket, err);
    return vm->agent_listen < 0 ? -1 : 0;
}

/* In the child before exec: the fds QEMU's command line names stay open. */
static void qemu_child_fds(struct vm *vm)
{
    struct qemu_state *qs = qemu_state(vm);
    if (qs->qmp_listen >= 0)
        fd_set_cloexec(qs->qmp_listen, false); /* -chardev socket,fd= */
    if (vm->cfg.rootless && vm->agent_listen >= 0)
        fd_set_cloexec(vm->agent_listen, false); /* the agent's -chardev socket,fd= */
    if (vm->cfg.rootless && vm->virtiofsd.vmm_fd >= 0)
        fd_set_cloexec(vm->virtiofsd.vmm_fd, false); /* vhost-user-fs's chardev */
    if (vm->vsock_fd >= 0)
        fcntl(vm->vsock_fd, F_SETFD, 0); /* QEMU's vhostfd= */
    for (size_t i = 0; i < vm->cfg.n_net_devices; i++)
        fcntl(vm->cfg.net_devices[i].tap_fd, F_SETFD, 0); /* -netdev tap,fd= */
}

/* What rootless QEMU opens by path must be open to its uid. */
static int qemu_child_check_rootless(const struct vm *vm, char *why, size_t len)
{
    const struct {
        const char *what, *path;
        int mode;
    } files[] = {
        {"guest kernel", vm->cfg.kernel, R_OK},
        {"guest initrd", vm->cfg.initrd, R_OK},
        {"guest image", vm->cfg.image, R_OK | W_OK},
        {"/dev/kvm", vm->accel == VM_ACCEL_KVM ? "/dev/kvm" : NULL, R_OK | W_OK},
    };
    for (size_t i = 0; i < ARRAY_SIZE(files); i++)
        if (files[i].path && access(files[i].path, files[i].mode) < 0) {
            snprintf(why, len, "%s `%s` is not %s by uid %u: %s", files[i].what, files[i].path,
                     files[i].mode & W_OK ? "readable and writable" : "readable",
                     (unsigned)getuid(), strerror(errno));
            return -1;
        }
    for (size_t i = 0; i < vm->cfg.n_block_devices; i++) {
        const struct vm_block_device *d = &vm->cfg.block_devices[i];
        if (d->path && access(d->path, d->readonly ? R_OK : R_OK | W_OK) < 0) {
            snprintf(why, len, "block device `%s` is not open to uid %u: %s", d->path,
                     (unsigned)getuid(), strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* The child's last steps: QEMU keeps its fds and nothing else of ours: no
 * capabilities, no way to gain privileges, and with rootless its own uid
 * (plus /dev/kvm's group under KVM).  A failure ends the child with the
 * reason in QEMU's log. */
static void qemu_child_setup(struct vm *vm)
{
    qemu_child_fds(vm);
    gid_t kvm_gid = (gid_t)-1;
    struct stat st;
    if (vm->cfg.rootless && vm->accel == VM_ACCEL_KVM && stat("/dev/kvm", &st) == 0)
        kvm_gid = st.st_gid;
    char why[512];
    if (vm_child_drop_privileges(vm->cfg.rootless, kvm_gid, why, sizeof(why)) < 0 ||
        (vm->cfg.rootless && qemu_child_check_rootless(vm, why, sizeof(why)) < 0)) {
        dprintf(2, "confine QEMU%s: %s\n", vm->cfg.rootless ? " (rootless)" : "", why);
        _exit(126);
    }
}

/* What rootless cannot do, said before anything starts. */
static int qemu_rootless_check(const struct vm *vm, struct kerr **err)
{
    if (vm->vsock && vm->vsock_fd < 0)
        return kerr_make(err, ENOTSUP, "rootless QEMU: vhost-vsock needs its fd passed");
    if (vm->cfg.n_net_devices > 0 && !vm->cfg.disable_vhost_net &&
        access(VHOST_NET_DEVICE, R_OK | W_OK) == 0)
        log_warn("rootless QEMU cannot open `%s`: virtio-net runs without vhost-net",
                 VHOST_NET_DEVICE);
    if (vm_shared_fs_kind(vm->cfg.shared_fs, NULL) == VM_SHARED_FS_VIRTIO_9P)
        return kerr_make(err, ENOTSUP,
                         "rootless QEMU cannot serve shared_fs = \"virtio-9p\" (it would open "
                         "`%s` as its own uid): use virtio-fs or rootless = false",
                         vm->cfg.shared_dir ? vm->cfg.shared_dir : "");
    return vm_rootless_range_free(err);
}

static void qemu_close_vmm_fd(struct vm *vm)
{
    if (vm->virtiofsd.vmm_fd >= 0)
        close(vm->virtiofsd.vmm_fd);
    vm->virtiofsd.vmm_fd = -1;
}

static int qemu_start(struct vm *vm, struct kerr **err)
{
    struct qemu_state *qs = qemu_state(vm);
    vm->virtiofsd.vmm_fd = -1; /* vm_init zeroed it */
    if (vm_check_files(vm, err) < 0 || qemu_prepare_channel(vm, err) < 0)
        return -1;
    /* QMP: we listen; QEMU inherits the socket; we connect at once (the
     * connection waits in the backlog until QEMU's main loop accepts it). */
    qs->qmp_socket = xasprintf("%s/qmp.sock", vm->cfg.run_dir);
    qs->qmp_listen = unix_listen(qs->qmp_socket, err);
    if (qs->qmp_listen < 0)
        return -1;
    if (vm->cfg.rootless && qemu_rootless_check(vm, err) < 0)
        return -1;
    if (vm_start_virtiofsd(vm, err) < 0)
        return -1;
    if (vm->cfg.rootless && vm->virtiofsd.socket_path) {
        vm->virtiofsd.vmm_fd = unix_connect(vm->virtiofsd.socket_path, err);
        if (vm->virtiofsd.vmm_fd < 0) {
            virtiofsd_stop(&vm->virtiofsd, 1000000000ull);
            return -1;
        }
    }
    char **argv = qemu_build_argv(vm, err);
    if (argv == NULL) {
        qemu_close_vmm_fd(vm);
        virtiofsd_stop(&vm->virtiofsd, 1000000000ull);
        return -1;
    }
    int r = vm_spawn(vm, argv, "qemu.log", "QEMU", qemu_child_setup, err);
    qemu_argv_free(argv);
    /* QEMU has its copies of what it inherits. */
    qemu_close_vmm_fd(vm);
    if (vm->cfg.rootless && vm->agent_listen >= 0) {
        close(vm->agent_listen);
        vm->agent_listen = -1;
    }
    if (r == 0)
        qs->qmp_fd = unix_connect(qs->qmp_socket, err);
    /* Only QEMU listens from here: if it dies, connecting fails. */
    close(qs->qmp_listen);
    qs->qmp_listen = -1;
    if (r < 0 || qs->qmp_fd < 0) {
        cleanup_kerr struct kerr *stop_err = NULL;
        vm->ops->stop(vm, 0, &stop_err);
        virtiofsd_stop(&vm->virtiofsd, 1000000000ull);
        return -1;
    }
    return 0;
}

/* The QMP session, negotiated on first use. */
static struct qmp *qemu_qmp(struct vm *vm, struct kerr **err)
{
    struct qemu_state *qs = qemu_state(vm);
    if (qs->qmp)
        return qs->qmp;
    if (qs->qmp_fd < 0) {
        kerr_make(err, ENOTCONN, "QMP of this VM is not connected");
        return NULL;
    }
    qs->qmp = qmp_open(steal_fd(&qs->qmp_fd), QEMU_QMP_TIMEOUT_NS, err);
    return qs->qmp;
}

static int qemu_qmp_simple(struct vm *vm, const char *command, struct kerr **err)
{
    struct qmp *q = qemu_qmp(vm, err);
    if (q == NULL)
        return -1;
    return qmp_execute(q, command, NULL, NULL, QEMU_QMP_TIMEOUT_NS, err);
}

static int qemu_pause(struct vm *vm, struct kerr **err)
{
    return qemu_qmp_simple(vm, "stop", err);
}

static int qemu_resume(struct vm *vm, struct kerr **err)
{
    return qemu_qmp_simple(vm, "cont", err);
}

static char *qemu_status(struct vm *vm, struct kerr **err)
{
    struct qmp *q = qemu_qmp(vm, err);
    char *status = NULL;
    if (q == NULL || qmp_query_status(q, &status, NULL, QEMU_QMP_TIMEOUT_NS, err) < 0)
        return NULL;
    return status;
}

/* Where hotplugged disks go: root ports hotplugK (virtio-blk-pci, q35) or
 * targets K of the scsi0 controller (scsi-hd).  Each table holds the device
 * id per slot, NULL when free. */
struct hotplug_slots {
    char **ids;
    unsigned n;
};

static struct hotplug_slots qemu_hotplug_slots(struct vm *vm, bool scsi)
{
    struct qemu_state *qs = qemu_state(vm);
    if (scsi)
        return (struct hotplug_slots){qs->scsi_ids,
                                      vm->cfg.scsi_controller ? QEMU_SCSI_TARGETS_MAX : 0};
    unsigned n = is_microvm(vm) ? 0 : vm->cfg.hotplug_slots;
    return (struct hotplug_slots){qs->hotplug_ids,
                                  n < Q35_MAX_HOTPLUG_SLOTS ? n : Q35_MAX_HOTPLUG_SLOTS};
}

static int qemu_slot_of(struct hotplug_slots t, const char *id)
{
    for (unsigned k = 0; k < t.n; k++)
        if (t.ids[k] && strcmp(t.ids[k], id) == 0)
            return (int)k;
    return -1;
}

static int qemu_slot_free(struct hotplug_slots t)
{
    for (unsigned k = 0; k < t.n; k++)
        if (t.ids[k] == NULL)
            return (int)k;
    return -1;
}

static struct json_object *qemu_blockdev_args(const struct vm_block_device *dev, const char *node)
{
    /* cache.direct: as the boot disks' cache=none (no host page cache). */
    struct json_object *cache = json_object_new_object();
    json_object_object_add(cache, "direct", json_object_new_boolean(true));
    /* QEMU >= 6.0 opens a block device only with the host_device driver. */
    struct stat st;
    bool bdev = stat(dev->path, &st) == 0 && S_ISBLK(st.st_mode);
    struct json_object *file = json_object_new_object();
    json_object_object_add(file, "driver", json_object_new_string(bdev ? "host_device" : "file"));
    json_object_object_add(file, "filename", json_object_new_string(dev->path));
    struct json_object *blk = json_object_new_object();
    json_object_object_add(blk, "driver", json_object_new_string("raw"));
    json_object_object_add(blk, "node-name", json_object_new_string(node));
    json_object_object_add(blk, "read-only", json_object_new_boolean(dev->readonly));
    json_object_object_add(blk, "cache", cache);
    json_object_object_add(blk, "file", file);
    return blk;
}

/* virtio-blk-pci on root port `slot`, or scsi-hd at target `slot`, LUN 0. */
static struct json_object *qemu_device_args(const struct vm_block_device *dev, const char *node,
                                            int slot)
{
    struct json_object *device = json_object_new_object();
    json_object_object_add(device, "driver",
                           json_object_new_string(dev->scsi ? "scsi-hd" : "virtio-blk-pci"));
    json_object_object_add(device, "id", json_object_new_string(dev->id));
    json_object_object_add(device, "drive", json_object_new_string(node));
    json_object_object_add(device, "serial", json_object_new_string(dev->id));
    if (dev->scsi) {
        json_object_object_add(device, "bus", json_object_new_string("scsi0.0"));
        json_object_object_add(device, "channel", json_object_new_int(0));
        json_object_object_add(device, "scsi-id", json_object_new_int(slot));
        json_object_object_add(device, "lun", json_object_new_int(0));
    } else {
        cleanup_free char *bus = xasprintf("hotplug%d", slot);
        json_object_object_add(device, "bus", json_object_new_string(bus));
        json_object_object_add(device, "addr", json_object_new_string("0"));
    }
    return device;
}

static int qemu_hotplug_block(struct vm *vm, const struct vm_block_device *dev, char **guest_path,
                              struct kerr **err)
{
    if (!qemu_id_valid(dev->id))
        return kerr_make(err, EINVAL, "hotplug: block device id `%s`", dev->id ? dev->id : "");
    if (vm->cfg.rootless)
        return kerr_make(err, ENOTSUP,
                         "hotplug `%s`: rootless QEMU cannot open `%s` (hotplug needs QEMU as "
                         "root; set rootless = false)",
                         dev->id, dev->path);
    if (dev->scsi && !vm->cfg.scsi_controller)
        return kerr_make(err, ENOTSUP, "hotplug `%s`: this VM has no virtio-scsi controller",
                         dev->id);
    if (!dev->scsi && is_microvm(vm))
        return kerr_make(err, ENOTSUP,
                         "hotplug `%s`: microvm has no PCI hotplug (virtio-scsi disks can be "
                         "hotplugged)",
                         dev->id);
    if (qemu_slot_of(qemu_hotplug_slots(vm, false), dev->id) >= 0 ||
        qemu_slot_of(qemu_hotplug_slots(vm, true), dev->id) >= 0)
        return kerr_make(err, EEXIST, "hotplug `%s`: already plugged", dev->id);
    struct hotplug_slots slots = qemu_hotplug_slots(vm, dev->scsi);
    int slot = qemu_slot_free(slots);
    if (slot < 0)
        return kerr_make(err, ENOSPC, "hotplug `%s`: all %u %s are used", dev->id, slots.n,
                         dev->scsi ? "SCSI targets" : "hotplug slots");
    struct qmp *q = qemu_qmp(vm, err);
    if (q == NULL)
        return kerr_wrap(err, "hotplug `%s`", dev->id);
    cleanup_free char *node = xasprintf("drive-%s", dev->id);
    if (qmp_execute(q, "blockdev-add", qemu_blockdev_args(dev, node), NULL, QEMU_QMP_TIMEOUT_NS,
                    err) < 0)
        return kerr_wrap(err, "hotplug `%s`", dev->id);
    if (qmp_execute(q, "device_add", qemu_device_args(dev, node, slot), NULL, QEMU_QMP_TIMEOUT_NS,
                    err) < 0) {
        struct json_object *del = json_object_new_object();
        json_object_object_add(del, "node-name", json_object_new_string(node));
        qmp_execute(q, "blockdev-del", del, NULL, QEMU_QMP_TIMEOUT_NS, NULL);
        return kerr_wrap(err, "hotplug `%s`", dev->id);
    }
    slots.ids[slot] = xstrdup(dev->id);
    if (guest_path)
        *guest_path = dev->scsi ? xasprintf("%d:0", slot)
                                : xasprintf("%02x/00", Q35_HOTPLUG_SLOT_FIRST + slot);
    return 0;
}

struct device_deleted {
    const char *id;
    bool seen;
};

static void qemu_on_device_deleted(const char *name, struct json_object *data, void *cb_data)
{
    struct device_deleted *d = cb_data;
    struct json_object *dev;
    if (strcmp(name, "DEVICE_DELETED") == 0 && data &&
        json_object_object_get_ex(data, "device", &dev) &&
        strcmp(json_object_get_string(dev), d->id) == 0)
        d->seen = true;
}

/* device_del asks the guest to eject (ACPI or PCIe attention button; a SCSI
 * disk goes at once, the guest is told); the device is gone at
 * DEVICE_DELETED, then its block node can go. */
static int qemu_unplug_block(struct vm *vm, const char *id, uint64_t timeout_ns, struct kerr **err)
{
    struct hotplug_slots slots = qemu_hotplug_slots(vm, false);
    int slot = qemu_slot_of(slots, id);
    if (slot < 0) {
        slots = qemu_hotplug_slots(vm, true);
        slot = qemu_slot_of(slots, id);
    }
    if (slot < 0)
        return kerr_make(err, ENOENT, "unplug `%s`: not a hotplugged device", id);
    struct qmp *q = qemu_qmp(vm, err);
    if (q == NULL)
        return kerr_wrap(err, "unplug `%s`", id);
    struct device_deleted d = {.id = id};
    qmp_set_event_cb(q, qemu_on_device_deleted, &d);
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "id", json_object_new_string(id));
    int r = qmp_execute(q, "device_del", args, NULL, QEMU_QMP_TIMEOUT_NS, err);
    if (r == 0)
        r = qmp_wait_for(q, &d.seen, timeout_ns, err);
    qmp_set_event_cb(q, NULL, NULL);
    if (r < 0)
        return kerr_wrap(err, "unplug `%s`", id);
    cleanup_free char *node = xasprintf("drive-%s", id);
    struct json_object *del = json_object_new_object();
    json_object_object_add(del, "node-name", json_object_new_string(node));
    if (qmp_execute(q, "blockdev-del", del, NULL, QEMU_QMP_TIMEOUT_NS, err) < 0)
        return kerr_wrap(err, "unplug `%s`", id);
    free(slots.ids[slot]);
    slots.ids[slot] = NULL;
    return 0;
}

/* The agent listens on vsock port 1024 once it is up: connect until it
 * accepts (a guest not listening yet resets the connection). */
static int vsock_connect_once(struct vm *vm, struct kerr **err)
{
    return vsock_connect(vm->cid, AGENT_VSOCK_PORT, err);
}

static int qemu_agent_connect_vsock(struct vm *vm, uint64_t timeout_ns, struct kerr **err)
{
    cleanup_free char *channel = xasprintf("on vsock CID %u port %d", vm->cid, AGENT_VSOCK_PORT);
    return vm_connect_until(vm, "QEMU", channel, timeout_ns, vsock_connect_once, err);
}

/* Rootless: QEMU listens on the socket it inherited. */
static int qemu_agent_dial(struct vm *vm, struct kerr **err)
{
    return unix_connect(vm->agent_socket, err);
}

static int qemu_agent_connect(struct vm *vm, uint64_t timeout_ns, struct kerr **err)
{
    /* Negotiated now, QMP gets QEMU's events: how the guest ended if QEMU
     * exits before the agent answers (qemu_exit_reason). */
    qemu_qmp(vm, NULL);
    if (vm->vsock)
        return qemu_agent_connect_vsock(vm, timeout_ns, err);
    if (vm->cfg.rootless)
        return vm_connect_until(vm, "QEMU", vm->agent_socket, timeout_ns, qemu_agent_dial, err);
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
        if (vm_check_exited(vm, "QEMU", err) < 0)
            return -1;
        int fs_status;
        if (vm->virtiofsd.socket_path && virtiofsd_exited(&vm->virtiofsd, &fs_status))
            return kerr_make(err, 0, "virtiofsd exited (status %d) before the agent was up",
                             WIFEXITED(fs_status) ? WEXITSTATUS(fs_status)
                                                  : 128 + WTERMSIG(fs_status));
        if (now_ns() >= deadline)
            return kerr_make(err, ETIMEDOUT, "wait for QEMU to connect `%s`", vm->agent_socket);
    }
}

/* Graceful: QMP `quit` (QEMU flushes its disks); else SIGTERM; SIGKILL after
 * grace_ns.  virtiofsd goes after QEMU, whose vhost-user peer it is. */
static int qemu_stop(struct vm *vm, uint64_t grace_ns, struct kerr **err)
{
    int status = 0;
    if (vm->pid > 0) {
        struct qmp *q = grace_ns > 0 ? qemu_qmp(vm, NULL) : NULL;
        if (q == NULL ||
            qmp_execute(q, "quit", NULL, NULL,
                        grace_ns < QEMU_QMP_TIMEOUT_NS ? grace_ns : QEMU_QMP_TIMEOUT_NS, NULL) < 0)
            kill(vm->pid, SIGTERM);
        if (vm_wait_exit(vm, grace_ns) < 0 && errno == ETIMEDOUT) {
            kill(vm->pid, SIGKILL);
            if (vm_wait_exit(vm, 5000000000ull) < 0 && errno == ETIMEDOUT)
                status = kerr_make(err, ETIMEDOUT, "QEMU pid %d did not exit after SIGKILL",
                                   (int)vm->pid);
        }
    }
    virtiofsd_stop(&vm->virtiofsd, grace_ns ? grace_ns : 1000000000ull);
    return status;
}

/* QEMU exits 0 whether the guest powered off or reset (-no-reboot: a reboot,
 * a triple fault, a kernel panic with panic=-1): the SHUTDOWN event still
 * unread on the QMP session (negotiated by agent_connect) says which. */
static void qemu_on_shutdown(const char *name, struct json_object *data, void *cb_data)
{
    const char **reason = cb_data;
    struct json_object *why = NULL;
    if (strcmp(name, "GUEST_PANICKED") == 0)
        *reason = "the guest panicked";
    if (strcmp(name, "SHUTDOWN") != 0 || *reason || data == NULL ||
        !json_object_object_get_ex(data, "reason", &why) ||
        !json_object_is_type(why, json_type_string))
        return;
    if (strcmp(json_object_get_string(why), "guest-shutdown") == 0)
        *reason = "the guest powered off";
    else if (strcmp(json_object_get_string(why), "guest-reset") == 0)
        *reason = "the guest reset the VM (a reboot, a triple fault, or a guest kernel panic "
                  "with panic=-1)";
    else if (strcmp(json_object_get_string(why), "guest-panic") == 0)
        *reason = "the guest panicked";
}

static const char *qemu_exit_reason(struct vm *vm, int wait_status)
{
    const char *reason = NULL;
    bool never = false;
    struct qemu_state *qs = vm->priv;
    if (qs == NULL || qs->qmp == NULL || !WIFEXITED(wait_status))
        return NULL;
    qmp_set_event_cb(qs->qmp, qemu_on_shutdown, &reason);
    cleanup_kerr struct kerr *eof = NULL; /* QEMU is gone: read up to the end */
    qmp_wait_for(qs->qmp, &never, 200 * 1000 * 1000, &eof);
    qmp_set_event_cb(qs->qmp, NULL, NULL);
    return reason;
}

/* microvm has no PCI hotplug: its disks attach at boot, or hot-plug on the
 * virtio-scsi controller. */
static void qemu_capabilities(const struct vm_config *cfg, struct vm_capabilities *caps)
{
    caps->shared_fs = VM_CAP_FS(VM_SHARED_FS_NONE) | VM_CAP_FS(VM_SHARED_FS_VIRTIO_FS) |
                      VM_CAP_FS(VM_SHARED_FS_VIRTIO_9P);
    caps->blk_hotplug = !(cfg->machine_type && strcmp(cfg->machine_type, "microvm") == 0);
    caps->scsi_hotplug = true;
    caps->needs_binary = true;
    caps->runs_without_kvm = true;
    caps->agent_channel = "vsock (vhost-vsock), else virtio-serial";
}

struct qemu_state *qemu_state(struct vm *vm)
{
    if (vm->priv == NULL) {
        struct qemu_state *qs = xcalloc(1, sizeof(*qs));
        qs->qmp_listen = qs->qmp_fd = -1;
        vm->priv = qs;
    }
    return vm->priv;
}

/* The QMP session and its socket, the hotplug tables. */
static void qemu_release(struct vm *vm)
{
    struct qemu_state *qs = vm->priv;
    if (qs == NULL)
        return;
    qmp_close(qs->qmp);
    if (qs->qmp_fd >= 0)
        close(qs->qmp_fd);
    if (qs->qmp_listen >= 0)
        close(qs->qmp_listen);
    if (qs->qmp_socket)
        unlink(qs->qmp_socket);
    free(qs->qmp_socket);
    for (size_t i = 0; i < QEMU_HOTPLUG_SLOTS_MAX; i++)
        free(qs->hotplug_ids[i]);
    for (size_t i = 0; i < QEMU_SCSI_TARGETS_MAX; i++)
        free(qs->scsi_ids[i]);
    free(qs);
    vm->priv = NULL;
}

const struct hypervisor_ops qemu_ops = {
    .name = "qemu",
    .capabilities = qemu_capabilities,
    .start = qemu_start,
    .agent_connect = qemu_agent_connect,
    .stop = qemu_stop,
    .pause = qemu_pause,
    .resume = qemu_resume,
    .status = qemu_status,
    .hotplug_block = qemu_hotplug_block,
    .unplug_block = qemu_unplug_block,
    .pids = vm_process_pids,
    .exit_reason = qemu_exit_reason,
    .release = qemu_release,
};
