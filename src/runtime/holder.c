/* The holder process: see holder.h.
 *
 * fifos: the holder makes them and opens each O_RDWR first, so the daemon's
 * opens never block and never fail with ENXIO whichever way it opens them.
 * Once Create (or Exec) has answered, stdout and stderr are reopened
 * read-only and the O_RDWR descriptors closed: the daemon closing its write
 * ends is then the holder's end of file.  stdin keeps its O_RDWR descriptor
 * until the end of the caller's input; closing it is the daemon's end of
 * file. */
#include "holder.h"

#include "any.pb-c.h"
#include "channel.h"
#include "holder_io.h"
#include "log.h"
#include "runtime.h"
#include "task.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

/* After the process exits, how long the daemon may take to close the output
 * fifos (the rest of the output in flight). */
#define HOLDER_DRAIN_TIMEOUT_NS (10ull * 1000000000ull)
#define HOLDER_REPORT_MAX       4096
/* An exit status for "the daemon is gone and nobody knows". */
#define HOLDER_LOST_STATUS 255

#define PROCESS_SPEC_TYPE_URL "types.containerd.io/opencontainers/runtime-spec/1/Process"

enum stream { STREAM_STDIN, STREAM_STDOUT, STREAM_STDERR, STREAM_COUNT };
static const char *const stream_names[STREAM_COUNT] = {"stdin", "stdout", "stderr"};

struct holder {
    const struct holder_config *cfg;
    struct loop *loop;
    struct task_client task;
    char *fifo[STREAM_COUNT]; /* paths, NULL when the stream is not used */
    int fifo_fd[STREAM_COUNT];
    int pty_slave;
    struct relay relays[STREAM_COUNT];
    bool relay_active[STREAM_COUNT];
    int signal_fd;
    struct loop_watch *signal_watch;
    struct loop_timer *drain_timer;
    struct termios saved_stdin; /* a terminal on our own stdin, put in raw mode */
    bool stdin_raw;
    bool exited, done;
    int exit_code;
};

/* ---- fifos ---- */

static bool is_dev_null(int fd)
{
    struct stat st, null_st;
    if (fstat(fd, &st) < 0)
        return true; /* closed: nothing to read */
    return S_ISCHR(st.st_mode) && stat("/dev/null", &null_st) == 0 && st.st_rdev == null_st.st_rdev;
}

static int make_fifos(struct holder *h, struct kerr **err)
{
    const struct holder_config *cfg = h->cfg;
    for (int s = 0; s < STREAM_COUNT; s++) {
        h->fifo_fd[s] = -1;
        if (cfg->terminal && s == STREAM_STDERR)
            continue; /* a terminal has one output stream */
        if (!cfg->terminal && s == STREAM_STDIN && is_dev_null(0))
            continue;
        h->fifo[s] = cfg->exec_id
                         ? xasprintf("%s/%s.%s", cfg->fifo_dir, cfg->exec_id, stream_names[s])
                         : xasprintf("%s/%s", cfg->fifo_dir, stream_names[s]);
        unlink(h->fifo[s]);
        if (mkfifo(h->fifo[s], 0600) < 0)
            return kerr_make(err, errno, "make fifo `%s`", h->fifo[s]);
        h->fifo_fd[s] = open(h->fifo[s], O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (h->fifo_fd[s] < 0)
            return kerr_make(err, errno, "open fifo `%s`", h->fifo[s]);
    }
    return 0;
}

static void remove_fifos(struct holder *h)
{
    for (int s = 0; s < STREAM_COUNT; s++)
        if (h->fifo[s])
            unlink(h->fifo[s]);
}

/* The daemon holds its ends now: make ours see its close as end of file. */
static int reopen_outputs(struct holder *h, struct kerr **err)
{
    for (int s = STREAM_STDOUT; s < STREAM_COUNT; s++) {
        if (!h->fifo[s])
            continue;
        int fd = open(h->fifo[s], O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
            return kerr_make(err, errno, "open fifo `%s`", h->fifo[s]);
        close(h->fifo_fd[s]);
        h->fifo_fd[s] = fd;
    }
    return 0;
}

/* ---- terminal ---- */

static int send_master(const char *socket_path, int master, const char *name, struct kerr **err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(socket_path) >= sizeof(sa.sun_path))
        return kerr_make(err, ENAMETOOLONG, "console socket `%s`", socket_path);
    strcpy(sa.sun_path, socket_path);
    cleanup_close int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0)
        return kerr_make(err, errno, "console socket: socket");
    if (connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return kerr_make(err, errno, "connect to console socket `%s`", socket_path);
    /* As runc's utils.SendFd: the pty's name as data, the master as rights. */
    struct iovec iov = {.iov_base = (void *)name, .iov_len = strlen(name)};
    if (unix_send_with_fd(sock, &iov, 1, master) < 0)
        return kerr_make(err, errno, "send the pty master to console socket `%s`", socket_path);
    return 0;
}

/* A host pty whose master goes to the console socket; the holder keeps the
 * slave as its controlling terminal (so it gets SIGWINCH), in raw mode: the
 * guest's pty does the line discipline. */
static int open_terminal(struct holder *h, struct kerr **err)
{
    cleanup_close int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0)
        return kerr_make(err, errno, "open a pty");
    char name[128];
    if (grantpt(master) < 0 || unlockpt(master) < 0 || ptsname_r(master, name, sizeof(name)))
        return kerr_make(err, errno, "set up the pty");
    h->pty_slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (h->pty_slave < 0)
        return kerr_make(err, errno, "open pty `%s`", name);
    struct termios t;
    if (tcgetattr(h->pty_slave, &t) == 0) {
        cfmakeraw(&t);
        tcsetattr(h->pty_slave, TCSANOW, &t);
    }
    if (ioctl(h->pty_slave, TIOCSCTTY, 0) < 0)
        log_debug("holder: TIOCSCTTY on `%s`: %s", name, strerror(errno));
    if (h->cfg->console_socket && send_master(h->cfg->console_socket, master, name, err) < 0)
        return -1;
    return 0;
}

/* run/exec in the foreground with a terminal and no console socket: our own
 * stdin and stdout are the terminal (raw while the holder runs). */
static void use_own_terminal(struct holder *h)
{
    if (!isatty(0) || tcgetattr(0, &h->saved_stdin) < 0)
        return;
    struct termios raw = h->saved_stdin;
    cfmakeraw(&raw);
    if (tcsetattr(0, TCSANOW, &raw) == 0)
        h->stdin_raw = true;
}

static void restore_own_terminal(struct holder *h)
{
    if (h->stdin_raw)
        tcsetattr(0, TCSANOW, &h->saved_stdin);
}

static void resize_pty(struct holder *h)
{
    struct winsize ws;
    int fd = h->pty_slave >= 0 ? h->pty_slave : 0;
    if (!isatty(fd) || ioctl(fd, TIOCGWINSZ, &ws) < 0 || ws.ws_col == 0 || ws.ws_row == 0)
        return;
    Containerd__Task__V2__ResizePtyRequest req = CONTAINERD__TASK__V2__RESIZE_PTY_REQUEST__INIT;
    req.id = (char *)h->cfg->id;
    req.exec_id = (char *)(h->cfg->exec_id ? h->cfg->exec_id : "");
    req.width = ws.ws_col;
    req.height = ws.ws_row;
    cleanup_kerr struct kerr *err = NULL;
    if (task_call(&h->task, "ResizePty", &req.base, NULL, NULL, TASK_TIMEOUT_NS, NULL, &err) < 0)
        log_warn("holder: %s", err->msg);
}

/* ---- the Task calls ---- */

/* The holder's pid is the container's for its callers (state, --pid-file):
 * what they do to its netns (Docker's libnetwork) must reach the
 * container's, never the host's.  The daemon's task pid (the VMM, started
 * in the pod's netns) is there: the holder joins that netns.  Through a
 * pidfd, so a pid reused meanwhile cannot send us elsewhere. */
static int enter_task_netns(uint32_t task_pid, struct kerr **err)
{
    if (task_pid == 0 || (pid_t)task_pid == getpid())
        return 0;
    cleanup_close int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)task_pid, 0);
    if (pidfd < 0 && errno == ESRCH)
        return 0; /* already gone (a quick exec): nothing to join */
    if (pidfd < 0)
        return kerr_make(err, errno, "join the network namespace of task pid %u", task_pid);
    char path[64];
    snprintf(path, sizeof(path), "/proc/%u/ns/net", task_pid);
    struct stat theirs, ours;
    int same = stat(path, &theirs) == 0 && stat("/proc/self/ns/net", &ours) == 0 &&
               theirs.st_dev == ours.st_dev && theirs.st_ino == ours.st_ino;
    /* The stat was of that process only if it still runs. */
    if (same && syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0)
        return 0;
    if (setns(pidfd, CLONE_NEWNET) < 0)
        return errno == ESRCH
                   ? 0
                   : kerr_make(err, errno, "join the network namespace of task pid %u", task_pid);
    return 0;
}

static int create_process(struct holder *h, struct kerr **err)
{
    const struct holder_config *cfg = h->cfg;
    char *none = "";
    char *in = h->fifo[STREAM_STDIN] ? h->fifo[STREAM_STDIN] : none;
    char *out = h->fifo[STREAM_STDOUT] ? h->fifo[STREAM_STDOUT] : none;
    char *errs = h->fifo[STREAM_STDERR] ? h->fifo[STREAM_STDERR] : none;
    if (!cfg->exec_id) {
        Containerd__Task__V2__CreateTaskRequest req =
            CONTAINERD__TASK__V2__CREATE_TASK_REQUEST__INIT;
        req.id = (char *)cfg->id;
        req.bundle = (char *)cfg->bundle;
        req.terminal = cfg->terminal;
        req.stdin = in;
        req.stdout = out;
        req.stderr = errs;
        Containerd__Task__V2__CreateTaskResponse *resp = NULL;
        if (task_call(&h->task, "Create", &req.base,
                      &containerd__task__v2__create_task_response__descriptor,
                      (ProtobufCMessage **)&resp, TASK_CREATE_TIMEOUT_NS, NULL, err) < 0)
            return -1;
        uint32_t pid = resp->pid;
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return enter_task_netns(pid, err);
    }
    Google__Protobuf__Any spec = GOOGLE__PROTOBUF__ANY__INIT;
    spec.type_url = PROCESS_SPEC_TYPE_URL;
    spec.value.data = (uint8_t *)cfg->process_json;
    spec.value.len = cfg->process_json_len;
    Containerd__Task__V2__ExecProcessRequest req = CONTAINERD__TASK__V2__EXEC_PROCESS_REQUEST__INIT;
    req.id = (char *)cfg->id;
    req.exec_id = (char *)cfg->exec_id;
    req.terminal = cfg->terminal;
    req.stdin = in;
    req.stdout = out;
    req.stderr = errs;
    req.spec = &spec;
    if (task_call(&h->task, "Exec", &req.base, NULL, NULL, TASK_TIMEOUT_NS, NULL, err) < 0)
        return -1;
    return 0;
}

static int start_exec(struct holder *h, struct kerr **err)
{
    Containerd__Task__V2__StartRequest req = CONTAINERD__TASK__V2__START_REQUEST__INIT;
    req.id = (char *)h->cfg->id;
    req.exec_id = (char *)h->cfg->exec_id;
    Containerd__Task__V2__StartResponse *resp = NULL;
    if (task_call(&h->task, "Start", &req.base, &containerd__task__v2__start_response__descriptor,
                  (ProtobufCMessage **)&resp, TASK_TIMEOUT_NS, NULL, err) < 0)
        return -1;
    uint32_t pid = resp->pid;
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return enter_task_netns(pid, err);
}

static void delete_exec(struct holder *h)
{
    Containerd__Task__V2__DeleteRequest req = CONTAINERD__TASK__V2__DELETE_REQUEST__INIT;
    req.id = (char *)h->cfg->id;
    req.exec_id = (char *)h->cfg->exec_id;
    cleanup_kerr struct kerr *err = NULL;
    if (task_call(&h->task, "Delete", &req.base, &containerd__task__v2__delete_response__descriptor,
                  NULL, TASK_TIMEOUT_NS, NULL, &err) < 0)
        log_debug("holder: %s", err->msg);
}

static void ignore_reply(int code, const char *message, const uint8_t *payload, size_t len,
                         void *data)
{
    if (code != TTRPC_OK)
        log_debug("holder: %s", message ? message : ttrpc_code_name(code));
}

/* The end of the caller's input: closing our end of the stdin fifo is the
 * daemon's end of file once it has read what is buffered.  No CloseIO call:
 * a daemon that closes its reader on CloseIO would drop bytes still in the
 * fifo (the call can overtake them). */
static void close_stdin(struct holder *h)
{
    if (h->fifo_fd[STREAM_STDIN] >= 0) {
        close(h->fifo_fd[STREAM_STDIN]);
        h->fifo_fd[STREAM_STDIN] = -1;
    }
}

/* ---- the loop ---- */

static void check_done(struct holder *h)
{
    if (!h->exited)
        return;
    for (int s = STREAM_STDOUT; s < STREAM_COUNT; s++)
        if (h->relay_active[s])
            return;
    h->done = true;
    loop_quit(h->loop);
}

static void on_drain_timeout(void *data)
{
    struct holder *h = data;
    h->drain_timer = NULL;
    log_warn("holder: container `%s`: output still open %llu s after the exit", h->cfg->id,
             (unsigned long long)(HOLDER_DRAIN_TIMEOUT_NS / 1000000000ull));
    h->done = true;
    loop_quit(h->loop);
}

static void on_relay_done(struct relay *r, void *data)
{
    struct holder *h = data;
    int s = (int)(r - h->relays);
    h->relay_active[s] = false;
    if (s == STREAM_STDIN) {
        /* Terminal input ending (the console closed) is no end of stdin. */
        if (!h->cfg->terminal || !h->cfg->console_socket)
            close_stdin(h);
        return;
    }
    h->fifo_fd[s] = -1; /* the relay closed it */
    check_done(h);
}

static void on_wait(int code, const char *message, const uint8_t *payload, size_t len, void *data)
{
    struct holder *h = data;
    h->exited = true;
    if (code != TTRPC_OK) {
        log_warn("holder: container `%s`: Task/Wait: %s: %s", h->cfg->id, ttrpc_code_name(code),
                 message ? message : "");
        h->exit_code = HOLDER_LOST_STATUS;
        /* The daemon is gone: nothing more will come through the fifos. */
        h->done = true;
        loop_quit(h->loop);
        return;
    }
    Containerd__Task__V2__WaitResponse *resp =
        containerd__task__v2__wait_response__unpack(NULL, len, payload);
    h->exit_code =
        resp ? (resp->exit_status > 255 ? 255 : (int)resp->exit_status) : HOLDER_LOST_STATUS;
    if (resp)
        containerd__task__v2__wait_response__free_unpacked(resp, NULL);
    h->drain_timer = loop_timer_add(h->loop, HOLDER_DRAIN_TIMEOUT_NS, on_drain_timeout, h);
    check_done(h);
}

static void forward_signal(struct holder *h, int sig)
{
    Containerd__Task__V2__KillRequest req = CONTAINERD__TASK__V2__KILL_REQUEST__INIT;
    req.id = (char *)h->cfg->id;
    req.exec_id = (char *)(h->cfg->exec_id ? h->cfg->exec_id : "");
    req.signal = (uint32_t)sig;
    ttrpc_client_call_async(h->task.client, TASK_SERVICE, "Kill", &req.base, TASK_TIMEOUT_NS,
                            ignore_reply, NULL, NULL);
}

static void on_signal(struct loop_watch *w, uint32_t events, void *data)
{
    struct holder *h = data;
    struct signalfd_siginfo si;
    while (read(h->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGWINCH)
            resize_pty(h);
        else if (!h->exited)
            forward_signal(h, (int)si.ssi_signo);
    }
}

static const int forwarded_signals[] = {SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

static int watch_signals(struct holder *h, struct kerr **err)
{
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < ARRAY_SIZE(forwarded_signals); i++)
        sigaddset(&set, forwarded_signals[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);
    h->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (h->signal_fd < 0)
        return kerr_make(err, errno, "signalfd");
    h->signal_watch = loop_watch_add(h->loop, h->signal_fd, EPOLLIN, on_signal, h, err);
    return h->signal_watch ? 0 : -1;
}

static int start_relays(struct holder *h, struct kerr **err)
{
    int in_src = h->pty_slave >= 0 ? h->pty_slave : 0;
    int out_dst[STREAM_COUNT] = {0, h->pty_slave >= 0 ? h->pty_slave : 1, 2};
    for (int s = 0; s < STREAM_COUNT; s++) {
        if (h->fifo_fd[s] < 0)
            continue;
        int src = s == STREAM_STDIN ? in_src : h->fifo_fd[s];
        int dst = s == STREAM_STDIN ? h->fifo_fd[s] : out_dst[s];
        bool own_dst = false, own_src = s != STREAM_STDIN;
        if (relay_start(&h->relays[s], h->loop, stream_names[s], src, own_src, dst, own_dst,
                        on_relay_done, h) < 0)
            return kerr_make(err, errno, "relay %s", stream_names[s]);
        h->relay_active[s] = true;
    }
    return 0;
}

/* ---- the holder process ---- */

static void report(int fd, char kind, const char *text)
{
    char buf[HOLDER_REPORT_MAX];
    int n = snprintf(buf, sizeof(buf), "%c%s", kind, text);
    if (n > (int)sizeof(buf) - 1)
        n = (int)sizeof(buf) - 1;
    fd_write_full(fd, buf, (size_t)n);
    close(fd);
}

static void holder_logging(void)
{
    int fd = -1;
    if (runtime_opts.log_path && *runtime_opts.log_path)
        fd = open(runtime_opts.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0)
        fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    bool json = runtime_opts.log_format && strcmp(runtime_opts.log_format, "json") == 0;
    log_init("kata-runtime-holder", runtime_opts.debug ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN, fd,
             json);
}

static int holder_prepare(struct holder *h, struct kerr **err)
{
    if (make_fifos(h, err) < 0)
        return -1;
    if (h->cfg->terminal && h->cfg->console_socket && open_terminal(h, err) < 0)
        return -1;
    h->loop = loop_new(err);
    if (!h->loop)
        return -1;
    if (task_connect_on(h->loop, h->cfg->address, &h->task, err) < 0)
        return -1;
    if (create_process(h, err) < 0)
        return -1;
    if (reopen_outputs(h, err) < 0)
        return -1;
    if (h->cfg->terminal)
        resize_pty(h);
    if (h->cfg->exec_id && start_exec(h, err) < 0) {
        delete_exec(h);
        return -1;
    }
    return 0;
}

static __attribute__((noreturn)) void holder_main(const struct holder_config *cfg, int report_fd)
{
    /* Keep 0, 1, 2 (the caller's stdio) and the report pipe; nothing else of
     * the caller's may stay open for the container's lifetime. */
    if (report_fd != 3) {
        if (dup2(report_fd, 3) < 0)
            _exit(1);
        report_fd = 3;
    }
    close_range(4, ~0u, 0);
    setsid();
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    holder_logging();

    struct holder h = {.cfg = cfg, .pty_slave = -1, .signal_fd = -1};
    cleanup_kerr struct kerr *err = NULL;
    if (holder_prepare(&h, &err) < 0) {
        remove_fifos(&h);
        report(report_fd, 'E', err->msg);
        _exit(1);
    }
    if (watch_signals(&h, &err) < 0 || start_relays(&h, &err) < 0) {
        log_error("holder: %s", err->msg);
        kerr_clear(&err);
    }
    Containerd__Task__V2__WaitRequest wait = CONTAINERD__TASK__V2__WAIT_REQUEST__INIT;
    wait.id = (char *)cfg->id;
    wait.exec_id = (char *)(cfg->exec_id ? cfg->exec_id : "");
    if (ttrpc_client_call_async(h.task.client, TASK_SERVICE, "Wait", &wait.base, 0, on_wait, &h,
                                &err) < 0) {
        remove_fifos(&h);
        report(report_fd, 'E', err->msg);
        _exit(1);
    }
    if (cfg->terminal && !cfg->console_socket)
        use_own_terminal(&h);
    char pid[32];
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    report(report_fd, 'O', pid);

    while (!h.done)
        if (loop_run(h.loop, &h.done, &err) < 0) {
            log_error("holder: %s", err->msg);
            h.exit_code = HOLDER_LOST_STATUS;
            break;
        }
    restore_own_terminal(&h);
    if (cfg->exec_id) {
        delete_exec(&h);
        remove_fifos(&h);
    }
    _exit(h.exit_code);
}

pid_t holder_spawn(const struct holder_config *cfg, struct kerr **err)
{
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) < 0)
        return kerr_make(err, errno, "pipe");
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        return kerr_make(err, e, "fork the holder process");
    }
    if (pid == 0) {
        close(pipe_fds[0]);
        holder_main(cfg, pipe_fds[1]);
    }
    close(pipe_fds[1]);
    char buf[HOLDER_REPORT_MAX];
    size_t len = 0;
    while (len < sizeof(buf) - 1) {
        ssize_t n = read(pipe_fds[0], buf + len, sizeof(buf) - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(pipe_fds[0]);
    buf[len] = '\0';
    if (len > 0 && buf[0] == 'O')
        return pid;
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (len > 1 && buf[0] == 'E')
        return kerr_make(err, 0, "%s", buf + 1);
    return kerr_make(err, 0, "the holder process exited before it reported (status %d)", status);
}

int holder_wait(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return HOLDER_LOST_STATUS;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return HOLDER_LOST_STATUS;
}
