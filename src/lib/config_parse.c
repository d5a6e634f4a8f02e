/* From a merged TOML document to struct kata_config: the key table, type
 * checks, unknown keys (warned about), defaults. */
#include "config_internal.h"
#include "log.h"
#include "util.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HV(field) offsetof(struct kata_config, hypervisor.field)
#define AG(field) offsetof(struct kata_config, agent.field)
#define RT(field) offsetof(struct kata_config, runtime.field)
#define FA(field) offsetof(struct kata_config, factory.field)
#define NOT_DB    (HV_ALL & ~HV_BIT(KATA_HV_DRAGONBALL))
#define QEMU_SV   (HV_BIT(KATA_HV_QEMU) | HV_BIT(KATA_HV_STRATOVIRT))
/* Keys Cloud Hypervisor has no use for: no memory slots (it sizes hotplug
 * memory itself), no vhost-net (its virtio-net is in the VMM). */
#define NOT_CLH (HV_ALL & ~HV_BIT(KATA_HV_CLH))
/* Firecracker has no shared file system (no virtiofsd), no memory hotplug,
 * no vhost-net; only it has a jailer. */
#define FC         HV_BIT(KATA_HV_FIRECRACKER)
#define NOT_CLH_FC (NOT_CLH & ~FC)
#define NOT_DB_FC  (NOT_DB & ~FC)

const struct config_key config_keys[] = {
    {SECTION_HYPERVISOR, "path", KEY_STRING, HV(path), NOT_DB},
    {SECTION_HYPERVISOR, "jailer_path", KEY_STRING, HV(jailer_path), FC},
    {SECTION_HYPERVISOR, "kernel", KEY_STRING, HV(kernel), HV_ALL},
    {SECTION_HYPERVISOR, "initrd", KEY_STRING, HV(initrd), HV_ALL},
    {SECTION_HYPERVISOR, "image", KEY_STRING, HV(image), HV_ALL},
    {SECTION_HYPERVISOR, "machine_type", KEY_STRING, HV(machine_type), QEMU_SV},
    {SECTION_HYPERVISOR, "kernel_params", KEY_STRING, HV(kernel_params), HV_ALL},
    {SECTION_HYPERVISOR, "default_vcpus", KEY_INT, HV(default_vcpus), HV_ALL},
    {SECTION_HYPERVISOR, "default_maxvcpus", KEY_UINT, HV(default_maxvcpus), HV_ALL},
    {SECTION_HYPERVISOR, "default_memory", KEY_UINT, HV(default_memory), HV_ALL},
    {SECTION_HYPERVISOR, "memory_slots", KEY_UINT, HV(memory_slots), NOT_CLH_FC},
    {SECTION_HYPERVISOR, "shared_fs", KEY_STRING, HV(shared_fs), HV_ALL},
    {SECTION_HYPERVISOR, "virtio_fs_daemon", KEY_STRING, HV(virtio_fs_daemon), NOT_DB_FC},
    {SECTION_HYPERVISOR, "virtio_fs_extra_args", KEY_STRV, HV(virtio_fs_extra_args), NOT_DB_FC},
    {SECTION_HYPERVISOR, "virtio_fs_cache", KEY_STRING, HV(virtio_fs_cache), HV_ALL & ~FC},
    {SECTION_HYPERVISOR, "block_device_driver", KEY_STRING, HV(block_device_driver), HV_ALL},
    {SECTION_HYPERVISOR, "disable_block_device_use", KEY_BOOL, HV(disable_block_device_use),
     HV_ALL},
    {SECTION_HYPERVISOR, "enable_debug", KEY_BOOL, HV(enable_debug), HV_ALL},
    {SECTION_HYPERVISOR, "disable_vhost_net", KEY_BOOL, HV(disable_vhost_net), NOT_CLH_FC},
    {SECTION_HYPERVISOR, "virtio_mmio_cmdline", KEY_BOOL, HV(virtio_mmio_cmdline),
     HV_BIT(KATA_HV_DRAGONBALL)},
    {SECTION_HYPERVISOR, "enable_annotations", KEY_STRV, HV(enable_annotations), HV_ALL},
    {SECTION_HYPERVISOR, "valid_hypervisor_paths", KEY_STRV, HV(valid_hypervisor_paths), NOT_DB},
    {SECTION_HYPERVISOR, "valid_virtio_fs_daemon_paths", KEY_STRV, HV(valid_virtio_fs_daemon_paths),
     NOT_DB_FC},
    {SECTION_HYPERVISOR, "valid_guest_asset_paths", KEY_STRV, HV(valid_guest_asset_paths), HV_ALL},
    {SECTION_HYPERVISOR, "seccompsandbox", KEY_STRING, HV(seccompsandbox), HV_BIT(KATA_HV_QEMU)},
    {SECTION_HYPERVISOR, "rootless", KEY_BOOL, HV(rootless), HV_BIT(KATA_HV_QEMU)},
    {SECTION_AGENT, "enable_debug", KEY_BOOL, AG(enable_debug), HV_ALL},
    {SECTION_AGENT, "dial_timeout", KEY_UINT, AG(dial_timeout), HV_ALL},
    {SECTION_AGENT, "kernel_modules", KEY_STRV, AG(kernel_modules), HV_ALL},
    {SECTION_RUNTIME, "enable_debug", KEY_BOOL, RT(enable_debug), HV_ALL},
    {SECTION_RUNTIME, "internetworking_model", KEY_STRING, RT(internetworking_model), HV_ALL},
    {SECTION_RUNTIME, "sandbox_cgroup_only", KEY_BOOL, RT(sandbox_cgroup_only), HV_ALL},
    {SECTION_RUNTIME, "disable_new_netns", KEY_BOOL, RT(disable_new_netns), HV_ALL},
    {SECTION_FACTORY, "enable_template", KEY_BOOL, FA(enable_template), HV_ALL},
};
const size_t config_key_count = ARRAY_SIZE(config_keys);

static const char *const hypervisor_names[] = {
    [KATA_HV_QEMU] = "qemu",
    [KATA_HV_CLH] = "clh",
    [KATA_HV_FIRECRACKER] = "firecracker",
    [KATA_HV_DRAGONBALL] = "dragonball",
    [KATA_HV_STRATOVIRT] = "stratovirt",
};

const char *kata_hypervisor_kind_name(enum kata_hypervisor_kind kind)
{
    return hypervisor_names[kind];
}

bool kata_hypervisor_key_applies(enum kata_hypervisor_kind kind, const char *key)
{
    const struct config_key *k = config_key_find(SECTION_HYPERVISOR, key);
    return k != NULL && (k->hv_mask & HV_BIT(kind)) != 0;
}

const struct config_key *config_key_find(enum config_section section, const char *name)
{
    for (size_t i = 0; i < config_key_count; i++)
        if (config_keys[i].section == section && strcmp(config_keys[i].name, name) == 0)
            return &config_keys[i];
    return NULL;
}

static const char *const section_names[] = {"hypervisor", "agent", "runtime", "factory"};

char *config_section_header(const struct kata_config *cfg, enum config_section section)
{
    switch (section) {
    case SECTION_HYPERVISOR:
        return xasprintf("[hypervisor.%s]", cfg->hypervisor.name);
    case SECTION_AGENT:
        return xstrdup("[agent.kata]");
    default:
        return xasprintf("[%s]", section_names[section]);
    }
}

struct toml_value *config_origins(struct kata_config *cfg)
{
    if (cfg->origins == NULL)
        cfg->origins = toml_table_new();
    return cfg->origins;
}

static char *origin_key(const struct config_key *key)
{
    return xasprintf("%s.%s", section_names[key->section], key->name);
}

const char *config_origin(const struct kata_config *cfg, const struct config_key *key)
{
    cleanup_free char *k = origin_key(key);
    const struct toml_value *v = cfg->origins ? toml_table_get(cfg->origins, k) : NULL;
    if (v)
        return toml_string(v, NULL);
    return cfg->path ? cfg->path : "<configuration>";
}

void config_set_origin(struct kata_config *cfg, const struct config_key *key, char *origin)
{
    cleanup_free char *k = origin_key(key);
    toml_table_set(config_origins(cfg), k, toml_string_new(origin, strlen(origin)));
    free(origin);
}

void config_warn(struct kata_config *cfg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    log_warn("%s", msg);
    kata_strv_push(&cfg->warnings, msg);
}

static void quote(char **out, const char *s)
{
    char *next = xasprintf("%s\"", *out);
    free(*out);
    *out = next;
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\')
            next = xasprintf("%s\\%c", *out, *s);
        else if ((unsigned char)*s < 0x20)
            next = xasprintf("%s\\u%04x", *out, (unsigned char)*s);
        else
            next = xasprintf("%s%c", *out, *s);
        free(*out);
        *out = next;
    }
    next = xasprintf("%s\"", *out);
    free(*out);
    *out = next;
}

char *config_value_repr(const struct kata_config *cfg, const struct config_key *key)
{
    const char *field = (const char *)cfg + key->offset;
    char *out = xstrdup("");
    switch (key->type) {
    case KEY_STRING:
        quote(&out, *(char *const *)field);
        return out;
    case KEY_BOOL:
        free(out);
        return xstrdup(*(const bool *)field ? "true" : "false");
    case KEY_INT:
        free(out);
        return xasprintf("%d", *(const int *)field);
    case KEY_UINT:
        free(out);
        return xasprintf("%u", *(const unsigned *)field);
    case KEY_STRV: {
        char *const *v = *(char **const *)field;
        free(out);
        out = xstrdup("[");
        for (size_t i = 0; v && v[i]; i++) {
            if (i) {
                char *next = xasprintf("%s, ", out);
                free(out);
                out = next;
            }
            quote(&out, v[i]);
        }
        char *next = xasprintf("%s]", out);
        free(out);
        return next;
    }
    }
    return out;
}

/* A short rendering of a TOML value for error messages. */
static char *toml_repr(const struct toml_value *v)
{
    char *out = xstrdup("");
    switch (toml_type(v)) {
    case TOML_STRING:
        quote(&out, toml_string(v, NULL));
        return out;
    case TOML_INTEGER:
        free(out);
        return xasprintf("%lld", (long long)toml_integer(v));
    case TOML_BOOLEAN:
        free(out);
        return xstrdup(toml_boolean(v) ? "true" : "false");
    default:
        free(out);
        return xasprintf("<%s>", toml_type_name(toml_type(v)));
    }
}

static const char *const type_wanted[] = {
    [KEY_STRING] = "a string",          [KEY_BOOL] = "a boolean (true or false)",
    [KEY_INT] = "an integer",           [KEY_UINT] = "a non-negative integer",
    [KEY_STRV] = "an array of strings",
};

int config_store(struct kata_config *cfg, const struct config_key *key, const struct toml_value *v,
                 const char *origin, struct kerr **err)
{
    char *field = (char *)cfg + key->offset;
    enum toml_type t = toml_type(v);
    bool ok = false;
    switch (key->type) {
    case KEY_STRING:
        if ((ok = t == TOML_STRING)) {
            size_t len;
            const char *s = toml_string(v, &len);
            ok = strlen(s) == len; /* no embedded NUL */
            if (ok) {
                free(*(char **)field);
                *(char **)field = xstrdup(s);
            }
        }
        break;
    case KEY_BOOL:
        if ((ok = t == TOML_BOOLEAN))
            *(bool *)field = toml_boolean(v);
        break;
    case KEY_INT:
        if ((ok =
                 t == TOML_INTEGER && toml_integer(v) >= INT32_MIN && toml_integer(v) <= INT32_MAX))
            *(int *)field = (int)toml_integer(v);
        break;
    case KEY_UINT:
        if ((ok = t == TOML_INTEGER && toml_integer(v) >= 0 && toml_integer(v) <= UINT32_MAX))
            *(unsigned *)field = (unsigned)toml_integer(v);
        break;
    case KEY_STRV:
        if ((ok = t == TOML_ARRAY)) {
            for (size_t i = 0; ok && i < toml_array_length(v); i++)
                ok = toml_type(toml_array_get(v, i)) == TOML_STRING;
            if (ok) {
                char **list = xcalloc(1, sizeof(char *));
                for (size_t i = 0; i < toml_array_length(v); i++)
                    kata_strv_push(&list, xstrdup(toml_string(toml_array_get(v, i), NULL)));
                kata_strv_free(*(char ***)field);
                *(char ***)field = list;
            }
        }
        break;
    }
    if (ok)
        return 0;
    cleanup_free char *header = config_section_header(cfg, key->section);
    cleanup_free char *repr = toml_repr(v);
    return kerr_make(err, 0, "%s: %s %s = %s: expected %s", origin, header, key->name, repr,
                     type_wanted[key->type]);
}

static char *where(const struct toml_value *v, const char *fallback)
{
    if (toml_filename(v) && toml_line(v))
        return xasprintf("%s:%u", toml_filename(v), toml_line(v));
    return xstrdup(fallback);
}

/* Store every key of one section table; warn about the unknown ones. */
static int parse_section(struct kata_config *cfg, enum config_section section,
                         const struct toml_value *table, const char *header, struct kerr **err)
{
    for (size_t i = 0; i < toml_table_length(table); i++) {
        const char *name = toml_table_key(table, i, NULL);
        const struct toml_value *v = toml_table_value(table, i);
        cleanup_free char *at = where(v, cfg->path);
        const struct config_key *key = config_key_find(section, name);
        if (key == NULL) {
            config_warn(cfg, "%s: %s unknown key `%s` ignored", at, header, name);
            continue;
        }
        if (section == SECTION_HYPERVISOR && !(key->hv_mask & HV_BIT(cfg->hypervisor.kind))) {
            config_warn(cfg, "%s: %s `%s` is not used by %s; ignored", at, header, name,
                        cfg->hypervisor.name);
            continue;
        }
        if (config_store(cfg, key, v, at, err) < 0)
            return -1;
        config_set_origin(cfg, key, steal_pointer(&at));
    }
    return 0;
}

static int find_hypervisor(struct kata_config *cfg, const struct toml_value *doc,
                           const struct toml_value **table, struct kerr **err)
{
    const struct toml_value *hv = toml_table_get(doc, "hypervisor");
    if (hv == NULL || toml_type(hv) != TOML_TABLE || toml_table_length(hv) == 0)
        return kerr_make(err, 0,
                         "%s: no [hypervisor.<name>] section: expected one of "
                         "[hypervisor.qemu], [hypervisor.clh], [hypervisor.firecracker], "
                         "[hypervisor.dragonball], [hypervisor.stratovirt]",
                         cfg->path);
    if (toml_table_length(hv) > 1) {
        cleanup_free char *names = xstrdup("");
        for (size_t i = 0; i < toml_table_length(hv); i++) {
            cleanup_free char *at = where(toml_table_value(hv, i), cfg->path);
            char *next = xasprintf("%s%s[hypervisor.%s] (%s)", names, i ? ", " : "",
                                   toml_table_key(hv, i, NULL), at);
            free(names);
            names = next;
        }
        return kerr_make(err, 0, "%s: exactly one [hypervisor.*] section allowed, found %zu: %s",
                         cfg->path, toml_table_length(hv), names);
    }
    const char *name = toml_table_key(hv, 0, NULL);
    const struct toml_value *section = toml_table_value(hv, 0);
    cleanup_free char *at = where(section, cfg->path);
    for (size_t k = 0; k < ARRAY_SIZE(hypervisor_names); k++) {
        if (strcmp(name, hypervisor_names[k]) == 0) {
            if (toml_type(section) != TOML_TABLE)
                return kerr_make(err, 0, "%s: hypervisor.%s must be a table, not %s", at, name,
                                 toml_type_name(toml_type(section)));
            cfg->hypervisor.kind = (enum kata_hypervisor_kind)k;
            cfg->hypervisor.name = hypervisor_names[k];
            *table = section;
            return 0;
        }
    }
    return kerr_make(err, 0,
                     "%s: [hypervisor.%s]: unknown hypervisor: expected one of \"qemu\", "
                     "\"clh\", \"firecracker\", \"dragonball\", \"stratovirt\"",
                     at, name);
}

static void set_defaults(struct kata_config *cfg)
{
    struct kata_hypervisor_config *hv = &cfg->hypervisor;
    hv->default_vcpus = 1;
    hv->default_memory = 2048;
    hv->memory_slots = 10;
    hv->block_device_driver =
        xstrdup(hv->kind == KATA_HV_QEMU                                            ? "virtio-scsi"
                : hv->kind == KATA_HV_FIRECRACKER || hv->kind == KATA_HV_STRATOVIRT ? "virtio-mmio"
                                                                                    : "virtio-blk");
    hv->shared_fs = xstrdup(hv->kind == KATA_HV_FIRECRACKER ? "none" : "virtio-fs");
    hv->virtio_fs_cache = xstrdup("auto");
    if (hv->kind == KATA_HV_QEMU)
        hv->seccompsandbox = xstrdup(KATA_QEMU_SECCOMP_SANDBOX_DEFAULT);
    if (hv->kind == KATA_HV_QEMU)
        hv->machine_type = xstrdup("q35");
    else if (hv->kind == KATA_HV_STRATOVIRT)
        hv->machine_type = xstrdup("microvm");
    cfg->agent.dial_timeout = 60; /* TCG boots are slow */
    cfg->runtime.internetworking_model = xstrdup("tcfilter");
}

struct kata_config *kata_config_from_toml(const struct toml_value *doc, const char *path,
                                          unsigned flags, struct kerr **err)
{
    struct kata_config *cfg = xcalloc(1, sizeof(*cfg));
    cfg->path = xstrdup(path ? path : "<configuration>");
    const struct toml_value *hv = NULL;
    cleanup_free char *hv_header = NULL;
    if (find_hypervisor(cfg, doc, &hv, err) < 0)
        goto fail;
    set_defaults(cfg);
    hv_header = config_section_header(cfg, SECTION_HYPERVISOR);
    if (parse_section(cfg, SECTION_HYPERVISOR, hv, hv_header, err) < 0)
        goto fail;

    for (size_t i = 0; i < toml_table_length(doc); i++) {
        const char *name = toml_table_key(doc, i, NULL);
        const struct toml_value *v = toml_table_value(doc, i);
        cleanup_free char *at = where(v, cfg->path);
        if (strcmp(name, "hypervisor") == 0)
            continue;
        if (toml_type(v) != TOML_TABLE) {
            config_warn(cfg, "%s: unknown top-level key `%s` ignored", at, name);
            continue;
        }
        if (strcmp(name, "agent") == 0) {
            for (size_t j = 0; j < toml_table_length(v); j++) {
                const char *agent = toml_table_key(v, j, NULL);
                const struct toml_value *t = toml_table_value(v, j);
                cleanup_free char *agent_at = where(t, cfg->path);
                if (strcmp(agent, "kata") != 0 || toml_type(t) != TOML_TABLE) {
                    config_warn(cfg,
                                "%s: unknown agent section [agent.%s] ignored (expected "
                                "[agent.kata])",
                                agent_at, agent);
                    continue;
                }
                if (parse_section(cfg, SECTION_AGENT, t, "[agent.kata]", err) < 0)
                    goto fail;
            }
        } else if (strcmp(name, "runtime") == 0) {
            if (parse_section(cfg, SECTION_RUNTIME, v, "[runtime]", err) < 0)
                goto fail;
        } else if (strcmp(name, "factory") == 0) {
            if (parse_section(cfg, SECTION_FACTORY, v, "[factory]", err) < 0)
                goto fail;
        } else {
            config_warn(cfg, "%s: unknown section [%s] ignored", at, name);
        }
    }
    if (kata_config_validate(cfg, flags, err) < 0)
        goto fail;
    return cfg;
fail:
    kata_config_free(cfg);
    return NULL;
}

void kata_config_free(struct kata_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < config_key_count; i++) {
        char *field = (char *)cfg + config_keys[i].offset;
        if (config_keys[i].type == KEY_STRING)
            free(*(char **)field);
        else if (config_keys[i].type == KEY_STRV)
            kata_strv_free(*(char ***)field);
    }
    free(cfg->path);
    kata_strv_free(cfg->dropins);
    kata_strv_free(cfg->warnings);
    toml_free(cfg->origins);
    free(cfg);
}
