/* Guest cgroup v2 library: path conversion and weight formulas, then real
 * cgroups under a private directory of this host's cgroup2 mount (on a
 * hybrid host it has few or no controllers: what needs one is skipped here
 * and proven in the guest by tests/integration/test_agent_cgroup_vm.sh). */
#include "cgroup.h"
#include "cgroup_internal.h"
#include "test.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- paths ---- */

static void check_path(const char *spec, const char *id, const char *want, int *failed)
{
    struct kerr *err = NULL;
    cleanup_free char *got = cgroup_path_from_spec(spec, id, &err);
    if (got == NULL)
        printf("#   `%s`: %s\n", spec ? spec : "(null)", err->msg);
    kerr_clear(&err);
    CHECK_STR(got, want);
}

static void check_path_error(const char *spec, const char *id, const char *message, int *failed)
{
    struct kerr *err = NULL;
    cleanup_free char *got = cgroup_path_from_spec(spec, id, &err);
    if (got)
        printf("#   `%s` gave `%s`\n", spec, got);
    CHECK(got == NULL);
    CHECK_CONTAINS(err->msg, message);
    kerr_clear(&err);
}

TEST(path_from_spec_cgroupfs)
{
    int f = 0;
    check_path("", "abc", "kata/abc", &f);
    check_path(NULL, "abc", "kata/abc", &f);
    check_path("/", "abc", "kata/abc", &f);
    check_path("/kubepods/burstable/pod1/abc", "abc", "kubepods/burstable/pod1/abc", &f);
    check_path("relative/x", "abc", "relative/x", &f);
    check_path("/a/./b//c/", "abc", "a/b/c", &f);
    check_path("/a:b", "abc", "a:b", &f);
    CHECK(!f);
}

TEST(path_from_spec_systemd)
{
    int f = 0;
    check_path("system.slice:docker:abc", "abc", "system.slice/docker-abc.scope", &f);
    check_path(":cri-containerd:abc", "abc", "system.slice/cri-containerd-abc.scope", &f);
    check_path("kubepods-besteffort-pod12.slice:cri-containerd:abc", "abc",
               "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/"
               "cri-containerd-abc.scope",
               &f);
    check_path("-.slice:p:abc", "abc", "p-abc.scope", &f);
    check_path("machine.slice::abc", "abc", "machine.slice/abc.scope", &f);
    check_path("a.slice:p:a-b.slice", "abc", "a.slice/a-b.slice", &f);
    CHECK(!f);
}

TEST(path_from_spec_rejects_escapes)
{
    int f = 0;
    check_path_error("../x", "abc", "`..` escapes the cgroup root", &f);
    check_path_error("/a/../../x", "abc", "`..` escapes the cgroup root", &f);
    check_path_error("a.slice:p:../x", "abc", "invalid systemd unit", &f);
    check_path_error("a.slice:..:x", "abc", "invalid systemd unit", &f);
    check_path_error("notaslice:p:x", "abc", "invalid slice `notaslice`", &f);
    check_path_error("a--b.slice:p:x", "abc", "invalid slice `a--b.slice`", &f);
    check_path_error(".slice::x", "abc", "invalid slice `.slice`", &f);
    check_path_error("", "..", "invalid container id", &f);
    check_path_error("", "a/b", "invalid container id", &f);
    check_path_error("", "", "invalid container id", &f);
    CHECK(!f);
}

TEST(weight_conversions)
{
    CHECK_INT(cgroup_cpu_weight_from_shares(0), 0);
    CHECK_INT(cgroup_cpu_weight_from_shares(2), 1);
    CHECK_INT(cgroup_cpu_weight_from_shares(1024), 39);
    CHECK_INT(cgroup_cpu_weight_from_shares(262144), 10000);
    CHECK_INT(cgroup_cpu_weight_from_shares(1000000), 10000);
    CHECK_INT(cgroup_io_weight_from_blkio(0), 0);
    CHECK_INT(cgroup_io_weight_from_blkio(10), 1);
    CHECK_INT(cgroup_io_weight_from_blkio(500), 4950);
    CHECK_INT(cgroup_io_weight_from_blkio(1000), 10000);
}

/* ---- a private directory in the host's cgroup2 hierarchy ---- */

struct cgroup_fixture {
    char *root; /* <cgroup2 mount>/kata-test-<pid>-<n>, our private root */
    pid_t children[4];
    size_t n_children;
};

static char *cgroup2_mount(void)
{
    FILE *f = fopen("/proc/self/mounts", "re");
    if (f == NULL)
        return NULL;
    char dev[256], dir[512], type[64];
    char *found = NULL;
    while (!found && fscanf(f, "%255s %511s %63s %*[^\n]", dev, dir, type) == 3)
        if (strcmp(type, "cgroup2") == 0)
            found = xstrdup(dir);
    fclose(f);
    return found;
}

static const char *fixture_setup(struct cgroup_fixture *fx)
{
    static int counter;
    memset(fx, 0, sizeof(*fx));
    if (geteuid() != 0)
        return "not root";
    cleanup_free char *mnt = cgroup2_mount();
    if (mnt == NULL)
        return "no cgroup2 mount";
    fx->root = xasprintf("%s/kata-test-%d-%d", mnt, (int)getpid(), counter++);
    if (mkdir(fx->root, 0755) < 0) {
        free(fx->root);
        fx->root = NULL;
        return "cannot create a cgroup under the cgroup2 mount";
    }
    return NULL;
}

static void fixture_teardown(struct cgroup_fixture *fx)
{
    if (fx->root) {
        struct kerr *err = NULL;
        if (cgroup_kill_all(fx->root, &err) < 0)
            kerr_clear(&err);
    }
    for (size_t i = 0; i < fx->n_children; i++) {
        kill(fx->children[i], SIGKILL);
        waitpid(fx->children[i], NULL, 0);
    }
    if (fx->root) {
        struct kerr *err = NULL;
        if (cgroup_remove(fx->root, &err) < 0) {
            printf("#   teardown: %s\n", err->msg);
            kerr_clear(&err);
        }
        free(fx->root);
    }
}
#define cleanup_fixture __attribute__((cleanup(fixture_teardown)))

#define FIXTURE(fx)                                                                                \
    cleanup_fixture struct cgroup_fixture fx;                                                      \
    do {                                                                                           \
        const char *_why = fixture_setup(&fx);                                                     \
        if (_why)                                                                                  \
            SKIP(_why);                                                                            \
    } while (0)

/* A child that spins, incrementing *counter (shared memory) when given. */
static pid_t spawn_child(struct cgroup_fixture *fx, volatile unsigned long *counter)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        for (;;) {
            if (counter)
                (*counter)++;
            else
                pause();
        }
    }
    if (pid > 0)
        fx->children[fx->n_children++] = pid;
    return pid;
}

static bool pid_in(const pid_t *pids, size_t n, pid_t pid)
{
    for (size_t i = 0; i < n; i++)
        if (pids[i] == pid)
            return true;
    return false;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

TEST(create_nested_enables_controllers)
{
    FIXTURE(fx);
    struct kerr *err = NULL;
    cleanup_free char *abs = NULL;
    CHECK(cgroup_create(fx.root, "a/b", &abs, &err) == 0);
    cleanup_free char *want = xasprintf("%s/a/b", fx.root);
    CHECK_STR(abs, want);
    struct stat st;
    CHECK(stat(abs, &st) == 0 && S_ISDIR(st.st_mode));
    /* Creating again is fine (UpdateContainer, restarts). */
    cleanup_free char *again = NULL;
    CHECK(cgroup_create(fx.root, "/a/./b/", &again, &err) == 0);
    CHECK_STR(again, want);
    /* Every controller the root offers is enabled down to b. */
    cleanup_free char *offered = NULL, *enabled = NULL;
    size_t len;
    cleanup_free char *offered_path = xasprintf("%s/cgroup.controllers", fx.root);
    cleanup_free char *enabled_path = xasprintf("%s/cgroup.controllers", abs);
    CHECK(file_read_all(offered_path, 4096, &offered, &len, &err) == 0);
    CHECK(file_read_all(enabled_path, 4096, &enabled, &len, &err) == 0);
    CHECK_STR(enabled, offered);
    CHECK(cgroup_create(fx.root, "a/../../escape", NULL, &err) < 0);
    CHECK_CONTAINS(err->msg, "`..` escapes");
    kerr_clear(&err);
}

TEST(add_pid_and_list_recursively)
{
    FIXTURE(fx);
    struct kerr *err = NULL;
    cleanup_free char *outer = NULL, *inner = NULL;
    CHECK(cgroup_create(fx.root, "c", &outer, &err) == 0);
    CHECK(cgroup_create(fx.root, "c/leaf", &inner, &err) == 0);
    /* c has a child cgroup with controllers enabled: processes go in leaves
     * (no internal processes); a cgroup without controllers enabled below
     * may hold both, as "c" does here when the host offers none. */
    pid_t one = spawn_child(&fx, NULL), two = spawn_child(&fx, NULL);
    CHECK(one > 0 && two > 0);
    CHECK(cgroup_add_pid(inner, one, &err) == 0);
    CHECK(cgroup_add_pid(inner, two, &err) == 0);
    cleanup_free pid_t *pids = NULL;
    size_t n = 0;
    CHECK(cgroup_pids(outer, &pids, &n, &err) == 0);
    CHECK_INT(n, 2);
    CHECK(pid_in(pids, n, one) && pid_in(pids, n, two));
    /* /proc says where the process is. */
    cleanup_free char *proc = xasprintf("/proc/%d/cgroup", (int)one), *text = NULL;
    size_t len;
    CHECK(file_read_all(proc, 4096, &text, &len, &err) == 0);
    const char *base = strrchr(fx.root, '/');
    cleanup_free char *want = xasprintf("0::%s/c/leaf\n", base);
    CHECK_CONTAINS(text, want);

    CHECK(cgroup_add_pid(inner, 999999999, &err) < 0);
    CHECK_CONTAINS(err->msg, "move pid 999999999 to cgroup");
    kerr_clear(&err);
}

TEST(freeze_stops_and_thaw_resumes)
{
    FIXTURE(fx);
    struct kerr *err = NULL;
    cleanup_free char *abs = NULL;
    CHECK(cgroup_create(fx.root, "frozen", &abs, &err) == 0);
    volatile unsigned long *counter =
        mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(counter != MAP_FAILED);
    pid_t busy = spawn_child(&fx, counter);
    CHECK(busy > 0);
    CHECK(cgroup_add_pid(abs, busy, &err) == 0);
    while (*counter == 0)
        sleep_ms(1);

    CHECK(cgroup_freeze(abs, true, &err) == 0);
    unsigned long before = *counter;
    sleep_ms(50);
    CHECK_INT(*counter, before);
    cleanup_free char *events = NULL;
    cleanup_free char *events_path = xasprintf("%s/cgroup.events", abs);
    size_t len;
    CHECK(file_read_all(events_path, 4096, &events, &len, &err) == 0);
    CHECK_CONTAINS(events, "frozen 1");

    CHECK(cgroup_freeze(abs, false, &err) == 0);
    while (*counter == before)
        sleep_ms(1);
    CHECK(*counter > before);
    munmap((void *)counter, 4096);
}

TEST(kill_all_kills_nested_processes)
{
    FIXTURE(fx);
    struct kerr *err = NULL;
    cleanup_free char *top = NULL, *leaf = NULL;
    CHECK(cgroup_create(fx.root, "k/leaf", &leaf, &err) == 0);
    top = xasprintf("%s/k", fx.root);
    pid_t one = spawn_child(&fx, NULL), two = spawn_child(&fx, NULL);
    CHECK(cgroup_add_pid(leaf, one, &err) == 0 && cgroup_add_pid(leaf, two, &err) == 0);
    CHECK(cgroup_kill_all(top, &err) == 0);
    int status;
    CHECK(waitpid(one, &status, 0) == one);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    CHECK(waitpid(two, &status, 0) == two);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    fx.n_children = 0;
    cleanup_free pid_t *pids = NULL;
    size_t n = 1;
    CHECK(cgroup_pids(top, &pids, &n, &err) == 0);
    CHECK_INT(n, 0);
    /* Now empty, the whole tree goes. */
    CHECK(cgroup_remove(top, &err) == 0);
    CHECK(access(top, F_OK) < 0 && errno == ENOENT);
    CHECK(cgroup_remove(top, &err) == 0);
}

/* The path for kernels without cgroup.kill, run here on purpose. */
TEST(kill_each_without_cgroup_kill)
{
    FIXTURE(fx);
    struct kerr *err = NULL;
    cleanup_free char *leaf = NULL, *other = NULL;
    CHECK(cgroup_create(fx.root, "each/leaf", &leaf, &err) == 0);
    CHECK(cgroup_create(fx.root, "each/other", &other, &err) == 0);
    cleanup_free char *top = xasprintf("%s/each", fx.root);
    volatile unsigned long *counter =
        mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(counter != MAP_FAILED);
    pid_t busy = spawn_child(&fx, counter), idle = spawn_child(&fx, NULL);
    CHECK(cgroup_add_pid(leaf, busy, &err) == 0 && cgroup_add_pid(other, idle, &err) == 0);
    CHECK(cgroup_kill_each(top, &err) == 0);
    munmap((void *)counter, 4096);
    int status;
    CHECK(waitpid(busy, &status, 0) == busy);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    CHECK(waitpid(idle, &status, 0) == idle);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    fx.n_children = 0;
    /* Thawed again. */
    cleanup_free char *freeze = NULL;
    cleanup_free char *freeze_path = xasprintf("%s/cgroup.freeze", top);
    size_t len;
    CHECK(file_read_all(freeze_path, 64, &freeze, &len, &err) == 0);
    CHECK_STR(freeze, "0\n");
}

TEST(remove_with_live_process_fails)
{
    FIXTURE(fx);
    struct kerr *err = NULL;
    cleanup_free char *abs = NULL;
    CHECK(cgroup_create(fx.root, "busy", &abs, &err) == 0);
    pid_t one = spawn_child(&fx, NULL);
    CHECK(cgroup_add_pid(abs, one, &err) == 0);
    CHECK(cgroup_remove(abs, &err) < 0);
    CHECK_CONTAINS(err->msg, "remove cgroup: rmdir `");
    CHECK_INT(err->status, EBUSY);
    kerr_clear(&err);
}

TEST(stats_from_a_busy_cgroup)
{
    FIXTURE(fx);
    struct kerr *err = NULL;
    cleanup_free char *abs = NULL;
    CHECK(cgroup_create(fx.root, "stats", &abs, &err) == 0);
    volatile unsigned long *counter =
        mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(counter != MAP_FAILED);
    pid_t busy = spawn_child(&fx, counter);
    CHECK(cgroup_add_pid(abs, busy, &err) == 0);
    /* Spin until the cgroup has accounted some CPU time. */
    Grpc__CgroupStats *stats = NULL;
    for (int i = 0; i < 1000; i++) {
        cgroup_stats_free(stats);
        stats = NULL;
        CHECK(cgroup_stats(abs, &stats, &err) == 0);
        if (stats->cpu_stats->cpu_usage->total_usage > 0)
            break;
        sleep_ms(5);
    }
    munmap((void *)counter, 4096);
    bool has_cpu = stats->cpu_stats->cpu_usage->total_usage > 0;
    bool complete = stats->memory_stats && stats->memory_stats->usage &&
                    stats->memory_stats->swap_usage && stats->pids_stats && stats->blkio_stats;
    uint64_t user_ns = stats->cpu_stats->cpu_usage->usage_in_usermode;
    uint64_t total_ns = stats->cpu_stats->cpu_usage->total_usage;
    cleanup_free char *hugetlb = xasprintf("%s/hugetlb.2MB.current", abs);
    bool host_hugetlb = access(hugetlb, F_OK) == 0;
    size_t n_hugetlb = stats->n_hugetlb_stats;
    const char *first_size = n_hugetlb ? stats->hugetlb_stats[0]->key : "";
    bool size_ok =
        !host_hugetlb || strcmp(first_size, "1GB") == 0 || strcmp(first_size, "2MB") == 0;
    cgroup_stats_free(stats);
    CHECK(has_cpu);
    CHECK(complete);
    CHECK(user_ns <= total_ns);
    CHECK(!host_hugetlb || n_hugetlb >= 1);
    CHECK(size_ok);

    cleanup_free char *missing = xasprintf("%s/no-such-cgroup", fx.root);
    CHECK(cgroup_stats(missing, &stats, &err) < 0);
    CHECK_CONTAINS(err->msg, "is not a cgroup");
    kerr_clear(&err);
}

TEST(apply_names_the_failing_file)
{
    FIXTURE(fx);
    struct kerr *err = NULL;
    cleanup_free char *abs = NULL;
    CHECK(cgroup_create(fx.root, "limits", &abs, &err) == 0);
    CHECK(cgroup_apply(abs, NULL, &err) == 0);
    CHECK_INT(cgroup_oom_kill_count(abs), 0);

    Grpc__LinuxMemory mem = GRPC__LINUX_MEMORY__INIT;
    mem.limit = 64 << 20;
    Grpc__LinuxResources res = GRPC__LINUX_RESOURCES__INIT;
    res.memory = &mem;
    cleanup_free char *memory_max = xasprintf("%s/memory.max", abs);
    if (access(memory_max, F_OK) == 0)
        SKIP("memory controller present: covered by the guest test");
    CHECK(cgroup_apply(abs, &res, &err) < 0);
    CHECK_CONTAINS(err->msg, "apply cgroup resources: open `");
    CHECK_CONTAINS(err->msg, "/memory.max`: No such file or directory");
    kerr_clear(&err);

    /* Swap without a memory limit is refused before anything is written. */
    mem.limit = 0, mem.swap = 128 << 20;
    CHECK(cgroup_apply(abs, &res, &err) < 0);
    CHECK_CONTAINS(err->msg, "memory swap 134217728: needs a memory limit");
    kerr_clear(&err);

    Grpc__LinuxCPU cpu = GRPC__LINUX_CPU__INIT;
    cpu.realtimeruntime = 1000;
    Grpc__LinuxResources rt = GRPC__LINUX_RESOURCES__INIT;
    rt.cpu = &cpu;
    CHECK(cgroup_apply(abs, &rt, &err) < 0);
    CHECK_CONTAINS(err->msg, "realtime");
    kerr_clear(&err);
}

/* The hugetlb controller is the one this host's cgroup2 has. */
TEST(apply_hugetlb_limit)
{
    FIXTURE(fx);
    struct kerr *err = NULL;
    cleanup_free char *abs = NULL;
    CHECK(cgroup_create(fx.root, "huge", &abs, &err) == 0);
    cleanup_free char *max = xasprintf("%s/hugetlb.2MB.max", abs);
    if (access(max, F_OK) < 0)
        SKIP("hugetlb not enabled above this test's cgroup (the guest test covers it)");
    Grpc__LinuxHugepageLimit two_mb = GRPC__LINUX_HUGEPAGE_LIMIT__INIT;
    two_mb.pagesize = "2MB", two_mb.limit = 8 << 20;
    Grpc__LinuxHugepageLimit *limits[] = {&two_mb};
    Grpc__LinuxResources res = GRPC__LINUX_RESOURCES__INIT;
    res.n_hugepagelimits = 1, res.hugepagelimits = limits;
    CHECK(cgroup_apply(abs, &res, &err) == 0);
    cleanup_free char *text = NULL;
    size_t len;
    CHECK(file_read_all(max, 64, &text, &len, &err) == 0);
    CHECK_STR(text, "8388608\n");

    two_mb.pagesize = "../2MB";
    CHECK(cgroup_apply(abs, &res, &err) < 0);
    CHECK_CONTAINS(err->msg, "invalid page size `../2MB`");
    kerr_clear(&err);
}

/* ---- device rules (a BPF program on the cgroup) ---- */

/* A child in the cgroup opens each path; the result is one letter per path:
 * 'y' opened, 'n' EPERM, '?' anything else. */
static int open_in_cgroup(const char *abs, const char *const *paths, const int *flags, size_t n,
                          char *out)
{
    int fds[2];
    if (pipe(fds) < 0)
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        struct kerr *err = NULL;
        char result[16] = "";
        if (cgroup_add_pid(abs, getpid(), &err) < 0)
            _exit(1);
        for (size_t i = 0; i < n; i++) {
            int fd = open(paths[i], flags[i] | O_CLOEXEC);
            result[i] = fd >= 0 ? 'y' : errno == EPERM ? 'n' : '?';
            if (fd >= 0)
                close(fd);
        }
        (void)!write(fds[1], result, n);
        _exit(0);
    }
    close(fds[1]);
    ssize_t got = read(fds[0], out, n);
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    out[got > 0 ? got : 0] = '\0';
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static Grpc__LinuxDeviceCgroup device_rule(bool allow, char *type, int64_t major, int64_t minor,
                                           char *access)
{
    Grpc__LinuxDeviceCgroup rule = GRPC__LINUX_DEVICE_CGROUP__INIT;
    rule.allow = allow, rule.type = type, rule.major = major, rule.minor = minor;
    rule.access = access;
    return rule;
}

TEST(device_rules_enforced_and_replaced)
{
    FIXTURE(fx);
    struct kerr *err = NULL;
    cleanup_free char *abs = NULL;
    CHECK(cgroup_create(fx.root, "devices", &abs, &err) == 0);
    /* deny everything; /dev/null rw; /dev/zero read only; then deny
     * writing /dev/null again (a later rule wins). */
    Grpc__LinuxDeviceCgroup rules[] = {
        device_rule(false, "a", -1, -1, "rwm"), device_rule(true, "c", 1, 3, "rwm"),
        device_rule(true, "c", 1, 5, "r"),      device_rule(true, "c", 1, 8, ""),
        device_rule(false, "c", 1, 8, "w"),     device_rule(true, "c", 1, 9, "r"),
        device_rule(true, "c", 1, 9, "w"),
    };
    Grpc__LinuxDeviceCgroup *list[ARRAY_SIZE(rules)];
    for (size_t i = 0; i < ARRAY_SIZE(rules); i++)
        list[i] = &rules[i];
    Grpc__LinuxResources res = GRPC__LINUX_RESOURCES__INIT;
    res.n_devices = ARRAY_SIZE(list), res.devices = list;
    if (cgroup_apply(abs, &res, &err) < 0) {
        printf("#   %s\n", err->msg);
        if (err->status == EPERM || err->status == ENOSYS || err->status == EINVAL) {
            kerr_clear(&err);
            SKIP("no cgroup device BPF programs here");
        }
        kerr_clear(&err);
        CHECK(0);
    }
    /* /dev/urandom: read and write granted by two rules, so O_RDWR passes. */
    static const char *const paths[] = {"/dev/null",   "/dev/zero",   "/dev/zero",   "/dev/full",
                                        "/dev/random", "/dev/random", "/dev/urandom"};
    static const int flags[] = {O_RDWR, O_RDONLY, O_WRONLY, O_RDONLY, O_RDONLY, O_RDWR, O_RDWR};
    char result[16];
    CHECK(open_in_cgroup(abs, paths, flags, ARRAY_SIZE(paths), result) == 0);
    CHECK_STR(result, "yynnyny");

    /* UpdateContainer: everything allowed now, the old program is gone. */
    Grpc__LinuxDeviceCgroup all = device_rule(true, "a", -1, -1, "rwm");
    Grpc__LinuxDeviceCgroup *open_list[] = {&all};
    res.n_devices = 1, res.devices = open_list;
    if (cgroup_apply(abs, &res, &err) < 0)
        printf("#   %s\n", err->msg);
    CHECK(err == NULL);
    CHECK(open_in_cgroup(abs, paths, flags, ARRAY_SIZE(paths), result) == 0);
    CHECK_STR(result, "yyyyyyy");

    Grpc__LinuxDeviceCgroup bad = device_rule(true, "x", 1, 3, "rwm");
    Grpc__LinuxDeviceCgroup *bad_list[] = {&bad};
    res.devices = bad_list;
    CHECK(cgroup_apply(abs, &res, &err) < 0);
    CHECK_CONTAINS(err->msg, "device rule type `x`: unknown");
    kerr_clear(&err);
    bad = device_rule(true, "c", 1, 3, "rwx");
    CHECK(cgroup_apply(abs, &res, &err) < 0);
    CHECK_CONTAINS(err->msg, "device rule access `rwx`: unknown");
    kerr_clear(&err);
}

/* ---- statistics parsing, on a directory of files shaped like cgroup2's ---- */

static int put(const char *dir, const char *file, const char *text)
{
    cleanup_free char *path = xasprintf("%s/%s", dir, file);
    struct kerr *err = NULL;
    if (file_write_atomic(path, text, strlen(text), 0644, &err) < 0) {
        kerr_free(err);
        return -1;
    }
    return 0;
}

static uint64_t blkio_value(Grpc__BlkioStatsEntry **list, size_t n, uint64_t major, uint64_t minor,
                            const char *op)
{
    for (size_t i = 0; i < n; i++)
        if (list[i]->major == major && list[i]->minor == minor && strcmp(list[i]->op, op) == 0)
            return list[i]->value;
    return UINT64_MAX;
}

TEST(stats_parsed_like_runc)
{
    char dir[] = "/tmp/kata-cgroup-stats.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    cleanup_free char *rm = xasprintf("rm -rf '%s'", dir);
    int ok = put(dir, "cgroup.procs", "") == 0 &&
             put(dir, "cpu.stat",
                 "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 10\n"
                 "nr_throttled 3\nthrottled_usec 250\n") == 0 &&
             put(dir, "memory.current", "8388608\n") == 0 && put(dir, "memory.max", "max\n") == 0 &&
             put(dir, "memory.peak", "9437184\n") == 0 &&
             put(dir, "memory.events", "low 0\nhigh 0\nmax 7\noom 2\noom_kill 1\n") == 0 &&
             put(dir, "memory.swap.current", "4096\n") == 0 &&
             put(dir, "memory.swap.max", "1048576\n") == 0 &&
             put(dir, "memory.stat", "anon 4096\nfile 12288\nkernel 2048\nshmem 0\n") == 0 &&
             put(dir, "pids.current", "3\n") == 0 && put(dir, "pids.max", "max\n") == 0 &&
             put(dir, "io.stat",
                 "254:0 rbytes=65536 wbytes=4096 rios=4 wios=1 dbytes=0 dios=0\n"
                 "8:16 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=5 dios=6\n") == 0 &&
             put(dir, "hugetlb.2MB.current", "2097152\n") == 0 &&
             put(dir, "hugetlb.2MB.events", "max 5\n") == 0 &&
             put(dir, "hugetlb.2MB.rsvd.current", "0\n") == 0 &&
             put(dir, "hugetlb.1GB.current", "0\n") == 0;
    Grpc__CgroupStats *s = NULL;
    struct kerr *err = NULL;
    int rc = ok ? cgroup_stats(dir, &s, &err) : -1;
    (void)!system(rm);
    CHECK(ok);
    CHECK(rc == 0);
    CHECK_INT(s->cpu_stats->cpu_usage->total_usage, 1500000);
    CHECK_INT(s->cpu_stats->cpu_usage->usage_in_usermode, 1000000);
    CHECK_INT(s->cpu_stats->cpu_usage->usage_in_kernelmode, 500000);
    CHECK_INT(s->cpu_stats->throttling_data->periods, 10);
    CHECK_INT(s->cpu_stats->throttling_data->throttled_periods, 3);
    CHECK_INT(s->cpu_stats->throttling_data->throttled_time, 250000);
    Grpc__MemoryStats *m = s->memory_stats;
    CHECK_INT(m->usage->usage, 8388608);
    CHECK(m->usage->limit == UINT64_MAX);
    CHECK_INT(m->usage->max_usage, 9437184);
    CHECK_INT(m->usage->failcnt, 7);
    CHECK_INT(m->swap_usage->usage, 8388608 + 4096);
    CHECK(m->swap_usage->limit == UINT64_MAX); /* max + 1 MiB saturates */
    CHECK_INT(m->cache, 12288);
    CHECK_INT(m->kernel_usage->usage, 2048);
    CHECK_INT(m->n_stats, 4);
    CHECK_STR(m->stats[1]->key, "file");
    CHECK_INT(m->stats[1]->value, 12288);
    CHECK_INT(s->pids_stats->current, 3);
    CHECK_INT(s->pids_stats->limit, 0);
    Grpc__BlkioStats *io = s->blkio_stats;
    CHECK_INT(io->n_io_service_bytes_recursive, 6);
    CHECK_INT(io->n_io_serviced_recursive, 6);
    CHECK_INT(blkio_value(io->io_service_bytes_recursive, 6, 254, 0, "Read"), 65536);
    CHECK_INT(blkio_value(io->io_service_bytes_recursive, 6, 254, 0, "Write"), 4096);
    CHECK_INT(blkio_value(io->io_service_bytes_recursive, 6, 8, 16, "Discard"), 5);
    CHECK_INT(blkio_value(io->io_serviced_recursive, 6, 8, 16, "Write"), 4);
    CHECK_INT(blkio_value(io->io_serviced_recursive, 6, 8, 16, "Discard"), 6);
    CHECK_INT(s->n_hugetlb_stats, 2);
    for (size_t i = 0; i < s->n_hugetlb_stats; i++) {
        if (strcmp(s->hugetlb_stats[i]->key, "2MB") == 0) {
            CHECK_INT(s->hugetlb_stats[i]->value->usage, 2097152);
            CHECK_INT(s->hugetlb_stats[i]->value->failcnt, 5);
        } else {
            CHECK_STR(s->hugetlb_stats[i]->key, "1GB");
        }
    }
    /* And it packs: the agent sends it as is. */
    size_t packed = grpc__cgroup_stats__get_packed_size(s);
    CHECK(packed > 0);
    cgroup_stats_free(s);
}
