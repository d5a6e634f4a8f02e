/* The shim's sandbox (src/shim/sandbox.c) booted with the test-only mock
 * driver instead of a VM: a boot against a fake agent and its teardown, a
 * VM that does not boot, an agent that never answers (bounded by [agent]
 * dial_timeout), a refused disk hotplug, and the cleanup after a daemon
 * crash (the recorded VMM killed by pid and start time, nothing left; a pid
 * whose start time differs spared). */
#include "config.h"
#include "loop.h"
#include "mock_driver.h"
#include "proc_ref.h"
#include "shim.h"
#include "test.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SANDBOX_ID "sb1"

struct fixture {
    char dir[64];
    char *conf, *state_dir;
    struct shim shim;
    Grpc__Spec spec;
};

static void write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
    cleanup_free char *path = xasprintf("%s/%s", dir, name);
    if (file_write_atomic(path, text, strlen(text), mode, NULL) < 0)
        abort();
}

static void fixture_init(struct fixture *f, unsigned dial_timeout)
{
    mock_reset();
    memset(f, 0, sizeof(*f));
    signal(SIGPIPE, SIG_IGN);
    snprintf(f->dir, sizeof(f->dir), "/tmp/kata-test-sandbox.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        abort();
    write_file(f->dir, "vmlinux", "k", 0644);
    write_file(f->dir, "initrd.img", "i", 0644);
    write_file(f->dir, "vmm", "#!/bin/sh\nexit 1\n", 0755);
    cleanup_free char *conf = xasprintf("[hypervisor.qemu]\n"
                                        "path = \"%s/vmm\"\n"
                                        "kernel = \"%s/vmlinux\"\n"
                                        "initrd = \"%s/initrd.img\"\n"
                                        "shared_fs = \"none\"\n"
                                        "[agent.kata]\n"
                                        "dial_timeout = %u\n",
                                        f->dir, f->dir, f->dir, dial_timeout);
    write_file(f->dir, "configuration.toml", conf, 0644);
    f->conf = xasprintf("%s/configuration.toml", f->dir);
    cleanup_free char *state = xasprintf("%s/state", f->dir);
    cleanup_free char *shared = xasprintf("%s/shared", f->dir);
    f->state_dir = xasprintf("%s/" SANDBOX_ID, state);
    setenv("KATA_CONF_FILE", f->conf, 1);
    setenv("KATA_STATE_DIR", state, 1);
    setenv("KATA_SHARED_DIR", shared, 1);
    f->shim.loop = loop_new(NULL);
    grpc__spec__init(&f->spec);
}

static void fixture_fini(struct fixture *f)
{
    shim_teardown(&f->shim);
    loop_free(f->shim.loop);
    cleanup_free char *cmd = xasprintf("rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "# could not remove %s\n", f->dir);
    free(f->conf);
    free(f->state_dir);
    mock_reset();
}

static int boot(struct fixture *f, struct kerr **err)
{
    struct sandbox_boot_args args = {
        .sandbox_id = SANDBOX_ID, .spec = &f->spec, .driver = &mock_ops};
    return sandbox_boot(&f->shim, &args, err);
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Gone, reaped by whoever is its parent now (us, when we are a subreaper). */
static bool gone_within(pid_t pid, unsigned ms)
{
    for (unsigned i = 0; i < ms / 5; i++) {
        waitpid(pid, NULL, WNOHANG);
        if (kill(pid, 0) < 0 && errno == ESRCH)
            return true;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return false;
}

/* The first of state.json's vm_processes. */
static struct proc_ref recorded_vmm(const char *state_dir)
{
    struct proc_ref p = {0, 0};
    cleanup_free char *path = xasprintf("%s/state.json", state_dir);
    struct json_object *o = json_object_from_file(path), *a, *v;
    if (o && json_object_object_get_ex(o, "vm_processes", &a) && json_object_array_length(a) > 0) {
        struct json_object *first = json_object_array_get_idx(a, 0);
        if (json_object_object_get_ex(first, "pid", &v))
            p.pid = json_object_get_int(v);
        if (json_object_object_get_ex(first, "start", &v))
            p.start = json_object_get_uint64(v);
    }
    json_object_put(o);
    return p;
}

TEST(a_sandbox_boots_against_the_fake_agent_and_tears_down)
{
    struct fixture f;
    fixture_init(&f, 10);
    mock.vm = MOCK_VM_AGENT;
    cleanup_kerr struct kerr *e = NULL;
    CHECK_INT(boot(&f, &e), 0);
    pid_t vmm = f.shim.sandbox->vm.pid;
    CHECK(vmm > 0);
    CHECK_INT(mock.calls->checks, 1);
    CHECK_INT(mock.calls->create_sandbox, 1);
    CHECK_INT(mock.calls->update_interface, 1); /* the guest's loopback */
    struct proc_ref rec = recorded_vmm(f.state_dir);
    CHECK_INT(rec.pid, vmm);
    CHECK(proc_ref_alive(&rec));
    shim_teardown(&f.shim);
    CHECK(f.shim.sandbox == NULL);
    CHECK_INT(mock.calls->destroy_sandbox, 1);
    CHECK_INT(mock.stops, 1);
    CHECK(kill(vmm, 0) < 0 && errno == ESRCH);
    CHECK(!exists(f.state_dir));
    fixture_fini(&f);
}

TEST(a_vm_that_does_not_boot_is_an_error_and_leaves_nothing)
{
    struct fixture f;
    fixture_init(&f, 10);
    mock.start_errno = EIO;
    cleanup_kerr struct kerr *e = NULL;
    CHECK_INT(boot(&f, &e), -1);
    CHECK_CONTAINS(e->msg, "boot sandbox `" SANDBOX_ID "`: mock: the VM does not boot");
    shim_teardown(&f.shim);
    CHECK_INT(mock.stops, 0); /* never started */
    CHECK(!exists(f.state_dir));
    fixture_fini(&f);
}

TEST(an_agent_that_never_answers_fails_within_dial_timeout)
{
    struct fixture f;
    fixture_init(&f, 1);
    mock.vm = MOCK_VM_SILENT;
    cleanup_kerr struct kerr *e = NULL;
    uint64_t t0 = now_ns();
    CHECK_INT(boot(&f, &e), -1);
    /* A bound far above the 1 s asked for, below the 60 s default. */
    CHECK(now_ns() - t0 < 30ull * 1000000000ull);
    CHECK_CONTAINS(e->msg, "the agent did not answer within 1 s ([agent] dial_timeout in `");
    CHECK_CONTAINS(e->msg, f.conf);
    pid_t vmm = f.shim.sandbox->vm.pid;
    CHECK(vmm > 0);
    shim_teardown(&f.shim);
    CHECK_INT(mock.stops, 1);
    CHECK(kill(vmm, 0) < 0 && errno == ESRCH);
    CHECK(!exists(f.state_dir));
    fixture_fini(&f);
}

TEST(a_refused_disk_hotplug_fails_the_container_not_the_sandbox)
{
    struct fixture f;
    fixture_init(&f, 10);
    mock.vm = MOCK_VM_AGENT;
    cleanup_kerr struct kerr *e = NULL;
    CHECK_INT(boot(&f, &e), 0);
    mock.hotplug_errno = ENOSPC;
    struct blockroot *br = xcalloc(1, sizeof(*br));
    br->device = xstrdup("/dev/loop9");
    br->fstype = xstrdup("ext4");
    struct container c = {.id = "c1", .blockroot = br};
    Grpc__Spec spec = GRPC__SPEC__INIT;
    Grpc__Storage *storage = NULL;
    CHECK_INT(blockroot_plug(&f.shim, &c, &spec, &storage, &e), -1);
    CHECK(storage == NULL);
    CHECK_CONTAINS(e->msg, "container `c1`: rootfs `/dev/loop9`: mock: hotplug `rootfs0` refused");
    kerr_clear(&e);
    CHECK_INT(agent_health_check(&f.shim, 5000000000ull, NULL, &e), 0); /* still serving */
    CHECK_INT(mock.calls->checks, 2);
    blockroot_free(c.blockroot);
    fixture_fini(&f);
}

/* A daemon (a child of ours) boots the sandbox and is SIGKILLed; its VMM
 * stays.  The cleanup from the state kills the recorded VMM: nothing left. */
TEST(the_cleanup_after_a_daemon_crash_kills_the_recorded_vmm)
{
    struct fixture f;
    fixture_init(&f, 10);
    mock.vm = MOCK_VM_AGENT;
    mock.vm_outlives_agent = true;
    int p[2];
    CHECK_INT(pipe(p), 0);
    pid_t daemon = fork();
    if (daemon == 0) {
        close(p[0]);
        f.shim.loop = loop_new(NULL); /* not the epoll instance we share */
        pid_t vmm = boot(&f, NULL) == 0 ? f.shim.sandbox->vm.pid : 0;
        if (write(p[1], &vmm, sizeof(vmm)) != sizeof(vmm))
            _exit(1);
        for (;;)
            pause();
    }
    close(p[1]);
    pid_t vmm = 0;
    CHECK_INT(read(p[0], &vmm, sizeof(vmm)), (int)sizeof(vmm));
    close(p[0]);
    kill(daemon, SIGKILL);
    waitpid(daemon, NULL, 0);
    CHECK(vmm > 0);
    struct proc_ref rec = recorded_vmm(f.state_dir);
    CHECK_INT(rec.pid, vmm);
    CHECK(proc_ref_alive(&rec)); /* the VMM outlived its daemon */
    CHECK(sandbox_daemon_gone(f.state_dir));
    cleanup_kerr struct kerr *e = NULL;
    CHECK_INT(sandbox_cleanup_from_state(f.state_dir, &e), 0);
    CHECK(gone_within(vmm, 10000));
    CHECK(!exists(f.state_dir));
    if (vmm > 0 && !gone_within(vmm, 0))
        kill(vmm, SIGKILL);
    fixture_fini(&f);
}

/* A recorded pid whose start time is not the recorded one is another
 * process now: the cleanup leaves it alone. */
TEST(the_cleanup_spares_a_pid_whose_start_time_differs)
{
    struct fixture f;
    fixture_init(&f, 10);
    pid_t other = fork();
    if (other == 0) {
        for (;;)
            pause();
    }
    struct proc_ref real;
    CHECK_INT(proc_ref_of(other, &real), 0);
    cleanup_free char *state = xasprintf("{\"sandbox_id\": \"" SANDBOX_ID "\", \"vm_processes\": "
                                         "[{\"pid\": %d, \"start\": %llu}]}",
                                         (int)other, (unsigned long long)real.start + 1);
    CHECK_INT(mkdir_all(f.state_dir, 0700, NULL), 0);
    write_file(f.state_dir, "state.json", state, 0600);
    cleanup_kerr struct kerr *e = NULL;
    CHECK_INT(sandbox_cleanup_from_state(f.state_dir, &e), 0);
    CHECK(proc_ref_alive(&real));
    CHECK(!exists(f.state_dir));
    kill(other, SIGKILL);
    waitpid(other, NULL, 0);
    fixture_fini(&f);
}

/* A container's Create boots the sandbox: with shared_fs = "none" a rootfs
 * that is no block device cannot reach the guest.  The error names the
 * container, the key and the rootfs; the VM never starts; nothing is left. */
TEST(a_create_whose_rootfs_cannot_reach_the_guest_fails_and_leaves_nothing)
{
    struct fixture f;
    fixture_init(&f, 10);
    mock.vm = MOCK_VM_AGENT;
    f.shim.driver = &mock_ops;
    cleanup_free char *bundle = xasprintf("%s/bundle", f.dir);
    cleanup_free char *rootfs = xasprintf("%s/rootfs", bundle);
    CHECK_INT(mkdir_all(rootfs, 0755, NULL), 0);
    write_file(bundle, "config.json",
               "{\"ociVersion\": \"1.1.0\", \"root\": {\"path\": \"rootfs\"}, "
               "\"process\": {\"args\": [\"true\"], \"cwd\": \"/\"}}",
               0644);
    Containerd__Task__V2__CreateTaskRequest req = CONTAINERD__TASK__V2__CREATE_TASK_REQUEST__INIT;
    req.id = SANDBOX_ID;
    req.bundle = bundle;
    struct container *c = NULL;
    cleanup_kerr struct kerr *e = NULL;
    CHECK_INT(container_create(&f.shim, &req, &c, &e), -1);
    CHECK(c == NULL);
    CHECK_CONTAINS(e->msg, "create container `" SANDBOX_ID "`: boot sandbox `" SANDBOX_ID "`");
    CHECK_CONTAINS(e->msg, "shared_fs = \"none\" in `");
    CHECK_CONTAINS(e->msg, rootfs);
    CHECK_INT(mock.starts, 0);
    CHECK(f.shim.sandbox == NULL && f.shim.containers == NULL);
    CHECK(!exists(f.state_dir));
    fixture_fini(&f);
}
