/* The OCI hooks of a container run on the host, by the daemon (as Kata's
 * runtime does): the guest never gets them, their paths are host paths.
 *   prestart, createRuntime, createContainer: before the agent creates the
 *       container (a failure fails the create);
 *   poststart: after the start (a failure is logged);
 *   poststop: when the container is deleted (a failure is logged).
 * startContainer hooks would have to run inside the container: they are
 * dropped with a warning.  The state's pid is the VMM's, which runs in the
 * container's network namespace; none once the VMM is gone. */
#include "log.h"
#include "oci_hooks.h"
#include "shim.h"

static struct oci_hook_state hook_state(const struct container *c, const char *status)
{
    const struct sandbox *sb = c->shim->sandbox;
    return (struct oci_hook_state){
        .id = c->id,
        .status = status,
        .pid = sb && sb->vm.pid > 0 ? sb->vm.pid : 0,
        .bundle = c->bundle,
    };
}

void container_hooks_take(struct container *c, Grpc__Spec *spec)
{
    c->hooks = spec->hooks;
    spec->hooks = NULL;
    if (c->hooks && c->hooks->n_startcontainer > 0)
        log_warn("container `%s`: %zu startContainer hook(s) ignored: they would run in the guest",
                 c->id, c->hooks->n_startcontainer);
}

int container_hooks_create(struct container *c, struct kerr **err)
{
    static const enum oci_hook_kind kinds[] = {OCI_HOOK_PRESTART, OCI_HOOK_CREATE_RUNTIME,
                                               OCI_HOOK_CREATE_CONTAINER};
    struct oci_hook_state st = hook_state(c, "creating");
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (oci_hooks_run(c->hooks, kinds[i], &st, err) < 0)
            return kerr_wrap(err, "container `%s`", c->id);
    return 0;
}

static void run_logged(struct container *c, enum oci_hook_kind kind, const char *status)
{
    struct oci_hook_state st = hook_state(c, status);
    cleanup_kerr struct kerr *err = NULL;
    if (oci_hooks_run(c->hooks, kind, &st, &err) < 0)
        log_warn("container `%s`: %s", c->id, err->msg);
}

void container_hooks_poststart(struct container *c)
{
    run_logged(c, OCI_HOOK_POSTSTART, "running");
}

void container_hooks_poststop(struct container *c)
{
    run_logged(c, OCI_HOOK_POSTSTOP, "stopped");
}

void container_hooks_free(struct container *c)
{
    if (c->hooks)
        protobuf_c_message_free_unpacked(&c->hooks->base, NULL);
    c->hooks = NULL;
}
