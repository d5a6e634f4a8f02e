/* kata-runtime kill [--all] ID [SIGNAL]: signal the container's process
 * (default SIGTERM; names with or without SIG, or numbers). */
#include "container.h"
#include "runtime.h"

#include <getopt.h>
#include <signal.h>
#include <string.h>

int cmd_kill(int argc, char **argv)
{
    static const struct option options[] = {
        {"all", no_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    bool all = false;
    int c;
    optind = 0;
    while ((c = getopt_long_only(argc, argv, "+ah", options, NULL)) != -1) {
        if (c == 'a') {
            all = true;
        } else if (c == 'h') {
            printf("Usage: kata-runtime kill [--all] ID [SIGNAL]\n");
            return 0;
        } else {
            return 1;
        }
    }
    int n = argc - optind;
    if (n < 1 || n > 2)
        return runtime_fail_msg("\"kill\" requires a minimum of 1 and a maximum of 2 arguments");
    const char *id = argv[optind];
    int sig = SIGTERM;
    if (n == 2) {
        sig = signal_parse(argv[optind + 1]);
        if (sig < 0)
            return runtime_fail_msg("unknown signal \"%s\"", argv[optind + 1]);
    }
    cleanup_kerr struct kerr *err = NULL;
    cleanup_container struct container ct;
    if (container_open(id, &ct, &err) < 0)
        return runtime_fail(&err);
    if (strcmp(ct.status, "stopped") == 0 && !all)
        return runtime_fail_msg("container \"%s\" is not running", id);
    if (container_kill(&ct, sig, all, &err) < 0) {
        kerr_wrap(&err, "kill container \"%s\"", id);
        return runtime_fail(&err);
    }
    return 0;
}
