/* The sandbox daemon: serve the Task API on the socket `start` handed over
 * (fd 3) until Shutdown or SIGTERM, then tear the sandbox down. */
#include "channel.h"
#include "log.h"
#include "shim.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

static void signal_readable(struct loop_watch *w, uint32_t events, void *data)
{
    struct shim *shim = data;
    struct signalfd_siginfo si;
    if (read(loop_watch_fd(w), &si, sizeof(si)) != sizeof(si))
        return;
    log_info("signal %u: shutting down", si.ssi_signo);
    shim->quit = true;
    loop_quit(shim->loop);
}

int shim_daemon_run(const struct shim_options *opts, int listen_fd, struct kerr **err)
{
    struct shim shim = {.opts = *opts};
    shim.loop = loop_new(err);
    if (shim.loop == NULL)
        return -1;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    cleanup_close int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0 || loop_watch_add(shim.loop, sfd, EPOLLIN, signal_readable, &shim, err) == NULL)
        return kerr_make(err, errno, "signalfd");
    fd_set_cloexec(listen_fd, true);
    shim.server = ttrpc_server_new(shim.loop, shim_task_methods, shim_task_methods_count, &shim);
    if (ttrpc_server_add_listener(shim.server, listen_fd, err) < 0)
        return -1;
    log_info("serving sandbox of `%s` (namespace `%s`)", opts->id, opts->namespace);
    int r = loop_run(shim.loop, &shim.quit, err);
    /* Whatever is left goes with us: VMM, virtiofsd, mounts, state.  The
     * teardown's agent calls run the loop: no Delete or Create may run in
     * the middle of it (they wait, and go with the server). */
    ttrpc_server_hold(shim.server);
    shim_all_stopped(&shim, 255);
    shim_teardown(&shim);
    while (shim.containers)
        container_destroy(&shim, shim.containers);
    shim_events_flush(&shim, 5000000000ull);
    ttrpc_server_free(shim.server);
    loop_free(shim.loop);
    /* Our socket: the sandbox id is the first container's id. */
    cleanup_free char *socket = shim_socket_path(opts->namespace, opts->id);
    unlink(socket);
    return r;
}
