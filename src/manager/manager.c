/* kata-manager's work: list the packaged and local configurations, and switch
 * the active one by copying a pristine file into the local directory and
 * pointing configuration.toml at it. */
#include "manager.h"
#include "config.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const known_names[] = {"qemu", "clh", "fc", "dragonball", "stratovirt"};

bool manager_name_known(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(known_names); i++)
        if (strcmp(name, known_names[i]) == 0)
            return true;
    return strcmp(name, "default") == 0;
}

static char *config_file(const char *dir, const char *name)
{
    return xasprintf("%s/configuration-%s.toml", dir, name);
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* "qemu" for ".../configuration-qemu.toml", else NULL (malloc'd). */
static char *name_of(const char *path)
{
    const char *b = base_name(path);
    size_t len = strlen(b);
    if (strncmp(b, "configuration-", 14) != 0 || len <= 19 || strcmp(b + len - 5, ".toml") != 0)
        return NULL;
    return xstrndup(b + 14, len - 19);
}

/* The file the runtime would load now, resolved (NULL if none). */
static char *active_path(void)
{
    cleanup_kerr struct kerr *e = NULL;
    return kata_config_find(NULL, &e);
}

static int same_content(const char *a, const char *b)
{
    cleanup_free char *da = NULL, *db = NULL;
    size_t la, lb;
    if (file_read_all(a, 1 << 24, &da, &la, NULL) < 0 ||
        file_read_all(b, 1 << 24, &db, &lb, NULL) < 0)
        return -1;
    return la == lb && memcmp(da, db, la) == 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted configuration-*.toml names in dir (NULL-terminated, or NULL). */
static char **list_configs(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return NULL;
    char **names = NULL;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char *name = name_of(de->d_name);
        if (name)
            kata_strv_push(&names, name);
    }
    closedir(d);
    if (names)
        qsort(names, kata_strv_len(names), sizeof(char *), compare_names);
    return names;
}

int manager_list_packaged(FILE *out, struct kerr **err)
{
    const char *dir = kata_config_defaults_dir();
    char **names = list_configs(dir);
    if (names == NULL)
        return kerr_make(err, ENOENT, "no packaged configurations in `%s`", dir);
    cleanup_free char *active = active_path();
    cleanup_free char *active_name = active ? name_of(active) : NULL;
    cleanup_free char *default_link = xasprintf("%s/%s", dir, KATA_CONFIG_FILE_NAME);
    cleanup_free char *default_target = realpath(default_link, NULL);
    cleanup_free char *default_name = default_target ? name_of(default_target) : NULL;
    fprintf(out, "Packaged configurations (%s):\n", dir);
    for (size_t i = 0; names[i]; i++) {
        bool is_active = active_name && strcmp(active_name, names[i]) == 0;
        bool is_default = default_name && strcmp(default_name, names[i]) == 0;
        cleanup_free char *file = config_file(dir, names[i]);
        fprintf(out, "%s %-11s %s%s\n", is_active ? "*" : " ", names[i], base_name(file),
                is_default ? " (default)" : "");
    }
    fprintf(out, "Active: %s\n", active ? active : "none (no configuration file found)");
    kata_strv_free(names);
    return 0;
}

int manager_list_local(FILE *out, struct kerr **err)
{
    const char *etc = kata_config_etc_dir();
    const char *defaults = kata_config_defaults_dir();
    cleanup_free char *active = active_path();
    char **names = list_configs(etc);
    cleanup_free char *main_file = xasprintf("%s/%s", etc, KATA_CONFIG_FILE_NAME);
    struct stat st;
    bool has_main = lstat(main_file, &st) == 0;
    if (names == NULL && !has_main) {
        fprintf(out, "No local configurations in %s: the packaged default is in use (%s).\n", etc,
                active ? active : "none found");
        return 0;
    }
    fprintf(out, "Local configurations (%s):\n", etc);
    for (size_t i = 0; names && names[i]; i++) {
        cleanup_free char *file = config_file(etc, names[i]);
        cleanup_free char *pristine = config_file(defaults, names[i]);
        cleanup_free char *resolved = realpath(file, NULL);
        int same = same_content(file, pristine);
        bool is_active = active && resolved && strcmp(active, resolved) == 0;
        fprintf(out, "%s %-11s %s%s\n", is_active ? "*" : " ", names[i], base_name(file),
                same == 1   ? ""
                : same == 0 ? " (locally modified)"
                            : " (no packaged original)");
    }
    if (has_main && S_ISLNK(st.st_mode)) {
        char target[4096];
        ssize_t n = readlink(main_file, target, sizeof(target) - 1);
        target[n > 0 ? n : 0] = '\0';
        fprintf(out, "  %s -> %s\n", KATA_CONFIG_FILE_NAME, target);
    } else if (has_main) {
        fprintf(out, "  %s (a regular file)\n", KATA_CONFIG_FILE_NAME);
    }
    fprintf(out, "Active: %s\n", active ? active : "none (no configuration file found)");
    kata_strv_free(names);
    (void)err;
    return 0;
}

/* Rename path to path.bak.TIME (and a counter if that exists). */
static int back_up(const char *path, FILE *out, struct kerr **err)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
    cleanup_free char *backup = xasprintf("%s.bak.%s", path, stamp);
    for (int i = 1; access(backup, F_OK) == 0; i++) {
        free(backup);
        backup = xasprintf("%s.bak.%s.%d", path, stamp, i);
    }
    if (rename(path, backup) < 0)
        return kerr_make(err, errno, "back up `%s` to `%s`", path, backup);
    fprintf(out, "Backed up %s to %s\n", path, backup);
    return 0;
}

/* Point configuration.toml at target (a name in the same directory). */
static int link_main(const char *etc, const char *target, struct kerr **err)
{
    cleanup_free char *main_file = xasprintf("%s/%s", etc, KATA_CONFIG_FILE_NAME);
    cleanup_free char *tmp = xasprintf("%s.tmp.%d", main_file, (int)getpid());
    unlink(tmp);
    if (symlink(target, tmp) < 0)
        return kerr_make(err, errno, "create symlink `%s`", tmp);
    if (rename(tmp, main_file) < 0) {
        int saved = errno;
        unlink(tmp);
        return kerr_make(err, saved, "replace `%s`", main_file);
    }
    return 0;
}

/* Is configuration.toml something -S may replace without -f? */
static int check_main_replaceable(const char *main_file, bool force, bool *backup,
                                  struct kerr **err)
{
    struct stat st;
    *backup = false;
    if (lstat(main_file, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        return kerr_make(err, errno, "inspect `%s`", main_file);
    }
    if (S_ISLNK(st.st_mode))
        return 0;
    if (!force)
        return kerr_make(err, 0,
                         "`%s` is a regular file, not a link kata-manager made: refusing to "
                         "replace it (use -f to replace it; it is backed up first)",
                         main_file);
    *backup = true;
    return 0;
}

static int switch_default(bool force, FILE *out, struct kerr **err)
{
    const char *etc = kata_config_etc_dir();
    cleanup_free char *main_file = xasprintf("%s/%s", etc, KATA_CONFIG_FILE_NAME);
    bool backup;
    if (check_main_replaceable(main_file, force, &backup, err) < 0)
        return -1;
    if (backup) {
        if (back_up(main_file, out, err) < 0)
            return -1;
    } else if (unlink(main_file) < 0 && errno != ENOENT) {
        return kerr_make(err, errno, "remove `%s`", main_file);
    }
    cleanup_free char *active = active_path();
    fprintf(out, "Switched to the packaged default: %s\n", active ? active : "(none found)");
    return 0;
}

int manager_switch(const char *name, bool force, FILE *out, struct kerr **err)
{
    if (!manager_name_known(name))
        return kerr_make(err, 0,
                         "unknown configuration `%s`: expected one of qemu, clh, fc, dragonball, "
                         "stratovirt, default",
                         name);
    if (strcmp(name, "default") == 0)
        return switch_default(force, out, err);

    const char *etc = kata_config_etc_dir();
    cleanup_free char *pristine = config_file(kata_config_defaults_dir(), name);
    cleanup_free char *local = config_file(etc, name);
    cleanup_free char *main_file = xasprintf("%s/%s", etc, KATA_CONFIG_FILE_NAME);
    cleanup_free char *data = NULL;
    size_t len;
    if (file_read_all(pristine, 1 << 24, &data, &len, err) < 0)
        return kerr_wrap(err, "packaged configuration for `%s`", name);

    /* Decide everything before changing anything. */
    bool copy = true, backup_local = false, backup_main;
    struct stat st;
    if (lstat(local, &st) == 0) {
        int same = same_content(local, pristine);
        if (same == 1) {
            copy = false;
        } else if (!force) {
            return kerr_make(err, 0,
                             "`%s` differs from the packaged `%s` (locally modified): refusing "
                             "to overwrite it (use -f to replace it; it is backed up first)",
                             local, pristine);
        } else {
            backup_local = true;
        }
    }
    if (check_main_replaceable(main_file, force, &backup_main, err) < 0)
        return -1;

    if (mkdir_all(etc, 0755, err) < 0)
        return -1;
    if (backup_local && back_up(local, out, err) < 0)
        return -1;
    if (copy && file_write_atomic(local, data, len, 0644, err) < 0)
        return -1;
    if (backup_main && back_up(main_file, out, err) < 0)
        return -1;
    cleanup_free char *target = xasprintf("configuration-%s.toml", name);
    if (link_main(etc, target, err) < 0)
        return -1;
    fprintf(out, "Switched to %s: %s -> %s\n", name, main_file, target);
    return 0;
}
