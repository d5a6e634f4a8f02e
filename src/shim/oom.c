/* TaskOOM: one GetOOMEvent call always outstanding to the agent (it answers
 * when a container's OOM-kill count rises); each answer is published as
 * containerd's TaskOOM and the call is made again.  Stops when the agent
 * goes (connection loss answers the call) or does not have the method. */
#include "agent.pb-c.h"
#include "log.h"
#include "shim.h"
#include "task_events.pb-c.h"

static void oom_replied(int code, const char *message, const uint8_t *payload, size_t len,
                        void *data)
{
    struct shim *shim = data;
    if (code != TTRPC_OK) {
        if (code != TTRPC_UNAVAILABLE)
            log_warn("OOM events: GetOOMEvent: %s", message ? message : "failed");
        return;
    }
    Grpc__OOMEvent *ev = grpc__oomevent__unpack(NULL, len, payload);
    if (ev && ev->container_id && container_find(shim, ev->container_id)) {
        log_info("container `%s`: OOM kill", ev->container_id);
        Containerd__Events__TaskOOM oom = CONTAINERD__EVENTS__TASK_OOM__INIT;
        oom.container_id = ev->container_id;
        shim_publish(shim, "/tasks/oom", &oom.base);
    }
    if (ev)
        grpc__oomevent__free_unpacked(ev, NULL);
    shim_oom_watch(shim);
}

void shim_oom_watch(struct shim *shim)
{
    if (!agent_client_connected(shim))
        return;
    Grpc__GetOOMEventRequest req = GRPC__GET_OOMEVENT_REQUEST__INIT;
    if (agent_call_async(shim, "GetOOMEvent", &req.base, 0, oom_replied, shim, NULL) < 0)
        log_warn("OOM events: cannot ask the agent");
}
