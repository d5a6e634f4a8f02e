/* The QEMU driver's command line and the guest kernel command line. */
#include "qemu.h"
#include "vm_process.h"
#include "qmp.h"
#include "qmp_script.h"
#include "test.h"
#include "util.h"

#include <json-c/json.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

TEST(kernel_cmdline_skips_boot_time_checks)
{
    struct vm_config cfg = base_config();
    struct vm vm;
    vm_init(&vm, &qemu_ops, &cfg);
    cleanup_free char *line = vm_kernel_cmdline(&vm);
    CHECK_CONTAINS(line, " no_timer_check ");
    CHECK_CONTAINS(line, " noreplace-smp ");
}

/* argv and kernel command line of a VM with the given accelerator. */
static void build_for_accel(const char *machine, unsigned vcpus, enum vm_accel accel,
                            char **argv_line, char **cmdline)
{
    struct vm_config cfg = base_config();
    cfg.machine_type = machine;
    cfg.vcpus = vcpus;
    struct vm vm;
    vm_init(&vm, &qemu_ops, &cfg);
    vm.accel = accel;
    vm.agent_socket = "/run/x/agent.sock";
    char **argv = qemu_build_argv(&vm, NULL);
    *argv_line = joined(argv);
    qemu_argv_free(argv);
    *cmdline = vm_kernel_cmdline(&vm);
}

TEST(tcg_single_vcpu_q35_skips_apic_timer_calibration)
{
    cleanup_free char *argv = NULL, *line = NULL;
    build_for_accel("q35", 1, VM_ACCEL_TCG, &argv, &line);
    CHECK_CONTAINS(argv, "-cpu max,-erms ");
    CHECK_CONTAINS(line, " noapictimer");
}

TEST(microvm_smp_and_kvm_keep_the_apic_timer)
{
    cleanup_free char *argv = NULL, *line = NULL;
    build_for_accel("microvm", 1, VM_ACCEL_TCG, &argv, &line);
    CHECK_CONTAINS(argv, "pit=off");
    CHECK(strstr(line, "noapictimer") == NULL);
    cleanup_free char *smp_argv = NULL, *smp_line = NULL;
    build_for_accel("q35", 2, VM_ACCEL_TCG, &smp_argv, &smp_line);
    CHECK(strstr(smp_line, "noapictimer") == NULL);
    cleanup_free char *kvm_argv = NULL, *kvm_line = NULL;
    build_for_accel("q35", 1, VM_ACCEL_KVM, &kvm_argv, &kvm_line);
    CHECK_CONTAINS(kvm_argv, "-cpu host ");
    CHECK(strstr(kvm_line, "noapictimer") == NULL);
    CHECK(strstr(kvm_line, "tsc_early_khz") == NULL);
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
    CHECK_CONTAINS(line, "virtio-serial-device,id=serial0,max_ports=2");
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

TEST(virtio_fs_share_uses_shared_memory_and_vhost_user_fs)
{
    struct vm_config cfg = base_config();
    cfg.shared_fs = "virtio-fs";
    cfg.shared_dir = "/run/s";
    struct vm vm;
    vm_init(&vm, &qemu_ops, &cfg);
    vm.virtiofsd.socket_path = "/run/x/virtiofsd.sock";
    char **argv = qemu_build_argv(&vm, NULL);
    CHECK(argv != NULL);
    cleanup_free char *line = joined(argv);
    qemu_argv_free(argv);
    CHECK_CONTAINS(line, "memory-backend-memfd,id=mem,size=512M,share=on");
    CHECK_CONTAINS(line, "-machine memory-backend=mem");
    CHECK_CONTAINS(line, "socket,id=virtiofs-char,path=/run/x/virtiofsd.sock");
    CHECK_CONTAINS(line, "vhost-user-fs-device,chardev=virtiofs-char,tag=kataShared");
}

TEST(virtio_9p_share_on_q35_escapes_commas)
{
    struct vm_config cfg = base_config();
    cfg.machine_type = "q35";
    cfg.shared_fs = "virtio-9p";
    cfg.shared_dir = "/run/a,b";
    cfg.share_tag = "mytag";
    struct vm vm;
    vm_init(&vm, &qemu_ops, &cfg);
    char **argv = qemu_build_argv(&vm, NULL);
    CHECK(argv != NULL);
    cleanup_free char *line = joined(argv);
    qemu_argv_free(argv);
    CHECK_CONTAINS(line, "local,id=extra-9p-share,path=/run/a,,b,security_model=none");
    CHECK_CONTAINS(line, "virtio-9p-pci,fsdev=extra-9p-share,mount_tag=mytag");
    CHECK(strstr(line, "memory-backend") == NULL);
}

TEST(unknown_shared_fs_is_named_in_error)
{
    struct vm_config cfg = base_config();
    cfg.shared_fs = "nfs";
    cfg.shared_dir = "/run/s";
    struct vm vm;
    vm_init(&vm, &qemu_ops, &cfg);
    cleanup_kerr struct kerr *e = NULL;
    CHECK(qemu_build_argv(&vm, &e) == NULL);
    CHECK_STR(e->msg, "shared_fs `nfs`: expected virtio-fs, virtio-9p or none: Invalid argument");
}

TEST(block_devices_get_serials_and_fixed_q35_slots)
{
    struct vm_block_device devs[] = {
        {.id = "disk0", .path = "/d/a.img", .readonly = true},
        {.id = "disk1", .path = "/d/b.img"},
    };
    struct vm_config cfg = base_config();
    cfg.machine_type = "q35";
    cfg.block_devices = devs;
    cfg.n_block_devices = 2;
    cfg.hotplug_slots = 2;
    struct vm vm;
    vm_init(&vm, &qemu_ops, &cfg);
    char **argv = qemu_build_argv(&vm, NULL);
    CHECK(argv != NULL);
    cleanup_free char *line = joined(argv);
    qemu_argv_free(argv);
    CHECK_CONTAINS(line, "id=drive-disk0,file=/d/a.img,format=raw,readonly=on");
    CHECK_CONTAINS(line,
                   "virtio-blk-pci,drive=drive-disk0,id=disk0,serial=disk0,bus=pcie.0,addr=0x10");
    CHECK_CONTAINS(line, "id=drive-disk1,file=/d/b.img,format=raw,readonly=off");
    CHECK_CONTAINS(line, "serial=disk1,bus=pcie.0,addr=0x11");
    CHECK_CONTAINS(line, "pcie-root-port,id=hotplug1,bus=pcie.0,chassis=2,slot=2,addr=0x19");
}

TEST(block_device_id_must_fit_a_serial)
{
    struct vm_block_device dev = {.id = "a-name-longer-than-twenty", .path = "/d/a.img"};
    struct vm_config cfg = base_config();
    cfg.block_devices = &dev;
    cfg.n_block_devices = 1;
    struct vm vm;
    vm_init(&vm, &qemu_ops, &cfg);
    cleanup_kerr struct kerr *e = NULL;
    CHECK(qemu_build_argv(&vm, &e) == NULL);
    CHECK_CONTAINS(e->msg, "block device id `a-name-longer-than-twenty`");
}

TEST(qmp_socket_is_inherited_listening_fd)
{
    struct vm_config cfg = base_config();
    struct vm vm;
    vm_init(&vm, &qemu_ops, &cfg);
    qemu_state(&vm)->qmp_listen = 7;
    char **argv = qemu_build_argv(&vm, NULL);
    cleanup_free char *line = joined(argv);
    qemu_argv_free(argv);
    CHECK_CONTAINS(line,
                   "-chardev socket,id=qmp,fd=7,server=on,wait=off -mon chardev=qmp,mode=control");
    qemu_state(&vm)->qmp_listen = -1; /* not ours to close */
    vm_release(&vm);
    CHECK(vm.priv == NULL);
}

TEST(virtiofsd_argv_maps_kata_cache_modes)
{
    const char *extra[] = {"-o", "announce_submounts", NULL};
    struct virtiofsd_config cfg = {
        .path = "/usr/lib/qemu/virtiofsd",
        .source = "/run/s",
        .cache = "never",
        .extra_args = extra,
    };
    char **argv = virtiofsd_build_argv(&cfg, 3, NULL);
    CHECK(argv != NULL);
    cleanup_free char *line = joined(argv);
    qemu_argv_free(argv);
    CHECK_STR(line, "/usr/lib/qemu/virtiofsd --fd=3 -f -o source=/run/s -o cache=none -o "
                    "announce_submounts -o sandbox=namespace -o modcaps=-mknod:-setfcap");
    CHECK_STR(virtiofsd_cache_mode("metadata"), "auto");
    CHECK_STR(virtiofsd_cache_mode(NULL), "auto");
    CHECK(virtiofsd_cache_mode("sometimes") == NULL);
    cfg.cache = "sometimes";
    cleanup_kerr struct kerr *e = NULL;
    CHECK(virtiofsd_build_argv(&cfg, 3, &e) == NULL);
    CHECK_CONTAINS(e->msg, "cache mode `sometimes`");
}

static int events_seen;
static void count_event(const char *name, struct json_object *data, void *cb_data)
{
    if (strcmp(name, "STOP") == 0)
        events_seen++;
}

TEST(qmp_negotiates_and_skips_events_before_the_reply)
{
    int fd = qmp_script_open(
        "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}}, "
        "\"capabilities\": [\"oob\"]}}\r\n"
        "{\"return\": {}, \"id\": 1}\r\n"
        "{\"event\": \"STOP\", \"data\": {}, \"timestamp\": {\"seconds\": 1}}\r\n"
        "{\"return\": {\"status\": \"stale\"}, \"id\": 99}\r\n"
        "{\"return\": {\"status\": \"paused\", \"running\": false}, \"id\": 2}\r\n"
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no such device\"}, \"id\": 3}\r\n");
    cleanup_kerr struct kerr *e = NULL;
    struct qmp *q = qmp_open(fd, 1000000000ull, &e);
    if (q == NULL)
        printf("# %s\n", e->msg);
    CHECK(q != NULL);
    CHECK_STR(qmp_version(q), "7.2.22");
    qmp_set_event_cb(q, count_event, NULL);
    cleanup_free char *status = NULL;
    bool running = true;
    CHECK_INT(qmp_query_status(q, &status, &running, 1000000000ull, &e), 0);
    CHECK_STR(status, "paused");
    CHECK(!running);
    CHECK_INT(events_seen, 1);
    CHECK_INT(qmp_execute(q, "device_del", NULL, NULL, 1000000000ull, &e), -1);
    CHECK_STR(e->msg, "qmp `device_del`: GenericError: no such device");
    kerr_clear(&e);
    /* The peer is gone: the next command fails, it does not hang. */
    CHECK_INT(qmp_execute(q, "cont", NULL, NULL, 1000000000ull, &e), -1);
    CHECK_CONTAINS(e->msg, "closed");
    qmp_close(q);
    close(qmp_script_peer);
}

TEST(qmp_rejects_garbage_and_overlong_lines)
{
    cleanup_kerr struct kerr *e = NULL;
    CHECK(qmp_parse_line("[1]", 3, &e) == NULL);
    CHECK_CONTAINS(e->msg, "not a JSON object");
    kerr_clear(&e);
    CHECK(qmp_parse_line("{\"a\":1} x", 9, &e) == NULL);
    kerr_clear(&e);
    CHECK(qmp_parse_line("{\"a\":", 5, &e) == NULL);
    kerr_clear(&e);
    int fd = qmp_script_open("{\"QMP\": {}}"); /* no newline, then EOF */
    CHECK(qmp_open(fd, 1000000000ull, &e) == NULL);
    close(qmp_script_peer);
    CHECK_CONTAINS(e->msg, "open QMP");
}

/* hotplug_block takes the first free root port; unplug_block waits for the
 * guest's DEVICE_DELETED of that device (not another's) and frees the port. */
TEST(hotplug_and_unplug_reuse_root_ports)
{
    int fd = qmp_script_open(
        "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}}}}\n"
        "{\"return\": {}, \"id\": 1}\n"
        "{\"return\": {}, \"id\": 2}\n{\"return\": {}, \"id\": 3}\n" /* hot a */
        "{\"return\": {}, \"id\": 4}\n{\"return\": {}, \"id\": 5}\n" /* hot b */
        "{\"return\": {}, \"id\": 6}\n"                              /* device_del a */
        "{\"event\": \"DEVICE_DELETED\", \"data\": {\"device\": \"b\"}}\n"
        "{\"event\": \"DEVICE_DELETED\", \"data\": {\"device\": \"a\"}}\n"
        "{\"return\": {}, \"id\": 7}\n"                              /* blockdev-del a */
        "{\"return\": {}, \"id\": 8}\n{\"return\": {}, \"id\": 9}\n" /* hot c */
        "{\"return\": {}, \"id\": 10}\n"                             /* device_del b */
    );
    struct vm_config cfg = base_config();
    cfg.machine_type = "q35";
    cfg.hotplug_slots = 2;
    struct vm vm;
    vm_init(&vm, &qemu_ops, &cfg);
    qemu_state(&vm)->qmp_fd = fd;
    cleanup_kerr struct kerr *e = NULL;
    struct vm_block_device a = {.id = "a", .path = "/dev/loop7"}, b = {.id = "b", .path = "/x"},
                           c = {.id = "c", .path = "/y", .readonly = true};
    cleanup_free char *pa = NULL, *pb = NULL, *pc = NULL;
    CHECK_INT(qemu_ops.hotplug_block(&vm, &a, &pa, &e), 0);
    CHECK_INT(qemu_ops.hotplug_block(&vm, &b, &pb, &e), 0);
    CHECK_STR(pa, "18/00");
    CHECK_STR(pb, "19/00");
    CHECK_INT(qemu_ops.hotplug_block(&vm, &c, NULL, &e), -1);
    CHECK_CONTAINS(e->msg, "all 2 hotplug slots are used");
    kerr_clear(&e);
    CHECK_INT(qemu_ops.unplug_block(&vm, "a", 1000000000ull, &e), 0);
    CHECK_INT(qemu_ops.hotplug_block(&vm, &c, &pc, &e), 0);
    CHECK_STR(pc, "18/00");
    CHECK_INT(qemu_ops.unplug_block(&vm, "a", 1000000000ull, &e), -1);
    CHECK_CONTAINS(e->msg, "not a hotplugged device");
    kerr_clear(&e);
    /* No DEVICE_DELETED comes (the peer closes): an error, the port stays taken. */
    CHECK_INT(qemu_ops.unplug_block(&vm, "b", 1000000000ull, &e), -1);
    CHECK_CONTAINS(e->msg, "unplug `b`");
    kerr_clear(&e);
    const char *sent = qmp_script_sent();
    CHECK_CONTAINS(sent, "\"serial\":\"b\",\"bus\":\"hotplug1\"");
    CHECK_CONTAINS(sent, "{\"execute\":\"device_del\",\"arguments\":{\"id\":\"a\"},\"id\":6}");
    CHECK_CONTAINS(sent, "\"blockdev-del\",\"arguments\":{\"node-name\":\"drive-a\"}");
    vm_release(&vm);
    close(qmp_script_peer);
}

/* virtio-scsi: a controller at boot (microvm too), disks hotplugged as
 * scsi-hd at targets 0, 1, ... found by the guest as "TARGET:0". */
TEST(scsi_disks_hotplug_on_microvm_through_the_controller)
{
    struct vm_config cfg = base_config();
    cfg.scsi_controller = true;
    struct vm vm;
    vm_init(&vm, &qemu_ops, &cfg);
    cleanup_kerr struct kerr *e = NULL;
    char **argv = qemu_build_argv(&vm, &e);
    CHECK(argv != NULL);
    cleanup_free char *line = joined(argv);
    qemu_argv_free(argv);
    CHECK_CONTAINS(line, "-device virtio-scsi-device,id=scsi0");
    int fd = qmp_script_open("{\"QMP\": {}}\n{\"return\": {}, \"id\": 1}\n"
                             "{\"return\": {}, \"id\": 2}\n{\"return\": {}, \"id\": 3}\n"
                             "{\"return\": {}, \"id\": 4}\n"
                             "{\"event\": \"DEVICE_DELETED\", \"data\": {\"device\": \"s\"}}\n"
                             "{\"return\": {}, \"id\": 5}\n");
    qemu_state(&vm)->qmp_fd = fd;
    struct vm_block_device blk = {.id = "b", .path = "/x"};
    struct vm_block_device scsi = {.id = "s", .path = "/x", .scsi = true};
    cleanup_free char *path = NULL;
    CHECK_INT(qemu_ops.hotplug_block(&vm, &blk, NULL, &e), -1);
    CHECK_CONTAINS(e->msg, "microvm has no PCI hotplug");
    kerr_clear(&e);
    CHECK_INT(qemu_ops.hotplug_block(&vm, &scsi, &path, &e), 0);
    CHECK_STR(path, "0:0");
    CHECK_INT(qemu_ops.unplug_block(&vm, "s", 1000000000ull, &e), 0);
    const char *sent = qmp_script_sent();
    CHECK_CONTAINS(sent, "\"driver\":\"scsi-hd\",\"id\":\"s\",\"drive\":\"drive-s\",\"serial\":"
                         "\"s\",\"bus\":\"scsi0.0\",\"channel\":0,\"scsi-id\":0,\"lun\":0");
    vm_release(&vm);
    close(qmp_script_peer);
}

TEST(net_devices_become_tap_netdevs_with_virtio_net)
{
    struct vm_config cfg = base_config();
    struct vm_net_device nets[] = {
        {.tap_fd = 7, .mac = "02:42:0a:58:00:02", .mtu = 1450},
        {.tap_fd = 9, .mac = "02:42:0a:58:00:03"},
    };
    cfg.net_devices = nets;
    cfg.n_net_devices = 2;
    struct vm vm;
    vm_init(&vm, &qemu_ops, &cfg);
    vm.agent_socket = "/run/x/agent.sock";
    char **argv = qemu_build_argv(&vm, NULL);
    CHECK(argv != NULL);
    cleanup_free char *line = joined(argv);
    qemu_argv_free(argv);
    bool vhost = access("/dev/vhost-net", R_OK | W_OK) == 0;
    CHECK_CONTAINS(line, vhost ? "-netdev tap,id=net0,fd=7,vhost=on"
                               : "-netdev tap,id=net0,fd=7,vhost=off");
    CHECK_CONTAINS(line, "virtio-net-device,netdev=net0,mac=02:42:0a:58:00:02,host_mtu=1450");
    CHECK_CONTAINS(line, "virtio-net-device,netdev=net1,mac=02:42:0a:58:00:03");
}

TEST(disable_vhost_net_keeps_vhost_off)
{
    struct vm_config cfg = base_config();
    struct vm_net_device net = {.tap_fd = 7, .mac = "02:42:0a:58:00:02"};
    cfg.net_devices = &net;
    cfg.n_net_devices = 1;
    cfg.disable_vhost_net = true;
    struct vm vm;
    vm_init(&vm, &qemu_ops, &cfg);
    vm.agent_socket = "/run/x/agent.sock";
    char **argv = qemu_build_argv(&vm, NULL);
    CHECK(argv != NULL);
    cleanup_free char *line = joined(argv);
    qemu_argv_free(argv);
    CHECK_CONTAINS(line, "-netdev tap,id=net0,fd=7,vhost=off");
}

TEST(net_device_with_a_bad_mac_is_refused)
{
    struct vm_config cfg = base_config();
    struct vm_net_device net = {.tap_fd = 7, .mac = "02:42:0a:58:00"};
    cfg.net_devices = &net;
    cfg.n_net_devices = 1;
    struct vm vm;
    vm_init(&vm, &qemu_ops, &cfg);
    vm.agent_socket = "/run/x/agent.sock";
    cleanup_kerr struct kerr *e = NULL;
    CHECK(qemu_build_argv(&vm, &e) == NULL);
    CHECK_CONTAINS(e->msg, "network device 0: bad MAC `02:42:0a:58:00`");
}

TEST(virtiofsd_refuses_extra_args_that_change_its_source_or_sandbox)
{
    const char *source[] = {"-o", "source=/", NULL};
    const char *sandbox[] = {"--sandbox=none", NULL};
    struct virtiofsd_config cfg = {
        .path = "/usr/lib/qemu/virtiofsd", .source = "/run/s", .extra_args = source};
    cleanup_kerr struct kerr *e = NULL;
    CHECK(virtiofsd_build_argv(&cfg, 3, &e) == NULL);
    CHECK_CONTAINS(e->msg, "virtiofsd extra argument `source=/` refused: it changes the directory");
    cfg.extra_args = sandbox;
    cleanup_kerr struct kerr *e2 = NULL;
    CHECK(virtiofsd_build_argv(&cfg, 3, &e2) == NULL);
    CHECK_CONTAINS(e2->msg, "`--sandbox=none` refused: it changes virtiofsd's sandbox");
}

TEST(seccomp_sandbox_is_passed_to_qemu_and_empty_means_none)
{
    struct vm_config cfg = base_config();
    cfg.seccomp_sandbox = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny";
    struct vm vm;
    vm_init(&vm, &qemu_ops, &cfg);
    vm.agent_socket = "/run/x/agent.sock";
    char **argv = qemu_build_argv(&vm, NULL);
    CHECK(argv != NULL);
    cleanup_free char *line = joined(argv);
    qemu_argv_free(argv);
    CHECK_CONTAINS(line, " -sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,"
                         "resourcecontrol=deny ");
    cfg.seccomp_sandbox = "";
    vm_init(&vm, &qemu_ops, &cfg);
    vm.agent_socket = "/run/x/agent.sock";
    argv = qemu_build_argv(&vm, NULL);
    CHECK(argv != NULL);
    cleanup_free char *none = joined(argv);
    qemu_argv_free(argv);
    CHECK(strstr(none, " -sandbox ") == NULL);
}

TEST(rootless_qemu_gets_its_sockets_as_fds_and_no_vhost_net)
{
    struct vm_config cfg = base_config();
    cfg.rootless = true;
    cfg.shared_fs = "virtio-fs";
    cfg.shared_dir = "/run/s";
    struct vm_net_device net = {.tap_fd = 9, .mac = "02:00:00:00:00:01"};
    cfg.net_devices = &net;
    cfg.n_net_devices = 1;
    struct vm vm;
    vm_init(&vm, &qemu_ops, &cfg);
    vm.agent_socket = "/run/x/agent.sock";
    vm.agent_listen = 5;
    vm.virtiofsd.socket_path = "/run/x/virtiofsd.sock";
    vm.virtiofsd.vmm_fd = 6;
    char **argv = qemu_build_argv(&vm, NULL);
    CHECK(argv != NULL);
    cleanup_free char *line = joined(argv);
    qemu_argv_free(argv);
    CHECK_CONTAINS(line, "socket,id=agent,fd=5,server=on,wait=off");
    CHECK_CONTAINS(line, "socket,id=virtiofs-char,fd=6 ");
    CHECK_CONTAINS(line, "tap,id=net0,fd=9,vhost=off");
    CHECK(strstr(line, "/run/x/") == NULL);
    vm.virtiofsd.vmm_fd = -1;
    cleanup_kerr struct kerr *e = NULL;
    CHECK(qemu_build_argv(&vm, &e) == NULL);
    CHECK_CONTAINS(e->msg, "rootless QEMU needs a connection to virtiofsd");
    vm.agent_listen = -1;
}

TEST(daemon_logs_are_bounded_by_their_relay)
{
    char tmpl[] = "/tmp/test-log-relay.XXXXXX";
    CHECK(mkdtemp(tmpl) != NULL);
    cleanup_free char *path = xasprintf("%s/qemu.log", tmpl);
    cleanup_free char *old = xasprintf("%s/qemu.log.1", tmpl);
    const off_t max = 8192;
    cleanup_kerr struct kerr *e = NULL;
    int fd = vm_log_relay(path, max, &e);
    CHECK(fd >= 0);
    char line[1000];
    memset(line, 'x', sizeof(line) - 1);
    line[sizeof(line) - 1] = '\n';
    for (int i = 0; i < 4000; i++) /* 4 MB */
        CHECK(fd_write_full(fd, line, sizeof(line)) == 0);
    CHECK(fd_write_full(fd, "the last words\n", 15) == 0);
    close(fd);
    struct vm vm = {.log_path = path};
    cleanup_free char *tail = vm_log_tail(&vm); /* waits for the relay */
    struct stat cur, prev;
    CHECK(stat(path, &cur) == 0);
    CHECK(stat(old, &prev) == 0);
    cleanup_free char *cmd = xasprintf("rm -rf '%s'", tmpl);
    CHECK(system(cmd) == 0);
    CHECK_CONTAINS(tail, "the last words");
    CHECK(cur.st_size <= max + 65536);
    CHECK(prev.st_size <= max + 65536);
    CHECK(prev.st_size > 0);
    CHECK_INT(cur.st_mode & 0777, 0600);
}

TEST(a_log_relay_outlives_no_writer)
{
    char tmpl[] = "/tmp/test-log-relay.XXXXXX";
    CHECK(mkdtemp(tmpl) != NULL);
    cleanup_free char *path = xasprintf("%s/virtiofsd.log", tmpl);
    cleanup_kerr struct kerr *e = NULL;
    int fd = vm_log_relay(path, VM_LOG_MAX, &e);
    CHECK(fd >= 0);
    close(fd);
    /* Once the writer is gone the relay exits and releases its lock. */
    cleanup_close int check = open(path, O_RDONLY | O_CLOEXEC);
    bool unlocked = false;
    for (int i = 0; i < 200 && !unlocked; i++) {
        unlocked = flock(check, LOCK_SH | LOCK_NB) == 0;
        if (!unlocked)
            usleep(10000);
    }
    cleanup_free char *cmd = xasprintf("rm -rf '%s'", tmpl);
    CHECK(system(cmd) == 0);
    CHECK(unlocked);
}

/* Callers ask the driver instead of testing its name: microvm hot-plugs only
 * SCSI disks; the built-in VMM hot-plugs into placeholder drives, needs no
 * configured binary and has no 9p. */
TEST(capabilities_answer_for_the_configuration)
{
    struct vm_config cfg = base_config();
    struct vm_capabilities caps;
    vm_capabilities(&qemu_ops, &cfg, &caps);
    CHECK(!caps.blk_hotplug && caps.scsi_hotplug && caps.pause && caps.needs_binary);
    CHECK(caps.shared_fs & VM_CAP_FS(VM_SHARED_FS_VIRTIO_9P));
    cfg.machine_type = "q35";
    vm_capabilities(&qemu_ops, &cfg, &caps);
    CHECK(caps.blk_hotplug && caps.runs_without_kvm);
    vm_capabilities(&dragonball_ops, &cfg, &caps);
    CHECK(caps.blk_hotplug && !caps.scsi_hotplug && !caps.needs_binary && !caps.runs_without_kvm);
    CHECK(!(caps.shared_fs & VM_CAP_FS(VM_SHARED_FS_VIRTIO_9P)));
    CHECK(caps.shared_fs & VM_CAP_FS(VM_SHARED_FS_VIRTIO_FS));
}

/* Crash cleanup kills a recorded process only while its pid still names it
 * (same start time): a pid reused by another process is left alone. */
TEST(kill_recorded_checks_the_start_time)
{
    pid_t child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    CHECK(child > 0);
    struct proc_ref refs[2] = {{0, 0}, {0, 0}};
    CHECK_INT(proc_ref_of(child, &refs[0]), 0);
    refs[1] = refs[0];
    refs[1].start += 1; /* another process's start time */
    vm_kill_recorded(&refs[1], 1, 100);
    CHECK_INT(kill(child, 0), 0);
    vm_kill_recorded(refs, 1, 100);
    int status = 0;
    CHECK_INT(waitpid(child, &status, 0), child);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}
