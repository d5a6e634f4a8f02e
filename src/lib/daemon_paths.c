/* The sandbox daemon's directories (daemon_paths.h). */
#include "daemon_paths.h"

#include <stdlib.h>
#include <string.h>

static const struct {
    const char *env, *fallback;
} dirs[DAEMON_DIR_COUNT] = {
    [DAEMON_DIR_SOCKETS] = {"KATA_SHIM_SOCKET_DIR", "/run/kata-containers/shim"},
    [DAEMON_DIR_STATE] = {"KATA_STATE_DIR", "/run/vc/sbs"},
    [DAEMON_DIR_SHARED] = {"KATA_SHARED_DIR", "/run/kata-containers/shared/sandboxes"},
};

const char *daemon_dir(enum daemon_dir which)
{
    const char *v = getenv(dirs[which].env);
    return v && *v ? v : dirs[which].fallback;
}

/* a and b name the same path, or a is an ancestor of b (textually, with
 * redundant slashes ignored at the end). */
static bool path_within(const char *ancestor, const char *path)
{
    size_t n = strlen(ancestor);
    while (n > 1 && ancestor[n - 1] == '/')
        n--;
    if (strncmp(ancestor, path, n) != 0)
        return false;
    return path[n] == '\0' || path[n] == '/';
}

bool daemon_dir_overlaps(const char *dir)
{
    for (int i = 0; i < DAEMON_DIR_COUNT; i++) {
        const char *d = daemon_dir((enum daemon_dir)i);
        /* the default fallbacks too: a variable set for tests does not make
         * the real directories fair game */
        if (path_within(dir, d) || path_within(dir, dirs[i].fallback))
            return true;
    }
    return false;
}
