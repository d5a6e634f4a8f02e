/* Calls to the agent (or any service we have descriptors for) with JSON
 * requests and responses: one call, one scripted line, or a file of them.
 * Used by agent-ctl and vm-probe --calls.
 *
 * A calls file holds one call a line: `METHOD JSON`, or `!CODE METHOD JSON`
 * when the call must fail with that status (ALREADY_EXISTS, AlreadyExists or
 * a number).  Blank lines and lines starting with # are skipped.  Each
 * response is printed as one JSON line on stdout ({"error": ..., "code": ...}
 * for an expected failure).  METHOD: "grpc.AgentService.CreateSandbox",
 * "grpc.AgentService/CreateSandbox" or "CreateSandbox". */
#ifndef KATA_AGENT_CALLS_H
#define KATA_AGENT_CALLS_H

#include <protobuf-c/protobuf-c.h>
#include <stdint.h>

#include "error.h"
#include "ttrpc.h"

/* Exit statuses: success; the agent answered with an error status (or an
 * expectation failed); usage, JSON, connection or transport errors. */
enum agent_calls_status { AGENT_CALLS_OK = 0, AGENT_CALLS_STATUS = 1, AGENT_CALLS_TRANSPORT = 2 };

struct agent_calls {
    struct ttrpc_client *client; /* NULL: connect() is called on first use */
    int (*connect)(struct agent_calls *c, struct kerr **err);
    void *data;
    uint64_t timeout_ns;
    int json_flags; /* PBJSON_* */
};

#define AGENT_CALLS_N_SERVICES 3
extern const ProtobufCServiceDescriptor *const agent_calls_services[AGENT_CALLS_N_SERVICES];

int agent_calls_find_method(const char *name, const ProtobufCServiceDescriptor **svc,
                            const ProtobufCMethodDescriptor **method, struct kerr **err);

/* One call: *out gets the response JSON (malloc'd), *code the ttrpc status.
 * Returns an agent_calls_status. */
int agent_calls_one(struct agent_calls *c, const char *method, const char *json, int *code,
                    char **out, struct kerr **err);

/* One line of a calls file (modified in place); where names it in messages. */
int agent_calls_line(struct agent_calls *c, char *line, const char *where);

/* Every line of a file ("-": stdin); stops at the first failure. */
int agent_calls_file(struct agent_calls *c, const char *path);

#endif
