/* QEMU driver internals exposed for unit tests. */
#ifndef KATA_QEMU_H
#define KATA_QEMU_H

#include "hypervisor.h"

/* The argv QEMU is started with (NULL-terminated; free with qemu_argv_free). */
char **qemu_build_argv(const struct vm *vm, struct kerr **err);
void qemu_argv_free(char **argv);

#endif
