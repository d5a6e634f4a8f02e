/* PID 1 duties: the filesystems every guest needs, the console as stdio,
 * kernel command line options, and power-off. */
#include "agent.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <unistd.h>

struct early_mount {
    const char *source, *target, *type;
    unsigned long flags;
    const char *data;
};

static const struct early_mount early_mounts[] = {
    {"proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL},
    {"sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL},
    {"dev", "/dev", "devtmpfs", MS_NOSUID, "mode=0755"},
    {"tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"},
    {"devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"},
    {"shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"},
    {"cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL},
};

static int mount_early(const struct early_mount *m, struct kerr **err)
{
    if (mkdir(m->target, 0755) < 0 && errno != EEXIST)
        return kerr_make(err, errno, "mkdir `%s`", m->target);
    if (mount(m->source, m->target, m->type, m->flags, m->data) < 0 && errno != EBUSY)
        return kerr_make(err, errno, "mount %s on `%s`", m->type, m->target);
    log_debug("mounted %s on %s", m->type, m->target);
    return 0;
}

/* stdio on the console, so logs and panics of the agent are seen. */
static void console_as_stdio(void)
{
    int fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return;
    for (int i = 0; i <= 2; i++)
        dup2(fd, i);
    if (fd > 2)
        close(fd);
}

int agent_init_pid1(struct kerr **err)
{
    for (size_t i = 0; i < ARRAY_SIZE(early_mounts); i++)
        if (mount_early(&early_mounts[i], err) < 0)
            return -1;
    console_as_stdio();
    if (symlink("/proc/self/fd", "/dev/fd") < 0 && errno != EEXIST)
        log_warn("symlink /dev/fd: %s", strerror(errno));
    setsid();
    umask(022);
    setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
    return 0;
}

/* agent.log=LEVEL, agent.log_port=NAME, agent.channel=... */
void agent_read_cmdline(struct agent_options *opts, const char *cmdline)
{
    cleanup_free char *copy = xstrdup(cmdline);
    char *save = NULL;
    for (char *tok = strtok_r(copy, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
        if (strncmp(tok, "agent.log=", 10) == 0 && opts->log_level == NULL)
            opts->log_level = xstrdup(tok + 10);
        else if (strncmp(tok, "agent.log_port=", 15) == 0 && opts->log_port == NULL)
            opts->log_port = xstrdup(tok + 15);
        else if (strncmp(tok, "agent.channel=", 14) == 0 && opts->listen == NULL)
            opts->listen = xstrdup(tok + 14);
    }
}

void agent_poweroff(struct agent *a)
{
    agent_log_ready(a);
    log_info("powering off");
    if (!a->opts.pid1)
        exit(0);
    sync();
    /* Everything else goes first so filesystems are quiet. */
    kill(-1, SIGKILL);
    sync();
    reboot(RB_POWER_OFF);
    /* Only reached if power-off failed: PID 1 must not exit. */
    for (;;)
        pause();
}
