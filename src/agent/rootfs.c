/* Mount namespace, rootfs, OCI mounts, /dev, pivot_root, readonly root and
 * hostname for a container's init process (see rootfs.h). */
#include "rootfs.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* ---- options ---- */

static const struct {
    const char *name;
    bool clear;
    unsigned long flag;
} mount_flags[] = {
    {"ro", false, MS_RDONLY},
    {"rw", true, MS_RDONLY},
    {"nosuid", false, MS_NOSUID},
    {"suid", true, MS_NOSUID},
    {"nodev", false, MS_NODEV},
    {"dev", true, MS_NODEV},
    {"noexec", false, MS_NOEXEC},
    {"exec", true, MS_NOEXEC},
    {"sync", false, MS_SYNCHRONOUS},
    {"async", true, MS_SYNCHRONOUS},
    {"dirsync", false, MS_DIRSYNC},
    {"remount", false, MS_REMOUNT},
    {"mand", false, MS_MANDLOCK},
    {"nomand", true, MS_MANDLOCK},
    {"atime", true, MS_NOATIME},
    {"noatime", false, MS_NOATIME},
    {"diratime", true, MS_NODIRATIME},
    {"nodiratime", false, MS_NODIRATIME},
    {"relatime", false, MS_RELATIME},
    {"norelatime", true, MS_RELATIME},
    {"strictatime", false, MS_STRICTATIME},
    {"nostrictatime", true, MS_STRICTATIME},
    {"bind", false, MS_BIND},
    {"rbind", false, MS_BIND | MS_REC},
    {"defaults", false, 0},
};

static const struct {
    const char *name;
    unsigned long flag;
} propagation_flags[] = {
    {"private", MS_PRIVATE},       {"rprivate", MS_PRIVATE | MS_REC},
    {"shared", MS_SHARED},         {"rshared", MS_SHARED | MS_REC},
    {"slave", MS_SLAVE},           {"rslave", MS_SLAVE | MS_REC},
    {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
};

void rootfs_parse_options(char *const *options, size_t n, struct mount_options *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        const char *opt = options[i];
        bool known = false;
        for (size_t k = 0; k < ARRAY_SIZE(mount_flags) && !known; k++) {
            if (strcmp(opt, mount_flags[k].name) != 0)
                continue;
            known = true;
            if (mount_flags[k].clear) {
                out->flags &= ~mount_flags[k].flag;
                out->clear |= mount_flags[k].flag;
            } else {
                out->flags |= mount_flags[k].flag;
                out->clear &= ~mount_flags[k].flag;
            }
        }
        for (size_t k = 0; k < ARRAY_SIZE(propagation_flags) && !known; k++) {
            if (strcmp(opt, propagation_flags[k].name) == 0) {
                known = true;
                out->propagation |= propagation_flags[k].flag;
            }
        }
        if (known)
            continue;
        char *data = out->data ? xasprintf("%s,%s", out->data, opt) : xstrdup(opt);
        free(out->data);
        out->data = data;
    }
}

/* ---- paths inside the rootfs ---- */

char *rootfs_resolve(const char *root, const char *path, struct kerr **err)
{
    /* todo holds the components still to walk; done the resolved part ("" or "/a/b"). */
    cleanup_free char *todo = xstrdup(path);
    cleanup_free char *done = xstrdup("");
    int links = 0;
    while (*todo) {
        char *p = todo;
        while (*p == '/')
            p++;
        char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        cleanup_free char *part = xstrndup(p, len);
        char *rest = xstrdup(p + len);
        free(todo);
        todo = rest;
        if (len == 0 || strcmp(part, ".") == 0)
            continue;
        if (strcmp(part, "..") == 0) {
            char *last = strrchr(done, '/');
            if (last)
                *last = '\0';
            continue;
        }
        char *next = xasprintf("%s/%s", done, part);
        cleanup_free char *full = xasprintf("%s%s", root, next);
        struct stat st;
        if (lstat(full, &st) < 0 || !S_ISLNK(st.st_mode)) {
            free(done);
            done = next;
            continue;
        }
        free(next);
        if (++links > 40) {
            kerr_make(err, ELOOP, "resolve `%s` in `%s`", path, root);
            return NULL;
        }
        char target[PATH_MAX];
        ssize_t n = readlink(full, target, sizeof(target) - 1);
        if (n < 0) {
            kerr_make(err, errno, "readlink `%s`", full);
            return NULL;
        }
        target[n] = '\0';
        char *joined = xasprintf("%s/%s", target, todo);
        free(todo);
        todo = joined;
        if (target[0] == '/')
            done[0] = '\0';
    }
    return xasprintf("%s%s", root, *done ? done : "/");
}

/* mkdir -p of a destination whose parents are already resolved inside root. */
static int make_mountpoint(const char *dest, bool dir, struct kerr **err)
{
    struct stat st;
    if (stat(dest, &st) == 0)
        return 0;
    cleanup_free char *parent = xstrdup(dest);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = '\0';
        if (mkdir_all(parent, 0755, err) < 0)
            return -1;
    }
    if (dir)
        return mkdir_all(dest, 0755, err);
    int fd = open(dest, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0)
        return kerr_make(err, errno, "create `%s`", dest);
    close(fd);
    return 0;
}

/* ---- mounts ---- */

static int mount_one(const Grpc__Mount *m, const char *rootfs, struct kerr **err)
{
    if (m->destination == NULL || m->destination[0] != '/')
        return kerr_make(err, EINVAL, "mount on `%s`: destination must be absolute",
                         m->destination ? m->destination : "");
    cleanup_free char *dest = rootfs_resolve(rootfs, m->destination, err);
    if (dest == NULL)
        return kerr_wrap(err, "mount on `%s`", m->destination);
    struct mount_options o;
    rootfs_parse_options(m->options, m->n_options, &o);
    cleanup_free char *data = o.data;
    const char *type = m->type && *m->type ? m->type : "none";
    bool bind = strcmp(type, "bind") == 0 || (o.flags & MS_BIND);
    const char *source = m->source && *m->source ? m->source : type;

    bool dir = true;
    if (bind) {
        struct stat st;
        if (stat(source, &st) < 0)
            return kerr_make(err, errno, "bind mount `%s` on `%s`", source, m->destination);
        dir = S_ISDIR(st.st_mode);
    }
    if (make_mountpoint(dest, dir, err) < 0)
        return kerr_wrap(err, "mount `%s` on `%s`", type, m->destination);

    if (bind) {
        if (mount(source, dest, NULL, MS_BIND | (o.flags & MS_REC), NULL) < 0)
            return kerr_make(err, errno, "bind mount `%s` on `%s`", source, m->destination);
        unsigned long rest = o.flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
        if (rest && mount(NULL, dest, NULL, MS_BIND | MS_REMOUNT | rest, NULL) < 0)
            return kerr_make(err, errno, "remount `%s` with its options", m->destination);
    } else {
        const char *fstype = strcmp(type, "cgroup") == 0 ? "cgroup2" : type;
        if (mount(source, dest, fstype, o.flags, data) < 0)
            return kerr_make(err, errno, "mount `%s` on `%s`", type, m->destination);
    }
    if (o.propagation && mount(NULL, dest, NULL, o.propagation, NULL) < 0)
        return kerr_make(err, errno, "set propagation of `%s`", m->destination);
    return 0;
}

/* ---- /dev ---- */

static const struct {
    const char *path;
    unsigned major, minor;
} default_devices[] = {
    {"/dev/null", 1, 3},   {"/dev/zero", 1, 5},    {"/dev/full", 1, 7},
    {"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0},
};

static const struct {
    const char *target;
    const char *link;
} dev_symlinks[] = {
    {"/proc/self/fd", "/dev/fd"},
    {"/proc/self/fd/0", "/dev/stdin"},
    {"/proc/self/fd/1", "/dev/stdout"},
    {"/proc/self/fd/2", "/dev/stderr"},
};

/* mknod, or a bind mount of the agent's node where mknod is not allowed. */
static int create_device(const char *rootfs, const char *path, mode_t type, unsigned major,
                         unsigned minor, mode_t perm, uid_t uid, gid_t gid, struct kerr **err)
{
    cleanup_free char *dest = rootfs_resolve(rootfs, path, err);
    if (dest == NULL)
        return -1;
    cleanup_free char *parent = xstrdup(dest);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = '\0';
        if (mkdir_all(parent, 0755, err) < 0)
            return kerr_wrap(err, "device `%s`", path);
    }
    unlink(dest);
    rmdir(dest);
    if (mknod(dest, type | perm, makedev(major, minor)) == 0) {
        if (chown(dest, uid, gid) < 0)
            return kerr_make(err, errno, "device `%s`: chown", path);
        return 0;
    }
    if (errno != EPERM || type != S_IFCHR)
        return kerr_make(err, errno, "device `%s`: mknod", path);
    int fd = open(dest, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0)
        return kerr_make(err, errno, "device `%s`: create mount point", path);
    close(fd);
    if (mount(path, dest, NULL, MS_BIND, NULL) < 0)
        return kerr_make(err, errno, "device `%s`: bind mount", path);
    return 0;
}

static int spec_device_type(const char *type, mode_t *out)
{
    if (type == NULL)
        return -1;
    if (strcmp(type, "c") == 0 || strcmp(type, "u") == 0)
        *out = S_IFCHR;
    else if (strcmp(type, "b") == 0)
        *out = S_IFBLK;
    else if (strcmp(type, "p") == 0)
        *out = S_IFIFO;
    else
        return -1;
    return 0;
}

static bool spec_mounts_dev(const Grpc__Spec *spec)
{
    for (size_t i = 0; i < spec->n_mounts; i++) {
        const Grpc__Mount *m = spec->mounts[i];
        if (m->destination && strcmp(m->destination, "/dev") == 0 &&
            !(m->type && strcmp(m->type, "bind") == 0))
            return true;
    }
    return false;
}

static int setup_dev(const Grpc__Spec *spec, const char *rootfs, struct kerr **err)
{
    mode_t old_umask = umask(0);
    int ret = -1;
    if (spec_mounts_dev(spec)) {
        for (size_t i = 0; i < ARRAY_SIZE(default_devices); i++)
            if (create_device(rootfs, default_devices[i].path, S_IFCHR, default_devices[i].major,
                              default_devices[i].minor, 0666, 0, 0, err) < 0)
                goto out;
        for (size_t i = 0; i < ARRAY_SIZE(dev_symlinks); i++) {
            cleanup_free char *link = xasprintf("%s%s", rootfs, dev_symlinks[i].link);
            if (symlink(dev_symlinks[i].target, link) < 0 && errno != EEXIST) {
                kerr_make(err, errno, "symlink `%s`", dev_symlinks[i].link);
                goto out;
            }
        }
        if (access("/proc/kcore", F_OK) == 0) {
            cleanup_free char *link = xasprintf("%s/dev/core", rootfs);
            if (symlink("/proc/kcore", link) < 0 && errno != EEXIST) {
                kerr_make(err, errno, "symlink `/dev/core`");
                goto out;
            }
        }
        /* /dev/ptmx is the container's own devpts instance. */
        cleanup_free char *ptmx = xasprintf("%s/dev/ptmx", rootfs);
        unlink(ptmx);
        if (symlink("pts/ptmx", ptmx) < 0) {
            kerr_make(err, errno, "symlink `/dev/ptmx`");
            goto out;
        }
    }
    const Grpc__Linux *lx = spec->linux_;
    for (size_t i = 0; lx && i < lx->n_devices; i++) {
        const Grpc__LinuxDevice *d = lx->devices[i];
        mode_t type;
        if (d->path == NULL || strncmp(d->path, "/dev/", 5) != 0) {
            kerr_make(err, EINVAL, "device `%s`: path must be under /dev", d->path ? d->path : "");
            goto out;
        }
        if (spec_device_type(d->type, &type) < 0) {
            kerr_make(err, EINVAL, "device `%s`: unknown type `%s`", d->path,
                      d->type ? d->type : "");
            goto out;
        }
        mode_t perm = d->filemode ? (d->filemode & 07777) : 0666;
        if (create_device(rootfs, d->path, type, (unsigned)d->major, (unsigned)d->minor, perm,
                          d->uid, d->gid, err) < 0)
            goto out;
    }
    ret = 0;
out:
    umask(old_umask);
    return ret;
}

/* ---- the whole sequence ---- */

static int propagation_from_spec(const Grpc__Spec *spec, unsigned long *out, struct kerr **err)
{
    const char *prop = spec->linux_ ? spec->linux_->rootfspropagation : NULL;
    *out = MS_SLAVE | MS_REC;
    if (prop == NULL || *prop == '\0')
        return 0;
    for (size_t k = 0; k < ARRAY_SIZE(propagation_flags); k++) {
        if (strcmp(prop, propagation_flags[k].name) == 0) {
            *out = propagation_flags[k].flag;
            return 0;
        }
    }
    return kerr_make(err, EINVAL, "rootfs propagation `%s`: unknown", prop);
}

int rootfs_prepare(const Grpc__Spec *spec, const char *rootfs, struct kerr **err)
{
    unsigned long prop;
    if (propagation_from_spec(spec, &prop, err) < 0)
        return -1;
    if (mount(NULL, "/", NULL, prop, NULL) < 0)
        return kerr_make(err, errno, "make `/` %s", "rslave");
    if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
        return kerr_make(err, errno, "bind mount rootfs `%s`", rootfs);
    for (size_t i = 0; i < spec->n_mounts; i++)
        if (mount_one(spec->mounts[i], rootfs, err) < 0)
            return -1;
    if (setup_dev(spec, rootfs, err) < 0)
        return -1;
    return 0;
}

int rootfs_pivot(const char *rootfs, struct kerr **err)
{
    cleanup_close int oldroot = open("/", O_DIRECTORY | O_PATH | O_CLOEXEC);
    if (oldroot < 0)
        return kerr_make(err, errno, "open `/`");
    if (chdir(rootfs) < 0)
        return kerr_make(err, errno, "chdir `%s`", rootfs);
    if (syscall(SYS_pivot_root, ".", ".") == 0) {
        /* The old root is now under ".": detach it without its unmount
         * propagating anywhere. */
        if (fchdir(oldroot) < 0)
            return kerr_make(err, errno, "fchdir to the old root");
        if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
            return kerr_make(err, errno, "make the old root rslave");
        if (umount2(".", MNT_DETACH) < 0)
            return kerr_make(err, errno, "detach the old root");
    } else if (errno == EINVAL) {
        /* An initramfs root cannot be pivoted: move the rootfs over it. */
        if (mount(rootfs, "/", NULL, MS_MOVE, NULL) < 0)
            return kerr_make(err, errno, "move `%s` to `/`", rootfs);
        if (chroot(".") < 0)
            return kerr_make(err, errno, "chroot `%s`", rootfs);
    } else {
        return kerr_make(err, errno, "pivot_root to `%s`", rootfs);
    }
    if (chdir("/") < 0)
        return kerr_make(err, errno, "chdir `/`");
    return 0;
}

int rootfs_finish(const Grpc__Spec *spec, struct kerr **err)
{
    if (spec->root && spec->root->readonly &&
        mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
        return kerr_make(err, errno, "remount `/` readonly");
    if (spec->hostname && *spec->hostname &&
        sethostname(spec->hostname, strlen(spec->hostname)) < 0)
        return kerr_make(err, errno, "set hostname `%s`", spec->hostname);
    return 0;
}
