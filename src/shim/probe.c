/* Is a sandbox daemon serving this socket?  A successful connect() is not
 * enough: a daemon that was just killed may still hold its listening socket
 * for a moment while the kernel tears it down, and the connection is then
 * accepted by the backlog and closed without an answer.  So we ask: any
 * answer to Task.Connect means a daemon serves; a connection closed without
 * one means it is gone.  A daemon too busy to answer in time counts as alive
 * (cleaning up a live sandbox would be worse than leaving a dead one). */
#include "channel.h"
#include "loop.h"
#include "shim.h"
#include "shim.pb-c.h"
#include "ttrpc.h"
#include "util.h"

#include <unistd.h>

#define PROBE_TIMEOUT_NS (5ull * 1000 * 1000 * 1000)

bool shim_daemon_serves(const char *socket_path)
{
    int fd = unix_connect(socket_path, NULL);
    if (fd < 0)
        return false;
    struct loop *loop = loop_new(NULL);
    if (!loop) {
        close(fd);
        return true;
    }
    struct ttrpc_client *client = ttrpc_client_new(loop, fd, NULL);
    bool serves = true;
    if (client) {
        Containerd__Task__V2__ConnectRequest req = CONTAINERD__TASK__V2__CONNECT_REQUEST__INIT;
        req.id = (char *)"";
        ProtobufCMessage *resp = NULL;
        int code = TTRPC_OK;
        if (ttrpc_client_call(client, "containerd.task.v2.Task", "Connect", &req.base,
                              &containerd__task__v2__connect_response__descriptor, &resp,
                              PROBE_TIMEOUT_NS, &code, NULL) < 0)
            serves = code != TTRPC_UNAVAILABLE;
        if (resp)
            protobuf_c_message_free_unpacked(resp, NULL);
        ttrpc_client_free(client);
    } /* else ttrpc_client_new closed fd */
    loop_free(loop);
    return serves;
}
