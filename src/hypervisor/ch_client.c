/* Cloud Hypervisor's REST API over a unix socket (see ch_client.h). */
#include "ch_client.h"
#include "util.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define HEADERS_MAX (16u << 10) /* an answer's status line and headers */

/* Cloud Hypervisor's route names ("vm.create") live under /api/v1/; a path
 * ("/machine-config", Firecracker's API) is taken as it is. */
static const char *api_prefix(const char *endpoint)
{
    return endpoint[0] == '/' ? "" : "/api/v1/";
}

void ch_client_init(struct ch_client *c, const char *socket_path, uint64_t timeout_ns)
{
    c->socket_path = socket_path;
    c->timeout_ns = timeout_ns;
    c->answer_max = CH_ANSWER_MAX;
}

void ch_answer_release(struct ch_answer *a)
{
    if (a == NULL)
        return;
    free(a->body);
    a->body = NULL;
    a->len = 0;
}

int ch_status_errno(int status)
{
    switch (status) {
    case 400:
        return EINVAL;
    case 404:
        return ENOENT;
    case 405:
        return EPERM;
    case 409:
        return EEXIST;
    case 429:
        return EBUSY;
    default:
        return EIO;
    }
}

char *ch_error_text(const char *body, size_t len)
{
    while (len && (body[0] == ' ' || body[0] == '\t' || body[0] == '\r' || body[0] == '\n'))
        body++, len--;
    while (len && (body[len - 1] == ' ' || body[len - 1] == '\t' || body[len - 1] == '\r' ||
                   body[len - 1] == '\n'))
        len--;
    if (len == 0)
        return xstrdup("(no message)");
    char *out = NULL;
    if (body[0] == '{' && len <= CH_ANSWER_MAX) {
        cleanup_free char *copy = xstrndup(body, len);
        struct json_object *o = json_tokener_parse(copy), *msg;
        if (o && json_object_is_type(o, json_type_object) &&
            (json_object_object_get_ex(o, "error", &msg) ||
             json_object_object_get_ex(o, "fault_message", &msg)) &&
            json_object_is_type(msg, json_type_string))
            out = text_escape(json_object_get_string(msg), (size_t)json_object_get_string_len(msg),
                              CH_ERROR_BODY_MAX);
        json_object_put(o);
    }
    return out ? out : text_escape(body, len, CH_ERROR_BODY_MAX);
}

/* The answer is in: a 2xx is success, anything else an error naming the
 * request and the VMM's message.  Takes body. */
static int finish(const char *method, const char *endpoint, int status, char *body, size_t len,
                  struct ch_answer *answer, struct kerr **err)
{
    int rc = 0;
    if (status < 200 || status > 299) {
        cleanup_free char *text = ch_error_text(body ? body : "", body ? len : 0);
        /* The errno for callers, not in the text: the VMM's message says it. */
        rc = kerr_make(err, 0, "`%s %s`: HTTP %d: %s", method, endpoint, status, text);
        if (err && *err)
            (*err)->status = ch_status_errno(status);
    }
    if (answer) {
        answer->status = status;
        answer->body = body;
        answer->len = body ? len : 0;
    } else {
        free(body);
    }
    return rc;
}

/* ---- libcurl ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_status;

static void curl_global(void)
{
    curl_init_status = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct sink {
    char *buf;
    size_t len, cap, max;
    bool too_big;
};

static size_t sink_write(char *data, size_t size, size_t n, void *user)
{
    struct sink *s = user;
    size_t k = size * n;
    if (k > s->max - s->len) {
        s->too_big = true;
        return 0; /* libcurl stops: CURLE_WRITE_ERROR */
    }
    if (s->len + k + 1 > s->cap) {
        while (s->len + k + 1 > s->cap)
            s->cap = s->cap ? s->cap * 2 : 1024;
        s->buf = xrealloc(s->buf, s->cap);
    }
    memcpy(s->buf + s->len, data, k);
    s->len += k;
    s->buf[s->len] = '\0';
    return k;
}

static long deadline_ms(uint64_t timeout_ns)
{
    uint64_t ms = (timeout_ns + 999999) / 1000000;
    return ms ? (long)(ms > 0x7fffffff ? 0x7fffffff : ms) : 1;
}

/* A failed transfer (no HTTP answer) as an error. */
static int curl_error(const struct ch_client *c, CURL *h, CURLcode rc, const struct sink *s,
                      const char *method, const char *endpoint, const char *detail,
                      struct kerr **err)
{
    long os_errno = 0;
    curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
    const char *why = *detail ? detail : curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        return kerr_make(err, os_errno ? (int)os_errno : ECONNREFUSED, "`%s %s`: connect to `%s`",
                         method, endpoint, c->socket_path);
    case CURLE_OPERATION_TIMEDOUT:
        return kerr_make(err, ETIMEDOUT, "`%s %s` on `%s`: no answer within %llu ms", method,
                         endpoint, c->socket_path, (unsigned long long)(c->timeout_ns / 1000000));
    case CURLE_FILESIZE_EXCEEDED:
        return kerr_make(err, EFBIG, "`%s %s`: answer larger than %zu bytes", method, endpoint,
                         c->answer_max);
    case CURLE_WRITE_ERROR:
        if (s->too_big)
            return kerr_make(err, EFBIG, "`%s %s`: answer larger than %zu bytes", method, endpoint,
                             c->answer_max);
        break;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_WEIRD_SERVER_REPLY:
        return kerr_make(err, EPROTO, "`%s %s` on `%s`: no complete answer (%s): the VMM is gone?",
                         method, endpoint, c->socket_path, why);
    default:
        break;
    }
    return kerr_make(err, EIO, "`%s %s` on `%s`: %s", method, endpoint, c->socket_path, why);
}

int ch_request(const struct ch_client *c, const char *method, const char *endpoint,
               const char *body, struct ch_answer *answer, struct kerr **err)
{
    if (answer)
        *answer = (struct ch_answer){0};
    pthread_once(&curl_once, curl_global);
    if (curl_init_status != CURLE_OK)
        return kerr_make(err, EIO, "`%s %s`: libcurl: %s", method, endpoint,
                         curl_easy_strerror(curl_init_status));
    CURL *h = curl_easy_init();
    if (h == NULL)
        return kerr_make(err, ENOMEM, "`%s %s`: libcurl handle", method, endpoint);
    cleanup_free char *url = xasprintf("http://localhost%s%s", api_prefix(endpoint), endpoint);
    char detail[CURL_ERROR_SIZE] = "";
    struct sink s = {.max = c->answer_max};
    struct curl_slist *headers = NULL;
    headers = curl_slist_append(headers, "Accept: application/json");
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */
    curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->socket_path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROXY, ""); /* never a proxy from the environment */
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, deadline_ms(c->timeout_ns));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, deadline_ms(c->timeout_ns));
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->answer_max);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, detail);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? strlen(body) : 0));
    }
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    int result;
    if (rc == CURLE_OK && curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
        status >= 100) {
        result = finish(method, endpoint, (int)status, s.buf, s.len, answer, err);
        s.buf = NULL;
    } else {
        result = curl_error(c, h, rc == CURLE_OK ? CURLE_WEIRD_SERVER_REPLY : rc, &s, method,
                            endpoint, detail, err);
    }
    free(s.buf);
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    return result;
}

/* ---- by hand, with SCM_RIGHTS ---- */

static int wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = now_ns();
        if (now >= deadline)
            return -ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, (int)((deadline - now) / 1000000 + 1));
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return -errno;
    }
}

/* A non-blocking connection to path: a VMM whose listen backlog is full
 * (its API thread stuck) makes connect() fail with EAGAIN, retried until the
 * deadline, instead of blocking for good. */
static int connect_by(const char *path, uint64_t deadline, struct kerr **err)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(addr.sun_path))
        return kerr_make(err, ENAMETOOLONG, "connect to `%s`", path);
    memcpy(addr.sun_path, path, strlen(path) + 1);
    cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return kerr_make(err, errno, "socket for `%s`", path);
    while (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        if (errno != EAGAIN && errno != EINTR)
            return kerr_make(err, errno, "connect to `%s`", path);
        if (now_ns() >= deadline)
            return kerr_make(err, ETIMEDOUT, "connect to `%s`", path);
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return steal_fd(&fd);
}

/* The request's bytes, the fds with the first of them. */
static int send_with_fds(int fd, const char *data, size_t len, const int *fds, size_t n_fds,
                         uint64_t deadline)
{
    size_t sent = 0;
    while (sent < len) {
        int w = wait_fd(fd, POLLOUT, deadline);
        if (w < 0)
            return w;
        struct iovec iov = {.iov_base = (char *)data + sent, .iov_len = len - sent};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
        union {
            char buf[CMSG_SPACE(sizeof(int) * CH_FDS_MAX)];
            struct cmsghdr align;
        } control;
        if (sent == 0 && n_fds) {
            memset(&control, 0, sizeof(control));
            msg.msg_control = control.buf;
            msg.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
            struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
            memcpy(CMSG_DATA(cm), fds, sizeof(int) * n_fds);
        }
        ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0)
            return -errno;
        sent += (size_t)n;
    }
    return 0;
}

struct raw_answer {
    char *buf;
    size_t len, cap;
    size_t header_len; /* through the blank line; 0 until seen */
    int status;
    long long content_length; /* -1: none (read to EOF) */
};

/* Status line and the headers we use; 0, or -errno with what filled. */
static int parse_head(struct raw_answer *a, size_t max, const char **what)
{
    if (sscanf(a->buf, "HTTP/1.%*d %3d", &a->status) != 1 || a->status < 100) {
        *what = "not an HTTP answer";
        return -EPROTO;
    }
    a->content_length = -1;
    for (char *line = strstr(a->buf, "\r\n") + 2; line < a->buf + a->header_len - 2;) {
        char *end = strstr(line, "\r\n");
        if (end == NULL)
            break;
        if (strncasecmp(line, "Content-Length:", 15) == 0) {
            char *stop;
            errno = 0;
            long long v = strtoll(line + 15, &stop, 10);
            while (*stop == ' ' || *stop == '\t')
                stop++;
            if (errno || v < 0 || stop != end) {
                *what = "a bad Content-Length";
                return -EPROTO;
            }
            a->content_length = v;
        } else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0) {
            *what = "a Transfer-Encoding (only Content-Length is read)";
            return -EPROTO;
        }
        line = end + 2;
    }
    if (a->status == 204 || a->status == 304 || a->status < 200)
        a->content_length = 0;
    if (a->content_length > (long long)max) {
        *what = "too large";
        return -EFBIG;
    }
    return 0;
}

static bool raw_complete(const struct raw_answer *a)
{
    return a->header_len && a->content_length >= 0 &&
           a->len >= a->header_len + (size_t)a->content_length;
}

/* Read until the answer is complete (or EOF for one without length). */
static int read_answer(int fd, struct raw_answer *a, size_t max, uint64_t deadline,
                       const char **what)
{
    for (;;) {
        if (raw_complete(a))
            return 0;
        if (a->len + 4096 + 1 > a->cap) {
            a->cap = a->cap ? a->cap * 2 : 8192;
            a->buf = xrealloc(a->buf, a->cap);
        }
        int w = wait_fd(fd, POLLIN, deadline);
        if (w < 0) {
            *what = "no answer in time";
            return w;
        }
        ssize_t n = read(fd, a->buf + a->len, a->cap - a->len - 1);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0) {
            *what = "read";
            return -errno;
        }
        if (n == 0) {
            if (a->header_len && a->content_length < 0)
                return 0; /* the body ends at EOF */
            *what = "the connection closed before a complete answer: the VMM is gone?";
            return -EPROTO;
        }
        a->len += (size_t)n;
        a->buf[a->len] = '\0';
        if (a->header_len == 0) {
            char *blank = strstr(a->buf, "\r\n\r\n");
            if (blank == NULL) {
                if (a->len > HEADERS_MAX) {
                    *what = "headers larger than 16 KiB";
                    return -EPROTO;
                }
                continue;
            }
            a->header_len = (size_t)(blank - a->buf) + 4;
            if (a->header_len > HEADERS_MAX) {
                *what = "headers larger than 16 KiB";
                return -EPROTO;
            }
            int r = parse_head(a, max, what);
            if (r < 0)
                return r;
        }
        if (a->len - a->header_len > max) {
            *what = "too large";
            return -EFBIG;
        }
    }
}

int ch_request_fds(const struct ch_client *c, const char *method, const char *endpoint,
                   const char *body, const int *fds, size_t n_fds, struct ch_answer *answer,
                   struct kerr **err)
{
    if (answer)
        *answer = (struct ch_answer){0};
    if (n_fds > CH_FDS_MAX)
        return kerr_make(err, E2BIG, "`%s %s`: %zu descriptors, at most %d", method, endpoint,
                         n_fds, CH_FDS_MAX);
    uint64_t deadline = now_ns() + c->timeout_ns;
    cleanup_close int fd = connect_by(c->socket_path, deadline, err);
    if (fd < 0)
        return kerr_wrap(err, "`%s %s`", method, endpoint);
    size_t body_len = body ? strlen(body) : 0;
    cleanup_free char *request = xasprintf(
        "%s %s%s HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
        "Content-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
        method, api_prefix(endpoint), endpoint, body_len, body ? body : "");
    int r = send_with_fds(fd, request, strlen(request), fds, n_fds, deadline);
    if (r < 0)
        return kerr_make(err, -r, "`%s %s` on `%s`: send", method, endpoint, c->socket_path);
    struct raw_answer a = {0};
    const char *what = "";
    r = read_answer(fd, &a, c->answer_max, deadline, &what);
    if (r < 0) {
        free(a.buf);
        if (r == -EFBIG)
            return kerr_make(err, EFBIG, "`%s %s`: answer larger than %zu bytes", method, endpoint,
                             c->answer_max);
        if (r == -ETIMEDOUT)
            return kerr_make(err, ETIMEDOUT, "`%s %s` on `%s`: no answer within %llu ms", method,
                             endpoint, c->socket_path,
                             (unsigned long long)(c->timeout_ns / 1000000));
        return kerr_make(err, -r, "`%s %s` on `%s`: %s", method, endpoint, c->socket_path, what);
    }
    size_t len = a.len - a.header_len;
    if (a.content_length >= 0)
        len = (size_t)a.content_length;
    char *out = NULL;
    if (len) {
        out = xmalloc(len + 1);
        memcpy(out, a.buf + a.header_len, len);
        out[len] = '\0';
    }
    free(a.buf);
    return finish(method, endpoint, a.status, out, len, answer, err);
}
