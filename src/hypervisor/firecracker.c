/* The `firecracker` hypervisor: Firecracker driven as Kata's runtime drives
 * it (fc.go), over its REST API on `<run_dir>/firecracker.socket`, with the
 * field names and types of its API document
 * (src/firecracker/swagger/firecracker.yaml; the subset we use is
 * tests/fc_api/schema.json).
 *
 * Boot: `path --api-sock <run_dir>/firecracker.socket --id <id>`, GET / until
 * it answers, PUT /logger and /metrics (bounded files in the run dir),
 * /machine-config, /boot-source, /drives/{id} (the image, the boot disks,
 * then a pool of empty placeholder drives), /network-interfaces/{id} (the
 * tap by name), /vsock (the agent's hybrid vsock on `<run_dir>/kata.hvsock`),
 * /actions InstanceStart, and GET / says Running.  Firecracker has no
 * virtio-fs and no hotplug: disks "hot-plug" by swapping a placeholder's file
 * (PATCH /drives/drive_K, dragonball_drives.h).  Pause and resume are PATCH
 * /vm.  Stop: /actions SendCtrlAltDel (the guest resets, and Firecracker
 * exits), SIGKILL when the grace period has passed.  The jailer is not
 * implemented: `jailer_path` is refused. */
#include "firecracker.h"
#include "ch_client.h"
#include "channel.h"
#include "dragonball_drives.h"
#include "util.h"
#include "vm_process.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WHAT "Firecracker"
/* Each API request's deadline; how long the VMM has to answer GET / after it
 * started (Kata's fcTimeout) and each of those requests' own deadline. */
#define FC_API_TIMEOUT_NS 10000000000ull
#define FC_WAIT_NS        10000000000ull
#define FC_PING_NS        1000000000ull
#define FC_POLL_NS        10000000ull
/* Drives besides the pool: Firecracker sets no limit of its own; the pool is
 * Kata's fcDiskPoolSize. */
#define FC_MAX_DISKS 32u

/* The driver's part of a VM (vm->priv). */
struct fc_state {
    char *api_socket;
    struct drive_pool drives;
    /* Write ends of the bounded relays of Firecracker's logger and metrics
     * (vm_log_relay), inherited by the VMM, which opens them as
     * /proc/self/fd/N; ours are closed once it started.  -1: none. */
    int logger_fd, metrics_fd;
};

static struct fc_state *fc_state(struct vm *vm)
{
    if (vm->priv == NULL) {
        struct fc_state *st = xcalloc(1, sizeof(struct fc_state));
        st->logger_fd = st->metrics_fd = -1;
        vm->priv = st;
    }
    return vm->priv;
}

static void close_relays(struct fc_state *st)
{
    if (st->logger_fd >= 0)
        close(st->logger_fd);
    if (st->metrics_fd >= 0)
        close(st->metrics_fd);
    st->logger_fd = st->metrics_fd = -1;
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

static void add_bool(struct json_object *o, const char *key, bool value)
{
    json_object_object_add(o, key, json_object_new_boolean(value));
}

static void add_int(struct json_object *o, const char *key, int64_t value)
{
    json_object_object_add(o, key, json_object_new_int64(value));
}

char *fc_machine_config_body(const struct vm_config *cfg)
{
    struct json_object *o = json_object_new_object();
    add_int(o, "vcpu_count", cfg->vcpus ? cfg->vcpus : 1);
    add_int(o, "mem_size_mib", cfg->memory_mb ? cfg->memory_mb : 256);
    add_bool(o, "smt", false);
    return json_text(o);
}

char *fc_boot_source_body(const struct vm_config *cfg, const char *cmdline)
{
    struct json_object *o = json_object_new_object();
    add_str(o, "kernel_image_path", cfg->kernel);
    add_str(o, "boot_args", cmdline);
    if (cfg->initrd)
        add_str(o, "initrd_path", cfg->initrd);
    return json_text(o);
}

char *fc_drive_body(const char *drive_id, const char *path, bool readonly)
{
    struct json_object *o = json_object_new_object();
    add_str(o, "drive_id", drive_id);
    add_str(o, "path_on_host", path);
    add_bool(o, "is_root_device", false);
    add_bool(o, "is_read_only", readonly);
    return json_text(o);
}

char *fc_patch_drive_body(const char *drive_id, const char *path)
{
    struct json_object *o = json_object_new_object();
    add_str(o, "drive_id", drive_id);
    add_str(o, "path_on_host", path);
    return json_text(o);
}

char *fc_network_interface_body(const char *iface_id, const char *host_dev_name, const char *mac)
{
    struct json_object *o = json_object_new_object();
    add_str(o, "iface_id", iface_id);
    add_str(o, "host_dev_name", host_dev_name);
    if (mac && *mac)
        add_str(o, "guest_mac", mac);
    return json_text(o);
}

char *fc_vsock_body(const char *uds_path)
{
    struct json_object *o = json_object_new_object();
    add_int(o, "guest_cid", FC_GUEST_CID);
    add_str(o, "uds_path", uds_path);
    return json_text(o);
}

char *fc_logger_body(const char *log_path, bool debug)
{
    struct json_object *o = json_object_new_object();
    add_str(o, "log_path", log_path);
    add_str(o, "level", debug ? "Debug" : "Warning");
    add_bool(o, "show_level", true);
    add_bool(o, "show_log_origin", debug);
    return json_text(o);
}

char *fc_metrics_body(const char *metrics_path)
{
    struct json_object *o = json_object_new_object();
    add_str(o, "metrics_path", metrics_path);
    return json_text(o);
}

char *fc_action_body(const char *action_type)
{
    struct json_object *o = json_object_new_object();
    add_str(o, "action_type", action_type);
    return json_text(o);
}

char *fc_vm_state_body(const char *state)
{
    struct json_object *o = json_object_new_object();
    add_str(o, "state", state);
    return json_text(o);
}

char *fc_instance_id(const char *run_dir)
{
    const char *base = run_dir ? strrchr(run_dir, '/') : NULL;
    base = base ? base + 1 : run_dir ? run_dir : "";
    char id[65];
    size_t n = 0;
    for (const char *c = base; *c && n < sizeof(id) - 1; c++)
        if (isalnum((unsigned char)*c) || *c == '-')
            id[n++] = *c;
    id[n] = '\0';
    return xstrdup(n ? id : "kata");
}

/* ---- the API ---- */

/* One request.  A refusal names the request, the VMM's message and the body
 * we sent; when the VMM has exited, the error says so (with its log and the
 * guest console) instead of the broken connection. */
static int api_call(struct vm *vm, const char *method, const char *path, const char *body,
                    struct ch_answer *answer, struct kerr **err)
{
    struct ch_client c;
    ch_client_init(&c, fc_state(vm)->api_socket, FC_API_TIMEOUT_NS);
    struct ch_answer a;
    cleanup_kerr struct kerr *failure = NULL;
    int rc = ch_request(&c, method, path, body, &a, &failure);
    int status = a.status;
    if (answer)
        *answer = a;
    else
        ch_answer_release(&a);
    if (rc == 0)
        return 0;
    cleanup_kerr struct kerr *gone = NULL;
    if (vm_check_exited(vm, WHAT, &gone) < 0)
        return kerr_make(err, 0, "`%s %s`: %s", method, path, gone->msg);
    if (status >= 400 && body) {
        cleanup_free char *sent = text_escape(body, strlen(body), CH_ERROR_BODY_MAX);
        return kerr_make(err, failure->status, "%s; the request's body: %s", failure->msg, sent);
    }
    if (err)
        *err = steal_pointer(&failure);
    return -1;
}

static int api(struct vm *vm, const char *method, const char *path, const char *body,
               struct kerr **err)
{
    return api_call(vm, method, path, body, NULL, err);
}

/* GET /'s InstanceInfo.state ("Not started", "Running", "Paused"); caller
 * frees. */
static char *instance_state(struct vm *vm, struct kerr **err)
{
    struct ch_answer a;
    if (api_call(vm, "GET", "/", NULL, &a, err) < 0) {
        ch_answer_release(&a);
        return NULL;
    }
    struct json_object *info = a.body ? json_tokener_parse(a.body) : NULL, *state;
    char *out = NULL;
    if (info && json_object_is_type(info, json_type_object) &&
        json_object_object_get_ex(info, "state", &state) &&
        json_object_is_type(state, json_type_string)) {
        out = text_escape(json_object_get_string(state), (size_t)json_object_get_string_len(state),
                          40);
    } else {
        cleanup_free char *shown = text_escape(a.body ? a.body : "", a.len, 80);
        kerr_make(err, EPROTO, "`GET /`: not an InstanceInfo: `%s`", shown);
    }
    json_object_put(info);
    ch_answer_release(&a);
    return out;
}

/* GET / until it answers, the VMM exits, or FC_WAIT_NS. */
static int wait_api(struct vm *vm, struct kerr **err)
{
    uint64_t deadline = now_ns() + FC_WAIT_NS;
    struct ch_client c;
    ch_client_init(&c, fc_state(vm)->api_socket, FC_PING_NS);
    for (;;) {
        cleanup_kerr struct kerr *last = NULL;
        struct ch_answer a;
        int rc = ch_request(&c, "GET", "/", NULL, &a, &last);
        ch_answer_release(&a);
        if (rc == 0)
            return 0;
        if (vm_check_exited(vm, WHAT, err) < 0)
            return -1;
        if (now_ns() >= deadline) {
            kerr_make(err, ETIMEDOUT, "%s did not answer `GET /` within %llu s (%s)", WHAT,
                      (unsigned long long)(FC_WAIT_NS / 1000000000ull), last->msg);
            return -1;
        }
        struct timespec ts = {0, FC_POLL_NS};
        nanosleep(&ts, NULL);
    }
}

/* Firecracker's logger and metrics write to files it opens by path; each
 * path is its own inherited write end of a bounded relay (/proc/self/fd/N,
 * N the same number in the VMM as here), so neither file in the run dir
 * grows past VM_LOG_MAX (+ 64 KiB) however much is logged. */
static int open_relays(struct vm *vm, struct kerr **err)
{
    struct fc_state *st = fc_state(vm);
    cleanup_free char *log = xasprintf("%s/fc-logger.log", vm->cfg.run_dir);
    cleanup_free char *metrics = xasprintf("%s/fc-metrics.json", vm->cfg.run_dir);
    st->logger_fd = vm_log_relay(log, VM_LOG_MAX, err);
    if (st->logger_fd < 0)
        return -1;
    st->metrics_fd = vm_log_relay(metrics, VM_LOG_MAX, err);
    if (st->metrics_fd < 0) {
        close_relays(st);
        return -1;
    }
    return 0;
}

/* In the child before exec: the relays' write ends stay open. */
static void child_keep_relays(struct vm *vm)
{
    struct fc_state *st = fc_state(vm);
    fcntl(st->logger_fd, F_SETFD, 0);
    fcntl(st->metrics_fd, F_SETFD, 0);
}

static int put_logging(struct vm *vm, int logger_fd, int metrics_fd, struct kerr **err)
{
    cleanup_free char *log = xasprintf("/proc/self/fd/%d", logger_fd);
    cleanup_free char *metrics = xasprintf("/proc/self/fd/%d", metrics_fd);
    cleanup_free char *lb = fc_logger_body(log, vm->cfg.debug);
    cleanup_free char *mb = fc_metrics_body(metrics);
    if (api(vm, "PUT", "/logger", lb, err) < 0 || api(vm, "PUT", "/metrics", mb, err) < 0)
        return -1;
    return 0;
}

static int put_drive(struct vm *vm, const char *id, const char *path, bool readonly,
                     struct kerr **err)
{
    cleanup_free char *route = xasprintf("/drives/%s", id);
    cleanup_free char *body = fc_drive_body(id, path, readonly);
    return api(vm, "PUT", route, body, err);
}

/* The image (/dev/vda: root=/dev/vda), the boot disks, then the pool of
 * placeholders, in this order: Firecracker attaches them so. */
static int put_drives(struct vm *vm, struct kerr **err)
{
    const struct vm_config *cfg = &vm->cfg;
    struct fc_state *st = fc_state(vm);
    if (cfg->image && put_drive(vm, "rootfs", cfg->image, true, err) < 0)
        return -1;
    for (size_t i = 0; i < cfg->n_block_devices; i++) {
        const struct vm_block_device *d = &cfg->block_devices[i];
        if (put_drive(vm, d->id, d->path, d->readonly, err) < 0)
            return -1;
    }
    unsigned first = (cfg->image != NULL) + (unsigned)cfg->n_block_devices;
    unsigned n = drive_pool_size(cfg, FC_MAX_DISKS);
    if (drive_pool_create(vm, &st->drives, n, first, err) < 0)
        return -1;
    for (unsigned k = 0; k < n; k++) {
        char id[24];
        snprintf(id, sizeof(id), "drive_%u", k);
        cleanup_free char *path = drive_pool_placeholder(vm, k);
        if (put_drive(vm, id, path, false, err) < 0)
            return -1;
    }
    return 0;
}

/* The tap's name: the caller's, else the kernel's for its fd. */
static char *tap_name(const struct vm_net_device *n, size_t index, struct kerr **err)
{
    if (n->name && *n->name)
        return xstrdup(n->name);
    struct ifreq ifr = {0};
    if (ioctl(n->tap_fd, TUNGETIFF, &ifr) < 0) {
        kerr_make(err, errno, "network device %zu: the tap's name (TUNGETIFF on fd %d)", index,
                  n->tap_fd);
        return NULL;
    }
    return xstrndup(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));
}

static int put_nets(struct vm *vm, struct kerr **err)
{
    for (size_t i = 0; i < vm->cfg.n_net_devices; i++) {
        const struct vm_net_device *n = &vm->cfg.net_devices[i];
        cleanup_free char *name = tap_name(n, i, err);
        if (name == NULL)
            return -1;
        char id[32];
        snprintf(id, sizeof(id), "eth%zu", i);
        cleanup_free char *route = xasprintf("/network-interfaces/%s", id);
        cleanup_free char *body = fc_network_interface_body(id, name, n->mac);
        if (api(vm, "PUT", route, body, err) < 0)
            return -1;
    }
    return 0;
}

static int configure_and_boot(struct vm *vm, int logger_fd, int metrics_fd, struct kerr **err)
{
    cleanup_free char *cmdline = vm_kernel_cmdline(vm);
    cleanup_free char *machine = fc_machine_config_body(&vm->cfg);
    cleanup_free char *boot = fc_boot_source_body(&vm->cfg, cmdline);
    cleanup_free char *vsock = fc_vsock_body(vm->agent_socket);
    cleanup_free char *start = fc_action_body("InstanceStart");
    if (wait_api(vm, err) < 0 || put_logging(vm, logger_fd, metrics_fd, err) < 0 ||
        api(vm, "PUT", "/machine-config", machine, err) < 0 ||
        api(vm, "PUT", "/boot-source", boot, err) < 0 || put_drives(vm, err) < 0 ||
        put_nets(vm, err) < 0 || api(vm, "PUT", "/vsock", vsock, err) < 0 ||
        api(vm, "PUT", "/actions", start, err) < 0)
        return -1;
    cleanup_free char *state = instance_state(vm, err);
    if (state == NULL)
        return -1;
    if (strcmp(state, "Running") != 0)
        return kerr_make(err, EPROTO, "after InstanceStart the VM is `%s`, not `Running`", state);
    return 0;
}

/* ---- the ops ---- */

/* Firecracker's resource ids (drive_id, iface_id): at most 64 ASCII letters,
 * digits and underscores. */
static bool fc_valid_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 64)
        return false;
    for (const char *c = id; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '_')
            return false;
    return true;
}

static int check_config(const struct vm *vm, struct kerr **err)
{
    const struct vm_config *cfg = &vm->cfg;
    if (cfg->jailer_path)
        return kerr_make(err, ENOTSUP,
                         "[hypervisor.firecracker] jailer_path `%s`: starting Firecracker through "
                         "its jailer is not implemented (remove the key)",
                         cfg->jailer_path);
    if (cfg->shared_fs && strcmp(cfg->shared_fs, "none") != 0)
        return kerr_make(err, ENOTSUP,
                         "[hypervisor.firecracker] shared_fs `%s`: Firecracker has no shared file "
                         "system (use \"none\": containers on block devices)",
                         cfg->shared_fs);
    if (vm->accel != VM_ACCEL_KVM)
        return kerr_make(err, ENOTSUP,
                         "hypervisor `firecracker` needs KVM: no usable `/dev/kvm` on a CPU with "
                         "vmx or svm");
    if (cfg->hypervisor_path == NULL || *cfg->hypervisor_path == '\0')
        return kerr_make(err, EINVAL, "[hypervisor.firecracker] path: no Firecracker binary set");
    if (vm_check_files(vm, err) < 0)
        return -1;
    if (cfg->vcpus > FC_VCPUS_MAX)
        return kerr_make(err, EINVAL, "%u vCPUs: Firecracker runs at most %u", cfg->vcpus,
                         FC_VCPUS_MAX);
    for (size_t i = 0; i < cfg->n_block_devices; i++) {
        const struct vm_block_device *d = &cfg->block_devices[i];
        if (d->path == NULL || d->id == NULL || *d->id == '\0')
            return kerr_make(err, EINVAL, "block device %zu needs a path and an id", i);
        if (!fc_valid_id(d->id))
            return kerr_make(err, EINVAL,
                             "block device `%s`: its id `%s` is not a Firecracker drive_id (at "
                             "most 64 letters, digits and '_')",
                             d->path, d->id);
        if (strcmp(d->id, "rootfs") == 0 || strncmp(d->id, "drive_", 6) == 0)
            return kerr_make(err, EINVAL,
                             "block device `%s`: its id `%s` is the driver's (the image is "
                             "`rootfs`, placeholders `drive_K`)",
                             d->path, d->id);
        if (d->scsi)
            return kerr_make(err, ENOTSUP, "block device `%s`: Firecracker has no virtio-scsi",
                             d->path);
    }
    return 0;
}

static int fc_start(struct vm *vm, struct kerr **err)
{
    if (check_config(vm, err) < 0)
        return -1;
    struct fc_state *st = fc_state(vm);
    vm->agent_socket = xasprintf("%s/kata.hvsock", vm->cfg.run_dir);
    st->api_socket = xasprintf("%s/firecracker.socket", vm->cfg.run_dir);
    /* Firecracker binds both; a unix socket's path has at most 107 bytes. */
    if (strlen(st->api_socket) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return kerr_make(err, ENAMETOOLONG,
                         "API socket `%s`: a unix socket path is at most %zu bytes", st->api_socket,
                         sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
    unlink(vm->agent_socket); /* the run directory is ours: nothing else can be there */
    unlink(st->api_socket);
    vm->vsock = true; /* the agent listens on vsock; we reach it through the VMM's socket */
    vm->cid = FC_GUEST_CID;
    cleanup_free char *id = fc_instance_id(vm->cfg.run_dir);
    char *argv[] = {
        (char *)vm->cfg.hypervisor_path, "--api-sock", st->api_socket, "--id", id, NULL};
    if (open_relays(vm, err) < 0)
        return kerr_wrap(err, "start %s `%s`: its logger", WHAT, vm->cfg.hypervisor_path);
    int logger_fd = st->logger_fd, metrics_fd = st->metrics_fd;
    int spawned = vm_spawn(vm, argv, "firecracker.log", WHAT, child_keep_relays, err);
    close_relays(st); /* the VMM holds them now */
    if (spawned < 0)
        return kerr_wrap(err, "start %s `%s`", WHAT, vm->cfg.hypervisor_path);
    if (configure_and_boot(vm, logger_fd, metrics_fd, err) < 0) {
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

static int fc_agent_connect(struct vm *vm, uint64_t timeout_ns, struct kerr **err)
{
    cleanup_free char *channel = xasprintf("through `%s`", vm->agent_socket);
    return vm_connect_until(vm, WHAT, channel, timeout_ns, hybrid_connect_once, err);
}

/* SendCtrlAltDel (the guest resets, reboot=k, and Firecracker exits) within
 * grace_ns; SIGTERM when it cannot be asked (a VM never started); SIGKILL
 * when grace_ns has passed. */
static int stop_vmm(struct vm *vm, uint64_t grace_ns, struct kerr **err)
{
    if (vm->pid <= 0)
        return 0;
    uint64_t deadline = now_ns() + grace_ns;
    bool asked = false;
    if (grace_ns && fc_state(vm)->api_socket) {
        struct ch_client c;
        ch_client_init(&c, fc_state(vm)->api_socket, grace_ns / 2 ? grace_ns / 2 : 1);
        cleanup_free char *body = fc_action_body("SendCtrlAltDel");
        cleanup_kerr struct kerr *ignored = NULL; /* a VM never started answers 400 */
        asked = ch_request(&c, "PUT", "/actions", body, NULL, &ignored) == 0;
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

/* The VMM, then the placeholder files. */
static int fc_stop(struct vm *vm, uint64_t grace_ns, struct kerr **err)
{
    int rc = stop_vmm(vm, grace_ns, err);
    drive_pool_remove(vm, &fc_state(vm)->drives);
    return rc;
}

static int fc_pause(struct vm *vm, struct kerr **err)
{
    cleanup_free char *body = fc_vm_state_body("Paused");
    return api(vm, "PATCH", "/vm", body, err);
}

static int fc_resume(struct vm *vm, struct kerr **err)
{
    cleanup_free char *body = fc_vm_state_body("Resumed");
    return api(vm, "PATCH", "/vm", body, err);
}

/* GET /'s state, lower case ("running", "paused", "not started"). */
static char *fc_status(struct vm *vm, struct kerr **err)
{
    char *state = instance_state(vm, err);
    for (char *c = state; c && *c; c++)
        *c = (char)tolower((unsigned char)*c);
    return state;
}

/* PATCH /drives/drive_K: path behind placeholder drive k.  Firecracker's
 * PartialDrive cannot change is_read_only: the drive stays as it was created
 * (read-write); the agent mounts a read-only disk read-only. */
static int drive_swap(struct vm *vm, unsigned k, const char *path, bool readonly, struct kerr **err)
{
    (void)readonly;
    char id[24];
    snprintf(id, sizeof(id), "drive_%u", k);
    cleanup_free char *route = xasprintf("/drives/%s", id);
    cleanup_free char *body = fc_patch_drive_body(id, path);
    return api(vm, "PATCH", route, body, err);
}

static const struct drive_pool_ops fc_drive_ops = {
    .what = WHAT,
    .update = drive_swap,
    .seen = NULL, /* Firecracker cannot tell whether the guest read the new size */
};

static int fc_hotplug_block(struct vm *vm, const struct vm_block_device *dev, char **guest_path,
                            struct kerr **err)
{
    return drive_pool_plug(vm, &fc_state(vm)->drives, &fc_drive_ops, dev, guest_path, err);
}

static int fc_unplug_block(struct vm *vm, const char *id, uint64_t timeout_ns, struct kerr **err)
{
    return drive_pool_unplug(vm, &fc_state(vm)->drives, &fc_drive_ops, id, timeout_ns, err);
}

/* Firecracker's exit codes (FcExitCode): 0 when the VM ended (the guest
 * reset or powered off: reboot=k, SendCtrlAltDel), others its own errors. */
static const char *fc_exit_reason(struct vm *vm, int wait_status)
{
    (void)vm;
    if (!WIFEXITED(wait_status))
        return NULL;
    switch (WEXITSTATUS(wait_status)) {
    case 0:
        return "the VM ended (the guest reset or powered off)";
    case 148:
        return "Firecracker's seccomp filter refused a system call";
    case 152:
        return "Firecracker refused its configuration (see its log)";
    case 153:
        return "Firecracker refused its arguments (see its log)";
    default:
        return "the VMM failed (see its log)";
    }
}

static void fc_capabilities(const struct vm_config *cfg, struct vm_capabilities *caps)
{
    (void)cfg;
    caps->shared_fs = VM_CAP_FS(VM_SHARED_FS_NONE);
    caps->blk_hotplug = true; /* placeholder drives */
    caps->needs_binary = true;
    caps->runs_without_kvm = false;
    caps->tap_by_name = true; /* NetworkInterface has host_dev_name only */
    caps->agent_channel = "hybrid vsock (kata.hvsock through the VMM)";
}

void fc_attach(struct vm *vm, const char *api_socket)
{
    struct fc_state *st = fc_state(vm);
    free(st->api_socket);
    st->api_socket = xstrdup(api_socket);
}

/* The API socket and the drive table (the placeholder files went at stop). */
static void fc_release(struct vm *vm)
{
    struct fc_state *st = vm->priv;
    if (st == NULL)
        return;
    if (st->api_socket)
        unlink(st->api_socket);
    free(st->api_socket);
    drive_pool_free(&st->drives);
    close_relays(st);
    free(st);
    vm->priv = NULL;
}

const struct hypervisor_ops firecracker_ops = {
    .name = "firecracker",
    .capabilities = fc_capabilities,
    .start = fc_start,
    .agent_connect = fc_agent_connect,
    .stop = fc_stop,
    .pause = fc_pause,
    .resume = fc_resume,
    .status = fc_status,
    .hotplug_block = fc_hotplug_block,
    .unplug_block = fc_unplug_block,
    .pids = vm_process_pids,
    .exit_reason = fc_exit_reason,
    .release = fc_release,
};
