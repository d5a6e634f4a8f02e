/* What runc applies to a container process after its rootfs is in place and
 * before execve: the OCI spec's process and security settings.  Everything
 * here runs in the (single-threaded) child, in this order:
 *
 *   oci_apply_rootfs_policy (init only, after pivot_root): sysctls,
 *       readonly paths, masked paths
 *   oci_apply_process: oom_score_adj, rlimits, no_new_privileges, seccomp
 *       (here when no_new_privileges is off: loading then needs
 *       CAP_SYS_ADMIN, which the next step may drop), capabilities'
 *       bounding set, user (additional gids, gid, uid, with PR_SET_KEEPCAPS
 *       so capabilities survive), effective/permitted/inheritable and
 *       ambient sets, seccomp (here, last, when no_new_privileges is on)
 *
 * The agent may call oci_seccomp_prepare before cloning the child (checks
 * and compiles the profile once; the child inherits the result).
 *
 * Errors name the setting and value ("rlimit `RLIMIT_NOFILE`: ...",
 * "capability `CAP_FOO` (effective set): unknown", "seccomp syscall `foo`:
 * ...").  The caller sends err->msg to the parent and exits. */
#ifndef KATA_AGENT_OCI_SECURITY_H
#define KATA_AGENT_OCI_SECURITY_H

#include "error.h"
#include "oci.pb-c.h"

/* Optional, in the agent before cloning the container process: check and
 * compile the spec's seccomp profile (cached by content), so a bad profile
 * fails CreateContainer early and the child only loads the compiled
 * program (a Docker-sized profile costs ~15 ms to compile). */
int oci_seccomp_prepare(const Grpc__Linux *linux_, struct kerr **err);

int oci_apply_rootfs_policy(const Grpc__Linux *linux_, struct kerr **err);
int oci_apply_process(const Grpc__Process *process, const Grpc__Linux *linux_, struct kerr **err);

/* Pieces, exported for unit tests. */
int oci_capability_from_name(const char *name); /* "CAP_SYS_ADMIN" -> 21, -1 if unknown */
int oci_rlimit_from_name(const char *name);     /* "RLIMIT_NOFILE" -> 7, -1 if unknown */

#endif
