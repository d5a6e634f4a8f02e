/* The OCI runtime spec (a bundle's config.json) as the agent's Grpc__Spec.
 * The bundle is untrusted input: size and nesting are bounded, every value is
 * type-checked, and errors name the JSON path ("process.args[0]: expected a
 * string"). */
#ifndef KATA_OCI_SPEC_H
#define KATA_OCI_SPEC_H

#include <stddef.h>

#include "error.h"
#include "oci.pb-c.h"

#define OCI_SPEC_MAX_SIZE (4u << 20)

Grpc__Spec *oci_spec_parse(const char *json, size_t len, struct kerr **err);
/* Read and parse PATH (at most OCI_SPEC_MAX_SIZE bytes). */
Grpc__Spec *oci_spec_load(const char *path, struct kerr **err);
void oci_spec_free(Grpc__Spec *spec);
static inline void cleanup_oci_spec_fn(Grpc__Spec **s)
{
    oci_spec_free(*s);
}
#define cleanup_oci_spec __attribute__((cleanup(cleanup_oci_spec_fn)))

/* The value of annotation key, or NULL. */
const char *oci_spec_annotation(const Grpc__Spec *spec, const char *key);

/* An OCI Process (exec's spec, JSON) as Grpc__Process. */
Grpc__Process *oci_process_parse(const char *json, size_t len, struct kerr **err);
/* OCI LinuxResources (update's resources, JSON). */
Grpc__LinuxResources *oci_resources_parse(const char *json, size_t len, struct kerr **err);

#endif
