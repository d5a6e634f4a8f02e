/* libFuzzer target: arbitrary bytes as QMP replies.  A line parses to a JSON
 * object or fails with a message; then the whole input is served as a QEMU
 * (or a StratoVirt) over a socketpair (greeting, capabilities, query-status) and the client
 * must neither crash nor hang (the deadline bounds it). */
#include "qmp.h"
#include "util.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cleanup_kerr struct kerr *err = NULL;
    struct json_object *obj = qmp_parse_line((const char *)data, size, &err);
    if (obj == NULL && (err == NULL || err->msg == NULL))
        abort();
    json_object_put(obj);
    kerr_clear(&err);

    if (size > 65536)
        return 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    fd_write_full(sv[1], data, size);
    shutdown(sv[1], SHUT_WR);
    /* QEMU's numeric ids or StratoVirt's string ids, by the first byte. */
    enum qmp_id_kind ids = size > 0 && (data[0] & 1) ? QMP_ID_STRING : QMP_ID_NUMBER;
    struct qmp *q = qmp_open_ids(sv[0], ids, 100000000ull, &err);
    if (q == NULL) {
        if (err == NULL || err->msg == NULL)
            abort();
    } else {
        char *status = NULL;
        bool running;
        if (qmp_query_status(q, &status, &running, 100000000ull, NULL) == 0 && status == NULL)
            abort();
        free(status);
        qmp_close(q);
    }
    close(sv[1]);
    return 0;
}
