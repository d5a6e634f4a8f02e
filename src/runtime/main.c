/* kata-runtime: the OCI runtime CLI.  main() parses global flags and
 * dispatches through the command table; each verb lives in its own file as it
 * arrives (runtime and configuration issues). */
#include "util.h"

#include <stdio.h>
#include <string.h>

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
};

static int cmd_version(int argc, char **argv)
{
    printf("kata-runtime  : %s\n   commit   : %s\n   OCI specs: %s\n", KATA_VERSION, KATA_COMMIT,
           OCI_SPEC_VERSION);
    return 0;
}

static const struct command commands[] = {
    {"--version", cmd_version, "print the version"},
    {"-v", cmd_version, NULL},
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: kata-runtime COMMAND [ARGS...]\n\nCommands:\n");
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        if (commands[i].help)
            fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].help);
    fprintf(out, "\nThe OCI verbs (create, start, run, ...) arrive with the runtime issue.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 1;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "kata-runtime: unknown command `%s` (see kata-runtime --help)\n", argv[1]);
    return 1;
}
