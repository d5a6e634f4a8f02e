/* OCI process and rootfs security settings, applied for real in forked
 * children (the test process itself never changes): each child applies a
 * spec, looks at itself (/proc/self/status, getrlimit, getgroups, prctl, a
 * denied syscall, its mounts) and reports one line through a pipe. */
#include "oci_security.h"
#include "oci_security_internal.h"
#include "test.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/mount.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define REPORT_MAX 512

struct child_result {
    int status; /* waitpid status */
    char report[REPORT_MAX];
};

/* A child's body: fill `report` (what the parent checks); the exit code is
 * 0 for "ran to the end". */
typedef int (*child_body)(const void *arg, char *report, size_t size);

static int run_child(child_body body, const void *arg, struct child_result *result)
{
    int fds[2];
    memset(result, 0, sizeof(*result));
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(fds[0]);
        char report[REPORT_MAX] = "";
        int rc = body(arg, report, sizeof(report));
        (void)!write(fds[1], report, strlen(report));
        /* The raw call: a sanitizer's _exit would check for leaks, with
         * syscalls a child's seccomp profile may refuse. */
        syscall(SYS_exit_group, rc == 0 ? 0 : 1);
        _exit(1);
    }
    close(fds[1]);
    size_t used = 0;
    ssize_t n;
    while ((n = read(fds[0], result->report + used, sizeof(result->report) - 1 - used)) > 0)
        used += (size_t)n;
    close(fds[0]);
    if (waitpid(pid, &result->status, 0) < 0)
        return -1;
    return 0;
}

static bool exited_ok(const struct child_result *r)
{
    return WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0;
}

/* A child that should have run to the end; its report says why not. */
#define CHECK_CHILD_OK(r)                                                                          \
    do {                                                                                           \
        if (!exited_ok(&(r)))                                                                      \
            printf("#   child status %#x, report: %s\n", (r).status, (r).report);                  \
        CHECK(exited_ok(&(r)));                                                                    \
    } while (0)

static int reportf(char *report, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int reportf(char *report, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(report, size, fmt, ap);
    va_end(ap);
    return 0;
}

/* Apply a process (and linux section), reporting the error on failure. */
struct process_case {
    const Grpc__Process *process;
    const Grpc__Linux *linux_;
    int (*observe)(char *report, size_t size);
};

static int apply_and_observe(const void *arg, char *report, size_t size)
{
    const struct process_case *c = arg;
    struct kerr *err = NULL;
    if (oci_apply_process(c->process, c->linux_, &err) < 0) {
        reportf(report, size, "error: %s", err->msg);
        kerr_free(err);
        return 1;
    }
    return c->observe ? c->observe(report, size) : 0;
}

/* "CapEff:\t0000000000000020" -> 0x20 */
static unsigned long long status_hex(const char *key)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    unsigned long long value = ~0ULL;
    size_t klen = strlen(key);
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, key, klen) == 0 && line[klen] == ':')
            value = strtoull(line + klen + 1, NULL, 16);
    if (f)
        fclose(f);
    return value;
}

/* Tests that switch users, drop capabilities or unshare namespaces. */
#define NEED_ROOT()                                                                                \
    do {                                                                                           \
        if (geteuid() != 0)                                                                        \
            SKIP("needs root");                                                                    \
    } while (0)

/* ---- name tables ---- */

TEST(capability_names)
{
    CHECK_INT(oci_capability_from_name("CAP_CHOWN"), 0);
    CHECK_INT(oci_capability_from_name("CAP_SYS_ADMIN"), 21);
    CHECK_INT(oci_capability_from_name("cap_net_raw"), 13);
    CHECK_INT(oci_capability_from_name("CAP_CHECKPOINT_RESTORE"), 40);
    CHECK_INT(oci_capability_from_name("CAP_BOGUS"), -1);
    CHECK_INT(oci_capability_from_name("SYS_ADMIN"), -1);
    CHECK_INT(oci_capability_from_name(NULL), -1);
}

TEST(rlimit_names)
{
    CHECK_INT(oci_rlimit_from_name("RLIMIT_CPU"), RLIMIT_CPU);
    CHECK_INT(oci_rlimit_from_name("RLIMIT_NOFILE"), 7);
    CHECK_INT(oci_rlimit_from_name("RLIMIT_NPROC"), RLIMIT_NPROC);
    CHECK_INT(oci_rlimit_from_name("RLIMIT_RTTIME"), RLIMIT_RTTIME);
    CHECK_INT(oci_rlimit_from_name("RLIMIT_BOGUS"), -1);
    CHECK_INT(oci_rlimit_from_name(NULL), -1);
}

/* ---- rlimits, oom_score_adj ---- */

static int observe_rlimits(char *report, size_t size)
{
    struct rlimit nofile, core;
    getrlimit(RLIMIT_NOFILE, &nofile);
    getrlimit(RLIMIT_CORE, &core);
    char buf[16] = "";
    int fd = open("/proc/self/oom_score_adj", O_RDONLY);
    (void)!read(fd, buf, sizeof(buf) - 1);
    close(fd);
    buf[strcspn(buf, "\n")] = '\0';
    return reportf(report, size, "nofile %llu %llu core %llu %llu oom %s",
                   (unsigned long long)nofile.rlim_cur, (unsigned long long)nofile.rlim_max,
                   (unsigned long long)core.rlim_cur, (unsigned long long)core.rlim_max, buf);
}

TEST(rlimits_and_oom_score_adj_applied)
{
    Grpc__POSIXRlimit nofile = GRPC__POSIXRLIMIT__INIT, core = GRPC__POSIXRLIMIT__INIT;
    nofile.type = "RLIMIT_NOFILE", nofile.soft = 100, nofile.hard = 200;
    core.type = "RLIMIT_CORE", core.soft = 0, core.hard = 0;
    Grpc__POSIXRlimit *limits[] = {&nofile, &core};
    Grpc__Process process = GRPC__PROCESS__INIT;
    process.n_rlimits = 2, process.rlimits = limits, process.oomscoreadj = 123;
    struct process_case c = {&process, NULL, observe_rlimits};
    struct child_result r;
    CHECK(run_child(apply_and_observe, &c, &r) == 0);
    CHECK_CHILD_OK(r);
    CHECK_STR(r.report, "nofile 100 200 core 0 0 oom 123");
}

TEST(rlimit_unknown_is_named)
{
    Grpc__POSIXRlimit bogus = GRPC__POSIXRLIMIT__INIT;
    bogus.type = "RLIMIT_BOGUS", bogus.soft = 1, bogus.hard = 1;
    Grpc__POSIXRlimit *limits[] = {&bogus};
    Grpc__Process process = GRPC__PROCESS__INIT;
    process.n_rlimits = 1, process.rlimits = limits;
    struct process_case c = {&process, NULL, NULL};
    struct child_result r;
    CHECK(run_child(apply_and_observe, &c, &r) == 0);
    CHECK(!exited_ok(&r));
    CHECK_CONTAINS(r.report, "rlimit `RLIMIT_BOGUS`: unknown");
}

TEST(rlimit_soft_above_hard_fails)
{
    Grpc__POSIXRlimit nofile = GRPC__POSIXRLIMIT__INIT;
    nofile.type = "RLIMIT_NOFILE", nofile.soft = 300, nofile.hard = 200;
    Grpc__POSIXRlimit *limits[] = {&nofile};
    Grpc__Process process = GRPC__PROCESS__INIT;
    process.n_rlimits = 1, process.rlimits = limits;
    struct process_case c = {&process, NULL, NULL};
    struct child_result r;
    CHECK(run_child(apply_and_observe, &c, &r) == 0);
    CHECK(!exited_ok(&r));
    CHECK_CONTAINS(r.report, "rlimit `RLIMIT_NOFILE`: set soft 300, hard 200");
}

TEST(oom_score_adj_out_of_range)
{
    Grpc__Process process = GRPC__PROCESS__INIT;
    process.oomscoreadj = 1001;
    struct process_case c = {&process, NULL, NULL};
    struct child_result r;
    CHECK(run_child(apply_and_observe, &c, &r) == 0);
    CHECK(!exited_ok(&r));
    CHECK_CONTAINS(r.report, "oom_score_adj 1001: out of range");
}

/* ---- capabilities and user ---- */

static int observe_caps(char *report, size_t size)
{
    return reportf(report, size, "eff %llx prm %llx inh %llx bnd %llx amb %llx",
                   status_hex("CapEff"), status_hex("CapPrm"), status_hex("CapInh"),
                   status_hex("CapBnd"), status_hex("CapAmb"));
}

TEST(capabilities_dropped_as_root)
{
    NEED_ROOT();
    char *bounding[] = {"CAP_CHOWN", "CAP_KILL"};
    char *effective[] = {"CAP_KILL"};
    char *permitted[] = {"CAP_CHOWN", "CAP_KILL"};
    Grpc__LinuxCapabilities caps = GRPC__LINUX_CAPABILITIES__INIT;
    caps.n_bounding = 2, caps.bounding = bounding;
    caps.n_effective = 1, caps.effective = effective;
    caps.n_permitted = 2, caps.permitted = permitted;
    Grpc__Process process = GRPC__PROCESS__INIT;
    process.capabilities = &caps;
    struct process_case c = {&process, NULL, observe_caps};
    struct child_result r;
    CHECK(run_child(apply_and_observe, &c, &r) == 0);
    CHECK_CHILD_OK(r);
    CHECK_STR(r.report, "eff 20 prm 21 inh 0 bnd 21 amb 0");
}

static int observe_user(char *report, size_t size)
{
    gid_t groups[16];
    int n = getgroups(16, groups);
    uid_t ruid, euid, suid;
    gid_t rgid, egid, sgid;
    getresuid(&ruid, &euid, &suid);
    getresgid(&rgid, &egid, &sgid);
    char caps[160];
    observe_caps(caps, sizeof(caps));
    return reportf(report, size, "uid %u %u %u gid %u %u %u groups %d:%u,%u %s", ruid, euid, suid,
                   rgid, egid, sgid, n, n > 0 ? groups[0] : 0, n > 1 ? groups[1] : 0, caps);
}

/* The uid change keeps the spec's capabilities (PR_SET_KEEPCAPS), and an
 * ambient capability survives into a non-root process. */
TEST(user_switched_with_capabilities_kept)
{
    NEED_ROOT();
    char *bind[] = {"CAP_NET_BIND_SERVICE"};
    Grpc__LinuxCapabilities caps = GRPC__LINUX_CAPABILITIES__INIT;
    caps.n_bounding = 1, caps.bounding = bind;
    caps.n_effective = 1, caps.effective = bind;
    caps.n_permitted = 1, caps.permitted = bind;
    caps.n_inheritable = 1, caps.inheritable = bind;
    caps.n_ambient = 1, caps.ambient = bind;
    uint32_t gids[] = {1002, 1003};
    Grpc__User user = GRPC__USER__INIT;
    user.uid = 1000, user.gid = 1001, user.n_additionalgids = 2, user.additionalgids = gids;
    Grpc__Process process = GRPC__PROCESS__INIT;
    process.user = &user, process.capabilities = &caps;
    struct process_case c = {&process, NULL, observe_user};
    struct child_result r;
    CHECK(run_child(apply_and_observe, &c, &r) == 0);
    CHECK_CHILD_OK(r);
    CHECK_STR(r.report, "uid 1000 1000 1000 gid 1001 1001 1001 groups 2:1002,1003 "
                        "eff 400 prm 400 inh 400 bnd 400 amb 400");
}

/* Without capabilities in the spec a non-root user ends with none. */
TEST(user_switched_without_capabilities)
{
    NEED_ROOT();
    Grpc__User user = GRPC__USER__INIT;
    user.uid = 65534, user.gid = 65534;
    Grpc__Process process = GRPC__PROCESS__INIT;
    process.user = &user;
    struct process_case c = {&process, NULL, observe_user};
    struct child_result r;
    CHECK(run_child(apply_and_observe, &c, &r) == 0);
    CHECK_CHILD_OK(r);
    CHECK_CONTAINS(r.report, "uid 65534 65534 65534 gid 65534 65534 65534 groups 0:");
    CHECK_CONTAINS(r.report, "eff 0 prm 0 inh 0");
}

TEST(capability_unknown_is_named)
{
    char *effective[] = {"CAP_KILL", "CAP_BOGUS"};
    Grpc__LinuxCapabilities caps = GRPC__LINUX_CAPABILITIES__INIT;
    caps.n_effective = 2, caps.effective = effective;
    Grpc__Process process = GRPC__PROCESS__INIT;
    process.capabilities = &caps;
    struct process_case c = {&process, NULL, NULL};
    struct child_result r;
    CHECK(run_child(apply_and_observe, &c, &r) == 0);
    CHECK(!exited_ok(&r));
    CHECK_CONTAINS(r.report, "capability `CAP_BOGUS` (effective set): unknown");
}

/* Effective must be a subset of permitted: the kernel says so, we name it. */
TEST(capabilities_effective_not_permitted_fails)
{
    NEED_ROOT();
    char *kill_cap[] = {"CAP_KILL"};
    char *chown_cap[] = {"CAP_CHOWN"};
    Grpc__LinuxCapabilities caps = GRPC__LINUX_CAPABILITIES__INIT;
    caps.n_bounding = 1, caps.bounding = kill_cap;
    caps.n_effective = 1, caps.effective = chown_cap;
    caps.n_permitted = 1, caps.permitted = kill_cap;
    Grpc__Process process = GRPC__PROCESS__INIT;
    process.capabilities = &caps;
    struct process_case c = {&process, NULL, NULL};
    struct child_result r;
    CHECK(run_child(apply_and_observe, &c, &r) == 0);
    CHECK(!exited_ok(&r));
    CHECK_CONTAINS(r.report, "capabilities: set effective 0x1");
}

/* ---- no_new_privileges and seccomp ---- */

static int observe_nnp(char *report, size_t size)
{
    return reportf(report, size, "nnp %d seccomp %llu", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0),
                   status_hex("Seccomp"));
}

TEST(no_new_privileges_set)
{
    Grpc__Process process = GRPC__PROCESS__INIT;
    process.nonewprivileges = true;
    struct process_case c = {&process, NULL, observe_nnp};
    struct child_result r;
    CHECK(run_child(apply_and_observe, &c, &r) == 0);
    CHECK_CHILD_OK(r);
    CHECK_STR(r.report, "nnp 1 seccomp 0");
}

/* What the denied calls return in the child, after the profile is loaded. */
static int observe_denials(char *report, size_t size)
{
    char buf[256];
    errno = 0;
    char *cwd = getcwd(buf, sizeof(buf));
    int cwd_errno = errno;
    errno = 0;
    int rc = mkdir("/nonexistent-dir/x", 0700);
    int mkdir_errno = errno;
    errno = 0;
    long masked = syscall(SYS_umask, 0777);
    int umask_errno = errno;
    long masked2 = syscall(SYS_umask, 0700);
    int umask2_errno = errno;
    long allowed = syscall(SYS_umask, 022);
    char nnp[64];
    observe_nnp(nnp, sizeof(nnp));
    return reportf(report, size, "getcwd %s %d mkdir %d %d umask %ld %d %ld %d %ld %s",
                   cwd ? "ok" : "denied", cwd_errno, rc, mkdir_errno, masked, umask_errno, masked2,
                   umask2_errno, allowed >= 0 ? 0L : -1L, nnp);
}

struct seccomp_fixture {
    Grpc__LinuxSeccomp seccomp;
    Grpc__LinuxSyscall getcwd_rule, mkdir_rule, umask_rule;
    Grpc__LinuxSeccompArg umask_0777, umask_0700;
    Grpc__LinuxSeccompArg *umask_args[2];
    Grpc__LinuxSyscall *rules[3];
    char *getcwd_names[2], *mkdir_names[1], *umask_names[1], *arches[2];
    Grpc__Linux linux_;
};

/* Default allow; getcwd -> errno 42 (and an unknown syscall name in the
 * same rule, skipped); mkdir -> EPERM (no errnoRet); umask(0777) or
 * umask(0700) -> E2BIG (two conditions on one argument: ORed). */
static void seccomp_fixture_init(struct seccomp_fixture *f)
{
    *f = (struct seccomp_fixture){
        .seccomp = GRPC__LINUX_SECCOMP__INIT,
        .getcwd_rule = GRPC__LINUX_SYSCALL__INIT,
        .mkdir_rule = GRPC__LINUX_SYSCALL__INIT,
        .umask_rule = GRPC__LINUX_SYSCALL__INIT,
        .umask_0777 = GRPC__LINUX_SECCOMP_ARG__INIT,
        .umask_0700 = GRPC__LINUX_SECCOMP_ARG__INIT,
        .linux_ = GRPC__LINUX__INIT,
    };
    f->getcwd_names[0] = "no_such_syscall_anywhere";
    f->getcwd_names[1] = "getcwd";
    f->getcwd_rule.n_names = 2, f->getcwd_rule.names = f->getcwd_names;
    f->getcwd_rule.action = "SCMP_ACT_ERRNO";
    f->getcwd_rule.errno_ret_case = GRPC__LINUX_SYSCALL__ERRNO_RET_ERRNORET;
    f->getcwd_rule.errnoret = 42;
    f->mkdir_names[0] = "mkdir";
    f->mkdir_rule.n_names = 1, f->mkdir_rule.names = f->mkdir_names;
    f->mkdir_rule.action = "SCMP_ACT_ERRNO";
    f->umask_names[0] = "umask";
    f->umask_0777.index = 0, f->umask_0777.value = 0777, f->umask_0777.op = "SCMP_CMP_EQ";
    f->umask_0700.index = 0, f->umask_0700.value = 0777, f->umask_0700.valuetwo = 0700;
    f->umask_0700.op = "SCMP_CMP_MASKED_EQ";
    f->umask_args[0] = &f->umask_0777, f->umask_args[1] = &f->umask_0700;
    f->umask_rule.n_names = 1, f->umask_rule.names = f->umask_names;
    f->umask_rule.action = "SCMP_ACT_ERRNO";
    f->umask_rule.errno_ret_case = GRPC__LINUX_SYSCALL__ERRNO_RET_ERRNORET;
    f->umask_rule.errnoret = E2BIG;
    f->umask_rule.n_args = 2, f->umask_rule.args = f->umask_args;
    f->rules[0] = &f->getcwd_rule, f->rules[1] = &f->mkdir_rule, f->rules[2] = &f->umask_rule;
    f->arches[0] = "SCMP_ARCH_X86_64", f->arches[1] = "SCMP_ARCH_X86";
    f->seccomp.defaultaction = "SCMP_ACT_ALLOW";
    f->seccomp.n_architectures = 2, f->seccomp.architectures = f->arches;
    f->seccomp.n_syscalls = 3, f->seccomp.syscalls = f->rules;
    f->linux_.seccomp = &f->seccomp;
}

TEST(seccomp_denies_with_errno_ret_and_args)
{
    struct seccomp_fixture f;
    seccomp_fixture_init(&f);
    Grpc__Process process = GRPC__PROCESS__INIT;
    process.nonewprivileges = true;
    struct process_case c = {&process, &f.linux_, observe_denials};
    struct child_result r;
    CHECK(run_child(apply_and_observe, &c, &r) == 0);
    CHECK_CHILD_OK(r);
    CHECK_STR(r.report, "getcwd denied 42 mkdir -1 1 umask -1 7 -1 7 0 nnp 1 seccomp 2");
}

/* Without no_new_privileges the filter still loads (the child is root with
 * CAP_SYS_ADMIN when it loads), and no_new_privs stays off. */
TEST(seccomp_loads_without_no_new_privileges)
{
    NEED_ROOT();
    struct seccomp_fixture f;
    seccomp_fixture_init(&f);
    char *all[] = {"CAP_KILL"};
    Grpc__LinuxCapabilities caps = GRPC__LINUX_CAPABILITIES__INIT;
    caps.n_bounding = 1, caps.bounding = all;
    caps.n_permitted = 1, caps.permitted = all;
    caps.n_effective = 1, caps.effective = all;
    Grpc__User user = GRPC__USER__INIT;
    user.uid = 1000, user.gid = 1000;
    Grpc__Process process = GRPC__PROCESS__INIT;
    process.capabilities = &caps, process.user = &user;
    struct process_case c = {&process, &f.linux_, observe_denials};
    struct child_result r;
    CHECK(run_child(apply_and_observe, &c, &r) == 0);
    CHECK_CHILD_OK(r);
    CHECK_STR(r.report, "getcwd denied 42 mkdir -1 1 umask -1 7 -1 7 0 nnp 0 seccomp 2");
}

static int call_getppid(char *report, size_t size)
{
    getppid();
    return reportf(report, size, "survived getppid");
}

TEST(seccomp_kill_process_action)
{
    char *names[] = {"getppid"};
    Grpc__LinuxSyscall rule = GRPC__LINUX_SYSCALL__INIT;
    rule.n_names = 1, rule.names = names, rule.action = "SCMP_ACT_KILL_PROCESS";
    Grpc__LinuxSyscall *rules[] = {&rule};
    Grpc__LinuxSeccomp seccomp = GRPC__LINUX_SECCOMP__INIT;
    seccomp.defaultaction = "SCMP_ACT_ALLOW", seccomp.n_syscalls = 1, seccomp.syscalls = rules;
    Grpc__Linux linux_ = GRPC__LINUX__INIT;
    linux_.seccomp = &seccomp;
    Grpc__Process process = GRPC__PROCESS__INIT;
    process.nonewprivileges = true;
    struct process_case c = {&process, &linux_, call_getppid};
    struct child_result r;
    CHECK(run_child(apply_and_observe, &c, &r) == 0);
    CHECK(WIFSIGNALED(r.status));
    CHECK_INT(WTERMSIG(r.status), SIGSYS);
}

TEST(seccomp_bad_names_are_errors)
{
    struct seccomp_fixture f;
    seccomp_fixture_init(&f);
    struct kerr *err = NULL;

    f.seccomp.defaultaction = "SCMP_ACT_BOGUS";
    CHECK(oci_seccomp_load(&f.seccomp, &err) < 0);
    CHECK_CONTAINS(err->msg, "seccomp default action `SCMP_ACT_BOGUS`: unknown");
    kerr_clear(&err);

    seccomp_fixture_init(&f);
    f.mkdir_rule.action = "SCMP_ACT_NOPE";
    CHECK(oci_seccomp_load(&f.seccomp, &err) < 0);
    CHECK_CONTAINS(err->msg, "seccomp syscall `mkdir`: action `SCMP_ACT_NOPE`: unknown");
    kerr_clear(&err);

    seccomp_fixture_init(&f);
    f.umask_0700.op = "SCMP_CMP_SOMETIMES";
    CHECK(oci_seccomp_load(&f.seccomp, &err) < 0);
    CHECK_CONTAINS(err->msg, "seccomp syscall `umask`: operator `SCMP_CMP_SOMETIMES`: unknown");
    kerr_clear(&err);

    seccomp_fixture_init(&f);
    f.arches[1] = "SCMP_ARCH_VAX";
    CHECK(oci_seccomp_load(&f.seccomp, &err) < 0);
    CHECK_CONTAINS(err->msg, "seccomp architecture `SCMP_ARCH_VAX`: unknown");
    kerr_clear(&err);

    seccomp_fixture_init(&f);
    char *flags[] = {"SECCOMP_FILTER_FLAG_MAGIC"};
    f.seccomp.n_flags = 1, f.seccomp.flags = flags;
    CHECK(oci_seccomp_load(&f.seccomp, &err) < 0);
    CHECK_CONTAINS(err->msg, "seccomp flag `SECCOMP_FILTER_FLAG_MAGIC`: unknown");
    kerr_clear(&err);
}

/* ---- sysctls ---- */

TEST(sysctl_names_validated)
{
    struct kerr *err = NULL;
    char *path = oci_sysctl_path("net.ipv4.ip_forward", &err);
    CHECK_STR(path, "net/ipv4/ip_forward");
    free(path);
    path = oci_sysctl_path("kernel.shmmax", &err);
    CHECK_STR(path, "kernel/shmmax");
    free(path);
    path = oci_sysctl_path("fs.mqueue.msg_max", &err);
    CHECK_STR(path, "fs/mqueue/msg_max");
    free(path);

    const struct {
        const char *key, *message;
    } bad[] = {
        {"vm.swappiness", "sysctl `vm.swappiness`: not allowed in a container"},
        {"kernel.panic", "sysctl `kernel.panic`: not allowed in a container"},
        {"kernel.hostname", "sysctl `kernel.hostname`: not allowed, it conflicts"},
        {"net..ipv4", "sysctl `net..ipv4`: invalid name"},
        {".net.ipv4", "sysctl `.net.ipv4`: invalid name"},
        {"net.ipv4.", "sysctl `net.ipv4.`: invalid name"},
        {"net/../../kernel/panic", "sysctl `net/../../kernel/panic`: invalid name"},
        {"", "sysctl ``: empty name"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        CHECK(oci_sysctl_path(bad[i].key, &err) == NULL);
        CHECK_CONTAINS(err->msg, bad[i].message);
        kerr_clear(&err);
    }
}

static int read_proc_sys(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, size - 1) : -1;
    if (fd >= 0)
        close(fd);
    buf[n > 0 ? n : 0] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    return n > 0 ? 0 : -1;
}

/* In fresh net and IPC namespaces (so the host keeps its values). */
static int sysctls_in_namespaces(const void *arg, char *report, size_t size)
{
    const Grpc__Linux *linux_ = arg;
    if (unshare(CLONE_NEWNET | CLONE_NEWIPC) < 0)
        return reportf(report, size, "unshare: %s", strerror(errno)), 1;
    struct kerr *err = NULL;
    if (oci_apply_rootfs_policy(linux_, &err) < 0) {
        reportf(report, size, "error: %s", err->msg);
        kerr_free(err);
        return 1;
    }
    char shmmax[64], forward[64];
    read_proc_sys("/proc/sys/kernel/shmmax", shmmax, sizeof(shmmax));
    read_proc_sys("/proc/sys/net/ipv4/ip_forward", forward, sizeof(forward));
    return reportf(report, size, "shmmax %s ip_forward %s", shmmax, forward);
}

TEST(sysctls_applied_in_namespaces)
{
    NEED_ROOT();
    Grpc__Linux__SysctlEntry shmmax = GRPC__LINUX__SYSCTL_ENTRY__INIT;
    Grpc__Linux__SysctlEntry forward = GRPC__LINUX__SYSCTL_ENTRY__INIT;
    shmmax.key = "kernel.shmmax", shmmax.value = "123456789";
    forward.key = "net.ipv4.ip_forward", forward.value = "1";
    Grpc__Linux__SysctlEntry *entries[] = {&shmmax, &forward};
    Grpc__Linux linux_ = GRPC__LINUX__INIT;
    linux_.n_sysctl = 2, linux_.sysctl = entries;
    struct child_result r;
    CHECK(run_child(sysctls_in_namespaces, &linux_, &r) == 0);
    CHECK_CHILD_OK(r);
    CHECK_STR(r.report, "shmmax 123456789 ip_forward 1");
}

TEST(sysctl_not_allowed_fails_by_name)
{
    NEED_ROOT();
    Grpc__Linux__SysctlEntry swappiness = GRPC__LINUX__SYSCTL_ENTRY__INIT;
    swappiness.key = "vm.swappiness", swappiness.value = "10";
    Grpc__Linux__SysctlEntry *entries[] = {&swappiness};
    Grpc__Linux linux_ = GRPC__LINUX__INIT;
    linux_.n_sysctl = 1, linux_.sysctl = entries;
    struct child_result r;
    CHECK(run_child(sysctls_in_namespaces, &linux_, &r) == 0);
    CHECK(!exited_ok(&r));
    CHECK_CONTAINS(r.report, "sysctl `vm.swappiness`: not allowed in a container");
}

/* ---- readonly and masked paths, on a temporary tree ---- */

struct temp_tree {
    char dir[64];
};

static void temp_tree_remove(struct temp_tree *t)
{
    if (t->dir[0] == '\0')
        return;
    cleanup_free char *cmd = xasprintf("rm -rf '%s'", t->dir);
    (void)!system(cmd);
}
#define cleanup_temp_tree __attribute__((cleanup(temp_tree_remove)))

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    int rc = fd_write_full(fd, text, strlen(text));
    close(fd);
    return rc;
}

static int temp_tree_make(struct temp_tree *t)
{
    strcpy(t->dir, "/tmp/kata-oci-security.XXXXXX");
    if (mkdtemp(t->dir) == NULL)
        return -1;
    cleanup_free char *secret = xasprintf("%s/secret", t->dir);
    cleanup_free char *secretdir = xasprintf("%s/secretdir", t->dir);
    cleanup_free char *inner = xasprintf("%s/secretdir/inner", t->dir);
    cleanup_free char *ro = xasprintf("%s/ro", t->dir);
    cleanup_free char *plain = xasprintf("%s/plain", t->dir);
    if (write_file(secret, "top secret") < 0 || mkdir(secretdir, 0755) < 0 ||
        write_file(inner, "inner secret") < 0 || mkdir(ro, 0755) < 0 || mkdir(plain, 0755) < 0)
        return -1;
    return 0;
}

static int private_mount_ns(char *report, size_t size)
{
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return reportf(report, size, "private mount namespace: %s", strerror(errno)), 1;
    return 0;
}

static int masked_paths_child(const void *arg, char *report, size_t size)
{
    const char *dir = arg;
    if (private_mount_ns(report, size) != 0)
        return 1;
    cleanup_free char *secret = xasprintf("%s/secret", dir);
    cleanup_free char *secretdir = xasprintf("%s/secretdir", dir);
    cleanup_free char *missing = xasprintf("%s/missing", dir);
    char *masked[] = {secret, secretdir, missing};
    Grpc__Linux linux_ = GRPC__LINUX__INIT;
    linux_.n_maskedpaths = 3, linux_.maskedpaths = masked;
    struct kerr *err = NULL;
    if (oci_apply_rootfs_policy(&linux_, &err) < 0) {
        reportf(report, size, "error: %s", err->msg);
        kerr_free(err);
        return 1;
    }
    char buf[64] = "";
    int fd = open(secret, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    if (fd >= 0)
        close(fd);
    struct stat st;
    stat(secret, &st);
    cleanup_free char *inner = xasprintf("%s/inner", secretdir);
    int inner_visible = access(inner, F_OK) == 0;
    cleanup_free char *create = xasprintf("%s/new", secretdir);
    int created = write_file(create, "x") == 0;
    int create_errno = errno;
    return reportf(report, size, "secret read %zd chr %d inner %d create %d %s", n,
                   S_ISCHR(st.st_mode) ? 1 : 0, inner_visible, created, strerror(create_errno));
}

TEST(masked_paths_hide_files_and_directories)
{
    NEED_ROOT();
    cleanup_temp_tree struct temp_tree tree = {""};
    CHECK(temp_tree_make(&tree) == 0);
    struct child_result r;
    CHECK(run_child(masked_paths_child, tree.dir, &r) == 0);
    CHECK_CHILD_OK(r);
    CHECK_STR(r.report, "secret read 0 chr 1 inner 0 create 0 Read-only file system");
    /* The host's view is untouched. */
    cleanup_free char *inner = xasprintf("%s/secretdir/inner", tree.dir);
    CHECK(access(inner, F_OK) == 0);
}

static int readonly_paths_child(const void *arg, char *report, size_t size)
{
    const char *dir = arg;
    if (private_mount_ns(report, size) != 0)
        return 1;
    cleanup_free char *ro = xasprintf("%s/ro", dir);
    cleanup_free char *plain = xasprintf("%s/plain", dir);
    cleanup_free char *missing = xasprintf("%s/missing", dir);
    /* ro is its own mount with nosuid,nodev,noexec: they must survive. */
    if (mount("tmpfs", ro, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755") < 0)
        return reportf(report, size, "mount tmpfs: %s", strerror(errno)), 1;
    char *readonly[] = {ro, plain, missing};
    Grpc__Linux linux_ = GRPC__LINUX__INIT;
    linux_.n_readonlypaths = 3, linux_.readonlypaths = readonly;
    struct kerr *err = NULL;
    if (oci_apply_rootfs_policy(&linux_, &err) < 0) {
        reportf(report, size, "error: %s", err->msg);
        kerr_free(err);
        return 1;
    }
    struct statvfs ro_st, plain_st;
    statvfs(ro, &ro_st);
    statvfs(plain, &plain_st);
    cleanup_free char *ro_file = xasprintf("%s/file", ro);
    cleanup_free char *plain_file = xasprintf("%s/file", plain);
    int ro_write = write_file(ro_file, "x") == 0 ? 0 : errno;
    int plain_write = write_file(plain_file, "x") == 0 ? 0 : errno;
    unsigned long want = ST_RDONLY | ST_NOSUID | ST_NODEV | ST_NOEXEC;
    return reportf(report, size, "ro flags %d write %s plain rdonly %d write %s",
                   (ro_st.f_flag & want) == want, strerror(ro_write),
                   (plain_st.f_flag & ST_RDONLY) != 0, strerror(plain_write));
}

TEST(readonly_paths_remounted_keeping_flags)
{
    NEED_ROOT();
    cleanup_temp_tree struct temp_tree tree = {""};
    CHECK(temp_tree_make(&tree) == 0);
    struct child_result r;
    CHECK(run_child(readonly_paths_child, tree.dir, &r) == 0);
    CHECK_CHILD_OK(r);
    CHECK_STR(r.report, "ro flags 1 write Read-only file system plain rdonly 1 write Read-only "
                        "file system");
    /* Outside the child's namespace the tree stays writable. */
    cleanup_free char *plain_file = xasprintf("%s/plain/file", tree.dir);
    CHECK(write_file(plain_file, "x") == 0);
}

/* runc's order: with no_new_privileges the filter loads last, after the
 * user switch; without it the filter loads first, so a profile that denies
 * setgroups breaks the user switch (as it does under runc). */
TEST(seccomp_order_follows_no_new_privileges)
{
    NEED_ROOT();
    char *names[] = {"setgroups"};
    Grpc__LinuxSyscall rule = GRPC__LINUX_SYSCALL__INIT;
    rule.n_names = 1, rule.names = names, rule.action = "SCMP_ACT_ERRNO";
    Grpc__LinuxSyscall *rules[] = {&rule};
    Grpc__LinuxSeccomp seccomp = GRPC__LINUX_SECCOMP__INIT;
    seccomp.defaultaction = "SCMP_ACT_ALLOW", seccomp.n_syscalls = 1, seccomp.syscalls = rules;
    Grpc__Linux linux_ = GRPC__LINUX__INIT;
    linux_.seccomp = &seccomp;
    Grpc__User user = GRPC__USER__INIT;
    user.uid = 1000, user.gid = 1000;
    Grpc__Process process = GRPC__PROCESS__INIT;
    process.user = &user, process.nonewprivileges = true;
    struct process_case c = {&process, &linux_, observe_nnp};
    struct child_result r;
    CHECK(run_child(apply_and_observe, &c, &r) == 0);
    CHECK_CHILD_OK(r);
    CHECK_STR(r.report, "nnp 1 seccomp 2");

    process.nonewprivileges = false;
    CHECK(run_child(apply_and_observe, &c, &r) == 0);
    CHECK(!exited_ok(&r));
    CHECK_CONTAINS(r.report, "user: set 0 additional groups: Operation not permitted");
}

/* The agent compiles a profile before cloning: a bad one fails there, a
 * good one is compiled once per content and the child only loads it. */
TEST(seccomp_prepare_caches_by_content)
{
    struct seccomp_fixture f;
    seccomp_fixture_init(&f);
    struct kerr *err = NULL;
    size_t before = oci_seccomp_cache_size();
    CHECK(oci_seccomp_prepare(&f.linux_, &err) == 0);
    size_t after_first = oci_seccomp_cache_size();
    CHECK(oci_seccomp_prepare(&f.linux_, &err) == 0);
    CHECK_INT(oci_seccomp_cache_size(), after_first);
    CHECK(after_first == before + 1 || after_first == 8);

    Grpc__Process process = GRPC__PROCESS__INIT;
    process.nonewprivileges = true;
    struct process_case c = {&process, &f.linux_, observe_denials};
    struct child_result r;
    CHECK(run_child(apply_and_observe, &c, &r) == 0);
    CHECK_CHILD_OK(r);
    CHECK_STR(r.report, "getcwd denied 42 mkdir -1 1 umask -1 7 -1 7 0 nnp 1 seccomp 2");

    f.getcwd_rule.errnoret = 43; /* other content, other entry */
    CHECK(oci_seccomp_prepare(&f.linux_, &err) == 0);
    CHECK(oci_seccomp_cache_size() == after_first + 1 || oci_seccomp_cache_size() == 8);

    f.mkdir_rule.action = "SCMP_ACT_NOPE";
    CHECK(oci_seccomp_prepare(&f.linux_, &err) < 0);
    CHECK_CONTAINS(err->msg, "seccomp syscall `mkdir`: action `SCMP_ACT_NOPE`: unknown");
    kerr_clear(&err);
    Grpc__Linux no_profile = GRPC__LINUX__INIT;
    CHECK(oci_seccomp_prepare(&no_profile, &err) == 0);
    CHECK(oci_seccomp_prepare(NULL, &err) == 0);
}

/* runc's -ENOSYS stub: with a refusing default action, a syscall numbered
 * above every syscall the profile names (openat, 257 > exit_group, 231)
 * gets ENOSYS so a newer libc falls back; older unnamed ones (getppid, 110)
 * get the default action. */
static int observe_enosys(char *report, size_t size)
{
    errno = 0;
    long older = syscall(SYS_getppid);
    int older_errno = errno;
    errno = 0;
    long newer = syscall(SYS_openat, AT_FDCWD, "/", O_RDONLY);
    int newer_errno = errno;
    return reportf(report, size, "getppid %ld %s openat %ld %s", older, strerror(older_errno),
                   newer, strerror(newer_errno));
}

TEST(seccomp_newer_syscalls_get_enosys)
{
    char *names[] = {"write", "exit_group", "exit"};
    Grpc__LinuxSyscall allow = GRPC__LINUX_SYSCALL__INIT;
    allow.n_names = 3, allow.names = names, allow.action = "SCMP_ACT_ALLOW";
    Grpc__LinuxSyscall *rules[] = {&allow};
    char *arches[] = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"};
    Grpc__LinuxSeccomp seccomp = GRPC__LINUX_SECCOMP__INIT;
    seccomp.defaultaction = "SCMP_ACT_ERRNO", seccomp.n_syscalls = 1, seccomp.syscalls = rules;
    seccomp.n_architectures = 3, seccomp.architectures = arches;
    Grpc__Linux linux_ = GRPC__LINUX__INIT;
    linux_.seccomp = &seccomp;
    Grpc__Process process = GRPC__PROCESS__INIT;
    process.nonewprivileges = true;
    struct process_case c = {&process, &linux_, observe_enosys};
    struct child_result r;
    CHECK(run_child(apply_and_observe, &c, &r) == 0);
    CHECK_CHILD_OK(r);
    CHECK_STR(r.report, "getppid -1 Operation not permitted openat -1 Function not implemented");

    /* Only x32 listed: x86_64 calls are not the stub's business (libseccomp's
     * filter refuses the wrong architecture), the x32 limit applies to x32. */
    struct sock_filter *stub = NULL;
    size_t n = 0;
    struct kerr *err = NULL;
    seccomp.n_architectures = 1, seccomp.architectures = &arches[2];
    CHECK(oci_seccomp_enosys_stub(&seccomp, SCMP_ACT_ERRNO(EPERM), &stub, &n, &err) == 0);
    CHECK(n > 0);
    free(stub);
    /* An allowing default needs no stub. */
    CHECK(oci_seccomp_enosys_stub(&seccomp, SCMP_ACT_ALLOW, &stub, &n, &err) == 0);
    CHECK_INT(n, 0);
}
