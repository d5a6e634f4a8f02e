/* kata-runtime start ID: start a created container's process (Task/Start). */
#include "container.h"
#include "runtime.h"

#include <stdlib.h>
#include <string.h>

int cmd_start(int argc, char **argv)
{
    const char *id = verb_simple_id("start", "start ID", argc, argv);
    if (!id)
        return 1;
    cleanup_kerr struct kerr *err = NULL;
    cleanup_container struct container c;
    if (container_open(id, &c, &err) < 0)
        return runtime_fail(&err);
    if (strcmp(c.status, "stopped") == 0)
        return runtime_fail_msg("cannot start a container that has stopped");
    if (strcmp(c.status, "running") == 0)
        return runtime_fail_msg("cannot start an already running container");
    if (strcmp(c.status, "paused") == 0)
        return runtime_fail_msg("cannot start a paused container");
    Containerd__Task__V2__StartRequest req = CONTAINERD__TASK__V2__START_REQUEST__INIT;
    req.id = c.state.id;
    if (task_call(&c.task, "Start", &req.base, &containerd__task__v2__start_response__descriptor,
                  NULL, TASK_TIMEOUT_NS, NULL, &err) < 0) {
        kerr_wrap(&err, "start container \"%s\"", id);
        return runtime_fail(&err);
    }
    free(c.state.status);
    c.state.status = strdup("running");
    if (state_save(&c.state, &err) < 0)
        return runtime_fail(&err);
    return 0;
}
