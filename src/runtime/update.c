/* kata-runtime update [--resources FILE|-] [--memory ... --cpu-quota ...
 * --pids-limit ...] ID: change the container's resources (Task/Update with
 * an OCI LinuxResources document, as containerd sends it). */
#include "any.pb-c.h"
#include "bundle.h"
#include "container.h"
#include "runtime.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RESOURCES_TYPE_URL "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources"

enum value_kind { VALUE_BYTES, VALUE_INT, VALUE_UINT, VALUE_STRING };

/* runc's flags, each one field of LinuxResources. */
static const struct resource_flag {
    const char *name;
    const char *section; /* memory, cpu, pids, blockIO */
    const char *field;
    enum value_kind kind;
} resource_flags[] = {
    {"memory", "memory", "limit", VALUE_BYTES},
    {"memory-reservation", "memory", "reservation", VALUE_BYTES},
    {"memory-swap", "memory", "swap", VALUE_BYTES},
    {"kernel-memory", "memory", "kernel", VALUE_BYTES},
    {"kernel-memory-tcp", "memory", "kernelTCP", VALUE_BYTES},
    {"cpu-shares", "cpu", "shares", VALUE_UINT},
    {"cpu-quota", "cpu", "quota", VALUE_INT},
    {"cpu-period", "cpu", "period", VALUE_UINT},
    {"cpu-rt-period", "cpu", "realtimePeriod", VALUE_UINT},
    {"cpu-rt-runtime", "cpu", "realtimeRuntime", VALUE_INT},
    {"cpuset-cpus", "cpu", "cpus", VALUE_STRING},
    {"cpuset-mems", "cpu", "mems", VALUE_STRING},
    {"pids-limit", "pids", "limit", VALUE_INT},
    {"blkio-weight", "blockIO", "weight", VALUE_UINT},
};

/* "512m", "1G", "1048576", "-1" (unlimited). */
static int parse_value(const char *text, enum value_kind kind, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text)
        return -1;
    if (kind == VALUE_BYTES && *end) {
        static const char units[] = "kmgt";
        const char *u = strchr(units, (char)(*end | 0x20));
        if (!u || v < 0)
            return -1;
        for (const char *p = units; p <= u; p++)
            v *= 1024;
        end++;
        if (*end == 'b' || *end == 'B')
            end++;
    }
    if (*end || (kind == VALUE_UINT && v < 0))
        return -1;
    *out = v;
    return 0;
}

static struct json_object *section(struct json_object *doc, const char *name)
{
    struct json_object *s;
    if (!json_object_object_get_ex(doc, name, &s)) {
        s = json_object_new_object();
        json_object_object_add(doc, name, s);
    }
    return s;
}

int cmd_update(int argc, char **argv)
{
    enum { OPT_RESOURCES = 1000, OPT_FIRST_FLAG = 2000 };
    struct option options[ARRAY_SIZE(resource_flags) + 3];
    size_t n = 0;
    options[n++] = (struct option){"resources", required_argument, NULL, 'r'};
    options[n++] = (struct option){"help", no_argument, NULL, 'h'};
    for (size_t i = 0; i < ARRAY_SIZE(resource_flags); i++)
        options[n++] = (struct option){resource_flags[i].name, required_argument, NULL,
                                       OPT_FIRST_FLAG + (int)i};
    options[n] = (struct option){0};

    const char *resources_file = NULL;
    struct json_object *doc = json_object_new_object();
    int c;
    optind = 0;
    while ((c = getopt_long_only(argc, argv, "+r:h", options, NULL)) != -1) {
        if (c == 'r') {
            resources_file = optarg;
        } else if (c == 'h') {
            printf("Usage: kata-runtime update [--resources FILE|-] [--memory BYTES] "
                   "[--cpu-quota N] [--cpu-period N] [--cpu-shares N] [--cpuset-cpus LIST] "
                   "[--pids-limit N] ... ID\n");
            json_object_put(doc);
            return 0;
        } else if (c >= OPT_FIRST_FLAG && c < OPT_FIRST_FLAG + (int)ARRAY_SIZE(resource_flags)) {
            const struct resource_flag *f = &resource_flags[c - OPT_FIRST_FLAG];
            struct json_object *s = section(doc, f->section);
            int64_t v;
            if (f->kind == VALUE_STRING) {
                json_object_object_add(s, f->field, json_object_new_string(optarg));
            } else if (parse_value(optarg, f->kind, &v) == 0) {
                json_object_object_add(s, f->field, json_object_new_int64(v));
            } else {
                json_object_put(doc);
                return runtime_fail_msg("invalid value for --%s: \"%s\"", f->name, optarg);
            }
        } else {
            json_object_put(doc);
            return 1;
        }
    }
    const char *id = verb_id_argument("update", argc, argv, optind);
    if (!id) {
        json_object_put(doc);
        return 1;
    }
    cleanup_kerr struct kerr *err = NULL;
    if (resources_file) {
        json_object_put(doc);
        doc = strcmp(resources_file, "-") == 0
                  ? json_parse_stdin(BUNDLE_CONFIG_MAX, &err)
                  : json_parse_file(resources_file, BUNDLE_CONFIG_MAX, &err);
        if (!doc)
            return runtime_fail(&err);
        if (!json_object_is_type(doc, json_type_object)) {
            json_object_put(doc);
            return runtime_fail_msg("update: `%s` is not a JSON object", resources_file);
        }
    }
    cleanup_container struct container ct;
    if (container_open(id, &ct, &err) < 0) {
        json_object_put(doc);
        return runtime_fail(&err);
    }
    if (strcmp(ct.status, "stopped") == 0) {
        json_object_put(doc);
        return runtime_fail_msg("container \"%s\" is not running", id);
    }
    const char *text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN);
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    any.type_url = RESOURCES_TYPE_URL;
    any.value.data = (uint8_t *)text;
    any.value.len = strlen(text);
    Containerd__Task__V2__UpdateTaskRequest req = CONTAINERD__TASK__V2__UPDATE_TASK_REQUEST__INIT;
    req.id = ct.state.id;
    req.resources = &any;
    int r = task_call(&ct.task, "Update", &req.base, NULL, NULL, TASK_TIMEOUT_NS, NULL, &err);
    json_object_put(doc);
    if (r < 0) {
        kerr_wrap(&err, "update container \"%s\"", id);
        return runtime_fail(&err);
    }
    return 0;
}
