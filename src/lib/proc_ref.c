/* Processes by pid and start time (proc_ref.h). */
#include "proc_ref.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int proc_stat_fields(pid_t pid, int first, int last, unsigned long long *out, char *state)
{
    char path[64], buf[2048];
    if (pid > 0)
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    else
        snprintf(path, sizeof(path), "/proc/self/stat");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: fields are counted
     * after the last ')'; field 3 (the state) is the first after it. */
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return -1;
    char *save = NULL;
    int field = 3;
    for (char *tok = strtok_r(p + 1, " ", &save); tok && field <= last;
         tok = strtok_r(NULL, " ", &save), field++) {
        if (field == 3 && state)
            *state = tok[0];
        if (field >= first)
            out[field - first] = strtoull(tok, NULL, 10);
    }
    return field > last ? 0 : -1;
}

static int stat_read(pid_t pid, char *state, uint64_t *start)
{
    unsigned long long starttime = 0;
    if (proc_stat_fields(pid, 22, 22, &starttime, state) < 0)
        return -1;
    *start = starttime;
    return 0;
}

int proc_ref_of(pid_t pid, struct proc_ref *out)
{
    char state = 0;
    uint64_t start = 0;
    if (pid <= 0 || stat_read(pid, &state, &start) < 0 || state == 'Z' || state == 'X')
        return -1;
    out->pid = pid;
    out->start = start;
    return 0;
}

bool proc_ref_alive(const struct proc_ref *p)
{
    struct proc_ref now;
    return p->pid > 0 && proc_ref_of(p->pid, &now) == 0 && now.start == p->start;
}

int proc_ref_kill(const struct proc_ref *p, int sig)
{
    if (p->pid <= 0) {
        errno = ESRCH;
        return -1;
    }
    int fd = (int)syscall(SYS_pidfd_open, p->pid, 0);
    if (fd < 0)
        return -1;
    /* The pidfd pins the process: checked after opening it, the start time
     * proves it is the one recorded. */
    int r = -1;
    if (!proc_ref_alive(p))
        errno = ESRCH;
    else
        r = (int)syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0);
    int saved = errno;
    close(fd);
    errno = saved;
    return r;
}

void proc_ref_kill_wait(const struct proc_ref *p, unsigned timeout_ms)
{
    if (proc_ref_kill(p, SIGKILL) < 0)
        return;
    for (unsigned i = 0; i < timeout_ms / 10 && proc_ref_alive(p); i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}
