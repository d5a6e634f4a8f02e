/* QMP client: greeting, capabilities, synchronous commands with a deadline. */
#include "qmp.h"
#include "channel.h"
#include "util.h"

#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct qmp {
    int fd;
    enum qmp_id_kind ids;
    char *buf; /* bytes read but not yet consumed as lines */
    size_t len;
    uint64_t next_id;
    char version[64];
    qmp_event_cb event_cb;
    void *event_data;
};

struct json_object *qmp_parse_line(const char *line, size_t len, struct kerr **err)
{
    if (len > QMP_LINE_MAX) {
        kerr_make(err, EMSGSIZE, "QMP message of %zu bytes", len);
        return NULL;
    }
    struct json_tokener *tok = json_tokener_new_ex(32);
    if (tok == NULL) {
        kerr_make(err, ENOMEM, "QMP parser");
        return NULL;
    }
    struct json_object *obj = json_tokener_parse_ex(tok, line, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t used = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (obj == NULL || jerr != json_tokener_success) {
        json_object_put(obj);
        kerr_make(err, EPROTO, "QMP message is not JSON: %s",
                  jerr == json_tokener_continue ? "truncated" : json_tokener_error_desc(jerr));
        return NULL;
    }
    for (size_t i = used; i < len; i++) {
        if (line[i] != ' ' && line[i] != '\r' && line[i] != '\n' && line[i] != '\t') {
            json_object_put(obj);
            kerr_make(err, EPROTO, "QMP message has trailing bytes");
            return NULL;
        }
    }
    if (!json_object_is_type(obj, json_type_object)) {
        json_object_put(obj);
        kerr_make(err, EPROTO, "QMP message is not a JSON object");
        return NULL;
    }
    return obj;
}

/* Read one line (without its terminator) before the deadline. */
static struct json_object *qmp_read_message(struct qmp *q, uint64_t deadline, struct kerr **err)
{
    for (;;) {
        char *nl = q->len ? memchr(q->buf, '\n', q->len) : NULL;
        if (nl) {
            size_t line_len = (size_t)(nl - q->buf);
            struct json_object *obj = qmp_parse_line(q->buf, line_len, err);
            memmove(q->buf, nl + 1, q->len - line_len - 1);
            q->len -= line_len + 1;
            return obj;
        }
        if (q->len >= QMP_LINE_MAX) {
            kerr_make(err, EMSGSIZE, "QMP message longer than %d bytes", QMP_LINE_MAX);
            return NULL;
        }
        uint64_t now = now_ns();
        if (now >= deadline) {
            kerr_make(err, ETIMEDOUT, "wait for QMP reply");
            return NULL;
        }
        struct pollfd p = {.fd = q->fd, .events = POLLIN};
        int wait_ms = (int)((deadline - now) / 1000000) + 1;
        int r = poll(&p, 1, wait_ms);
        if (r < 0 && errno != EINTR) {
            kerr_make(err, errno, "poll QMP socket");
            return NULL;
        }
        if (r <= 0)
            continue;
        char chunk[8192];
        ssize_t n = read(q->fd, chunk, sizeof(chunk));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0) {
            kerr_make(err, errno, "read QMP socket");
            return NULL;
        }
        if (n == 0) {
            kerr_make(err, ECONNRESET, "QMP connection closed by the VMM");
            return NULL;
        }
        q->buf = xrealloc(q->buf, q->len + (size_t)n + 1);
        memcpy(q->buf + q->len, chunk, (size_t)n);
        q->len += (size_t)n;
    }
}

static void qmp_dispatch_event(struct qmp *q, struct json_object *msg)
{
    struct json_object *name, *data = NULL;
    if (!json_object_object_get_ex(msg, "event", &name) ||
        !json_object_is_type(name, json_type_string))
        return;
    json_object_object_get_ex(msg, "data", &data);
    if (q->event_cb)
        q->event_cb(json_object_get_string(name), data, q->event_data);
}

static int qmp_send(struct qmp *q, struct json_object *request, struct kerr **err)
{
    size_t len;
    const char *text = json_object_to_json_string_length(request, JSON_C_TO_STRING_PLAIN, &len);
    cleanup_free char *line = xasprintf("%s\n", text);
    size_t done = 0;
    while (done < len + 1) {
        /* MSG_NOSIGNAL: a dead QEMU is an error, not a SIGPIPE. */
        ssize_t n = send(q->fd, line + done, len + 1 - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return kerr_make(err, errno, "write QMP socket");
        done += (size_t)n;
    }
    return 0;
}

static int qmp_error_of(struct json_object *error, const char *command, struct kerr **err)
{
    struct json_object *class = NULL, *desc = NULL;
    json_object_object_get_ex(error, "class", &class);
    json_object_object_get_ex(error, "desc", &desc);
    return kerr_make(err, 0, "qmp `%s`: %s: %.512s", command,
                     class ? json_object_get_string(class) : "Error",
                     desc ? json_object_get_string(desc) : "(no description)");
}

/* The reply carries our id in the kind we sent.  An error without an id is
 * ours too: StratoVirt answers a request it cannot parse so, and one command
 * is outstanding at a time. */
static bool qmp_reply_is_ours(const struct qmp *q, struct json_object *msg, uint64_t id)
{
    struct json_object *reply_id, *error;
    if (!json_object_object_get_ex(msg, "id", &reply_id))
        return json_object_object_get_ex(msg, "error", &error);
    if (q->ids == QMP_ID_NUMBER)
        return json_object_is_type(reply_id, json_type_int) &&
               (uint64_t)json_object_get_uint64(reply_id) == id;
    char text[24];
    snprintf(text, sizeof(text), "%llu", (unsigned long long)id);
    return json_object_is_type(reply_id, json_type_string) &&
           strcmp(json_object_get_string(reply_id), text) == 0;
}

int qmp_execute(struct qmp *q, const char *command, struct json_object *arguments,
                struct json_object **result, uint64_t timeout_ns, struct kerr **err)
{
    uint64_t deadline = now_ns() + timeout_ns;
    uint64_t id = ++q->next_id;
    struct json_object *request = json_object_new_object();
    json_object_object_add(request, "execute", json_object_new_string(command));
    if (arguments)
        json_object_object_add(request, "arguments", arguments);
    if (q->ids == QMP_ID_STRING) {
        char text[24];
        snprintf(text, sizeof(text), "%llu", (unsigned long long)id);
        json_object_object_add(request, "id", json_object_new_string(text));
    } else {
        json_object_object_add(request, "id", json_object_new_uint64(id));
    }
    int r = qmp_send(q, request, err);
    json_object_put(request);
    if (r < 0)
        return kerr_wrap(err, "qmp `%s`", command);
    for (;;) {
        struct json_object *msg = qmp_read_message(q, deadline, err);
        if (msg == NULL)
            return kerr_wrap(err, "qmp `%s`", command);
        struct json_object *value;
        if (json_object_object_get_ex(msg, "event", &value)) {
            qmp_dispatch_event(q, msg);
            json_object_put(msg);
            continue;
        }
        if (!qmp_reply_is_ours(q, msg, id)) {
            json_object_put(msg); /* a stale reply of a timed-out command */
            continue;
        }
        int status = 0;
        if (json_object_object_get_ex(msg, "return", &value)) {
            if (result)
                *result = json_object_get(value);
        } else if (json_object_object_get_ex(msg, "error", &value)) {
            status = qmp_error_of(value, command, err);
        } else {
            status = kerr_make(err, EPROTO, "qmp `%s`: reply without return or error", command);
        }
        json_object_put(msg);
        return status;
    }
}

int qmp_wait_for(struct qmp *q, const bool *done, uint64_t timeout_ns, struct kerr **err)
{
    uint64_t deadline = now_ns() + timeout_ns;
    while (!*done) {
        struct json_object *msg = qmp_read_message(q, deadline, err);
        if (msg == NULL)
            return kerr_wrap(err, "wait for a QMP event");
        struct json_object *value;
        if (json_object_object_get_ex(msg, "event", &value))
            qmp_dispatch_event(q, msg);
        json_object_put(msg); /* anything else: a stale reply */
    }
    return 0;
}

struct qmp *qmp_open(int fd, uint64_t timeout_ns, struct kerr **err)
{
    return qmp_open_ids(fd, QMP_ID_NUMBER, timeout_ns, err);
}

struct qmp *qmp_open_ids(int fd, enum qmp_id_kind ids, uint64_t timeout_ns, struct kerr **err)
{
    struct qmp *q = xcalloc(1, sizeof(*q));
    q->fd = fd;
    q->ids = ids;
    uint64_t deadline = now_ns() + timeout_ns;
    struct json_object *greeting = qmp_read_message(q, deadline, err);
    struct json_object *qmp = NULL;
    if (greeting == NULL || !json_object_object_get_ex(greeting, "QMP", &qmp)) {
        if (greeting)
            kerr_make(err, EPROTO, "no QMP greeting");
        json_object_put(greeting);
        qmp_close(q);
        kerr_wrap(err, "open QMP");
        return NULL;
    }
    struct json_object *v, *major, *minor, *micro;
    if (json_object_object_get_ex(qmp, "version", &v) && json_object_object_get_ex(v, "qemu", &v) &&
        json_object_object_get_ex(v, "major", &major) &&
        json_object_object_get_ex(v, "minor", &minor) &&
        json_object_object_get_ex(v, "micro", &micro))
        snprintf(q->version, sizeof(q->version), "%d.%d.%d", json_object_get_int(major),
                 json_object_get_int(minor), json_object_get_int(micro));
    json_object_put(greeting);
    uint64_t now = now_ns();
    if (qmp_execute(q, "qmp_capabilities", NULL, NULL, deadline > now ? deadline - now : 1, err) <
        0) {
        qmp_close(q);
        kerr_wrap(err, "open QMP");
        return NULL;
    }
    return q;
}

struct qmp *qmp_connect(const char *path, uint64_t timeout_ns, struct kerr **err)
{
    int fd = unix_connect(path, err);
    if (fd < 0)
        return NULL;
    return qmp_open(fd, timeout_ns, err);
}

void qmp_close(struct qmp *q)
{
    if (q == NULL)
        return;
    if (q->fd >= 0)
        close(q->fd);
    free(q->buf);
    free(q);
}

void qmp_set_event_cb(struct qmp *q, qmp_event_cb cb, void *data)
{
    q->event_cb = cb;
    q->event_data = data;
}

const char *qmp_version(const struct qmp *q)
{
    return q->version;
}

int qmp_query_status(struct qmp *q, char **status, bool *running, uint64_t timeout_ns,
                     struct kerr **err)
{
    struct json_object *result = NULL;
    if (qmp_execute(q, "query-status", NULL, &result, timeout_ns, err) < 0)
        return -1;
    struct json_object *s = NULL, *r = NULL;
    json_object_object_get_ex(result, "status", &s);
    json_object_object_get_ex(result, "running", &r);
    if (s == NULL || !json_object_is_type(s, json_type_string)) {
        json_object_put(result);
        return kerr_make(err, EPROTO, "qmp `query-status`: no status in reply");
    }
    if (status)
        *status = xstrndup(json_object_get_string(s), 64);
    if (running)
        *running = r && json_object_get_boolean(r);
    json_object_put(result);
    return 0;
}
