/* One error convention for the whole project.
 *
 * A fallible function takes `struct kerr **err` as its last argument, returns a
 * negative int (or NULL) on failure and fills *err only then.  Callers add
 * context with kerr_wrap() as the error travels up; main() prints it once.
 *
 *     if (fd < 0)
 *         return kerr_make(err, errno, "open `%s`", path);
 */
#ifndef KATA_ERROR_H
#define KATA_ERROR_H

#include <stdio.h>

struct kerr {
    int status; /* errno value, or 0 when the error is not a system error */
    char *msg;  /* "operation `subject`: cause" */
};

/* Fill *err (if err is not NULL) and return -1.  status is an errno value or 0;
 * when non-zero, ": strerror(status)" is appended to the message. */
int kerr_make(struct kerr **err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix the message of an existing error with context ("create container `x`: ").
 * Returns -1 so that `return kerr_wrap(err, "...")` reads naturally. */
int kerr_wrap(struct kerr **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void kerr_free(struct kerr *e);
void kerr_clear(struct kerr **err);

/* Print "prog: message" to stream and free the error. */
void kerr_report(struct kerr **err, const char *prog, FILE *stream);

static inline void cleanup_kerr_fn(struct kerr **e)
{
    kerr_clear(e);
}
#define cleanup_kerr __attribute__((cleanup(cleanup_kerr_fn)))

#endif
