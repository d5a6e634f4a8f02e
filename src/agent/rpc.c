/* The agent's method table: every grpc.AgentService and grpc.Health method it
 * serves, one handler each.  Methods of Kata's agent.proto that are not in
 * the table are answered Unimplemented by the ttrpc server. */
#include "agent.h"
#include "container.h"
#include "network.h"
#include "sandbox.h"
#include "log.h"
#include "util.h"

#include "agent.pb-c.h"
#include "health.pb-c.h"

#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

static void health_check(struct ttrpc_call *call, const ProtobufCMessage *req, void *data)
{
    struct agent *a = data;
    Grpc__HealthCheckResponse resp = GRPC__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = a->shutting_down ? GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING
                                   : GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    ttrpc_call_reply(call, &resp.base);
}

static void health_version(struct ttrpc_call *call, const ProtobufCMessage *req, void *data)
{
    Grpc__VersionCheckResponse resp = GRPC__VERSION_CHECK_RESPONSE__INIT;
    resp.grpc_version = "0.0.1";
    resp.agent_version = KATA_VERSION;
    ttrpc_call_reply(call, &resp.base);
}

/* /sys/devices/system/memory/block_size_bytes holds a hex number. */
static uint64_t memory_block_size(const struct agent *a)
{
    cleanup_free char *path =
        xasprintf("%s/devices/system/memory/block_size_bytes", a->opts.sysfs_root);
    cleanup_free char *text = NULL;
    if (file_read_all(path, 64, &text, NULL, NULL) < 0)
        return 0;
    return strtoull(text, NULL, 16);
}

static void get_guest_details(struct ttrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    struct agent *a = data;
    const Grpc__GuestDetailsRequest *req = (const Grpc__GuestDetailsRequest *)msg;
    Grpc__GuestDetailsResponse resp = GRPC__GUEST_DETAILS_RESPONSE__INIT;
    Grpc__AgentDetails details = GRPC__AGENT_DETAILS__INIT;
    static char *storage_handlers[] = {"virtio-fs", "9p",       "blk",       "virtio-blk",
                                       "mmioblk",   "scsi",     "ephemeral", "local",
                                       "bind",      "overlayfs"};
    static char *device_handlers[] = {"blk", "virtio-blk", "mmioblk"};

    details.version = KATA_VERSION;
    details.init_daemon = a->opts.pid1;
    details.n_storage_handlers = ARRAY_SIZE(storage_handlers);
    details.storage_handlers = storage_handlers;
    details.n_device_handlers = ARRAY_SIZE(device_handlers);
    details.device_handlers = device_handlers;
    resp.agent_details = &details;
    if (req->mem_block_size)
        resp.mem_block_size_bytes = memory_block_size(a);

    /* Our extension fields: what the guest is. */
    struct utsname uts;
    if (uname(&uts) == 0)
        resp.kernel_release = uts.release;
    resp.online_cpus = (uint32_t)sysconf(_SC_NPROCESSORS_ONLN);
    struct sysinfo si;
    if (sysinfo(&si) == 0)
        resp.memory_bytes = (uint64_t)si.totalram * si.mem_unit;
    ttrpc_call_reply(call, &resp.base);
}

/* "VmRSS:    1234 kB" from /proc/self/status, in bytes. */
static uint64_t self_rss_bytes(void)
{
    cleanup_free char *status = NULL;
    if (file_read_all("/proc/self/status", 1 << 16, &status, NULL, NULL) < 0)
        return 0;
    const char *p = strstr(status, "VmRSS:");
    return p ? strtoull(p + 6, NULL, 10) * 1024 : 0;
}

/* Prometheus text, as Kata's agent answers GetMetrics. */
static void get_metrics(struct ttrpc_call *call, const ProtobufCMessage *req, void *data)
{
    struct sysinfo si = {0};
    sysinfo(&si);
    cleanup_free char *text = xasprintf(
        "# HELP kata_agent_process_resident_memory_bytes Resident memory of the agent.\n"
        "# TYPE kata_agent_process_resident_memory_bytes gauge\n"
        "kata_agent_process_resident_memory_bytes %llu\n"
        "# HELP kata_guest_memory_total_bytes Memory of the guest.\n"
        "# TYPE kata_guest_memory_total_bytes gauge\n"
        "kata_guest_memory_total_bytes %llu\n"
        "# HELP kata_guest_memory_free_bytes Free memory of the guest.\n"
        "# TYPE kata_guest_memory_free_bytes gauge\n"
        "kata_guest_memory_free_bytes %llu\n",
        (unsigned long long)self_rss_bytes(), (unsigned long long)si.totalram * si.mem_unit,
        (unsigned long long)si.freeram * si.mem_unit);
    Grpc__Metrics resp = GRPC__METRICS__INIT;
    resp.metrics = text;
    ttrpc_call_reply(call, &resp.base);
}

static const struct ttrpc_method base_methods[] = {
    {HEALTH_SERVICE, "Check", &grpc__check_request__descriptor, health_check},
    {HEALTH_SERVICE, "Version", &grpc__check_request__descriptor, health_version},
    {AGENT_SERVICE, "GetGuestDetails", &grpc__guest_details_request__descriptor, get_guest_details},
    {AGENT_SERVICE, "GetMetrics", &grpc__get_metrics_request__descriptor, get_metrics},
};
const struct agent_method_table agent_base_methods = {base_methods, ARRAY_SIZE(base_methods)};

/* The modules whose methods the agent serves.  A module adds its table here. */
static const struct agent_method_table *const module_tables[] = {
    &agent_base_methods,
    &agent_sandbox_methods,
    &agent_network_methods,
    &agent_container_methods,
};

const struct ttrpc_method *agent_methods_all(size_t *count)
{
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_SIZE(module_tables); i++)
        n += module_tables[i]->count;
    struct ttrpc_method *all = xcalloc(n, sizeof(*all));
    size_t k = 0;
    for (size_t i = 0; i < ARRAY_SIZE(module_tables); i++)
        for (size_t j = 0; j < module_tables[i]->count; j++)
            all[k++] = module_tables[i]->methods[j];
    *count = n;
    return all;
}
