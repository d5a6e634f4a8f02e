/* kata-runtime resume ID: thaw a paused container (Task/Resume). */
#include "container.h"
#include "runtime.h"

#include <stdlib.h>
#include <string.h>

int cmd_resume(int argc, char **argv)
{
    const char *id = verb_simple_id("resume", "resume ID", argc, argv);
    if (!id)
        return 1;
    cleanup_kerr struct kerr *err = NULL;
    cleanup_container struct container c;
    if (container_open(id, &c, &err) < 0)
        return runtime_fail(&err);
    if (strcmp(c.status, "paused") != 0)
        return runtime_fail_msg("container \"%s\" is not paused (status %s)", id, c.status);
    Containerd__Task__V2__ResumeRequest req = CONTAINERD__TASK__V2__RESUME_REQUEST__INIT;
    req.id = c.state.id;
    if (task_call(&c.task, "Resume", &req.base, NULL, NULL, TASK_TIMEOUT_NS, NULL, &err) < 0) {
        kerr_wrap(&err, "resume container \"%s\"", id);
        return runtime_fail(&err);
    }
    free(c.state.status);
    c.state.status = strdup("running");
    if (state_save(&c.state, &err) < 0)
        return runtime_fail(&err);
    return 0;
}
