/* kata-vmm: boot a kernel in the built-in VMM and copy its console to stdout.
 *
 *   kata-vmm --api-socket [path=]PATH [--no-seccomp] [--seccomp true|false]
 *            [--log-file FILE] [-v]...
 *   kata-vmm --api-sock PATH [--id ID] [--no-seccomp] [--level LEVEL]
 *            [--log-path FILE] [--show-level] [--show-log-origin]
 *   kata-vmm --kernel VMLINUX [--initrd FILE] [--cmdline TEXT] [--memory MB]
 *            [--vcpus N] [--timeout S] [--marker TEXT] [--rng] [--disk PATH[,ro][,id=ID]]...
 *            [--fs SOCKET,tag=TAG]... [--net FD[,mac=MAC][,mtu=N]]...
 *            [--vsock SOCKET [--cid N]] [--console com1|virtio] [--mmio-cmdline]
 *            [--no-seccomp]
 *
 * Exits 0 when the guest powers off (with --marker: only if TEXT was seen on
 * the console, and the time to it goes to stderr), 1 on error or timeout, 2
 * on a usage error, 3 when the guest resets, 4 when it triple-faults, 5 when
 * a vCPU fails (vmm_exit.h; 3 to 5 with a line on stderr saying so);
 * SIGTERM or SIGINT stop the VM (status 0).  --timeout 0: none.
 * COM1 is always there; --console virtio adds a virtio-console (hvc0), whose
 * output comes to stdout too and whose input is stdin when that is a
 * terminal or a pipe; the default command line then says console=hvc0.
 * With --api-socket the VM is configured, booted, paused and stopped through
 * the control socket (api.h); kata-vmm exits when the VM is over.  The
 * options Cloud Hypervisor takes that Kata's runtime passes work the same:
 * `--api-socket path=PATH`, `--seccomp false` (`log` is refused), `-v`
 * (accepted; kata-vmm has one log level), `--log-file FILE` (stderr goes
 * there); any other option is refused by name.  With --api-sock the
 * control socket speaks Firecracker's API instead (api.h), and the options
 * of Firecracker's that Kata's runtime and the jailer pass work: `--id ID`
 * (InstanceInfo's id), `--no-seccomp`, `--level` and the `--show-*` flags
 * (accepted; one log level), `--log-path FILE` (stderr goes there),
 * `--start-time-us`, `--start-time-cpu-us`, `--parent-cpu-time-us`
 * (accepted, unused). */
#include "api.h"
#include "loop.h"
#include "util.h"
#include "vmm.h"
#include "vmm_exit.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define DEFAULT_CMDLINE_TAIL   "reboot=k panic=-1 quiet rdinit=/init"
#define DEFAULT_CMDLINE        "console=ttyS0 " DEFAULT_CMDLINE_TAIL
#define VIRTIO_CONSOLE_CMDLINE "console=hvc0 " DEFAULT_CMDLINE_TAIL

struct console {
    const char *marker;
    char tail[256]; /* the last bytes, for the marker search */
    size_t tail_len;
    bool seen;
    uint64_t t0, t_seen;
};

static struct vmm *running;
static volatile sig_atomic_t stop_signal;

/* SIGALRM (--timeout), SIGTERM, SIGINT: stop the vCPU; main cleans up. */
static void on_stop_signal(int sig)
{
    stop_signal = sig;
    if (running)
        vmm_request_stop(running);
}

static void console_out(void *ctx, const uint8_t *bytes, size_t len)
{
    struct console *c = ctx;
    fd_write_full(1, bytes, len);
    if (c->marker == NULL || c->seen)
        return;
    for (size_t i = 0; i < len; i++) {
        if (c->tail_len == sizeof(c->tail) - 1) {
            memmove(c->tail, c->tail + 128, c->tail_len - 128);
            c->tail_len -= 128;
        }
        c->tail[c->tail_len++] = (char)bytes[i];
        c->tail[c->tail_len] = '\0';
    }
    if (strstr(c->tail, c->marker)) {
        c->seen = true;
        c->t_seen = now_ns();
    }
}

static void usage(FILE *out)
{
    fprintf(out, "Usage: kata-vmm --kernel VMLINUX [--initrd FILE] [--cmdline TEXT]\n"
                 "                [--memory MB] [--vcpus N] [--timeout S] [--marker TEXT] [--rng]\n"
                 "                [--disk PATH[,ro][,id=ID]]... [--fs SOCKET,tag=TAG]...\n"
                 "                [--net FD[,mac=MAC][,mtu=N]]... [--vsock SOCKET [--cid N]]\n"
                 "                [--console com1|virtio] [--mmio-cmdline] [--no-seccomp]\n"
                 "       kata-vmm --api-socket [path=]PATH [--no-seccomp] [--seccomp true|false]\n"
                 "                [--log-file FILE] [-v]...\n"
                 "       kata-vmm --api-sock PATH [--id ID] [--no-seccomp] [--level LEVEL]\n"
                 "                [--log-path FILE] [--show-level] [--show-log-origin]\n"
                 "       kata-vmm --version\n");
}

#define MAX_DISKS 8
#define MAX_FS    4
#define MAX_NETS  4

/* FD[,mac=MAC][,mtu=N]: a tap kata-vmm inherited, split in place. */
static int parse_net(char *spec, struct vmm_net *net)
{
    char *rest = spec, *end = NULL;
    const char *fd = strsep(&rest, ",");
    *net = (struct vmm_net){.tap_fd = (int)strtol(fd, &end, 10)};
    if (*fd == '\0' || *end || net->tap_fd < 0)
        goto bad;
    for (char *opt; (opt = strsep(&rest, ",")) != NULL;) {
        if (strncmp(opt, "mac=", 4) == 0)
            net->mac = opt + 4;
        else if (strncmp(opt, "mtu=", 4) == 0)
            net->mtu = (unsigned)strtoul(opt + 4, NULL, 10);
        else
            goto bad;
    }
    return 0;
bad:
    fprintf(stderr, "kata-vmm: --net: expected FD[,mac=MAC][,mtu=N]\n");
    return -1;
}

/* SOCKET,tag=TAG, split in place. */
static int parse_fs(char *spec, struct vmm_fs *fs)
{
    char *comma = strchr(spec, ',');
    if (comma == NULL || strncmp(comma + 1, "tag=", 4) != 0 || comma == spec || !comma[5]) {
        fprintf(stderr, "kata-vmm: --fs `%s`: expected SOCKET,tag=TAG\n", spec);
        return -1;
    }
    *comma = '\0';
    *fs = (struct vmm_fs){.socket = spec, .tag = comma + 5};
    return 0;
}

/* PATH[,ro][,id=ID], split in place. */
static int parse_disk(char *spec, struct vmm_disk *disk)
{
    char *rest = spec;
    *disk = (struct vmm_disk){.path = strsep(&rest, ",")};
    for (char *opt; (opt = strsep(&rest, ",")) != NULL;) {
        if (strcmp(opt, "ro") == 0)
            disk->readonly = true;
        else if (strncmp(opt, "id=", 3) == 0)
            disk->id = opt + 3;
        else {
            fprintf(stderr, "kata-vmm: --disk `%s`: unknown option `%s` (ro, id=ID)\n", disk->path,
                    opt);
            return -1;
        }
    }
    if (*disk->path == '\0') {
        fprintf(stderr, "kata-vmm: --disk needs a path\n");
        return -1;
    }
    return 0;
}

/* Cloud Hypervisor's `--api-socket`: PATH or path=PATH (fd=N is not
 * supported). */
static const char *api_socket_arg(const char *arg)
{
    if (strncmp(arg, "fd=", 3) == 0) {
        fprintf(stderr,
                "kata-vmm: --api-socket `%s`: fd= is not supported by kata-vmm (give "
                "path=PATH)\n",
                arg);
        return NULL;
    }
    if (strncmp(arg, "path=", 5) == 0)
        arg += 5;
    if (*arg == '\0' || strchr(arg, ',')) {
        fprintf(stderr, "kata-vmm: --api-socket `%s`: expected PATH or path=PATH\n", arg);
        return NULL;
    }
    return arg;
}

/* `--seccomp true|false`; Cloud Hypervisor's `log` is not supported. */
static int seccomp_arg(const char *arg, bool *seccomp)
{
    if (strcmp(arg, "true") == 0 || strcmp(arg, "false") == 0) {
        *seccomp = strcmp(arg, "true") == 0;
        return 0;
    }
    fprintf(stderr, "kata-vmm: --seccomp `%s`: %s\n", arg,
            strcmp(arg, "log") == 0 ? "not supported by kata-vmm (true or false)"
                                    : "expected true or false");
    return -1;
}

/* `--log-file FILE`: kata-vmm's messages (its stderr) are appended there. */
static int log_file_arg(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640);
    if (fd < 0 || dup2(fd, 2) < 0) {
        fprintf(stderr, "kata-vmm: --log-file `%s`: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

static void on_signalfd(struct loop_watch *w, uint32_t events, void *data)
{
    struct signalfd_siginfo si;
    if (read(loop_watch_fd(w), &si, sizeof(si)) == sizeof(si))
        vmm_api_shutdown(data);
}

/* The control-socket mode: SIGTERM and SIGINT arrive on a signalfd of the
 * loop (blocked in every thread) and stop the VM. */
/* Firecracker's `--id`: at most 64 letters, digits and `-` (its rule). */
static int fc_id_arg(const char *id)
{
    size_t n = strlen(id);
    bool ok = n > 0 && n <= 64;
    for (const char *c = id; ok && *c; c++)
        ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
             *c == '-';
    if (!ok)
        fprintf(stderr, "kata-vmm: --id `%.80s`: expected 1 to 64 letters, digits or `-`\n", id);
    return ok ? 0 : -1;
}

/* Firecracker's `--level`: accepted (kata-vmm has one level), checked. */
static int fc_level_arg(const char *level)
{
    static const char *const levels[] = {"Error", "Warning", "Info", "Debug", "Trace", "Off"};
    for (size_t i = 0; i < ARRAY_SIZE(levels); i++)
        if (strcasecmp(level, levels[i]) == 0)
            return 0;
    fprintf(stderr,
            "kata-vmm: --level `%.64s`: expected Error, Warning, Info, Debug, Trace or Off\n",
            level);
    return -1;
}

/* path: Cloud Hypervisor's API; fc_path: Firecracker's (fc_id its id). */
static int serve_api(const char *path, const char *fc_path, const char *fc_id, bool seccomp,
                     struct console *con)
{
    cleanup_kerr struct kerr *err = NULL;
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigprocmask(SIG_BLOCK, &stop_signals, NULL);
    cleanup_close int sfd = signalfd(-1, &stop_signals, SFD_CLOEXEC | SFD_NONBLOCK);
    struct loop *loop = loop_new(&err);
    struct vmm_api *api = NULL;
    int status = 1;
    if (sfd < 0 && err == NULL)
        kerr_make(&err, errno, "signalfd");
    if (loop && sfd >= 0)
        api = vmm_api_new(loop, fc_path ? fc_path : path, seccomp, console_out, con, &err);
    if (api && fc_path)
        vmm_api_set_firecracker(api, fc_id);
    if (api && loop_watch_add(loop, sfd, EPOLLIN, on_signalfd, api, &err) != NULL) {
        while (!vmm_api_done(api) && loop_run_once(loop, -1, &err) == 0)
            ;
        status = err ? 1 : vmm_api_exit_status(api);
    }
    if (err)
        kerr_report(&err, "kata-vmm", stderr);
    vmm_api_free(api);
    loop_free(loop);
    return status;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"kernel", required_argument, NULL, 'k'},
        {"initrd", required_argument, NULL, 'i'},
        {"cmdline", required_argument, NULL, 'c'},
        {"memory", required_argument, NULL, 'm'},
        {"timeout", required_argument, NULL, 't'},
        {"marker", required_argument, NULL, 'x'},
        {"rng", no_argument, NULL, 'r'},
        {"disk", required_argument, NULL, 'd'},
        {"vsock", required_argument, NULL, 'X'},
        {"cid", required_argument, NULL, 'C'},
        {"mmio-cmdline", no_argument, NULL, 'M'},
        {"vcpus", required_argument, NULL, 'n'},
        {"no-seccomp", no_argument, NULL, 'S'},
        {"api-socket", required_argument, NULL, 'A'},
        {"api-sock", required_argument, NULL, 'a'},
        {"id", required_argument, NULL, 'I'},
        {"level", required_argument, NULL, 'l'},
        {"log-path", required_argument, NULL, 'L'},
        {"show-level", no_argument, NULL, 'v'},
        {"show-log-origin", no_argument, NULL, 'v'},
        {"start-time-us", required_argument, NULL, 'T'},
        {"start-time-cpu-us", required_argument, NULL, 'T'},
        {"parent-cpu-time-us", required_argument, NULL, 'T'},
        {"fs", required_argument, NULL, 'F'},
        {"net", required_argument, NULL, 'N'},
        {"console", required_argument, NULL, 'O'},
        {"seccomp", required_argument, NULL, 's'},
        {"log-file", required_argument, NULL, 'L'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct vmm_disk disks[MAX_DISKS];
    struct vmm_fs shares[MAX_FS];
    struct vmm_net nets[MAX_NETS];
    struct vmm_config cfg = {
        .cmdline = DEFAULT_CMDLINE, .memory_mb = 256, .vcpus = 1, .seccomp = true};
    struct console con = {0};
    unsigned timeout = 60;
    const char *api_socket = NULL, *fc_socket = NULL, *fc_id = NULL;
    bool cmdline_given = false;
    int c;
    opterr = 0; /* refusals below name the option */
    while ((c = getopt_long(argc, argv, ":hvV", longopts, NULL)) != -1) {
        switch (c) {
        case 'k':
            cfg.kernel = optarg;
            break;
        case 'i':
            cfg.initrd = optarg;
            break;
        case 'c':
            cfg.cmdline = optarg;
            cmdline_given = true;
            break;
        case 'm':
            cfg.memory_mb = (unsigned)atoi(optarg);
            break;
        case 't':
            timeout = (unsigned)atoi(optarg);
            break;
        case 'x':
            con.marker = optarg;
            break;
        case 'r':
            cfg.rng = true;
            break;
        case 'd':
            if (cfg.disk_count == MAX_DISKS) {
                fprintf(stderr, "kata-vmm: more than %d disks\n", MAX_DISKS);
                return 2;
            }
            if (parse_disk(optarg, &disks[cfg.disk_count]) < 0)
                return 2;
            cfg.disks = disks;
            cfg.disk_count++;
            break;
        case 'X':
            cfg.vsock_socket = optarg;
            break;
        case 'C':
            cfg.vsock_cid = strtoull(optarg, NULL, 10);
            break;
        case 'M':
            cfg.devices_on_cmdline = true;
            break;
        case 'n':
            cfg.vcpus = (unsigned)atoi(optarg);
            break;
        case 'S':
            cfg.seccomp = false;
            break;
        case 'A':
            if ((api_socket = api_socket_arg(optarg)) == NULL)
                return 2;
            break;
        case 'a':
            if (*optarg == '\0') {
                fprintf(stderr, "kata-vmm: --api-sock needs a path\n");
                return 2;
            }
            fc_socket = optarg;
            break;
        case 'I':
            if (fc_id_arg(optarg) < 0)
                return 2;
            fc_id = optarg;
            break;
        case 'l':
            if (fc_level_arg(optarg) < 0)
                return 2;
            break;
        case 'T':
            break; /* the jailer's timings: kata-vmm keeps none */
        case 's':
            if (seccomp_arg(optarg, &cfg.seccomp) < 0)
                return 2;
            break;
        case 'L':
            if (log_file_arg(optarg) < 0)
                return 2;
            break;
        case 'v':
            break; /* Cloud Hypervisor's verbosity: kata-vmm has one level */
        case 'V':
            printf("kata-vmm %s\n", KATA_VERSION);
            return 0;
        case ':':
            fprintf(stderr, "kata-vmm: option `%s` needs a value\n", argv[optind - 1]);
            return 2;
        case '?':
            fprintf(stderr, "kata-vmm: option `%s` is not supported (kata-vmm --help)\n",
                    argv[optind - 1]);
            return 2;
        case 'N':
            if (cfg.net_count == MAX_NETS) {
                fprintf(stderr, "kata-vmm: more than %d --net interfaces\n", MAX_NETS);
                return 2;
            }
            if (parse_net(optarg, &nets[cfg.net_count]) < 0)
                return 2;
            cfg.nets = nets;
            cfg.net_count++;
            break;
        case 'F':
            if (cfg.fs_count == MAX_FS) {
                fprintf(stderr, "kata-vmm: more than %d --fs shares\n", MAX_FS);
                return 2;
            }
            if (parse_fs(optarg, &shares[cfg.fs_count]) < 0)
                return 2;
            cfg.fs = shares;
            cfg.fs_count++;
            break;
        case 'O':
            if (strcmp(optarg, "virtio") != 0 && strcmp(optarg, "com1") != 0) {
                fprintf(stderr, "kata-vmm: --console `%s`: expected com1 or virtio\n", optarg);
                return 2;
            }
            cfg.virtio_console = strcmp(optarg, "virtio") == 0;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (api_socket && fc_socket) {
        fprintf(stderr, "kata-vmm: --api-socket (Cloud Hypervisor's API) and --api-sock "
                        "(Firecracker's): one of them\n");
        return 2;
    }
    if (fc_id && !fc_socket) {
        fprintf(stderr, "kata-vmm: --id goes with --api-sock\n");
        return 2;
    }
    if (api_socket || fc_socket)
        return serve_api(api_socket, fc_socket, fc_id, cfg.seccomp, &con);
    if (cfg.virtio_console && !cmdline_given)
        cfg.cmdline = VIRTIO_CONSOLE_CMDLINE;
    if (cfg.kernel == NULL || cfg.memory_mb < 16 || cfg.memory_mb > 3072 || cfg.vcpus < 1 ||
        cfg.vcpus > VMM_MAX_VCPUS) {
        usage(stderr);
        return 2;
    }

    cleanup_kerr struct kerr *err = NULL;
    con.t0 = now_ns();
    struct vmm *vm = vmm_create(&cfg, console_out, &con, &err);
    if (vm == NULL) {
        kerr_report(&err, "kata-vmm", stderr);
        return 1;
    }
    running = vm;
    struct sigaction sa = {.sa_handler = on_stop_signal};
    /* No SA_RESTART: KVM_RUN returns EINTR.  The device thread blocks these,
     * so they reach the vCPU (main) thread. */
    sigaction(SIGALRM, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    alarm(timeout); /* 0: none */
    enum vmm_exit why = VMM_EXIT_STOPPED;
    int run = vmm_run(vm, &why, &err);
    int status = vmm_exit_code(run, why);
    if (run < 0) {
        kerr_report(&err, "kata-vmm", stderr);
    } else if (why == VMM_EXIT_STOPPED && stop_signal == SIGALRM) {
        fprintf(stderr, "kata-vmm: stopped after %u s\n", timeout);
        status = VMM_STATUS_ERROR;
    } else if (why == VMM_EXIT_STOPPED) {
        fprintf(stderr, "kata-vmm: stopped by signal %d\n", (int)stop_signal);
    }
    if (vmm_exit_status_text(status))
        fprintf(stderr, "kata-vmm: %s: exit status %d\n", vmm_exit_status_text(status), status);
    alarm(0);
    running = NULL;
    vmm_free(vm);
    if (con.marker) {
        if (!con.seen) {
            fprintf(stderr, "kata-vmm: marker `%s` not seen\n", con.marker);
            return status ? status : VMM_STATUS_ERROR;
        }
        fprintf(stderr, "kata-vmm: marker after %.1f ms\n", (con.t_seen - con.t0) / 1e6);
    }
    return status;
}
