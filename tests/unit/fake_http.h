/* The core of a stand-in VMM with an HTTP API on a unix socket (fake_ch.c,
 * fake_fc.c): it accepts one request per connection and hands it to the
 * VMM's route handler, and serves hybrid vsock (`CONNECT <port>\n` ->
 * `OK <n>\n`) on fake_vsock_path once the handler called fake_vsock_listen.
 * Test-only. */
#ifndef KATA_FAKE_HTTP_H
#define KATA_FAKE_HTTP_H

#include <stdbool.h>
#include <sys/un.h>

struct fake_request {
    const char *method, *path, *body; /* body: "" when there is none */
    int n_fds;                        /* fds that came with it (closed) */
};

struct fake_vmm {
    const char *name;         /* in messages: "fake-ch" */
    const char *content_type; /* of every answer; NULL: none */
    /* Answers one request (fake_answer); true when the VMM must exit after
     * it.  mode: the misbehaviour the test picked. */
    bool (*serve)(int fd, const struct fake_request *req, const char *mode);
};

/* Where the guest's hybrid vsock is to listen (set by the handler). */
extern char fake_vsock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

/* Listen on fake_vsock_path (when set). */
void fake_vsock_listen(void);

void fake_answer(int fd, int status, const char *body);

/* Serve the API on api_path until a handler says to exit: then both
 * sockets' paths go and it returns 0.  Mode "silent": connections are
 * accepted and never answered.  1 when poll fails. */
int fake_http_run(const struct fake_vmm *vmm, const char *api_path, const char *mode);

#endif
