/* The firecracker driver: its request bodies, capabilities and refusals, and
 * its ops against fake-fc, a stand-in Firecracker process (boot sequence,
 * drive swaps, pause/resume/status, stop by SendCtrlAltDel or SIGKILL, a VMM
 * that dies at start, refuses a request or never answers; nothing left).
 * The bodies' conformance to Firecracker's API document is checked by
 * tests/integration/test_fc_api_schema.py (through tests/tools/fc-bodies). */
#include "dragonball_drives.h"
#include "firecracker.h"
#include "hypervisor.h"
#include "test.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SECOND 1000000000ull

/* ---- bodies ---- */

TEST(bodies_carry_the_document_s_field_names)
{
    struct vm_config cfg = {
        .kernel = "/k/vmlinux", .initrd = "/k/initrd", .vcpus = 2, .memory_mb = 512};
    cleanup_free char *mc = fc_machine_config_body(&cfg);
    cleanup_free char *bs = fc_boot_source_body(&cfg, "console=ttyS0 quiet");
    cleanup_free char *dr = fc_drive_body("rootfs", "/k/img", true);
    cleanup_free char *pd = fc_patch_drive_body("drive_0", "/dev/loop3");
    cleanup_free char *ni = fc_network_interface_body("eth0", "tap0_kata", "02:00:00:00:00:01");
    cleanup_free char *vs = fc_vsock_body("/run/sb/kata.hvsock");
    cleanup_free char *lg = fc_logger_body("/run/sb/fc-logger.log", false);
    cleanup_free char *mt = fc_metrics_body("/run/sb/fc-metrics.json");
    cleanup_free char *ac = fc_action_body("InstanceStart");
    cleanup_free char *st = fc_vm_state_body("Paused");
    CHECK_STR(mc, "{\"vcpu_count\":2,\"mem_size_mib\":512,\"smt\":false}");
    CHECK_STR(bs, "{\"kernel_image_path\":\"/k/vmlinux\",\"boot_args\":\"console=ttyS0 quiet\","
                  "\"initrd_path\":\"/k/initrd\"}");
    CHECK_STR(dr, "{\"drive_id\":\"rootfs\",\"path_on_host\":\"/k/img\",\"is_root_device\":false,"
                  "\"is_read_only\":true}");
    CHECK_STR(pd, "{\"drive_id\":\"drive_0\",\"path_on_host\":\"/dev/loop3\"}");
    CHECK_STR(ni, "{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap0_kata\","
                  "\"guest_mac\":\"02:00:00:00:00:01\"}");
    CHECK_STR(vs, "{\"guest_cid\":3,\"uds_path\":\"/run/sb/kata.hvsock\"}");
    CHECK_STR(lg, "{\"log_path\":\"/run/sb/fc-logger.log\",\"level\":\"Warning\","
                  "\"show_level\":true,\"show_log_origin\":false}");
    CHECK_STR(mt, "{\"metrics_path\":\"/run/sb/fc-metrics.json\"}");
    CHECK_STR(ac, "{\"action_type\":\"InstanceStart\"}");
    CHECK_STR(st, "{\"state\":\"Paused\"}");
}

TEST(instance_id_keeps_firecracker_s_alphabet)
{
    cleanup_free char *a = fc_instance_id("/run/kata/0123abcd-ef");
    cleanup_free char *b = fc_instance_id("/run/kata/a_b.c/");
    cleanup_free char *c = fc_instance_id("/run/kata/sb_x.y");
    cleanup_free char *d = fc_instance_id(NULL);
    char longdir[200] = "/r/";
    memset(longdir + 3, 'x', 100);
    longdir[103] = '\0';
    cleanup_free char *e = fc_instance_id(longdir);
    CHECK_STR(a, "0123abcd-ef");
    CHECK_STR(b, "kata");
    CHECK_STR(c, "sbxy");
    CHECK_STR(d, "kata");
    CHECK_INT(strlen(e), 64);
}

TEST(capabilities_and_table_entry)
{
    const struct hypervisor_ops *ops = hypervisor_find("firecracker");
    CHECK(ops == &firecracker_ops);
    struct vm_config cfg = {0};
    struct vm_capabilities caps;
    vm_capabilities(ops, &cfg, &caps);
    CHECK_INT(caps.shared_fs, VM_CAP_FS(VM_SHARED_FS_NONE));
    CHECK(caps.blk_hotplug);
    CHECK(!caps.scsi_hotplug);
    CHECK(!caps.cpu_hotplug);
    CHECK(!caps.memory_hotplug);
    CHECK(caps.pause);
    CHECK(caps.needs_binary);
    CHECK(!caps.runs_without_kvm);
    CHECK_CONTAINS(caps.agent_channel, "hybrid vsock");
}

static char *start_error(struct vm_config *cfg, enum vm_accel accel)
{
    struct vm vm;
    vm_init(&vm, &firecracker_ops, cfg);
    vm.accel = accel;
    struct kerr *err = NULL;
    int rc = vm.ops->start(&vm, &err);
    pid_t pid = vm.pid;
    vm_release(&vm);
    char *msg = rc < 0 && err && pid == 0 ? xstrdup(err->msg) : xstrdup("(started)");
    kerr_free(err);
    return msg;
}

TEST(start_refuses_what_it_cannot_run_naming_the_key)
{
    struct vm_config cfg = {.kernel = "/nonexistent/vmlinux",
                            .run_dir = "/tmp",
                            .hypervisor_path = "/nonexistent/firecracker",
                            .shared_fs = "virtio-fs"};
    cleanup_free char *fs = start_error(&cfg, VM_ACCEL_KVM);
    cfg.shared_fs = "none";
    cfg.jailer_path = "/usr/bin/jailer";
    cleanup_free char *jailer = start_error(&cfg, VM_ACCEL_KVM);
    cfg.jailer_path = NULL;
    cleanup_free char *tcg = start_error(&cfg, VM_ACCEL_TCG);
    cleanup_free char *binary = start_error(&cfg, VM_ACCEL_KVM);
    struct vm_block_device scsi = {.id = "d", .path = "/dev/null", .scsi = true};
    cfg.hypervisor_path = "/bin/true";
    cfg.kernel = "/dev/null";
    cfg.block_devices = &scsi;
    cfg.n_block_devices = 1;
    cleanup_free char *scsi_msg = start_error(&cfg, VM_ACCEL_KVM);
    scsi.scsi = false;
    scsi.id = "root-fs.1";
    cleanup_free char *id_msg = start_error(&cfg, VM_ACCEL_KVM);
    scsi.id = "drive_3";
    cleanup_free char *reserved = start_error(&cfg, VM_ACCEL_KVM);
    char longdir[160];
    memset(longdir, 'd', sizeof(longdir) - 1);
    longdir[0] = '/';
    longdir[sizeof(longdir) - 1] = '\0';
    cfg.run_dir = longdir;
    cfg.block_devices = NULL;
    cfg.n_block_devices = 0;
    cleanup_free char *too_long = start_error(&cfg, VM_ACCEL_KVM);
    CHECK_CONTAINS(too_long, "a unix socket path is at most 107 bytes");
    CHECK_CONTAINS(fs, "[hypervisor.firecracker] shared_fs `virtio-fs`: Firecracker has no shared");
    CHECK_CONTAINS(jailer, "[hypervisor.firecracker] jailer_path `/usr/bin/jailer`: starting "
                           "Firecracker through its jailer is not implemented");
    CHECK_CONTAINS(tcg, "hypervisor `firecracker` needs KVM");
    CHECK_CONTAINS(binary, "hypervisor `/nonexistent/firecracker`");
    CHECK_CONTAINS(scsi_msg, "block device `/dev/null`: Firecracker has no virtio-scsi");
    CHECK_CONTAINS(id_msg, "block device `/dev/null`: its id `root-fs.1` is not a Firecracker "
                           "drive_id");
    CHECK_CONTAINS(reserved, "its id `drive_3` is the driver's");
}

TEST(exit_reasons)
{
    struct vm vm = {0};
    CHECK_CONTAINS(firecracker_ops.exit_reason(&vm, 0), "the guest reset or powered off");
    CHECK_CONTAINS(firecracker_ops.exit_reason(&vm, 148 << 8), "seccomp");
    CHECK_CONTAINS(firecracker_ops.exit_reason(&vm, 1 << 8), "see its log");
    CHECK(firecracker_ops.exit_reason(&vm, SIGKILL) == NULL);
}

/* ---- start and stop against fake-fc (a stand-in VMM process) ---- */

struct fake_vmm {
    char dir[64];
    char kernel[128], console[128], log[128];
    struct vm_net_device net;
    struct vm_config cfg;
    struct vm vm;
};

static int fake_vmm_init(struct fake_vmm *t, const char *mode)
{
    snprintf(t->dir, sizeof(t->dir), "/tmp/test-fc-vmm.XXXXXX");
    if (mkdtemp(t->dir) == NULL)
        return -1;
    snprintf(t->kernel, sizeof(t->kernel), "%s/vmlinux", t->dir);
    snprintf(t->console, sizeof(t->console), "%s/console.log", t->dir);
    snprintf(t->log, sizeof(t->log), "%s/requests.log", t->dir);
    int fd = open(t->kernel, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    close(fd);
    setenv("FAKE_FC_MODE", mode, 1);
    setenv("FAKE_FC_LOG", t->log, 1);
    t->net = (struct vm_net_device){.tap_fd = -1, .mac = "02:00:00:00:00:01", .name = "tap0_kata"};
    t->cfg = (struct vm_config){.hypervisor_path = FAKE_FC_BIN,
                                .kernel = t->kernel,
                                .image = t->kernel,
                                .vcpus = 1,
                                .memory_mb = 128,
                                .run_dir = t->dir,
                                .console_path = t->console,
                                .shared_fs = "none",
                                .net_devices = &t->net,
                                .n_net_devices = 1};
    vm_init(&t->vm, &firecracker_ops, &t->cfg);
    t->vm.accel = VM_ACCEL_KVM; /* fake-fc needs none; the driver checks */
    return 0;
}

/* The requests fake-fc saw, "METHOD PATH" a line (bodies dropped). */
static char *fake_vmm_routes(struct fake_vmm *t)
{
    cleanup_free char *text = NULL;
    size_t len;
    if (file_read_all(t->log, 1 << 16, &text, &len, NULL) < 0)
        return xstrdup("");
    char *out = xcalloc(1, len + 1), *o = out;
    for (char *line = text; *line;) {
        char *end = strchr(line, '\n');
        char *space = strchr(line, ' ');
        char *second = space ? strchr(space + 1, ' ') : NULL;
        char *stop = second && (!end || second < end) ? second : end ? end : line + strlen(line);
        memcpy(o, line, (size_t)(stop - line));
        o += stop - line;
        *o++ = '\n';
        if (!end)
            break;
        line = end + 1;
    }
    return out;
}

static char *fake_vmm_requests(struct fake_vmm *t)
{
    char *text = NULL;
    size_t len;
    if (file_read_all(t->log, 1 << 16, &text, &len, NULL) < 0)
        return xstrdup("");
    return text;
}

/* Everything gone: no process, no socket, no placeholder; the directory
 * removed. */
static bool fake_vmm_done(struct fake_vmm *t, pid_t pid)
{
    vm_release(&t->vm);
    cleanup_free char *api = xasprintf("%s/firecracker.socket", t->dir);
    cleanup_free char *vsock = xasprintf("%s/kata.hvsock", t->dir);
    cleanup_free char *drive = xasprintf("%s/drive_0", t->dir);
    bool clean = (pid <= 0 || kill(pid, 0) < 0) && access(api, F_OK) < 0 &&
                 access(vsock, F_OK) < 0 && access(drive, F_OK) < 0;
    cleanup_free char *cmd = xasprintf("rm -rf '%s'", t->dir);
    if (system(cmd) != 0)
        clean = false;
    unsetenv("FAKE_FC_MODE");
    unsetenv("FAKE_FC_LOG");
    return clean;
}

/* A log relay holds an flock on its file until it wrote everything and
 * exited (the VMM, its last writer, is gone): wait for that, at most 5 s. */
static void relay_done(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    uint64_t deadline = now_ns() + 5 * SECOND;
    while (fd >= 0 && flock(fd, LOCK_SH | LOCK_NB) < 0 && now_ns() < deadline) {
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    if (fd >= 0)
        close(fd);
}

static const char boot_routes[] = "GET /\n"
                                  "PUT /logger\n"
                                  "PUT /metrics\n"
                                  "PUT /machine-config\n"
                                  "PUT /boot-source\n"
                                  "PUT /drives/rootfs\n"
                                  "PUT /drives/drive_0\n"
                                  "PUT /drives/drive_1\n"
                                  "PUT /drives/drive_2\n"
                                  "PUT /drives/drive_3\n"
                                  "PUT /drives/drive_4\n"
                                  "PUT /drives/drive_5\n"
                                  "PUT /drives/drive_6\n"
                                  "PUT /drives/drive_7\n"
                                  "PUT /network-interfaces/eth0\n"
                                  "PUT /vsock\n"
                                  "PUT /actions\n"
                                  "GET /\n";

TEST(start_boots_through_the_api_swaps_drives_and_stops)
{
    struct fake_vmm t;
    CHECK(fake_vmm_init(&t, "ok") == 0);
    cleanup_kerr struct kerr *err = NULL;
    int started = t.vm.ops->start(&t.vm, &err);
    if (started < 0)
        printf("#   start: %s\n", err->msg);
    pid_t pid = t.vm.pid;
    cleanup_kerr struct kerr *e2 = NULL;
    int agent = started == 0 ? t.vm.ops->agent_connect(&t.vm, 5 * SECOND, &e2) : -1;
    if (agent >= 0)
        close(agent);
    cleanup_free char *placeholder0 = xasprintf("%s/drive_0", t.dir);
    struct stat st0;
    bool placeholder_empty = stat(placeholder0, &st0) == 0 && st0.st_size == 0;
    /* A disk in drive_0 (/dev/vdb: the image is vda), out again. */
    struct vm_block_device d = {.id = "ctr1", .path = "/dev/loop9"};
    cleanup_free char *guest = NULL, *dup = NULL;
    cleanup_kerr struct kerr *e3 = NULL, *e4 = NULL, *e5 = NULL, *e6 = NULL;
    int plugged = started == 0 ? t.vm.ops->hotplug_block(&t.vm, &d, &guest, &e3) : -1;
    int twice = plugged == 0 ? t.vm.ops->hotplug_block(&t.vm, &d, &dup, &e4) : 0;
    int unplugged = plugged == 0 ? t.vm.ops->unplug_block(&t.vm, "ctr1", SECOND, &e5) : -1;
    int again = t.vm.ops->unplug_block(&t.vm, "ctr1", SECOND, &e6);
    /* pause, status, resume, a resume too many */
    cleanup_kerr struct kerr *p1 = NULL, *p2 = NULL, *p3 = NULL, *p4 = NULL, *p5 = NULL;
    int paused = vm_pause(&t.vm, &p1);
    cleanup_free char *paused_state = t.vm.ops->status(&t.vm, &p2);
    int resumed = vm_resume(&t.vm, &p3);
    int resumed2 = vm_resume(&t.vm, &p4);
    cleanup_free char *state = t.vm.ops->status(&t.vm, &p5);
    pid_t pids[VM_HOST_PIDS_MAX];
    size_t n_pids = vm_host_pids(&t.vm, pids, VM_HOST_PIDS_MAX);
    cleanup_kerr struct kerr *e7 = NULL;
    int stopped = t.vm.ops->stop(&t.vm, 5 * SECOND, &e7);
    pid_t after = t.vm.pid;
    cleanup_free char *routes = fake_vmm_routes(&t);
    cleanup_free char *requests = fake_vmm_requests(&t);
    cleanup_free char *patch0 = xasprintf("PATCH /drives/drive_0 {\"drive_id\":\"drive_0\","
                                          "\"path_on_host\":\"%s/drive_0\"}\n",
                                          t.dir);
    cleanup_free char *vsock = xasprintf("PUT /vsock {\"guest_cid\":3,\"uds_path\":\"%s/"
                                         "kata.hvsock\"}\n",
                                         t.dir);
    cleanup_free char *id = xasprintf("%s", strrchr(t.dir, '/') + 1);
    cleanup_free char *logger_path = xasprintf("%s/fc-logger.log", t.dir);
    cleanup_free char *metrics_path = xasprintf("%s/fc-metrics.json", t.dir);
    cleanup_free char *logger = NULL, *metrics = NULL;
    size_t len;
    relay_done(logger_path);
    relay_done(metrics_path);
    file_read_all(logger_path, 4096, &logger, &len, NULL);
    file_read_all(metrics_path, 4096, &metrics, &len, NULL);
    bool clean = fake_vmm_done(&t, pid);
    CHECK_STR(logger, "fake-fc /logger up\n");
    CHECK_STR(metrics, "fake-fc /metrics up\n");
    CHECK_CONTAINS(requests, "PUT /logger {\"log_path\":\"/proc/self/fd/");
    CHECK_INT(started, 0);
    CHECK(pid > 0);
    CHECK(agent >= 0);
    CHECK(placeholder_empty);
    CHECK_INT(plugged, 0);
    CHECK_STR(guest, "/dev/vdb");
    CHECK_INT(twice, -1);
    CHECK_INT(e4->status, EEXIST);
    CHECK_INT(unplugged, 0);
    CHECK_INT(again, -1);
    CHECK_INT(e6->status, ENOENT);
    CHECK_INT(paused, 0);
    CHECK_STR(paused_state, "paused");
    CHECK_INT(resumed, 0);
    CHECK_INT(resumed2, -1);
    CHECK_CONTAINS(p4->msg, "`PATCH /vm`: HTTP 400: Resume: the microVM is not paused; the "
                            "request's body: {\"state\":\"Resumed\"}");
    CHECK_STR(state, "running");
    CHECK_INT(n_pids, 1);
    CHECK_INT(pids[0], pid);
    CHECK_INT(stopped, 0);
    CHECK_INT(after, 0);
    CHECK(clean);
    CHECK_CONTAINS(routes, boot_routes);
    CHECK_CONTAINS(routes, "PATCH /drives/drive_0\nPATCH /drives/drive_0\nPATCH /vm\nGET /\n"
                           "PATCH /vm\nPATCH /vm\nGET /\nPUT /actions\n");
    CHECK_CONTAINS(requests, "PATCH /drives/drive_0 {\"drive_id\":\"drive_0\","
                             "\"path_on_host\":\"/dev/loop9\"}\n");
    CHECK_CONTAINS(requests, patch0);
    CHECK_CONTAINS(requests, vsock);
    CHECK_CONTAINS(requests,
                   "PUT /network-interfaces/eth0 {\"iface_id\":\"eth0\","
                   "\"host_dev_name\":\"tap0_kata\",\"guest_mac\":\"02:00:00:00:00:01\"}");
    CHECK_CONTAINS(requests, "PUT /actions {\"action_type\":\"SendCtrlAltDel\"}\n");
    CHECK(id[0] != '\0');
}

TEST(a_vmm_that_dies_at_start_is_reported_with_its_log)
{
    struct fake_vmm t;
    CHECK(fake_vmm_init(&t, "die") == 0);
    cleanup_kerr struct kerr *err = NULL;
    int started = t.vm.ops->start(&t.vm, &err);
    pid_t pid = t.vm.pid;
    bool clean = fake_vmm_done(&t, pid);
    printf("#   %s\n", err ? err->msg : "(no error)");
    CHECK_INT(started, -1);
    CHECK_INT(pid, 0);
    CHECK(clean);
    CHECK_CONTAINS(err->msg, "Firecracker exited (status 1)");
    CHECK_CONTAINS(err->msg, "the VMM failed");
    CHECK_CONTAINS(err->msg, "cannot open /dev/kvm \\x1b[1m");
}

TEST(a_refused_request_names_the_endpoint_and_body_and_the_vmm_is_stopped)
{
    struct fake_vmm t;
    CHECK(fake_vmm_init(&t, "boot-400") == 0);
    cleanup_kerr struct kerr *err = NULL;
    int started = t.vm.ops->start(&t.vm, &err);
    pid_t pid = t.vm.pid;
    cleanup_free char *routes = fake_vmm_routes(&t);
    cleanup_free char *kernel = xstrdup(t.kernel);
    bool clean = fake_vmm_done(&t, pid);
    printf("#   %s\n", err ? err->msg : "(no error)");
    CHECK_INT(started, -1);
    CHECK_INT(pid, 0);
    CHECK(clean);
    CHECK_INT(err->status, EINVAL);
    CHECK_CONTAINS(err->msg, "start Firecracker `" FAKE_FC_BIN "`: `PUT /boot-source`: HTTP 400: "
                             "Invalid kernel path: No such \\x1b file; the request's body: "
                             "{\"kernel_image_path\":\"");
    CHECK_CONTAINS(err->msg, kernel);
    /* Never started: no SendCtrlAltDel, a SIGTERM. */
    CHECK_STR(routes, "GET /\nPUT /logger\nPUT /metrics\nPUT /machine-config\nPUT /boot-source\n");
}

TEST(a_vmm_that_ignores_ctrl_alt_del_is_killed_after_the_grace_period)
{
    struct fake_vmm t;
    CHECK(fake_vmm_init(&t, "deaf") == 0);
    cleanup_kerr struct kerr *err = NULL, *e2 = NULL;
    int started = t.vm.ops->start(&t.vm, &err);
    pid_t pid = t.vm.pid;
    int stopped = t.vm.ops->stop(&t.vm, SECOND / 5, &e2);
    pid_t after = t.vm.pid;
    cleanup_free char *routes = fake_vmm_routes(&t);
    bool clean = fake_vmm_done(&t, pid);
    CHECK_INT(started, 0);
    CHECK(pid > 0);
    CHECK_INT(stopped, 0);
    CHECK_INT(after, 0);
    CHECK_CONTAINS(routes, "PUT /actions\nGET /\nPUT /actions\n");
    CHECK(clean);
}

TEST(a_vmm_that_never_answers_times_out_and_is_killed)
{
    struct fake_vmm t;
    CHECK(fake_vmm_init(&t, "silent") == 0);
    cleanup_kerr struct kerr *err = NULL;
    int started = t.vm.ops->start(&t.vm, &err);
    pid_t pid = t.vm.pid;
    bool clean = fake_vmm_done(&t, pid);
    printf("#   %s\n", err ? err->msg : "(no error)");
    CHECK_INT(started, -1);
    CHECK_INT(pid, 0);
    CHECK(clean);
    CHECK_INT(err->status, ETIMEDOUT);
    CHECK_CONTAINS(err->msg, "Firecracker did not answer `GET /` within 10 s (");
}

/* ---- the placeholder-drive pool (shared with dragonball) with scripted ops ---- */

static unsigned swaps;
static char swapped[4][64];
static bool pool_seen_flags[DRIVE_POOL_MAX];

static int script_update(struct vm *vm, unsigned k, const char *path, bool readonly,
                         struct kerr **err)
{
    (void)vm, (void)readonly, (void)err;
    snprintf(swapped[swaps++ % 4], sizeof(swapped[0]), "%u %s", k, path);
    pool_seen_flags[k] = false; /* the guest has not read the new size yet */
    return 0;
}

static int script_seen(struct vm *vm, bool seen[DRIVE_POOL_MAX], struct kerr **err)
{
    (void)vm, (void)err;
    memcpy(seen, pool_seen_flags, sizeof(pool_seen_flags));
    return 0;
}

TEST(drive_pool_plugs_the_first_free_read_drive_and_waits_on_unplug)
{
    char dir[] = "/tmp/test-fc-pool.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    struct vm_config cfg = {.run_dir = dir, .image = "/i"};
    struct vm vm;
    vm_init(&vm, &firecracker_ops, &cfg);
    struct drive_pool pool = {0};
    const struct drive_pool_ops ops = {
        .what = "the script", .update = script_update, .seen = script_seen};
    swaps = 0;
    for (unsigned k = 0; k < DRIVE_POOL_MAX; k++)
        pool_seen_flags[k] = k != 0;       /* drive_0 not read yet: drive_1 is taken first */
    unsigned n = drive_pool_size(&cfg, 3); /* the image takes 1 of 3 slots */
    cleanup_kerr struct kerr *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL;
    int created = drive_pool_create(&vm, &pool, n, 1, &e1);
    cleanup_free char *file1 = xasprintf("%s/drive_1", dir);
    bool exists = access(file1, F_OK) == 0;
    struct vm_block_device a = {.id = "a", .path = "/dev/a"}, b = {.id = "b", .path = "/dev/b"};
    cleanup_free char *ga = NULL, *gb = NULL;
    int pa = drive_pool_plug(&vm, &pool, &ops, &a, &ga, &e2);
    pool_seen_flags[0] = true;
    int pb = drive_pool_plug(&vm, &pool, &ops, &b, &gb, &e2);
    struct vm_block_device c = {.id = "c", .path = "/dev/c"};
    cleanup_free char *gc = NULL;
    int pc = drive_pool_plug(&vm, &pool, &ops, &c, &gc, &e3);
    int ua = drive_pool_unplug(&vm, &pool, &ops, "a", 50000000ull, &e4); /* never read */
    drive_pool_remove(&vm, &pool);
    bool gone = access(file1, F_OK) < 0;
    vm_release(&vm);
    rmdir(dir);
    CHECK_INT(n, 2);
    CHECK_INT(created, 0);
    CHECK(exists);
    CHECK_INT(pa, 0);
    CHECK_STR(ga, "/dev/vdc"); /* drive_1, the third disk */
    CHECK_INT(pb, 0);
    CHECK_STR(gb, "/dev/vdb");
    CHECK_INT(pc, -1);
    CHECK_INT(e3->status, ENOSPC);
    CHECK_CONTAINS(e3->msg, "all 2 drives of the script are in use");
    CHECK_INT(ua, -1);
    CHECK_INT(e4->status, ETIMEDOUT);
    CHECK_CONTAINS(e4->msg, "the disk is out; the drive waits");
    CHECK_STR(swapped[0], "1 /dev/a");
    CHECK_STR(swapped[1], "0 /dev/b");
    cleanup_free char *back = xasprintf("1 %s/drive_1", dir);
    CHECK_STR(swapped[2], back);
    CHECK(gone);
}
