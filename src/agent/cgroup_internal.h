/* Helpers shared by cgroup.c (layout, processes), cgroup_limits.c
 * (resources) and cgroup_stats.c. */
#ifndef KATA_AGENT_CGROUP_INTERNAL_H
#define KATA_AGENT_CGROUP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "oci.pb-c.h"

/* Write value to abs/file (one write, as the kernel parses it whole). */
int cgroup_write(const char *abs, const char *file, const char *value, struct kerr **err);

/* Read abs/file; NULL with err (status ENOENT when the file is absent). */
char *cgroup_read(const char *abs, const char *file, struct kerr **err);

bool cgroup_file_exists(const char *abs, const char *file);

/* A single number file ("max" reads as UINT64_MAX); -1 when absent or bad. */
int cgroup_read_u64(const char *abs, const char *file, uint64_t *value);

/* The value of `key` in a flat-keyed file ("key value\n" lines: cpu.stat,
 * memory.stat, memory.events, cgroup.events); -1 when absent. */
int cgroup_keyed_u64(const char *text, const char *key, uint64_t *value);

/* cgroup_kill_all without cgroup.kill (Linux < 5.14): freeze, SIGKILL each
 * pid (recursively), thaw. */
int cgroup_kill_each(const char *abs, struct kerr **err);

/* The device rules as a loaded (not attached) BPF program: its fd, or -1
 * with err (a rule that does not parse, or the verifier's complaint). */
int cgroup_device_program_load(Grpc__LinuxDeviceCgroup **rules, size_t n, struct kerr **err);

#endif
