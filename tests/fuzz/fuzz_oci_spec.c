/* libFuzzer target: arbitrary bytes as a bundle's config.json.  Either a spec
 * comes back (and packs, unpacks and frees cleanly) or an error with a
 * message. */
#include "oci_spec.h"
#include "pbjson.h"
#include "util.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cleanup_kerr struct kerr *err = NULL;
    Grpc__Spec *spec = oci_spec_parse((const char *)data, size, &err);
    if (spec == NULL) {
        if (err == NULL || err->msg == NULL)
            abort();
        return 0;
    }
    size_t len = protobuf_c_message_get_packed_size(&spec->base);
    uint8_t *buf = xmalloc(len + 1);
    protobuf_c_message_pack(&spec->base, buf);
    Grpc__Spec *again = grpc__spec__unpack(NULL, len, buf);
    if (again == NULL)
        abort();
    free(pbjson_format(&again->base, 0));
    grpc__spec__free_unpacked(again, NULL);
    free(buf);
    oci_spec_free(spec);
    return 0;
}
