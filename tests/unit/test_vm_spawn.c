/* The VM's host processes are recorded before they can exec (vm_spawn's
 * exec gate, src/hypervisor/vm_process.h): the caller's spawned hook runs
 * while the child still waits, a failing hook means no exec, and a caller
 * that dies in that window leaves a child that exits without exec. */
#include "hypervisor.h"
#include "test.h"
#include "util.h"
#include "vm_process.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct spawn_case {
    char dir[64];
    char marker[128];
    pid_t seen_pid;     /* the pid the hook was given (vm->pid) */
    bool seen_unexeced; /* the child still ran our binary when the hook ran */
    int report_fd;      /* die_in_window: where the pid goes before the caller dies */
};

static void case_init(struct spawn_case *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->dir, sizeof(c->dir), "/tmp/kata-test-spawn.XXXXXX");
    if (mkdtemp(c->dir) == NULL)
        abort();
    snprintf(c->marker, sizeof(c->marker), "%s/executed", c->dir);
    c->report_fd = -1;
}

static void case_cleanup(struct spawn_case *c)
{
    cleanup_free char *cmd = xasprintf("rm -rf '%s'", c->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "# could not remove %s\n", c->dir);
}

static bool exe_is_ours(pid_t pid)
{
    char self[PATH_MAX], other[PATH_MAX], link[64];
    ssize_t a = readlink("/proc/self/exe", self, sizeof(self) - 1);
    snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
    ssize_t b = readlink(link, other, sizeof(other) - 1);
    if (a <= 0 || b <= 0)
        return false;
    self[a] = other[b] = '\0';
    return strcmp(self, other) == 0;
}

static int record_ok(struct vm *vm, void *data, struct kerr **err)
{
    (void)err;
    struct spawn_case *c = data;
    c->seen_pid = vm->pid;
    c->seen_unexeced = exe_is_ours(vm->pid);
    return 0;
}

static int record_fails(struct vm *vm, void *data, struct kerr **err)
{
    struct spawn_case *c = data;
    c->seen_pid = vm->pid;
    return kerr_make(err, ENOSPC, "write `state.json`");
}

/* The caller dies after it learnt the pid and before the child may exec. */
static int record_then_die(struct vm *vm, void *data, struct kerr **err)
{
    (void)err;
    struct spawn_case *c = data;
    if (write(c->report_fd, &vm->pid, sizeof(vm->pid)) != sizeof(vm->pid))
        _exit(2);
    _exit(0);
}

static int spawn_marker(struct spawn_case *c, struct vm *vm,
                        int (*hook)(struct vm *, void *, struct kerr **), struct kerr **err)
{
    struct vm_config cfg = {.run_dir = c->dir};
    vm_init(vm, NULL, &cfg);
    vm->spawned = hook;
    vm->spawned_data = c;
    cleanup_free char *script = xasprintf("touch '%s'", c->marker);
    char *argv[] = {"/bin/sh", "-c", script, NULL};
    return vm_spawn(vm, argv, "vmm.log", "the test VMM", NULL, err);
}

static bool gone_within(pid_t pid, unsigned ms)
{
    for (unsigned i = 0; i < ms / 5; i++) {
        waitpid(pid, NULL, WNOHANG); /* ours if we are a subreaper */
        if (kill(pid, 0) < 0 && errno == ESRCH)
            return true;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return false;
}

TEST(the_spawned_hook_runs_before_the_exec)
{
    struct spawn_case c;
    case_init(&c);
    struct vm vm;
    cleanup_kerr struct kerr *e = NULL;
    CHECK_INT(spawn_marker(&c, &vm, record_ok, &e), 0);
    CHECK(c.seen_pid > 0 && c.seen_pid == vm.pid);
    CHECK(c.seen_unexeced);
    int status = vm_wait_exit(&vm, 10000000000ull);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_INT(access(c.marker, F_OK), 0); /* it did exec, once let go */
    if (vm.console_fd >= 0)
        close(vm.console_fd);
    free(vm.log_path);
    case_cleanup(&c);
}

TEST(a_failed_record_means_no_exec)
{
    struct spawn_case c;
    case_init(&c);
    struct vm vm;
    cleanup_kerr struct kerr *e = NULL;
    CHECK_INT(spawn_marker(&c, &vm, record_fails, &e), -1);
    CHECK_CONTAINS(e->msg, "start the test VMM: record process");
    CHECK_CONTAINS(e->msg, "write `state.json`");
    CHECK_INT(vm.pid, 0);
    CHECK(c.seen_pid > 0);
    CHECK(kill(c.seen_pid, 0) < 0 && errno == ESRCH); /* reaped */
    CHECK(access(c.marker, F_OK) < 0);
    free(vm.log_path);
    case_cleanup(&c);
}

TEST(a_caller_killed_before_the_record_leaves_nothing_running)
{
    struct spawn_case c;
    case_init(&c);
    int p[2];
    CHECK_INT(pipe(p), 0);
    pid_t caller = fork();
    if (caller == 0) {
        close(p[0]);
        c.report_fd = p[1];
        struct vm vm;
        spawn_marker(&c, &vm, record_then_die, NULL);
        _exit(3); /* not reached: the hook exits */
    }
    close(p[1]);
    pid_t child = 0;
    CHECK_INT(read(p[0], &child, sizeof(child)), (int)sizeof(child));
    close(p[0]);
    int status;
    CHECK_INT(waitpid(caller, &status, 0), caller);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(child > 0);
    CHECK(gone_within(child, 10000)); /* init reaps it */
    CHECK(access(c.marker, F_OK) < 0);
    case_cleanup(&c);
}
