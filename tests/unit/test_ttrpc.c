/* ttrpc framing, server and client, over socketpairs on one loop. */
#include "test.h"
#include "ttrpc.h"
#include "util.h"

#include "status.pb-c.h"
#include "ttrpc.pb-c.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

TEST(header_encodes_big_endian)
{
    struct ttrpc_header h = {.length = 0x01020304, .stream_id = 0x0a0b0c0d, .type = 2, .flags = 4};
    uint8_t b[TTRPC_HEADER_SIZE];
    ttrpc_header_encode(&h, b);
    const uint8_t want[] = {1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d, 2, 4};
    CHECK(memcmp(b, want, sizeof(want)) == 0);
    struct ttrpc_header back;
    ttrpc_header_decode(b, &back);
    CHECK_INT(back.length, h.length);
    CHECK_INT(back.stream_id, h.stream_id);
    CHECK_INT(back.type, 2);
    CHECK_INT(back.flags, 4);
}

static size_t frame(uint8_t *out, uint32_t stream, uint8_t type, const char *payload)
{
    size_t len = strlen(payload);
    struct ttrpc_header h = {.length = (uint32_t)len, .stream_id = stream, .type = type};
    ttrpc_header_encode(&h, out);
    memcpy(out + TTRPC_HEADER_SIZE, payload, len);
    return TTRPC_HEADER_SIZE + len;
}

TEST(parser_reassembles_byte_by_byte)
{
    uint8_t buf[64];
    size_t n = frame(buf, 7, TTRPC_TYPE_REQUEST, "hello");
    struct ttrpc_parser p;
    ttrpc_parser_init(&p, 1024);
    struct ttrpc_header h;
    const uint8_t *payload;
    for (size_t i = 0; i < n - 1; i++) {
        ttrpc_parser_append(&p, buf + i, 1);
        CHECK_INT(ttrpc_parser_next(&p, &h, &payload), TTRPC_PARSE_NEED_MORE);
    }
    ttrpc_parser_append(&p, buf + n - 1, 1);
    CHECK_INT(ttrpc_parser_next(&p, &h, &payload), TTRPC_PARSE_FRAME);
    CHECK_INT(h.stream_id, 7);
    CHECK(memcmp(payload, "hello", 5) == 0);
    CHECK_INT(ttrpc_parser_next(&p, &h, &payload), TTRPC_PARSE_NEED_MORE);
    CHECK_INT(p.len, 0);
    ttrpc_parser_release(&p);
}

TEST(parser_splits_two_frames_in_one_chunk)
{
    uint8_t buf[64];
    size_t n = frame(buf, 1, TTRPC_TYPE_REQUEST, "a");
    n += frame(buf + n, 3, TTRPC_TYPE_REQUEST, "bc");
    struct ttrpc_parser p;
    ttrpc_parser_init(&p, 1024);
    ttrpc_parser_append(&p, buf, n);
    struct ttrpc_header h;
    const uint8_t *payload;
    CHECK_INT(ttrpc_parser_next(&p, &h, &payload), TTRPC_PARSE_FRAME);
    CHECK_INT(h.stream_id, 1);
    CHECK_INT(ttrpc_parser_next(&p, &h, &payload), TTRPC_PARSE_FRAME);
    CHECK_INT(h.stream_id, 3);
    CHECK_INT(h.length, 2);
    CHECK_INT(ttrpc_parser_next(&p, &h, &payload), TTRPC_PARSE_NEED_MORE);
    ttrpc_parser_release(&p);
}

TEST(parser_skips_oversized_frame_and_continues)
{
    struct ttrpc_parser p;
    ttrpc_parser_init(&p, 16);
    struct ttrpc_header big = {.length = 100, .stream_id = 5, .type = TTRPC_TYPE_REQUEST};
    uint8_t hdr[TTRPC_HEADER_SIZE];
    ttrpc_header_encode(&big, hdr);
    ttrpc_parser_append(&p, hdr, sizeof(hdr));
    uint8_t junk[40];
    memset(junk, 'x', sizeof(junk));
    ttrpc_parser_append(&p, junk, sizeof(junk));
    struct ttrpc_header h;
    const uint8_t *payload;
    CHECK_INT(ttrpc_parser_next(&p, &h, &payload), TTRPC_PARSE_OVERSIZED);
    CHECK_INT(h.stream_id, 5);
    /* The rest of the oversized payload arrives with the next frame behind it. */
    ttrpc_parser_append(&p, junk, sizeof(junk));
    uint8_t tail[64];
    memset(tail, 'y', 20);
    size_t n = frame(tail + 20, 9, TTRPC_TYPE_REQUEST, "ok");
    ttrpc_parser_append(&p, tail, 20 + n);
    CHECK_INT(ttrpc_parser_next(&p, &h, &payload), TTRPC_PARSE_FRAME);
    CHECK_INT(h.stream_id, 9);
    CHECK(memcmp(payload, "ok", 2) == 0);
    CHECK(p.cap <= 4096);
    ttrpc_parser_release(&p);
}

/* ---- a test service on a socketpair ---- */

struct fixture {
    struct loop *loop;
    struct ttrpc_server *server;
    int client_fd; /* raw end for hand-made frames, or given to a client */
    struct ttrpc_call *deferred;
    int cancelled;
};

static void echo(struct ttrpc_call *call, const ProtobufCMessage *req, void *data)
{
    ttrpc_call_reply(call, req);
}

static void deferred_cancelled(void *data)
{
    struct fixture *f = data;
    f->deferred = NULL;
    f->cancelled++;
}

static void wait_later(struct ttrpc_call *call, const ProtobufCMessage *req, void *data)
{
    struct fixture *f = data;
    f->deferred = call;
    ttrpc_call_set_cancel(call, deferred_cancelled, f);
}

static void fail_always(struct ttrpc_call *call, const ProtobufCMessage *req, void *data)
{
    ttrpc_call_fail(call, TTRPC_NOT_FOUND, "container `%s` not found",
                    ((const Ttrpc__KeyValue *)req)->key);
}

static const struct ttrpc_method test_methods[] = {
    {"test.Service", "Echo", &ttrpc__key_value__descriptor, echo},
    {"test.Service", "Wait", &ttrpc__key_value__descriptor, wait_later},
    {"test.Service", "Fail", &ttrpc__key_value__descriptor, fail_always},
};

static int fixture_init(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    f->loop = loop_new(NULL);
    f->server = ttrpc_server_new(f->loop, test_methods, ARRAY_SIZE(test_methods), f);
    if (ttrpc_server_add_stream(f->server, sv[0], false, NULL) < 0)
        return -1;
    f->client_fd = sv[1];
    return 0;
}

static void fixture_fini(struct fixture *f)
{
    ttrpc_server_free(f->server);
    loop_free(f->loop);
    if (f->client_fd >= 0)
        close(f->client_fd);
}

/* Run the loop until the raw client end has something to read (or 2 s). */
static int pump_until_readable(struct fixture *f)
{
    for (int i = 0; i < 200; i++) {
        struct pollfd p = {.fd = f->client_fd, .events = POLLIN};
        if (poll(&p, 1, 0) > 0)
            return 0;
        loop_run_once(f->loop, 10, NULL);
    }
    return -1;
}

static void send_raw_request(int fd, uint32_t stream, const char *service, const char *method,
                             const uint8_t *payload, size_t len)
{
    Ttrpc__Request req = TTRPC__REQUEST__INIT;
    req.service = (char *)service;
    req.method = (char *)method;
    req.payload.data = (uint8_t *)payload;
    req.payload.len = len;
    size_t n = ttrpc__request__get_packed_size(&req);
    uint8_t *buf = xmalloc(TTRPC_HEADER_SIZE + n);
    struct ttrpc_header h = {
        .length = (uint32_t)n, .stream_id = stream, .type = TTRPC_TYPE_REQUEST};
    ttrpc_header_encode(&h, buf);
    ttrpc__request__pack(&req, buf + TTRPC_HEADER_SIZE);
    fd_write_full(fd, buf, TTRPC_HEADER_SIZE + n);
    free(buf);
}

/* Read one response frame; returns its status code (or -1), message in msg. */
static int read_raw_response(struct fixture *f, uint32_t *stream, char *msg, size_t msglen)
{
    if (pump_until_readable(f) < 0)
        return -1;
    uint8_t hdr[TTRPC_HEADER_SIZE];
    if (fd_read_full(f->client_fd, hdr, sizeof(hdr)) != 0)
        return -1;
    struct ttrpc_header h;
    ttrpc_header_decode(hdr, &h);
    uint8_t *payload = xmalloc(h.length);
    if (fd_read_full(f->client_fd, payload, h.length) != 0)
        return -1;
    Ttrpc__Response *resp = ttrpc__response__unpack(NULL, h.length, payload);
    free(payload);
    if (resp == NULL)
        return -1;
    int code = resp->status ? resp->status->code : 0;
    snprintf(msg, msglen, "%s", resp->status ? resp->status->message : "");
    *stream = h.stream_id;
    ttrpc__response__free_unpacked(resp, NULL);
    return code;
}

static size_t pack_kv(uint8_t *buf, const char *key, const char *value)
{
    Ttrpc__KeyValue kv = TTRPC__KEY_VALUE__INIT;
    kv.key = (char *)key;
    kv.value = (char *)value;
    return ttrpc__key_value__pack(&kv, buf);
}

TEST(server_answers_echo)
{
    struct fixture f;
    CHECK_INT(fixture_init(&f), 0);
    uint8_t buf[64];
    size_t n = pack_kv(buf, "k", "v");
    send_raw_request(f.client_fd, 1, "test.Service", "Echo", buf, n);
    char msg[256];
    uint32_t stream = 0;
    CHECK_INT(read_raw_response(&f, &stream, msg, sizeof(msg)), TTRPC_OK);
    CHECK_INT(stream, 1);
    fixture_fini(&f);
}

TEST(server_rejects_unknown_service_and_method_then_keeps_serving)
{
    struct fixture f;
    CHECK_INT(fixture_init(&f), 0);
    char msg[256];
    uint32_t stream;
    send_raw_request(f.client_fd, 1, "nope.Service", "Echo", NULL, 0);
    CHECK_INT(read_raw_response(&f, &stream, msg, sizeof(msg)), TTRPC_UNIMPLEMENTED);
    CHECK_CONTAINS(msg, "service `nope.Service` not found");
    send_raw_request(f.client_fd, 3, "test.Service", "Nope", NULL, 0);
    CHECK_INT(read_raw_response(&f, &stream, msg, sizeof(msg)), TTRPC_UNIMPLEMENTED);
    CHECK_CONTAINS(msg, "test.Service/Nope");
    send_raw_request(f.client_fd, 5, "test.Service", "Echo", NULL, 0);
    CHECK_INT(read_raw_response(&f, &stream, msg, sizeof(msg)), TTRPC_OK);
    CHECK_INT(stream, 5);
    fixture_fini(&f);
}

TEST(server_rejects_malformed_payload_then_keeps_serving)
{
    struct fixture f;
    CHECK_INT(fixture_init(&f), 0);
    char msg[256];
    uint32_t stream;
    const uint8_t bad[] = {0x0a, 0x7f, 'x'}; /* field 1, length 127, 1 byte present */
    send_raw_request(f.client_fd, 1, "test.Service", "Echo", bad, sizeof(bad));
    CHECK_INT(read_raw_response(&f, &stream, msg, sizeof(msg)), TTRPC_INVALID_ARGUMENT);
    CHECK_CONTAINS(msg, "malformed ttrpc.KeyValue");
    /* A frame whose payload is not a ttrpc.Request at all. */
    uint8_t raw[32];
    size_t n = frame(raw, 3, TTRPC_TYPE_REQUEST, "\xff\xff\xff");
    fd_write_full(f.client_fd, raw, n);
    CHECK_INT(read_raw_response(&f, &stream, msg, sizeof(msg)), TTRPC_INVALID_ARGUMENT);
    CHECK_INT(stream, 3);
    send_raw_request(f.client_fd, 5, "test.Service", "Echo", NULL, 0);
    CHECK_INT(read_raw_response(&f, &stream, msg, sizeof(msg)), TTRPC_OK);
    fixture_fini(&f);
}

TEST(server_rejects_even_stream_id)
{
    struct fixture f;
    CHECK_INT(fixture_init(&f), 0);
    char msg[256];
    uint32_t stream;
    send_raw_request(f.client_fd, 2, "test.Service", "Echo", NULL, 0);
    CHECK_INT(read_raw_response(&f, &stream, msg, sizeof(msg)), TTRPC_INVALID_ARGUMENT);
    CHECK_CONTAINS(msg, "must be odd");
    fixture_fini(&f);
}

TEST(server_answers_oversized_frame_and_keeps_serving)
{
    struct fixture f;
    CHECK_INT(fixture_init(&f), 0);
    /* Announce 5 MiB and send them: the server must skip, not buffer. */
    size_t big = 5u << 20;
    struct ttrpc_header h = {.length = (uint32_t)big, .stream_id = 1, .type = TTRPC_TYPE_REQUEST};
    uint8_t hdr[TTRPC_HEADER_SIZE];
    ttrpc_header_encode(&h, hdr);
    fd_write_full(f.client_fd, hdr, sizeof(hdr));
    fd_set_nonblock(f.client_fd, true);
    uint8_t *junk = xcalloc(1, 65536);
    size_t sent = 0;
    char msg[256];
    uint32_t stream;
    while (sent < big) {
        size_t n = big - sent < 65536 ? big - sent : 65536;
        ssize_t w = write(f.client_fd, junk, n);
        if (w > 0)
            sent += (size_t)w;
        loop_run_once(f.loop, 1, NULL);
        /* Drain the error response if it is already there, so nothing blocks. */
    }
    free(junk);
    fd_set_nonblock(f.client_fd, false);
    CHECK_INT(read_raw_response(&f, &stream, msg, sizeof(msg)), TTRPC_RESOURCE_EXHAUSTED);
    CHECK_INT(stream, 1);
    CHECK_CONTAINS(msg, "exceeds the 4194304-byte limit");
    send_raw_request(f.client_fd, 3, "test.Service", "Echo", NULL, 0);
    CHECK_INT(read_raw_response(&f, &stream, msg, sizeof(msg)), TTRPC_OK);
    CHECK_INT(stream, 3);
    fixture_fini(&f);
}

TEST(server_survives_truncated_frame_and_serves_other_connections)
{
    struct fixture f;
    CHECK_INT(fixture_init(&f), 0);
    int sv[2];
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    CHECK_INT(ttrpc_server_add_stream(f.server, sv[0], false, NULL), 0);
    /* Half a header, then hang up. */
    CHECK_INT(write(sv[1], "\0\0\0", 3), 3);
    close(sv[1]);
    for (int i = 0; i < 5; i++)
        loop_run_once(f.loop, 5, NULL);
    char msg[256];
    uint32_t stream;
    send_raw_request(f.client_fd, 1, "test.Service", "Echo", NULL, 0);
    CHECK_INT(read_raw_response(&f, &stream, msg, sizeof(msg)), TTRPC_OK);
    fixture_fini(&f);
}

/* ---- with the real client ---- */

struct answer {
    bool done;
    int code;
    char message[256];
};

static void record(int code, const char *message, const uint8_t *payload, size_t len, void *data)
{
    struct answer *a = data;
    a->done = true;
    a->code = code;
    snprintf(a->message, sizeof(a->message), "%s", message ? message : "");
}

TEST(client_sync_call_round_trips_message)
{
    struct fixture f;
    CHECK_INT(fixture_init(&f), 0);
    struct ttrpc_client *c = ttrpc_client_new(f.loop, f.client_fd, NULL);
    f.client_fd = -1;
    CHECK(c != NULL);
    Ttrpc__KeyValue kv = TTRPC__KEY_VALUE__INIT;
    kv.key = "hello";
    kv.value = "world";
    ProtobufCMessage *resp = NULL;
    cleanup_kerr struct kerr *e = NULL;
    CHECK_INT(ttrpc_client_call(c, "test.Service", "Echo", &kv.base, &ttrpc__key_value__descriptor,
                                &resp, 0, NULL, &e),
              0);
    CHECK_STR(((Ttrpc__KeyValue *)resp)->value, "world");
    protobuf_c_message_free_unpacked(resp, NULL);
    int code = 0;
    CHECK_INT(ttrpc_client_call(c, "test.Service", "Fail", &kv.base, NULL, NULL, 0, &code, &e), -1);
    CHECK_INT(code, TTRPC_NOT_FOUND);
    CHECK_STR(e->msg, "test.Service/Fail: NotFound: container `hello` not found");
    ttrpc_client_free(c);
    fixture_fini(&f);
}

TEST(deferred_call_does_not_stall_others)
{
    struct fixture f;
    CHECK_INT(fixture_init(&f), 0);
    struct ttrpc_client *c = ttrpc_client_new(f.loop, f.client_fd, NULL);
    f.client_fd = -1;
    Ttrpc__KeyValue kv = TTRPC__KEY_VALUE__INIT;
    struct answer wait = {0}, echo_answer = {0};
    CHECK_INT(ttrpc_client_call_async(c, "test.Service", "Wait", &kv.base, 0, record, &wait, NULL),
              0);
    CHECK_INT(
        ttrpc_client_call_async(c, "test.Service", "Echo", &kv.base, 0, record, &echo_answer, NULL),
        0);
    for (int i = 0; i < 100 && !echo_answer.done; i++)
        loop_run_once(f.loop, 10, NULL);
    CHECK(echo_answer.done);
    CHECK(!wait.done);
    CHECK(f.deferred != NULL);
    /* Now the waiter is answered. */
    ttrpc_call_reply(f.deferred, &kv.base);
    f.deferred = NULL;
    for (int i = 0; i < 100 && !wait.done; i++)
        loop_run_once(f.loop, 10, NULL);
    CHECK(wait.done);
    CHECK_INT(wait.code, TTRPC_OK);
    CHECK_INT(f.cancelled, 0);
    ttrpc_client_free(c);
    fixture_fini(&f);
}

TEST(deadline_answers_deadline_exceeded_and_cancels)
{
    struct fixture f;
    CHECK_INT(fixture_init(&f), 0);
    struct ttrpc_client *c = ttrpc_client_new(f.loop, f.client_fd, NULL);
    f.client_fd = -1;
    Ttrpc__KeyValue kv = TTRPC__KEY_VALUE__INIT;
    int code = 0;
    cleanup_kerr struct kerr *e = NULL;
    CHECK_INT(
        ttrpc_client_call(c, "test.Service", "Wait", &kv.base, NULL, NULL, 20000000ull, &code, &e),
        -1);
    CHECK_INT(code, TTRPC_DEADLINE_EXCEEDED);
    CHECK_CONTAINS(e->msg, "deadline exceeded");
    /* The server side gave up too and told the handler's owner. */
    for (int i = 0; i < 20 && f.cancelled == 0; i++)
        loop_run_once(f.loop, 10, NULL);
    CHECK_INT(f.cancelled, 1);
    CHECK(f.deferred == NULL);
    ttrpc_client_free(c);
    fixture_fini(&f);
}

TEST(disconnect_cancels_deferred_calls_and_fails_pending)
{
    struct fixture f;
    CHECK_INT(fixture_init(&f), 0);
    struct ttrpc_client *c = ttrpc_client_new(f.loop, f.client_fd, NULL);
    f.client_fd = -1;
    Ttrpc__KeyValue kv = TTRPC__KEY_VALUE__INIT;
    struct answer wait = {0};
    CHECK_INT(ttrpc_client_call_async(c, "test.Service", "Wait", &kv.base, 0, record, &wait, NULL),
              0);
    for (int i = 0; i < 50 && f.deferred == NULL; i++)
        loop_run_once(f.loop, 10, NULL);
    CHECK(f.deferred != NULL);
    ttrpc_client_free(c); /* fails the pending call locally, closes the socket */
    CHECK(wait.done);
    CHECK_INT(wait.code, TTRPC_CANCELLED);
    for (int i = 0; i < 50 && f.cancelled == 0; i++)
        loop_run_once(f.loop, 10, NULL);
    CHECK_INT(f.cancelled, 1);
    fixture_fini(&f);
}

TEST(client_reports_unavailable_when_server_goes_away)
{
    int sv[2];
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    struct loop *loop = loop_new(NULL);
    struct ttrpc_client *c = ttrpc_client_new(loop, sv[1], NULL);
    Ttrpc__KeyValue kv = TTRPC__KEY_VALUE__INIT;
    struct answer a = {0};
    CHECK_INT(ttrpc_client_call_async(c, "x.Y", "Z", &kv.base, 0, record, &a, NULL), 0);
    close(sv[0]);
    for (int i = 0; i < 50 && !a.done; i++)
        loop_run_once(loop, 10, NULL);
    CHECK(a.done);
    CHECK_INT(a.code, TTRPC_UNAVAILABLE);
    CHECK(!ttrpc_client_connected(c));
    cleanup_kerr struct kerr *e = NULL;
    CHECK_INT(ttrpc_client_call_async(c, "x.Y", "Z", &kv.base, 0, record, &a, &e), -1);
    ttrpc_client_free(c);
    loop_free(loop);
}

TEST(many_concurrent_calls_on_one_connection)
{
    struct fixture f;
    CHECK_INT(fixture_init(&f), 0);
    struct ttrpc_client *c = ttrpc_client_new(f.loop, f.client_fd, NULL);
    f.client_fd = -1;
    Ttrpc__KeyValue kv = TTRPC__KEY_VALUE__INIT;
    static struct answer answers[200];
    memset(answers, 0, sizeof(answers));
    for (int i = 0; i < 200; i++)
        CHECK_INT(ttrpc_client_call_async(c, "test.Service", i % 2 ? "Echo" : "Fail", &kv.base, 0,
                                          record, &answers[i], NULL),
                  0);
    int done = 0;
    for (int round = 0; round < 500 && done < 200; round++) {
        loop_run_once(f.loop, 10, NULL);
        done = 0;
        for (int i = 0; i < 200; i++)
            done += answers[i].done;
    }
    CHECK_INT(done, 200);
    for (int i = 0; i < 200; i++)
        CHECK_INT(answers[i].code, i % 2 ? TTRPC_OK : TTRPC_NOT_FOUND);
    ttrpc_client_free(c);
    fixture_fini(&f);
}

/* ---- re-entry: a handler that runs the loop (exclusive methods) ----
 *
 * As in the sandbox daemon: the front server's Nest handler calls a backend
 * synchronously (the backend answers Slow after slow_ns), so the loop runs
 * inside it and the front server sees other requests meanwhile.  Requests
 * are sent by timers at chosen moments, which fire inside the nested loop. */

struct nest_world {
    struct loop *loop;
    struct ttrpc_server *front, *back;
    struct ttrpc_client *back_client;
    uint64_t slow_ns;
    int running, max_running; /* Nest handlers on the stack */
    char order[32];           /* the keys of the Nest calls, as they ran */
    size_t n_order;
};
static struct nest_world W;

struct slow_call {
    struct ttrpc_call *call;
    struct loop_timer *timer;
};

static void slow_answer(void *data)
{
    struct slow_call *s = data;
    Ttrpc__KeyValue kv = TTRPC__KEY_VALUE__INIT;
    ttrpc_call_set_cancel(s->call, NULL, NULL);
    ttrpc_call_reply(s->call, &kv.base);
    free(s);
}

static void slow_cancelled(void *data)
{
    struct slow_call *s = data;
    loop_timer_cancel(s->timer);
    free(s);
}

static void slow(struct ttrpc_call *call, const ProtobufCMessage *req, void *data)
{
    struct slow_call *s = xcalloc(1, sizeof(*s));
    s->call = call;
    s->timer = loop_timer_add(W.loop, W.slow_ns, slow_answer, s);
    ttrpc_call_set_cancel(call, slow_cancelled, s);
}

static void nest(struct ttrpc_call *call, const ProtobufCMessage *req, void *data)
{
    const Ttrpc__KeyValue *kv = (const void *)req;
    if (++W.running > W.max_running)
        W.max_running = W.running;
    if (W.n_order < sizeof(W.order) - 1)
        W.order[W.n_order++] = kv->key[0];
    Ttrpc__KeyValue q = TTRPC__KEY_VALUE__INIT;
    struct kerr *e = NULL;
    ttrpc_client_call(W.back_client, "test.Back", "Slow", &q.base, NULL, NULL, 0, NULL, &e);
    kerr_free(e);
    W.running--;
    /* The call may have been abandoned meanwhile: it is still ours to answer. */
    ttrpc_call_reply(call, req);
}

static const struct ttrpc_method back_methods[] = {
    {"test.Back", "Slow", &ttrpc__key_value__descriptor, slow},
};

static const struct ttrpc_method front_methods[] = {
    {"test.Front", "Nest", &ttrpc__key_value__descriptor, nest, true},
    {"test.Front", "Echo", &ttrpc__key_value__descriptor, echo, true},
    {"test.Front", "Read", &ttrpc__key_value__descriptor, echo, false},
};

static struct ttrpc_client *front_client(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return NULL;
    if (ttrpc_server_add_stream(W.front, sv[0], false, NULL) < 0)
        return NULL;
    return ttrpc_client_new(W.loop, sv[1], NULL);
}

static int nest_init(uint64_t slow_ns)
{
    memset(&W, 0, sizeof(W));
    W.slow_ns = slow_ns;
    W.loop = loop_new(NULL);
    W.back = ttrpc_server_new(W.loop, back_methods, ARRAY_SIZE(back_methods), NULL);
    W.front = ttrpc_server_new(W.loop, front_methods, ARRAY_SIZE(front_methods), NULL);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
        ttrpc_server_add_stream(W.back, sv[0], false, NULL) < 0)
        return -1;
    W.back_client = ttrpc_client_new(W.loop, sv[1], NULL);
    return W.back_client ? 0 : -1;
}

static void nest_fini(void)
{
    ttrpc_client_free(W.back_client);
    ttrpc_server_free(W.front);
    ttrpc_server_free(W.back);
    loop_free(W.loop);
}

/* An answer, and how many Nest handlers ran when it came. */
struct nest_answer {
    bool done;
    int code;
    int running_then;
};

static void nest_record(int code, const char *message, const uint8_t *payload, size_t len,
                        void *data)
{
    struct nest_answer *a = data;
    a->done = true;
    a->code = code;
    a->running_then = W.running;
}

/* A call sent by a timer: method, key, deadline, on which client. */
struct later {
    struct ttrpc_client *client;
    const char *method, *key;
    uint64_t timeout_ns;
    struct nest_answer answer;
};

static void send_later(void *data)
{
    struct later *l = data;
    Ttrpc__KeyValue kv = TTRPC__KEY_VALUE__INIT;
    kv.key = (char *)l->key;
    ttrpc_client_call_async(l->client, "test.Front", l->method, &kv.base, l->timeout_ns,
                            nest_record, &l->answer, NULL);
}

static void free_client_later(void *data)
{
    ttrpc_client_free(data);
}

#define MS 1000000ull

static bool all_done(struct later *l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!l[i].answer.done)
            return false;
    return true;
}

static void pump(struct later *l, size_t n, int max_ms)
{
    for (int i = 0; i < max_ms && !all_done(l, n); i++)
        loop_run_once(W.loop, 1, NULL);
}

TEST(exclusive_calls_run_one_at_a_time_in_order_others_at_once)
{
    CHECK_INT(nest_init(40 * MS), 0);
    struct ttrpc_client *c1 = front_client(), *c2 = front_client(), *c3 = front_client();
    CHECK(c1 && c2 && c3);
    struct later l[] = {
        {c1, "Nest", "a", 0, {0}}, /* at 0: runs, nests for 40 ms */
        {c2, "Nest", "b", 0, {0}}, /* at 5 ms: waits for a */
        {c1, "Read", "r", 0, {0}}, /* at 8 ms, on a's own connection: answered at once */
        {c3, "Read", "s", 0, {0}}, /* at 9 ms: answered at once */
        {c1, "Nest", "c", 0, {0}}, /* at 10 ms, on a's connection: waits for a and b */
        {c3, "Echo", "d", 0, {0}}, /* at 12 ms: exclusive, waits for a, b and c */
    };
    const uint64_t at[] = {0, 5, 8, 9, 10, 12};
    for (size_t i = 0; i < ARRAY_SIZE(l); i++)
        loop_timer_add(W.loop, at[i] * MS, send_later, &l[i]);
    pump(l, ARRAY_SIZE(l), 5000);
    CHECK(all_done(l, ARRAY_SIZE(l)));
    for (size_t i = 0; i < ARRAY_SIZE(l); i++)
        CHECK_INT(l[i].answer.code, TTRPC_OK);
    CHECK_INT(W.max_running, 1);
    CHECK_STR(W.order, "abc");
    CHECK_INT(l[2].answer.running_then, 1); /* while a ran */
    CHECK_INT(l[3].answer.running_then, 1);
    ttrpc_client_free(c1);
    ttrpc_client_free(c2);
    ttrpc_client_free(c3);
    nest_fini();
}

TEST(a_call_whose_deadline_passes_while_its_handler_runs_is_answered_once)
{
    CHECK_INT(nest_init(40 * MS), 0);
    struct ttrpc_client *c1 = front_client();
    struct later l[] = {{c1, "Nest", "a", 5 * MS, {0}}};
    send_later(&l[0]);
    pump(l, 1, 5000);
    CHECK(l[0].answer.done);
    CHECK_INT(l[0].answer.code, TTRPC_DEADLINE_EXCEEDED);
    /* The handler returned later and answered into the void; the connection
     * serves on. */
    struct later next[] = {{c1, "Echo", "b", 0, {0}}};
    send_later(&next[0]);
    pump(next, 1, 5000);
    CHECK_INT(next[0].answer.code, TTRPC_OK);
    CHECK_INT(W.running, 0);
    ttrpc_client_free(c1);
    nest_fini();
}

TEST(a_connection_closed_while_its_handler_runs_goes_after_it)
{
    CHECK_INT(nest_init(40 * MS), 0);
    struct ttrpc_client *c1 = front_client(), *c2 = front_client();
    struct later l[] = {{c1, "Nest", "a", 0, {0}}, {c2, "Nest", "b", 0, {0}}};
    send_later(&l[0]);
    loop_timer_add(W.loop, 5 * MS, send_later, &l[1]);
    /* c1 hangs up while a's handler waits for the backend: its connection
     * is gone in the nested loop, under the round that dispatched a. */
    loop_timer_add(W.loop, 10 * MS, free_client_later, c1);
    pump(l, 2, 5000);
    CHECK(all_done(l, 2));
    CHECK_INT(l[0].answer.code, TTRPC_CANCELLED); /* the client's own verdict */
    CHECK_INT(l[1].answer.code, TTRPC_OK);
    CHECK_STR(W.order, "ab");
    ttrpc_client_free(c2);
    nest_fini();
}

TEST(a_queued_call_keeps_its_deadline_and_leaves_with_its_connection)
{
    CHECK_INT(nest_init(60 * MS), 0);
    struct ttrpc_client *c1 = front_client(), *c2 = front_client(), *c3 = front_client();
    struct later l[] = {
        {c1, "Nest", "a", 0, {0}},
        {c2, "Nest", "b", 10 * MS, {0}}, /* queued at 5 ms, its deadline at 15 ms */
        {c3, "Nest", "c", 0, {0}},       /* queued at 5 ms, its client gone at 10 ms */
    };
    send_later(&l[0]);
    loop_timer_add(W.loop, 5 * MS, send_later, &l[1]);
    loop_timer_add(W.loop, 5 * MS, send_later, &l[2]);
    loop_timer_add(W.loop, 10 * MS, free_client_later, c3);
    pump(l, 3, 5000);
    CHECK(all_done(l, 3));
    CHECK_INT(l[0].answer.code, TTRPC_OK);
    CHECK_INT(l[1].answer.code, TTRPC_DEADLINE_EXCEEDED);
    CHECK_INT(l[1].answer.running_then, 1); /* answered while a ran */
    CHECK_INT(l[2].answer.code, TTRPC_CANCELLED);
    CHECK_STR(W.order, "a"); /* neither ran */
    ttrpc_client_free(c1);
    ttrpc_client_free(c2);
    nest_fini();
}

TEST(a_held_server_queues_exclusive_calls_up_to_a_bound)
{
    CHECK_INT(nest_init(MS), 0);
    struct ttrpc_client *c1 = front_client(), *c2 = front_client();
    ttrpc_server_hold(W.front);
    static struct later l[TTRPC_MAX_QUEUED + 1];
    for (size_t i = 0; i < ARRAY_SIZE(l); i++) {
        l[i] = (struct later){c1, "Echo", "e", 0, {0}};
        send_later(&l[i]);
    }
    struct later read[] = {{c2, "Read", "r", 0, {0}}};
    send_later(&read[0]);
    pump(read, 1, 5000);
    CHECK_INT(read[0].answer.code, TTRPC_OK);
    for (int i = 0; i < 50; i++)
        loop_run_once(W.loop, 1, NULL);
    size_t done = 0;
    for (size_t i = 0; i < ARRAY_SIZE(l); i++)
        done += l[i].answer.done;
    CHECK_INT(done, 1);
    CHECK_INT(l[TTRPC_MAX_QUEUED].answer.code, TTRPC_RESOURCE_EXHAUSTED);
    ttrpc_server_release(W.front);
    pump(l, ARRAY_SIZE(l), 5000);
    for (size_t i = 0; i < TTRPC_MAX_QUEUED; i++)
        CHECK_INT(l[i].answer.code, TTRPC_OK);
    ttrpc_client_free(c1);
    ttrpc_client_free(c2);
    nest_fini();
}

TEST(a_call_on_a_client_freed_meanwhile_fails_cleanly)
{
    /* The sandbox daemon frees its agent client when the VM dies, which can
     * happen in the loop round of the call before. */
    Ttrpc__KeyValue kv = TTRPC__KEY_VALUE__INIT;
    int code = 0;
    cleanup_kerr struct kerr *e = NULL;
    CHECK_INT(ttrpc_client_call(NULL, "x.Y", "Z", &kv.base, NULL, NULL, 0, &code, &e), -1);
    CHECK_INT(code, TTRPC_UNAVAILABLE);
    CHECK_INT(e->status, ENOTCONN);
}
