/* A client of Cloud Hypervisor's REST API v1 over its unix socket
 * (`--api-socket`), as Cloud Hypervisor and the built-in VMM (kata-vmm, which
 * speaks the same routes) answer it: one request per call, JSON in and out.
 *
 * Requests go through libcurl.  A request that passes file descriptors
 * (vm.add-net with the taps, SCM_RIGHTS on the socket: libcurl cannot) is
 * written by hand on its own connection; both read the answer under the same
 * bounds.  An answer is bounded (CH_ANSWER_MAX bytes of body), every request
 * has a deadline, and an error names the request, the HTTP status and the
 * VMM's message (its body, escaped and cut: the VMM is not the guest, but its
 * errors echo what the guest influenced). */
#ifndef KATA_CH_CLIENT_H
#define KATA_CH_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* The largest answer body kept (vm.info of a VM with many devices is a few
 * KiB); a larger one is an error (EFBIG). */
#define CH_ANSWER_MAX (1u << 20)
/* How much of an error body reaches an error message. */
#define CH_ERROR_BODY_MAX 400
/* SCM_RIGHTS descriptors one request may carry. */
#define CH_FDS_MAX 16

struct ch_client {
    const char *socket_path; /* the API socket (not copied) */
    uint64_t timeout_ns;     /* each request's deadline, from its start */
    size_t answer_max;       /* CH_ANSWER_MAX unless set lower */
};

struct ch_answer {
    int status; /* the HTTP status */
    char *body; /* NUL-terminated, NULL when the answer had none */
    size_t len; /* bytes of body */
};

/* A client of socket_path with a deadline of timeout_ns per request. */
void ch_client_init(struct ch_client *c, const char *socket_path, uint64_t timeout_ns);

/* METHOD /api/v1/<endpoint> (endpoint as "vm.create"; an endpoint that
 * starts with '/' is the request's path as it is: "/machine-config") with body (JSON, or
 * NULL for none: Content-Length 0, as the document's body-less actions
 * want).  0 on a 2xx answer, with *answer filled when answer is not NULL
 * (ch_answer_release).  -1 with err otherwise:
 *   - the socket could not be reached (errno of connect: ENOENT, ECONNREFUSED);
 *   - ETIMEDOUT: no complete answer within the deadline;
 *   - EFBIG: an answer body larger than answer_max;
 *   - EPROTO: not an HTTP answer (the VMM closed the connection early: gone);
 *   - an HTTP error status: "`PUT vm.create`: HTTP 400: <body>", errno mapped
 *     from the status (ch_status_errno), answer still filled. */
int ch_request(const struct ch_client *c, const char *method, const char *endpoint,
               const char *body, struct ch_answer *answer, struct kerr **err);

/* ch_request with fds (at most CH_FDS_MAX) passed as SCM_RIGHTS with the
 * request's bytes. */
int ch_request_fds(const struct ch_client *c, const char *method, const char *endpoint,
                   const char *body, const int *fds, size_t n_fds, struct ch_answer *answer,
                   struct kerr **err);

void ch_answer_release(struct ch_answer *a);

/* The errno an HTTP error status stands for: 400 EINVAL, 404 ENOENT, 405
 * EPERM (not in that state), 409 EEXIST, 429 EBUSY, others EIO. */
int ch_status_errno(int status);

/* The message of an error body, escaped and cut to CH_ERROR_BODY_MAX:
 * kata-vmm's {"error": "..."} and Firecracker's {"fault_message": "..."}
 * give their message, any other body (Cloud
 * Hypervisor's are plain text) is shown as it is, trimmed.  Caller frees. */
char *ch_error_text(const char *body, size_t len);

#endif
