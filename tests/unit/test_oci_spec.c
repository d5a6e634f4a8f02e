/* OCI config.json into the agent's Grpc__Spec. */
#include "oci_spec.h"
#include "pbjson.h"
#include "test.h"
#include "util.h"

static const char bundle_config[] =
    "{\"ociVersion\": \"1.0.2\","
    " \"process\": {\"terminal\": true, \"user\": {\"uid\": 1000, \"gid\": 100,"
    "   \"additionalGids\": [10, 20]}, \"args\": [\"/bin/sh\", \"-c\", \"echo hi\"],"
    "   \"env\": [\"PATH=/bin\"], \"cwd\": \"/\", \"noNewPrivileges\": true, \"oomScoreAdj\": -500,"
    "   \"capabilities\": {\"bounding\": [\"CAP_CHOWN\"], \"effective\": [\"CAP_CHOWN\"]},"
    "   \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": 1024, \"soft\": 1024}],"
    "   \"consoleSize\": {\"height\": 24, \"width\": 80}},"
    " \"root\": {\"path\": \"rootfs\", \"readonly\": true},"
    " \"hostname\": \"box\","
    " \"mounts\": [{\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"},"
    "   {\"destination\": \"/data\", \"type\": \"bind\", \"source\": \"/srv/data\","
    "    \"options\": [\"rbind\", \"ro\"]}],"
    " \"annotations\": {\"io.kubernetes.cri.container-type\": \"sandbox\"},"
    " \"linux\": {\"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"network\", \"path\": "
    "   \"/proc/1/ns/net\"}], \"uidMappings\": [{\"hostID\": 1000, \"containerID\": 0, \"size\": "
    "1}],"
    "   \"resources\": {\"memory\": {\"limit\": 268435456}, \"cpu\": {\"shares\": 512, \"quota\": "
    "   50000, \"period\": 100000}, \"pids\": {\"limit\": 64}, \"devices\": [{\"allow\": false, "
    "   \"access\": \"rwm\"}]},"
    "   \"cgroupsPath\": \"/kata/box\", \"sysctl\": {\"net.ipv4.ip_forward\": \"1\"},"
    "   \"maskedPaths\": [\"/proc/kcore\"], \"readonlyPaths\": [\"/proc/sys\"],"
    "   \"seccomp\": {\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"],"
    "   \"action\": \"SCMP_ACT_ALLOW\", \"errnoRet\": 0}]}},"
    " \"futureField\": {\"anything\": [1, 2]}}";

TEST(bundle_config_converts_field_by_field)
{
    cleanup_kerr struct kerr *e = NULL;
    cleanup_oci_spec Grpc__Spec *s = oci_spec_parse(bundle_config, strlen(bundle_config), &e);
    if (s == NULL)
        printf("# %s\n", e->msg);
    CHECK(s != NULL);
    CHECK_STR(s->version, "1.0.2");
    CHECK(s->process && s->process->terminal);
    CHECK_INT(s->process->user->uid, 1000);
    CHECK_INT(s->process->user->n_additionalgids, 2);
    CHECK_INT(s->process->user->additionalgids[1], 20);
    CHECK_INT(s->process->n_args, 3);
    CHECK_STR(s->process->args[2], "echo hi");
    CHECK(s->process->nonewprivileges);
    CHECK_INT(s->process->oomscoreadj, -500);
    CHECK_STR(s->process->capabilities->bounding[0], "CAP_CHOWN");
    CHECK_STR(s->process->rlimits[0]->type, "RLIMIT_NOFILE");
    CHECK_INT(s->process->rlimits[0]->hard, 1024);
    CHECK_INT(s->process->consolesize->width, 80);
    CHECK_STR(s->root->path, "rootfs");
    CHECK(s->root->readonly);
    CHECK_STR(s->hostname, "box");
    CHECK_INT(s->n_mounts, 2);
    CHECK_STR(s->mounts[1]->source, "/srv/data");
    CHECK_STR(s->mounts[1]->options[1], "ro");
    CHECK_STR(oci_spec_annotation(s, "io.kubernetes.cri.container-type"), "sandbox");
    CHECK(oci_spec_annotation(s, "missing") == NULL);
    Grpc__Linux *l = s->linux_;
    CHECK(l != NULL);
    CHECK_INT(l->n_namespaces, 2);
    CHECK_STR(l->namespaces[1]->path, "/proc/1/ns/net");
    CHECK_INT(l->uidmappings[0]->hostid, 1000);
    CHECK_INT(l->resources->memory->limit, 268435456);
    CHECK_INT(l->resources->cpu->quota, 50000);
    CHECK_INT(l->resources->pids->limit, 64);
    CHECK_STR(l->resources->devices[0]->access, "rwm");
    CHECK_STR(l->cgroupspath, "/kata/box");
    CHECK_STR(l->sysctl[0]->key, "net.ipv4.ip_forward");
    CHECK_STR(l->maskedpaths[0], "/proc/kcore");
    CHECK_STR(l->seccomp->syscalls[0]->action, "SCMP_ACT_ALLOW");
    CHECK_INT(l->seccomp->syscalls[0]->errno_ret_case, GRPC__LINUX_SYSCALL__ERRNO_RET_ERRNORET);
}

TEST(wrong_types_name_the_json_path)
{
    static const struct {
        const char *json, *msg;
    } cases[] = {
        {"{\"process\": {\"args\": [\"a\", 1]}}",
         "field `process.args[1]`: int `1` is not a valid string"},
        {"{\"process\": {\"user\": {\"uid\": -1}}}",
         "field `process.user.uid`: int `-1` is not a valid uint32"},
        {"{\"process\": {\"user\": {\"uid\": 4294967296}}}", "`process.user.uid`"},
        {"{\"root\": []}", "field `root`: message grpc.Root needs a JSON object, not array"},
        {"{\"annotations\": {\"a\": 1}}",
         "field `annotations[\"a\"]`: int `1` is not a valid string"},
        {"{\"process\": {\"terminal\": \"yes\"}}",
         "field `process.terminal`: string `yes` is not a valid bool"},
        {"[]", "message: message grpc.Spec needs a JSON object, not array"},
        {"{\"process\": ", "invalid JSON"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        cleanup_kerr struct kerr *e = NULL;
        Grpc__Spec *s = oci_spec_parse(cases[i].json, strlen(cases[i].json), &e);
        CHECK(s == NULL);
        CHECK_CONTAINS(e->msg, cases[i].msg);
    }
}

TEST(deep_nesting_and_big_files_are_refused)
{
    char deep[1024];
    size_t n = 0;
    deep[n++] = '{';
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(deep + n, sizeof(deep) - n, "\"a\":[");
    cleanup_kerr struct kerr *e = NULL;
    CHECK(oci_spec_parse(deep, n, &e) == NULL);
    kerr_clear(&e);
    CHECK(oci_spec_parse(deep, OCI_SPEC_MAX_SIZE + 1, &e) == NULL);
    CHECK_CONTAINS(e->msg, "bytes");
}

TEST(exec_process_and_resources_parse)
{
    const char *proc = "{\"args\": [\"ls\"], \"cwd\": \"/tmp\", \"terminal\": false}";
    cleanup_kerr struct kerr *e = NULL;
    Grpc__Process *p = oci_process_parse(proc, strlen(proc), &e);
    CHECK(p != NULL);
    CHECK_STR(p->cwd, "/tmp");
    protobuf_c_message_free_unpacked(&p->base, NULL);
    const char *res = "{\"memory\": {\"limit\": 1048576, \"swap\": -1}}";
    Grpc__LinuxResources *r = oci_resources_parse(res, strlen(res), &e);
    CHECK(r != NULL);
    CHECK_INT(r->memory->limit, 1048576);
    CHECK_INT(r->memory->swap, -1);
    cleanup_free char *json = pbjson_format(&r->base, 0);
    CHECK_CONTAINS(json, "\"Limit\":1048576");
    protobuf_c_message_free_unpacked(&r->base, NULL);
}
