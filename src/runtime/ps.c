/* kata-runtime ps [--format table|json] ID: the container's processes (Task/
 * Pids).  They are guest pids: the host's ps cannot describe them, so the
 * table lists the pids alone. */
#include "container.h"
#include "runtime.h"

#include <getopt.h>
#include <string.h>

int cmd_ps(int argc, char **argv)
{
    static const struct option options[] = {
        {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *format = "table";
    int c;
    optind = 0;
    while ((c = getopt_long_only(argc, argv, "+f:h", options, NULL)) != -1) {
        if (c == 'f') {
            format = optarg;
        } else if (c == 'h') {
            printf("Usage: kata-runtime ps [--format table|json] ID\n");
            return 0;
        } else {
            return 1;
        }
    }
    if (strcmp(format, "table") != 0 && strcmp(format, "json") != 0)
        return runtime_fail_msg("invalid format option \"%s\"", format);
    if (argc - optind < 1)
        return runtime_fail_msg("\"ps\" requires a minimum of 1 argument");
    const char *id = argv[optind];
    cleanup_kerr struct kerr *err = NULL;
    cleanup_container struct container ct;
    if (container_open(id, &ct, &err) < 0)
        return runtime_fail(&err);
    if (strcmp(ct.status, "stopped") == 0 || container_need_daemon(&ct, &err) < 0) {
        kerr_clear(&err);
        return runtime_fail_msg("container \"%s\" is not running", id);
    }
    Containerd__Task__V2__PidsRequest req = CONTAINERD__TASK__V2__PIDS_REQUEST__INIT;
    req.id = ct.state.id;
    Containerd__Task__V2__PidsResponse *resp = NULL;
    if (task_call(&ct.task, "Pids", &req.base, &containerd__task__v2__pids_response__descriptor,
                  (ProtobufCMessage **)&resp, TASK_TIMEOUT_NS, NULL, &err) < 0) {
        kerr_wrap(&err, "ps of container \"%s\"", id);
        return runtime_fail(&err);
    }
    if (strcmp(format, "json") == 0) {
        printf("[");
        for (size_t i = 0; i < resp->n_processes; i++)
            printf("%s%u", i ? "," : "", resp->processes[i]->pid);
        printf("]\n");
    } else {
        printf("PID\n");
        for (size_t i = 0; i < resp->n_processes; i++)
            printf("%u\n", resp->processes[i]->pid);
    }
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return 0;
}
