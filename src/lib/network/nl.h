/* rtnetlink requests over libmnl for the host network code (internal). */
#ifndef KATA_NETWORK_NL_H
#define KATA_NETWORK_NL_H

#include <libmnl/libmnl.h>
#include <stdint.h>

#include "error.h"

struct nl {
    struct mnl_socket *sock;
    unsigned portid, seq;
    char *buf; /* MNL_SOCKET_BUFFER_SIZE bytes for requests and replies */
};

/* A socket in the calling thread's network namespace. */
int nl_open(struct nl *nl, struct kerr **err);
void nl_close(struct nl *nl);

/* A fresh request header in nl->buf (seq assigned by nl_exchange). */
struct nlmsghdr *nl_request(struct nl *nl, uint16_t type, uint16_t flags);

/* Send the request in nl->buf and read until its ACK or DONE, calling cb for
 * every reply message (cb may be NULL).  Returns 0, or -1 with *err set to
 * "<what>: <kernel errno>". */
int nl_exchange(struct nl *nl, mnl_cb_t cb, void *data, const char *what, struct kerr **err);

#endif
