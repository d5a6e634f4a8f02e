/* Container processes: fork the init process into new namespaces or an exec
 * process into the init's, set them up, hold them before execve until
 * started, reap them and answer WaitProcess once their output is in.
 *
 * Parent and child talk over a close-on-exec pipe and socket:
 *   sync   (agent -> child, pipe): 'C' once the child is in its cgroup, 'S' to
 *          execve;
 *   status (child -> agent, unix stream socket): 'R' when set up (with a
 *          terminal: the pty master attached, SCM_RIGHTS), or 'E' and an error
 *          message.
 * After 'S' the status socket reaches EOF when execve succeeds (close-on-exec),
 * or carries the execve error.
 *
 * A terminal is opened by the child once it is in the container's mount
 * namespace, from the container's own devpts instance (`/dev/pts/ptmx`), so
 * the slave is `/dev/pts/N` inside the container and ttyname(3) finds it. */
#include "agent.h"
#include "cgroup.h"
#include "channel.h"
#include "container.h"
#include "hooks.h"
#include "log.h"
#include "oci_security.h"
#include "rootfs.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define SETUP_TIMEOUT_MS 30000 /* child setup, until 'R' */
#define EXEC_TIMEOUT_MS  10000 /* after 'S', until execve */
#define FLUSH_RETRY_NS   (20ull * 1000 * 1000)
#define FLUSH_RETRIES    100 /* 2 s for output still held by descendants */
#define OUTPUT_PIPE_SIZE (1 << 20)

extern char **environ;

struct pending_wait {
    struct process *p;
    struct ttrpc_call *call;
    struct pending_wait *next;
};

/* ---- the child ---- */

/* The fds the child keeps, moved to fixed numbers: 0-2 stdio, 3 sync, 4 status. */
enum { CHILD_SYNC_FD = 3, CHILD_STATUS_FD = 4 };

struct child_fds {
    int sync;
    int status;
    int stdio[3]; /* -1: /dev/null until the terminal replaces it */
};

static void child_send_error(struct kerr *err) __attribute__((noreturn));
static void child_send_error(struct kerr *err)
{
    const char *msg = err && err->msg ? err->msg : "unknown error";
    char buf[4096];
    int n = snprintf(buf, sizeof(buf), "E%s", msg);
    if (n > (int)sizeof(buf) - 1)
        n = (int)sizeof(buf) - 1;
    (void)!write(CHILD_STATUS_FD, buf, (size_t)n);
    _exit(127);
}

static int child_wait_byte(char want, struct kerr **err)
{
    char c;
    ssize_t n;
    do
        n = read(CHILD_SYNC_FD, &c, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1)
        _exit(127); /* the agent gave up on us */
    if (c != want)
        return kerr_make(err, EPROTO, "sync: expected `%c`, got `%c`", want, c);
    return 0;
}

static void child_reset_signals(void)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
}

/* Move what the child keeps to 0-4 and close everything else the agent had
 * open (other containers' pipes must not stay open in this process). */
static int child_arrange_fds(struct child_fds *f, struct kerr **err)
{
    int keep[5] = {f->stdio[0], f->stdio[1], f->stdio[2], f->sync, f->status};
    int high[5];
    for (int i = 0; i < 5; i++) {
        high[i] = keep[i] >= 0 ? fcntl(keep[i], F_DUPFD_CLOEXEC, 10)
                               : open("/dev/null", O_RDWR | O_CLOEXEC);
        if (high[i] < 0)
            return kerr_make(err, errno, "dup fd %d", keep[i]);
    }
    for (int i = 0; i < 5; i++)
        if (dup2(high[i], i) < 0)
            return kerr_make(err, errno, "dup2 fd %d", i);
    /* 0-2 lose close-on-exec with dup2; 3 and 4 must keep it. */
    fcntl(CHILD_SYNC_FD, F_SETFD, FD_CLOEXEC);
    fcntl(CHILD_STATUS_FD, F_SETFD, FD_CLOEXEC);
    if (syscall(SYS_close_range, 5, ~0U, 0) < 0) {
        for (int fd = 5; fd < 65536; fd++)
            close(fd);
    }
    return 0;
}

/* A pty from the devpts instance the container sees (its own: rootfs.c
 * mounts one and links /dev/ptmx to it), the slave as stdio and controlling
 * terminal.  Runs as root before the process's user is set, which then gets
 * the slave (child_chown_stdio).  Returns the master (close-on-exec). */
static int child_open_terminal(struct kerr **err)
{
    const char *path = "/dev/pts/ptmx";
    cleanup_close int master = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 && errno == ENOENT) {
        path = "/dev/ptmx"; /* no devpts of its own: the one /dev/ptmx leads to */
        master = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    }
    if (master < 0)
        return kerr_make(err, errno, "terminal: open `%s`", path);
    int unlock = 0;
    if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
        return kerr_make(err, errno, "terminal: unlock the pty of `%s`", path);
    /* TIOCGPTPEER opens the slave of this master without a path lookup. */
    int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
    if (slave < 0)
        return kerr_make(err, errno, "terminal: open the pty slave of `%s`", path);
    for (int fd = 0; fd < 3; fd++) {
        if (dup2(slave, fd) < 0) {
            int saved = errno;
            close(slave);
            return kerr_make(err, saved, "terminal: dup2 the pty slave to fd %d", fd);
        }
    }
    close(slave);
    /* child_main made us a session leader already. */
    if (ioctl(0, TIOCSCTTY, 0) < 0)
        return kerr_make(err, errno, "terminal: make the pty slave the controlling terminal");
    return steal_fd(&master);
}

/* 'R', with the terminal's master attached when there is one. */
static void child_send_ready(int master)
{
    char ready = 'R';
    struct iovec iov = {.iov_base = &ready, .iov_len = 1};
    unix_send_with_fd(CHILD_STATUS_FD, &iov, 1, master);
    if (master >= 0)
        close(master);
}

/* Join the init process's namespaces (the agent already put us in its pid
 * namespace and cgroup). */
static int child_join_namespaces(pid_t init_pid, struct kerr **err)
{
    static const struct {
        const char *name;
        int type;
    } order[] = {
        {"cgroup", CLONE_NEWCGROUP},
        {"ipc", CLONE_NEWIPC},
        {"uts", CLONE_NEWUTS},
        {"mnt", CLONE_NEWNS},
    };
    int fds[ARRAY_SIZE(order)];
    for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)init_pid, order[i].name);
        fds[i] = open(path, O_RDONLY | O_CLOEXEC);
        if (fds[i] < 0)
            return kerr_make(err, errno, "open `%s`", path);
    }
    for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
        if (setns(fds[i], order[i].type) < 0)
            return kerr_make(err, errno, "join %s namespace of pid %d", order[i].name,
                             (int)init_pid);
        close(fds[i]);
    }
    return 0;
}

static bool spec_has_namespace(const Grpc__Spec *spec, const char *type)
{
    const Grpc__Linux *lx = spec->linux_;
    for (size_t i = 0; lx && i < lx->n_namespaces; i++)
        if (lx->namespaces[i]->type && strcmp(lx->namespaces[i]->type, type) == 0)
            return true;
    return false;
}

static int child_setup_init(const struct container *c, pid_t pid, struct kerr **err)
{
    const Grpc__Spec *spec = c->spec;
    if (spec_has_namespace(spec, "cgroup") && unshare(CLONE_NEWCGROUP) < 0)
        return kerr_make(err, errno, "new cgroup namespace");
    if (rootfs_prepare(spec, c->bundle_root, err) < 0 ||
        hooks_run_spec(spec, OCI_HOOK_CREATE_CONTAINER, c->id, "created", pid, c->bundle_root,
                       err) < 0 ||
        rootfs_pivot(c->bundle_root, err) < 0)
        return -1;
    if (oci_apply_rootfs_policy(spec->linux_, err) < 0)
        return -1;
    return rootfs_finish(spec, err);
}

/* Make the stdio pipes the container user's, so it can reopen /proc/self/fd/N.
 * A terminal's slave only changes owner: its group stays the one the devpts
 * mount gives (`gid=5`, tty), as runc leaves it. */
static void child_chown_stdio(const Grpc__Process *proc)
{
    if (proc->user == NULL)
        return;
    gid_t gid = proc->terminal ? (gid_t)-1 : (gid_t)proc->user->gid;
    for (int fd = 0; fd < 3; fd++)
        (void)!fchown(fd, proc->user->uid, gid);
}

static void child_main(const struct process_spawn *s, struct child_fds *f, pid_t init_pid)
    __attribute__((noreturn));
static void child_main(const struct process_spawn *s, struct child_fds *f, pid_t init_pid)
{
    struct kerr *err = NULL;
    const Grpc__Process *proc = s->process;
    child_reset_signals();
    if (child_arrange_fds(f, &err) < 0)
        child_send_error(err);
    if (setsid() < 0) {
        kerr_make(&err, errno, "set up the session");
        child_send_error(err);
    }
    /* 'C' comes with our pid as the agent sees it (for the hooks' state). */
    pid_t self = 0;
    if (child_wait_byte('C', &err) < 0)
        child_send_error(err);
    if (read(CHILD_SYNC_FD, &self, sizeof(self)) != sizeof(self))
        _exit(127);
    if (s->init ? child_setup_init(s->container, self, &err) < 0
                : child_join_namespaces(init_pid, &err) < 0)
        child_send_error(err);
    int master = -1;
    if (proc->terminal && (master = child_open_terminal(&err)) < 0)
        child_send_error(err);

    const char *cwd = proc->cwd && *proc->cwd ? proc->cwd : "/";
    bool cwd_done = chdir(cwd) == 0;
    if (!cwd_done && errno != EACCES) {
        kerr_make(&err, errno, "chdir to cwd `%s`", cwd);
        child_send_error(err);
    }
    child_chown_stdio(proc);
    if (oci_apply_process(proc, s->container->spec->linux_, &err) < 0)
        child_send_error(err);
    /* A cwd only the container's user may enter. */
    if (!cwd_done && chdir(cwd) < 0) {
        kerr_make(&err, errno, "chdir to cwd `%s`", cwd);
        child_send_error(err);
    }

    char **env = xcalloc(proc->n_env + 1, sizeof(char *));
    for (size_t i = 0; i < proc->n_env; i++)
        env[i] = proc->env[i];
    char **argv = xcalloc(proc->n_args + 1, sizeof(char *));
    for (size_t i = 0; i < proc->n_args; i++)
        argv[i] = proc->args[i];

    child_send_ready(master);
    if (child_wait_byte('S', &err) < 0)
        child_send_error(err);
    if (s->init && hooks_run_spec(s->container->spec, OCI_HOOK_START_CONTAINER, s->container->id,
                                  "created", self, s->container->bundle_root, &err) < 0)
        child_send_error(err);
    /* execvp looks PATH up in environ: the container's. */
    environ = env;
    execvp(argv[0], argv);
    kerr_make(&err, errno, "exec `%s`", argv[0]);
    child_send_error(err);
}

/* ---- the agent's side ---- */

/* One read of the status socket; an fd passed along goes to *fd_out (closed
 * when fd_out is NULL or already holds one). */
static ssize_t status_recv(int fd, char *buf, size_t len, int *fd_out)
{
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } control;
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = control.buf,
                         .msg_controllen = sizeof(control.buf)};
    ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0)
        return n;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
            int passed;
            memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (fd_out && *fd_out < 0)
                *fd_out = passed;
            else
                close(passed);
        }
    }
    return n;
}

/* Wait (bounded) for the child's status: 'R' -> 0, 'E'... -> -1 with its
 * message, EOF -> 1.  A child that died says so.  The fd sent with 'R' (a
 * terminal's master) goes to *fd_out when fd_out is not NULL. */
static int read_status(int fd, int timeout_ms, bool eof_ok, int *fd_out, struct kerr **err)
{
    char buf[4097];
    size_t len = 0;
    uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000;
    for (;;) {
        uint64_t now = now_ns();
        if (now >= deadline)
            return kerr_make(err, ETIMEDOUT, "no answer from the new process in %d ms", timeout_ms);
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, (int)((deadline - now) / 1000000) + 1);
        if (r < 0 && errno != EINTR)
            return kerr_make(err, errno, "poll the new process");
        if (r <= 0)
            continue;
        ssize_t n = status_recv(fd, buf + len, sizeof(buf) - 1 - len, fd_out);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0)
            return kerr_make(err, errno, "read from the new process");
        if (n == 0 && len == 0) {
            if (eof_ok)
                return 1;
            return kerr_make(err, 0, "the new process died during setup");
        }
        len += (size_t)n;
        if (buf[0] == 'R' && len >= 1)
            return 0;
        if (buf[0] == 'E' && (n == 0 || len == sizeof(buf) - 1)) {
            buf[len] = '\0';
            return kerr_make(err, 0, "%s", buf + 1);
        }
        if (buf[0] != 'E' && buf[0] != 'R')
            return kerr_make(err, EPROTO, "unexpected status from the new process");
    }
}

static int self_pidns_fd(void)
{
    static int fd = -1;
    if (fd < 0)
        fd = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
    return fd;
}

static unsigned long init_clone_flags(const Grpc__Spec *spec)
{
    static const struct {
        const char *type;
        unsigned long flag;
    } map[] = {
        {"pid", CLONE_NEWPID},
        {"uts", CLONE_NEWUTS},
        {"ipc", CLONE_NEWIPC},
    };
    unsigned long flags = CLONE_NEWNS; /* always: pivot_root needs it */
    for (size_t i = 0; i < ARRAY_SIZE(map); i++)
        if (spec_has_namespace(spec, map[i].type))
            flags |= map[i].flag;
    return flags;
}

/* Run clone with the children's pid namespace set to that of ns_pid (the
 * agent itself stays where it is). */
static pid_t clone_in_pidns(pid_t ns_pid, unsigned long flags, struct kerr **err)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)ns_pid);
    cleanup_close int ns = open(path, O_RDONLY | O_CLOEXEC);
    if (ns < 0) {
        kerr_make(err, errno, "open `%s`", path);
        return -1;
    }
    int self = self_pidns_fd();
    if (self < 0) {
        kerr_make(err, errno, "open `/proc/self/ns/pid`");
        return -1;
    }
    if (setns(ns, CLONE_NEWPID) < 0) {
        kerr_make(err, errno, "enter the pid namespace of pid %d", (int)ns_pid);
        return -1;
    }
    pid_t pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
    int saved = errno;
    if (pid != 0 && setns(self, CLONE_NEWPID) < 0)
        log_error("return to the agent's pid namespace: %s", strerror(errno));
    if (pid < 0)
        kerr_make(err, saved, "clone in the pid namespace of pid %d", (int)ns_pid);
    return pid;
}

/* Exec: fork into the init's pid namespace.  Init: clone new namespaces,
 * the pid one unless it joins the sandbox's. */
static pid_t fork_child(const struct process_spawn *s, struct kerr **err)
{
    const struct container *c = s->container;
    if (!s->init)
        return clone_in_pidns(c->init->pid, 0, err);
    unsigned long flags = init_clone_flags(c->spec);
    if (c->pidns_pid > 0)
        return clone_in_pidns(c->pidns_pid, flags & ~(unsigned long)CLONE_NEWPID, err);
    pid_t pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
    if (pid < 0)
        kerr_make(err, errno, "clone the init process");
    return pid;
}

static void process_on_exit(pid_t pid, int wait_status, void *data);

static void reply_waits(struct process *p)
{
    while (p->waits) {
        struct pending_wait *w = p->waits;
        p->waits = w->next;
        Grpc__WaitProcessResponse resp = GRPC__WAIT_PROCESS_RESPONSE__INIT;
        resp.status = p->exit_status;
        ttrpc_call_reply(w->call, &resp.base);
        free(w);
    }
}

/* Exited: is all its output in our buffers?  Pipes: once a dead process's
 * pipe runs dry.  A pty: at EOF (the slave's data passes a work queue). */
static bool outputs_flushed(struct process *p)
{
    bool done = true;
    struct stdio_out *outs[2] = {p->out, p->err};
    for (int i = 0; i < 2; i++) {
        if (outs[i] == NULL)
            continue;
        bool dry = stdio_out_drain(outs[i]);
        if (stdio_out_eof(outs[i]))
            continue;
        if (!dry || p->terminal)
            done = false;
    }
    return done;
}

static void flush_retry(void *data);
static void close_fd(int *fd);

/* Answer the waits once the output is in, retrying a bounded number of times
 * while descendants still hold the streams or a buffer is full. */
static void check_flushed(struct process *p)
{
    if (!p->exited || p->flushed)
        return;
    if (p->flush_retries > 0 && !outputs_flushed(p)) {
        p->flush_retries--;
        p->flush_timer = loop_timer_add(p->container->agent->loop, FLUSH_RETRY_NS, flush_retry, p);
        return;
    }
    p->flushed = true;
    reply_waits(p);
    /* Nobody reads its stdin any more: close it once the queued writes are
     * done (the process is kept for late output readers, not its fds). */
    if (p->in)
        stdio_in_close(p->in);
    close_fd(&p->pty_master);
}

static void flush_retry(void *data)
{
    struct process *p = data;
    p->flush_timer = NULL;
    check_flushed(p);
}

static void output_eof(void *data)
{
    struct process *p = data;
    if (p->exited && !p->flushed && p->flush_timer) {
        loop_timer_cancel(p->flush_timer);
        p->flush_timer = NULL;
        check_flushed(p);
    }
}

static void process_on_exit(pid_t pid, int wait_status, void *data)
{
    struct process *p = data;
    p->exited = true;
    if (WIFEXITED(wait_status))
        p->exit_status = WEXITSTATUS(wait_status);
    else if (WIFSIGNALED(wait_status))
        p->exit_status = 128 + WTERMSIG(wait_status);
    log_debug("container `%s` process `%s` (pid %d) exited: %d", p->container->id, p->exec_id,
              (int)pid, p->exit_status);
    p->flush_retries = FLUSH_RETRIES;
    check_flushed(p);
    if (p->init)
        container_init_exited(p->container);
    else
        container_process_exited(p->container);
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void kill_and_reap(pid_t pid)
{
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

/* The agent's stream objects for the parent's ends. */
static int process_streams(struct process *p, int in_fd, int out_fd, int err_fd, struct kerr **err)
{
    struct loop *loop = p->container->agent->loop;
    p->in = stdio_in_new(loop, in_fd, err);
    if (p->in == NULL) {
        close_fd(&out_fd);
        close_fd(&err_fd);
        return -1;
    }
    p->out = stdio_out_new(loop, out_fd, output_eof, p, err);
    if (p->out == NULL) {
        close_fd(&err_fd);
        return -1;
    }
    if (err_fd >= 0 && (p->err = stdio_out_new(loop, err_fd, output_eof, p, err)) == NULL)
        return -1;
    return 0;
}

static int make_pipe(int fds[2], struct kerr **err)
{
    if (pipe2(fds, O_CLOEXEC) < 0)
        return kerr_make(err, errno, "pipe");
    return 0;
}

/* Output pipes get room for one ReadStdout's worth (best effort: the limit
 * is /proc/sys/fs/pipe-max-size), so a reader is not answered 64 KiB at a
 * time. */
static int make_output_pipe(int fds[2], struct kerr **err)
{
    if (make_pipe(fds, err) < 0)
        return -1;
    (void)fcntl(fds[0], F_SETPIPE_SZ, OUTPUT_PIPE_SIZE);
    return 0;
}

/* The master the child sent: sized as the request asks, non-blocking. */
static int process_terminal_ready(const Grpc__Process *proc, int master, struct kerr **err)
{
    if (master < 0)
        return kerr_make(err, EPROTO, "the new process sent no terminal");
    uint16_t rows = proc->consolesize ? (uint16_t)proc->consolesize->height : 0;
    uint16_t cols = proc->consolesize ? (uint16_t)proc->consolesize->width : 0;
    if (rows && cols && stdio_pty_resize(master, rows, cols, err) < 0)
        return -1;
    if (fd_set_nonblock(master, true) < 0)
        return kerr_make(err, errno, "make the pty master non-blocking");
    return 0;
}

struct process *process_spawn(const struct process_spawn *s, const char *exec_id, struct kerr **err)
{
    const Grpc__Process *proc = s->process;
    if (proc == NULL || proc->n_args == 0 || proc->args[0] == NULL || !*proc->args[0]) {
        kerr_make(err, EINVAL, "process: no args");
        return NULL;
    }
    int sync[2] = {-1, -1}, status[2] = {-1, -1};
    int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1};
    int master = -1;
    struct process *p = NULL;
    pid_t pid = -1;

    if (make_pipe(sync, err) < 0)
        goto fail;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, status) < 0) {
        kerr_make(err, errno, "socketpair");
        goto fail;
    }
    /* A terminal comes from the child (child_open_terminal). */
    if (!proc->terminal && (make_pipe(in, err) < 0 || make_output_pipe(out, err) < 0 ||
                            make_output_pipe(errp, err) < 0))
        goto fail;

    pid = fork_child(s, err);
    if (pid < 0)
        goto fail;
    if (pid == 0) {
        struct child_fds f = {
            .sync = sync[0],
            .status = status[1],
            .stdio = {in[0], out[1], errp[1]},
        };
        child_main(s, &f, s->init ? 0 : s->container->init->pid);
    }
    close_fd(&sync[0]);
    close_fd(&status[1]);
    close_fd(&in[0]);
    close_fd(&out[1]);
    close_fd(&errp[1]);

    if (s->container->cgroup && cgroup_add_pid(s->container->cgroup, pid, err) < 0)
        goto fail;
    char go[1 + sizeof(pid_t)] = {'C'};
    memcpy(go + 1, &pid, sizeof(pid));
    if (write(sync[1], go, sizeof(go)) != (ssize_t)sizeof(go)) {
        kerr_make(err, errno, "sync with the new process");
        goto fail;
    }
    if (read_status(status[0], SETUP_TIMEOUT_MS, false, proc->terminal ? &master : NULL, err) < 0)
        goto fail;
    if (proc->terminal && process_terminal_ready(proc, master, err) < 0)
        goto fail;

    p = xcalloc(1, sizeof(*p));
    p->container = s->container;
    p->exec_id = xstrdup(exec_id);
    p->init = s->init;
    p->pid = pid;
    p->terminal = proc->terminal;
    p->pty_master = -1;
    p->start_fd = steal_fd(&sync[1]);
    p->status_fd = steal_fd(&status[0]);
    int stream_err;
    if (proc->terminal) {
        p->pty_master = master;
        int in_fd = fcntl(master, F_DUPFD_CLOEXEC, 0);
        int out_fd = fcntl(master, F_DUPFD_CLOEXEC, 0);
        master = -1;
        stream_err = in_fd < 0 || out_fd < 0 ? kerr_make(err, errno, "dup pty master")
                                             : process_streams(p, in_fd, out_fd, -1, err);
    } else {
        stream_err =
            process_streams(p, steal_fd(&in[1]), steal_fd(&out[0]), steal_fd(&errp[0]), err);
    }
    if (stream_err < 0) {
        process_free(p);
        p = NULL;
        goto fail;
    }
    agent_reaper_watch(pid, process_on_exit, p);
    return p;

fail:
    if (pid > 0 && p == NULL)
        kill_and_reap(pid);
    close_fd(&sync[0]);
    close_fd(&sync[1]);
    close_fd(&status[0]);
    close_fd(&status[1]);
    close_fd(&in[0]);
    close_fd(&in[1]);
    close_fd(&out[0]);
    close_fd(&out[1]);
    close_fd(&errp[0]);
    close_fd(&errp[1]);
    close_fd(&master);
    return NULL;
}

int process_start(struct process *p, struct kerr **err)
{
    if (p->started)
        return 0;
    p->started = true;
    int ret = 0;
    if (write(p->start_fd, "S", 1) != 1)
        ret = kerr_make(err, errno, "start the process");
    else if (read_status(p->status_fd, EXEC_TIMEOUT_MS, true, NULL, err) < 0)
        ret = -1;
    close_fd(&p->start_fd);
    close_fd(&p->status_fd);
    return ret;
}

void process_free(struct process *p)
{
    if (p == NULL)
        return;
    if (p->pid > 0 && !p->exited) {
        agent_reaper_unwatch(p->pid);
        kill_and_reap(p->pid);
    }
    if (p->flush_timer)
        loop_timer_cancel(p->flush_timer);
    while (p->waits) {
        struct pending_wait *w = p->waits;
        p->waits = w->next;
        ttrpc_call_fail(w->call, TTRPC_NOT_FOUND, "wait process `%s`: removed", p->exec_id);
        free(w);
    }
    stdio_in_free(p->in);
    stdio_out_free(p->out);
    stdio_out_free(p->err);
    close_fd(&p->pty_master);
    close_fd(&p->start_fd);
    close_fd(&p->status_fd);
    free(p->exec_id);
    free(p);
}

static void wait_cancelled(void *data)
{
    struct pending_wait *w = data;
    for (struct pending_wait **pp = &w->p->waits; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    free(w);
}

void process_wait(struct process *p, struct ttrpc_call *call)
{
    if (p->flushed) {
        Grpc__WaitProcessResponse resp = GRPC__WAIT_PROCESS_RESPONSE__INIT;
        resp.status = p->exit_status;
        ttrpc_call_reply(call, &resp.base);
        return;
    }
    struct pending_wait *w = xcalloc(1, sizeof(*w));
    w->p = p;
    w->call = call;
    w->next = p->waits;
    p->waits = w;
    ttrpc_call_set_cancel(call, wait_cancelled, w);
}

/* Does pid handle sig?  (SigCgt in /proc/PID/status, a hex mask.) */
static bool signal_caught(pid_t pid, int sig)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    cleanup_free char *text = NULL;
    if (file_read_all(path, 1 << 16, &text, NULL, NULL) < 0)
        return true;
    const char *line = strstr(text, "SigCgt:");
    if (line == NULL)
        return true;
    unsigned long long mask = strtoull(line + 7, NULL, 16);
    return (mask >> (sig - 1)) & 1;
}

int process_signal(struct process *p, int sig, struct kerr **err)
{
    if (p->exited)
        return kerr_make(err, ESRCH, "signal process `%s`: already exited", p->exec_id);
    /* The init of a pid namespace ignores signals it has no handler for:
     * SIGTERM would do nothing, so it becomes SIGKILL (as Kata's agent does). */
    if (p->init && sig == SIGTERM && p->container->pidns_pid == 0 &&
        spec_has_namespace(p->container->spec, "pid") && !signal_caught(p->pid, SIGTERM))
        sig = SIGKILL;
    if (kill(p->pid, sig) < 0)
        return kerr_make(err, errno, "signal %d to process `%s` (pid %d)", sig, p->exec_id,
                         (int)p->pid);
    return 0;
}
