/* See container.h. */
#include "container.h"

#include "daemon.h"
#include "log.h"
#include "task_types.pb-c.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* How long a deleted sandbox's daemon may take to exit after Shutdown. */
#define DAEMON_EXIT_TIMEOUT_MS 10000
/* How long the holder may take to exit once its process is gone. */
#define HOLDER_EXIT_TIMEOUT_MS 5000

static void ask_status(struct container *c)
{
    Containerd__Task__V2__StateRequest req = CONTAINERD__TASK__V2__STATE_REQUEST__INIT;
    req.id = c->state.id;
    Containerd__Task__V2__StateResponse *resp = NULL;
    cleanup_kerr struct kerr *err = NULL;
    int code = 0;
    if (task_call(&c->task, "State", &req.base, &containerd__task__v2__state_response__descriptor,
                  (ProtobufCMessage **)&resp, TASK_TIMEOUT_NS, &code, &err) < 0) {
        log_debug("container `%s`: Task/State: %s", c->state.id, err->msg);
        c->status = "stopped";
        if (code == TTRPC_UNAVAILABLE)
            task_close(&c->task);
        return;
    }
    c->status = task_status_name(resp->status);
    if (strcmp(c->status, "unknown") == 0)
        c->status =
            c->state.status && strcmp(c->state.status, "created") == 0 ? "created" : "stopped";
    c->exit_status = resp->exit_status;
    protobuf_c_message_free_unpacked(&resp->base, NULL);
}

int container_open(const char *id, struct container *c, struct kerr **err)
{
    memset(c, 0, sizeof(*c));
    if (state_load(id, &c->state, err) < 0)
        return -1;
    c->status = "stopped";
    cleanup_kerr struct kerr *connect_err = NULL;
    if (c->state.address && task_connect(c->state.address, &c->task, &connect_err) < 0) {
        log_debug("container `%s`: %s", id, connect_err->msg);
        return 0;
    }
    if (c->task.client)
        ask_status(c);
    return 0;
}

void container_close(struct container *c)
{
    task_close(&c->task);
    state_release(&c->state);
}

int container_need_daemon(struct container *c, struct kerr **err)
{
    if (c->task.client)
        return 0;
    return kerr_make(err, 0, "container \"%s\": its sandbox daemon is gone (status stopped)",
                     c->state.id);
}

pid_t container_pid(const struct container *c)
{
    if (strcmp(c->status, "stopped") == 0)
        return 0;
    return process_alive(c->state.holder_pid, c->state.holder_start) ? c->state.holder_pid : 0;
}

int container_kill(struct container *c, int signal, bool all, struct kerr **err)
{
    if (container_need_daemon(c, err) < 0)
        return -1;
    Containerd__Task__V2__KillRequest req = CONTAINERD__TASK__V2__KILL_REQUEST__INIT;
    req.id = c->state.id;
    req.signal = (uint32_t)signal;
    req.all = all;
    return task_call(&c->task, "Kill", &req.base, NULL, NULL, TASK_TIMEOUT_NS, NULL, err);
}

static int delete_task(struct container *c, struct kerr **err)
{
    Containerd__Task__V2__DeleteRequest req = CONTAINERD__TASK__V2__DELETE_REQUEST__INIT;
    req.id = c->state.id;
    return task_call(&c->task, "Delete", &req.base,
                     &containerd__task__v2__delete_response__descriptor, NULL, TASK_TIMEOUT_NS,
                     NULL, err);
}

static void shutdown_daemon(struct container *c)
{
    Containerd__Task__V2__ShutdownRequest req = CONTAINERD__TASK__V2__SHUTDOWN_REQUEST__INIT;
    req.id = c->state.id;
    req.now = true;
    cleanup_kerr struct kerr *err = NULL;
    /* The daemon may exit before it answers: a lost connection is fine. */
    if (task_call(&c->task, "Shutdown", &req.base, NULL, NULL, TASK_TIMEOUT_NS, NULL, &err) < 0)
        log_debug("container `%s`: Task/Shutdown: %s", c->state.id, err->msg);
    task_close(&c->task);
}

int container_destroy(struct container *c, bool force, struct kerr **err)
{
    const char *id = c->state.id;
    bool clean = true;
    if (c->task.client) {
        if (force && strcmp(c->status, "stopped") != 0) {
            cleanup_kerr struct kerr *kill_err = NULL;
            if (strcmp(c->status, "paused") == 0) {
                Containerd__Task__V2__ResumeRequest req =
                    CONTAINERD__TASK__V2__RESUME_REQUEST__INIT;
                req.id = c->state.id;
                task_call(&c->task, "Resume", &req.base, NULL, NULL, TASK_TIMEOUT_NS, NULL, NULL);
            }
            if (container_kill(c, SIGKILL, true, &kill_err) < 0)
                log_debug("delete `%s`: kill: %s", id, kill_err->msg);
        }
        cleanup_kerr struct kerr *delete_err = NULL;
        if (delete_task(c, &delete_err) < 0) {
            if (!force) {
                *err = delete_err;
                delete_err = NULL;
                return kerr_wrap(err, "delete container \"%s\"", id);
            }
            log_debug("delete `%s`: %s", id, delete_err->msg);
            clean = false;
        }
        shutdown_daemon(c);
    } else if (!force && c->state.daemon_pid &&
               process_alive(c->state.daemon_pid, c->state.daemon_start)) {
        return kerr_make(err, 0,
                         "delete container \"%s\": its sandbox daemon (pid %d) does not answer; "
                         "use --force",
                         id, (int)c->state.daemon_pid);
    } else {
        clean = false;
    }
    if (!daemon_wait_gone(c->state.daemon_pid, c->state.daemon_start, DAEMON_EXIT_TIMEOUT_MS))
        clean = false;
    if (!clean) {
        /* The daemon crashed or was killed: the shim's own cleanup verb removes
         * the VMM, virtiofsd, mounts and its state from the daemon's state dir. */
        cleanup_kerr struct kerr *cleanup_err = NULL;
        if (daemon_cleanup(&c->state, &cleanup_err) < 0)
            log_warn("delete `%s`: %s", id, cleanup_err->msg);
    }
    if (process_alive(c->state.holder_pid, c->state.holder_start)) {
        uint64_t deadline = now_ns() + HOLDER_EXIT_TIMEOUT_MS * 1000000ull;
        while (process_alive(c->state.holder_pid, c->state.holder_start) && now_ns() < deadline)
            usleep(10000);
        if (process_alive(c->state.holder_pid, c->state.holder_start))
            kill(c->state.holder_pid, SIGKILL);
    }
    if (state_remove(id, err) < 0)
        return -1;
    return 0;
}
