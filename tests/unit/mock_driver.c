/* The test-only `mock` driver (mock_driver.h). */
#include "mock_driver.h"
#include "agent.pb-c.h"
#include "empty.pb-c.h"
#include "health.pb-c.h"
#include "loop.h"
#include "ttrpc.h"
#include "util.h"
#include "vm_process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

struct mock_driver mock;
/* Held open by the test process only: a stand-in VMM that outlives its
 * daemon still ends with the test (read end at EOF), failed or not. */
static int lifeline[2] = {-1, -1};

void mock_reset(void)
{
    if (mock.agent_fd > 0)
        close(mock.agent_fd);
    struct mock_agent_calls *calls = mock.calls;
    memset(&mock, 0, sizeof(mock));
    mock.caps = (struct vm_capabilities){
        .shared_fs = VM_CAP_FS(VM_SHARED_FS_NONE) | VM_CAP_FS(VM_SHARED_FS_VIRTIO_FS),
        .blk_hotplug = true,
        .needs_binary = false,
        .agent_channel = "none (mock)",
    };
    mock.guest_path = "18/00";
    mock.agent_fd = -1;
    if (lifeline[0] < 0 && pipe2(lifeline, O_CLOEXEC) < 0)
        abort();
    if (calls == NULL) {
        calls =
            mmap(NULL, sizeof(*calls), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (calls == MAP_FAILED)
            abort();
    }
    memset(calls, 0, sizeof(*calls));
    mock.calls = calls;
}

static void mock_capabilities(const struct vm_config *cfg, struct vm_capabilities *caps)
{
    (void)cfg;
    *caps = mock.caps;
}

/* ---- the fake agent, in the stand-in VMM process ---- */

static void reply_empty(struct ttrpc_call *call)
{
    Google__Protobuf__Empty empty = GOOGLE__PROTOBUF__EMPTY__INIT;
    ttrpc_call_reply(call, &empty.base);
}

static void fake_check(struct ttrpc_call *call, const ProtobufCMessage *req, void *data)
{
    (void)req, (void)data;
    mock.calls->checks++;
    Grpc__HealthCheckResponse resp = GRPC__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    ttrpc_call_reply(call, &resp.base);
}

static void fake_create_sandbox(struct ttrpc_call *call, const ProtobufCMessage *req, void *data)
{
    (void)req, (void)data;
    mock.calls->create_sandbox++;
    reply_empty(call);
}

static void fake_destroy_sandbox(struct ttrpc_call *call, const ProtobufCMessage *req, void *data)
{
    (void)req, (void)data;
    mock.calls->destroy_sandbox++;
    reply_empty(call);
}

static void fake_update_interface(struct ttrpc_call *call, const ProtobufCMessage *req, void *data)
{
    (void)data;
    mock.calls->update_interface++;
    const Grpc__UpdateInterfaceRequest *r = (const Grpc__UpdateInterfaceRequest *)req;
    ttrpc_call_reply(call, &r->interface->base);
}

static void never_cancelled(void *data)
{
    (void)data;
}

/* Answers when an OOM kill happens: never, here. */
static void fake_oom_event(struct ttrpc_call *call, const ProtobufCMessage *req, void *data)
{
    (void)req, (void)data;
    ttrpc_call_set_cancel(call, never_cancelled, NULL);
}

#define AGENT_SERVICE "grpc.AgentService"
static const struct ttrpc_method fake_agent_methods[] = {
    {"grpc.Health", "Check", &grpc__check_request__descriptor, fake_check},
    {AGENT_SERVICE, "CreateSandbox", &grpc__create_sandbox_request__descriptor,
     fake_create_sandbox},
    {AGENT_SERVICE, "DestroySandbox", &grpc__destroy_sandbox_request__descriptor,
     fake_destroy_sandbox},
    {AGENT_SERVICE, "UpdateInterface", &grpc__update_interface_request__descriptor,
     fake_update_interface},
    {AGENT_SERVICE, "GetOOMEvent", &grpc__get_oomevent_request__descriptor, fake_oom_event},
};

static bool channel_closed(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Ends with its agent channel, or with the test when it outlives that. */
static bool stand_in_done(int channel)
{
    return mock.vm_outlives_agent ? channel_closed(lifeline[0]) : channel_closed(channel);
}

static void stand_in_vmm(int fd)
{
    if (mock.vm == MOCK_VM_AGENT) {
        struct loop *loop = loop_new(NULL);
        struct ttrpc_server *server =
            loop ? ttrpc_server_new(loop, fake_agent_methods, ARRAY_SIZE(fake_agent_methods), NULL)
                 : NULL;
        int watch = dup(fd);
        if (server == NULL || watch < 0 || ttrpc_server_add_stream(server, fd, false, NULL) < 0)
            _exit(1);
        while (!stand_in_done(watch))
            loop_run_once(loop, 100, NULL);
        _exit(0);
    }
    char buf[4096];
    while (read(mock.vm_outlives_agent ? lifeline[0] : fd, buf, sizeof(buf)) > 0)
        ; /* never answered */
    _exit(0);
}

static int mock_start(struct vm *vm, struct kerr **err)
{
    mock.starts++;
    if (mock.start_errno)
        return kerr_make(err, mock.start_errno, "mock: the VM does not boot");
    if (mock.vm == MOCK_VM_NONE)
        return 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return kerr_make(err, errno, "mock: socketpair");
    struct vm_exec_gate gate;
    if (vm_exec_gate_open(&gate, err) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        abort();
    if (pid == 0) {
        close(sv[0]);
        close(lifeline[1]);
        vm_exec_gate_wait(&gate);
        stand_in_vmm(sv[1]);
    }
    close(sv[1]);
    vm->pid = pid;
    if (vm_exec_gate_pass(&gate, pid, vm_spawned_record, vm, err) < 0) {
        vm->pid = 0;
        close(sv[0]);
        return -1;
    }
    mock.agent_fd = sv[0];
    return 0;
}

static int mock_agent_connect(struct vm *vm, uint64_t timeout_ns, struct kerr **err)
{
    (void)vm;
    if (mock.agent_fd < 0)
        return kerr_make(err, ETIMEDOUT, "mock: no agent answered within %llu ms",
                         (unsigned long long)(timeout_ns / 1000000));
    int fd = mock.agent_fd;
    mock.agent_fd = -1;
    return fd;
}

static int mock_stop(struct vm *vm, uint64_t grace_ns, struct kerr **err)
{
    (void)grace_ns;
    (void)err;
    mock.stops++;
    if (vm->pid > 0) {
        kill(vm->pid, SIGKILL);
        while (waitpid(vm->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    vm->pid = 0;
    return 0;
}

static int mock_hotplug_block(struct vm *vm, const struct vm_block_device *dev, char **guest_path,
                              struct kerr **err)
{
    (void)vm;
    if (mock.hotplug_errno)
        return kerr_make(err, mock.hotplug_errno, "mock: hotplug `%s` refused", dev->id);
    mock.hotplugs++;
    snprintf(mock.hotplugged, sizeof(mock.hotplugged), "%s", dev->id);
    if (guest_path)
        *guest_path = xstrdup(mock.guest_path);
    return 0;
}

static int mock_unplug_block(struct vm *vm, const char *id, uint64_t timeout_ns, struct kerr **err)
{
    (void)vm;
    (void)timeout_ns;
    (void)err;
    mock.unplugs++;
    snprintf(mock.unplugged, sizeof(mock.unplugged), "%s", id);
    return 0;
}

const struct hypervisor_ops mock_ops = {
    .name = "mock",
    .capabilities = mock_capabilities,
    .start = mock_start,
    .agent_connect = mock_agent_connect,
    .stop = mock_stop,
    .hotplug_block = mock_hotplug_block,
    .unplug_block = mock_unplug_block,
    .pids = vm_process_pids,
};
