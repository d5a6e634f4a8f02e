/* The sandbox's share tree, built as Kata does since CVE-2020-2024/2026:
 *
 *   <shared root>/<sandbox>/mounts   host-private: the daemon binds each
 *                                    container's rootfs and volumes here
 *   <shared root>/<sandbox>/shared   a read-only, nosuid, nodev slave bind of
 *                                    mounts/: what virtiofsd (or 9p) exports
 *
 * The guest can write inside a rootfs or a read-write volume (separate mounts
 * that propagate from mounts/ into shared/), never the directories above
 * them, so it cannot plant a symlink where the daemon later mounts.  Every
 * operation below mounts/ still goes through directory fds without following
 * symlinks (safe_fs.h), and only the mounts the daemon recorded (by mount id)
 * are unmounted. */
#include "log.h"
#include "safe_fs.h"
#include "shim.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define MOUNTS_NAME "mounts"
#define SHARED_NAME "shared"

/* mount(2) on what an O_PATH fd names (no path walk). */
static int mount_fd(const char *source, int target_fd, unsigned long flags)
{
    char target[64];
    snprintf(target, sizeof(target), "/proc/self/fd/%d", target_fd);
    return mount(source, target, NULL, flags, NULL);
}

static int open_dir_nofollow(int dirfd, const char *name, struct kerr **err)
{
    int fd = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return kerr_make(err, errno, "open `%s`", name);
    return fd;
}

int share_tree_prepare(struct sandbox *sb, struct kerr **err)
{
    if (mkdir_all(sb->share_root, 0700, err) < 0)
        return -1;
    sb->share_fd = open(sb->share_root, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sb->share_fd < 0)
        return kerr_make(err, errno, "open `%s`", sb->share_root);
    cleanup_close int mounts = safe_mkdirs_beneath(sb->share_fd, MOUNTS_NAME, 0700, err);
    cleanup_close int shared = safe_mkdirs_beneath(sb->share_fd, SHARED_NAME, 0700, err);
    if (mounts < 0 || shared < 0)
        return kerr_wrap(err, "share tree `%s`", sb->share_root);
    char mounts_path[64];
    snprintf(mounts_path, sizeof(mounts_path), "/proc/self/fd/%d", mounts);
    /* mounts/ becomes a mount of its own, in a peer group of its own: what
     * is mounted under it propagates to shared/ and to virtiofsd's private
     * copy, and nowhere else on the host. */
    if (mount_fd(mounts_path, mounts, MS_BIND) < 0)
        return kerr_make(err, errno, "bind `%s/" MOUNTS_NAME "` on itself", sb->share_root);
    sb->share_mounted = true;
    sb->mounts_fd = open_dir_nofollow(sb->share_fd, MOUNTS_NAME, err);
    if (sb->mounts_fd < 0)
        return kerr_wrap(err, "share tree `%s`", sb->share_root);
    if (mount_fd(NULL, sb->mounts_fd, MS_PRIVATE) < 0 ||
        mount_fd(NULL, sb->mounts_fd, MS_SHARED) < 0)
        return kerr_make(err, errno, "make `%s/" MOUNTS_NAME "` a shared mount", sb->share_root);
    snprintf(mounts_path, sizeof(mounts_path), "/proc/self/fd/%d", sb->mounts_fd);
    if (mount_fd(mounts_path, shared, MS_BIND) < 0)
        return kerr_make(err, errno, "bind `%s/" MOUNTS_NAME "` on `%s`", sb->share_root,
                         sb->shared_dir);
    cleanup_close int shared_mnt = open_dir_nofollow(sb->share_fd, SHARED_NAME, err);
    if (shared_mnt < 0)
        return kerr_wrap(err, "share tree `%s`", sb->share_root);
    if (mount_fd(NULL, shared_mnt, MS_SLAVE) < 0)
        return kerr_make(err, errno, "make `%s` a slave mount", sb->shared_dir);
    if (mount_fd(NULL, shared_mnt, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV) < 0)
        return kerr_make(err, errno, "remount `%s` read-only", sb->shared_dir);
    return 0;
}

char *share_bind(struct sandbox *sb, struct container *c, const char *host, const char *name,
                 bool readonly, struct kerr **err)
{
    cleanup_free char *rel = xasprintf("%s/%s", c->id, name);
    /* The source is the caller's word (the spec, containerd's rootfs): its
     * symlinks are followed as runc would; the target is ours, beneath
     * mounts/, and is not. */
    cleanup_close int src = open(host, O_PATH | O_CLOEXEC);
    struct stat st;
    if (src < 0 || fstat(src, &st) < 0) {
        kerr_make(err, errno, "share `%s`", host);
        return NULL;
    }
    cleanup_close int target =
        safe_mount_point_beneath(sb->mounts_fd, rel, S_ISDIR(st.st_mode), err);
    if (target < 0) {
        kerr_wrap(err, "share `%s`", host);
        return NULL;
    }
    uint64_t mnt_id = 0;
    unsigned flags = SAFE_BIND_RECURSIVE | (readonly ? SAFE_BIND_RDONLY : 0);
    if (safe_bind_fd(src, target, flags, &mnt_id, err) < 0) {
        kerr_wrap(err, "bind `%s` on `%s/" MOUNTS_NAME "/%s`", host, sb->share_root, rel);
        return NULL;
    }
    c->shared_mounts =
        xrealloc(c->shared_mounts, (c->n_shared_mounts + 1) * sizeof(*c->shared_mounts));
    c->shared_mounts[c->n_shared_mounts++] = (struct shared_mount){steal_pointer(&rel), mnt_id};
    return xasprintf("%s/%s/%s", GUEST_SHARED_DIR, c->id, name);
}

/* Unmount recorded mounts (last first), then remove what is left of the
 * container's directory: our own mount points, never crossing a mount. */
void share_unbind_container(struct sandbox *sb, struct container *c)
{
    while (c->n_shared_mounts > 0) {
        struct shared_mount *m = &c->shared_mounts[--c->n_shared_mounts];
        cleanup_kerr struct kerr *e = NULL;
        if (sb && sb->mounts_fd >= 0 &&
            safe_umount_beneath(sb->mounts_fd, m->rel, m->mnt_id, &e) < 0)
            log_warn("sandbox `%s`: %s", sb->id, e->msg);
        free(m->rel);
    }
    free(c->shared_mounts);
    c->shared_mounts = NULL;
    if (sb && sb->mounts_fd >= 0) {
        cleanup_kerr struct kerr *e = NULL;
        if (safe_remove_tree_at(sb->mounts_fd, c->id, &e) < 0)
            log_warn("sandbox `%s`: container `%s`: %s", sb->id, c->id, e->msg);
    }
}

/* Unmount shared/ and mounts/ (when they are mount roots) and remove the
 * sandbox's share tree; a mount still inside (an unmount that failed) is
 * left, never crossed. */
static int share_tree_remove_at(const char *share_root, struct kerr **err)
{
    cleanup_close int root = open(share_root, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (root < 0)
        return errno == ENOENT ? 0 : kerr_make(err, errno, "open `%s`", share_root);
    for (const char *const *n = (const char *const[]){SHARED_NAME, MOUNTS_NAME, NULL}; *n; n++) {
        /* Each was bound once; a second pass finds a plain directory. */
        if (safe_umount_beneath(root, *n, 0, err) < 0)
            return kerr_wrap(err, "share tree `%s`", share_root);
    }
    return safe_remove_tree(share_root, err);
}

void share_tree_remove(struct sandbox *sb)
{
    if (sb->mounts_fd >= 0)
        close(sb->mounts_fd);
    sb->mounts_fd = -1;
    if (sb->share_fd >= 0)
        close(sb->share_fd);
    sb->share_fd = -1;
    cleanup_kerr struct kerr *e = NULL;
    if (sb->share_root && share_tree_remove_at(sb->share_root, &e) < 0)
        log_warn("sandbox `%s`: %s", sb->id, e->msg);
}

int share_cleanup_recorded(const char *share_root, const struct shared_mount *recorded, size_t n,
                           struct kerr **err)
{
    cleanup_close int root = open(share_root, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (root < 0)
        return errno == ENOENT ? 0 : kerr_make(err, errno, "open `%s`", share_root);
    cleanup_kerr struct kerr *open_err = NULL;
    cleanup_close int mounts =
        safe_open_beneath(root, MOUNTS_NAME, O_PATH | O_DIRECTORY, 0, false, &open_err);
    for (size_t i = n; mounts >= 0 && i-- > 0;) {
        cleanup_kerr struct kerr *e = NULL;
        if (safe_umount_beneath(mounts, recorded[i].rel, recorded[i].mnt_id, &e) < 0)
            log_warn("%s", e->msg);
    }
    return share_tree_remove_at(share_root, err);
}
