/* The OCI process capabilities, with raw syscalls (capget/capset, prctl) so
 * the static agent needs no libcap.  Order, as runc's finalizeNamespace:
 * bounding set first (dropping needs CAP_SETPCAP, which the uid change may
 * take away), then after setuid with PR_SET_KEEPCAPS the effective,
 * permitted and inheritable sets, then ambient (raising an ambient
 * capability needs it permitted and inheritable already). */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "oci_security.h"
#include "oci_security_internal.h"
#include "util.h"

static const char *const capability_names[] = {
    [CAP_CHOWN] = "CAP_CHOWN",
    [CAP_DAC_OVERRIDE] = "CAP_DAC_OVERRIDE",
    [CAP_DAC_READ_SEARCH] = "CAP_DAC_READ_SEARCH",
    [CAP_FOWNER] = "CAP_FOWNER",
    [CAP_FSETID] = "CAP_FSETID",
    [CAP_KILL] = "CAP_KILL",
    [CAP_SETGID] = "CAP_SETGID",
    [CAP_SETUID] = "CAP_SETUID",
    [CAP_SETPCAP] = "CAP_SETPCAP",
    [CAP_LINUX_IMMUTABLE] = "CAP_LINUX_IMMUTABLE",
    [CAP_NET_BIND_SERVICE] = "CAP_NET_BIND_SERVICE",
    [CAP_NET_BROADCAST] = "CAP_NET_BROADCAST",
    [CAP_NET_ADMIN] = "CAP_NET_ADMIN",
    [CAP_NET_RAW] = "CAP_NET_RAW",
    [CAP_IPC_LOCK] = "CAP_IPC_LOCK",
    [CAP_IPC_OWNER] = "CAP_IPC_OWNER",
    [CAP_SYS_MODULE] = "CAP_SYS_MODULE",
    [CAP_SYS_RAWIO] = "CAP_SYS_RAWIO",
    [CAP_SYS_CHROOT] = "CAP_SYS_CHROOT",
    [CAP_SYS_PTRACE] = "CAP_SYS_PTRACE",
    [CAP_SYS_PACCT] = "CAP_SYS_PACCT",
    [CAP_SYS_ADMIN] = "CAP_SYS_ADMIN",
    [CAP_SYS_BOOT] = "CAP_SYS_BOOT",
    [CAP_SYS_NICE] = "CAP_SYS_NICE",
    [CAP_SYS_RESOURCE] = "CAP_SYS_RESOURCE",
    [CAP_SYS_TIME] = "CAP_SYS_TIME",
    [CAP_SYS_TTY_CONFIG] = "CAP_SYS_TTY_CONFIG",
    [CAP_MKNOD] = "CAP_MKNOD",
    [CAP_LEASE] = "CAP_LEASE",
    [CAP_AUDIT_WRITE] = "CAP_AUDIT_WRITE",
    [CAP_AUDIT_CONTROL] = "CAP_AUDIT_CONTROL",
    [CAP_SETFCAP] = "CAP_SETFCAP",
    [CAP_MAC_OVERRIDE] = "CAP_MAC_OVERRIDE",
    [CAP_MAC_ADMIN] = "CAP_MAC_ADMIN",
    [CAP_SYSLOG] = "CAP_SYSLOG",
    [CAP_WAKE_ALARM] = "CAP_WAKE_ALARM",
    [CAP_BLOCK_SUSPEND] = "CAP_BLOCK_SUSPEND",
    [CAP_AUDIT_READ] = "CAP_AUDIT_READ",
    [CAP_PERFMON] = "CAP_PERFMON",
    [CAP_BPF] = "CAP_BPF",
    [CAP_CHECKPOINT_RESTORE] = "CAP_CHECKPOINT_RESTORE",
};

int oci_capability_from_name(const char *name)
{
    if (name == NULL)
        return -1;
    for (size_t i = 0; i < ARRAY_SIZE(capability_names); i++)
        if (capability_names[i] && strcasecmp(name, capability_names[i]) == 0)
            return (int)i;
    return -1;
}

int oci_capability_last(void)
{
    static int last = -1;
    if (last >= 0)
        return last;
    char buf[16] = "";
    int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n > 0)
            last = atoi(buf);
    }
    if (last <= 0 || last > 63)
        last = CAP_LAST_CAP;
    return last;
}

/* The set named by a list as a 64-bit mask (bits the kernel does not know
 * are left out: setting them is an error on older kernels, as runc
 * ignores capabilities unavailable on the host). */
static int capability_mask(char **names, size_t n, const char *set, uint64_t *mask,
                           struct kerr **err)
{
    int last = oci_capability_last();
    *mask = 0;
    for (size_t i = 0; i < n; i++) {
        int cap = oci_capability_from_name(names[i]);
        if (cap < 0)
            return kerr_make(err, EINVAL, "capability `%s` (%s set): unknown", names[i], set);
        if (cap <= last)
            *mask |= UINT64_C(1) << cap;
    }
    return 0;
}

int oci_capabilities_validate(const Grpc__LinuxCapabilities *caps, struct kerr **err)
{
    if (caps == NULL)
        return 0;
    uint64_t mask;
    if (capability_mask(caps->bounding, caps->n_bounding, "bounding", &mask, err) < 0 ||
        capability_mask(caps->effective, caps->n_effective, "effective", &mask, err) < 0 ||
        capability_mask(caps->permitted, caps->n_permitted, "permitted", &mask, err) < 0 ||
        capability_mask(caps->inheritable, caps->n_inheritable, "inheritable", &mask, err) < 0 ||
        capability_mask(caps->ambient, caps->n_ambient, "ambient", &mask, err) < 0)
        return -1;
    return 0;
}

int oci_capabilities_apply_bounding(const Grpc__LinuxCapabilities *caps, struct kerr **err)
{
    if (caps == NULL)
        return 0;
    uint64_t keep;
    if (capability_mask(caps->bounding, caps->n_bounding, "bounding", &keep, err) < 0)
        return -1;
    int last = oci_capability_last();
    for (int cap = 0; cap <= last; cap++) {
        if (keep & (UINT64_C(1) << cap))
            continue;
        if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 1)
            continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
            const char *name =
                (size_t)cap < ARRAY_SIZE(capability_names) ? capability_names[cap] : "?";
            return kerr_make(err, errno, "capability `%s`: drop from the bounding set",
                             name ? name : "?");
        }
    }
    return 0;
}

int oci_capabilities_apply_sets(const Grpc__LinuxCapabilities *caps, struct kerr **err)
{
    if (caps == NULL)
        return 0;
    uint64_t effective, permitted, inheritable, ambient;
    if (capability_mask(caps->effective, caps->n_effective, "effective", &effective, err) < 0 ||
        capability_mask(caps->permitted, caps->n_permitted, "permitted", &permitted, err) < 0 ||
        capability_mask(caps->inheritable, caps->n_inheritable, "inheritable", &inheritable, err) <
            0 ||
        capability_mask(caps->ambient, caps->n_ambient, "ambient", &ambient, err) < 0)
        return -1;

    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2] = {
        {.effective = (uint32_t)effective,
         .permitted = (uint32_t)permitted,
         .inheritable = (uint32_t)inheritable},
        {.effective = (uint32_t)(effective >> 32),
         .permitted = (uint32_t)(permitted >> 32),
         .inheritable = (uint32_t)(inheritable >> 32)},
    };
    if (syscall(SYS_capset, &header, data) < 0)
        return kerr_make(err, errno,
                         "capabilities: set effective %#llx, permitted %#llx, inheritable %#llx",
                         (unsigned long long)effective, (unsigned long long)permitted,
                         (unsigned long long)inheritable);

    /* Kernels before 4.3 have no ambient set (EINVAL on clear). */
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) {
        if (errno == EINVAL && ambient == 0)
            return 0;
        return kerr_make(err, errno, "capabilities: clear the ambient set");
    }
    for (int cap = 0; cap < 64; cap++) {
        if (!(ambient & (UINT64_C(1) << cap)))
            continue;
        /* As runc: an ambient capability that is not also permitted and
         * inheritable (runc's own `spec` lists ambient without inheritable)
         * is skipped, not an error.  Silently: this runs in the container's
         * child, whose stderr is already the container's. */
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0 && errno != EPERM)
            return kerr_make(err, errno, "capability `%s`: raise in the ambient set",
                             capability_names[cap]);
    }
    return 0;
}
