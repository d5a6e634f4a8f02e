/* ch-bodies: print every request body the clh driver builds, for sample VMs,
 * one line each: "METHOD /api/v1/ENDPOINT", a tab, the JSON body.
 * tests/integration/test_ch_api_schema.py checks each against Cloud
 * Hypervisor's API schema (tests/ch_api/schema.json). */
#include "clh.h"
#include "hypervisor.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>

static void line(const char *route, char *body)
{
    printf("%s\t%s\n", route, body);
    free(body);
}

static void vm_create(const struct vm_config *cfg, const char *fs_socket)
{
    struct vm vm;
    vm_init(&vm, &clh_ops, cfg);
    char *cmdline = vm_kernel_cmdline(&vm);
    line("PUT /api/v1/vm.create",
         clh_vm_config_body(cfg, cmdline, "/run/kata/sb/clh.sock", fs_socket));
    free(cmdline);
}

int main(void)
{
    /* An initrd guest with a virtio-fs share and debug. */
    struct vm_config a = {.kernel = "/opt/kata/share/kata-containers/vmlinux.container",
                          .initrd = "/opt/kata/share/kata-containers/kata-containers-initrd.img",
                          .vcpus = 1,
                          .max_vcpus = 8,
                          .memory_mb = 2048,
                          .debug = true,
                          .agent_params = "agent.log=debug",
                          .shared_fs = "virtio-fs"};
    vm_create(&a, "/run/kata/sb/virtiofsd.sock");
    /* An image guest, no share, a boot disk, the console on hvc0, a tag. */
    struct vm_block_device disks[] = {{.id = "rootfs0", .path = "/dev/loop7", .readonly = true},
                                      {.id = "vol1", .path = "/dev/loop8"}};
    struct vm_config b = {.kernel = "/k/vmlinux",
                          .image = "/k/kata-containers.img",
                          .vcpus = 4,
                          .memory_mb = 512,
                          .kernel_params = "console=hvc0",
                          .block_devices = disks,
                          .n_block_devices = 2,
                          .share_tag = "myTag"};
    vm_create(&b, NULL);
    /* The least: defaults everywhere. */
    struct vm_config c = {.kernel = "/k/vmlinux", .initrd = "/k/initrd"};
    vm_create(&c, NULL);

    line("PUT /api/v1/vm.add-disk", clh_add_disk_body(&disks[0]));
    line("PUT /api/v1/vm.add-disk", clh_add_disk_body(&disks[1]));
    struct vm_net_device n1 = {.tap_fd = 5, .mac = "02:42:ac:11:00:02", .mtu = 1500};
    struct vm_net_device n2 = {.tap_fd = 6};
    line("PUT /api/v1/vm.add-net", clh_add_net_body(&n1, 0));
    line("PUT /api/v1/vm.add-net", clh_add_net_body(&n2, 1));
    line("PUT /api/v1/vm.remove-device", clh_remove_device_body("rootfs0"));
    return 0;
}
