/* The `stratovirt` hypervisor: openEuler's StratoVirt as Kata's Go runtime
 * drives it (virtcontainers/stratovirt.go), with the syntax of StratoVirt's
 * config guidebook and QMP document.  Never run against a real StratoVirt
 * binary here (none on the build hosts): docs/hypervisor.md says what was
 * checked and how.
 *
 * `-machine microvm` only: virtio-mmio devices, KVM only.  The agent is on
 * vhost-vsock (microvm's virtio-serial has a single console port and
 * StratoVirt's ports carry no name for our agent to find); the guest console
 * is the legacy serial port (ttyS0); virtio-fs is a vhost-user-fs-device on
 * virtiofsd's socket; disks are virtio-blk-device, and hot-plug into
 * microvm's replaceable slots over QMP (`blockdev-add` + `device_add
 * virtio-blk-mmio`, `device_del`).  QMP: StratoVirt binds the socket
 * (`-qmp unix:PATH,server,nowait`) and takes only string command ids. */
#include "stratovirt.h"
#include "channel.h"
#include "config.h"
#include "qmp.h"
#include "util.h"
#include "vm_process.h"

#include <json-c/json.h>

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

#define STRATOVIRT                "StratoVirt"
#define STRATOVIRT_QMP_TIMEOUT_NS (10ull * 1000 * 1000 * 1000)
/* From the exec to the QMP socket's greeting (StratoVirt binds it while it
 * builds the VM, before the guest runs). */
#define STRATOVIRT_QMP_WAIT_NS (30ull * 1000 * 1000 * 1000)
#define STRATOVIRT_MEMORY_MIN  128u           /* MiB: the guidebook's range, 1.3.1 */
#define STRATOVIRT_MEMORY_MAX  (512u * 1024u) /* 512 GiB */
#define STRATOVIRT_VCPUS_MAX   254u
#define STRATOVIRT_TAG_MAX     36 /* virtio-fs tag bytes (MAX_TAG_LENGTH) */
#define VHOST_NET_DEVICE       "/dev/vhost-net"
/* The guest's serial port writes to our fd 1 (a pipe): StratoVirt's `stdio`
 * backend needs a terminal on stdin, and a `file` backend opens its path
 * read-write without O_APPEND, so it gets the pipe through /proc. */
#define STRATOVIRT_SERIAL "file,path=/proc/self/fd/1"
/* microvm has no PCI, no IOMMU and no ACPI tables: StratoVirt lists the
 * virtio-mmio devices on the kernel command line (as Kata passes them). */
#define STRATOVIRT_KERNEL_PARAMS "pci=off iommu=off acpi=off"

static void add(char ***argv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(char ***argv, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kata_strv_push(argv, xvasprintf(fmt, ap));
    va_end(ap);
}

/* Device ids are virtio-blk serials too (20 bytes). */
static bool id_valid(const char *id)
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

static bool mac_valid(const char *mac)
{
    unsigned b[6];
    char tail;
    return mac && strlen(mac) == 17 &&
           sscanf(mac, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
                  &tail) == 6;
}

/* StratoVirt splits option values at commas and has no escape for them. */
static int path_valid(const char *what, const char *path, struct kerr **err)
{
    if (path == NULL || *path != '/')
        return kerr_make(err, EINVAL, "%s `%s`: an absolute path is required", what,
                         path ? path : "");
    if (strchr(path, ','))
        return kerr_make(err, EINVAL,
                         "%s `%s`: StratoVirt cannot take a path with a comma in its options", what,
                         path);
    return 0;
}

static bool vhost_net(const struct vm_config *cfg)
{
    return cfg->n_net_devices > 0 && !cfg->disable_vhost_net &&
           access(VHOST_NET_DEVICE, R_OK | W_OK) == 0;
}

/* What microvm cannot take, said before anything starts. */
static int check_config(const struct vm *vm, struct kerr **err)
{
    const struct vm_config *cfg = &vm->cfg;
    if (cfg->machine_type && strcmp(cfg->machine_type, "microvm") != 0)
        return kerr_make(err, EINVAL, "machine_type `%s`: the stratovirt driver runs `microvm`",
                         cfg->machine_type);
    if (cfg->kernel == NULL || (cfg->initrd == NULL && cfg->image == NULL))
        return kerr_make(err, EINVAL, "a kernel and an initrd or image are required");
    enum vm_shared_fs fs = vm_shared_fs_kind(cfg->shared_fs, err);
    if ((int)fs < 0)
        return -1;
    if (fs == VM_SHARED_FS_VIRTIO_9P)
        return kerr_make(err, ENOTSUP,
                         "shared_fs `%s`: StratoVirt has no 9p (use \"virtio-fs\" or \"none\")",
                         cfg->shared_fs);
    if (cfg->rootless)
        return kerr_make(err, ENOTSUP, "rootless: not supported by the stratovirt driver");
    if (cfg->scsi_controller)
        return kerr_make(err, ENOTSUP, "StratoVirt's microvm has no virtio-scsi controller");
    unsigned memory = cfg->memory_mb ? cfg->memory_mb : 256;
    if (memory < STRATOVIRT_MEMORY_MIN || memory > STRATOVIRT_MEMORY_MAX)
        return kerr_make(err, EINVAL, "default_memory %u MiB: StratoVirt takes %u to %u", memory,
                         STRATOVIRT_MEMORY_MIN, STRATOVIRT_MEMORY_MAX);
    if (cfg->vcpus > STRATOVIRT_VCPUS_MAX)
        return kerr_make(err, EINVAL, "%u vCPUs: StratoVirt runs at most %u", cfg->vcpus,
                         STRATOVIRT_VCPUS_MAX);
    size_t disks = cfg->n_block_devices + (cfg->image != NULL);
    if (disks > STRATOVIRT_BLK_SLOTS)
        return kerr_make(err, E2BIG, "%zu disks at boot: microvm takes at most %d virtio-blk",
                         disks, STRATOVIRT_BLK_SLOTS);
    bool vhost = vhost_net(cfg);
    if (!vhost && cfg->n_net_devices > STRATOVIRT_NET_SLOTS)
        return kerr_make(err, E2BIG, "%zu network devices: microvm takes at most %d without vhost",
                         cfg->n_net_devices, STRATOVIRT_NET_SLOTS);
    /* The replaceable slots, then rng, the agent's vsock, virtio-fs and
     * vhost-net devices. */
    size_t devices = STRATOVIRT_BLK_SLOTS + STRATOVIRT_NET_SLOTS + 2 +
                     (fs == VM_SHARED_FS_VIRTIO_FS) + (vhost ? cfg->n_net_devices : 0);
    if (devices > STRATOVIRT_MMIO_DEVICES_MAX)
        return kerr_make(err, E2BIG, "%zu virtio-mmio devices: microvm takes at most %d", devices,
                         STRATOVIRT_MMIO_DEVICES_MAX);
    if (!vm->vsock)
        return kerr_make(err, ENOTSUP,
                         "the stratovirt driver needs `%s` for the agent (microvm's "
                         "virtio-serial has one unnamed console port)",
                         VHOST_VSOCK_DEVICE);
    return 0;
}

static char *kernel_cmdline(const struct vm *vm)
{
    /* StratoVirt's parameters before the user's, which come last and win. */
    struct vm copy = *vm;
    cleanup_free char *params =
        vm->cfg.kernel_params && *vm->cfg.kernel_params
            ? xasprintf("%s %s", STRATOVIRT_KERNEL_PARAMS, vm->cfg.kernel_params)
            : xstrdup(STRATOVIRT_KERNEL_PARAMS);
    copy.cfg.kernel_params = params;
    return vm_kernel_cmdline(&copy);
}

/* The image (slot 0, root=/dev/vda) then the boot disks, in slot order. */
static int add_disks(char ***argv, const struct vm *vm, struct kerr **err)
{
    const struct vm_config *cfg = &vm->cfg;
    if (cfg->image) {
        if (path_valid("guest image", cfg->image, err) < 0)
            return -1;
        /* Read-only, as Kata attaches it: the guest's rw root falls back to ro. */
        add(argv, "-drive");
        add(argv, "id=image,file=%s,readonly=on,direct=off", cfg->image);
        add(argv, "-device");
        add(argv, "virtio-blk-device,drive=image,id=image");
    }
    for (size_t i = 0; i < cfg->n_block_devices; i++) {
        const struct vm_block_device *d = &cfg->block_devices[i];
        if (!id_valid(d->id) || strcmp(d->id, "image") == 0)
            return kerr_make(err, EINVAL,
                             "block device id `%s`: 1 to 20 letters, digits, `-` or `_`, not "
                             "`image`",
                             d->id ? d->id : "");
        if (path_valid("block device", d->path, err) < 0)
            return -1;
        add(argv, "-drive");
        add(argv, "id=drive-%s,file=%s,readonly=%s,direct=on", d->id, d->path,
            d->readonly ? "on" : "off");
        add(argv, "-device");
        add(argv, "virtio-blk-device,drive=drive-%s,id=%s,serial=%s", d->id, d->id, d->id);
    }
    return 0;
}

/* -netdev tap,fd=N: StratoVirt inherits the caller's tap. */
static int add_nets(char ***argv, const struct vm *vm, struct kerr **err)
{
    const struct vm_config *cfg = &vm->cfg;
    bool vhost = vhost_net(cfg);
    for (size_t i = 0; i < cfg->n_net_devices; i++) {
        const struct vm_net_device *d = &cfg->net_devices[i];
        if (d->tap_fd < 0)
            return kerr_make(err, EBADF, "network device %zu: no tap fd", i);
        if (!mac_valid(d->mac))
            return kerr_make(err, EINVAL, "network device %zu: bad MAC `%s`", i,
                             d->mac ? d->mac : "");
        add(argv, "-netdev");
        add(argv, "tap,id=net%zu,fd=%d%s", i, d->tap_fd, vhost ? ",vhost=on" : "");
        add(argv, "-device");
        add(argv, "virtio-net-device,id=net%zu,netdev=net%zu,mac=%s", i, i, d->mac);
    }
    return 0;
}

static int add_share(char ***argv, const struct vm *vm, struct kerr **err)
{
    if (vm_shared_fs_kind(vm->cfg.shared_fs, NULL) != VM_SHARED_FS_VIRTIO_FS)
        return 0;
    const char *tag = vm->cfg.share_tag ? vm->cfg.share_tag : VM_SHARE_TAG_DEFAULT;
    if (*tag == '\0' || strlen(tag) > STRATOVIRT_TAG_MAX || strchr(tag, ','))
        return kerr_make(err, EINVAL, "share tag `%s`: 1 to %d bytes, no comma", tag,
                         STRATOVIRT_TAG_MAX);
    if (vm->virtiofsd.socket_path == NULL)
        return kerr_make(err, EINVAL, "virtio-fs: virtiofsd is not started");
    if (path_valid("virtiofsd socket", vm->virtiofsd.socket_path, err) < 0)
        return -1;
    /* StratoVirt connects to virtiofsd's socket (a client chardev: no
     * server,nowait, which its vhost-user-fs refuses). */
    add(argv, "-chardev");
    add(argv, "socket,id=virtiofs,path=%s", vm->virtiofsd.socket_path);
    add(argv, "-device");
    add(argv, "vhost-user-fs-device,id=virtiofs0,chardev=virtiofs,tag=%s", tag);
    return 0;
}

char **stratovirt_build_argv(const struct vm *vm, struct kerr **err)
{
    const struct vm_config *cfg = &vm->cfg;
    const struct stratovirt_state *ss = vm->priv;
    if (check_config(vm, err) < 0)
        return NULL;
    if (ss == NULL || ss->qmp_socket == NULL || path_valid("QMP socket", ss->qmp_socket, err) < 0) {
        if (ss == NULL || ss->qmp_socket == NULL)
            kerr_make(err, EINVAL, "StratoVirt's QMP socket is not set");
        return NULL;
    }
    bool share = vm_shared_fs_kind(cfg->shared_fs, NULL) == VM_SHARED_FS_VIRTIO_FS;
    char **argv = xcalloc(1, sizeof(char *));
    add(&argv, "%s", cfg->hypervisor_path);
    add(&argv, "-machine");
    /* virtio-fs: guest memory virtiofsd can map. */
    add(&argv, "type=microvm,dump-guest-core=off%s", share ? ",mem-share=on" : "");
    add(&argv, "-smp");
    add(&argv, "%u", cfg->vcpus ? cfg->vcpus : 1);
    add(&argv, "-m");
    add(&argv, "%u", cfg->memory_mb ? cfg->memory_mb : 256);
    add(&argv, "-kernel");
    add(&argv, "%s", cfg->kernel);
    if (cfg->initrd) {
        add(&argv, "-initrd");
        add(&argv, "%s", cfg->initrd);
    }
    cleanup_free char *cmdline = kernel_cmdline(vm);
    add(&argv, "-append");
    add(&argv, "%s", cmdline);
    add(&argv, "-qmp");
    add(&argv, "unix:%s,server,nowait", ss->qmp_socket);
    add(&argv, "-D"); /* its log on stderr: our bounded log relay */
    add(&argv, "-serial");
    add(&argv, STRATOVIRT_SERIAL);
    if (add_disks(&argv, vm, err) < 0 || add_nets(&argv, vm, err) < 0 ||
        add_share(&argv, vm, err) < 0) {
        kata_strv_free(argv);
        return NULL;
    }
    add(&argv, "-device");
    if (vm->vsock_fd >= 0)
        add(&argv, "vhost-vsock-device,id=vsock0,guest-cid=%u,vhostfd=%d", vm->cid, vm->vsock_fd);
    else
        add(&argv, "vhost-vsock-device,id=vsock0,guest-cid=%u", vm->cid);
    add(&argv, "-object");
    add(&argv, "rng-random,id=objrng0,filename=/dev/urandom");
    add(&argv, "-device");
    add(&argv, "virtio-rng-device,rng=objrng0,id=rng0");
    return argv;
}

/* In the child before exec: the serial's pipe on fd 1, the fds the command
 * line names kept open, then no capabilities and no_new_privs (as QEMU). */
static void child_setup(struct vm *vm)
{
    struct stratovirt_state *ss = stratovirt_state(vm);
    if (ss->console_fd >= 0 && dup2(ss->console_fd, 1) < 0) {
        dprintf(2, "confine StratoVirt: console relay: %s\n", strerror(errno));
        _exit(126);
    }
    if (vm->vsock_fd >= 0)
        fd_set_cloexec(vm->vsock_fd, false); /* vhostfd= */
    for (size_t i = 0; i < vm->cfg.n_net_devices; i++)
        fd_set_cloexec(vm->cfg.net_devices[i].tap_fd, false); /* -netdev tap,fd= */
    char why[512];
    if (vm_child_drop_privileges(false, (gid_t)-1, why, sizeof(why)) < 0) {
        dprintf(2, "confine StratoVirt: %s\n", why);
        _exit(126);
    }
}

/* StratoVirt binds its QMP socket while it builds the VM: connect until it
 * answers, it exits, or STRATOVIRT_QMP_WAIT_NS passes; then negotiate. */
static int qmp_wait(struct vm *vm, struct kerr **err)
{
    struct stratovirt_state *ss = stratovirt_state(vm);
    uint64_t deadline = now_ns() + STRATOVIRT_QMP_WAIT_NS;
    for (;;) {
        cleanup_kerr struct kerr *last = NULL;
        int fd = unix_connect(ss->qmp_socket, &last);
        if (fd >= 0) {
            cleanup_kerr struct kerr *open_err = NULL;
            uint64_t now = now_ns();
            ss->qmp =
                qmp_open_ids(fd, QMP_ID_STRING, deadline > now ? deadline - now : 1, &open_err);
            if (ss->qmp)
                return 0;
            /* Its exit says more than the closed connection. */
            if (vm_check_exited(vm, STRATOVIRT, err) < 0)
                return -1;
            return kerr_make(err, 0, "StratoVirt's QMP `%s`: %s", ss->qmp_socket, open_err->msg);
        }
        if (vm_check_exited(vm, STRATOVIRT, err) < 0)
            return -1;
        if (now_ns() >= deadline)
            return kerr_make(err, ETIMEDOUT, "wait for StratoVirt's QMP socket `%s` (%s)",
                             ss->qmp_socket, last ? last->msg : "no answer");
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* Boot disks take the replaceable slots in command-line order. */
static void record_boot_disks(struct vm *vm)
{
    struct stratovirt_state *ss = stratovirt_state(vm);
    unsigned slot = 0;
    if (vm->cfg.image)
        ss->blk_ids[slot++] = xstrdup("image");
    for (size_t i = 0; i < vm->cfg.n_block_devices && slot < STRATOVIRT_BLK_SLOTS; i++)
        ss->blk_ids[slot++] = xstrdup(vm->cfg.block_devices[i].id);
}

static int stratovirt_stop(struct vm *vm, uint64_t grace_ns, struct kerr **err);

int stratovirt_launch(struct vm *vm, struct kerr **err)
{
    struct stratovirt_state *ss = stratovirt_state(vm);
    if (mkdir_all(vm->cfg.run_dir, 0700, err) < 0)
        return kerr_wrap(err, "start StratoVirt");
    free(ss->qmp_socket);
    ss->qmp_socket = xasprintf("%s/qmp.sock", vm->cfg.run_dir);
    unlink(ss->qmp_socket); /* a crashed run's: StratoVirt would remove it too */
    if (check_config(vm, err) < 0 || vm_start_virtiofsd(vm, err) < 0)
        return kerr_wrap(err, "start StratoVirt `%s`", vm->cfg.hypervisor_path);
    char **argv = stratovirt_build_argv(vm, err);
    int r = argv ? 0 : -1;
    /* The console file is appended to by a relay (bounded, as the VMM logs):
     * StratoVirt's file backend would write it without O_APPEND. */
    if (r == 0 && vm->cfg.console_path) {
        ss->console_fd = vm_log_relay(vm->cfg.console_path, VM_LOG_MAX, err);
        r = ss->console_fd < 0 ? -1 : 0;
    }
    if (r == 0)
        r = vm_spawn(vm, argv, "stratovirt.log", STRATOVIRT, child_setup, err);
    kata_strv_free(argv);
    if (ss->console_fd >= 0)
        close(ss->console_fd); /* StratoVirt has its copy */
    ss->console_fd = -1;
    if (r == 0)
        r = qmp_wait(vm, err);
    if (r < 0) {
        cleanup_kerr struct kerr *stop_err = NULL;
        stratovirt_stop(vm, 0, &stop_err);
        return kerr_wrap(err, "start StratoVirt `%s`", vm->cfg.hypervisor_path);
    }
    record_boot_disks(vm);
    return 0;
}

static int stratovirt_start(struct vm *vm, struct kerr **err)
{
    if (vm_check_files(vm, err) < 0)
        return kerr_wrap(err, "start StratoVirt");
    /* vhost-vsock with a CID of our own (the agent listens on port 1024). */
    if (access(VHOST_VSOCK_DEVICE, F_OK) < 0)
        return kerr_make(err, ENOTSUP,
                         "start StratoVirt: the agent needs vhost-vsock and `%s` is missing "
                         "(modprobe vhost_vsock); microvm's virtio-serial has one unnamed "
                         "console port",
                         VHOST_VSOCK_DEVICE);
    if (vm_reserve_vsock_cid(vm, err) < 0)
        return kerr_wrap(err, "start StratoVirt");
    return stratovirt_launch(vm, err);
}

static int vsock_connect_once(struct vm *vm, struct kerr **err)
{
    return vsock_connect(vm->cid, AGENT_VSOCK_PORT, err);
}

static int stratovirt_agent_connect(struct vm *vm, uint64_t timeout_ns, struct kerr **err)
{
    cleanup_free char *channel = xasprintf("on vsock CID %u port %d", vm->cid, AGENT_VSOCK_PORT);
    return vm_connect_until(vm, STRATOVIRT, channel, timeout_ns, vsock_connect_once, err);
}

/* Graceful: QMP `quit`; else SIGTERM; SIGKILL after grace_ns.  virtiofsd
 * goes after StratoVirt, whose vhost-user back-end it is. */
static int stratovirt_stop(struct vm *vm, uint64_t grace_ns, struct kerr **err)
{
    struct stratovirt_state *ss = vm->priv;
    int status = 0;
    if (vm->pid > 0) {
        uint64_t quit_ns =
            grace_ns < STRATOVIRT_QMP_TIMEOUT_NS ? grace_ns : STRATOVIRT_QMP_TIMEOUT_NS;
        if (grace_ns == 0 || ss == NULL || ss->qmp == NULL ||
            qmp_execute(ss->qmp, "quit", NULL, NULL, quit_ns, NULL) < 0)
            kill(vm->pid, SIGTERM);
        if (vm_wait_exit(vm, grace_ns) < 0 && errno == ETIMEDOUT) {
            kill(vm->pid, SIGKILL);
            if (vm_wait_exit(vm, 5000000000ull) < 0 && errno == ETIMEDOUT)
                status = kerr_make(err, ETIMEDOUT, "StratoVirt pid %d did not exit after SIGKILL",
                                   (int)vm->pid);
        }
    }
    virtiofsd_stop(&vm->virtiofsd, grace_ns ? grace_ns : 1000000000ull);
    if (ss && ss->qmp_socket)
        unlink(ss->qmp_socket); /* left behind when StratoVirt was killed */
    return status;
}

static struct qmp *session(struct vm *vm, struct kerr **err)
{
    struct stratovirt_state *ss = vm->priv;
    if (ss == NULL || ss->qmp == NULL) {
        kerr_make(err, ENOTCONN, "StratoVirt's QMP is not connected");
        return NULL;
    }
    return ss->qmp;
}

static int qmp_simple(struct vm *vm, const char *command, struct kerr **err)
{
    struct qmp *q = session(vm, err);
    if (q == NULL)
        return -1;
    return qmp_execute(q, command, NULL, NULL, STRATOVIRT_QMP_TIMEOUT_NS, err);
}

static int stratovirt_pause(struct vm *vm, struct kerr **err)
{
    return qmp_simple(vm, "stop", err);
}

static int stratovirt_resume(struct vm *vm, struct kerr **err)
{
    return qmp_simple(vm, "cont", err);
}

static char *stratovirt_status(struct vm *vm, struct kerr **err)
{
    struct qmp *q = session(vm, err);
    char *status = NULL;
    if (q == NULL || qmp_query_status(q, &status, NULL, STRATOVIRT_QMP_TIMEOUT_NS, err) < 0)
        return NULL;
    return status;
}

static int slot_of(const struct stratovirt_state *ss, const char *id)
{
    for (int k = 0; k < STRATOVIRT_BLK_SLOTS; k++)
        if (ss->blk_ids[k] && strcmp(ss->blk_ids[k], id) == 0)
            return k;
    return -1;
}

static int slot_free(const struct stratovirt_state *ss)
{
    for (int k = 0; k < STRATOVIRT_BLK_SLOTS; k++)
        if (ss->blk_ids[k] == NULL)
            return k;
    return -1;
}

/* The QMP document's shape: node-name is the device's id on microvm. */
static struct json_object *blockdev_args(const struct vm_block_device *dev)
{
    struct json_object *file = json_object_new_object();
    json_object_object_add(file, "driver", json_object_new_string("file"));
    json_object_object_add(file, "filename", json_object_new_string(dev->path));
    struct json_object *cache = json_object_new_object();
    json_object_object_add(cache, "direct", json_object_new_boolean(true));
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "node-name", json_object_new_string(dev->id));
    json_object_object_add(args, "file", file);
    json_object_object_add(args, "cache", cache);
    json_object_object_add(args, "read-only", json_object_new_boolean(dev->readonly));
    return args;
}

static struct json_object *id_args(const char *key, const char *id)
{
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, key, json_object_new_string(id));
    return args;
}

/* A replaceable slot of microvm takes the disk: `blockdev-add` then
 * `device_add virtio-blk-mmio` at addr K; the guest finds /dev/vd<'a'+K>. */
static int stratovirt_hotplug_block(struct vm *vm, const struct vm_block_device *dev,
                                    char **guest_path, struct kerr **err)
{
    if (!id_valid(dev->id) || strcmp(dev->id, "image") == 0)
        return kerr_make(err, EINVAL, "hotplug: block device id `%s`", dev->id ? dev->id : "");
    if (dev->scsi)
        return kerr_make(err, ENOTSUP, "hotplug `%s`: StratoVirt's microvm has no virtio-scsi",
                         dev->id);
    if (dev->path == NULL || *dev->path != '/')
        return kerr_make(err, EINVAL, "hotplug `%s`: path `%s` is not absolute", dev->id,
                         dev->path ? dev->path : "");
    struct stratovirt_state *ss = stratovirt_state(vm);
    if (slot_of(ss, dev->id) >= 0)
        return kerr_make(err, EEXIST, "hotplug `%s`: already plugged", dev->id);
    int slot = slot_free(ss);
    if (slot < 0)
        return kerr_make(err, ENOSPC, "hotplug `%s`: all %d virtio-blk slots of microvm are used",
                         dev->id, STRATOVIRT_BLK_SLOTS);
    struct qmp *q = session(vm, err);
    if (q == NULL)
        return kerr_wrap(err, "hotplug `%s`", dev->id);
    if (qmp_execute(q, "blockdev-add", blockdev_args(dev), NULL, STRATOVIRT_QMP_TIMEOUT_NS, err) <
        0)
        return kerr_wrap(err, "hotplug `%s`", dev->id);
    struct json_object *device = id_args("id", dev->id);
    json_object_object_add(device, "driver", json_object_new_string("virtio-blk-mmio"));
    cleanup_free char *addr = xasprintf("0x%x", (unsigned)slot);
    json_object_object_add(device, "addr", json_object_new_string(addr));
    if (qmp_execute(q, "device_add", device, NULL, STRATOVIRT_QMP_TIMEOUT_NS, err) < 0) {
        qmp_execute(q, "blockdev-del", id_args("node-name", dev->id), NULL,
                    STRATOVIRT_QMP_TIMEOUT_NS, NULL);
        return kerr_wrap(err, "hotplug `%s`", dev->id);
    }
    ss->blk_ids[slot] = xstrdup(dev->id);
    ss->blk_hotplugged[slot] = true;
    if (guest_path)
        *guest_path = xasprintf("/dev/vd%c", 'a' + slot);
    return 0;
}

struct device_deleted {
    const char *id;
    bool seen;
};

static void on_device_deleted(const char *name, struct json_object *data, void *cb_data)
{
    struct device_deleted *d = cb_data;
    struct json_object *dev;
    if (strcmp(name, "DEVICE_DELETED") == 0 && data &&
        json_object_object_get_ex(data, "device", &dev) &&
        json_object_is_type(dev, json_type_string) &&
        strcmp(json_object_get_string(dev), d->id) == 0)
        d->seen = true;
}

/* microvm: `device_del` alone frees the slot and its drive; StratoVirt sends
 * DEVICE_DELETED (before its reply, as the document shows). */
static int stratovirt_unplug_block(struct vm *vm, const char *id, uint64_t timeout_ns,
                                   struct kerr **err)
{
    struct stratovirt_state *ss = stratovirt_state(vm);
    int slot = slot_of(ss, id);
    if (slot < 0 || !ss->blk_hotplugged[slot])
        return kerr_make(err, ENOENT, "unplug `%s`: not a hotplugged device", id);
    struct qmp *q = session(vm, err);
    if (q == NULL)
        return kerr_wrap(err, "unplug `%s`", id);
    struct device_deleted d = {.id = id};
    qmp_set_event_cb(q, on_device_deleted, &d);
    int r = qmp_execute(q, "device_del", id_args("id", id), NULL, STRATOVIRT_QMP_TIMEOUT_NS, err);
    if (r == 0)
        r = qmp_wait_for(q, &d.seen, timeout_ns, err);
    qmp_set_event_cb(q, NULL, NULL);
    if (r < 0)
        return kerr_wrap(err, "unplug `%s`", id);
    free(ss->blk_ids[slot]);
    ss->blk_ids[slot] = NULL;
    ss->blk_hotplugged[slot] = false;
    return 0;
}

/* StratoVirt's SHUTDOWN event: {"guest": true, "reason": "guest-shutdown"}
 * when the guest powers off; a reset stops a microvm too, with no event. */
static void on_shutdown(const char *name, struct json_object *data, void *cb_data)
{
    const char **reason = cb_data;
    struct json_object *why = NULL;
    if (strcmp(name, "SHUTDOWN") != 0 || data == NULL ||
        !json_object_object_get_ex(data, "reason", &why) ||
        !json_object_is_type(why, json_type_string))
        return;
    if (strcmp(json_object_get_string(why), "guest-shutdown") == 0)
        *reason = "the guest powered off";
    else if (strcmp(json_object_get_string(why), "host-qmp-quit") == 0)
        *reason = "QMP `quit` stopped it";
}

static const char *stratovirt_exit_reason(struct vm *vm, int wait_status)
{
    struct stratovirt_state *ss = vm->priv;
    if (ss == NULL || ss->qmp == NULL || !WIFEXITED(wait_status))
        return NULL;
    const char *reason = NULL;
    bool never = false;
    qmp_set_event_cb(ss->qmp, on_shutdown, &reason);
    cleanup_kerr struct kerr *eof = NULL; /* StratoVirt is gone: read up to the end */
    qmp_wait_for(ss->qmp, &never, 200 * 1000 * 1000, &eof);
    qmp_set_event_cb(ss->qmp, NULL, NULL);
    if (reason == NULL && WEXITSTATUS(wait_status) == 0)
        reason = "the guest reset or halted the VM (a reboot, a triple fault or a guest kernel "
                 "panic: a StratoVirt microvm stops on a reset)";
    return reason;
}

/* Disks hot-plug into microvm's replaceable slots (shared with the boot
 * disks); no 9p, no virtio-scsi, no CPU or memory hotplug, KVM only. */
static void stratovirt_capabilities(const struct vm_config *cfg, struct vm_capabilities *caps)
{
    (void)cfg;
    caps->shared_fs = VM_CAP_FS(VM_SHARED_FS_NONE) | VM_CAP_FS(VM_SHARED_FS_VIRTIO_FS);
    caps->blk_hotplug = true;
    caps->needs_binary = true;
    caps->runs_without_kvm = false;
    caps->agent_channel = "vsock (vhost-vsock)";
    caps->needs_vhost_vsock = true;
}

struct stratovirt_state *stratovirt_state(struct vm *vm)
{
    if (vm->priv == NULL) {
        struct stratovirt_state *ss = xcalloc(1, sizeof(*ss));
        ss->console_fd = -1;
        vm->priv = ss;
    }
    return vm->priv;
}

/* The QMP session and its socket, the slot table. */
static void stratovirt_release(struct vm *vm)
{
    struct stratovirt_state *ss = vm->priv;
    if (ss == NULL)
        return;
    qmp_close(ss->qmp);
    if (ss->console_fd >= 0)
        close(ss->console_fd);
    if (ss->qmp_socket && vm->pid <= 0)
        unlink(ss->qmp_socket);
    free(ss->qmp_socket);
    for (size_t k = 0; k < STRATOVIRT_BLK_SLOTS; k++)
        free(ss->blk_ids[k]);
    free(ss);
    vm->priv = NULL;
}

const struct hypervisor_ops stratovirt_ops = {
    .name = "stratovirt",
    .capabilities = stratovirt_capabilities,
    .start = stratovirt_start,
    .agent_connect = stratovirt_agent_connect,
    .stop = stratovirt_stop,
    .pause = stratovirt_pause,
    .resume = stratovirt_resume,
    .status = stratovirt_status,
    .hotplug_block = stratovirt_hotplug_block,
    .unplug_block = stratovirt_unplug_block,
    .pids = vm_process_pids,
    .exit_reason = stratovirt_exit_reason,
    .release = stratovirt_release,
};
