/* A test-only hypervisor driver: no VM, every answer scripted, so the shim's
 * logic gets unit tests without a VMM.  Reset it with mock_reset(). */
#ifndef KATA_MOCK_DRIVER_H
#define KATA_MOCK_DRIVER_H

#include "hypervisor.h"

struct mock_driver {
    struct vm_capabilities caps; /* what capabilities answers */
    int start_errno;             /* start fails with it (0: the "VM" boots) */
    int hotplug_errno;           /* hotplug_block refuses with it (0: plugs) */
    const char *guest_path;      /* where hotplug_block says the guest finds the disk */
    unsigned starts, hotplugs, unplugs, stops;
    char hotplugged[64], unplugged[64]; /* the last disk ids */
};

extern struct mock_driver mock;
extern const struct hypervisor_ops mock_ops;

/* Capabilities of a VM whose disks hot-plug, nothing done yet. */
void mock_reset(void);

#endif
