/* The container registry and the container lifecycle methods:
 * CreateContainer, StartContainer, RemoveContainer, ExecProcess,
 * SignalProcess, WaitProcess, the stream methods, and the cgroup-backed
 * Pause/Resume/Update/Stats and GetOOMEvent. */
#include "container.h"
#include "cgroup.h"
#include "hooks.h"
#include "log.h"
#include "sandbox.h"
#include "storage.h"
#include "util.h"

#include "agent.pb-c.h"
#include "empty.pb-c.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define OOM_POLL_NS        (200ull * 1000 * 1000)
#define OOM_WAITERS_MAX    16
#define REMOVE_DEFAULT_SEC 0 /* 0: wait as long as it takes */

static void reply_empty(struct ttrpc_call *call)
{
    Google__Protobuf__Empty empty = GOOGLE__PROTOBUF__EMPTY__INIT;
    ttrpc_call_reply(call, &empty.base);
}

static struct agent_containers *registry(struct agent *a)
{
    if (a->containers == NULL)
        a->containers = xcalloc(1, sizeof(*a->containers));
    return a->containers;
}

/* ---- lookups ---- */

static bool id_char(char c, bool first)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return !first && (c == '_' || c == '.' || c == '-');
}

int container_id_check(const char *what, const char *id, struct kerr **err)
{
    if (id == NULL || *id == '\0')
        return kerr_make(err, EINVAL, "%s: empty", what);
    size_t len = strlen(id);
    if (len > CONTAINER_ID_MAX)
        return kerr_make(err, EINVAL, "%s: longer than %d characters", what, CONTAINER_ID_MAX);
    for (size_t i = 0; i < len; i++)
        if (!id_char(id[i], i == 0))
            return kerr_make(err, EINVAL,
                             "%s `%.*s`: invalid (allowed: [A-Za-z0-9][A-Za-z0-9_.-]*)", what,
                             (int)len, id);
    return 0;
}

struct container *container_find(struct agent *a, const char *id)
{
    for (struct container *c = registry(a)->list; c; c = c->next)
        if (strcmp(c->id, id) == 0)
            return c;
    return NULL;
}

struct process *container_process_find(struct container *c, const char *exec_id)
{
    if (exec_id == NULL || *exec_id == '\0')
        return c->init;
    for (struct process *p = c->processes; p; p = p->next)
        if (strcmp(p->exec_id, exec_id) == 0)
            return p;
    return NULL;
}

struct container *container_lookup(struct agent *a, struct ttrpc_call *call,
                                   const char *container_id)
{
    cleanup_kerr struct kerr *err = NULL;
    if (container_id_check("container id", container_id, &err) < 0) {
        ttrpc_call_fail_err(call, TTRPC_INVALID_ARGUMENT, err);
        return NULL;
    }
    struct container *c = container_find(a, container_id);
    if (c == NULL)
        ttrpc_call_fail(call, TTRPC_NOT_FOUND, "container `%s`: not found", container_id);
    return c;
}

struct process *container_lookup_process(struct agent *a, struct ttrpc_call *call,
                                         const char *container_id, const char *exec_id)
{
    struct container *c = container_lookup(a, call, container_id);
    if (c == NULL)
        return NULL;
    cleanup_kerr struct kerr *err = NULL;
    if (exec_id && *exec_id && container_id_check("exec id", exec_id, &err) < 0) {
        ttrpc_call_fail_err(call, TTRPC_INVALID_ARGUMENT, err);
        return NULL;
    }
    struct process *p = container_process_find(c, exec_id);
    if (p == NULL)
        ttrpc_call_fail(call, TTRPC_NOT_FOUND, "container `%s`: process `%s` not found",
                        container_id, exec_id);
    return p;
}

/* ---- container objects ---- */

static Grpc__Spec *spec_copy(const Grpc__Spec *spec)
{
    size_t len = protobuf_c_message_get_packed_size(&spec->base);
    cleanup_free uint8_t *buf = xmalloc(len ? len : 1);
    protobuf_c_message_pack(&spec->base, buf);
    return grpc__spec__unpack(NULL, len, buf);
}

static void container_unlink(struct container *c)
{
    struct agent_containers *r = registry(c->agent);
    for (struct container **pp = &r->list; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            r->count--;
            return;
        }
    }
}

/* Kill what is left, free processes, cgroup and storages. */
static void container_destroy(struct container *c)
{
    struct agent *a = c->agent;
    if (c->cgroup) {
        if (c->state == CONTAINER_PAUSED)
            cgroup_freeze(c->cgroup, false, NULL);
        cgroup_kill_all(c->cgroup, NULL);
    }
    c->init = NULL;
    while (c->processes) {
        struct process *p = c->processes;
        c->processes = p->next;
        process_free(p);
    }
    c->state = CONTAINER_STOPPED;
    hooks_run_poststop(c);
    cleanup_kerr struct kerr *err = NULL;
    if (c->cgroup && cgroup_remove(c->cgroup, &err) < 0) {
        log_warn("remove container `%s`: %s", c->id, err->msg);
        kerr_clear(&err);
    }
    if (storage_remove_owner(a, c->id, &err) < 0)
        log_warn("remove container `%s`: %s", c->id, err->msg);
    container_unlink(c);
    if (c->remove_timer)
        loop_timer_cancel(c->remove_timer);
    if (c->spec)
        grpc__spec__free_unpacked(c->spec, NULL);
    free(c->bundle_root);
    free(c->cgroup);
    free(c->id);
    free(c);
}

static bool processes_all_exited(const struct container *c)
{
    for (const struct process *p = c->processes; p; p = p->next)
        if (!p->exited)
            return false;
    return true;
}

static void remove_finish(struct container *c)
{
    struct ttrpc_call *call = c->remove_call;
    c->remove_call = NULL;
    container_destroy(c);
    if (call)
        reply_empty(call);
}

void container_init_exited(struct container *c)
{
    c->state = CONTAINER_STOPPED;
    if (c->remove_call && processes_all_exited(c))
        remove_finish(c);
}

/* ---- cgroup ---- */

static bool is_cgroup2(const char *path)
{
    struct statfs sfs;
    return statfs(path, &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC;
}

static int container_cgroup_setup(struct container *c, struct kerr **err)
{
    struct agent *a = c->agent;
    if (!is_cgroup2(a->opts.cgroup_root)) {
        log_warn("container `%s`: no cgroup2 at `%s`: no limits, pause or stats", c->id,
                 a->opts.cgroup_root);
        return 0;
    }
    const Grpc__Linux *lx = c->spec->linux_;
    cleanup_free char *rel = cgroup_path_from_spec(lx ? lx->cgroupspath : NULL, c->id, err);
    if (rel == NULL)
        return -1;
    if (cgroup_create(a->opts.cgroup_root, rel, &c->cgroup, err) < 0)
        return -1;
    if (lx && cgroup_apply(c->cgroup, lx->resources, err) < 0)
        return -1;
    c->oom_kills = cgroup_oom_kill_count(c->cgroup);
    return 0;
}

static struct container *cgroup_container(struct agent *a, struct ttrpc_call *call, const char *id,
                                          const char *what)
{
    struct container *c = container_lookup(a, call, id);
    if (c && c->cgroup == NULL) {
        ttrpc_call_fail(call, TTRPC_FAILED_PRECONDITION,
                        "%s container `%s`: no cgroup v2 (the agent's cgroup root `%s` is not one)",
                        what, id, a->opts.cgroup_root);
        return NULL;
    }
    return c;
}

/* ---- CreateContainer ---- */

/* path must resolve to a directory under the storage root. */
static char *confined_path(struct agent *a, const char *what, const char *path, struct kerr **err)
{
    if (path == NULL || *path == '\0') {
        kerr_make(err, EINVAL, "%s: empty path", what);
        return NULL;
    }
    char root[PATH_MAX], real[PATH_MAX];
    if (realpath(a->opts.storage_root, root) == NULL) {
        kerr_make(err, errno, "storage root `%s`", a->opts.storage_root);
        return NULL;
    }
    if (realpath(path, real) == NULL) {
        kerr_make(err, errno, "%s `%s`", what, path);
        return NULL;
    }
    size_t n = strlen(root);
    if (strncmp(real, root, n) != 0 || (real[n] != '/' && real[n] != '\0')) {
        kerr_make(err, EPERM, "%s `%s`: not under the storage root `%s`", what, path,
                  a->opts.storage_root);
        return NULL;
    }
    return xstrdup(real);
}

static int validate_spec(struct agent *a, const Grpc__Spec *spec, char **rootfs, struct kerr **err)
{
    if (spec == NULL)
        return kerr_make(err, EINVAL, "no OCI spec");
    if (spec->process == NULL)
        return kerr_make(err, EINVAL, "spec: no process");
    if (spec->root == NULL)
        return kerr_make(err, EINVAL, "spec: no root");
    *rootfs = confined_path(a, "rootfs", spec->root->path, err);
    if (*rootfs == NULL)
        return -1;
    struct stat st;
    if (stat(*rootfs, &st) < 0 || !S_ISDIR(st.st_mode))
        return kerr_make(err, ENOTDIR, "rootfs `%s`", spec->root->path);
    for (size_t i = 0; i < spec->n_mounts; i++) {
        const Grpc__Mount *m = spec->mounts[i];
        bool bind = m->type && strcmp(m->type, "bind") == 0;
        for (size_t k = 0; k < m->n_options; k++)
            if (strcmp(m->options[k], "bind") == 0 || strcmp(m->options[k], "rbind") == 0)
                bind = true;
        if (!bind)
            continue;
        cleanup_free char *src = confined_path(a, "bind mount source", m->source, err);
        if (src == NULL)
            return kerr_wrap(err, "mount on `%s`", m->destination ? m->destination : "");
    }
    const Grpc__Linux *lx = spec->linux_;
    for (size_t i = 0; lx && i < lx->n_namespaces; i++) {
        const char *type = lx->namespaces[i]->type;
        if (type && strcmp(type, "user") == 0)
            return kerr_make(err, EINVAL, "spec: user namespaces are not supported in the guest");
    }
    return 0;
}

/* The host's Device list: each guest node (vm_path) gives the major and
 * minor of the spec device at container_path, added when the spec lacks it
 * (Kata's update_spec_devices).  The spec is our own unpacked copy: arrays
 * and strings are malloc'd, as protobuf-c frees them. */
#define DEVICE_WAIT_NS (5ull * 1000 * 1000 * 1000)

static int wait_device_node(const char *path, struct stat *st, struct kerr **err)
{
    if (strncmp(path, "/dev/", 5) != 0 || strstr(path, "/../") || strstr(path, "/./"))
        return kerr_make(err, EINVAL, "device `%s`: not a path under /dev", path);
    uint64_t deadline = now_ns() + DEVICE_WAIT_NS;
    while (stat(path, st) < 0) {
        if (errno != ENOENT || now_ns() > deadline)
            return kerr_make(err, errno, "device `%s`", path);
        usleep(20 * 1000);
    }
    if (!S_ISBLK(st->st_mode) && !S_ISCHR(st->st_mode))
        return kerr_make(err, ENODEV, "device `%s`: not a device node", path);
    return 0;
}

static int apply_devices(Grpc__Spec *spec, Grpc__Device *const *devices, size_t n,
                         struct kerr **err)
{
    for (size_t i = 0; i < n; i++) {
        const Grpc__Device *d = devices[i];
        if (d->vm_path == NULL || *d->vm_path == '\0')
            return kerr_make(err, EINVAL,
                             "device `%s` (%s): no vm_path (lookup by id is not "
                             "supported)",
                             d->id, d->type);
        struct stat st;
        if (wait_device_node(d->vm_path, &st, err) < 0)
            return -1;
        if (d->container_path == NULL || *d->container_path == '\0')
            continue;
        if (spec->linux_ == NULL)
            return kerr_make(err, EINVAL, "device `%s`: the spec has no linux section", d->id);
        Grpc__Linux *lx = spec->linux_;
        Grpc__LinuxDevice *target = NULL;
        for (size_t k = 0; k < lx->n_devices && !target; k++)
            if (lx->devices[k]->path && strcmp(lx->devices[k]->path, d->container_path) == 0)
                target = lx->devices[k];
        if (target == NULL) {
            target = xmalloc(sizeof(*target));
            grpc__linux_device__init(target);
            target->path = xstrdup(d->container_path);
            target->type = xstrdup(S_ISBLK(st.st_mode) ? "b" : "c");
            target->filemode = 0660;
            lx->devices = xrealloc(lx->devices, (lx->n_devices + 1) * sizeof(*lx->devices));
            lx->devices[lx->n_devices++] = target;
        }
        target->major = major(st.st_rdev);
        target->minor = minor(st.st_rdev);
    }
    return 0;
}

static void create_container(struct ttrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    struct agent *a = data;
    const Grpc__CreateContainerRequest *req = (const Grpc__CreateContainerRequest *)msg;
    cleanup_kerr struct kerr *err = NULL;
    struct agent_containers *r = registry(a);
    if (container_id_check("container id", req->container_id, &err) < 0 ||
        (*req->exec_id && container_id_check("exec id", req->exec_id, &err) < 0)) {
        ttrpc_call_fail_err(call, TTRPC_INVALID_ARGUMENT, err);
        return;
    }
    const char *id = req->container_id;
    if (container_find(a, id)) {
        ttrpc_call_fail(call, TTRPC_ALREADY_EXISTS, "create container `%s`: already exists", id);
        return;
    }
    if (r->count >= CONTAINER_MAX) {
        ttrpc_call_fail(call, TTRPC_RESOURCE_EXHAUSTED, "create container `%s`: %d containers", id,
                        CONTAINER_MAX);
        return;
    }
    if (storage_add(a, req->storages, req->n_storages, id, &err) < 0) {
        kerr_wrap(&err, "create container `%s`", id);
        ttrpc_call_fail_err(call, TTRPC_INTERNAL, err);
        return;
    }
    cleanup_free char *rootfs = NULL;
    if (validate_spec(a, req->oci, &rootfs, &err) < 0) {
        kerr_wrap(&err, "create container `%s`", id);
        ttrpc_call_fail_err(call, TTRPC_INVALID_ARGUMENT, err);
        storage_remove_owner(a, id, NULL);
        return;
    }

    struct container *c = xcalloc(1, sizeof(*c));
    c->agent = a;
    c->id = xstrdup(id);
    c->spec = spec_copy(req->oci);
    c->bundle_root = steal_pointer(&rootfs);
    c->state = CONTAINER_CREATED;
    c->next = r->list;
    r->list = c;
    r->count++;

    if (req->sandbox_pidns && !agent_sandbox_pidns(a, &c->pidns_pid)) {
        ttrpc_call_fail(call, TTRPC_FAILED_PRECONDITION,
                        "create container `%s`: the sandbox has no shared pid namespace "
                        "(CreateSandbox with sandbox_pidns)",
                        id);
        container_destroy(c);
        return;
    }
    if (apply_devices(c->spec, req->devices, req->n_devices, &err) < 0) {
        kerr_wrap(&err, "create container `%s`", id);
        ttrpc_call_fail_err(call, TTRPC_INVALID_ARGUMENT, err);
        container_destroy(c);
        return;
    }
    const char *exec_id = *req->exec_id ? req->exec_id : id;
    struct process_spawn spawn = {.container = c, .process = c->spec->process, .init = true};
    if (container_cgroup_setup(c, &err) < 0 || hooks_run(c, OCI_HOOK_CREATE_RUNTIME, &err) < 0 ||
        (c->init = process_spawn(&spawn, exec_id, &err)) == NULL ||
        hooks_run(c, OCI_HOOK_PRESTART, &err) < 0) {
        kerr_wrap(&err, "create container `%s`", id);
        log_warn("%s", err->msg);
        ttrpc_call_fail_err(call, TTRPC_INTERNAL, err);
        if (c->init) {
            c->processes = c->init;
            c->n_processes = 1;
        }
        container_destroy(c);
        return;
    }
    c->processes = c->init;
    c->n_processes = 1;
    log_info("container `%s` created (init pid %d)", id, (int)c->init->pid);
    reply_empty(call);
}

/* ---- StartContainer ---- */

static void start_container(struct ttrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    struct agent *a = data;
    const Grpc__StartContainerRequest *req = (const Grpc__StartContainerRequest *)msg;
    struct container *c = container_lookup(a, call, req->container_id);
    if (c == NULL)
        return;
    if (c->state != CONTAINER_CREATED || c->init->started) {
        ttrpc_call_fail(call, TTRPC_FAILED_PRECONDITION,
                        "start container `%s`: not in the created state", c->id);
        return;
    }
    cleanup_kerr struct kerr *err = NULL;
    if (process_start(c->init, &err) < 0) {
        kerr_wrap(&err, "start container `%s`", c->id);
        ttrpc_call_fail_err(call, TTRPC_INTERNAL, err);
        return;
    }
    if (!c->init->exited)
        c->state = CONTAINER_RUNNING;
    if (hooks_run(c, OCI_HOOK_POSTSTART, &err) < 0) {
        /* runc: a failing poststart hook is logged, the container runs. */
        log_warn("start container `%s`: %s", c->id, err->msg);
    }
    reply_empty(call);
}

/* ---- RemoveContainer ---- */

static void remove_timed_out(void *data)
{
    struct container *c = data;
    c->remove_timer = NULL;
    struct ttrpc_call *call = c->remove_call;
    c->remove_call = NULL;
    if (call)
        ttrpc_call_fail(call, TTRPC_DEADLINE_EXCEEDED,
                        "remove container `%s`: processes still alive after the timeout", c->id);
}

static void remove_cancelled(void *data)
{
    struct container *c = data;
    c->remove_call = NULL;
    if (c->remove_timer)
        loop_timer_cancel(c->remove_timer);
    c->remove_timer = NULL;
}

static void kill_container(struct container *c)
{
    if (c->cgroup) {
        if (c->state == CONTAINER_PAUSED)
            cgroup_freeze(c->cgroup, false, NULL);
        cgroup_kill_all(c->cgroup, NULL);
    }
    for (struct process *p = c->processes; p; p = p->next)
        if (!p->exited)
            kill(p->pid, SIGKILL);
}

static void remove_container(struct ttrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    struct agent *a = data;
    const Grpc__RemoveContainerRequest *req = (const Grpc__RemoveContainerRequest *)msg;
    struct container *c = container_lookup(a, call, req->container_id);
    if (c == NULL)
        return;
    if (c->remove_call) {
        ttrpc_call_fail(call, TTRPC_FAILED_PRECONDITION,
                        "remove container `%s`: a removal is already waiting", c->id);
        return;
    }
    if (processes_all_exited(c)) {
        container_destroy(c);
        reply_empty(call);
        return;
    }
    /* As Kata: kill everything, wait (bounded by the timeout), then clean up. */
    kill_container(c);
    c->remove_call = call;
    ttrpc_call_set_cancel(call, remove_cancelled, c);
    if (req->timeout)
        c->remove_timer =
            loop_timer_add(a->loop, (uint64_t)req->timeout * 1000000000ull, remove_timed_out, c);
}

/* An exec process exited: a waiting removal may be done. */
static void maybe_finish_remove(struct container *c)
{
    if (c->remove_call && processes_all_exited(c))
        remove_finish(c);
}

/* ---- ExecProcess ---- */

/* Make room for one more process by dropping the oldest exited, drained one. */
static bool processes_make_room(struct container *c)
{
    if (c->n_processes < CONTAINER_PROCESSES_MAX)
        return true;
    struct process **victim = NULL;
    for (struct process **pp = &c->processes; *pp; pp = &(*pp)->next)
        if (!(*pp)->init && (*pp)->flushed && (*pp)->waits == NULL)
            victim = pp;
    if (victim == NULL)
        return false;
    struct process *p = *victim;
    *victim = p->next;
    c->n_processes--;
    process_free(p);
    return true;
}

static void exec_process(struct ttrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    struct agent *a = data;
    const Grpc__ExecProcessRequest *req = (const Grpc__ExecProcessRequest *)msg;
    struct container *c = container_lookup(a, call, req->container_id);
    if (c == NULL)
        return;
    cleanup_kerr struct kerr *err = NULL;
    if (container_id_check("exec id", req->exec_id, &err) < 0) {
        ttrpc_call_fail_err(call, TTRPC_INVALID_ARGUMENT, err);
        return;
    }
    if (c->state != CONTAINER_RUNNING || c->init->exited) {
        ttrpc_call_fail(call, TTRPC_FAILED_PRECONDITION,
                        "exec in container `%s`: the container is not running", c->id);
        return;
    }
    struct process *old = container_process_find(c, req->exec_id);
    if (old && (!old->flushed || old->init)) {
        ttrpc_call_fail(call, TTRPC_ALREADY_EXISTS, "exec `%s` in container `%s`: already exists",
                        req->exec_id, c->id);
        return;
    }
    if (old) {
        for (struct process **pp = &c->processes; *pp; pp = &(*pp)->next) {
            if (*pp == old) {
                *pp = old->next;
                c->n_processes--;
                break;
            }
        }
        process_free(old);
    }
    if (!processes_make_room(c)) {
        ttrpc_call_fail(call, TTRPC_RESOURCE_EXHAUSTED,
                        "exec in container `%s`: %d processes still running", c->id,
                        CONTAINER_PROCESSES_MAX);
        return;
    }
    struct process_spawn spawn = {.container = c, .process = req->process, .init = false};
    struct process *p = process_spawn(&spawn, req->exec_id, &err);
    if (p == NULL || process_start(p, &err) < 0) {
        kerr_wrap(&err, "exec `%s` in container `%s`", req->exec_id, c->id);
        ttrpc_call_fail_err(call, TTRPC_INTERNAL, err);
        if (p) {
            /* Its exit is still reported; keep it so a wait can read it. */
            p->next = c->processes->next;
            c->processes->next = p;
            c->n_processes++;
        }
        return;
    }
    /* After init, which stays first. */
    p->next = c->processes->next;
    c->processes->next = p;
    c->n_processes++;
    reply_empty(call);
}

/* ---- SignalProcess / WaitProcess ---- */

static void signal_all(struct container *c, int sig)
{
    if (c->cgroup) {
        /* Frozen, so nothing forks away while we go through the list. */
        bool freeze = c->state != CONTAINER_PAUSED;
        if (freeze)
            cgroup_freeze(c->cgroup, true, NULL);
        pid_t *pids = NULL;
        size_t n = 0;
        if (cgroup_pids(c->cgroup, &pids, &n, NULL) == 0)
            for (size_t i = 0; i < n; i++)
                kill(pids[i], sig);
        free(pids);
        if (freeze)
            cgroup_freeze(c->cgroup, false, NULL);
        return;
    }
    for (struct process *p = c->processes; p; p = p->next)
        if (!p->exited && !p->init)
            kill(p->pid, sig);
}

static void signal_process(struct ttrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    struct agent *a = data;
    const Grpc__SignalProcessRequest *req = (const Grpc__SignalProcessRequest *)msg;
    if (req->signal == 0 || req->signal >= (uint32_t)NSIG) {
        ttrpc_call_fail(call, TTRPC_INVALID_ARGUMENT, "signal %u: out of range", req->signal);
        return;
    }
    struct process *p = container_lookup_process(a, call, req->container_id, req->exec_id);
    if (p == NULL)
        return;
    cleanup_kerr struct kerr *err = NULL;
    int sig = (int)req->signal;
    if (process_signal(p, sig, &err) < 0 && !(err->status == ESRCH && !*req->exec_id)) {
        ttrpc_call_fail_err(call, err->status == ESRCH ? TTRPC_NOT_FOUND : TTRPC_INTERNAL, err);
        return;
    }
    if (*req->exec_id == '\0')
        signal_all(p->container, sig);
    reply_empty(call);
}

static void wait_process(struct ttrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    struct agent *a = data;
    const Grpc__WaitProcessRequest *req = (const Grpc__WaitProcessRequest *)msg;
    struct process *p = container_lookup_process(a, call, req->container_id, req->exec_id);
    if (p)
        process_wait(p, call);
}

/* ---- streams ---- */

static void write_stdin(struct ttrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    const Grpc__WriteStreamRequest *req = (const Grpc__WriteStreamRequest *)msg;
    struct process *p = container_lookup_process(data, call, req->container_id, req->exec_id);
    if (p)
        stdio_in_write(p->in, call, req->data.data, req->data.len);
}

static void read_stdout(struct ttrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    const Grpc__ReadStreamRequest *req = (const Grpc__ReadStreamRequest *)msg;
    struct process *p = container_lookup_process(data, call, req->container_id, req->exec_id);
    if (p)
        stdio_out_read(p->out, call, req->len);
}

static void read_stderr(struct ttrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    const Grpc__ReadStreamRequest *req = (const Grpc__ReadStreamRequest *)msg;
    struct process *p = container_lookup_process(data, call, req->container_id, req->exec_id);
    if (p == NULL)
        return;
    if (p->err == NULL) { /* a terminal has one output stream: stderr is at EOF */
        Grpc__ReadStreamResponse resp = GRPC__READ_STREAM_RESPONSE__INIT;
        ttrpc_call_reply(call, &resp.base);
        return;
    }
    stdio_out_read(p->err, call, req->len);
}

static void close_stdin(struct ttrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    const Grpc__CloseStdinRequest *req = (const Grpc__CloseStdinRequest *)msg;
    struct process *p = container_lookup_process(data, call, req->container_id, req->exec_id);
    if (p == NULL)
        return;
    stdio_in_close(p->in);
    reply_empty(call);
}

static void tty_win_resize(struct ttrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    const Grpc__TtyWinResizeRequest *req = (const Grpc__TtyWinResizeRequest *)msg;
    struct process *p = container_lookup_process(data, call, req->container_id, req->exec_id);
    if (p == NULL)
        return;
    if (req->row > UINT16_MAX || req->column > UINT16_MAX) {
        ttrpc_call_fail(call, TTRPC_INVALID_ARGUMENT, "resize terminal: %ux%u out of range",
                        req->column, req->row);
        return;
    }
    if (p->pty_master < 0 && p->terminal && p->exited) {
        reply_empty(call); /* its terminal is gone with it: nothing to resize */
        return;
    }
    if (p->pty_master < 0) {
        ttrpc_call_fail(call, TTRPC_FAILED_PRECONDITION,
                        "resize terminal of process `%s`: it has no terminal", p->exec_id);
        return;
    }
    cleanup_kerr struct kerr *err = NULL;
    if (stdio_pty_resize(p->pty_master, (uint16_t)req->row, (uint16_t)req->column, &err) < 0) {
        ttrpc_call_fail_err(call, TTRPC_INTERNAL, err);
        return;
    }
    reply_empty(call);
}

/* ---- cgroup-backed methods ---- */

static void pause_resume(struct ttrpc_call *call, struct agent *a, const char *id, bool pause)
{
    struct container *c = cgroup_container(a, call, id, pause ? "pause" : "resume");
    if (c == NULL)
        return;
    enum container_state want_from = pause ? CONTAINER_RUNNING : CONTAINER_PAUSED;
    if (c->state != want_from) {
        ttrpc_call_fail(call, TTRPC_FAILED_PRECONDITION, "%s container `%s`: it is not %s",
                        pause ? "pause" : "resume", id, pause ? "running" : "paused");
        return;
    }
    cleanup_kerr struct kerr *err = NULL;
    if (cgroup_freeze(c->cgroup, pause, &err) < 0) {
        kerr_wrap(&err, "%s container `%s`", pause ? "pause" : "resume", id);
        ttrpc_call_fail_err(call, TTRPC_INTERNAL, err);
        return;
    }
    c->state = pause ? CONTAINER_PAUSED : CONTAINER_RUNNING;
    reply_empty(call);
}

static void pause_container(struct ttrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    pause_resume(call, data, ((const Grpc__PauseContainerRequest *)msg)->container_id, true);
}

static void resume_container(struct ttrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    pause_resume(call, data, ((const Grpc__ResumeContainerRequest *)msg)->container_id, false);
}

static void update_container(struct ttrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    const Grpc__UpdateContainerRequest *req = (const Grpc__UpdateContainerRequest *)msg;
    struct container *c = cgroup_container(data, call, req->container_id, "update");
    if (c == NULL)
        return;
    cleanup_kerr struct kerr *err = NULL;
    if (cgroup_apply(c->cgroup, req->resources, &err) < 0) {
        kerr_wrap(&err, "update container `%s`", c->id);
        ttrpc_call_fail_err(call, TTRPC_INVALID_ARGUMENT, err);
        return;
    }
    reply_empty(call);
}

static void stats_container(struct ttrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    const Grpc__StatsContainerRequest *req = (const Grpc__StatsContainerRequest *)msg;
    struct container *c = cgroup_container(data, call, req->container_id, "stats of");
    if (c == NULL)
        return;
    cleanup_kerr struct kerr *err = NULL;
    Grpc__CgroupStats *stats = NULL;
    if (cgroup_stats(c->cgroup, &stats, &err) < 0) {
        kerr_wrap(&err, "stats of container `%s`", c->id);
        ttrpc_call_fail_err(call, TTRPC_INTERNAL, err);
        return;
    }
    Grpc__StatsContainerResponse resp = GRPC__STATS_CONTAINER_RESPONSE__INIT;
    resp.cgroup_stats = stats;
    ttrpc_call_reply(call, &resp.base);
    cgroup_stats_free(stats);
}

/* GetOOMEvent: answered when some container's memory.events oom_kill rises. */
struct oom_waiter {
    struct agent *a;
    struct ttrpc_call *call;
    struct oom_waiter *next;
};

static void oom_poll(void *data);

static void oom_arm(struct agent *a)
{
    struct agent_containers *r = registry(a);
    if (r->oom_waiters && r->oom_timer == NULL)
        r->oom_timer = loop_timer_add(a->loop, OOM_POLL_NS, oom_poll, a);
    else if (r->oom_waiters == NULL && r->oom_timer) {
        loop_timer_cancel(r->oom_timer);
        r->oom_timer = NULL;
    }
}

static void oom_poll(void *data)
{
    struct agent *a = data;
    struct agent_containers *r = registry(a);
    r->oom_timer = NULL;
    for (struct container *c = r->list; c && r->oom_waiters; c = c->next) {
        if (c->cgroup == NULL)
            continue;
        uint64_t count = cgroup_oom_kill_count(c->cgroup);
        if (count <= c->oom_kills)
            continue;
        c->oom_kills = count;
        struct oom_waiter *w = r->oom_waiters;
        r->oom_waiters = w->next;
        Grpc__OOMEvent resp = GRPC__OOMEVENT__INIT;
        resp.container_id = c->id;
        ttrpc_call_reply(w->call, &resp.base);
        free(w);
    }
    oom_arm(a);
}

static void oom_cancelled(void *data)
{
    struct oom_waiter *w = data;
    struct agent_containers *r = registry(w->a);
    for (struct oom_waiter **pp = &r->oom_waiters; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    struct agent *a = w->a;
    free(w);
    oom_arm(a);
}

static void get_oom_event(struct ttrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    struct agent *a = data;
    struct agent_containers *r = registry(a);
    size_t n = 0;
    for (struct oom_waiter *w = r->oom_waiters; w; w = w->next)
        n++;
    if (n >= OOM_WAITERS_MAX) {
        ttrpc_call_fail(call, TTRPC_RESOURCE_EXHAUSTED, "get OOM event: %d calls already waiting",
                        OOM_WAITERS_MAX);
        return;
    }
    struct oom_waiter *w = xcalloc(1, sizeof(*w));
    w->a = a;
    w->call = call;
    struct oom_waiter **pp = &r->oom_waiters;
    while (*pp)
        pp = &(*pp)->next;
    *pp = w;
    ttrpc_call_set_cancel(call, oom_cancelled, w);
    oom_arm(a);
}

/* ---- sandbox teardown ---- */

void agent_containers_destroy_all(struct agent *a)
{
    struct agent_containers *r = registry(a);
    while (r->list) {
        struct container *c = r->list;
        struct ttrpc_call *call = c->remove_call;
        c->remove_call = NULL;
        kill_container(c);
        container_destroy(c);
        if (call)
            reply_empty(call);
    }
}

/* Process exits that matter to the container (removal waiting on them). */
void container_process_exited(struct container *c)
{
    maybe_finish_remove(c);
}

static const struct ttrpc_method container_methods[] = {
    {AGENT_SERVICE, "CreateContainer", &grpc__create_container_request__descriptor,
     create_container},
    {AGENT_SERVICE, "StartContainer", &grpc__start_container_request__descriptor, start_container},
    {AGENT_SERVICE, "RemoveContainer", &grpc__remove_container_request__descriptor,
     remove_container},
    {AGENT_SERVICE, "ExecProcess", &grpc__exec_process_request__descriptor, exec_process},
    {AGENT_SERVICE, "SignalProcess", &grpc__signal_process_request__descriptor, signal_process},
    {AGENT_SERVICE, "WaitProcess", &grpc__wait_process_request__descriptor, wait_process},
    {AGENT_SERVICE, "WriteStdin", &grpc__write_stream_request__descriptor, write_stdin},
    {AGENT_SERVICE, "ReadStdout", &grpc__read_stream_request__descriptor, read_stdout},
    {AGENT_SERVICE, "ReadStderr", &grpc__read_stream_request__descriptor, read_stderr},
    {AGENT_SERVICE, "CloseStdin", &grpc__close_stdin_request__descriptor, close_stdin},
    {AGENT_SERVICE, "TtyWinResize", &grpc__tty_win_resize_request__descriptor, tty_win_resize},
    {AGENT_SERVICE, "PauseContainer", &grpc__pause_container_request__descriptor, pause_container},
    {AGENT_SERVICE, "ResumeContainer", &grpc__resume_container_request__descriptor,
     resume_container},
    {AGENT_SERVICE, "UpdateContainer", &grpc__update_container_request__descriptor,
     update_container},
    {AGENT_SERVICE, "StatsContainer", &grpc__stats_container_request__descriptor, stats_container},
    {AGENT_SERVICE, "GetOOMEvent", &grpc__get_oomevent_request__descriptor, get_oom_event},
};
const struct agent_method_table agent_container_methods = {container_methods,
                                                           ARRAY_SIZE(container_methods)};
