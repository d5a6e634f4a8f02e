/*
 * probe-init: a test /init that reports what the guest kernel sees, one
 * "PROBE ..." line each on the console, then "PROBE_DONE" and powers off.
 * Used by tests/integration/test_guest_assets.sh. Build: guest/static-cc.sh.
 *
 *   PROBE release <uname -r>
 *   PROBE cgroup2 <cgroup.controllers of the root>
 *   PROBE ns <entries of /proc/self/ns>
 *   PROBE seccomp <kernel/seccomp/actions_avail>
 *   PROBE fs <names in /proc/filesystems>
 *   PROBE root <fstype of />
 *   PROBE port <vportNpM> name=<name> dev=<yes|no>   for each /sys/class/virtio-ports entry
 *   PROBE virtiofs <tag> <first line of FILE>         with probe.virtiofs=<tag> on the cmdline
 *   PROBE 9p <tag> <first line of FILE>               with probe.9p=<tag>
 *   PROBE error <what>: <errno text>
 * FILE is probe.file=<name> (default hello.txt) inside the mounted share.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <termios.h>
#include <unistd.h>

static int con = 1;

static void say(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (n > (int)sizeof buf - 2)
        n = sizeof buf - 2;
    buf[n++] = '\n';
    for (int off = 0; off < n;) {
        ssize_t w = write(con, buf + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        off += w;
    }
}

static int read_line(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, size - 1);
    int saved = errno;
    close(fd);
    if (n < 0) {
        errno = saved;
        return -1;
    }
    buf[n] = 0;
    buf[strcspn(buf, "\n")] = 0;
    return 0;
}

/* Value of key=... in /proc/cmdline, or NULL. */
static const char *cmdline_get(const char *cmdline, const char *key, char *out, size_t size)
{
    size_t klen = strlen(key);
    for (const char *p = cmdline; (p = strstr(p, key)) != NULL; p += klen) {
        if ((p == cmdline || p[-1] == ' ') && p[klen] == '=') {
            const char *v = p + klen + 1;
            size_t len = strcspn(v, " \n");
            if (len >= size)
                len = size - 1;
            memcpy(out, v, len);
            out[len] = 0;
            return out;
        }
    }
    return NULL;
}

static void probe_share(const char *kind, const char *fstype, const char *tag, const char *opts,
                        const char *file)
{
    char dir[64], path[256], line[256];
    snprintf(dir, sizeof dir, "/mnt/%s", kind);
    mkdir("/mnt", 0755);
    mkdir(dir, 0755);
    if (mount(tag, dir, fstype, 0, opts) != 0) {
        say("PROBE error mount %s %s: %s", fstype, tag, strerror(errno));
        return;
    }
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (read_line(path, line, sizeof line) != 0) {
        say("PROBE error read %s: %s", path, strerror(errno));
        return;
    }
    say("PROBE %s %s %s", kind, tag, line);
}

int main(void)
{
    char cmdline[4096] = "", val[128], file[128], line[256];
    struct utsname u;

    mkdir("/dev", 0755);
    if (access("/dev/console", F_OK) != 0)
        mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
    int fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
    if (fd >= 0)
        con = fd;
    mkdir("/proc", 0555);
    mkdir("/sys", 0555);
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
        say("PROBE error mount proc: %s", strerror(errno));
    if (mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
        say("PROBE error mount sysfs: %s", strerror(errno));
    /* devtmpfs for the /dev/vport* nodes (an initrd's /dev holds only console). */
    mkdir("/run", 0755);
    mkdir("/run/dev", 0755);
    if (mount("devtmpfs", "/run/dev", "devtmpfs", MS_NOSUID, NULL) != 0)
        say("PROBE error mount devtmpfs: %s", strerror(errno));

    if (uname(&u) == 0)
        say("PROBE release %s", u.release);

    FILE *m = fopen("/proc/mounts", "re");
    if (m) {
        char dev[256], mnt[256], type[64];
        while (fscanf(m, "%255s %255s %63s %*[^\n]", dev, mnt, type) == 3)
            if (strcmp(mnt, "/") == 0)
                say("PROBE root %s %s", type, dev);
        fclose(m);
    }

    DIR *d = opendir("/sys/class/virtio-ports");
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            char path[512], name[256] = "";
            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", e->d_name);
            read_line(path, name, sizeof name);
            snprintf(path, sizeof path, "/run/dev/%s", e->d_name);
            say("PROBE port %s name=%s dev=%s", e->d_name, name,
                access(path, F_OK) == 0 ? "yes" : "no");
        }
        closedir(d);
    } else {
        say("PROBE error /sys/class/virtio-ports: %s", strerror(errno));
    }

    /* What containers need from the kernel: cgroup v2 controllers, namespaces,
     * seccomp, filesystems. */
    mkdir("/sys/fs/cgroup", 0755);
    if (mount("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
        say("PROBE error mount cgroup2: %s", strerror(errno));
    else if (read_line("/sys/fs/cgroup/cgroup.controllers", line, sizeof line) == 0)
        say("PROBE cgroup2 %s", line);
    d = opendir("/proc/self/ns");
    if (d) {
        char list[512] = "";
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            strncat(list, " ", sizeof list - strlen(list) - 1);
            strncat(list, e->d_name, sizeof list - strlen(list) - 1);
        }
        closedir(d);
        say("PROBE ns%s", list);
    }
    if (read_line("/proc/sys/kernel/seccomp/actions_avail", line, sizeof line) == 0)
        say("PROBE seccomp %s", line);
    FILE *fs = fopen("/proc/filesystems", "re");
    if (fs) {
        char list[1024] = "", l[128];
        while (fgets(l, sizeof l, fs)) {
            char *name = strrchr(l, '\t');
            name = name ? name + 1 : l;
            name[strcspn(name, "\n")] = 0;
            strncat(list, " ", sizeof list - strlen(list) - 1);
            strncat(list, name, sizeof list - strlen(list) - 1);
        }
        fclose(fs);
        say("PROBE fs%s", list);
    }

    read_line("/proc/cmdline", cmdline, sizeof cmdline);
    if (!cmdline_get(cmdline, "probe.file", file, sizeof file))
        strcpy(file, "hello.txt");
    if (cmdline_get(cmdline, "probe.virtiofs", val, sizeof val))
        probe_share("virtiofs", "virtiofs", val, NULL, file);
    if (cmdline_get(cmdline, "probe.9p", val, sizeof val))
        probe_share("9p", "9p", val, "trans=virtio,version=9p2000.L,msize=262144", file);
    if (read_line("/proc/sys/kernel/random/boot_id", line, sizeof line) == 0)
        say("PROBE boot_id %s", line);

    say("PROBE_DONE");
    tcdrain(con);
    sync();
    reboot(RB_POWER_OFF);
    for (;;)
        pause();
}
