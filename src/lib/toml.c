/* TOML document model: values, accessors, constructors, equality, merge. */
#include "toml.h"
#include "toml_internal.h"
#include "util.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Tables switch from a linear scan to a hash index past this many keys, so
 * that hostile documents with many keys stay linear. */
#define TABLE_INDEX_MIN 8

void toml_buf_add(struct toml_buf *b, const void *data, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->data = xrealloc(b->data, cap);
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void toml_buf_addc(struct toml_buf *b, char c)
{
    toml_buf_add(b, &c, 1);
}

void toml_buf_addf(struct toml_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = xvasprintf(fmt, ap);
    va_end(ap);
    toml_buf_add(b, s, strlen(s));
    free(s);
}

struct toml_source *toml_source_new(const char *name)
{
    size_t n = strlen(name);
    struct toml_source *s = xmalloc(sizeof(*s) + n + 1);
    s->refs = 1;
    memcpy(s->name, name, n + 1);
    return s;
}

void toml_source_unref(struct toml_source *s)
{
    if (s != NULL && --s->refs == 0)
        free(s);
}

struct toml_value *toml_value_alloc(enum toml_type type, struct toml_source *source)
{
    struct toml_value *v = xcalloc(1, sizeof(*v));
    v->type = type;
    v->source = source;
    if (source != NULL)
        source->refs++;
    return v;
}

void toml_free(struct toml_value *v)
{
    if (v == NULL)
        return;
    switch (v->type) {
    case TOML_TABLE:
        for (size_t i = 0; i < v->table.len; i++) {
            free(v->table.entries[i].key);
            toml_free(v->table.entries[i].value);
        }
        free(v->table.entries);
        free(v->table.index);
        break;
    case TOML_ARRAY:
        for (size_t i = 0; i < v->array.len; i++)
            toml_free(v->array.items[i]);
        free(v->array.items);
        break;
    case TOML_STRING:
        free(v->string.ptr);
        break;
    case TOML_DATETIME:
        free((char *)v->datetime.text);
        break;
    default:
        break;
    }
    toml_source_unref(v->source);
    free(v);
}

/* ---- tables ---- */

static uint32_t key_hash(const char *key, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 16777619u;
    }
    return h;
}

static void index_put(struct toml_value *t, size_t entry)
{
    const struct toml_entry *e = &t->table.entries[entry];
    size_t mask = t->table.index_cap - 1;
    size_t slot = key_hash(e->key, e->key_len) & mask;
    while (t->table.index[slot] != 0)
        slot = (slot + 1) & mask;
    t->table.index[slot] = (uint32_t)(entry + 1);
}

static void index_rebuild(struct toml_value *t)
{
    size_t cap = 16;
    while (cap < t->table.len * 2)
        cap *= 2;
    free(t->table.index);
    t->table.index = xcalloc(cap, sizeof(*t->table.index));
    t->table.index_cap = cap;
    for (size_t i = 0; i < t->table.len; i++)
        index_put(t, i);
}

long toml_table_find(const struct toml_value *t, const char *key, size_t len)
{
    if (t == NULL || t->type != TOML_TABLE)
        return -1;
    if (t->table.index == NULL) {
        for (size_t i = 0; i < t->table.len; i++) {
            const struct toml_entry *e = &t->table.entries[i];
            if (e->key_len == len && memcmp(e->key, key, len) == 0)
                return (long)i;
        }
        return -1;
    }
    size_t mask = t->table.index_cap - 1;
    for (size_t slot = key_hash(key, len) & mask; t->table.index[slot] != 0;
         slot = (slot + 1) & mask) {
        size_t i = t->table.index[slot] - 1;
        const struct toml_entry *e = &t->table.entries[i];
        if (e->key_len == len && memcmp(e->key, key, len) == 0)
            return (long)i;
    }
    return -1;
}

void toml_table_insert(struct toml_value *t, char *key, size_t len, struct toml_value *value)
{
    if (t->table.len == t->table.cap) {
        t->table.cap = t->table.cap ? t->table.cap * 2 : 4;
        t->table.entries = xrealloc(t->table.entries, t->table.cap * sizeof(*t->table.entries));
    }
    t->table.entries[t->table.len++] = (struct toml_entry){key, len, value};
    if (t->table.index != NULL && t->table.len * 2 <= t->table.index_cap)
        index_put(t, t->table.len - 1);
    else if (t->table.len >= TABLE_INDEX_MIN)
        index_rebuild(t);
}

void toml_array_push(struct toml_value *a, struct toml_value *value)
{
    if (a->array.len == a->array.cap) {
        a->array.cap = a->array.cap ? a->array.cap * 2 : 4;
        a->array.items = xrealloc(a->array.items, a->array.cap * sizeof(*a->array.items));
    }
    a->array.items[a->array.len++] = value;
}

/* ---- accessors ---- */

enum toml_type toml_type(const struct toml_value *v)
{
    return v->type;
}

const char *toml_type_name(enum toml_type type)
{
    static const char *const names[] = {
        [TOML_TABLE] = "table",        [TOML_ARRAY] = "array", [TOML_STRING] = "string",
        [TOML_INTEGER] = "integer",    [TOML_FLOAT] = "float", [TOML_BOOLEAN] = "boolean",
        [TOML_DATETIME] = "date-time",
    };
    if ((unsigned)type >= ARRAY_SIZE(names))
        return "unknown";
    return names[type];
}

const char *toml_filename(const struct toml_value *v)
{
    return v->source ? v->source->name : NULL;
}

unsigned toml_line(const struct toml_value *v)
{
    return v->line;
}

unsigned toml_column(const struct toml_value *v)
{
    return v->column;
}

size_t toml_table_length(const struct toml_value *t)
{
    return t->type == TOML_TABLE ? t->table.len : 0;
}

const char *toml_table_key(const struct toml_value *t, size_t i, size_t *len)
{
    if (t->type != TOML_TABLE || i >= t->table.len)
        return NULL;
    if (len != NULL)
        *len = t->table.entries[i].key_len;
    return t->table.entries[i].key;
}

struct toml_value *toml_table_value(const struct toml_value *t, size_t i)
{
    if (t->type != TOML_TABLE || i >= t->table.len)
        return NULL;
    return t->table.entries[i].value;
}

struct toml_value *toml_table_get_n(const struct toml_value *t, const char *key, size_t len)
{
    long i = toml_table_find(t, key, len);
    return i < 0 ? NULL : t->table.entries[i].value;
}

struct toml_value *toml_table_get(const struct toml_value *t, const char *key)
{
    return toml_table_get_n(t, key, strlen(key));
}

size_t toml_array_length(const struct toml_value *a)
{
    return a->type == TOML_ARRAY ? a->array.len : 0;
}

struct toml_value *toml_array_get(const struct toml_value *a, size_t i)
{
    if (a->type != TOML_ARRAY || i >= a->array.len)
        return NULL;
    return a->array.items[i];
}

const char *toml_string(const struct toml_value *v, size_t *len)
{
    if (v->type != TOML_STRING)
        return NULL;
    if (len != NULL)
        *len = v->string.len;
    return v->string.ptr;
}

int64_t toml_integer(const struct toml_value *v)
{
    return v->type == TOML_INTEGER ? v->integer : 0;
}

double toml_float(const struct toml_value *v)
{
    return v->type == TOML_FLOAT ? v->number : 0.0;
}

bool toml_boolean(const struct toml_value *v)
{
    return v->type == TOML_BOOLEAN && v->boolean;
}

const struct toml_datetime *toml_datetime(const struct toml_value *v)
{
    return v->type == TOML_DATETIME ? &v->datetime : NULL;
}

/* ---- constructors ---- */

struct toml_value *toml_table_new(void)
{
    return toml_value_alloc(TOML_TABLE, NULL);
}

struct toml_value *toml_array_new(void)
{
    struct toml_value *v = toml_value_alloc(TOML_ARRAY, NULL);
    v->flags = TOML_FLAG_STATIC;
    return v;
}

struct toml_value *toml_string_new(const char *s, size_t len)
{
    struct toml_value *v = toml_value_alloc(TOML_STRING, NULL);
    v->string.ptr = xmalloc(len + 1);
    memcpy(v->string.ptr, s, len);
    v->string.ptr[len] = '\0';
    v->string.len = len;
    return v;
}

struct toml_value *toml_integer_new(int64_t i)
{
    struct toml_value *v = toml_value_alloc(TOML_INTEGER, NULL);
    v->integer = i;
    return v;
}

struct toml_value *toml_float_new(double d)
{
    struct toml_value *v = toml_value_alloc(TOML_FLOAT, NULL);
    v->number = d;
    return v;
}

struct toml_value *toml_boolean_new(bool b)
{
    struct toml_value *v = toml_value_alloc(TOML_BOOLEAN, NULL);
    v->boolean = b;
    return v;
}

static void table_replace(struct toml_value *t, size_t i, struct toml_value *value)
{
    toml_free(t->table.entries[i].value);
    t->table.entries[i].value = value;
}

void toml_table_set(struct toml_value *t, const char *key, struct toml_value *value)
{
    size_t len = strlen(key);
    long i = toml_table_find(t, key, len);
    if (i >= 0)
        table_replace(t, (size_t)i, value);
    else
        toml_table_insert(t, xstrdup(key), len, value);
}

void toml_array_append(struct toml_value *a, struct toml_value *value)
{
    toml_array_push(a, value);
}

/* ---- equality, copy, merge ---- */

static bool datetime_equal(const struct toml_datetime *a, const struct toml_datetime *b)
{
    return a->kind == b->kind && a->year == b->year && a->month == b->month && a->day == b->day &&
           a->hour == b->hour && a->minute == b->minute && a->second == b->second &&
           a->nanosecond == b->nanosecond && a->offset_minutes == b->offset_minutes;
}

bool toml_equal(const struct toml_value *a, const struct toml_value *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case TOML_TABLE:
        if (a->table.len != b->table.len)
            return false;
        for (size_t i = 0; i < a->table.len; i++) {
            const struct toml_entry *e = &a->table.entries[i];
            const struct toml_value *other = toml_table_get_n(b, e->key, e->key_len);
            if (other == NULL || !toml_equal(e->value, other))
                return false;
        }
        return true;
    case TOML_ARRAY:
        if (a->array.len != b->array.len)
            return false;
        for (size_t i = 0; i < a->array.len; i++)
            if (!toml_equal(a->array.items[i], b->array.items[i]))
                return false;
        return true;
    case TOML_STRING:
        return a->string.len == b->string.len &&
               memcmp(a->string.ptr, b->string.ptr, a->string.len) == 0;
    case TOML_INTEGER:
        return a->integer == b->integer;
    case TOML_FLOAT:
        if (signbit(a->number) != signbit(b->number))
            return false;
        if (isnan(a->number) || isnan(b->number))
            return isnan(a->number) && isnan(b->number);
        return a->number == b->number;
    case TOML_BOOLEAN:
        return a->boolean == b->boolean;
    case TOML_DATETIME:
        return datetime_equal(&a->datetime, &b->datetime);
    }
    return false;
}

static struct toml_value *value_copy(const struct toml_value *v)
{
    struct toml_value *c = toml_value_alloc(v->type, v->source);
    c->flags = v->flags;
    c->line = v->line;
    c->column = v->column;
    switch (v->type) {
    case TOML_TABLE:
        for (size_t i = 0; i < v->table.len; i++) {
            const struct toml_entry *e = &v->table.entries[i];
            char *key = xmalloc(e->key_len + 1);
            memcpy(key, e->key, e->key_len + 1);
            toml_table_insert(c, key, e->key_len, value_copy(e->value));
        }
        break;
    case TOML_ARRAY:
        for (size_t i = 0; i < v->array.len; i++)
            toml_array_push(c, value_copy(v->array.items[i]));
        break;
    case TOML_STRING:
        c->string.ptr = xmalloc(v->string.len + 1);
        memcpy(c->string.ptr, v->string.ptr, v->string.len + 1);
        c->string.len = v->string.len;
        break;
    case TOML_DATETIME:
        c->datetime = v->datetime;
        c->datetime.text = v->datetime.text ? xstrdup(v->datetime.text) : NULL;
        break;
    case TOML_INTEGER:
        c->integer = v->integer;
        break;
    case TOML_FLOAT:
        c->number = v->number;
        break;
    case TOML_BOOLEAN:
        c->boolean = v->boolean;
        break;
    }
    return c;
}

static void merge_tables(struct toml_value *dst, const struct toml_value *src)
{
    for (size_t i = 0; i < src->table.len; i++) {
        const struct toml_entry *e = &src->table.entries[i];
        long at = toml_table_find(dst, e->key, e->key_len);
        if (at < 0) {
            char *key = xmalloc(e->key_len + 1);
            memcpy(key, e->key, e->key_len + 1);
            toml_table_insert(dst, key, e->key_len, value_copy(e->value));
            continue;
        }
        struct toml_value *d = dst->table.entries[at].value;
        if (d->type == TOML_TABLE && e->value->type == TOML_TABLE)
            merge_tables(d, e->value);
        else
            table_replace(dst, (size_t)at, value_copy(e->value));
    }
}

int toml_merge(struct toml_value *dst, const struct toml_value *src, struct kerr **err)
{
    if (dst->type != TOML_TABLE || src->type != TOML_TABLE)
        return kerr_make(err, 0, "merge TOML %s into %s: both must be tables",
                         toml_type_name(src->type), toml_type_name(dst->type));
    merge_tables(dst, src);
    return 0;
}
