/* Request parsing and response formatting for the control socket. */
#include "api_http.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *find_crlf2(const char *buf, size_t len)
{
    for (size_t i = 0; i + 3 < len; i++)
        if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n')
            return buf + i;
    return NULL;
}

static ssize_t fail(int *status, int code, struct kerr **err, const char *what)
{
    *status = code;
    return kerr_make(err, EINVAL, "HTTP request: %s", what);
}

/* The value of a header line "Name: value" when name matches, else NULL. */
static const char *header_value(const char *line, size_t len, const char *name, size_t *vlen)
{
    size_t n = strlen(name);
    if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
        return NULL;
    const char *v = line + n + 1;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *vlen = (size_t)(end - v);
    return v;
}

ssize_t http_request_parse(const char *buf, size_t len, struct http_request *req, int *status,
                           struct kerr **err)
{
    memset(req, 0, sizeof(*req));
    const char *head_end = find_crlf2(buf, len < HTTP_HEADER_MAX ? len : HTTP_HEADER_MAX);
    if (head_end == NULL)
        return len >= HTTP_HEADER_MAX ? fail(status, 413, err, "header larger than 8 KiB") : 0;
    size_t head_len = (size_t)(head_end - buf);
    const char *line_end = memchr(buf, '\r', head_len + 1);
    /* Request line: METHOD SP PATH SP HTTP/1.x */
    const char *sp1 = memchr(buf, ' ', (size_t)(line_end - buf));
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(line_end - sp1 - 1)) : NULL;
    if (sp1 == NULL || sp2 == NULL)
        return fail(status, 400, err, "malformed request line");
    size_t mlen = (size_t)(sp1 - buf), plen = (size_t)(sp2 - sp1 - 1);
    if (mlen == 0 || mlen >= sizeof(req->method) || plen == 0 || plen >= sizeof(req->path))
        return fail(status, 400, err, "method or path too long");
    if ((size_t)(line_end - sp2 - 1) != 8 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0)
        return fail(status, 505, err, "not HTTP/1.x");
    memcpy(req->method, buf, mlen);
    memcpy(req->path, sp1 + 1, plen);
    for (size_t i = 0; i < plen; i++)
        if ((unsigned char)req->path[i] <= ' ' || (unsigned char)req->path[i] >= 0x7f)
            return fail(status, 400, err, "control characters in the path");
    /* Headers. */
    size_t content_length = 0;
    bool have_length = false;
    const char *line = line_end + 2;
    while (line < head_end) {
        const char *end = memchr(line, '\r', (size_t)(head_end + 1 - line)); /* at most head_end */
        size_t l = (size_t)(end - line), vlen = 0;
        const char *v;
        if ((v = header_value(line, l, "Content-Length", &vlen)) != NULL) {
            char num[24];
            char *stop = NULL;
            if (vlen == 0 || vlen >= sizeof(num))
                return fail(status, 400, err, "bad Content-Length");
            memcpy(num, v, vlen);
            num[vlen] = '\0';
            errno = 0;
            unsigned long long n = strtoull(num, &stop, 10);
            if (errno || *stop || num[0] == '-' || (have_length && n != content_length))
                return fail(status, 400, err, "bad Content-Length");
            if (n > HTTP_BODY_MAX)
                return fail(status, 413, err, "body larger than 64 KiB");
            content_length = (size_t)n;
            have_length = true;
        } else if ((v = header_value(line, l, "Transfer-Encoding", &vlen)) != NULL) {
            return fail(status, 411, err,
                        "Transfer-Encoding is not supported: send Content-Length");
        } else if ((v = header_value(line, l, "Connection", &vlen)) != NULL) {
            req->close = vlen == 5 && strncasecmp(v, "close", 5) == 0;
        }
        line = end + 2;
    }
    size_t total = head_len + 4 + content_length;
    if (len < total)
        return 0;
    req->body = head_end + 4;
    req->body_len = content_length;
    return (ssize_t)total;
}

const char *http_reason(int code)
{
    switch (code) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Payload Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Internal Server Error";
    }
}

char *http_response(int code, const char *body, size_t *len)
{
    char *r;
    if (body)
        r = xasprintf("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: "
                      "%zu\r\n\r\n%s",
                      code, http_reason(code), strlen(body), body);
    else
        r = xasprintf("HTTP/1.1 %d %s\r\nContent-Length: 0\r\n\r\n", code, http_reason(code));
    *len = strlen(r);
    return r;
}
