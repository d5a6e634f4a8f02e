/* JSON calls to the agent: see agent_calls.h. */
#include "agent_calls.h"
#include "agent.pb-c.h"
#include "health.pb-c.h"
#include "pbjson.h"
#include "shim.pb-c.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum exit_status {
    EXIT_OK = AGENT_CALLS_OK,
    EXIT_STATUS = AGENT_CALLS_STATUS,
    EXIT_TRANSPORT = AGENT_CALLS_TRANSPORT
};

const ProtobufCServiceDescriptor *const agent_calls_services[AGENT_CALLS_N_SERVICES] = {
    &grpc__agent_service__descriptor,
    &grpc__health__descriptor,
    &containerd__task__v2__task__descriptor,
};

/* "grpc.AgentService.X", "grpc.AgentService/X" or "X" (first service that has it). */
int agent_calls_find_method(const char *name, const ProtobufCServiceDescriptor **svc_out,
                            const ProtobufCMethodDescriptor **method_out, struct kerr **err)
{
    const char *sep = strrchr(name, '/');
    if (sep == NULL)
        sep = strrchr(name, '.');
    const char *method = sep ? sep + 1 : name;
    size_t svc_len = sep ? (size_t)(sep - name) : 0;
    for (size_t i = 0; i < AGENT_CALLS_N_SERVICES; i++) {
        const ProtobufCServiceDescriptor *s = agent_calls_services[i];
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

/* One call.  Returns an exit status; *code gets the ttrpc status. */
int agent_calls_one(struct agent_calls *c, const char *name, const char *json, int *code,
                    char **out, struct kerr **err)
{
    const ProtobufCServiceDescriptor *svc = NULL;
    const ProtobufCMethodDescriptor *m = NULL;
    *code = TTRPC_OK;
    if (agent_calls_find_method(name, &svc, &m, err) < 0)
        return EXIT_TRANSPORT;
    ProtobufCMessage *req = pbjson_parse(m->input, json, err);
    if (req == NULL) {
        kerr_wrap(err, "%s/%s", svc->name, m->name);
        return EXIT_TRANSPORT;
    }
    int status = EXIT_TRANSPORT;
    ProtobufCMessage *resp = NULL;
    if (c->client == NULL && (c->connect == NULL || c->connect(c, err) < 0)) {
        if (c->client == NULL && *err == NULL)
            kerr_make(err, 0, "not connected");
        goto out;
    }
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
int agent_calls_line(struct agent_calls *c, char *line, const char *where)
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
    int status = agent_calls_one(c, p, json, &code, &out, &err);
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

int agent_calls_file(struct agent_calls *c, const char *path)
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
        status = agent_calls_line(c, line, where);
        fflush(stdout);
    }
    free(line);
    if (f != stdin)
        fclose(f);
    return status;
}
