/* Confined paths and mount(2) option handling for the agent's storages. */
#include "mount_util.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

int path_under_root(const char *root, const char *path, const char *what, const char **rel,
                    struct kerr **err)
{
    if (path == NULL || path[0] != '/')
        return kerr_make(err, 0, "%s `%s`: not an absolute path", what, path ? path : "");
    for (const char *p = path; *p;) {
        while (*p == '/')
            p++;
        size_t n = strcspn(p, "/");
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return kerr_make(err, 0, "%s `%s`: `.` and `..` components are not allowed", what,
                             path);
        p += n;
    }
    size_t rlen = strlen(root);
    while (rlen > 1 && root[rlen - 1] == '/')
        rlen--;
    if (strncmp(path, root, rlen) != 0 || (path[rlen] != '/' && path[rlen] != '\0'))
        return kerr_make(err, 0, "%s `%s`: not under `%.*s`", what, path, (int)rlen, root);
    const char *r = path + rlen;
    while (*r == '/')
        r++;
    *rel = r;
    return 0;
}

int open_beneath(int rootfd, const char *rel, int flags, mode_t mode)
{
    if (*rel == '\0')
        rel = ".";
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .mode = (flags & O_CREAT) ? mode : 0,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    int fd;
    do
        fd = (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
    while (fd < 0 && errno == EAGAIN);
    return fd;
}

int mkdir_beneath(int rootfd, const char *rel, mode_t mode, struct kerr **err)
{
    cleanup_free char *path = xstrdup(rel);
    /* Walk prefixes: open each, create it when missing. */
    for (char *p = path;;) {
        while (*p == '/')
            p++;
        char *end = p + strcspn(p, "/");
        char saved = *end;
        *end = '\0';
        if (*p != '\0') {
            int fd = open_beneath(rootfd, path, O_PATH | O_DIRECTORY, 0);
            if (fd < 0 && errno == ENOENT) {
                /* The parent was checked by the previous step. */
                cleanup_close int parent = -1;
                const char *name = p;
                if (p == path) {
                    parent = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
                } else {
                    p[-1] = '\0';
                    parent = open_beneath(rootfd, path, O_PATH | O_DIRECTORY, 0);
                    p[-1] = '/';
                }
                if (parent < 0)
                    return kerr_make(err, errno, "open parent of `%s`", path);
                if (mkdirat(parent, name, mode) < 0 && errno != EEXIST)
                    return kerr_make(err, errno, "mkdir `%s`", path);
                fd = open_beneath(rootfd, path, O_PATH | O_DIRECTORY, 0);
            }
            if (fd < 0)
                return kerr_make(err, errno, "open directory `%s`", path);
            close(fd);
        }
        if (saved == '\0')
            break;
        *end = saved;
        p = end;
    }
    int fd = open_beneath(rootfd, rel, O_PATH | O_DIRECTORY, 0);
    if (fd < 0)
        return kerr_make(err, errno, "open directory `%s`", rel);
    return fd;
}

struct flag_word {
    const char *word;
    bool clear;
    unsigned long flag;
};

/* runc's table (libcontainer/specconv): flags set or cleared by a word. */
static const struct flag_word flag_words[] = {
    {"async", true, MS_SYNCHRONOUS},
    {"atime", true, MS_NOATIME},
    {"bind", false, MS_BIND},
    {"defaults", false, 0},
    {"dev", true, MS_NODEV},
    {"diratime", true, MS_NODIRATIME},
    {"dirsync", false, MS_DIRSYNC},
    {"exec", true, MS_NOEXEC},
    {"iversion", false, MS_I_VERSION},
    {"lazytime", false, MS_LAZYTIME},
    {"loud", true, MS_SILENT},
    {"mand", false, MS_MANDLOCK},
    {"noatime", false, MS_NOATIME},
    {"nodev", false, MS_NODEV},
    {"nodiratime", false, MS_NODIRATIME},
    {"noexec", false, MS_NOEXEC},
    {"noiversion", true, MS_I_VERSION},
    {"nolazytime", true, MS_LAZYTIME},
    {"nomand", true, MS_MANDLOCK},
    {"norelatime", true, MS_RELATIME},
    {"nostrictatime", true, MS_STRICTATIME},
    {"nosuid", false, MS_NOSUID},
    {"rbind", false, MS_BIND | MS_REC},
    {"relatime", false, MS_RELATIME},
    {"remount", false, MS_REMOUNT},
    {"ro", false, MS_RDONLY},
    {"rw", true, MS_RDONLY},
    {"silent", false, MS_SILENT},
    {"strictatime", false, MS_STRICTATIME},
    {"suid", true, MS_NOSUID},
    {"sync", false, MS_SYNCHRONOUS},
};

static const struct flag_word propagation_words[] = {
    {"private", false, MS_PRIVATE},       {"rprivate", false, MS_PRIVATE | MS_REC},
    {"shared", false, MS_SHARED},         {"rshared", false, MS_SHARED | MS_REC},
    {"slave", false, MS_SLAVE},           {"rslave", false, MS_SLAVE | MS_REC},
    {"unbindable", false, MS_UNBINDABLE}, {"runbindable", false, MS_UNBINDABLE | MS_REC},
};

static void data_append(char **data, const char *word)
{
    if (*data == NULL) {
        *data = xstrdup(word);
        return;
    }
    char *joined = xasprintf("%s,%s", *data, word);
    free(*data);
    *data = joined;
}

void mount_opts_parse(char *const *options, size_t n, struct mount_opts *out)
{
    *out = (struct mount_opts){0};
    for (size_t i = 0; i < n; i++) {
        const char *w = options[i];
        bool known = false;
        for (size_t k = 0; k < ARRAY_SIZE(flag_words) && !known; k++)
            if (strcmp(w, flag_words[k].word) == 0) {
                if (flag_words[k].clear)
                    out->flags &= ~flag_words[k].flag;
                else
                    out->flags |= flag_words[k].flag;
                known = true;
            }
        for (size_t k = 0; k < ARRAY_SIZE(propagation_words) && !known; k++)
            if (strcmp(w, propagation_words[k].word) == 0) {
                out->propagation = propagation_words[k].flag;
                known = true;
            }
        if (!known && *w)
            data_append(&out->data, w);
    }
}

void mount_opts_default(struct mount_opts *o, const char *option)
{
    size_t klen = strcspn(option, "=");
    for (const char *p = o->data; p && *p;) {
        size_t n = strcspn(p, ",");
        size_t k = strcspn(p, "=,");
        if (k == klen && strncmp(p, option, klen) == 0)
            return;
        p += n;
        if (*p == ',')
            p++;
    }
    data_append(&o->data, option);
}

void mount_opts_release(struct mount_opts *o)
{
    free(o->data);
    o->data = NULL;
}

int mount_on_fd(const char *source, int target_fd, const char *target, const char *fstype,
                const struct mount_opts *o, struct kerr **err)
{
    char proc_path[64];
    snprintf(proc_path, sizeof(proc_path), "/proc/self/fd/%d", target_fd);
    unsigned long flags = o->flags;
    if (mount(source, proc_path, fstype, flags & ~MS_REMOUNT, o->data) < 0)
        return kerr_make(err, errno, "mount %s `%s` on `%s`%s%s", fstype ? fstype : "bind", source,
                         target, o->data ? " with " : "", o->data ? o->data : "");
    /* A bind mount ignores most flags until it is remounted with them. */
    if ((flags & MS_BIND) && (flags & ~(MS_BIND | MS_REC)) != 0 &&
        mount(NULL, target, NULL, flags | MS_REMOUNT, NULL) < 0) {
        int e = errno;
        umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW);
        return kerr_make(err, e, "remount `%s` with its flags", target);
    }
    if (o->propagation && mount(NULL, target, NULL, o->propagation, NULL) < 0) {
        int e = errno;
        umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW);
        return kerr_make(err, e, "set propagation of `%s`", target);
    }
    return 0;
}

int unmount_path(const char *target, struct kerr **err)
{
    for (int attempt = 0; attempt < 50; attempt++) {
        if (umount2(target, UMOUNT_NOFOLLOW) == 0)
            return 0;
        if (errno != EBUSY)
            return errno == EINVAL || errno == ENOENT
                       ? 0 /* not mounted any more */
                       : kerr_make(err, errno, "unmount `%s`", target);
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    log_warn("unmount `%s`: still busy after 0.5 s, detaching lazily", target);
    if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
        return kerr_make(err, errno, "detach `%s`", target);
    return 0;
}
