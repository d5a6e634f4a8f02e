/* The harness test_clh and test_fc share to drive a driver against its
 * stand-in VMM process (fake-ch, fake-fc): a private run directory with an
 * empty kernel, the fake's mode and request log in its environment, a VM of
 * the driver on it, and the check that nothing was left behind. */
#ifndef KATA_TEST_FAKE_VMM_H
#define KATA_TEST_FAKE_VMM_H

#include "error.h"
#include "hypervisor.h"

#include <stdbool.h>
#include <sys/types.h>

#define SECOND 1000000000ull

struct fake_vmm;

struct fake_vmm_kind {
    const char *name;               /* the run dir: /tmp/test-NAME-vmm.XXXXXX */
    const char *mode_env, *log_env; /* "FAKE_CH_MODE", "FAKE_CH_LOG" */
    const struct hypervisor_ops *ops;
    /* Files of the run dir that must be gone after release (NULL-ended). */
    const char *const *leftovers;
    /* The driver's own part of t->cfg and t->net (may be NULL). */
    void (*configure)(struct fake_vmm *t);
    /* The requests as the tests compare them, from the fake's log (caller
     * frees; NULL: the log as it is). */
    char *(*requests_view)(const char *log);
};

struct fake_vmm {
    const struct fake_vmm_kind *kind;
    char dir[64];
    char kernel[128], console[128], log[128];
    int pipe[2]; /* a "tap" for drivers that pass its fd */
    struct vm_net_device net;
    struct vm_config cfg;
    struct vm vm;
};

/* The binary is cfg.hypervisor_path; the VM has one net device (MAC
 * 02:00:00:00:00:01) and KVM (the fakes need none; the drivers check). */
int fake_vmm_init(struct fake_vmm *t, const struct fake_vmm_kind *kind, const char *binary,
                  const char *mode);

/* The fake's request log (caller frees; "" when there is none). */
char *fake_vmm_requests(struct fake_vmm *t);

/* Release the VM; true when nothing is left: no process, none of the
 * kind's files; the directory removed. */
bool fake_vmm_done(struct fake_vmm *t, pid_t pid);

/* Start the VM and connect to its agent (the fake answers CONNECT):
 * whether both worked (why printed otherwise); t->vm.pid is the VMM's. */
bool fake_vmm_boot(struct fake_vmm *t);

/* The VMM is the VM's one host process and stop (within grace_ns) ends and
 * reaps it: whether so (why printed otherwise). */
bool fake_vmm_stop(struct fake_vmm *t, uint64_t grace_ns);

/* A start in a mode of the fake that makes it fail, and what it must say. */
struct fake_vmm_failure {
    const char *mode;
    int status;           /* the error's errno; 0: not checked */
    const char *says[3];  /* in the error's message (NULL-ended when fewer) */
    bool names_kernel;    /* the message has the kernel's path */
    const char *requests; /* the requests (requests_view); NULL: not checked */
};

/* Each start of the table fails as it says, leaves no VMM process (pid 0)
 * and nothing in the run dir.  A test's body: uses CHECK. */
void fake_vmm_check_failures(int *failed, const struct fake_vmm_kind *kind, const char *binary,
                             const struct fake_vmm_failure *table, size_t n);

#endif
