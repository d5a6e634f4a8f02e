/* QEMU driver internals exposed for unit tests. */
#ifndef KATA_QEMU_H
#define KATA_QEMU_H

#include "hypervisor.h"

struct qmp;

/* Most PCIe root ports a q35 VM gets for hotplug. */
#define QEMU_HOTPLUG_SLOTS_MAX 6
/* Most SCSI disks hotplugged at once (targets 0..N-1, LUN 0). */
#define QEMU_SCSI_TARGETS_MAX 16

/* The QEMU driver's own part of a VM (vm->priv), freed by its release op. */
struct qemu_state {
    char *qmp_socket; /* QMP: we listen, QEMU inherits the socket */
    int qmp_listen;   /* while starting: the socket QEMU inherits; -1 if none */
    int qmp_fd;       /* our connection, negotiated on first use; -1 if none */
    struct qmp *qmp;
    char *hotplug_ids[QEMU_HOTPLUG_SLOTS_MAX]; /* device id on root port K, NULL if free */
    char *scsi_ids[QEMU_SCSI_TARGETS_MAX];     /* device id on SCSI target K, NULL if free */
};

/* vm's QEMU state, made on first use. */
struct qemu_state *qemu_state(struct vm *vm);

/* The argv QEMU is started with (NULL-terminated; free with qemu_argv_free). */
char **qemu_build_argv(const struct vm *vm, struct kerr **err);
void qemu_argv_free(char **argv);

#endif
