/* The container's filesystem view, built in the init process's new mount
 * namespace before it executes (runc's prepareRootfs/finalizeRootfs):
 *
 *   rootfs_prepare: "/" made rslave (or the spec's rootfsPropagation), the
 *       rootfs bind-mounted on itself, the spec's mounts with their options and
 *       propagation (destinations resolved inside the rootfs, symlinks
 *       confined), /dev with the default devices, the spec's devices and the
 *       standard symlinks when the spec mounts a fresh /dev;
 *   rootfs_pivot: pivot_root into it (MS_MOVE + chroot where the old root is
 *       an initramfs, which cannot be pivoted), the old root detached;
 *   rootfs_finish: readonly root and hostname.
 *
 * Everything runs in the single-threaded child; errors name the mount or
 * device ("mount `proc` on `/proc`: ..."). */
#ifndef KATA_AGENT_ROOTFS_H
#define KATA_AGENT_ROOTFS_H

#include "error.h"
#include "oci.pb-c.h"

int rootfs_prepare(const Grpc__Spec *spec, const char *rootfs, struct kerr **err);
int rootfs_pivot(const char *rootfs, struct kerr **err);
int rootfs_finish(const Grpc__Spec *spec, struct kerr **err);

/* Resolve path inside root as if root were "/": ".." stops at root and
 * symlinks are followed inside it (at most 40).  Returns root + the resolved
 * path (allocated); the last components need not exist. */
char *rootfs_resolve(const char *root, const char *path, struct kerr **err);

/* Mount options: flags to set and clear, propagation flags, and the rest as
 * the data string ("size=64m,mode=755").  Unknown options go to data. */
struct mount_options {
    unsigned long flags;
    unsigned long clear;
    unsigned long propagation;
    char *data; /* allocated, NULL when empty */
};
void rootfs_parse_options(char *const *options, size_t n, struct mount_options *out);

#endif
