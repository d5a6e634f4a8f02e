/* OCI hooks (runtime spec "POSIX-platform Hooks"), run by the agent inside
 * the guest: each hook is executed with its args and env, the container state
 * JSON on stdin, and killed when its timeout (seconds) passes; at most 120 s,
 * since the agent serves nothing else while it waits (src/lib/oci_hooks.h).
 *
 *   createRuntime, prestart: agent's namespaces, after the init process is set
 *       up and waiting (hooks_run);
 *   createContainer: in the container's mount namespace, before pivot_root
 *       (the child, hooks_run_spec);
 *   startContainer: in the container, after StartContainer, before execve
 *       (the child, hooks_run_spec);
 *   poststart: agent's namespaces after the start (failure is logged);
 *   poststop: after the container's processes are gone (failure is logged). */
#ifndef KATA_AGENT_HOOKS_H
#define KATA_AGENT_HOOKS_H

#include <sys/types.h>

#include "error.h"
#include "oci.pb-c.h"
#include "oci_hooks.h"

struct container;

/* Run every hook of kind for container c (stops at the first failure). */
int hooks_run(struct container *c, enum oci_hook_kind kind, struct kerr **err);
void hooks_run_poststop(struct container *c);

/* The same with everything given (usable in the container's child). */
int hooks_run_spec(const Grpc__Spec *spec, enum oci_hook_kind kind, const char *id,
                   const char *status, pid_t pid, const char *bundle, struct kerr **err);

#endif
