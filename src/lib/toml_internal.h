/* Shared between toml.c (document model), toml_parse.c and toml_write.c. */
#ifndef KATA_TOML_INTERNAL_H
#define KATA_TOML_INTERNAL_H

#include "toml.h"

#include <stdint.h>

/* The file name, shared by every value parsed from it (and by the copies
 * toml_merge() makes, which may outlive the source document). */
struct toml_source {
    unsigned refs;
    char name[];
};

struct toml_entry {
    char *key;
    size_t key_len;
    struct toml_value *value;
};

enum {
    TOML_FLAG_INLINE = 1u << 0,  /* inline table: frozen once its `}` is read */
    TOML_FLAG_DEFINED = 1u << 1, /* defined by [header] or as a [[header]] element */
    TOML_FLAG_STATIC = 1u << 2,  /* array written as a value, not with [[header]] */
};

struct toml_value {
    enum toml_type type;
    uint8_t flags;
    uint16_t depth;          /* parser: nesting depth, the root is 0 */
    unsigned dotted_section; /* parser: section whose dotted keys last touched it, 0 if none */
    unsigned line, column;
    struct toml_source *source;
    union {
        struct {
            char *ptr;
            size_t len;
        } string;
        int64_t integer;
        double number;
        bool boolean;
        struct toml_datetime datetime; /* text is owned */
        struct {
            struct toml_value **items;
            size_t len, cap;
        } array;
        struct {
            struct toml_entry *entries;
            size_t len, cap;
            uint32_t *index; /* open addressing, entry index + 1; NULL while small */
            size_t index_cap;
        } table;
    };
};

/* A growable byte buffer, always NUL-terminated once anything was added. */
struct toml_buf {
    char *data;
    size_t len, cap;
};

void toml_buf_add(struct toml_buf *b, const void *data, size_t n);
void toml_buf_addc(struct toml_buf *b, char c);
void toml_buf_addf(struct toml_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

struct toml_value *toml_value_alloc(enum toml_type type, struct toml_source *source);
struct toml_source *toml_source_new(const char *name);
void toml_source_unref(struct toml_source *s);

/* Insert without checking for a duplicate; takes ownership of key (malloc'd,
 * NUL-terminated) and value. */
void toml_table_insert(struct toml_value *t, char *key, size_t len, struct toml_value *value);
/* Index of key in t's entries, or -1. */
long toml_table_find(const struct toml_value *t, const char *key, size_t len);
void toml_array_push(struct toml_value *a, struct toml_value *value);

/* Whether a key can be written bare (A-Za-z0-9_-, not empty). */
bool toml_key_is_bare(const char *key, size_t len);
/* Append key, quoted and escaped if it cannot be written bare. */
void toml_buf_add_key(struct toml_buf *b, const char *key, size_t len);
/* Append s as a basic string "...", escaping what must be. */
void toml_buf_add_string(struct toml_buf *b, const char *s, size_t len);

#endif
