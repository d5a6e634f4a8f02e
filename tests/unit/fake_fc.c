/* fake-fc: a stand-in for Firecracker that test_fc starts as the firecracker
 * driver's `path`: `fake-fc --api-sock PATH --id ID` answers the API routes
 * the driver uses (the core: fake_http.c), with the instance states of
 * the document ("Not started", "Running", "Paused"), refuses pre-boot routes
 * after InstanceStart and PATCH /drives before it (as Firecracker does, with
 * {"fault_message"} bodies), and serves hybrid vsock (`CONNECT <port>\n` ->
 * `OK <n>\n`) on the uds_path PUT /vsock named once started.  Each request is
 * appended to $FAKE_FC_LOG as "METHOD PATH BODY".  $FAKE_FC_MODE picks a
 * misbehaviour:
 *   ok          as above; SendCtrlAltDel ends the VM: exits 0
 *   die         exits 1 at once, saying why on stderr
 *   silent      accepts connections and never answers
 *   boot-400    refuses PUT /boot-source
 *   deaf        takes SendCtrlAltDel but never exits (killed after the grace) */
#include "fake_http.h"

#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *state = "Not started";

static void fault(int fd, const char *msg)
{
    char body[512];
    snprintf(body, sizeof(body), "{\"fault_message\":\"%s\"}", msg);
    fake_answer(fd, 400, body);
}

static const char *field(struct json_object *o, const char *key)
{
    struct json_object *v;
    return o && json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

static bool started(void)
{
    return strcmp(state, "Not started") != 0;
}

/* PUT /actions; true when the VMM must exit. */
static bool action(int fd, const char *type, const char *mode)
{
    if (type && strcmp(type, "InstanceStart") == 0 && !started()) {
        state = "Running";
        fake_vsock_listen();
        fake_answer(fd, 204, NULL);
    } else if (type && strcmp(type, "SendCtrlAltDel") == 0 && started()) {
        fake_answer(fd, 204, NULL);
        return strcmp(mode, "deaf") != 0;
    } else {
        fault(fd, "The requested operation is not supported before starting the microVM.");
    }
    return false;
}

/* Returns true when the VMM must exit after this request. */
static bool serve(int fd, const struct fake_request *req, const char *mode)
{
    const char *method = req->method, *path = req->path, *body = req->body;
    const char *log = getenv("FAKE_FC_LOG");
    FILE *f = log ? fopen(log, "ae") : NULL;
    if (f) {
        fprintf(f, "%s %s %s\n", method, path, body);
        fclose(f);
    }
    struct json_object *o = *body ? json_tokener_parse(body) : NULL;
    bool put = strcmp(method, "PUT") == 0, patch = strcmp(method, "PATCH") == 0, quit = false;
    if (strcmp(method, "GET") == 0 && strcmp(path, "/") == 0) {
        char info[256];
        snprintf(info, sizeof(info),
                 "{\"app_name\":\"Firecracker\",\"id\":\"fake\",\"state\":\"%s\","
                 "\"vmm_version\":\"1.0.0\"}",
                 state);
        fake_answer(fd, 200, info);
    } else if (put && strcmp(path, "/actions") == 0) {
        quit = action(fd, field(o, "action_type"), mode);
    } else if (put && started()) {
        fault(fd, "The requested operation is not supported after starting the microVM.");
    } else if (put && strcmp(path, "/boot-source") == 0 && strcmp(mode, "boot-400") == 0) {
        fault(fd, "Invalid kernel path: No such \\u001b file");
    } else if (put && strcmp(path, "/vsock") == 0) {
        snprintf(fake_vsock_path, sizeof(fake_vsock_path), "%s",
                 field(o, "uds_path") ? field(o, "uds_path") : "");
        fake_answer(fd, 204, NULL);
    } else if (put && (strcmp(path, "/logger") == 0 || strcmp(path, "/metrics") == 0)) {
        /* As Firecracker: open the path (read-write, non-blocking) and write to it. */
        const char *p = field(o, strcmp(path, "/logger") == 0 ? "log_path" : "metrics_path");
        int out = p ? open(p, O_RDWR | O_NONBLOCK | O_CLOEXEC) : -1;
        if (out < 0) {
            fault(fd, "Cannot open the log or metrics file");
        } else {
            dprintf(out, "fake-fc %s up\n", path);
            fake_answer(fd, 204, NULL); /* out stays open until we exit */
        }
    } else if (put && (strcmp(path, "/logger") == 0 || strcmp(path, "/metrics") == 0 ||
                       strcmp(path, "/machine-config") == 0 || strcmp(path, "/boot-source") == 0 ||
                       strncmp(path, "/drives/", 8) == 0 ||
                       strncmp(path, "/network-interfaces/", 20) == 0)) {
        fake_answer(fd, 204, NULL);
    } else if (patch && strncmp(path, "/drives/", 8) == 0) {
        if (!started())
            fault(fd, "The requested operation is not supported before starting the microVM.");
        else
            fake_answer(fd, 204, NULL);
    } else if (patch && strcmp(path, "/vm") == 0 && started()) {
        const char *want = field(o, "state");
        if (want && strcmp(want, "Paused") == 0) {
            state = "Paused";
            fake_answer(fd, 204, NULL);
        } else if (want && strcmp(want, "Resumed") == 0 && strcmp(state, "Paused") == 0) {
            state = "Running";
            fake_answer(fd, 204, NULL);
        } else {
            fault(fd, "Resume: the microVM is not paused");
        }
    } else {
        fake_answer(fd, 400, "{\"fault_message\":\"Invalid request method and/or path\"}");
    }
    json_object_put(o);
    return quit;
}

int main(int argc, char **argv)
{
    const char *mode = getenv("FAKE_FC_MODE") ? getenv("FAKE_FC_MODE") : "ok";
    if (argc != 5 || strcmp(argv[1], "--api-sock") != 0 || strcmp(argv[3], "--id") != 0) {
        fprintf(stderr, "usage: fake-fc --api-sock PATH --id ID\n");
        return 153;
    }
    if (strcmp(mode, "die") == 0) {
        fprintf(stderr, "fake-fc: Error: cannot open /dev/kvm \x1b[1m(No such file)\n");
        return 1;
    }
    static const struct fake_vmm fc = {
        .name = "fake-fc", .content_type = "application/json", .serve = serve};
    return fake_http_run(&fc, argv[2], mode);
}
