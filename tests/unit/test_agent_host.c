/* The real kata-agent binary, run on the host as an ordinary process serving a
 * unix socket, answering the way it does in a guest. */
#include "channel.h"
#include "test.h"
#include "ttrpc.h"
#include "util.h"

#include "agent.pb-c.h"
#include "health.pb-c.h"

#include <errno.h>
#include <signal.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct running_agent {
    pid_t pid;
    char dir[64];
    char *socket;
    struct loop *loop;
    struct ttrpc_client *client;
};

static int agent_start(struct running_agent *a)
{
    memset(a, 0, sizeof(*a));
    strcpy(a->dir, "/tmp/kata-agent-test.XXXXXX");
    if (mkdtemp(a->dir) == NULL)
        return -1;
    a->socket = xasprintf("%s/agent.sock", a->dir);
    cleanup_free char *listen = xasprintf("unix:%s", a->socket);
    a->pid = fork();
    if (a->pid == 0) {
        execl(KATA_AGENT_BIN, "kata-agent", "--listen", listen, "--log-level", "warn", NULL);
        _exit(127);
    }
    a->loop = loop_new(NULL);
    for (int i = 0; i < 500; i++) {
        int fd = unix_connect(a->socket, NULL);
        if (fd >= 0) {
            a->client = ttrpc_client_new(a->loop, fd, NULL);
            return 0;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

static void agent_stop(struct running_agent *a)
{
    ttrpc_client_free(a->client);
    loop_free(a->loop);
    if (a->pid > 0) {
        kill(a->pid, SIGKILL);
        waitpid(a->pid, NULL, 0);
    }
    unlink(a->socket);
    rmdir(a->dir);
    free(a->socket);
}

/* One call to the agent; returns 0 or -1 with *code set. */
static int agent_call(struct running_agent *a, const char *service, const char *method,
                      const ProtobufCMessage *req, const ProtobufCMessageDescriptor *desc,
                      void *resp, int *code)
{
    cleanup_kerr struct kerr *e = NULL;
    return ttrpc_client_call(a->client, service, method, req, desc, (ProtobufCMessage **)resp,
                             5000000000ull, code, &e);
}

TEST(agent_health_check_serving)
{
    struct running_agent a;
    CHECK_INT(agent_start(&a), 0);
    Grpc__CheckRequest req = GRPC__CHECK_REQUEST__INIT;
    Grpc__HealthCheckResponse *resp = NULL;
    int r = agent_call(&a, "grpc.Health", "Check", &req.base,
                       &grpc__health_check_response__descriptor, &resp, NULL);
    agent_stop(&a);
    CHECK_INT(r, 0);
    CHECK_INT(resp->status, GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    grpc__health_check_response__free_unpacked(resp, NULL);
}

TEST(agent_health_version_reports_agent_version)
{
    struct running_agent a;
    CHECK_INT(agent_start(&a), 0);
    Grpc__CheckRequest req = GRPC__CHECK_REQUEST__INIT;
    Grpc__VersionCheckResponse *resp = NULL;
    int r = agent_call(&a, "grpc.Health", "Version", &req.base,
                       &grpc__version_check_response__descriptor, &resp, NULL);
    agent_stop(&a);
    CHECK_INT(r, 0);
    CHECK_STR(resp->agent_version, KATA_VERSION);
    grpc__version_check_response__free_unpacked(resp, NULL);
}

TEST(agent_guest_details_describe_this_kernel)
{
    struct running_agent a;
    CHECK_INT(agent_start(&a), 0);
    Grpc__GuestDetailsRequest req = GRPC__GUEST_DETAILS_REQUEST__INIT;
    req.mem_block_size = true;
    Grpc__GuestDetailsResponse *resp = NULL;
    int r = agent_call(&a, "grpc.AgentService", "GetGuestDetails", &req.base,
                       &grpc__guest_details_response__descriptor, &resp, NULL);
    agent_stop(&a);
    CHECK_INT(r, 0);
    struct utsname uts;
    uname(&uts);
    CHECK_STR(resp->kernel_release, uts.release);
    CHECK_INT(resp->online_cpus, sysconf(_SC_NPROCESSORS_ONLN));
    CHECK(resp->memory_bytes > 0);
    CHECK(resp->agent_details != NULL);
    CHECK_STR(resp->agent_details->version, KATA_VERSION);
    CHECK(!resp->agent_details->init_daemon);
    grpc__guest_details_response__free_unpacked(resp, NULL);
}

TEST(agent_answers_unimplemented_for_unknown_method)
{
    struct running_agent a;
    CHECK_INT(agent_start(&a), 0);
    Grpc__CheckRequest req = GRPC__CHECK_REQUEST__INIT;
    int code = 0;
    int r = agent_call(&a, "grpc.AgentService", "NoSuchMethod", &req.base, NULL, NULL, &code);
    /* And it still serves afterwards. */
    Grpc__HealthCheckResponse *resp = NULL;
    int r2 = agent_call(&a, "grpc.Health", "Check", &req.base,
                        &grpc__health_check_response__descriptor, &resp, NULL);
    agent_stop(&a);
    CHECK_INT(r, -1);
    CHECK_INT(code, TTRPC_UNIMPLEMENTED);
    CHECK_INT(r2, 0);
    grpc__health_check_response__free_unpacked(resp, NULL);
}

TEST(agent_exits_after_destroy_sandbox)
{
    struct running_agent a;
    CHECK_INT(agent_start(&a), 0);
    Grpc__DestroySandboxRequest req = GRPC__DESTROY_SANDBOX_REQUEST__INIT;
    int r = agent_call(&a, "grpc.AgentService", "DestroySandbox", &req.base, NULL, NULL, NULL);
    int status = -1;
    for (int i = 0; i < 500; i++) {
        if (waitpid(a.pid, &status, WNOHANG) == a.pid) {
            a.pid = 0;
            break;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    agent_stop(&a);
    CHECK_INT(r, 0);
    CHECK(WIFEXITED(status));
    CHECK_INT(WEXITSTATUS(status), 0);
}
