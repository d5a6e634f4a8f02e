/* ttrpc client: concurrent calls multiplexed on one connection. */
#include "ttrpc.h"
#include "ttrpc_conn.h"
#include "util.h"

#include "status.pb-c.h"
#include "ttrpc.pb-c.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The most of a peer's status message kept (escaped). */
#define TTRPC_STATUS_MESSAGE_MAX 4096

struct pending_call {
    struct ttrpc_client *client;
    uint32_t stream_id;
    ttrpc_reply_cb cb;
    void *data;
    struct loop_timer *timer;
    char *name;
    struct pending_call *next;
};

struct ttrpc_client {
    struct loop *loop;
    struct ttrpc_conn *conn; /* NULL once the connection is gone */
    uint32_t next_stream_id;
    struct pending_call *pending;
    void (*close_hook)(void *data);
    void *close_data;
};

static struct pending_call *pending_take(struct ttrpc_client *c, uint32_t stream_id)
{
    for (struct pending_call **pp = &c->pending; *pp; pp = &(*pp)->next) {
        if ((*pp)->stream_id == stream_id) {
            struct pending_call *p = *pp;
            *pp = p->next;
            return p;
        }
    }
    return NULL;
}

/* Deliver the answer and free the pending call. */
static void pending_finish(struct pending_call *p, int code, const char *message,
                           const uint8_t *payload, size_t len)
{
    loop_timer_cancel(p->timer);
    ttrpc_reply_cb cb = p->cb;
    void *data = p->data;
    free(p->name);
    free(p);
    cb(code, message, payload, len, data);
}

static void client_frame(struct ttrpc_conn *conn, const struct ttrpc_header *h,
                         const uint8_t *payload, void *data)
{
    struct ttrpc_client *c = data;
    (void)conn;
    if (h->type != TTRPC_TYPE_RESPONSE)
        return;
    struct pending_call *p = pending_take(c, h->stream_id);
    if (p == NULL)
        return; /* answered after its deadline: dropped */
    Ttrpc__Response *resp = ttrpc__response__unpack(NULL, h->length, payload);
    if (resp == NULL) {
        cleanup_free char *msg =
            xasprintf("%s: malformed ttrpc response of %u bytes", p->name, h->length);
        pending_finish(p, TTRPC_DATA_LOSS, msg, NULL, 0);
        return;
    }
    int code = resp->status ? resp->status->code : TTRPC_OK;
    /* The peer's text (the guest's, for the agent) reaches logs and
     * terminals: escaped and bounded here, once for every caller. */
    const char *message = resp->status && resp->status->message ? resp->status->message : "";
    cleanup_free char *safe = text_escape(message, strlen(message), TTRPC_STATUS_MESSAGE_MAX);
    pending_finish(p, code, safe, resp->payload.data, resp->payload.len);
    ttrpc__response__free_unpacked(resp, NULL);
}

static void client_oversized(struct ttrpc_conn *conn, const struct ttrpc_header *h, void *data)
{
    struct ttrpc_client *c = data;
    (void)conn;
    struct pending_call *p = pending_take(c, h->stream_id);
    if (p == NULL)
        return;
    cleanup_free char *msg = xasprintf("%s: response of %u bytes exceeds the %u-byte limit",
                                       p->name, h->length, TTRPC_MAX_MESSAGE);
    pending_finish(p, TTRPC_RESOURCE_EXHAUSTED, msg, NULL, 0);
}

static void client_fail_all(struct ttrpc_client *c, int code, const char *why)
{
    while (c->pending) {
        struct pending_call *p = c->pending;
        c->pending = p->next;
        cleanup_free char *msg = xasprintf("%s: %s", p->name, why);
        pending_finish(p, code, msg, NULL, 0);
    }
}

static void client_closed(struct ttrpc_conn *conn, void *data)
{
    struct ttrpc_client *c = data;
    (void)conn;
    c->conn = NULL; /* freed by the conn layer after this returns */
    client_fail_all(c, TTRPC_UNAVAILABLE, "connection closed");
    if (c->close_hook)
        c->close_hook(c->close_data);
}

static const struct ttrpc_conn_ops client_conn_ops = {
    .frame = client_frame,
    .oversized = client_oversized,
    .closed = client_closed,
};

struct ttrpc_client *ttrpc_client_new(struct loop *loop, int fd, struct kerr **err)
{
    struct ttrpc_client *c = xcalloc(1, sizeof(*c));
    c->loop = loop;
    c->next_stream_id = 1;
    c->conn = ttrpc_conn_new(loop, fd, false, &client_conn_ops, c, err);
    if (c->conn == NULL) {
        close(fd);
        free(c);
        return NULL;
    }
    return c;
}

void ttrpc_client_free(struct ttrpc_client *c)
{
    if (c == NULL)
        return;
    c->close_hook = NULL;
    client_fail_all(c, TTRPC_CANCELLED, "client closed");
    ttrpc_conn_free(c->conn);
    free(c);
}

bool ttrpc_client_connected(const struct ttrpc_client *c)
{
    return c->conn != NULL;
}

void ttrpc_client_set_close_hook(struct ttrpc_client *c, void (*hook)(void *data), void *data)
{
    c->close_hook = hook;
    c->close_data = data;
}

static void pending_deadline(void *data)
{
    struct pending_call *p = data;
    p->timer = NULL;
    pending_take(p->client, p->stream_id);
    cleanup_free char *msg = xasprintf("%s: deadline exceeded", p->name);
    pending_finish(p, TTRPC_DEADLINE_EXCEEDED, msg, NULL, 0);
}

int ttrpc_client_call_async(struct ttrpc_client *c, const char *service, const char *method,
                            const ProtobufCMessage *request, uint64_t timeout_ns, ttrpc_reply_cb cb,
                            void *data, struct kerr **err)
{
    /* NULL: the owner freed its client (the VM died) in a loop round that
     * ran between two of its calls. */
    if (c == NULL || c->conn == NULL)
        return kerr_make(err, ENOTCONN, "%s/%s", service, method);
    size_t len = protobuf_c_message_get_packed_size(request);
    if (len > TTRPC_MAX_MESSAGE)
        return kerr_make(err, EMSGSIZE, "%s/%s: request of %zu bytes", service, method, len);
    cleanup_free uint8_t *buf = xmalloc(len);
    protobuf_c_message_pack(request, buf);

    Ttrpc__Request req = TTRPC__REQUEST__INIT;
    req.service = (char *)service;
    req.method = (char *)method;
    req.payload.data = buf;
    req.payload.len = len;
    req.timeout_nano = (int64_t)timeout_ns;

    uint32_t stream_id = c->next_stream_id;
    c->next_stream_id += 2;
    if (ttrpc_conn_send_message(c->conn, stream_id, TTRPC_TYPE_REQUEST, &req.base) < 0)
        return kerr_make(err, errno, "%s/%s: send", service, method);

    struct pending_call *p = xcalloc(1, sizeof(*p));
    p->client = c;
    p->stream_id = stream_id;
    p->cb = cb;
    p->data = data;
    p->name = xasprintf("%s/%s", service, method);
    if (timeout_ns > 0)
        p->timer = loop_timer_add(c->loop, timeout_ns, pending_deadline, p);
    p->next = c->pending;
    c->pending = p;
    return 0;
}

struct sync_answer {
    bool done;
    int code;
    char *message;
    uint8_t *payload;
    size_t len;
};

static void sync_reply(int code, const char *message, const uint8_t *payload, size_t len,
                       void *data)
{
    struct sync_answer *a = data;
    a->done = true;
    a->code = code;
    a->message = xstrdup(message ? message : "");
    if (len > 0) {
        a->payload = xmalloc(len);
        memcpy(a->payload, payload, len);
    }
    a->len = len;
}

int ttrpc_client_call(struct ttrpc_client *c, const char *service, const char *method,
                      const ProtobufCMessage *request,
                      const ProtobufCMessageDescriptor *response_desc, ProtobufCMessage **response,
                      uint64_t timeout_ns, int *code, struct kerr **err)
{
    struct sync_answer a = {0};
    if (code)
        *code = TTRPC_UNAVAILABLE;
    if (ttrpc_client_call_async(c, service, method, request, timeout_ns, sync_reply, &a, err) < 0)
        return -1;
    uint32_t stream_id = c->next_stream_id - 2; /* the call's */
    /* The loop runs other callbacks meanwhile (the caller's own server may
     * dispatch requests: see struct ttrpc_method's exclusive).  c lives at
     * least until the answer: freeing it answers every pending call. */
    while (!a.done) {
        if (loop_run_once(c->loop, -1, err) < 0) {
            /* Forget the call: its answer must not reach our stack later. */
            struct pending_call *p = pending_take(c, stream_id);
            if (p) {
                loop_timer_cancel(p->timer);
                free(p->name);
                free(p);
            }
            return -1;
        }
    }
    int ret = 0;
    if (code)
        *code = a.code;
    if (a.code != TTRPC_OK) {
        ret =
            kerr_make(err, 0, "%s/%s: %s: %s", service, method, ttrpc_code_name(a.code), a.message);
    } else if (response_desc && response) {
        *response = protobuf_c_message_unpack(response_desc, NULL, a.len, a.payload);
        if (*response == NULL)
            ret = kerr_make(err, 0, "%s/%s: malformed %s of %zu bytes", service, method,
                            response_desc->name, a.len);
    }
    free(a.message);
    free(a.payload);
    return ret;
}
