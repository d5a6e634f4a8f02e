/* virtiofsd, the vhost-user virtio-fs daemon (the C one QEMU ships in
 * qemu-system-common), launched and supervised by a hypervisor driver.
 *
 * We create its listening socket and hand it over with --fd, so the socket is
 * there before QEMU starts and nothing polls for a file; our copy is closed
 * at once, so if virtiofsd dies QEMU's connect fails instead of hanging. */
#ifndef KATA_VIRTIOFSD_H
#define KATA_VIRTIOFSD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

struct virtiofsd_config {
    const char *path;              /* the daemon binary */
    const char *source;            /* the directory shared with the guest */
    const char *cache;             /* Kata's never|metadata|auto|always, or the C daemon's none */
    const char *const *extra_args; /* NULL-terminated, may be NULL */
    const char *socket_path;       /* the vhost-user socket QEMU connects to */
    const char *log_path;          /* its stderr */
    /* Called with the daemon forked and its pid in struct virtiofsd, before
     * it may exec (vm_exec_gate_pass); NULL: nothing to record. */
    int (*spawned)(void *data, struct kerr **err);
    void *spawned_data;
};

struct virtiofsd {
    pid_t pid; /* 0 when not running */
    char *socket_path;
    /* A connection to the socket a rootless VMM inherits (it cannot reach
     * the run dir): -1 when none. */
    int vmm_fd;
};

/* The capabilities virtiofsd gives up (its default set minus these). */
#define VIRTIOFSD_MODCAPS "modcaps=-mknod:-setfcap"

/* The C virtiofsd's cache mode for one of Kata's (never->none,
 * metadata->auto); NULL when unknown. */
const char *virtiofsd_cache_mode(const char *kata_cache);

/* The argv (NULL-terminated; free each string and the array); listen_fd is
 * the number the socket has in the child.  extra_args must pass
 * kata_virtiofsd_args_check (config.h); `-o sandbox=namespace` and
 * `-o modcaps=-mknod:-setfcap` come last. */
char **virtiofsd_build_argv(const struct virtiofsd_config *cfg, int listen_fd, struct kerr **err);

/* Start the daemon; on failure nothing is left running and no socket file. */
int virtiofsd_start(struct virtiofsd *d, const struct virtiofsd_config *cfg, struct kerr **err);
/* Has it exited? (reaps it; fills *status). */
bool virtiofsd_exited(struct virtiofsd *d, int *status);
/* SIGTERM, then SIGKILL after grace_ns; reaped; socket removed. */
void virtiofsd_stop(struct virtiofsd *d, uint64_t grace_ns);

#endif
