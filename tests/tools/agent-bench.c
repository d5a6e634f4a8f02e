/* agent-bench: the measurements behind bench/agent.
 *
 *   agent-bench --addr unix:PATH --container ID [--execs N] [--bytes N]
 *       exec round trip through the agent (ExecProcess of `/payload` to its
 *       WaitProcess answer, N times) and stdout throughput (an exec of
 *       `/payload stdout N` read with ReadStdout until EOF);
 *   agent-bench --host PAYLOAD [--execs N] [--bytes N]
 *       the same on the host with no agent: fork/exec/waitpid of PAYLOAD,
 *       and PAYLOAD's stdout read through a pipe.
 *
 * Prints one JSON object: exec_ms (median), exec_ms_min, exec_ms_max,
 * stdout_mb_s. */
#include "agent.pb-c.h"
#include "channel.h"
#include "empty.pb-c.h"
#include "loop.h"
#include "ttrpc.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CALL_TIMEOUT_NS (120ull * 1000 * 1000 * 1000)
#define READ_CHUNK      (1u << 20)

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(double *ms, int n, double mb_s)
{
    qsort(ms, (size_t)n, sizeof(double), cmp_double);
    double median = n % 2 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2;
    printf("{\"exec_ms\": %.3f, \"exec_ms_min\": %.3f, \"exec_ms_max\": %.3f, \"execs\": %d, "
           "\"stdout_mb_s\": %.1f}\n",
           median, ms[0], ms[n - 1], n, mb_s);
}

/* ---- through the agent ---- */

struct bench {
    struct ttrpc_client *client;
    const char *container;
    char *payload_args[4];
};

static int call(struct bench *b, const char *method, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *desc, ProtobufCMessage **resp, struct kerr **err)
{
    ProtobufCMessage *out = NULL;
    int r = ttrpc_client_call(b->client, "grpc.AgentService", method, req, desc, &out,
                              CALL_TIMEOUT_NS, NULL, err);
    if (r == 0 && resp)
        *resp = out;
    else if (out)
        protobuf_c_message_free_unpacked(out, NULL);
    return r;
}

static int exec_payload(struct bench *b, const char *exec_id, char **args, size_t n_args,
                        struct kerr **err)
{
    Grpc__ExecProcessRequest req = GRPC__EXEC_PROCESS_REQUEST__INIT;
    Grpc__Process proc = GRPC__PROCESS__INIT;
    static char *env[] = {"PATH=/bin"};
    proc.args = args;
    proc.n_args = n_args;
    proc.env = env;
    proc.n_env = 1;
    proc.cwd = "/";
    req.container_id = (char *)b->container;
    req.exec_id = (char *)exec_id;
    req.process = &proc;
    return call(b, "ExecProcess", &req.base, &google__protobuf__empty__descriptor, NULL, err);
}

static int wait_exec(struct bench *b, const char *exec_id, int *status, struct kerr **err)
{
    Grpc__WaitProcessRequest req = GRPC__WAIT_PROCESS_REQUEST__INIT;
    req.container_id = (char *)b->container;
    req.exec_id = (char *)exec_id;
    Grpc__WaitProcessResponse *resp = NULL;
    if (call(b, "WaitProcess", &req.base, &grpc__wait_process_response__descriptor,
             (ProtobufCMessage **)&resp, err) < 0)
        return -1;
    *status = resp->status;
    grpc__wait_process_response__free_unpacked(resp, NULL);
    return 0;
}

static int agent_exec_round_trips(struct bench *b, double *ms, int n, struct kerr **err)
{
    char *args[] = {"/payload"};
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof(id), "bench-%d", i);
        uint64_t t0 = now_ns();
        int status;
        if (exec_payload(b, id, args, 1, err) < 0 || wait_exec(b, id, &status, err) < 0)
            return -1;
        ms[i] = (double)(now_ns() - t0) / 1e6;
        if (status != 0)
            return kerr_make(err, 0, "exec `%s` exited %d", id, status);
    }
    return 0;
}

static int agent_stdout_throughput(struct bench *b, long long bytes, double *mb_s,
                                   struct kerr **err)
{
    char count[32];
    snprintf(count, sizeof(count), "%lld", bytes);
    char *args[] = {"/payload", "stdout", count};
    const char *id = "bench-stdout";
    uint64_t t0 = now_ns();
    if (exec_payload(b, id, args, 3, err) < 0)
        return -1;
    long long got = 0;
    for (;;) {
        Grpc__ReadStreamRequest req = GRPC__READ_STREAM_REQUEST__INIT;
        req.container_id = (char *)b->container;
        req.exec_id = (char *)id;
        req.len = READ_CHUNK;
        Grpc__ReadStreamResponse *resp = NULL;
        if (call(b, "ReadStdout", &req.base, &grpc__read_stream_response__descriptor,
                 (ProtobufCMessage **)&resp, err) < 0)
            return -1;
        size_t n = resp->data.len;
        grpc__read_stream_response__free_unpacked(resp, NULL);
        if (n == 0)
            break;
        got += (long long)n;
    }
    int status;
    if (wait_exec(b, id, &status, err) < 0)
        return -1;
    double s = (double)(now_ns() - t0) / 1e9;
    if (got != bytes)
        return kerr_make(err, 0, "read %lld bytes of %lld", got, bytes);
    *mb_s = (double)bytes / 1e6 / s;
    return 0;
}

/* ---- on the host ---- */

static pid_t spawn(const char *payload, char *const argv[], int out_fd)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (out_fd >= 0)
            dup2(out_fd, 1);
        execv(payload, argv);
        _exit(127);
    }
    return pid;
}

static int host_bench(const char *payload, int n, long long bytes, double *ms, double *mb_s,
                      struct kerr **err)
{
    char *argv[] = {(char *)payload, NULL};
    for (int i = 0; i < n; i++) {
        uint64_t t0 = now_ns();
        pid_t pid = spawn(payload, argv, -1);
        int status;
        if (pid < 0 || waitpid(pid, &status, 0) != pid)
            return kerr_make(err, errno, "run `%s`", payload);
        ms[i] = (double)(now_ns() - t0) / 1e6;
    }
    char count[32];
    snprintf(count, sizeof(count), "%lld", bytes);
    char *argv2[] = {(char *)payload, "stdout", count, NULL};
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return kerr_make(err, errno, "pipe");
    uint64_t t0 = now_ns();
    pid_t pid = spawn(payload, argv2, fds[1]);
    close(fds[1]);
    static char buf[READ_CHUNK];
    long long got = 0;
    ssize_t r;
    while ((r = read(fds[0], buf, sizeof(buf))) > 0)
        got += r;
    close(fds[0]);
    waitpid(pid, NULL, 0);
    if (got != bytes)
        return kerr_make(err, 0, "read %lld bytes of %lld", got, bytes);
    *mb_s = (double)bytes / 1e6 / ((double)(now_ns() - t0) / 1e9);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"addr", required_argument, NULL, 'a'},  {"container", required_argument, NULL, 'c'},
        {"execs", required_argument, NULL, 'n'}, {"bytes", required_argument, NULL, 'b'},
        {"host", required_argument, NULL, 'H'},  {0},
    };
    const char *addr = NULL, *container = NULL, *host_payload = NULL;
    int n = 50;
    long long bytes = 64ll << 20;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'a':
            addr = optarg;
            break;
        case 'c':
            container = optarg;
            break;
        case 'n':
            n = atoi(optarg);
            break;
        case 'b':
            bytes = atoll(optarg);
            break;
        case 'H':
            host_payload = optarg;
            break;
        default:
            fprintf(stderr, "usage: agent-bench (--addr unix:PATH --container ID | --host "
                            "PAYLOAD) [--execs N] [--bytes N]\n");
            return 2;
        }
    }
    if (n <= 0 || bytes <= 0 || (host_payload == NULL && (addr == NULL || container == NULL))) {
        fprintf(stderr, "agent-bench: give --host PAYLOAD, or --addr and --container\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    cleanup_kerr struct kerr *err = NULL;
    cleanup_free double *ms = xcalloc((size_t)n, sizeof(double));
    double mb_s = 0;
    if (host_payload) {
        if (host_bench(host_payload, n, bytes, ms, &mb_s, &err) < 0)
            goto fail;
        report(ms, n, mb_s);
        return 0;
    }
    if (strncmp(addr, "unix:", 5) != 0) {
        fprintf(stderr, "agent-bench: only unix:PATH addresses\n");
        return 2;
    }
    struct loop *loop = loop_new(&err);
    int fd = loop ? unix_connect(addr + 5, &err) : -1;
    struct bench b = {.container = container};
    if (fd < 0 || (b.client = ttrpc_client_new(loop, fd, &err)) == NULL)
        goto fail;
    if (agent_exec_round_trips(&b, ms, n, &err) < 0 ||
        agent_stdout_throughput(&b, bytes, &mb_s, &err) < 0)
        goto fail;
    ttrpc_client_free(b.client);
    loop_free(loop);
    report(ms, n, mb_s);
    return 0;
fail:
    fprintf(stderr, "agent-bench: %s\n", err ? err->msg : "failed");
    return 1;
}
