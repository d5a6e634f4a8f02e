/* libFuzzer target: arbitrary bytes as requests to the built-in VMM's control
 * socket.  The HTTP parser must take a request, ask for more or refuse it
 * with a status; a complete request goes through the route table (no VM is
 * ever booted: vm.boot is skipped), so JSON bodies reach the configuration
 * parser.  Every answer must be a known status with a JSON body or none. */
#include "api.h"
#include "api_http.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct loop *loop;
    if (loop == NULL)
        loop = loop_new(NULL);
    struct vmm_api *api = vmm_api_new(loop, NULL, false, NULL, NULL, NULL);
    if (api == NULL)
        abort();
    const char *buf = (const char *)data;
    size_t at = 0;
    while (at < size) {
        struct http_request req;
        int status = 0;
        cleanup_kerr struct kerr *err = NULL;
        ssize_t used = http_request_parse(buf + at, size - at, &req, &status, &err);
        if (used < 0) {
            if (err == NULL || (status != 400 && status != 411 && status != 413 && status != 505))
                abort();
            break;
        }
        if (used == 0)
            break;
        if ((size_t)used > size - at || req.body_len > (size_t)used)
            abort();
        at += (size_t)used;
        if (strcmp(req.path, "/api/v1/vm.boot") == 0)
            continue; /* no VMs here */
        char *body = NULL;
        int code = vmm_api_handle(api, &req, &body);
        if (code != 200 && code != 204 && code != 400 && code != 404 && code != 405 &&
            code != 409 && code != 500 && code != 501)
            abort();
        if ((code >= 400) != (body != NULL && strstr(body, "\"error\"") != NULL) && code != 200)
            abort();
        free(body);
    }
    vmm_api_free(api);
    return 0;
}
