/* JSON <-> protobuf-c messages, generically, by walking protobuf-c descriptors.
 *
 * The rules (both directions):
 *   message     JSON object; keys are the proto field names ("container_id");
 *               on input a key also matches a field ignoring case, or with a
 *               trailing "_" ("Linux" is oci.proto's linux_).  Unknown keys
 *               are an error naming the key path.
 *   repeated    JSON array.
 *   map<K, V>   JSON object {"key": value} (protobuf-c map entries: a repeated
 *               message "...Entry" with fields key = 1 and value = 2).
 *   enum        the value name ("SERVING") or its number.
 *   int64/u64   a JSON number or a decimal string ("18446744073709551615").
 *   32-bit ints a JSON number (or a decimal string), range-checked.
 *   float       a number, or "NaN", "Infinity", "-Infinity".
 *   bool        true/false.
 *   bytes       a string holds base64 (standard alphabet, padding optional);
 *               an object {"@text": "plain text"} holds the bytes verbatim.
 *   oneof       set the member's key; the case follows.  null skips a key.
 * Output emits every proto3 scalar, string and repeated field (defaults too, so
 * scripts can read them), a message field only when set, a oneof member only
 * when it is the case; bytes as base64, or {"@text": ...} for valid UTF-8
 * without NUL bytes when PBJSON_BYTES_TEXT is given. */
#ifndef KATA_PBJSON_H
#define KATA_PBJSON_H

#include <json-c/json.h>
#include <stdbool.h>
#include <protobuf-c/protobuf-c.h>

#include "error.h"

enum pbjson_flags {
    PBJSON_PRETTY = 1,     /* indented output */
    PBJSON_BYTES_TEXT = 2, /* bytes that are valid UTF-8 printed as {"@text": ...} */
};

/* Input variations for documents that are not ours (the OCI spec): keys
 * renamed ({"ociVersion", "Version"}; NULL-terminated) and unknown keys
 * skipped (the OCI spec grows) instead of refused. */
struct pbjson_alias {
    const char *json, *field;
};
struct pbjson_options {
    bool ignore_unknown;
    const struct pbjson_alias *aliases;
};

/* Build a message of type desc from a JSON object.  The message is allocated
 * with the system allocator: free it with protobuf_c_message_free_unpacked(m, NULL). */
ProtobufCMessage *pbjson_from_object(const ProtobufCMessageDescriptor *desc,
                                     struct json_object *obj, struct kerr **err);
/* The same with options (NULL: the strict rules above). */
ProtobufCMessage *pbjson_from_object_with(const ProtobufCMessageDescriptor *desc,
                                          struct json_object *obj, const struct pbjson_options *o,
                                          struct kerr **err);
/* The same from JSON text ("" and whitespace mean {}). */
ProtobufCMessage *pbjson_parse(const ProtobufCMessageDescriptor *desc, const char *text,
                               struct kerr **err);

/* JSON object of a message (caller json_object_put()s it). */
struct json_object *pbjson_to_object(const ProtobufCMessage *msg, int flags);
/* JSON text of a message (malloc'd). */
char *pbjson_format(const ProtobufCMessage *msg, int flags);

/* Base64 (standard alphabet).  Decode accepts missing padding; returns -1 on
 * bad input. */
char *pbjson_base64_encode(const uint8_t *data, size_t len);
int pbjson_base64_decode(const char *text, uint8_t **out, size_t *out_len);

#endif
