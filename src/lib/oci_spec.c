/* OCI JSON into the agent's protobuf messages (pbjson.h has the rules; OCI adds key aliases and
 * skips unknown keys). */
#include "oci_spec.h"
#include "pbjson.h"
#include "util.h"

#include <errno.h>
#include <json-c/json.h>
#include <string.h>

#define OCI_SPEC_MAX_DEPTH 64

static const struct pbjson_alias oci_aliases[] = {
    {"ociVersion", "Version"},
    {NULL, NULL},
};

static ProtobufCMessage *parse_as(const char *json, size_t len,
                                  const ProtobufCMessageDescriptor *desc, struct kerr **err)
{
    if (len > OCI_SPEC_MAX_SIZE) {
        kerr_make(err, EFBIG, "OCI JSON of %zu bytes", len);
        return NULL;
    }
    struct json_tokener *tok = json_tokener_new_ex(OCI_SPEC_MAX_DEPTH);
    struct json_object *obj = json_tokener_parse_ex(tok, json, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    json_tokener_free(tok);
    if (obj == NULL || jerr != json_tokener_success) {
        json_object_put(obj);
        kerr_make(err, EINVAL, "invalid JSON: %s",
                  jerr == json_tokener_continue ? "unexpected end" : json_tokener_error_desc(jerr));
        return NULL;
    }
    static const struct pbjson_options oci = {.ignore_unknown = true, .aliases = oci_aliases};
    ProtobufCMessage *msg = pbjson_from_object_with(desc, obj, &oci, err);
    json_object_put(obj);
    return msg;
}

Grpc__Spec *oci_spec_parse(const char *json, size_t len, struct kerr **err)
{
    return (Grpc__Spec *)parse_as(json, len, &grpc__spec__descriptor, err);
}

Grpc__Spec *oci_spec_load(const char *path, struct kerr **err)
{
    cleanup_free char *text = NULL;
    size_t len = 0;
    /* Regular files only: a FIFO would block the daemon. */
    if (file_read_regular(path, OCI_SPEC_MAX_SIZE, false, &text, &len, err) < 0) {
        kerr_wrap(err, "load OCI spec `%s`", path);
        return NULL;
    }
    Grpc__Spec *spec = oci_spec_parse(text, len, err);
    if (spec == NULL)
        kerr_wrap(err, "load OCI spec `%s`", path);
    return spec;
}

void oci_spec_free(Grpc__Spec *spec)
{
    if (spec)
        protobuf_c_message_free_unpacked(&spec->base, NULL);
}

const char *oci_spec_annotation(const Grpc__Spec *spec, const char *key)
{
    for (size_t i = 0; i < spec->n_annotations; i++)
        if (spec->annotations[i]->key && strcmp(spec->annotations[i]->key, key) == 0)
            return spec->annotations[i]->value;
    return NULL;
}

Grpc__Process *oci_process_parse(const char *json, size_t len, struct kerr **err)
{
    return (Grpc__Process *)parse_as(json, len, &grpc__process__descriptor, err);
}

Grpc__LinuxResources *oci_resources_parse(const char *json, size_t len, struct kerr **err)
{
    return (Grpc__LinuxResources *)parse_as(json, len, &grpc__linux_resources__descriptor, err);
}
