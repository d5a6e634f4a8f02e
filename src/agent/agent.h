/* kata-agent: PID 1 in the guest (or an ordinary process on the host for
 * tests), serving grpc.AgentService and grpc.Health over ttrpc. */
#ifndef KATA_AGENT_H
#define KATA_AGENT_H

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"
#include "loop.h"
#include "ttrpc.h"

struct agent_options {
    bool pid1;              /* running as the guest's init */
    const char *listen;     /* "unix:PATH", "vsock", "serial:PATH" or NULL for auto */
    const char *log_level;  /* NULL: from the kernel command line or "info" */
    const char *log_port;   /* virtio-serial port name for a second log stream */
    const char *sysfs_root; /* "/sys", overridable for tests */
    /* Where shared storages and container rootfs live ("/run/kata-containers"
     * in the guest); every path the host names must be under it. */
    const char *storage_root;
    const char *cgroup_root; /* the cgroup2 mount, "/sys/fs/cgroup" */
    /* Where CreateSandbox writes the DNS lines: /etc/resolv.conf as PID 1,
     * storage_root/resolv.conf otherwise (--resolv-conf). */
    const char *resolv_conf;
};

struct agent {
    struct agent_options opts;
    struct loop *loop;
    struct ttrpc_server *server;
    bool shutting_down;
    char *channel; /* where we serve, for the log (channel.c) */
    /* Boot-relative ms of the start steps, for the ready line (main.c). */
    struct {
        unsigned long start, init, channel, ready;
        bool pending;
    } ready_log;
    /* Each module's state, owned by its file. */
    struct agent_containers *containers; /* container.c */
    struct agent_storages *storages;     /* storage.c */
    struct agent_sandbox *sandbox;       /* sandbox.c */
    struct agent_network *network;       /* network.c */
};

/* init.c: what PID 1 must do before anything else. */
int agent_init_pid1(struct kerr **err);
/* Apply agent.* parameters of the kernel command line to opts. */
void agent_read_cmdline(struct agent_options *opts, const char *cmdline);
/* Power the VM off (PID 1) or exit (host process).  Does not return. */
void agent_poweroff(struct agent *a) __attribute__((noreturn));

/* reaper.c: SIGCHLD through a signalfd; exits are delivered to watchers. */
typedef void (*agent_exit_cb)(pid_t pid, int wait_status, void *data);
int agent_reaper_start(struct agent *a, struct kerr **err);
void agent_reaper_watch(pid_t pid, agent_exit_cb cb, void *data);
void agent_reaper_unwatch(pid_t pid);

/* channel.c: open the connection the host talks to us on. */
int agent_channel_open(struct agent *a, struct kerr **err);
/* main.c: the "ready" line, once (a little after serving starts, or at
 * power-off if that comes first). */
void agent_log_ready(struct agent *a);

/* container.c: kill every container process and release its resources
 * (DestroySandbox calls it before unmounting storages and powering off).
 * Weak: the agent links without the container module too. */
void agent_containers_destroy_all(struct agent *a) __attribute__((weak));

/* Each module of the agent serves a group of methods and exports them as a
 * table; rpc.c joins the tables into the one the ttrpc server dispatches on. */
struct agent_method_table {
    const struct ttrpc_method *methods;
    size_t count;
};
#define AGENT_SERVICE  "grpc.AgentService"
#define HEALTH_SERVICE "grpc.Health"

/* rpc.c: Health, guest details, metrics. */
extern const struct agent_method_table agent_base_methods;

/* All methods of every module, joined (allocated once, never freed). */
const struct ttrpc_method *agent_methods_all(size_t *count);

#endif
