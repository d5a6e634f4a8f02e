#include "error.h"
#include "util.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int kerr_make(struct kerr **err, int status, const char *fmt, ...)
{
    if (err == NULL)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    char *base = xvasprintf(fmt, ap);
    va_end(ap);

    struct kerr *e = xmalloc(sizeof(*e));
    e->status = status;
    if (status != 0) {
        e->msg = xasprintf("%s: %s", base, strerror(status));
        free(base);
    } else {
        e->msg = base;
    }
    kerr_free(*err);
    *err = e;
    return -1;
}

int kerr_wrap(struct kerr **err, const char *fmt, ...)
{
    if (err == NULL || *err == NULL)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    char *prefix = xvasprintf(fmt, ap);
    va_end(ap);
    char *msg = xasprintf("%s: %s", prefix, (*err)->msg);
    free(prefix);
    free((*err)->msg);
    (*err)->msg = msg;
    return -1;
}

void kerr_free(struct kerr *e)
{
    if (e == NULL)
        return;
    free(e->msg);
    free(e);
}

void kerr_clear(struct kerr **err)
{
    if (err == NULL)
        return;
    kerr_free(*err);
    *err = NULL;
}

void kerr_report(struct kerr **err, const char *prog, FILE *stream)
{
    if (err == NULL || *err == NULL)
        return;
    fprintf(stream, "%s: %s\n", prog, (*err)->msg);
    kerr_clear(err);
}
