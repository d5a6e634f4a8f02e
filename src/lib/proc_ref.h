/* A process named for its whole lifetime: pid plus start time, so that a
 * recorded pid reused by another process is never signalled. */
#ifndef KATA_PROC_REF_H
#define KATA_PROC_REF_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct proc_ref {
    pid_t pid;
    uint64_t start; /* clock ticks after boot (/proc/<pid>/stat field 22) */
};

/* Fields first..last of /proc/<pid>/stat (pid 0: /proc/self/stat), numbered
 * as proc(5) does (3 is the state: into *state, which may be NULL), into
 * out[0 .. last - first].  Returns 0, or -1 when unreadable or too short. */
int proc_stat_fields(pid_t pid, int first, int last, unsigned long long *out, char *state);

/* The live (not zombie) process pid now names; -1 when there is none. */
int proc_ref_of(pid_t pid, struct proc_ref *out);

/* Is the recorded process still running (same pid and start, not a zombie)? */
bool proc_ref_alive(const struct proc_ref *p);

/* Signal the recorded process through a pidfd, after checking that the pid
 * still names it.  Returns 0, or -1 with errno (ESRCH: it is gone). */
int proc_ref_kill(const struct proc_ref *p, int sig);

/* SIGKILL it and wait up to timeout_ms for it to be gone. */
void proc_ref_kill_wait(const struct proc_ref *p, unsigned timeout_ms);

#endif
