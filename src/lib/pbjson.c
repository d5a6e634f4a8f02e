/* JSON <-> protobuf-c by descriptor: the rules are in pbjson.h. */
#include "pbjson.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MEMBER(msg, off) ((void *)((char *)(msg) + (off)))

/* ---- base64 ---- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *pbjson_base64_encode(const uint8_t *data, size_t len)
{
    char *out = xmalloc((len + 2) / 3 * 4 + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)data[i + 1] << 8;
        if (i + 2 < len)
            v |= data[i + 2];
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? b64_alphabet[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

static int b64_value(char c)
{
    const char *p = c ? strchr(b64_alphabet, c) : NULL;
    return p ? (int)(p - b64_alphabet) : -1;
}

int pbjson_base64_decode(const char *text, uint8_t **out, size_t *out_len)
{
    size_t len = strlen(text);
    while (len > 0 && text[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return -1;
    uint8_t *buf = xmalloc(len / 4 * 3 + 3);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value(text[i]);
        if (v < 0) {
            free(buf);
            return -1;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (uint8_t)(acc >> bits);
        }
    }
    *out = buf;
    *out_len = o;
    return 0;
}

/* ---- JSON -> protobuf ---- */

/* A map entry: a message "...Entry" with key = 1 and value = 2. */
static bool is_map_entry(const ProtobufCMessageDescriptor *d)
{
    size_t n = strlen(d->name);
    return d->n_fields == 2 && n > 5 && strcmp(d->name + n - 5, "Entry") == 0 &&
           d->fields[0].id == 1 && strcmp(d->fields[0].name, "key") == 0 && d->fields[1].id == 2 &&
           strcmp(d->fields[1].name, "value") == 0;
}

static bool is_map_field(const ProtobufCFieldDescriptor *f)
{
    return f->label == PROTOBUF_C_LABEL_REPEATED && f->type == PROTOBUF_C_TYPE_MESSAGE &&
           is_map_entry(f->descriptor);
}

static size_t element_size(ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    default:
        return 4;
    }
}

/* A JSON number or decimal string as a signed/unsigned 64-bit integer. */
static int json_to_i64(struct json_object *v, int64_t *out)
{
    if (json_object_is_type(v, json_type_int)) {
        errno = 0;
        *out = json_object_get_int64(v);
        return errno ? -1 : 0;
    }
    if (json_object_is_type(v, json_type_double)) {
        double d = json_object_get_double(v);
        if (d != floor(d) || d < -9.2233720368547758e18 || d >= 9.2233720368547758e18)
            return -1;
        *out = (int64_t)d;
        return 0;
    }
    if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        char *end;
        errno = 0;
        long long x = strtoll(s, &end, 10);
        if (*s == '\0' || *end != '\0' || errno)
            return -1;
        *out = x;
        return 0;
    }
    return -1;
}

static int json_to_u64(struct json_object *v, uint64_t *out)
{
    if (json_object_is_type(v, json_type_int)) {
        if (json_object_get_int64(v) < 0 && json_object_get_uint64(v) == 0)
            return -1;
        errno = 0;
        *out = json_object_get_uint64(v);
        return errno ? -1 : 0;
    }
    if (json_object_is_type(v, json_type_double)) {
        double d = json_object_get_double(v);
        if (d != floor(d) || d < 0 || d >= 1.8446744073709552e19)
            return -1;
        *out = (uint64_t)d;
        return 0;
    }
    if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        char *end;
        errno = 0;
        unsigned long long x = strtoull(s, &end, 10);
        if (*s == '\0' || *s == '-' || *end != '\0' || errno)
            return -1;
        *out = x;
        return 0;
    }
    return -1;
}

static int json_to_double(struct json_object *v, double *out)
{
    if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)) {
        *out = json_object_get_double(v);
        return 0;
    }
    if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        if (strcmp(s, "NaN") == 0)
            *out = NAN;
        else if (strcmp(s, "Infinity") == 0)
            *out = INFINITY;
        else if (strcmp(s, "-Infinity") == 0)
            *out = -INFINITY;
        else {
            char *end;
            *out = strtod(s, &end);
            if (*s == '\0' || *end != '\0')
                return -1;
        }
        return 0;
    }
    return -1;
}

static int enum_from_json(const ProtobufCEnumDescriptor *ed, struct json_object *v, int32_t *out)
{
    if (json_object_is_type(v, json_type_string)) {
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value_by_name(ed, json_object_get_string(v));
        if (ev == NULL)
            return -1;
        *out = ev->value;
        return 0;
    }
    int64_t x;
    if (json_to_i64(v, &x) < 0 || x < INT32_MIN || x > INT32_MAX)
        return -1;
    *out = (int32_t)x;
    return 0;
}

static const char *json_type_label(struct json_object *v)
{
    return json_type_to_name(json_object_get_type(v));
}

static ProtobufCMessage *message_from_json(const ProtobufCMessageDescriptor *desc,
                                           struct json_object *obj, const char *path,
                                           const struct pbjson_options *o, struct kerr **err);

static const char *type_name(ProtobufCType type)
{
    static const char *const names[] = {
        [PROTOBUF_C_TYPE_INT32] = "int32",       [PROTOBUF_C_TYPE_SINT32] = "sint32",
        [PROTOBUF_C_TYPE_SFIXED32] = "sfixed32", [PROTOBUF_C_TYPE_INT64] = "int64",
        [PROTOBUF_C_TYPE_SINT64] = "sint64",     [PROTOBUF_C_TYPE_SFIXED64] = "sfixed64",
        [PROTOBUF_C_TYPE_UINT32] = "uint32",     [PROTOBUF_C_TYPE_FIXED32] = "fixed32",
        [PROTOBUF_C_TYPE_UINT64] = "uint64",     [PROTOBUF_C_TYPE_FIXED64] = "fixed64",
        [PROTOBUF_C_TYPE_FLOAT] = "float",       [PROTOBUF_C_TYPE_DOUBLE] = "double",
        [PROTOBUF_C_TYPE_BOOL] = "bool",         [PROTOBUF_C_TYPE_ENUM] = "enum",
        [PROTOBUF_C_TYPE_STRING] = "string",     [PROTOBUF_C_TYPE_BYTES] = "bytes",
        [PROTOBUF_C_TYPE_MESSAGE] = "message",
    };
    return (unsigned)type < ARRAY_SIZE(names) && names[type] ? names[type] : "value";
}

/* Convert one JSON value into the element at dst (one slot of a field). */
static int element_from_json(const ProtobufCFieldDescriptor *f, struct json_object *v, void *dst,
                             const char *path, const struct pbjson_options *o, struct kerr **err)
{
    int64_t i;
    uint64_t u;
    double d;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if (json_to_i64(v, &i) < 0 || i < INT32_MIN || i > INT32_MAX)
            goto bad;
        *(int32_t *)dst = (int32_t)i;
        return 0;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (json_to_u64(v, &u) < 0 || u > UINT32_MAX)
            goto bad;
        *(uint32_t *)dst = (uint32_t)u;
        return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (json_to_i64(v, &i) < 0)
            goto bad;
        *(int64_t *)dst = i;
        return 0;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (json_to_u64(v, &u) < 0)
            goto bad;
        *(uint64_t *)dst = u;
        return 0;
    case PROTOBUF_C_TYPE_FLOAT:
        if (json_to_double(v, &d) < 0)
            goto bad;
        *(float *)dst = (float)d;
        return 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        if (json_to_double(v, &d) < 0)
            goto bad;
        *(double *)dst = d;
        return 0;
    case PROTOBUF_C_TYPE_BOOL:
        if (json_object_is_type(v, json_type_boolean))
            *(protobuf_c_boolean *)dst = json_object_get_boolean(v);
        else if (json_object_is_type(v, json_type_string) &&
                 (strcmp(json_object_get_string(v), "true") == 0 ||
                  strcmp(json_object_get_string(v), "false") == 0))
            *(protobuf_c_boolean *)dst = strcmp(json_object_get_string(v), "true") == 0;
        else
            goto bad;
        return 0;
    case PROTOBUF_C_TYPE_ENUM: {
        int32_t e;
        if (enum_from_json(f->descriptor, v, &e) < 0)
            return kerr_make(err, 0, "field `%s`: `%s` is not a value of enum %s", path,
                             json_object_get_string(v),
                             ((const ProtobufCEnumDescriptor *)f->descriptor)->name);
        *(int32_t *)dst = e;
        return 0;
    }
    case PROTOBUF_C_TYPE_STRING:
        if (!json_object_is_type(v, json_type_string))
            goto bad;
        *(char **)dst = xstrndup(json_object_get_string(v), (size_t)json_object_get_string_len(v));
        return 0;
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *b = dst;
        struct json_object *text;
        if (json_object_is_type(v, json_type_object) && json_object_object_length(v) == 1 &&
            json_object_object_get_ex(v, "@text", &text) &&
            json_object_is_type(text, json_type_string)) {
            size_t n = (size_t)json_object_get_string_len(text);
            b->data = xmalloc(n + 1);
            memcpy(b->data, json_object_get_string(text), n);
            b->len = n;
            return 0;
        }
        if (!json_object_is_type(v, json_type_string) ||
            pbjson_base64_decode(json_object_get_string(v), &b->data, &b->len) < 0)
            return kerr_make(
                err, 0, "field `%s`: bytes must be a base64 string or {\"@text\": \"...\"}", path);
        return 0;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        ProtobufCMessage *m = message_from_json(f->descriptor, v, path, o, err);
        if (m == NULL)
            return -1;
        *(ProtobufCMessage **)dst = m;
        return 0;
    }
    }
bad:
    return kerr_make(err, 0, "field `%s`: %s `%s` is not a valid %s", path, json_type_label(v),
                     json_object_get_string(v), type_name(f->type));
}

static int map_from_json(const ProtobufCFieldDescriptor *f, void *msg, struct json_object *v,
                         const char *path, const struct pbjson_options *o, struct kerr **err)
{
    if (!json_object_is_type(v, json_type_object))
        return kerr_make(err, 0, "field `%s`: a map needs a JSON object, not %s", path,
                         json_type_label(v));
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    size_t *count = MEMBER(msg, f->quantifier_offset);
    ProtobufCMessage ***arr = MEMBER(msg, f->offset);
    size_t n = (size_t)json_object_object_length(v);
    *arr = xcalloc(n ? n : 1, sizeof(**arr));
    *count = 0;
    json_object_object_foreach(v, key, val)
    {
        cleanup_free char *kpath = xasprintf("%s[\"%s\"]", path, key);
        ProtobufCMessage *entry = xmalloc(ed->sizeof_message);
        ed->message_init(entry);
        (*arr)[(*count)++] = entry;
        struct json_object *jkey = json_object_new_string(key);
        int r = element_from_json(&ed->fields[0], jkey, MEMBER(entry, ed->fields[0].offset), kpath,
                                  o, err);
        json_object_put(jkey);
        if (r < 0)
            return -1;
        if (val != NULL &&
            element_from_json(&ed->fields[1], val, MEMBER(entry, ed->fields[1].offset), kpath, o,
                              err) < 0)
            return -1;
    }
    return 0;
}

/* Free what one slot of field f holds and clear it. */
static void release_slot(const ProtobufCFieldDescriptor *f, void *slot)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        char **p = slot;
        if (*p != NULL && *p != f->default_value && *p != protobuf_c_empty_string)
            free(*p);
        *p = NULL;
        break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *b = slot;
        const ProtobufCBinaryData *def = f->default_value;
        if (b->data != NULL && (def == NULL || b->data != def->data))
            free(b->data);
        b->data = NULL;
        b->len = 0;
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        ProtobufCMessage **p = slot;
        if (*p != NULL)
            protobuf_c_message_free_unpacked(*p, NULL);
        *p = NULL;
        break;
    }
    default:
        memset(slot, 0, element_size(f->type));
    }
}

/* A field set a second time (JSON keys that alias one field, or two members
 * of one oneof, which share their storage): drop what it held first. */
static void release_field(const ProtobufCMessageDescriptor *desc, const ProtobufCFieldDescriptor *f,
                          void *msg)
{
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t *count = MEMBER(msg, f->quantifier_offset);
        char **arr = MEMBER(msg, f->offset);
        for (size_t i = 0; *arr && i < *count; i++)
            release_slot(f, *arr + i * element_size(f->type));
        free(*arr);
        *arr = NULL;
        *count = 0;
        return;
    }
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t *oneof_case = MEMBER(msg, f->quantifier_offset);
        if (*oneof_case != 0) {
            const ProtobufCFieldDescriptor *set =
                protobuf_c_message_descriptor_get_field(desc, *oneof_case);
            if (set)
                release_slot(set, MEMBER(msg, set->offset));
            *oneof_case = 0;
        }
        return;
    }
    release_slot(f, MEMBER(msg, f->offset));
}

static int field_from_json(const ProtobufCMessageDescriptor *desc,
                           const ProtobufCFieldDescriptor *f, void *msg, struct json_object *v,
                           const char *path, const struct pbjson_options *o, struct kerr **err)
{
    release_field(desc, f, msg);
    if (is_map_field(f))
        return map_from_json(f, msg, v, path, o, err);
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        if (!json_object_is_type(v, json_type_array))
            return kerr_make(err, 0, "field `%s`: a repeated field needs a JSON array, not %s",
                             path, json_type_label(v));
        size_t n = json_object_array_length(v);
        size_t size = element_size(f->type);
        size_t *count = MEMBER(msg, f->quantifier_offset);
        void **arr = MEMBER(msg, f->offset);
        *arr = xcalloc(n ? n : 1, size);
        *count = 0;
        for (size_t i = 0; i < n; i++) {
            cleanup_free char *ipath = xasprintf("%s[%zu]", path, i);
            struct json_object *item = json_object_array_get_idx(v, i);
            if (item == NULL)
                return kerr_make(err, 0, "field `%s`: null in a repeated field", ipath);
            /* A failed element allocates nothing: the filled slots are counted
             * so that free_unpacked releases them. */
            if (element_from_json(f, item, (char *)*arr + i * size, ipath, o, err) < 0)
                return -1;
            (*count)++;
        }
        return 0;
    }
    void *dst = MEMBER(msg, f->offset);
    if (element_from_json(f, v, dst, path, o, err) < 0) {
        if (f->type == PROTOBUF_C_TYPE_STRING)
            *(const char **)dst = protobuf_c_empty_string;
        return -1;
    }
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        *(uint32_t *)MEMBER(msg, f->quantifier_offset) = f->id;
    else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
             f->type != PROTOBUF_C_TYPE_MESSAGE && f->quantifier_offset != 0)
        *(protobuf_c_boolean *)MEMBER(msg, f->quantifier_offset) = 1;
    return 0;
}

/* The proto name; else the one field whose name matches ignoring case, or
 * with a trailing "_" (oci.proto's linux_ is upstream's Linux). */
static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *desc,
                                                  const char *key)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(desc, key);
    if (f != NULL)
        return f;
    size_t klen = strlen(key);
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const char *name = desc->fields[i].name;
        size_t nlen = strlen(name);
        if (nlen == klen + 1 && name[klen] == '_' && strncasecmp(name, key, klen) == 0)
            return &desc->fields[i];
        if (nlen == klen && strcasecmp(name, key) == 0)
            return &desc->fields[i];
    }
    return NULL;
}

static const char *alias_for(const struct pbjson_options *o, const char *key)
{
    for (const struct pbjson_alias *a = o->aliases; a && a->json; a++)
        if (strcmp(a->json, key) == 0)
            return a->field;
    return key;
}

static ProtobufCMessage *message_from_json(const ProtobufCMessageDescriptor *desc,
                                           struct json_object *obj, const char *path,
                                           const struct pbjson_options *o, struct kerr **err)
{
    if (!json_object_is_type(obj, json_type_object)) {
        kerr_make(err, 0, "%s%s%s: message %s needs a JSON object, not %s", *path ? "field `" : "",
                  *path ? path : "message", *path ? "`" : "", desc->name, json_type_label(obj));
        return NULL;
    }
    ProtobufCMessage *msg = xmalloc(desc->sizeof_message);
    desc->message_init(msg);
    json_object_object_foreach(obj, key, val)
    {
        cleanup_free char *fpath = *path ? xasprintf("%s.%s", path, key) : xstrdup(key);
        const ProtobufCFieldDescriptor *f = find_field(desc, alias_for(o, key));
        if (f == NULL && o->ignore_unknown)
            continue;
        if (f == NULL) {
            kerr_make(err, 0, "field `%s`: message %s has no such field", fpath, desc->name);
            goto fail;
        }
        if (val == NULL)
            continue;
        if (field_from_json(desc, f, msg, val, fpath, o, err) < 0)
            goto fail;
    }
    return msg;
fail:
    protobuf_c_message_free_unpacked(msg, NULL);
    return NULL;
}

ProtobufCMessage *pbjson_from_object_with(const ProtobufCMessageDescriptor *desc,
                                          struct json_object *obj, const struct pbjson_options *o,
                                          struct kerr **err)
{
    static const struct pbjson_options strict = {0};
    return message_from_json(desc, obj, "", o ? o : &strict, err);
}

ProtobufCMessage *pbjson_from_object(const ProtobufCMessageDescriptor *desc,
                                     struct json_object *obj, struct kerr **err)
{
    return pbjson_from_object_with(desc, obj, NULL, err);
}

ProtobufCMessage *pbjson_parse(const ProtobufCMessageDescriptor *desc, const char *text,
                               struct kerr **err)
{
    const char *p = text;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    if (*p == '\0')
        p = "{}";
    struct json_tokener *tok = json_tokener_new();
    struct json_object *obj = json_tokener_parse_ex(tok, p, (int)strlen(p));
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = tok->char_offset;
    json_tokener_free(tok);
    if (obj == NULL || jerr != json_tokener_success) {
        json_object_put(obj);
        kerr_make(err, 0, "parse JSON for %s: %s at offset %zu", desc->name,
                  jerr == json_tokener_continue ? "unexpected end of input"
                                                : json_tokener_error_desc(jerr),
                  end);
        return NULL;
    }
    for (const char *q = p + end; *q; q++)
        if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') {
            json_object_put(obj);
            kerr_make(err, 0, "parse JSON for %s: trailing text at offset %zu", desc->name, end);
            return NULL;
        }
    ProtobufCMessage *msg = pbjson_from_object(desc, obj, err);
    json_object_put(obj);
    return msg;
}

/* ---- protobuf -> JSON ---- */

static bool utf8_text(const uint8_t *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        uint8_t c = s[i];
        size_t n = c < 0x80             ? 1
                   : (c & 0xe0) == 0xc0 ? 2
                   : (c & 0xf0) == 0xe0 ? 3
                   : (c & 0xf8) == 0xf0 ? 4
                                        : 0;
        if (c == 0 || n == 0 || (n == 2 && c < 0xc2) || i + n > len)
            return false;
        for (size_t k = 1; k < n; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
        i += n;
    }
    return true;
}

static struct json_object *message_to_json(const ProtobufCMessage *msg, int flags);

static struct json_object *element_to_json(const ProtobufCFieldDescriptor *f, const void *src,
                                           int flags)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_object_new_int(*(const int32_t *)src);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_object_new_int64(*(const uint32_t *)src);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return json_object_new_int64(*(const int64_t *)src);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return json_object_new_uint64(*(const uint64_t *)src);
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: {
        double d = f->type == PROTOBUF_C_TYPE_FLOAT ? *(const float *)src : *(const double *)src;
        if (isnan(d))
            return json_object_new_string("NaN");
        if (isinf(d))
            return json_object_new_string(d > 0 ? "Infinity" : "-Infinity");
        return json_object_new_double(d);
    }
    case PROTOBUF_C_TYPE_BOOL:
        return json_object_new_boolean(*(const protobuf_c_boolean *)src);
    case PROTOBUF_C_TYPE_ENUM: {
        int32_t v = *(const int32_t *)src;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
        return ev ? json_object_new_string(ev->name) : json_object_new_int(v);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)src;
        return json_object_new_string(s ? s : "");
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = src;
        if ((flags & PBJSON_BYTES_TEXT) && utf8_text(b->data, b->len)) {
            struct json_object *o = json_object_new_object();
            json_object_object_add(o, "@text",
                                   json_object_new_string_len((const char *)b->data, (int)b->len));
            return o;
        }
        cleanup_free char *s = pbjson_base64_encode(b->data, b->len);
        return json_object_new_string(s);
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(ProtobufCMessage *const *)src;
        return m ? message_to_json(m, flags) : NULL;
    }
    }
    return NULL;
}

/* Map keys as JSON object keys. */
static char *map_key_text(const ProtobufCFieldDescriptor *kf, const void *src)
{
    struct json_object *k = element_to_json(kf, src, 0);
    char *s = xstrdup(json_object_get_string(k));
    json_object_put(k);
    return s;
}

static struct json_object *message_to_json(const ProtobufCMessage *msg, int flags)
{
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    struct json_object *obj = json_object_new_object();
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        const void *src = MEMBER(msg, f->offset);
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)MEMBER(msg, f->quantifier_offset);
            const char *arr = *(char *const *)src;
            if (is_map_field(f)) {
                struct json_object *map = json_object_new_object();
                const ProtobufCMessageDescriptor *ed = f->descriptor;
                for (size_t k = 0; k < n; k++) {
                    const ProtobufCMessage *e = ((ProtobufCMessage *const *)arr)[k];
                    cleanup_free char *key =
                        map_key_text(&ed->fields[0], MEMBER(e, ed->fields[0].offset));
                    struct json_object *val =
                        element_to_json(&ed->fields[1], MEMBER(e, ed->fields[1].offset), flags);
                    json_object_object_add(map, key, val);
                }
                json_object_object_add(obj, f->name, map);
                continue;
            }
            struct json_object *list = json_object_new_array();
            size_t size = element_size(f->type);
            for (size_t k = 0; k < n; k++)
                json_object_array_add(list, element_to_json(f, arr + k * size, flags));
            json_object_object_add(obj, f->name, list);
            continue;
        }
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            if (*(const uint32_t *)MEMBER(msg, f->quantifier_offset) != f->id)
                continue;
        } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
                   f->type != PROTOBUF_C_TYPE_MESSAGE && f->quantifier_offset != 0 &&
                   !*(const protobuf_c_boolean *)MEMBER(msg, f->quantifier_offset)) {
            continue;
        }
        struct json_object *v = element_to_json(f, src, flags);
        if (v != NULL)
            json_object_object_add(obj, f->name, v);
    }
    return obj;
}

struct json_object *pbjson_to_object(const ProtobufCMessage *msg, int flags)
{
    return message_to_json(msg, flags);
}

char *pbjson_format(const ProtobufCMessage *msg, int flags)
{
    struct json_object *obj = message_to_json(msg, flags);
    int jflags = (flags & PBJSON_PRETTY) ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED
                                         : JSON_C_TO_STRING_PLAIN;
    char *s = xstrdup(json_object_to_json_string_ext(obj, jflags | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(obj);
    return s;
}
