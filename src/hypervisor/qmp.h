/* A QMP (QEMU Machine Protocol) client: one JSON object per line over a unix
 * stream.  The runtime owns the socket: it listens, hands the listening fd to
 * QEMU (`-chardev socket,fd=N,server=on`) and connects at once, so there is no
 * race with QEMU creating a file and no polling for it.
 *
 * Commands are synchronous with a deadline.  QEMU is as untrusted as the guest
 * it runs: every line is bounded (QMP_LINE_MAX) and parsed with json-c;
 * asynchronous events met while waiting for a reply are handed to an optional
 * callback and otherwise ignored. */
#ifndef KATA_QMP_H
#define KATA_QMP_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

struct json_object;

#define QMP_LINE_MAX (256 * 1024)

struct qmp;

/* Called for each event ({"event": NAME, "data": {...}}) seen on the stream. */
typedef void (*qmp_event_cb)(const char *name, struct json_object *data, void *cb_data);

/* Take ownership of a connected stream fd: read the greeting, negotiate
 * capabilities, all within timeout_ns.  On failure fd is closed. */
struct qmp *qmp_open(int fd, uint64_t timeout_ns, struct kerr **err);
/* The kind of command ids the peer takes: QEMU echoes any JSON value;
 * StratoVirt's `id` is a string (a number makes the request unparsable). */
enum qmp_id_kind { QMP_ID_NUMBER, QMP_ID_STRING };
/* qmp_open() for a peer that takes ids of the given kind. */
struct qmp *qmp_open_ids(int fd, enum qmp_id_kind ids, uint64_t timeout_ns, struct kerr **err);
/* Connect to a QMP unix socket path and qmp_open() it. */
struct qmp *qmp_connect(const char *path, uint64_t timeout_ns, struct kerr **err);
void qmp_close(struct qmp *q);

void qmp_set_event_cb(struct qmp *q, qmp_event_cb cb, void *data);
/* The version the greeting reported under "qemu" ("7.2.22"; StratoVirt
 * reports a QEMU-like one there), or "" */
const char *qmp_version(const struct qmp *q);

/* Execute a command with optional arguments (ownership of arguments is taken).
 * On success returns 0 and, if result is not NULL, the "return" value with a
 * reference the caller drops with json_object_put().  A QMP error becomes
 * "qmp `cmd`: <class>: <desc>". */
int qmp_execute(struct qmp *q, const char *command, struct json_object *arguments,
                struct json_object **result, uint64_t timeout_ns, struct kerr **err);

/* Read (and hand events to the callback) until the callback sets *done,
 * at most timeout_ns. */
int qmp_wait_for(struct qmp *q, const bool *done, uint64_t timeout_ns, struct kerr **err);

/* query-status: fills status ("running", "paused", "prelaunch", ...; caller
 * frees) and running. */
int qmp_query_status(struct qmp *q, char **status, bool *running, uint64_t timeout_ns,
                     struct kerr **err);

/* Parse one QMP line (exposed for unit tests and the fuzzer): returns the
 * object (caller puts) or NULL with err set when it is not a JSON object. */
struct json_object *qmp_parse_line(const char *line, size_t len, struct kerr **err);

#endif
