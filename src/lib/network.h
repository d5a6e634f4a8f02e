/* Container networking on the host side: Kata's `tcfilter` model.
 *
 * The caller (CNI, podman's netavark, ...) puts a veth end in the container's
 * network namespace.  network_scan() reads what the guest must be told about
 * it (MAC, MTU, addresses, routes, permanent neighbours);
 * network_attach() creates beside each such interface a tap `tap<N>_kata`
 * with the same MTU, adds an ingress qdisc on both and a u32 match-all filter
 * with a mirred egress redirect each way (veth -> tap, tap -> veth), and hands
 * back the tap fds for the VMM (virtio-net).  The guest interface takes the
 * veth's MAC, so the peer on the other side of the veth sees the guest as the
 * container.  network_detach() removes it all again.
 *
 * Every netlink call runs in a helper thread that entered the netns
 * (setns() moves only the calling thread), so the caller's threads never
 * change namespace. */
#ifndef KATA_NETWORK_H
#define KATA_NETWORK_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct net_addr {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    unsigned prefix;
};

struct net_interface {
    char name[IFNAMSIZ];
    char kind[32]; /* netlink's link kind ("veth", "macvlan", ...), "" if none */
    int index;
    unsigned mtu;
    unsigned flags; /* IFF_* */
    uint8_t mac[6];
    struct net_addr *addrs;
    size_t n_addrs;
};

struct net_route {
    int family;
    bool has_dst, has_gw, has_src;
    uint8_t dst[16], gw[16], src[16];
    unsigned dst_len, scope, protocol, flags;
    char device[IFNAMSIZ];
};

struct net_neighbor {
    int family;
    uint8_t addr[16];
    uint8_t lladdr[6];
    bool has_lladdr;
    unsigned state, flags; /* NUD_*, NTF_* */
    char device[IFNAMSIZ];
};

/* What the guest must be told: interfaces (no loopback, none of our taps),
 * routes of the main table on them (not the IPv6 ones the kernel makes by
 * itself) and their permanent neighbours. */
struct net_scan {
    struct net_interface *ifaces;
    size_t n_ifaces;
    struct net_route *routes;
    size_t n_routes;
    struct net_neighbor *neighbors;
    size_t n_neighbors;
};

/* Kata's `internetworking_model`: "tcfilter" or "none" (the guest gets no
 * network device; the netns is left alone). */
enum net_model { NET_MODEL_TCFILTER, NET_MODEL_NONE };

/* One tap given to the VMM. */
struct net_tap {
    char name[IFNAMSIZ]; /* tap<N>_kata */
    char veth[IFNAMSIZ]; /* the interface it mirrors (the guest interface's name) */
    int fd;              /* IFF_TAP|IFF_NO_PI|IFF_VNET_HDR, close-on-exec */
    uint8_t mac[6];      /* the veth's: the guest interface gets it */
    unsigned mtu;
};

struct net_attachment {
    struct net_tap *taps;
    size_t n_taps;
};

int network_model_parse(const char *name, enum net_model *out, struct kerr **err);

int network_scan(const char *netns_path, struct net_scan *out, struct kerr **err);
void network_scan_release(struct net_scan *scan);

/* Create the taps, qdiscs and filters for every interface of scan.  On
 * failure nothing is left in the netns (taps, qdiscs, filters). */
int network_attach(const char *netns_path, enum net_model model, const struct net_scan *scan,
                   struct net_attachment *out, struct kerr **err);
/* Make every tap of att outlive its fd (TUNSETPERSIST), for a VMM that opens
 * taps by name; network_detach() removes them.  On failure the taps already
 * made persistent stay so: the caller detaches. */
int network_taps_persist(struct net_attachment *att, struct kerr **err);
/* Close the tap fds (the VMM holds its own copies). */
void network_attachment_release(struct net_attachment *att);

/* Remove every `tap<N>_kata` of the netns and the ingress qdisc (and so the
 * redirect filters) of every interface that mirrored one.  Needs no state
 * (a daemon restarted after a crash can call it); a netns already gone is
 * not an error: its interfaces went with it. */
int network_detach(const char *netns_path, struct kerr **err);

/* Run fn in a helper thread that entered the network namespace at path. */
int netns_run(const char *netns_path, int (*fn)(void *arg, struct kerr **err), void *arg,
              struct kerr **err);

/* Text forms: "aa:bb:cc:dd:ee:ff" (18 bytes with the NUL) and an address. */
void net_mac_text(const uint8_t mac[6], char out[18]);
const char *net_addr_text(int family, const uint8_t *addr, char *out, size_t len);

#endif
