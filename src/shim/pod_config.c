/* The sandbox's configuration from its pod: the io.katacontainers.config.*
 * annotations the configuration's enable_annotations allows, and the VM's size
 * from the CRI sandbox annotations containerd sets (Kata's static sandbox
 * sizing: the pod's CPU and memory are added to the default VM's). */
#include "vm_config.h"
#include "shim.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CRI_CPU_QUOTA  "io.kubernetes.cri.sandbox-cpu-quota"
#define CRI_CPU_PERIOD "io.kubernetes.cri.sandbox-cpu-period"
#define CRI_MEMORY     "io.kubernetes.cri.sandbox-memory"
#define MEMORY_MAX_MB  (1u << 20) /* 1 TiB: beyond it the annotation is nonsense */

static const char *annotation(const Grpc__Spec *spec, const char *key)
{
    for (size_t i = 0; spec && i < spec->n_annotations; i++)
        if (strcmp(spec->annotations[i]->key, key) == 0)
            return spec->annotations[i]->value;
    return NULL;
}

/* A decimal annotation; absent or empty is 0, anything else malformed an error. */
static int annotation_u64(const Grpc__Spec *spec, const char *key, uint64_t *out, struct kerr **err)
{
    const char *v = annotation(spec, key);
    *out = 0;
    if (v == NULL || *v == '\0')
        return 0;
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || *end || n < -1)
        return kerr_make(err, EINVAL, "annotation `%s`: `%s` is not a number", key, v);
    *out = n > 0 ? (uint64_t)n : 0; /* -1: no limit */
    return 0;
}

int pod_config_apply(struct kata_config *cfg, const Grpc__Spec *spec, struct kerr **err)
{
    size_t n = spec ? spec->n_annotations : 0;
    if (n == 0)
        return 0;
    const char **keys = xcalloc(n, sizeof(*keys));
    const char **values = xcalloc(n, sizeof(*values));
    for (size_t i = 0; i < n; i++) {
        keys[i] = spec->annotations[i]->key;
        values[i] = spec->annotations[i]->value;
    }
    int r = kata_config_apply_annotations(cfg, keys, values, n, 0, err);
    free(keys);
    free(values);
    return r < 0 ? kerr_wrap(err, "pod annotations") : 0;
}

int pod_vm_size(struct vm_config *v, const struct kata_config *cfg, const Grpc__Spec *spec,
                struct kerr **err)
{
    uint64_t quota, period, memory;
    if (annotation_u64(spec, CRI_CPU_QUOTA, &quota, err) < 0 ||
        annotation_u64(spec, CRI_CPU_PERIOD, &period, err) < 0 ||
        annotation_u64(spec, CRI_MEMORY, &memory, err) < 0)
        return -1;
    if (quota > 0 && period > 0) {
        uint64_t cpus = (quota + period - 1) / period;
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        uint64_t max = cfg->hypervisor.default_maxvcpus ? cfg->hypervisor.default_maxvcpus
                                                        : (uint64_t)(online > 0 ? online : 1);
        v->vcpus =
            (unsigned)(v->vcpus + cpus > max ? (max > v->vcpus ? max : v->vcpus) : v->vcpus + cpus);
    }
    if (memory > 0) {
        uint64_t mb = (memory + (1u << 20) - 1) >> 20;
        if (mb > MEMORY_MAX_MB)
            return kerr_make(err, EINVAL, "annotation `%s`: %" PRIu64 " bytes is too much",
                             CRI_MEMORY, memory);
        v->memory_mb += (unsigned)mb;
    }
    return 0;
}
