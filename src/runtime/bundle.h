/* An OCI bundle as create/run/exec read it: the directory, its config.json
 * (parsed, checked for what the runtime relies on) and the rootfs.  Checked
 * before anything is started, so a bad bundle leaves nothing behind. */
#ifndef KATA_RUNTIME_BUNDLE_H
#define KATA_RUNTIME_BUNDLE_H

#include <stdbool.h>

#include "error.h"

struct json_object;

#define BUNDLE_CONFIG_NAME "config.json"
#define BUNDLE_CONFIG_MAX  (16u << 20)

struct bundle {
    char *path;                 /* absolute, symlinks resolved */
    char *rootfs;               /* absolute */
    struct json_object *config; /* the whole config.json */
    bool terminal;              /* process.terminal */
};

/* Load and check the bundle in dir (relative to the working directory). */
int bundle_load(const char *dir, struct bundle *b, struct kerr **err);
void bundle_release(struct bundle *b);

/* Parse JSON text strictly; errors say `path:line:column: message`. */
struct json_object *json_parse_text(const char *text, size_t len, const char *path,
                                    struct kerr **err);
/* Read and parse a JSON file of at most max bytes: a regular file only (a
 * FIFO fails at once instead of blocking). */
struct json_object *json_parse_file(const char *path, size_t max, struct kerr **err);
/* The same of the standard input (a pipe too: `update --resources -`). */
struct json_object *json_parse_stdin(size_t max, struct kerr **err);

static inline void cleanup_bundle_fn(struct bundle *b)
{
    bundle_release(b);
}
#define cleanup_bundle __attribute__((cleanup(cleanup_bundle_fn)))

#endif
