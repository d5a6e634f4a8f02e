/* kata-runtime: the OCI runtime CLI.  main() parses the global flags (runc's
 * plus Kata's --config) and dispatches through the command table; each verb
 * lives in its own file. */
#include "config.h"
#include "log.h"
#include "runtime.h"
#include "util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

struct runtime_options runtime_opts;

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
};

static const struct command commands[] = {
    {"--version", cmd_version, NULL},
    {"-v", cmd_version, NULL},
    {"version", cmd_version, "print the version"},
    {"env", cmd_env, "show the settings and the host (TOML; --json)"},
    {"kata-env", cmd_env, NULL},
    {"check", cmd_check, "can this host run VM containers, and with which accelerator"},
    {"kata-check", cmd_check, NULL},
    {"create", cmd_create, "create a container (its sandbox VM) from a bundle"},
    {"start", cmd_start, "start the process of a created container"},
    {"run", cmd_run, "create and start a container (waits unless --detach)"},
    {"state", cmd_state, "print a container's state (JSON)"},
    {"list", cmd_list, "list containers (table or --format json)"},
    {"ps", cmd_ps, "list a container's processes"},
    {"exec", cmd_exec, "run another process in a container"},
    {"kill", cmd_kill, "send a signal to a container's process"},
    {"pause", cmd_pause, "freeze a container's processes"},
    {"resume", cmd_resume, "thaw a paused container"},
    {"update", cmd_update, "change a container's resources"},
    {"delete", cmd_delete, "delete a container (--force: from any state)"},
    {"features", cmd_features, "what this runtime supports (JSON)"},
    {"spec", cmd_spec, "write a default config.json"},
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: kata-runtime [GLOBAL OPTIONS] COMMAND [ARGS...]\n\n"
                 "Global options:\n"
                 "  --config PATH, --kata-config PATH   the configuration file to use\n"
                 "  --show-default-config-paths         print the configuration lookup list\n"
                 "  --debug                             debug logging\n"
                 "  --log PATH                          log to PATH instead of stderr\n"
                 "  --log-format text|json              log format\n"
                 "  --root DIR                          state directory\n"
                 "  --systemd-cgroup                    use systemd for cgroups\n"
                 "  --version, -v                       print the version\n\n"
                 "Commands:\n");
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        if (commands[i].help)
            fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].help);
}

static int show_default_config_paths(void)
{
    char **paths = kata_config_default_paths();
    for (size_t i = 0; paths[i]; i++)
        printf("%s\n", paths[i]);
    kata_strv_free(paths);
    return 0;
}

/* "--name value" or "--name=value"; advances *i past what it used. */
static bool option_value(int argc, char **argv, int *i, const char *name, const char **value)
{
    size_t len = strlen(name);
    if (strncmp(argv[*i], name, len) != 0)
        return false;
    if (argv[*i][len] == '=') {
        *value = argv[*i] + len + 1;
        return true;
    }
    if (argv[*i][len] != '\0')
        return false;
    if (*i + 1 >= argc) {
        fprintf(stderr, "kata-runtime: %s needs a value\n", name);
        exit(1);
    }
    *value = argv[++*i];
    return true;
}

static void setup_logging(void)
{
    int fd = 2;
    if (runtime_opts.log_path && *runtime_opts.log_path) {
        fd = open(runtime_opts.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (fd < 0) {
            perror("kata-runtime: open log file");
            fd = 2;
        }
    }
    bool json = runtime_opts.log_format && strcmp(runtime_opts.log_format, "json") == 0;
    log_init("kata-runtime", runtime_opts.debug ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN, fd, json);
}

/* A caller may close 0, 1 or 2: never let a file we open take their place
 * (the holder hands 0, 1 and 2 to the container). */
static void ensure_stdio(void)
{
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0) {
            int null = open("/dev/null", O_RDWR);
            if (null >= 0 && null != fd) {
                dup2(null, fd);
                close(null);
            }
        }
}

int main(int argc, char **argv)
{
    ensure_stdio();
    /* A daemon that closes its connection while we write (it is exiting: a
     * failed boot, a Shutdown, a SIGKILL) is an error to report, not our
     * death by SIGPIPE (`delete --force` must go on and clean).  Children
     * get the default back before they exec. */
    signal(SIGPIPE, SIG_IGN);
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(arg, "--show-default-config-paths") == 0 ||
            strcmp(arg, "--kata-show-default-config-paths") == 0)
            return show_default_config_paths();
        if (strcmp(arg, "--debug") == 0)
            runtime_opts.debug = true;
        else if (strcmp(arg, "--systemd-cgroup") == 0)
            runtime_opts.systemd_cgroup = true;
        else if (option_value(argc, argv, &i, "--config", &runtime_opts.config_path) ||
                 option_value(argc, argv, &i, "--kata-config", &runtime_opts.config_path) ||
                 option_value(argc, argv, &i, "--root", &runtime_opts.root) ||
                 option_value(argc, argv, &i, "--log", &runtime_opts.log_path) ||
                 option_value(argc, argv, &i, "--log-format", &runtime_opts.log_format))
            continue;
        else if (strcmp(arg, "--version") == 0 || strcmp(arg, "-v") == 0)
            break; /* a command of its own */
        else {
            fprintf(stderr, "kata-runtime: unknown global option `%s` (see kata-runtime --help)\n",
                    arg);
            return 1;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 1;
    }
    if (strcmp(argv[i], "help") == 0) {
        usage(stdout);
        return 0;
    }
    setup_logging();
    for (size_t c = 0; c < ARRAY_SIZE(commands); c++)
        if (strcmp(argv[i], commands[c].name) == 0)
            return commands[c].run(argc - i, argv + i);
    fprintf(stderr, "kata-runtime: unknown command `%s` (see kata-runtime --help)\n", argv[i]);
    return 1;
}
