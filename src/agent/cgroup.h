/* Guest cgroup v2 for containers: create, limit, move, freeze, account, remove.
 * Paths: `root` is the cgroup2 mount ("/sys/fs/cgroup", overridable for tests);
 * `rel` is a relative path under it (the spec's cgroupsPath with any
 * systemd-style "slice:prefix:name" converted, or "kata/<container id>"). */
#ifndef KATA_AGENT_CGROUP_H
#define KATA_AGENT_CGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "oci.pb-c.h"
#include "agent.pb-c.h"

/* A cgroupsPath from the spec (may be empty, absolute, or "a:b:c") made into a
 * safe relative path (no "..", no empty components); falls back to
 * "kata/<id>" when empty.  Returns NULL with err on a path that escapes. */
char *cgroup_path_from_spec(const char *cgroups_path, const char *container_id, struct kerr **err);

/* mkdir -p root/rel, enabling the controllers the spec needs in every parent's
 * cgroup.subtree_control.  *abs_out receives the absolute directory. */
int cgroup_create(const char *root, const char *rel, char **abs_out, struct kerr **err);

/* Write the spec's resources (memory, cpu, pids, io, hugetlb where present)
 * to the cgroup files.  NULL resources is a no-op.  Used at create and by
 * UpdateContainer. */
int cgroup_apply(const char *abs, const Grpc__LinuxResources *res, struct kerr **err);

int cgroup_add_pid(const char *abs, pid_t pid, struct kerr **err);

/* cgroup.freeze, waiting (bounded) until cgroup.events says frozen/thawed. */
int cgroup_freeze(const char *abs, bool frozen, struct kerr **err);

/* The pids in cgroup.procs (recursively).  *pids is allocated. */
int cgroup_pids(const char *abs, pid_t **pids, size_t *n, struct kerr **err);

/* cgroup.kill where the kernel has it, else SIGKILL to every pid. */
int cgroup_kill_all(const char *abs, struct kerr **err);

/* Fill a StatsContainerResponse's cgroup stats (cpu, memory, pids, blkio)
 * from cpu.stat, memory.current/stat/max, pids.current/max, io.stat.
 * *out is allocated with all sub-messages; free it with cgroup_stats_free. */
int cgroup_stats(const char *abs, Grpc__CgroupStats **out, struct kerr **err);
void cgroup_stats_free(Grpc__CgroupStats *stats);

/* memory.events "oom_kill" count (0 when the file is absent). */
uint64_t cgroup_oom_kill_count(const char *abs);

/* An fd (O_CLOEXEC) on memory.events that epoll/poll report with
 * EPOLLPRI/POLLPRI whenever the file changes, an OOM kill among the
 * changes: GetOOMEvent watches it and compares cgroup_oom_kill_count with
 * the count it saw last. */
int cgroup_oom_watch_open(const char *abs, struct kerr **err);

/* Remove the cgroup directory (it must have no live processes; retried a
 * bounded number of times while the kernel drains it). */
int cgroup_remove(const char *abs, struct kerr **err);

/* The spec's device rules (linux.resources.devices) as a cgroup v2 device
 * BPF program attached to the cgroup, replacing the previous one.  Each
 * requested access bit is decided by the last rule naming the device and
 * that bit; type "a" or "" matches block and char devices; major/minor < 0
 * match any (the host sends -1 for OCI's nil); access "" means "rwm"; a bit
 * no rule names is allowed (v1's initial state: specs begin with "deny a
 * *:* rwm").  cgroup_apply calls it when the resources list devices. */
int cgroup_apply_devices(const char *abs, Grpc__LinuxDeviceCgroup **rules, size_t n,
                         struct kerr **err);

/* runc's cgroup v1 -> v2 conversions, exported for tests: cpu shares
 * [2, 262144] -> cpu.weight [1, 10000]; blkio weight [10, 1000] -> io.weight
 * [1, 10000].  0 (unset) stays 0. */
uint64_t cgroup_cpu_weight_from_shares(uint64_t shares);
uint64_t cgroup_io_weight_from_blkio(uint64_t weight);

#endif
