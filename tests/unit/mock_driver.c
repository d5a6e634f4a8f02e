/* The test-only `mock` driver (mock_driver.h). */
#include "mock_driver.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct mock_driver mock;

void mock_reset(void)
{
    memset(&mock, 0, sizeof(mock));
    mock.caps = (struct vm_capabilities){
        .shared_fs = VM_CAP_FS(VM_SHARED_FS_NONE) | VM_CAP_FS(VM_SHARED_FS_VIRTIO_FS),
        .blk_hotplug = true,
        .needs_binary = false,
        .agent_channel = "none (mock)",
    };
    mock.guest_path = "18/00";
}

static void mock_capabilities(const struct vm_config *cfg, struct vm_capabilities *caps)
{
    (void)cfg;
    *caps = mock.caps;
}

static int mock_start(struct vm *vm, struct kerr **err)
{
    (void)vm;
    mock.starts++;
    if (mock.start_errno)
        return kerr_make(err, mock.start_errno, "mock: the VM does not boot");
    return 0;
}

/* The agent never answers. */
static int mock_agent_connect(struct vm *vm, uint64_t timeout_ns, struct kerr **err)
{
    (void)vm;
    return kerr_make(err, ETIMEDOUT, "mock: no agent answered within %llu ms",
                     (unsigned long long)(timeout_ns / 1000000));
}

static int mock_stop(struct vm *vm, uint64_t grace_ns, struct kerr **err)
{
    (void)grace_ns;
    (void)err;
    mock.stops++;
    vm->pid = 0;
    return 0;
}

static int mock_hotplug_block(struct vm *vm, const struct vm_block_device *dev, char **guest_path,
                              struct kerr **err)
{
    (void)vm;
    if (mock.hotplug_errno)
        return kerr_make(err, mock.hotplug_errno, "mock: hotplug `%s` refused", dev->id);
    mock.hotplugs++;
    snprintf(mock.hotplugged, sizeof(mock.hotplugged), "%s", dev->id);
    if (guest_path)
        *guest_path = xstrdup(mock.guest_path);
    return 0;
}

static int mock_unplug_block(struct vm *vm, const char *id, uint64_t timeout_ns, struct kerr **err)
{
    (void)vm;
    (void)timeout_ns;
    (void)err;
    mock.unplugs++;
    snprintf(mock.unplugged, sizeof(mock.unplugged), "%s", id);
    return 0;
}

const struct hypervisor_ops mock_ops = {
    .name = "mock",
    .capabilities = mock_capabilities,
    .start = mock_start,
    .agent_connect = mock_agent_connect,
    .stop = mock_stop,
    .hotplug_block = mock_hotplug_block,
    .unplug_block = mock_unplug_block,
};
