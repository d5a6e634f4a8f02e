/* Shared between config_parse.c, config_validate.c and config_annotations.c. */
#ifndef KATA_CONFIG_INTERNAL_H
#define KATA_CONFIG_INTERNAL_H

#include "config.h"
#include "toml.h"

enum config_key_type { KEY_STRING, KEY_BOOL, KEY_INT, KEY_UINT, KEY_STRV };

enum config_section { SECTION_HYPERVISOR, SECTION_AGENT, SECTION_RUNTIME, SECTION_FACTORY };

#define HV_BIT(kind) (1u << (kind))
#define HV_ALL       0x1fu

struct config_key {
    enum config_section section;
    const char *name;
    enum config_key_type type;
    size_t offset;    /* of the field in struct kata_config */
    unsigned hv_mask; /* hypervisor keys: which hypervisors use it */
};

extern const struct config_key config_keys[];
extern const size_t config_key_count;

const struct config_key *config_key_find(enum config_section section, const char *name);

/* "[hypervisor.qemu]", "[agent.kata]", "[runtime]", "[factory]". */
char *config_section_header(const struct kata_config *cfg, enum config_section section);

/* Where a key's value came from ("FILE:LINE" or "annotation NAME"); the main
 * file when the key was not set. */
const char *config_origin(const struct kata_config *cfg, const struct config_key *key);
void config_set_origin(struct kata_config *cfg, const struct config_key *key, char *origin);

/* The field's value as TOML would write it (malloc'd). */
char *config_value_repr(const struct kata_config *cfg, const struct config_key *key);

/* Store a TOML value into the field, checking its type.  origin is used in
 * the error message. */
int config_store(struct kata_config *cfg, const struct config_key *key, const struct toml_value *v,
                 const char *origin, struct kerr **err);

/* Record and log a warning. */
void config_warn(struct kata_config *cfg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Private part of struct kata_config: key origins, kept in a TOML table
 * "section.key" -> string. */
struct toml_value *config_origins(struct kata_config *cfg);

#endif
