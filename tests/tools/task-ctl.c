/* task-ctl: call the sandbox daemon's containerd.task.v2.Task the way
 * containerd does, JSON in, JSON out, so tests can script Task calls.
 *
 *   task-ctl unix:///path/to.sock METHOD '{"id": "c1", ...}' [--timeout S]
 *
 * Prints the response as JSON (field names as in shim.proto) and exits 0, or
 * prints "CODE: message" on stderr and exits 1.  Bytes are base64 or
 * {"@text": "..."} (an exec's process spec: {"spec": {"type_url": ...,
 * "value": {"@text": "{...}"}}}); Stats' cgroup v2 Metrics are printed decoded
 * under "metrics". */
#include "empty.pb-c.h"
#include "channel.h"
#include "loop.h"
#include "cgroups_v2_metrics.pb-c.h"
#include "pbjson.h"
#include "shim.pb-c.h"
#include "ttrpc.h"
#include "util.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EMPTY &google__protobuf__empty__descriptor
#define T(x)  &containerd__task__v2__##x##__descriptor

static const struct {
    const char *name;
    const ProtobufCMessageDescriptor *req, *resp;
} methods[] = {
    {"State", T(state_request), T(state_response)},
    {"Create", T(create_task_request), T(create_task_response)},
    {"Start", T(start_request), T(start_response)},
    {"Delete", T(delete_request), T(delete_response)},
    {"Pids", T(pids_request), T(pids_response)},
    {"Pause", T(pause_request), EMPTY},
    {"Resume", T(resume_request), EMPTY},
    {"Checkpoint", T(checkpoint_task_request), EMPTY},
    {"Kill", T(kill_request), EMPTY},
    {"Exec", T(exec_process_request), EMPTY},
    {"ResizePty", T(resize_pty_request), EMPTY},
    {"CloseIO", T(close_iorequest), EMPTY},
    {"Update", T(update_task_request), EMPTY},
    {"Wait", T(wait_request), T(wait_response)},
    {"Stats", T(stats_request), T(stats_response)},
    {"Connect", T(connect_request), T(connect_response)},
    {"Shutdown", T(shutdown_request), EMPTY},
};

/* StatsResponse: decode the Any when it holds cgroup v2 Metrics. */
static void add_metrics(struct json_object *out, const ProtobufCMessage *resp)
{
    if (resp->descriptor != &containerd__task__v2__stats_response__descriptor)
        return;
    const Containerd__Task__V2__StatsResponse *r = (const void *)resp;
    if (r->stats == NULL || strcmp(r->stats->type_url, "io.containerd.cgroups.v2.Metrics") != 0)
        return;
    ProtobufCMessage *metrics =
        protobuf_c_message_unpack(&io__containerd__cgroups__v2__metrics__descriptor, NULL,
                                  r->stats->value.len, r->stats->value.data);
    if (metrics == NULL)
        return;
    json_object_object_add(out, "metrics", pbjson_to_object(metrics, 0));
    protobuf_c_message_free_unpacked(metrics, NULL);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "Usage: task-ctl ADDRESS METHOD JSON [TIMEOUT_SECONDS]\n");
        return 2;
    }
    const char *address = argv[1];
    if (strncmp(address, "unix://", 7) == 0)
        address += 7;
    size_t m = 0;
    while (m < ARRAY_SIZE(methods) && strcmp(methods[m].name, argv[2]) != 0)
        m++;
    if (m == ARRAY_SIZE(methods)) {
        fprintf(stderr, "task-ctl: unknown method `%s`\n", argv[2]);
        return 2;
    }
    double timeout = argc > 4 ? atof(argv[4]) : 300;
    cleanup_kerr struct kerr *err = NULL;
    ProtobufCMessage *req = pbjson_parse(methods[m].req, argv[3], &err);
    if (req == NULL) {
        fprintf(stderr, "task-ctl: request: %s\n", err ? err->msg : "invalid JSON");
        return 2;
    }
    struct loop *loop = loop_new(&err);
    int fd = loop ? unix_connect(address, &err) : -1;
    struct ttrpc_client *c = fd >= 0 ? ttrpc_client_new(loop, fd, &err) : NULL;
    ProtobufCMessage *resp = NULL;
    int status = 1;
    if (c && ttrpc_client_call(c, "containerd.task.v2.Task", argv[2], req, methods[m].resp, &resp,
                               (uint64_t)(timeout * 1e9), NULL, &err) == 0) {
        struct json_object *out = pbjson_to_object(resp, PBJSON_BYTES_TEXT);
        add_metrics(out, resp);
        printf("%s\n", json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
        json_object_put(out);
        protobuf_c_message_free_unpacked(resp, NULL);
        status = 0;
    } else {
        fprintf(stderr, "%s\n", err ? err->msg : "failed");
    }
    protobuf_c_message_free_unpacked(req, NULL);
    ttrpc_client_free(c);
    loop_free(loop);
    return status;
}
