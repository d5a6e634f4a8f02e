/* kata-manager: listing and switching configurations (manager.c). */
#ifndef KATA_MANAGER_H
#define KATA_MANAGER_H

#include <stdbool.h>
#include <stdio.h>

#include "error.h"

/* qemu, clh, fc, dragonball, stratovirt or default. */
bool manager_name_known(const char *name);

/* -L: the packaged configurations, the active one marked with `*`. */
int manager_list_packaged(FILE *out, struct kerr **err);

/* -e: the local configurations, modified ones and the active one marked. */
int manager_list_local(FILE *out, struct kerr **err);

/* -S NAME: copy the pristine file into the local directory and point
 * configuration.toml at it; "default" removes that link so the packaged
 * default applies.  Refuses to overwrite a locally modified copy or a regular
 * configuration.toml unless force, and then backs them up first. */
int manager_switch(const char *name, bool force, FILE *out, struct kerr **err);

#endif
