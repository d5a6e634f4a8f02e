/* The `dragonball` hypervisor: the built-in VMM (src/vmm, kata-vmm) as a
 * process per sandbox, driven through its control socket
 * `<run_dir>/kata-vmm.sock` (vm.create, vm.boot, vm.pause, vm.resume,
 * vm.info, vm.shutdown).  The agent channel is hybrid vsock on
 * `<run_dir>/kata.hvsock`; disks and the image are virtio-blk, hotplug goes
 * through placeholder drives (dragonball_drives.h), a virtio-rng
 * feeds the guest's entropy, and a virtio-fs share is served by virtiofsd
 * (vhost-user, `<run_dir>/virtiofsd.sock`).  Network devices are virtio-net
 * on the caller's taps, which kata-vmm inherits.  A kernel command line
 * naming `console=hvc0` gets a virtio-console too.  9p is not in the
 * built-in VMM: asking for it is an error. */
#include "ch_client.h"
#include "channel.h"
#include "dragonball_drives.h"
#include "hypervisor.h"
#include "util.h"
#include "vm_process.h"
#include "../vmm/vmm_exit.h" /* kata-vmm's exit statuses */

#include <ctype.h>
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

#define WHAT           "the built-in VMM"
#define VMM_GUEST_CID  3u
#define VMM_MAX_DISKS  8u             /* kata-vmm's VMM_API_MAX_DISKS */
#define API_TIMEOUT_NS 10000000000ull /* pause waits for every vCPU: up to 5 s */

/* kata-vmm: the configured path, else $KATA_VMM_PATH, else beside the running
 * binary (the shim and kata-vmm are installed in one bin directory). */
static char *vmm_binary(const struct vm *vm)
{
    if (vm->cfg.hypervisor_path && *vm->cfg.hypervisor_path)
        return xstrdup(vm->cfg.hypervisor_path);
    const char *env = getenv("KATA_VMM_PATH");
    if (env && *env)
        return xstrdup(env);
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return xstrdup(KATA_PREFIX "/bin/kata-vmm");
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    return xasprintf("%s/kata-vmm", self);
}

static int check_config(const struct vm *vm, const char *binary, struct kerr **err)
{
    const struct vm_config *cfg = &vm->cfg;
    if (vm->accel != VM_ACCEL_KVM)
        return kerr_make(err, ENOTSUP,
                         "hypervisor `dragonball` (the built-in VMM) needs KVM: no usable "
                         "`/dev/kvm` on a CPU with vmx or svm");
    if (access(binary, X_OK) < 0)
        return kerr_make(err, errno, "built-in VMM `%s` (set KATA_VMM_PATH?)", binary);
    if (access(cfg->kernel, R_OK) < 0)
        return kerr_make(err, errno, "guest kernel `%s`", cfg->kernel);
    if (cfg->initrd && access(cfg->initrd, R_OK) < 0)
        return kerr_make(err, errno, "guest initrd `%s`", cfg->initrd);
    if (cfg->image && access(cfg->image, R_OK) < 0)
        return kerr_make(err, errno, "guest image `%s`", cfg->image);
    enum vm_shared_fs fs = vm_shared_fs_kind(cfg->shared_fs, err);
    if ((int)fs < 0)
        return -1;
    if (fs == VM_SHARED_FS_VIRTIO_9P)
        return kerr_make(err, ENOTSUP,
                         "shared_fs `%s`: the built-in VMM has no 9p (use \"virtio-fs\" or "
                         "\"none\")",
                         cfg->shared_fs);
    if (fs == VM_SHARED_FS_VIRTIO_FS && cfg->shared_dir == NULL)
        return kerr_make(err, EINVAL, "shared_fs `virtio-fs` without a shared directory");
    if (cfg->n_net_devices > 4)
        return kerr_make(err, E2BIG, "the built-in VMM takes at most 4 network devices");
    if (cfg->vcpus > 16)
        return kerr_make(err, EINVAL, "%u vCPUs: the built-in VMM runs at most 16", cfg->vcpus);
    if (cfg->n_block_devices + (cfg->image != NULL) > VMM_MAX_DISKS)
        return kerr_make(err, E2BIG, "the built-in VMM takes at most %u disks", VMM_MAX_DISKS);
    for (size_t i = 0; i < cfg->n_block_devices; i++) {
        const struct vm_block_device *d = &cfg->block_devices[i];
        if (d->path == NULL)
            return kerr_make(err, EINVAL, "block device %zu has no path", i);
        if (access(d->path, d->readonly ? R_OK : R_OK | W_OK) < 0)
            return kerr_make(err, errno, "block device `%s`", d->path);
    }
    return 0;
}

/* The VM's configuration for vm.create: Cloud Hypervisor's VmConfig
 * (src/vmm/api_config.h), with kata-vmm's extensions `net[].fd` (the taps it
 * inherits) and `payload.virtio_mmio_cmdline`; creates the placeholder
 * drives. */
static char *vm_create_json(struct vm *vm, struct kerr **err)
{
    const struct vm_config *cfg = &vm->cfg;
    cleanup_free char *cmdline = vm_kernel_cmdline(vm);
    struct json_object *root = json_object_new_object(), *o;
    o = json_object_new_object();
    json_object_object_add(o, "boot_vcpus", json_object_new_int(cfg->vcpus ? (int)cfg->vcpus : 1));
    json_object_object_add(o, "max_vcpus", json_object_new_int(cfg->vcpus ? (int)cfg->vcpus : 1));
    json_object_object_add(root, "cpus", o);
    o = json_object_new_object();
    json_object_object_add(
        o, "size", json_object_new_int64((int64_t)(cfg->memory_mb ? cfg->memory_mb : 256) << 20));
    json_object_object_add(root, "memory", o);
    o = json_object_new_object();
    json_object_object_add(o, "kernel", json_object_new_string(cfg->kernel));
    if (cfg->initrd)
        json_object_object_add(o, "initramfs", json_object_new_string(cfg->initrd));
    json_object_object_add(o, "cmdline", json_object_new_string(cmdline));
    if (cfg->virtio_mmio_cmdline)
        json_object_object_add(o, "virtio_mmio_cmdline", json_object_new_boolean(1));
    json_object_object_add(root, "payload", o);
    struct json_object *disks = json_object_new_array();
    if (cfg->image) { /* the root disk is /dev/vda (root=/dev/vda) */
        o = json_object_new_object();
        json_object_object_add(o, "path", json_object_new_string(cfg->image));
        json_object_object_add(o, "readonly", json_object_new_boolean(1));
        json_object_array_add(disks, o);
    }
    for (size_t i = 0; i < cfg->n_block_devices; i++) {
        const struct vm_block_device *d = &cfg->block_devices[i];
        o = json_object_new_object();
        json_object_object_add(o, "path", json_object_new_string(d->path));
        json_object_object_add(o, "readonly", json_object_new_boolean(d->readonly));
        if (d->id)
            json_object_object_add(o, "id", json_object_new_string(d->id));
        json_object_array_add(disks, o);
    }
    json_object_object_add(root, "disks", disks);
    if (dragonball_drives_prepare(vm, disks, VMM_MAX_DISKS, err) < 0) {
        json_object_put(root);
        return NULL;
    }
    if (cfg->n_net_devices) {
        struct json_object *nets = json_object_new_array();
        for (size_t i = 0; i < cfg->n_net_devices; i++) {
            const struct vm_net_device *n = &cfg->net_devices[i];
            o = json_object_new_object();
            json_object_object_add(o, "fd", json_object_new_int(n->tap_fd)); /* inherited */
            if (n->mac)
                json_object_object_add(o, "mac", json_object_new_string(n->mac));
            if (n->mtu)
                json_object_object_add(o, "mtu", json_object_new_int((int)n->mtu));
            json_object_array_add(nets, o);
        }
        json_object_object_add(root, "net", nets);
    }
    if (vm->virtiofsd.socket_path) {
        struct json_object *shares = json_object_new_array();
        o = json_object_new_object();
        json_object_object_add(o, "socket", json_object_new_string(vm->virtiofsd.socket_path));
        json_object_object_add(
            o, "tag",
            json_object_new_string(cfg->share_tag ? cfg->share_tag : VM_SHARE_TAG_DEFAULT));
        json_object_object_add(o, "num_queues", json_object_new_int(1));
        json_object_object_add(o, "queue_size", json_object_new_int(1024));
        json_object_array_add(shares, o);
        json_object_object_add(root, "fs", shares);
    }
    o = json_object_new_object();
    json_object_object_add(o, "cid", json_object_new_int(VMM_GUEST_CID));
    json_object_object_add(o, "socket", json_object_new_string(vm->agent_socket));
    json_object_object_add(root, "vsock", o);
    o = json_object_new_object();
    json_object_object_add(o, "src", json_object_new_string("/dev/urandom"));
    json_object_object_add(root, "rng", o);
    /* kernel_params = "console=hvc0": the guest's console on a virtio-console,
     * whose output comes out of kata-vmm's stdout like COM1's. */
    if (strstr(cmdline, "console=hvc")) {
        o = json_object_new_object();
        json_object_object_add(o, "mode", json_object_new_string("Tty"));
        json_object_object_add(root, "console", o);
    }
    char *text = xstrdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
    json_object_put(root);
    return text;
}

/* In the child before exec: the taps the configuration names stay open. */
static void child_keep_taps(struct vm *vm)
{
    for (size_t i = 0; i < vm->cfg.n_net_devices; i++)
        fcntl(vm->cfg.net_devices[i].tap_fd, F_SETFD, 0);
}

static int dragonball_agent_connect(struct vm *vm, uint64_t timeout_ns, struct kerr **err)
{
    return vm_hybrid_agent_connect(vm, WHAT, timeout_ns, err);
}

static int api(struct vm *vm, const char *method, const char *endpoint, const char *body,
               char **answer, struct kerr **err)
{
    struct ch_client c;
    ch_client_init(&c, dragonball_state(vm)->api_socket, API_TIMEOUT_NS);
    struct ch_answer a;
    if (ch_request(&c, method, endpoint, body, &a, err) < 0) {
        ch_answer_release(&a);
        return -1;
    }
    if (answer)
        *answer = steal_pointer(&a.body);
    ch_answer_release(&a);
    return 0;
}

/* The control socket accepts once kata-vmm's loop runs. */
static int wait_for_api(struct vm *vm, struct kerr **err)
{
    uint64_t deadline = now_ns() + API_TIMEOUT_NS;
    for (;;) {
        cleanup_kerr struct kerr *last = NULL;
        int fd = unix_connect(dragonball_state(vm)->api_socket, &last);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        if (vm_check_exited(vm, WHAT, err) < 0)
            return -1;
        if (now_ns() >= deadline)
            return kerr_make(err, ETIMEDOUT, "wait for the built-in VMM's control socket (%s)",
                             last->msg);
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static int create_and_boot(struct vm *vm, void *data, struct kerr **err)
{
    (void)data;
    cleanup_free char *config = vm_create_json(vm, err);
    if (config == NULL || wait_for_api(vm, err) < 0 ||
        api(vm, "PUT", "vm.create", config, NULL, err) < 0 ||
        api(vm, "PUT", "vm.boot", NULL, NULL, err) < 0)
        return -1;
    return 0;
}

static int dragonball_start(struct vm *vm, struct kerr **err)
{
    cleanup_free char *binary = vmm_binary(vm);
    if (check_config(vm, binary, err) < 0 || vm_start_virtiofsd(vm, err) < 0)
        return -1;
    vm->agent_socket = xasprintf("%s/kata.hvsock", vm->cfg.run_dir);
    struct dragonball_state *ds = dragonball_state(vm);
    ds->api_socket = xasprintf("%s/kata-vmm.sock", vm->cfg.run_dir); /* the control socket */
    vm->vsock = true; /* the agent listens on vsock; we reach it through the VMM's socket */
    vm->cid = VMM_GUEST_CID;
    char *argv[] = {binary, "--api-socket", ds->api_socket, NULL};
    struct vm_start_spec spec = {.argv = argv,
                                 .log_name = "kata-vmm.log",
                                 .what = WHAT,
                                 .child_setup = child_keep_taps,
                                 .configure = create_and_boot};
    return vm_start_process(vm, &spec, err);
}

/* vm.shutdown (kata-vmm exits): whether it was asked. */
static bool ask_shutdown(struct vm *vm, uint64_t deadline)
{
    (void)deadline; /* kata-vmm answers at once */
    cleanup_kerr struct kerr *api_err = NULL;
    return api(vm, "PUT", "vm.shutdown", NULL, NULL, &api_err) == 0;
}

/* kata-vmm within grace_ns (else SIGTERM, then SIGKILL), then virtiofsd,
 * whose vhost-user front-end kata-vmm is. */
static int dragonball_stop(struct vm *vm, uint64_t grace_ns, struct kerr **err)
{
    int status = vm_stop_process(vm, grace_ns, WHAT, ask_shutdown, err);
    virtiofsd_stop(&vm->virtiofsd, grace_ns ? grace_ns : 1000000000ull);
    dragonball_drives_remove(vm);
    return status;
}

static int dragonball_pause(struct vm *vm, struct kerr **err)
{
    return api(vm, "PUT", "vm.pause", NULL, NULL, err);
}

static int dragonball_resume(struct vm *vm, struct kerr **err)
{
    return api(vm, "PUT", "vm.resume", NULL, NULL, err);
}

/* vm.info's state, lower case ("running", "paused", ...). */
static char *dragonball_status(struct vm *vm, struct kerr **err)
{
    cleanup_free char *answer = NULL;
    if (api(vm, "GET", "vm.info", NULL, &answer, err) < 0)
        return NULL;
    struct json_object *obj = answer ? json_tokener_parse(answer) : NULL, *state = NULL;
    char *out = NULL;
    if (obj && json_object_object_get_ex(obj, "state", &state) &&
        json_object_is_type(state, json_type_string)) {
        out = xstrdup(json_object_get_string(state));
        for (char *c = out; *c; c++)
            *c = (char)tolower((unsigned char)*c);
    } else {
        kerr_make(err, EPROTO, "vm.info: no state in `%.80s`", answer ? answer : "");
    }
    json_object_put(obj);
    return out;
}

/* kata-vmm's exit statuses (src/vmm/vmm_exit.h): a reset or a crash of the
 * guest has its own, and must never read as a clean power-off. */
static const char *dragonball_exit_reason(struct vm *vm, int wait_status)
{
    (void)vm;
    if (!WIFEXITED(wait_status))
        return NULL;
    if (WEXITSTATUS(wait_status) == VMM_STATUS_OFF)
        return "the guest powered off";
    return vmm_exit_status_text(WEXITSTATUS(wait_status));
}

/* Disks "hot-plug" into placeholder drives; kata-vmm is found beside the
 * runtime when `path` is not set; no 9p, no TCG. */
static void dragonball_capabilities(const struct vm_config *cfg, struct vm_capabilities *caps)
{
    (void)cfg;
    caps->shared_fs = VM_CAP_FS(VM_SHARED_FS_NONE) | VM_CAP_FS(VM_SHARED_FS_VIRTIO_FS);
    caps->blk_hotplug = true;
    caps->needs_binary = false;
    caps->agent_channel = "hybrid vsock (kata.hvsock through the VMM)";
}

struct dragonball_state *dragonball_state(struct vm *vm)
{
    if (vm->priv == NULL)
        vm->priv = xcalloc(1, sizeof(struct dragonball_state));
    return vm->priv;
}

/* The control socket and the drive table (the placeholder files went at
 * stop). */
static void dragonball_release(struct vm *vm)
{
    struct dragonball_state *ds = vm->priv;
    if (ds == NULL)
        return;
    if (ds->api_socket)
        unlink(ds->api_socket);
    free(ds->api_socket);
    drive_pool_free(&ds->drives);
    free(ds);
    vm->priv = NULL;
}

const struct hypervisor_ops dragonball_ops = {
    .name = "dragonball",
    .capabilities = dragonball_capabilities,
    .start = dragonball_start,
    .agent_connect = dragonball_agent_connect,
    .stop = dragonball_stop,
    .pause = dragonball_pause,
    .resume = dragonball_resume,
    .status = dragonball_status,
    .hotplug_block = dragonball_hotplug_block,
    .unplug_block = dragonball_unplug_block,
    .pids = vm_process_pids,
    .exit_reason = dragonball_exit_reason,
    .release = dragonball_release,
};
