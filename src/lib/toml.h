/* A TOML 1.0.0 parser, document model and writer for the runtime's
 * configuration files.
 *
 * The parser is strict: anything the specification rejects (duplicate keys,
 * redefined tables, extended inline tables, bad escapes, leading zeros, ...)
 * fails with "FILE:LINE:COLUMN: message" (1-based; the column counts
 * characters).  Arrays and tables nest at most TOML_MAX_DEPTH deep.
 *
 * A document is a tree of struct toml_value whose root is a table.  Tables
 * keep their keys in insertion order.  Every value remembers the file, line
 * and column where it was written, so that configuration checks can say
 * "file:line: key `x`: ...".  Values that do not come from the parser (built
 * with the *_new() constructors) have no file and line 0.
 *
 *     cleanup_toml struct toml_value *doc = toml_parse_file(path, err);
 *     if (doc == NULL)
 *         return -1;
 *     const struct toml_value *v = toml_get_path(doc, "hypervisor.qemu.path");
 *     if (v != NULL && toml_type(v) != TOML_STRING)
 *         return kerr_make(err, 0, "%s:%u: `hypervisor.qemu.path` must be a string, not %s",
 *                          toml_filename(v), toml_line(v), toml_type_name(toml_type(v)));
 */
#ifndef KATA_TOML_H
#define KATA_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"

#define TOML_MAX_DEPTH      128
#define TOML_FILE_MAX_BYTES (16u << 20)

enum toml_type {
    TOML_TABLE,
    TOML_ARRAY,
    TOML_STRING,
    TOML_INTEGER,
    TOML_FLOAT,
    TOML_BOOLEAN,
    TOML_DATETIME,
};

enum toml_datetime_kind {
    TOML_OFFSET_DATETIME, /* 1979-05-27T07:32:00-08:00 */
    TOML_LOCAL_DATETIME,  /* 1979-05-27T07:32:00 */
    TOML_LOCAL_DATE,      /* 1979-05-27 */
    TOML_LOCAL_TIME,      /* 07:32:00.999 */
};

struct toml_datetime {
    enum toml_datetime_kind kind;
    int year, month, day;     /* 0 for a local time */
    int hour, minute, second; /* 0 for a local date; second may be 60 (leap second) */
    int nanosecond;           /* fraction of the second, truncated to nanoseconds */
    int offset_minutes;       /* offset date-time only: minutes east of UTC, "Z" is 0 */
    const char *text;         /* as written in the document (NULL if built by hand) */
};

struct toml_value;

/* Parse a document.  filename is used in error messages and by toml_filename()
 * (NULL means "<string>").  text need not be NUL-terminated.  Returns the root
 * table, or NULL with *err set. */
struct toml_value *toml_parse(const char *text, size_t len, const char *filename,
                              struct kerr **err);

/* Read (at most TOML_FILE_MAX_BYTES) and parse a file. */
struct toml_value *toml_parse_file(const char *path, struct kerr **err);

void toml_free(struct toml_value *v);

static inline void cleanup_toml_fn(struct toml_value **v)
{
    toml_free(*v);
}
#define cleanup_toml __attribute__((cleanup(cleanup_toml_fn)))

/* Where a value was written: the file (NULL if none), 1-based line and column
 * (0 if the value was not parsed).  For a table, the header or the first key
 * that created it. */
enum toml_type toml_type(const struct toml_value *v);
const char *toml_type_name(enum toml_type type); /* "table", "array", "string", ... */
const char *toml_filename(const struct toml_value *v);
unsigned toml_line(const struct toml_value *v);
unsigned toml_column(const struct toml_value *v);

/* Tables.  Index-based access follows insertion order.  toml_table_key()
 * stores the key's length in *len if len is not NULL (keys may contain NUL
 * through "\u0000").  toml_table_get() looks up one key, taken literally
 * (dots included); it returns NULL if there is no such key or t is not a table. */
size_t toml_table_length(const struct toml_value *t);
const char *toml_table_key(const struct toml_value *t, size_t i, size_t *len);
struct toml_value *toml_table_value(const struct toml_value *t, size_t i);
struct toml_value *toml_table_get(const struct toml_value *t, const char *key);
struct toml_value *toml_table_get_n(const struct toml_value *t, const char *key, size_t len);

/* Look up a dotted path written with TOML key syntax: `hypervisor.qemu.path`,
 * `annotations."io.katacontainers.x"`.  Only tables are traversed.  NULL if a
 * part is missing, is not a table, or the path does not parse. */
struct toml_value *toml_get_path(const struct toml_value *root, const char *path);

/* Arrays. */
size_t toml_array_length(const struct toml_value *a);
struct toml_value *toml_array_get(const struct toml_value *a, size_t i);

/* Scalars.  Each getter returns a neutral value (NULL, 0, false) when v has
 * another type: check toml_type() first.  Strings are NUL-terminated and may
 * contain NUL; *len (if len is not NULL) is the length in bytes. */
const char *toml_string(const struct toml_value *v, size_t *len);
int64_t toml_integer(const struct toml_value *v);
double toml_float(const struct toml_value *v);
bool toml_boolean(const struct toml_value *v);
const struct toml_datetime *toml_datetime(const struct toml_value *v);

/* Build documents by hand (for toml_write).  Strings must be UTF-8.
 * toml_table_set() and toml_array_append() take ownership of value;
 * toml_table_set() replaces an existing key in place. */
struct toml_value *toml_table_new(void);
struct toml_value *toml_array_new(void);
struct toml_value *toml_string_new(const char *s, size_t len);
struct toml_value *toml_integer_new(int64_t i);
struct toml_value *toml_float_new(double d);
struct toml_value *toml_boolean_new(bool b);
void toml_table_set(struct toml_value *t, const char *key, struct toml_value *value);
void toml_array_append(struct toml_value *a, struct toml_value *value);

/* Deep equality: tables compare as unordered maps, floats bit for bit except
 * that NaNs of the same sign are equal, date-times by kind and fields. */
bool toml_equal(const struct toml_value *a, const struct toml_value *b);

/* Apply a configuration drop-in: for every key of src, if both sides hold a
 * table, merge them recursively; otherwise a copy of src's value replaces dst's
 * (arrays are replaced whole) or is appended.  Both must be tables. */
int toml_merge(struct toml_value *dst, const struct toml_value *src, struct kerr **err);

/* Emit a table as a TOML document that parses back to an equal one.  Sub-tables
 * become [headers], arrays whose elements are all tables become [[headers]],
 * everything else is written inline. */
int toml_write(const struct toml_value *root, FILE *out, struct kerr **err);

/* The same as a malloc'd NUL-terminated string (NULL if root is not a table). */
char *toml_write_string(const struct toml_value *root, size_t *len);

#endif
