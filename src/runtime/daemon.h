/* The sandbox daemon (containerd-shim-kata-v2) as the CLI starts and cleans
 * it: the shim binary protocol, exactly as containerd drives it. */
#ifndef KATA_RUNTIME_DAEMON_H
#define KATA_RUNTIME_DAEMON_H

#include "error.h"
#include "runtime_state.h"

#define DAEMON_BINARY_NAME "containerd-shim-kata-v2"
#define DAEMON_NAMESPACE   "kata-runtime"

/* KATA_SHIM_PATH as create recorded it in s (may be NULL) or as set now,
 * else the binary beside kata-runtime, else the name (found in PATH).
 * malloc'd. */
char *daemon_binary(const struct container_state *s);

/* The daemon's binary and directories (KATA_SHIM_PATH, KATA_STATE_DIR,
 * KATA_SHARED_DIR, KATA_SHIM_SOCKET_DIR) as set here, into s->daemon_env;
 * every later call of the shim binary gets them again. */
void daemon_env_record(struct container_state *s);

/* `containerd-shim-kata-v2 -namespace N -id ID -bundle B start` in the bundle
 * directory (KATA_CONF_FILE set from --config): returns the printed ttrpc
 * address (malloc'd) or NULL with the daemon's own error text. */
char *daemon_start(const struct container_state *s, struct kerr **err);

/* `... delete`: cleans up after a daemon that is gone (VMM, virtiofsd,
 * mounts, the daemon's state). */
int daemon_cleanup(const struct container_state *s, struct kerr **err);

/* Wait up to timeout_ms for pid (started at start_time) to be gone;
 * SIGKILL it after that.  Returns true when it went on its own. */
bool daemon_wait_gone(pid_t pid, uint64_t start_time, int timeout_ms);

#endif
