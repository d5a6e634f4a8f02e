/* HTTP over the built-in VMM's control socket (see dragonball_api.h). */
#include "dragonball_api.h"
#include "channel.h"
#include "util.h"

#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ANSWER_MAX (1u << 20)

/* Read until EOF or the deadline. */
static int read_answer(int fd, char **out, size_t *len, uint64_t deadline, struct kerr **err)
{
    size_t cap = 4096;
    char *buf = xmalloc(cap);
    *len = 0;
    for (;;) {
        uint64_t now = now_ns();
        if (now >= deadline) {
            free(buf);
            return kerr_make(err, ETIMEDOUT, "no answer");
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, (int)((deadline - now) / 1000000 + 1));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        if (*len + 1 >= cap) {
            if (cap >= ANSWER_MAX) {
                free(buf);
                return kerr_make(err, EFBIG, "answer larger than 1 MiB");
            }
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        ssize_t n = read(fd, buf + *len, cap - *len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int saved = errno;
            free(buf);
            return kerr_make(err, saved, "read the answer");
        }
        if (n == 0)
            break;
        *len += (size_t)n;
    }
    buf[*len] = '\0';
    *out = buf;
    return 0;
}

int dragonball_api_call(const char *socket_path, const char *method, const char *path,
                        const char *body, char **answer, uint64_t timeout_ns, struct kerr **err)
{
    *answer = NULL;
    uint64_t deadline = now_ns() + timeout_ns;
    cleanup_close int fd = unix_connect(socket_path, err);
    if (fd < 0)
        return kerr_wrap(err, "%s %s", method, path);
    cleanup_free char *request =
        xasprintf("%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: "
                  "application/json\r\nContent-Length: %zu\r\n\r\n%s",
                  method, path, body ? strlen(body) : 0, body ? body : "");
    if (fd_write_full(fd, request, strlen(request)) < 0)
        return kerr_make(err, errno, "%s %s: send", method, path);
    cleanup_free char *raw = NULL;
    size_t len = 0;
    if (read_answer(fd, &raw, &len, deadline, err) < 0)
        return kerr_wrap(err, "%s %s", method, path);
    int status = 0;
    const char *body_start = strstr(raw, "\r\n\r\n");
    if (sscanf(raw, "HTTP/1.%*d %d", &status) != 1 || status < 100 || body_start == NULL)
        return kerr_make(err, EPROTO, "%s %s: not an HTTP answer: `%.80s`", method, path, raw);
    body_start += 4;
    if (*body_start)
        *answer = xstrdup(body_start);
    if (status >= 400) {
        struct json_object *obj = *answer ? json_tokener_parse(*answer) : NULL, *msg = NULL;
        kerr_make(err, 0, "%s %s: %d: %s", method, path, status,
                  obj && json_object_object_get_ex(obj, "error", &msg)
                      ? json_object_get_string(msg)
                      : (*answer ? *answer : "(no message)"));
        json_object_put(obj);
    }
    return status;
}
