/* runc's -ENOSYS stub (libcontainer/seccomp/patchbpf): a profile written
 * before a syscall existed cannot name it, and the default action (EPERM,
 * usually) would tell a newer libc that the call exists but is refused, so
 * it never falls back (glibc's clone3 -> clone is the famous case).  For
 * every architecture of the profile, a syscall numbered above the largest
 * one the profile names returns ENOSYS instead.  The stub goes in front of
 * libseccomp's program, which starts by loading the architecture itself:
 *
 *         ld  [arch]
 *         jeq AUDIT_ARCH_X86_64 -> x86_64      (when x86_64 or x32 is listed)
 *         jeq AUDIT_ARCH_I386   -> i386        (when x86 is listed)
 *         ja  filter
 *   x86_64: ld [nr]
 *         jset 0x40000000 -> x32               (x32 calls carry that bit)
 *         jgt max_x86_64 -> enosys             (or ja filter when not listed)
 *         ja  filter
 *   x32:  jgt max_x32 -> enosys                (or ja filter when not listed)
 *         ja  filter
 *   i386: ld [nr]
 *         jgt max_x86 -> enosys
 *         ja  filter
 *   enosys: ret ERRNO(ENOSYS)
 *   filter: ...
 *
 * Not added when the default action allows (ALLOW, LOG): nothing to fix. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stddef.h>
#include <string.h>

#include "oci_security_internal.h"
#include "util.h"

#define X32_SYSCALL_BIT 0x40000000u

enum stub_label { L_FILTER, L_ENOSYS, L_X86_64, L_X32, L_I386, L_COUNT };

struct stub {
    struct sock_filter insns[32];
    size_t n;
    size_t label[L_COUNT];
    /* Jumps to resolve: instruction, label, and which field. */
    struct {
        size_t at;
        enum stub_label to;
        char field; /* 't' jt, 'f' jf, 'k' ja */
    } fixups[32];
    size_t n_fixups;
};

static void stub_emit(struct stub *s, uint16_t code, uint32_t k)
{
    s->insns[s->n++] = (struct sock_filter){.code = code, .k = k};
}

static void stub_jump(struct stub *s, uint16_t code, uint32_t k, enum stub_label jt,
                      enum stub_label jf)
{
    if (code == (BPF_JMP | BPF_JA)) {
        s->fixups[s->n_fixups++] = (typeof(s->fixups[0])){s->n, jt, 'k'};
    } else {
        s->fixups[s->n_fixups++] = (typeof(s->fixups[0])){s->n, jt, 't'};
        if (jf != L_COUNT)
            s->fixups[s->n_fixups++] = (typeof(s->fixups[0])){s->n, jf, 'f'};
    }
    stub_emit(s, code, k);
}

static void stub_label(struct stub *s, enum stub_label label)
{
    s->label[label] = s->n;
}

/* Largest syscall number the profile names for arch, 0 when none. */
static uint32_t largest_named(const Grpc__LinuxSeccomp *seccomp, uint32_t arch)
{
    uint32_t largest = 0;
    for (size_t i = 0; i < seccomp->n_syscalls; i++)
        for (size_t j = 0; j < seccomp->syscalls[i]->n_names; j++) {
            int nr = seccomp_syscall_resolve_name_arch(arch, seccomp->syscalls[i]->names[j]);
            if (nr >= 0 && (uint32_t)nr > largest)
                largest = (uint32_t)nr;
        }
    return largest;
}

static bool lists_arch(const Grpc__LinuxSeccomp *seccomp, const char *name)
{
    for (size_t i = 0; i < seccomp->n_architectures; i++)
        if (strcmp(seccomp->architectures[i], name) == 0)
            return true;
    return false;
}

/* jgt max -> enosys, then ja filter; with no syscall named for the
 * architecture, straight to the filter. */
static void stub_limit(struct stub *s, uint32_t max)
{
    if (max)
        stub_jump(s, BPF_JMP | BPF_JGT | BPF_K, max, L_ENOSYS, L_COUNT);
    stub_jump(s, BPF_JMP | BPF_JA, 0, L_FILTER, L_COUNT);
}

int oci_seccomp_enosys_stub(const Grpc__LinuxSeccomp *seccomp, uint32_t default_action,
                            struct sock_filter **insns, size_t *n, struct kerr **err)
{
    *insns = NULL;
    *n = 0;
    if (default_action == SCMP_ACT_ALLOW || default_action == SCMP_ACT_LOG)
        return 0;
    /* No architecture listed: the native one, as libseccomp does. */
    bool x86_64 = seccomp->n_architectures == 0 || lists_arch(seccomp, "SCMP_ARCH_X86_64");
    bool x32 = lists_arch(seccomp, "SCMP_ARCH_X32");
    bool i386 = lists_arch(seccomp, "SCMP_ARCH_X86");
    uint32_t max_x86_64 = x86_64 ? largest_named(seccomp, SCMP_ARCH_X86_64) : 0;
    uint32_t max_x32 = x32 ? largest_named(seccomp, SCMP_ARCH_X32) : 0;
    uint32_t max_i386 = i386 ? largest_named(seccomp, SCMP_ARCH_X86) : 0;
    if (max_x86_64 == 0 && max_x32 == 0 && max_i386 == 0)
        return 0;

    struct stub s = {0};
    stub_emit(&s, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    if (max_x86_64 || max_x32)
        stub_jump(&s, BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, L_X86_64, L_COUNT);
    if (max_i386)
        stub_jump(&s, BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_I386, L_I386, L_COUNT);
    stub_jump(&s, BPF_JMP | BPF_JA, 0, L_FILTER, L_COUNT);
    if (max_x86_64 || max_x32) {
        stub_label(&s, L_X86_64);
        stub_emit(&s, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
        stub_jump(&s, BPF_JMP | BPF_JSET | BPF_K, X32_SYSCALL_BIT, L_X32, L_COUNT);
        stub_limit(&s, max_x86_64);
        stub_label(&s, L_X32);
        stub_limit(&s, max_x32);
    }
    if (max_i386) {
        stub_label(&s, L_I386);
        stub_emit(&s, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
        stub_limit(&s, max_i386);
    }
    stub_label(&s, L_ENOSYS);
    stub_emit(&s, BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA));
    stub_label(&s, L_FILTER);

    for (size_t i = 0; i < s.n_fixups; i++) {
        size_t at = s.fixups[i].at, to = s.label[s.fixups[i].to];
        if (to <= at || to - at - 1 > 255)
            return kerr_make(err, EINVAL, "seccomp: -ENOSYS stub jump %zu -> %zu", at, to);
        uint8_t off = (uint8_t)(to - at - 1);
        if (s.fixups[i].field == 't')
            s.insns[at].jt = off;
        else if (s.fixups[i].field == 'f')
            s.insns[at].jf = off;
        else
            s.insns[at].k = off;
    }
    *insns = xmalloc(s.n * sizeof(**insns));
    memcpy(*insns, s.insns, s.n * sizeof(**insns));
    *n = s.n;
    return 0;
}
