/* The one mapping from the configuration (src/lib/config.h) to the hypervisor
 * layer's struct vm_config.  lib does not know the hypervisor layer; the
 * layer reads the configuration. */
#ifndef KATA_VM_CONFIG_H
#define KATA_VM_CONFIG_H

#include "config.h"
#include "hypervisor.h"

/* Fill every field the configuration decides; run_dir, console_path,
 * shared_dir, disks, networks and the netns are the caller's.  The strings
 * stay owned by cfg, which must outlive vm. */
void vm_config_from_kata(const struct kata_config *cfg, struct vm_config *vm);

#endif
