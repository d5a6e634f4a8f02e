/* The guest console log (`<run dir>/console.log`, a file the VMM appends to, so
 * it outlives a killed daemon) kept bounded: every CONSOLE_CHECK_NS the
 * daemon rotates it past CONSOLE_LOG_MAX into console.log.1 (copy then
 * truncate), so a long-lived pod keeps at most twice that on disk. */
#include "log.h"
#include "shim.h"
#include "util.h"

#define CONSOLE_LOG_MAX  (1 << 20)
#define CONSOLE_CHECK_NS (10ull * 1000 * 1000 * 1000)

static void console_check(void *data)
{
    struct shim *shim = data;
    struct sandbox *sb = shim->sandbox;
    if (sb == NULL)
        return;
    sb->console_timer = NULL;
    cleanup_kerr struct kerr *err = NULL;
    if (sb->console_path && file_rotate_if_larger(sb->console_path, CONSOLE_LOG_MAX, &err) < 0)
        log_warn("sandbox `%s`: %s", sb->id, err->msg);
    sb->console_timer = loop_timer_add(shim->loop, CONSOLE_CHECK_NS, console_check, shim);
}

void console_log_bound(struct shim *shim)
{
    struct sandbox *sb = shim->sandbox;
    if (sb && sb->console_timer == NULL)
        sb->console_timer = loop_timer_add(shim->loop, CONSOLE_CHECK_NS, console_check, shim);
}

void console_log_unbound(struct sandbox *sb)
{
    if (sb->console_timer)
        loop_timer_cancel(sb->console_timer);
    sb->console_timer = NULL;
}
