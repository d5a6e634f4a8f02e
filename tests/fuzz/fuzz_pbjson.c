/* libFuzzer target: JSON text into pbjson for the request type of an agent
 * method (picked by the first byte).  Whatever parses must survive the round
 * trip: message -> JSON -> message packs to the same bytes. */
#include "agent.pb-c.h"
#include "pbjson.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = xmalloc(*len ? *len : 1);
    protobuf_c_message_pack(m, buf);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    const ProtobufCServiceDescriptor *svc = &grpc__agent_service__descriptor;
    const ProtobufCMessageDescriptor *desc = svc->methods[data[0] % svc->n_methods].input;
    char *text = xstrndup((const char *)data + 1, size - 1);
    ProtobufCMessage *m = pbjson_parse(desc, text, NULL);
    free(text);
    if (m == NULL)
        return 0;
    char *json = pbjson_format(m, data[0] & 0x80 ? PBJSON_BYTES_TEXT : 0);
    struct kerr *err = NULL;
    ProtobufCMessage *again = pbjson_parse(desc, json, &err);
    if (again == NULL) {
        fprintf(stderr, "output does not parse back: %s\n%s\n", err->msg, json);
        abort();
    }
    size_t l1, l2;
    uint8_t *b1 = pack(m, &l1), *b2 = pack(again, &l2);
    if (l1 != l2 || memcmp(b1, b2, l1) != 0) {
        fprintf(stderr, "round trip changed the message:\n%s\n", json);
        abort();
    }
    free(b1);
    free(b2);
    free(json);
    protobuf_c_message_free_unpacked(again, NULL);
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
}
