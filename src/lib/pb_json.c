/* Descriptor-driven JSON <-> protobuf-c conversion. */
#include "pb_json.h"
#include "util.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PB_JSON_MAX_DEPTH 32

struct conv {
    const struct pb_json_alias *aliases;
    struct kerr **err;
};

static const ProtobufCFieldDescriptor *field_for_key(const ProtobufCMessageDescriptor *desc,
                                                     const char *key, const struct conv *c)
{
    for (const struct pb_json_alias *a = c->aliases; a && a->json; a++)
        if (strcmp(a->json, key) == 0) {
            key = a->field;
            break;
        }
    for (unsigned i = 0; i < desc->n_fields; i++)
        if (strcasecmp(desc->fields[i].name, key) == 0)
            return &desc->fields[i];
    /* "linux" is "linux_" in our protos (GNU C predefines `linux`). */
    size_t n = strlen(key);
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const char *name = desc->fields[i].name;
        if (strlen(name) == n + 1 && name[n] == '_' && strncasecmp(name, key, n) == 0)
            return &desc->fields[i];
    }
    return NULL;
}

static size_t scalar_size(ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_ENUM:
        return 4;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    }
    return 0;
}

static ProtobufCMessage *message_from(struct json_object *obj,
                                      const ProtobufCMessageDescriptor *desc, const char *path,
                                      int depth, const struct conv *c);

/* One value into *slot (a field's storage, or one element of a repeated). */
static int value_from(struct json_object *v, const ProtobufCFieldDescriptor *f, void *slot,
                      const char *path, int depth, const struct conv *c)
{
    enum json_type t = json_object_get_type(v);
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        if (t != json_type_string)
            return kerr_make(c->err, EINVAL, "`%s`: expected a string", path);
        *(char **)slot = xstrndup(json_object_get_string(v), (size_t)json_object_get_string_len(v));
        return 0;
    case PROTOBUF_C_TYPE_BOOL:
        if (t != json_type_boolean)
            return kerr_make(c->err, EINVAL, "`%s`: expected true or false", path);
        *(protobuf_c_boolean *)slot = json_object_get_boolean(v);
        return 0;
    case PROTOBUF_C_TYPE_MESSAGE: {
        if (t != json_type_object)
            return kerr_make(c->err, EINVAL, "`%s`: expected an object", path);
        ProtobufCMessage *m = message_from(v, f->descriptor, path, depth + 1, c);
        if (m == NULL)
            return -1;
        *(ProtobufCMessage **)slot = m;
        return 0;
    }
    case PROTOBUF_C_TYPE_BYTES:
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 0; /* not in the OCI protos */
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        if (t == json_type_string) {
            const ProtobufCEnumValue *ev =
                protobuf_c_enum_descriptor_get_value_by_name(ed, json_object_get_string(v));
            if (ev == NULL)
                return kerr_make(c->err, EINVAL, "`%s`: unknown value `%s`", path,
                                 json_object_get_string(v));
            *(int32_t *)slot = ev->value;
            return 0;
        }
        if (t != json_type_int)
            return kerr_make(c->err, EINVAL, "`%s`: expected an enum name or number", path);
        *(int32_t *)slot = json_object_get_int(v);
        return 0;
    }
    default:
        break;
    }
    /* Integers: JSON numbers in range of the field's type. */
    if (t != json_type_int)
        return kerr_make(c->err, EINVAL, "`%s`: expected an integer", path);
    errno = 0;
    int64_t i = json_object_get_int64(v);
    uint64_t u = json_object_get_uint64(v);
    bool negative = i < 0;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if (i < INT32_MIN || i > INT32_MAX)
            return kerr_make(c->err, ERANGE, "`%s`", path);
        *(int32_t *)slot = (int32_t)i;
        return 0;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (negative || u > UINT32_MAX)
            return kerr_make(c->err, ERANGE, "`%s`", path);
        *(uint32_t *)slot = (uint32_t)u;
        return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (!negative && u > INT64_MAX)
            return kerr_make(c->err, ERANGE, "`%s`", path);
        *(int64_t *)slot = i;
        return 0;
    default: /* UINT64, FIXED64: OCI uses -1 for "unlimited" in a few places */
        *(uint64_t *)slot = negative ? (uint64_t)i : u;
        return 0;
    }
}

/* A proto3 map: repeated Entry {key = 1; value = 2;} from a JSON object. */
static int map_from(struct json_object *v, const ProtobufCFieldDescriptor *f, ProtobufCMessage *msg,
                    const char *path, int depth, const struct conv *c)
{
    const ProtobufCMessageDescriptor *entry_desc = f->descriptor;
    size_t n = (size_t)json_object_object_length(v);
    ProtobufCMessage **entries = xcalloc(n ? n : 1, sizeof(*entries));
    *(size_t *)((char *)msg + f->quantifier_offset) = 0;
    *(ProtobufCMessage ***)((char *)msg + f->offset) = entries;
    size_t k = 0;
    json_object_object_foreach(v, key, val)
    {
        cleanup_free char *sub = xasprintf("%s.%s", path, key);
        ProtobufCMessage *e = xcalloc(1, entry_desc->sizeof_message);
        entry_desc->message_init(e);
        entries[k++] = e;
        *(size_t *)((char *)msg + f->quantifier_offset) = k;
        const ProtobufCFieldDescriptor *kf = protobuf_c_message_descriptor_get_field(entry_desc, 1);
        const ProtobufCFieldDescriptor *vf = protobuf_c_message_descriptor_get_field(entry_desc, 2);
        if (kf == NULL || vf == NULL || kf->type != PROTOBUF_C_TYPE_STRING)
            return kerr_make(c->err, EINVAL, "`%s`: unsupported map", path);
        *(char **)((char *)e + kf->offset) = xstrdup(key);
        if (value_from(val, vf, (char *)e + vf->offset, sub, depth, c) < 0)
            return -1;
    }
    return 0;
}

static int field_from(struct json_object *v, const ProtobufCFieldDescriptor *f,
                      ProtobufCMessage *msg, const char *path, int depth, const struct conv *c)
{
    char *base = (char *)msg;
    if (json_object_get_type(v) == json_type_null)
        return 0;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        if (*(void **)(base + f->offset) != NULL)
            return kerr_make(c->err, EINVAL, "`%s`: given twice", path);
        if (f->type == PROTOBUF_C_TYPE_MESSAGE && json_object_is_type(v, json_type_object) &&
            strstr(((const ProtobufCMessageDescriptor *)f->descriptor)->name, "Entry"))
            return map_from(v, f, msg, path, depth, c);
        if (!json_object_is_type(v, json_type_array))
            return kerr_make(c->err, EINVAL, "`%s`: expected an array", path);
        size_t n = json_object_array_length(v);
        size_t size = scalar_size(f->type);
        void *arr = xcalloc(n ? n : 1, size);
        *(void **)(base + f->offset) = arr;
        size_t *count = (size_t *)(base + f->quantifier_offset);
        *count = 0;
        for (size_t i = 0; i < n; i++) {
            cleanup_free char *sub = xasprintf("%s[%zu]", path, i);
            if (value_from(json_object_array_get_idx(v, i), f, (char *)arr + i * size, sub, depth,
                           c) < 0)
                return -1;
            *count = i + 1;
        }
        return 0;
    }
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_MESSAGE &&
        f->type != PROTOBUF_C_TYPE_STRING && f->quantifier_offset)
        *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        *(uint32_t *)(base + f->quantifier_offset) = f->id;
    /* A repeated key in the JSON text: the last wins, free the earlier. */
    if (f->type == PROTOBUF_C_TYPE_STRING) {
        char **s = (char **)(base + f->offset);
        if (*s && *s != (char *)f->default_value && *s != protobuf_c_empty_string)
            free(*s);
        *s = NULL;
    } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        ProtobufCMessage **m = (ProtobufCMessage **)(base + f->offset);
        if (*m)
            protobuf_c_message_free_unpacked(*m, NULL);
        *m = NULL;
    }
    int r = value_from(v, f, base + f->offset, path, depth, c);
    if (r < 0 && f->type == PROTOBUF_C_TYPE_STRING &&
        *(char **)(base + f->offset) == NULL) /* keep the message freeable */
        *(char **)(base + f->offset) = (char *)protobuf_c_empty_string;
    return r;
}

static ProtobufCMessage *message_from(struct json_object *obj,
                                      const ProtobufCMessageDescriptor *desc, const char *path,
                                      int depth, const struct conv *c)
{
    if (depth > PB_JSON_MAX_DEPTH) {
        kerr_make(c->err, EINVAL, "`%s`: nested too deeply", path);
        return NULL;
    }
    ProtobufCMessage *msg = xcalloc(1, desc->sizeof_message);
    desc->message_init(msg);
    json_object_object_foreach(obj, key, v)
    {
        const ProtobufCFieldDescriptor *f = field_for_key(desc, key, c);
        if (f == NULL)
            continue;
        cleanup_free char *sub = xasprintf("%s%s%s", path, *path ? "." : "", key);
        if (field_from(v, f, msg, sub, depth, c) < 0) {
            protobuf_c_message_free_unpacked(msg, NULL);
            return NULL;
        }
    }
    return msg;
}

ProtobufCMessage *pb_from_json(struct json_object *obj, const ProtobufCMessageDescriptor *desc,
                               const struct pb_json_alias *aliases, struct kerr **err)
{
    struct conv c = {.aliases = aliases, .err = err};
    if (!json_object_is_type(obj, json_type_object)) {
        kerr_make(err, EINVAL, "expected a JSON object");
        return NULL;
    }
    return message_from(obj, desc, "", 0, &c);
}

static struct json_object *value_to(const ProtobufCFieldDescriptor *f, const void *slot)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        return json_object_new_string(*(char *const *)slot ? *(char *const *)slot : "");
    case PROTOBUF_C_TYPE_BOOL:
        return json_object_new_boolean(*(const protobuf_c_boolean *)slot);
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(ProtobufCMessage *const *)slot ? json_tokener_parse("{}") : NULL;
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        return json_object_new_int(*(const int32_t *)slot);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_object_new_int64(*(const uint32_t *)slot);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return json_object_new_int64(*(const int64_t *)slot);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return json_object_new_uint64(*(const uint64_t *)slot);
    default:
        return NULL;
    }
}

static struct json_object *message_to(const ProtobufCMessage *msg);

static struct json_object *element_to(const ProtobufCFieldDescriptor *f, const void *slot)
{
    if (f->type == PROTOBUF_C_TYPE_MESSAGE)
        return message_to(*(ProtobufCMessage *const *)slot);
    return value_to(f, slot);
}

static struct json_object *message_to(const ProtobufCMessage *msg)
{
    struct json_object *obj = json_object_new_object();
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    const char *base = (const char *)msg;
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF &&
            *(const uint32_t *)(base + f->quantifier_offset) != f->id)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            const char *arr = *(char *const *)(base + f->offset);
            struct json_object *a = json_object_new_array();
            for (size_t k = 0; k < n; k++)
                json_object_array_add(a, element_to(f, arr + k * scalar_size(f->type)));
            json_object_object_add(obj, f->name, a);
            continue;
        }
        if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            const ProtobufCMessage *sub = *(ProtobufCMessage *const *)(base + f->offset);
            if (sub)
                json_object_object_add(obj, f->name, message_to(sub));
            continue;
        }
        struct json_object *v = value_to(f, base + f->offset);
        if (v)
            json_object_object_add(obj, f->name, v);
    }
    return obj;
}

char *pb_to_json(const ProtobufCMessage *msg)
{
    struct json_object *obj = message_to(msg);
    char *text = xstrdup(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN));
    json_object_put(obj);
    return text;
}
