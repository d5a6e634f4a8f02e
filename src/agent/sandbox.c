/* CreateSandbox, DestroySandbox, SetGuestDateTime, CopyFile, OnlineCPUMem. */
#include "sandbox.h"
#include "log.h"
#include "mount_util.h"
#include "storage.h"
#include "util.h"

#include "agent.pb-c.h"
#include "empty.pb-c.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct agent_sandbox *sandbox_of(struct agent *a)
{
    if (a->sandbox == NULL)
        a->sandbox = xcalloc(1, sizeof(*a->sandbox));
    return a->sandbox;
}

static void reply_empty(struct ttrpc_call *call)
{
    Google__Protobuf__Empty empty = GOOGLE__PROTOBUF__EMPTY__INIT;
    ttrpc_call_reply(call, &empty.base);
}

bool agent_sandbox_pidns(struct agent *a, pid_t *pid)
{
    struct agent_sandbox *sb = sandbox_of(a);
    if (!sb->sandbox_pidns || sb->pidns_pid <= 0)
        return false;
    *pid = sb->pidns_pid;
    return true;
}

const char *agent_sandbox_id(struct agent *a)
{
    return sandbox_of(a)->created ? sandbox_of(a)->id : NULL;
}

/* True in the machine's first UTS namespace (its inode number is fixed,
 * PROC_UTS_INIT_INO): a host-run agent outside `unshare --uts` must not
 * rename the host. */
static bool in_initial_uts_namespace(void)
{
    struct stat st;
    if (stat("/proc/self/ns/uts", &st) < 0)
        return true; /* cannot tell: assume the worst */
    return st.st_ino == 0xEFFFFFFEu;
}

/* ---- the shared pid namespace ---- */

/* The init of the sandbox's pid namespace: reaps what is re-parented to it,
 * and dies with the agent. */
static void __attribute__((noreturn)) pidns_init(void)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    prctl(PR_SET_NAME, "kata-pause");
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(&all, &si);
        if (sig == SIGTERM || sig == SIGINT)
            _exit(0);
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
    }
}

static void pidns_exited(pid_t pid, int status, void *data)
{
    struct agent *a = data;
    log_warn("sandbox pid namespace init %d exited (status 0x%x)", (int)pid, status);
    sandbox_of(a)->pidns_pid = 0;
}

static int start_pidns(struct agent *a, struct kerr **err)
{
    pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, NULL, NULL, NULL, NULL);
    if (pid < 0)
        return kerr_make(err, errno, "clone the sandbox pid namespace");
    if (pid == 0)
        pidns_init();
    sandbox_of(a)->pidns_pid = pid;
    agent_reaper_watch(pid, pidns_exited, a);
    log_info("sandbox pid namespace: init is %d", (int)pid);
    return 0;
}

static void stop_pidns(struct agent *a)
{
    struct agent_sandbox *sb = sandbox_of(a);
    if (sb->pidns_pid <= 0)
        return;
    agent_reaper_unwatch(sb->pidns_pid);
    kill(sb->pidns_pid, SIGKILL);
    waitpid(sb->pidns_pid, NULL, 0);
    sb->pidns_pid = 0;
}

/* ---- CreateSandbox ---- */

static const char *resolv_conf_path(struct agent *a, char **owned)
{
    if (a->opts.resolv_conf)
        return a->opts.resolv_conf;
    if (a->opts.pid1)
        return "/etc/resolv.conf";
    return *owned = xasprintf("%s/resolv.conf", a->opts.storage_root);
}

static int write_dns(struct agent *a, char *const *lines, size_t n, struct kerr **err)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (strchr(lines[i], '\n'))
            return kerr_make(err, 0, "DNS line %zu holds a newline", i);
        len += strlen(lines[i]) + 1;
    }
    if (len > 65536)
        return kerr_make(err, 0, "DNS configuration of %zu bytes is too large", len);
    cleanup_free char *text = xmalloc(len + 1);
    char *p = text;
    for (size_t i = 0; i < n; i++)
        p = stpcpy(stpcpy(p, lines[i]), "\n");
    cleanup_free char *owned = NULL;
    const char *path = resolv_conf_path(a, &owned);
    cleanup_free char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (mkdir_all(dir, 0755, err) < 0)
            return kerr_wrap(err, "write DNS configuration");
    }
    if (file_write_atomic(path, text, len, 0644, err) < 0)
        return kerr_wrap(err, "write DNS configuration");
    return 0;
}

static int set_hostname(struct agent *a, const char *name, struct kerr **err)
{
    size_t len = strlen(name);
    if (len > 64)
        return kerr_make(err, 0, "hostname `%s`: longer than 64 bytes", name);
    if (!a->opts.pid1 && in_initial_uts_namespace())
        return kerr_make(err, 0,
                         "hostname `%s`: refusing to rename the host (run the agent in "
                         "its own UTS namespace)",
                         name);
    if (sethostname(name, len) < 0)
        return kerr_make(err, errno, "set hostname `%s`", name);
    return 0;
}

/* Set the sandbox up and answer the call. */
static void finish_create(struct agent *a, struct ttrpc_call *call,
                          const Grpc__CreateSandboxRequest *req, uint64_t device_wait_ns)
{
    struct agent_sandbox *sb = sandbox_of(a);
    cleanup_kerr struct kerr *err = NULL;
    if (*req->hostname && set_hostname(a, req->hostname, &err) < 0)
        goto invalid;
    if (req->n_dns > 0 && write_dns(a, req->dns, req->n_dns, &err) < 0)
        goto internal;
    if (req->n_kernel_modules > 0)
        log_warn("CreateSandbox: %zu kernel modules requested; the guest kernel has no modules",
                 req->n_kernel_modules);
    if (storage_add_waiting(a, req->storages, req->n_storages, "", device_wait_ns, &err) < 0)
        goto invalid;
    if (req->sandbox_pidns && start_pidns(a, &err) < 0) {
        storage_remove_owner(a, "", NULL);
        goto internal;
    }
    sb->created = true;
    sb->id = xstrdup(req->sandbox_id);
    sb->hostname = xstrdup(req->hostname);
    sb->sandbox_pidns = req->sandbox_pidns;
    log_info("sandbox `%s` created (%zu storages%s)", sb->id, req->n_storages,
             req->sandbox_pidns ? ", shared pid namespace" : "");
    reply_empty(call);
    return;
invalid:
    ttrpc_call_fail_err(call, err->status ? TTRPC_INTERNAL : TTRPC_INVALID_ARGUMENT, err);
    return;
internal:
    ttrpc_call_fail_err(call, TTRPC_INTERNAL, err);
}

/* A CreateSandbox waiting, on the loop, for block devices to show up. */
struct pending_create {
    struct agent *a;
    struct ttrpc_call *call;
    const Grpc__CreateSandboxRequest *req; /* owned by the call */
    struct loop_timer *timer;
    uint64_t deadline;
};

#define DEVICE_POLL_NS (20ull * 1000 * 1000)
#define DEVICE_WAIT_NS (10ull * 1000 * 1000 * 1000)

static void pending_done(struct pending_create *p)
{
    sandbox_of(p->a)->creating = NULL;
    free(p);
}

static void pending_poll(void *data)
{
    struct pending_create *p = data;
    p->timer = NULL;
    bool present = storage_devices_present(p->a, p->req->storages, p->req->n_storages);
    if (!present && now_ns() < p->deadline) {
        p->timer = loop_timer_add(p->a->loop, DEVICE_POLL_NS, pending_poll, p);
        return;
    }
    /* Present, or given up: storage_add reports what is missing at once. */
    struct ttrpc_call *call = p->call;
    struct agent *a = p->a;
    const Grpc__CreateSandboxRequest *req = p->req;
    ttrpc_call_set_cancel(call, NULL, NULL);
    pending_done(p);
    finish_create(a, call, req, 0);
}

/* The call is gone (connection closed, deadline passed). */
static void pending_cancel(void *data)
{
    struct pending_create *p = data;
    log_warn("CreateSandbox abandoned while waiting for its block devices");
    if (p->timer)
        loop_timer_cancel(p->timer);
    pending_done(p);
}

static void create_sandbox(struct ttrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    struct agent *a = data;
    const Grpc__CreateSandboxRequest *req = (const Grpc__CreateSandboxRequest *)msg;
    struct agent_sandbox *sb = sandbox_of(a);
    if (sb->created) {
        ttrpc_call_fail(call, TTRPC_ALREADY_EXISTS, "sandbox `%s` already exists", sb->id);
        return;
    }
    if (sb->creating) {
        ttrpc_call_fail(call, TTRPC_ALREADY_EXISTS, "a sandbox is being created");
        return;
    }
    if (storage_devices_present(a, req->storages, req->n_storages)) {
        finish_create(a, call, req, 0);
        return;
    }
    /* Wait for hot-plugged disks without stalling the other calls. */
    struct pending_create *p = xcalloc(1, sizeof(*p));
    p->a = a;
    p->call = call;
    p->req = req;
    p->deadline = now_ns() + DEVICE_WAIT_NS;
    p->timer = loop_timer_add(a->loop, DEVICE_POLL_NS, pending_poll, p);
    sb->creating = p;
    ttrpc_call_set_cancel(call, pending_cancel, p);
    log_info("CreateSandbox: waiting for block devices");
}

/* ---- DestroySandbox ---- */

static void poweroff_now(void *data)
{
    agent_poweroff(data);
}

static void destroy_sandbox(struct ttrpc_call *call, const ProtobufCMessage *req, void *data)
{
    struct agent *a = data;
    log_info("DestroySandbox: shutting down");
    a->shutting_down = true;
    struct pending_create *p = sandbox_of(a)->creating;
    if (p) {
        if (p->timer)
            loop_timer_cancel(p->timer);
        ttrpc_call_set_cancel(p->call, NULL, NULL);
        ttrpc_call_fail(p->call, TTRPC_ABORTED, "sandbox destroyed while it was being created");
        pending_done(p);
    }
    if (agent_containers_destroy_all)
        agent_containers_destroy_all(a);
    stop_pidns(a);
    storage_remove_all(a);
    reply_empty(call);
    /* Let the answer leave before the power goes. */
    loop_timer_add(a->loop, 20 * 1000 * 1000, poweroff_now, a);
}

/* ---- SetGuestDateTime ---- */

static void set_guest_date_time(struct ttrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    struct agent *a = data;
    const Grpc__SetGuestDateTimeRequest *req = (const Grpc__SetGuestDateTimeRequest *)msg;
    if (req->sec < 0 || req->usec < 0 || req->usec >= 1000000) {
        ttrpc_call_fail(call, TTRPC_INVALID_ARGUMENT, "set guest time: bad time %lld.%06lld",
                        (long long)req->sec, (long long)req->usec);
        return;
    }
    if (!a->opts.pid1) {
        ttrpc_call_fail(call, TTRPC_FAILED_PRECONDITION,
                        "set guest time: not the guest's init, refusing to set the host clock");
        return;
    }
    struct timeval tv = {.tv_sec = (time_t)req->sec, .tv_usec = (suseconds_t)req->usec};
    if (settimeofday(&tv, NULL) < 0) {
        ttrpc_call_fail(call, TTRPC_INTERNAL, "set guest time: %s", strerror(errno));
        return;
    }
    log_info("guest time set to %lld.%06lld", (long long)req->sec, (long long)req->usec);
    reply_empty(call);
}

/* ---- CopyFile ---- */

static int copy_file(struct agent *a, const Grpc__CopyFileRequest *req, struct kerr **err)
{
    const char *rel;
    if (path_under_root(a->opts.storage_root, req->path, "copy destination", &rel, err) < 0)
        return -1;
    if (*rel == '\0' || rel[strlen(rel) - 1] == '/')
        return kerr_make(err, 0, "copy destination `%s`: not a file name", req->path);
    if (req->file_size < 0 || req->file_size > COPY_FILE_MAX_SIZE)
        return kerr_make(err, 0, "copy `%s`: size %lld outside 0..%lld", req->path,
                         (long long)req->file_size, COPY_FILE_MAX_SIZE);
    if (req->data.len > COPY_FILE_MAX_CHUNK)
        return kerr_make(err, 0, "copy `%s`: chunk of %zu bytes exceeds %u", req->path,
                         req->data.len, COPY_FILE_MAX_CHUNK);
    if (req->offset < 0 || req->offset > req->file_size ||
        (long long)req->data.len > req->file_size - req->offset)
        return kerr_make(err, 0, "copy `%s`: chunk at %lld+%zu outside the file's %lld bytes",
                         req->path, (long long)req->offset, req->data.len,
                         (long long)req->file_size);
    if (mkdir_all(a->opts.storage_root, 0755, err) < 0)
        return -1;
    cleanup_close int rootfd = open(a->opts.storage_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return kerr_make(err, errno, "open storage root `%s`", a->opts.storage_root);
    cleanup_free char *parent_rel = xstrdup(rel);
    char *slash = strrchr(parent_rel, '/');
    const char *name = slash ? slash + 1 : rel;
    if (slash)
        *slash = '\0';
    else
        parent_rel[0] = '\0';
    mode_t dir_mode = req->dir_mode ? (mode_t)(req->dir_mode & 07777) : 0755;
    cleanup_close int dirfd = mkdir_beneath(rootfd, parent_rel, dir_mode, err);
    if (dirfd < 0)
        return kerr_wrap(err, "copy `%s`", req->path);
    mode_t mode = (mode_t)(req->file_mode & 07777);
    uid_t uid = (uid_t)req->uid;
    gid_t gid = (gid_t)req->gid;

    if (S_ISDIR(req->file_mode)) {
        if (mkdirat(dirfd, name, mode) < 0 && errno != EEXIST)
            return kerr_make(err, errno, "copy: mkdir `%s`", req->path);
        if (fchmodat(dirfd, name, mode, AT_SYMLINK_NOFOLLOW) < 0 && errno != EOPNOTSUPP)
            return kerr_make(err, errno, "copy: chmod `%s`", req->path);
        if (fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
            return kerr_make(err, errno, "copy: chown `%s`", req->path);
        return 0;
    }
    cleanup_free char *tmp = xasprintf(".%s.kata-copy", name);
    if (S_ISLNK(req->file_mode)) {
        cleanup_free char *target = xstrndup((const char *)req->data.data, req->data.len);
        if (*target == '\0' || strlen(target) != req->data.len)
            return kerr_make(err, 0, "copy: symlink `%s` needs its target as data", req->path);
        unlinkat(dirfd, tmp, 0);
        if (symlinkat(target, dirfd, tmp) < 0)
            return kerr_make(err, errno, "copy: symlink `%s`", req->path);
        if (fchownat(dirfd, tmp, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ||
            renameat(dirfd, tmp, dirfd, name) < 0) {
            int e = errno;
            unlinkat(dirfd, tmp, 0);
            return kerr_make(err, e, "copy: install symlink `%s`", req->path);
        }
        return 0;
    }
    /* A regular file: chunks go to a hidden temp file renamed into place once
     * it has its full size. */
    int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | (req->offset == 0 ? O_TRUNC : 0);
    cleanup_close int fd = openat(dirfd, tmp, flags, 0600);
    if (fd < 0)
        return kerr_make(err, errno, "copy: open `%s`", req->path);
    size_t done = 0;
    while (done < req->data.len) {
        ssize_t n = pwrite(fd, req->data.data + done, req->data.len - done,
                           (off_t)req->offset + (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return kerr_make(err, errno, "copy: write `%s`", req->path);
        done += (size_t)n;
    }
    struct stat st;
    if (fstat(fd, &st) < 0)
        return kerr_make(err, errno, "copy: stat `%s`", req->path);
    if (st.st_size > req->file_size) {
        unlinkat(dirfd, tmp, 0);
        return kerr_make(err, 0, "copy `%s`: grew past %lld bytes", req->path,
                         (long long)req->file_size);
    }
    if (st.st_size < req->file_size)
        return 0; /* more chunks to come */
    if (fchmod(fd, mode) < 0 || fchown(fd, uid, gid) < 0)
        return kerr_make(err, errno, "copy: set owner and mode of `%s`", req->path);
    if (renameat(dirfd, tmp, dirfd, name) < 0)
        return kerr_make(err, errno, "copy: rename into `%s`", req->path);
    return 0;
}

static void copy_file_method(struct ttrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    cleanup_kerr struct kerr *err = NULL;
    if (copy_file(data, (const Grpc__CopyFileRequest *)msg, &err) < 0) {
        ttrpc_call_fail_err(call, err->status ? TTRPC_INTERNAL : TTRPC_INVALID_ARGUMENT, err);
        return;
    }
    reply_empty(call);
}

/* ---- OnlineCPUMem ---- */

/* Write "1"/"online" into every sysfs file of dir/PREFIX<N>/FILE that says
 * offline.  Returns how many came online. */
static unsigned online_all(const char *dir, const char *prefix, const char *file,
                           const char *offline, const char *online)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    unsigned count = 0;
    size_t plen = strlen(prefix);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, plen) != 0 || e->d_name[plen] < '0' || e->d_name[plen] > '9')
            continue;
        cleanup_free char *path = xasprintf("%s/%s/%s", dir, e->d_name, file);
        cleanup_free char *state = NULL;
        if (file_read_all(path, 64, &state, NULL, NULL) < 0)
            continue;
        state[strcspn(state, "\n")] = '\0';
        if (strcmp(state, offline) != 0)
            continue;
        int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        if (fd < 0)
            continue;
        if (write(fd, online, strlen(online)) == (ssize_t)strlen(online))
            count++;
        else
            log_warn("online `%s`: %s", path, strerror(errno));
        close(fd);
    }
    closedir(d);
    return count;
}

static void online_cpu_mem(struct ttrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    struct agent *a = data;
    const Grpc__OnlineCPUMemRequest *req = (const Grpc__OnlineCPUMemRequest *)msg;
    cleanup_free char *cpu_dir = xasprintf("%s/devices/system/cpu", a->opts.sysfs_root);
    cleanup_free char *mem_dir = xasprintf("%s/devices/system/memory", a->opts.sysfs_root);
    if (req->nb_cpus > 4096) {
        ttrpc_call_fail(call, TTRPC_INVALID_ARGUMENT, "online %u CPUs: more than 4096",
                        req->nb_cpus);
        return;
    }
    /* Hot-plugged CPUs show up in sysfs a little after the host adds them. */
    unsigned cpus = 0;
    int tries = req->wait ? 100 : 1;
    for (int i = 0; i < tries; i++) {
        cpus += online_all(cpu_dir, "cpu", "online", "0", "1");
        if (cpus >= req->nb_cpus)
            break;
        if (i + 1 < tries)
            nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    }
    unsigned blocks =
        req->cpu_only ? 0 : online_all(mem_dir, "memory", "state", "offline", "online");
    log_info("OnlineCPUMem: %u CPUs and %u memory blocks brought online", cpus, blocks);
    if (req->wait && cpus < req->nb_cpus) {
        ttrpc_call_fail(call, TTRPC_DEADLINE_EXCEEDED,
                        "online CPUs: %u of the %u expected came online", cpus, req->nb_cpus);
        return;
    }
    reply_empty(call);
}

static const struct ttrpc_method sandbox_methods[] = {
    {AGENT_SERVICE, "CreateSandbox", &grpc__create_sandbox_request__descriptor, create_sandbox},
    {AGENT_SERVICE, "DestroySandbox", &grpc__destroy_sandbox_request__descriptor, destroy_sandbox},
    {AGENT_SERVICE, "SetGuestDateTime", &grpc__set_guest_date_time_request__descriptor,
     set_guest_date_time},
    {AGENT_SERVICE, "CopyFile", &grpc__copy_file_request__descriptor, copy_file_method},
    {AGENT_SERVICE, "OnlineCPUMem", &grpc__online_cpumem_request__descriptor, online_cpu_mem},
};
const struct agent_method_table agent_sandbox_methods = {sandbox_methods,
                                                         ARRAY_SIZE(sandbox_methods)};
