/* The sandbox daemon's Stats: the agent's cgroup statistics as containerd's
 * cgroup v2 Metrics (src/shim/metrics.c), with what a hostile guest sends. */
#include "cgroups_v2_metrics.pb-c.h"
#include "shim.h"
#include "test.h"
#include "util.h"

#include <time.h>

typedef Io__Containerd__Cgroups__V2__Metrics Metrics;

static Metrics *convert(const Grpc__CgroupStats *stats)
{
    Google__Protobuf__Any *any = shim_metrics_any(stats);
    Metrics *m =
        io__containerd__cgroups__v2__metrics__unpack(NULL, any->value.len, any->value.data);
    protobuf_c_message_free_unpacked(&any->base, NULL);
    return m;
}

static Grpc__BlkioStatsEntry *entry(uint64_t major, uint64_t minor, const char *op, uint64_t value)
{
    Grpc__BlkioStatsEntry *e = xcalloc(1, sizeof(*e));
    grpc__blkio_stats_entry__init(e);
    e->major = major;
    e->minor = minor;
    e->op = (char *)op;
    e->value = value;
    return e;
}

static void free_entries(Grpc__BlkioStatsEntry **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static const Io__Containerd__Cgroups__V2__IOEntry *find(const Metrics *m, uint64_t major,
                                                        uint64_t minor)
{
    for (size_t i = 0; m->io && i < m->io->n_usage; i++)
        if (m->io->usage[i]->major == major && m->io->usage[i]->minor == minor)
            return m->io->usage[i];
    return NULL;
}

TEST(blkio_entries_merge_per_device)
{
    Grpc__BlkioStatsEntry *bytes[] = {entry(8, 0, "Read", 100), entry(8, 0, "Write", 200),
                                      entry(8, 16, "Read", 300), entry(8, 0, "Total", 300),
                                      entry(8, 16, "Write", 400)};
    Grpc__BlkioStatsEntry *ios[] = {entry(8, 16, "Read", 3), entry(8, 0, "Write", 2),
                                    entry(8, 0, "Read", 1), entry(8, 16, "Write", 4)};
    Grpc__BlkioStats b = GRPC__BLKIO_STATS__INIT;
    b.io_service_bytes_recursive = bytes;
    b.n_io_service_bytes_recursive = ARRAY_SIZE(bytes);
    b.io_serviced_recursive = ios;
    b.n_io_serviced_recursive = ARRAY_SIZE(ios);
    Grpc__CgroupStats s = GRPC__CGROUP_STATS__INIT;
    s.blkio_stats = &b;
    Metrics *m = convert(&s);
    for (size_t i = 0; i < ARRAY_SIZE(bytes); i++)
        free(bytes[i]);
    for (size_t i = 0; i < ARRAY_SIZE(ios); i++)
        free(ios[i]);
    CHECK(m != NULL && m->io != NULL);
    CHECK_INT(m->io->n_usage, 2);
    const Io__Containerd__Cgroups__V2__IOEntry *sda = find(m, 8, 0), *sdb = find(m, 8, 16);
    CHECK(sda && sdb);
    CHECK_INT(sda->rbytes, 100);
    CHECK_INT(sda->wbytes, 200);
    CHECK_INT(sda->rios, 1);
    CHECK_INT(sda->wios, 2);
    CHECK_INT(sdb->rbytes, 300);
    CHECK_INT(sdb->wbytes, 400);
    CHECK_INT(sdb->rios, 3);
    CHECK_INT(sdb->wios, 4);
    protobuf_c_message_free_unpacked(&m->base, NULL);
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What fits in the agent's 4 MiB answer: ~400k entries of distinct devices.
 * The merge searched every device for every entry: over a minute (the test
 * timed out at 60 s).  Devices now stop at a bound and are found by a hash. */
TEST(blkio_from_a_hostile_guest_is_bounded_and_linear)
{
    size_t n = 400000;
    Grpc__BlkioStatsEntry **v = xcalloc(n, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = entry(i / 2, i / 4, i % 2 ? "Write" : "Read", i);
    Grpc__BlkioStats b = GRPC__BLKIO_STATS__INIT;
    b.io_service_bytes_recursive = v;
    b.n_io_service_bytes_recursive = n;
    b.io_serviced_recursive = v;
    b.n_io_serviced_recursive = n;
    Grpc__CgroupStats s = GRPC__CGROUP_STATS__INIT;
    s.blkio_stats = &b;
    double t0 = seconds();
    Metrics *m = convert(&s);
    double took = seconds() - t0;
    free_entries(v, n);
    CHECK(m != NULL && m->io != NULL);
    printf("# %zu entries: %zu devices kept, %.3f s\n", 2 * n, m->io->n_usage, took);
    CHECK_INT(m->io->n_usage, 256);
    CHECK(took < 2.0);
    const Io__Containerd__Cgroups__V2__IOEntry *first = find(m, 0, 0);
    CHECK(first != NULL);
    CHECK_INT(first->rbytes, 0);
    CHECK_INT(first->wbytes, 1);
    CHECK(find(m, 256, 128) == NULL);
    protobuf_c_message_free_unpacked(&m->base, NULL);
}

/* Many entries for a few devices: every one is merged, the last value wins. */
TEST(blkio_many_entries_for_few_devices_all_count)
{
    size_t n = 100000;
    Grpc__BlkioStatsEntry **v = xcalloc(n, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = entry(8, 16 * (i % 4), i % 8 < 4 ? "Read" : "Write", i);
    Grpc__BlkioStats b = GRPC__BLKIO_STATS__INIT;
    b.io_service_bytes_recursive = v;
    b.n_io_service_bytes_recursive = n;
    Grpc__CgroupStats s = GRPC__CGROUP_STATS__INIT;
    s.blkio_stats = &b;
    Metrics *m = convert(&s);
    free_entries(v, n);
    CHECK(m != NULL && m->io != NULL);
    CHECK_INT(m->io->n_usage, 4);
    const Io__Containerd__Cgroups__V2__IOEntry *e = find(m, 8, 48);
    CHECK(e != NULL);
    CHECK_INT(e->rbytes, n - 5); /* i = 99995: i % 4 == 3, i % 8 == 3 */
    CHECK_INT(e->wbytes, n - 1); /* i = 99999: i % 4 == 3, i % 8 == 7 */
    protobuf_c_message_free_unpacked(&m->base, NULL);
}
