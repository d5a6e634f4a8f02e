/* Path operations under a directory the host does not fully trust (a
 * sandbox's shared tree, a state root): every lookup is relative to an open
 * directory fd and never follows a symlink, never climbs with "..", never
 * crosses into another mount unless asked; mounts go through fds. */
#ifndef KATA_SAFE_FS_H
#define KATA_SAFE_FS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/* A container or sandbox id usable as one path component: runc's alphabet
 * ([A-Za-z0-9_+.-]), not "." or "..", at most 1024 bytes. */
int safe_id_check(const char *what, const char *id, struct kerr **err);

/* openat2(dirfd, rel, flags) with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS (and RESOLVE_NO_XDEV when no_xdev). */
int safe_open_beneath(int dirfd, const char *rel, int flags, mode_t mode, bool no_xdev,
                      struct kerr **err);

/* mkdir -p of rel beneath dirfd, each component created or opened without
 * following a symlink; returns an O_PATH directory fd of the last one. */
int safe_mkdirs_beneath(int dirfd, const char *rel, mode_t mode, struct kerr **err);

/* A mount point for source beneath dirfd: a directory when is_dir, else an
 * empty regular file (created if absent).  Parents are made as by
 * safe_mkdirs_beneath.  Returns an O_PATH fd of the mount point. */
int safe_mount_point_beneath(int dirfd, const char *rel, bool is_dir, struct kerr **err);

enum {
    SAFE_BIND_RDONLY = 1 << 0,
    SAFE_BIND_RECURSIVE = 1 << 1,
};

/* Bind the tree at source_fd (any fd of it, O_PATH will do) onto the mount
 * point target_fd, nosuid and nodev (read-only, recursively, with
 * SAFE_BIND_RDONLY).  *mnt_id (may be NULL) gets the new mount's id. */
int safe_bind_fd(int source_fd, int target_fd, unsigned flags, uint64_t *mnt_id, struct kerr **err);

/* The mount id of what fd names, and whether it is the root of a mount. */
int safe_mount_id(int fd, uint64_t *mnt_id, bool *is_mount_root, struct kerr **err);

/* Unmount (lazily, MNT_DETACH) the mount whose root is rel beneath dirfd:
 * resolved without symlinks; when mnt_id is not 0 only that very mount is
 * unmounted.  Returns 1 when unmounted, 0 when nothing (or another mount) is
 * mounted there, -1 on error. */
int safe_umount_beneath(int dirfd, const char *rel, uint64_t mnt_id, struct kerr **err);

/* rm -rf of name in the directory parent: never follows a symlink and never
 * descends into another mount; a mount point met inside is left (with its
 * parents) and reported as EBUSY after the rest is removed.  A missing name
 * is not an error. */
int safe_remove_tree_at(int parent, const char *name, struct kerr **err);

/* The same for an absolute path whose parent directories the host owns. */
int safe_remove_tree(const char *path, struct kerr **err);

#endif
