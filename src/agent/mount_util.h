/* Paths confined under a root directory, and mount(2) options split the way
 * runc splits them (MS_* flags apart from filesystem data). */
#ifndef KATA_AGENT_MOUNT_UTIL_H
#define KATA_AGENT_MOUNT_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

/* path must be absolute, free of "." and ".." components and under root (or
 * root itself).  *rel gets the part after root ("" for root), pointing into
 * path.  what names the path in errors ("mount point"). */
int path_under_root(const char *root, const char *path, const char *what, const char **rel,
                    struct kerr **err);

/* Open rel (relative to the directory rootfd) without leaving it: symlinks
 * that would point outside, and magic links, fail with EXDEV/ELOOP.  flags as
 * for openat (O_PATH, O_DIRECTORY, ...).  Returns the fd or -1 with errno set. */
int open_beneath(int rootfd, const char *rel, int flags, mode_t mode);

/* Open directory rel beneath rootfd as O_PATH, creating missing components
 * with mode (mkdir -p that cannot be redirected outside by symlinks). */
int mkdir_beneath(int rootfd, const char *rel, mode_t mode, struct kerr **err);

/* What a list of mount options means to mount(2). */
struct mount_opts {
    unsigned long flags;       /* MS_RDONLY, MS_NOSUID, MS_BIND, ... */
    unsigned long propagation; /* MS_PRIVATE, MS_SHARED, ... (| MS_REC), applied after */
    char *data;                /* what the filesystem parses ("size=10m,mode=755"), or NULL */
};

/* Split options ("ro", "nosuid", "size=1m", ...); unknown words go to data. */
void mount_opts_parse(char *const *options, size_t n, struct mount_opts *out);
/* Append "key=value" (or a word) to data unless an option with that key is there. */
void mount_opts_default(struct mount_opts *o, const char *option);
void mount_opts_release(struct mount_opts *o);

/* Mount source on the directory fd target_fd (through /proc/self/fd, so the
 * mount lands on the checked directory even if the path is swapped), then
 * apply propagation.  target names it in errors. */
int mount_on_fd(const char *source, int target_fd, const char *target, const char *fstype,
                const struct mount_opts *o, struct kerr **err);

/* Unmount target (never following a symlink), retrying a busy mount briefly,
 * lazily detaching as the last resort (logged). */
int unmount_path(const char *target, struct kerr **err);

#endif
