/* Pod annotations io.katacontainers.config.<section>.<key> that override the
 * configuration, only where the configuration's enable_annotations allows. */
#include "config_internal.h"
#include "util.h"

#include <fnmatch.h>
#include <stddef.h>
#include <regex.h>
#include <string.h>

#define ANNOTATION_PREFIX "io.katacontainers.config."

/* Keys a pod can never set: those that guard the others, and those that
 * only weaken the VMM's confinement. */
static const char *const never_overridable[] = {
    "enable_annotations",      "valid_hypervisor_paths", "valid_virtio_fs_daemon_paths",
    "valid_guest_asset_paths", "seccompsandbox",         "jailer_path",
};

/* Keys naming host files: an annotation must name a clean absolute path that
 * matches one of the configuration's globs. */
static const struct {
    const char *key;
    size_t globs; /* offset of the glob list in struct kata_config */
    const char *globs_key;
} path_keys[] = {
    {"path", offsetof(struct kata_config, hypervisor.valid_hypervisor_paths),
     "valid_hypervisor_paths"},
    {"virtio_fs_daemon", offsetof(struct kata_config, hypervisor.valid_virtio_fs_daemon_paths),
     "valid_virtio_fs_daemon_paths"},
    {"kernel", offsetof(struct kata_config, hypervisor.valid_guest_asset_paths),
     "valid_guest_asset_paths"},
    {"initrd", offsetof(struct kata_config, hypervisor.valid_guest_asset_paths),
     "valid_guest_asset_paths"},
    {"image", offsetof(struct kata_config, hypervisor.valid_guest_asset_paths),
     "valid_guest_asset_paths"},
};

/* Boolean keys an annotation may only set one way (the safe one). */
static const struct {
    enum config_section section;
    const char *key;
    const char *only; /* the one value allowed */
} one_way_keys[] = {
    {SECTION_HYPERVISOR, "rootless", "true"},
    {SECTION_RUNTIME, "disable_new_netns", "false"},
};

static bool allowed_by(char *const *patterns, const char *name)
{
    for (size_t i = 0; patterns && patterns[i]; i++) {
        cleanup_free char *anchored = xasprintf("^(%s)$", patterns[i]);
        regex_t re;
        if (regcomp(&re, anchored, REG_EXTENDED | REG_NOSUB) != 0)
            continue; /* an invalid expression allows nothing */
        bool match = regexec(&re, name, 0, NULL, 0) == 0;
        regfree(&re);
        if (match)
            return true;
    }
    return false;
}

/* Absolute, without `.`, `..` or empty components, so that a glob of the
 * files in one directory cannot let `<that directory>/../../etc/shadow`
 * through. */
static bool path_clean(const char *path)
{
    if (path[0] != '/')
        return false;
    for (const char *p = path + 1;;) {
        size_t n = strcspn(p, "/");
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        p += n;
        if (*p == '\0')
            return true;
        p++;
    }
}

static bool path_allowed(char *const *globs, const char *path)
{
    if (!path_clean(path))
        return false;
    for (size_t i = 0; globs && globs[i]; i++)
        if (fnmatch(globs[i], path, FNM_PATHNAME) == 0)
            return true;
    return false;
}

/* The annotation's value as a TOML value of the key's type. */
static struct toml_value *annotation_value(const struct config_key *key, const char *annotation,
                                           const char *value, struct kerr **err)
{
    if (key->type == KEY_STRING)
        return toml_string_new(value, strlen(value));
    if (strchr(value, '\n') || strchr(value, '\r')) {
        kerr_make(err, 0, "annotation %s: the value must be one line", annotation);
        return NULL;
    }
    cleanup_free char *text = xasprintf("v = %s", value);
    cleanup_kerr struct kerr *parse_err = NULL;
    struct toml_value *doc = toml_parse(text, strlen(text), annotation, &parse_err);
    if (doc == NULL) {
        kerr_make(err, 0, "annotation %s = \"%s\": not a valid value (%s)", annotation, value,
                  parse_err->msg);
        return NULL;
    }
    return doc;
}

/* The rules beyond the allow-list for keys that name host files or could
 * weaken the sandbox. */
static int check_value(const struct kata_config *cfg, enum config_section section, const char *name,
                       const char *annotation, const char *value, struct kerr **err)
{
    for (size_t i = 0; section == SECTION_HYPERVISOR && i < ARRAY_SIZE(path_keys); i++) {
        if (strcmp(name, path_keys[i].key) != 0)
            continue;
        char *const *globs = *(char **const *)((const char *)cfg + path_keys[i].globs);
        if (!path_allowed(globs, value))
            return kerr_make(err, 0,
                             "annotation %s = \"%s\": path not allowed by %s in %s (a clean "
                             "absolute path matching one of its globs)",
                             annotation, value, path_keys[i].globs_key, cfg->path);
    }
    for (size_t i = 0; i < ARRAY_SIZE(one_way_keys); i++)
        if (one_way_keys[i].section == section && strcmp(name, one_way_keys[i].key) == 0 &&
            strcmp(value, one_way_keys[i].only) != 0)
            return kerr_make(err, 0,
                             "annotation %s = \"%s\": an annotation may only set `%s` to %s",
                             annotation, value, name, one_way_keys[i].only);
    return 0;
}

static int apply_one(struct kata_config *cfg, const char *annotation, const char *value,
                     struct kerr **err)
{
    const char *rest = annotation + strlen(ANNOTATION_PREFIX);
    enum config_section section;
    const char *name;
    if (strncmp(rest, "hypervisor.", 11) == 0) {
        section = SECTION_HYPERVISOR;
        name = rest + 11;
    } else if (strncmp(rest, "agent.", 6) == 0) {
        section = SECTION_AGENT;
        name = rest + 6;
    } else if (strncmp(rest, "runtime.", 8) == 0) {
        section = SECTION_RUNTIME;
        name = rest + 8;
    } else {
        return kerr_make(err, 0,
                         "annotation %s: unknown section (expected hypervisor, agent "
                         "or runtime)",
                         annotation);
    }
    const struct config_key *key = config_key_find(section, name);
    if (key == NULL)
        return kerr_make(err, 0, "annotation %s: unknown key `%s`", annotation, name);
    for (size_t i = 0; i < ARRAY_SIZE(never_overridable); i++)
        if (strcmp(name, never_overridable[i]) == 0)
            return kerr_make(err, 0, "annotation %s: `%s` can never be set by annotation",
                             annotation, name);
    /* Hypervisor keys by their base name (as Kata), the others qualified. */
    cleanup_free char *qualified =
        section == SECTION_HYPERVISOR
            ? xstrdup(name)
            : xasprintf("%s.%s", section == SECTION_AGENT ? "agent" : "runtime", name);
    if (!allowed_by(cfg->hypervisor.enable_annotations, qualified))
        return kerr_make(err, 0,
                         "annotation %s: not allowed by %s: [hypervisor.%s] enable_annotations "
                         "does not list \"%s\"",
                         annotation, cfg->path, cfg->hypervisor.name, qualified);
    if (section == SECTION_HYPERVISOR && !(key->hv_mask & HV_BIT(cfg->hypervisor.kind)))
        return kerr_make(err, 0, "annotation %s: `%s` is not used by %s", annotation, name,
                         cfg->hypervisor.name);
    if (check_value(cfg, section, name, annotation, value, err) < 0)
        return -1;

    cleanup_toml struct toml_value *parsed = annotation_value(key, annotation, value, err);
    if (parsed == NULL)
        return -1;
    const struct toml_value *v =
        toml_type(parsed) == TOML_TABLE ? toml_table_get(parsed, "v") : parsed;
    if (v == NULL || (toml_type(parsed) == TOML_TABLE && toml_table_length(parsed) != 1))
        return kerr_make(err, 0, "annotation %s = \"%s\": not a single value", annotation, value);
    cleanup_free char *origin = xasprintf("annotation %s", annotation);
    if (config_store(cfg, key, v, origin, err) < 0)
        return -1;
    config_set_origin(cfg, key, steal_pointer(&origin));
    return 0;
}

int kata_config_apply_annotations(struct kata_config *cfg, const char *const *keys,
                                  const char *const *values, size_t n, unsigned flags,
                                  struct kerr **err)
{
    bool changed = false;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(keys[i], ANNOTATION_PREFIX, strlen(ANNOTATION_PREFIX)) != 0)
            continue;
        if (apply_one(cfg, keys[i], values[i], err) < 0)
            return -1;
        changed = true;
    }
    return changed ? kata_config_validate(cfg, flags, err) : 0;
}
