/* The harness for drivers against a stand-in VMM process (fake_vmm.h). */
#include "fake_vmm.h"
#include "test.h"
#include "util.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int fake_vmm_init(struct fake_vmm *t, const struct fake_vmm_kind *kind, const char *binary,
                  const char *mode)
{
    t->kind = kind;
    t->pipe[0] = t->pipe[1] = -1;
    snprintf(t->dir, sizeof(t->dir), "/tmp/test-%s-vmm.XXXXXX", kind->name);
    if (mkdtemp(t->dir) == NULL || pipe2(t->pipe, O_CLOEXEC) < 0)
        return -1;
    snprintf(t->kernel, sizeof(t->kernel), "%s/vmlinux", t->dir);
    snprintf(t->console, sizeof(t->console), "%s/console.log", t->dir);
    snprintf(t->log, sizeof(t->log), "%s/requests.log", t->dir);
    int fd = open(t->kernel, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    close(fd);
    setenv(kind->mode_env, mode, 1);
    setenv(kind->log_env, t->log, 1);
    t->net = (struct vm_net_device){.tap_fd = -1, .mac = "02:00:00:00:00:01"};
    t->cfg = (struct vm_config){.hypervisor_path = binary,
                                .kernel = t->kernel,
                                .vcpus = 1,
                                .memory_mb = 128,
                                .run_dir = t->dir,
                                .console_path = t->console,
                                .net_devices = &t->net,
                                .n_net_devices = 1};
    if (kind->configure)
        kind->configure(t);
    vm_init(&t->vm, kind->ops, &t->cfg);
    t->vm.accel = VM_ACCEL_KVM;
    return 0;
}

char *fake_vmm_requests(struct fake_vmm *t)
{
    char *text = NULL;
    size_t len;
    if (file_read_all(t->log, 1 << 16, &text, &len, NULL) < 0)
        return xstrdup("");
    return text;
}

bool fake_vmm_done(struct fake_vmm *t, pid_t pid)
{
    vm_release(&t->vm);
    for (int i = 0; i < 2; i++)
        if (t->pipe[i] >= 0)
            close(t->pipe[i]);
    bool clean = pid <= 0 || kill(pid, 0) < 0;
    for (const char *const *f = t->kind->leftovers; *f; f++) {
        cleanup_free char *path = xasprintf("%s/%s", t->dir, *f);
        if (access(path, F_OK) == 0)
            clean = false;
    }
    cleanup_free char *cmd = xasprintf("rm -rf '%s'", t->dir);
    if (system(cmd) != 0)
        clean = false;
    unsetenv(t->kind->mode_env);
    unsetenv(t->kind->log_env);
    return clean;
}

bool fake_vmm_boot(struct fake_vmm *t)
{
    cleanup_kerr struct kerr *err = NULL;
    if (t->vm.ops->start(&t->vm, &err) < 0) {
        printf("#   start: %s\n", err->msg);
        return false;
    }
    int agent = t->vm.ops->agent_connect(&t->vm, 5 * SECOND, &err);
    if (agent < 0) {
        printf("#   agent_connect: %s\n", err->msg);
        return false;
    }
    close(agent);
    return t->vm.pid > 0;
}

bool fake_vmm_stop(struct fake_vmm *t, uint64_t grace_ns)
{
    pid_t pid = t->vm.pid, pids[VM_HOST_PIDS_MAX];
    size_t n_pids = vm_host_pids(&t->vm, pids, VM_HOST_PIDS_MAX);
    if (n_pids != 1 || pids[0] != pid) {
        printf("#   host pids: %zu, not the VMM %d alone\n", n_pids, (int)pid);
        return false;
    }
    cleanup_kerr struct kerr *err = NULL;
    if (t->vm.ops->stop(&t->vm, grace_ns, &err) < 0) {
        printf("#   stop: %s\n", err->msg);
        return false;
    }
    return t->vm.pid == 0;
}

static void check_failure(int *failed, const struct fake_vmm_kind *kind, const char *binary,
                          const struct fake_vmm_failure *f)
{
    struct fake_vmm t;
    printf("#   mode %s\n", f->mode);
    CHECK(fake_vmm_init(&t, kind, binary, f->mode) == 0);
    cleanup_kerr struct kerr *err = NULL;
    int started = t.vm.ops->start(&t.vm, &err);
    pid_t pid = t.vm.pid;
    cleanup_free char *log = fake_vmm_requests(&t);
    cleanup_free char *requests = kind->requests_view ? kind->requests_view(log) : xstrdup(log);
    cleanup_free char *kernel = xstrdup(t.kernel);
    bool clean = fake_vmm_done(&t, pid);
    printf("#   %s\n", err ? err->msg : "(no error)");
    CHECK_INT(started, -1);
    CHECK_INT(pid, 0);
    CHECK(clean);
    CHECK(err != NULL);
    if (f->status)
        CHECK_INT(err->status, f->status);
    for (size_t i = 0; i < 3 && f->says[i]; i++)
        CHECK_CONTAINS(err->msg, f->says[i]);
    if (f->names_kernel)
        CHECK_CONTAINS(err->msg, kernel);
    if (f->requests)
        CHECK_STR(requests, f->requests);
}

void fake_vmm_check_failures(int *failed, const struct fake_vmm_kind *kind, const char *binary,
                             const struct fake_vmm_failure *table, size_t n)
{
    for (size_t i = 0; i < n && !*failed; i++)
        check_failure(failed, kind, binary, &table[i]);
}
