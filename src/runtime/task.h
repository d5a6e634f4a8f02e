/* The sandbox daemon's Task API (containerd.task.v2.Task over ttrpc), as the
 * CLI calls it: one connection per verb, synchronous calls with deadlines. */
#ifndef KATA_RUNTIME_TASK_H
#define KATA_RUNTIME_TASK_H

#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "error.h"
#include "loop.h"
#include "shim.pb-c.h"
#include "ttrpc.h"

#define TASK_SERVICE "containerd.task.v2.Task"

/* Deadlines: Create boots a VM (TCG: about a second, much more under load). */
#define TASK_TIMEOUT_NS        (30ull * 1000000000ull)
#define TASK_CREATE_TIMEOUT_NS (180ull * 1000000000ull)

struct task_client {
    struct loop *loop;
    struct ttrpc_client *client;
};

/* Connect to "unix:///path", "unix://path" or "/path".  A daemon that is
 * gone (no socket, refused) fails with ECONNREFUSED or ENOENT in status. */
int task_connect(const char *address, struct task_client *t, struct kerr **err);
/* Use an existing loop (the holder's); the client is added to it. */
int task_connect_on(struct loop *loop, const char *address, struct task_client *t,
                    struct kerr **err);
void task_close(struct task_client *t);

/* Call Task/<method>.  response_desc NULL means google.protobuf.Empty (the
 * response is discarded).  *code (if not NULL) gets the ttrpc status code. */
int task_call(struct task_client *t, const char *method, const ProtobufCMessage *request,
              const ProtobufCMessageDescriptor *response_desc, ProtobufCMessage **response,
              uint64_t timeout_ns, int *code, struct kerr **err);

/* containerd.v1.types.Status as runc's status word. */
const char *task_status_name(int status);

static inline void cleanup_task_fn(struct task_client *t)
{
    task_close(t);
}
#define cleanup_task __attribute__((cleanup(cleanup_task_fn)))

#endif
