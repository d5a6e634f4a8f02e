/* kata-runtime: shared between main.c and the verb files. */
#ifndef KATA_RUNTIME_H
#define KATA_RUNTIME_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

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
