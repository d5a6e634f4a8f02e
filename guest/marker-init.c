/*
 * marker-init: the bare /init of the boot benchmark baseline.
 *
 * Writes "KATA_MARKER_INIT_READY" on the console and powers the VM off, nothing
 * else: the time from starting the VMM to this line is the cost of the kernel
 * boot alone. Build it static (guest/static-cc.sh, or
 * `musl-gcc -static -Os -s -o marker-init marker-init.c`).
 *
 * /dev/console comes from the initrd (guest/initrd/build.sh makes the node) or
 * from devtmpfs; when it is missing, devtmpfs is mounted on /dev first. If the
 * console cannot be opened, ttyS0 then hvc0 are tried.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

static const char marker[] = "KATA_MARKER_INIT_READY\n";

static int open_console(void)
{
    static const char *const paths[] = {"/dev/console", "/dev/ttyS0", "/dev/hvc0"};
    for (unsigned i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        int fd = open(paths[i], O_WRONLY | O_NOCTTY | O_CLOEXEC);
        if (fd >= 0)
            return fd;
    }
    return -1;
}

int main(void)
{
    int fd;

    if (access("/dev/console", F_OK) != 0) {
        mkdir("/dev", 0755);
        mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755");
    }
    fd = open_console();
    if (fd < 0) {
        /* Last resort: the stdout the kernel gave us, if any. */
        fd = 1;
    }
    for (size_t off = 0; off < sizeof marker - 1;) {
        ssize_t n = write(fd, marker + off, sizeof marker - 1 - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    /* Let the UART transmit the line before the machine goes away. */
    tcdrain(fd);
    reboot(RB_POWER_OFF);
    /* PID 1 must not exit (the kernel would panic): wait to be killed. */
    for (;;)
        pause();
}
