/* payload: a static test program run as a container's process.  It checks
 * features from inside the container and prints what it sees, one
 * "key: value" line each, so tests need no distribution image.
 *
 *   payload CMD [ARGS] [CMD [ARGS]]...
 *
 * Commands run in order:
 *   hostname | cwd | ids | umask | pid | tty | env | caps | rlimits | mounts
 *   ttyname               the name of stdin's terminal ("ttyname: /dev/pts/0") or the error
 *   winsize               print the terminal size of stdin ("winsize: ROWSxCOLS")
 *   wait-winch            wait for SIGWINCH, then print the size
 *   read PATH             first line of a file, or the error
 *   try-write PATH        create/open PATH for writing: "ok" or the error
 *   try-mkdir PATH        mkdir: "ok" or the error (seccomp, readonly paths)
 *   stdout N | stderr N   write N bytes (a repeating pattern) to the stream
 *   echo                  copy stdin to stdout until EOF
 *   trap SIG CODE         on signal SIG exit with CODE
 *   sleep SECONDS         (fractions allowed)
 *   kill SIG              send SIG to itself
 *   exit CODE
 *   marker TEXT           print TEXT on a line (tests wait for it)
 *   alloc MIB             allocate and touch MIB MiB (memory limits, OOM) */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int trap_code[65];

static void trap_handler(int sig)
{
    _exit(trap_code[sig]);
}

static volatile sig_atomic_t got_winch;
static void winch_handler(int sig)
{
    got_winch = 1;
}

static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            exit(3);
        buf += n;
        len -= (size_t)n;
    }
}

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (n > (int)sizeof(buf) - 2)
        n = (int)sizeof(buf) - 2;
    buf[n++] = '\n';
    write_all(1, buf, (size_t)n);
}

static void print_file_lines(const char *path, const char *prefix, const char *filter)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        out("%s: %s: %s", prefix, path, strerror(errno));
        return;
    }
    char line[4096];
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (filter == NULL || strncmp(line, filter, strlen(filter)) == 0)
            out("%s: %s", prefix, line);
    }
    fclose(f);
}

static void cmd_stream(int fd, long long n)
{
    static char pattern[65536];
    if (pattern[0] == '\0')
        for (size_t i = 0; i < sizeof(pattern); i++)
            pattern[i] = (char)('a' + i % 26);
    while (n > 0) {
        size_t chunk = n > (long long)sizeof(pattern) ? sizeof(pattern) : (size_t)n;
        write_all(fd, pattern, chunk);
        n -= (long long)chunk;
    }
}

static void cmd_echo(void)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(0, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        write_all(1, buf, (size_t)n);
    }
}

static void cmd_ids(void)
{
    out("uid: %d", (int)getuid());
    out("gid: %d", (int)getgid());
    gid_t groups[256];
    int n = getgroups(256, groups);
    char buf[4096] = "";
    for (int i = 0; i < n; i++) {
        size_t len = strlen(buf);
        snprintf(buf + len, sizeof(buf) - len, "%s%d", i ? "," : "", (int)groups[i]);
    }
    out("groups: %s", buf);
}

static void cmd_rlimits(void)
{
    static const struct {
        const char *name;
        int resource;
    } limits[] = {
        {"RLIMIT_NOFILE", RLIMIT_NOFILE},
        {"RLIMIT_NPROC", RLIMIT_NPROC},
        {"RLIMIT_CORE", RLIMIT_CORE},
        {"RLIMIT_STACK", RLIMIT_STACK},
    };
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        struct rlimit rl;
        getrlimit(limits[i].resource, &rl);
        out("rlimit: %s %llu %llu", limits[i].name, (unsigned long long)rl.rlim_cur,
            (unsigned long long)rl.rlim_max);
    }
}

static void cmd_winsize(void)
{
    struct winsize ws;
    if (ioctl(0, TIOCGWINSZ, &ws) < 0)
        out("winsize: %s", strerror(errno));
    else
        out("winsize: %ux%u", ws.ws_row, ws.ws_col);
}

static void cmd_sleep(double seconds)
{
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void usage(void)
{
    fprintf(stderr, "usage: payload CMD [ARGS]... (see payload.c)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *cmd = argv[i];
        const char *arg = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_ARG()                                                                                 \
    do {                                                                                           \
        if (arg == NULL)                                                                           \
            usage();                                                                               \
        i++;                                                                                       \
    } while (0)
        if (strcmp(cmd, "hostname") == 0) {
            char name[256] = "";
            gethostname(name, sizeof(name) - 1);
            out("hostname: %s", name);
        } else if (strcmp(cmd, "cwd") == 0) {
            char buf[4096];
            out("cwd: %s", getcwd(buf, sizeof(buf)) ? buf : strerror(errno));
        } else if (strcmp(cmd, "ids") == 0) {
            cmd_ids();
        } else if (strcmp(cmd, "umask") == 0) {
            mode_t m = umask(0);
            umask(m);
            out("umask: %04o", (unsigned)m);
        } else if (strcmp(cmd, "pid") == 0) {
            out("pid: %d", (int)getpid());
        } else if (strcmp(cmd, "tty") == 0) {
            out("tty: %s", isatty(0) ? "yes" : "no");
        } else if (strcmp(cmd, "ttyname") == 0) {
            const char *name = ttyname(0);
            out("ttyname: %s", name ? name : strerror(errno));
        } else if (strcmp(cmd, "env") == 0) {
            for (char **e = environ; *e; e++)
                out("env: %s", *e);
        } else if (strcmp(cmd, "caps") == 0) {
            print_file_lines("/proc/self/status", "caps", "Cap");
            print_file_lines("/proc/self/status", "status", "NoNewPrivs");
            print_file_lines("/proc/self/status", "status", "Seccomp:");
        } else if (strcmp(cmd, "rlimits") == 0) {
            cmd_rlimits();
        } else if (strcmp(cmd, "mounts") == 0) {
            print_file_lines("/proc/self/mountinfo", "mount", NULL);
        } else if (strcmp(cmd, "winsize") == 0) {
            cmd_winsize();
        } else if (strcmp(cmd, "wait-winch") == 0) {
            signal(SIGWINCH, winch_handler);
            out("waiting: winch");
            while (!got_winch)
                pause();
            cmd_winsize();
        } else if (strcmp(cmd, "read") == 0) {
            NEED_ARG();
            FILE *f = fopen(arg, "r");
            char line[4096] = "";
            if (f == NULL) {
                out("read %s: %s", arg, strerror(errno));
            } else {
                if (fgets(line, sizeof(line), f) == NULL)
                    line[0] = '\0';
                line[strcspn(line, "\n")] = '\0';
                out("read %s: %s", arg, line);
                fclose(f);
            }
        } else if (strcmp(cmd, "try-write") == 0) {
            NEED_ARG();
            int fd = open(arg, O_WRONLY | O_CREAT, 0644);
            out("try-write %s: %s", arg, fd >= 0 ? "ok" : strerror(errno));
            if (fd >= 0)
                close(fd);
        } else if (strcmp(cmd, "try-mkdir") == 0) {
            NEED_ARG();
            int r = mkdir(arg, 0755);
            out("try-mkdir %s: %s", arg, r == 0 ? "ok" : strerror(errno));
        } else if (strcmp(cmd, "stdout") == 0 || strcmp(cmd, "stderr") == 0) {
            NEED_ARG();
            cmd_stream(cmd[3] == 'o' ? 1 : 2, atoll(arg));
        } else if (strcmp(cmd, "echo") == 0) {
            cmd_echo();
        } else if (strcmp(cmd, "trap") == 0) {
            NEED_ARG();
            int sig = atoi(arg);
            if (i + 1 >= argc || sig <= 0 || sig > 64)
                usage();
            trap_code[sig] = atoi(argv[++i]);
            signal(sig, trap_handler);
        } else if (strcmp(cmd, "sleep") == 0) {
            NEED_ARG();
            cmd_sleep(atof(arg));
        } else if (strcmp(cmd, "kill") == 0) {
            NEED_ARG();
            kill(getpid(), atoi(arg));
            cmd_sleep(1);
        } else if (strcmp(cmd, "exit") == 0) {
            NEED_ARG();
            return atoi(arg);
        } else if (strcmp(cmd, "marker") == 0) {
            NEED_ARG();
            out("%s", arg);
        } else if (strcmp(cmd, "alloc") == 0) {
            NEED_ARG();
            long long mib = atoll(arg);
            for (long long k = 0; k < mib; k++) {
                char *p = malloc(1 << 20);
                if (p == NULL)
                    return 4;
                memset(p, 1, 1 << 20);
            }
            out("alloc: %lld MiB", mib);
        } else {
            fprintf(stderr, "payload: unknown command `%s`\n", cmd);
            return 2;
        }
    }
    return 0;
}
