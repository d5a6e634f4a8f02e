/* `delete`: clean up after a daemon that is gone (VMM, virtiofsd, mounts,
 * state dir, socket) and print containerd's DeleteResponse. */
#include "channel.h"
#include "shim.h"
#include "timestamp.pb-c.h"
#include "util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int shim_cmd_delete(const struct shim_options *opts, struct kerr **err)
{
    cleanup_free char *config = xasprintf("%s/config.json", opts->bundle ? opts->bundle : ".");
    cleanup_oci_spec Grpc__Spec *spec = oci_spec_load(config, NULL);
    bool is_sandbox;
    cleanup_free char *sid = shim_sandbox_id_of(spec, opts->id, &is_sandbox);
    cleanup_free char *socket = shim_socket_path(opts->namespace, sid);
    cleanup_free char *root = shim_state_root();
    cleanup_free char *state_dir = xasprintf("%s/%s", root, sid);
    /* The recorded daemon pid decides first: a child the daemon forked and
     * that has not reached exec yet (a publish, the VMM) may hold the
     * listening socket after the daemon died.  Else the daemon must answer
     * (probe.c): a bare connect() can reach one that is being torn down. */
    bool gone = is_sandbox && sandbox_daemon_gone(state_dir);
    if (!gone && shim_daemon_serves(socket)) {
        /* the daemon lives and serves the pod: nothing of ours to clean */
    } else if (is_sandbox) {
        if (sandbox_cleanup_from_state(state_dir, err) < 0)
            return kerr_wrap(err, "delete sandbox `%s`", sid);
        unlink(socket);
    }
    Containerd__Task__V2__DeleteResponse resp = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    uint64_t now = realtime_ns();
    ts.seconds = (int64_t)(now / 1000000000ull);
    ts.nanos = (int32_t)(now % 1000000000ull);
    resp.exit_status = 128 + SIGKILL;
    resp.exited_at = &ts;
    size_t len = protobuf_c_message_get_packed_size(&resp.base);
    cleanup_free uint8_t *buf = xmalloc(len + 1);
    protobuf_c_message_pack(&resp.base, buf);
    fwrite(buf, 1, len, stdout);
    fflush(stdout);
    return 0;
}
