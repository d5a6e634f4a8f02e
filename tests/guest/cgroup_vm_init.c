/* cgroup-vm-init: the guest's /init for tests/integration/test_agent_cgroup_vm.sh.
 * Runs the agent's cgroup and OCI security code (linked from the static musl
 * agent build, libseccomp included) against the guest kernel's cgroup2 with
 * every controller, prints TAP on the console, then "CGROUP_VM_TEST_DONE" and
 * powers the VM off.  Uses tests/unit/test.h's TEST/CHECK. */
#include "cgroup.h"
#include "oci_security.h"
#include "test.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

struct test_case test_cases[TEST_MAX];
int test_count;

static const char *cgroot = "/sys/fs/cgroup";

static char *read_text(const char *abs, const char *file)
{
    cleanup_free char *path = xasprintf("%s/%s", abs, file);
    struct kerr *err = NULL;
    char *text = NULL;
    size_t len;
    if (file_read_all(path, 1 << 16, &text, &len, &err) < 0) {
        printf("#   read %s: %s\n", path, err->msg);
        kerr_free(err);
        return NULL;
    }
    text[strcspn(text, "\n")] = '\0';
    return text;
}

#define CHECK_FILE(abs, file, want)                                                                \
    do {                                                                                           \
        cleanup_free char *_got = read_text(abs, file);                                            \
        CHECK_STR(_got, want);                                                                     \
    } while (0)

#define CHECK_OK(call)                                                                             \
    do {                                                                                           \
        struct kerr *_err = NULL;                                                                  \
        if ((call) < 0) {                                                                          \
            printf("#   %s: %s\n", #call, _err ? _err->msg : "?");                                 \
            kerr_free(_err);                                                                       \
            CHECK(!#call);                                                                         \
        }                                                                                          \
    } while (0)

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static char *make_cgroup(const char *name)
{
    struct kerr *err = NULL;
    char *abs = NULL;
    cleanup_free char *rel = xasprintf("kata/%s", name);
    if (cgroup_create(cgroot, rel, &abs, &err) < 0) {
        printf("#   create %s: %s\n", rel, err->msg);
        kerr_free(err);
        return NULL;
    }
    return abs;
}

/* Kill what is left and remove, reporting failures as TAP comments. */
static void drop_cgroup(char **abs)
{
    if (*abs == NULL)
        return;
    struct kerr *err = NULL;
    if (cgroup_kill_all(*abs, &err) < 0 || cgroup_remove(*abs, &err) < 0) {
        printf("#   cleanup: %s\n", err->msg);
        kerr_free(err);
    }
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    free(*abs);
}
#define cleanup_cgroup __attribute__((cleanup(drop_cgroup)))

TEST(root_offers_every_controller)
{
    cleanup_free char *controllers = read_text(cgroot, "cgroup.controllers");
    CHECK(controllers != NULL);
    printf("#   controllers: %s\n", controllers);
    static const char *const want[] = {"cpuset", "cpu", "io", "memory", "hugetlb", "pids"};
    for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
        cleanup_free char *word = xasprintf(" %s ", want[i]);
        cleanup_free char *padded = xasprintf(" %s ", controllers);
        CHECK_CONTAINS(padded, word);
    }
}

TEST(limits_written_and_read_back)
{
    cleanup_cgroup char *abs = make_cgroup("limits");
    CHECK(abs != NULL);
    cleanup_free char *controllers = read_text(abs, "cgroup.controllers");
    CHECK_CONTAINS(controllers, "memory");
    CHECK_CONTAINS(controllers, "pids");

    Grpc__LinuxMemory mem = GRPC__LINUX_MEMORY__INIT;
    mem.limit = 64 << 20, mem.reservation = 16 << 20, mem.swap = -1;
    Grpc__LinuxCPU cpu = GRPC__LINUX_CPU__INIT;
    cpu.shares = 1024, cpu.quota = 50000, cpu.period = 100000, cpu.cpus = "0", cpu.mems = "0";
    Grpc__LinuxPids pids = GRPC__LINUX_PIDS__INIT;
    pids.limit = 16;
    Grpc__LinuxHugepageLimit huge = GRPC__LINUX_HUGEPAGE_LIMIT__INIT;
    huge.pagesize = "2MB", huge.limit = 4 << 20;
    Grpc__LinuxHugepageLimit *hugepages[] = {&huge};
    Grpc__LinuxResources res = GRPC__LINUX_RESOURCES__INIT;
    res.memory = &mem, res.cpu = &cpu, res.pids = &pids;
    res.n_hugepagelimits = 1, res.hugepagelimits = hugepages;
    CHECK_OK(cgroup_apply(abs, &res, &_err));

    CHECK_FILE(abs, "memory.max", "67108864");
    CHECK_FILE(abs, "memory.low", "16777216");
    CHECK_FILE(abs, "cpu.weight", "39");
    CHECK_FILE(abs, "cpu.max", "50000 100000");
    CHECK_FILE(abs, "cpuset.cpus", "0");
    CHECK_FILE(abs, "cpuset.mems", "0");
    CHECK_FILE(abs, "pids.max", "16");
    CHECK_FILE(abs, "hugetlb.2MB.max", "4194304");

    /* UpdateContainer: -1 lifts the limits again. */
    Grpc__LinuxMemory unlimited = GRPC__LINUX_MEMORY__INIT;
    unlimited.limit = -1;
    Grpc__LinuxPids no_pids_limit = GRPC__LINUX_PIDS__INIT;
    no_pids_limit.limit = -1;
    Grpc__LinuxCPU no_quota = GRPC__LINUX_CPU__INIT;
    no_quota.quota = -1;
    Grpc__LinuxResources update = GRPC__LINUX_RESOURCES__INIT;
    update.memory = &unlimited, update.pids = &no_pids_limit, update.cpu = &no_quota;
    CHECK_OK(cgroup_apply(abs, &update, &_err));
    CHECK_FILE(abs, "memory.max", "max");
    CHECK_FILE(abs, "pids.max", "max");
    CHECK_FILE(abs, "cpu.max", "max 100000");
}

/* blkio weight: io.weight when the kernel has blk-iocost, else a clear
 * error (the guest kernel's configuration decides which). */
TEST(io_weight_or_named_error)
{
    cleanup_cgroup char *abs = make_cgroup("io");
    CHECK(abs != NULL);
    Grpc__LinuxBlockIO io = GRPC__LINUX_BLOCK_IO__INIT;
    io.weight = 500;
    Grpc__LinuxResources res = GRPC__LINUX_RESOURCES__INIT;
    res.blockio = &io;
    struct kerr *err = NULL;
    cleanup_free char *weight = xasprintf("%s/io.weight", abs);
    if (access(weight, F_OK) == 0) {
        printf("#   io.weight present\n");
        CHECK_OK(cgroup_apply(abs, &res, &_err));
        CHECK_FILE(abs, "io.weight", "default 4950");
    } else {
        printf("#   no io.weight in this kernel (CONFIG_BLK_CGROUP_IOCOST off)\n");
        CHECK(cgroup_apply(abs, &res, &err) < 0);
        CHECK_CONTAINS(err->msg, "blkio weight: the kernel has neither `io.weight`");
        kerr_free(err);
    }
}

/* io.max throttles and io.stat accounting on the test's virtio-blk disk
 * (/dev/vda, a read-only raw file on the host). */
TEST(io_max_and_io_stat_on_a_disk)
{
    cleanup_free char *dev = read_text("/sys/block/vda", "dev");
    if (dev == NULL)
        SKIP("no /dev/vda (the VM was started without the test disk)");
    unsigned major = 0, minor = 0;
    CHECK(sscanf(dev, "%u:%u", &major, &minor) == 2);
    cleanup_cgroup char *abs = make_cgroup("io-max");
    CHECK(abs != NULL);
    Grpc__LinuxThrottleDevice read_bps = GRPC__LINUX_THROTTLE_DEVICE__INIT;
    read_bps.major = major, read_bps.minor = minor, read_bps.rate = 1 << 20;
    Grpc__LinuxThrottleDevice write_iops = GRPC__LINUX_THROTTLE_DEVICE__INIT;
    write_iops.major = major, write_iops.minor = minor, write_iops.rate = 100;
    Grpc__LinuxThrottleDevice *reads[] = {&read_bps}, *writes[] = {&write_iops};
    Grpc__LinuxBlockIO io = GRPC__LINUX_BLOCK_IO__INIT;
    io.n_throttlereadbpsdevice = 1, io.throttlereadbpsdevice = reads;
    io.n_throttlewriteiopsdevice = 1, io.throttlewriteiopsdevice = writes;
    Grpc__LinuxResources res = GRPC__LINUX_RESOURCES__INIT;
    res.blockio = &io;
    CHECK_OK(cgroup_apply(abs, &res, &_err));
    cleanup_free char *want =
        xasprintf("%u:%u rbps=1048576 wbps=max riops=max wiops=100", major, minor);
    CHECK_FILE(abs, "io.max", want);

    /* A reader in the cgroup: its 64 KiB show up in io.stat. */
    fflush(stdout);
    pid_t reader = fork();
    if (reader == 0) {
        struct kerr *err = NULL;
        if (cgroup_add_pid(abs, getpid(), &err) < 0)
            _exit(100);
        int fd = open("/dev/vda", O_RDONLY);
        char buf[4096];
        size_t total = 0;
        while (fd >= 0 && total < 65536) {
            ssize_t n = read(fd, buf, sizeof(buf));
            if (n <= 0)
                break;
            total += (size_t)n;
        }
        _exit(total == 65536 ? 0 : 1);
    }
    int status;
    CHECK(waitpid(reader, &status, 0) == reader);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    Grpc__CgroupStats *stats = NULL;
    CHECK_OK(cgroup_stats(abs, &stats, &_err));
    uint64_t read_bytes = 0, read_ios = 0;
    Grpc__BlkioStats *blkio = stats->blkio_stats;
    for (size_t i = 0; i < blkio->n_io_service_bytes_recursive; i++) {
        Grpc__BlkioStatsEntry *e = blkio->io_service_bytes_recursive[i];
        if (e->major == major && e->minor == minor && strcmp(e->op, "Read") == 0)
            read_bytes = e->value;
    }
    for (size_t i = 0; i < blkio->n_io_serviced_recursive; i++) {
        Grpc__BlkioStatsEntry *e = blkio->io_serviced_recursive[i];
        if (e->major == major && e->minor == minor && strcmp(e->op, "Read") == 0)
            read_ios = e->value;
    }
    cgroup_stats_free(stats);
    printf("#   io.stat %u:%u: %llu bytes read in %llu ios\n", major, minor,
           (unsigned long long)read_bytes, (unsigned long long)read_ios);
    CHECK(read_bytes >= 65536);
    CHECK(read_ios >= 1);
}

/* Device rules: only /dev/null; the disk is out of reach even for root. */
TEST(device_rules_in_guest)
{
    cleanup_cgroup char *abs = make_cgroup("devices");
    CHECK(abs != NULL);
    Grpc__LinuxDeviceCgroup deny_all = GRPC__LINUX_DEVICE_CGROUP__INIT;
    deny_all.type = "a", deny_all.major = -1, deny_all.minor = -1, deny_all.access = "rwm";
    Grpc__LinuxDeviceCgroup null_dev = GRPC__LINUX_DEVICE_CGROUP__INIT;
    null_dev.allow = true, null_dev.type = "c", null_dev.major = 1, null_dev.minor = 3;
    null_dev.access = "rwm";
    Grpc__LinuxDeviceCgroup *rules[] = {&deny_all, &null_dev};
    Grpc__LinuxResources res = GRPC__LINUX_RESOURCES__INIT;
    res.n_devices = 2, res.devices = rules;
    CHECK_OK(cgroup_apply(abs, &res, &_err));
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        struct kerr *err = NULL;
        if (cgroup_add_pid(abs, getpid(), &err) < 0)
            _exit(100);
        int null_fd = open("/dev/null", O_RDWR);
        int zero_fd = open("/dev/zero", O_RDONLY);
        int zero_errno = errno;
        int disk_fd = open("/dev/vda", O_RDONLY);
        int disk_errno = errno;
        bool disk_ok = access("/dev/vda", F_OK) < 0 || (disk_fd < 0 && disk_errno == EPERM);
        _exit(null_fd >= 0 && zero_fd < 0 && zero_errno == EPERM && disk_ok ? 0 : 1);
    }
    int status;
    CHECK(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK_INT(WEXITSTATUS(status), 0);
}

/* A process in the cgroup forks until pids.max stops it. */
TEST(pids_max_stops_fork)
{
    cleanup_cgroup char *abs = make_cgroup("pids");
    CHECK(abs != NULL);
    Grpc__LinuxPids pids = GRPC__LINUX_PIDS__INIT;
    pids.limit = 4;
    Grpc__LinuxResources res = GRPC__LINUX_RESOURCES__INIT;
    res.pids = &pids;
    CHECK_OK(cgroup_apply(abs, &res, &_err));
    int report[2];
    CHECK(pipe(report) == 0);
    fflush(stdout);
    pid_t forker = fork();
    if (forker == 0) {
        struct kerr *err = NULL;
        if (cgroup_add_pid(abs, getpid(), &err) < 0)
            _exit(100);
        int forked = 0, last_errno = 0;
        for (int i = 0; i < 10; i++) {
            pid_t p = fork();
            if (p == 0) {
                pause();
                _exit(0);
            }
            if (p < 0) {
                last_errno = errno;
                break;
            }
            forked++;
        }
        int msg[2] = {forked, last_errno};
        (void)!write(report[1], msg, sizeof(msg));
        pause();
        _exit(0);
    }
    close(report[1]);
    int msg[2] = {-1, 0};
    CHECK(read(report[0], msg, sizeof(msg)) == sizeof(msg));
    close(report[0]);
    uint64_t current = 0;
    Grpc__CgroupStats *stats = NULL;
    CHECK_OK(cgroup_stats(abs, &stats, &_err));
    current = stats->pids_stats->current;
    uint64_t limit = stats->pids_stats->limit;
    cgroup_stats_free(stats);
    CHECK_INT(msg[0], 3);
    CHECK_INT(msg[1], EAGAIN);
    CHECK_INT(current, 4);
    CHECK_INT(limit, 4);
    cleanup_free pid_t *list = NULL;
    size_t n = 0;
    CHECK_OK(cgroup_pids(abs, &list, &n, &_err));
    CHECK_INT(n, 4);
    CHECK_OK(cgroup_kill_all(abs, &_err));
    int status;
    CHECK(waitpid(forker, &status, 0) == forker);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

TEST(freeze_stops_a_busy_child)
{
    cleanup_cgroup char *abs = make_cgroup("freezer");
    CHECK(abs != NULL);
    volatile unsigned long *counter =
        mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(counter != MAP_FAILED);
    fflush(stdout);
    pid_t busy = fork();
    if (busy == 0)
        for (;;)
            (*counter)++;
    CHECK_OK(cgroup_add_pid(abs, busy, &_err));
    while (*counter == 0)
        sleep_ms(1);
    CHECK_OK(cgroup_freeze(abs, true, &_err));
    unsigned long before = *counter;
    sleep_ms(100);
    CHECK_INT(*counter, before);
    CHECK_OK(cgroup_freeze(abs, false, &_err));
    while (*counter == before)
        sleep_ms(1);
    CHECK(*counter > before);
    /* Killing a frozen cgroup works too. */
    CHECK_OK(cgroup_freeze(abs, true, &_err));
    CHECK_OK(cgroup_kill_all(abs, &_err));
    int status;
    CHECK(waitpid(busy, &status, 0) == busy);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    munmap((void *)counter, 4096);
}

/* A memory hog over memory.max is OOM-killed; memory.events counts it. */
TEST(oom_kill_counted)
{
    cleanup_cgroup char *abs = make_cgroup("oom");
    CHECK(abs != NULL);
    Grpc__LinuxMemory mem = GRPC__LINUX_MEMORY__INIT;
    mem.limit = 16 << 20, mem.swap = 16 << 20; /* memory+swap = memory: no swap */
    Grpc__LinuxResources res = GRPC__LINUX_RESOURCES__INIT;
    res.memory = &mem;
    CHECK_OK(cgroup_apply(abs, &res, &_err));
    CHECK_INT(cgroup_oom_kill_count(abs), 0);
    int watch = -1;
    CHECK_OK(watch = cgroup_oom_watch_open(abs, &_err));
    int epoll = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLPRI};
    CHECK(epoll_ctl(epoll, EPOLL_CTL_ADD, watch, &ev) == 0);
    /* A kernfs file reports once when first polled; drain that. */
    struct epoll_event got;
    while (epoll_wait(epoll, &got, 1, 0) > 0) {
        char buf[512];
        (void)!pread(watch, buf, sizeof(buf), 0);
    }
    fflush(stdout);
    pid_t hog = fork();
    if (hog == 0) {
        struct kerr *err = NULL;
        if (cgroup_add_pid(abs, getpid(), &err) < 0)
            _exit(100);
        size_t size = 64 << 20;
        char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        for (size_t i = 0; p != MAP_FAILED && i < size; i += 4096)
            p[i] = 1;
        _exit(0);
    }
    int status;
    CHECK(waitpid(hog, &status, 0) == hog);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    CHECK_INT(cgroup_oom_kill_count(abs), 1);
    /* The watch saw it. */
    int ready = epoll_wait(epoll, &got, 1, 5000);
    close(epoll);
    close(watch);
    CHECK_INT(ready, 1);
    CHECK(got.events & EPOLLPRI);
    Grpc__CgroupStats *stats = NULL;
    CHECK_OK(cgroup_stats(abs, &stats, &_err));
    uint64_t limit = stats->memory_stats->usage->limit;
    uint64_t failcnt = stats->memory_stats->usage->failcnt;
    cgroup_stats_free(stats);
    CHECK_INT(limit, 16 << 20);
    CHECK(failcnt >= 1);
}

TEST(stats_of_a_running_container)
{
    cleanup_cgroup char *abs = make_cgroup("stats");
    CHECK(abs != NULL);
    Grpc__LinuxMemory mem = GRPC__LINUX_MEMORY__INIT;
    mem.limit = 64 << 20;
    Grpc__LinuxPids pids = GRPC__LINUX_PIDS__INIT;
    pids.limit = 10;
    Grpc__LinuxResources res = GRPC__LINUX_RESOURCES__INIT;
    res.memory = &mem, res.pids = &pids;
    CHECK_OK(cgroup_apply(abs, &res, &_err));
    int ready[2];
    CHECK(pipe(ready) == 0);
    fflush(stdout);
    pid_t worker = fork();
    if (worker == 0) {
        struct kerr *err = NULL;
        if (cgroup_add_pid(abs, getpid(), &err) < 0)
            _exit(100);
        /* 8 MiB touched, some CPU burnt, then wait. */
        size_t size = 8 << 20;
        char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        for (size_t i = 0; p != MAP_FAILED && i < size; i += 4096)
            p[i] = 1;
        volatile unsigned long spin = 0;
        for (unsigned long i = 0; i < 20000000; i++)
            spin++;
        (void)!write(ready[1], "x", 1);
        pause();
        _exit(0);
    }
    close(ready[1]);
    char c;
    CHECK(read(ready[0], &c, 1) == 1);
    close(ready[0]);
    Grpc__CgroupStats *stats = NULL;
    CHECK_OK(cgroup_stats(abs, &stats, &_err));
    uint64_t cpu = stats->cpu_stats->cpu_usage->total_usage;
    uint64_t usage = stats->memory_stats->usage->usage;
    uint64_t limit = stats->memory_stats->usage->limit;
    uint64_t pids_current = stats->pids_stats->current, pids_limit = stats->pids_stats->limit;
    bool has_anon = false;
    for (size_t i = 0; i < stats->memory_stats->n_stats; i++)
        if (strcmp(stats->memory_stats->stats[i]->key, "anon") == 0 &&
            stats->memory_stats->stats[i]->value >= (8 << 20))
            has_anon = true;
    bool has_2mb = false;
    for (size_t i = 0; i < stats->n_hugetlb_stats; i++)
        if (strcmp(stats->hugetlb_stats[i]->key, "2MB") == 0)
            has_2mb = true;
    printf("#   cpu %llu ns, memory %llu of %llu, pids %llu of %llu, %zu memory.stat keys\n",
           (unsigned long long)cpu, (unsigned long long)usage, (unsigned long long)limit,
           (unsigned long long)pids_current, (unsigned long long)pids_limit,
           stats->memory_stats->n_stats);
    cgroup_stats_free(stats);
    CHECK(cpu > 0);
    CHECK(usage >= (8 << 20));
    CHECK_INT(limit, 64 << 20);
    CHECK_INT(pids_current, 1);
    CHECK_INT(pids_limit, 10);
    CHECK(has_anon);
    CHECK(has_2mb);
    CHECK_OK(cgroup_kill_all(abs, &_err));
    waitpid(worker, NULL, 0);
}

/* The static agent's seccomp (libseccomp.a under musl) and capabilities in
 * the guest kernel: a child applies them and checks it is confined.  With
 * `prepare` the parent compiles the profile first, as the agent does. */
static int run_confined_child(bool prepare)
{
    char *names[] = {"getcwd"};
    Grpc__LinuxSyscall rule = GRPC__LINUX_SYSCALL__INIT;
    rule.n_names = 1, rule.names = names, rule.action = "SCMP_ACT_ERRNO";
    rule.errno_ret_case = GRPC__LINUX_SYSCALL__ERRNO_RET_ERRNORET;
    rule.errnoret = prepare ? 43 : 42;
    Grpc__LinuxSyscall *rules[] = {&rule};
    char *arches[] = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"};
    Grpc__LinuxSeccomp seccomp = GRPC__LINUX_SECCOMP__INIT;
    seccomp.defaultaction = "SCMP_ACT_ALLOW", seccomp.n_syscalls = 1, seccomp.syscalls = rules;
    seccomp.n_architectures = 3, seccomp.architectures = arches;
    Grpc__Linux linux_ = GRPC__LINUX__INIT;
    linux_.seccomp = &seccomp;
    char *kill_cap[] = {"CAP_KILL"};
    Grpc__LinuxCapabilities caps = GRPC__LINUX_CAPABILITIES__INIT;
    caps.n_bounding = 1, caps.bounding = kill_cap;
    caps.n_permitted = 1, caps.permitted = kill_cap;
    caps.n_effective = 1, caps.effective = kill_cap;
    Grpc__User user = GRPC__USER__INIT;
    user.uid = 1000, user.gid = 1000;
    Grpc__Process process = GRPC__PROCESS__INIT;
    process.user = &user, process.capabilities = &caps, process.nonewprivileges = true;
    struct kerr *err = NULL;
    if (prepare && oci_seccomp_prepare(&linux_, &err) < 0) {
        printf("#   prepare: %s\n", err->msg);
        kerr_free(err);
        return -1;
    }
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        if (oci_apply_process(&process, &linux_, &err) < 0) {
            printf("#   child: %s\n", err->msg);
            fflush(stdout);
            _exit(1);
        }
        char buf[64];
        if (getcwd(buf, sizeof(buf)) != NULL || errno != (prepare ? 43 : 42))
            _exit(2);
        if (getuid() != 1000 || setuid(0) == 0)
            _exit(3);
        _exit(0);
    }
    int status;
    if (waitpid(child, &status, 0) != child)
        return -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        printf("#   child status %#x\n", status);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(seccomp_and_capabilities_in_guest)
{
    CHECK_INT(run_confined_child(false), 0);
}

TEST(seccomp_prepared_by_the_parent_in_guest)
{
    CHECK_INT(run_confined_child(true), 0);
}

static void mount_basics(void)
{
    mkdir("/proc", 0755);
    mkdir("/sys", 0755);
    mkdir("/dev", 0755);
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755");
    if (mount("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        printf("# mount cgroup2: %s\n", strerror(errno));
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    mount_basics();
    printf("TAP version 13\n");
    int failures = 0;
    for (int i = 0; i < test_count; i++) {
        int failed = 0;
        fflush(stdout);
        test_cases[i].fn(&failed);
        printf("%sok %d - %s\n", failed > 0 ? "not " : "", i + 1, test_cases[i].name);
        failures += failed > 0;
    }
    printf("1..%d\n", test_count);
    printf("CGROUP_VM_TEST_DONE failures=%d\n", failures);
    fflush(stdout);
    tcdrain(1);
    reboot(RB_POWER_OFF);
    for (;;)
        pause();
}
