/* TOML writer: a document back to text that parses to an equal document. */
#include "toml.h"
#include "toml_internal.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

bool toml_key_is_bare(const char *key, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = key[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

void toml_buf_add_string(struct toml_buf *b, const char *s, size_t len)
{
    toml_buf_addc(b, '"');
    size_t run = 0; /* bytes copied as they are, flushed in one go */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        switch (c) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\f':
            esc = "\\f";
            break;
        case '\r':
            esc = "\\r";
            break;
        default:
            if (c >= 0x20 && c != 0x7f) {
                run++;
                continue;
            }
            break;
        }
        toml_buf_add(b, s + i - run, run);
        run = 0;
        if (esc != NULL)
            toml_buf_add(b, esc, strlen(esc));
        else
            toml_buf_addf(b, "\\u%04X", c);
    }
    toml_buf_add(b, s + len - run, run);
    toml_buf_addc(b, '"');
}

void toml_buf_add_key(struct toml_buf *b, const char *key, size_t len)
{
    if (toml_key_is_bare(key, len))
        toml_buf_add(b, key, len);
    else
        toml_buf_add_string(b, key, len);
}

/* The shortest text that reads back as the same double. */
static void add_float(struct toml_buf *b, double d)
{
    if (isnan(d)) {
        toml_buf_add(b, signbit(d) ? "-nan" : "nan", signbit(d) ? 4 : 3);
        return;
    }
    if (isinf(d)) {
        toml_buf_add(b, d < 0 ? "-inf" : "inf", d < 0 ? 4 : 3);
        return;
    }
    char text[48];
    int precision = 1;
    for (; precision < 17; precision++) {
        snprintf(text, sizeof(text), "%.*g", precision, d);
        if (strtod(text, NULL) == d)
            break;
    }
    snprintf(text, sizeof(text), "%.*g", precision, d);
    /* %g switches to an exponent for integral values like 100 ("1e+02"):
     * spell out the digits while that stays short. */
    char *e = strchr(text, 'e');
    if (e != NULL) {
        int exponent = atoi(e + 1);
        if (exponent >= precision && exponent < 16)
            snprintf(text, sizeof(text), "%.0f", d);
    }
    toml_buf_add(b, text, strlen(text));
    if (strpbrk(text, ".e") == NULL)
        toml_buf_add(b, ".0", 2);
}

static void add_datetime(struct toml_buf *b, const struct toml_datetime *dt)
{
    if (dt->text != NULL) {
        toml_buf_add(b, dt->text, strlen(dt->text));
        return;
    }
    if (dt->kind != TOML_LOCAL_TIME)
        toml_buf_addf(b, "%04d-%02d-%02d", dt->year, dt->month, dt->day);
    if (dt->kind == TOML_LOCAL_DATE)
        return;
    if (dt->kind != TOML_LOCAL_TIME)
        toml_buf_addc(b, 'T');
    toml_buf_addf(b, "%02d:%02d:%02d", dt->hour, dt->minute, dt->second);
    if (dt->nanosecond != 0)
        toml_buf_addf(b, ".%09d", dt->nanosecond);
    if (dt->kind != TOML_OFFSET_DATETIME)
        return;
    if (dt->offset_minutes == 0) {
        toml_buf_addc(b, 'Z');
        return;
    }
    int off = dt->offset_minutes < 0 ? -dt->offset_minutes : dt->offset_minutes;
    toml_buf_addf(b, "%c%02d:%02d", dt->offset_minutes < 0 ? '-' : '+', off / 60, off % 60);
}

static void add_inline(struct toml_buf *b, const struct toml_value *v)
{
    switch (v->type) {
    case TOML_TABLE:
        if (v->table.len == 0) {
            toml_buf_add(b, "{}", 2);
            break;
        }
        toml_buf_add(b, "{ ", 2);
        for (size_t i = 0; i < v->table.len; i++) {
            const struct toml_entry *e = &v->table.entries[i];
            if (i > 0)
                toml_buf_add(b, ", ", 2);
            toml_buf_add_key(b, e->key, e->key_len);
            toml_buf_add(b, " = ", 3);
            add_inline(b, e->value);
        }
        toml_buf_add(b, " }", 2);
        break;
    case TOML_ARRAY:
        toml_buf_addc(b, '[');
        for (size_t i = 0; i < v->array.len; i++) {
            if (i > 0)
                toml_buf_add(b, ", ", 2);
            add_inline(b, v->array.items[i]);
        }
        toml_buf_addc(b, ']');
        break;
    case TOML_STRING:
        toml_buf_add_string(b, v->string.ptr, v->string.len);
        break;
    case TOML_INTEGER:
        toml_buf_addf(b, "%lld", (long long)v->integer);
        break;
    case TOML_FLOAT:
        add_float(b, v->number);
        break;
    case TOML_BOOLEAN:
        toml_buf_add(b, v->boolean ? "true" : "false", v->boolean ? 4 : 5);
        break;
    case TOML_DATETIME:
        add_datetime(b, &v->datetime);
        break;
    }
}

/* Written with [[header]]: a non-empty array of tables only. */
static bool is_array_of_tables(const struct toml_value *v)
{
    if (v->type != TOML_ARRAY || v->array.len == 0)
        return false;
    for (size_t i = 0; i < v->array.len; i++)
        if (v->array.items[i]->type != TOML_TABLE)
            return false;
    return true;
}

/* path holds the header of t ("a.b"), empty for the root.  Plain keys come
 * first since everything after a header belongs to that header's table. */
static void add_table_body(struct toml_buf *b, const struct toml_value *t, struct toml_buf *path)
{
    for (size_t i = 0; i < t->table.len; i++) {
        const struct toml_entry *e = &t->table.entries[i];
        if (e->value->type == TOML_TABLE || is_array_of_tables(e->value))
            continue;
        toml_buf_add_key(b, e->key, e->key_len);
        toml_buf_add(b, " = ", 3);
        add_inline(b, e->value);
        toml_buf_addc(b, '\n');
    }
    for (size_t i = 0; i < t->table.len; i++) {
        const struct toml_entry *e = &t->table.entries[i];
        bool table = e->value->type == TOML_TABLE;
        if (!table && !is_array_of_tables(e->value))
            continue;
        size_t saved = path->len;
        if (path->len > 0)
            toml_buf_addc(path, '.');
        toml_buf_add_key(path, e->key, e->key_len);
        size_t count = table ? 1 : e->value->array.len;
        for (size_t j = 0; j < count; j++) {
            const struct toml_value *sub = table ? e->value : e->value->array.items[j];
            if (b->len > 0)
                toml_buf_addc(b, '\n');
            toml_buf_add(b, table ? "[" : "[[", table ? 1 : 2);
            toml_buf_add(b, path->data, path->len);
            toml_buf_add(b, table ? "]\n" : "]]\n", table ? 2 : 3);
            add_table_body(b, sub, path);
        }
        path->len = saved;
        path->data[saved] = '\0';
    }
}

char *toml_write_string(const struct toml_value *root, size_t *len)
{
    if (root->type != TOML_TABLE)
        return NULL;
    struct toml_buf b = {0}, path = {0};
    toml_buf_add(&b, "", 0);
    add_table_body(&b, root, &path);
    free(path.data);
    if (len != NULL)
        *len = b.len;
    return b.data;
}

int toml_write(const struct toml_value *root, FILE *out, struct kerr **err)
{
    size_t len = 0;
    cleanup_free char *text = toml_write_string(root, &len);
    if (text == NULL)
        return kerr_make(err, EINVAL, "write TOML: the root is a %s, not a table",
                         toml_type_name(root->type));
    if (fwrite(text, 1, len, out) != len || fflush(out) != 0)
        return kerr_make(err, errno, "write TOML");
    return 0;
}
