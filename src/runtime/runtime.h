/* kata-runtime: shared between main.c and the verb files. */
#ifndef KATA_RUNTIME_H
#define KATA_RUNTIME_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "error.h"

#include "hypervisor.h"
#include "toml.h"

/* Global options, given before the verb. */
struct runtime_options {
    const char *config_path; /* --config / --kata-config */
    const char *root;        /* --root (state directory) */
    const char *log_path;    /* --log */
    const char *log_format;  /* --log-format text|json */
    bool debug;
    bool systemd_cgroup;
};

extern struct runtime_options runtime_opts;

int cmd_version(int argc, char **argv);
int cmd_env(int argc, char **argv);
int cmd_check(int argc, char **argv);
/* The OCI verbs, one file each. */
int cmd_create(int argc, char **argv);
int cmd_start(int argc, char **argv);
int cmd_state(int argc, char **argv);
int cmd_kill(int argc, char **argv);
int cmd_delete(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_ps(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_pause(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_update(int argc, char **argv);
int cmd_features(int argc, char **argv);
int cmd_spec(int argc, char **argv);

/* A verb's failure, as runc reports it: the message on stderr and, when
 * --log is set, as an error entry in the log (conmon reads it there).
 * Both return 1, the exit code. */
int runtime_fail(struct kerr **err);
int runtime_fail_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* kerr_make without the strerror suffix, keeping status for callers that
 * test it (ENOENT: no such container). */
int kerr_make_status(struct kerr **err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "KILL", "SIGKILL", "kill", "9" -> 9; -1 when unknown. */
int signal_parse(const char *name);

/* create and run: make the container (bundle and configuration checked
 * first), start its sandbox daemon, call Task/Create through a holder. */
struct create_options {
    const char *id;
    const char *bundle; /* default "." */
    const char *pid_file;
    const char *console_socket;
    bool foreground; /* run without --detach: a terminal may use our own stdio */
};
/* Returns the holder's pid (our child); nothing is left behind on failure. */
pid_t runtime_create(const struct create_options *o, struct kerr **err);

int create_parse_flag(int getopt_code, struct create_options *o);

/* Write pid to path atomically (runc's --pid-file). */
int pid_file_write(const char *path, pid_t pid, struct kerr **err);

/* A verb whose only argument is the id (and --help). */
const char *verb_simple_id(const char *verb, const char *usage, int argc, char **argv);

/* The verb's single container-id argument (after the flags), or NULL after
 * printing runc's usage error. */
const char *verb_id_argument(const char *verb, int argc, char **argv, int first);

/* What the host offers (env and check). */
struct host_info {
    char *kernel;         /* uname release */
    char *arch;           /* uname machine */
    char *distro_name;    /* os-release NAME */
    char *distro_version; /* os-release VERSION_ID */
    char *cpu_vendor;
    char *cpu_model;
    unsigned cpus;
    const char *virt_flag; /* "vmx", "svm" or NULL */
    uint64_t mem_total_kb, mem_free_kb, mem_available_kb;
    bool kvm_device;     /* /dev/kvm exists */
    enum vm_accel accel; /* KVM when /dev/kvm opens read-write */
    bool vhost_vsock;    /* /dev/vhost-vsock exists */
    bool vhost_net;      /* /dev/vhost-net exists */
};

void host_info_probe(struct host_info *host);
void host_info_release(struct host_info *host);

/* Is the kernel module loaded or built in (/sys/module/NAME)? */
bool host_module_present(const char *name);

/* The first line `path --version` prints (malloc'd), or NULL if it could not
 * run within a few seconds. */
char *host_program_version(const char *path);

/* The document as JSON (two-space indentation). */
void toml_print_json(const struct toml_value *v, FILE *out);

#endif
