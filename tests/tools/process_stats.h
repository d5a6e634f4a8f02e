/* What /proc says about a VMM process, for vm-probe's report: its memory
 * (VmRSS from status; Pss and Private_Clean + Private_Dirty from
 * smaps_rollup, which count guest RAM the guest touched) and how many of its
 * threads run under a seccomp filter (status `Seccomp: 2`). */
#ifndef KATA_TESTS_PROCESS_STATS_H
#define KATA_TESTS_PROCESS_STATS_H

#include <sys/types.h>

#include "error.h"

struct process_memory {
    unsigned long long rss_kb, pss_kb, private_kb;
};

int process_memory_read(pid_t pid, struct process_memory *mem, struct kerr **err);

/* Every thread of pid: *threads in all, *filtered with a seccomp filter. */
int process_seccomp_threads(pid_t pid, unsigned *threads, unsigned *filtered, struct kerr **err);

#endif
