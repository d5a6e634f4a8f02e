/* Host networking: model names, agent requests built from a scan, and the
 * error of a netns that is not there.  The netns work itself (taps, qdiscs,
 * filters, a VM behind them) is tested in tests/integration/test_network_*. */
#include "network.h"
#include "network_agent.h"
#include "test.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>

TEST(model_names_are_katas)
{
    enum net_model m = NET_MODEL_NONE;
    CHECK_INT(network_model_parse("tcfilter", &m, NULL), 0);
    CHECK_INT(m, NET_MODEL_TCFILTER);
    CHECK_INT(network_model_parse("none", &m, NULL), 0);
    CHECK_INT(m, NET_MODEL_NONE);
    CHECK_INT(network_model_parse("", &m, NULL), 0);
    CHECK_INT(m, NET_MODEL_TCFILTER);
    cleanup_kerr struct kerr *e = NULL;
    CHECK_INT(network_model_parse("macvtap", &m, &e), -1);
    CHECK_CONTAINS(e->msg, "internetworking_model `macvtap`");
}

static struct net_scan sample_scan(void)
{
    static struct net_addr addrs[2] = {{.family = AF_INET, .prefix = 16},
                                       {.family = AF_INET6, .prefix = 64}};
    inet_pton(AF_INET, "10.88.0.5", addrs[0].addr);
    inet_pton(AF_INET6, "fd00::5", addrs[1].addr);
    static struct net_interface iface = {
        .name = "eth0",
        .mtu = 1450,
        .mac = {0x02, 0x42, 0x0a, 0x58, 0x00, 0x05},
        .addrs = addrs,
        .n_addrs = 2,
    };
    static struct net_route routes[2] = {
        {.family = AF_INET, .has_dst = true, .dst_len = 16, .scope = 253, .device = "eth0"},
        {.family = AF_INET, .has_gw = true, .device = "eth0"},
    };
    inet_pton(AF_INET, "10.88.0.0", routes[0].dst);
    inet_pton(AF_INET, "10.88.0.1", routes[1].gw);
    static struct net_neighbor neigh = {.family = AF_INET,
                                        .lladdr = {0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff},
                                        .has_lladdr = true,
                                        .state = 0x80,
                                        .device = "eth0"};
    inet_pton(AF_INET, "10.88.0.1", neigh.addr);
    return (struct net_scan){.ifaces = &iface,
                             .n_ifaces = 1,
                             .routes = routes,
                             .n_routes = 2,
                             .neighbors = &neigh,
                             .n_neighbors = 1};
}

TEST(interface_request_carries_mac_mtu_and_addresses)
{
    struct net_scan scan = sample_scan();
    Types__Interface *m = network_agent_interface(&scan.ifaces[0]);
    CHECK_STR(m->name, "eth0");
    CHECK_STR(m->device, "eth0");
    CHECK_STR(m->hwaddr, "02:42:0a:58:00:05");
    CHECK_INT(m->mtu, 1450);
    CHECK_INT(m->n_ipaddresses, 2);
    CHECK_STR(m->ipaddresses[0]->address, "10.88.0.5");
    CHECK_STR(m->ipaddresses[0]->mask, "16");
    CHECK_INT(m->ipaddresses[0]->family, TYPES__IPFAMILY__v4);
    CHECK_STR(m->ipaddresses[1]->address, "fd00::5");
    CHECK_INT(m->ipaddresses[1]->family, TYPES__IPFAMILY__v6);
    protobuf_c_message_free_unpacked(&m->base, NULL);
}

TEST(routes_request_has_link_route_and_default_gateway)
{
    struct net_scan scan = sample_scan();
    Grpc__Routes *m = network_agent_routes(&scan);
    CHECK_INT(m->n_routes, 2);
    CHECK_STR(m->routes[0]->dest, "10.88.0.0/16");
    CHECK_STR(m->routes[0]->gateway, "");
    CHECK_INT(m->routes[0]->scope, 253);
    CHECK_STR(m->routes[1]->dest, "");
    CHECK_STR(m->routes[1]->gateway, "10.88.0.1");
    CHECK_STR(m->routes[1]->device, "eth0");
    protobuf_c_message_free_unpacked(&m->base, NULL);
}

TEST(neighbors_request_only_when_there_are_some)
{
    struct net_scan scan = sample_scan();
    Grpc__ARPNeighbors *m = network_agent_neighbors(&scan);
    CHECK(m != NULL);
    CHECK_INT(m->n_arpneighbors, 1);
    CHECK_STR(m->arpneighbors[0]->toipaddress->address, "10.88.0.1");
    CHECK_STR(m->arpneighbors[0]->lladdr, "aa:bb:cc:dd:ee:ff");
    CHECK_STR(m->arpneighbors[0]->device, "eth0");
    protobuf_c_message_free_unpacked(&m->base, NULL);
    scan.n_neighbors = 0;
    CHECK(network_agent_neighbors(&scan) == NULL);
}

TEST(missing_netns_names_the_path)
{
    struct net_scan scan;
    cleanup_kerr struct kerr *e = NULL;
    CHECK_INT(network_scan("/run/netns/kata-test-no-such-netns", &scan, &e), -1);
    CHECK_STR(e->msg, "netns `/run/netns/kata-test-no-such-netns`: scan: open: No such file or "
                      "directory");
    CHECK_INT(e->status, ENOENT);
    struct net_attachment att;
    kerr_clear(&e);
    CHECK_INT(
        network_attach("/run/netns/kata-test-no-such-netns", NET_MODEL_TCFILTER, &scan, &att, &e),
        -1);
    CHECK_CONTAINS(e->msg, "netns `/run/netns/kata-test-no-such-netns`: open");
}

TEST(detach_of_a_netns_already_gone_succeeds)
{
    CHECK_INT(network_detach("/run/netns/kata-test-no-such-netns", NULL), 0);
}

TEST(model_none_attaches_nothing)
{
    struct net_scan scan = sample_scan();
    struct net_attachment att = {.n_taps = 99};
    CHECK_INT(
        network_attach("/run/netns/kata-test-no-such-netns", NET_MODEL_NONE, &scan, &att, NULL), 0);
    CHECK_INT(att.n_taps, 0);
}
