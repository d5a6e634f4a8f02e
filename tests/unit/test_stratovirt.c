/* The StratoVirt driver: its command line and QMP exchanges against fixtures
 * written from StratoVirt's config guidebook and QMP document, and its
 * start/stop paths against a fake `stratovirt` (fake_stratovirt.py): no real
 * StratoVirt binary exists on the build hosts. */
#include "stratovirt.h"
#include "config.h"
#include "qmp.h"
#include "test.h"
#include "util.h"
#include "vm_config.h"
#include "vm_process.h"

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
        .hypervisor_path = "/usr/bin/stratovirt",
        .kernel = "/k/vmlinux",
        .initrd = "/k/initrd.img",
        .machine_type = "microvm",
        .vcpus = 2,
        .memory_mb = 512,
        .run_dir = "/run/x",
        .disable_vhost_net = true,
    };
}

/* A VM whose agent channel is vhost-vsock CID 3 (as start would reserve). */
static void vm_for(struct vm *vm, const struct vm_config *cfg)
{
    vm_init(vm, &stratovirt_ops, cfg);
    vm->vsock = true;
    vm->cid = 3;
    stratovirt_state(vm)->qmp_socket = xasprintf("%s/qmp.sock", cfg->run_dir);
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

static char *argv_line(struct vm *vm, struct kerr **err)
{
    char **argv = stratovirt_build_argv(vm, err);
    if (argv == NULL)
        return NULL;
    char *line = joined(argv);
    kata_strv_free(argv);
    return line;
}

TEST(stratovirt_is_in_the_driver_table)
{
    CHECK(hypervisor_find("stratovirt") == &stratovirt_ops);
}

/* The guidebook's syntax, option by option (sections 1.1-1.7, 2.2-2.8, 2.17;
 * the QMP document for -qmp). */
TEST(command_line_follows_the_config_guidebook)
{
    struct vm_config cfg = base_config();
    struct vm_block_device disks[] = {{.id = "rootfs0", .path = "/dev/loop7"},
                                      {.id = "vol1", .path = "/v/img", .readonly = true}};
    struct vm_net_device nets[] = {{.tap_fd = 7, .mac = "02:42:0a:58:00:02", .mtu = 1450},
                                   {.tap_fd = 9, .mac = "02:42:0a:58:00:03"}};
    cfg.block_devices = disks;
    cfg.n_block_devices = 2;
    cfg.net_devices = nets;
    cfg.n_net_devices = 2;
    cfg.shared_fs = "virtio-fs";
    cfg.shared_dir = "/run/s";
    struct vm vm;
    vm_for(&vm, &cfg);
    vm.vsock_fd = 11;
    vm.virtiofsd.socket_path = "/run/x/virtiofsd.sock";
    cleanup_kerr struct kerr *e = NULL;
    cleanup_free char *line = argv_line(&vm, &e);
    if (line == NULL)
        printf("# %s\n", e->msg);
    CHECK(line != NULL);
    CHECK_CONTAINS(line, "/usr/bin/stratovirt -machine type=microvm,dump-guest-core=off,"
                         "mem-share=on -smp 2 -m 512 -kernel /k/vmlinux -initrd /k/initrd.img "
                         "-append console=ttyS0 ");
    CHECK_CONTAINS(line, " -qmp unix:/run/x/qmp.sock,server,nowait -D -serial "
                         "file,path=/proc/self/fd/1 ");
    CHECK_CONTAINS(line, " -drive id=drive-rootfs0,file=/dev/loop7,readonly=off,direct=on "
                         "-device virtio-blk-device,drive=drive-rootfs0,id=rootfs0,serial=rootfs0 "
                         "-drive id=drive-vol1,file=/v/img,readonly=on,direct=on "
                         "-device virtio-blk-device,drive=drive-vol1,id=vol1,serial=vol1 ");
    CHECK_CONTAINS(line, " -netdev tap,id=net0,fd=7 -device virtio-net-device,id=net0,"
                         "netdev=net0,mac=02:42:0a:58:00:02 -netdev tap,id=net1,fd=9 "
                         "-device virtio-net-device,id=net1,netdev=net1,mac=02:42:0a:58:00:03 ");
    CHECK_CONTAINS(line, " -chardev socket,id=virtiofs,path=/run/x/virtiofsd.sock "
                         "-device vhost-user-fs-device,id=virtiofs0,chardev=virtiofs,"
                         "tag=kataShared ");
    CHECK_CONTAINS(line, " -device vhost-vsock-device,id=vsock0,guest-cid=3,vhostfd=11 ");
    CHECK_CONTAINS(line, " -object rng-random,id=objrng0,filename=/dev/urandom -device "
                         "virtio-rng-device,rng=objrng0,id=rng0");
    /* Never a terminal-only serial, never seccomp off, no 9p, no PCI. */
    CHECK(strstr(line, "stdio") == NULL);
    CHECK(strstr(line, "-disable-seccomp") == NULL);
    CHECK(strstr(line, "-pci") == NULL);
    vm.virtiofsd.socket_path = NULL;
    vm_release(&vm);
}

/* The image takes replaceable slot 0 (root=/dev/vda), read-only as Kata
 * attaches it; the kernel gets microvm's parameters before the user's. */
TEST(image_is_vda_and_user_params_come_last)
{
    struct vm_config cfg = base_config();
    cfg.initrd = NULL;
    cfg.image = "/k/rootfs.img";
    cfg.kernel_params = "acpi=on agent.log=info";
    cfg.agent_params = "agent.log=debug";
    struct vm vm;
    vm_for(&vm, &cfg);
    cleanup_kerr struct kerr *e = NULL;
    cleanup_free char *line = argv_line(&vm, &e);
    CHECK(line != NULL);
    CHECK(strstr(line, "-initrd") == NULL);
    CHECK_CONTAINS(line, "-drive id=image,file=/k/rootfs.img,readonly=on,direct=off -device "
                         "virtio-blk-device,drive=image,id=image");
    CHECK(strstr(line, "mem-share") == NULL);
    const char *append = strstr(line, "-append ");
    CHECK(append != NULL);
    const char *root = strstr(append, "root=/dev/vda");
    const char *microvm = strstr(append, "pci=off iommu=off acpi=off");
    const char *agent = strstr(append, "agent.log=debug");
    const char *user = strstr(append, "acpi=on agent.log=info");
    CHECK(root && microvm && agent && user);
    CHECK(root < agent && agent < microvm && microvm < user);
    vm_release(&vm);
}

static void check_refused(const struct vm_config *cfg, bool vsock, const char *why, int *failed)
{
    struct vm vm;
    vm_for(&vm, cfg);
    vm.vsock = vsock;
    cleanup_kerr struct kerr *e = NULL;
    char **argv = stratovirt_build_argv(&vm, &e);
    vm_release(&vm);
    if (argv)
        kata_strv_free(argv);
    CHECK(argv == NULL);
    CHECK_CONTAINS(e->msg, why);
}

/* What microvm cannot take is refused before anything starts, naming it. */
TEST(microvm_limits_are_refused_with_the_reason)
{
    struct vm_config cfg = base_config();
    cfg.shared_fs = "virtio-9p";
    check_refused(&cfg, true, "shared_fs `virtio-9p`: StratoVirt has no 9p", failed);
    cfg = base_config();
    cfg.machine_type = "q35";
    check_refused(&cfg, true, "machine_type `q35`", failed);
    cfg = base_config();
    cfg.memory_mb = 64;
    check_refused(&cfg, true, "default_memory 64 MiB: StratoVirt takes 128", failed);
    cfg = base_config();
    struct vm_block_device disks[4] = {{.id = "a", .path = "/a"},
                                       {.id = "b", .path = "/b"},
                                       {.id = "c", .path = "/c"},
                                       {.id = "d", .path = "/d"}};
    cfg.image = "/k/rootfs.img";
    cfg.block_devices = disks;
    cfg.n_block_devices = 4;
    check_refused(&cfg, true, "5 disks at boot: microvm takes at most 4 virtio-blk", failed);
    cfg = base_config();
    struct vm_net_device nets[3] = {{.tap_fd = 7, .mac = "02:42:0a:58:00:02"},
                                    {.tap_fd = 8, .mac = "02:42:0a:58:00:03"},
                                    {.tap_fd = 9, .mac = "02:42:0a:58:00:04"}};
    cfg.net_devices = nets;
    cfg.n_net_devices = 3;
    check_refused(&cfg, true, "3 network devices: microvm takes at most 2", failed);
    cfg = base_config();
    cfg.block_devices = (struct vm_block_device[]){{.id = "a", .path = "/x,readonly=on"}};
    cfg.n_block_devices = 1;
    check_refused(&cfg, true,
                  "block device `/x,readonly=on`: StratoVirt cannot take a path with a comma",
                  failed);
    cfg = base_config();
    check_refused(&cfg, false, "needs `/dev/vhost-vsock` for the agent", failed);
    cfg = base_config();
    cfg.rootless = true;
    check_refused(&cfg, true, "rootless: not supported", failed);
}

static char *write_toml(const char *dir, const char *extra)
{
    char *path = xasprintf("%s/configuration.toml", dir);
    cleanup_free char *text = xasprintf("[hypervisor.stratovirt]\n"
                                        "path = \"/usr/bin/stratovirt\"\n"
                                        "kernel = \"/k/vmlinux\"\n"
                                        "image = \"/k/rootfs.img\"\n"
                                        "kernel_params = \"quiet=0\"\n"
                                        "default_vcpus = 1\n"
                                        "default_memory = 300\n"
                                        "shared_fs = \"none\"\n"
                                        "disable_vhost_net = true\n"
                                        "%s",
                                        extra);
    cleanup_kerr struct kerr *e = NULL;
    if (file_write_atomic(path, text, strlen(text), 0600, &e) < 0)
        printf("# %s\n", e->msg);
    return path;
}

/* The configuration reaches the driver through vm_config_from_kata(); keys
 * StratoVirt has no use for are warned about, values it cannot take are
 * refused at load with the file, line and key. */
TEST(configuration_keys_reach_the_command_line_or_are_refused)
{
    char dir[] = "/tmp/kata-stratovirt-config.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    cleanup_free char *path =
        write_toml(dir, "memory_slots = 4\nseccompsandbox = \"on\"\nrootless = true\n");
    cleanup_kerr struct kerr *e = NULL;
    cleanup_kata_config struct kata_config *cfg =
        kata_config_load(path, KATA_CONFIG_SKIP_ASSETS, &e);
    if (cfg == NULL)
        printf("# %s\n", e->msg);
    CHECK(cfg != NULL);
    CHECK_INT(kata_strv_len(cfg->warnings), 2);
    CHECK_CONTAINS(cfg->warnings[0], "`seccompsandbox` is not used by stratovirt; ignored");
    CHECK_CONTAINS(cfg->warnings[1], "`rootless` is not used by stratovirt; ignored");
    struct vm_config vc = {0};
    vm_config_from_kata(cfg, &vc);
    vc.run_dir = "/run/x";
    CHECK(!vc.rootless);
    struct vm vm;
    vm_for(&vm, &vc);
    cleanup_free char *line = argv_line(&vm, &e);
    vm_release(&vm);
    CHECK(line != NULL);
    CHECK_CONTAINS(line, "/usr/bin/stratovirt -machine type=microvm,dump-guest-core=off -smp 1 "
                         "-m 300 -kernel /k/vmlinux -append ");
    CHECK_CONTAINS(line, "acpi=off quiet=0 -qmp ");
    CHECK_CONTAINS(line, "-drive id=image,file=/k/rootfs.img,");
    cleanup_free char *q35 = write_toml(dir, "machine_type = \"q35\"\n");
    cleanup_kata_config struct kata_config *bad =
        kata_config_load(q35, KATA_CONFIG_SKIP_ASSETS, &e);
    cleanup_free char *rm = xasprintf("rm -rf '%s'", dir);
    if (system(rm) != 0)
        printf("# could not remove %s\n", dir);
    CHECK(bad == NULL);
    CHECK_CONTAINS(e->msg, "configuration.toml:10: [hypervisor.stratovirt] machine_type = \"q35\"");
}

TEST(capabilities_say_what_microvm_can_do)
{
    struct vm_config cfg = base_config();
    struct vm_capabilities caps;
    vm_capabilities(&stratovirt_ops, &cfg, &caps);
    CHECK_INT(caps.shared_fs, VM_CAP_FS(VM_SHARED_FS_NONE) | VM_CAP_FS(VM_SHARED_FS_VIRTIO_FS));
    CHECK(caps.blk_hotplug);
    CHECK(!caps.scsi_hotplug && !caps.cpu_hotplug && !caps.memory_hotplug);
    CHECK(caps.pause);
    CHECK(caps.needs_binary);
    CHECK(!caps.runs_without_kvm);
    CHECK_STR(caps.agent_channel, "vsock (vhost-vsock)");
    CHECK(caps.needs_vhost_vsock);
}

/* A scripted StratoVirt on a socketpair: its replies are queued before the
 * client reads them. */
static int peer = -1;

static struct qmp *scripted(const char *script, struct kerr **err)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return NULL;
    fd_write_full(sv[1], script, strlen(script));
    shutdown(sv[1], SHUT_WR);
    peer = sv[1];
    return qmp_open_ids(sv[0], QMP_ID_STRING, 1000000000ull, err);
}

static char *sent_by_client(void)
{
    static char sent[16384];
    ssize_t n = read(peer, sent, sizeof(sent) - 1);
    sent[n > 0 ? n : 0] = '\0';
    return sent;
}

#define GREETING                                                                                   \
    "{\"QMP\":{\"version\":{\"qemu\":{\"micro\":1,\"minor\":0,\"major\":5},\"package\":"           \
    "\"StratoVirt-2.4.0\"},\"capabilities\":[]}}\n"

/* The QMP document's lifecycle exchanges: events before the replies, ids
 * echoed as strings; a numeric id is not ours. */
TEST(lifecycle_over_qmp_uses_string_ids)
{
    cleanup_kerr struct kerr *e = NULL;
    struct qmp *q =
        scripted(GREETING "{\"return\":{},\"id\":\"1\"}\n"
                          "{\"event\":\"STOP\",\"data\":{},\"timestamp\":{\"seconds\":"
                          "1583908726,\"microseconds\":162739}}\n"
                          "{\"return\":{},\"id\":\"2\"}\n"
                          "{\"return\":{\"status\":\"running\"},\"id\":3}\n"
                          "{\"return\":{\"running\":true,\"singlestep\":false,"
                          "\"status\":\"paused\"},\"id\":\"3\"}\n"
                          "{\"event\":\"RESUME\",\"data\":{},\"timestamp\":{\"seconds\":"
                          "1583908853,\"microseconds\":411394}}\n"
                          "{\"return\":{},\"id\":\"4\"}\n",
                 &e);
    if (q == NULL)
        printf("# %s\n", e->msg);
    CHECK(q != NULL);
    CHECK_STR(qmp_version(q), "5.0.1");
    struct vm_config cfg = base_config();
    struct vm vm;
    vm_for(&vm, &cfg);
    stratovirt_state(&vm)->qmp = q;
    CHECK_INT(stratovirt_ops.pause(&vm, &e), 0);
    cleanup_free char *status = stratovirt_ops.status(&vm, &e);
    CHECK_STR(status, "paused");
    CHECK_INT(stratovirt_ops.resume(&vm, &e), 0);
    char *sent = sent_by_client();
    CHECK_CONTAINS(sent, "{\"execute\":\"qmp_capabilities\",\"id\":\"1\"}\n"
                         "{\"execute\":\"stop\",\"id\":\"2\"}\n"
                         "{\"execute\":\"query-status\",\"id\":\"3\"}\n"
                         "{\"execute\":\"cont\",\"id\":\"4\"}\n");
    vm_release(&vm);
    close(peer);
}

/* Older StratoVirt (the QMP document, openEuler's guide) names itself in the
 * greeting's version instead of a QEMU-like one: negotiated all the same. */
TEST(an_older_greeting_is_accepted)
{
    cleanup_kerr struct kerr *e = NULL;
    struct qmp *q = scripted("{\"QMP\":{\"version\":{\"StratoVirt\":{\"micro\":1,\"minor\":0,"
                             "\"major\":0},\"package\":\"\"},\"capabilities\":[]}}\n"
                             "{\"return\":{},\"id\":\"1\"}\n",
                             &e);
    if (q == NULL)
        printf("# %s\n", e->msg);
    CHECK(q != NULL);
    CHECK_STR(qmp_version(q), "");
    qmp_close(q);
    close(peer);
}

/* StratoVirt answers a request it cannot parse with an error and no id: the
 * command fails with its text instead of waiting out the timeout. */
TEST(an_error_without_id_fails_the_command)
{
    cleanup_kerr struct kerr *e = NULL;
    struct qmp *q = scripted(GREETING "{\"return\":{},\"id\":\"1\"}\n"
                                      "{\"error\":{\"class\":\"GenericError\",\"desc\":\"invalid "
                                      "type: integer `2`, expected a string\"}}\n",
                             &e);
    CHECK(q != NULL);
    CHECK_INT(qmp_execute(q, "stop", NULL, NULL, 1000000000ull, &e), -1);
    CHECK_STR(e->msg, "qmp `stop`: GenericError: invalid type: integer `2`, expected a string");
    qmp_close(q);
    close(peer);
}

/* microvm hot-plug as the QMP document and openEuler's guide show it:
 * blockdev-add (node-name = the device's id) then device_add
 * virtio-blk-mmio at the slot's addr; device_del alone, DEVICE_DELETED
 * before its reply.  Boot disks hold the first slots. */
TEST(disks_hotplug_into_microvm_replaceable_slots)
{
    cleanup_kerr struct kerr *e = NULL;
    struct qmp *q = scripted(
        GREETING "{\"return\":{},\"id\":\"1\"}\n"
                 "{\"return\":{},\"id\":\"2\"}\n{\"return\":{},\"id\":\"3\"}\n" /* hot a */
                 "{\"return\":{},\"id\":\"4\"}\n"                               /* blockdev b */
                 "{\"error\":{\"class\":\"GenericError\",\"desc\":\"The slot 2 is occupied "
                 "already.\"},\"id\":\"5\"}\n"
                 "{\"return\":{},\"id\":\"6\"}\n" /* blockdev-del b */
                 "{\"event\":\"DEVICE_DELETED\",\"data\":{\"device\":\"a\",\"path\":\"a\"},"
                 "\"timestamp\":{\"seconds\":1598513162,\"microseconds\":367129}}\n"
                 "{\"return\":{},\"id\":\"7\"}\n",
        &e);
    CHECK(q != NULL);
    struct vm_config cfg = base_config();
    cfg.initrd = NULL;
    cfg.image = "/k/rootfs.img";
    struct vm vm;
    vm_for(&vm, &cfg);
    struct stratovirt_state *ss = stratovirt_state(&vm);
    ss->qmp = q;
    ss->blk_ids[0] = xstrdup("image"); /* as launch records the boot disks */
    struct vm_block_device a = {.id = "a", .path = "/dev/loop7"}, b = {.id = "b", .path = "/x"};
    cleanup_free char *pa = NULL;
    CHECK_INT(stratovirt_ops.hotplug_block(&vm, &a, &pa, &e), 0);
    CHECK_STR(pa, "/dev/vdb");
    CHECK_INT(stratovirt_ops.hotplug_block(&vm, &b, NULL, &e), -1);
    CHECK_CONTAINS(e->msg, "hotplug `b`: qmp `device_add`: GenericError: The slot 2 is occupied");
    kerr_clear(&e);
    CHECK_INT(stratovirt_ops.unplug_block(&vm, "image", 1000000000ull, &e), -1);
    CHECK_CONTAINS(e->msg, "not a hotplugged device");
    kerr_clear(&e);
    struct vm_block_device scsi = {.id = "s", .path = "/x", .scsi = true};
    CHECK_INT(stratovirt_ops.hotplug_block(&vm, &scsi, NULL, &e), -1);
    CHECK_CONTAINS(e->msg, "no virtio-scsi");
    kerr_clear(&e);
    CHECK_INT(stratovirt_ops.unplug_block(&vm, "a", 1000000000ull, &e), 0);
    CHECK(ss->blk_ids[1] == NULL);
    /* json-c writes `/` as `\/`: a JSON escape StratoVirt's serde reads as `/`. */
    char *sent = sent_by_client();
    CHECK_CONTAINS(sent,
                   "{\"execute\":\"blockdev-add\",\"arguments\":{\"node-name\":\"a\","
                   "\"file\":{\"driver\":\"file\",\"filename\":\"\\/dev\\/loop7\"},\"cache\":{"
                   "\"direct\":true},\"read-only\":false},\"id\":\"2\"}\n"
                   "{\"execute\":\"device_add\",\"arguments\":{\"id\":\"a\",\"driver\":"
                   "\"virtio-blk-mmio\",\"addr\":\"0x1\"},\"id\":\"3\"}\n");
    CHECK_CONTAINS(sent,
                   "{\"execute\":\"device_add\",\"arguments\":{\"id\":\"b\",\"driver\":"
                   "\"virtio-blk-mmio\",\"addr\":\"0x2\"},\"id\":\"5\"}\n"
                   "{\"execute\":\"blockdev-del\",\"arguments\":{\"node-name\":\"b\"},"
                   "\"id\":\"6\"}\n"
                   "{\"execute\":\"device_del\",\"arguments\":{\"id\":\"a\"},\"id\":\"7\"}\n");
    vm_release(&vm);
    close(peer);
}

/* --- start and stop against the fake binary --- */

struct fixture {
    char dir[64];
    char *run_dir, *console, *log, *share, *virtiofsd;
    struct vm_config cfg;
    struct vm vm;
};

static bool fixture_setup(struct fixture *f, const char *mode, bool share)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/kata-stratovirt.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return false;
    f->run_dir = xasprintf("%s/vm", f->dir);
    f->console = xasprintf("%s/console.log", f->run_dir);
    f->log = xasprintf("%s/qmp-requests", f->dir);
    f->share = xasprintf("%s/share", f->dir);
    f->virtiofsd = xasprintf("%s/virtiofsd", f->dir);
    mkdir(f->share, 0700);
    int fd = open(f->virtiofsd, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0700);
    if (fd < 0)
        return false;
    fd_write_full(fd, "#!/bin/sh\nexec sleep 600\n", 25);
    close(fd);
    setenv("FAKE_STRATOVIRT_MODE", mode, 1);
    setenv("FAKE_STRATOVIRT_LOG", f->log, 1);
    f->cfg = base_config();
    f->cfg.hypervisor_path = FAKE_STRATOVIRT;
    f->cfg.run_dir = f->run_dir;
    f->cfg.console_path = f->console;
    if (share) {
        f->cfg.shared_fs = "virtio-fs";
        f->cfg.shared_dir = f->share;
        f->cfg.virtiofsd_path = f->virtiofsd;
    }
    vm_init(&f->vm, &stratovirt_ops, &f->cfg);
    f->vm.vsock = true;
    f->vm.cid = 3;
    return true;
}

static void fixture_teardown(struct fixture *f)
{
    cleanup_kerr struct kerr *e = NULL;
    if (f->vm.pid > 0)
        stratovirt_ops.stop(&f->vm, 0, &e);
    vm_release(&f->vm);
    cleanup_free char *cmd = xasprintf("rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", f->dir);
    free(f->run_dir);
    free(f->console);
    free(f->log);
    free(f->share);
    free(f->virtiofsd);
    unsetenv("FAKE_STRATOVIRT_MODE");
    unsetenv("FAKE_STRATOVIRT_LOG");
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* The relay appends what the guest's serial port wrote and holds an flock
 * on the file until StratoVirt, its only writer, is gone and all is written. */
static bool console_has(const char *path, const char *text)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || flock(fd, LOCK_SH) < 0)
        return false;
    cleanup_free char *content = NULL;
    return file_read_all(path, 1 << 20, &content, NULL, NULL) == 0 && strstr(content, text);
}

/* A binary that exits at once: the error names it and quotes its log;
 * nothing is left (no process, no virtiofsd, no socket). */
TEST(a_stratovirt_that_exits_at_once_is_reported_and_nothing_is_left)
{
    struct fixture f;
    CHECK(fixture_setup(&f, "exit", true));
    cleanup_kerr struct kerr *e = NULL;
    int r = stratovirt_launch(&f.vm, &e);
    pid_t virtiofsd = f.vm.virtiofsd.pid;
    cleanup_free char *fs_sock = xasprintf("%s/virtiofsd.sock", f.run_dir);
    bool socket_left = exists(fs_sock);
    cleanup_free char *qmp_sock = xasprintf("%s/qmp.sock", f.run_dir);
    bool qmp_left = exists(qmp_sock);
    cleanup_free char *msg = e ? xstrdup(e->msg) : NULL;
    pid_t pid = f.vm.pid;
    fixture_teardown(&f);
    CHECK_INT(r, -1);
    CHECK_CONTAINS(msg, "start StratoVirt `" FAKE_STRATOVIRT "`: StratoVirt exited (status 1)");
    CHECK_CONTAINS(msg, "KVM is not available");
    CHECK_INT(pid, 0);
    CHECK_INT(virtiofsd, 0);
    CHECK(!socket_left);
    CHECK(!qmp_left);
}

/* A running fake: QMP negotiated with string ids, pause/resume/status, a
 * disk hotplugged and unplugged, the console relayed to console.log, then
 * `quit`: StratoVirt and virtiofsd gone, no socket left. */
TEST(start_qmp_and_quit_against_the_fake)
{
    struct fixture f;
    CHECK(fixture_setup(&f, "serve", true));
    cleanup_kerr struct kerr *e = NULL;
    int r = stratovirt_launch(&f.vm, &e);
    if (r < 0)
        printf("# %s\n", e->msg);
    bool running = r == 0 && f.vm.pid > 0 && f.vm.virtiofsd.pid > 0;
    cleanup_free char *status = r == 0 ? stratovirt_ops.status(&f.vm, &e) : NULL;
    int paused = r == 0 ? stratovirt_ops.pause(&f.vm, &e) : -1;
    cleanup_free char *status2 = paused == 0 ? stratovirt_ops.status(&f.vm, &e) : NULL;
    int resumed = paused == 0 ? stratovirt_ops.resume(&f.vm, &e) : -1;
    struct vm_block_device d = {.id = "rootfs1", .path = "/dev/null"};
    cleanup_free char *guest = NULL;
    int plugged = resumed == 0 ? stratovirt_ops.hotplug_block(&f.vm, &d, &guest, &e) : -1;
    int unplugged =
        plugged == 0 ? stratovirt_ops.unplug_block(&f.vm, "rootfs1", 1000000000ull, &e) : -1;
    pid_t pids[VM_HOST_PIDS_MAX];
    size_t n = vm_host_pids(&f.vm, pids, VM_HOST_PIDS_MAX);
    int stopped = stratovirt_ops.stop(&f.vm, 5000000000ull, &e);
    bool console = console_has(f.console, "fake StratoVirt console: booting");
    pid_t after = f.vm.pid, fs_after = f.vm.virtiofsd.pid;
    cleanup_free char *qmp_sock = xasprintf("%s/qmp.sock", f.run_dir);
    bool qmp_left = exists(qmp_sock);
    cleanup_free char *requests = NULL;
    file_read_all(f.log, 1 << 20, &requests, NULL, NULL);
    fixture_teardown(&f);
    CHECK_INT(r, 0);
    CHECK(running);
    CHECK_INT(n, 2);
    CHECK_STR(status, "running");
    CHECK_STR(status2, "paused");
    CHECK_INT(resumed, 0);
    CHECK_INT(plugged, 0);
    CHECK_STR(guest, "/dev/vda"); /* no image: slot 0 is free */
    CHECK_INT(unplugged, 0);
    CHECK(console);
    CHECK_INT(stopped, 0);
    CHECK_INT(after, 0);
    CHECK_INT(fs_after, 0);
    CHECK(!qmp_left);
    CHECK_CONTAINS(requests, "{\"execute\":\"qmp_capabilities\",\"id\":\"1\"}");
    CHECK_CONTAINS(requests, "{\"execute\":\"quit\",\"id\":");
}

/* A StratoVirt that ignores `quit` and SIGTERM is killed after the grace
 * period. */
TEST(a_stratovirt_that_ignores_quit_is_killed)
{
    struct fixture f;
    CHECK(fixture_setup(&f, "hang", false));
    cleanup_kerr struct kerr *e = NULL;
    int r = stratovirt_launch(&f.vm, &e);
    if (r < 0)
        printf("# %s\n", e->msg);
    pid_t pid = f.vm.pid;
    int stopped = r == 0 ? stratovirt_ops.stop(&f.vm, 300000000ull, &e) : -1;
    pid_t after = f.vm.pid;
    fixture_teardown(&f);
    CHECK_INT(r, 0);
    CHECK(pid > 0);
    CHECK_INT(stopped, 0);
    CHECK_INT(after, 0);
    CHECK(kill(pid, 0) < 0);
}

/* The guest powers off before the agent answers: the SHUTDOWN event says so. */
TEST(a_guest_power_off_is_the_exit_reason)
{
    struct fixture f;
    CHECK(fixture_setup(&f, "poweroff", false));
    cleanup_kerr struct kerr *e = NULL;
    int r = stratovirt_launch(&f.vm, &e);
    if (r < 0)
        printf("# %s\n", e->msg);
    int fd = r == 0 ? stratovirt_ops.agent_connect(&f.vm, 20000000000ull, &e) : 0;
    cleanup_free char *msg = e ? xstrdup(e->msg) : NULL;
    pid_t after = f.vm.pid;
    fixture_teardown(&f);
    CHECK_INT(r, 0);
    CHECK_INT(fd, -1);
    CHECK_CONTAINS(msg, "StratoVirt exited (status 0) before the agent answered: the guest powered "
                        "off");
    CHECK_INT(after, 0);
}
