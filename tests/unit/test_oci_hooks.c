/* OCI hooks (src/lib/oci_hooks.c): order, state on stdin, and what a failure
 * does to the hooks after it. */
#include "oci_hooks.h"
#include "test.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char *sh_args[3][3];

/* A hook running `sh -c script`. */
static Grpc__Hook sh_hook(unsigned slot, const char *script)
{
    Grpc__Hook h = GRPC__HOOK__INIT;
    sh_args[slot][0] = "sh";
    sh_args[slot][1] = "-c";
    sh_args[slot][2] = (char *)script;
    h.path = "/bin/sh";
    h.n_args = 3;
    h.args = sh_args[slot];
    h.timeout = 10;
    return h;
}

static char *read_text(const char *path)
{
    size_t len = 0;
    char *s = NULL;
    struct kerr *e = NULL;
    if (file_read_all(path, 1 << 16, &s, &len, &e) < 0) {
        kerr_free(e);
        return xstrdup("");
    }
    return s;
}

/* Two failing hooks then one that records; returns what it recorded. */
static char *run_three(enum oci_hook_kind kind, struct kerr **err)
{
    char dir[] = "/tmp/test-oci-hooks.XXXXXX";
    if (mkdtemp(dir) == NULL)
        return NULL;
    cleanup_free char *record = xasprintf("cat > %s/state; echo ran >> %s/log", dir, dir);
    Grpc__Hook a = sh_hook(0, "exit 3"), b = sh_hook(1, "exit 4"), c = sh_hook(2, record);
    Grpc__Hook *list[] = {&a, &b, &c};
    Grpc__Hooks hooks = GRPC__HOOKS__INIT;
    if (kind == OCI_HOOK_PRESTART) {
        hooks.n_prestart = 3;
        hooks.prestart = list;
    } else {
        hooks.n_poststop = 3;
        hooks.poststop = list;
    }
    struct oci_hook_state st = {.id = "c1", .status = "stopped", .pid = 42, .bundle = "/b"};
    int r = oci_hooks_run(&hooks, kind, &st, err);
    cleanup_free char *log = xasprintf("%s/log", dir);
    cleanup_free char *state = xasprintf("%s/state", dir);
    char *out = read_text(log);
    cleanup_free char *json = read_text(state);
    if (*out && strstr(json, "\"id\":\"c1\"") == NULL && strstr(json, "\"id\": \"c1\"") == NULL) {
        free(out);
        out = xstrdup("state without the id");
    }
    unlink(log);
    unlink(state);
    rmdir(dir);
    if (r == 0) {
        free(out);
        return NULL;
    }
    return out;
}

TEST(a_failing_prestart_hook_stops_the_rest)
{
    cleanup_kerr struct kerr *e = NULL;
    cleanup_free char *out = run_three(OCI_HOOK_PRESTART, &e);
    CHECK(out != NULL);
    CHECK_STR(out, "");
    CHECK_CONTAINS(e->msg, "prestart hook 0");
    CHECK_CONTAINS(e->msg, "exit status 3");
}

TEST(failing_poststop_hooks_are_reported_and_the_rest_still_run)
{
    cleanup_kerr struct kerr *e = NULL;
    cleanup_free char *out = run_three(OCI_HOOK_POSTSTOP, &e);
    CHECK(out != NULL);
    CHECK_STR(out, "ran\n");
    CHECK_CONTAINS(e->msg, "2 of 3 poststop hooks failed");
    CHECK_CONTAINS(e->msg, "poststop hook 0");
    CHECK_CONTAINS(e->msg, "exit status 3");
}
