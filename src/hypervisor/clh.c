/* The `clh` hypervisor: Cloud Hypervisor driven as Kata's runtime drives it,
 * over its REST API v1 on `<run_dir>/clh-api.sock` (field names and types as
 * its OpenAPI document, vmm/src/api/openapi/cloud-hypervisor.yaml, says; the
 * subset we use is tests/ch_api/schema.json).
 *
 * Boot: `path --api-socket <run_dir>/clh-api.sock [-v]`, GET vmm.ping until it
 * answers, PUT vm.create (VmConfig: kernel, cmdline, initramfs, vCPUs,
 * memory, rng, serial/console, the agent's vsock, virtiofsd's fs, the image
 * and boot disks), vm.info says Created, one PUT vm.add-net per tap with the
 * tap's fd as SCM_RIGHTS (vm.create takes no fds), PUT vm.boot, vm.info says
 * Running.  The agent is reached by hybrid vsock: `CONNECT 1024\n` on
 * `<run_dir>/clh.sock`.  Disks hot-plug with vm.add-disk (the guest finds
 * them by the PCI path of the answer's bdf) and leave with vm.remove-device.
 * Stop: vm.shutdown, vmm.shutdown, then SIGTERM and SIGKILL as needed. */
#include "clh.h"
#include "ch_client.h"
#include "channel.h"
#include "util.h"
#include "vm_process.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WHAT "Cloud Hypervisor"
/* Each API request's deadline (a hotplug waits for the guest's PCI scan). */
#define CLH_API_TIMEOUT_NS 10000000000ull
/* How long the VMM has to answer vmm.ping after it started (Kata's clhTimeout)
 * and each ping's own deadline. */
#define CLH_PING_WAIT_NS 10000000000ull
#define CLH_PING_NS      1000000000ull
#define CLH_POLL_NS      10000000ull

struct clh_disk {
    char *id;        /* ours (vm_block_device.id) */
    char *device_id; /* Cloud Hypervisor's (PciDeviceInfo.id) */
};

/* The driver's part of a VM (vm->priv). */
struct clh_state {
    char *api_socket;
    struct clh_disk *disks; /* hotplugged, not yet unplugged */
    size_t n_disks;
};

static struct clh_state *clh_state(struct vm *vm)
{
    if (vm->priv == NULL)
        vm->priv = xcalloc(1, sizeof(struct clh_state));
    return vm->priv;
}

/* ---- request bodies ---- */

static char *json_text(struct json_object *o)
{
    char *text = xstrdup(
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    return text;
}

static void add_str(struct json_object *o, const char *key, const char *value)
{
    json_object_object_add(o, key, json_object_new_string(value));
}

static struct json_object *mode_object(const char *mode)
{
    struct json_object *o = json_object_new_object();
    add_str(o, "mode", mode);
    return o;
}

static struct json_object *disk_object(const char *path, bool readonly, const char *id)
{
    struct json_object *o = json_object_new_object();
    add_str(o, "path", path);
    json_object_object_add(o, "readonly", json_object_new_boolean(readonly));
    if (id && *id)
        add_str(o, "id", id);
    return o;
}

char *clh_vm_config_body(const struct vm_config *cfg, const char *cmdline, const char *vsock_socket,
                         const char *fs_socket)
{
    struct json_object *root = json_object_new_object(), *o;

    o = json_object_new_object();
    add_str(o, "kernel", cfg->kernel);
    add_str(o, "cmdline", cmdline);
    if (cfg->initrd)
        add_str(o, "initramfs", cfg->initrd);
    json_object_object_add(root, "payload", o);

    unsigned boot = cfg->vcpus ? cfg->vcpus : 1;
    unsigned max = cfg->max_vcpus > boot ? cfg->max_vcpus : boot;
    o = json_object_new_object();
    json_object_object_add(o, "boot_vcpus", json_object_new_int((int)boot));
    json_object_object_add(o, "max_vcpus", json_object_new_int((int)max));
    json_object_object_add(root, "cpus", o);

    /* vhost-user (virtiofsd) maps the guest's memory: it must be shared. */
    o = json_object_new_object();
    json_object_object_add(
        o, "size", json_object_new_int64((int64_t)(cfg->memory_mb ? cfg->memory_mb : 256) << 20));
    json_object_object_add(o, "shared", json_object_new_boolean(fs_socket != NULL));
    json_object_object_add(root, "memory", o);

    o = json_object_new_object();
    add_str(o, "src", "/dev/urandom");
    json_object_object_add(root, "rng", o);

    /* The guest console goes to the VMM's stdout (vm_spawn's console): the
     * serial port, or the virtio-console when the command line names hvc
     * (Cloud Hypervisor refuses both on its tty). */
    bool hvc = strstr(cmdline, "console=hvc") != NULL;
    json_object_object_add(root, "serial", mode_object(hvc ? "Off" : "Tty"));
    json_object_object_add(root, "console", mode_object(hvc ? "Tty" : "Off"));

    o = json_object_new_object();
    json_object_object_add(o, "cid", json_object_new_int64(CLH_GUEST_CID));
    add_str(o, "socket", vsock_socket);
    json_object_object_add(root, "vsock", o);

    if (fs_socket) {
        struct json_object *fs = json_object_new_array();
        o = json_object_new_object();
        add_str(o, "tag", cfg->share_tag ? cfg->share_tag : VM_SHARE_TAG_DEFAULT);
        add_str(o, "socket", fs_socket);
        json_object_object_add(o, "num_queues", json_object_new_int(1));
        json_object_object_add(o, "queue_size", json_object_new_int(1024));
        json_object_array_add(fs, o);
        json_object_object_add(root, "fs", fs);
    }

    if (cfg->image || cfg->n_block_devices) {
        struct json_object *disks = json_object_new_array();
        if (cfg->image) /* the root disk, /dev/vda (root=/dev/vda) */
            json_object_array_add(disks, disk_object(cfg->image, true, "image"));
        for (size_t i = 0; i < cfg->n_block_devices; i++) {
            const struct vm_block_device *d = &cfg->block_devices[i];
            json_object_array_add(disks, disk_object(d->path, d->readonly, d->id));
        }
        json_object_object_add(root, "disks", disks);
    }
    return json_text(root);
}

char *clh_add_disk_body(const struct vm_block_device *dev)
{
    return json_text(disk_object(dev->path, dev->readonly, dev->id));
}

char *clh_add_net_body(const struct vm_net_device *dev, size_t index)
{
    struct json_object *o = json_object_new_object();
    char id[32];
    snprintf(id, sizeof(id), "net%zu", index);
    add_str(o, "id", id);
    if (dev->mac)
        add_str(o, "mac", dev->mac);
    if (dev->mtu)
        json_object_object_add(o, "mtu", json_object_new_int((int)dev->mtu));
    return json_text(o);
}

char *clh_remove_device_body(const char *id)
{
    struct json_object *o = json_object_new_object();
    add_str(o, "id", id);
    return json_text(o);
}

char *clh_pci_path(const char *bdf, struct kerr **err)
{
    /* 0000:00:SS.0 */
    bool ok = bdf && strlen(bdf) == 12 && strncmp(bdf, "0000:00:", 8) == 0 &&
              isxdigit((unsigned char)bdf[8]) && isxdigit((unsigned char)bdf[9]) &&
              strcmp(bdf + 10, ".0") == 0;
    if (!ok) {
        cleanup_free char *shown = text_escape(bdf ? bdf : "", bdf ? strlen(bdf) : 0, 40);
        kerr_make(err, EPROTO, "PCI address `%s`: expected 0000:00:SS.0", shown);
        return NULL;
    }
    return xasprintf("%c%c", tolower((unsigned char)bdf[8]), tolower((unsigned char)bdf[9]));
}

/* ---- the API ---- */

/* One request; when it fails and the VMM has exited, the error says so (with
 * its log and the guest console) instead of the broken connection. */
static int api_call(struct vm *vm, const char *method, const char *endpoint, const char *body,
                    const int *fds, size_t n_fds, struct ch_answer *answer, uint64_t timeout_ns,
                    struct kerr **err)
{
    struct ch_client c;
    ch_client_init(&c, clh_state(vm)->api_socket, timeout_ns);
    struct kerr *failure = NULL;
    int rc = n_fds ? ch_request_fds(&c, method, endpoint, body, fds, n_fds, answer, &failure)
                   : ch_request(&c, method, endpoint, body, answer, &failure);
    if (rc == 0)
        return 0;
    cleanup_kerr struct kerr *gone = NULL;
    if (vm_check_exited(vm, WHAT, &gone) < 0) {
        kerr_free(failure);
        return kerr_make(err, 0, "`%s %s`: %s", method, endpoint, gone->msg);
    }
    if (err)
        *err = failure;
    else
        kerr_free(failure);
    return -1;
}

static int api(struct vm *vm, const char *method, const char *endpoint, const char *body,
               struct kerr **err)
{
    struct ch_answer a;
    int rc = api_call(vm, method, endpoint, body, NULL, 0, &a, CLH_API_TIMEOUT_NS, err);
    ch_answer_release(&a);
    return rc;
}

/* vm.info as a JSON object (caller puts it). */
static struct json_object *vm_info(struct vm *vm, struct kerr **err)
{
    struct ch_answer a;
    if (api_call(vm, "GET", "vm.info", NULL, NULL, 0, &a, CLH_API_TIMEOUT_NS, err) < 0) {
        ch_answer_release(&a);
        return NULL;
    }
    struct json_object *info = a.body ? json_tokener_parse(a.body) : NULL;
    if (info == NULL || !json_object_is_type(info, json_type_object)) {
        cleanup_free char *shown = text_escape(a.body ? a.body : "", a.len, 80);
        kerr_make(err, EPROTO, "`GET vm.info`: not a VmInfo: `%s`", shown);
        json_object_put(info);
        info = NULL;
    }
    ch_answer_release(&a);
    return info;
}

/* vm.info's state ("Created", "Running", "Paused", "Shutdown"); caller frees. */
static char *vm_state(struct vm *vm, struct kerr **err)
{
    struct json_object *info = vm_info(vm, err), *state;
    if (info == NULL)
        return NULL;
    char *out = NULL;
    if (json_object_object_get_ex(info, "state", &state) &&
        json_object_is_type(state, json_type_string))
        out = text_escape(json_object_get_string(state), (size_t)json_object_get_string_len(state),
                          40);
    else
        kerr_make(err, EPROTO, "`GET vm.info`: no state");
    json_object_put(info);
    return out;
}

static int expect_state(struct vm *vm, const char *want, const char *after, struct kerr **err)
{
    cleanup_free char *state = vm_state(vm, err);
    if (state == NULL)
        return -1;
    if (strcmp(state, want) != 0)
        return kerr_make(err, EPROTO, "after `%s` the VM is `%s`, not `%s`", after, state, want);
    return 0;
}

/* GET vmm.ping until it answers, the VMM exits, or CLH_PING_WAIT_NS. */
static int wait_ping(struct vm *vm, struct kerr **err)
{
    uint64_t deadline = now_ns() + CLH_PING_WAIT_NS;
    struct ch_client c;
    ch_client_init(&c, clh_state(vm)->api_socket, CLH_PING_NS);
    for (;;) {
        cleanup_kerr struct kerr *last = NULL;
        struct ch_answer a;
        int rc = ch_request(&c, "GET", "vmm.ping", NULL, &a, &last);
        ch_answer_release(&a);
        if (rc == 0)
            return 0;
        if (vm_check_exited(vm, WHAT, err) < 0)
            return -1;
        if (now_ns() >= deadline) {
            kerr_make(err, 0, "%s did not answer `GET vmm.ping` within %llu s (%s)", WHAT,
                      (unsigned long long)(CLH_PING_WAIT_NS / 1000000000ull), last->msg);
            if (err && *err)
                (*err)->status = ETIMEDOUT;
            return -1;
        }
        struct timespec ts = {0, CLH_POLL_NS};
        nanosleep(&ts, NULL);
    }
}

static int add_nets(struct vm *vm, struct kerr **err)
{
    for (size_t i = 0; i < vm->cfg.n_net_devices; i++) {
        const struct vm_net_device *n = &vm->cfg.net_devices[i];
        cleanup_free char *body = clh_add_net_body(n, i);
        struct ch_answer a;
        int rc =
            api_call(vm, "PUT", "vm.add-net", body, &n->tap_fd, 1, &a, CLH_API_TIMEOUT_NS, err);
        ch_answer_release(&a);
        if (rc < 0)
            return kerr_wrap(err, "network device %zu", i);
    }
    return 0;
}

static int create_and_boot(struct vm *vm, struct kerr **err)
{
    cleanup_free char *cmdline = vm_kernel_cmdline(vm);
    cleanup_free char *config =
        clh_vm_config_body(&vm->cfg, cmdline, vm->agent_socket, vm->virtiofsd.socket_path);
    if (wait_ping(vm, err) < 0 || api(vm, "PUT", "vm.create", config, err) < 0 ||
        expect_state(vm, "Created", "vm.create", err) < 0 || add_nets(vm, err) < 0 ||
        api(vm, "PUT", "vm.boot", NULL, err) < 0 || expect_state(vm, "Running", "vm.boot", err) < 0)
        return -1;
    return 0;
}

/* ---- the ops ---- */

static int check_config(const struct vm *vm, struct kerr **err)
{
    const struct vm_config *cfg = &vm->cfg;
    if (vm->accel != VM_ACCEL_KVM)
        return kerr_make(err, ENOTSUP,
                         "hypervisor `clh` needs KVM: no usable `/dev/kvm` on a CPU with vmx or "
                         "svm");
    if (cfg->hypervisor_path == NULL || *cfg->hypervisor_path == '\0')
        return kerr_make(err, EINVAL, "[hypervisor.clh] path: no Cloud Hypervisor binary set");
    if (vm_check_files(vm, err) < 0)
        return -1;
    enum vm_shared_fs fs = vm_shared_fs_kind(cfg->shared_fs, err);
    if ((int)fs < 0)
        return -1;
    if (fs == VM_SHARED_FS_VIRTIO_9P)
        return kerr_make(err, ENOTSUP,
                         "shared_fs `%s`: Cloud Hypervisor has no 9p (use \"virtio-fs\" or "
                         "\"none\")",
                         cfg->shared_fs);
    if (fs == VM_SHARED_FS_VIRTIO_FS && cfg->shared_dir == NULL)
        return kerr_make(err, EINVAL, "shared_fs `virtio-fs` without a shared directory");
    for (size_t i = 0; i < cfg->n_block_devices; i++) {
        const struct vm_block_device *d = &cfg->block_devices[i];
        if (d->path == NULL)
            return kerr_make(err, EINVAL, "block device %zu has no path", i);
        if (d->scsi)
            return kerr_make(err, ENOTSUP, "block device `%s`: Cloud Hypervisor has no virtio-scsi",
                             d->path);
    }
    return 0;
}

static int clh_start(struct vm *vm, struct kerr **err)
{
    if (check_config(vm, err) < 0 || vm_start_virtiofsd(vm, err) < 0)
        return -1;
    struct clh_state *cs = clh_state(vm);
    vm->agent_socket = xasprintf("%s/clh.sock", vm->cfg.run_dir);
    cs->api_socket = xasprintf("%s/clh-api.sock", vm->cfg.run_dir);
    unlink(vm->agent_socket); /* the run directory is ours: nothing else can be there */
    unlink(cs->api_socket);
    vm->vsock = true; /* the agent listens on vsock; we reach it through the VMM's socket */
    vm->cid = CLH_GUEST_CID;
    char *argv[] = {(char *)vm->cfg.hypervisor_path, "--api-socket", cs->api_socket,
                    vm->cfg.debug ? "-v" : NULL, NULL};
    if (vm_spawn(vm, argv, "clh.log", WHAT, NULL, err) < 0) {
        virtiofsd_stop(&vm->virtiofsd, 1000000000ull);
        return kerr_wrap(err, "start %s `%s`", WHAT, vm->cfg.hypervisor_path);
    }
    if (create_and_boot(vm, err) < 0) {
        cleanup_kerr struct kerr *stop_err = NULL;
        vm->ops->stop(vm, 0, &stop_err);
        return kerr_wrap(err, "start %s `%s`", WHAT, vm->cfg.hypervisor_path);
    }
    return 0;
}

static int hybrid_connect_once(struct vm *vm, struct kerr **err)
{
    return hybrid_vsock_connect(vm->agent_socket, AGENT_VSOCK_PORT, err);
}

static int clh_agent_connect(struct vm *vm, uint64_t timeout_ns, struct kerr **err)
{
    cleanup_free char *channel = xasprintf("through `%s`", vm->agent_socket);
    return vm_connect_until(vm, WHAT, channel, timeout_ns, hybrid_connect_once, err);
}

/* vm.shutdown (the guest stops), vmm.shutdown (the VMM exits), within
 * grace_ns in all; else SIGTERM, then SIGKILL when grace_ns has passed. */
static int stop_vmm(struct vm *vm, uint64_t grace_ns, struct kerr **err)
{
    if (vm->pid <= 0)
        return 0;
    uint64_t deadline = now_ns() + grace_ns;
    bool asked = false;
    if (grace_ns && clh_state(vm)->api_socket) {
        struct ch_client c;
        ch_client_init(&c, clh_state(vm)->api_socket, grace_ns / 2 ? grace_ns / 2 : 1);
        cleanup_kerr struct kerr *ignored = NULL; /* a VM never booted answers 404/405 */
        ch_request(&c, "PUT", "vm.shutdown", NULL, NULL, &ignored);
        uint64_t now = now_ns();
        if (now < deadline) {
            ch_client_init(&c, clh_state(vm)->api_socket, deadline - now);
            cleanup_kerr struct kerr *vmm_err = NULL;
            asked = ch_request(&c, "PUT", "vmm.shutdown", NULL, NULL, &vmm_err) == 0;
        }
    }
    if (!asked)
        kill(vm->pid, SIGTERM);
    uint64_t now = now_ns();
    if (vm_wait_exit(vm, deadline > now ? deadline - now : 0) < 0 && errno == ETIMEDOUT) {
        kill(vm->pid, SIGKILL);
        if (vm_wait_exit(vm, 5000000000ull) < 0 && errno == ETIMEDOUT)
            return kerr_make(err, ETIMEDOUT, "%s pid %d did not exit after SIGKILL", WHAT,
                             (int)vm->pid);
    }
    return 0;
}

/* virtiofsd goes after the VMM, whose vhost-user back-end it is. */
static int clh_stop(struct vm *vm, uint64_t grace_ns, struct kerr **err)
{
    int rc = stop_vmm(vm, grace_ns, err);
    virtiofsd_stop(&vm->virtiofsd, grace_ns ? grace_ns : 1000000000ull);
    return rc;
}

static int clh_pause(struct vm *vm, struct kerr **err)
{
    return api(vm, "PUT", "vm.pause", NULL, err);
}

static int clh_resume(struct vm *vm, struct kerr **err)
{
    return api(vm, "PUT", "vm.resume", NULL, err);
}

/* vm.info's state, lower case ("running", "paused", ...). */
static char *clh_status(struct vm *vm, struct kerr **err)
{
    char *state = vm_state(vm, err);
    for (char *c = state; c && *c; c++)
        *c = (char)tolower((unsigned char)*c);
    return state;
}

static struct clh_disk *find_disk(struct clh_state *cs, const char *id)
{
    for (size_t i = 0; i < cs->n_disks; i++)
        if (strcmp(cs->disks[i].id, id) == 0)
            return &cs->disks[i];
    return NULL;
}

/* The answer of vm.add-disk: a PciDeviceInfo. */
static int parse_pci_info(const struct ch_answer *a, char **device_id, char **bdf,
                          struct kerr **err)
{
    struct json_object *o = a->body ? json_tokener_parse(a->body) : NULL, *id, *b;
    int rc = 0;
    if (o && json_object_object_get_ex(o, "id", &id) && json_object_is_type(id, json_type_string) &&
        json_object_object_get_ex(o, "bdf", &b) && json_object_is_type(b, json_type_string) &&
        json_object_get_string_len(id) > 0 && json_object_get_string_len(id) <= 256) {
        *device_id = xstrdup(json_object_get_string(id));
        *bdf = xstrdup(json_object_get_string(b));
    } else {
        cleanup_free char *shown = text_escape(a->body ? a->body : "", a->len, 80);
        rc = kerr_make(err, EPROTO, "`PUT vm.add-disk`: HTTP %d without a PciDeviceInfo: `%s`",
                       a->status, shown);
    }
    json_object_put(o);
    return rc;
}

static int clh_hotplug_block(struct vm *vm, const struct vm_block_device *dev, char **guest_path,
                             struct kerr **err)
{
    struct clh_state *cs = clh_state(vm);
    if (dev->id == NULL || *dev->id == '\0')
        return kerr_make(err, EINVAL, "hotplug `%s`: the disk needs an id", dev->path);
    if (dev->scsi)
        return kerr_make(err, ENOTSUP,
                         "hotplug `%s`: Cloud Hypervisor has no virtio-scsi (use "
                         "block_device_driver = \"virtio-blk\")",
                         dev->id);
    if (find_disk(cs, dev->id))
        return kerr_make(err, EEXIST, "hotplug `%s`: already plugged", dev->id);
    cleanup_free char *body = clh_add_disk_body(dev);
    struct ch_answer a;
    if (api_call(vm, "PUT", "vm.add-disk", body, NULL, 0, &a, CLH_API_TIMEOUT_NS, err) < 0) {
        ch_answer_release(&a);
        return kerr_wrap(err, "hotplug `%s`", dev->id);
    }
    cleanup_free char *device_id = NULL, *bdf = NULL;
    int rc = parse_pci_info(&a, &device_id, &bdf, err);
    ch_answer_release(&a);
    char *path = rc == 0 ? clh_pci_path(bdf, err) : NULL;
    if (path == NULL) {
        /* Plugged where we cannot tell the guest: take it out again. */
        cleanup_free char *remove = clh_remove_device_body(device_id ? device_id : dev->id);
        cleanup_kerr struct kerr *ignored = NULL;
        api(vm, "PUT", "vm.remove-device", remove, &ignored);
        return kerr_wrap(err, "hotplug `%s`", dev->id);
    }
    cs->disks = xrealloc(cs->disks, (cs->n_disks + 1) * sizeof(*cs->disks));
    cs->disks[cs->n_disks++] =
        (struct clh_disk){.id = xstrdup(dev->id), .device_id = steal_pointer(&device_id)};
    *guest_path = path;
    return 0;
}

/* Whether vm.info's device_tree still has device_id (false when the VMM
 * gives no device tree: then nothing can be waited for). */
static int device_present(struct vm *vm, const char *device_id, bool *present, struct kerr **err)
{
    struct json_object *info = vm_info(vm, err), *tree, *node;
    if (info == NULL)
        return -1;
    *present = json_object_object_get_ex(info, "device_tree", &tree) &&
               json_object_is_type(tree, json_type_object) &&
               json_object_object_get_ex(tree, device_id, &node);
    json_object_put(info);
    return 0;
}

static int clh_unplug_block(struct vm *vm, const char *id, uint64_t timeout_ns, struct kerr **err)
{
    struct clh_state *cs = clh_state(vm);
    struct clh_disk *d = find_disk(cs, id);
    if (d == NULL)
        return kerr_make(err, ENOENT, "unplug `%s`: not a disk hotplugged into %s", id, WHAT);
    cleanup_free char *device_id = steal_pointer(&d->device_id);
    cleanup_free char *body = clh_remove_device_body(device_id);
    if (api(vm, "PUT", "vm.remove-device", body, err) < 0) {
        d->device_id = steal_pointer(&device_id);
        return kerr_wrap(err, "unplug `%s`", id);
    }
    free(d->id);
    *d = cs->disks[--cs->n_disks];
    /* The guest ejects the device; Cloud Hypervisor drops it from its device
     * tree then. */
    uint64_t deadline = now_ns() + timeout_ns;
    for (;;) {
        bool present = false;
        if (device_present(vm, device_id, &present, err) < 0)
            return kerr_wrap(err, "unplug `%s`", id);
        if (!present)
            return 0;
        if (now_ns() >= deadline)
            return kerr_make(err, ETIMEDOUT,
                             "unplug `%s`: the guest did not eject device `%s` within %llu ms", id,
                             device_id, (unsigned long long)(timeout_ns / 1000000));
        struct timespec ts = {0, CLH_POLL_NS};
        nanosleep(&ts, NULL);
    }
}

/* Cloud Hypervisor exits 0 when it was shut down (vmm.shutdown, or the guest
 * powered off) and 1 on an error of its own (its log says which); a guest
 * reset reboots the VM inside it rather than ending it. */
static const char *clh_exit_reason(struct vm *vm, int wait_status)
{
    (void)vm;
    if (!WIFEXITED(wait_status))
        return NULL;
    if (WEXITSTATUS(wait_status) == 0)
        return "the VMM shut down (the guest powered off, or vmm.shutdown)";
    return "the VMM failed (see its log)";
}

static void clh_capabilities(const struct vm_config *cfg, struct vm_capabilities *caps)
{
    (void)cfg;
    caps->shared_fs = VM_CAP_FS(VM_SHARED_FS_NONE) | VM_CAP_FS(VM_SHARED_FS_VIRTIO_FS);
    caps->blk_hotplug = true;
    caps->needs_binary = true;
    caps->runs_without_kvm = false;
    caps->agent_channel = "hybrid vsock (clh.sock through the VMM)";
}

void clh_attach(struct vm *vm, const char *api_socket)
{
    struct clh_state *cs = clh_state(vm);
    free(cs->api_socket);
    cs->api_socket = xstrdup(api_socket);
}

static void clh_release(struct vm *vm)
{
    struct clh_state *cs = vm->priv;
    if (cs == NULL)
        return;
    if (cs->api_socket)
        unlink(cs->api_socket);
    free(cs->api_socket);
    for (size_t i = 0; i < cs->n_disks; i++) {
        free(cs->disks[i].id);
        free(cs->disks[i].device_id);
    }
    free(cs->disks);
    free(cs);
    vm->priv = NULL;
}

const struct hypervisor_ops clh_ops = {
    .name = "clh",
    .capabilities = clh_capabilities,
    .start = clh_start,
    .agent_connect = clh_agent_connect,
    .stop = clh_stop,
    .pause = clh_pause,
    .resume = clh_resume,
    .status = clh_status,
    .hotplug_block = clh_hotplug_block,
    .unplug_block = clh_unplug_block,
    .pids = vm_process_pids,
    .exit_reason = clh_exit_reason,
    .release = clh_release,
};
