/* The QEMU driver's command line and the guest kernel command line. */
#include "qemu.h"
#include "test.h"
#include "util.h"

#include <unistd.h>

static struct vm_config base_config(void)
{
    return (struct vm_config){
        .hypervisor_path = "/usr/bin/qemu-system-x86_64",
        .kernel = "/k/vmlinux",
        .initrd = "/k/initrd.img",
        .machine_type = "microvm",
        .vcpus = 2,
        .memory_mb = 512,
        .run_dir = "/run/x",
    };
}

static char *joined(char **argv)
{
    char *out = xstrdup("");
    for (char **p = argv; *p; p++) {
        char *next = xasprintf("%s%s%s", out, *out ? " " : "", *p);
        free(out);
        out = next;
    }
    return out;
}

TEST(kernel_cmdline_puts_user_params_last)
{
    struct vm_config cfg = base_config();
    cfg.agent_params = "agent.log=debug";
    cfg.kernel_params = "quiet=0 agent.log=info";
    struct vm vm;
    vm_init(&vm, &qemu_ops, &cfg);
    cleanup_free char *line = vm_kernel_cmdline(&vm);
    const char *defaults = strstr(line, "console=ttyS0");
    const char *agent = strstr(line, "agent.log=debug");
    const char *user = strstr(line, "agent.log=info");
    CHECK(defaults && agent && user);
    CHECK(defaults < agent && agent < user);
    CHECK_CONTAINS(line, "rdinit=/init");
}

TEST(kernel_cmdline_boots_image_from_vda)
{
    struct vm_config cfg = base_config();
    cfg.initrd = NULL;
    cfg.image = "/k/rootfs.img";
    struct vm vm;
    vm_init(&vm, &qemu_ops, &cfg);
    cleanup_free char *line = vm_kernel_cmdline(&vm);
    CHECK_CONTAINS(line, "root=/dev/vda");
    CHECK(strstr(line, "rdinit") == NULL);
}

TEST(microvm_argv_uses_mmio_devices_and_serial_channel)
{
    struct vm_config cfg = base_config();
    struct vm vm;
    vm_init(&vm, &qemu_ops, &cfg);
    vm.agent_socket = "/run/x/agent.sock";
    cleanup_kerr struct kerr *e = NULL;
    char **argv = qemu_build_argv(&vm, &e);
    CHECK(argv != NULL);
    cleanup_free char *line = joined(argv);
    qemu_argv_free(argv);
    CHECK_CONTAINS(line, "-M microvm,");
    CHECK_CONTAINS(line, "virtio-serial-device");
    CHECK_CONTAINS(line, "socket,id=agent,path=/run/x/agent.sock");
    CHECK_CONTAINS(line, "virtserialport,chardev=agent,name=agent.channel.0");
    CHECK_CONTAINS(line, "virtio-mmio.force-legacy=false");
    CHECK_CONTAINS(line, "-smp 2 -m 512M");
    CHECK_CONTAINS(line, "-initrd /k/initrd.img");
    CHECK(strstr(line, "-daemonize") == NULL);
}

TEST(q35_argv_uses_pci_devices)
{
    struct vm_config cfg = base_config();
    cfg.machine_type = "q35";
    cfg.image = "/k/rootfs.img";
    struct vm vm;
    vm_init(&vm, &qemu_ops, &cfg);
    vm.agent_socket = "/run/x/agent.sock";
    char **argv = qemu_build_argv(&vm, NULL);
    CHECK(argv != NULL);
    cleanup_free char *line = joined(argv);
    qemu_argv_free(argv);
    CHECK_CONTAINS(line, "-M q35");
    CHECK_CONTAINS(line, "virtio-serial-pci");
    CHECK_CONTAINS(line, "virtio-blk-pci,drive=rootfs");
    CHECK(strstr(line, "force-legacy") == NULL);
}

TEST(vsock_channel_uses_vhost_vsock_with_cid)
{
    struct vm_config cfg = base_config();
    struct vm vm;
    vm_init(&vm, &qemu_ops, &cfg);
    vm.vsock = true;
    vm.cid = 42;
    char **argv = qemu_build_argv(&vm, NULL);
    cleanup_free char *line = joined(argv);
    qemu_argv_free(argv);
    CHECK_CONTAINS(line, "vhost-vsock-device,guest-cid=42");
    CHECK(strstr(line, "virtserialport") == NULL);
}

TEST(vsock_channel_passes_the_reserved_vhost_fd)
{
    struct vm_config cfg = base_config();
    cfg.machine_type = "q35";
    struct vm vm;
    vm_init(&vm, &qemu_ops, &cfg);
    CHECK_INT(vm.vsock_fd, -1);
    vm.vsock = true;
    vm.cid = 1234;
    vm.vsock_fd = 7;
    char **argv = qemu_build_argv(&vm, NULL);
    cleanup_free char *line = joined(argv);
    qemu_argv_free(argv);
    CHECK_CONTAINS(line, "vhost-vsock-pci,guest-cid=1234,vhostfd=7");
    vm.vsock_fd = -1; /* not ours to close */
    vm_release(&vm);
}

TEST(unknown_machine_type_is_named_in_error)
{
    struct vm_config cfg = base_config();
    cfg.machine_type = "pc-i440fx";
    struct vm vm;
    vm_init(&vm, &qemu_ops, &cfg);
    cleanup_kerr struct kerr *e = NULL;
    CHECK(qemu_build_argv(&vm, &e) == NULL);
    CHECK_STR(e->msg,
              "machine type `pc-i440fx`: QEMU supports `microvm` and `q35`: Invalid argument");
}

TEST(accelerator_matches_dev_kvm)
{
    enum vm_accel accel = vm_detect_accel();
    bool virt = system("grep -qw -E 'vmx|svm' /proc/cpuinfo") == 0;
    CHECK_INT(vm_cpu_has_virt(), virt);
    CHECK_INT(accel, virt && access("/dev/kvm", R_OK | W_OK) == 0 ? VM_ACCEL_KVM : VM_ACCEL_TCG);
}
