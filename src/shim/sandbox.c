/* The sandbox: VM boot (shared dir, virtiofsd, agent, CreateSandbox), the
 * state dir written before anything relies on it, teardown, and cleanup of a
 * dead daemon's sandbox from its state. */
#include "agent.pb-c.h"
#include "vm_config.h"
#include "log.h"
#include "proc_ref.h"
#include "safe_fs.h"
#include "shim.h"
#include "util.h"

#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STATE_FILE_MAX (1u << 20)

/* A process in state.json: pid and start time (proc_ref.h).  cache keeps
 * the start time read when the pid was first recorded. */
static struct json_object *state_process_new(pid_t pid, struct proc_ref *cache)
{
    if (pid <= 0)
        return NULL;
    if (cache->pid != pid && proc_ref_of(pid, cache) < 0)
        return NULL;
    struct json_object *p = json_object_new_object();
    json_object_object_add(p, "pid", json_object_new_int(pid));
    json_object_object_add(p, "start", json_object_new_uint64(cache->start));
    return p;
}

static void state_put_process(struct json_object *o, const char *key, pid_t pid,
                              struct proc_ref *cache)
{
    struct json_object *p = state_process_new(pid, cache);
    if (p)
        json_object_object_add(o, key, p);
}

/* "vm_processes": every host process the driver says the VM owns. */
static void state_put_vm_processes(struct json_object *o, struct sandbox *sb)
{
    pid_t pids[VM_HOST_PIDS_MAX];
    size_t n = vm_host_pids(&sb->vm, pids, VM_HOST_PIDS_MAX);
    struct json_object *a = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        struct json_object *p = state_process_new(pids[i], &sb->vm_refs[i]);
        if (p)
            json_object_array_add(a, p);
    }
    json_object_object_add(o, "vm_processes", a);
}

int sandbox_state_write(struct shim *shim, struct kerr **err)
{
    struct sandbox *sb = shim->sandbox;
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "sandbox_id", json_object_new_string(sb->id));
    state_put_process(o, "daemon", getpid(), &sb->daemon_ref);
    state_put_process(o, "vmm", sb->vm.pid, &sb->vmm_ref);
    state_put_vm_processes(o, sb);
    json_object_object_add(o, "run_dir", json_object_new_string(sb->run_dir));
    json_object_object_add(o, "share_root", json_object_new_string(sb->share_root));
    json_object_object_add(o, "share_mounted", json_object_new_boolean(sb->share_mounted));
    if (sb->netns_path)
        json_object_object_add(o, "netns", json_object_new_string(sb->netns_path));
    struct json_object *shared = json_object_new_array();
    struct json_object *host = json_object_new_array();
    for (struct container *c = shim->containers; c; c = c->next) {
        for (size_t i = 0; i < c->n_shared_mounts; i++) {
            struct json_object *m = json_object_new_object();
            json_object_object_add(m, "path", json_object_new_string(c->shared_mounts[i].rel));
            json_object_object_add(m, "mnt_id", json_object_new_uint64(c->shared_mounts[i].mnt_id));
            json_object_array_add(shared, m);
        }
        if (c->rootfs_mounted)
            json_object_array_add(host, json_object_new_string(c->host_rootfs));
    }
    json_object_object_add(o, "shared_mounts", shared);
    json_object_object_add(o, "host_mounts", host);
    size_t len;
    const char *text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PRETTY, &len);
    cleanup_free char *path = xasprintf("%s/state.json", sb->state_dir);
    int r = file_write_atomic(path, text, len, 0600, err);
    json_object_put(o);
    return r < 0 ? kerr_wrap(err, "write sandbox state") : 0;
}

uint32_t shim_task_pid(const struct shim *shim)
{
    return shim->sandbox && shim->sandbox->vm.pid > 0 ? (uint32_t)shim->sandbox->vm.pid : 0;
}

/* A host process of the VM is forked and waits to exec: state.json names
 * it first (the driver's exec gate, vm_process.h). */
static int vm_spawned(struct vm *vm, void *data, struct kerr **err)
{
    (void)vm;
    return sandbox_state_write(data, err);
}

/* The VMM exited on its own: every container is stopped. */
static void vmm_exited(struct loop_watch *w, uint32_t events, void *data)
{
    struct shim *shim = data;
    struct sandbox *sb = shim->sandbox;
    loop_watch_remove(w);
    sb->vmm_watch = NULL;
    int status = sb->vm.pid > 0 ? vm_wait_exit(&sb->vm, 0) : sb->vmm_status;
    sb->vmm_gone = true;
    sb->vmm_status = status;
    log_warn("sandbox `%s`: the VMM exited (wait status %d)", sb->id, status);
    agent_client_close(shim);
    if (sb->vmm_exited)
        sb->vmm_exited(shim, 255);
}

static void sandbox_fill_vm_config(struct sandbox *sb)
{
    struct vm_config *v = &sb->vm_cfg;
    vm_config_from_kata(sb->cfg, v);
    v->run_dir = sb->run_dir;
    v->console_path = sb->console_path;
    v->shared_dir = sb->shared_dir;
}

static bool sharing(const struct sandbox *sb)
{
    return vm_shared_fs_kind(sb->vm_cfg.shared_fs, NULL) != VM_SHARED_FS_NONE;
}

static Grpc__Storage *share_storage(const struct sandbox *sb)
{
    Grpc__Storage *s = xcalloc(1, sizeof(*s));
    grpc__storage__init(s);
    bool virtiofs = vm_shared_fs_kind(sb->vm_cfg.shared_fs, NULL) == VM_SHARED_FS_VIRTIO_FS;
    s->driver = xstrdup(virtiofs ? "virtio-fs" : "9p");
    s->source = xstrdup(VM_SHARE_TAG_DEFAULT);
    s->fstype = xstrdup(virtiofs ? "virtiofs" : "9p");
    s->mount_point = xstrdup(GUEST_SHARED_DIR);
    if (!virtiofs) {
        s->n_options = 3;
        s->options = xcalloc(3, sizeof(char *));
        s->options[0] = xstrdup("trans=virtio,version=9p2000.L,cache=mmap");
        s->options[1] = xstrdup("nodev");
        s->options[2] = xstrdup("msize=8192");
    }
    return s;
}

static int sandbox_create_in_guest(struct shim *shim, const Grpc__Spec *spec, struct kerr **err)
{
    struct sandbox *sb = shim->sandbox;
    if (!agent_client_connected(shim)) /* the VMM exited meanwhile (vmm_exited) */
        return kerr_make(err, ENOTCONN, "CreateSandbox: the agent's connection is gone");
    Grpc__CreateSandboxRequest req = GRPC__CREATE_SANDBOX_REQUEST__INIT;
    req.sandbox_id = sb->id;
    req.hostname = spec && spec->hostname ? spec->hostname : "";
    req.sandbox_pidns = false;
    Grpc__Storage *storages[1] = {NULL};
    if (sharing(sb)) {
        storages[0] = share_storage(sb);
        req.storages = storages;
        req.n_storages = 1;
    }
    int code = 0;
    /* 60 s: the guest mounts the share here, which took over 30 s once on a
     * loaded 2-core TCG host. */
    int r =
        agent_call_status(shim, "CreateSandbox", &req.base, NULL, NULL, 60000000000ull, &code, err);
    if (storages[0])
        protobuf_c_message_free_unpacked(&storages[0]->base, NULL);
    if (r < 0 && code == TTRPC_UNIMPLEMENTED) {
        /* An agent without sandbox support still runs containers without a
         * share. */
        log_warn("sandbox `%s`: %s", sb->id, (*err)->msg);
        kerr_clear(err);
        return 0;
    }
    return r;
}

/* The guest's loopback up (127.0.0.1/8): a pod's containers share the VM's
 * network and talk over it.  Without it only that fails: a warning. */
static void sandbox_loopback_up(struct shim *shim)
{
    struct sandbox *sb = shim->sandbox;
    if (!agent_client_connected(shim))
        return;
    Types__IPAddress addr = TYPES__IPADDRESS__INIT;
    addr.family = TYPES__IPFAMILY__v4;
    addr.address = "127.0.0.1";
    addr.mask = "8";
    Types__IPAddress *addrs[] = {&addr};
    Types__Interface lo = TYPES__INTERFACE__INIT;
    lo.name = "lo";
    lo.device = "lo";
    lo.n_ipaddresses = 1;
    lo.ipaddresses = addrs;
    /* mtu 0: unchanged (the agent refuses lo's own 65536 as too large). */
    Grpc__UpdateInterfaceRequest req = GRPC__UPDATE_INTERFACE_REQUEST__INIT;
    req.interface = &lo;
    cleanup_kerr struct kerr *e = NULL;
    if (agent_call(shim, "UpdateInterface", &req.base, NULL, NULL, 10000000000ull, &e) < 0)
        log_warn("sandbox `%s`: loopback: %s", sb->id, e->msg);
}

/* The last lines of the guest's console, for an error (at most 400 bytes,
 * printable ASCII: the guest wrote it). */
static char *console_tail(const struct sandbox *sb)
{
    cleanup_free char *text = NULL;
    size_t len = 0;
    if (file_read_all(sb->console_path, 1 << 20, &text, &len, NULL) < 0 || len == 0)
        return xstrdup("(empty)");
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        len--;
    size_t start = len > 400 ? len - 400 : 0;
    char *out = xmalloc(len - start + 1);
    for (size_t i = start; i < len; i++)
        out[i - start] =
            text[i] == '\n' ? '|' : (text[i] >= 0x20 && text[i] < 0x7f ? text[i] : '?');
    out[len - start] = '\0';
    return out;
}

static int exit_code_of(int wait_status)
{
    if (wait_status < 0)
        return -1;
    return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
}

/* A boot step failed (cause): when the VMM is gone (or goes within a moment:
 * a closed channel is often its exit), say so, with its status and the
 * guest console's tail, rather than the channel's symptom. */
static int boot_failed(struct sandbox *sb, struct kerr **cause, struct kerr **err)
{
    if (!sb->vmm_gone && sb->vm.pid > 0) {
        int status = vm_wait_exit(&sb->vm, 1000000000ull);
        if (status != -1 || errno != ETIMEDOUT) {
            sb->vmm_gone = true;
            sb->vmm_status = status;
            if (sb->vmm_watch) /* reaped here: vmm_exited must not wait again */
                loop_watch_remove(sb->vmm_watch);
            sb->vmm_watch = NULL;
        }
    }
    if (!sb->vmm_gone) {
        *err = steal_pointer(cause);
        return -1;
    }
    cleanup_free char *tail = console_tail(sb);
    kerr_clear(cause);
    return kerr_make(err, 0,
                     "the VMM `%s` exited (status %d) before the agent answered; "
                     "the guest console ends: %s",
                     sb->vm_cfg.hypervisor_path, exit_code_of(sb->vmm_status), tail);
}

/* The agent answers (grpc.Health/Check) within the dial timeout: over a
 * serial port the VMM connects our socket whatever the guest does, so a
 * guest whose agent never comes up shows only here. */
static int agent_wait_ready(struct shim *shim, uint64_t timeout_ns, uint64_t dial_ns,
                            struct kerr **err)
{
    struct sandbox *sb = shim->sandbox;
    cleanup_kerr struct kerr *e = NULL;
    int code = 0;
    if (agent_health_check(shim, timeout_ns, &code, &e) == 0)
        return 0;
    if (code == TTRPC_DEADLINE_EXCEEDED && !sb->vmm_gone) {
        cleanup_free char *tail = console_tail(sb);
        return kerr_make(err, 0,
                         "the agent did not answer within %llu s ([agent] dial_timeout in "
                         "`%s`); the guest console ends: %s",
                         (unsigned long long)(dial_ns / 1000000000ull), sb->cfg->path, tail);
    }
    return boot_failed(sb, &e, err);
}

int sandbox_boot(struct shim *shim, const struct sandbox_boot_args *args, struct kerr **err)
{
    const char *sandbox_id = args->sandbox_id;
    const Grpc__Spec *spec = args->spec;
    struct sandbox *sb = xcalloc(1, sizeof(*sb));
    shim->sandbox = sb;
    sb->vmm_pidfd = -1;
    sb->share_fd = sb->mounts_fd = -1;
    sb->id = xstrdup(sandbox_id);
    sb->vmm_exited = args->vmm_exited;
    cleanup_free char *state_root = shim_state_root();
    cleanup_free char *shared_root = shim_shared_root();
    sb->state_dir = xasprintf("%s/%s", state_root, sandbox_id);
    sb->run_dir = xasprintf("%s/vm", sb->state_dir);
    sb->console_path = xasprintf("%s/console.log", sb->run_dir);
    sb->share_root = xasprintf("%s/%s", shared_root, sandbox_id);
    sb->shared_dir = xasprintf("%s/shared", sb->share_root);
    sb->cfg = kata_config_load(NULL, 0, err);
    if (sb->cfg == NULL)
        return kerr_wrap(err, "boot sandbox `%s`: configuration", sandbox_id);
    if (pod_config_apply(sb->cfg, spec, err) < 0)
        return kerr_wrap(err, "boot sandbox `%s`", sandbox_id);
    const struct hypervisor_ops *ops =
        args->driver ? args->driver : hypervisor_find(sb->cfg->hypervisor.name);
    if (ops == NULL)
        return kerr_make(err, ENOTSUP, "boot sandbox `%s`: no driver for hypervisor `%s`",
                         sandbox_id, sb->cfg->hypervisor.name);
    sb->driver = ops;
    sandbox_fill_vm_config(sb);
    if (pod_vm_size(&sb->vm_cfg, sb->cfg, spec, err) < 0 ||
        sandbox_network_select(sb, spec, err) < 0)
        return kerr_wrap(err, "boot sandbox `%s`", sandbox_id);
    if (args->rootfs_path &&
        blockroot_boot_prepare(shim, args->container_id, args->rootfs_path, args->rootfs, err) < 0)
        return kerr_wrap(err, "boot sandbox `%s`", sandbox_id);
    if (mkdir_all(sb->run_dir, 0700, err) < 0)
        return kerr_wrap(err, "boot sandbox `%s`", sandbox_id);
    /* The state names the netns before a tap exists in it. */
    if (sandbox_state_write(shim, err) < 0)
        return -1;
    if (sharing(sb) && (share_tree_prepare(sb, err) < 0 || sandbox_state_write(shim, err) < 0))
        return kerr_wrap(err, "boot sandbox `%s`", sandbox_id);
    if (sandbox_network_attach(sb, err) < 0)
        return kerr_wrap(err, "boot sandbox `%s`", sandbox_id);
    vm_init(&sb->vm, ops, &sb->vm_cfg);
    sb->vm.spawned = vm_spawned;
    sb->vm.spawned_data = shim;
    int started = ops->start(&sb->vm, err);
    sandbox_network_vmm_started(sb);
    if (started < 0)
        return kerr_wrap(err, "boot sandbox `%s`", sandbox_id);
    sb->vm_started = true;
    if (sandbox_state_write(shim, err) < 0)
        return -1;
    sb->vmm_pidfd = (int)syscall(SYS_pidfd_open, sb->vm.pid, 0);
    if (sb->vmm_pidfd >= 0)
        sb->vmm_watch = loop_watch_add(shim->loop, sb->vmm_pidfd, EPOLLIN, vmm_exited, shim, NULL);
    uint64_t dial = (uint64_t)sb->cfg->agent.dial_timeout * 1000000000ull;
    uint64_t dial_deadline = now_ns() + dial;
    int fd = ops->agent_connect(&sb->vm, dial, err);
    if (fd < 0)
        return kerr_wrap(err, "boot sandbox `%s` (VMM `%s`)", sandbox_id,
                         sb->vm_cfg.hypervisor_path);
    if (agent_client_open(shim, fd, err) < 0)
        return kerr_wrap(err, "boot sandbox `%s`", sandbox_id);
    uint64_t now = now_ns();
    if (agent_wait_ready(shim, dial_deadline > now ? dial_deadline - now : 1, dial, err) < 0)
        return kerr_wrap(err, "boot sandbox `%s`", sandbox_id);
    cleanup_kerr struct kerr *step = NULL;
    if (sandbox_network_configure_guest(shim, &step) < 0 ||
        sandbox_create_in_guest(shim, spec, &step) < 0) {
        boot_failed(sb, &step, err);
        return kerr_wrap(err, "boot sandbox `%s`", sandbox_id);
    }
    sandbox_loopback_up(shim);
    shim_oom_watch(shim);
    console_log_bound(shim);
    log_info("sandbox `%s`: VM pid %d up", sandbox_id, (int)sb->vm.pid);
    return 0;
}

/* Remove our own state dir (state, sockets, logs); never follows a symlink
 * or crosses a mount. */
static void state_dir_remove(const char *state_dir)
{
    cleanup_kerr struct kerr *e = NULL;
    if (safe_remove_tree(state_dir, &e) < 0)
        log_warn("%s", e->msg);
}

void sandbox_stop(struct shim *shim)
{
    struct sandbox *sb = shim->sandbox;
    if (sb == NULL)
        return;
    if (agent_client_connected(shim)) {
        Grpc__DestroySandboxRequest req = GRPC__DESTROY_SANDBOX_REQUEST__INIT;
        cleanup_kerr struct kerr *e = NULL;
        agent_call(shim, "DestroySandbox", &req.base, NULL, NULL, 3000000000ull, &e);
        agent_client_close(shim);
    }
    console_log_unbound(sb);
    if (sb->vmm_watch)
        loop_watch_remove(sb->vmm_watch);
    sb->vmm_watch = NULL;
    if (sb->vmm_pidfd >= 0)
        close(sb->vmm_pidfd);
    sb->vmm_pidfd = -1;
    if (sb->vm_started) {
        cleanup_kerr struct kerr *e = NULL;
        if (sb->vm.ops->stop(&sb->vm, 2000000000ull, &e) < 0)
            log_warn("sandbox `%s`: %s", sb->id, e->msg);
    }
    sb->vm_started = false;
    if (sb->vm.ops)
        vm_release(&sb->vm);
    sb->vm.ops = NULL;
    sandbox_network_teardown(sb); /* the VMM is gone: its taps with it */
}

void sandbox_free(struct shim *shim)
{
    struct sandbox *sb = shim->sandbox;
    if (sb == NULL)
        return;
    share_tree_remove(sb);
    state_dir_remove(sb->state_dir);
    kata_config_free(sb->cfg);
    free(sb->id);
    free(sb->state_dir);
    free(sb->run_dir);
    free(sb->console_path);
    free(sb->share_root);
    free(sb->shared_dir);
    free(sb);
    shim->sandbox = NULL;
}

/* A process state.json records ({"pid": N, "start": T}). */
static struct proc_ref state_process_of(struct json_object *v)
{
    struct proc_ref p = {0, 0};
    struct json_object *f;
    if (!json_object_is_type(v, json_type_object))
        return p;
    if (json_object_object_get_ex(v, "pid", &f))
        p.pid = json_object_get_int(f);
    if (json_object_object_get_ex(v, "start", &f))
        p.start = json_object_get_uint64(f);
    return p;
}

static struct proc_ref state_process(struct json_object *o, const char *key)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v))
        return (struct proc_ref){0, 0};
    return state_process_of(v);
}

/* The VM's recorded host processes ("vm_processes"; a state written before
 * it has "vmm" and "virtiofsd"), at most max. */
static size_t state_vm_processes(struct json_object *o, struct proc_ref *out, size_t max)
{
    struct json_object *a;
    size_t n = 0;
    if (json_object_object_get_ex(o, "vm_processes", &a) &&
        json_object_is_type(a, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(a) && n < max; i++)
            out[n++] = state_process_of(json_object_array_get_idx(a, i));
        return n;
    }
    out[n++] = state_process(o, "vmm");
    if (n < max)
        out[n++] = state_process(o, "virtiofsd");
    return n;
}

static struct json_object *state_load(const char *state_dir, struct kerr **err)
{
    cleanup_free char *path = xasprintf("%s/state.json", state_dir);
    cleanup_free char *text = NULL;
    if (file_read_all(path, STATE_FILE_MAX, &text, NULL, err) < 0)
        return NULL;
    struct json_object *o = json_tokener_parse(text);
    if (o == NULL || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        kerr_make(err, EINVAL, "`%s` is not a JSON object", path);
    }
    return o;
}

bool sandbox_daemon_gone(const char *state_dir)
{
    cleanup_kerr struct kerr *e = NULL;
    struct json_object *o = state_load(state_dir, &e);
    if (o == NULL)
        return false;
    struct proc_ref daemon = state_process(o, "daemon");
    json_object_put(o);
    return daemon.pid > 0 && daemon.pid != getpid() && !proc_ref_alive(&daemon);
}

/* The share tree's recorded binds, then the tree itself. */
static int cleanup_share(struct json_object *o, struct kerr **err)
{
    struct json_object *v;
    const char *share_root =
        json_object_object_get_ex(o, "share_root", &v) ? json_object_get_string(v) : NULL;
    if (share_root == NULL || share_root[0] != '/')
        return 0;
    size_t n = 0;
    struct shared_mount *recorded = NULL;
    if (json_object_object_get_ex(o, "shared_mounts", &v) &&
        json_object_is_type(v, json_type_array)) {
        size_t count = json_object_array_length(v);
        recorded = xcalloc(count + 1, sizeof(*recorded));
        for (size_t i = 0; i < count; i++) {
            struct json_object *m = json_object_array_get_idx(v, i), *f;
            if (!json_object_is_type(m, json_type_object) ||
                !json_object_object_get_ex(m, "path", &f) || !json_object_get_string(f))
                continue;
            recorded[n].rel = (char *)json_object_get_string(f);
            recorded[n].mnt_id =
                json_object_object_get_ex(m, "mnt_id", &f) ? json_object_get_uint64(f) : 0;
            n++;
        }
    }
    int r = share_cleanup_recorded(share_root, recorded, n, err);
    free(recorded);
    return r;
}

int sandbox_cleanup_from_state(const char *state_dir, struct kerr **err)
{
    struct json_object *o = state_load(state_dir, err);
    if (o == NULL) {
        if ((*err)->status == ENOENT) {
            kerr_clear(err);
            state_dir_remove(state_dir);
            return 0;
        }
        return kerr_wrap(err, "clean sandbox");
    }
    struct proc_ref daemon = state_process(o, "daemon");
    if (daemon.pid > 0 && daemon.pid != getpid())
        proc_ref_kill_wait(&daemon, 5000);
    /* Every process of the VM was recorded before it could exec (the
     * driver's exec gate, vm_spawned): one the daemon died before recording
     * never ran, and exited. */
    struct proc_ref procs[VM_HOST_PIDS_MAX];
    vm_kill_recorded(procs, state_vm_processes(o, procs, VM_HOST_PIDS_MAX), 5000);
    /* The VMM is gone and its taps with it: the veths' qdiscs remain. */
    cleanup_kerr struct kerr *net_err = NULL;
    struct json_object *v;
    if (json_object_object_get_ex(o, "netns", &v) && json_object_get_string(v))
        sandbox_network_detach(json_object_get_string(v), &net_err);
    if (json_object_object_get_ex(o, "host_mounts", &v) &&
        json_object_is_type(v, json_type_array)) {
        for (size_t i = json_object_array_length(v); i-- > 0;) {
            const char *m = json_object_get_string(json_object_array_get_idx(v, i));
            if (m && m[0] == '/' && umount2(m, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 &&
                errno != EINVAL && errno != ENOENT)
                log_warn("unmount `%s`: %s", m, strerror(errno));
        }
    }
    cleanup_kerr struct kerr *share_err = NULL;
    int share = cleanup_share(o, &share_err);
    json_object_put(o);
    if (net_err || share < 0) {
        /* Keep the state: a later delete tries again. */
        if (err) {
            *err = net_err ? steal_pointer(&net_err) : steal_pointer(&share_err);
        }
        return kerr_wrap(err, "clean sandbox");
    }
    state_dir_remove(state_dir);
    return 0;
}
