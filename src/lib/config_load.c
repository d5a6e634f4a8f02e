/* Finding the configuration file and merging its drop-ins. */
#include "config.h"
#include "log.h"
#include "toml.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *kata_config_etc_dir(void)
{
    const char *dir = getenv("KATA_ETC_DIR");
    return dir && *dir ? dir : KATA_ETC_DIR_DEFAULT;
}

const char *kata_config_defaults_dir(void)
{
    const char *dir = getenv("KATA_DEFAULTS_DIR");
    return dir && *dir ? dir : KATA_DEFAULTS_DIR_DEFAULT;
}

size_t kata_strv_len(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

void kata_strv_push(char ***v, char *s)
{
    size_t n = kata_strv_len(*v);
    *v = xrealloc(*v, (n + 2) * sizeof(char *));
    (*v)[n] = s;
    (*v)[n + 1] = NULL;
}

void kata_strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

char **kata_config_default_paths(void)
{
    char **paths = NULL;
    kata_strv_push(&paths, xasprintf("%s/%s", kata_config_etc_dir(), KATA_CONFIG_FILE_NAME));
    kata_strv_push(&paths, xasprintf("%s/%s", kata_config_defaults_dir(), KATA_CONFIG_FILE_NAME));
    return paths;
}

static char *resolve(const char *path, const char *origin, struct kerr **err)
{
    char *real = realpath(path, NULL);
    if (real == NULL)
        kerr_make(err, errno, "configuration file `%s` (%s)", path, origin);
    return real;
}

char *kata_config_find(const char *explicit_path, struct kerr **err)
{
    if (explicit_path && *explicit_path)
        return resolve(explicit_path, "given explicitly", err);
    const char *env = getenv("KATA_CONF_FILE");
    if (env && *env)
        return resolve(env, "from KATA_CONF_FILE", err);

    char **paths = kata_config_default_paths();
    char *found = NULL;
    for (size_t i = 0; paths[i] && found == NULL; i++) {
        struct stat st;
        /* A dangling symlink counts as absent, as for Kata. */
        if (stat(paths[i], &st) == 0)
            found = resolve(paths[i], "default location", err);
        else if (errno != ENOENT) {
            kerr_make(err, errno, "configuration file `%s`", paths[i]);
            break;
        }
    }
    if (found == NULL && (err == NULL || *err == NULL))
        kerr_make(err, ENOENT, "no configuration file: tried `%s` and `%s`", paths[0], paths[1]);
    kata_strv_free(paths);
    return found;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The drop-in files of the directory holding main_path, sorted. */
static int list_dropins(const char *main_path, char ***out, struct kerr **err)
{
    cleanup_free char *dir_path = xstrdup(main_path);
    char *slash = strrchr(dir_path, '/');
    if (slash)
        *slash = '\0';
    cleanup_free char *dropin_dir =
        xasprintf("%s/%s", slash ? dir_path : ".", KATA_DROPIN_DIR_NAME);
    DIR *dir = opendir(dropin_dir);
    if (dir == NULL) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        return kerr_make(err, errno, "open drop-in directory `%s`", dropin_dir);
    }
    char **names = NULL;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".toml") != 0)
            continue;
        char *full = xasprintf("%s/%s", dropin_dir, de->d_name);
        struct stat st;
        if (stat(full, &st) < 0 || !S_ISREG(st.st_mode)) {
            free(full);
            continue;
        }
        kata_strv_push(&names, full);
    }
    closedir(dir);
    if (names)
        qsort(names, kata_strv_len(names), sizeof(char *), compare_names);
    *out = names;
    return 0;
}

struct toml_value *kata_config_read(const char *main_path, char ***dropins, struct kerr **err)
{
    cleanup_toml struct toml_value *doc = toml_parse_file(main_path, err);
    if (doc == NULL)
        return NULL;
    char **files = NULL;
    if (list_dropins(main_path, &files, err) < 0)
        return NULL;
    for (size_t i = 0; files && files[i]; i++) {
        cleanup_toml struct toml_value *part = toml_parse_file(files[i], err);
        if (part == NULL || toml_merge(doc, part, err) < 0) {
            kata_strv_free(files);
            return NULL;
        }
        log_debug("configuration drop-in `%s` merged", files[i]);
    }
    if (dropins)
        *dropins = files;
    else
        kata_strv_free(files);
    return steal_pointer(&doc);
}

struct kata_config *kata_config_load(const char *explicit_path, unsigned flags, struct kerr **err)
{
    cleanup_free char *path = kata_config_find(explicit_path, err);
    if (path == NULL)
        return NULL;
    char **dropins = NULL;
    cleanup_toml struct toml_value *doc = kata_config_read(path, &dropins, err);
    if (doc == NULL)
        return NULL;
    struct kata_config *cfg = kata_config_from_toml(doc, path, flags, err);
    if (cfg == NULL) {
        kata_strv_free(dropins);
        return NULL;
    }
    cfg->dropins = dropins;
    return cfg;
}
