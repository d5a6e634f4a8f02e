/* Task API client: see task.h. */
#include "task.h"

#include "empty.pb-c.h"
#include "task_types.pb-c.h"
#include "util.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const char *address_path(const char *address)
{
    if (strncmp(address, "unix://", 7) == 0)
        return address + 7;
    return address;
}

int task_connect_on(struct loop *loop, const char *address, struct task_client *t,
                    struct kerr **err)
{
    t->client = NULL;
    if (!address || !*address)
        return kerr_make(err, ENOENT, "connect to the sandbox daemon: no address recorded");
    const char *path = address_path(address);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return kerr_make(err, ENAMETOOLONG, "connect to the sandbox daemon at `%s`", address);
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return kerr_make(err, errno, "connect to the sandbox daemon: socket");
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        return kerr_make(err, e, "connect to the sandbox daemon at `%s`", address);
    }
    t->client = ttrpc_client_new(loop, fd, err);
    if (!t->client)
        return kerr_wrap(err, "connect to the sandbox daemon at `%s`", address);
    return 0;
}

int task_connect(const char *address, struct task_client *t, struct kerr **err)
{
    t->loop = loop_new(err);
    t->client = NULL;
    if (!t->loop)
        return -1;
    if (task_connect_on(t->loop, address, t, err) < 0) {
        loop_free(t->loop);
        t->loop = NULL;
        return -1;
    }
    return 0;
}

void task_close(struct task_client *t)
{
    if (t->client)
        ttrpc_client_free(t->client);
    t->client = NULL;
    if (t->loop)
        loop_free(t->loop);
    t->loop = NULL;
}

int task_call(struct task_client *t, const char *method, const ProtobufCMessage *request,
              const ProtobufCMessageDescriptor *response_desc, ProtobufCMessage **response,
              uint64_t timeout_ns, int *code, struct kerr **err)
{
    ProtobufCMessage *discard = NULL;
    if (!response_desc) {
        response_desc = &google__protobuf__empty__descriptor;
        response = &discard;
    }
    int r = ttrpc_client_call(t->client, TASK_SERVICE, method, request, response_desc, response,
                              timeout_ns, code, err);
    if (discard)
        protobuf_c_message_free_unpacked(discard, NULL);
    return r;
}

const char *task_status_name(int status)
{
    switch (status) {
    case CONTAINERD__V1__TYPES__STATUS__CREATED:
        return "created";
    case CONTAINERD__V1__TYPES__STATUS__RUNNING:
        return "running";
    case CONTAINERD__V1__TYPES__STATUS__PAUSED:
    case CONTAINERD__V1__TYPES__STATUS__PAUSING:
        return "paused";
    case CONTAINERD__V1__TYPES__STATUS__STOPPED:
        return "stopped";
    default:
        return "unknown";
    }
}
