/* Storages the host shares with the guest (agent.proto's Storage): mounted on
 * request, tracked, and unmounted when the last user is gone.  Handlers by
 * driver: "virtio-fs" (source = tag), "9p" (source = mount tag,
 * trans=virtio,version=9p2000.L), "blk"/"virtio-blk" (source = PCI path
 * "02/01"), "mmioblk" (source = /dev/vdX or virtio-mmio slot), "scsi",
 * "ephemeral" (tmpfs), "local" (a directory in the sandbox), "bind",
 * "overlayfs".  Paths are confined: mount points must be under
 * a->opts.storage_root ("/run/kata-containers" in the guest, --storage-root
 * on the host for tests). */
#ifndef KATA_AGENT_STORAGE_H
#define KATA_AGENT_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent.h"
#include "agent.pb-c.h"
#include "error.h"

/* Mount each storage (reference-counted by mount point: a second user of the
 * same mount point only takes a reference), tagging it with owner (a
 * container id, or "" for the sandbox).  On failure everything this call
 * mounted is undone. */
int storage_add(struct agent *a, Grpc__Storage *const *storages, size_t n, const char *owner,
                struct kerr **err);

/* The same, polling at most device_wait_ns for block devices (storage_add
 * waits 10 s; 0 after storage_devices_present said yes or the caller's own
 * wait gave up). */
int storage_add_waiting(struct agent *a, Grpc__Storage *const *storages, size_t n,
                        const char *owner, uint64_t device_wait_ns, struct kerr **err);

/* Block devices show up a little after the host plugs them.  True when every
 * device these storages name is there now (or a source is malformed, which
 * storage_add reports): a caller on the agent's loop polls this with a timer
 * instead of blocking the loop in storage_add. */
bool storage_devices_present(struct agent *a, Grpc__Storage *const *storages, size_t n);

/* Drop owner's references; unmount what no one uses any more. */
int storage_remove_owner(struct agent *a, const char *owner, struct kerr **err);

/* Unmount everything (DestroySandbox), in reverse order of mounting. */
void storage_remove_all(struct agent *a);

/* Mount points tracked now. */
size_t storage_count(struct agent *a);

#endif
