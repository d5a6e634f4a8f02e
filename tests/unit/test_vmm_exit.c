/* How the built-in VMM's end reaches the user, without KVM: vmm_run's exit
 * reasons as kata-vmm's exit statuses (src/vmm/vmm_exit.h), and the error a
 * driver makes of a VMM that exited before the agent answered: the reason
 * (kata-vmm's status, QEMU's SHUTDOWN event), the VMM's log and the guest
 * console's last lines, escaped and bounded. */
#include "hypervisor.h"
#include "qemu.h"
#include "qmp.h"
#include "test.h"
#include "util.h"
#include "vm_process.h"
#include "vmm.h"
#include "vmm_exit.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

TEST(exit_reasons_map_to_distinct_statuses)
{
    CHECK_INT(vmm_exit_code(0, VMM_EXIT_SHUTDOWN), VMM_STATUS_OFF);
    CHECK_INT(vmm_exit_code(0, VMM_EXIT_STOPPED), VMM_STATUS_OFF);
    CHECK_INT(vmm_exit_code(0, VMM_EXIT_RESET), VMM_STATUS_RESET);
    CHECK_INT(vmm_exit_code(0, VMM_EXIT_TRIPLE_FAULT), VMM_STATUS_TRIPLE_FAULT);
    CHECK_INT(vmm_exit_code(-1, VMM_EXIT_STOPPED), VMM_STATUS_VCPU_FAILED);
    CHECK_INT(vmm_exit_code(-1, VMM_EXIT_SHUTDOWN), VMM_STATUS_VCPU_FAILED);
    /* The documented numbers (docs/vmm.md) are an interface: keep them. */
    CHECK_INT(VMM_STATUS_RESET, 3);
    CHECK_INT(VMM_STATUS_TRIPLE_FAULT, 4);
    CHECK_INT(VMM_STATUS_VCPU_FAILED, 5);
}

TEST(only_guest_ends_have_a_text)
{
    for (int s = 0; s <= 2; s++)
        CHECK(vmm_exit_status_text(s) == NULL);
    CHECK(strstr(vmm_exit_status_text(3), "reset") != NULL);
    CHECK(strstr(vmm_exit_status_text(4), "triple-faulted") != NULL);
    CHECK(strstr(vmm_exit_status_text(5), "vCPU failed") != NULL);
    CHECK(vmm_exit_status_text(6) == NULL);
    CHECK(vmm_exit_status_text(-1) == NULL);
    CHECK(vmm_exit_status_text(137) == NULL);
}

TEST(text_tail_keeps_the_last_lines_in_order)
{
    const char text[] = "one\ntwo\r\n\n  \nthree\nfour";
    cleanup_free char *all = vm_text_tail(text, sizeof(text) - 1, 12, 1000);
    CHECK_STR(all, "one | two | three | four");
    cleanup_free char *two = vm_text_tail(text, sizeof(text) - 1, 2, 1000);
    CHECK_STR(two, "three | four");
    cleanup_free char *fit = vm_text_tail(text, sizeof(text) - 1, 12, 12);
    CHECK_STR(fit, "three | four");
    cleanup_free char *none = vm_text_tail("\n\r\n", 3, 12, 1000);
    CHECK_STR(none, "(nothing)");
    cleanup_free char *null = vm_text_tail(NULL, 0, 12, 1000);
    CHECK_STR(null, "(nothing)");
}

TEST(text_tail_escapes_and_bounds_guest_text)
{
    /* Terminal escapes, a NUL, invalid UTF-8, a very long line. */
    char text[4096];
    size_t n = (size_t)snprintf(text, sizeof(text), "\x1b[2J\x1b]0;owned\a%cx\xff\n", '\0');
    memset(text + n, 'A', 3000);
    n += 3000;
    text[n++] = '\n';
    cleanup_free char *out = vm_text_tail(text, n, 12, 300);
    CHECK(strlen(out) <= 300);
    for (const char *c = out; *c; c++)
        CHECK((unsigned char)*c >= 0x20 && (unsigned char)*c != 0x7f);
    CHECK(strstr(out, "AAA...") != NULL);
    cleanup_free char *first = vm_text_tail(text, n - 3001, 12, 300);
    CHECK_STR(first, "\\x1b[2J\\x1b]0;owned\\x07\\x00x\\xff");
    cleanup_free char *tiny = vm_text_tail(text, n, 12, 10);
    CHECK(strlen(tiny) <= 10);
}

/* A "VMM" child that exits with status 3 at once. */
static pid_t exited_child(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", "exit 3", (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
        fd_write_full(fd, text, strlen(text));
        close(fd);
    }
}

/* The test's directory and its two files go on every path out. */
static void remove_test_dir(char (*dir)[32])
{
    if ((*dir)[0] == '\0')
        return; /* never made */
    cleanup_free char *log = xasprintf("%s/kata-vmm.log", *dir);
    cleanup_free char *console = xasprintf("%s/console.log", *dir);
    unlink(log);
    unlink(console);
    rmdir(*dir);
}

TEST(driver_says_the_guest_reset_with_the_console_tail)
{
    __attribute__((cleanup(remove_test_dir))) char dir[32] = "/tmp/test-vmm-exit.XXXXXX";
    if (mkdtemp(dir) == NULL) {
        dir[0] = '\0';
        CHECK(!"mkdtemp");
    }
    cleanup_free char *log = xasprintf("%s/kata-vmm.log", dir);
    cleanup_free char *console = xasprintf("%s/console.log", dir);
    write_file(log, "kata-vmm: the guest reset the VM (...): exit status 3\n");
    /* More than the 4 KiB read: only the end counts. */
    cleanup_free char *big = xmalloc(10000);
    memset(big, 'x', 9000);
    snprintf(big + 9000, 1000,
             "\n[    1.0] Kernel panic - not syncing: \x1b[31mboom\n"
             "[    1.1] Rebooting in 1 seconds..\n");
    write_file(console, big);
    struct vm_config cfg = {.run_dir = dir, .console_path = console};
    struct vm vm;
    vm_init(&vm, &dragonball_ops, &cfg);
    vm.log_path = xstrdup(log);
    vm.pid = exited_child();
    cleanup_kerr struct kerr *err = NULL;
    for (int i = 0; i < 500 && vm_check_exited(&vm, "the built-in VMM", &err) == 0; i++)
        usleep(10000);
    vm_release(&vm);
    CHECK(err != NULL);
    CHECK_INT(vm.pid, 0);
    printf("# %s\n", err->msg);
    CHECK(strstr(err->msg, "the built-in VMM exited (status 3) before the agent answered: the "
                           "guest reset the VM") != NULL);
    CHECK(strstr(err->msg, "its log: kata-vmm: the guest reset") != NULL);
    CHECK(strstr(err->msg, "Kernel panic - not syncing: \\x1b[31mboom | [    1.1] Rebooting") !=
          NULL);
    CHECK(strstr(err->msg, "xxx") == NULL);
    CHECK(strlen(err->msg) < 3000);
}

TEST(driver_reads_the_console_pipe_without_taking_it)
{
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    const char text[] = "early line\nTriple fault here\n";
    CHECK(fd_write_full(p[1], text, sizeof(text) - 1) == 0);
    close(p[1]);
    struct vm_config cfg = {.run_dir = "/nonexistent"};
    struct vm vm;
    vm_init(&vm, &dragonball_ops, &cfg);
    vm.console_fd = p[0];
    cleanup_kerr struct kerr *err = NULL;
    vm_exit_error(&vm, "the built-in VMM", W_EXITCODE(4, 0), &err);
    CHECK(err != NULL);
    CHECK(strstr(err->msg, "(status 4) before the agent answered: the guest triple-faulted") !=
          NULL);
    CHECK(strstr(err->msg, "its log: (nothing)") != NULL);
    CHECK(strstr(err->msg, "last lines: early line | Triple fault here") != NULL);
    char back[64];
    CHECK_INT(read(p[0], back, sizeof(back)), sizeof(text) - 1); /* still there */
    kerr_clear(&err);
    vm_exit_error(&vm, "the built-in VMM", W_EXITCODE(0, 0), &err);
    CHECK(strstr(err->msg, "(status 0) before the agent answered: the guest powered off") != NULL);
    kerr_clear(&err);
    vm_exit_error(&vm, "the built-in VMM", W_EXITCODE(5, 0), &err);
    CHECK(strstr(err->msg, "a vCPU failed") != NULL);
    kerr_clear(&err);
    vm_exit_error(&vm, "the built-in VMM", SIGKILL, &err); /* killed: no reason */
    CHECK(strstr(err->msg, "(status 137) before the agent answered; its log") != NULL);
    vm_release(&vm);
}

/* QEMU exits 0 on a guest reset too (-no-reboot): the driver reads the
 * SHUTDOWN event left on the QMP session.  Here a socketpair plays QEMU: the
 * greeting, the answer to qmp_capabilities, then `events`, then EOF. */
static const char *qemu_reason_after(const char *events, char **msg)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return NULL;
    const char *hello = "{\"QMP\": {\"version\": {\"qemu\": {\"major\": 7, \"minor\": 2, "
                        "\"micro\": 0}}, \"capabilities\": []}}\n{\"return\": {}, \"id\": 1}\n";
    fd_write_full(sv[1], hello, strlen(hello));
    fd_write_full(sv[1], events, strlen(events));
    struct vm_config cfg = {.run_dir = "/nonexistent"};
    struct vm vm;
    vm_init(&vm, &qemu_ops, &cfg);
    qemu_state(&vm)->qmp = qmp_open(sv[0], 1000000000ull, NULL);
    close(sv[1]); /* QEMU is gone */
    cleanup_kerr struct kerr *err = NULL;
    vm_exit_error(&vm, "QEMU", W_EXITCODE(0, 0), &err);
    *msg = xstrdup(err ? err->msg : "");
    vm_release(&vm);
    return *msg;
}

TEST(qemu_says_a_reset_is_not_a_power_off)
{
    static const char shutdown[] = "{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": true, "
                                   "\"reason\": \"%s\"}, \"timestamp\": {}}\n";
    char events[256];
    cleanup_free char *reset = NULL, *off = NULL, *panic = NULL, *none = NULL, *odd = NULL;
    snprintf(events, sizeof(events), shutdown, "guest-reset");
    CHECK(strstr(qemu_reason_after(events, &reset),
                 "QEMU exited (status 0) before the agent answered: the guest reset the VM") !=
          NULL);
    snprintf(events, sizeof(events), shutdown, "guest-shutdown");
    CHECK(strstr(qemu_reason_after(events, &off), "answered: the guest powered off;") != NULL);
    CHECK(strstr(qemu_reason_after("{\"event\": \"GUEST_PANICKED\", \"data\": {}}\n", &panic),
                 "answered: the guest panicked;") != NULL);
    CHECK(strstr(qemu_reason_after("", &none), "QEMU exited (status 0) before the agent "
                                               "answered; its log") != NULL);
    /* A reason that is not a string, an unknown one, junk: no reason. */
    CHECK(strstr(qemu_reason_after("{\"event\": \"SHUTDOWN\", \"data\": {\"reason\": 7}}\n"
                                   "{\"event\": \"SHUTDOWN\", \"data\": {\"reason\": \"x\"}}\n"
                                   "not json\n",
                                   &odd),
                 "answered; its log") != NULL);
}
