/* JSON into protobuf-c messages, driven by the message descriptor: each JSON
 * key names a field (case-insensitively, so OCI's "noNewPrivileges" fills
 * NoNewPrivileges), nested objects become sub-messages, arrays repeated
 * fields, objects of strings proto3 maps.  Unknown keys are ignored (OCI
 * grows); a value of the wrong type is an error naming its JSON path.  Used
 * for the OCI spec (untrusted bundle input) and by test tools. */
#ifndef KATA_PB_JSON_H
#define KATA_PB_JSON_H

#include <protobuf-c/protobuf-c.h>

#include "error.h"

struct json_object;

/* Key aliases where the JSON name is not the field name, e.g.
 * {"ociVersion", "Version"}; NULL-terminated pairs, may be NULL. */
struct pb_json_alias {
    const char *json, *field;
};

/* Build a message of type desc from obj (a JSON object).  The result is freed
 * with protobuf_c_message_free_unpacked(msg, NULL). */
ProtobufCMessage *pb_from_json(struct json_object *obj, const ProtobufCMessageDescriptor *desc,
                               const struct pb_json_alias *aliases, struct kerr **err);

/* A message as JSON text (field names as in the .proto; bytes as base64-less
 * hex is not needed: bytes fields are skipped).  Caller frees. */
char *pb_to_json(const ProtobufCMessage *msg);

#endif
