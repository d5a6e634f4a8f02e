/* pbjson: JSON <-> protobuf by descriptor, on the agent's real messages. */
#include "test.h"

#include "agent.pb-c.h"
#include "kata_types.pb-c.h"
#include "health.pb-c.h"
#include "pbjson.h"
#include "util.h"

static ProtobufCMessage *parse(const ProtobufCMessageDescriptor *d, const char *json, char **msg)
{
    struct kerr *err = NULL;
    ProtobufCMessage *m = pbjson_parse(d, json, &err);
    *msg = err ? xstrdup(err->msg) : NULL;
    kerr_clear(&err);
    return m;
}

TEST(nested_repeated_map_enum)
{
    char *emsg;
    ProtobufCMessage *m =
        parse(&grpc__create_container_request__descriptor,
              "{\"container_id\": \"c1\", \"stdin_port\": 7,"
              " \"storages\": [{\"driver\": \"local\", \"options\": [\"a\", \"b\"],"
              " \"mount_point\": \"/x\"}, {\"driver\": \"bind\"}],"
              " \"OCI\": {\"Hostname\": \"h\", \"Annotations\": {\"k\": \"v\","
              " \"k2\": \"v2\"}, \"Process\": {\"Args\": [\"sh\"],"
              " \"OOMScoreAdj\": \"-17\"}, \"Linux\": {}}}",
              &emsg);
    CHECK(m != NULL);
    Grpc__CreateContainerRequest *r = (Grpc__CreateContainerRequest *)m;
    CHECK_STR(r->container_id, "c1");
    CHECK_INT(r->stdin_port, 7);
    CHECK_INT(r->n_storages, 2);
    CHECK_STR(r->storages[0]->driver, "local");
    CHECK_INT(r->storages[0]->n_options, 2);
    CHECK_STR(r->storages[0]->options[1], "b");
    CHECK_STR(r->storages[1]->driver, "bind");
    CHECK_STR(r->oci->hostname, "h");
    CHECK_INT(r->oci->n_annotations, 2);
    CHECK_STR(r->oci->annotations[0]->key, "k");
    CHECK_STR(r->oci->annotations[1]->value, "v2");
    CHECK_INT(r->oci->process->oomscoreadj, -17);
    CHECK(r->oci->linux_ != NULL);

    /* Through the wire and back to the same JSON. */
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = xmalloc(len);
    protobuf_c_message_pack(m, buf);
    ProtobufCMessage *back = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
    free(buf);
    CHECK(back != NULL);
    char *a = pbjson_format(m, 0), *b = pbjson_format(back, 0);
    int same = strcmp(a, b) == 0;
    if (!same)
        printf("# %s\n# %s\n", a, b);
    CHECK(strstr(a, "\"Annotations\":{\"k\":\"v\",\"k2\":\"v2\"}") != NULL);
    CHECK(strstr(a, "\"OOMScoreAdj\":-17") != NULL);
    free(a);
    free(b);
    protobuf_c_message_free_unpacked(back, NULL);
    protobuf_c_message_free_unpacked(m, NULL);
    CHECK(same);
}

TEST(enums_by_name_and_number)
{
    char *emsg;
    ProtobufCMessage *m =
        parse(&types__ipaddress__descriptor,
              "{\"family\": \"v6\", \"address\": \"::1\", \"mask\": \"128\"}", &emsg);
    CHECK(m != NULL);
    CHECK_INT(((Types__IPAddress *)m)->family, TYPES__IPFAMILY__v6);
    char *out = pbjson_format(m, 0);
    CHECK_STR(out, "{\"family\":\"v6\",\"address\":\"::1\",\"mask\":\"128\"}");
    free(out);
    protobuf_c_message_free_unpacked(m, NULL);
    m = parse(&types__ipaddress__descriptor, "{\"family\": 1}", &emsg);
    CHECK(m != NULL);
    CHECK_INT(((Types__IPAddress *)m)->family, 1);
    protobuf_c_message_free_unpacked(m, NULL);
    m = parse(&types__ipaddress__descriptor, "{\"family\": \"v5\"}", &emsg);
    CHECK(m == NULL);
    CHECK_CONTAINS(emsg, "field `family`: `v5` is not a value of enum");
    free(emsg);
}

TEST(bytes_base64_and_text)
{
    char *emsg;
    ProtobufCMessage *m = parse(&grpc__copy_file_request__descriptor,
                                "{\"path\": \"/p\", \"data\": \"aGVsbG8=\", \"offset\": 5,"
                                " \"file_size\": \"9000000000\"}",
                                &emsg);
    CHECK(m != NULL);
    Grpc__CopyFileRequest *r = (Grpc__CopyFileRequest *)m;
    CHECK_INT(r->data.len, 5);
    CHECK(memcmp(r->data.data, "hello", 5) == 0);
    CHECK_INT(r->file_size, 9000000000ll);
    char *out = pbjson_format(m, 0);
    CHECK_CONTAINS(out, "\"data\":\"aGVsbG8=\"");
    free(out);
    out = pbjson_format(m, PBJSON_BYTES_TEXT);
    CHECK_CONTAINS(out, "\"data\":{\"@text\":\"hello\"}");
    free(out);
    protobuf_c_message_free_unpacked(m, NULL);

    m = parse(&grpc__copy_file_request__descriptor, "{\"data\": {\"@text\": \"a\\u0000b\"}}",
              &emsg);
    CHECK(m != NULL);
    r = (Grpc__CopyFileRequest *)m;
    CHECK_INT(r->data.len, 3);
    CHECK(memcmp(r->data.data, "a\0b", 3) == 0);
    out = pbjson_format(m, PBJSON_BYTES_TEXT); /* NUL: not text, base64 */
    CHECK_CONTAINS(out, "\"data\":\"YQBi\"");
    free(out);
    protobuf_c_message_free_unpacked(m, NULL);

    m = parse(&grpc__copy_file_request__descriptor, "{\"data\": \"not base64!\"}", &emsg);
    CHECK(m == NULL);
    CHECK_CONTAINS(emsg, "field `data`: bytes must be");
    free(emsg);
}

TEST(base64_lengths)
{
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *want[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < ARRAY_SIZE(in); i++) {
        char *e = pbjson_base64_encode((const uint8_t *)in[i], strlen(in[i]));
        CHECK_STR(e, want[i]);
        uint8_t *d;
        size_t n;
        CHECK_INT(pbjson_base64_decode(e, &d, &n), 0);
        CHECK_INT(n, strlen(in[i]));
        CHECK(memcmp(d, in[i], n) == 0);
        free(d);
        free(e);
    }
    uint8_t *d;
    size_t n;
    CHECK_INT(pbjson_base64_decode("Zm9", &d, &n), 0); /* unpadded */
    CHECK_INT(n, 2);
    free(d);
    CHECK_INT(pbjson_base64_decode("Z", &d, &n), -1);
}

TEST(oneof_presence)
{
    char *emsg;
    ProtobufCMessage *m = parse(&grpc__mem_agent_memcg_config__descriptor,
                                "{\"disabled\": false, \"swappiness_max\": 0}", &emsg);
    CHECK(m != NULL);
    char *out = pbjson_format(m, 0);
    CHECK_STR(out, "{\"disabled\":false,\"swappiness_max\":0}");
    free(out);
    protobuf_c_message_free_unpacked(m, NULL);
    m = parse(&grpc__mem_agent_memcg_config__descriptor, "", &emsg);
    CHECK(m != NULL);
    out = pbjson_format(m, 0);
    CHECK_STR(out, "{}");
    free(out);
    protobuf_c_message_free_unpacked(m, NULL);
}

TEST(errors_name_the_path)
{
    struct {
        const ProtobufCMessageDescriptor *d;
        const char *json, *want;
    } cases[] = {
        {&grpc__create_container_request__descriptor, "{\"storages\": [{}, {\"drivr\": 1}]}",
         "field `storages[1].drivr`: message grpc.Storage has no such field"},
        {&grpc__create_container_request__descriptor, "{\"stdin_port\": -1}",
         "field `stdin_port`: int `-1` is not a valid uint32"},
        {&grpc__create_container_request__descriptor, "{\"stdin_port\": 4294967296}",
         "is not a valid uint32"},
        {&grpc__create_container_request__descriptor, "{\"container_id\": 5}",
         "field `container_id`: int `5` is not a valid string"},
        {&grpc__create_container_request__descriptor, "{\"storages\": {}}",
         "field `storages`: a repeated field needs a JSON array"},
        {&grpc__create_container_request__descriptor, "{\"OCI\": {\"Annotations\": []}}",
         "field `OCI.Annotations`: a map needs a JSON object"},
        {&grpc__create_container_request__descriptor, "{\"OCI\": 3}", "field `OCI`: message"},
        {&grpc__create_container_request__descriptor, "[]", "needs a JSON object"},
        {&grpc__create_container_request__descriptor, "{\"a\": ", "unexpected end of input"},
        {&grpc__create_container_request__descriptor, "{} x", "trailing text"},
        {&grpc__copy_file_request__descriptor, "{\"offset\": 1.5}", "is not a valid int64"},
        {&grpc__copy_file_request__descriptor, "{\"offset\": \"12a\"}", "is not a valid int64"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *emsg;
        ProtobufCMessage *m = parse(cases[i].d, cases[i].json, &emsg);
        if (m != NULL)
            printf("# accepted %s\n", cases[i].json);
        CHECK(m == NULL);
        CHECK_CONTAINS(emsg, cases[i].want);
        free(emsg);
    }
}

TEST(u64_extremes)
{
    char *emsg;
    ProtobufCMessage *m =
        parse(&types__interface__descriptor, "{\"mtu\": \"18446744073709551615\"}", &emsg);
    CHECK(m != NULL);
    CHECK(((Types__Interface *)m)->mtu == UINT64_MAX);
    char *out = pbjson_format(m, 0);
    CHECK_CONTAINS(out, "\"mtu\":18446744073709551615");
    free(out);
    protobuf_c_message_free_unpacked(m, NULL);
    m = parse(&types__interface__descriptor, "{\"mtu\": 18446744073709551615}", &emsg);
    CHECK(m != NULL);
    CHECK(((Types__Interface *)m)->mtu == UINT64_MAX);
    protobuf_c_message_free_unpacked(m, NULL);
}

TEST(field_given_twice_releases_the_first)
{
    char *emsg;
    /* "linux" and "Linux" alias oci.proto's linux_; "hostname" and "Hostname" one field. */
    ProtobufCMessage *m =
        parse(&grpc__spec__descriptor,
              "{\"Linux\": {\"MountLabel\": \"a\"}, \"linux\": {\"MountLabel\": \"b\"},"
              " \"hostname\": \"x\", \"Hostname\": \"y\","
              " \"Mounts\": [{\"destination\": \"/a\"}], \"mounts\": []}",
              &emsg);
    if (m == NULL)
        printf("# %s\n", emsg);
    CHECK(m != NULL);
    Grpc__Spec *spec = (Grpc__Spec *)m;
    CHECK_STR(spec->linux_->mountlabel, "b");
    CHECK_STR(spec->hostname, "y");
    CHECK_INT(spec->n_mounts, 0);
    protobuf_c_message_free_unpacked(m, NULL);
}
