/* From the configuration to the hypervisor layer's struct vm_config.
 * Header-only: only code that links the hypervisor layer (the shim, the
 * runtime, tests) includes it, and libkata does not depend on that layer. */
#ifndef KATA_CONFIG_VM_H
#define KATA_CONFIG_VM_H

#include "config.h"
#include "hypervisor.h"

/* Fill the fields the configuration decides; run_dir is the caller's.  The
 * strings stay owned by cfg, which must outlive vm. */
static inline void kata_config_fill_vm(const struct kata_config *cfg, struct vm_config *vm)
{
    const struct kata_hypervisor_config *hv = &cfg->hypervisor;
    vm->hypervisor_path = hv->path;
    vm->kernel = hv->kernel;
    vm->initrd = hv->initrd && *hv->initrd ? hv->initrd : NULL;
    vm->image = hv->image && *hv->image ? hv->image : NULL;
    vm->machine_type = hv->machine_type;
    vm->vcpus = hv->default_vcpus > 0 ? (unsigned)hv->default_vcpus : 1;
    vm->memory_mb = hv->default_memory;
    vm->kernel_params = hv->kernel_params && *hv->kernel_params ? hv->kernel_params : NULL;
    vm->agent_params = cfg->agent.enable_debug ? "agent.log=debug" : NULL;
    vm->debug = hv->enable_debug;
    vm->seccomp_sandbox = hv->seccompsandbox && *hv->seccompsandbox ? hv->seccompsandbox : NULL;
    vm->rootless = hv->rootless;
}

#endif
