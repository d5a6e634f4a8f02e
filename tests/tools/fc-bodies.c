/* fc-bodies: print every request body the firecracker driver builds, for
 * sample VMs, one line each: "METHOD PATH", a tab, the JSON body.
 * tests/integration/test_fc_api_schema.py checks each against Firecracker's
 * API schema (tests/fc_api/schema.json). */
#include "firecracker.h"
#include "hypervisor.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>

static void line(const char *route, char *body)
{
    printf("%s\t%s\n", route, body);
    free(body);
}

static void boot(const struct vm_config *cfg)
{
    struct vm vm;
    vm_init(&vm, &firecracker_ops, cfg);
    char *cmdline = vm_kernel_cmdline(&vm);
    line("PUT /machine-config", fc_machine_config_body(cfg));
    line("PUT /boot-source", fc_boot_source_body(cfg, cmdline));
    free(cmdline);
}

int main(void)
{
    /* An initrd guest with debug. */
    struct vm_config a = {.kernel = "/opt/kata/share/kata-containers/vmlinux.container",
                          .initrd = "/opt/kata/share/kata-containers/kata-containers-initrd.img",
                          .vcpus = 1,
                          .memory_mb = 2048,
                          .debug = true,
                          .agent_params = "agent.log=debug"};
    boot(&a);
    /* An image guest, 32 vCPUs, the user's parameters. */
    struct vm_config b = {.kernel = "/k/vmlinux",
                          .image = "/k/kata-containers.img",
                          .vcpus = FC_VCPUS_MAX,
                          .memory_mb = 512,
                          .kernel_params = "pci=off"};
    boot(&b);
    /* The least: defaults everywhere. */
    struct vm_config c = {.kernel = "/k/vmlinux", .initrd = "/k/initrd"};
    boot(&c);

    line("PUT /drives/rootfs", fc_drive_body("rootfs", "/k/kata-containers.img", true));
    line("PUT /drives/vol1", fc_drive_body("vol1", "/dev/loop8", false));
    line("PUT /drives/drive_0", fc_drive_body("drive_0", "/run/kata/sb/drive_0", false));
    line("PATCH /drives/drive_0", fc_patch_drive_body("drive_0", "/dev/loop9"));
    line("PATCH /drives/drive_0", fc_patch_drive_body("drive_0", "/run/kata/sb/drive_0"));
    line("PUT /network-interfaces/eth0",
         fc_network_interface_body("eth0", "tap0_kata", "02:42:ac:11:00:02"));
    line("PUT /network-interfaces/eth1", fc_network_interface_body("eth1", "tap1_kata", NULL));
    line("PUT /vsock", fc_vsock_body("/run/kata/sb/kata.hvsock"));
    line("PUT /logger", fc_logger_body("/run/kata/sb/fc-logger.log", false));
    line("PUT /logger", fc_logger_body("/run/kata/sb/fc-logger.log", true));
    line("PUT /metrics", fc_metrics_body("/run/kata/sb/fc-metrics.json"));
    line("PUT /actions", fc_action_body("InstanceStart"));
    line("PUT /actions", fc_action_body("SendCtrlAltDel"));
    line("PATCH /vm", fc_vm_state_body("Paused"));
    line("PATCH /vm", fc_vm_state_body("Resumed"));
    return 0;
}
