/* ttrpc frame header codec and the incremental frame parser. */
#include "ttrpc.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static const char *const code_names[] = {
    [TTRPC_OK] = "OK",
    [TTRPC_CANCELLED] = "Canceled",
    [TTRPC_UNKNOWN] = "Unknown",
    [TTRPC_INVALID_ARGUMENT] = "InvalidArgument",
    [TTRPC_DEADLINE_EXCEEDED] = "DeadlineExceeded",
    [TTRPC_NOT_FOUND] = "NotFound",
    [TTRPC_ALREADY_EXISTS] = "AlreadyExists",
    [TTRPC_PERMISSION_DENIED] = "PermissionDenied",
    [TTRPC_RESOURCE_EXHAUSTED] = "ResourceExhausted",
    [TTRPC_FAILED_PRECONDITION] = "FailedPrecondition",
    [TTRPC_ABORTED] = "Aborted",
    [TTRPC_OUT_OF_RANGE] = "OutOfRange",
    [TTRPC_UNIMPLEMENTED] = "Unimplemented",
    [TTRPC_INTERNAL] = "Internal",
    [TTRPC_UNAVAILABLE] = "Unavailable",
    [TTRPC_DATA_LOSS] = "DataLoss",
    [TTRPC_UNAUTHENTICATED] = "Unauthenticated",
};

const char *ttrpc_code_name(int code)
{
    if (code < 0 || (size_t)code >= ARRAY_SIZE(code_names))
        return "Unknown";
    return code_names[code];
}

void ttrpc_header_encode(const struct ttrpc_header *h, uint8_t out[TTRPC_HEADER_SIZE])
{
    out[0] = (uint8_t)(h->length >> 24);
    out[1] = (uint8_t)(h->length >> 16);
    out[2] = (uint8_t)(h->length >> 8);
    out[3] = (uint8_t)h->length;
    out[4] = (uint8_t)(h->stream_id >> 24);
    out[5] = (uint8_t)(h->stream_id >> 16);
    out[6] = (uint8_t)(h->stream_id >> 8);
    out[7] = (uint8_t)h->stream_id;
    out[8] = h->type;
    out[9] = h->flags;
}

void ttrpc_header_decode(const uint8_t in[TTRPC_HEADER_SIZE], struct ttrpc_header *h)
{
    h->length = (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 | (uint32_t)in[2] << 8 | in[3];
    h->stream_id = (uint32_t)in[4] << 24 | (uint32_t)in[5] << 16 | (uint32_t)in[6] << 8 | in[7];
    h->type = in[8];
    h->flags = in[9];
}

void ttrpc_parser_init(struct ttrpc_parser *p, uint32_t limit)
{
    memset(p, 0, sizeof(*p));
    p->limit = limit;
}

void ttrpc_parser_reset(struct ttrpc_parser *p)
{
    p->len = 0;
    p->skip = 0;
    p->handed_out = 0;
}

void ttrpc_parser_release(struct ttrpc_parser *p)
{
    free(p->buf);
    p->buf = NULL;
    p->len = p->cap = p->skip = p->handed_out = 0;
}

void ttrpc_parser_append(struct ttrpc_parser *p, const uint8_t *data, size_t len)
{
    /* Drop what belongs to an oversized frame, never buffering it. */
    if (p->skip > 0) {
        size_t n = len < p->skip ? len : p->skip;
        p->skip -= n;
        data += n;
        len -= n;
    }
    if (len == 0)
        return;
    if (p->len + len > p->cap) {
        size_t cap = p->cap ? p->cap : 4096;
        while (cap < p->len + len)
            cap *= 2;
        p->buf = xrealloc(p->buf, cap);
        p->cap = cap;
    }
    memcpy(p->buf + p->len, data, len);
    p->len += len;
}

static void parser_drop(struct ttrpc_parser *p, size_t n)
{
    memmove(p->buf, p->buf + n, p->len - n);
    p->len -= n;
    /* Give back memory after a large frame, but keep up to 2 MiB: a stream
     * of 1 MiB frames (ReadStdout) must not regrow the buffer each time. */
    if (p->cap > (2u << 20) && p->len < p->cap / 4) {
        p->cap = p->len > 4096 ? p->len : 4096;
        p->buf = xrealloc(p->buf, p->cap);
    }
}

enum ttrpc_parse_result ttrpc_parser_next(struct ttrpc_parser *p, struct ttrpc_header *h,
                                          const uint8_t **payload)
{
    /* The frame handed out by the previous call is dropped now. */
    if (p->handed_out > 0) {
        parser_drop(p, p->handed_out);
        p->handed_out = 0;
    }
    if (p->skip > 0 || p->len < TTRPC_HEADER_SIZE)
        return TTRPC_PARSE_NEED_MORE;
    ttrpc_header_decode(p->buf, h);
    *payload = NULL;
    if (h->length > p->limit) {
        size_t have = p->len - TTRPC_HEADER_SIZE;
        size_t drop = have < h->length ? have : h->length;
        parser_drop(p, TTRPC_HEADER_SIZE + drop);
        p->skip = h->length - drop;
        return TTRPC_PARSE_OVERSIZED;
    }
    if (p->len < TTRPC_HEADER_SIZE + (size_t)h->length)
        return TTRPC_PARSE_NEED_MORE;
    *payload = p->buf + TTRPC_HEADER_SIZE;
    p->handed_out = TTRPC_HEADER_SIZE + (size_t)h->length;
    return TTRPC_PARSE_FRAME;
}
