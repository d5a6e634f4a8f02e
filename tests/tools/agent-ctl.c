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
#include "agent_calls.h"
#include "channel.h"
#include "loop.h"
#include "pbjson.h"
#include "ttrpc.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum exit_status {
    EXIT_OK = AGENT_CALLS_OK,
    EXIT_STATUS = AGENT_CALLS_STATUS,
    EXIT_TRANSPORT = AGENT_CALLS_TRANSPORT
};

struct ctl {
    struct agent_calls calls;
    struct loop *loop;
    const char *addr;
};

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

static int ctl_connect(struct agent_calls *calls, struct kerr **err)
{
    struct ctl *c = calls->data;
    int fd = connect_addr(c->addr, err);
    if (fd < 0)
        return -1;
    calls->client = ttrpc_client_new(c->loop, fd, err);
    return calls->client ? 0 : -1;
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
    int status = agent_calls_one(&c->calls, method, json, &code, &out, &err);
    if (status != EXIT_OK) {
        fprintf(stderr, "agent-ctl: %s\n", err->msg);
        return status;
    }
    printf("%s\n", out);
    free(out);
    return EXIT_OK;
}

static void cmd_list(void)
{
    for (size_t i = 0; i < AGENT_CALLS_N_SERVICES; i++) {
        const ProtobufCServiceDescriptor *s = agent_calls_services[i];
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
    struct ctl c = {.calls = {.connect = ctl_connect, .timeout_ns = 30000000000ull}};
    c.calls.data = &c;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'a':
            c.addr = optarg;
            break;
        case 't':
            c.calls.timeout_ns = (uint64_t)(atof(optarg) * 1e9);
            break;
        case 'p':
            c.calls.json_flags |= PBJSON_PRETTY;
            break;
        case 'T':
            c.calls.json_flags |= PBJSON_BYTES_TEXT;
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
                         : agent_calls_file(&c.calls, argv[optind + 1]);
    if (c.calls.client)
        ttrpc_client_free(c.calls.client);
    loop_free(c.loop);
    return status;
}
