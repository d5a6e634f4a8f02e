/* libFuzzer target: arbitrary bytes as kata-runtime's state file
 * (<root>/<id>/state.json) and as JSON text (config.json, --process,
 * --resources).  Loading either fails with a message or gives a state that
 * saves and loads back the same. */
#include "bundle.h"
#include "runtime.h"
#include "runtime_state.h"
#include "util.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct runtime_options runtime_opts;

static char *dir;

static void remove_root(void)
{
    state_remove("c", NULL);
    rmdir(dir);
}

static const char *root(void)
{
    if (!dir) {
        char tmpl[] = "/tmp/fuzz_runtime_state.XXXXXX";
        if (!mkdtemp(tmpl))
            abort();
        dir = xstrdup(tmpl);
        runtime_opts.root = dir;
        if (state_create_dir("c", NULL) < 0)
            abort();
        atexit(remove_root);
    }
    return dir;
}

static void same(const char *a, const char *b)
{
    if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cleanup_kerr struct kerr *err = NULL;
    struct json_object *o = json_parse_text((const char *)data, size, "fuzz.json", &err);
    if (!o && (!err || !err->msg))
        abort();
    json_object_put(o);
    kerr_clear(&err);

    cleanup_free char *path = xasprintf("%s/c/%s", root(), STATE_FILE_NAME);
    if (file_write_atomic(path, data, size, 0600, NULL) < 0)
        abort();
    cleanup_state struct container_state s = {0};
    if (state_load("c", &s, &err) < 0) {
        if (!err || !err->msg)
            abort();
        return 0;
    }
    if (state_save(&s, &err) < 0)
        abort();
    cleanup_state struct container_state t = {0};
    if (state_load("c", &t, &err) < 0)
        abort();
    same(s.id, t.id);
    same(s.bundle, t.bundle);
    same(s.address, t.address);
    same(s.status, t.status);
    if (s.holder_pid != t.holder_pid || s.holder_start != t.holder_start ||
        s.terminal != t.terminal)
        abort();
    for (size_t i = 0; s.daemon_env || t.daemon_env; i++) {
        if (!s.daemon_env || !t.daemon_env)
            abort();
        same(s.daemon_env[i], t.daemon_env[i]);
        if (!s.daemon_env[i])
            break;
    }
    return 0;
}
