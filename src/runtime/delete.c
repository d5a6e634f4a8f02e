/* kata-runtime delete [--force] ID: remove a stopped (or created) container;
 * --force kills and cleans it from any state, even after the sandbox daemon
 * or the VMM crashed. */
#include "container.h"
#include "runtime.h"
#include "runtime_state.h"

#include <errno.h>
#include <getopt.h>
#include <string.h>

int cmd_delete(int argc, char **argv)
{
    static const struct option options[] = {
        {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    bool force = false;
    int c;
    optind = 0;
    while ((c = getopt_long_only(argc, argv, "+fh", options, NULL)) != -1) {
        if (c == 'f') {
            force = true;
        } else if (c == 'h') {
            printf("Usage: kata-runtime delete [--force] ID\n");
            return 0;
        } else {
            return 1;
        }
    }
    const char *id = verb_id_argument("delete", argc, argv, optind);
    if (!id)
        return 1;
    cleanup_kerr struct kerr *err = NULL;
    cleanup_container struct container ct;
    if (container_open(id, &ct, &err) < 0) {
        /* runc: deleting what is not there is no error with --force; what
         * an earlier delete had to leave (a mount inside) goes now. */
        if (force && err->status == ENOENT) {
            kerr_clear(&err);
            return state_remove(id, &err) < 0 ? runtime_fail(&err) : 0;
        }
        return runtime_fail(&err);
    }
    if (!force && (strcmp(ct.status, "running") == 0 || strcmp(ct.status, "paused") == 0))
        return runtime_fail_msg("cannot delete container \"%s\" that is not stopped: %s", id,
                                ct.status);
    /* A created container is killed first, as runc does. */
    bool kill_first = force || strcmp(ct.status, "created") == 0;
    if (container_destroy(&ct, kill_first, &err) < 0)
        return runtime_fail(&err);
    return 0;
}
