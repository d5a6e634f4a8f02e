/* From the configuration to struct vm_config (see vm_config.h). */
#include "vm_config.h"

static const char *set_or_null(const char *s)
{
    return s && *s ? s : NULL;
}

void vm_config_from_kata(const struct kata_config *cfg, struct vm_config *vm)
{
    const struct kata_hypervisor_config *hv = &cfg->hypervisor;
    vm->hypervisor_path = hv->path;
    vm->jailer_path = set_or_null(hv->jailer_path);
    vm->kernel = hv->kernel;
    vm->initrd = set_or_null(hv->initrd);
    vm->image = set_or_null(hv->image);
    vm->machine_type = hv->machine_type;
    vm->vcpus = hv->default_vcpus > 0 ? (unsigned)hv->default_vcpus : 1;
    vm->max_vcpus = hv->default_maxvcpus;
    vm->memory_mb = hv->default_memory;
    vm->kernel_params = set_or_null(hv->kernel_params);
    vm->agent_params = cfg->agent.enable_debug ? "agent.log=debug" : NULL;
    vm->debug = hv->enable_debug;
    vm->seccomp_sandbox = set_or_null(hv->seccompsandbox);
    vm->rootless = hv->rootless;
    vm->shared_fs = hv->shared_fs;
    vm->disable_vhost_net = hv->disable_vhost_net;
    vm->virtio_mmio_cmdline = hv->virtio_mmio_cmdline;
    vm->virtiofsd_path = set_or_null(hv->virtio_fs_daemon);
    vm->virtiofs_cache = hv->virtio_fs_cache;
    vm->virtiofsd_extra_args = (const char *const *)hv->virtio_fs_extra_args;
}
