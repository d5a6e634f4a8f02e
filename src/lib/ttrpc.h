/* ttrpc: containerd's light RPC protocol, wire-compatible with Go's ttrpc.
 *
 * A frame is a 10-byte header (payload length u32 BE, stream id u32 BE, type
 * u8, flags u8) and a payload of at most TTRPC_MAX_MESSAGE bytes.  A request
 * frame carries a ttrpc.Request (service, method, protobuf payload, timeout);
 * the response frame on the same stream id carries a ttrpc.Response (a
 * google.rpc.Status and the protobuf payload).  Clients use odd stream ids.
 *
 * Both sides run on a struct loop: one thread serves many calls at once, and
 * a server handler may answer later (a WaitProcess that blocks for minutes
 * does not stall a ReadStdout on the same connection). */
#ifndef KATA_TTRPC_H
#define KATA_TTRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "error.h"
#include "loop.h"

#define TTRPC_HEADER_SIZE 10
#define TTRPC_MAX_MESSAGE (4u << 20)

enum ttrpc_type {
    TTRPC_TYPE_REQUEST = 1,
    TTRPC_TYPE_RESPONSE = 2,
    TTRPC_TYPE_DATA = 3,
};

enum ttrpc_flag {
    TTRPC_FLAG_REMOTE_CLOSED = 1,
    TTRPC_FLAG_REMOTE_OPEN = 2,
    TTRPC_FLAG_NO_DATA = 4,
};

/* gRPC status codes, as google.rpc.Status carries them. */
enum ttrpc_code {
    TTRPC_OK = 0,
    TTRPC_CANCELLED = 1,
    TTRPC_UNKNOWN = 2,
    TTRPC_INVALID_ARGUMENT = 3,
    TTRPC_DEADLINE_EXCEEDED = 4,
    TTRPC_NOT_FOUND = 5,
    TTRPC_ALREADY_EXISTS = 6,
    TTRPC_PERMISSION_DENIED = 7,
    TTRPC_RESOURCE_EXHAUSTED = 8,
    TTRPC_FAILED_PRECONDITION = 9,
    TTRPC_ABORTED = 10,
    TTRPC_OUT_OF_RANGE = 11,
    TTRPC_UNIMPLEMENTED = 12,
    TTRPC_INTERNAL = 13,
    TTRPC_UNAVAILABLE = 14,
    TTRPC_DATA_LOSS = 15,
    TTRPC_UNAUTHENTICATED = 16,
};

const char *ttrpc_code_name(int code);

struct ttrpc_header {
    uint32_t length;
    uint32_t stream_id;
    uint8_t type;
    uint8_t flags;
};

void ttrpc_header_encode(const struct ttrpc_header *h, uint8_t out[TTRPC_HEADER_SIZE]);
void ttrpc_header_decode(const uint8_t in[TTRPC_HEADER_SIZE], struct ttrpc_header *h);

/* Incremental frame parser over a byte stream.  Feed it what arrived; it
 * reports complete frames one at a time, and skips the payload of a frame
 * whose length exceeds the limit (reporting it as oversized) so the
 * connection can answer with an error and keep serving. */
enum ttrpc_parse_result {
    TTRPC_PARSE_NEED_MORE,
    TTRPC_PARSE_FRAME,     /* *h and *payload describe a complete frame */
    TTRPC_PARSE_OVERSIZED, /* *h describes a frame that is being skipped */
};

struct ttrpc_parser {
    uint8_t *buf;
    size_t len, cap;
    size_t skip;       /* payload bytes of an oversized frame still to drop */
    size_t handed_out; /* size of the frame returned last, dropped next call */
    uint32_t limit;
};

void ttrpc_parser_init(struct ttrpc_parser *p, uint32_t limit);
void ttrpc_parser_reset(struct ttrpc_parser *p);
void ttrpc_parser_release(struct ttrpc_parser *p);
/* Append bytes (oversized payloads are dropped as they arrive). */
void ttrpc_parser_append(struct ttrpc_parser *p, const uint8_t *data, size_t len);
/* Take the next frame.  The payload points into the parser and is valid until
 * the next call. */
enum ttrpc_parse_result ttrpc_parser_next(struct ttrpc_parser *p, struct ttrpc_header *h,
                                          const uint8_t **payload);

/* ---- server ---- */

struct ttrpc_server;
struct ttrpc_call;

/* A handler receives the unpacked request.  It answers now or later with
 * ttrpc_call_reply or ttrpc_call_fail, exactly once; the call is freed then
 * (or, while its handler still runs, when the handler returns).  A handler
 * that answers later must set a cancel hook: the hook runs when the call is
 * abandoned (connection closed, deadline passed) and the call is freed right
 * after it, so the owner drops its pointer there.  A call abandoned while its
 * handler runs (the handler ran the loop: a synchronous client call) stays
 * valid until the handler returns; its answer is then dropped. */
typedef void (*ttrpc_handler)(struct ttrpc_call *call, const ProtobufCMessage *request, void *data);

struct ttrpc_method {
    const char *service; /* "grpc.AgentService" */
    const char *method;  /* "CreateContainer" */
    const ProtobufCMessageDescriptor *input;
    ttrpc_handler handler;
    /* Re-entry: a handler that runs the loop itself (a synchronous client
     * call) lets the server dispatch other requests in the middle of it.
     * Exclusive methods run one at a time: one that arrives while another
     * runs (or while the server is held) waits in a FIFO, its deadline still
     * counting, and is dispatched when the running one returns.  Other
     * methods are dispatched at once, even in the middle of an exclusive one:
     * they must not run the loop, nor free what an exclusive handler may hold. */
    bool exclusive;
};

struct ttrpc_server *ttrpc_server_new(struct loop *loop, const struct ttrpc_method *methods,
                                      size_t n_methods, void *data);
void ttrpc_server_free(struct ttrpc_server *s);

/* Accept connections on a listening socket (the server takes the fd). */
int ttrpc_server_add_listener(struct ttrpc_server *s, int listen_fd, struct kerr **err);

/* Serve one connected byte stream (the server takes the fd).  With
 * persistent, the end of the stream does not close the fd: the peer may come
 * back (a virtio-serial port whose host side reconnects). */
int ttrpc_server_add_stream(struct ttrpc_server *s, int fd, bool persistent, struct kerr **err);

/* Exclusive calls that may wait in a server's queue at once; more fail with
 * RESOURCE_EXHAUSTED. */
#define TTRPC_MAX_QUEUED 256

/* Hold the server as if an exclusive call ran: exclusive requests queue until
 * the matching release (which dispatches them).  The owner holds it while it
 * runs the loop outside any handler with state that exclusive handlers would
 * change (a teardown); a server freed while held drops what is queued. */
void ttrpc_server_hold(struct ttrpc_server *s);
void ttrpc_server_release(struct ttrpc_server *s);

int ttrpc_call_reply(struct ttrpc_call *call, const ProtobufCMessage *response);
int ttrpc_call_fail(struct ttrpc_call *call, enum ttrpc_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Answer from a kerr (code chosen by the caller); frees nothing of err. */
int ttrpc_call_fail_err(struct ttrpc_call *call, enum ttrpc_code code, const struct kerr *err);
void ttrpc_call_set_cancel(struct ttrpc_call *call, void (*cancel)(void *data), void *data);
/* The method being served, "Service/Method", for logs. */
const char *ttrpc_call_method(const struct ttrpc_call *call);
/* Absolute deadline in now_ns() time, 0 when the caller set none. */
uint64_t ttrpc_call_deadline(const struct ttrpc_call *call);

/* ---- client ---- */

struct ttrpc_client;

/* code is TTRPC_OK with the response payload, or an error code and message
 * (connection loss is TTRPC_UNAVAILABLE, a missed deadline
 * TTRPC_DEADLINE_EXCEEDED). */
typedef void (*ttrpc_reply_cb)(int code, const char *message, const uint8_t *payload, size_t len,
                               void *data);

/* The client takes the fd (a connected stream socket or character device). */
struct ttrpc_client *ttrpc_client_new(struct loop *loop, int fd, struct kerr **err);
void ttrpc_client_free(struct ttrpc_client *c);
bool ttrpc_client_connected(const struct ttrpc_client *c);
void ttrpc_client_set_close_hook(struct ttrpc_client *c, void (*hook)(void *data), void *data);

/* A NULL client (one its owner freed) fails the call with ENOTCONN. */
int ttrpc_client_call_async(struct ttrpc_client *c, const char *service, const char *method,
                            const ProtobufCMessage *request, uint64_t timeout_ns, ttrpc_reply_cb cb,
                            void *data, struct kerr **err);

/* Blocking call: runs the client's loop until the answer.  On success
 * *response is unpacked with response_desc (free it with
 * protobuf_c_message_free_unpacked).  On failure *code (if not NULL) gets the
 * status code and err says "Service/Method: CODE: message". */
int ttrpc_client_call(struct ttrpc_client *c, const char *service, const char *method,
                      const ProtobufCMessage *request,
                      const ProtobufCMessageDescriptor *response_desc, ProtobufCMessage **response,
                      uint64_t timeout_ns, int *code, struct kerr **err);

#endif
