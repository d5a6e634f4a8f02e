/* kata-runtime create [--bundle B] [--pid-file F] [--console-socket S] ID:
 * check the bundle and configuration, start the sandbox daemon, and leave a
 * holder process (its pid in --pid-file) whose Task/Create answered. */
#include "bundle.h"
#include "config.h"
#include "container.h"
#include "daemon.h"
#include "holder.h"
#include "log.h"
#include "runtime.h"
#include "runtime_state.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int pid_file_write(const char *path, pid_t pid, struct kerr **err)
{
    char text[32];
    int n = snprintf(text, sizeof(text), "%d", (int)pid);
    if (file_write_atomic(path, text, (size_t)n, 0644, err) < 0)
        return kerr_wrap(err, "write pid file `%s`", path);
    return 0;
}

static char *owner_name(void)
{
    struct passwd *pw = getpwuid(getuid());
    return pw ? xstrdup(pw->pw_name) : xasprintf("%u", (unsigned)getuid());
}

/* Everything a failed create made goes: the daemon (through the shim's own
 * cleanup when needed) and the state directory. */
static void undo_create(const char *id)
{
    struct container c;
    cleanup_kerr struct kerr *err = NULL;
    if (container_open(id, &c, &err) < 0) {
        kerr_clear(&err);
        state_remove(id, NULL);
        return;
    }
    if (container_destroy(&c, true, &err) < 0)
        log_warn("undo create of `%s`: %s", id, err->msg);
    container_close(&c);
}

static int connect_daemon(struct container_state *s, struct kerr **err)
{
    cleanup_task struct task_client task = {0};
    if (task_connect(s->address, &task, err) < 0)
        return -1;
    Containerd__Task__V2__ConnectRequest req = CONTAINERD__TASK__V2__CONNECT_REQUEST__INIT;
    req.id = s->id;
    Containerd__Task__V2__ConnectResponse *resp = NULL;
    cleanup_kerr struct kerr *connect_err = NULL;
    if (task_call(&task, "Connect", &req.base, &containerd__task__v2__connect_response__descriptor,
                  (ProtobufCMessage **)&resp, TASK_TIMEOUT_NS, NULL, &connect_err) < 0) {
        /* Not fatal: only delete --force after a daemon crash needs the pid. */
        log_warn("create `%s`: %s", s->id, connect_err->msg);
        return 0;
    }
    s->daemon_pid = (pid_t)resp->shim_pid;
    s->daemon_start = process_start_time(s->daemon_pid);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return 0;
}

static pid_t create_in_state_dir(const struct create_options *o, const struct bundle *b,
                                 const char *config_path, struct kerr **err)
{
    cleanup_state struct container_state s = {0};
    s.id = xstrdup(o->id);
    s.bundle = xstrdup(b->path);
    s.rootfs = xstrdup(b->rootfs);
    s.created = rfc3339_now();
    s.owner = owner_name();
    s.namespace = xstrdup(DAEMON_NAMESPACE);
    s.sandbox_id = xstrdup(o->id);
    s.config_path = config_path ? xstrdup(config_path) : NULL;
    s.status = xstrdup("creating");
    s.terminal = b->terminal;
    daemon_env_record(&s);
    struct json_object *annotations;
    if (json_object_object_get_ex(b->config, "annotations", &annotations) &&
        json_object_is_type(annotations, json_type_object))
        s.annotations = json_object_get(annotations);
    if (state_save(&s, err) < 0)
        return -1;

    s.address = daemon_start(&s, err);
    if (!s.address)
        return kerr_wrap(err, "start the sandbox daemon");
    if (state_save(&s, err) < 0 || connect_daemon(&s, err) < 0 || state_save(&s, err) < 0)
        return -1;

    cleanup_free char *dir = state_dir(o->id);
    struct holder_config hc = {
        .id = o->id,
        .address = s.address,
        .bundle = b->path,
        .fifo_dir = dir,
        .terminal = b->terminal,
        .console_socket = o->console_socket,
    };
    pid_t holder = holder_spawn(&hc, err);
    if (holder < 0)
        return -1;
    s.holder_pid = holder;
    s.holder_start = process_start_time(holder);
    free(s.status);
    s.status = xstrdup("created");
    if (state_save(&s, err) < 0 || (o->pid_file && pid_file_write(o->pid_file, holder, err) < 0)) {
        kill(holder, SIGKILL);
        holder_wait(holder);
        return -1;
    }
    return holder;
}

pid_t runtime_create(const struct create_options *o, struct kerr **err)
{
    if (state_check_id(o->id, err) < 0)
        return -1;
    cleanup_free char *existing = state_dir(o->id);
    if (access(existing, F_OK) == 0)
        return kerr_make_status(err, EEXIST, "container \"%s\" already exists", o->id);
    cleanup_bundle struct bundle b = {0};
    if (bundle_load(o->bundle ? o->bundle : ".", &b, err) < 0)
        return -1;
    if (b.terminal && !o->console_socket && !o->foreground)
        return kerr_make(err, 0,
                         "cannot allocate tty if kata-runtime will detach without "
                         "setting console socket");
    if (!b.terminal && o->console_socket)
        return kerr_make(err, 0, "cannot use console socket if kata-runtime will not allocate tty");
    cleanup_kata_config struct kata_config *cfg =
        kata_config_load(runtime_opts.config_path, 0, err);
    if (!cfg)
        return kerr_wrap(err, "configuration");
    cleanup_free char *console = NULL;
    if (o->console_socket) {
        char resolved[PATH_MAX];
        if (!realpath(o->console_socket, resolved))
            return kerr_make(err, errno, "console socket `%s`", o->console_socket);
        console = xstrdup(resolved);
    }
    struct create_options abs = *o;
    abs.console_socket = console;
    if (state_create_dir(o->id, err) < 0)
        return -1;
    pid_t holder = create_in_state_dir(&abs, &b, cfg->path, err);
    if (holder < 0) {
        undo_create(o->id);
        return kerr_wrap(err, "create container \"%s\"", o->id);
    }
    return holder;
}

/* Flags shared by create and run; returns the getopt code it handled or 0. */
int create_parse_flag(int c, struct create_options *o)
{
    switch (c) {
    case 'b':
        o->bundle = optarg;
        return c;
    case 'p':
        o->pid_file = optarg;
        return c;
    case 'c':
        o->console_socket = optarg;
        return c;
    case 'N': /* --no-pivot, --no-new-keyring, --preserve-fds: nothing to do in a VM */
        return c;
    }
    return 0;
}

int cmd_create(int argc, char **argv)
{
    static const struct option options[] = {
        {"bundle", required_argument, NULL, 'b'},
        {"pid-file", required_argument, NULL, 'p'},
        {"console-socket", required_argument, NULL, 'c'},
        {"no-pivot", no_argument, NULL, 'N'},
        {"no-new-keyring", no_argument, NULL, 'N'},
        {"preserve-fds", required_argument, NULL, 'N'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct create_options o = {0};
    int c;
    optind = 0;
    while ((c = getopt_long_only(argc, argv, "+b:h", options, NULL)) != -1) {
        if (create_parse_flag(c, &o))
            continue;
        if (c == 'h') {
            printf("Usage: kata-runtime create [--bundle DIR] [--pid-file FILE] "
                   "[--console-socket SOCKET] ID\n");
            return 0;
        }
        return 1;
    }
    o.id = verb_id_argument("create", argc, argv, optind);
    if (!o.id)
        return 1;
    cleanup_kerr struct kerr *err = NULL;
    if (runtime_create(&o, &err) < 0)
        return runtime_fail(&err);
    return 0;
}
