/* containerd-shim-kata-v2: the containerd shim v2 binary protocol.
 *
 *   containerd-shim-kata-v2 -namespace N -address A -publish-binary P -id ID
 *       [-bundle B] [-debug] start|delete
 *
 * `start` forks the sandbox daemon (this binary without a verb, its listening
 * socket as fd 3), prints only its ttrpc address and exits; `delete` cleans
 * up after a daemon that is gone and prints a DeleteResponse. */
#include "log.h"
#include "shim.h"
#include "util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct flag {
    const char *name;
    size_t offset; /* into struct shim_options; SIZE_MAX: -debug */
};

#define OPT(field) offsetof(struct shim_options, field)

static const struct flag flags[] = {
    {"namespace", OPT(namespace)},
    {"address", OPT(address)},
    {"publish-binary", OPT(publish_binary)},
    {"id", OPT(id)},
    {"bundle", OPT(bundle)},
    {"debug", SIZE_MAX},
};

static const struct {
    const char *name;
    int (*run)(const struct shim_options *opts, struct kerr **err);
} verbs[] = {
    {"start", shim_cmd_start},
    {"delete", shim_cmd_delete},
};

static void usage(void)
{
    fprintf(stderr, "Usage: containerd-shim-kata-v2 -namespace N -id ID [-address A] "
                    "[-publish-binary P] [-bundle B] [-debug] start|delete\n");
}

/* Go's flag syntax: -name value, --name value, -name=value; -debug alone. */
static int parse(int argc, char **argv, struct shim_options *opts, const char **verb)
{
    *verb = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-') {
            if (*verb)
                return -1;
            *verb = a;
            continue;
        }
        a += a[1] == '-' ? 2 : 1;
        const char *eq = strchr(a, '=');
        size_t n = eq ? (size_t)(eq - a) : strlen(a);
        const struct flag *f = NULL;
        for (size_t k = 0; k < ARRAY_SIZE(flags); k++)
            if (strlen(flags[k].name) == n && strncmp(flags[k].name, a, n) == 0)
                f = &flags[k];
        if (f == NULL) {
            if (strncmp(a, "v", n) == 0 || strncmp(a, "version", n) == 0) {
                printf("%s\n", SHIM_VERSION);
                exit(0);
            }
            fprintf(stderr, "containerd-shim-kata-v2: unknown flag `%s`\n", argv[i]);
            return -1;
        }
        if (f->offset == SIZE_MAX) {
            opts->debug = !eq || strcmp(eq + 1, "false") != 0;
            continue;
        }
        const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (value == NULL)
            return -1;
        *(const char **)((char *)opts + f->offset) = value;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct shim_options opts = {0};
    const char *verb;
    if (parse(argc, argv, &opts, &verb) < 0) {
        usage();
        return 2;
    }
    if (opts.namespace == NULL || opts.id == NULL) {
        fprintf(stderr, "containerd-shim-kata-v2: -namespace and -id are required\n");
        return 2;
    }
    if (opts.address && *opts.address == '\0')
        opts.address = NULL;
    if (opts.publish_binary && *opts.publish_binary == '\0')
        opts.publish_binary = NULL;
    signal(SIGPIPE, SIG_IGN);
    cleanup_kerr struct kerr *err = NULL;
    if (verb == NULL) {
        log_init("containerd-shim-kata-v2", opts.debug ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO, 2,
                 false);
        if (shim_daemon_run(&opts, 3, &err) < 0) {
            log_error("%s", err->msg);
            return 1;
        }
        return 0;
    }
    for (size_t i = 0; i < ARRAY_SIZE(verbs); i++) {
        if (strcmp(verbs[i].name, verb) != 0)
            continue;
        if (verbs[i].run(&opts, &err) < 0) {
            kerr_report(&err, "containerd-shim-kata-v2", stderr);
            return 1;
        }
        return 0;
    }
    fprintf(stderr, "containerd-shim-kata-v2: unknown command `%s`\n", verb);
    usage();
    return 2;
}
