/* Internal: one ttrpc byte stream on a loop, shared by server and client.
 * Non-blocking reads feed the frame parser; writes queue in an output buffer
 * drained on EPOLLOUT. */
#ifndef KATA_TTRPC_CONN_H
#define KATA_TTRPC_CONN_H

#include "ttrpc.h"

/* A peer that stops reading cannot make us buffer without bound. */
#define TTRPC_MAX_OUTPUT (64u << 20)

struct ttrpc_conn;

struct ttrpc_conn_ops {
    void (*frame)(struct ttrpc_conn *c, const struct ttrpc_header *h, const uint8_t *payload,
                  void *data);
    void (*oversized)(struct ttrpc_conn *c, const struct ttrpc_header *h, void *data);
    /* The stream ended.  For a persistent stream the conn lives on and waits
     * for the peer; otherwise the conn is freed right after this returns. */
    void (*closed)(struct ttrpc_conn *c, void *data);
};

struct ttrpc_conn *ttrpc_conn_new(struct loop *loop, int fd, bool persistent,
                                  const struct ttrpc_conn_ops *ops, void *data, struct kerr **err);
/* Close and free now, without calling ops->closed. */
void ttrpc_conn_free(struct ttrpc_conn *c);
int ttrpc_conn_send(struct ttrpc_conn *c, uint32_t stream_id, uint8_t type, uint8_t flags,
                    const uint8_t *payload, size_t len);
/* Pack a protobuf message as the payload of one frame. */
int ttrpc_conn_send_message(struct ttrpc_conn *c, uint32_t stream_id, uint8_t type,
                            const ProtobufCMessage *msg);
bool ttrpc_conn_is_up(const struct ttrpc_conn *c);

#endif
