/* Where the sandbox daemon keeps its sockets, state and share trees: the
 * defaults, or the KATA_SHIM_SOCKET_DIR / KATA_STATE_DIR / KATA_SHARED_DIR
 * variables (tests use private ones).  kata-runtime refuses container ids
 * whose state dir would be one of these. */
#ifndef KATA_DAEMON_PATHS_H
#define KATA_DAEMON_PATHS_H

#include <stdbool.h>

enum daemon_dir {
    DAEMON_DIR_SOCKETS, /* the daemons' ttrpc sockets */
    DAEMON_DIR_STATE,   /* <dir>/<sandbox>/state.json, VM sockets and logs */
    DAEMON_DIR_SHARED,  /* <dir>/<sandbox>/{mounts,shared} */
    DAEMON_DIR_COUNT,
};

const char *daemon_dir(enum daemon_dir which);

/* Is dir one of the daemon's directories, or an ancestor of one? */
bool daemon_dir_overlaps(const char *dir);

#endif
