/* agent-ctl: call any method of the agent (or any ttrpc service we have
 * descriptors for) with a JSON request, print the JSON response.
 *
 *   agent-ctl --addr ADDR [--timeout SEC] [--pretty] [--text] call METHOD [JSON|@FILE|-]
 *   agent-ctl --addr ADDR [...] calls FILE|-
 *   agent-ctl list
 *
 * ADDR: unix:PATH, serial-sock:PATH (the host side of a QEMU virtio-serial
 * chardev), hvsock:PATH[:PORT] (hybrid vsock, port 1024 by default) or
 * vsock:CID[:PORT].  METHOD: "grpc.AgentService.CreateSandbox",
 * "grpc.AgentService/CreateSandbox" or just "CreateSandbox".  JSON rules:
 * tests/tools/pbjson.h.
 *
 * A calls FILE holds one call a line: `METHOD JSON`, or `!CODE METHOD JSON`
 * when the call must fail with that status (ALREADY_EXISTS, or a number).
 * Blank lines and lines starting with # are skipped.  Each response is printed
 * as one JSON line ({"error": ..., "code": ...} for an expected failure).
 *
 * Exit: 0 success; 1 the agent answered with an error status (message on
 * stderr as "Service/Method: CODE: message") or an expectation failed;
 * 2 usage, JSON, connection or transport errors. */
#include "agent.pb-c.h"
#include "channel.h"
#include "health.pb-c.h"
#include "loop.h"
#include "pbjson.h"
#include "shim.pb-c.h"
#include "ttrpc.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum exit_status { EXIT_OK = 0, EXIT_STATUS = 1, EXIT_TRANSPORT = 2 };

static const ProtobufCServiceDescriptor *const services[] = {
    &grpc__agent_service__descriptor,
    &grpc__health__descriptor,
    &containerd__task__v2__task__descriptor,
};

struct ctl {
    struct loop *loop;
    struct ttrpc_client *client;
    const char *addr;
    uint64_t timeout_ns;
    int json_flags;
};

/* "grpc.AgentService.X", "grpc.AgentService/X" or "X" (first service that has it). */
static int find_method(const char *name, const ProtobufCServiceDescriptor **svc_out,
                       const ProtobufCMethodDescriptor **method_out, struct kerr **err)
{
    const char *sep = strrchr(name, '/');
    if (sep == NULL)
        sep = strrchr(name, '.');
    const char *method = sep ? sep + 1 : name;
    size_t svc_len = sep ? (size_t)(sep - name) : 0;
    for (size_t i = 0; i < ARRAY_SIZE(services); i++) {
        const ProtobufCServiceDescriptor *s = services[i];
        if (sep && (strlen(s->name) != svc_len || strncmp(s->name, name, svc_len) != 0))
            continue;
        const ProtobufCMethodDescriptor *m =
            protobuf_c_service_descriptor_get_method_by_name(s, method);
        if (m) {
            *svc_out = s;
            *method_out = m;
            return 0;
        }
    }
    return kerr_make(err, 0, "unknown method `%s` (see `agent-ctl list`)", name);
}

static int parse_u32(const char *s, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int connect_addr(const char *addr, struct kerr **err)
{
    if (strncmp(addr, "unix:", 5) == 0)
        return unix_connect(addr + 5, err);
    if (strncmp(addr, "serial-sock:", 12) == 0)
        return unix_connect(addr + 12, err);
    if (strncmp(addr, "hvsock:", 7) == 0) {
        cleanup_free char *path = xstrdup(addr + 7);
        uint32_t port = AGENT_VSOCK_PORT;
        char *colon = strrchr(path, ':');
        if (colon && parse_u32(colon + 1, &port) == 0)
            *colon = '\0';
        return hybrid_vsock_connect(path, port, err);
    }
    if (strncmp(addr, "vsock:", 6) == 0) {
        cleanup_free char *spec = xstrdup(addr + 6);
        uint32_t cid, port = AGENT_VSOCK_PORT;
        char *colon = strchr(spec, ':');
        if (colon) {
            *colon = '\0';
            if (parse_u32(colon + 1, &port) < 0)
                return kerr_make(err, 0, "bad vsock port in `%s`", addr);
        }
        if (parse_u32(spec, &cid) < 0)
            return kerr_make(err, 0, "bad vsock CID in `%s`", addr);
        return vsock_connect(cid, port, err);
    }
    return kerr_make(err, 0,
                     "unknown address `%s` (unix:PATH, serial-sock:PATH, hvsock:PATH, "
                     "vsock:CID[:PORT])",
                     addr);
}

static int ctl_connect(struct ctl *c, struct kerr **err)
{
    if (c->client)
        return 0;
    int fd = connect_addr(c->addr, err);
    if (fd < 0)
        return -1;
    c->client = ttrpc_client_new(c->loop, fd, err);
    return c->client ? 0 : -1;
}

/* One call.  Returns an exit status; *code gets the ttrpc status. */
static int ctl_call(struct ctl *c, const char *name, const char *json, int *code, char **out,
                    struct kerr **err)
{
    const ProtobufCServiceDescriptor *svc = NULL;
    const ProtobufCMethodDescriptor *m = NULL;
    *code = TTRPC_OK;
    if (find_method(name, &svc, &m, err) < 0)
        return EXIT_TRANSPORT;
    ProtobufCMessage *req = pbjson_parse(m->input, json, err);
    if (req == NULL) {
        kerr_wrap(err, "%s/%s", svc->name, m->name);
        return EXIT_TRANSPORT;
    }
    int status = EXIT_TRANSPORT;
    ProtobufCMessage *resp = NULL;
    if (ctl_connect(c, err) < 0)
        goto out;
    if (ttrpc_client_call(c->client, svc->name, m->name, req, m->output, &resp, c->timeout_ns, code,
                          err) < 0) {
        status =
            ttrpc_client_connected(c->client) && *code != TTRPC_OK ? EXIT_STATUS : EXIT_TRANSPORT;
        goto out;
    }
    *out = pbjson_format(resp, c->json_flags);
    status = EXIT_OK;
out:
    if (resp)
        protobuf_c_message_free_unpacked(resp, NULL);
    protobuf_c_message_free_unpacked(req, NULL);
    return status;
}

/* "-" is stdin, "@FILE" a file, anything else the JSON itself. */
static char *read_argument(const char *arg, struct kerr **err)
{
    const char *path = strcmp(arg, "-") == 0 ? "/dev/stdin" : arg[0] == '@' ? arg + 1 : NULL;
    if (path == NULL)
        return xstrdup(arg);
    char *text = NULL;
    if (file_read_all(path, 256u << 20, &text, NULL, err) < 0)
        return NULL;
    return text;
}

static int cmd_call(struct ctl *c, const char *method, const char *arg)
{
    cleanup_kerr struct kerr *err = NULL;
    cleanup_free char *json = read_argument(arg ? arg : "{}", &err);
    if (json == NULL) {
        fprintf(stderr, "agent-ctl: %s\n", err->msg);
        return EXIT_TRANSPORT;
    }
    char *out = NULL;
    int code;
    int status = ctl_call(c, method, json, &code, &out, &err);
    if (status != EXIT_OK) {
        fprintf(stderr, "agent-ctl: %s\n", err->msg);
        return status;
    }
    printf("%s\n", out);
    free(out);
    return EXIT_OK;
}

/* Status names compare without case and underscores: ALREADY_EXISTS = AlreadyExists. */
static bool same_code_name(const char *a, const char *b)
{
    for (;; a++, b++) {
        while (*a == '_')
            a++;
        while (*b == '_')
            b++;
        if ((*a | 0x20) != (*b | 0x20))
            return false;
        if (*a == '\0')
            return true;
    }
}

static int code_from_name(const char *s)
{
    for (int code = 0; code <= TTRPC_UNAUTHENTICATED; code++)
        if (same_code_name(s, ttrpc_code_name(code)))
            return code;
    char *end;
    long v = strtol(s, &end, 10);
    return *s && *end == '\0' && v >= 0 && v <= TTRPC_UNAUTHENTICATED ? (int)v : -1;
}

/* One line of a calls file.  Returns an exit status. */
static int run_line(struct ctl *c, char *line, const char *where)
{
    char *p = line + strspn(line, " \t");
    int expect = -1;
    if (*p == '!') {
        char *code_end = p + 1 + strcspn(p + 1, " \t");
        char saved = *code_end;
        *code_end = '\0';
        expect = code_from_name(p + 1);
        if (expect < 0) {
            fprintf(stderr, "agent-ctl: %s: unknown status code `%s`\n", where, p + 1);
            return EXIT_TRANSPORT;
        }
        *code_end = saved;
        p = code_end + strspn(code_end, " \t");
    }
    char *method_end = p + strcspn(p, " \t");
    char *json = *method_end ? method_end + 1 : method_end;
    *method_end = '\0';
    cleanup_kerr struct kerr *err = NULL;
    char *out = NULL;
    int code;
    int status = ctl_call(c, p, json, &code, &out, &err);
    if (status == EXIT_TRANSPORT || (status == EXIT_STATUS && expect < 0)) {
        fprintf(stderr, "agent-ctl: %s: %s\n", where, err->msg);
        return status;
    }
    if (status == EXIT_OK && expect >= 0) {
        fprintf(stderr, "agent-ctl: %s: %s succeeded, expected %s: %s\n", where, p,
                ttrpc_code_name(expect), out);
        free(out);
        return EXIT_STATUS;
    }
    if (status == EXIT_STATUS) {
        if (code != expect) {
            fprintf(stderr, "agent-ctl: %s: expected %s, got %s\n", where, ttrpc_code_name(expect),
                    err->msg);
            return EXIT_STATUS;
        }
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "code", json_object_new_string(ttrpc_code_name(code)));
        json_object_object_add(o, "error", json_object_new_string(err->msg));
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                             JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
        return EXIT_OK;
    }
    printf("%s\n", out);
    free(out);
    return EXIT_OK;
}

static int cmd_calls(struct ctl *c, const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
    if (f == NULL) {
        fprintf(stderr, "agent-ctl: open `%s`: %s\n", path, strerror(errno));
        return EXIT_TRANSPORT;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned lineno = 0;
    int status = EXIT_OK;
    while (status == EXIT_OK && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        const char *p = line + strspn(line, " \t");
        if (*p == '\0' || *p == '#')
            continue;
        cleanup_free char *where = xasprintf("%s:%u", path, lineno);
        status = run_line(c, line, where);
        fflush(stdout);
    }
    free(line);
    if (f != stdin)
        fclose(f);
    return status;
}

static void cmd_list(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(services); i++) {
        const ProtobufCServiceDescriptor *s = services[i];
        for (unsigned j = 0; j < s->n_methods; j++)
            printf("%s.%s(%s) returns %s\n", s->name, s->methods[j].name, s->methods[j].input->name,
                   s->methods[j].output->name);
    }
}

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: agent-ctl --addr ADDR [options] call METHOD [JSON|@FILE|-]\n"
            "       agent-ctl --addr ADDR [options] calls FILE|-\n"
            "       agent-ctl list\n"
            "  --addr ADDR      unix:PATH, serial-sock:PATH, hvsock:PATH[:PORT], vsock:CID[:PORT]\n"
            "  --timeout SEC    per-call deadline (default 30)\n"
            "  --pretty         indented JSON output\n"
            "  --text           print bytes that are UTF-8 text as {\"@text\": ...}\n"
            "Exit status: 0 ok, 1 error status from the agent, 2 usage/JSON/transport error.\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"addr", required_argument, NULL, 'a'}, {"timeout", required_argument, NULL, 't'},
        {"pretty", no_argument, NULL, 'p'},     {"text", no_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},       {0},
    };
    struct ctl c = {.timeout_ns = 30000000000ull};
    int opt;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'a':
            c.addr = optarg;
            break;
        case 't':
            c.timeout_ns = (uint64_t)(atof(optarg) * 1e9);
            break;
        case 'p':
            c.json_flags |= PBJSON_PRETTY;
            break;
        case 'T':
            c.json_flags |= PBJSON_BYTES_TEXT;
            break;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        default:
            usage(stderr);
            return EXIT_TRANSPORT;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return EXIT_TRANSPORT;
    }
    const char *verb = argv[optind];
    if (strcmp(verb, "list") == 0) {
        cmd_list();
        return EXIT_OK;
    }
    bool is_call = strcmp(verb, "call") == 0, is_calls = strcmp(verb, "calls") == 0;
    if ((!is_call && !is_calls) || c.addr == NULL || optind + 1 >= argc ||
        argc > optind + (is_call ? 3 : 2)) {
        usage(stderr);
        return EXIT_TRANSPORT;
    }
    signal(SIGPIPE, SIG_IGN);
    cleanup_kerr struct kerr *err = NULL;
    c.loop = loop_new(&err);
    if (c.loop == NULL) {
        fprintf(stderr, "agent-ctl: %s\n", err->msg);
        return EXIT_TRANSPORT;
    }
    int status = is_call ? cmd_call(&c, argv[optind + 1], argv[optind + 2])
                         : cmd_calls(&c, argv[optind + 1]);
    if (c.client)
        ttrpc_client_free(c.client);
    loop_free(c.loop);
    return status;
}
