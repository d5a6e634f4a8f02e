/* kata-runtime run [--bundle B] [--pid-file F] [--console-socket S]
 * [--detach] [--keep] ID: create and start; without --detach wait for the
 * container's process, delete the container and exit with its status. */
#include "container.h"
#include "holder.h"
#include "log.h"
#include "runtime.h"

#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static pid_t forward_to;

/* Signals sent to `run` go to the holder, which passes them to the container. */
static void forward_signal(int sig)
{
    if (forward_to > 0)
        kill(forward_to, sig);
}

static int start_container(const char *id, struct kerr **err)
{
    cleanup_container struct container c;
    if (container_open(id, &c, err) < 0)
        return -1;
    if (container_need_daemon(&c, err) < 0)
        return -1;
    Containerd__Task__V2__StartRequest req = CONTAINERD__TASK__V2__START_REQUEST__INIT;
    req.id = c.state.id;
    if (task_call(&c.task, "Start", &req.base, &containerd__task__v2__start_response__descriptor,
                  NULL, TASK_TIMEOUT_NS, NULL, err) < 0)
        return kerr_wrap(err, "start container \"%s\"", id);
    free(c.state.status);
    c.state.status = strdup("running");
    return state_save(&c.state, err);
}

static void remove_container(const char *id)
{
    cleanup_kerr struct kerr *err = NULL;
    cleanup_container struct container c;
    if (container_open(id, &c, &err) < 0)
        return;
    if (container_destroy(&c, true, &err) < 0)
        log_warn("run: delete container `%s`: %s", id, err->msg);
}

int cmd_run(int argc, char **argv)
{
    static const struct option options[] = {
        {"bundle", required_argument, NULL, 'b'},
        {"pid-file", required_argument, NULL, 'p'},
        {"console-socket", required_argument, NULL, 'c'},
        {"detach", no_argument, NULL, 'd'},
        {"keep", no_argument, NULL, 'k'},
        {"no-pivot", no_argument, NULL, 'N'},
        {"no-new-keyring", no_argument, NULL, 'N'},
        {"preserve-fds", required_argument, NULL, 'N'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct create_options o = {0};
    bool detach = false, keep = false;
    int c;
    optind = 0;
    while ((c = getopt_long_only(argc, argv, "+b:dh", options, NULL)) != -1) {
        if (create_parse_flag(c, &o))
            continue;
        if (c == 'd') {
            detach = true;
        } else if (c == 'k') {
            keep = true;
        } else if (c == 'h') {
            printf("Usage: kata-runtime run [--bundle DIR] [--pid-file FILE] "
                   "[--console-socket SOCKET] [--detach] [--keep] ID\n");
            return 0;
        } else {
            return 1;
        }
    }
    o.id = verb_id_argument("run", argc, argv, optind);
    if (!o.id)
        return 1;
    o.foreground = !detach;
    cleanup_kerr struct kerr *err = NULL;
    pid_t holder = runtime_create(&o, &err);
    if (holder < 0)
        return runtime_fail(&err);
    if (start_container(o.id, &err) < 0) {
        remove_container(o.id);
        holder_wait(holder);
        return runtime_fail(&err);
    }
    if (detach)
        return 0;
    forward_to = holder;
    static const int forwarded[] = {SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
        signal(forwarded[i], forward_signal);
    int status = holder_wait(holder);
    forward_to = 0;
    if (!keep)
        remove_container(o.id);
    return status;
}
