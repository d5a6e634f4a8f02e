/* A test-only hypervisor driver: no VM, every answer scripted, so the shim's
 * logic gets unit tests without a VMM.  Reset it with mock_reset().
 *
 * With mock.vm set, start forks a stand-in VMM process (recorded through
 * vm->spawned while it waits at the exec gate, as a real driver's) whose end
 * of a socketpair is the agent channel agent_connect hands over: it never
 * answers (MOCK_VM_SILENT) or serves a tiny fake agent over ttrpc
 * (MOCK_VM_AGENT: grpc.Health/Check, CreateSandbox, UpdateInterface,
 * DestroySandbox; GetOOMEvent never answers).  The process ends when the
 * channel closes, unless mock.vm_outlives_agent (a crashed daemon's VMM). */
#ifndef KATA_MOCK_DRIVER_H
#define KATA_MOCK_DRIVER_H

#include "hypervisor.h"

enum mock_vm { MOCK_VM_NONE, MOCK_VM_SILENT, MOCK_VM_AGENT };

/* What the fake agent was asked (shared with its process). */
struct mock_agent_calls {
    unsigned checks, create_sandbox, update_interface, destroy_sandbox;
};

struct mock_driver {
    struct vm_capabilities caps; /* what capabilities answers */
    int start_errno;             /* start fails with it (0: the "VM" boots) */
    int hotplug_errno;           /* hotplug_block refuses with it (0: plugs) */
    const char *guest_path;      /* where hotplug_block says the guest finds the disk */
    unsigned starts, hotplugs, unplugs, stops;
    char hotplugged[64], unplugged[64]; /* the last disk ids */
    enum mock_vm vm;
    bool vm_outlives_agent;
    int agent_fd; /* our end of the agent channel until agent_connect takes it */
    struct mock_agent_calls *calls;
};

extern struct mock_driver mock;
extern const struct hypervisor_ops mock_ops;

/* Capabilities of a VM whose disks hot-plug, nothing done yet, no process. */
void mock_reset(void);

#endif
