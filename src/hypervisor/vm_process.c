/* The VMM as a child process (see vm_process.h). */
#include "vm_process.h"
#include "proc_ref.h"
#include "util.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/vhost.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* In the forked child: only the child changes namespace, never the caller. */
static int vm_enter_netns(const char *path, int log_fd)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
        dprintf(log_fd, "enter network namespace `%s`: %s\n", path, strerror(errno));
        return -1;
    }
    close(fd);
    return 0;
}

/* The relay is a fork of the daemon: without this its command line would
 * still read like the daemon's (`containerd-shim-kata-v2 ...`) to ps, pgrep
 * and whoever counts shims or looks for a VMM by its run dir.  Rewrite it in place, as setproctitle
 * does: the argument area (arg_start..arg_end in /proc/self/stat) is our own memory. */
static void log_relay_set_cmdline(void)
{
    unsigned long long area[2] = {0, 0}; /* arg_start, arg_end: fields 48, 49 */
    if (proc_stat_fields(0, 48, 49, area, NULL) < 0)
        return;
    char *start = (char *)(uintptr_t)area[0], *end = (char *)(uintptr_t)area[1];
    if (start == NULL || end <= start)
        return;
    size_t room = (size_t)(end - start);
    memset(start, 0, room);
    /* No path: tests and tools find a sandbox's VMM by its run dir. */
    snprintf(start, room, "kata-log-relay");
}

static void log_relay_run(const char *path, off_t max_bytes)
{
    static char buf[65536];
    off_t size = 0;
    for (;;) {
        ssize_t n = read(0, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (size > 0 && size + n > max_bytes) {
            /* Before the write, so that the file always ends with the
             * latest output; our fd is O_APPEND: after the truncation it
             * writes from 0. */
            file_rotate_if_larger(path, 0, NULL);
            size = 0;
        }
        if (fd_write_full(1, buf, (size_t)n) < 0)
            continue; /* a full disk: drop, keep draining so the daemon never blocks */
        size += n;
    }
    _exit(0);
}

int vm_log_relay(const char *path, off_t max_bytes, struct kerr **err)
{
    cleanup_close int log =
        open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (log < 0)
        return kerr_make(err, errno, "log `%s`", path);
    /* The relay's copy holds it: released when the relay exits. */
    if (flock(log, LOCK_EX) < 0)
        return kerr_make(err, errno, "lock log `%s`", path);
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return kerr_make(err, errno, "log `%s`: pipe", path);
    pid_t pid = fork();
    if (pid < 0) {
        int saved = errno;
        close(p[0]);
        close(p[1]);
        return kerr_make(err, saved, "log `%s`: fork the relay", path);
    }
    if (pid == 0) {
        pid_t relay = fork();
        if (relay != 0)
            _exit(relay < 0 ? 1 : 0);
        prctl(PR_SET_NAME, "kata-log-relay");
        log_relay_set_cmdline();
        int null = open("/dev/null", O_WRONLY);
        if (dup2(p[0], 0) < 0 || dup2(log, 1) < 0 || dup2(null, 2) < 0)
            _exit(1);
        close_range(3, ~0u, 0);
        signal(SIGPIPE, SIG_IGN);
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_IGN); /* it ends with the writers, never before */
        log_relay_run(path, max_bytes);
    }
    close(p[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        close(p[1]);
        return kerr_make(err, EAGAIN, "log `%s`: the relay did not start", path);
    }
    return p[1];
}

/* The relay holds its flock until it has written everything. */
static void log_wait_relay(const char *path, uint64_t timeout_ns)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return;
    uint64_t deadline = now_ns() + timeout_ns;
    while (flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK && now_ns() < deadline) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

int vm_exec_gate_open(struct vm_exec_gate *g, struct kerr **err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return kerr_make(err, errno, "exec gate: pipe");
    g->rd = p[0];
    g->wr = p[1];
    return 0;
}

void vm_exec_gate_wait(struct vm_exec_gate *g)
{
    char go;
    ssize_t n;
    close(g->wr); /* the parent's copy alone keeps the gate open */
    while ((n = read(g->rd, &go, 1)) < 0 && errno == EINTR)
        ;
    if (n != 1)
        _exit(125); /* the parent is gone or did not record us: never exec */
    close(g->rd);
}

int vm_exec_gate_pass(struct vm_exec_gate *g, pid_t pid,
                      int (*record)(void *data, struct kerr **err), void *data, struct kerr **err)
{
    close(g->rd);
    g->rd = -1;
    int r = record ? record(data, err) : 0;
    if (r == 0 && write(g->wr, "x", 1) != 1)
        r = kerr_make(err, errno, "exec gate: let process %d go", (int)pid);
    close(g->wr);
    g->wr = -1;
    if (r < 0) { /* the child sees the gate closed and exits */
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return kerr_wrap(err, "record process %d", (int)pid);
    }
    return 0;
}

int vm_spawned_record(void *data, struct kerr **err)
{
    struct vm *vm = data;
    return vm->spawned ? vm->spawned(vm, vm->spawned_data, err) : 0;
}

int vm_spawn(struct vm *vm, char **argv, const char *log_name, const char *what,
             void (*child_setup)(struct vm *vm), struct kerr **err)
{
    vm->log_path = xasprintf("%s/%s", vm->cfg.run_dir, log_name);
    cleanup_close int log_fd = vm_log_relay(vm->log_path, VM_LOG_MAX, err);
    if (log_fd < 0)
        return kerr_wrap(err, "prepare %s log", what);
    int console[2] = {-1, -1};
    if (vm->cfg.console_path) {
        console[1] = open(vm->cfg.console_path,
                          O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (console[1] < 0)
            return kerr_make(err, errno, "%s console `%s`", what, vm->cfg.console_path);
    } else if (pipe2(console, O_CLOEXEC) < 0) {
        return kerr_make(err, errno, "%s console pipe", what);
    }
    struct vm_exec_gate gate = {-1, -1};
    pid_t pid = vm_exec_gate_open(&gate, err) < 0 ? -2 : fork();
    if (pid < 0) {
        int saved = errno;
        if (console[0] >= 0)
            close(console[0]);
        close(console[1]);
        if (pid == -2)
            return kerr_wrap(err, "start %s", what);
        close(gate.rd);
        close(gate.wr);
        return kerr_make(err, saved, "fork %s", what);
    }
    if (pid == 0) {
        vm_exec_gate_wait(&gate);
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        dup2(console[1], 1);
        dup2(log_fd, 2);
        /* A VMM must not outlive a crashed parent unnoticed: it is reaped by
         * whoever cleans the sandbox; keep default signal dispositions. */
        signal(SIGPIPE, SIG_DFL);
        /* Before child_setup: it may drop the capabilities setns needs. */
        if (vm->cfg.netns_path && vm_enter_netns(vm->cfg.netns_path, log_fd) < 0)
            _exit(126);
        if (child_setup)
            child_setup(vm);
        execv(argv[0], argv);
        dprintf(log_fd, "exec `%s`: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(console[1]);
    vm->pid = pid;
    if (vm_exec_gate_pass(&gate, pid, vm_spawned_record, vm, err) < 0) {
        vm->pid = 0;
        if (console[0] >= 0)
            close(console[0]);
        return kerr_wrap(err, "start %s", what);
    }
    vm->console_fd = console[0];
    return 0;
}

int vm_rootless_range_free(struct kerr **err)
{
    const uid_t lo = VM_ROOTLESS_ID_BASE, hi = VM_ROOTLESS_ID_BASE + VM_ROOTLESS_ID_RANGE;
    int found = 0;
    setpwent();
    for (struct passwd *pw; found == 0 && (pw = getpwent()) != NULL;)
        if (pw->pw_uid >= lo && pw->pw_uid < hi)
            found = kerr_make(err, EEXIST,
                              "rootless VMM: host user `%s` (uid %u) is in the range "
                              "%u-%u kept for rootless VMMs",
                              pw->pw_name, (unsigned)pw->pw_uid, (unsigned)lo, (unsigned)hi - 1);
    endpwent();
    if (found < 0)
        return -1;
    setgrent();
    for (struct group *gr; found == 0 && (gr = getgrent()) != NULL;)
        if (gr->gr_gid >= lo && gr->gr_gid < hi)
            found = kerr_make(err, EEXIST,
                              "rootless VMM: host group `%s` (gid %u) is in the "
                              "range %u-%u kept for rootless VMMs",
                              gr->gr_name, (unsigned)gr->gr_gid, (unsigned)lo, (unsigned)hi - 1);
    endgrent();
    return found;
}

static int drop_fail(char *why, size_t len, const char *what)
{
    snprintf(why, len, "%s: %s", what, strerror(errno));
    return -1;
}

int vm_child_drop_privileges(bool rootless, gid_t extra_gid, char *why, size_t len)
{
    /* Without CAP_SETPCAP (an unprivileged caller) there is nothing to drop. */
    bool privileged = prctl(PR_CAPBSET_READ, CAP_SETPCAP, 0, 0, 0) == 1 && geteuid() == 0;
    for (unsigned long cap = 0; privileged && cap < 64; cap++) {
        int r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
        if (r < 0)
            break; /* past the kernel's last capability */
        if (r == 1 && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
            return drop_fail(why, len, "drop the capability bounding set");
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return drop_fail(why, len, "clear ambient capabilities");
    if (rootless) {
        uid_t id = VM_ROOTLESS_ID_BASE + (uid_t)getpid();
        gid_t groups[1] = {extra_gid};
        if (setgroups(extra_gid == (gid_t)-1 ? 0 : 1, groups) < 0)
            return drop_fail(why, len, "setgroups");
        if (setresgid(id, id, id) < 0)
            return drop_fail(why, len, "setresgid");
        if (setresuid(id, id, id) < 0)
            return drop_fail(why, len, "setresuid");
    }
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct data[2] = {{0}};
    if (syscall(SYS_capset, &header, data) < 0)
        return drop_fail(why, len, "clear capabilities");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return drop_fail(why, len, "set no_new_privs");
    return 0;
}

char *vm_log_tail(const struct vm *vm)
{
    cleanup_free char *log = NULL;
    size_t len = 0;
    if (vm->log_path)
        log_wait_relay(vm->log_path, 1000000000ull);
    if (vm->log_path == NULL || file_read_all(vm->log_path, 1 << 20, &log, &len, NULL) < 0 ||
        len == 0)
        return xstrdup("(no output)");
    while (len > 0 && (log[len - 1] == '\n' || log[len - 1] == '\r'))
        log[--len] = '\0';
    const char *start = len > 400 ? log + len - 400 : log;
    return xstrdup(start);
}

size_t vm_process_pids(const struct vm *vm, pid_t *out, size_t max)
{
    size_t n = 0;
    if (vm->pid > 0 && n < max)
        out[n++] = vm->pid;
    if (vm->virtiofsd.pid > 0 && n < max)
        out[n++] = vm->virtiofsd.pid;
    return n;
}

#define TAIL_LINES_MAX 32
#define TAIL_LINE_MAX  160
#define TAIL_READ_MAX  4096

char *vm_text_tail(const char *text, size_t len, unsigned max_lines, size_t max)
{
    char *lines[TAIL_LINES_MAX];
    unsigned n = 0;
    if (max_lines > TAIL_LINES_MAX)
        max_lines = TAIL_LINES_MAX;
    /* From the end: the newest lines first, into lines[n - 1 .. 0] later. */
    for (size_t end = text ? len : 0; end > 0 && n < max_lines;) {
        size_t start = end;
        while (start > 0 && text[start - 1] != '\n')
            start--;
        size_t line_end = end;
        while (line_end > start && (text[line_end - 1] == '\r' || text[line_end - 1] == ' '))
            line_end--;
        if (line_end > start)
            lines[n++] = text_escape(text + start, line_end - start, TAIL_LINE_MAX);
        end = start > 0 ? start - 1 : 0;
    }
    /* Drop the oldest while the rest does not fit in max. */
    size_t total = 0;
    unsigned keep = 0;
    for (; keep < n; keep++) {
        size_t add = strlen(lines[keep]) + (keep ? 3 : 0);
        if (total + add > max && keep > 0)
            break;
        total += add;
    }
    char *out = xmalloc(total + sizeof("(nothing)"));
    size_t used = 0;
    for (unsigned i = keep; i-- > 0;) {
        size_t l = strlen(lines[i]);
        memcpy(out + used, lines[i], l);
        used += l;
        if (i > 0) {
            memcpy(out + used, " | ", 3);
            used += 3;
        }
    }
    out[used] = '\0';
    for (unsigned i = 0; i < n; i++)
        free(lines[i]);
    if (keep == 0)
        strcpy(out, "(nothing)");
    else if (used > max) { /* one line longer than max */
        char *cut = text_escape(out, used, max);
        free(out);
        out = cut;
    }
    return out;
}

/* The last TAIL_READ_MAX bytes of a file of ours (the VMM's log, the console
 * file), from a line start; NULL if it cannot be read. */
static char *file_tail(const char *path, size_t *len)
{
    cleanup_close int fd = path ? open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK) : -1;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return NULL;
    off_t off = st.st_size > TAIL_READ_MAX ? st.st_size - TAIL_READ_MAX : 0;
    char *buf = xmalloc(TAIL_READ_MAX + 1);
    ssize_t n = pread(fd, buf, TAIL_READ_MAX, off);
    if (n < 0) {
        free(buf);
        return NULL;
    }
    size_t skip = 0;
    if (off > 0) { /* the first line is cut: drop it */
        while (skip < (size_t)n && buf[skip] != '\n')
            skip++;
        skip = skip < (size_t)n ? skip + 1 : 0;
    }
    memmove(buf, buf + skip, (size_t)n - skip);
    *len = (size_t)n - skip;
    buf[*len] = '\0';
    return buf;
}

/* What the console pipe still holds, copied with tee(2): the bytes stay in
 * the pipe for its reader.  NULL when there is none. */
static char *pipe_tail(int fd, size_t *len)
{
    int copy[2];
    if (fd < 0 || pipe2(copy, O_CLOEXEC | O_NONBLOCK) < 0)
        return NULL;
    ssize_t n = tee(fd, copy[1], 1 << 16, SPLICE_F_NONBLOCK);
    close(copy[1]);
    char *buf = NULL;
    size_t used = 0;
    if (n > 0) {
        buf = xmalloc((size_t)n + 1);
        ssize_t r;
        while (used < (size_t)n && (r = read(copy[0], buf + used, (size_t)n - used)) > 0)
            used += (size_t)r;
        buf[used] = '\0';
    }
    close(copy[0]);
    *len = used;
    return buf;
}

static char *console_tail(const struct vm *vm)
{
    size_t len = 0;
    cleanup_free char *text = vm->cfg.console_path ? file_tail(vm->cfg.console_path, &len)
                                                   : pipe_tail(vm->console_fd, &len);
    return vm_text_tail(text, text ? len : 0, 24, 2000); /* a panic and its stack */
}

int vm_exit_error(struct vm *vm, const char *what, int wait_status, struct kerr **err)
{
    int code = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
    const char *reason =
        vm->ops && vm->ops->exit_reason ? vm->ops->exit_reason(vm, wait_status) : NULL;
    /* The VMM is gone: its relays finish writing what it said. */
    if (vm->log_path)
        log_wait_relay(vm->log_path, 1000000000ull);
    if (vm->cfg.console_path)
        log_wait_relay(vm->cfg.console_path, 1000000000ull);
    size_t log_len = 0;
    cleanup_free char *log = file_tail(vm->log_path, &log_len);
    cleanup_free char *log_tail = vm_text_tail(log, log ? log_len : 0, 4, 600);
    cleanup_free char *console = console_tail(vm);
    return kerr_make(err, 0,
                     "%s exited (status %d) before the agent answered%s%s; its log: %s; the "
                     "guest console's last lines: %s",
                     what, code, reason ? ": " : "", reason ? reason : "", log_tail, console);
}

int vm_check_exited(struct vm *vm, const char *what, struct kerr **err)
{
    int status;
    if (vm->pid <= 0 || waitpid(vm->pid, &status, WNOHANG) != vm->pid)
        return 0;
    vm->pid = 0;
    return vm_exit_error(vm, what, status, err);
}

int vm_connect_until(struct vm *vm, const char *what, const char *channel, uint64_t timeout_ns,
                     int (*connect)(struct vm *vm, struct kerr **err), struct kerr **err)
{
    uint64_t deadline = now_ns() + timeout_ns;
    for (;;) {
        cleanup_kerr struct kerr *last = NULL;
        int fd = connect(vm, &last);
        if (fd >= 0)
            return fd;
        if (vm_check_exited(vm, what, err) < 0)
            return -1;
        if (now_ns() >= deadline)
            return kerr_make(err, ETIMEDOUT, "wait for the agent %s (%s)", channel,
                             last ? last->msg : "no answer");
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

int vm_start_virtiofsd(struct vm *vm, struct kerr **err)
{
    enum vm_shared_fs kind = vm_shared_fs_kind(vm->cfg.shared_fs, err);
    if ((int)kind < 0)
        return -1;
    if (kind != VM_SHARED_FS_VIRTIO_FS)
        return 0;
    cleanup_free char *sock = xasprintf("%s/virtiofsd.sock", vm->cfg.run_dir);
    cleanup_free char *log = xasprintf("%s/virtiofsd.log", vm->cfg.run_dir);
    struct virtiofsd_config cfg = {
        .path = vm->cfg.virtiofsd_path ? vm->cfg.virtiofsd_path : VIRTIOFSD_PATH_DEFAULT,
        .source = vm->cfg.shared_dir,
        .cache = vm->cfg.virtiofs_cache,
        .extra_args = vm->cfg.virtiofsd_extra_args,
        .socket_path = sock,
        .log_path = log,
        .spawned = vm_spawned_record,
        .spawned_data = vm,
    };
    if (virtiofsd_start(&vm->virtiofsd, &cfg, err) < 0)
        return kerr_wrap(err, "start virtio-fs share `%s`", vm->cfg.shared_dir);
    return 0;
}

int vm_check_files(const struct vm *vm, struct kerr **err)
{
    if (access(vm->cfg.hypervisor_path, X_OK) < 0)
        return kerr_make(err, errno, "hypervisor `%s`", vm->cfg.hypervisor_path);
    if (access(vm->cfg.kernel, R_OK) < 0)
        return kerr_make(err, errno, "guest kernel `%s`", vm->cfg.kernel);
    if (vm->cfg.initrd && access(vm->cfg.initrd, R_OK) < 0)
        return kerr_make(err, errno, "guest initrd `%s`", vm->cfg.initrd);
    if (vm->cfg.image && access(vm->cfg.image, R_OK) < 0)
        return kerr_make(err, errno, "guest image `%s`", vm->cfg.image);
    for (size_t i = 0; i < vm->cfg.n_block_devices; i++) {
        const struct vm_block_device *d = &vm->cfg.block_devices[i];
        if (d->path && access(d->path, d->readonly ? R_OK : R_OK | W_OK) < 0)
            return kerr_make(err, errno, "block device `%s`", d->path);
    }
    return 0;
}

int vm_reserve_vsock_cid(struct vm *vm, struct kerr **err)
{
    int fd = open(VHOST_VSOCK_DEVICE, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return kerr_make(err, errno, "open `%s`", VHOST_VSOCK_DEVICE);
    /* CIDs 0-2 are reserved (hypervisor, local, host); the top one is "any". */
    uint32_t span = 0xfffffffeu - 3;
    uint32_t start = (uint32_t)((now_ns() ^ ((uint64_t)getpid() << 16)) % span);
    for (uint32_t i = 0; i < 4096; i++) {
        uint64_t cid = 3 + (start + i) % span;
        if (ioctl(fd, VHOST_VSOCK_SET_GUEST_CID, &cid) == 0) {
            vm->cid = (uint32_t)cid;
            vm->vsock_fd = fd;
            vm->vsock = true;
            return 0;
        }
        if (errno != EADDRINUSE) {
            int saved = errno;
            close(fd);
            return kerr_make(err, saved, "set a guest CID on `%s`", VHOST_VSOCK_DEVICE);
        }
    }
    close(fd);
    return kerr_make(err, EADDRINUSE, "no free guest CID on `%s`", VHOST_VSOCK_DEVICE);
}
