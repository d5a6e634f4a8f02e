/* vm-probe: boot a guest with the QEMU driver and talk to its agent.
 *
 *   vm-probe --kernel K --initrd I [--machine microvm|q35] [--json]
 *       boots, calls grpc.Health/Check and AgentService/GetGuestDetails,
 *       then DestroySandbox, waits for the VMM's exit and prints what the
 *       guest reported, the VMM process's memory when the agent answered
 *       (VmRSS, Pss, private), how many of its threads run under a seccomp
 *       filter (after any --qmp-check) and how it exited.
 *   vm-probe ... --marker TEXT
 *       boots a bare init and waits for TEXT on the console instead.
 *
 *   vm-probe ... --share9p DIR | --virtiofs DIR
 *       exports DIR with the tag kataShared (virtiofsd started and stopped
 *       by the driver).
 *   vm-probe ... --qmp-check
 *       also pauses and resumes the VM over QMP, reporting query-status.
 *   vm-probe ... --block PATH [--hotplug PATH]
 *       attaches PATH at boot (id blk0) / hotplugs one over QMP (q35).
 *   vm-probe --hypervisor dragonball ... --mmio-cmdline
 *       has kata-vmm announce its virtio-mmio devices on the kernel command
 *       line (the configuration's virtio_mmio_cmdline).
 *   vm-probe ... --calls FILE
 *       once the agent answers (and after QMP work), runs the JSON calls of
 *       FILE (tests/tools/agent_calls.h), printing one response a line.
 *
 * The main job and bench/boot use it until containers run. */
#include "agent.pb-c.h"
#include "agent_calls.h"
#include "channel.h"
#include "health.pb-c.h"
#include "hypervisor.h"
#include "loop.h"
#include "process_stats.h"
#include "ttrpc.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

struct probe {
    struct vm vm;
    struct loop *loop;
    char *console;
    size_t console_len;
    const char *marker;
    bool marker_seen;
    bool echo_console;
    bool qmp_check;
    const char *hotplug;
    const char *calls;
};

static void console_readable(struct loop_watch *w, uint32_t events, void *data)
{
    struct probe *p = data;
    char buf[4096];
    ssize_t n = read(loop_watch_fd(w), buf, sizeof(buf));
    if (n <= 0) {
        loop_watch_remove(w);
        return;
    }
    if (p->echo_console)
        fd_write_full(2, buf, (size_t)n);
    /* Keep the last 64 KiB for error reports and marker search. */
    if (p->console_len + (size_t)n > 65536) {
        size_t drop = p->console_len + (size_t)n - 65536;
        if (drop > p->console_len)
            drop = p->console_len;
        memmove(p->console, p->console + drop, p->console_len - drop);
        p->console_len -= drop;
    }
    p->console = xrealloc(p->console, p->console_len + (size_t)n + 1);
    memcpy(p->console + p->console_len, buf, (size_t)n);
    p->console_len += (size_t)n;
    p->console[p->console_len] = '\0';
    if (p->marker && !p->marker_seen && strstr(p->console, p->marker))
        p->marker_seen = true;
}

static void timeout_passed(void *data)
{
    bool *flag = data;
    *flag = true;
}

static void usage(FILE *out)
{
    fprintf(out, "Usage: vm-probe --kernel PATH (--initrd PATH | --image PATH) [options]\n"
                 "  --machine microvm|q35   machine type (default microvm)\n"
                 "  --qemu PATH             QEMU binary (default /usr/bin/qemu-system-x86_64)\n"
                 "  --hypervisor NAME       driver: qemu (default) or dragonball (--qemu names\n"
                 "                          the built-in VMM's kata-vmm binary then)\n"
                 "  --vcpus N --memory MB   guest size (default 1, 256)\n"
                 "  --params TEXT           extra kernel parameters (appended last)\n"
                 "  --marker TEXT           wait for TEXT on the console instead of the agent\n"
                 "  --timeout SECONDS       give up after this long (default 60)\n"
                 "  --run-dir DIR           sockets and logs (default a fresh /tmp dir)\n"
                 "  --console               echo the guest console to stderr\n"
                 "  --json                  print the report as JSON\n"
                 "  --share9p DIR           export DIR over virtio-9p (tag kataShared)\n"
                 "  --virtiofs DIR          export DIR over virtio-fs (virtiofsd)\n"
                 "  --qmp-check             pause and resume over QMP, report query-status\n"
                 "  --block PATH            attach PATH as a read-only disk (id blk0)\n"
                 "  --hotplug PATH          hotplug PATH over QMP once the agent is up (q35)\n"
                 "  --calls FILE            run the JSON agent calls of FILE (see agent-ctl)\n");
}

static void print_console_tail(const struct probe *p)
{
    if (p->console_len == 0)
        return;
    const char *start = p->console_len > 2000 ? p->console + p->console_len - 2000 : p->console;
    fprintf(stderr, "--- guest console (tail) ---\n%s\n---\n", start);
}

/* Returns the ttrpc client, or NULL with err set. */
static struct ttrpc_client *connect_agent(struct probe *p, uint64_t timeout_ns, struct kerr **err)
{
    int fd = p->vm.ops->agent_connect(&p->vm, timeout_ns, err);
    if (fd < 0)
        return NULL;
    return ttrpc_client_new(p->loop, fd, err);
}

/* QMP: stop, query-status, cont, query-status; hotplug.  Returns the JSON
 * fields to report ("" when nothing was asked), NULL on failure. */
static char *qmp_exercise(struct probe *p, struct kerr **err)
{
    cleanup_free char *paused = NULL, *resumed = NULL, *hotplug_path = NULL;
    if (p->qmp_check) {
        if (vm_pause(&p->vm, err) < 0 || (paused = p->vm.ops->status(&p->vm, err)) == NULL ||
            vm_resume(&p->vm, err) < 0 || (resumed = p->vm.ops->status(&p->vm, err)) == NULL)
            return NULL;
    }
    if (p->hotplug) {
        struct vm_block_device dev = {.id = "hot0", .path = p->hotplug, .readonly = true};
        if (p->vm.ops->hotplug_block(&p->vm, &dev, &hotplug_path, err) < 0)
            return NULL;
    }
    pid_t pids[8];
    size_t npids = p->vm.ops->pids(&p->vm, pids, 8);
    return xasprintf(", \"qmp_paused\": \"%s\", \"qmp_resumed\": \"%s\", \"hotplug_path\": "
                     "\"%s\", \"vm_processes\": %zu",
                     paused ? paused : "", resumed ? resumed : "", hotplug_path ? hotplug_path : "",
                     npids);
}

/* Health/Check, GetGuestDetails, GetMetrics, then DestroySandbox: what the
 * main job shows.  Returns the exit status. */
static int probe_agent(struct probe *p, bool json, uint64_t t0, uint64_t timeout_ns,
                       struct kerr **err)
{
    struct ttrpc_client *client = connect_agent(p, timeout_ns, err);
    if (client == NULL)
        return 1;
    cleanup_free char *qmp_report = NULL;
    int status = 1;
    Grpc__CheckRequest check = GRPC__CHECK_REQUEST__INIT;
    Grpc__HealthCheckResponse *health = NULL;
    uint64_t remaining = timeout_ns - (now_ns() - t0);
    if (ttrpc_client_call(client, "grpc.Health", "Check", &check.base,
                          &grpc__health_check_response__descriptor, (ProtobufCMessage **)&health,
                          remaining, NULL, err) < 0)
        goto out_client;
    uint64_t t_ready = now_ns();
    /* The VMM process's memory once the agent answers (guest RAM the guest
     * touched included). */
    struct process_memory mem;
    if (process_memory_read(p->vm.pid, &mem, err) < 0)
        goto out_health;
    qmp_report = qmp_exercise(p, err);
    if (qmp_report == NULL)
        goto out_health;
    if (p->calls) {
        struct agent_calls calls = {.client = client, .timeout_ns = 60000000000ull};
        if (agent_calls_file(&calls, p->calls) != AGENT_CALLS_OK) {
            kerr_make(err, 0, "calls of `%s` failed", p->calls);
            goto out_health;
        }
    }
    /* After pause and resume: which of the VMM's threads are confined. */
    unsigned threads = 0, filtered = 0;
    if (process_seccomp_threads(p->vm.pid, &threads, &filtered, err) < 0)
        goto out_health;
    Grpc__GuestDetailsRequest details_req = GRPC__GUEST_DETAILS_REQUEST__INIT;
    details_req.mem_block_size = true;
    Grpc__GuestDetailsResponse *details = NULL;
    if (ttrpc_client_call(client, "grpc.AgentService", "GetGuestDetails", &details_req.base,
                          &grpc__guest_details_response__descriptor, (ProtobufCMessage **)&details,
                          10000000000ull, NULL, err) < 0)
        goto out_health;
    /* The agent's own RSS, from its Prometheus metrics. */
    unsigned long long rss_kb = 0;
    Grpc__GetMetricsRequest metrics_req = GRPC__GET_METRICS_REQUEST__INIT;
    Grpc__Metrics *metrics = NULL;
    struct kerr *metrics_err = NULL;
    if (ttrpc_client_call(client, "grpc.AgentService", "GetMetrics", &metrics_req.base,
                          &grpc__metrics__descriptor, (ProtobufCMessage **)&metrics, 10000000000ull,
                          NULL, &metrics_err) == 0) {
        const char *line = strstr(metrics->metrics, "\nkata_agent_process_resident_memory_bytes ");
        if (line)
            rss_kb = strtoull(strchr(line + 1, ' ') + 1, NULL, 10) / 1024;
        grpc__metrics__free_unpacked(metrics, NULL);
    }
    kerr_clear(&metrics_err);
    /* Power the guest off through the agent, as a sandbox teardown does. */
    Grpc__DestroySandboxRequest destroy = GRPC__DESTROY_SANDBOX_REQUEST__INIT;
    struct kerr *destroy_err = NULL;
    ttrpc_client_call(client, "grpc.AgentService", "DestroySandbox", &destroy.base, NULL, NULL,
                      5000000000ull, NULL, &destroy_err);
    kerr_clear(&destroy_err);
    /* How the VMM ended: its exit code, 128 + a signal, -1 if it did not. */
    int wait_status = vm_wait_exit(&p->vm, 10000000000ull);
    int vmm_exit = wait_status < 0          ? -1
                   : WIFEXITED(wait_status) ? WEXITSTATUS(wait_status)
                                            : 128 + WTERMSIG(wait_status);
    if (wait_status < 0)
        fprintf(stderr, "vm-probe: guest did not power off in 10 s, stopping the VMM\n");
    const char *agent_version = details->agent_details && details->agent_details->version
                                    ? details->agent_details->version
                                    : "";
    if (json) {
        printf("{\"machine\": \"%s\", \"accel\": \"%s\", \"channel\": \"%s\", "
               "\"ready_ms\": %.1f, "
               "\"health\": \"%s\", \"kernel_release\": \"%s\", \"online_cpus\": %u, "
               "\"memory_bytes\": %llu, \"agent_version\": \"%s\", \"agent_rss_kb\": %llu, "
               "\"vmm_rss_kb\": %llu, \"vmm_pss_kb\": %llu, \"vmm_private_kb\": %llu, "
               "\"vmm_threads\": %u, \"vmm_filtered_threads\": %u, \"vmm_exit\": %d%s}\n",
               p->vm.cfg.machine_type, vm_accel_name(p->vm.accel),
               p->vm.vsock ? "vsock" : "virtio-serial", (t_ready - t0) / 1e6,
               health->status == GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                   ? "SERVING"
                   : "NOT_SERVING",
               details->kernel_release, details->online_cpus,
               (unsigned long long)details->memory_bytes, agent_version, rss_kb, mem.rss_kb,
               mem.pss_kb, mem.private_kb, threads, filtered, vmm_exit, qmp_report);
    } else {
        printf("machine:        %s (%s)\n", p->vm.cfg.machine_type, vm_accel_name(p->vm.accel));
        if (p->vm.vsock)
            printf("channel:        vsock, guest CID %u, port %d\n", p->vm.cid, AGENT_VSOCK_PORT);
        else
            printf("channel:        virtio-serial port %s\n", AGENT_SERIAL_NAME);
        printf("agent:          kata-agent %s, health %s, ready after %.0f ms\n", agent_version,
               health->status == GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                   ? "SERVING"
                   : "NOT SERVING",
               (t_ready - t0) / 1e6);
        printf("guest kernel:   %s\n", details->kernel_release);
        printf("guest CPUs:     %u\n", details->online_cpus);
        printf("guest memory:   %llu MiB\n", (unsigned long long)(details->memory_bytes >> 20));
        printf("agent RSS:      %llu KiB\n", rss_kb);
        printf("VMM memory:     RSS %llu KiB, Pss %llu KiB, private %llu KiB (agent ready)\n",
               mem.rss_kb, mem.pss_kb, mem.private_kb);
        printf("VMM threads:    %u, %u under a seccomp filter\n", threads, filtered);
        printf("VMM exit:       %d\n", vmm_exit);
        if (*qmp_report)
            printf("vm:            %s\n", qmp_report + 1);
    }
    fflush(stdout);
    grpc__guest_details_response__free_unpacked(details, NULL);

    status = 0;
out_health:
    grpc__health_check_response__free_unpacked(health, NULL);
out_client:
    ttrpc_client_free(client);
    return status;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"kernel", required_argument, NULL, 'k'},
        {"initrd", required_argument, NULL, 'i'},
        {"image", required_argument, NULL, 'I'},
        {"machine", required_argument, NULL, 'M'},
        {"qemu", required_argument, NULL, 'q'},
        {"hypervisor", required_argument, NULL, 'D'},
        {"vcpus", required_argument, NULL, 'c'},
        {"memory", required_argument, NULL, 'm'},
        {"params", required_argument, NULL, 'p'},
        {"marker", required_argument, NULL, 'x'},
        {"timeout", required_argument, NULL, 't'},
        {"run-dir", required_argument, NULL, 'r'},
        {"console", no_argument, NULL, 'C'},
        {"json", no_argument, NULL, 'j'},
        {"share9p", required_argument, NULL, '9'},
        {"virtiofs", required_argument, NULL, 'F'},
        {"qmp-check", no_argument, NULL, 'Q'},
        {"block", required_argument, NULL, 'B'},
        {"hotplug", required_argument, NULL, 'H'},
        {"calls", required_argument, NULL, 'X'},
        {"mmio-cmdline", no_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct vm_config cfg = {
        .hypervisor_path = "/usr/bin/qemu-system-x86_64",
        .machine_type = "microvm",
        .vcpus = 1,
        .memory_mb = 256,
    };
    struct probe p = {0};
    const struct hypervisor_ops *ops = &qemu_ops;
    struct vm_block_device block = {0};
    double timeout_s = 60;
    bool json = false;
    const char *run_dir = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'k':
            cfg.kernel = optarg;
            break;
        case 'i':
            cfg.initrd = optarg;
            break;
        case 'I':
            cfg.image = optarg;
            break;
        case 'M':
            cfg.machine_type = optarg;
            break;
        case 'q':
            cfg.hypervisor_path = optarg;
            break;
        case 'D':
            ops = hypervisor_find(optarg);
            if (ops == NULL) {
                fprintf(stderr, "vm-probe: unknown hypervisor `%s`\n", optarg);
                return 2;
            }
            break;
        case 'c':
            cfg.vcpus = (unsigned)atoi(optarg);
            break;
        case 'm':
            cfg.memory_mb = (unsigned)atoi(optarg);
            break;
        case 'p':
            cfg.kernel_params = optarg;
            break;
        case 'x':
            p.marker = optarg;
            break;
        case 't':
            timeout_s = atof(optarg);
            break;
        case 'r':
            run_dir = optarg;
            break;
        case 'C':
            p.echo_console = true;
            break;
        case 'j':
            json = true;
            break;
        case '9':
            cfg.shared_fs = "virtio-9p";
            cfg.shared_dir = optarg;
            break;
        case 'L':
            cfg.virtio_mmio_cmdline = true;
            break;
        case 'F':
            cfg.shared_fs = "virtio-fs";
            cfg.shared_dir = optarg;
            break;
        case 'Q':
            p.qmp_check = true;
            break;
        case 'B':
            block = (struct vm_block_device){.id = "blk0", .path = optarg, .readonly = true};
            cfg.block_devices = &block;
            cfg.n_block_devices = 1;
            break;
        case 'H':
            p.hotplug = optarg;
            cfg.hotplug_slots = 1;
            break;
        case 'X':
            p.calls = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (cfg.kernel == NULL || (cfg.initrd == NULL && cfg.image == NULL)) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    char tmpl[] = "/tmp/vm-probe.XXXXXX";
    bool own_run_dir = run_dir == NULL;
    if (own_run_dir && (run_dir = mkdtemp(tmpl)) == NULL) {
        perror("vm-probe: mkdtemp");
        return 1;
    }
    cfg.run_dir = run_dir;

    cleanup_kerr struct kerr *err = NULL;
    uint64_t timeout_ns = (uint64_t)(timeout_s * 1e9);
    int status = 1;
    p.loop = loop_new(&err);
    vm_init(&p.vm, ops, &cfg);
    uint64_t t0 = now_ns();
    if (p.vm.ops->start(&p.vm, &err) < 0)
        goto out;
    loop_watch_add(p.loop, p.vm.console_fd, EPOLLIN, console_readable, &p, NULL);

    bool timed_out = false;
    struct loop_timer *timer = loop_timer_add(p.loop, timeout_ns, timeout_passed, &timed_out);
    if (p.marker) {
        while (!p.marker_seen && !timed_out)
            loop_run_once(p.loop, -1, NULL);
        uint64_t t1 = now_ns();
        if (!p.marker_seen) {
            kerr_make(&err, ETIMEDOUT, "marker `%s` not seen on the console", p.marker);
            goto out;
        }
        if (!timed_out)
            loop_timer_cancel(timer);
        printf(json ? "{\"marker_ms\": %.1f}\n" : "marker seen after %.1f ms\n", (t1 - t0) / 1e6);
        status = 0;
        goto out;
    }

    status = probe_agent(&p, json, t0, timeout_ns, &err);
out:
    if (err) {
        fprintf(stderr, "vm-probe: %s\n", err->msg);
        print_console_tail(&p);
    }
    cleanup_kerr struct kerr *stop_err = NULL;
    if (p.vm.ops->stop(&p.vm, 2000000000ull, &stop_err) < 0)
        fprintf(stderr, "vm-probe: %s\n", stop_err->msg);
    vm_release(&p.vm);
    loop_free(p.loop);
    free(p.console);
    if (own_run_dir) {
        cleanup_free char *cmd = xasprintf("rm -rf '%s'", run_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "vm-probe: could not remove `%s`\n", run_dir);
    }
    return status;
}
