/* Containers and their processes: rootfs into the shared dir, the agent's
 * container calls, exits and deferred Waits. */
#include "agent.pb-c.h"
#include "log.h"
#include "safe_fs.h"
#include "shim.h"
#include "task_events.pb-c.h"
#include "timestamp.pb-c.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define AGENT_CALL_NS (30ull * 1000000000ull)

struct waiter {
    struct ttrpc_call *call;
    struct process *process;
    struct waiter *next;
};

struct container *container_find(struct shim *shim, const char *id)
{
    for (struct container *c = shim->containers; c; c = c->next)
        if (strcmp(c->id, id) == 0)
            return c;
    return NULL;
}

struct process *process_find(struct shim *shim, const char *id, const char *exec_id)
{
    struct container *c = container_find(shim, id);
    if (c == NULL)
        return NULL;
    if (exec_id == NULL || *exec_id == '\0')
        return &c->init;
    for (struct process *p = c->execs; p; p = p->next)
        if (strcmp(p->exec_id, exec_id) == 0)
            return p;
    return NULL;
}

/* containerd's rootfs mounts (overlay, bind) onto the bundle's rootfs. */
static int rootfs_mount(struct container *c, const Containerd__Task__V2__CreateTaskRequest *req,
                        struct kerr **err)
{
    if (mkdir_all(c->host_rootfs, 0755, err) < 0)
        return -1;
    for (size_t i = 0; i < req->n_rootfs; i++) {
        const Containerd__Types__Mount *m = req->rootfs[i];
        unsigned long flags = 0;
        cleanup_free char *data = xstrdup("");
        for (size_t k = 0; k < m->n_options; k++) {
            const char *o = m->options[k];
            if (strcmp(o, "ro") == 0)
                flags |= MS_RDONLY;
            else if (strcmp(o, "rw") == 0)
                continue;
            else if (strcmp(o, "bind") == 0)
                flags |= MS_BIND;
            else if (strcmp(o, "rbind") == 0)
                flags |= MS_BIND | MS_REC;
            else {
                char *next = xasprintf("%s%s%s", data, *data ? "," : "", o);
                free(data);
                data = next;
            }
        }
        if (mount(m->source, c->host_rootfs, m->type, flags, *data ? data : NULL) < 0)
            return kerr_make(err, errno, "mount rootfs `%s` (%s) on `%s`", m->source, m->type,
                             c->host_rootfs);
        c->rootfs_mounted = true;
    }
    return 0;
}

static bool is_bind(const Grpc__Mount *m)
{
    if (m->type && strcmp(m->type, "bind") == 0)
        return true;
    for (size_t i = 0; i < m->n_options; i++)
        if (strcmp(m->options[i], "bind") == 0 || strcmp(m->options[i], "rbind") == 0)
            return true;
    return false;
}

static bool is_readonly(const Grpc__Mount *m)
{
    bool ro = false;
    for (size_t i = 0; i < m->n_options; i++) {
        if (strcmp(m->options[i], "ro") == 0)
            ro = true;
        else if (strcmp(m->options[i], "rw") == 0)
            ro = false;
    }
    return ro;
}

/* The spec's root in the guest, shared through the shared dir. */
static int share_rootfs(struct shim *shim, struct container *c, Grpc__Spec *spec, struct kerr **err)
{
    /* Read-write on the host even for a read-only root: the agent makes
     * mount points in it before it remounts it read-only. */
    char *guest = share_bind(shim->sandbox, c, c->host_rootfs, "rootfs", false, err);
    if (guest == NULL)
        return -1;
    if (spec->root == NULL) {
        spec->root = xcalloc(1, sizeof(*spec->root));
        grpc__root__init(spec->root);
    }
    if (spec->root->path != protobuf_c_empty_string)
        free(spec->root->path);
    spec->root->path = guest;
    return 0;
}

/* The rootfs reaches the guest as a disk (blockroot.c) or through the shared
 * dir; every bind mount's source through the shared dir, or as a copy when
 * nothing is shared.  The spec is rewritten to the guest's paths. */
static int share_container_files(struct shim *shim, struct container *c, Grpc__Spec *spec,
                                 Grpc__Storage **rootfs_storage, struct kerr **err)
{
    bool sharing = vm_shared_fs_kind(shim->sandbox->vm_cfg.shared_fs, NULL) != VM_SHARED_FS_NONE;
    int r = c->blockroot ? blockroot_plug(shim, c, spec, rootfs_storage, err)
                         : share_rootfs(shim, c, spec, err);
    if (r < 0)
        return -1;
    for (size_t i = 0; i < spec->n_mounts; i++) {
        Grpc__Mount *m = spec->mounts[i];
        if (!is_bind(m) || m->source == NULL || m->source[0] != '/')
            continue;
        cleanup_free char *name = xasprintf("mounts/%zu", i);
        char *g = NULL;
        if (sharing) {
            g = share_bind(shim->sandbox, c, m->source, name, is_readonly(m), err);
        } else {
            g = xasprintf("%s/%s/%s", GUEST_SHARED_DIR, c->id, name);
            if (guest_copy_file(shim, m->source, g, err) < 0) {
                free(g);
                g = NULL;
            }
        }
        if (g == NULL)
            return kerr_wrap(err, "container `%s`: mount `%s`", c->id, m->destination);
        free(m->source);
        m->source = g;
    }
    return 0;
}

static void unshare_container_files(struct shim *shim, struct container *c)
{
    share_unbind_container(shim->sandbox, c);
    if (c->rootfs_mounted && umount2(c->host_rootfs, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
        log_warn("unmount `%s`: %s", c->host_rootfs, strerror(errno));
    c->rootfs_mounted = false;
}

static void process_init(struct process *p, struct container *c, const char *exec_id,
                         const char *in, const char *out, const char *errp, bool terminal)
{
    p->container = c;
    p->serial = ++c->shim->next_process_serial;
    p->exec_id = xstrdup(exec_id);
    p->status = PROCESS_CREATED;
    p->stdin_path = xstrdup(in ? in : "");
    p->stdout_path = xstrdup(out ? out : "");
    p->stderr_path = xstrdup(errp ? errp : "");
    p->terminal = terminal;
}

static void process_release(struct process *p)
{
    while (p->waiters) {
        struct waiter *w = p->waiters;
        p->waiters = w->next;
        ttrpc_call_set_cancel(w->call, NULL, NULL);
        ttrpc_call_fail(w->call, TTRPC_NOT_FOUND, "process deleted");
        free(w);
    }
    io_relay_free(p->io);
    p->io = NULL;
    free(p->exec_id);
    free(p->stdin_path);
    free(p->stdout_path);
    free(p->stderr_path);
}

int container_create(struct shim *shim, const Containerd__Task__V2__CreateTaskRequest *req,
                     struct container **out, struct kerr **err)
{
    if (safe_id_check("container", req->id, err) < 0)
        return kerr_wrap(err, "create container");
    if (container_find(shim, req->id))
        return kerr_make(err, EEXIST, "create container `%s`", req->id);
    cleanup_free char *config = xasprintf("%s/config.json", req->bundle);
    cleanup_oci_spec Grpc__Spec *spec = oci_spec_load(config, err);
    if (spec == NULL)
        return kerr_wrap(err, "create container `%s`", req->id);
    bool is_sandbox;
    cleanup_free char *sid = shim_sandbox_id_of(spec, req->id, &is_sandbox);
    if (safe_id_check("sandbox", sid, err) < 0)
        return kerr_wrap(err, "create container `%s`", req->id);
    if (shim->sandbox == NULL && !is_sandbox)
        return kerr_make(err, ENOENT, "create container `%s`: sandbox `%s` is not running", req->id,
                         sid);
    if (shim->sandbox && strcmp(shim->sandbox->id, sid) != 0)
        return kerr_make(err, EINVAL, "create container `%s`: it belongs to sandbox `%s`, not `%s`",
                         req->id, sid, shim->sandbox->id);
    const char *root =
        spec->root && spec->root->path && *spec->root->path ? spec->root->path : "rootfs";
    char *host_rootfs = root[0] == '/' ? xstrdup(root) : xasprintf("%s/%s", req->bundle, root);
    struct blockroot *br = NULL;
    if (blockroot_detect(req, host_rootfs, &br, err) < 0) {
        free(host_rootfs);
        return kerr_wrap(err, "create container `%s`", req->id);
    }
    bool booted = false;
    int r = 0;
    if (shim->sandbox == NULL) {
        /* The VM's boot decides for this rootfs before the VM starts. */
        struct sandbox_boot_args boot = {.sandbox_id = sid,
                                         .spec = spec,
                                         .container_id = req->id,
                                         .rootfs_path = host_rootfs,
                                         .rootfs = &br,
                                         .driver = shim->driver,
                                         .vmm_exited = shim_all_stopped};
        r = sandbox_boot(shim, &boot, err);
        booted = true;
    } else {
        r = blockroot_decide(shim, req->id, host_rootfs, &br, false, err);
    }
    if (r < 0) {
        if (booted)
            shim_teardown(shim);
        blockroot_free(br);
        free(host_rootfs);
        return kerr_wrap(err, "create container `%s`", req->id);
    }
    struct container *c = xcalloc(1, sizeof(*c));
    c->shim = shim;
    c->id = xstrdup(req->id);
    c->bundle = xstrdup(req->bundle);
    c->is_sandbox = is_sandbox;
    c->host_rootfs = host_rootfs;
    c->blockroot = br;
    process_init(&c->init, c, "", req->stdin, req->stdout, req->stderr, req->terminal);
    c->next = shim->containers;
    shim->containers = c;

    container_hooks_take(c, spec);
    /* A block rootfs from containerd is the guest's to mount, not ours. */
    bool mount_here = req->n_rootfs > 0 && !(br && br->from_create);
    r = mount_here ? rootfs_mount(c, req, err) : 0;
    if (r == 0)
        r = sandbox_state_write(shim, err);
    Grpc__Storage *rootfs_storage = NULL;
    if (r == 0)
        r = share_container_files(shim, c, spec, &rootfs_storage, err);
    if (r == 0)
        r = sandbox_state_write(shim, err);
    if (r == 0 && (r = container_hooks_create(c, err)) == 0)
        c->created = true;
    if (r == 0) {
        if (spec->process)
            spec->process->terminal = req->terminal;
        Grpc__CreateContainerRequest creq = GRPC__CREATE_CONTAINER_REQUEST__INIT;
        creq.container_id = c->id;
        creq.exec_id = c->id;
        network_spec_for_guest(spec);
        creq.oci = spec;
        if (rootfs_storage) {
            creq.storages = &rootfs_storage;
            creq.n_storages = 1;
        }
        r = agent_call(shim, "CreateContainer", &creq.base, NULL, NULL, AGENT_CALL_NS, err);
    }
    if (rootfs_storage)
        protobuf_c_message_free_unpacked(&rootfs_storage->base, NULL);
    if (r == 0)
        r = io_relay_start(shim, &c->init, err);
    if (r == 0)
        process_wait_begin(shim, &c->init);
    if (r < 0) {
        kerr_wrap(err, "create container `%s`", req->id);
        container_destroy(shim, c);
        if (booted || shim->containers == NULL)
            shim_teardown(shim);
        return -1;
    }
    *out = c;
    return 0;
}

/* The agent's answer may come after the process was deleted, or after a
 * container of the same id replaced it: look it up, by its serial. */
struct wait_ctx {
    struct shim *shim;
    char *id, *exec_id;
    uint64_t serial;
};

static void wait_replied(int code, const char *message, const uint8_t *payload, size_t len,
                         void *data)
{
    struct wait_ctx *ctx = data;
    struct process *p = process_find(ctx->shim, ctx->id, ctx->exec_id);
    bool same = p && p->serial == ctx->serial;
    free(ctx->id);
    free(ctx->exec_id);
    free(ctx);
    if (!same)
        return;
    p->wait_pending = false;
    if (p->status == PROCESS_STOPPED)
        return;
    uint32_t status = 255;
    if (code == TTRPC_OK) {
        Grpc__WaitProcessResponse *r = grpc__wait_process_response__unpack(NULL, len, payload);
        if (r) {
            status = (uint32_t)r->status;
            grpc__wait_process_response__free_unpacked(r, NULL);
        }
    } else {
        log_warn("container `%s`: WaitProcess: %s", p->container->id, message ? message : "");
    }
    if (p->starting) {
        /* Published once the Start's own answer and event are out. */
        p->exit_held = true;
        p->held_status = status;
        return;
    }
    process_exited(p, status);
}

/* Ask the agent for the process's exit: it answers once the process is gone,
 * started or not (a created container killed, a start that failed). */
void process_wait_begin(struct shim *shim, struct process *p)
{
    struct container *c = p->container;
    if (p->wait_pending || p->status == PROCESS_STOPPED)
        return;
    Grpc__WaitProcessRequest wreq = GRPC__WAIT_PROCESS_REQUEST__INIT;
    wreq.container_id = c->id;
    wreq.exec_id = *p->exec_id ? p->exec_id : c->id;
    struct wait_ctx *ctx = xcalloc(1, sizeof(*ctx));
    ctx->shim = shim;
    ctx->id = xstrdup(c->id);
    ctx->exec_id = xstrdup(p->exec_id);
    ctx->serial = p->serial;
    cleanup_kerr struct kerr *werr = NULL;
    if (agent_call_async(shim, "WaitProcess", &wreq.base, 0, wait_replied, ctx, &werr) == 0) {
        p->wait_pending = true;
    } else {
        log_warn("container `%s`: cannot wait for it: %s", c->id, werr ? werr->msg : "no agent");
        free(ctx->id);
        free(ctx->exec_id);
        free(ctx);
    }
}

int process_start(struct shim *shim, struct process *p, struct kerr **err)
{
    struct container *c = p->container;
    if (p->status == PROCESS_STOPPED)
        return kerr_make(err, EBUSY, "start `%s`%s%s%s: it has exited (status %u)", c->id,
                         *p->exec_id ? " exec `" : "", p->exec_id, *p->exec_id ? "`" : "",
                         p->exit_status);
    if (p->status != PROCESS_CREATED)
        return kerr_make(err, EBUSY, "start `%s`: already started", c->id);
    p->starting = true;
    if (*p->exec_id == '\0') {
        Grpc__StartContainerRequest req = GRPC__START_CONTAINER_REQUEST__INIT;
        req.container_id = c->id;
        if (agent_call(shim, "StartContainer", &req.base, NULL, NULL, AGENT_CALL_NS, err) < 0)
            return kerr_wrap(err, "start container `%s`", c->id);
    }
    /* The VMM may have gone meanwhile: then it stays stopped. */
    if (p->status != PROCESS_CREATED)
        return kerr_make(err, EIO, "start `%s`: the sandbox stopped meanwhile", c->id);
    p->status = PROCESS_RUNNING;
    if (*p->exec_id == '\0')
        container_hooks_poststart(c);
    io_relay_stdin_begin(shim, p);
    process_wait_begin(shim, p);
    return 0;
}

void process_start_done(struct process *p)
{
    p->starting = false;
    if (p->exit_held) {
        p->exit_held = false;
        process_exited(p, p->held_status);
    }
}

static void waiter_cancelled(void *data)
{
    struct waiter *w = data;
    for (struct waiter **pp = &w->process->waiters; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    free(w);
}

static void waiter_reply(struct waiter *w)
{
    Containerd__Task__V2__WaitResponse resp = CONTAINERD__TASK__V2__WAIT_RESPONSE__INIT;
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = (int64_t)(w->process->exited_at / 1000000000ull);
    ts.nanos = (int32_t)(w->process->exited_at % 1000000000ull);
    resp.exit_status = w->process->exit_status;
    resp.exited_at = &ts;
    ttrpc_call_set_cancel(w->call, NULL, NULL);
    ttrpc_call_reply(w->call, &resp.base);
}

void process_add_waiter(struct process *p, struct ttrpc_call *call)
{
    struct waiter *w = xcalloc(1, sizeof(*w));
    w->call = call;
    w->process = p;
    if (p->status == PROCESS_STOPPED) {
        waiter_reply(w);
        free(w);
        return;
    }
    w->next = p->waiters;
    p->waiters = w;
    ttrpc_call_set_cancel(call, waiter_cancelled, w);
}

void process_exited(struct process *p, uint32_t status)
{
    if (p->status == PROCESS_STOPPED)
        return;
    struct container *c = p->container;
    p->status = PROCESS_STOPPED;
    p->exit_status = status;
    p->exited_at = realtime_ns();
    log_info("container `%s` process `%s` exited with %u", c->id, p->exec_id, status);
    Containerd__Events__TaskExit ev = CONTAINERD__EVENTS__TASK_EXIT__INIT;
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = (int64_t)(p->exited_at / 1000000000ull);
    ts.nanos = (int32_t)(p->exited_at % 1000000000ull);
    ev.container_id = c->id;
    ev.id = *p->exec_id ? p->exec_id : c->id;
    ev.pid = shim_task_pid(c->shim);
    ev.exit_status = status;
    ev.exited_at = &ts;
    shim_publish(c->shim, "/tasks/exit", &ev.base);
    while (p->waiters) {
        struct waiter *w = p->waiters;
        p->waiters = w->next;
        waiter_reply(w);
        free(w);
    }
}

void shim_all_stopped(struct shim *shim, uint32_t status)
{
    for (struct container *c = shim->containers; c; c = c->next) {
        for (struct process *p = c->execs; p; p = p->next)
            if (p->status != PROCESS_CREATED)
                process_exited(p, status);
        process_exited(&c->init, status);
    }
}

void shim_teardown(struct shim *shim)
{
    if (shim->sandbox == NULL)
        return;
    sandbox_stop(shim);
    while (shim->containers)
        container_destroy(shim, shim->containers);
    sandbox_free(shim);
}

void container_destroy(struct shim *shim, struct container *c)
{
    for (struct container **pp = &shim->containers; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    unshare_container_files(shim, c);
    if (c->created)
        container_hooks_poststop(c);
    container_hooks_free(c);
    blockroot_release(shim, c);
    while (c->execs) {
        struct process *p = c->execs;
        c->execs = p->next;
        process_release(p);
        free(p);
    }
    process_release(&c->init);
    free(c->id);
    free(c->bundle);
    free(c->host_rootfs);
    free(c);
    if (shim->sandbox) {
        cleanup_kerr struct kerr *e = NULL;
        sandbox_state_write(shim, &e);
    }
}
