/* The spec's LinuxResources written to cgroup v2 files, with runc's
 * v1-to-v2 conversions (libcontainer/cgroups/fs2 and cgroups/utils.go).
 * Kata's protocol has no "unset": a zero limit, share, quota or weight means
 * the spec did not set it; -1 means unlimited ("max"). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cgroup.h"
#include "cgroup_internal.h"
#include "util.h"

static char *limit_string(int64_t value)
{
    return value < 0 ? xstrdup("max") : xasprintf("%" PRId64, value);
}

/* OCI swap is memory+swap (v1's memsw); v2's memory.swap.max is swap
 * alone (runc's ConvertMemorySwapToCgroupV2Value). */
static int swap_to_v2(int64_t swap, int64_t memory, int64_t *out, struct kerr **err)
{
    if (swap == -1) {
        *out = -1;
        return 0;
    }
    if (memory <= 0)
        return kerr_make(err, EINVAL, "memory swap %" PRId64 ": needs a memory limit", swap);
    if (swap < memory)
        return kerr_make(err, EINVAL,
                         "memory swap %" PRId64 ": less than the memory limit %" PRId64, swap,
                         memory);
    *out = swap - memory;
    return 0;
}

static int apply_memory(const char *abs, const Grpc__LinuxMemory *mem, struct kerr **err)
{
    if (mem == NULL)
        return 0;
    if (mem->swap != 0) {
        int64_t swap = 0;
        if (swap_to_v2(mem->swap, mem->limit, &swap, err) < 0)
            return -1;
        /* Without swap accounting the file is absent: "max" and "0" (no
         * swap beyond memory) then ask for nothing (runc does the same). */
        if ((swap == -1 || swap == 0) && !cgroup_file_exists(abs, "memory.swap.max")) {
            /* nothing to write */
        } else {
            cleanup_free char *value = limit_string(swap);
            if (cgroup_write(abs, "memory.swap.max", value, err) < 0)
                return -1;
        }
    }
    if (mem->limit != 0) {
        cleanup_free char *value = limit_string(mem->limit);
        if (cgroup_write(abs, "memory.max", value, err) < 0)
            return -1;
    }
    if (mem->reservation != 0) {
        cleanup_free char *value = limit_string(mem->reservation);
        if (cgroup_write(abs, "memory.low", value, err) < 0)
            return -1;
    }
    return 0;
}

/* runc's ConvertCPUSharesToCgroupV2Value: [2, 262144] -> [1, 10000]. */
uint64_t cgroup_cpu_weight_from_shares(uint64_t shares)
{
    if (shares == 0)
        return 0;
    if (shares < 2)
        shares = 2;
    if (shares > 262144)
        shares = 262144;
    return 1 + ((shares - 2) * 9999) / 262142;
}

/* runc's ConvertBlkIOToIOWeightValue: [10, 1000] -> [1, 10000]. */
uint64_t cgroup_io_weight_from_blkio(uint64_t weight)
{
    if (weight == 0)
        return 0;
    if (weight < 10)
        weight = 10;
    if (weight > 1000)
        weight = 1000;
    return 1 + (weight - 10) * 9999 / 990;
}

static int apply_cpu(const char *abs, const Grpc__LinuxCPU *cpu, struct kerr **err)
{
    if (cpu == NULL)
        return 0;
    if (cpu->realtimeruntime != 0 || cpu->realtimeperiod != 0)
        return kerr_make(err, EINVAL, "cpu realtime runtime/period: not supported by cgroup v2");
    if (cpu->shares != 0) {
        cleanup_free char *value =
            xasprintf("%" PRIu64, cgroup_cpu_weight_from_shares(cpu->shares));
        if (cgroup_write(abs, "cpu.weight", value, err) < 0)
            return -1;
    }
    if (cpu->quota != 0 || cpu->period != 0) {
        cleanup_free char *quota =
            cpu->quota > 0 ? xasprintf("%" PRId64, cpu->quota) : xstrdup("max");
        cleanup_free char *value =
            cpu->period ? xasprintf("%s %" PRIu64, quota, cpu->period) : xstrdup(quota);
        if (cgroup_write(abs, "cpu.max", value, err) < 0)
            return -1;
    }
    if (cpu->cpus && *cpu->cpus && cgroup_write(abs, "cpuset.cpus", cpu->cpus, err) < 0)
        return -1;
    if (cpu->mems && *cpu->mems && cgroup_write(abs, "cpuset.mems", cpu->mems, err) < 0)
        return -1;
    return 0;
}

static int apply_pids(const char *abs, const Grpc__LinuxPids *pids, struct kerr **err)
{
    if (pids == NULL || pids->limit == 0)
        return 0;
    cleanup_free char *value = limit_string(pids->limit);
    return cgroup_write(abs, "pids.max", value, err);
}

static int write_throttle(const char *abs, Grpc__LinuxThrottleDevice **devs, size_t n,
                          const char *key, struct kerr **err)
{
    for (size_t i = 0; i < n; i++) {
        /* A zero rate lifts the limit, as in v1. */
        cleanup_free char *rate =
            devs[i]->rate ? xasprintf("%" PRIu64, devs[i]->rate) : xstrdup("max");
        cleanup_free char *value =
            xasprintf("%" PRId64 ":%" PRId64 " %s=%s", devs[i]->major, devs[i]->minor, key, rate);
        if (cgroup_write(abs, "io.max", value, err) < 0)
            return -1;
    }
    return 0;
}

static int apply_io(const char *abs, const Grpc__LinuxBlockIO *io, struct kerr **err)
{
    if (io == NULL)
        return 0;
    /* With the BFQ scheduler io.bfq.weight takes the v1 range as is. */
    bool bfq = cgroup_file_exists(abs, "io.bfq.weight");
    const char *weight_file = bfq ? "io.bfq.weight" : "io.weight";
    bool wants_weight = io->weight != 0;
    for (size_t i = 0; i < io->n_weightdevice; i++)
        wants_weight |= io->weightdevice[i]->weight != 0;
    /* io.weight comes from blk-iocost; a kernel without it (and without BFQ)
     * cannot weigh I/O at all: say so rather than ignore the spec. */
    if (wants_weight && !bfq && !cgroup_file_exists(abs, "io.weight"))
        return kerr_make(err, ENOTSUP,
                         "blkio weight: the kernel has neither `io.weight` "
                         "(CONFIG_BLK_CGROUP_IOCOST) nor `io.bfq.weight`");
    if (io->weight != 0) {
        uint64_t weight = bfq ? io->weight : cgroup_io_weight_from_blkio(io->weight);
        cleanup_free char *value = xasprintf("default %" PRIu64, weight);
        if (cgroup_write(abs, weight_file, value, err) < 0)
            return -1;
    }
    for (size_t i = 0; i < io->n_weightdevice; i++) {
        const Grpc__LinuxWeightDevice *dev = io->weightdevice[i];
        if (dev->weight == 0)
            continue;
        uint64_t weight = bfq ? dev->weight : cgroup_io_weight_from_blkio(dev->weight);
        cleanup_free char *value =
            xasprintf("%" PRId64 ":%" PRId64 " %" PRIu64, dev->major, dev->minor, weight);
        if (cgroup_write(abs, weight_file, value, err) < 0)
            return -1;
    }
    if (write_throttle(abs, io->throttlereadbpsdevice, io->n_throttlereadbpsdevice, "rbps", err) <
            0 ||
        write_throttle(abs, io->throttlewritebpsdevice, io->n_throttlewritebpsdevice, "wbps", err) <
            0 ||
        write_throttle(abs, io->throttlereadiopsdevice, io->n_throttlereadiopsdevice, "riops",
                       err) < 0 ||
        write_throttle(abs, io->throttlewriteiopsdevice, io->n_throttlewriteiopsdevice, "wiops",
                       err) < 0)
        return -1;
    return 0;
}

static int apply_hugetlb(const char *abs, Grpc__LinuxHugepageLimit **limits, size_t n,
                         struct kerr **err)
{
    for (size_t i = 0; i < n; i++) {
        const char *size = limits[i]->pagesize;
        if (size == NULL || *size == '\0' || strchr(size, '/') || strchr(size, '.'))
            return kerr_make(err, EINVAL, "hugepage limit: invalid page size `%s`",
                             size ? size : "");
        cleanup_free char *file = xasprintf("hugetlb.%s.max", size);
        cleanup_free char *value = xasprintf("%" PRIu64, limits[i]->limit);
        if (cgroup_write(abs, file, value, err) < 0)
            return -1;
    }
    return 0;
}

int cgroup_apply(const char *abs, const Grpc__LinuxResources *res, struct kerr **err)
{
    if (res == NULL)
        return 0;
    if (apply_memory(abs, res->memory, err) < 0 || apply_cpu(abs, res->cpu, err) < 0 ||
        apply_pids(abs, res->pids, err) < 0 || apply_io(abs, res->blockio, err) < 0 ||
        apply_hugetlb(abs, res->hugepagelimits, res->n_hugepagelimits, err) < 0 ||
        cgroup_apply_devices(abs, res->devices, res->n_devices, err) < 0)
        return kerr_wrap(err, "apply cgroup resources");
    return 0;
}
