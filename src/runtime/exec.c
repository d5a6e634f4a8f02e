/* kata-runtime exec [--process FILE | ARGS...] [--tty] [--console-socket S]
 * [--detach] [--pid-file F] [--cwd DIR] [--env K=V]... [--user UID[:GID]] ID:
 * run another process in a running container (Task/Exec + Start) under its
 * own holder; without --detach wait and exit with the process's status. */
#include "bundle.h"
#include "container.h"
#include "holder.h"
#include "runtime.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXEC_ENV_MAX 256

struct exec_options {
    const char *process_file;
    const char *console_socket;
    const char *pid_file;
    const char *cwd;
    const char *user;
    const char *env[EXEC_ENV_MAX];
    size_t n_env;
    bool tty, detach;
};

static char *random_exec_id(void)
{
    uint8_t bytes[8] = {0};
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        fd_read_full(fd, bytes, sizeof(bytes));
        close(fd);
    }
    uint64_t v;
    memcpy(&v, bytes, sizeof(v));
    v ^= now_ns() ^ (uint64_t)getpid();
    return xasprintf("exec-%016llx", (unsigned long long)v);
}

/* "1000", "1000:1000" -> {"uid":1000,"gid":1000}. */
static int parse_user(const char *text, struct json_object *process)
{
    char *end;
    errno = 0;
    unsigned long uid = strtoul(text, &end, 10), gid = 0;
    if (errno || end == text || (*end && *end != ':'))
        return -1;
    if (*end == ':') {
        const char *g = end + 1;
        gid = strtoul(g, &end, 10);
        if (errno || end == g || *end)
            return -1;
    }
    struct json_object *user = json_object_new_object();
    json_object_object_add(user, "uid", json_object_new_int64((int64_t)uid));
    json_object_object_add(user, "gid", json_object_new_int64((int64_t)gid));
    json_object_object_add(process, "user", user);
    return 0;
}

/* runc's rule: --process FILE as it is; otherwise the container's own process
 * with the given arguments, terminal, cwd, extra env and user. */
static struct json_object *build_process(const struct exec_options *o, const char *bundle_dir,
                                         int argc, char **argv, struct kerr **err)
{
    if (o->process_file) {
        struct json_object *p = json_parse_file(o->process_file, BUNDLE_CONFIG_MAX, err);
        if (!p)
            return NULL;
        if (!json_object_is_type(p, json_type_object)) {
            json_object_put(p);
            kerr_make(err, 0, "`%s`: not a JSON object", o->process_file);
            return NULL;
        }
        return p;
    }
    if (argc == 0) {
        kerr_make(err, 0, "exec: no command given (ARGS or --process FILE)");
        return NULL;
    }
    struct bundle b;
    if (bundle_load(bundle_dir, &b, err) < 0)
        return NULL;
    struct json_object *process = NULL;
    json_object_object_get_ex(b.config, "process", &process);
    process = json_object_get(process);
    bundle_release(&b);
    struct json_object *copy = NULL;
    json_object_deep_copy(process, &copy, NULL);
    json_object_put(process);
    process = copy;

    struct json_object *args = json_object_new_array();
    for (int i = 0; i < argc; i++)
        json_object_array_add(args, json_object_new_string(argv[i]));
    json_object_object_add(process, "args", args);
    json_object_object_add(process, "terminal", json_object_new_boolean(o->tty));
    if (o->cwd)
        json_object_object_add(process, "cwd", json_object_new_string(o->cwd));
    if (o->n_env) {
        struct json_object *env;
        if (!json_object_object_get_ex(process, "env", &env) ||
            !json_object_is_type(env, json_type_array)) {
            env = json_object_new_array();
            json_object_object_add(process, "env", env);
        }
        for (size_t i = 0; i < o->n_env; i++)
            json_object_array_add(env, json_object_new_string(o->env[i]));
    }
    if (o->user && parse_user(o->user, process) < 0) {
        json_object_put(process);
        kerr_make(err, 0, "exec: invalid --user `%s` (UID[:GID])", o->user);
        return NULL;
    }
    return process;
}

int cmd_exec(int argc, char **argv)
{
    static const struct option options[] = {
        {"process", required_argument, NULL, 'p'},
        {"console-socket", required_argument, NULL, 'c'},
        {"tty", no_argument, NULL, 't'},
        {"detach", no_argument, NULL, 'd'},
        {"pid-file", required_argument, NULL, 'P'},
        {"cwd", required_argument, NULL, 'w'},
        {"env", required_argument, NULL, 'e'},
        {"user", required_argument, NULL, 'u'},
        {"additional-gids", required_argument, NULL, 'N'},
        {"process-label", required_argument, NULL, 'N'},
        {"apparmor", required_argument, NULL, 'N'},
        {"no-new-privs", no_argument, NULL, 'N'},
        {"cap", required_argument, NULL, 'N'},
        {"preserve-fds", required_argument, NULL, 'N'},
        {"ignore-paused", no_argument, NULL, 'N'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct exec_options o = {0};
    int c;
    optind = 0;
    while ((c = getopt_long_only(argc, argv, "+p:tde:u:h", options, NULL)) != -1) {
        switch (c) {
        case 'p':
            o.process_file = optarg;
            break;
        case 'c':
            o.console_socket = optarg;
            break;
        case 't':
            o.tty = true;
            break;
        case 'd':
            o.detach = true;
            break;
        case 'P':
            o.pid_file = optarg;
            break;
        case 'w':
            o.cwd = optarg;
            break;
        case 'e':
            if (o.n_env == EXEC_ENV_MAX)
                return runtime_fail_msg("exec: more than %d --env", EXEC_ENV_MAX);
            o.env[o.n_env++] = optarg;
            break;
        case 'u':
            o.user = optarg;
            break;
        case 'N':
            break;
        case 'h':
            printf("Usage: kata-runtime exec [--process FILE] [--tty] [--console-socket S] "
                   "[--detach] [--pid-file F] [--cwd DIR] [--env K=V] [--user UID[:GID]] ID "
                   "[COMMAND [ARGS...]]\n");
            return 0;
        default:
            return 1;
        }
    }
    if (optind >= argc)
        return runtime_fail_msg("\"exec\" requires a minimum of 1 argument");
    const char *id = argv[optind];
    cleanup_kerr struct kerr *err = NULL;
    cleanup_container struct container ct;
    if (container_open(id, &ct, &err) < 0)
        return runtime_fail(&err);
    if (strcmp(ct.status, "running") != 0)
        return runtime_fail_msg("cannot exec in a %s container \"%s\"", ct.status, id);
    struct json_object *process =
        build_process(&o, ct.state.bundle, argc - optind - 1, argv + optind + 1, &err);
    if (!process)
        return runtime_fail(&err);
    struct json_object *terminal;
    bool tty = json_object_object_get_ex(process, "terminal", &terminal) &&
               json_object_get_boolean(terminal);
    if (tty && !o.console_socket && o.detach) {
        json_object_put(process);
        return runtime_fail_msg("cannot allocate tty if kata-runtime will detach without "
                                "setting console socket");
    }
    if (!tty && o.console_socket) {
        json_object_put(process);
        return runtime_fail_msg("cannot use console socket if kata-runtime will not allocate tty");
    }
    char console[PATH_MAX];
    if (o.console_socket && !realpath(o.console_socket, console)) {
        json_object_put(process);
        return runtime_fail_msg("console socket `%s`: %s", o.console_socket, strerror(errno));
    }
    const char *text = json_object_to_json_string_ext(process, JSON_C_TO_STRING_PLAIN);
    cleanup_free char *exec_id = random_exec_id();
    cleanup_free char *address = xstrdup(ct.state.address ? ct.state.address : "");
    cleanup_free char *dir = state_dir(id);
    struct holder_config hc = {
        .id = id,
        .exec_id = exec_id,
        .address = address,
        .fifo_dir = dir,
        .terminal = tty,
        .console_socket = o.console_socket ? console : NULL,
        .process_json = text,
        .process_json_len = strlen(text),
    };
    container_close(&ct); /* the holder opens its own connection */
    memset(&ct, 0, sizeof(ct));
    pid_t holder = holder_spawn(&hc, &err);
    json_object_put(process);
    if (holder < 0) {
        kerr_wrap(&err, "exec in container \"%s\"", id);
        return runtime_fail(&err);
    }
    if (o.pid_file && pid_file_write(o.pid_file, holder, &err) < 0)
        return runtime_fail(&err);
    if (o.detach)
        return 0;
    return holder_wait(holder);
}
