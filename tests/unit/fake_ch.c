/* fake-ch: a stand-in for Cloud Hypervisor that test_clh starts as the clh
 * driver's `path`: `fake-ch --api-socket PATH [-v]` answers the API routes
 * the driver uses with the VM states of the document, and serves hybrid vsock
 * on the vsock socket vm.create names (the core: fake_http.c).  Each request is appended to
 * $FAKE_CH_LOG as "METHOD PATH fds=N".  $FAKE_CH_MODE picks a misbehaviour: ok          as above;
 * vmm.shutdown exits 0 die         exits 1 at once, saying why on stderr silent      accepts
 * connections and never answers create-400  refuses vm.create with a text error */
#include "fake_http.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *state = NULL; /* NULL: no VM yet */

static void remember_vsock(const char *body)
{
    struct json_object *o = json_tokener_parse(body), *v, *s;
    if (o && json_object_object_get_ex(o, "vsock", &v) &&
        json_object_object_get_ex(v, "socket", &s))
        snprintf(fake_vsock_path, sizeof(fake_vsock_path), "%s", json_object_get_string(s));
    json_object_put(o);
}

static void info(int fd)
{
    if (state == NULL) {
        fake_answer(fd, 404, "VM is not created");
        return;
    }
    char body[256];
    snprintf(body, sizeof(body), "{\"config\":{\"payload\":{}},\"state\":\"%s\"}", state);
    fake_answer(fd, 200, body);
}

/* Returns true when the VMM must exit after this request. */
static bool serve(int fd, const struct fake_request *req, const char *mode)
{
    const char *method = req->method, *path = req->path, *body = req->body;
    const char *log = getenv("FAKE_CH_LOG");
    FILE *f = log ? fopen(log, "ae") : NULL;
    if (f) {
        fprintf(f, "%s %s fds=%d\n", method, path, req->n_fds);
        fclose(f);
    }
    bool put = strcmp(method, "PUT") == 0;
    if (strcmp(path, "/api/v1/vmm.ping") == 0) {
        fake_answer(fd, 200, "{\"version\":\"fake\"}");
    } else if (put && strcmp(path, "/api/v1/vm.create") == 0) {
        if (strcmp(mode, "create-400") == 0) {
            fake_answer(fd, 400, "Error creating VM: InvalidPayload(\"no \x1b kernel\")\n");
        } else {
            remember_vsock(body);
            state = "Created";
            fake_answer(fd, 204, NULL);
        }
    } else if (strcmp(path, "/api/v1/vm.info") == 0) {
        info(fd);
    } else if (put && strcmp(path, "/api/v1/vm.add-net") == 0) {
        fake_answer(fd, req->n_fds == 1 ? 204 : 400, req->n_fds == 1 ? NULL : "expected one fd");
    } else if (put && strcmp(path, "/api/v1/vm.boot") == 0) {
        if (*body) {
            fake_answer(fd, 400, "vm.boot takes no body");
        } else {
            state = "Running";
            fake_vsock_listen();
            fake_answer(fd, 204, NULL);
        }
    } else if (put && strcmp(path, "/api/v1/vm.shutdown") == 0) {
        state = "Shutdown";
        fake_answer(fd, 204, NULL);
    } else if (put && strcmp(path, "/api/v1/vmm.shutdown") == 0) {
        fake_answer(fd, 200, NULL);
        return true;
    } else {
        fake_answer(fd, 404, "no such route");
    }
    return false;
}

int main(int argc, char **argv)
{
    const char *mode = getenv("FAKE_CH_MODE") ? getenv("FAKE_CH_MODE") : "ok";
    if (argc < 3 || strcmp(argv[1], "--api-socket") != 0) {
        fprintf(stderr, "usage: fake-ch --api-socket PATH\n");
        return 2;
    }
    if (strcmp(mode, "die") == 0) {
        fprintf(stderr, "fake-ch: Error: cannot open /dev/kvm \x1b[1m(No such file)\n");
        return 1;
    }
    static const struct fake_vmm ch = {.name = "fake-ch", .serve = serve};
    return fake_http_run(&ch, argv[2], mode);
}
