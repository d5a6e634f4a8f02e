/* netns_run: netlink work inside another network namespace.  setns() moves
 * only the calling thread, so a short-lived helper thread enters the netns
 * and the caller's own threads stay where they are. */
#include "network.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

struct netns_job {
    int fd;
    int (*fn)(void *arg, struct kerr **err);
    void *arg;
    struct kerr *err;
    int rc;
};

static void *netns_thread(void *data)
{
    struct netns_job *job = data;
    if (setns(job->fd, CLONE_NEWNET) < 0)
        job->rc = kerr_make(&job->err, errno, "enter");
    else
        job->rc = job->fn(job->arg, &job->err);
    return NULL;
}

int netns_run(const char *netns_path, int (*fn)(void *arg, struct kerr **err), void *arg,
              struct kerr **err)
{
    cleanup_close int fd = open(netns_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kerr_make(err, errno, "open");
    struct netns_job job = {.fd = fd, .fn = fn, .arg = arg, .rc = -1};
    pthread_t thread;
    int rc = pthread_create(&thread, NULL, netns_thread, &job);
    if (rc != 0)
        return kerr_make(err, rc, "start a thread to enter it");
    pthread_join(thread, NULL);
    if (job.rc < 0) {
        if (err)
            *err = job.err;
        else
            kerr_free(job.err);
        return -1;
    }
    return 0;
}
