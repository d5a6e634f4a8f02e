/* Container statistics from cgroup v2 files into the agent protocol's
 * CgroupStats (v1-shaped), as runc's fs2 Stats fills its v1-shaped Stats:
 * cpu.stat microseconds become nanoseconds, memory.current is the usage,
 * swap usage is memory+swap (v1 memsw), "max" limits are UINT64_MAX,
 * memory.events "max" is the failure count.  Every sub-message is present
 * (zero when the controller is not enabled), so clients need no NULL checks. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "agent.pb-c.h"
#include "cgroup.h"
#include "cgroup_internal.h"
#include "util.h"

#define NEW_MESSAGE(type, init_fn)                                                                 \
    ({                                                                                             \
        type *_m = xmalloc(sizeof(type));                                                          \
        init_fn(_m);                                                                               \
        _m;                                                                                        \
    })

static Grpc__CpuStats *cpu_stats(const char *abs)
{
    Grpc__CpuStats *cpu = NEW_MESSAGE(Grpc__CpuStats, grpc__cpu_stats__init);
    cpu->cpu_usage = NEW_MESSAGE(Grpc__CpuUsage, grpc__cpu_usage__init);
    cpu->throttling_data = NEW_MESSAGE(Grpc__ThrottlingData, grpc__throttling_data__init);
    cleanup_kerr struct kerr *err = NULL;
    cleanup_free char *text = cgroup_read(abs, "cpu.stat", &err);
    if (text == NULL)
        return cpu;
    uint64_t v;
    if (cgroup_keyed_u64(text, "usage_usec", &v) == 0)
        cpu->cpu_usage->total_usage = v * 1000;
    if (cgroup_keyed_u64(text, "user_usec", &v) == 0)
        cpu->cpu_usage->usage_in_usermode = v * 1000;
    if (cgroup_keyed_u64(text, "system_usec", &v) == 0)
        cpu->cpu_usage->usage_in_kernelmode = v * 1000;
    if (cgroup_keyed_u64(text, "nr_periods", &v) == 0)
        cpu->throttling_data->periods = v;
    if (cgroup_keyed_u64(text, "nr_throttled", &v) == 0)
        cpu->throttling_data->throttled_periods = v;
    if (cgroup_keyed_u64(text, "throttled_usec", &v) == 0)
        cpu->throttling_data->throttled_time = v * 1000;
    return cpu;
}

static uint64_t saturating_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* memory.stat's "key value" lines, all of them, into the stats map. */
static void memory_stat_map(Grpc__MemoryStats *mem, char *text)
{
    size_t cap = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *space = strchr(line, ' ');
        if (space == NULL)
            continue;
        *space = '\0';
        if (mem->n_stats == cap) {
            cap = cap ? cap * 2 : 32;
            mem->stats = xrealloc(mem->stats, cap * sizeof(*mem->stats));
        }
        Grpc__MemoryStats__StatsEntry *entry =
            NEW_MESSAGE(Grpc__MemoryStats__StatsEntry, grpc__memory_stats__stats_entry__init);
        entry->key = xstrdup(line);
        entry->value = strtoull(space + 1, NULL, 10);
        mem->stats[mem->n_stats++] = entry;
    }
}

static Grpc__MemoryStats *memory_stats(const char *abs)
{
    Grpc__MemoryStats *mem = NEW_MESSAGE(Grpc__MemoryStats, grpc__memory_stats__init);
    mem->usage = NEW_MESSAGE(Grpc__MemoryData, grpc__memory_data__init);
    mem->swap_usage = NEW_MESSAGE(Grpc__MemoryData, grpc__memory_data__init);
    mem->kernel_usage = NEW_MESSAGE(Grpc__MemoryData, grpc__memory_data__init);
    mem->use_hierarchy = true;

    cgroup_read_u64(abs, "memory.current", &mem->usage->usage);
    cgroup_read_u64(abs, "memory.peak", &mem->usage->max_usage);
    cgroup_read_u64(abs, "memory.max", &mem->usage->limit);
    cleanup_kerr struct kerr *err = NULL;
    cleanup_free char *events = cgroup_read(abs, "memory.events", &err);
    if (events)
        cgroup_keyed_u64(events, "max", &mem->usage->failcnt);

    uint64_t swap_current = 0, swap_max = 0;
    if (cgroup_read_u64(abs, "memory.swap.current", &swap_current) == 0) {
        mem->swap_usage->usage = saturating_add(swap_current, mem->usage->usage);
        if (cgroup_read_u64(abs, "memory.swap.max", &swap_max) == 0)
            mem->swap_usage->limit = saturating_add(swap_max, mem->usage->limit);
    }
    kerr_clear(&err);
    cleanup_free char *stat = cgroup_read(abs, "memory.stat", &err);
    if (stat) {
        uint64_t v;
        if (cgroup_keyed_u64(stat, "file", &v) == 0)
            mem->cache = v;
        if (cgroup_keyed_u64(stat, "kernel", &v) == 0)
            mem->kernel_usage->usage = v;
        memory_stat_map(mem, stat);
    }
    return mem;
}

static Grpc__PidsStats *pids_stats(const char *abs)
{
    Grpc__PidsStats *pids = NEW_MESSAGE(Grpc__PidsStats, grpc__pids_stats__init);
    cgroup_read_u64(abs, "pids.current", &pids->current);
    uint64_t limit;
    /* runc reports "max" as 0 (no limit). */
    if (cgroup_read_u64(abs, "pids.max", &limit) == 0 && limit != UINT64_MAX)
        pids->limit = limit;
    return pids;
}

static void blkio_add(Grpc__BlkioStatsEntry ***list, size_t *n, uint64_t major, uint64_t minor,
                      const char *op, uint64_t value)
{
    *list = xrealloc(*list, (*n + 1) * sizeof(**list));
    Grpc__BlkioStatsEntry *entry =
        NEW_MESSAGE(Grpc__BlkioStatsEntry, grpc__blkio_stats_entry__init);
    entry->major = major;
    entry->minor = minor;
    entry->op = xstrdup(op);
    entry->value = value;
    (*list)[(*n)++] = entry;
}

/* io.stat: "MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N". */
static Grpc__BlkioStats *blkio_stats(const char *abs)
{
    Grpc__BlkioStats *io = NEW_MESSAGE(Grpc__BlkioStats, grpc__blkio_stats__init);
    cleanup_kerr struct kerr *err = NULL;
    cleanup_free char *text = cgroup_read(abs, "io.stat", &err);
    if (text == NULL)
        return io;
    char *line_save = NULL;
    for (char *line = strtok_r(text, "\n", &line_save); line;
         line = strtok_r(NULL, "\n", &line_save)) {
        unsigned long long major, minor;
        if (sscanf(line, "%llu:%llu", &major, &minor) != 2)
            continue;
        char *save = NULL;
        strtok_r(line, " ", &save);
        for (char *field = strtok_r(NULL, " ", &save); field; field = strtok_r(NULL, " ", &save)) {
            char *eq = strchr(field, '=');
            if (eq == NULL)
                continue;
            *eq = '\0';
            uint64_t value = strtoull(eq + 1, NULL, 10);
            if (strcmp(field, "rbytes") == 0)
                blkio_add(&io->io_service_bytes_recursive, &io->n_io_service_bytes_recursive, major,
                          minor, "Read", value);
            else if (strcmp(field, "wbytes") == 0)
                blkio_add(&io->io_service_bytes_recursive, &io->n_io_service_bytes_recursive, major,
                          minor, "Write", value);
            else if (strcmp(field, "dbytes") == 0)
                blkio_add(&io->io_service_bytes_recursive, &io->n_io_service_bytes_recursive, major,
                          minor, "Discard", value);
            else if (strcmp(field, "rios") == 0)
                blkio_add(&io->io_serviced_recursive, &io->n_io_serviced_recursive, major, minor,
                          "Read", value);
            else if (strcmp(field, "wios") == 0)
                blkio_add(&io->io_serviced_recursive, &io->n_io_serviced_recursive, major, minor,
                          "Write", value);
            else if (strcmp(field, "dios") == 0)
                blkio_add(&io->io_serviced_recursive, &io->n_io_serviced_recursive, major, minor,
                          "Discard", value);
        }
    }
    return io;
}

/* One entry per hugetlb.<size>.current file. */
static void hugetlb_stats(const char *abs, Grpc__CgroupStats *stats)
{
    DIR *d = opendir(abs);
    if (d == NULL)
        return;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        const char *name = entry->d_name;
        size_t len = strlen(name);
        if (strncmp(name, "hugetlb.", 8) != 0 || len < 16 ||
            strcmp(name + len - 8, ".current") != 0)
            continue;
        /* hugetlb.2MB.current and hugetlb.2MB.rsvd.current: only the former. */
        cleanup_free char *size = xstrndup(name + 8, len - 16);
        if (strchr(size, '.'))
            continue;
        Grpc__HugetlbStats *value = NEW_MESSAGE(Grpc__HugetlbStats, grpc__hugetlb_stats__init);
        cgroup_read_u64(abs, name, &value->usage);
        cleanup_free char *events_file = xasprintf("hugetlb.%s.events", size);
        cleanup_kerr struct kerr *err = NULL;
        cleanup_free char *events = cgroup_read(abs, events_file, &err);
        if (events)
            cgroup_keyed_u64(events, "max", &value->failcnt);
        Grpc__CgroupStats__HugetlbStatsEntry *item = NEW_MESSAGE(
            Grpc__CgroupStats__HugetlbStatsEntry, grpc__cgroup_stats__hugetlb_stats_entry__init);
        item->key = steal_pointer(&size);
        item->value = value;
        stats->hugetlb_stats =
            xrealloc(stats->hugetlb_stats, (stats->n_hugetlb_stats + 1) * sizeof(item));
        stats->hugetlb_stats[stats->n_hugetlb_stats++] = item;
    }
    closedir(d);
}

int cgroup_stats(const char *abs, Grpc__CgroupStats **out, struct kerr **err)
{
    /* The directory must exist; missing controller files read as zero. */
    if (!cgroup_file_exists(abs, "cgroup.procs"))
        return kerr_make(err, ENOENT, "cgroup stats: `%s` is not a cgroup", abs);
    Grpc__CgroupStats *stats = NEW_MESSAGE(Grpc__CgroupStats, grpc__cgroup_stats__init);
    stats->cpu_stats = cpu_stats(abs);
    stats->memory_stats = memory_stats(abs);
    stats->pids_stats = pids_stats(abs);
    stats->blkio_stats = blkio_stats(abs);
    hugetlb_stats(abs, stats);
    *out = stats;
    return 0;
}

/* Everything above is malloc'd in protobuf-c's layout, so its own free
 * walks it. */
void cgroup_stats_free(Grpc__CgroupStats *stats)
{
    if (stats)
        grpc__cgroup_stats__free_unpacked(stats, NULL);
}
