/* Disk "hotplug" on the built-in VMM, whose virtio-mmio devices cannot be
 * hotplugged: as Kata does for Firecracker, the VM gets a pool of placeholder
 * drives at boot (`drive_K`, each backed by an empty file
 * `<run_dir>/drive_K`), and plugging a disk swaps a free drive's file for it
 * (kata-vmm's `vm.update-disk`: new capacity, config interrupt, the guest's
 * virtio_blk re-reads the size).  Unplugging swaps the placeholder back and
 * waits until the guest has read the empty size, so the next disk in that
 * drive is never mistaken for the last one.  The guest finds a drive as
 * /dev/vdX, X from its position among the VM's disks. */
#ifndef KATA_DRAGONBALL_DRIVES_H
#define KATA_DRAGONBALL_DRIVES_H

#include <json-c/json.h>

#include "hypervisor.h"

/* Placeholder drives a VM gets at boot to take "hotplugged" disks: Kata's
 * fcDiskPoolSize. */
#define DRAGONBALL_DRIVE_POOL_MAX 8

/* The built-in VMM driver's own part of a VM (vm->priv), freed by its
 * release op. */
struct dragonball_state {
    char *api_socket; /* kata-vmm's control socket */
    /* Disk id in placeholder drive K (NULL: free), how many drives, and
     * drive 0's position among the VM's disks (/dev/vdX). */
    char *drive_ids[DRAGONBALL_DRIVE_POOL_MAX];
    unsigned drive_pool, drive_first;
};

/* vm's dragonball state, made on first use. */
struct dragonball_state *dragonball_state(struct vm *vm);

/* How many placeholder drives the VM gets: DRAGONBALL_DRIVE_POOL_MAX, fewer when the
 * image and the boot disks leave less room under max_disks. */
unsigned dragonball_drive_pool_size(const struct vm_config *cfg, unsigned max_disks);

/* Create the empty placeholder files and add the drives to vm.create's
 * "disks" array (after the image and the boot disks); records the pool in
 * vm.  Files already made are removed on failure. */
int dragonball_drives_prepare(struct vm *vm, struct json_object *disks, unsigned max_disks,
                              struct kerr **err);
/* Remove the placeholder files (those of any pool size; missing ones are
 * fine) and forget the pool. */
void dragonball_drives_remove(struct vm *vm);

/* The hypervisor ops: plug dev into a free drive (*guest_path "/dev/vdX"),
 * give the drive of disk `id` its placeholder back. */
int dragonball_hotplug_block(struct vm *vm, const struct vm_block_device *dev, char **guest_path,
                             struct kerr **err);
int dragonball_unplug_block(struct vm *vm, const char *id, uint64_t timeout_ns, struct kerr **err);

#endif
