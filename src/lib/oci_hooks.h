/* OCI hooks (runtime spec, "POSIX-platform Hooks"): each hook of a kind is
 * executed in order with its args and env, the container's state JSON on
 * stdin, and killed when its timeout (seconds; at most OCI_HOOK_TIMEOUT_MAX_S)
 * passes.  The caller waits: hooks run synchronously.  Shared by the agent
 * (hooks in the guest) and the sandbox daemon (hooks on the host, which the
 * guest never sees, as in Kata). */
#ifndef KATA_OCI_HOOKS_H
#define KATA_OCI_HOOKS_H

#include <sys/types.h>

#include "error.h"
#include "oci.pb-c.h"

#define OCI_HOOK_TIMEOUT_MAX_S 120

enum oci_hook_kind {
    OCI_HOOK_PRESTART,
    OCI_HOOK_CREATE_RUNTIME,
    OCI_HOOK_CREATE_CONTAINER,
    OCI_HOOK_START_CONTAINER,
    OCI_HOOK_POSTSTART,
    OCI_HOOK_POSTSTOP,
};

/* What the hooks get on stdin (the runtime spec's state). */
struct oci_hook_state {
    const char *id;
    const char *status; /* "creating", "created", "running", "stopped" */
    pid_t pid;
    const char *bundle;
};

const char *oci_hook_kind_name(enum oci_hook_kind kind);

/* Run every hook of kind in hooks (NULL: none).  Stops at the first failure,
 * except for poststart and poststop, whose remaining hooks still run (the
 * spec: those failures are warnings); err names the kind, the index and the
 * path of the first hook that failed, and how many failed when several did. */
int oci_hooks_run(const Grpc__Hooks *hooks, enum oci_hook_kind kind,
                  const struct oci_hook_state *state, struct kerr **err);

#endif
