/* Checking a parsed configuration: enumerations (per hypervisor),
 * contradictions, ranges (clamped only where the shipped files document it,
 * with a warning) and guest assets. */
#include "config_internal.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct choice {
    const char *value;
    unsigned hv_mask; /* hypervisors that support it */
};

#define Q HV_BIT(KATA_HV_QEMU)
#define C HV_BIT(KATA_HV_CLH)
#define F HV_BIT(KATA_HV_FIRECRACKER)
#define D HV_BIT(KATA_HV_DRAGONBALL)
#define S HV_BIT(KATA_HV_STRATOVIRT)

static const struct choice shared_fs_choices[] = {
    {"virtio-fs", Q | C | D | S},
    {"virtio-9p", Q},
    {"none", HV_ALL},
    {NULL, 0},
};
static const struct choice block_driver_choices[] = {
    {"virtio-blk", Q | C | D | S},
    {"virtio-scsi", Q},
    {"virtio-mmio", F | S},
    {"nvdimm", Q},
    {NULL, 0},
};
static const struct choice machine_type_choices[] = {
    {"q35", Q},
    {"microvm", Q | S},
    {NULL, 0},
};
static const struct choice fs_cache_choices[] = {
    {"never", HV_ALL}, {"metadata", HV_ALL}, {"auto", HV_ALL}, {"always", HV_ALL}, {NULL, 0},
};
static const struct choice network_choices[] = {
    {"tcfilter", HV_ALL},
    {"macvtap", HV_ALL},
    {"none", HV_ALL},
    {NULL, 0},
};

static int key_error(struct kata_config *cfg, const char *name, enum config_section section,
                     struct kerr **err, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int key_error(struct kata_config *cfg, const char *name, enum config_section section,
                     struct kerr **err, const char *fmt, ...)
{
    const struct config_key *key = config_key_find(section, name);
    cleanup_free char *header = config_section_header(cfg, section);
    cleanup_free char *repr = config_value_repr(cfg, key);
    va_list ap;
    va_start(ap, fmt);
    cleanup_free char *why = xvasprintf(fmt, ap);
    va_end(ap);
    return kerr_make(err, 0, "%s: %s %s = %s: %s", config_origin(cfg, key), header, name, repr,
                     why);
}

static void key_warn(struct kata_config *cfg, const char *name, enum config_section section,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void key_warn(struct kata_config *cfg, const char *name, enum config_section section,
                     const char *fmt, ...)
{
    const struct config_key *key = config_key_find(section, name);
    cleanup_free char *header = config_section_header(cfg, section);
    va_list ap;
    va_start(ap, fmt);
    cleanup_free char *why = xvasprintf(fmt, ap);
    va_end(ap);
    config_warn(cfg, "%s: %s %s: %s", config_origin(cfg, key), header, name, why);
}

/* The choices this hypervisor supports, as `"a", "b"`. */
static char *choice_list(const struct choice *choices, unsigned bit)
{
    char *out = xstrdup("");
    for (const struct choice *c = choices; c->value; c++) {
        if (!(c->hv_mask & bit))
            continue;
        char *next = xasprintf("%s%s\"%s\"", out, *out ? ", " : "", c->value);
        free(out);
        out = next;
    }
    return out;
}

static int check_choice(struct kata_config *cfg, enum config_section section, const char *name,
                        const char *value, const struct choice *choices, struct kerr **err)
{
    unsigned bit = section == SECTION_HYPERVISOR ? HV_BIT(cfg->hypervisor.kind) : HV_ALL;
    cleanup_free char *allowed = choice_list(choices, bit);
    for (const struct choice *c = choices; c->value; c++) {
        if (value == NULL || strcmp(value, c->value) != 0)
            continue;
        if (c->hv_mask & bit)
            return 0;
        return key_error(cfg, name, section, err, "not supported by %s: expected one of %s",
                         cfg->hypervisor.name, allowed);
    }
    return key_error(cfg, name, section, err, "expected one of %s", allowed);
}

static long host_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? n : 1;
}

static int check_ranges(struct kata_config *cfg, struct kerr **err)
{
    struct kata_hypervisor_config *hv = &cfg->hypervisor;
    int cpus = (int)host_cpus();
    if (hv->default_vcpus == 0) {
        hv->default_vcpus = 1;
    } else if (hv->default_vcpus < 0) {
        hv->default_vcpus = cpus;
    } else if (hv->default_vcpus > cpus) {
        key_warn(cfg, "default_vcpus", SECTION_HYPERVISOR,
                 "%d is more than the host's %d CPUs; using %d", hv->default_vcpus, cpus, cpus);
        hv->default_vcpus = cpus;
    }
    if (hv->default_maxvcpus == 0) {
        hv->default_maxvcpus = (unsigned)cpus;
    } else if (hv->default_maxvcpus > (unsigned)cpus) {
        key_warn(cfg, "default_maxvcpus", SECTION_HYPERVISOR,
                 "%u is more than the host's %d CPUs; using %d", hv->default_maxvcpus, cpus, cpus);
        hv->default_maxvcpus = (unsigned)cpus;
    }
    if (hv->default_maxvcpus < (unsigned)hv->default_vcpus) {
        key_warn(cfg, "default_maxvcpus", SECTION_HYPERVISOR,
                 "%u is less than default_vcpus; using %d", hv->default_maxvcpus,
                 hv->default_vcpus);
        hv->default_maxvcpus = (unsigned)hv->default_vcpus;
    }
    if (hv->default_memory == 0)
        return key_error(cfg, "default_memory", SECTION_HYPERVISOR, err,
                         "expected a size in MiB greater than 0");
    if (cfg->agent.dial_timeout == 0)
        return key_error(cfg, "dial_timeout", SECTION_AGENT, err,
                         "expected a number of seconds greater than 0");
    return 0;
}

static int check_asset(struct kata_config *cfg, const char *name, const char *path, bool executable,
                       struct kerr **err)
{
    struct stat st;
    if (path[0] != '/')
        return key_error(cfg, name, SECTION_HYPERVISOR, err, "expected an absolute path");
    if (stat(path, &st) < 0)
        return key_error(cfg, name, SECTION_HYPERVISOR, err, "%s", strerror(errno));
    if (!S_ISREG(st.st_mode))
        return key_error(cfg, name, SECTION_HYPERVISOR, err, "not a regular file");
    if (executable && access(path, X_OK) < 0)
        return key_error(cfg, name, SECTION_HYPERVISOR, err, "not executable");
    return 0;
}

static bool is_set(const char *s)
{
    return s && *s;
}

static int check_assets(struct kata_config *cfg, unsigned flags, struct kerr **err)
{
    struct kata_hypervisor_config *hv = &cfg->hypervisor;
    /* A built-in VMM reads neither key (config_parse.c's table). */
    bool needs_path = kata_hypervisor_key_applies(hv->kind, "path");
    bool needs_daemon = kata_hypervisor_key_applies(hv->kind, "virtio_fs_daemon") &&
                        strcmp(hv->shared_fs, "virtio-fs") == 0;

    if (needs_path && !is_set(hv->path))
        return key_error(cfg, "path", SECTION_HYPERVISOR, err, "the %s binary must be given",
                         hv->name);
    if (!is_set(hv->kernel))
        return key_error(cfg, "kernel", SECTION_HYPERVISOR, err, "a guest kernel must be given");
    if (is_set(hv->initrd) && is_set(hv->image))
        return key_error(cfg, "image", SECTION_HYPERVISOR, err,
                         "initrd and image are both set: use exactly one");
    if (!is_set(hv->initrd) && !is_set(hv->image))
        return key_error(cfg, "initrd", SECTION_HYPERVISOR, err,
                         "neither initrd nor image is set: use exactly one");
    if (is_set(hv->jailer_path))
        return key_error(cfg, "jailer_path", SECTION_HYPERVISOR, err,
                         "starting Firecracker through its jailer is not implemented: remove "
                         "the key");
    if (needs_daemon && !is_set(hv->virtio_fs_daemon))
        return key_error(cfg, "virtio_fs_daemon", SECTION_HYPERVISOR, err,
                         "shared_fs = \"virtio-fs\" needs the virtio-fs daemon");
    if (flags & KATA_CONFIG_SKIP_ASSETS)
        return 0;
    if (needs_path && check_asset(cfg, "path", hv->path, true, err) < 0)
        return -1;
    if (check_asset(cfg, "kernel", hv->kernel, false, err) < 0)
        return -1;
    if (is_set(hv->initrd) && check_asset(cfg, "initrd", hv->initrd, false, err) < 0)
        return -1;
    if (is_set(hv->image) && check_asset(cfg, "image", hv->image, false, err) < 0)
        return -1;
    if (needs_daemon && check_asset(cfg, "virtio_fs_daemon", hv->virtio_fs_daemon, true, err) < 0)
        return -1;
    return 0;
}

/* What the file or an annotation may ask of the confined daemons. */
static int check_confinement(struct kata_config *cfg, struct kerr **err)
{
    struct kata_hypervisor_config *hv = &cfg->hypervisor;
    const char *bad = NULL, *why = NULL;
    if (kata_virtiofsd_args_check(hv->virtio_fs_extra_args, &bad, &why) < 0)
        return key_error(cfg, "virtio_fs_extra_args", SECTION_HYPERVISOR, err,
                         "virtiofsd option `%s` refused: %s", bad, why);
    if (hv->kind == KATA_HV_QEMU && !kata_qemu_seccomp_sandbox_valid(hv->seccompsandbox))
        return key_error(cfg, "seccompsandbox", SECTION_HYPERVISOR, err,
                         "expected \"\" (no sandbox) or \"on\" followed by "
                         "obsolete=, elevateprivileges=, spawn=, resourcecontrol= with "
                         "allow or deny");
    return 0;
}

int kata_config_validate(struct kata_config *cfg, unsigned flags, struct kerr **err)
{
    struct kata_hypervisor_config *hv = &cfg->hypervisor;
    if (check_choice(cfg, SECTION_HYPERVISOR, "shared_fs", hv->shared_fs, shared_fs_choices, err) <
            0 ||
        check_choice(cfg, SECTION_HYPERVISOR, "block_device_driver", hv->block_device_driver,
                     block_driver_choices, err) < 0 ||
        check_choice(cfg, SECTION_HYPERVISOR, "virtio_fs_cache", hv->virtio_fs_cache,
                     fs_cache_choices, err) < 0 ||
        check_choice(cfg, SECTION_RUNTIME, "internetworking_model",
                     cfg->runtime.internetworking_model, network_choices, err) < 0)
        return -1;
    if ((hv->kind == KATA_HV_QEMU || hv->kind == KATA_HV_STRATOVIRT) &&
        check_choice(cfg, SECTION_HYPERVISOR, "machine_type", hv->machine_type,
                     machine_type_choices, err) < 0)
        return -1;
    if (check_ranges(cfg, err) < 0 || check_confinement(cfg, err) < 0)
        return -1;
    return check_assets(cfg, flags, err);
}
