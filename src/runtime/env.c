/* kata-runtime env (kata-env): the settings in use and the host, as TOML (the
 * default) or JSON, with Kata's section and field names. */
#include "config.h"
#include "vm_config.h"
#include "runtime.h"
#include "util.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The format version of this output (Kata's [Meta] Version). */
#define ENV_FORMAT_VERSION "1.0.27"

static void set_str(struct toml_value *t, const char *key, const char *value)
{
    const char *v = value ? value : "";
    toml_table_set(t, key, toml_string_new(v, strlen(v)));
}

static void set_int(struct toml_value *t, const char *key, int64_t value)
{
    toml_table_set(t, key, toml_integer_new(value));
}

static void set_bool(struct toml_value *t, const char *key, bool value)
{
    toml_table_set(t, key, toml_boolean_new(value));
}

static void set_strv(struct toml_value *t, const char *key, char *const *values)
{
    struct toml_value *a = toml_array_new();
    for (size_t i = 0; values && values[i]; i++)
        toml_array_append(a, toml_string_new(values[i], strlen(values[i])));
    toml_table_set(t, key, a);
}

static struct toml_value *sub(struct toml_value *t, const char *key)
{
    struct toml_value *s = toml_table_new();
    toml_table_set(t, key, s);
    return s;
}

static void add_runtime(struct toml_value *doc, const struct kata_config *cfg)
{
    struct toml_value *rt = sub(doc, "Runtime");
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    self[n > 0 ? n : 0] = '\0';
    set_str(rt, "Path", self);
    set_bool(rt, "Debug", cfg->runtime.enable_debug);
    set_str(rt, "InterNetworkModel", cfg->runtime.internetworking_model);
    set_bool(rt, "SandboxCgroupOnly", cfg->runtime.sandbox_cgroup_only);
    set_bool(rt, "DisableNewNetNs", cfg->runtime.disable_new_netns);
    struct toml_value *version = sub(rt, "Version");
    set_str(version, "Semver", KATA_VERSION);
    set_str(version, "Commit", KATA_COMMIT);
    set_str(version, "OCI", OCI_SPEC_VERSION);
    struct toml_value *config = sub(rt, "Config");
    set_str(config, "Path", cfg->path);
    set_strv(config, "DropIns", cfg->dropins);
    set_strv(config, "Warnings", cfg->warnings);
}

/* [Hypervisor.Capabilities]: what the driver can do with this
 * configuration (absent without a driver). */
static void add_capabilities(struct toml_value *hv, const struct vm_capabilities *caps)
{
    if (caps == NULL)
        return;
    struct toml_value *t = sub(hv, "Capabilities");
    static const char *const fs_names[] = {
        [VM_SHARED_FS_NONE] = "none",
        [VM_SHARED_FS_VIRTIO_FS] = "virtio-fs",
        [VM_SHARED_FS_VIRTIO_9P] = "virtio-9p",
    };
    struct toml_value *fs = toml_array_new();
    for (size_t k = 0; k < ARRAY_SIZE(fs_names); k++)
        if (caps->shared_fs & VM_CAP_FS(k))
            toml_array_append(fs, toml_string_new(fs_names[k], strlen(fs_names[k])));
    toml_table_set(t, "SharedFS", fs);
    set_bool(t, "BlockHotplug", caps->blk_hotplug);
    set_bool(t, "SCSIHotplug", caps->scsi_hotplug);
    set_bool(t, "CPUHotplug", caps->cpu_hotplug);
    set_bool(t, "MemoryHotplug", caps->memory_hotplug);
    set_bool(t, "Pause", caps->pause);
    set_bool(t, "NeedsBinary", caps->needs_binary);
    set_bool(t, "RunsWithoutKVM", caps->runs_without_kvm);
    set_str(t, "AgentChannel", caps->agent_channel);
    set_bool(t, "NeedsVhostVsock", caps->needs_vhost_vsock);
    set_bool(t, "TapByName", caps->tap_by_name);
}

/* The configured driver's capabilities; false when this build has no such
 * driver (caps then holds only what the configuration says). */
static bool configured_capabilities(const struct kata_config *cfg, struct vm_capabilities *caps)
{
    const struct kata_hypervisor_config *hv = &cfg->hypervisor;
    const struct hypervisor_ops *ops = hypervisor_find(hv->name);
    *caps = (struct vm_capabilities){.needs_binary = kata_hypervisor_key_applies(hv->kind, "path")};
    if (ops == NULL)
        return false;
    struct vm_config vm_cfg = {0};
    vm_config_from_kata(cfg, &vm_cfg);
    vm_capabilities(ops, &vm_cfg, caps);
    return true;
}

static void add_hypervisor(struct toml_value *doc, const struct kata_config *cfg)
{
    const struct kata_hypervisor_config *hv = &cfg->hypervisor;
    struct toml_value *t = sub(doc, "Hypervisor");
    set_str(t, "Type", hv->name);
    set_str(t, "MachineType", hv->machine_type);
    struct vm_capabilities caps;
    bool known = configured_capabilities(cfg, &caps);
    cleanup_free char *version = NULL;
    if (caps.needs_binary)
        version = host_program_version(hv->path);
    else
        version = xasprintf("built-in VMM (kata-runtime %s)", KATA_VERSION);
    set_str(t, "Version", version ? version : "unknown (could not run the binary)");
    set_str(t, "Path", caps.needs_binary ? hv->path : "built-in");
    set_str(t, "BlockDeviceDriver", hv->block_device_driver);
    set_str(t, "SharedFS", hv->shared_fs);
    set_str(t, "VirtioFSDaemon", hv->virtio_fs_daemon);
    set_str(t, "VirtioFSCache", hv->virtio_fs_cache);
    set_int(t, "DefaultVCPUs", hv->default_vcpus);
    set_int(t, "DefaultMaxVCPUs", hv->default_maxvcpus);
    set_int(t, "DefaultMemory", hv->default_memory);
    set_int(t, "MemorySlots", hv->memory_slots);
    set_bool(t, "DisableVhostNet", hv->disable_vhost_net);
    set_strv(t, "EnableAnnotations", hv->enable_annotations);
    set_bool(t, "Debug", hv->enable_debug);
    add_capabilities(t, known ? &caps : NULL);

    set_str(sub(doc, "Image"), "Path", hv->image);
    struct toml_value *kernel = sub(doc, "Kernel");
    set_str(kernel, "Path", hv->kernel);
    set_str(kernel, "Parameters", hv->kernel_params);
    set_str(sub(doc, "Initrd"), "Path", hv->initrd);

    struct toml_value *agent = sub(doc, "Agent");
    set_bool(agent, "Debug", cfg->agent.enable_debug);
    set_int(agent, "DialTimeout", cfg->agent.dial_timeout);
    set_strv(agent, "KernelModules", cfg->agent.kernel_modules);

    struct toml_value *factory = sub(doc, "Factory");
    set_bool(factory, "VMTemplate", cfg->factory.enable_template);
}

static void add_host(struct toml_value *doc, const struct host_info *host,
                     const struct kata_config *cfg)
{
    struct vm_capabilities caps;
    configured_capabilities(cfg, &caps);
    struct toml_value *t = sub(doc, "Host");
    set_str(t, "Kernel", host->kernel);
    set_str(t, "Architecture", host->arch);
    set_str(t, "Accelerator", host->accel == VM_ACCEL_KVM ? "KVM" : "TCG");
    /* Without KVM, as far as the configured driver runs under TCG. */
    set_bool(t, "VMContainerCapable", host->accel == VM_ACCEL_KVM || caps.runs_without_kvm);
    set_bool(t, "KVMCapable", host->accel == VM_ACCEL_KVM);
    set_bool(t, "SupportVSocks", host->vhost_vsock);
    struct toml_value *distro = sub(t, "Distro");
    set_str(distro, "Name", host->distro_name);
    set_str(distro, "Version", host->distro_version);
    struct toml_value *cpu = sub(t, "CPU");
    set_str(cpu, "Vendor", host->cpu_vendor);
    set_str(cpu, "Model", host->cpu_model);
    set_int(cpu, "CPUs", host->cpus);
    set_str(cpu, "VirtualisationFlag", host->virt_flag);
    struct toml_value *mem = sub(t, "Memory");
    set_int(mem, "Total", (int64_t)host->mem_total_kb);
    set_int(mem, "Free", (int64_t)host->mem_free_kb);
    set_int(mem, "Available", (int64_t)host->mem_available_kb);
}

int cmd_env(int argc, char **argv)
{
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("Usage: kata-runtime env [--json]\n"
                   "Show the configuration in use and the host, as TOML or JSON.\n");
            return 0;
        } else {
            fprintf(stderr, "kata-runtime env: unknown option `%s`\n", argv[i]);
            return 1;
        }
    }
    cleanup_kerr struct kerr *err = NULL;
    cleanup_kata_config struct kata_config *cfg =
        kata_config_load(runtime_opts.config_path, KATA_CONFIG_SKIP_ASSETS, &err);
    if (cfg == NULL) {
        kerr_report(&err, "kata-runtime env", stderr);
        return 1;
    }
    struct host_info host;
    host_info_probe(&host);
    cleanup_toml struct toml_value *doc = toml_table_new();
    set_str(sub(doc, "Meta"), "Version", ENV_FORMAT_VERSION);
    add_runtime(doc, cfg);
    add_hypervisor(doc, cfg);
    add_host(doc, &host, cfg);
    host_info_release(&host);

    if (json) {
        toml_print_json(doc, stdout);
        return 0;
    }
    if (toml_write(doc, stdout, &err) < 0) {
        kerr_report(&err, "kata-runtime env", stderr);
        return 1;
    }
    return 0;
}
