/* Logging for every binary: a level, a text or JSON format (runc's
 * --log-format), and up to two destinations (for the agent: the console and
 * an optional virtio-serial log port). */
#ifndef KATA_LOG_H
#define KATA_LOG_H

#include <stdbool.h>

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

void log_init(const char *component, enum log_level level, int fd, bool json);
void log_set_level(enum log_level level);
/* A second destination (-1 to remove it). */
void log_set_extra_fd(int fd);
/* Parse "debug", "info", "warn"/"warning", "error"; returns -1 when unknown. */
int log_level_parse(const char *name);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
