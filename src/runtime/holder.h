/* The holder: the host process whose pid a caller gets in --pid-file (conmon
 * waits on it).  It keeps the stdio the caller gave to create/exec, makes
 * containerd-style fifos for the sandbox daemon and relays between them (or,
 * with a console socket, between a host pty and the fifos), creates the
 * process through the Task API, waits for it and exits with its status
 * (128+N when a signal N ended it). */
#ifndef KATA_RUNTIME_HOLDER_H
#define KATA_RUNTIME_HOLDER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

struct holder_config {
    const char *id;             /* container id */
    const char *exec_id;        /* NULL for the container's init process */
    const char *address;        /* the sandbox daemon */
    const char *bundle;         /* Task/Create's bundle (init only) */
    const char *fifo_dir;       /* where the fifos go */
    bool terminal;              /* a pty instead of plain stdio */
    const char *console_socket; /* with terminal: where the pty master goes */
    const char *process_json;   /* exec: the OCI process (JSON) */
    size_t process_json_len;
};

/* Fork the holder and wait until it reports: the process is created (init)
 * or created and started (exec).  Returns the holder's pid, or -1 with the
 * holder's error (the holder has exited then, its fifos removed). */
pid_t holder_spawn(const struct holder_config *cfg, struct kerr **err);

/* Wait for a holder that is our child; returns its exit code (128+N if it
 * was killed by signal N). */
int holder_wait(pid_t pid);

#endif
