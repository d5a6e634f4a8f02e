/* The sandbox: what CreateSandbox sets up once per VM (hostname, DNS, shared
 * storages, the shared pid namespace) and the guest-wide methods
 * (DestroySandbox, SetGuestDateTime, CopyFile, OnlineCPUMem). */
#ifndef KATA_AGENT_SANDBOX_H
#define KATA_AGENT_SANDBOX_H

#include <stdbool.h>
#include <sys/types.h>

#include "agent.h"

struct agent_sandbox {
    bool created;
    struct pending_create *creating; /* CreateSandbox waiting for devices */
    char *id;
    char *hostname;
    /* CreateSandbox asked for one pid namespace shared by the containers:
     * pidns_pid is its init (a pause process), 0 once it is gone. */
    bool sandbox_pidns;
    pid_t pidns_pid;
};

extern const struct agent_method_table agent_sandbox_methods;

/* The shared pid namespace: true with *pid (a process in it, for setns via
 * /proc/PID/ns/pid) when CreateSandbox asked for one and it is alive. */
bool agent_sandbox_pidns(struct agent *a, pid_t *pid);

/* The sandbox id, or NULL before CreateSandbox. */
const char *agent_sandbox_id(struct agent *a);

/* Limits of CopyFile. */
#define COPY_FILE_MAX_SIZE  (1ll << 30)
#define COPY_FILE_MAX_CHUNK (4u << 20)

#endif
