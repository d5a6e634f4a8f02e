/* The runtime's configuration: where it is found, how drop-ins merge into it,
 * and the validated C structure the runtime and the shim use.
 *
 * Lookup (the first that exists wins, symlinks resolved):
 *   1. an explicit path (kata-runtime --config/--kata-config, the shim's
 *      containerd runtime option ConfigPath),
 *   2. $KATA_CONF_FILE,
 *   3. $KATA_ETC_DIR/configuration.toml        (default /etc/kata-containers),
 *   4. $KATA_DEFAULTS_DIR/configuration.toml   (default PREFIX/share/defaults/kata-containers).
 * An explicit path or KATA_CONF_FILE that does not exist is an error, not a
 * fall-through.  Drop-ins: every `*.toml` file in `config.d/` beside the
 * resolved main file, in lexical order, merged key by key (toml_merge).
 *
 *     cleanup_kata_config struct kata_config *cfg = kata_config_load(path, 0, err);
 */
#ifndef KATA_CONFIG_H
#define KATA_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

struct toml_value;

#define KATA_ETC_DIR_DEFAULT      "/etc/kata-containers"
#define KATA_DEFAULTS_DIR_DEFAULT KATA_PREFIX "/share/defaults/kata-containers"
#define KATA_CONFIG_FILE_NAME     "configuration.toml"
#define KATA_DROPIN_DIR_NAME      "config.d"

enum kata_hypervisor_kind {
    KATA_HV_QEMU,
    KATA_HV_CLH,
    KATA_HV_FIRECRACKER,
    KATA_HV_DRAGONBALL,
    KATA_HV_STRATOVIRT,
};

struct kata_hypervisor_config {
    enum kata_hypervisor_kind kind;
    const char *name;  /* section name: "qemu", "clh", "firecracker", ... (static) */
    char *path;        /* NULL for the built-in VMM (dragonball) */
    char *jailer_path; /* firecracker: start it through this jailer (not implemented: refused) */
    char *kernel;
    char *initrd;
    char *image;
    char *machine_type;
    char *kernel_params;
    int default_vcpus; /* after clamping: 1..host CPUs */
    unsigned default_maxvcpus;
    unsigned default_memory; /* MiB */
    unsigned memory_slots;
    char *shared_fs; /* "virtio-fs", "virtio-9p", "none" */
    char *virtio_fs_daemon;
    char **virtio_fs_extra_args;   /* NULL-terminated */
    char *virtio_fs_cache;         /* "never", "metadata", "auto", "always" */
    char *block_device_driver;     /* "virtio-blk", "virtio-scsi", "virtio-mmio", "nvdimm" */
    bool disable_block_device_use; /* never give a container's block rootfs to the VM as a disk */
    bool enable_debug;
    bool disable_vhost_net;
    bool virtio_mmio_cmdline;      /* dragonball: virtio-mmio devices on the kernel command line */
    char **enable_annotations;     /* NULL-terminated regular expressions */
    char **valid_hypervisor_paths; /* NULL-terminated glob(3) patterns */
    char **valid_virtio_fs_daemon_paths; /* NULL-terminated glob(3) patterns */
    char **valid_guest_asset_paths;      /* kernel, initrd, image annotations: glob(3) */
    char *seccompsandbox;                /* qemu: `-sandbox` value; "" disables it */
    bool rootless;                       /* qemu: run QEMU as an unprivileged user */
};

struct kata_agent_config {
    bool enable_debug;
    unsigned dial_timeout; /* seconds */
    char **kernel_modules; /* NULL-terminated */
};

struct kata_runtime_config {
    bool enable_debug;
    char *internetworking_model; /* "tcfilter", "macvtap", "none" */
    bool sandbox_cgroup_only;
    bool disable_new_netns;
};

struct kata_factory_config {
    bool enable_template;
};

struct kata_config {
    char *path;      /* the main file, symlinks resolved */
    char **dropins;  /* NULL-terminated, in the order they were merged */
    char **warnings; /* NULL-terminated; each was also logged with log_warn */
    struct kata_hypervisor_config hypervisor;
    struct kata_agent_config agent;
    struct kata_runtime_config runtime;
    struct kata_factory_config factory;
    struct toml_value *origins; /* private: where each key was set */
};

enum {
    /* Do not require path, kernel, initrd, image and virtio_fs_daemon to
     * exist (kata-runtime env and check report them instead). */
    KATA_CONFIG_SKIP_ASSETS = 1u << 0,
};

/* The roots, from $KATA_ETC_DIR and $KATA_DEFAULTS_DIR or the defaults. */
const char *kata_config_etc_dir(void);
const char *kata_config_defaults_dir(void);

/* The default lookup list in priority order (NULL-terminated, malloc'd):
 * what `kata-runtime --show-default-config-paths` prints. */
char **kata_config_default_paths(void);

/* Find the main file (see above).  Returns the resolved path, malloc'd. */
char *kata_config_find(const char *explicit_path, struct kerr **err);

/* The merged document: the main file (resolved) and its drop-ins. */
struct toml_value *kata_config_read(const char *main_path, char ***dropins, struct kerr **err);

/* Find, read, merge and validate. */
struct kata_config *kata_config_load(const char *explicit_path, unsigned flags, struct kerr **err);

/* Validate a merged document into a config (path is recorded as cfg->path). */
struct kata_config *kata_config_from_toml(const struct toml_value *doc, const char *path,
                                          unsigned flags, struct kerr **err);

/* Check a config's values (enumerations, contradictions, ranges, assets).
 * kata_config_from_toml() and kata_config_apply_annotations() call it. */
int kata_config_validate(struct kata_config *cfg, unsigned flags, struct kerr **err);

/* Apply the pod's annotations io.katacontainers.config.<section>.<key>: only
 * keys allowed by enable_annotations (hypervisor keys by their base name,
 * "agent.<key>" and "runtime.<key>" for the others); a path-valued key must
 * also match valid_hypervisor_paths / valid_virtio_fs_daemon_paths.  Other
 * annotations are ignored.  keys and values have n entries. */
int kata_config_apply_annotations(struct kata_config *cfg, const char *const *keys,
                                  const char *const *values, size_t n, unsigned flags,
                                  struct kerr **err);

void kata_config_free(struct kata_config *cfg);

/* QEMU's seccomp sandbox when the configuration does not say (Kata's
 * recommended value; `seccompsandbox = ""` disables it). */
#define KATA_QEMU_SECCOMP_SANDBOX_DEFAULT                                                          \
    "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"

/* Is one virtiofsd argument of virtio_fs_extra_args safe?  NULL when it is,
 * else why not (static text).  `-o` takes the next argument: pass it as
 * `next` (NULL if none); *consumed tells whether it was used.  Only options
 * known not to change virtiofsd's source, sandbox, capabilities, socket or
 * privileges are allowed, long options in the `--name=value` form. */
const char *kata_virtiofsd_arg_refusal(const char *arg, const char *next, bool *consumed,
                                       const char **bad_option);

/* Check a whole virtio_fs_extra_args list: 0, or -1 with *bad set to the
 * offending option (pointing into args) and *why to the reason. */
int kata_virtiofsd_args_check(char *const *args, const char **bad, const char **why);

/* Is a seccompsandbox value well formed ("" or "on|off[,name=value...]" with
 * QEMU 7.2's names and values)? */
bool kata_qemu_seccomp_sandbox_valid(const char *value);

static inline void cleanup_kata_config_fn(struct kata_config **cfg)
{
    kata_config_free(*cfg);
}
#define cleanup_kata_config __attribute__((cleanup(cleanup_kata_config_fn)))

/* Helpers shared by the config files and kata-manager. */
const char *kata_hypervisor_kind_name(enum kata_hypervisor_kind kind);
/* Whether [hypervisor.KIND] reads `key` (the configuration table): "path"
 * is not read for a built-in VMM, nor "virtio_fs_daemon". */
bool kata_hypervisor_key_applies(enum kata_hypervisor_kind kind, const char *key);
void kata_strv_free(char **v);
size_t kata_strv_len(char *const *v);
void kata_strv_push(char ***v, char *s); /* takes ownership of s */

#endif
