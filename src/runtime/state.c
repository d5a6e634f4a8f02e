/* kata-runtime state ID: the container's state as runc prints it (JSON). */
#include "container.h"
#include "runtime.h"

#include <json-c/json.h>

/* runc's state object; list --format json prints an array of them. */
struct json_object *container_state_json(const struct container *c)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "ociVersion", json_object_new_string(OCI_SPEC_VERSION));
    json_object_object_add(o, "id", json_object_new_string(c->state.id));
    json_object_object_add(o, "pid", json_object_new_int(container_pid(c)));
    json_object_object_add(o, "status", json_object_new_string(c->status));
    json_object_object_add(o, "bundle",
                           json_object_new_string(c->state.bundle ? c->state.bundle : ""));
    json_object_object_add(o, "rootfs",
                           json_object_new_string(c->state.rootfs ? c->state.rootfs : ""));
    json_object_object_add(o, "created",
                           json_object_new_string(c->state.created ? c->state.created : ""));
    json_object_object_add(o, "owner",
                           json_object_new_string(c->state.owner ? c->state.owner : ""));
    if (c->state.annotations && json_object_object_length(c->state.annotations) > 0)
        json_object_object_add(o, "annotations", json_object_get(c->state.annotations));
    return o;
}

int cmd_state(int argc, char **argv)
{
    const char *id = verb_simple_id("state", "state ID", argc, argv);
    if (!id)
        return 1;
    cleanup_kerr struct kerr *err = NULL;
    cleanup_container struct container c;
    if (container_open(id, &c, &err) < 0)
        return runtime_fail(&err);
    struct json_object *o = container_state_json(&c);
    printf("%s\n",
           json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                 JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    return 0;
}
