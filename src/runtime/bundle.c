/* OCI bundle loading and checks: see bundle.h. */
#include "bundle.h"

#include "util.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct json_object *json_parse_text(const char *text, size_t len, const char *path,
                                    struct kerr **err)
{
    if (len > INT_MAX) {
        kerr_make(err, EFBIG, "parse `%s`", path);
        return NULL;
    }
    struct json_tokener *tok = json_tokener_new_ex(64);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    struct json_object *o = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t offset = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (jerr == json_tokener_continue)
        jerr = json_tokener_error_parse_eof;
    /* Only whitespace may follow the value. */
    if (o && jerr == json_tokener_success) {
        size_t rest = offset;
        while (rest < len && strchr(" \t\r\n", text[rest]))
            rest++;
        if (rest == len)
            return o;
        json_object_put(o);
        o = NULL;
        offset = rest;
    }
    unsigned line = 1, column = 1;
    for (size_t i = 0; i < offset && i < len; i++) {
        if (text[i] == '\n') {
            line++;
            column = 1;
        } else {
            column++;
        }
    }
    kerr_make(err, 0, "%s:%u:%u: malformed JSON: %s", path, line, column,
              jerr == json_tokener_success ? "unexpected text after the value"
                                           : json_tokener_error_desc(jerr));
    json_object_put(o);
    return NULL;
}

struct json_object *json_parse_file(const char *path, size_t max, struct kerr **err)
{
    cleanup_free char *text = NULL;
    size_t len;
    /* A FIFO named config.json would block the open (and the create) for
     * ever: only a regular file is read. */
    if (file_read_regular(path, max, false, &text, &len, err) < 0)
        return NULL;
    return json_parse_text(text, len, path, err);
}

struct json_object *json_parse_stdin(size_t max, struct kerr **err)
{
    cleanup_free char *text = NULL;
    size_t len;
    if (file_read_all("/dev/stdin", max, &text, &len, err) < 0)
        return NULL;
    return json_parse_text(text, len, "stdin", err);
}

static struct json_object *member(struct json_object *o, const char *key, enum json_type type)
{
    struct json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, type))
        return NULL;
    return v;
}

static int check_config(struct bundle *b, const char *config_path, struct kerr **err)
{
    struct json_object *c = b->config;
    if (!json_object_is_type(c, json_type_object))
        return kerr_make(err, 0, "`%s`: not a JSON object", config_path);
    if (!member(c, "ociVersion", json_type_string))
        return kerr_make(err, 0, "`%s`: `ociVersion` is missing or not a string", config_path);
    struct json_object *root = member(c, "root", json_type_object);
    struct json_object *root_path = member(root, "path", json_type_string);
    if (!root_path || !*json_object_get_string(root_path))
        return kerr_make(err, 0, "`%s`: `root.path` is missing", config_path);
    struct json_object *process = member(c, "process", json_type_object);
    if (!process)
        return kerr_make(err, 0, "`%s`: `process` is missing", config_path);
    struct json_object *args = member(process, "args", json_type_array);
    if (!args || json_object_array_length(args) == 0)
        return kerr_make(err, 0, "`%s`: `process.args` must not be empty", config_path);
    for (size_t i = 0; i < json_object_array_length(args); i++)
        if (!json_object_is_type(json_object_array_get_idx(args, i), json_type_string))
            return kerr_make(err, 0, "`%s`: `process.args[%zu]` is not a string", config_path, i);
    struct json_object *terminal = member(process, "terminal", json_type_boolean);
    b->terminal = terminal && json_object_get_boolean(terminal);

    const char *rootfs = json_object_get_string(root_path);
    b->rootfs = rootfs[0] == '/' ? xstrdup(rootfs) : xasprintf("%s/%s", b->path, rootfs);
    struct stat st;
    if (stat(b->rootfs, &st) < 0)
        return kerr_make(err, errno, "rootfs `%s` (root.path in `%s`)", b->rootfs, config_path);
    if (!S_ISDIR(st.st_mode))
        return kerr_make(err, ENOTDIR, "rootfs `%s` (root.path in `%s`)", b->rootfs, config_path);
    return 0;
}

int bundle_load(const char *dir, struct bundle *b, struct kerr **err)
{
    memset(b, 0, sizeof(*b));
    char resolved[PATH_MAX];
    if (!realpath(dir, resolved))
        return kerr_make(err, errno, "bundle `%s`", dir);
    struct stat st;
    if (stat(resolved, &st) < 0 || !S_ISDIR(st.st_mode))
        return kerr_make(err, ENOTDIR, "bundle `%s`", dir);
    b->path = xstrdup(resolved);
    cleanup_free char *config_path = xasprintf("%s/%s", b->path, BUNDLE_CONFIG_NAME);
    if (access(config_path, F_OK) < 0) {
        kerr_make(err, errno, "bundle `%s`: `%s`", dir, config_path);
        bundle_release(b);
        return -1;
    }
    b->config = json_parse_file(config_path, BUNDLE_CONFIG_MAX, err);
    if (!b->config || check_config(b, config_path, err) < 0) {
        bundle_release(b);
        return kerr_wrap(err, "bundle `%s`", dir);
    }
    return 0;
}

void bundle_release(struct bundle *b)
{
    free(b->path);
    free(b->rootfs);
    json_object_put(b->config);
    memset(b, 0, sizeof(*b));
}
