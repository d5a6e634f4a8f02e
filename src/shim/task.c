/* containerd.task.v2.Task: one handler per method, in a table. */
#include "agent.pb-c.h"
#include "empty.pb-c.h"
#include "log.h"
#include "shim.h"
#include "task_events.pb-c.h"
#include "timestamp.pb-c.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TASK_SERVICE  "containerd.task.v2.Task"
#define AGENT_CALL_NS (30ull * 1000000000ull)

static void reply_empty(struct ttrpc_call *call)
{
    Google__Protobuf__Empty e = GOOGLE__PROTOBUF__EMPTY__INIT;
    ttrpc_call_reply(call, &e.base);
}

static enum ttrpc_code code_of(const struct kerr *e)
{
    switch (e->status) {
    case ENOENT:
        return TTRPC_NOT_FOUND;
    case EEXIST:
        return TTRPC_ALREADY_EXISTS;
    case EINVAL:
        return TTRPC_INVALID_ARGUMENT;
    case ENOTSUP:
        return TTRPC_UNIMPLEMENTED;
    case EBUSY:
        return TTRPC_FAILED_PRECONDITION;
    default:
        return TTRPC_UNKNOWN;
    }
}

static void fail(struct ttrpc_call *call, struct kerr **e)
{
    ttrpc_call_fail_err(call, code_of(*e), *e);
    kerr_clear(e);
}

/* The process a request names, or the call fails with NotFound. */
static struct process *lookup(struct ttrpc_call *call, struct shim *shim, const char *id,
                              const char *exec_id)
{
    struct process *p = process_find(shim, id, exec_id);
    if (p == NULL)
        ttrpc_call_fail(call, TTRPC_NOT_FOUND, "container `%s`%s%s%s: not found", id,
                        exec_id && *exec_id ? " exec `" : "", exec_id && *exec_id ? exec_id : "",
                        exec_id && *exec_id ? "`" : "");
    return p;
}

static void fill_ts(Google__Protobuf__Timestamp *ts, uint64_t ns)
{
    ts->seconds = (int64_t)(ns / 1000000000ull);
    ts->nanos = (int32_t)(ns % 1000000000ull);
}

static void task_create(struct ttrpc_call *call, const ProtobufCMessage *m, void *data)
{
    struct shim *shim = data;
    const Containerd__Task__V2__CreateTaskRequest *req = (const void *)m;
    cleanup_kerr struct kerr *e = NULL;
    if (req->checkpoint && *req->checkpoint) {
        ttrpc_call_fail(call, TTRPC_UNIMPLEMENTED, "create from a checkpoint");
        return;
    }
    struct container *c;
    if (container_create(shim, req, &c, &e) < 0) {
        log_error("%s", e->msg);
        fail(call, &e);
        return;
    }
    Containerd__Events__TaskIO io = CONTAINERD__EVENTS__TASK_IO__INIT;
    io.stdin = req->stdin, io.stdout = req->stdout, io.stderr = req->stderr;
    io.terminal = req->terminal;
    Containerd__Events__TaskCreate ev = CONTAINERD__EVENTS__TASK_CREATE__INIT;
    ev.container_id = req->id;
    ev.bundle = req->bundle;
    ev.n_rootfs = req->n_rootfs;
    ev.rootfs = req->rootfs;
    ev.io = &io;
    ev.pid = shim_task_pid(shim);
    shim_publish(shim, "/tasks/create", &ev.base);
    Containerd__Task__V2__CreateTaskResponse resp =
        CONTAINERD__TASK__V2__CREATE_TASK_RESPONSE__INIT;
    resp.pid = shim_task_pid(shim);
    ttrpc_call_reply(call, &resp.base);
}

static void task_start(struct ttrpc_call *call, const ProtobufCMessage *m, void *data)
{
    struct shim *shim = data;
    const Containerd__Task__V2__StartRequest *req = (const void *)m;
    struct process *p = lookup(call, shim, req->id, req->exec_id);
    if (p == NULL)
        return;
    cleanup_kerr struct kerr *e = NULL;
    if (process_start(shim, p, &e) < 0) {
        fail(call, &e);
        process_start_done(p);
        return;
    }
    if (*p->exec_id) {
        Containerd__Events__TaskExecStarted ev = CONTAINERD__EVENTS__TASK_EXEC_STARTED__INIT;
        ev.container_id = req->id;
        ev.exec_id = p->exec_id;
        ev.pid = shim_task_pid(shim);
        shim_publish(shim, "/tasks/exec-started", &ev.base);
    } else {
        Containerd__Events__TaskStart ev = CONTAINERD__EVENTS__TASK_START__INIT;
        ev.container_id = req->id;
        ev.pid = shim_task_pid(shim);
        shim_publish(shim, "/tasks/start", &ev.base);
    }
    Containerd__Task__V2__StartResponse resp = CONTAINERD__TASK__V2__START_RESPONSE__INIT;
    resp.pid = shim_task_pid(shim);
    ttrpc_call_reply(call, &resp.base);
    process_start_done(p);
}

static void task_delete(struct ttrpc_call *call, const ProtobufCMessage *m, void *data)
{
    struct shim *shim = data;
    const Containerd__Task__V2__DeleteRequest *req = (const void *)m;
    struct process *p = lookup(call, shim, req->id, req->exec_id);
    if (p == NULL)
        return;
    struct container *c = p->container;
    if (p->status == PROCESS_RUNNING || p->status == PROCESS_PAUSED) {
        ttrpc_call_fail(call, TTRPC_FAILED_PRECONDITION, "delete `%s`: it is running", req->id);
        return;
    }
    Containerd__Task__V2__DeleteResponse resp = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    fill_ts(&ts, p->exited_at ? p->exited_at : realtime_ns());
    resp.pid = shim_task_pid(shim);
    resp.exit_status = p->exit_status;
    resp.exited_at = &ts;
    if (*p->exec_id) { /* an exec: forget it */
        for (struct process **pp = &c->execs; *pp; pp = &(*pp)->next)
            if (*pp == p) {
                *pp = p->next;
                break;
            }
        io_relay_free(p->io);
        free(p->exec_id), free(p->stdin_path), free(p->stdout_path), free(p->stderr_path);
        free(p);
        ttrpc_call_reply(call, &resp.base);
        return;
    }
    if (agent_client_connected(shim)) {
        Grpc__RemoveContainerRequest rreq = GRPC__REMOVE_CONTAINER_REQUEST__INIT;
        rreq.container_id = c->id;
        cleanup_kerr struct kerr *e = NULL;
        if (agent_call(shim, "RemoveContainer", &rreq.base, NULL, NULL, AGENT_CALL_NS, &e) < 0)
            log_warn("%s", e->msg);
    }
    Containerd__Events__TaskDelete ev = CONTAINERD__EVENTS__TASK_DELETE__INIT;
    ev.container_id = c->id;
    ev.pid = resp.pid;
    ev.exit_status = p->exit_status;
    ev.exited_at = &ts;
    ev.id = c->id;
    shim_publish(shim, "/tasks/delete", &ev.base);
    container_destroy(shim, c);
    if (shim->containers == NULL)
        shim_teardown(shim); /* the last container: the VM goes */
    ttrpc_call_reply(call, &resp.base);
}

static void task_exec(struct ttrpc_call *call, const ProtobufCMessage *m, void *data)
{
    struct shim *shim = data;
    const Containerd__Task__V2__ExecProcessRequest *req = (const void *)m;
    struct container *c = container_find(shim, req->id);
    if (c == NULL) {
        ttrpc_call_fail(call, TTRPC_NOT_FOUND, "container `%s`: not found", req->id);
        return;
    }
    if (!*req->exec_id) {
        ttrpc_call_fail(call, TTRPC_INVALID_ARGUMENT, "exec in `%s`: no exec id", req->id);
        return;
    }
    if (process_find(shim, req->id, req->exec_id) != NULL) {
        ttrpc_call_fail(call, TTRPC_ALREADY_EXISTS, "exec `%s` in `%s`: exists", req->exec_id,
                        req->id);
        return;
    }
    if (req->spec == NULL) {
        ttrpc_call_fail(call, TTRPC_INVALID_ARGUMENT, "exec `%s`: no process spec", req->exec_id);
        return;
    }
    cleanup_kerr struct kerr *e = NULL;
    Grpc__Process *proc =
        oci_process_parse((const char *)req->spec->value.data, req->spec->value.len, &e);
    if (proc == NULL) {
        kerr_wrap(&e, "exec `%s`", req->exec_id);
        ttrpc_call_fail_err(call, TTRPC_INVALID_ARGUMENT, e);
        return;
    }
    proc->terminal = req->terminal;
    Grpc__ExecProcessRequest areq = GRPC__EXEC_PROCESS_REQUEST__INIT;
    areq.container_id = c->id;
    areq.exec_id = req->exec_id;
    areq.process = proc;
    int r = agent_call(shim, "ExecProcess", &areq.base, NULL, NULL, AGENT_CALL_NS, &e);
    protobuf_c_message_free_unpacked(&proc->base, NULL);
    if (r < 0) {
        fail(call, &e);
        return;
    }
    struct process *p = xcalloc(1, sizeof(*p));
    p->container = c;
    p->serial = ++shim->next_process_serial;
    p->exec_id = xstrdup(req->exec_id);
    p->stdin_path = xstrdup(req->stdin);
    p->stdout_path = xstrdup(req->stdout);
    p->stderr_path = xstrdup(req->stderr);
    p->terminal = req->terminal;
    p->status = PROCESS_CREATED;
    p->next = c->execs;
    c->execs = p;
    if (io_relay_start(shim, p, &e) < 0)
        log_warn("%s", e->msg);
    Containerd__Events__TaskExecAdded ev = CONTAINERD__EVENTS__TASK_EXEC_ADDED__INIT;
    ev.container_id = c->id;
    ev.exec_id = p->exec_id;
    shim_publish(shim, "/tasks/exec-added", &ev.base);
    reply_empty(call);
}

static void task_resize_pty(struct ttrpc_call *call, const ProtobufCMessage *m, void *data)
{
    struct shim *shim = data;
    const Containerd__Task__V2__ResizePtyRequest *req = (const void *)m;
    struct process *p = lookup(call, shim, req->id, req->exec_id);
    if (p == NULL)
        return;
    Grpc__TtyWinResizeRequest areq = GRPC__TTY_WIN_RESIZE_REQUEST__INIT;
    areq.container_id = req->id;
    areq.exec_id = *req->exec_id ? req->exec_id : req->id;
    areq.row = req->height;
    areq.column = req->width;
    cleanup_kerr struct kerr *e = NULL;
    if (agent_call(shim, "TtyWinResize", &areq.base, NULL, NULL, AGENT_CALL_NS, &e) < 0) {
        fail(call, &e);
        return;
    }
    reply_empty(call);
}

static Containerd__V1__Types__Status status_of(const struct process *p)
{
    static const Containerd__V1__Types__Status map[] = {
        [PROCESS_CREATED] = CONTAINERD__V1__TYPES__STATUS__CREATED,
        [PROCESS_RUNNING] = CONTAINERD__V1__TYPES__STATUS__RUNNING,
        [PROCESS_PAUSED] = CONTAINERD__V1__TYPES__STATUS__PAUSED,
        [PROCESS_STOPPED] = CONTAINERD__V1__TYPES__STATUS__STOPPED,
    };
    return map[p->status];
}

static void task_state(struct ttrpc_call *call, const ProtobufCMessage *m, void *data)
{
    struct shim *shim = data;
    const Containerd__Task__V2__StateRequest *req = (const void *)m;
    struct process *p = lookup(call, shim, req->id, req->exec_id);
    if (p == NULL)
        return;
    Containerd__Task__V2__StateResponse resp = CONTAINERD__TASK__V2__STATE_RESPONSE__INIT;
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    resp.id = p->container->id;
    resp.bundle = p->container->bundle;
    resp.pid = shim_task_pid(shim);
    resp.status = status_of(p);
    resp.stdin = p->stdin_path;
    resp.stdout = p->stdout_path;
    resp.stderr = p->stderr_path;
    resp.terminal = p->terminal;
    resp.exit_status = p->exit_status;
    if (p->exited_at) {
        fill_ts(&ts, p->exited_at);
        resp.exited_at = &ts;
    }
    resp.exec_id = p->exec_id;
    ttrpc_call_reply(call, &resp.base);
}

static void set_paused(struct container *c, bool paused)
{
    struct process *all[] = {&c->init};
    for (size_t i = 0; i < ARRAY_SIZE(all); i++)
        if (all[i]->status == (paused ? PROCESS_RUNNING : PROCESS_PAUSED))
            all[i]->status = paused ? PROCESS_PAUSED : PROCESS_RUNNING;
    for (struct process *p = c->execs; p; p = p->next)
        if (p->status == (paused ? PROCESS_RUNNING : PROCESS_PAUSED))
            p->status = paused ? PROCESS_PAUSED : PROCESS_RUNNING;
}

/* Pause freezes the container's cgroup in the guest (PauseContainer). */
static void pause_or_resume(struct ttrpc_call *call, struct shim *shim, const char *id, bool pause)
{
    struct container *c = container_find(shim, id);
    if (c == NULL) {
        ttrpc_call_fail(call, TTRPC_NOT_FOUND, "container `%s`: not found", id);
        return;
    }
    Grpc__PauseContainerRequest preq = GRPC__PAUSE_CONTAINER_REQUEST__INIT;
    Grpc__ResumeContainerRequest rreq = GRPC__RESUME_CONTAINER_REQUEST__INIT;
    preq.container_id = rreq.container_id = c->id;
    cleanup_kerr struct kerr *e = NULL;
    if (agent_call(shim, pause ? "PauseContainer" : "ResumeContainer",
                   pause ? &preq.base : &rreq.base, NULL, NULL, AGENT_CALL_NS, &e) < 0) {
        fail(call, &e);
        return;
    }
    set_paused(c, pause);
    if (pause) {
        Containerd__Events__TaskPaused ev = CONTAINERD__EVENTS__TASK_PAUSED__INIT;
        ev.container_id = c->id;
        shim_publish(shim, "/tasks/paused", &ev.base);
    } else {
        Containerd__Events__TaskResumed ev = CONTAINERD__EVENTS__TASK_RESUMED__INIT;
        ev.container_id = c->id;
        shim_publish(shim, "/tasks/resumed", &ev.base);
    }
    reply_empty(call);
}

static void task_pause(struct ttrpc_call *call, const ProtobufCMessage *m, void *data)
{
    pause_or_resume(call, data, ((const Containerd__Task__V2__PauseRequest *)m)->id, true);
}

static void task_resume(struct ttrpc_call *call, const ProtobufCMessage *m, void *data)
{
    pause_or_resume(call, data, ((const Containerd__Task__V2__ResumeRequest *)m)->id, false);
}

static void task_kill(struct ttrpc_call *call, const ProtobufCMessage *m, void *data)
{
    struct shim *shim = data;
    const Containerd__Task__V2__KillRequest *req = (const void *)m;
    struct process *p = lookup(call, shim, req->id, req->exec_id);
    if (p == NULL)
        return;
    if (p->status == PROCESS_STOPPED) {
        reply_empty(call); /* like runc's shim: killing an exited process is not an error */
        return;
    }
    Grpc__SignalProcessRequest areq = GRPC__SIGNAL_PROCESS_REQUEST__INIT;
    areq.container_id = req->id;
    /* An empty exec id signals every process of the container (--all). */
    areq.exec_id = req->all ? "" : (*req->exec_id ? req->exec_id : req->id);
    areq.signal = req->signal;
    cleanup_kerr struct kerr *e = NULL;
    if (agent_call(shim, "SignalProcess", &areq.base, NULL, NULL, AGENT_CALL_NS, &e) < 0) {
        fail(call, &e);
        return;
    }
    /* An exec killed before its Start: its exit is wanted now (an init's
     * wait is in flight from its Create). */
    if (p->status == PROCESS_CREATED)
        process_wait_begin(shim, p);
    reply_empty(call);
}

static void task_pids(struct ttrpc_call *call, const ProtobufCMessage *m, void *data)
{
    struct shim *shim = data;
    const Containerd__Task__V2__PidsRequest *req = (const void *)m;
    if (container_find(shim, req->id) == NULL) {
        ttrpc_call_fail(call, TTRPC_NOT_FOUND, "container `%s`: not found", req->id);
        return;
    }
    /* The guest's pids mean nothing on the host: report the VMM's. */
    Containerd__V1__Types__ProcessInfo info = CONTAINERD__V1__TYPES__PROCESS_INFO__INIT;
    info.pid = shim_task_pid(shim);
    Containerd__V1__Types__ProcessInfo *infos[] = {&info};
    Containerd__Task__V2__PidsResponse resp = CONTAINERD__TASK__V2__PIDS_RESPONSE__INIT;
    resp.n_processes = info.pid ? 1 : 0;
    resp.processes = infos;
    ttrpc_call_reply(call, &resp.base);
}

static void task_close_io(struct ttrpc_call *call, const ProtobufCMessage *m, void *data)
{
    struct shim *shim = data;
    const Containerd__Task__V2__CloseIORequest *req = (const void *)m;
    struct process *p = lookup(call, shim, req->id, req->exec_id);
    if (p == NULL)
        return;
    if (req->stdin)
        io_relay_close_stdin(shim, p);
    reply_empty(call);
}

static void task_checkpoint(struct ttrpc_call *call, const ProtobufCMessage *m, void *data)
{
    ttrpc_call_fail(call, TTRPC_UNIMPLEMENTED, "checkpoint is not supported by VM containers");
}

static void task_update(struct ttrpc_call *call, const ProtobufCMessage *m, void *data)
{
    struct shim *shim = data;
    const Containerd__Task__V2__UpdateTaskRequest *req = (const void *)m;
    if (container_find(shim, req->id) == NULL) {
        ttrpc_call_fail(call, TTRPC_NOT_FOUND, "container `%s`: not found", req->id);
        return;
    }
    if (req->resources == NULL) {
        reply_empty(call);
        return;
    }
    cleanup_kerr struct kerr *e = NULL;
    Grpc__LinuxResources *res = oci_resources_parse((const char *)req->resources->value.data,
                                                    req->resources->value.len, &e);
    if (res == NULL) {
        ttrpc_call_fail_err(call, TTRPC_INVALID_ARGUMENT, e);
        return;
    }
    Grpc__UpdateContainerRequest areq = GRPC__UPDATE_CONTAINER_REQUEST__INIT;
    areq.container_id = req->id;
    areq.resources = res;
    int r = agent_call(shim, "UpdateContainer", &areq.base, NULL, NULL, AGENT_CALL_NS, &e);
    protobuf_c_message_free_unpacked(&res->base, NULL);
    if (r < 0) {
        fail(call, &e);
        return;
    }
    reply_empty(call);
}

static void task_wait(struct ttrpc_call *call, const ProtobufCMessage *m, void *data)
{
    struct shim *shim = data;
    const Containerd__Task__V2__WaitRequest *req = (const void *)m;
    struct process *p = lookup(call, shim, req->id, req->exec_id);
    if (p)
        process_add_waiter(p, call);
}

static void task_stats(struct ttrpc_call *call, const ProtobufCMessage *m, void *data)
{
    struct shim *shim = data;
    const Containerd__Task__V2__StatsRequest *req = (const void *)m;
    if (container_find(shim, req->id) == NULL) {
        ttrpc_call_fail(call, TTRPC_NOT_FOUND, "container `%s`: not found", req->id);
        return;
    }
    Grpc__StatsContainerRequest areq = GRPC__STATS_CONTAINER_REQUEST__INIT;
    areq.container_id = req->id;
    Grpc__StatsContainerResponse *aresp = NULL;
    cleanup_kerr struct kerr *e = NULL;
    if (agent_call(shim, "StatsContainer", &areq.base, &grpc__stats_container_response__descriptor,
                   (ProtobufCMessage **)&aresp, AGENT_CALL_NS, &e) < 0) {
        fail(call, &e);
        return;
    }
    Grpc__CgroupStats empty = GRPC__CGROUP_STATS__INIT;
    Google__Protobuf__Any *any =
        shim_metrics_any(aresp->cgroup_stats ? aresp->cgroup_stats : &empty);
    protobuf_c_message_free_unpacked(&aresp->base, NULL);
    Containerd__Task__V2__StatsResponse resp = CONTAINERD__TASK__V2__STATS_RESPONSE__INIT;
    resp.stats = any;
    ttrpc_call_reply(call, &resp.base);
    protobuf_c_message_free_unpacked(&any->base, NULL);
}

static void task_connect(struct ttrpc_call *call, const ProtobufCMessage *m, void *data)
{
    struct shim *shim = data;
    Containerd__Task__V2__ConnectResponse resp = CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;
    resp.shim_pid = (uint32_t)getpid();
    resp.task_pid = shim_task_pid(shim);
    resp.version = SHIM_VERSION;
    ttrpc_call_reply(call, &resp.base);
}

static void task_shutdown(struct ttrpc_call *call, const ProtobufCMessage *m, void *data)
{
    struct shim *shim = data;
    const Containerd__Task__V2__ShutdownRequest *req = (const void *)m;
    if (shim->containers && !req->now) {
        reply_empty(call); /* containers remain: keep serving (as containerd's shims do) */
        return;
    }
    reply_empty(call);
    shim->quit = true;
    loop_quit(shim->loop);
}

#define METHOD(name, type, fn, excl)                                                               \
    {                                                                                              \
        TASK_SERVICE, name, &containerd__task__v2__##type##__descriptor, fn, excl                  \
    }

/* Re-entry: a synchronous agent call runs the loop, and the server dispatches
 * other requests meanwhile.  Every method that calls the agent synchronously,
 * or creates or frees containers, processes or the sandbox, is exclusive: one
 * runs at a time, the next waits until it returns (its deadline counting), so
 * a handler's containers, processes and sandbox stay what it looked up across
 * its agent calls (only their status moves: exits and the VMM's death are
 * recorded as they come).  The others (reads and a Wait's registration) never
 * run the loop and free nothing: they are answered at once, even in the
 * middle of an exclusive call, and a slow guest never delays them. */
#define EXCLUSIVE true
#define AT_ONCE   false

const struct ttrpc_method shim_task_methods[] = {
    METHOD("State", state_request, task_state, AT_ONCE),
    METHOD("Create", create_task_request, task_create, EXCLUSIVE),
    METHOD("Start", start_request, task_start, EXCLUSIVE),
    METHOD("Delete", delete_request, task_delete, EXCLUSIVE),
    METHOD("Pids", pids_request, task_pids, AT_ONCE),
    METHOD("Pause", pause_request, task_pause, EXCLUSIVE),
    METHOD("Resume", resume_request, task_resume, EXCLUSIVE),
    METHOD("Checkpoint", checkpoint_task_request, task_checkpoint, AT_ONCE),
    METHOD("Kill", kill_request, task_kill, EXCLUSIVE),
    METHOD("Exec", exec_process_request, task_exec, EXCLUSIVE),
    METHOD("ResizePty", resize_pty_request, task_resize_pty, EXCLUSIVE),
    METHOD("CloseIO", close_iorequest, task_close_io, EXCLUSIVE),
    METHOD("Update", update_task_request, task_update, EXCLUSIVE),
    METHOD("Wait", wait_request, task_wait, AT_ONCE),
    METHOD("Stats", stats_request, task_stats, EXCLUSIVE),
    METHOD("Connect", connect_request, task_connect, AT_ONCE),
    METHOD("Shutdown", shutdown_request, task_shutdown, EXCLUSIVE),
};
const size_t shim_task_methods_count = ARRAY_SIZE(shim_task_methods);
