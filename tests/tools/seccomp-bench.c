/* seccomp-bench: how long the agent takes to build and load a Docker-sized
 * seccomp profile (oci_seccomp_load), the step every container start pays
 * when a profile is set.  The profile: default SCMP_ACT_ERRNO, architectures
 * x86_64/x86/x32, one SCMP_ACT_ALLOW rule naming every x86_64 syscall this
 * libseccomp knows except a Docker-like denylist, and personality() allowed
 * for three argument values (ORed conditions on one argument).
 *
 *     build/tests/tools/seccomp-bench [RUNS [ARCHES]]
 *
 * RUNS defaults to 20 (each run and the median are printed); ARCHES (1-3,
 * default 3) keeps the first ARCHES of x86_64, x86, x32.  With
 * KATA_SECCOMP_PREPARED=1 the parent compiles the profile first
 * (oci_seccomp_prepare, as the agent does) and children only load it.
 *
 * Each run is a fresh child (a filter cannot be unloaded), timed inside the
 * child around oci_seccomp_load only. */
#include "oci_security.h"
#include "oci_security_internal.h"
#include "util.h"

#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *const denied[] = {
    "acct",
    "add_key",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "finit_module",
    "get_kernel_syms",
    "init_module",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mount",
    "move_pages",
    "nfsservctl",
    "open_by_handle_at",
    "perf_event_open",
    "pivot_root",
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
    "query_module",
    "quotactl",
    "reboot",
    "request_key",
    "set_mempolicy",
    "setns",
    "settimeofday",
    "swapoff",
    "swapon",
    "sysfs",
    "umount2",
    "unshare",
    "uselib",
    "userfaultfd",
    "ustat",
    "vm86",
    "vm86old",
    "personality",
};

static bool is_denied(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(denied); i++)
        if (strcmp(name, denied[i]) == 0)
            return true;
    return false;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 20;
    if (runs < 1)
        runs = 1;

    /* Every x86_64 syscall name libseccomp knows. */
    char **names = xcalloc(1024, sizeof(*names));
    size_t n_names = 0;
    for (int nr = 0; nr < 1024; nr++) {
        char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, nr);
        if (name == NULL)
            continue;
        if (is_denied(name))
            free(name);
        else
            names[n_names++] = name;
    }

    Grpc__LinuxSyscall allow = GRPC__LINUX_SYSCALL__INIT;
    allow.n_names = n_names, allow.names = names, allow.action = "SCMP_ACT_ALLOW";
    char *personality[] = {"personality"};
    Grpc__LinuxSeccompArg persona[3];
    Grpc__LinuxSeccompArg *persona_args[3];
    const uint64_t values[] = {0x0, 0x8, 0xffffffff};
    for (int i = 0; i < 3; i++) {
        persona[i] = (Grpc__LinuxSeccompArg)GRPC__LINUX_SECCOMP_ARG__INIT;
        persona[i].index = 0, persona[i].value = values[i], persona[i].op = "SCMP_CMP_EQ";
        persona_args[i] = &persona[i];
    }
    Grpc__LinuxSyscall persona_rule = GRPC__LINUX_SYSCALL__INIT;
    persona_rule.n_names = 1, persona_rule.names = personality;
    persona_rule.action = "SCMP_ACT_ALLOW", persona_rule.n_args = 3;
    persona_rule.args = persona_args;
    Grpc__LinuxSyscall *rules[] = {&allow, &persona_rule};
    char *arches[] = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"};
    Grpc__LinuxSeccomp profile = GRPC__LINUX_SECCOMP__INIT;
    profile.defaultaction = "SCMP_ACT_ERRNO";
    int n_arches = argc > 2 ? atoi(argv[2]) : 3;
    if (n_arches < 1 || n_arches > 3)
        n_arches = 3;
    profile.n_architectures = (size_t)n_arches, profile.architectures = arches;
    profile.n_syscalls = 2, profile.syscalls = rules;

    const char *prepared = getenv("KATA_SECCOMP_PREPARED");
    bool prepare = prepared && strcmp(prepared, "1") == 0;
    if (prepare) {
        Grpc__Linux linux_ = GRPC__LINUX__INIT;
        linux_.seccomp = &profile;
        struct kerr *err = NULL;
        uint64_t start = now_ns();
        if (oci_seccomp_prepare(&linux_, &err) < 0) {
            fprintf(stderr, "seccomp-bench: %s\n", err->msg);
            return 1;
        }
        printf("prepare (compile once in the parent): %.3f ms\n", (double)(now_ns() - start) / 1e6);
    }

    uint64_t *times = xcalloc((size_t)runs, sizeof(*times));
    for (int run = 0; run < runs; run++) {
        int fds[2];
        if (pipe(fds) < 0)
            return 1;
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
            struct kerr *err = NULL;
            uint64_t start = now_ns();
            int rc = oci_seccomp_load(&profile, &err);
            uint64_t took = now_ns() - start;
            if (rc < 0) {
                fprintf(stderr, "seccomp-bench: %s\n", err->msg);
                _exit(1);
            }
            (void)!write(fds[1], &took, sizeof(took));
            _exit(0);
        }
        close(fds[1]);
        uint64_t took = 0;
        ssize_t got = read(fds[0], &took, sizeof(took));
        close(fds[0]);
        int status;
        waitpid(pid, &status, 0);
        if (got != sizeof(took) || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            return 1;
        times[run] = took;
        printf("run %2d: %.3f ms\n", run + 1, (double)took / 1e6);
    }
    qsort(times, (size_t)runs, sizeof(*times), compare_u64);
    double median = runs % 2 ? (double)times[runs / 2]
                             : ((double)times[runs / 2 - 1] + (double)times[runs / 2]) / 2;
    printf("seccomp profile: %zu allowed syscalls, %d architectures%s; load median of %d: %.3f ms "
           "(min %.3f, max %.3f)\n",
           n_names, n_arches, prepare ? ", prepared" : ", compiled in the child", runs,
           median / 1e6, (double)times[0] / 1e6, (double)times[runs - 1] / 1e6);
    for (size_t i = 0; i < n_names; i++)
        free(names[i]);
    free(names);
    free(times);
    return 0;
}
