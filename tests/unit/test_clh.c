/* Cloud Hypervisor's REST client (ch_client) against a stand-in server on a
 * unix socket that answers canned HTTP (errors with status and body, an
 * answer that never comes, oversize answers, a VMM that hangs up, fds passed
 * with SCM_RIGHTS), and the clh driver's request bodies and ops against it.
 * The bodies' conformance to Cloud Hypervisor's API document is checked by
 * tests/integration/test_ch_api_schema.py (through tests/tools/ch-bodies). */
#include "ch_client.h"
#include "clh.h"
#include "hypervisor.h"
#include "test.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- the stand-in server ---- */

enum fake_mode {
    FAKE_ANSWER,  /* read the request, answer, wait for the client to close */
    FAKE_SILENT,  /* read the request, never answer */
    FAKE_HANG_UP, /* read the request, close */
    FAKE_CLOSE,   /* read the request, answer, close at once */
    FAKE_STREAM,  /* answer 200 without a length and write until the client leaves */
};

#define FAKE_MAX 4

struct fake_exchange {
    enum fake_mode mode;
    const char *answer; /* raw HTTP */
    char request[16384];
    size_t request_len;
    int received_fd; /* from SCM_RIGHTS, -1 if none */
};

struct fake {
    char dir[64];
    char path[100];
    int listen_fd;
    pthread_t thread;
    struct fake_exchange ex[FAKE_MAX];
    size_t n;
};

static bool request_complete(const char *buf, size_t len)
{
    const char *blank = memmem(buf, len, "\r\n\r\n", 4);
    if (blank == NULL)
        return false;
    const char *cl = strcasestr(buf, "Content-Length:");
    size_t body = cl && cl < blank ? strtoul(cl + 15, NULL, 10) : 0;
    return len >= (size_t)(blank + 4 - buf) + body;
}

static void read_request(int fd, struct fake_exchange *ex)
{
    ex->received_fd = -1;
    while (!request_complete(ex->request, ex->request_len) &&
           ex->request_len < sizeof(ex->request) - 1) {
        struct iovec iov = {.iov_base = ex->request + ex->request_len,
                            .iov_len = sizeof(ex->request) - 1 - ex->request_len};
        union {
            char buf[CMSG_SPACE(sizeof(int) * 4)];
            struct cmsghdr align;
        } control;
        struct msghdr msg = {.msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = control.buf,
                             .msg_controllen = sizeof(control.buf)};
        ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
        if (n <= 0)
            return;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
            if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
                memcpy(&ex->received_fd, CMSG_DATA(cm), sizeof(int));
        ex->request_len += (size_t)n;
        ex->request[ex->request_len] = '\0';
    }
}

static void wait_close(int fd)
{
    char buf[256];
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
}

static void *fake_run(void *arg)
{
    struct fake *f = arg;
    for (size_t i = 0; i < f->n; i++) {
        struct fake_exchange *ex = &f->ex[i];
        int fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            return NULL;
        read_request(fd, ex);
        switch (ex->mode) {
        case FAKE_ANSWER:
            send(fd, ex->answer, strlen(ex->answer), MSG_NOSIGNAL);
            wait_close(fd);
            break;
        case FAKE_SILENT:
            wait_close(fd);
            break;
        case FAKE_HANG_UP:
            break;
        case FAKE_CLOSE:
            send(fd, ex->answer, strlen(ex->answer), MSG_NOSIGNAL);
            break;
        case FAKE_STREAM: {
            const char *head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n";
            send(fd, head, strlen(head), MSG_NOSIGNAL);
            char chunk[4096];
            memset(chunk, 'x', sizeof(chunk));
            while (send(fd, chunk, sizeof(chunk), MSG_NOSIGNAL) > 0)
                ;
            break;
        }
        }
        close(fd);
    }
    return NULL;
}

/* A server for the exchanges f->ex[0..n-1], one connection each. */
static int fake_start(struct fake *f)
{
    snprintf(f->dir, sizeof(f->dir), "/tmp/test-clh.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/api.sock", f->dir);
    f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", f->path);
    if (bind(f->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(f->listen_fd, 8) < 0)
        return -1;
    return pthread_create(&f->thread, NULL, fake_run, f) == 0 ? 0 : -1;
}

static void fake_stop(struct fake *f)
{
    shutdown(f->listen_fd, SHUT_RDWR); /* an accept still waiting returns */
    pthread_join(f->thread, NULL);
    close(f->listen_fd);
    for (size_t i = 0; i < f->n; i++)
        if (f->ex[i].received_fd >= 0)
            close(f->ex[i].received_fd);
    unlink(f->path);
    rmdir(f->dir);
}

static struct fake *fake_one(enum fake_mode mode, const char *answer)
{
    struct fake *f = xcalloc(1, sizeof(*f));
    f->n = 1;
    f->ex[0] = (struct fake_exchange){.mode = mode, .answer = answer, .received_fd = -1};
    if (fake_start(f) < 0) {
        free(f);
        return NULL;
    }
    return f;
}

#define SECOND 1000000000ull

/* A canned answer with its Content-Length (from a small static ring). */
static const char *http(const char *status, const char *body)
{
    static char ring[8][8192];
    static unsigned next;
    char *out = ring[next++ % 8];
    snprintf(out, sizeof(ring[0]),
             "HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             status, strlen(body), body);
    return out;
}

/* ---- the client ---- */

TEST(get_answers_the_body_and_sends_the_route)
{
    struct fake *f = fake_one(FAKE_ANSWER, http("200 OK", "{\"version\":\"v45.0\"}"));
    CHECK(f);
    struct ch_client c;
    ch_client_init(&c, f->path, 5 * SECOND);
    struct ch_answer a;
    cleanup_kerr struct kerr *err = NULL;
    int rc = ch_request(&c, "GET", "vmm.ping", NULL, &a, &err);
    fake_stop(f);
    CHECK_INT(rc, 0);
    CHECK_INT(a.status, 200);
    CHECK_STR(a.body, "{\"version\":\"v45.0\"}");
    CHECK_INT(a.len, 19);
    ch_answer_release(&a);
    CHECK(strncmp(f->ex[0].request, "GET /api/v1/vmm.ping HTTP/1.1\r\n", 31) == 0);
    free(f);
}

TEST(put_without_body_sends_content_length_0_and_204_is_success)
{
    struct fake *f = fake_one(FAKE_ANSWER, "HTTP/1.1 204 No Content\r\n\r\n");
    CHECK(f);
    struct ch_client c;
    ch_client_init(&c, f->path, 5 * SECOND);
    struct ch_answer a;
    cleanup_kerr struct kerr *err = NULL;
    int rc = ch_request(&c, "PUT", "vm.boot", NULL, &a, &err);
    fake_stop(f);
    CHECK_INT(rc, 0);
    CHECK_INT(a.status, 204);
    CHECK(a.body == NULL);
    const char *req = f->ex[0].request;
    CHECK(strncmp(req, "PUT /api/v1/vm.boot HTTP/1.1\r\n", 30) == 0);
    CHECK(strcasestr(req, "\r\nContent-Length: 0\r\n") != NULL);
    CHECK(strcasestr(req, "Expect:") == NULL);
    CHECK(strstr(req, "\r\n\r\n")[4] == '\0');
    free(f);
}

TEST(put_with_body_sends_json)
{
    struct fake *f = fake_one(FAKE_ANSWER, "HTTP/1.1 204 No Content\r\n\r\n");
    CHECK(f);
    struct ch_client c;
    ch_client_init(&c, f->path, 5 * SECOND);
    cleanup_kerr struct kerr *err = NULL;
    int rc = ch_request(&c, "PUT", "vm.create", "{\"payload\":{}}", NULL, &err);
    fake_stop(f);
    CHECK_INT(rc, 0);
    const char *req = f->ex[0].request;
    CHECK(strcasestr(req, "\r\nContent-Type: application/json\r\n") != NULL);
    CHECK(strcasestr(req, "\r\nContent-Length: 14\r\n") != NULL);
    CHECK_STR(strstr(req, "\r\n\r\n") + 4, "{\"payload\":{}}");
    free(f);
}

TEST(http_error_names_the_request_status_and_escaped_body)
{
    /* Cloud Hypervisor's errors are text; this one carries a terminal escape
     * and is long. */
    static char answer[4096];
    char body[2000];
    snprintf(body, sizeof(body), "Error creating VM: \x1b[31mbad disk\x1b[0m %01500d", 7);
    snprintf(answer, sizeof(answer), "HTTP/1.1 400 Bad Request\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    struct fake *f = fake_one(FAKE_ANSWER, answer);
    CHECK(f);
    struct ch_client c;
    ch_client_init(&c, f->path, 5 * SECOND);
    struct ch_answer a;
    cleanup_kerr struct kerr *err = NULL;
    int rc = ch_request(&c, "PUT", "vm.create", "{}", &a, &err);
    fake_stop(f);
    free(f);
    CHECK_INT(rc, -1);
    CHECK_INT(a.status, 400);
    CHECK_INT(a.len, strlen(body));
    ch_answer_release(&a);
    CHECK(err != NULL);
    CHECK_INT(err->status, EINVAL);
    CHECK_CONTAINS(err->msg, "`PUT vm.create`: HTTP 400: Error creating VM: \\x1b[31mbad disk");
    CHECK(strchr(err->msg, '\x1b') == NULL);
    CHECK(strlen(err->msg) < 600);
}

TEST(http_error_json_message_and_status_errno)
{
    struct fake *f =
        fake_one(FAKE_ANSWER, http("404 Not Found", "{\"error\": \"unknown device `rootfs9`\"}\n"));
    CHECK(f);
    struct ch_client c;
    ch_client_init(&c, f->path, 5 * SECOND);
    cleanup_kerr struct kerr *err = NULL;
    int rc = ch_request(&c, "PUT", "vm.remove-device", "{\"id\":\"rootfs9\"}", NULL, &err);
    fake_stop(f);
    free(f);
    CHECK_INT(rc, -1);
    CHECK_INT(err->status, ENOENT);
    CHECK_CONTAINS(err->msg, "`PUT vm.remove-device`: HTTP 404: unknown device `rootfs9`");
    CHECK_INT(ch_status_errno(405), EPERM);
    CHECK_INT(ch_status_errno(409), EEXIST);
    CHECK_INT(ch_status_errno(429), EBUSY);
    CHECK_INT(ch_status_errno(500), EIO);
}

TEST(error_text_is_trimmed_and_empty_says_so)
{
    cleanup_free char *a = ch_error_text("  \r\n", 4);
    CHECK_STR(a, "(no message)");
    cleanup_free char *b = ch_error_text("\n oops \n", 8);
    CHECK_STR(b, "oops");
    cleanup_free char *c = ch_error_text("{\"error\": 3}", 12);
    CHECK_STR(c, "{\"error\": 3}");
}

TEST(no_answer_times_out_naming_the_request)
{
    struct fake *f = fake_one(FAKE_SILENT, NULL);
    CHECK(f);
    struct ch_client c;
    ch_client_init(&c, f->path, SECOND / 5);
    cleanup_kerr struct kerr *err = NULL;
    int rc = ch_request(&c, "GET", "vm.info", NULL, NULL, &err);
    fake_stop(f);
    free(f);
    CHECK_INT(rc, -1);
    CHECK_INT(err->status, ETIMEDOUT);
    CHECK_CONTAINS(err->msg, "`GET vm.info`");
}

TEST(oversize_answers_are_refused)
{
    struct fake *f = fake_one(FAKE_ANSWER, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n{");
    CHECK(f);
    struct ch_client c;
    ch_client_init(&c, f->path, 5 * SECOND);
    c.answer_max = 1024;
    cleanup_kerr struct kerr *err = NULL;
    int rc = ch_request(&c, "GET", "vm.info", NULL, NULL, &err);
    fake_stop(f);
    free(f);
    CHECK_INT(rc, -1);
    CHECK_INT(err->status, EFBIG);
    CHECK_CONTAINS(err->msg, "`GET vm.info`: answer larger than 1024 bytes");

    f = fake_one(FAKE_STREAM, NULL); /* no length: it never ends */
    CHECK(f);
    ch_client_init(&c, f->path, 5 * SECOND);
    c.answer_max = 1024;
    cleanup_kerr struct kerr *err2 = NULL;
    rc = ch_request(&c, "GET", "vm.info", NULL, NULL, &err2);
    fake_stop(f);
    free(f);
    CHECK_INT(rc, -1);
    CHECK_INT(err2->status, EFBIG);
}

TEST(vmm_gone_is_an_error)
{
    struct fake *f = fake_one(FAKE_HANG_UP, NULL);
    CHECK(f);
    struct ch_client c;
    ch_client_init(&c, f->path, 5 * SECOND);
    cleanup_kerr struct kerr *err = NULL;
    int rc = ch_request(&c, "PUT", "vm.pause", NULL, NULL, &err);
    fake_stop(f);
    free(f);
    CHECK_INT(rc, -1);
    CHECK_INT(err->status, EPROTO);
    CHECK_CONTAINS(err->msg, "`PUT vm.pause`");
    CHECK_CONTAINS(err->msg, "gone");

    /* No socket at all. */
    ch_client_init(&c, "/nonexistent/clh-api.sock", SECOND);
    cleanup_kerr struct kerr *err2 = NULL;
    CHECK_INT(ch_request(&c, "GET", "vmm.ping", NULL, NULL, &err2), -1);
    CHECK_INT(err2->status, ENOENT);
    CHECK_CONTAINS(err2->msg, "`GET vmm.ping`: connect to `/nonexistent/clh-api.sock`");
    cleanup_kerr struct kerr *err3 = NULL;
    int fd = 0;
    CHECK_INT(ch_request_fds(&c, "PUT", "vm.add-net", "{}", &fd, 1, NULL, &err3), -1);
    CHECK_INT(err3->status, ENOENT);
    CHECK_CONTAINS(err3->msg, "`PUT vm.add-net`");
}

TEST(fds_travel_with_the_request_and_the_answer_is_read_by_length)
{
    /* The server keeps the connection open after answering (as Cloud
     * Hypervisor does): the client must stop at Content-Length. */
    struct fake *f =
        fake_one(FAKE_ANSWER, http("200 OK", "{\"id\":\"net0\",\"bdf\":\"0000:00:05.0\"}"));
    CHECK(f);
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    struct ch_client c;
    ch_client_init(&c, f->path, 5 * SECOND);
    struct ch_answer a;
    cleanup_kerr struct kerr *err = NULL;
    int rc = ch_request_fds(&c, "PUT", "vm.add-net", "{\"id\":\"net0\"}", &p[1], 1, &a, &err);
    /* The server got a working copy of the pipe's write end. */
    int got = f->ex[0].received_fd;
    bool works = got >= 0 && write(got, "z", 1) == 1;
    char z = 0;
    works = works && read(p[0], &z, 1) == 1 && z == 'z';
    fake_stop(f);
    close(p[0]);
    close(p[1]);
    CHECK_INT(rc, 0);
    CHECK_INT(a.status, 200);
    CHECK_STR(a.body, "{\"id\":\"net0\",\"bdf\":\"0000:00:05.0\"}");
    ch_answer_release(&a);
    CHECK(works);
    const char *req = f->ex[0].request;
    CHECK(strncmp(req, "PUT /api/v1/vm.add-net HTTP/1.1\r\n", 33) == 0);
    CHECK(strcasestr(req, "\r\nContent-Length: 13\r\n") != NULL);
    CHECK_STR(strstr(req, "\r\n\r\n") + 4, "{\"id\":\"net0\"}");
    free(f);
}

TEST(fds_request_errors_timeouts_oversize_and_hang_up)
{
    int fd = 0;
    struct ch_client c;
    struct fake *f =
        fake_one(FAKE_ANSWER, http("500 Internal Server Error", "Error: tap \x07 refused"));
    CHECK(f);
    ch_client_init(&c, f->path, 5 * SECOND);
    cleanup_kerr struct kerr *e1 = NULL;
    CHECK_INT(ch_request_fds(&c, "PUT", "vm.add-net", "{}", &fd, 1, NULL, &e1), -1);
    fake_stop(f);
    free(f);
    CHECK_INT(e1->status, EIO);
    CHECK_CONTAINS(e1->msg, "`PUT vm.add-net`: HTTP 500: Error: tap \\x07 refused");

    f = fake_one(FAKE_SILENT, NULL);
    CHECK(f);
    ch_client_init(&c, f->path, SECOND / 5);
    cleanup_kerr struct kerr *e2 = NULL;
    CHECK_INT(ch_request_fds(&c, "PUT", "vm.add-net", "{}", &fd, 1, NULL, &e2), -1);
    fake_stop(f);
    free(f);
    CHECK_INT(e2->status, ETIMEDOUT);

    f = fake_one(FAKE_STREAM, NULL);
    CHECK(f);
    ch_client_init(&c, f->path, 5 * SECOND);
    c.answer_max = 1024;
    cleanup_kerr struct kerr *e3 = NULL;
    CHECK_INT(ch_request_fds(&c, "PUT", "vm.add-net", "{}", &fd, 1, NULL, &e3), -1);
    fake_stop(f);
    free(f);
    CHECK_INT(e3->status, EFBIG);

    f = fake_one(FAKE_HANG_UP, NULL);
    CHECK(f);
    ch_client_init(&c, f->path, 5 * SECOND);
    cleanup_kerr struct kerr *e4 = NULL;
    CHECK_INT(ch_request_fds(&c, "PUT", "vm.add-net", "{}", &fd, 1, NULL, &e4), -1);
    fake_stop(f);
    free(f);
    CHECK_INT(e4->status, EPROTO);
    CHECK_CONTAINS(e4->msg, "gone");

    f = fake_one(FAKE_ANSWER, "HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n");
    CHECK(f);
    ch_client_init(&c, f->path, 5 * SECOND);
    cleanup_kerr struct kerr *e5 = NULL;
    CHECK_INT(ch_request_fds(&c, "PUT", "vm.add-net", "{}", &fd, 1, NULL, &e5), -1);
    fake_stop(f);
    free(f);
    CHECK_INT(e5->status, EFBIG);
}

TEST(fds_request_refuses_malformed_answers)
{
    static char long_headers[20000];
    size_t off = (size_t)snprintf(long_headers, sizeof(long_headers), "HTTP/1.1 200 OK\r\n");
    while (off < 18000)
        off += (size_t)snprintf(long_headers + off, sizeof(long_headers) - off, "X-Pad: %0100d\r\n",
                                0);
    snprintf(long_headers + off, sizeof(long_headers) - off, "\r\n");
    const struct {
        const char *answer, *what;
    } cases[] = {
        {"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP answer"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n", "a bad Content-Length"},
        {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "a bad Content-Length"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
         "Transfer-Encoding"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "before a complete answer"},
        {long_headers, "headers larger than 16 KiB"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        /* The server closes after its answer: a short body ends at EOF. */
        struct fake *f = fake_one(FAKE_CLOSE, cases[i].answer);
        CHECK(f);
        struct ch_client c;
        ch_client_init(&c, f->path, 5 * SECOND);
        int fd = 0;
        cleanup_kerr struct kerr *err = NULL;
        int rc = ch_request_fds(&c, "PUT", "vm.add-net", "{}", &fd, 1, NULL, &err);
        fake_stop(f);
        free(f);
        CHECK_INT(rc, -1);
        CHECK_INT(err->status, EPROTO);
        CHECK_CONTAINS(err->msg, "`PUT vm.add-net`");
        CHECK_CONTAINS(err->msg, cases[i].what);
    }
    /* A body without a length ends at EOF. */
    struct fake *f = fake_one(FAKE_CLOSE, "HTTP/1.1 200 OK\r\n\r\n{\"id\":\"n\"}");
    CHECK(f);
    struct ch_client c;
    ch_client_init(&c, f->path, 5 * SECOND);
    struct ch_answer a;
    int fd = 0;
    cleanup_kerr struct kerr *err = NULL;
    int rc = ch_request_fds(&c, "PUT", "vm.add-net", "{}", &fd, 1, &a, &err);
    fake_stop(f);
    free(f);
    CHECK_INT(rc, 0);
    CHECK_STR(a.body, "{\"id\":\"n\"}");
    ch_answer_release(&a);
}

TEST(a_full_listen_backlog_fails_in_time_instead_of_blocking)
{
    char dir[] = "/tmp/test-clh-backlog.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    cleanup_free char *path = xasprintf("%s/api.sock", dir);
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
    CHECK(bind(l, (struct sockaddr *)&addr, sizeof(addr)) == 0 && listen(l, 0) == 0);
    /* Fill the backlog: nobody accepts. */
    int pending[64];
    size_t n = 0;
    for (; n < ARRAY_SIZE(pending); n++) {
        pending[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (connect(pending[n], (struct sockaddr *)&addr, sizeof(addr)) < 0) {
            close(pending[n]);
            break;
        }
    }
    struct ch_client c;
    ch_client_init(&c, path, SECOND / 5);
    int fd = 0;
    cleanup_kerr struct kerr *e1 = NULL, *e2 = NULL;
    int rc1 = ch_request_fds(&c, "PUT", "vm.add-net", "{}", &fd, 1, NULL, &e1);
    int rc2 = ch_request(&c, "GET", "vmm.ping", NULL, NULL, &e2);
    for (size_t i = 0; i < n; i++)
        close(pending[i]);
    close(l);
    unlink(path);
    rmdir(dir);
    CHECK(n < ARRAY_SIZE(pending));
    CHECK_INT(rc1, -1);
    CHECK_INT(e1->status, ETIMEDOUT);
    CHECK_CONTAINS(e1->msg, "`PUT vm.add-net`: connect to");
    CHECK_INT(rc2, -1);
    CHECK_CONTAINS(e2->msg, "`GET vmm.ping`");
}

/* ---- the driver's bodies ---- */

static struct json_object *parse_body(char *text)
{
    struct json_object *o = json_tokener_parse(text);
    free(text);
    return o;
}

static const char *get_str(struct json_object *o, const char *path)
{
    /* "a.b.c" through objects */
    char copy[128];
    snprintf(copy, sizeof(copy), "%s", path);
    struct json_object *cur = o;
    for (char *tok = strtok(copy, "."); tok; tok = strtok(NULL, ".")) {
        if (!json_object_object_get_ex(cur, tok, &cur))
            return NULL;
    }
    return json_object_get_string(cur);
}

TEST(vm_config_body_initrd_virtiofs)
{
    struct vm_config cfg = {.kernel = "/k/vmlinux",
                            .initrd = "/k/initrd.img",
                            .vcpus = 2,
                            .max_vcpus = 4,
                            .memory_mb = 2048};
    struct json_object *o = parse_body(
        clh_vm_config_body(&cfg, "console=ttyS0 quiet", "/run/x/clh.sock", "/run/x/vfsd.sock"));
    CHECK(o);
    CHECK_STR(get_str(o, "payload.kernel"), "/k/vmlinux");
    CHECK_STR(get_str(o, "payload.initramfs"), "/k/initrd.img");
    CHECK_STR(get_str(o, "payload.cmdline"), "console=ttyS0 quiet");
    CHECK_STR(get_str(o, "cpus.boot_vcpus"), "2");
    CHECK_STR(get_str(o, "cpus.max_vcpus"), "4");
    CHECK_STR(get_str(o, "memory.size"), "2147483648");
    CHECK_STR(get_str(o, "memory.shared"), "true");
    CHECK_STR(get_str(o, "rng.src"), "/dev/urandom");
    CHECK_STR(get_str(o, "serial.mode"), "Tty");
    CHECK_STR(get_str(o, "console.mode"), "Off");
    CHECK_STR(get_str(o, "vsock.cid"), "3");
    CHECK_STR(get_str(o, "vsock.socket"), "/run/x/clh.sock");
    struct json_object *fs, *disks, *net;
    CHECK(json_object_object_get_ex(o, "fs", &fs));
    CHECK_INT(json_object_array_length(fs), 1);
    struct json_object *fs0 = json_object_array_get_idx(fs, 0);
    CHECK_STR(get_str(fs0, "tag"), "kataShared");
    CHECK_STR(get_str(fs0, "socket"), "/run/x/vfsd.sock");
    CHECK_STR(get_str(fs0, "num_queues"), "1");
    CHECK_STR(get_str(fs0, "queue_size"), "1024");
    CHECK(!json_object_object_get_ex(o, "disks", &disks));
    CHECK(!json_object_object_get_ex(o, "net", &net)); /* taps go by vm.add-net */
    json_object_put(o);
}

TEST(vm_config_body_image_disks_hvc_no_share)
{
    struct vm_block_device devs[] = {{.id = "rootfs0", .path = "/dev/loop3", .readonly = false}};
    struct vm_config cfg = {.kernel = "/k/vmlinux",
                            .image = "/k/root.img",
                            .vcpus = 1,
                            .memory_mb = 512,
                            .block_devices = devs,
                            .n_block_devices = 1};
    struct json_object *o =
        parse_body(clh_vm_config_body(&cfg, "console=ttyS0 console=hvc0", "/r/clh.sock", NULL));
    CHECK(o);
    struct json_object *v;
    CHECK(!json_object_object_get_ex(get_str(o, "payload") ? o : o, "fs", &v));
    CHECK(get_str(o, "payload.initramfs") == NULL);
    CHECK_STR(get_str(o, "cpus.max_vcpus"), "1"); /* never below boot_vcpus */
    CHECK_STR(get_str(o, "memory.shared"), "false");
    CHECK_STR(get_str(o, "serial.mode"), "Off");
    CHECK_STR(get_str(o, "console.mode"), "Tty");
    CHECK(json_object_object_get_ex(o, "disks", &v));
    CHECK_INT(json_object_array_length(v), 2);
    CHECK_STR(get_str(json_object_array_get_idx(v, 0), "path"), "/k/root.img");
    CHECK_STR(get_str(json_object_array_get_idx(v, 0), "readonly"), "true");
    CHECK_STR(get_str(json_object_array_get_idx(v, 1), "id"), "rootfs0");
    CHECK_STR(get_str(json_object_array_get_idx(v, 1), "readonly"), "false");
    json_object_put(o);
}

TEST(device_bodies)
{
    struct vm_block_device d = {.id = "rootfs1", .path = "/dev/loop4", .readonly = true};
    cleanup_free char *disk = clh_add_disk_body(&d);
    CHECK_STR(disk, "{\"path\":\"/dev/loop4\",\"readonly\":true,\"id\":\"rootfs1\"}");
    struct vm_net_device n = {.tap_fd = 7, .mac = "02:00:ca:fe:00:01", .mtu = 1450};
    cleanup_free char *net = clh_add_net_body(&n, 1);
    CHECK_STR(net, "{\"id\":\"net1\",\"mac\":\"02:00:ca:fe:00:01\",\"mtu\":1450}");
    cleanup_free char *rm = clh_remove_device_body("_disk3");
    CHECK_STR(rm, "{\"id\":\"_disk3\"}");
}

TEST(pci_path_from_bdf)
{
    cleanup_kerr struct kerr *err = NULL;
    cleanup_free char *p = clh_pci_path("0000:00:0A.0", &err);
    CHECK_STR(p, "0a");
    const char *bad[] = {"0000:01:05.0", "0001:00:05.0",  "0000:00:05.1",
                         "0000:00:5.0",  "0000:00:05.0x", "",
                         "0000:00:0g.0"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        cleanup_kerr struct kerr *e = NULL;
        CHECK(clh_pci_path(bad[i], &e) == NULL);
        CHECK_CONTAINS(e->msg, "expected 0000:00:SS.0");
    }
}

TEST(capabilities_and_table_entry)
{
    const struct hypervisor_ops *ops = hypervisor_find("clh");
    CHECK(ops == &clh_ops);
    struct vm_config cfg = {0};
    struct vm_capabilities caps;
    vm_capabilities(ops, &cfg, &caps);
    CHECK(caps.shared_fs & VM_CAP_FS(VM_SHARED_FS_VIRTIO_FS));
    CHECK(!(caps.shared_fs & VM_CAP_FS(VM_SHARED_FS_VIRTIO_9P)));
    CHECK(caps.blk_hotplug);
    CHECK(!caps.scsi_hotplug);
    CHECK(caps.pause);
    CHECK(caps.needs_binary);
    CHECK(!caps.runs_without_kvm);
    CHECK_CONTAINS(caps.agent_channel, "hybrid vsock");
}

/* ---- the driver's ops against a stand-in VMM ---- */

static struct fake *fake_script(const struct fake_exchange *ex, size_t n)
{
    struct fake *f = xcalloc(1, sizeof(*f));
    f->n = n;
    for (size_t i = 0; i < n; i++) {
        f->ex[i] = ex[i];
        f->ex[i].received_fd = -1;
    }
    if (fake_start(f) < 0) {
        free(f);
        return NULL;
    }
    return f;
}

#define NO_CONTENT "HTTP/1.1 204 No Content\r\n\r\n"

TEST(hotplug_and_unplug_a_disk)
{
    const struct fake_exchange script[] = {
        {.mode = FAKE_ANSWER,
         .answer = http("200 OK", "{\"id\":\"rootfs0\",\"bdf\":\"0000:00:06.0\"}")},
        {.mode = FAKE_ANSWER, .answer = NO_CONTENT},
        /* vm.info: the guest has ejected it (no node rootfs0). */
        {.mode = FAKE_ANSWER,
         .answer = http("200 OK", "{\"config\":{\"payload\":{}},\"state\":\"Running\",\"device_"
                                  "tree\":{\"_disk0\":{}}}")},
    };
    struct fake *f = fake_script(script, ARRAY_SIZE(script));
    CHECK(f);
    struct vm_config cfg = {.run_dir = f->dir};
    struct vm vm;
    vm_init(&vm, &clh_ops, &cfg);
    clh_attach(&vm, f->path);
    struct vm_block_device d = {.id = "rootfs0", .path = "/dev/loop9", .readonly = false};
    cleanup_free char *guest = NULL;
    cleanup_kerr struct kerr *err = NULL;
    int plugged = vm.ops->hotplug_block(&vm, &d, &guest, &err);
    cleanup_kerr struct kerr *again = NULL;
    char *dup = NULL;
    int twice = plugged == 0 ? vm.ops->hotplug_block(&vm, &d, &dup, &again) : 0;
    cleanup_kerr struct kerr *err2 = NULL;
    int unplugged = plugged == 0 ? vm.ops->unplug_block(&vm, "rootfs0", 5 * SECOND, &err2) : -1;
    cleanup_kerr struct kerr *err3 = NULL;
    int unknown = vm.ops->unplug_block(&vm, "rootfs0", SECOND, &err3);
    fake_stop(f);
    vm_release(&vm);
    CHECK_INT(plugged, 0);
    CHECK_STR(guest, "06");
    CHECK_INT(twice, -1);
    CHECK_INT(again->status, EEXIST);
    CHECK_INT(unplugged, 0);
    CHECK_INT(unknown, -1);
    CHECK_INT(err3->status, ENOENT);
    CHECK(strncmp(f->ex[0].request, "PUT /api/v1/vm.add-disk ", 24) == 0);
    CHECK_STR(strstr(f->ex[0].request, "\r\n\r\n") + 4,
              "{\"path\":\"/dev/loop9\",\"readonly\":false,\"id\":\"rootfs0\"}");
    CHECK(strncmp(f->ex[1].request, "PUT /api/v1/vm.remove-device ", 29) == 0);
    CHECK_STR(strstr(f->ex[1].request, "\r\n\r\n") + 4, "{\"id\":\"rootfs0\"}");
    CHECK(strncmp(f->ex[2].request, "GET /api/v1/vm.info ", 20) == 0);
    free(f);
}

TEST(hotplug_refused_names_the_endpoint_and_body)
{
    const struct fake_exchange script[] = {
        {.mode = FAKE_ANSWER,
         .answer = http("500 Internal Server Error", "Error adding disk: EACCES\n")},
    };
    struct fake *f = fake_script(script, 1);
    CHECK(f);
    struct vm_config cfg = {.run_dir = f->dir};
    struct vm vm;
    vm_init(&vm, &clh_ops, &cfg);
    clh_attach(&vm, f->path);
    struct vm_block_device d = {.id = "rootfs0", .path = "/dev/loop9"};
    char *guest = NULL;
    cleanup_kerr struct kerr *err = NULL;
    int rc = vm.ops->hotplug_block(&vm, &d, &guest, &err);
    struct vm_block_device scsi = {.id = "s", .path = "/dev/loop9", .scsi = true};
    cleanup_kerr struct kerr *err2 = NULL;
    int rc2 = vm.ops->hotplug_block(&vm, &scsi, &guest, &err2);
    fake_stop(f);
    vm_release(&vm);
    free(f);
    CHECK_INT(rc, -1);
    CHECK_CONTAINS(err->msg,
                   "hotplug `rootfs0`: `PUT vm.add-disk`: HTTP 500: Error adding disk: EACCES");
    CHECK_INT(rc2, -1);
    CHECK_INT(err2->status, ENOTSUP);
}

TEST(pause_resume_status)
{
    const struct fake_exchange script[] = {
        {.mode = FAKE_ANSWER, .answer = NO_CONTENT},
        {.mode = FAKE_ANSWER,
         .answer = http("200 OK", "{\"config\":{\"payload\":{}},\"state\":\"Paused\"}")},
        {.mode = FAKE_ANSWER, .answer = http("405 Method Not Allowed", "VM is not paused\n")},
    };
    struct fake *f = fake_script(script, ARRAY_SIZE(script));
    CHECK(f);
    struct vm_config cfg = {.run_dir = f->dir};
    struct vm vm;
    vm_init(&vm, &clh_ops, &cfg);
    clh_attach(&vm, f->path);
    cleanup_kerr struct kerr *e1 = NULL, *e2 = NULL, *e3 = NULL;
    int paused = vm_pause(&vm, &e1);
    cleanup_free char *state = vm.ops->status(&vm, &e2);
    int resumed = vm_resume(&vm, &e3);
    fake_stop(f);
    vm_release(&vm);
    CHECK_INT(paused, 0);
    CHECK_STR(state, "paused");
    CHECK_INT(resumed, -1);
    CHECK_INT(e3->status, EPERM);
    CHECK_CONTAINS(e3->msg, "`PUT vm.resume`: HTTP 405: VM is not paused");
    CHECK(strncmp(f->ex[0].request, "PUT /api/v1/vm.pause ", 21) == 0);
    free(f);
}

TEST(start_refuses_what_it_cannot_run)
{
    struct vm_config cfg = {.kernel = "/nonexistent/vmlinux",
                            .run_dir = "/tmp",
                            .hypervisor_path = "/nonexistent/cloud-hypervisor"};
    struct vm vm;
    vm_init(&vm, &clh_ops, &cfg);
    cleanup_kerr struct kerr *err = NULL;
    CHECK_INT(vm.ops->start(&vm, &err), -1);
    if (vm.accel == VM_ACCEL_KVM)
        CHECK_CONTAINS(err->msg, "hypervisor `/nonexistent/cloud-hypervisor`");
    else
        CHECK_CONTAINS(err->msg, "hypervisor `clh` needs KVM");
    CHECK_INT(vm.pid, 0);
    vm_release(&vm);
}

/* ---- start and stop against fake-ch (a stand-in VMM process) ---- */

struct fake_vmm {
    char dir[64];
    char kernel[128], console[128], log[128];
    int pipe[2]; /* the "tap": its write end goes by vm.add-net */
    struct vm_net_device net;
    struct vm_config cfg;
    struct vm vm;
};

static int fake_vmm_init(struct fake_vmm *t, const char *mode)
{
    snprintf(t->dir, sizeof(t->dir), "/tmp/test-clh-vmm.XXXXXX");
    if (mkdtemp(t->dir) == NULL || pipe2(t->pipe, O_CLOEXEC) < 0)
        return -1;
    snprintf(t->kernel, sizeof(t->kernel), "%s/vmlinux", t->dir);
    snprintf(t->console, sizeof(t->console), "%s/console.log", t->dir);
    snprintf(t->log, sizeof(t->log), "%s/requests.log", t->dir);
    int fd = open(t->kernel, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    close(fd);
    setenv("FAKE_CH_MODE", mode, 1);
    setenv("FAKE_CH_LOG", t->log, 1);
    t->net = (struct vm_net_device){.tap_fd = t->pipe[1], .mac = "02:00:00:00:00:01"};
    t->cfg = (struct vm_config){.hypervisor_path = FAKE_CH_BIN,
                                .kernel = t->kernel,
                                .initrd = t->kernel,
                                .vcpus = 1,
                                .memory_mb = 128,
                                .run_dir = t->dir,
                                .console_path = t->console,
                                .net_devices = &t->net,
                                .n_net_devices = 1};
    vm_init(&t->vm, &clh_ops, &t->cfg);
    t->vm.accel = VM_ACCEL_KVM; /* fake-ch needs none; the driver checks */
    return 0;
}

static char *fake_vmm_requests(struct fake_vmm *t)
{
    char *text = NULL;
    size_t len;
    if (file_read_all(t->log, 1 << 16, &text, &len, NULL) < 0)
        return xstrdup("");
    return text;
}

/* Everything gone: no process, no socket; the directory removed. */
static bool fake_vmm_done(struct fake_vmm *t, pid_t pid)
{
    vm_release(&t->vm);
    close(t->pipe[0]);
    close(t->pipe[1]);
    cleanup_free char *api = xasprintf("%s/clh-api.sock", t->dir);
    cleanup_free char *vsock = xasprintf("%s/clh.sock", t->dir);
    bool clean = (pid <= 0 || kill(pid, 0) < 0) && access(api, F_OK) < 0 && access(vsock, F_OK) < 0;
    cleanup_free char *cmd = xasprintf("rm -rf '%s'", t->dir);
    if (system(cmd) != 0)
        clean = false;
    unsetenv("FAKE_CH_MODE");
    unsetenv("FAKE_CH_LOG");
    return clean;
}

TEST(start_boots_through_the_api_and_stop_shuts_down)
{
    struct fake_vmm t;
    CHECK(fake_vmm_init(&t, "ok") == 0);
    cleanup_kerr struct kerr *err = NULL;
    int started = t.vm.ops->start(&t.vm, &err);
    if (started < 0)
        printf("#   start: %s\n", err->msg);
    pid_t pid = t.vm.pid;
    cleanup_kerr struct kerr *e2 = NULL;
    int agent = started == 0 ? t.vm.ops->agent_connect(&t.vm, 5 * SECOND, &e2) : -1;
    if (agent >= 0)
        close(agent);
    cleanup_kerr struct kerr *e3 = NULL;
    cleanup_free char *state = started == 0 ? t.vm.ops->status(&t.vm, &e3) : NULL;
    pid_t pids[VM_HOST_PIDS_MAX];
    size_t n_pids = vm_host_pids(&t.vm, pids, VM_HOST_PIDS_MAX);
    cleanup_kerr struct kerr *e4 = NULL;
    int stopped = t.vm.ops->stop(&t.vm, 5 * SECOND, &e4);
    pid_t after = t.vm.pid;
    cleanup_free char *requests = fake_vmm_requests(&t);
    bool clean = fake_vmm_done(&t, pid);
    CHECK_INT(started, 0);
    CHECK(pid > 0);
    CHECK(agent >= 0);
    CHECK_STR(state, "running");
    CHECK_INT(n_pids, 1);
    CHECK_INT(pids[0], pid);
    CHECK_INT(stopped, 0);
    CHECK_INT(after, 0);
    CHECK(clean);
    CHECK_STR(requests, "GET /api/v1/vmm.ping fds=0\n"
                        "PUT /api/v1/vm.create fds=0\n"
                        "GET /api/v1/vm.info fds=0\n"
                        "PUT /api/v1/vm.add-net fds=1\n"
                        "PUT /api/v1/vm.boot fds=0\n"
                        "GET /api/v1/vm.info fds=0\n"
                        "GET /api/v1/vm.info fds=0\n"
                        "PUT /api/v1/vm.shutdown fds=0\n"
                        "PUT /api/v1/vmm.shutdown fds=0\n");
}

TEST(a_vmm_that_dies_at_start_is_reported_with_its_log)
{
    struct fake_vmm t;
    CHECK(fake_vmm_init(&t, "die") == 0);
    cleanup_kerr struct kerr *err = NULL;
    int started = t.vm.ops->start(&t.vm, &err);
    pid_t pid = t.vm.pid;
    bool clean = fake_vmm_done(&t, pid);
    printf("#   %s\n", err ? err->msg : "(no error)");
    CHECK_INT(started, -1);
    CHECK_INT(pid, 0);
    CHECK(clean);
    CHECK_CONTAINS(err->msg, "Cloud Hypervisor exited (status 1)");
    CHECK_CONTAINS(err->msg, "the VMM failed");
    CHECK_CONTAINS(err->msg, "cannot open /dev/kvm \\x1b[1m");
}

TEST(a_refused_vm_create_names_the_endpoint_and_the_vmm_is_stopped)
{
    struct fake_vmm t;
    CHECK(fake_vmm_init(&t, "create-400") == 0);
    cleanup_kerr struct kerr *err = NULL;
    int started = t.vm.ops->start(&t.vm, &err);
    pid_t pid = t.vm.pid;
    cleanup_free char *requests = fake_vmm_requests(&t);
    bool clean = fake_vmm_done(&t, pid);
    printf("#   %s\n", err ? err->msg : "(no error)");
    CHECK_INT(started, -1);
    CHECK_INT(pid, 0);
    CHECK(clean);
    CHECK_CONTAINS(err->msg, "start Cloud Hypervisor `" FAKE_CH_BIN "`: `PUT vm.create`: HTTP 400: "
                             "Error creating VM: InvalidPayload(\"no \\x1b kernel\")");
    CHECK_STR(requests, "GET /api/v1/vmm.ping fds=0\nPUT /api/v1/vm.create fds=0\n");
}

TEST(a_vmm_that_never_answers_times_out_and_is_killed)
{
    struct fake_vmm t;
    CHECK(fake_vmm_init(&t, "silent") == 0);
    cleanup_kerr struct kerr *err = NULL;
    int started = t.vm.ops->start(&t.vm, &err);
    pid_t pid = t.vm.pid;
    bool clean = fake_vmm_done(&t, pid);
    printf("#   %s\n", err ? err->msg : "(no error)");
    CHECK_INT(started, -1);
    CHECK_INT(pid, 0);
    CHECK(clean);
    CHECK_INT(err->status, ETIMEDOUT);
    CHECK_CONTAINS(err->msg, "Cloud Hypervisor did not answer `GET vmm.ping` within 10 s (");
}
