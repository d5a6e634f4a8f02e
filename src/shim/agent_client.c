/* The shim's client of the guest agent: grpc.AgentService over ttrpc on the
 * stream the hypervisor driver's agent_connect hands over.  The sandbox owns
 * the connection (sb->agent); everything else calls through here. */
#include "health.pb-c.h"
#include "shim.h"

#include <errno.h>

#define AGENT_SERVICE  "grpc.AgentService"
#define HEALTH_SERVICE "grpc.Health"

int agent_client_open(struct shim *shim, int fd, struct kerr **err)
{
    struct sandbox *sb = shim->sandbox;
    agent_client_close(shim);
    sb->agent = ttrpc_client_new(shim->loop, fd, err);
    return sb->agent ? 0 : -1;
}

void agent_client_close(struct shim *shim)
{
    struct sandbox *sb = shim->sandbox;
    if (sb == NULL || sb->agent == NULL)
        return;
    ttrpc_client_free(sb->agent);
    sb->agent = NULL;
}

int agent_call_status(struct shim *shim, const char *method, const ProtobufCMessage *req,
                      const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
                      uint64_t timeout_ns, int *code, struct kerr **err)
{
    struct sandbox *sb = shim->sandbox;
    if (sb == NULL || sb->agent == NULL)
        return kerr_make(err, ENOTCONN, "agent %s: the sandbox VM is not running", method);
    return ttrpc_client_call(sb->agent, AGENT_SERVICE, method, req, resp_desc, resp, timeout_ns,
                             code, err);
}

int agent_call(struct shim *shim, const char *method, const ProtobufCMessage *req,
               const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
               uint64_t timeout_ns, struct kerr **err)
{
    return agent_call_status(shim, method, req, resp_desc, resp, timeout_ns, NULL, err);
}

bool agent_client_connected(const struct shim *shim)
{
    return shim->sandbox && shim->sandbox->agent;
}

int agent_call_async(struct shim *shim, const char *method, const ProtobufCMessage *req,
                     uint64_t timeout_ns, ttrpc_reply_cb cb, void *data, struct kerr **err)
{
    if (!agent_client_connected(shim))
        return kerr_make(err, ENOTCONN, "agent %s: the sandbox VM is not running", method);
    return ttrpc_client_call_async(shim->sandbox->agent, AGENT_SERVICE, method, req, timeout_ns, cb,
                                   data, err);
}

int agent_health_check(struct shim *shim, uint64_t timeout_ns, int *code, struct kerr **err)
{
    Grpc__CheckRequest req = GRPC__CHECK_REQUEST__INIT;
    if (!agent_client_connected(shim))
        return kerr_make(err, ENOTCONN, "agent Check: the sandbox VM is not running");
    return ttrpc_client_call(shim->sandbox->agent, HEALTH_SERVICE, "Check", &req.base, NULL, NULL,
                             timeout_ns, code, err);
}
