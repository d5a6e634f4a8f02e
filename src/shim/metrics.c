/* The agent's cgroup statistics (StatsContainer's CgroupStats, v1-shaped)
 * as containerd's cgroup v2 Metrics, the type `ctr task metrics` and the CRI
 * plugin decode for a cgroup v2 guest. */
#include "cgroups_v2_metrics.pb-c.h"
#include "shim.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define METRICS_TYPE_URL "io.containerd.cgroups.v2.Metrics"

typedef Io__Containerd__Cgroups__V2__Metrics Metrics;

/* memory.stat keys are MemoryStat's field names: set each by descriptor. */
static void memory_stat_fill(Io__Containerd__Cgroups__V2__MemoryStat *m, const Grpc__MemoryStats *s)
{
    const ProtobufCMessageDescriptor *d = &io__containerd__cgroups__v2__memory_stat__descriptor;
    for (size_t i = 0; i < s->n_stats; i++) {
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field_by_name(d, s->stats[i]->key);
        if (f && f->type == PROTOBUF_C_TYPE_UINT64 && f->label != PROTOBUF_C_LABEL_REPEATED)
            *(uint64_t *)((char *)m + f->offset) = s->stats[i]->value;
    }
    if (s->usage) {
        m->usage = s->usage->usage;
        m->usage_limit = s->usage->limit;
        m->max_usage = s->usage->max_usage;
    }
    /* The agent reports swap as runc's v1 view (memory + swap). */
    if (s->swap_usage && s->usage) {
        m->swap_usage =
            s->swap_usage->usage >= s->usage->usage ? s->swap_usage->usage - s->usage->usage : 0;
        m->swap_limit = s->swap_usage->limit >= s->usage->limit
                            ? s->swap_usage->limit - s->usage->limit
                            : s->swap_usage->limit;
    }
}

static Io__Containerd__Cgroups__V2__IOEntry *io_entry(Io__Containerd__Cgroups__V2__IOStat *io,
                                                      uint64_t major, uint64_t minor)
{
    for (size_t i = 0; i < io->n_usage; i++)
        if (io->usage[i]->major == major && io->usage[i]->minor == minor)
            return io->usage[i];
    Io__Containerd__Cgroups__V2__IOEntry *e = xcalloc(1, sizeof(*e));
    io__containerd__cgroups__v2__ioentry__init(e);
    e->major = major, e->minor = minor;
    io->usage = xrealloc(io->usage, (io->n_usage + 1) * sizeof(*io->usage));
    io->usage[io->n_usage++] = e;
    return e;
}

static void io_fill(Io__Containerd__Cgroups__V2__IOStat *io, const Grpc__BlkioStats *b)
{
    for (size_t i = 0; i < b->n_io_service_bytes_recursive; i++) {
        const Grpc__BlkioStatsEntry *s = b->io_service_bytes_recursive[i];
        Io__Containerd__Cgroups__V2__IOEntry *e = io_entry(io, s->major, s->minor);
        if (strcmp(s->op, "Read") == 0)
            e->rbytes = s->value;
        else if (strcmp(s->op, "Write") == 0)
            e->wbytes = s->value;
    }
    for (size_t i = 0; i < b->n_io_serviced_recursive; i++) {
        const Grpc__BlkioStatsEntry *s = b->io_serviced_recursive[i];
        Io__Containerd__Cgroups__V2__IOEntry *e = io_entry(io, s->major, s->minor);
        if (strcmp(s->op, "Read") == 0)
            e->rios = s->value;
        else if (strcmp(s->op, "Write") == 0)
            e->wios = s->value;
    }
}

#define NEW(type, init)                                                                            \
    ({                                                                                             \
        type *m_ = xcalloc(1, sizeof(type));                                                       \
        init(m_);                                                                                  \
        m_;                                                                                        \
    })

static Metrics *metrics_from(const Grpc__CgroupStats *s)
{
    Metrics *m = NEW(Metrics, io__containerd__cgroups__v2__metrics__init);
    if (s->pids_stats) {
        m->pids = NEW(Io__Containerd__Cgroups__V2__PidsStat,
                      io__containerd__cgroups__v2__pids_stat__init);
        m->pids->current = s->pids_stats->current;
        m->pids->limit = s->pids_stats->limit;
    }
    if (s->cpu_stats) { /* the agent reports nanoseconds, v2 microseconds */
        m->cpu =
            NEW(Io__Containerd__Cgroups__V2__CPUStat, io__containerd__cgroups__v2__cpustat__init);
        const Grpc__CpuUsage *u = s->cpu_stats->cpu_usage;
        const Grpc__ThrottlingData *t = s->cpu_stats->throttling_data;
        if (u) {
            m->cpu->usage_usec = u->total_usage / 1000;
            m->cpu->user_usec = u->usage_in_usermode / 1000;
            m->cpu->system_usec = u->usage_in_kernelmode / 1000;
        }
        if (t) {
            m->cpu->nr_periods = t->periods;
            m->cpu->nr_throttled = t->throttled_periods;
            m->cpu->throttled_usec = t->throttled_time / 1000;
        }
    }
    if (s->memory_stats) {
        m->memory = NEW(Io__Containerd__Cgroups__V2__MemoryStat,
                        io__containerd__cgroups__v2__memory_stat__init);
        memory_stat_fill(m->memory, s->memory_stats);
        if (s->memory_stats->usage) {
            m->memory_events = NEW(Io__Containerd__Cgroups__V2__MemoryEvents,
                                   io__containerd__cgroups__v2__memory_events__init);
            m->memory_events->max = s->memory_stats->usage->failcnt;
        }
    }
    if (s->blkio_stats) {
        m->io = NEW(Io__Containerd__Cgroups__V2__IOStat, io__containerd__cgroups__v2__iostat__init);
        io_fill(m->io, s->blkio_stats);
    }
    if (s->n_hugetlb_stats) {
        m->hugetlb = xcalloc(s->n_hugetlb_stats, sizeof(*m->hugetlb));
        for (size_t i = 0; i < s->n_hugetlb_stats; i++) {
            Io__Containerd__Cgroups__V2__HugeTlbStat *h =
                NEW(Io__Containerd__Cgroups__V2__HugeTlbStat,
                    io__containerd__cgroups__v2__huge_tlb_stat__init);
            const Grpc__HugetlbStats *v = s->hugetlb_stats[i]->value;
            h->pagesize = xstrdup(s->hugetlb_stats[i]->key ? s->hugetlb_stats[i]->key : "");
            if (v) {
                h->current = v->usage;
                h->max = v->max_usage;
            }
            m->hugetlb[m->n_hugetlb++] = h;
        }
    }
    return m;
}

Google__Protobuf__Any *shim_metrics_any(const Grpc__CgroupStats *stats)
{
    Metrics *m = metrics_from(stats);
    Google__Protobuf__Any *any = xcalloc(1, sizeof(*any));
    google__protobuf__any__init(any);
    any->type_url = xstrdup(METRICS_TYPE_URL);
    any->value.len = protobuf_c_message_get_packed_size(&m->base);
    any->value.data = xmalloc(any->value.len ? any->value.len : 1);
    protobuf_c_message_pack(&m->base, any->value.data);
    /* Every part was allocated with the system allocator. */
    protobuf_c_message_free_unpacked(&m->base, NULL);
    return any;
}
