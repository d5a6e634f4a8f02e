/* kata-manager: list the packaged and local configurations and switch the
 * configured hypervisor.  The roots come from $KATA_ETC_DIR and
 * $KATA_DEFAULTS_DIR, or from --root DIR (DIR/etc/kata-containers and
 * DIR/PREFIX/share/defaults/kata-containers), for tests and packaging. */
#include "config.h"
#include "manager.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: kata-manager [--root DIR] [-f] -L | -e | -S NAME | -h\n\n"
            "  -L         list the packaged configurations (* marks the active one)\n"
            "  -e         list the local configurations in %s\n"
            "  -S NAME    switch to NAME: qemu, clh, fc, dragonball, stratovirt or default\n"
            "             (copies the packaged file into the local directory and points\n"
            "             configuration.toml at it; default goes back to the packaged default)\n"
            "  -f         with -S: replace a locally modified file or a regular\n"
            "             configuration.toml (the old one is backed up)\n"
            "  --root DIR act on DIR%s and DIR%s\n"
            "  -h         this help\n",
            KATA_ETC_DIR_DEFAULT, KATA_ETC_DIR_DEFAULT, KATA_DEFAULTS_DIR_DEFAULT);
}

int main(int argc, char **argv)
{
    char action = 0;
    const char *name = NULL;
    bool force = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "-f") == 0) {
            force = true;
        } else if (strcmp(a, "-L") == 0 || strcmp(a, "-e") == 0) {
            action = a[1];
        } else if (strcmp(a, "-S") == 0 && i + 1 < argc) {
            action = 'S';
            name = argv[++i];
        } else if (strcmp(a, "--root") == 0 && i + 1 < argc) {
            const char *root = argv[++i];
            cleanup_free char *etc = xasprintf("%s%s", root, KATA_ETC_DIR_DEFAULT);
            cleanup_free char *defaults = xasprintf("%s%s", root, KATA_DEFAULTS_DIR_DEFAULT);
            setenv("KATA_ETC_DIR", etc, 1);
            setenv("KATA_DEFAULTS_DIR", defaults, 1);
        } else {
            fprintf(stderr, "kata-manager: unknown or incomplete option `%s`\n", a);
            usage(stderr);
            return 1;
        }
    }
    /* The active file is what the runtime would load by default. */
    unsetenv("KATA_CONF_FILE");
    cleanup_kerr struct kerr *err = NULL;
    int rc;
    switch (action) {
    case 'L':
        rc = manager_list_packaged(stdout, &err);
        break;
    case 'e':
        rc = manager_list_local(stdout, &err);
        break;
    case 'S':
        rc = manager_switch(name, force, stdout, &err);
        break;
    default:
        usage(stderr);
        return 1;
    }
    if (rc < 0) {
        kerr_report(&err, "kata-manager", stderr);
        return 1;
    }
    return 0;
}
