/* kata-agent: the guest's PID 1.  Also runs as an ordinary process on the
 * host (kata-agent --listen unix:PATH) so its RPCs can be tested without a VM. */
#include "agent.h"
#include "channel.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: kata-agent [--listen unix:PATH|serial:PATH|serial|vsock] [--log-level LEVEL]\n"
            "                  [--storage-root DIR] [--cgroup-root DIR] [--sysfs DIR]\n"
            "                  [--resolv-conf PATH]\n"
            "\n"
            "The Kata Containers guest agent.  As PID 1 it sets up the guest and serves\n"
            "grpc.AgentService on vsock port 1024 or the virtio-serial port agent.channel.0;\n"
            "kernel parameters agent.log=LEVEL, agent.log_port=NAME and agent.channel=SPEC\n"
            "configure it.  Run by hand, it serves the given channel.\n");
}

static int parse_args(int argc, char **argv, struct agent_options *opts)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"log-level", required_argument, NULL, 'L'},
        {"sysfs", required_argument, NULL, 's'},
        {"storage-root", required_argument, NULL, 'r'},
        {"cgroup-root", required_argument, NULL, 'c'},
        {"resolv-conf", required_argument, NULL, 'R'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'l':
            opts->listen = optarg;
            break;
        case 'L':
            opts->log_level = optarg;
            break;
        case 's':
            opts->sysfs_root = optarg;
            break;
        case 'r':
            opts->storage_root = optarg;
            break;
        case 'c':
            opts->cgroup_root = optarg;
            break;
        case 'R':
            opts->resolv_conf = optarg;
            break;
        case 'V':
            printf("kata-agent %s (commit %s)\n", KATA_VERSION, KATA_COMMIT);
            exit(0);
        case 'h':
            usage(stdout);
            exit(0);
        default:
            if (opts->pid1)
                break; /* the guest's init must come up: the option is ignored */
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        /* The kernel gives init the command line's words it does not know
         * (a user's kernel_params such as `foo`): PID 1 says so and goes on,
         * since its exit would panic the guest. */
        if (opts->pid1) {
            for (int i = optind; i < argc; i++)
                fprintf(stderr, "kata-agent: ignoring argument `%s` from the kernel command line\n",
                        argv[i]);
            return 0;
        }
        fprintf(stderr, "kata-agent: unexpected argument `%s`\n", argv[optind]);
        return -1;
    }
    return 0;
}

/* A second log stream on a virtio-serial port the host reads (best effort). */
static void open_log_port(struct agent *a)
{
    if (a->opts.log_port == NULL)
        return;
    cleanup_kerr struct kerr *err = NULL;
    cleanup_free char *path = serial_port_find(a->opts.sysfs_root, a->opts.log_port, &err);
    if (path == NULL) {
        log_warn("log port: %s", err->msg);
        return;
    }
    int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        log_warn("log port: open `%s`: %s", path, strerror(errno));
        return;
    }
    log_set_extra_fd(fd);
}

/* Time since the guest kernel started counting (CLOCK_BOOTTIME), in ms.
 * Whole ms: the log line needs no floating-point formatting (under TCG the
 * first use of code costs its translation). */
static unsigned long boot_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (unsigned long)ts.tv_sec * 1000ul + (unsigned long)ts.tv_nsec / 1000000ul;
}

/* The ready line is printed a little after the loop starts, so a request
 * already on its way is answered first: the line's formatting is first-time
 * code, which costs its translation under TCG. */
#define READY_LOG_DELAY_NS (50ull * 1000 * 1000)

void agent_log_ready(struct agent *a)
{
    if (!a->ready_log.pending)
        return;
    a->ready_log.pending = false;
    log_info("kata-agent %s ready on %s, %lu ms after kernel start (exec at %lu ms; init %lu ms, "
             "loop %lu ms, channel %lu ms)",
             KATA_VERSION, a->channel, a->ready_log.ready, a->ready_log.start,
             a->ready_log.init - a->ready_log.start, a->ready_log.channel - a->ready_log.init,
             a->ready_log.ready - a->ready_log.channel);
}

static void log_ready_later(void *data)
{
    agent_log_ready(data);
}

int main(int argc, char **argv)
{
    unsigned long t_start = boot_ms();
    struct agent a = {.opts = {.sysfs_root = "/sys",
                               .storage_root = "/run/kata-containers",
                               .cgroup_root = "/sys/fs/cgroup"}};
    a.opts.pid1 = getpid() == 1;
    if (parse_args(argc, argv, &a.opts) < 0)
        return 2;

    cleanup_kerr struct kerr *err = NULL;
    /* Info until the command line says otherwise (it needs /proc). */
    log_init("kata-agent", LOG_LEVEL_INFO, 2, false);
    if (a.opts.pid1 && agent_init_pid1(&err) < 0) {
        /* Keep going: a partly set-up guest still answers and says why. */
        fprintf(stderr, "kata-agent: init: %s\n", err->msg);
        kerr_clear(&err);
    }
    if (a.opts.pid1) {
        cleanup_free char *cmdline = NULL;
        if (file_read_all("/proc/cmdline", 65536, &cmdline, NULL, NULL) == 0)
            agent_read_cmdline(&a.opts, cmdline);
    }
    int level = a.opts.log_level ? log_level_parse(a.opts.log_level) : LOG_LEVEL_INFO;
    log_set_level(level < 0 ? LOG_LEVEL_INFO : (enum log_level)level);
    if (level < 0)
        log_warn("unknown log level `%s`, using info", a.opts.log_level);
    signal(SIGPIPE, SIG_IGN);
    unsigned long t_init = boot_ms();

    a.loop = loop_new(&err);
    if (a.loop == NULL)
        goto fatal;
    size_t n_methods;
    const struct ttrpc_method *methods = agent_methods_all(&n_methods);
    a.server = ttrpc_server_new(a.loop, methods, n_methods, &a);
    if (agent_reaper_start(&a, &err) < 0)
        goto fatal;
    open_log_port(&a);
    unsigned long t_channel = boot_ms();
    if (agent_channel_open(&a, &err) < 0)
        goto fatal;
    /* Where a slow start goes (docs/boot.md): the kernel up to our exec,
     * PID 1 setup, the event loop, the channel. */
    a.ready_log.start = t_start;
    a.ready_log.init = t_init;
    a.ready_log.channel = t_channel;
    a.ready_log.ready = boot_ms();
    a.ready_log.pending = true;
    loop_timer_add(a.loop, READY_LOG_DELAY_NS, log_ready_later, &a);
    if (loop_run(a.loop, NULL, &err) < 0)
        goto fatal;
    agent_poweroff(&a);

fatal:
    log_error("fatal: %s", err->msg);
    agent_poweroff(&a);
}
