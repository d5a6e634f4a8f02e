/* Disk "hotplug" on VMMs whose virtio-mmio devices cannot be hotplugged (the
 * built-in VMM, Firecracker): as Kata does for Firecracker, the VM gets a
 * pool of placeholder drives at boot (`drive_K`, each backed by an empty file
 * `<run_dir>/drive_K`), and plugging a disk swaps a free drive's file for it
 * (kata-vmm's `vm.update-disk`, Firecracker's `PATCH /drives/drive_K`: new
 * capacity, config interrupt, the guest's virtio_blk re-reads the size).
 * Unplugging swaps the placeholder back and, where the VMM can tell, waits
 * until the guest has read the empty size, so the next disk in that drive is
 * never mistaken for the last one.  The guest finds a drive as /dev/vdX, X
 * from its position among the VM's disks.
 *
 * The pool (struct drive_pool) lives in the driver's state; the driver gives
 * the two VMM-specific steps as struct drive_pool_ops. */
#ifndef KATA_DRAGONBALL_DRIVES_H
#define KATA_DRAGONBALL_DRIVES_H

#include <json-c/json.h>

#include "hypervisor.h"

/* Placeholder drives a VM gets at boot to take "hotplugged" disks: Kata's
 * fcDiskPoolSize. */
#define DRIVE_POOL_MAX            8
#define DRAGONBALL_DRIVE_POOL_MAX DRIVE_POOL_MAX

struct drive_pool {
    /* Disk id in placeholder drive K (NULL: free), how many drives, and
     * drive 0's position among the VM's disks (/dev/vdX). */
    char *ids[DRIVE_POOL_MAX];
    unsigned size, first;
};

struct drive_pool_ops {
    const char *what; /* the VMM, in errors: "the built-in VMM" */
    /* Put path behind drive k ("drive_K"). */
    int (*update)(struct vm *vm, unsigned k, const char *path, bool readonly, struct kerr **err);
    /* Which drives' current size the guest has read; NULL: the VMM cannot
     * tell, every drive counts as read. */
    int (*seen)(struct vm *vm, bool seen[DRIVE_POOL_MAX], struct kerr **err);
};

/* How many placeholder drives the VM gets: DRIVE_POOL_MAX, fewer when the
 * image and the boot disks leave less room under max_disks. */
unsigned drive_pool_size(const struct vm_config *cfg, unsigned max_disks);
/* "<run_dir>/drive_K" (caller frees). */
char *drive_pool_placeholder(const struct vm *vm, unsigned k);
/* Create n empty placeholder files; drive 0 is the VM's disk number first.
 * Files already made are removed on failure. */
int drive_pool_create(struct vm *vm, struct drive_pool *pool, unsigned n, unsigned first,
                      struct kerr **err);
/* Remove the placeholder files (of any pool size; missing ones are fine) and
 * forget the pool. */
void drive_pool_remove(struct vm *vm, struct drive_pool *pool);
/* Free the ids (release ops). */
void drive_pool_free(struct drive_pool *pool);
/* Plug dev into a free drive (*guest_path "/dev/vdX"); give the drive of
 * disk `id` its placeholder back. */
int drive_pool_plug(struct vm *vm, struct drive_pool *pool, const struct drive_pool_ops *ops,
                    const struct vm_block_device *dev, char **guest_path, struct kerr **err);
int drive_pool_unplug(struct vm *vm, struct drive_pool *pool, const struct drive_pool_ops *ops,
                      const char *id, uint64_t timeout_ns, struct kerr **err);

/* The built-in VMM driver's own part of a VM (vm->priv), freed by its
 * release op. */
struct dragonball_state {
    char *api_socket; /* kata-vmm's control socket */
    struct drive_pool drives;
};

/* vm's dragonball state, made on first use. */
struct dragonball_state *dragonball_state(struct vm *vm);

/* How many placeholder drives the built-in VMM's VM gets. */
unsigned dragonball_drive_pool_size(const struct vm_config *cfg, unsigned max_disks);

/* Create the empty placeholder files and add the drives to vm.create's
 * "disks" array (after the image and the boot disks); records the pool in
 * vm.  Files already made are removed on failure. */
int dragonball_drives_prepare(struct vm *vm, struct json_object *disks, unsigned max_disks,
                              struct kerr **err);
/* Remove the placeholder files and forget the pool. */
void dragonball_drives_remove(struct vm *vm);

/* The hypervisor ops: plug dev into a free drive (*guest_path "/dev/vdX"),
 * give the drive of disk `id` its placeholder back. */
int dragonball_hotplug_block(struct vm *vm, const struct vm_block_device *dev, char **guest_path,
                             struct kerr **err);
int dragonball_unplug_block(struct vm *vm, const char *id, uint64_t timeout_ns, struct kerr **err);

#endif
