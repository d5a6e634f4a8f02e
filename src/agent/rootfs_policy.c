/* The parts of the OCI spec applied to the container's root after
 * pivot_root: sysctls, readonly paths and masked paths (runc's
 * standard_init_linux.go order). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "oci_security.h"
#include "oci_security_internal.h"
#include "util.h"

/* runc's validator: sysctls that are namespaced (so a container may set
 * them without touching the rest of the guest).  In a Kata guest the VM is
 * the sandbox, but the sandbox's containers share it, so the same rule
 * holds. */
static const char *const sysctl_ipc_names[] = {
    "kernel.msgmax", "kernel.msgmnb",          "kernel.msgmni",
    "kernel.sem",    "kernel.shmall",          "kernel.shmmax",
    "kernel.shmmni", "kernel.shm_rmid_forced", "kernel.domainname",
};

static const char *const sysctl_prefixes[] = {"fs.mqueue.", "net."};

static bool sysctl_allowed(const char *key)
{
    for (size_t i = 0; i < ARRAY_SIZE(sysctl_ipc_names); i++)
        if (strcmp(key, sysctl_ipc_names[i]) == 0)
            return true;
    for (size_t i = 0; i < ARRAY_SIZE(sysctl_prefixes); i++)
        if (strncmp(key, sysctl_prefixes[i], strlen(sysctl_prefixes[i])) == 0)
            return true;
    return false;
}

char *oci_sysctl_path(const char *key, struct kerr **err)
{
    if (key == NULL || *key == '\0') {
        kerr_make(err, EINVAL, "sysctl ``: empty name");
        return NULL;
    }
    if (strcmp(key, "kernel.hostname") == 0) {
        kerr_make(err, EINVAL,
                  "sysctl `%s`: not allowed, it conflicts with the spec's hostname field", key);
        return NULL;
    }
    /* Dots are the separator (runc writes /proc/sys/ + key with '.' -> '/');
     * with every dot replaced, an empty component is the only way to escape
     * or alias a path ("..", leading/trailing dots, "//"). */
    cleanup_free char *path = xstrdup(key);
    for (char *p = path; *p; p++)
        if (*p == '.')
            *p = '/';
    if (path[0] == '/' || path[strlen(path) - 1] == '/' || strstr(path, "//") != NULL) {
        kerr_make(err, EINVAL, "sysctl `%s`: invalid name", key);
        return NULL;
    }
    if (!sysctl_allowed(key)) {
        kerr_make(err, EPERM, "sysctl `%s`: not allowed in a container (not namespaced)", key);
        return NULL;
    }
    return steal_pointer(&path);
}

static int sysctl_write(const char *key, const char *value, struct kerr **err)
{
    cleanup_free char *rel = oci_sysctl_path(key, err);
    if (rel == NULL)
        return -1;
    cleanup_free char *path = xasprintf("/proc/sys/%s", rel);
    cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return kerr_make(err, errno, "sysctl `%s`: open `%s`", key, path);
    if (fd_write_full(fd, value, strlen(value)) < 0)
        return kerr_make(err, errno, "sysctl `%s`: write `%s`", key, value);
    return 0;
}

int oci_sysctls_apply(const Grpc__Linux *linux_, struct kerr **err)
{
    if (linux_ == NULL)
        return 0;
    for (size_t i = 0; i < linux_->n_sysctl; i++)
        if (sysctl_write(linux_->sysctl[i]->key, linux_->sysctl[i]->value, err) < 0)
            return -1;
    return 0;
}

int oci_readonly_path(const char *path, struct kerr **err)
{
    if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
        if (errno == ENOENT)
            return 0;
        return kerr_make(err, errno, "readonly path `%s`: bind mount", path);
    }
    struct statfs st;
    if (statfs(path, &st) < 0)
        return kerr_make(err, errno, "readonly path `%s`: statfs", path);
    /* A bind remount must repeat the locked flags or it fails with EPERM in a
     * user namespace; nosuid/nodev/noexec are kept as they were. */
    unsigned long keep = (unsigned long)st.f_flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC);
    if (mount(path, path, NULL, keep | MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
        return kerr_make(err, errno, "readonly path `%s`: remount read-only", path);
    return 0;
}

int oci_masked_path(const char *path, struct kerr **err)
{
    if (mount("/dev/null", path, NULL, MS_BIND, NULL) == 0)
        return 0;
    if (errno == ENOENT)
        return 0;
    /* /dev/null cannot go over a directory: an empty read-only tmpfs does. */
    if (errno == ENOTDIR) {
        if (mount("tmpfs", path, "tmpfs", MS_RDONLY, "mode=0555") < 0)
            return kerr_make(err, errno, "masked path `%s`: mount read-only tmpfs", path);
        return 0;
    }
    return kerr_make(err, errno, "masked path `%s`: bind `/dev/null`", path);
}

int oci_apply_rootfs_policy(const Grpc__Linux *linux_, struct kerr **err)
{
    if (linux_ == NULL)
        return 0;
    if (oci_sysctls_apply(linux_, err) < 0)
        return -1;
    for (size_t i = 0; i < linux_->n_readonlypaths; i++)
        if (oci_readonly_path(linux_->readonlypaths[i], err) < 0)
            return -1;
    for (size_t i = 0; i < linux_->n_maskedpaths; i++)
        if (oci_masked_path(linux_->maskedpaths[i], err) < 0)
            return -1;
    return 0;
}
