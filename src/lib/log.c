#include "log.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const level_names[] = {"debug", "info", "warning", "error"};

static struct {
    const char *component;
    enum log_level level;
    int fd;
    int extra_fd;
    bool json;
} logger = {"kata", LOG_LEVEL_INFO, 2, -1, false};

void log_init(const char *component, enum log_level level, int fd, bool json)
{
    logger.component = component;
    logger.level = level;
    logger.fd = fd;
    logger.json = json;
}

void log_set_level(enum log_level level)
{
    logger.level = level;
}

void log_set_extra_fd(int fd)
{
    logger.extra_fd = fd;
}

int log_level_parse(const char *name)
{
    if (strcmp(name, "warn") == 0)
        return LOG_LEVEL_WARN;
    for (size_t i = 0; i < ARRAY_SIZE(level_names); i++)
        if (strcmp(name, level_names[i]) == 0)
            return (int)i;
    return -1;
}

/* JSON string body with the escapes JSON requires. */
static void json_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level < logger.level)
        return;
    va_list ap;
    va_start(ap, fmt);
    cleanup_free char *msg = xvasprintf(fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[64];
    snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);

    char *line = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&line, &len);
    if (f == NULL)
        return;
    if (logger.json) {
        fprintf(f, "{\"level\":\"%s\",\"msg\":\"", level_names[level]);
        json_escape(f, msg);
        fprintf(f, "\",\"source\":\"%s\",\"time\":\"%s\"}\n", logger.component, when);
    } else {
        fprintf(f, "%s %s[%d]: %s: %s\n", when, logger.component, (int)getpid(), level_names[level],
                msg);
    }
    fclose(f);
    if (logger.fd >= 0)
        fd_write_full(logger.fd, line, len);
    if (logger.extra_fd >= 0)
        fd_write_full(logger.extra_fd, line, len);
    free(line);
}
