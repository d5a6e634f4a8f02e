/* rtnetlink requests over libmnl. */
#include "nl.h"
#include "util.h"

#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

int nl_open(struct nl *nl, struct kerr **err)
{
    nl->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    if (nl->sock == NULL)
        return kerr_make(err, errno, "open rtnetlink socket");
    if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
        int saved = errno;
        mnl_socket_close(nl->sock);
        nl->sock = NULL;
        return kerr_make(err, saved, "bind rtnetlink socket");
    }
    nl->portid = mnl_socket_get_portid(nl->sock);
    nl->seq = (unsigned)time(NULL);
    nl->buf = xmalloc(MNL_SOCKET_BUFFER_SIZE);
    return 0;
}

void nl_close(struct nl *nl)
{
    if (nl->sock)
        mnl_socket_close(nl->sock);
    nl->sock = NULL;
    free(nl->buf);
    nl->buf = NULL;
}

struct nlmsghdr *nl_request(struct nl *nl, uint16_t type, uint16_t flags)
{
    struct nlmsghdr *h = mnl_nlmsg_put_header(nl->buf);
    h->nlmsg_type = type;
    /* A dump ends with NLMSG_DONE; anything else is acknowledged. */
    bool dump = (flags & NLM_F_DUMP) == NLM_F_DUMP;
    h->nlmsg_flags = NLM_F_REQUEST | (dump ? 0 : NLM_F_ACK) | flags;
    return h;
}

int nl_exchange(struct nl *nl, mnl_cb_t cb, void *data, const char *what, struct kerr **err)
{
    struct nlmsghdr *h = (struct nlmsghdr *)nl->buf;
    unsigned seq = h->nlmsg_seq = ++nl->seq;
    if (mnl_socket_sendto(nl->sock, h, h->nlmsg_len) < 0)
        return kerr_make(err, errno, "%s: send", what);
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(nl->sock, nl->buf, MNL_SOCKET_BUFFER_SIZE);
        if (n < 0)
            return kerr_make(err, errno, "%s: receive", what);
        int rc = mnl_cb_run(nl->buf, (size_t)n, seq, nl->portid, cb, data);
        if (rc == MNL_CB_STOP)
            return 0;
        if (rc < 0)
            return kerr_make(err, errno, "%s", what);
    }
}
