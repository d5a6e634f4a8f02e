/* Where a sandbox's socket, state and shared directory live. */
#include "daemon_paths.h"
#include "shim.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* 64-bit FNV-1a: the socket name only has to be stable and short (a unix
 * socket path has 108 bytes), not secret. */
static uint64_t fnv1a(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

char *shim_socket_path(const char *namespace, const char *sandbox_id)
{
    cleanup_free char *key = xasprintf("%s/%s", namespace, sandbox_id);
    return xasprintf("%s/%016llx.sock", daemon_dir(DAEMON_DIR_SOCKETS),
                     (unsigned long long)fnv1a(key));
}

char *shim_state_root(void)
{
    return xstrdup(daemon_dir(DAEMON_DIR_STATE));
}

char *shim_shared_root(void)
{
    return xstrdup(daemon_dir(DAEMON_DIR_SHARED));
}

static const struct {
    const char *type_key, *sandbox_key;
} pod_annotations[] = {
    {"io.kubernetes.cri.container-type", "io.kubernetes.cri.sandbox-id"},
    {"io.kubernetes.cri-o.ContainerType", "io.kubernetes.cri-o.SandboxID"},
};

char *shim_sandbox_id_of(const Grpc__Spec *spec, const char *id, bool *is_sandbox)
{
    *is_sandbox = true;
    for (size_t i = 0; spec && i < ARRAY_SIZE(pod_annotations); i++) {
        const char *type = oci_spec_annotation(spec, pod_annotations[i].type_key);
        const char *sid = oci_spec_annotation(spec, pod_annotations[i].sandbox_key);
        if (type && strcmp(type, "container") == 0 && sid && *sid) {
            *is_sandbox = false;
            return xstrdup(sid);
        }
    }
    return xstrdup(id);
}

uint64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
