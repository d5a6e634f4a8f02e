/* Path operations beneath a directory fd that never follow a symlink
 * (safe_fs.h).  The mount calls use the kernel's fd-based mount API
 * (open_tree, mount_setattr, move_mount: Linux 5.12 and later). */
#include "safe_fs.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ID_MAX 1024

int safe_id_check(const char *what, const char *id, struct kerr **err)
{
    if (id == NULL || *id == '\0')
        return kerr_make(err, EINVAL, "%s id cannot be empty", what);
    size_t len = strnlen(id, ID_MAX + 1);
    if (len > ID_MAX)
        return kerr_make(err, EINVAL, "%s id is longer than %d bytes", what, ID_MAX);
    if (strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
        return kerr_make(err, EINVAL, "invalid %s id `%s`", what, id);
    for (const char *p = id; *p; p++) {
        unsigned char c = (unsigned char)*p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '+' || c == '-' || c == '.';
        if (!ok)
            return kerr_make(err, EINVAL,
                             "invalid %s id `%.64s`: only letters, digits, `_+-.` are allowed",
                             what, id);
    }
    return 0;
}

int safe_open_beneath(int dirfd, const char *rel, int flags, mode_t mode, bool no_xdev,
                      struct kerr **err)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
                   (no_xdev ? RESOLVE_NO_XDEV : 0),
    };
    int fd;
    do
        fd = (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
    while (fd < 0 && errno == EAGAIN);
    if (fd < 0)
        return kerr_make(err, errno == ELOOP ? ELOOP : errno, "open `%s` beneath its directory",
                         rel);
    return fd;
}

/* One component: mkdir (if absent) and open it as a directory, O_NOFOLLOW. */
static int mkdir_component(int dirfd, const char *name, mode_t mode, struct kerr **err)
{
    if (mkdirat(dirfd, name, mode) < 0 && errno != EEXIST)
        return kerr_make(err, errno, "mkdir `%s`", name);
    int fd = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return kerr_make(err, errno == ENOTDIR || errno == ELOOP ? ENOTDIR : errno,
                         "open `%s` (not a directory, or a symlink)", name);
    return fd;
}

int safe_mkdirs_beneath(int dirfd, const char *rel, mode_t mode, struct kerr **err)
{
    cleanup_free char *copy = xstrdup(rel);
    int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
    if (fd < 0)
        return kerr_make(err, errno, "dup a directory fd");
    char *save = NULL;
    for (char *name = strtok_r(copy, "/", &save); name; name = strtok_r(NULL, "/", &save)) {
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
            close(fd);
            return kerr_make(err, EINVAL, "mkdir `%s`: `%s` in the path", rel, name);
        }
        int next = mkdir_component(fd, name, mode, err);
        close(fd);
        if (next < 0)
            return kerr_wrap(err, "mkdir `%s`", rel);
        fd = next;
    }
    return fd;
}

int safe_mount_point_beneath(int dirfd, const char *rel, bool is_dir, struct kerr **err)
{
    cleanup_free char *parent = xstrdup(rel);
    char *slash = strrchr(parent, '/');
    const char *base = slash ? slash + 1 : rel;
    if (slash)
        *slash = '\0';
    if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return kerr_make(err, EINVAL, "mount point `%s`: not a name", rel);
    cleanup_close int pfd =
        slash ? safe_mkdirs_beneath(dirfd, parent, 0755, err) : fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
    if (pfd < 0)
        return slash ? kerr_wrap(err, "mount point") : kerr_make(err, errno, "dup a directory fd");
    if (is_dir) {
        int fd = mkdir_component(pfd, base, 0755, err);
        return fd < 0 ? kerr_wrap(err, "mount point `%s`", rel) : fd;
    }
    int fd = openat(pfd, base, O_CREAT | O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
    if (fd < 0)
        return kerr_make(err, errno, "create mount point `%s`", rel);
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return kerr_make(err, EINVAL, "mount point `%s` is not a regular file", rel);
    }
    close(fd);
    fd = openat(pfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return kerr_make(err, errno, "open mount point `%s`", rel);
    return fd;
}

int safe_mount_id(int fd, uint64_t *mnt_id, bool *is_mount_root, struct kerr **err)
{
    struct statx stx;
    if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &stx) < 0)
        return kerr_make(err, errno, "statx");
    if (mnt_id)
        *mnt_id = (stx.stx_mask & STATX_MNT_ID) ? stx.stx_mnt_id : 0;
    if (is_mount_root)
        *is_mount_root = (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
                         (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
    return 0;
}

int safe_bind_fd(int source_fd, int target_fd, unsigned flags, uint64_t *mnt_id, struct kerr **err)
{
    unsigned tree_flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH;
    if (flags & SAFE_BIND_RECURSIVE)
        tree_flags |= AT_RECURSIVE;
    cleanup_close int tree = open_tree(source_fd, "", tree_flags);
    if (tree < 0)
        return kerr_make(err, errno, "clone the source tree");
    struct mount_attr attr = {
        .attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                    ((flags & SAFE_BIND_RDONLY) ? MOUNT_ATTR_RDONLY : 0),
    };
    if (mount_setattr(tree, "", AT_EMPTY_PATH | ((flags & SAFE_BIND_RECURSIVE) ? AT_RECURSIVE : 0),
                      &attr, sizeof(attr)) < 0)
        return kerr_make(err, errno, "set nosuid,nodev%s on the clone",
                         (flags & SAFE_BIND_RDONLY) ? ",ro" : "");
    if (move_mount(tree, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return kerr_make(err, errno, "attach the clone on its mount point");
    if (mnt_id) {
        /* The tree fd now names the attached mount. */
        if (safe_mount_id(tree, mnt_id, NULL, err) < 0)
            return kerr_wrap(err, "the new mount");
    }
    return 0;
}

int safe_umount_beneath(int dirfd, const char *rel, uint64_t mnt_id, struct kerr **err)
{
    cleanup_kerr struct kerr *open_err = NULL;
    cleanup_close int fd = safe_open_beneath(dirfd, rel, O_PATH | O_NOFOLLOW, 0, false, &open_err);
    if (fd < 0) {
        if (open_err->status == ENOENT)
            return 0;
        return kerr_make(err, open_err->status, "unmount `%s`: %s", rel, open_err->msg);
    }
    uint64_t id = 0;
    bool root = false;
    if (safe_mount_id(fd, &id, &root, err) < 0)
        return kerr_wrap(err, "unmount `%s`", rel);
    if (!root || (mnt_id != 0 && id != mnt_id))
        return 0;
    /* The magic link names exactly the mount the fd holds. */
    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    if (umount2(proc, MNT_DETACH) < 0)
        return kerr_make(err, errno, "unmount `%s`", rel);
    return 1;
}

/* The entry's kind and whether it is a mount root, without following it. */
static int entry_stat(int parent, const char *name, struct statx *stx)
{
    return statx(parent, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_TYPE | STATX_MNT_ID,
                 stx);
}

static bool is_mount_root(const struct statx *stx, uint64_t parent_mnt)
{
    if ((stx->stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
        (stx->stx_attributes & STATX_ATTR_MOUNT_ROOT))
        return true;
    return (stx->stx_mask & STATX_MNT_ID) && parent_mnt != 0 && stx->stx_mnt_id != parent_mnt;
}

/* Returns 0, -1 on error, or 1 when a mount point was left somewhere below. */
static int remove_at(int parent, uint64_t parent_mnt, const char *name, int depth,
                     struct kerr **err)
{
    struct statx stx;
    if (entry_stat(parent, name, &stx) < 0)
        return errno == ENOENT ? 0 : kerr_make(err, errno, "stat `%s`", name);
    if (is_mount_root(&stx, parent_mnt))
        return 1;
    if (!S_ISDIR(stx.stx_mode)) {
        if (unlinkat(parent, name, 0) < 0 && errno != ENOENT)
            return kerr_make(err, errno, "remove `%s`", name);
        return 0;
    }
    if (depth > 256)
        return kerr_make(err, ELOOP, "remove `%s`: nested too deep", name);
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : kerr_make(err, errno, "open directory `%s`", name);
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return kerr_make(err, errno, "read directory `%s`", name);
    }
    int r = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        int sub = remove_at(dirfd(d), stx.stx_mnt_id, e->d_name, depth + 1, err);
        if (sub < 0) {
            closedir(d);
            return kerr_wrap(err, "in `%s`", name);
        }
        if (sub > 0)
            r = 1;
    }
    closedir(d);
    if (r == 0 && unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return kerr_make(err, errno, "remove directory `%s`", name);
    return r;
}

int safe_remove_tree_at(int parent, const char *name, struct kerr **err)
{
    uint64_t parent_mnt = 0;
    if (safe_mount_id(parent, &parent_mnt, NULL, err) < 0)
        return kerr_wrap(err, "remove `%s`", name);
    int r = remove_at(parent, parent_mnt, name, 0, err);
    if (r > 0)
        return kerr_make(err, EBUSY, "remove `%s`: a mount inside it was left in place", name);
    return r;
}

int safe_remove_tree(const char *path, struct kerr **err)
{
    cleanup_free char *parent = xstrdup(path);
    char *slash = strrchr(parent, '/');
    if (slash == NULL || slash[1] == '\0')
        return kerr_make(err, EINVAL, "remove `%s`: not an absolute path to an entry", path);
    const char *name = path + (slash - parent) + 1;
    *slash = '\0';
    cleanup_close int pfd = open(*parent ? parent : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (pfd < 0)
        return errno == ENOENT ? 0 : kerr_make(err, errno, "open `%s`", parent);
    if (safe_remove_tree_at(pfd, name, err) < 0)
        return kerr_wrap(err, "in `%s`", parent);
    return 0;
}
