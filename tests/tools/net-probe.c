/* net-probe: the host side of container networking, step by step, as the
 * sandbox daemon does it (src/lib/network.h).
 *
 *   net-probe scan NETNS
 *       prints what the guest would be told: {"interfaces": [UpdateInterface
 *       requests], "routes": UpdateRoutes, "neighbors": AddARPNeighbors}.
 *   net-probe attach NETNS [--model tcfilter|none]
 *       creates the taps, qdiscs and filters, prints {"taps": [...]}, holds
 *       the tap fds until stdin closes, then closes them (no detach).
 *       --persist: the taps made persistent and their fds closed before
 *       printing (as for a VMM that opens taps by name; detach removes them).
 *       --pause-after-scan: prints {"scanned": N} and waits for a line on
 *       stdin before attaching (tests remove an interface meanwhile).
 *   net-probe detach NETNS
 *       (--timings: attach and detach also report scan_ms, attach_ms and
 *       detach_ms, for bench/net)
 *   net-probe vm NETNS --kernel K --initrd I [--machine microvm|q35] [--model M]
 *                [--timeout S]
 *       scan, attach, boot a VM with the taps (virtio-net), configure the
 *       guest through the agent (UpdateInterface, UpdateRoutes,
 *       AddARPNeighbors), print {"ready": ..., "interfaces": [agent replies]},
 *       wait until stdin closes, then power off and detach.
 *
 * NET_PROBE_TRACE=1 in the environment: vm prints when each agent call
 * returned.  Errors go to stderr as "net-probe: ..." with exit status 1. */
#include "agent.pb-c.h"
#include "health.pb-c.h"
#include "hypervisor.h"
#include "loop.h"
#include "network.h"
#include "network_agent.h"
#include "pbjson.h"
#include "ttrpc.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define CALL_TIMEOUT_NS (30ull * 1000 * 1000 * 1000)

struct options {
    const char *netns;
    bool pause_after_scan; /* attach: wait for a line on stdin between scan and attach */
    bool timings;          /* attach, detach: report how long each step took */
    bool persist;          /* attach: persistent taps, our fds closed */
    enum net_model model;
    struct vm_config cfg;
    const struct hypervisor_ops *ops; /* --hypervisor: qemu (default) or dragonball */
    double timeout_s;
    bool console;
};

static void wait_stdin_eof(void)
{
    char buf[256];
    while (read(0, buf, sizeof(buf)) > 0)
        ;
}

static void wait_stdin_line(void)
{
    char ch;
    while (read(0, &ch, 1) == 1 && ch != '\n')
        ;
}

static void print_json(struct json_object *o)
{
    printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    fflush(stdout);
}

static struct json_object *scan_object(const struct net_scan *scan)
{
    struct json_object *o = json_object_new_object();
    struct json_object *ifaces = json_object_new_array();
    for (size_t i = 0; i < scan->n_ifaces; i++) {
        Types__Interface *m = network_agent_interface(&scan->ifaces[i]);
        json_object_array_add(ifaces, pbjson_to_object(&m->base, 0));
        protobuf_c_message_free_unpacked(&m->base, NULL);
    }
    json_object_object_add(o, "interfaces", ifaces);
    Grpc__Routes *routes = network_agent_routes(scan);
    json_object_object_add(o, "routes", pbjson_to_object(&routes->base, 0));
    protobuf_c_message_free_unpacked(&routes->base, NULL);
    Grpc__ARPNeighbors *neigh = network_agent_neighbors(scan);
    json_object_object_add(o, "neighbors",
                           neigh ? pbjson_to_object(&neigh->base, 0) : json_object_new_object());
    if (neigh)
        protobuf_c_message_free_unpacked(&neigh->base, NULL);
    return o;
}

static int cmd_scan(struct options *o, struct kerr **err)
{
    struct net_scan scan;
    if (network_scan(o->netns, &scan, err) < 0)
        return -1;
    struct json_object *j = scan_object(&scan);
    print_json(j);
    json_object_put(j);
    network_scan_release(&scan);
    return 0;
}

static struct json_object *taps_object(const struct net_attachment *att)
{
    struct json_object *taps = json_object_new_array();
    for (size_t i = 0; i < att->n_taps; i++) {
        const struct net_tap *t = &att->taps[i];
        char mac[18];
        net_mac_text(t->mac, mac);
        struct json_object *tap = json_object_new_object();
        json_object_object_add(tap, "name", json_object_new_string(t->name));
        json_object_object_add(tap, "veth", json_object_new_string(t->veth));
        json_object_object_add(tap, "mac", json_object_new_string(mac));
        json_object_object_add(tap, "mtu", json_object_new_int((int)t->mtu));
        json_object_array_add(taps, tap);
    }
    return taps;
}

static int cmd_attach(struct options *o, struct kerr **err)
{
    struct net_scan scan;
    struct net_attachment att;
    uint64_t t0 = now_ns();
    if (network_scan(o->netns, &scan, err) < 0)
        return -1;
    uint64_t t_scan = now_ns();
    if (o->pause_after_scan) {
        printf("{\"scanned\": %zu}\n", scan.n_ifaces);
        fflush(stdout);
        wait_stdin_line();
    }
    int rc = network_attach(o->netns, o->model, &scan, &att, err);
    network_scan_release(&scan);
    if (rc < 0)
        return -1;
    if (o->persist && network_taps_persist(&att, err) < 0) {
        network_attachment_release(&att);
        return -1;
    }
    uint64_t t_attach = now_ns();
    struct json_object *j = json_object_new_object();
    json_object_object_add(j, "taps", taps_object(&att));
    if (o->timings) {
        json_object_object_add(j, "scan_ms", json_object_new_double((t_scan - t0) / 1e6));
        json_object_object_add(j, "attach_ms", json_object_new_double((t_attach - t_scan) / 1e6));
    }
    if (o->persist)
        network_attachment_release(&att); /* the taps stay: the names were printed first */
    print_json(j);
    json_object_put(j);
    wait_stdin_eof();
    network_attachment_release(&att);
    return 0;
}

static int cmd_detach(struct options *o, struct kerr **err)
{
    uint64_t t0 = now_ns();
    if (network_detach(o->netns, err) < 0)
        return -1;
    if (o->timings)
        printf("{\"detach_ms\": %.3f}\n", (now_ns() - t0) / 1e6);
    return 0;
}

/* ---- vm ---- */

static int call(struct ttrpc_client *client, const char *method, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *reply_desc, ProtobufCMessage **reply,
                struct kerr **err)
{
    if (ttrpc_client_call(client, "grpc.AgentService", method, req, reply_desc, reply,
                          CALL_TIMEOUT_NS, NULL, err) < 0)
        return kerr_wrap(err, "agent %s", method);
    return 0;
}

/* What the sandbox daemon does once the agent answers. */
static int configure_guest(struct ttrpc_client *client, const struct net_scan *scan,
                           struct json_object *replies, struct kerr **err)
{
    uint64_t t0 = now_ns();
    for (size_t i = 0; i < scan->n_ifaces; i++) {
        Grpc__UpdateInterfaceRequest req = GRPC__UPDATE_INTERFACE_REQUEST__INIT;
        req.interface = network_agent_interface(&scan->ifaces[i]);
        ProtobufCMessage *reply = NULL;
        int rc =
            call(client, "UpdateInterface", &req.base, &types__interface__descriptor, &reply, err);
        protobuf_c_message_free_unpacked(&req.interface->base, NULL);
        if (rc < 0)
            return -1;
        if (getenv("NET_PROBE_TRACE"))
            fprintf(stderr, "net-probe: UpdateInterface %.1f ms\n", (now_ns() - t0) / 1e6);
        json_object_array_add(replies, pbjson_to_object(reply, 0));
        protobuf_c_message_free_unpacked(reply, NULL);
    }
    Grpc__UpdateRoutesRequest routes = GRPC__UPDATE_ROUTES_REQUEST__INIT;
    routes.routes = network_agent_routes(scan);
    ProtobufCMessage *reply = NULL;
    int rc = call(client, "UpdateRoutes", &routes.base, &grpc__routes__descriptor, &reply, err);
    protobuf_c_message_free_unpacked(&routes.routes->base, NULL);
    if (rc < 0)
        return -1;
    if (getenv("NET_PROBE_TRACE"))
        fprintf(stderr, "net-probe: UpdateRoutes done %.1f ms\n", (now_ns() - t0) / 1e6);
    protobuf_c_message_free_unpacked(reply, NULL);
    Grpc__AddARPNeighborsRequest neigh = GRPC__ADD_ARPNEIGHBORS_REQUEST__INIT;
    neigh.neighbors = network_agent_neighbors(scan);
    if (neigh.neighbors) {
        rc = call(client, "AddARPNeighbors", &neigh.base, NULL, NULL, err);
        protobuf_c_message_free_unpacked(&neigh.neighbors->base, NULL);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static void console_drain(struct loop_watch *w, uint32_t events, void *data)
{
    const struct options *o = data;
    char buf[4096];
    ssize_t n = read(loop_watch_fd(w), buf, sizeof(buf));
    if (n <= 0) {
        loop_watch_remove(w);
        return;
    }
    if (o->console)
        fd_write_full(2, buf, (size_t)n);
}

static int run_vm(struct options *o, struct vm *vm, struct loop *loop,
                  const struct net_attachment *att, const struct net_scan *scan, struct kerr **err)
{
    size_t n = att->n_taps;
    struct vm_net_device *nets = xcalloc(n ? n : 1, sizeof(*nets));
    char(*macs)[18] = xcalloc(n ? n : 1, sizeof(*macs));
    for (size_t i = 0; i < n; i++) {
        net_mac_text(att->taps[i].mac, macs[i]);
        nets[i] = (struct vm_net_device){
            .tap_fd = att->taps[i].fd, .mac = macs[i], .mtu = att->taps[i].mtu};
    }
    o->cfg.net_devices = nets;
    o->cfg.n_net_devices = n;
    vm_init(vm, o->ops, &o->cfg);
    uint64_t t0 = now_ns();
    int rc = -1;
    struct ttrpc_client *client = NULL;
    if (vm->ops->start(vm, err) < 0)
        goto out;
    loop_watch_add(loop, vm->console_fd, EPOLLIN, console_drain, o, NULL);
    int fd = vm->ops->agent_connect(vm, (uint64_t)(o->timeout_s * 1e9), err);
    if (fd < 0 || (client = ttrpc_client_new(loop, fd, err)) == NULL)
        goto out;
    /* The agent answers first: then the network calls are timed alone. */
    Grpc__CheckRequest check = GRPC__CHECK_REQUEST__INIT;
    ProtobufCMessage *health = NULL;
    if (ttrpc_client_call(client, "grpc.Health", "Check", &check.base,
                          &grpc__health_check_response__descriptor, &health,
                          (uint64_t)(o->timeout_s * 1e9), NULL, err) < 0)
        goto out;
    protobuf_c_message_free_unpacked(health, NULL);
    uint64_t t_agent = now_ns();
    struct json_object *replies = json_object_new_array();
    if (configure_guest(client, scan, replies, err) < 0) {
        json_object_put(replies);
        goto out;
    }
    uint64_t t_net = now_ns();
    struct json_object *j = json_object_new_object();
    json_object_object_add(j, "ready", json_object_new_boolean(true));
    json_object_object_add(j, "agent_ms", json_object_new_double((t_agent - t0) / 1e6));
    json_object_object_add(j, "network_ms", json_object_new_double((t_net - t_agent) / 1e6));
    json_object_object_add(j, "taps", taps_object(att));
    json_object_object_add(j, "interfaces", replies);
    print_json(j);
    json_object_put(j);
    wait_stdin_eof();
    Grpc__DestroySandboxRequest destroy = GRPC__DESTROY_SANDBOX_REQUEST__INIT;
    struct kerr *ignored = NULL;
    ttrpc_client_call(client, "grpc.AgentService", "DestroySandbox", &destroy.base, NULL, NULL,
                      5000000000ull, NULL, &ignored);
    kerr_free(ignored);
    vm_wait_exit(vm, 10000000000ull);
    rc = 0;
out:
    if (client)
        ttrpc_client_free(client);
    free(nets);
    free(macs);
    return rc;
}

static int cmd_vm(struct options *o, struct kerr **err)
{
    if (o->cfg.kernel == NULL || o->cfg.initrd == NULL)
        return kerr_make(err, EINVAL, "vm: --kernel and --initrd are required");
    struct net_scan scan;
    struct net_attachment att;
    if (network_scan(o->netns, &scan, err) < 0)
        return -1;
    if (network_attach(o->netns, o->model, &scan, &att, err) < 0) {
        network_scan_release(&scan);
        return -1;
    }
    char tmpl[] = "/tmp/net-probe.XXXXXX";
    o->cfg.run_dir = mkdtemp(tmpl);
    int rc = -1;
    struct vm vm = {0};
    struct loop *loop = NULL;
    if (o->cfg.run_dir == NULL) {
        kerr_make(err, errno, "mkdtemp");
    } else if ((loop = loop_new(err)) != NULL) {
        rc = run_vm(o, &vm, loop, &att, &scan, err);
        cleanup_kerr struct kerr *stop_err = NULL;
        if (vm.ops && vm.ops->stop(&vm, 2000000000ull, &stop_err) < 0)
            fprintf(stderr, "net-probe: %s\n", stop_err->msg);
        if (vm.ops)
            vm_release(&vm);
        loop_free(loop);
    }
    network_attachment_release(&att);
    network_scan_release(&scan);
    cleanup_kerr struct kerr *detach_err = NULL;
    if (network_detach(o->netns, &detach_err) < 0) {
        fprintf(stderr, "net-probe: %s\n", detach_err->msg);
        rc = -1;
    }
    if (o->cfg.run_dir) {
        cleanup_free char *cmd = xasprintf("rm -rf '%s'", o->cfg.run_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "net-probe: could not remove `%s`\n", o->cfg.run_dir);
    }
    return rc;
}

static const struct {
    const char *name;
    int (*run)(struct options *o, struct kerr **err);
} commands[] = {
    {"scan", cmd_scan},
    {"attach", cmd_attach},
    {"detach", cmd_detach},
    {"vm", cmd_vm},
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: net-probe scan|attach|detach|vm NETNS [options]\n"
                 "  --model tcfilter|none   internetworking model (default tcfilter)\n"
                 "  --kernel PATH --initrd PATH   the guest (vm)\n"
                 "  --machine microvm|q35   machine type (default microvm)\n"
                 "  --qemu PATH             QEMU binary\n"
                 "  --timeout SECONDS       agent wait (default 60)\n"
                 "  --console               echo the guest console to stderr\n"
                 "  --hypervisor NAME       vm: qemu (default) or dragonball (--qemu then names\n"
                 "                          kata-vmm)\n"
                 "  --pause-after-scan      attach: wait for a line on stdin before attaching\n"
                 "  --timings               attach, detach: report the time of each step\n"
                 "  --persist               attach: persistent taps, our fds closed\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'M'},
        {"kernel", required_argument, NULL, 'k'},
        {"machine", required_argument, NULL, 'm'},
        {"initrd", required_argument, NULL, 'i'},
        {"qemu", required_argument, NULL, 'q'},
        {"hypervisor", required_argument, NULL, 'H'},
        {"timeout", required_argument, NULL, 't'},
        {"console", no_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {"pause-after-scan", no_argument, NULL, 'P'},
        {"timings", no_argument, NULL, 'T'},
        {"persist", no_argument, NULL, 'p'},
        {0},
    };
    struct options o = {
        .cfg = {.hypervisor_path = "/usr/bin/qemu-system-x86_64",
                .machine_type = "microvm",
                .vcpus = 1,
                .memory_mb = 256},
        .ops = &qemu_ops,
        .timeout_s = 60,
    };
    cleanup_kerr struct kerr *err = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'M':
            if (network_model_parse(optarg, &o.model, &err) < 0) {
                fprintf(stderr, "net-probe: %s\n", err->msg);
                return 2;
            }
            break;
        case 'k':
            o.cfg.kernel = optarg;
            break;
        case 'm':
            o.cfg.machine_type = optarg;
            break;
        case 'i':
            o.cfg.initrd = optarg;
            break;
        case 'q':
            o.cfg.hypervisor_path = optarg;
            break;
        case 'H':
            o.ops = hypervisor_find(optarg);
            if (o.ops == NULL) {
                fprintf(stderr, "net-probe: unknown hypervisor `%s`\n", optarg);
                return 2;
            }
            break;
        case 't':
            o.timeout_s = atof(optarg);
            break;
        case 'C':
            o.console = true;
            break;
        case 'P':
            o.pause_after_scan = true;
            break;
        case 'T':
            o.timings = true;
            break;
        case 'p':
            o.persist = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (argc - optind != 2) {
        usage(stderr);
        return 2;
    }
    o.netns = argv[optind + 1];
    signal(SIGPIPE, SIG_IGN);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(commands[i].name, argv[optind]) != 0)
            continue;
        if (commands[i].run(&o, &err) < 0) {
            fprintf(stderr, "net-probe: %s\n", err ? err->msg : "failed");
            return 1;
        }
        return 0;
    }
    usage(stderr);
    return 2;
}
