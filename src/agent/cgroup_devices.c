/* The OCI device rules (linux.resources.devices) on cgroup v2: v2 has no
 * devices.allow/deny files; access to device nodes is decided by a
 * BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup (as runc's
 * devicefilter does).  Each requested access bit (mknod, read, write) is
 * decided on its own by the last rule that names the device and that bit;
 * the request passes when every bit does.  The program we generate:
 *
 *     r2 = type (ctx->access_type & 0xffff)   r3 = access (access_type >> 16)
 *     r4 = major                              r5 = minor
 *     for each access bit B:
 *         if (r3 & B) == 0 goto bit_done
 *         for each rule whose access has B, last first:
 *             [type c/b]   if r2 != type goto next_rule
 *             [major >= 0] if r4 != major goto next_rule
 *             [minor >= 0] if r5 != minor goto next_rule
 *             allow: goto bit_done     deny: return 0
 *           next_rule:
 *       bit_done:     (no rule for B: allowed, v1's initial state; specs
 *                      start with "deny a *:* rwm")
 *     return 1
 *
 * A rule matching any device ends its bit's list (what follows would be
 * unreachable, which the verifier refuses).  Updating replaces the program:
 * the new one is attached (BPF_F_ALLOW_MULTI) before the old ones are
 * detached, so there is no window without rules. */
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cgroup.h"
#include "cgroup_internal.h"
#include "util.h"

#define DEVICE_PROG_MAX_OLD 64
/* At most 5 instructions per rule and access bit: keeps every jump within
 * BPF's 16-bit offsets. */
#define DEVICE_RULES_MAX 1024

struct device_rule {
    bool allow;
    int type;      /* BPF_DEVCG_DEV_*, 0 = any */
    int access;    /* BPF_DEVCG_ACC_* bits */
    int64_t major; /* < 0 = any */
    int64_t minor; /* < 0 = any */
};

struct bpf_program {
    struct bpf_insn *insns;
    size_t n, cap;
};

static void emit(struct bpf_program *p, struct bpf_insn insn)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 64;
        p->insns = xrealloc(p->insns, p->cap * sizeof(*p->insns));
    }
    p->insns[p->n++] = insn;
}

#define INSN(c, d, s, o, i)                                                                        \
    ((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})
#define LDX_W(dst, src, off)       INSN(BPF_LDX | BPF_W | BPF_MEM, dst, src, off, 0)
#define ALU32_IMM(op, dst, imm)    INSN(BPF_ALU | (op) | BPF_K, dst, 0, 0, imm)
#define MOV32_REG(dst, src)        INSN(BPF_ALU | BPF_MOV | BPF_X, dst, src, 0, 0)
#define MOV64_IMM(dst, imm)        INSN(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm)
#define JMP_IMM(op, dst, imm, off) INSN(BPF_JMP | (op) | BPF_K, dst, 0, off, imm)
#define EXIT_INSN()                INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

static int parse_rule(const Grpc__LinuxDeviceCgroup *in, struct device_rule *out, struct kerr **err)
{
    const char *type = in->type ? in->type : "";
    const char *access = in->access && *in->access ? in->access : "rwm";
    *out = (struct device_rule){.allow = in->allow, .major = in->major, .minor = in->minor};
    if (strcmp(type, "a") == 0 || *type == '\0')
        out->type = 0;
    else if (strcmp(type, "c") == 0)
        out->type = BPF_DEVCG_DEV_CHAR;
    else if (strcmp(type, "b") == 0)
        out->type = BPF_DEVCG_DEV_BLOCK;
    else
        return kerr_make(err, EINVAL, "device rule type `%s`: unknown", type);
    for (const char *c = access; *c; c++) {
        switch (*c) {
        case 'r':
            out->access |= BPF_DEVCG_ACC_READ;
            break;
        case 'w':
            out->access |= BPF_DEVCG_ACC_WRITE;
            break;
        case 'm':
            out->access |= BPF_DEVCG_ACC_MKNOD;
            break;
        default:
            return kerr_make(err, EINVAL, "device rule access `%s`: unknown", access);
        }
    }
    if (out->major > INT32_MAX || out->minor > INT32_MAX)
        return kerr_make(err, EINVAL, "device rule %lld:%lld: out of range", (long long)out->major,
                         (long long)out->minor);
    return 0;
}

/* One rule's test for the bit being decided; returns true when the rule
 * matches every device (the bit's list ends there).  Allow jumps to the end
 * of the bit's block: those jumps are patched when its end is known. */
static bool emit_rule(struct bpf_program *p, const struct device_rule *r, size_t **patches,
                      size_t *n_patches)
{
    int tests = (r->type ? 1 : 0) + (r->major >= 0 ? 1 : 0) + (r->minor >= 0 ? 1 : 0);
    int len = tests + (r->allow ? 1 : 2);
    size_t end = p->n + (size_t)len; /* next_rule */
#define TO_NEXT() ((int16_t)(end - (p->n + 1)))
    if (r->type)
        emit(p, JMP_IMM(BPF_JNE, BPF_REG_2, r->type, TO_NEXT()));
    if (r->major >= 0)
        emit(p, JMP_IMM(BPF_JNE, BPF_REG_4, (int32_t)r->major, TO_NEXT()));
    if (r->minor >= 0)
        emit(p, JMP_IMM(BPF_JNE, BPF_REG_5, (int32_t)r->minor, TO_NEXT()));
#undef TO_NEXT
    if (r->allow) {
        *patches = xrealloc(*patches, (*n_patches + 1) * sizeof(**patches));
        (*patches)[(*n_patches)++] = p->n;
        emit(p, INSN(BPF_JMP | BPF_JA, 0, 0, 0, 0));
    } else {
        emit(p, MOV64_IMM(BPF_REG_0, 0));
        emit(p, EXIT_INSN());
    }
    return tests == 0;
}

static const int device_access_bits[] = {BPF_DEVCG_ACC_MKNOD, BPF_DEVCG_ACC_READ,
                                         BPF_DEVCG_ACC_WRITE};

static int build_program(Grpc__LinuxDeviceCgroup **rules, size_t n, struct bpf_program *p,
                         struct kerr **err)
{
    if (n > DEVICE_RULES_MAX)
        return kerr_make(err, E2BIG, "device rules: %zu (at most %d)", n, DEVICE_RULES_MAX);
    cleanup_free struct device_rule *parsed = xcalloc(n ? n : 1, sizeof(*parsed));
    for (size_t i = 0; i < n; i++)
        if (parse_rule(rules[i], &parsed[i], err) < 0)
            return -1;
    emit(p, LDX_W(BPF_REG_2, BPF_REG_1, 0));
    emit(p, ALU32_IMM(BPF_AND, BPF_REG_2, 0xffff));
    emit(p, LDX_W(BPF_REG_3, BPF_REG_1, 0));
    emit(p, ALU32_IMM(BPF_RSH, BPF_REG_3, 16));
    emit(p, LDX_W(BPF_REG_4, BPF_REG_1, 4));
    emit(p, LDX_W(BPF_REG_5, BPF_REG_1, 8));
    for (size_t b = 0; b < ARRAY_SIZE(device_access_bits); b++) {
        int bit = device_access_bits[b];
        cleanup_free size_t *patches = xmalloc(sizeof(*patches));
        size_t n_patches = 0;
        emit(p, MOV32_REG(BPF_REG_1, BPF_REG_3));
        emit(p, ALU32_IMM(BPF_AND, BPF_REG_1, bit));
        patches[n_patches++] = p->n;
        emit(p, JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0));
        for (size_t i = n; i-- > 0;)
            if ((parsed[i].access & bit) && emit_rule(p, &parsed[i], &patches, &n_patches))
                break;
        /* bit_done is here. */
        for (size_t j = 0; j < n_patches; j++)
            p->insns[patches[j]].off = (int16_t)(p->n - (patches[j] + 1));
    }
    emit(p, MOV64_IMM(BPF_REG_0, 1));
    emit(p, EXIT_INSN());
    return 0;
}

static long bpf_call(int cmd, union bpf_attr *attr)
{
    return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

static int program_load_with_log(const struct bpf_program *p, char *log, size_t log_size)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = (uint64_t)(uintptr_t)p->insns;
    attr.insn_cnt = (uint32_t)p->n;
    attr.license = (uint64_t)(uintptr_t) "Apache-2.0";
    if (log) {
        attr.log_buf = (uint64_t)(uintptr_t)log;
        attr.log_size = (uint32_t)log_size;
        attr.log_level = 1;
        log[0] = '\0';
    }
    return (int)bpf_call(BPF_PROG_LOAD, &attr);
}

/* Without a log first (a verbose log can overflow on a long program and
 * fail the load); on failure again with one, for the message. */
static int program_load(const struct bpf_program *p, struct kerr **err)
{
    int fd = program_load_with_log(p, NULL, 0);
    if (fd >= 0)
        return fd;
    int saved = errno;
    char log[2048];
    int again = program_load_with_log(p, log, sizeof(log));
    if (again >= 0)
        close(again);
    for (char *c = log; *c; c++)
        if (*c == '\n')
            *c = ' ';
    return kerr_make(err, saved, "load the device program (%zu instructions): %.300s", p->n, log);
}

/* The ids of the device programs attached to the cgroup now. */
static int programs_attached(int cgroup_fd, uint32_t *ids, uint32_t *n, struct kerr **err)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.query.target_fd = (uint32_t)cgroup_fd;
    attr.query.attach_type = BPF_CGROUP_DEVICE;
    attr.query.prog_ids = (uint64_t)(uintptr_t)ids;
    attr.query.prog_cnt = *n;
    if (bpf_call(BPF_PROG_QUERY, &attr) < 0)
        return kerr_make(err, errno, "query the attached device programs");
    *n = attr.query.prog_cnt;
    return 0;
}

static int program_detach(int cgroup_fd, uint32_t id, struct kerr **err)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.prog_id = id;
    cleanup_close int prog_fd = (int)bpf_call(BPF_PROG_GET_FD_BY_ID, &attr);
    if (prog_fd < 0)
        return errno == ENOENT ? 0 : kerr_make(err, errno, "open device program %u", id);
    memset(&attr, 0, sizeof(attr));
    attr.target_fd = (uint32_t)cgroup_fd;
    attr.attach_bpf_fd = (uint32_t)prog_fd;
    attr.attach_type = BPF_CGROUP_DEVICE;
    if (bpf_call(BPF_PROG_DETACH, &attr) < 0 && errno != ENOENT)
        return kerr_make(err, errno, "detach device program %u", id);
    return 0;
}

int cgroup_device_program_load(Grpc__LinuxDeviceCgroup **rules, size_t n, struct kerr **err)
{
    struct bpf_program program = {0};
    int rc = build_program(rules, n, &program, err);
    int fd = rc < 0 ? -1 : program_load(&program, err);
    free(program.insns);
    return fd;
}

int cgroup_apply_devices(const char *abs, Grpc__LinuxDeviceCgroup **rules, size_t n,
                         struct kerr **err)
{
    if (n == 0)
        return 0;
    cleanup_close int prog_fd = cgroup_device_program_load(rules, n, err);
    if (prog_fd < 0)
        return kerr_wrap(err, "cgroup `%s` device rules", abs);

    cleanup_close int cgroup_fd = open(abs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cgroup_fd < 0)
        return kerr_make(err, errno, "cgroup `%s` device rules: open", abs);
    uint32_t old[DEVICE_PROG_MAX_OLD], n_old = DEVICE_PROG_MAX_OLD;
    if (programs_attached(cgroup_fd, old, &n_old, err) < 0)
        return kerr_wrap(err, "cgroup `%s` device rules", abs);

    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.target_fd = (uint32_t)cgroup_fd;
    attr.attach_bpf_fd = (uint32_t)prog_fd;
    attr.attach_type = BPF_CGROUP_DEVICE;
    attr.attach_flags = BPF_F_ALLOW_MULTI;
    if (bpf_call(BPF_PROG_ATTACH, &attr) < 0)
        return kerr_make(err, errno, "cgroup `%s` device rules: attach the program", abs);
    for (uint32_t i = 0; i < n_old; i++)
        if (program_detach(cgroup_fd, old[i], err) < 0)
            return kerr_wrap(err, "cgroup `%s` device rules: replace", abs);
    return 0;
}
