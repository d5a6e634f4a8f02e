/* libFuzzer target: bytes from a hostile peer into a ttrpc server whose
 * method table holds every grpc.AgentService and grpc.Health method (built
 * from the generated service descriptors), so the frame parser, the request
 * envelope and every request message the agent unpacks are exercised. */
#include "agent.pb-c.h"
#include "health.pb-c.h"
#include "ttrpc.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct ttrpc_method *methods;
static size_t n_methods;

static void repack_and_refuse(struct ttrpc_call *call, const ProtobufCMessage *req, void *data)
{
    /* What was unpacked must pack again. */
    size_t len = protobuf_c_message_get_packed_size(req);
    uint8_t *buf = xmalloc(len);
    protobuf_c_message_pack(req, buf);
    free(buf);
    ttrpc_call_fail(call, TTRPC_UNIMPLEMENTED, "fuzzing");
}

static void add_service(const ProtobufCServiceDescriptor *svc)
{
    methods = xrealloc(methods, (n_methods + svc->n_methods) * sizeof(*methods));
    for (unsigned i = 0; i < svc->n_methods; i++)
        methods[n_methods++] = (struct ttrpc_method){
            .service = svc->name,
            .method = svc->methods[i].name,
            .input = svc->methods[i].input,
            .handler = repack_and_refuse,
        };
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (methods == NULL) {
        add_service(&grpc__agent_service__descriptor);
        add_service(&grpc__health__descriptor);
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return 0;
    struct loop *loop = loop_new(NULL);
    struct ttrpc_server *server = ttrpc_server_new(loop, methods, n_methods, NULL);
    ttrpc_server_add_stream(server, sv[0], false, NULL);
    fd_set_nonblock(sv[1], true);
    size_t off = 0;
    uint8_t sink[65536];
    for (int rounds = 0; rounds < 10000; rounds++) {
        if (off < size) {
            ssize_t n = write(sv[1], data + off, size - off);
            if (n > 0)
                off += (size_t)n;
        } else if (off == size) {
            shutdown(sv[1], SHUT_WR);
            off++;
        }
        loop_run_once(loop, 0, NULL);
        ssize_t got = read(sv[1], sink, sizeof(sink));
        if (off > size && got <= 0)
            break;
    }
    ttrpc_server_free(server);
    loop_free(loop);
    close(sv[1]);
    return 0;
}
