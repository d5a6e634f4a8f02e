/* ttrpc server: method table dispatch, deferred answers, deadlines. */
#include "ttrpc.h"
#include "ttrpc_conn.h"
#include "util.h"

#include "status.pb-c.h"
#include "ttrpc.pb-c.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

struct server_conn;

struct ttrpc_call {
    struct server_conn *sc; /* NULL once the connection is gone */
    uint32_t stream_id;
    const struct ttrpc_method *method;
    ProtobufCMessage *request;
    uint64_t deadline;
    struct loop_timer *timer;
    void (*cancel)(void *data);
    void *cancel_data;
    char *name;
    struct ttrpc_server *server;
    struct ttrpc_call *prev, *next; /* the connection's calls */
    /* Re-entry (see struct ttrpc_method's exclusive): */
    bool running;                  /* its handler is on the stack */
    bool answered;                 /* answered while running: freed when it returns */
    bool abandoned;                /* abandoned while running: likewise, answer dropped */
    bool queued;                   /* waits for the exclusive calls before it */
    struct ttrpc_call *queue_next; /* the server's queue */
};

struct server_conn {
    struct ttrpc_server *server;
    struct ttrpc_conn *conn;
    struct ttrpc_call *calls;
    bool persistent; /* the stream outlives its peer (virtio-serial) */
    struct server_conn *prev, *next;
};

struct listener {
    struct ttrpc_server *server;
    int fd;
    struct loop_watch *watch;
    struct listener *next;
};

struct ttrpc_server {
    struct loop *loop;
    const struct ttrpc_method *methods;
    size_t n_methods;
    void *data;
    struct server_conn *conns;
    struct listener *listeners;
    unsigned hold; /* exclusive calls running + ttrpc_server_hold */
    bool draining; /* server_drain dispatches the queue */
    struct ttrpc_call *queue, **queue_tail;
    size_t n_queued;
};

struct ttrpc_server *ttrpc_server_new(struct loop *loop, const struct ttrpc_method *methods,
                                      size_t n_methods, void *data)
{
    struct ttrpc_server *s = xcalloc(1, sizeof(*s));
    s->loop = loop;
    s->methods = methods;
    s->n_methods = n_methods;
    s->data = data;
    s->queue_tail = &s->queue;
    return s;
}

static void call_unlink(struct ttrpc_call *call)
{
    struct server_conn *sc = call->sc;
    if (sc == NULL)
        return;
    if (call->prev)
        call->prev->next = call->next;
    else
        sc->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    call->sc = NULL;
    call->prev = call->next = NULL;
}

static void call_dequeue(struct ttrpc_call *call)
{
    if (!call->queued)
        return;
    struct ttrpc_server *s = call->server;
    for (struct ttrpc_call **pp = &s->queue; *pp; pp = &(*pp)->queue_next) {
        if (*pp == call) {
            *pp = call->queue_next;
            if (s->queue_tail == &call->queue_next)
                s->queue_tail = pp;
            break;
        }
    }
    call->queue_next = NULL;
    call->queued = false;
    s->n_queued--;
}

static void call_free(struct ttrpc_call *call)
{
    call_unlink(call);
    call_dequeue(call);
    loop_timer_cancel(call->timer);
    if (call->request)
        protobuf_c_message_free_unpacked(call->request, NULL);
    free(call->name);
    free(call);
}

/* The call is done with (answered, or dropped): freed now, or when its
 * handler returns.  The connection forgets it at once (it may go away
 * before the handler returns). */
static void call_done(struct ttrpc_call *call)
{
    if (!call->running) {
        call_free(call);
        return;
    }
    call_unlink(call);
    loop_timer_cancel(call->timer);
    call->timer = NULL;
    call->answered = true;
}

/* Tell the owner of a deferred call that it is being dropped, then free it.
 * A call whose handler is still on the stack is only marked: the handler
 * holds it, and what it answers is dropped (call_run finishes it). */
static void call_abandon(struct ttrpc_call *call)
{
    if (call->running) {
        call_unlink(call);
        loop_timer_cancel(call->timer);
        call->timer = NULL;
        call->abandoned = true;
        return;
    }
    if (call->cancel)
        call->cancel(call->cancel_data);
    call_free(call);
}

static int send_response(struct server_conn *sc, uint32_t stream_id, int code, const char *message,
                         const uint8_t *payload, size_t len)
{
    Google__Rpc__Status status = GOOGLE__RPC__STATUS__INIT;
    status.code = code;
    status.message = (char *)(message ? message : "");
    Ttrpc__Response resp = TTRPC__RESPONSE__INIT;
    resp.status = &status;
    resp.payload.data = (uint8_t *)payload;
    resp.payload.len = len;
    return ttrpc_conn_send_message(sc->conn, stream_id, TTRPC_TYPE_RESPONSE, &resp.base);
}

static int send_error(struct server_conn *sc, uint32_t stream_id, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int send_error(struct server_conn *sc, uint32_t stream_id, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cleanup_free char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    return send_response(sc, stream_id, code, msg, NULL, 0);
}

/* Replies are packed here before the Response wraps them.  The buffer is
 * kept between replies (up to 2 MiB) so a stream of large replies (1 MiB
 * ReadStdout chunks) does not map and fault in fresh memory every time.  The
 * server runs on one thread: one buffer serves every connection. */
static uint8_t *reply_scratch(size_t len)
{
    static uint8_t *buf;
    static size_t cap;
    if (len > cap || (cap > (2u << 20) && len <= (2u << 20))) {
        free(buf);
        cap = len < 4096 ? 4096 : len;
        buf = xmalloc(cap);
    }
    return buf;
}

int ttrpc_call_reply(struct ttrpc_call *call, const ProtobufCMessage *response)
{
    int ret = 0;
    if (call->sc) {
        size_t len = protobuf_c_message_get_packed_size(response);
        if (len > TTRPC_MAX_MESSAGE) {
            ret = send_error(call->sc, call->stream_id, TTRPC_RESOURCE_EXHAUSTED,
                             "%s: response of %zu bytes exceeds the %u-byte limit", call->name, len,
                             TTRPC_MAX_MESSAGE);
        } else {
            uint8_t *buf = reply_scratch(len);
            protobuf_c_message_pack(response, buf);
            ret = send_response(call->sc, call->stream_id, TTRPC_OK, NULL, buf, len);
        }
    }
    call_done(call);
    return ret;
}

int ttrpc_call_fail(struct ttrpc_call *call, enum ttrpc_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cleanup_free char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    int ret = call->sc ? send_response(call->sc, call->stream_id, code, msg, NULL, 0) : 0;
    call_done(call);
    return ret;
}

int ttrpc_call_fail_err(struct ttrpc_call *call, enum ttrpc_code code, const struct kerr *err)
{
    return ttrpc_call_fail(call, code, "%s", err && err->msg ? err->msg : "unknown error");
}

void ttrpc_call_set_cancel(struct ttrpc_call *call, void (*cancel)(void *data), void *data)
{
    call->cancel = cancel;
    call->cancel_data = data;
}

const char *ttrpc_call_method(const struct ttrpc_call *call)
{
    return call->name;
}

uint64_t ttrpc_call_deadline(const struct ttrpc_call *call)
{
    return call->deadline;
}

static void call_deadline_passed(void *data)
{
    struct ttrpc_call *call = data;
    call->timer = NULL;
    if (call->sc)
        send_error(call->sc, call->stream_id, TTRPC_DEADLINE_EXCEEDED, "%s: deadline exceeded",
                   call->name);
    call_abandon(call);
}

static void server_drain(struct ttrpc_server *s);

/* Run the handler.  What may happen while it runs the loop: the call is
 * answered (by itself), abandoned (deadline, connection closed), other
 * requests are dispatched; it is freed here when it is done with. */
static void call_run(struct ttrpc_server *s, struct ttrpc_call *call)
{
    bool exclusive = call->method->exclusive;
    if (exclusive)
        s->hold++;
    call->running = true;
    call->method->handler(call, call->request, s->data);
    call->running = false;
    if (call->answered)
        call_free(call);
    else if (call->abandoned)
        call_abandon(call); /* its cancel hook, if it set one to answer later */
    if (exclusive) {
        s->hold--;
        server_drain(s);
    }
}

/* Dispatch the queued exclusive calls in order while nothing holds the
 * server.  One loop does it: a handler that returns inside it does not
 * recurse. */
static void server_drain(struct ttrpc_server *s)
{
    if (s->draining)
        return;
    s->draining = true;
    while (s->hold == 0 && s->queue) {
        struct ttrpc_call *call = s->queue;
        call_dequeue(call);
        call_run(s, call);
    }
    s->draining = false;
}

void ttrpc_server_hold(struct ttrpc_server *s)
{
    s->hold++;
}

void ttrpc_server_release(struct ttrpc_server *s)
{
    if (s->hold > 0 && --s->hold == 0)
        server_drain(s);
}

static const struct ttrpc_method *find_method(struct ttrpc_server *s, const char *service,
                                              const char *method, bool *service_known)
{
    *service_known = false;
    for (size_t i = 0; i < s->n_methods; i++) {
        if (strcmp(s->methods[i].service, service) != 0)
            continue;
        *service_known = true;
        if (strcmp(s->methods[i].method, method) == 0)
            return &s->methods[i];
    }
    return NULL;
}

static bool stream_busy(struct server_conn *sc, uint32_t stream_id)
{
    for (struct ttrpc_call *c = sc->calls; c; c = c->next)
        if (c->stream_id == stream_id)
            return true;
    return false;
}

static void server_frame(struct ttrpc_conn *conn, const struct ttrpc_header *h,
                         const uint8_t *payload, void *data)
{
    struct server_conn *sc = data;
    struct ttrpc_server *s = sc->server;

    /* Only unary calls are served: data frames and stray responses are
     * ignored, as Go's server does for streams it does not know. */
    if (h->type != TTRPC_TYPE_REQUEST)
        return;
    if (h->stream_id % 2 != 1) {
        send_error(sc, h->stream_id, TTRPC_INVALID_ARGUMENT,
                   "stream id %u: client-initiated streams must be odd", h->stream_id);
        return;
    }
    if (stream_busy(sc, h->stream_id)) {
        send_error(sc, h->stream_id, TTRPC_INVALID_ARGUMENT, "stream id %u is already in use",
                   h->stream_id);
        return;
    }
    Ttrpc__Request *req = ttrpc__request__unpack(NULL, h->length, payload);
    if (req == NULL) {
        send_error(sc, h->stream_id, TTRPC_INVALID_ARGUMENT, "malformed ttrpc request of %u bytes",
                   h->length);
        return;
    }
    bool service_known;
    const struct ttrpc_method *m = find_method(s, req->service, req->method, &service_known);
    if (m == NULL) {
        if (service_known)
            send_error(sc, h->stream_id, TTRPC_UNIMPLEMENTED, "%s/%s: method not implemented",
                       req->service, req->method);
        else
            send_error(sc, h->stream_id, TTRPC_UNIMPLEMENTED, "service `%s` not found",
                       req->service);
        ttrpc__request__free_unpacked(req, NULL);
        return;
    }
    ProtobufCMessage *input =
        protobuf_c_message_unpack(m->input, NULL, req->payload.len, req->payload.data);
    if (input == NULL) {
        send_error(sc, h->stream_id, TTRPC_INVALID_ARGUMENT, "%s/%s: malformed %s of %zu bytes",
                   req->service, req->method, m->input->name, req->payload.len);
        ttrpc__request__free_unpacked(req, NULL);
        return;
    }

    struct ttrpc_call *call = xcalloc(1, sizeof(*call));
    call->server = s;
    call->sc = sc;
    call->stream_id = h->stream_id;
    call->method = m;
    call->request = input;
    call->name = xasprintf("%s/%s", m->service, m->method);
    call->next = sc->calls;
    if (sc->calls)
        sc->calls->prev = call;
    sc->calls = call;
    if (req->timeout_nano > 0) {
        call->deadline = now_ns() + (uint64_t)req->timeout_nano;
        call->timer =
            loop_timer_add(s->loop, (uint64_t)req->timeout_nano, call_deadline_passed, call);
    }
    ttrpc__request__free_unpacked(req, NULL);
    (void)conn;
    if (m->exclusive && (s->hold > 0 || s->queue)) {
        if (s->n_queued >= TTRPC_MAX_QUEUED) {
            ttrpc_call_fail(call, TTRPC_RESOURCE_EXHAUSTED, "%s: %zu calls are waiting already",
                            call->name, s->n_queued);
            return;
        }
        call->queued = true;
        *s->queue_tail = call;
        s->queue_tail = &call->queue_next;
        s->n_queued++;
        return;
    }
    call_run(s, call);
}

static void server_oversized(struct ttrpc_conn *conn, const struct ttrpc_header *h, void *data)
{
    struct server_conn *sc = data;
    (void)conn;
    if (h->type == TTRPC_TYPE_REQUEST)
        send_error(sc, h->stream_id, TTRPC_RESOURCE_EXHAUSTED,
                   "message of %u bytes exceeds the %u-byte limit", h->length, TTRPC_MAX_MESSAGE);
}

static void server_conn_drop_calls(struct server_conn *sc)
{
    while (sc->calls)
        call_abandon(sc->calls);
}

static void server_conn_unlink(struct server_conn *sc)
{
    struct ttrpc_server *s = sc->server;
    if (sc->prev)
        sc->prev->next = sc->next;
    else
        s->conns = sc->next;
    if (sc->next)
        sc->next->prev = sc->prev;
}

static void server_closed(struct ttrpc_conn *conn, void *data);

static const struct ttrpc_conn_ops server_conn_ops = {
    .frame = server_frame,
    .oversized = server_oversized,
    .closed = server_closed,
};

static void server_closed(struct ttrpc_conn *conn, void *data)
{
    struct server_conn *sc = data;
    server_conn_drop_calls(sc);
    if (sc->persistent)
        return;
    /* The conn frees itself after this callback. */
    (void)conn;
    server_conn_unlink(sc);
    free(sc);
}

static struct server_conn *server_conn_add(struct ttrpc_server *s, int fd, bool persistent,
                                           struct kerr **err)
{
    struct server_conn *sc = xcalloc(1, sizeof(*sc));
    sc->server = s;
    sc->persistent = persistent;
    sc->conn = ttrpc_conn_new(s->loop, fd, persistent, &server_conn_ops, sc, err);
    if (sc->conn == NULL) {
        free(sc);
        close(fd);
        return NULL;
    }
    sc->next = s->conns;
    if (s->conns)
        s->conns->prev = sc;
    s->conns = sc;
    return sc;
}

int ttrpc_server_add_stream(struct ttrpc_server *s, int fd, bool persistent, struct kerr **err)
{
    return server_conn_add(s, fd, persistent, err) ? 0 : -1;
}

static void listener_accept(struct loop_watch *w, uint32_t events, void *data)
{
    struct listener *l = data;
    (void)w;
    (void)events;
    for (;;) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            return; /* EAGAIN, or a transient error: the next readiness retries */
        server_conn_add(l->server, fd, false, NULL);
    }
}

int ttrpc_server_add_listener(struct ttrpc_server *s, int listen_fd, struct kerr **err)
{
    struct listener *l = xcalloc(1, sizeof(*l));
    l->server = s;
    l->fd = listen_fd;
    fd_set_nonblock(listen_fd, true);
    l->watch = loop_watch_add(s->loop, listen_fd, EPOLLIN, listener_accept, l, err);
    if (l->watch == NULL) {
        free(l);
        close(listen_fd);
        return -1;
    }
    l->next = s->listeners;
    s->listeners = l;
    return 0;
}

void ttrpc_server_free(struct ttrpc_server *s)
{
    if (s == NULL)
        return;
    while (s->conns) {
        struct server_conn *sc = s->conns;
        server_conn_drop_calls(sc);
        server_conn_unlink(sc);
        ttrpc_conn_free(sc->conn);
        free(sc);
    }
    while (s->listeners) {
        struct listener *l = s->listeners;
        s->listeners = l->next;
        loop_watch_remove(l->watch);
        close(l->fd);
        free(l);
    }
    free(s);
}
