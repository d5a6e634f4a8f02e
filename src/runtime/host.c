/* What the host offers: kernel, distribution, CPU, memory, accelerator and
 * vsock (kata-runtime env and check), and running a program for its version. */
#include "runtime.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The value of "key<sep>value" on the first line starting with key. */
static char *field_value(const char *text, const char *key, char sep)
{
    size_t klen = strlen(key);
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > klen && strncmp(line, key, klen) == 0) {
            const char *p = line + klen;
            while (p < line + len && (*p == ' ' || *p == '\t'))
                p++;
            if (p < line + len && *p == sep) {
                p++;
                while (p < line + len && (*p == ' ' || *p == '\t' || *p == '"'))
                    p++;
                const char *q = line + len;
                while (q > p && (q[-1] == ' ' || q[-1] == '"' || q[-1] == '\r'))
                    q--;
                return xstrndup(p, (size_t)(q - p));
            }
        }
        line = end ? end + 1 : NULL;
    }
    return NULL;
}

static uint64_t meminfo_kb(const char *meminfo, const char *key)
{
    cleanup_free char *v = meminfo ? field_value(meminfo, key, ':') : NULL;
    return v ? strtoull(v, NULL, 10) : 0;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

void host_info_probe(struct host_info *host)
{
    memset(host, 0, sizeof(*host));
    struct utsname u;
    if (uname(&u) == 0) {
        host->kernel = xstrdup(u.release);
        host->arch = xstrdup(u.machine);
    }
    cleanup_free char *os = NULL;
    if (file_read_all("/etc/os-release", 1 << 16, &os, NULL, NULL) == 0 ||
        file_read_all("/usr/lib/os-release", 1 << 16, &os, NULL, NULL) == 0) {
        host->distro_name = field_value(os, "NAME", '=');
        host->distro_version = field_value(os, "VERSION_ID", '=');
    }
    cleanup_free char *cpuinfo = NULL;
    if (file_read_all("/proc/cpuinfo", 1 << 22, &cpuinfo, NULL, NULL) == 0) {
        host->cpu_vendor = field_value(cpuinfo, "vendor_id", ':');
        host->cpu_model = field_value(cpuinfo, "model name", ':');
        cleanup_free char *flags = field_value(cpuinfo, "flags", ':');
        if (flags) {
            cleanup_free char *padded = xasprintf(" %s ", flags);
            host->virt_flag = strstr(padded, " vmx ")   ? "vmx"
                              : strstr(padded, " svm ") ? "svm"
                                                        : NULL;
        }
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    host->cpus = cpus > 0 ? (unsigned)cpus : 1;
    cleanup_free char *meminfo = NULL;
    if (file_read_all("/proc/meminfo", 1 << 16, &meminfo, NULL, NULL) == 0) {
        host->mem_total_kb = meminfo_kb(meminfo, "MemTotal");
        host->mem_free_kb = meminfo_kb(meminfo, "MemFree");
        host->mem_available_kb = meminfo_kb(meminfo, "MemAvailable");
    }
    host->kvm_device = exists("/dev/kvm");
    host->accel = vm_detect_accel();
    host->vhost_vsock = exists("/dev/vhost-vsock");
    host->vhost_net = exists("/dev/vhost-net");
}

void host_info_release(struct host_info *host)
{
    free(host->kernel);
    free(host->arch);
    free(host->distro_name);
    free(host->distro_version);
    free(host->cpu_vendor);
    free(host->cpu_model);
    memset(host, 0, sizeof(*host));
}

bool host_module_present(const char *name)
{
    cleanup_free char *path = xasprintf("/sys/module/%s", name);
    return exists(path);
}

char *host_program_version(const char *path)
{
    if (path == NULL || access(path, X_OK) < 0)
        return NULL;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return NULL;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return NULL;
    }
    if (pid == 0) {
        signal(SIGPIPE, SIG_DFL);
        dup2(fds[1], 1);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 2);
        }
        execl(path, path, "--version", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    fd_set_nonblock(fds[0], true);
    char buf[4096];
    size_t len = 0;
    uint64_t deadline = now_ns() + 5000000000ull;
    while (len < sizeof(buf) - 1 && now_ns() < deadline) {
        ssize_t n = read(fds[0], buf + len, sizeof(buf) - 1 - len);
        if (n > 0) {
            len += (size_t)n;
            continue;
        }
        if (n == 0)
            break;
        if (errno != EAGAIN && errno != EINTR)
            break;
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (now_ns() >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    buf[len] = '\0';
    char *nl = strchr(buf, '\n');
    if (nl)
        *nl = '\0';
    return len && buf[0] ? xstrdup(buf) : NULL;
}
