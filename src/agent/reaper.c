/* Child reaping.  As PID 1 the agent inherits every orphan in the guest; it
 * reaps them all and tells watchers (container processes) about theirs. */
#include "agent.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

struct exit_watch {
    pid_t pid;
    agent_exit_cb cb;
    void *data;
    struct exit_watch *next;
};

static struct exit_watch *watches;
static int sigfd = -1;

void agent_reaper_watch(pid_t pid, agent_exit_cb cb, void *data)
{
    struct exit_watch *w = xcalloc(1, sizeof(*w));
    w->pid = pid;
    w->cb = cb;
    w->data = data;
    w->next = watches;
    watches = w;
}

void agent_reaper_unwatch(pid_t pid)
{
    for (struct exit_watch **pp = &watches; *pp; pp = &(*pp)->next) {
        if ((*pp)->pid == pid) {
            struct exit_watch *w = *pp;
            *pp = w->next;
            free(w);
            return;
        }
    }
}

static void reap_all(struct loop_watch *lw, uint32_t events, void *data)
{
    struct signalfd_siginfo si;
    while (read(sigfd, &si, sizeof(si)) == sizeof(si))
        ;
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            return;
        for (struct exit_watch **pp = &watches; *pp; pp = &(*pp)->next) {
            if ((*pp)->pid == pid) {
                struct exit_watch *w = *pp;
                *pp = w->next;
                w->cb(pid, status, w->data);
                free(w);
                break;
            }
        }
    }
}

int agent_reaper_start(struct agent *a, struct kerr **err)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return kerr_make(err, errno, "block SIGCHLD");
    sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sigfd < 0)
        return kerr_make(err, errno, "signalfd");
    /* On the host the agent stands in for PID 1: orphans come to it too. */
    if (!a->opts.pid1)
        prctl(PR_SET_CHILD_SUBREAPER, 1);
    return loop_watch_add(a->loop, sigfd, EPOLLIN, reap_all, a, err) ? 0 : -1;
}
