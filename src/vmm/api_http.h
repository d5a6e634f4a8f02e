/* The little HTTP/1.1 the built-in VMM's control socket speaks (as
 * Firecracker's and Cloud Hypervisor's do): one request at a time per
 * connection, a JSON body sized by Content-Length, JSON answers.  Pure
 * functions over buffers, unit-tested without a socket. */
#ifndef KATA_VMM_API_HTTP_H
#define KATA_VMM_API_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

#define HTTP_HEADER_MAX 8192u
#define HTTP_BODY_MAX   65536u

struct http_request {
    char method[8];
    char path[128];
    const char *body; /* points into the parsed buffer; body_len bytes, not terminated */
    size_t body_len;
    bool close; /* "Connection: close" */
};

/* Parse one request at the start of buf[0..len).  Returns the bytes it takes
 * (> 0) when complete, 0 when more bytes are needed, -1 with *status (400,
 * 411, 413, 505) and err when it is malformed. */
ssize_t http_request_parse(const char *buf, size_t len, struct http_request *req, int *status,
                           struct kerr **err);

/* "HTTP/1.1 <code> <reason>" with a JSON body (or none when body is NULL);
 * malloc'd, *len set. */
char *http_response(int code, const char *body, size_t *len);
const char *http_reason(int code);

#endif
