/* The agent's cgroup statistics (StatsContainer's CgroupStats, v1-shaped)
 * as containerd's cgroup v2 Metrics, the type `ctr task metrics` and the CRI
 * plugin decode for a cgroup v2 guest. */
#include "cgroups_v2_metrics.pb-c.h"
#include "shim.h"
#include "util.h"

#include <stdbool.h>
#include <stdint.h>
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

/* The guest's blkio statistics are per device and operation; it has a handful
 * of block devices, but a hostile one can send a 4 MiB list of distinct ones.
 * Devices past this many are dropped, and each entry finds its device through
 * a small hash table: the merge is linear in what the guest sends. */
#define IO_DEVICES_MAX 256
#define IO_SLOTS       (2 * IO_DEVICES_MAX) /* a power of two, at most half full */

struct io_index {
    Io__Containerd__Cgroups__V2__IOStat *io;
    uint16_t slot[IO_SLOTS]; /* 1 + the index in io->usage; 0: empty */
};

static size_t io_hash(uint64_t major, uint64_t minor)
{
    uint64_t h = (major * 0x9e3779b97f4a7c15ull) ^ (minor + 0x632be59bd9b4e019ull);
    h ^= h >> 29;
    return (size_t)(h & (IO_SLOTS - 1));
}

/* The device's entry, added if new; NULL when IO_DEVICES_MAX are there. */
static Io__Containerd__Cgroups__V2__IOEntry *io_entry(struct io_index *x, uint64_t major,
                                                      uint64_t minor)
{
    Io__Containerd__Cgroups__V2__IOStat *io = x->io;
    size_t i = io_hash(major, minor);
    for (; x->slot[i] != 0; i = (i + 1) & (IO_SLOTS - 1)) {
        Io__Containerd__Cgroups__V2__IOEntry *e = io->usage[x->slot[i] - 1];
        if (e->major == major && e->minor == minor)
            return e;
    }
    if (io->n_usage >= IO_DEVICES_MAX)
        return NULL;
    Io__Containerd__Cgroups__V2__IOEntry *e = xcalloc(1, sizeof(*e));
    io__containerd__cgroups__v2__ioentry__init(e);
    e->major = major, e->minor = minor;
    if (io->usage == NULL)
        io->usage = xcalloc(IO_DEVICES_MAX, sizeof(*io->usage));
    io->usage[io->n_usage++] = e;
    x->slot[i] = (uint16_t)io->n_usage;
    return e;
}

static void io_merge(struct io_index *x, Grpc__BlkioStatsEntry *const *list, size_t n, bool ios)
{
    for (size_t i = 0; i < n; i++) {
        const Grpc__BlkioStatsEntry *s = list[i];
        bool read = strcmp(s->op, "Read") == 0, write = strcmp(s->op, "Write") == 0;
        if (!read && !write)
            continue; /* Sync, Async, Total, Discard: not in v2's IOEntry */
        Io__Containerd__Cgroups__V2__IOEntry *e = io_entry(x, s->major, s->minor);
        if (e == NULL)
            continue;
        if (ios)
            *(read ? &e->rios : &e->wios) = s->value;
        else
            *(read ? &e->rbytes : &e->wbytes) = s->value;
    }
}

static void io_fill(Io__Containerd__Cgroups__V2__IOStat *io, const Grpc__BlkioStats *b)
{
    struct io_index *x = xcalloc(1, sizeof(*x));
    x->io = io;
    io_merge(x, b->io_service_bytes_recursive, b->n_io_service_bytes_recursive, false);
    io_merge(x, b->io_serviced_recursive, b->n_io_serviced_recursive, true);
    free(x);
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
