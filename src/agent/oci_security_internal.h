/* The pieces of oci_security.h, one file each: capabilities.c, seccomp.c,
 * rootfs_policy.c (sysctls, readonly and masked paths). */
#ifndef KATA_AGENT_OCI_SECURITY_INTERNAL_H
#define KATA_AGENT_OCI_SECURITY_INTERNAL_H

#include <linux/filter.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "oci.pb-c.h"

/* Drop every capability not named in the spec's bounding set
 * (PR_CAPBSET_DROP).  Needs CAP_SETPCAP, so it runs before the uid change. */
int oci_capabilities_apply_bounding(const Grpc__LinuxCapabilities *caps, struct kerr **err);

/* Set effective, permitted and inheritable (capset) and the ambient set
 * (PR_CAP_AMBIENT), after the uid change with PR_SET_KEEPCAPS. */
int oci_capabilities_apply_sets(const Grpc__LinuxCapabilities *caps, struct kerr **err);

/* Check every name in every set (the first unknown one is the error). */
int oci_capabilities_validate(const Grpc__LinuxCapabilities *caps, struct kerr **err);

/* The highest capability this kernel knows (/proc/sys/kernel/cap_last_cap). */
int oci_capability_last(void);

/* Load the spec's seccomp filter into the calling thread (compiling it
 * unless oci_seccomp_prepare already did). */
int oci_seccomp_load(const Grpc__LinuxSeccomp *seccomp, struct kerr **err);

/* runc's -ENOSYS stub for the profile (seccomp_enosys.c): instructions to
 * put in front of libseccomp's program so syscalls newer than any the
 * profile names return ENOSYS; *n == 0 when none is needed. */
int oci_seccomp_enosys_stub(const Grpc__LinuxSeccomp *seccomp, uint32_t default_action,
                            struct sock_filter **insns, size_t *n, struct kerr **err);

/* How many compiled profiles are cached (for tests). */
size_t oci_seccomp_cache_size(void);

/* "net.ipv4.ip_forward" -> "net/ipv4/ip_forward" when the key is one a
 * container may set (runc's list: IPC sysctls, fs.mqueue.*, net.*,
 * kernel.domainname); NULL with err naming the key otherwise. */
char *oci_sysctl_path(const char *key, struct kerr **err);

int oci_sysctls_apply(const Grpc__Linux *linux_, struct kerr **err);
int oci_readonly_path(const char *path, struct kerr **err);
int oci_masked_path(const char *path, struct kerr **err);

#endif
