/* A container as a verb sees it: its state file, a connection to its
 * sandbox daemon (when the daemon is there) and its status now. */
#ifndef KATA_RUNTIME_CONTAINER_H
#define KATA_RUNTIME_CONTAINER_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "runtime_state.h"
#include "task.h"

struct container {
    struct container_state state;
    struct task_client task; /* task.client is NULL when the daemon is gone */
    const char *status;      /* created, running, paused, stopped (static) */
    uint32_t exit_status;    /* when stopped and the daemon knows */
};

/* Load the state and ask the daemon.  Fails only when the container does not
 * exist (or its state is unreadable); a daemon that is gone means stopped. */
int container_open(const char *id, struct container *c, struct kerr **err);
void container_close(struct container *c);

/* The daemon is reachable (otherwise err says why, in runc's words). */
int container_need_daemon(struct container *c, struct kerr **err);

/* The pid runc's state/list print: the holder while the container lives. */
pid_t container_pid(const struct container *c);

/* Task/Kill (signal to the init process, or all of them). */
int container_kill(struct container *c, int signal, bool all, struct kerr **err);

/* Task/Delete of the init process, Task/Shutdown of the daemon, wait for it to
 * go, then the holder and the state directory; with force any leftover is
 * cleaned through `containerd-shim-kata-v2 delete`. */
int container_destroy(struct container *c, bool force, struct kerr **err);

/* runc's state JSON object for the container (state and list). */
struct json_object *container_state_json(const struct container *c);

static inline void cleanup_container_fn(struct container *c)
{
    container_close(c);
}
#define cleanup_container __attribute__((cleanup(cleanup_container_fn)))

#endif
