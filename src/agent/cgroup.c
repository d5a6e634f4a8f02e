/* Guest cgroup v2: where a container's cgroup lives, creating it with its
 * parents' controllers enabled, moving, freezing, listing and killing its
 * processes, and removing it.  Limits are in cgroup_limits.c, statistics in
 * cgroup_stats.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "cgroup_internal.h"
#include "log.h"
#include "util.h"

/* Freezing waits this long for cgroup.events to say "frozen 1": a task in
 * an uninterruptible sleep (D state) can hold it back. */
#define CGROUP_FREEZE_TIMEOUT_MS 5000
/* rmdir retries while the kernel finishes releasing exited tasks. */
#define CGROUP_REMOVE_TRIES    100
#define CGROUP_REMOVE_DELAY_US 10000
#define CGROUP_FILE_MAX        (1 << 20)

int cgroup_write(const char *abs, const char *file, const char *value, struct kerr **err)
{
    cleanup_free char *path = xasprintf("%s/%s", abs, file);
    cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return kerr_make(err, errno, "open `%s`", path);
    size_t len = strlen(value);
    ssize_t n;
    do {
        n = write(fd, value, len);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return kerr_make(err, errno, "write `%s` to `%s`", value, path);
    if ((size_t)n != len)
        return kerr_make(err, EIO, "write `%s` to `%s`: short write", value, path);
    return 0;
}

char *cgroup_read(const char *abs, const char *file, struct kerr **err)
{
    cleanup_free char *path = xasprintf("%s/%s", abs, file);
    char *text = NULL;
    size_t len;
    if (file_read_all(path, CGROUP_FILE_MAX, &text, &len, err) < 0)
        return NULL;
    return text;
}

bool cgroup_file_exists(const char *abs, const char *file)
{
    cleanup_free char *path = xasprintf("%s/%s", abs, file);
    return access(path, F_OK) == 0;
}

int cgroup_read_u64(const char *abs, const char *file, uint64_t *value)
{
    cleanup_kerr struct kerr *err = NULL;
    cleanup_free char *text = cgroup_read(abs, file, &err);
    if (text == NULL)
        return -1;
    if (strncmp(text, "max", 3) == 0) {
        *value = UINT64_MAX;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || end == text)
        return -1;
    *value = v;
    return 0;
}

int cgroup_keyed_u64(const char *text, const char *key, uint64_t *value)
{
    size_t klen = strlen(key);
    for (const char *line = text; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
            *value = strtoull(line + klen + 1, NULL, 10);
            return 0;
        }
    }
    return -1;
}

/* ---- paths ---- */

/* Append the components of `path` to `out`, refusing "..", dropping "."
 * and empty ones. */
static int path_append_clean(char **out, const char *path, const char *what, struct kerr **err)
{
    cleanup_free char *copy = xstrdup(path);
    char *save = NULL;
    for (char *part = strtok_r(copy, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
        if (strcmp(part, ".") == 0)
            continue;
        if (strcmp(part, "..") == 0)
            return kerr_make(err, EINVAL, "cgroup path `%s`: `..` escapes the cgroup root", what);
        char *joined = **out ? xasprintf("%s/%s", *out, part) : xstrdup(part);
        free(*out);
        *out = joined;
    }
    return 0;
}

/* systemd's slice expansion (runc's ExpandSlice): "a-b-c.slice" ->
 * "a.slice/a-b.slice/a-b-c.slice"; "-.slice" is the root. */
static int systemd_expand_slice(char **out, const char *slice, const char *spec, struct kerr **err)
{
    size_t len = strlen(slice);
    if (len <= 6 || strcmp(slice + len - 6, ".slice") != 0 || strchr(slice, '/') != NULL)
        return kerr_make(err, EINVAL, "cgroup path `%s`: invalid slice `%s`", spec, slice);
    if (strcmp(slice, "-.slice") == 0)
        return 0;
    cleanup_free char *name = xstrndup(slice, len - 6);
    if (name[0] == '-' || name[strlen(name) - 1] == '-' || strstr(name, "--") != NULL)
        return kerr_make(err, EINVAL, "cgroup path `%s`: invalid slice `%s`", spec, slice);
    for (char *dash = name;; dash++) {
        dash = strchr(dash, '-');
        size_t prefix = dash ? (size_t)(dash - name) : strlen(name);
        char *component = xasprintf("%.*s.slice", (int)prefix, name);
        char *joined = **out ? xasprintf("%s/%s", *out, component) : xstrdup(component);
        free(component);
        free(*out);
        *out = joined;
        if (dash == NULL)
            break;
    }
    return 0;
}

/* "slice:prefix:name" as runc's systemd driver places it:
 * <expanded slice>/<prefix>-<name>.scope (a name that is itself a slice is
 * placed as that slice). */
static char *systemd_path(const char *spec, struct kerr **err)
{
    cleanup_free char *copy = xstrdup(spec);
    char *slice = copy;
    char *prefix = strchr(slice, ':');
    *prefix++ = '\0';
    char *name = strchr(prefix, ':');
    *name++ = '\0';
    if (*name == '\0' || strchr(name, '/') || strchr(prefix, '/') || strcmp(name, "..") == 0 ||
        strcmp(prefix, "..") == 0) {
        kerr_make(err, EINVAL, "cgroup path `%s`: invalid systemd unit", spec);
        return NULL;
    }
    cleanup_free char *out = xstrdup("");
    if (systemd_expand_slice(&out, *slice ? slice : "system.slice", spec, err) < 0)
        return NULL;
    /* runc's getUnitName: a name that is a slice is the unit itself. */
    size_t nlen = strlen(name);
    cleanup_free char *unit = NULL;
    if (nlen > 6 && strcmp(name + nlen - 6, ".slice") == 0)
        unit = xstrdup(name);
    else
        unit = *prefix ? xasprintf("%s-%s.scope", prefix, name) : xasprintf("%s.scope", name);
    return *out ? xasprintf("%s/%s", out, unit) : xstrdup(unit);
}

static bool is_systemd_path(const char *spec)
{
    const char *first = strchr(spec, ':');
    return spec[0] != '/' && first && strchr(first + 1, ':') &&
           strchr(strchr(first + 1, ':') + 1, ':') == NULL;
}

char *cgroup_path_from_spec(const char *cgroups_path, const char *container_id, struct kerr **err)
{
    if (cgroups_path && is_systemd_path(cgroups_path))
        return systemd_path(cgroups_path, err);
    cleanup_free char *out = xstrdup("");
    if (cgroups_path && *cgroups_path &&
        path_append_clean(&out, cgroups_path, cgroups_path, err) < 0)
        return NULL;
    if (*out)
        return steal_pointer(&out);
    /* Empty (or only "/"): the agent's default place. */
    if (container_id == NULL || *container_id == '\0' || strchr(container_id, '/') ||
        strcmp(container_id, ".") == 0 || strcmp(container_id, "..") == 0) {
        kerr_make(err, EINVAL, "cgroup path for container `%s`: invalid container id",
                  container_id ? container_id : "");
        return NULL;
    }
    return xasprintf("kata/%s", container_id);
}

/* ---- creation ---- */

/* Enable in dir/cgroup.subtree_control every controller dir offers that is
 * not enabled yet, so the child gets its interface files. */
static int enable_subtree_controllers(const char *dir, struct kerr **err)
{
    cleanup_free char *available = cgroup_read(dir, "cgroup.controllers", err);
    if (available == NULL)
        return -1;
    cleanup_free char *enabled = cgroup_read(dir, "cgroup.subtree_control", err);
    if (enabled == NULL)
        return -1;
    char *save = NULL;
    for (char *name = strtok_r(available, " \n", &save); name;
         name = strtok_r(NULL, " \n", &save)) {
        bool on = false;
        size_t len = strlen(name);
        for (const char *p = strstr(enabled, name); p; p = strstr(p + 1, name))
            if ((p == enabled || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\n' || !p[len]))
                on = true;
        if (on)
            continue;
        cleanup_free char *value = xasprintf("+%s", name);
        if (cgroup_write(dir, "cgroup.subtree_control", value, err) < 0)
            return kerr_wrap(err, "enable controller `%s`", name);
    }
    return 0;
}

int cgroup_create(const char *root, const char *rel, char **abs_out, struct kerr **err)
{
    cleanup_free char *clean = xstrdup("");
    if (path_append_clean(&clean, rel, rel, err) < 0)
        return -1;
    if (*clean == '\0')
        return kerr_make(err, EINVAL, "create cgroup `%s`: empty path", rel);
    cleanup_free char *dir = xstrdup(root);
    cleanup_free char *copy = xstrdup(clean);
    char *save = NULL;
    for (char *part = strtok_r(copy, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
        if (enable_subtree_controllers(dir, err) < 0)
            return kerr_wrap(err, "create cgroup `%s`", rel);
        char *next = xasprintf("%s/%s", dir, part);
        free(dir);
        dir = next;
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
            return kerr_make(err, errno, "create cgroup `%s`: mkdir `%s`", rel, dir);
    }
    if (abs_out)
        *abs_out = steal_pointer(&dir);
    return 0;
}

/* ---- processes ---- */

int cgroup_add_pid(const char *abs, pid_t pid, struct kerr **err)
{
    char value[24];
    snprintf(value, sizeof(value), "%d", (int)pid);
    if (cgroup_write(abs, "cgroup.procs", value, err) < 0)
        return kerr_wrap(err, "move pid %d to cgroup", (int)pid);
    return 0;
}

/* Wait until cgroup.events says "frozen <want>".  The file raises POLLPRI
 * when it changes; the poll timeout is only a fallback. */
static int freeze_wait(const char *abs, bool frozen, struct kerr **err)
{
    cleanup_free char *path = xasprintf("%s/cgroup.events", abs);
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kerr_make(err, errno, "open `%s`", path);
    uint64_t deadline = now_ns() + (uint64_t)CGROUP_FREEZE_TIMEOUT_MS * 1000000;
    for (;;) {
        char buf[256];
        ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
        if (n < 0)
            return kerr_make(err, errno, "read `%s`", path);
        buf[n] = '\0';
        uint64_t state;
        if (cgroup_keyed_u64(buf, "frozen", &state) < 0)
            return kerr_make(err, EINVAL, "`%s` has no `frozen` key", path);
        if ((state != 0) == frozen)
            return 0;
        uint64_t now = now_ns();
        if (now >= deadline)
            return kerr_make(err, ETIMEDOUT, "cgroup `%s` not %s after %d ms", abs,
                             frozen ? "frozen" : "thawed", CGROUP_FREEZE_TIMEOUT_MS);
        struct pollfd pfd = {.fd = fd, .events = POLLPRI};
        int wait_ms = (int)((deadline - now) / 1000000);
        poll(&pfd, 1, wait_ms < 10 ? wait_ms + 1 : 10);
    }
}

int cgroup_freeze(const char *abs, bool frozen, struct kerr **err)
{
    if (cgroup_write(abs, "cgroup.freeze", frozen ? "1" : "0", err) < 0 ||
        freeze_wait(abs, frozen, err) < 0)
        return kerr_wrap(err, "%s cgroup", frozen ? "freeze" : "thaw");
    return 0;
}

static int pids_collect(const char *dir, pid_t **pids, size_t *n, size_t *cap, struct kerr **err)
{
    cleanup_free char *text = cgroup_read(dir, "cgroup.procs", err);
    if (text == NULL)
        return -1;
    char *save = NULL;
    for (char *tok = strtok_r(text, "\n", &save); tok; tok = strtok_r(NULL, "\n", &save)) {
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 16;
            *pids = xrealloc(*pids, *cap * sizeof(**pids));
        }
        (*pids)[(*n)++] = (pid_t)atoi(tok);
    }
    DIR *d = opendir(dir);
    if (d == NULL)
        return kerr_make(err, errno, "open cgroup directory `%s`", dir);
    struct dirent *entry;
    int rc = 0;
    while (rc == 0 && (entry = readdir(d)) != NULL) {
        if (entry->d_type != DT_DIR || entry->d_name[0] == '.')
            continue;
        cleanup_free char *child = xasprintf("%s/%s", dir, entry->d_name);
        rc = pids_collect(child, pids, n, cap, err);
    }
    closedir(d);
    return rc;
}

int cgroup_pids(const char *abs, pid_t **pids, size_t *n, struct kerr **err)
{
    size_t cap = 0;
    *pids = NULL;
    *n = 0;
    if (pids_collect(abs, pids, n, &cap, err) < 0) {
        free(*pids);
        *pids = NULL;
        *n = 0;
        return kerr_wrap(err, "list processes of cgroup `%s`", abs);
    }
    return 0;
}

/* Before Linux 5.14: freeze so nothing forks between listing and killing,
 * signal every pid, thaw so the signals are delivered. */
int cgroup_kill_each(const char *abs, struct kerr **err)
{
    if (cgroup_freeze(abs, true, err) < 0)
        return -1;
    cleanup_free pid_t *pids = NULL;
    size_t n = 0;
    if (cgroup_pids(abs, &pids, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (kill(pids[i], SIGKILL) < 0 && errno != ESRCH)
            return kerr_make(err, errno, "kill pid %d of cgroup `%s`", (int)pids[i], abs);
    return cgroup_freeze(abs, false, err);
}

int cgroup_kill_all(const char *abs, struct kerr **err)
{
    int rc = cgroup_file_exists(abs, "cgroup.kill") ? cgroup_write(abs, "cgroup.kill", "1", err)
                                                    : cgroup_kill_each(abs, err);
    if (rc < 0)
        return kerr_wrap(err, "kill cgroup");
    return 0;
}

uint64_t cgroup_oom_kill_count(const char *abs)
{
    cleanup_kerr struct kerr *err = NULL;
    cleanup_free char *text = cgroup_read(abs, "memory.events", &err);
    uint64_t count = 0;
    if (text)
        cgroup_keyed_u64(text, "oom_kill", &count);
    return count;
}

int cgroup_oom_watch_open(const char *abs, struct kerr **err)
{
    cleanup_free char *path = xasprintf("%s/memory.events", abs);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kerr_make(err, errno, "watch OOM events: open `%s`", path);
    return fd;
}

/* ---- removal ---- */

static int remove_tree(const char *dir, struct kerr **err)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        if (errno == ENOENT)
            return 0;
        return kerr_make(err, errno, "open cgroup directory `%s`", dir);
    }
    struct dirent *entry;
    int rc = 0;
    while (rc == 0 && (entry = readdir(d)) != NULL) {
        if (entry->d_type != DT_DIR || entry->d_name[0] == '.')
            continue;
        cleanup_free char *child = xasprintf("%s/%s", dir, entry->d_name);
        rc = remove_tree(child, err);
    }
    closedir(d);
    if (rc < 0)
        return -1;
    for (int attempt = 0;; attempt++) {
        if (rmdir(dir) == 0 || errno == ENOENT)
            return 0;
        if (errno != EBUSY || attempt + 1 >= CGROUP_REMOVE_TRIES)
            return kerr_make(err, errno, "rmdir `%s` (%d attempts)", dir, attempt + 1);
        usleep(CGROUP_REMOVE_DELAY_US);
    }
}

int cgroup_remove(const char *abs, struct kerr **err)
{
    if (remove_tree(abs, err) < 0)
        return kerr_wrap(err, "remove cgroup");
    return 0;
}
