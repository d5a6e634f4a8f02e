/* OCI hooks in the guest: the container's state for src/lib/oci_hooks.c. */
#include "hooks.h"
#include "container.h"
#include "log.h"
#include "util.h"

int hooks_run_spec(const Grpc__Spec *spec, enum oci_hook_kind kind, const char *id,
                   const char *status, pid_t pid, const char *bundle, struct kerr **err)
{
    struct oci_hook_state st = {.id = id, .status = status, .pid = pid, .bundle = bundle};
    return oci_hooks_run(spec ? spec->hooks : NULL, kind, &st, err);
}

static const char *status_name(const struct container *c)
{
    switch (c->state) {
    case CONTAINER_CREATED:
        return "created";
    case CONTAINER_RUNNING:
        return "running";
    case CONTAINER_PAUSED:
        return "paused";
    case CONTAINER_STOPPED:
        break;
    }
    return "stopped";
}

int hooks_run(struct container *c, enum oci_hook_kind kind, struct kerr **err)
{
    pid_t pid = c->init ? c->init->pid : 0;
    return hooks_run_spec(c->spec, kind, c->id, status_name(c), pid, c->bundle_root, err);
}

void hooks_run_poststop(struct container *c)
{
    cleanup_kerr struct kerr *err = NULL;
    if (hooks_run(c, OCI_HOOK_POSTSTOP, &err) < 0)
        log_warn("container `%s`: %s", c->id, err->msg);
}
