/* host-task-shim: a stand-in for the sandbox daemon that runs the container's
 * processes on the host (chroot into the bundle's rootfs, own session), so
 * kata-runtime's client side (holder, fifos, console socket, exit statuses,
 * exec, pause, delete) is tested while the real daemon is being built.  It
 * speaks the same shim binary protocol and serves the same Task API:
 *
 *   host-task-shim -namespace N -id ID -bundle B [-debug] start|delete
 *
 * Not a runtime: no VM, no isolation beyond chroot; tests only. */
#include "any.pb-c.h"
#include "empty.pb-c.h"
#include "error.h"
#include "holder_io.h"
#include "log.h"
#include "loop.h"
#include "shim.pb-c.h"
#include "task_types.pb-c.h"
#include "ttrpc.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define SERVICE     "containerd.task.v2.Task"
#define STATE_BASE  "/run/kata-host-shim"
#define MAX_PROCS   64
#define MAX_WAITERS 16

struct proc {
    bool used;
    char *exec_id; /* "" for init */
    pid_t pid;
    int pidfd, start_fd; /* start_fd: the child waits for a byte on it */
    struct loop_watch *pid_watch;
    int status; /* CONTAINERD__V1__TYPES__STATUS__* */
    uint32_t exit_status;
    int master; /* terminal */
    struct relay out_relay, in_relay;
    bool out_active, in_active;
    struct ttrpc_call *waiters[MAX_WAITERS];
};

struct shim {
    struct loop *loop;
    struct ttrpc_server *server;
    char *id, *bundle, *socket_path, *pid_path;
    bool created, deleted, quit;
    struct proc procs[MAX_PROCS];
};

static struct shim shim;

static struct proc *find_proc(const char *exec_id)
{
    const char *want = exec_id ? exec_id : "";
    for (int i = 0; i < MAX_PROCS; i++)
        if (shim.procs[i].used && strcmp(shim.procs[i].exec_id, want) == 0)
            return &shim.procs[i];
    return NULL;
}

static bool check_id(struct ttrpc_call *call, const char *id)
{
    if (!shim.created || strcmp(id, shim.id) != 0) {
        ttrpc_call_fail(call, TTRPC_NOT_FOUND, "container %s: not found", id);
        return false;
    }
    return true;
}

static struct proc *need_proc(struct ttrpc_call *call, const char *id, const char *exec_id)
{
    if (!check_id(call, id))
        return NULL;
    struct proc *p = find_proc(exec_id);
    if (!p)
        ttrpc_call_fail(call, TTRPC_NOT_FOUND, "process %s: not found", exec_id);
    return p;
}

static void reply_empty(struct ttrpc_call *call)
{
    Google__Protobuf__Empty e = GOOGLE__PROTOBUF__EMPTY__INIT;
    ttrpc_call_reply(call, &e.base);
}

/* ---- processes ---- */

static void wait_reply(struct ttrpc_call *call, struct proc *p)
{
    Containerd__Task__V2__WaitResponse r = CONTAINERD__TASK__V2__WAIT_RESPONSE__INIT;
    r.exit_status = p->exit_status;
    ttrpc_call_reply(call, &r.base);
}

static void on_exit_event(struct loop_watch *w, uint32_t events, void *data)
{
    struct proc *p = data;
    int status;
    if (waitpid(p->pid, &status, WNOHANG) <= 0)
        return;
    loop_watch_remove(p->pid_watch);
    p->pid_watch = NULL;
    close(p->pidfd);
    p->pidfd = -1;
    p->status = CONTAINERD__V1__TYPES__STATUS__STOPPED;
    p->exit_status =
        WIFEXITED(status) ? (uint32_t)WEXITSTATUS(status) : 128u + (uint32_t)WTERMSIG(status);
    for (int i = 0; i < MAX_WAITERS; i++)
        if (p->waiters[i]) {
            struct ttrpc_call *c = p->waiters[i];
            p->waiters[i] = NULL;
            ttrpc_call_set_cancel(c, NULL, NULL);
            wait_reply(c, p);
        }
}

static void relay_done(struct relay *r, void *data)
{
    struct proc *p = data;
    if (r == &p->out_relay)
        p->out_active = false;
    else
        p->in_active = false;
}

static int open_fifo(const char *path, int flags)
{
    if (!path || !*path)
        return -1;
    return open(path, flags | O_NONBLOCK | O_CLOEXEC);
}

/* Fork the process, stopped before exec until Start writes to start_fd. */
static int spawn(struct proc *p, struct json_object *process, bool terminal, const char *in,
                 const char *out, const char *errp, struct kerr **err)
{
    struct json_object *args, *env, *cwd;
    if (!json_object_object_get_ex(process, "args", &args) ||
        !json_object_is_type(args, json_type_array) || json_object_array_length(args) == 0)
        return kerr_make(err, EINVAL, "process.args missing");
    size_t argc = json_object_array_length(args);
    char **argv = xcalloc(argc + 1, sizeof(char *));
    for (size_t i = 0; i < argc; i++)
        argv[i] = (char *)json_object_get_string(json_object_array_get_idx(args, i));
    size_t envc =
        json_object_object_get_ex(process, "env", &env) ? json_object_array_length(env) : 0;
    char **envp = xcalloc(envc + 1, sizeof(char *));
    for (size_t i = 0; i < envc; i++)
        envp[i] = (char *)json_object_get_string(json_object_array_get_idx(env, i));
    const char *dir =
        json_object_object_get_ex(process, "cwd", &cwd) ? json_object_get_string(cwd) : "/";
    int fd_in = open_fifo(in, O_RDONLY), fd_out = -1, fd_err = -1, slave = -1;
    p->master = -1;
    if (terminal) {
        p->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        char name[64];
        if (p->master < 0 || grantpt(p->master) < 0 || unlockpt(p->master) < 0 ||
            ptsname_r(p->master, name, sizeof(name)))
            return kerr_make(err, errno, "pty");
        slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
        fd_out = open_fifo(out, O_WRONLY);
    } else {
        fd_out = open_fifo(out, O_WRONLY);
        fd_err = open_fifo(errp, O_WRONLY);
    }
    int start_pipe[2];
    if (pipe2(start_pipe, O_CLOEXEC) < 0)
        return kerr_make(err, errno, "pipe");
    cleanup_free char *rootfs = xasprintf("%s/rootfs", shim.bundle);
    pid_t pid = fork();
    if (pid < 0)
        return kerr_make(err, errno, "fork");
    if (pid == 0) {
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        signal(SIGPIPE, SIG_DFL);
        char c;
        if (read(start_pipe[0], &c, 1) != 1)
            _exit(127);
        setsid();
        int null = open("/dev/null", O_RDWR);
        int fds[3];
        if (terminal) {
            ioctl(slave, TIOCSCTTY, 0);
            fds[0] = fds[1] = fds[2] = slave;
        } else {
            fds[0] = fd_in >= 0 ? fd_in : null;
            fds[1] = fd_out >= 0 ? fd_out : null;
            fds[2] = fd_err >= 0 ? fd_err : null;
        }
        for (int i = 0; i < 3; i++) {
            int fl = fcntl(fds[i], F_GETFL);
            fcntl(fds[i], F_SETFL, fl & ~O_NONBLOCK);
            int moved = fcntl(fds[i], F_DUPFD, 10 + i);
            fds[i] = moved;
        }
        for (int i = 0; i < 3; i++)
            dup2(fds[i], i);
        if (chroot(rootfs) < 0 || chdir(dir) < 0)
            _exit(127);
        execve(argv[0], argv, envp);
        /* a name: search PATH inside the rootfs */
        for (const char *prefix = "/bin/"; prefix; prefix = NULL) {
            char *full = xasprintf("%s%s", prefix, argv[0]);
            execve(full, argv, envp);
        }
        _exit(127);
    }
    close(start_pipe[0]);
    p->start_fd = start_pipe[1];
    free(argv);
    free(envp);
    if (slave >= 0)
        close(slave);
    if (terminal) {
        struct termios t;
        (void)t;
        if (fd_out >= 0) {
            relay_start(&p->out_relay, shim.loop, "pty-out", p->master, false, fd_out, true,
                        relay_done, p);
            p->out_active = true;
        }
        if (fd_in >= 0) {
            int m = dup(p->master);
            fcntl(m, F_SETFD, FD_CLOEXEC);
            relay_start(&p->in_relay, shim.loop, "pty-in", fd_in, true, m, true, relay_done, p);
            p->in_active = true;
        }
    } else {
        if (fd_in >= 0)
            close(fd_in);
        if (fd_out >= 0)
            close(fd_out);
        if (fd_err >= 0)
            close(fd_err);
    }
    p->pid = pid;
    p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    p->pid_watch = loop_watch_add(shim.loop, p->pidfd, EPOLLIN, on_exit_event, p, NULL);
    p->status = CONTAINERD__V1__TYPES__STATUS__CREATED;
    return 0;
}

static struct proc *new_proc(const char *exec_id)
{
    for (int i = 0; i < MAX_PROCS; i++)
        if (!shim.procs[i].used) {
            struct proc *p = &shim.procs[i];
            memset(p, 0, sizeof(*p));
            p->used = true;
            p->exec_id = xstrdup(exec_id ? exec_id : "");
            p->pidfd = p->start_fd = p->master = -1;
            return p;
        }
    return NULL;
}

static void free_proc(struct proc *p)
{
    if (p->pid > 0 && p->status != CONTAINERD__V1__TYPES__STATUS__STOPPED) {
        kill(-p->pid, SIGKILL);
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
    }
    if (p->pid_watch)
        loop_watch_remove(p->pid_watch);
    if (p->pidfd >= 0)
        close(p->pidfd);
    if (p->start_fd >= 0)
        close(p->start_fd);
    if (p->out_active)
        relay_stop(&p->out_relay);
    if (p->in_active)
        relay_stop(&p->in_relay);
    if (p->master >= 0)
        close(p->master);
    for (int i = 0; i < MAX_WAITERS; i++)
        if (p->waiters[i]) {
            ttrpc_call_set_cancel(p->waiters[i], NULL, NULL);
            ttrpc_call_fail(p->waiters[i], TTRPC_NOT_FOUND, "deleted");
        }
    free(p->exec_id);
    memset(p, 0, sizeof(*p));
}

/* ---- Task methods ---- */

static void task_create(struct ttrpc_call *call, const ProtobufCMessage *m, void *data)
{
    const Containerd__Task__V2__CreateTaskRequest *r = (const void *)m;
    if (shim.created) {
        ttrpc_call_fail(call, TTRPC_ALREADY_EXISTS, "container %s exists", r->id);
        return;
    }
    cleanup_free char *config = xasprintf("%s/config.json", r->bundle);
    struct json_object *spec = json_object_from_file(config), *process;
    if (!spec || !json_object_object_get_ex(spec, "process", &process)) {
        json_object_put(spec);
        ttrpc_call_fail(call, TTRPC_INVALID_ARGUMENT, "read `%s`", config);
        return;
    }
    shim.id = xstrdup(r->id);
    free(shim.bundle);
    shim.bundle = xstrdup(r->bundle);
    struct proc *p = new_proc("");
    cleanup_kerr struct kerr *err = NULL;
    if (spawn(p, process, r->terminal, r->stdin, r->stdout, r->stderr, &err) < 0) {
        json_object_put(spec);
        free_proc(p);
        ttrpc_call_fail(call, TTRPC_INTERNAL, "create: %s", err->msg);
        return;
    }
    json_object_put(spec);
    shim.created = true;
    /* for `delete` after a crash of this daemon: the process group to kill */
    cleanup_free char *init_path = xasprintf("%s.init", shim.pid_path);
    char text[32];
    int n = snprintf(text, sizeof(text), "%d", (int)p->pid);
    file_write_atomic(init_path, text, (size_t)n, 0600, NULL);
    Containerd__Task__V2__CreateTaskResponse resp =
        CONTAINERD__TASK__V2__CREATE_TASK_RESPONSE__INIT;
    resp.pid = (uint32_t)p->pid;
    ttrpc_call_reply(call, &resp.base);
}

static void task_start(struct ttrpc_call *call, const ProtobufCMessage *m, void *data)
{
    const Containerd__Task__V2__StartRequest *r = (const void *)m;
    struct proc *p = need_proc(call, r->id, r->exec_id);
    if (!p)
        return;
    if (p->status != CONTAINERD__V1__TYPES__STATUS__CREATED) {
        ttrpc_call_fail(call, TTRPC_FAILED_PRECONDITION, "process is not created");
        return;
    }
    if (write(p->start_fd, "x", 1) != 1) {
        ttrpc_call_fail(call, TTRPC_INTERNAL, "start: %s", strerror(errno));
        return;
    }
    close(p->start_fd);
    p->start_fd = -1;
    p->status = CONTAINERD__V1__TYPES__STATUS__RUNNING;
    Containerd__Task__V2__StartResponse resp = CONTAINERD__TASK__V2__START_RESPONSE__INIT;
    resp.pid = (uint32_t)p->pid;
    ttrpc_call_reply(call, &resp.base);
}

static void task_state(struct ttrpc_call *call, const ProtobufCMessage *m, void *data)
{
    const Containerd__Task__V2__StateRequest *r = (const void *)m;
    struct proc *p = need_proc(call, r->id, r->exec_id);
    if (!p)
        return;
    Containerd__Task__V2__StateResponse resp = CONTAINERD__TASK__V2__STATE_RESPONSE__INIT;
    resp.id = shim.id;
    resp.bundle = shim.bundle;
    resp.pid = (uint32_t)p->pid;
    resp.status = p->status;
    resp.exit_status = p->exit_status;
    resp.exec_id = p->exec_id;
    ttrpc_call_reply(call, &resp.base);
}

static void cancel_wait(void *data)
{
    struct ttrpc_call *call = data;
    for (int i = 0; i < MAX_PROCS; i++)
        for (int k = 0; k < MAX_WAITERS; k++)
            if (shim.procs[i].waiters[k] == call)
                shim.procs[i].waiters[k] = NULL;
}

static void task_wait(struct ttrpc_call *call, const ProtobufCMessage *m, void *data)
{
    const Containerd__Task__V2__WaitRequest *r = (const void *)m;
    struct proc *p = need_proc(call, r->id, r->exec_id);
    if (!p)
        return;
    if (p->status == CONTAINERD__V1__TYPES__STATUS__STOPPED) {
        wait_reply(call, p);
        return;
    }
    for (int i = 0; i < MAX_WAITERS; i++)
        if (!p->waiters[i]) {
            p->waiters[i] = call;
            ttrpc_call_set_cancel(call, cancel_wait, call);
            return;
        }
    ttrpc_call_fail(call, TTRPC_RESOURCE_EXHAUSTED, "too many waiters");
}

static void task_kill(struct ttrpc_call *call, const ProtobufCMessage *m, void *data)
{
    const Containerd__Task__V2__KillRequest *r = (const void *)m;
    struct proc *p = need_proc(call, r->id, r->exec_id);
    if (!p)
        return;
    if (p->status == CONTAINERD__V1__TYPES__STATUS__STOPPED && !r->all) {
        ttrpc_call_fail(call, TTRPC_NOT_FOUND, "process already finished");
        return;
    }
    if (p->status == CONTAINERD__V1__TYPES__STATUS__CREATED && r->signal == SIGKILL) {
        /* never started: let it go */
        close(p->start_fd);
        p->start_fd = -1;
    }
    if (r->all)
        for (int i = 0; i < MAX_PROCS; i++)
            if (shim.procs[i].used &&
                shim.procs[i].status != CONTAINERD__V1__TYPES__STATUS__STOPPED)
                kill(-shim.procs[i].pid, (int)r->signal);
    if (p->status != CONTAINERD__V1__TYPES__STATUS__STOPPED)
        kill(p->pid, (int)r->signal);
    reply_empty(call);
}

static void task_delete(struct ttrpc_call *call, const ProtobufCMessage *m, void *data)
{
    const Containerd__Task__V2__DeleteRequest *r = (const void *)m;
    struct proc *p = need_proc(call, r->id, r->exec_id);
    if (!p)
        return;
    if (p->status == CONTAINERD__V1__TYPES__STATUS__RUNNING ||
        p->status == CONTAINERD__V1__TYPES__STATUS__PAUSED) {
        ttrpc_call_fail(call, TTRPC_FAILED_PRECONDITION, "process is running");
        return;
    }
    Containerd__Task__V2__DeleteResponse resp = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
    resp.pid = (uint32_t)p->pid;
    resp.exit_status = p->exit_status;
    bool init = !*p->exec_id;
    if (init) {
        for (int i = 0; i < MAX_PROCS; i++)
            if (shim.procs[i].used)
                free_proc(&shim.procs[i]);
        shim.deleted = true;
    } else {
        free_proc(p);
    }
    ttrpc_call_reply(call, &resp.base);
}

static void task_exec(struct ttrpc_call *call, const ProtobufCMessage *m, void *data)
{
    const Containerd__Task__V2__ExecProcessRequest *r = (const void *)m;
    if (!check_id(call, r->id))
        return;
    if (find_proc(r->exec_id)) {
        ttrpc_call_fail(call, TTRPC_ALREADY_EXISTS, "exec %s exists", r->exec_id);
        return;
    }
    if (!r->spec) {
        ttrpc_call_fail(call, TTRPC_INVALID_ARGUMENT, "no spec");
        return;
    }
    struct json_tokener *tok = json_tokener_new();
    struct json_object *process =
        json_tokener_parse_ex(tok, (const char *)r->spec->value.data, (int)r->spec->value.len);
    json_tokener_free(tok);
    struct proc *p = process ? new_proc(r->exec_id) : NULL;
    cleanup_kerr struct kerr *err = NULL;
    if (!p || spawn(p, process, r->terminal, r->stdin, r->stdout, r->stderr, &err) < 0) {
        if (p)
            free_proc(p);
        json_object_put(process);
        ttrpc_call_fail(call, TTRPC_INVALID_ARGUMENT, "exec: %s", err ? err->msg : "bad spec");
        return;
    }
    json_object_put(process);
    reply_empty(call);
}

static void signal_all(int sig, int status)
{
    for (int i = 0; i < MAX_PROCS; i++)
        if (shim.procs[i].used && shim.procs[i].status != CONTAINERD__V1__TYPES__STATUS__STOPPED &&
            shim.procs[i].status != CONTAINERD__V1__TYPES__STATUS__CREATED) {
            kill(-shim.procs[i].pid, sig);
            shim.procs[i].status = status;
        }
}

static void task_pause(struct ttrpc_call *call, const ProtobufCMessage *m, void *data)
{
    const Containerd__Task__V2__PauseRequest *r = (const void *)m;
    if (!check_id(call, r->id))
        return;
    signal_all(SIGSTOP, CONTAINERD__V1__TYPES__STATUS__PAUSED);
    reply_empty(call);
}

static void task_resume(struct ttrpc_call *call, const ProtobufCMessage *m, void *data)
{
    const Containerd__Task__V2__ResumeRequest *r = (const void *)m;
    if (!check_id(call, r->id))
        return;
    signal_all(SIGCONT, CONTAINERD__V1__TYPES__STATUS__RUNNING);
    reply_empty(call);
}

static void task_pids(struct ttrpc_call *call, const ProtobufCMessage *m, void *data)
{
    const Containerd__Task__V2__PidsRequest *r = (const void *)m;
    if (!check_id(call, r->id))
        return;
    Containerd__V1__Types__ProcessInfo infos[MAX_PROCS], *ptrs[MAX_PROCS];
    size_t n = 0;
    for (int i = 0; i < MAX_PROCS; i++)
        if (shim.procs[i].used && shim.procs[i].status != CONTAINERD__V1__TYPES__STATUS__STOPPED) {
            Containerd__V1__Types__ProcessInfo init = CONTAINERD__V1__TYPES__PROCESS_INFO__INIT;
            infos[n] = init;
            infos[n].pid = (uint32_t)shim.procs[i].pid;
            ptrs[n] = &infos[n];
            n++;
        }
    Containerd__Task__V2__PidsResponse resp = CONTAINERD__TASK__V2__PIDS_RESPONSE__INIT;
    resp.n_processes = n;
    resp.processes = ptrs;
    ttrpc_call_reply(call, &resp.base);
}

static void task_resize(struct ttrpc_call *call, const ProtobufCMessage *m, void *data)
{
    const Containerd__Task__V2__ResizePtyRequest *r = (const void *)m;
    struct proc *p = need_proc(call, r->id, r->exec_id);
    if (!p)
        return;
    struct winsize ws = {.ws_row = (unsigned short)r->height, .ws_col = (unsigned short)r->width};
    if (p->master >= 0)
        ioctl(p->master, TIOCSWINSZ, &ws);
    reply_empty(call);
}

static void task_ok(struct ttrpc_call *call, const ProtobufCMessage *m, void *data)
{
    reply_empty(call);
}

static void task_connect(struct ttrpc_call *call, const ProtobufCMessage *m, void *data)
{
    Containerd__Task__V2__ConnectResponse resp = CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;
    resp.shim_pid = (uint32_t)getpid();
    struct proc *p = find_proc("");
    resp.task_pid = p ? (uint32_t)p->pid : 0;
    resp.version = "host-task-shim";
    ttrpc_call_reply(call, &resp.base);
}

static void task_shutdown(struct ttrpc_call *call, const ProtobufCMessage *m, void *data)
{
    const Containerd__Task__V2__ShutdownRequest *r = (const void *)m;
    if (shim.created && !shim.deleted && !r->now) {
        reply_empty(call);
        return;
    }
    reply_empty(call);
    shim.quit = true;
    loop_quit(shim.loop);
}

#define METHOD(name, type, fn)                                                                     \
    {                                                                                              \
        SERVICE, name, &containerd__task__v2__##type##__descriptor, fn                             \
    }
static const struct ttrpc_method methods[] = {
    METHOD("Create", create_task_request, task_create),
    METHOD("Start", start_request, task_start),
    METHOD("State", state_request, task_state),
    METHOD("Wait", wait_request, task_wait),
    METHOD("Kill", kill_request, task_kill),
    METHOD("Delete", delete_request, task_delete),
    METHOD("Exec", exec_process_request, task_exec),
    METHOD("Pause", pause_request, task_pause),
    METHOD("Resume", resume_request, task_resume),
    METHOD("Pids", pids_request, task_pids),
    METHOD("ResizePty", resize_pty_request, task_resize),
    METHOD("CloseIO", close_iorequest, task_ok),
    METHOD("Update", update_task_request, task_ok),
    METHOD("Connect", connect_request, task_connect),
    METHOD("Shutdown", shutdown_request, task_shutdown),
};

/* ---- the shim binary protocol ---- */

/* $KATA_SHIM_SOCKET_DIR as the real daemon reads it: test runs sharing the
 * machine keep apart. */
static const char *state_base(void)
{
    const char *dir = getenv("KATA_SHIM_SOCKET_DIR");
    return dir && *dir ? dir : STATE_BASE;
}

static char *paths_for(const char *ns, const char *id, const char *suffix)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *s = ns; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    h = (h ^ '/') * 1099511628211ull;
    for (const char *s = id; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return xasprintf("%s/%016llx.%s", state_base(), (unsigned long long)h, suffix);
}

static int serve(int listen_fd)
{
    cleanup_kerr struct kerr *err = NULL;
    shim.loop = loop_new(&err);
    shim.server = ttrpc_server_new(shim.loop, methods, ARRAY_SIZE(methods), &shim);
    if (ttrpc_server_add_listener(shim.server, listen_fd, &err) < 0)
        return 1;
    while (!shim.quit)
        if (loop_run(shim.loop, &shim.quit, &err) < 0)
            break;
    for (int i = 0; i < MAX_PROCS; i++)
        if (shim.procs[i].used)
            free_proc(&shim.procs[i]);
    unlink(shim.socket_path);
    unlink(shim.pid_path);
    cleanup_free char *init_path = xasprintf("%s.init", shim.pid_path);
    unlink(init_path);
    /* let the last answers leave */
    for (int i = 0; i < 5; i++)
        loop_run_once(shim.loop, 10, NULL);
    return 0;
}

int main(int argc, char **argv)
{
    const char *ns = "default", *id = NULL, *bundle = NULL, *verb = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1] == '-')
            a++;
        if (strcmp(a, "-namespace") == 0 && i + 1 < argc)
            ns = argv[++i];
        else if (strcmp(a, "-id") == 0 && i + 1 < argc)
            id = argv[++i];
        else if (strcmp(a, "-bundle") == 0 && i + 1 < argc)
            bundle = argv[++i];
        else if ((strcmp(a, "-address") == 0 || strcmp(a, "-publish-binary") == 0) && i + 1 < argc)
            i++;
        else if (strcmp(a, "-debug") == 0)
            ;
        else
            verb = argv[i];
    }
    if (!id || !verb) {
        fprintf(stderr, "usage: host-task-shim -namespace N -id ID -bundle B start|delete\n");
        return 2;
    }
    log_init("host-task-shim", LOG_LEVEL_WARN, 2, false);
    mkdir_all(state_base(), 0700, NULL);
    shim.socket_path = paths_for(ns, id, "sock");
    shim.pid_path = paths_for(ns, id, "pid");
    shim.bundle = xstrdup(bundle ? bundle : ".");
    if (strcmp(verb, "delete") == 0) {
        cleanup_free char *text = NULL;
        size_t len;
        if (file_read_all(shim.pid_path, 64, &text, &len, NULL) == 0) {
            pid_t pid = (pid_t)atoi(text);
            if (pid > 0)
                kill(pid, SIGKILL);
        }
        cleanup_free char *init_path = xasprintf("%s.init", shim.pid_path);
        cleanup_free char *init = NULL;
        if (file_read_all(init_path, 64, &init, &len, NULL) == 0 && atoi(init) > 0) {
            kill(-atoi(init), SIGKILL);
            kill(atoi(init), SIGKILL);
        }
        unlink(init_path);
        unlink(shim.socket_path);
        unlink(shim.pid_path);
        Containerd__Task__V2__DeleteResponse resp = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
        resp.exit_status = 137;
        uint8_t buf[64];
        size_t n = protobuf_c_message_pack(&resp.base, buf);
        fwrite(buf, 1, n, stdout);
        return 0;
    }
    if (strcmp(verb, "start") != 0) {
        fprintf(stderr, "host-task-shim: unknown verb `%s`\n", verb);
        return 2;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", shim.socket_path);
    unlink(shim.socket_path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
        fprintf(stderr, "host-task-shim: listen on `%s`: %s\n", shim.socket_path, strerror(errno));
        return 1;
    }
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        setsid();
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        if (null > 2)
            close(null);
        signal(SIGPIPE, SIG_IGN);
        char text[32];
        int n = snprintf(text, sizeof(text), "%d", (int)getpid());
        file_write_atomic(shim.pid_path, text, (size_t)n, 0600, NULL);
        _exit(serve(fd));
    }
    printf("unix://%s\n", shim.socket_path);
    return 0;
}
