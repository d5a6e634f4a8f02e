/* The OCI linux.seccomp profile as a libseccomp filter, the way runc builds
 * it (libcontainer/seccomp/seccomp_linux.go):
 *   - the default action and each rule's action from "SCMP_ACT_*" names,
 *     SCMP_ACT_ERRNO/SCMP_ACT_TRACE returning errnoRet or EPERM;
 *   - extra architectures from "SCMP_ARCH_*" names;
 *   - syscall names this libseccomp does not know are skipped (profiles
 *     list syscalls of newer kernels and other architectures), and rules
 *     whose action is the default action are skipped (libseccomp refuses
 *     them and they change nothing);
 *   - argument conditions are ANDed in one rule, except when one argument
 *     index appears more than once: then each condition is its own rule
 *     (ORed), since libseccomp cannot AND two tests of one argument;
 *   - no_new_privs is NOT set by the filter load: the caller sets it from
 *     the spec, and without it the load needs CAP_SYS_ADMIN.
 *   - with a default action that refuses, syscalls newer than any the
 *     profile names return ENOSYS (runc's stub, seccomp_enosys.c);
 * libseccomp compiles the profile to BPF once per distinct profile
 * (a Docker-sized profile for x86_64/x86/x32 takes ~15 ms; see
 * tests/tools/seccomp-bench); the agent calls oci_seccomp_prepare before
 * cloning the container process, so the child, which inherits the cache,
 * only loads the program with seccomp(2). */
#include <ctype.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "oci_security_internal.h"
#include "util.h"

struct seccomp_action_name {
    const char *name;
    uint32_t action; /* ERRNO and TRACE get their return code added */
};

static const struct seccomp_action_name seccomp_actions[] = {
    {"SCMP_ACT_KILL", SCMP_ACT_KILL},
    {"SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD},
    {"SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS},
    {"SCMP_ACT_TRAP", SCMP_ACT_TRAP},
    {"SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(0)},
    {"SCMP_ACT_TRACE", SCMP_ACT_TRACE(0)},
    {"SCMP_ACT_ALLOW", SCMP_ACT_ALLOW},
    {"SCMP_ACT_LOG", SCMP_ACT_LOG},
};

struct seccomp_compare_name {
    const char *name;
    enum scmp_compare op;
};

static const struct seccomp_compare_name seccomp_compares[] = {
    {"SCMP_CMP_NE", SCMP_CMP_NE},
    {"SCMP_CMP_LT", SCMP_CMP_LT},
    {"SCMP_CMP_LE", SCMP_CMP_LE},
    {"SCMP_CMP_EQ", SCMP_CMP_EQ},
    {"SCMP_CMP_GE", SCMP_CMP_GE},
    {"SCMP_CMP_GT", SCMP_CMP_GT},
    {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
};

struct seccomp_flag_name {
    const char *name;
    unsigned flag; /* seccomp(2)'s SECCOMP_FILTER_FLAG_* */
};

static const struct seccomp_flag_name seccomp_flags[] = {
    {"SECCOMP_FILTER_FLAG_TSYNC", SECCOMP_FILTER_FLAG_TSYNC},
    {"SECCOMP_FILTER_FLAG_LOG", SECCOMP_FILTER_FLAG_LOG},
    {"SECCOMP_FILTER_FLAG_SPEC_ALLOW", SECCOMP_FILTER_FLAG_SPEC_ALLOW},
};

#define SECCOMP_MAX_ARGS 6
/* Distinct profiles kept compiled (the containers of a pod usually share
 * one). */
#define SECCOMP_CACHE_MAX 8

static void cleanup_seccomp_fn(scmp_filter_ctx *ctx)
{
    if (*ctx)
        seccomp_release(*ctx);
}
#define cleanup_seccomp __attribute__((cleanup(cleanup_seccomp_fn)))

/* "SCMP_ACT_ERRNO" with errno_ret -> SCMP_ACT_ERRNO(errno_ret); has_ret
 * false means EPERM, as runc. */
static int seccomp_action_from_name(const char *name, bool has_ret, uint32_t ret, uint32_t *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(seccomp_actions); i++) {
        if (strcmp(name, seccomp_actions[i].name) != 0)
            continue;
        uint32_t action = seccomp_actions[i].action;
        if (action == SCMP_ACT_ERRNO(0))
            action = SCMP_ACT_ERRNO(has_ret ? ret : EPERM);
        else if (action == SCMP_ACT_TRACE(0))
            action = SCMP_ACT_TRACE(has_ret ? ret : EPERM);
        *out = action;
        return 0;
    }
    return -1;
}

static int seccomp_add_architectures(scmp_filter_ctx ctx, const Grpc__LinuxSeccomp *seccomp,
                                     struct kerr **err)
{
    for (size_t i = 0; i < seccomp->n_architectures; i++) {
        const char *oci = seccomp->architectures[i];
        const char *name = strncmp(oci, "SCMP_ARCH_", 10) == 0 ? oci + 10 : oci;
        char lower[32];
        size_t n = 0;
        for (; name[n] && n < sizeof(lower) - 1; n++)
            lower[n] = (char)tolower((unsigned char)name[n]);
        lower[n] = '\0';
        uint32_t arch = seccomp_arch_resolve_name(lower);
        if (arch == 0)
            return kerr_make(err, EINVAL, "seccomp architecture `%s`: unknown", oci);
        int rc = seccomp_arch_add(ctx, arch);
        if (rc < 0 && rc != -EEXIST)
            return kerr_make(err, -rc, "seccomp architecture `%s`: add", oci);
    }
    return 0;
}

static int seccomp_load_flags(const Grpc__LinuxSeccomp *seccomp, unsigned *flags, struct kerr **err)
{
    *flags = 0;
    for (size_t i = 0; i < seccomp->n_flags; i++) {
        const struct seccomp_flag_name *flag = NULL;
        for (size_t j = 0; j < ARRAY_SIZE(seccomp_flags); j++)
            if (strcmp(seccomp->flags[i], seccomp_flags[j].name) == 0)
                flag = &seccomp_flags[j];
        if (flag == NULL)
            return kerr_make(err, EINVAL, "seccomp flag `%s`: unknown", seccomp->flags[i]);
        *flags |= flag->flag;
    }
    return 0;
}

static int seccomp_conditions(const Grpc__LinuxSyscall *call, const char *name,
                              struct scmp_arg_cmp *conds, bool *separate, struct kerr **err)
{
    unsigned counts[SECCOMP_MAX_ARGS] = {0};
    *separate = false;
    if (call->n_args > SECCOMP_MAX_ARGS)
        return kerr_make(err, EINVAL, "seccomp syscall `%s`: %zu argument conditions (at most %d)",
                         name, call->n_args, SECCOMP_MAX_ARGS);
    for (size_t i = 0; i < call->n_args; i++) {
        const Grpc__LinuxSeccompArg *arg = call->args[i];
        if (arg->index >= SECCOMP_MAX_ARGS)
            return kerr_make(err, EINVAL, "seccomp syscall `%s`: argument index %llu (at most %d)",
                             name, (unsigned long long)arg->index, SECCOMP_MAX_ARGS - 1);
        const struct seccomp_compare_name *cmp = NULL;
        for (size_t j = 0; j < ARRAY_SIZE(seccomp_compares); j++)
            if (strcmp(arg->op, seccomp_compares[j].name) == 0)
                cmp = &seccomp_compares[j];
        if (cmp == NULL)
            return kerr_make(err, EINVAL, "seccomp syscall `%s`: operator `%s`: unknown", name,
                             arg->op);
        if (++counts[arg->index] > 1)
            *separate = true;
        conds[i] = (struct scmp_arg_cmp){.arg = (unsigned)arg->index,
                                         .op = cmp->op,
                                         .datum_a = arg->value,
                                         .datum_b = arg->valuetwo};
    }
    return 0;
}

static int seccomp_add_syscall(scmp_filter_ctx ctx, const Grpc__LinuxSyscall *call,
                               uint32_t default_action, struct kerr **err)
{
    uint32_t action;
    const char *first = call->n_names ? call->names[0] : "";
    bool has_ret = call->errno_ret_case == GRPC__LINUX_SYSCALL__ERRNO_RET_ERRNORET;
    if (seccomp_action_from_name(call->action, has_ret, has_ret ? call->errnoret : 0, &action) < 0)
        return kerr_make(err, EINVAL, "seccomp syscall `%s`: action `%s`: unknown", first,
                         call->action);
    if (action == default_action)
        return 0;

    for (size_t i = 0; i < call->n_names; i++) {
        const char *name = call->names[i];
        int nr = seccomp_syscall_resolve_name(name);
        if (nr == __NR_SCMP_ERROR) {
            log_debug("seccomp: syscall `%s` unknown here, skipped", name);
            continue;
        }
        struct scmp_arg_cmp conds[SECCOMP_MAX_ARGS];
        bool separate;
        if (seccomp_conditions(call, name, conds, &separate, err) < 0)
            return -1;
        int rc;
        if (!separate) {
            rc = seccomp_rule_add_array(ctx, action, nr, (unsigned)call->n_args, conds);
        } else {
            rc = 0;
            for (size_t j = 0; j < call->n_args && rc == 0; j++)
                rc = seccomp_rule_add_array(ctx, action, nr, 1, &conds[j]);
        }
        if (rc < 0)
            return kerr_make(err, -rc, "seccomp syscall `%s`: add rule `%s`", name, call->action);
    }
    return 0;
}

/* A compiled profile: libseccomp's BPF and the seccomp(2) flags, cached
 * by the profile's packed bytes. */
struct seccomp_compiled {
    uint8_t *key;
    size_t key_len;
    struct sock_filter *insns;
    unsigned short n_insns;
    unsigned flags;
};

static struct seccomp_compiled seccomp_cache[SECCOMP_CACHE_MAX];
static size_t seccomp_cache_used, seccomp_cache_next;

static void seccomp_compiled_clear(struct seccomp_compiled *c)
{
    free(c->key);
    free(c->insns);
    *c = (struct seccomp_compiled){0};
}

/* libseccomp 2.5 exports BPF only to a file descriptor.  The -ENOSYS stub
 * goes in front. */
static int seccomp_export(scmp_filter_ctx ctx, const struct sock_filter *stub, size_t n_stub,
                          struct seccomp_compiled *out, struct kerr **err)
{
    cleanup_close int fd = memfd_create("seccomp-bpf", MFD_CLOEXEC);
    if (fd < 0)
        return kerr_make(err, errno, "seccomp: memfd for the BPF program");
    int rc = seccomp_export_bpf(ctx, fd);
    if (rc < 0)
        return kerr_make(err, -rc, "seccomp: generate the BPF program");
    off_t size = lseek(fd, 0, SEEK_END);
    size_t n_filter = size > 0 ? (size_t)size / sizeof(struct sock_filter) : 0;
    if (size <= 0 || (size_t)size % sizeof(struct sock_filter) != 0 ||
        n_filter + n_stub > BPF_MAXINSNS)
        return kerr_make(err, EINVAL, "seccomp: BPF program of %zu instructions (at most %d)",
                         n_filter + n_stub, BPF_MAXINSNS);
    out->insns = xmalloc((n_stub + n_filter) * sizeof(struct sock_filter));
    if (n_stub)
        memcpy(out->insns, stub, n_stub * sizeof(struct sock_filter));
    if (pread(fd, out->insns + n_stub, (size_t)size, 0) != size)
        return kerr_make(err, errno ? errno : EIO, "seccomp: read the BPF program");
    out->n_insns = (unsigned short)(n_stub + n_filter);
    return 0;
}

static int seccomp_compile(const Grpc__LinuxSeccomp *seccomp, struct seccomp_compiled *out,
                           struct kerr **err)
{
    uint32_t default_action;
    if (seccomp_action_from_name(seccomp->defaultaction, false, 0, &default_action) < 0)
        return kerr_make(err, EINVAL, "seccomp default action `%s`: unknown",
                         seccomp->defaultaction);
    if (seccomp_load_flags(seccomp, &out->flags, err) < 0)
        return -1;
    cleanup_seccomp scmp_filter_ctx ctx = seccomp_init(default_action);
    if (ctx == NULL)
        return kerr_make(err, EINVAL, "seccomp: create a filter with default action `%s`",
                         seccomp->defaultaction);
    if (seccomp_add_architectures(ctx, seccomp, err) < 0)
        return -1;
    for (size_t i = 0; i < seccomp->n_syscalls; i++)
        if (seccomp_add_syscall(ctx, seccomp->syscalls[i], default_action, err) < 0)
            return -1;
    cleanup_free struct sock_filter *stub = NULL;
    size_t n_stub = 0;
    if (oci_seccomp_enosys_stub(seccomp, default_action, &stub, &n_stub, err) < 0)
        return -1;
    return seccomp_export(ctx, stub, n_stub, out, err);
}

/* The cached compilation of this profile, compiling it on a miss (the
 * oldest entry makes room when the cache is full). */
static const struct seccomp_compiled *seccomp_lookup(const Grpc__LinuxSeccomp *seccomp,
                                                     struct kerr **err)
{
    size_t key_len = grpc__linux_seccomp__get_packed_size(seccomp);
    cleanup_free uint8_t *key = xmalloc(key_len ? key_len : 1);
    grpc__linux_seccomp__pack(seccomp, key);
    for (size_t i = 0; i < seccomp_cache_used; i++)
        if (seccomp_cache[i].key_len == key_len && memcmp(seccomp_cache[i].key, key, key_len) == 0)
            return &seccomp_cache[i];

    struct seccomp_compiled compiled = {0};
    if (seccomp_compile(seccomp, &compiled, err) < 0) {
        seccomp_compiled_clear(&compiled);
        return NULL;
    }
    compiled.key = steal_pointer(&key);
    compiled.key_len = key_len;
    struct seccomp_compiled *slot = &seccomp_cache[seccomp_cache_next];
    seccomp_cache_next = (seccomp_cache_next + 1) % SECCOMP_CACHE_MAX;
    if (seccomp_cache_used < SECCOMP_CACHE_MAX)
        seccomp_cache_used++;
    seccomp_compiled_clear(slot);
    *slot = compiled;
    return slot;
}

int oci_seccomp_prepare(const Grpc__Linux *linux_, struct kerr **err)
{
    if (linux_ == NULL || linux_->seccomp == NULL)
        return 0;
    return seccomp_lookup(linux_->seccomp, err) ? 0 : -1;
}

size_t oci_seccomp_cache_size(void)
{
    return seccomp_cache_used;
}

int oci_seccomp_load(const Grpc__LinuxSeccomp *seccomp, struct kerr **err)
{
    if (seccomp == NULL)
        return 0;
    const struct seccomp_compiled *compiled = seccomp_lookup(seccomp, err);
    if (compiled == NULL)
        return -1;
    struct sock_fprog program = {.len = compiled->n_insns, .filter = compiled->insns};
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, compiled->flags, &program) != 0)
        return kerr_make(err, errno, "seccomp: load the filter (%zu rules, %u instructions)",
                         seccomp->n_syscalls, compiled->n_insns);
    return 0;
}
