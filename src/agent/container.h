/* The agent's containers and their processes: the registry the container
 * methods work on.
 *
 * A container is created stopped (its init process waits on a sync pipe
 * before execve, as runc waits on its exec fifo) and started by
 * StartContainer.  Every process (the init process and each ExecProcess)
 * has its streams (stdio.h), its exit status once reaped, and the
 * WaitProcess calls waiting for it. */
#ifndef KATA_AGENT_CONTAINER_H
#define KATA_AGENT_CONTAINER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent.h"
#include "oci.pb-c.h"
#include "stdio_streams.h"

#define CONTAINER_ID_MAX        128
#define CONTAINER_MAX           1024 /* containers per sandbox */
#define CONTAINER_PROCESSES_MAX 1024 /* processes per container, exited ones included */

enum container_state {
    CONTAINER_CREATED,
    CONTAINER_RUNNING,
    CONTAINER_PAUSED,
    CONTAINER_STOPPED,
};

struct pending_wait;

struct process {
    struct container *container;
    char *exec_id;
    bool init;
    pid_t pid;
    int start_fd;  /* write end of the child's sync pipe until started */
    int status_fd; /* read end of the child's status pipe until started */
    bool started;
    bool terminal;
    int pty_master; /* -1 without a terminal */
    struct stdio_in *in;
    struct stdio_out *out, *err;
    bool exited;
    int exit_status; /* code, or 128 + signal */
    bool flushed;    /* exited and its output is all in the agent */
    struct loop_timer *flush_timer;
    int flush_retries;
    struct pending_wait *waits;
    struct process *next;
};

struct container {
    struct agent *agent;
    char *id;
    Grpc__Spec *spec;  /* our own copy */
    char *bundle_root; /* the rootfs path as given (under storage_root) */
    char *cgroup;      /* absolute cgroup directory, NULL without cgroup v2 */
    pid_t pidns_pid;   /* >0: the init joins this process's pid namespace (the
                        * sandbox's shared one) instead of getting its own */
    enum container_state state;
    struct process *init;
    struct process *processes; /* init first */
    size_t n_processes;
    uint64_t oom_kills;             /* memory.events oom_kill seen last */
    struct ttrpc_call *remove_call; /* RemoveContainer waiting for the processes */
    struct loop_timer *remove_timer;
    struct container *next;
};

struct agent_containers {
    struct container *list;
    size_t count;
    struct oom_waiter *oom_waiters;
    struct loop_timer *oom_timer;
};

/* Validate a container or exec id: [A-Za-z0-9][A-Za-z0-9_.-]{0,127}. */
int container_id_check(const char *what, const char *id, struct kerr **err);

struct container *container_find(struct agent *a, const char *id);
/* "" is the container's init process. */
struct process *container_process_find(struct container *c, const char *exec_id);

/* Look up container and process for a request, answering NOT_FOUND/INVALID_ARGUMENT
 * on the call when either is missing (and returning NULL). */
struct process *container_lookup_process(struct agent *a, struct ttrpc_call *call,
                                         const char *container_id, const char *exec_id);
struct container *container_lookup(struct agent *a, struct ttrpc_call *call,
                                   const char *container_id);

/* process.c */
/* What a new process is: the spec's process, and for the init process the
 * whole spec to apply. */
struct process_spawn {
    struct container *container;
    const Grpc__Process *process;
    bool init; /* the container's init: new namespaces, rootfs, hooks */
};
/* Fork the process, set it up and leave it waiting before execve.  On
 * failure nothing is left behind. */
struct process *process_spawn(const struct process_spawn *spawn, const char *exec_id,
                              struct kerr **err);
/* Let it execve; fails (and reaps it) when setup or execve failed. */
int process_start(struct process *p, struct kerr **err);
void process_free(struct process *p);
/* Answer waits now or once the process exited and its output is drained. */
void process_wait(struct process *p, struct ttrpc_call *call);
/* Signal the process (kill(2) from the agent's pid namespace). */
int process_signal(struct process *p, int sig, struct kerr **err);

/* Called by process.c when the init process or another process exited
 * (state, a removal waiting for them).  They may free the container. */
void container_init_exited(struct container *c);
void container_process_exited(struct container *c);

/* The container module's methods (container.c, process.c, stdio handlers). */
extern const struct agent_method_table agent_container_methods;

#endif
