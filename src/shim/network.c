/* The pod's network, Kata's tcfilter model (docs/network.md): the container
 * manager's netns (named by the OCI spec's `network` namespace entry) gets a
 * tap beside each veth before the VMM starts, the VMM gets the tap fds as
 * virtio-net devices, the guest is told the veths' addresses, routes and
 * neighbours before CreateSandbox (Kata's order), and everything is detached
 * again when the sandbox goes, or by `delete` after a crash (state.json
 * names the netns).
 *
 * The VMM itself starts inside the pod's netns (Kata runs StartVM within
 * the netns too): its pid is the one hooks and callers get, and what they
 * do to that pid's netns (Docker's libnetwork hook configures it) must
 * land in the container's, never the host's.  A spec that asks for a new
 * netns without a path gets one made here, held by an fd of ours and by the
 * VMM in it: it goes when they do, so a crash leaves nothing to remove. */
#include "log.h"
#include "network.h"
#include "network_agent.h"
#include "shim.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define NETWORK_CALL_NS (30ull * 1000000000ull)

struct sandbox_network {
    int vmm_netns_fd;        /* the netns the VMM starts in, -1: the daemon's */
    char vmm_netns_path[32]; /* "/proc/self/fd/N" of it, for the VMM's child */
    struct net_scan scan;
    struct net_attachment att;
    bool attached; /* ours are in the netns (a failed attach undid its own) */
    struct vm_net_device *devices;
    char (*macs)[18];
    char (*tap_names)[IFNAMSIZ]; /* devices[i].name, outliving att */
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

/* Open the spec's netns, failing early (before anything exists) on a path
 * that is not one.  The fd is what the VMM enters: no second lookup of the
 * path. */
static int netns_open(const char *path, struct kerr **err)
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
    return steal_fd(&fd);
}

struct netns_new_job {
    int fd;
    int error;
};

/* unshare() moves only the calling thread: a short-lived thread makes the
 * netns and leaves an fd on it; the daemon's threads stay where they are. */
static void *netns_new_thread(void *data)
{
    struct netns_new_job *job = data;
    if (unshare(CLONE_NEWNET) < 0)
        job->error = errno;
    else if ((job->fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) < 0)
        job->error = errno;
    return NULL;
}

/* A new, empty network namespace (runc makes one for such a spec), held by
 * the returned fd. */
static int netns_new(struct kerr **err)
{
    struct netns_new_job job = {.fd = -1};
    pthread_t thread;
    int rc = pthread_create(&thread, NULL, netns_new_thread, &job);
    if (rc != 0)
        return kerr_make(err, rc, "new network namespace: start a thread");
    pthread_join(thread, NULL);
    if (job.fd < 0)
        return kerr_make(err, job.error, "new network namespace");
    return job.fd;
}

static struct sandbox_network *network_of(struct sandbox *sb)
{
    if (sb->net == NULL) {
        sb->net = xcalloc(1, sizeof(*sb->net));
        sb->net->vmm_netns_fd = -1;
    }
    return sb->net;
}

/* The VMM (vm_spawn's child) enters the netns behind fd before its exec. */
static void vmm_netns_take(struct sandbox *sb, int fd)
{
    struct sandbox_network *net = network_of(sb);
    net->vmm_netns_fd = fd;
    snprintf(net->vmm_netns_path, sizeof(net->vmm_netns_path), "/proc/self/fd/%d", fd);
    sb->vm_cfg.netns_path = net->vmm_netns_path;
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
    if (path == NULL) {
        /* The host's network: the VMM stays in it, with no NIC. */
        log_info("sandbox `%s`: no network namespace in the spec: the VMM runs in the host's, "
                 "the guest has its loopback only",
                 sb->id);
        return 0;
    }
    /* The spec's netns, or a new one: the VMM runs inside it whatever the
     * model (disable_new_netns too: the pid callers get must never be a
     * process in the host's netns when the container has its own). */
    int fd = *path ? netns_open(path, err) : netns_new(err);
    if (fd < 0)
        return -1;
    vmm_netns_take(sb, fd);
    if (model == NET_MODEL_NONE || rt->disable_new_netns || *path == '\0') {
        /* No NIC: the guest has its loopback only. */
        log_info("sandbox `%s`: no network interface (%s)", sb->id,
                 model == NET_MODEL_NONE ? "internetworking_model none"
                 : rt->disable_new_netns ? "disable_new_netns"
                                         : "a new network namespace, made for the VMM");
        return 0;
    }
    sb->netns_path = xstrdup(path);
    return 0;
}

int sandbox_network_attach(struct sandbox *sb, struct kerr **err)
{
    if (sb->netns_path == NULL)
        return 0;
    struct sandbox_network *net = network_of(sb);
    if (network_scan(sb->netns_path, &net->scan, err) < 0 ||
        network_attach(sb->netns_path, NET_MODEL_TCFILTER, &net->scan, &net->att, err) < 0)
        return -1;
    net->attached = true;
    struct vm_capabilities caps;
    vm_capabilities(sb->driver, &sb->vm_cfg, &caps);
    /* A VMM that opens taps by name finds them persistent and unheld. */
    if (caps.tap_by_name && network_taps_persist(&net->att, err) < 0)
        return kerr_wrap(err, "netns `%s`", sb->netns_path);
    size_t n = net->att.n_taps;
    net->devices = xcalloc(n ? n : 1, sizeof(*net->devices));
    net->macs = xcalloc(n ? n : 1, sizeof(*net->macs));
    net->tap_names = xcalloc(n ? n : 1, sizeof(*net->tap_names));
    for (size_t i = 0; i < n; i++) {
        const struct net_tap *tap = &net->att.taps[i];
        net_mac_text(tap->mac, net->macs[i]);
        memcpy(net->tap_names[i], tap->name, IFNAMSIZ);
        net->devices[i] = (struct vm_net_device){.tap_fd = caps.tap_by_name ? -1 : tap->fd,
                                                 .name = net->tap_names[i],
                                                 .mac = net->macs[i],
                                                 .mtu = tap->mtu};
    }
    if (caps.tap_by_name)
        network_attachment_release(&net->att);
    sb->vm_cfg.net_devices = net->devices;
    sb->vm_cfg.n_net_devices = n;
    log_info("sandbox `%s`: netns `%s`: %zu interface(s) attached", sb->id, sb->netns_path, n);
    return 0;
}

/* The VMM holds its own copies: a VMM that dies takes the taps with it (and
 * a netns made for it). */
void sandbox_network_vmm_started(struct sandbox *sb)
{
    struct sandbox_network *net = sb->net;
    if (net == NULL)
        return;
    if (net->vmm_netns_fd >= 0)
        close(net->vmm_netns_fd);
    net->vmm_netns_fd = -1;
    sb->vm_cfg.netns_path = NULL;
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
        if (net->vmm_netns_fd >= 0)
            close(net->vmm_netns_fd); /* ours goes with its last process */
        sb->vm_cfg.netns_path = NULL;
        network_attachment_release(&net->att);
        network_scan_release(&net->scan);
        free(net->devices);
        free(net->macs);
        free(net->tap_names);
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
