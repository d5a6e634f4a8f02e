/* /proc figures of a process (see process_stats.h). */
#include "process_stats.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The number after `key` at the start of a line of text (kB or a mode). */
static int field(const char *text, const char *key, const char *path, unsigned long long *out,
                 struct kerr **err)
{
    size_t len = strlen(key);
    for (const char *line = text; line != NULL;) {
        if (strncmp(line, key, len) == 0) {
            *out = strtoull(line + len, NULL, 10);
            return 0;
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return kerr_make(err, ENOENT, "`%s`: no `%s` line", path, key);
}

/* A /proc file (small). */
static int read_proc(const char *path, char **text, struct kerr **err)
{
    return file_read_all(path, 1 << 16, text, NULL, err);
}

int process_memory_read(pid_t pid, struct process_memory *mem, struct kerr **err)
{
    cleanup_free char *status_path = xasprintf("/proc/%d/status", (int)pid);
    cleanup_free char *rollup_path = xasprintf("/proc/%d/smaps_rollup", (int)pid);
    cleanup_free char *status = NULL, *rollup = NULL;
    unsigned long long clean = 0, dirty = 0;
    if (read_proc(status_path, &status, err) < 0 || read_proc(rollup_path, &rollup, err) < 0 ||
        field(status, "VmRSS:", status_path, &mem->rss_kb, err) < 0 ||
        field(rollup, "Pss:", rollup_path, &mem->pss_kb, err) < 0 ||
        field(rollup, "Private_Clean:", rollup_path, &clean, err) < 0 ||
        field(rollup, "Private_Dirty:", rollup_path, &dirty, err) < 0)
        return -1;
    mem->private_kb = clean + dirty;
    return 0;
}

int process_seccomp_threads(pid_t pid, unsigned *threads, unsigned *filtered, struct kerr **err)
{
    cleanup_free char *dir_path = xasprintf("/proc/%d/task", (int)pid);
    DIR *dir = opendir(dir_path);
    if (dir == NULL)
        return kerr_make(err, errno, "open `%s`", dir_path);
    *threads = *filtered = 0;
    int r = 0;
    for (struct dirent *e; r == 0 && (e = readdir(dir)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        cleanup_free char *path = xasprintf("%s/%s/status", dir_path, e->d_name);
        cleanup_free char *status = NULL;
        unsigned long long mode = 0;
        if (read_proc(path, &status, NULL) < 0)
            continue; /* the thread ended meanwhile */
        r = field(status, "Seccomp:", path, &mode, err);
        ++*threads;
        *filtered += mode == SECCOMP_MODE_FILTER;
    }
    closedir(dir);
    return r;
}
