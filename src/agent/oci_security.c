/* The OCI process settings applied in the container child just before
 * execve: oom_score_adj, rlimits, user, capabilities, no_new_privileges,
 * seccomp.  The pieces live in capabilities.c, seccomp.c and
 * rootfs_policy.c; this file holds the order. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "oci_security.h"
#include "oci_security_internal.h"
#include "util.h"

struct rlimit_name {
    const char *name;
    int resource;
};

static const struct rlimit_name rlimit_names[] = {
    {"RLIMIT_CPU", RLIMIT_CPU},           {"RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"RLIMIT_DATA", RLIMIT_DATA},         {"RLIMIT_STACK", RLIMIT_STACK},
    {"RLIMIT_CORE", RLIMIT_CORE},         {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_NPROC", RLIMIT_NPROC},       {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},   {"RLIMIT_AS", RLIMIT_AS},
    {"RLIMIT_LOCKS", RLIMIT_LOCKS},       {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},     {"RLIMIT_RTTIME", RLIMIT_RTTIME},
};

int oci_rlimit_from_name(const char *name)
{
    if (name == NULL)
        return -1;
    for (size_t i = 0; i < ARRAY_SIZE(rlimit_names); i++)
        if (strcasecmp(name, rlimit_names[i].name) == 0)
            return rlimit_names[i].resource;
    return -1;
}

static int apply_oom_score_adj(int64_t value, struct kerr **err)
{
    if (value < -1000 || value > 1000)
        return kerr_make(err, EINVAL, "oom_score_adj %lld: out of range [-1000, 1000]",
                         (long long)value);
    cleanup_close int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return kerr_make(err, errno, "oom_score_adj %lld: open `/proc/self/oom_score_adj`",
                         (long long)value);
    char buf[24];
    int len = snprintf(buf, sizeof(buf), "%lld", (long long)value);
    if (fd_write_full(fd, buf, (size_t)len) < 0)
        return kerr_make(err, errno, "oom_score_adj %lld: write", (long long)value);
    return 0;
}

static int apply_rlimits(const Grpc__Process *process, struct kerr **err)
{
    for (size_t i = 0; i < process->n_rlimits; i++) {
        const Grpc__POSIXRlimit *limit = process->rlimits[i];
        int resource = oci_rlimit_from_name(limit->type);
        if (resource < 0)
            return kerr_make(err, EINVAL, "rlimit `%s`: unknown", limit->type);
        struct rlimit value = {.rlim_cur = limit->soft, .rlim_max = limit->hard};
        if (setrlimit(resource, &value) < 0)
            return kerr_make(err, errno, "rlimit `%s`: set soft %llu, hard %llu", limit->type,
                             (unsigned long long)limit->soft, (unsigned long long)limit->hard);
    }
    return 0;
}

/* Supplementary groups, gid, then uid (after the uid change there is no
 * CAP_SETGID left to change the others). */
static int apply_user(const Grpc__User *user, struct kerr **err)
{
    if (user == NULL)
        return 0;
    cleanup_free gid_t *groups = xcalloc(user->n_additionalgids + 1, sizeof(*groups));
    for (size_t i = 0; i < user->n_additionalgids; i++)
        groups[i] = user->additionalgids[i];
    if (setgroups(user->n_additionalgids, groups) < 0)
        return kerr_make(err, errno, "user: set %zu additional groups", user->n_additionalgids);
    if (setgid(user->gid) < 0)
        return kerr_make(err, errno, "user: set gid %u", user->gid);
    if (setuid(user->uid) < 0)
        return kerr_make(err, errno, "user: set uid %u", user->uid);
    return 0;
}

/* runc's order (libcontainer/init_linux.go, standard_init_linux.go):
 *   1. oom_score_adj and rlimits, while still privileged (lowering either
 *      needs CAP_SYS_RESOURCE);
 *   2. no_new_privs when the spec asks;
 *   3. without no_new_privs, seccomp now: loading a filter then needs
 *      CAP_SYS_ADMIN, which the capability step may drop (so the profile
 *      must allow the remaining setup syscalls, as Docker's does);
 *   4. bounding set drop, PR_SET_KEEPCAPS, groups/gid/uid, PR_SET_KEEPCAPS
 *      off, effective/permitted/inheritable and ambient sets;
 *   5. with no_new_privs, seccomp last, so the filter need not allow the
 *      setup syscalls and only the container's own calls are filtered. */
int oci_apply_process(const Grpc__Process *process, const Grpc__Linux *linux_, struct kerr **err)
{
    if (process == NULL)
        return 0;
    const Grpc__LinuxCapabilities *caps = process->capabilities;
    const Grpc__LinuxSeccomp *seccomp = linux_ ? linux_->seccomp : NULL;

    /* Unknown names fail before anything changed. */
    if (oci_capabilities_validate(caps, err) < 0)
        return -1;
    if (apply_oom_score_adj(process->oomscoreadj, err) < 0 || apply_rlimits(process, err) < 0)
        return -1;
    if (process->nonewprivileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return kerr_make(err, errno, "no_new_privileges: set");
    if (!process->nonewprivileges && oci_seccomp_load(seccomp, err) < 0)
        return -1;

    if (oci_capabilities_apply_bounding(caps, err) < 0)
        return -1;
    if (caps && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
        return kerr_make(err, errno, "capabilities: keep across the uid change");
    if (apply_user(process->user, err) < 0)
        return -1;
    if (caps && prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
        return kerr_make(err, errno, "capabilities: reset keep-capabilities");
    if (oci_capabilities_apply_sets(caps, err) < 0)
        return -1;

    if (process->nonewprivileges && oci_seccomp_load(seccomp, err) < 0)
        return -1;
    return 0;
}
