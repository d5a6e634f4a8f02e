/* The host side of virtio-vsock as a hybrid unix-socket muxer (the protocol
 * of Firecracker and Cloud Hypervisor, which Kata's runtime speaks):
 *
 * - a host client connects to the unix socket `path` and writes
 *   "CONNECT <port>\n"; the muxer asks the guest for a connection to that
 *   port (OP_REQUEST) and, once the guest accepts (OP_RESPONSE), answers
 *   "OK <host port>\n"; then bytes flow both ways.  A refused connection
 *   (OP_RST) closes the client's socket.
 * - a guest connection to host port P (CID 2) is connected to the unix
 *   socket `<path>_<P>`; OP_RST when nothing listens there.
 *
 * Transport-free: the device hands in each packet the guest sent
 * (vsock_mux_from_guest) and asks for the next packet for the guest
 * (vsock_mux_to_guest); the muxer watches its sockets on the loop given and
 * calls wake() when it has something for the guest.  Credit-based flow
 * control (virtio 1.x §5.10.6.3) both ways: the guest never gets more than it
 * has room for, a host socket is read only when the guest has room, and a
 * guest exceeding our credit is reset. */
#ifndef KATA_VMM_VSOCK_MUX_H
#define KATA_VMM_VSOCK_MUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "loop.h"

#define VSOCK_HOST_CID 2u

#define VSOCK_TYPE_STREAM 1u
enum vsock_op {
    VSOCK_OP_INVALID = 0,
    VSOCK_OP_REQUEST = 1,
    VSOCK_OP_RESPONSE = 2,
    VSOCK_OP_RST = 3,
    VSOCK_OP_SHUTDOWN = 4,
    VSOCK_OP_RW = 5,
    VSOCK_OP_CREDIT_UPDATE = 6,
    VSOCK_OP_CREDIT_REQUEST = 7,
};
#define VSOCK_SHUTDOWN_RCV  1u
#define VSOCK_SHUTDOWN_SEND 2u

/* struct virtio_vsock_hdr, little endian. */
struct vsock_header {
    uint64_t src_cid;
    uint64_t dst_cid;
    uint32_t src_port;
    uint32_t dst_port;
    uint32_t len;
    uint16_t type;
    uint16_t op;
    uint32_t flags;
    uint32_t buf_alloc;
    uint32_t fwd_cnt;
} __attribute__((packed));
#define VSOCK_HEADER_SIZE 44u

#define VSOCK_MAX_PAYLOAD     (64u << 10)  /* the most one packet carries */
#define VSOCK_BUF_ALLOC       (256u << 10) /* per connection, guest to host */
#define VSOCK_MAX_CONNECTIONS 1024u

struct vsock_mux;

struct vsock_mux *vsock_mux_new(struct loop *loop, const char *path, uint64_t guest_cid,
                                void (*wake)(void *ctx), void *ctx, struct kerr **err);
/* Close every connection and the listening socket, and remove its file. */
void vsock_mux_free(struct vsock_mux *mux);

/* One packet the guest sent (header and payload).  Malformed packets are
 * dropped, or answered with OP_RST when they name a connection. */
void vsock_mux_from_guest(struct vsock_mux *mux, const uint8_t *packet, size_t len);
/* Whether vsock_mux_to_guest may have a packet. */
bool vsock_mux_has_work(const struct vsock_mux *mux);
/* Write the next packet for the guest into buf (cap >= VSOCK_HEADER_SIZE;
 * the payload is at most cap - VSOCK_HEADER_SIZE); returns its length, 0 when
 * there is nothing. */
size_t vsock_mux_to_guest(struct vsock_mux *mux, uint8_t *buf, size_t cap);
/* The guest's driver went away (device reset): drop every connection. */
void vsock_mux_reset(struct vsock_mux *mux);
unsigned vsock_mux_connections(const struct vsock_mux *mux);

#endif
