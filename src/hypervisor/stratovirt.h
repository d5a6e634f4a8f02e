/* StratoVirt driver internals exposed for unit tests (tests/unit/test_stratovirt.c). */
#ifndef KATA_STRATOVIRT_H
#define KATA_STRATOVIRT_H

#include "hypervisor.h"

struct qmp;

/* microvm's replaceable virtio-blk devices (StratoVirt's
 * MMIO_REPLACEABLE_BLK_NR in the releases Kata's Go runtime targets, its
 * maxMmioBlkCount): created empty at boot, filled in order by the command
 * line's disks, then by `device_add` into a free one.  Slot K is /dev/vd<'a'+K>
 * in the guest. */
#define STRATOVIRT_BLK_SLOTS 4
/* Replaceable virtio-net devices (MMIO_REPLACEABLE_NET_NR): taps without vhost. */
#define STRATOVIRT_NET_SLOTS 2
/* Most virtio-mmio devices an x86_64 microvm takes (config guidebook, section 2). */
#define STRATOVIRT_MMIO_DEVICES_MAX 11

/* The driver's own part of a VM (vm->priv), freed by its release op. */
struct stratovirt_state {
    char *qmp_socket; /* <run_dir>/qmp.sock: StratoVirt binds it, we connect */
    struct qmp *qmp;  /* negotiated once StratoVirt answers, kept for the VM's life */
    int console_fd;   /* while starting: the console relay StratoVirt's serial writes to */
    char *blk_ids[STRATOVIRT_BLK_SLOTS]; /* the disk in replaceable slot K; NULL: free */
    bool blk_hotplugged[STRATOVIRT_BLK_SLOTS];
};

/* vm's StratoVirt state, made on first use. */
struct stratovirt_state *stratovirt_state(struct vm *vm);

/* The argv StratoVirt is started with (NULL-terminated; free with
 * kata_strv_free): a pure function of vm, its state and vm->virtiofsd. */
char **stratovirt_build_argv(const struct vm *vm, struct kerr **err);

/* The start op once the agent channel is chosen (vm->vsock, vm->cid,
 * vm->vsock_fd): virtiofsd, the process, its QMP session.  On failure
 * nothing is left running. */
int stratovirt_launch(struct vm *vm, struct kerr **err);

#endif
