/* The pod's network, Kata's tcfilter model (docs/network.md): the container
 * manager's netns (named by the OCI spec's `network` namespace entry) gets a
 * tap beside each veth before the VMM starts, the VMM gets the tap fds as
 * virtio-net devices, the guest is told the veths' addresses, routes and
 * neighbours before CreateSandbox (Kata's order), and everything is detached
 * again when the sandbox goes, or by `delete` after a crash (state.json
 * names the netns). */
#include "log.h"
#include "network.h"
#include "network_agent.h"
#include "shim.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define NETWORK_CALL_NS (30ull * 1000000000ull)

struct sandbox_network {
    struct net_scan scan;
    struct net_attachment att;
    bool attached; /* ours are in the netns (a failed attach undid its own) */
    struct vm_net_device *devices;
    char (*macs)[18];
};

/* The spec's `network` namespace entry: its path, "" for a new netns, NULL
 * for none (the host's, which a VM cannot take). */
static const char *spec_netns(const Grpc__Spec *spec)
{
    const Grpc__Linux *lx = spec ? spec->linux_ : NULL;
    for (size_t i = 0; lx && i < lx->n_namespaces; i++) {
        const Grpc__LinuxNamespace *ns = lx->namespaces[i];
        if (ns->type && strcmp(ns->type, "network") == 0)
            return ns->path ? ns->path : "";
    }
    return NULL;
}

void network_spec_for_guest(Grpc__Spec *spec)
{
    Grpc__Linux *lx = spec ? spec->linux_ : NULL;
    size_t kept = 0;
    for (size_t i = 0; lx && i < lx->n_namespaces; i++) {
        Grpc__LinuxNamespace *ns = lx->namespaces[i];
        if (ns->type && strcmp(ns->type, "network") == 0)
            protobuf_c_message_free_unpacked(&ns->base, NULL);
        else
            lx->namespaces[kept++] = ns;
    }
    if (lx)
        lx->n_namespaces = kept;
}

/* Fail early, before anything exists, on a path that is not a netns. */
static int netns_check(const char *path, struct kerr **err)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kerr_make(err, errno, "network namespace `%s` (spec linux.namespaces)", path);
    int type = ioctl(fd, NS_GET_NSTYPE);
    if (type < 0 && errno != ENOTTY)
        return kerr_make(err, errno, "network namespace `%s` (spec linux.namespaces)", path);
    if (type != CLONE_NEWNET)
        return kerr_make(err, EINVAL,
                         "network namespace `%s` (spec linux.namespaces): not a network namespace",
                         path);
    return 0;
}

int sandbox_network_select(struct sandbox *sb, const Grpc__Spec *spec, struct kerr **err)
{
    const struct kata_runtime_config *rt = &sb->cfg->runtime;
    enum net_model model;
    if (network_model_parse(rt->internetworking_model, &model, err) < 0)
        return kerr_wrap(err, "%s: [runtime]", sb->cfg->path ? sb->cfg->path : "configuration");
    if (rt->disable_new_netns && model != NET_MODEL_NONE)
        return kerr_make(err, EINVAL,
                         "%s: [runtime] disable_new_netns = true works only with "
                         "internetworking_model = \"none\"",
                         sb->cfg->path ? sb->cfg->path : "configuration");
    const char *path = spec_netns(spec);
    if (model == NET_MODEL_NONE || rt->disable_new_netns || path == NULL || *path == '\0') {
        /* No NIC: the guest has its loopback only, as a new empty netns. */
        log_info("sandbox `%s`: no network interface (%s)", sb->id,
                 model == NET_MODEL_NONE ? "internetworking_model none"
                 : rt->disable_new_netns ? "disable_new_netns"
                 : path == NULL          ? "no network namespace in the spec"
                                         : "a new network namespace");
        return 0;
    }
    if (netns_check(path, err) < 0)
        return -1;
    sb->netns_path = xstrdup(path);
    return 0;
}

int sandbox_network_attach(struct sandbox *sb, struct kerr **err)
{
    if (sb->netns_path == NULL)
        return 0;
    struct sandbox_network *net = xcalloc(1, sizeof(*net));
    sb->net = net;
    if (network_scan(sb->netns_path, &net->scan, err) < 0 ||
        network_attach(sb->netns_path, NET_MODEL_TCFILTER, &net->scan, &net->att, err) < 0)
        return -1;
    net->attached = true;
    size_t n = net->att.n_taps;
    net->devices = xcalloc(n ? n : 1, sizeof(*net->devices));
    net->macs = xcalloc(n ? n : 1, sizeof(*net->macs));
    for (size_t i = 0; i < n; i++) {
        const struct net_tap *tap = &net->att.taps[i];
        net_mac_text(tap->mac, net->macs[i]);
        net->devices[i] =
            (struct vm_net_device){.tap_fd = tap->fd, .mac = net->macs[i], .mtu = tap->mtu};
    }
    sb->vm_cfg.net_devices = net->devices;
    sb->vm_cfg.n_net_devices = n;
    log_info("sandbox `%s`: netns `%s`: %zu interface(s) attached", sb->id, sb->netns_path, n);
    return 0;
}

/* The VMM holds its own copies: a VMM that dies takes the taps with it. */
void sandbox_network_vmm_started(struct sandbox *sb)
{
    struct sandbox_network *net = sb->net;
    if (net == NULL)
        return;
    network_attachment_release(&net->att);
    for (size_t i = 0; i < sb->vm_cfg.n_net_devices; i++)
        net->devices[i].tap_fd = -1;
}

static int call(struct shim *shim, const char *method, const ProtobufCMessage *req,
                struct kerr **err)
{
    if (agent_call(shim, method, req, NULL, NULL, NETWORK_CALL_NS, err) < 0)
        return kerr_wrap(err, "configure the guest network");
    return 0;
}

int sandbox_network_configure_guest(struct shim *shim, struct kerr **err)
{
    struct sandbox_network *net = shim->sandbox->net;
    if (net == NULL || net->scan.n_ifaces == 0)
        return 0;
    const struct net_scan *scan = &net->scan;
    for (size_t i = 0; i < scan->n_ifaces; i++) {
        Grpc__UpdateInterfaceRequest req = GRPC__UPDATE_INTERFACE_REQUEST__INIT;
        req.interface = network_agent_interface(&scan->ifaces[i]);
        int r = call(shim, "UpdateInterface", &req.base, err);
        protobuf_c_message_free_unpacked(&req.interface->base, NULL);
        if (r < 0)
            return kerr_wrap(err, "interface `%s`", scan->ifaces[i].name);
    }
    Grpc__UpdateRoutesRequest routes = GRPC__UPDATE_ROUTES_REQUEST__INIT;
    routes.routes = network_agent_routes(scan);
    int r = call(shim, "UpdateRoutes", &routes.base, err);
    protobuf_c_message_free_unpacked(&routes.routes->base, NULL);
    if (r < 0)
        return -1;
    Grpc__AddARPNeighborsRequest neighbors = GRPC__ADD_ARPNEIGHBORS_REQUEST__INIT;
    neighbors.neighbors = network_agent_neighbors(scan);
    if (neighbors.neighbors == NULL)
        return 0;
    r = call(shim, "AddARPNeighbors", &neighbors.base, err);
    protobuf_c_message_free_unpacked(&neighbors.neighbors->base, NULL);
    return r;
}

int sandbox_network_detach(const char *netns_path, struct kerr **err)
{
    if (netns_path == NULL)
        return 0;
    if (network_detach(netns_path, err) < 0)
        return -1;
    log_info("netns `%s`: detached", netns_path);
    return 0;
}

void sandbox_network_teardown(struct sandbox *sb)
{
    struct sandbox_network *net = sb->net;
    /* Not after a failed attach: what refused it (another sandbox's
     * redirects, say) is not ours to remove. */
    bool attached = net && net->attached;
    if (net) {
        network_attachment_release(&net->att);
        network_scan_release(&net->scan);
        free(net->devices);
        free(net->macs);
        free(net);
        sb->net = NULL;
        sb->vm_cfg.net_devices = NULL;
        sb->vm_cfg.n_net_devices = 0;
    }
    cleanup_kerr struct kerr *e = NULL;
    if (attached && sandbox_network_detach(sb->netns_path, &e) < 0)
        log_warn("sandbox `%s`: %s", sb->id, e->msg);
    free(sb->netns_path);
    sb->netns_path = NULL;
}
