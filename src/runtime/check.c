/* kata-runtime check (kata-check): can this host run VM containers, and with
 * which accelerator?  Each requirement is reported; the verdict is one
 * sentence and the exit status (0: VMs can run here, under KVM or, for a
 * driver whose capabilities say so, under TCG software emulation; 1: they cannot, or --strict and
 * not KVM). */
#include "config.h"
#include "vm_config.h"
#include "runtime.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

struct check_state {
    bool verbose;
    char **kvm_missing;   /* what KVM lacks here */
    char **fatal_missing; /* what stops VMs from running at all */
    unsigned warnings;
};

static void report_as(struct check_state *st, const char *label, bool ok, const char *what,
                      const char *detail)
{
    if (ok && !st->verbose)
        return;
    printf("%-8s %s%s%s\n", ok ? "ok" : label, what, detail ? ": " : "", detail ? detail : "");
}

static void report(struct check_state *st, bool ok, const char *what, const char *detail)
{
    report_as(st, "MISSING", ok, what, detail);
}

static void info(struct check_state *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void info(struct check_state *st, const char *fmt, ...)
{
    if (!st->verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("info     ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
}

/* Open /dev/kvm and, as root, create (and drop) a VM: what a sandbox does. */
static bool check_kvm_device(struct check_state *st, const struct host_info *host)
{
    if (!host->kvm_device) {
        report(st, false, "/dev/kvm",
               "no such device (load kvm and kvm_intel or kvm_amd; in a VM, the outer "
               "hypervisor must expose nested virtualisation)");
        kata_strv_push(&st->kvm_missing, xstrdup("/dev/kvm"));
        return false;
    }
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        cleanup_free char *why = xasprintf("cannot open it read-write: %s", strerror(errno));
        report(st, false, "/dev/kvm", why);
        kata_strv_push(&st->kvm_missing, xstrdup("access to /dev/kvm"));
        return false;
    }
    int api = ioctl(fd, KVM_GET_API_VERSION, 0);
    if (api != KVM_API_VERSION) {
        cleanup_free char *why = xasprintf("KVM API version %d, expected %d", api, KVM_API_VERSION);
        report(st, false, "/dev/kvm", why);
        kata_strv_push(&st->kvm_missing, xstrdup("a KVM API this runtime supports"));
        close(fd);
        return false;
    }
    if (geteuid() == 0) {
        int vm = ioctl(fd, KVM_CREATE_VM, 0);
        if (vm < 0) {
            cleanup_free char *why = xasprintf("KVM_CREATE_VM failed: %s", strerror(errno));
            report(st, false, "/dev/kvm", why);
            kata_strv_push(&st->kvm_missing, xstrdup("KVM_CREATE_VM on /dev/kvm"));
            close(fd);
            return false;
        }
        close(vm);
        report(st, true, "/dev/kvm", "KVM_CREATE_VM succeeded");
    } else {
        report(st, true, "/dev/kvm", "opens read-write (not root: no test VM created)");
    }
    close(fd);
    return true;
}

static void check_module(struct check_state *st, const char *name, const char *device,
                         const char *purpose, bool for_kvm)
{
    bool present = host_module_present(name);
    bool node = device == NULL || access(device, F_OK) == 0;
    cleanup_free char *what = xasprintf("kernel module %s", name);
    if (present || (device && node)) {
        cleanup_free char *detail = xasprintf("%s%s%s", present ? "loaded" : "built in",
                                              device ? ", " : "", device ? device : "");
        report(st, true, what, detail);
        return;
    }
    cleanup_free char *detail = xasprintf("not loaded (modprobe %s): %s", name, purpose);
    report_as(st, for_kvm ? "MISSING" : "WARNING", false, what, detail);
    if (for_kvm)
        kata_strv_push(&st->kvm_missing, xasprintf("module %s", name));
    else
        st->warnings++;
}

static void check_file(struct check_state *st, const char *what, const char *path, bool executable)
{
    if (path == NULL || *path == '\0')
        return;
    cleanup_free char *label = xasprintf("%s %s", what, path);
    struct stat sb;
    if (stat(path, &sb) < 0) {
        report(st, false, label, strerror(errno));
        kata_strv_push(&st->fatal_missing, xstrdup(label));
    } else if (executable && access(path, X_OK) < 0) {
        report(st, false, label, "not executable");
        kata_strv_push(&st->fatal_missing, xstrdup(label));
    } else {
        report(st, true, label, NULL);
    }
}

static char *joined(char *const *v)
{
    char *out = xstrdup("");
    for (size_t i = 0; v && v[i]; i++) {
        char *next = xasprintf("%s%s%s", out, i ? ", " : "", v[i]);
        free(out);
        out = next;
    }
    return out;
}

static bool runs_without_kvm(const struct vm_capabilities *caps)
{
    return caps->runs_without_kvm;
}

/* The names of this build's drivers (those whose capabilities for cfg pass
 * want, when want is given), comma-separated; "none" when there is none. */
static char *drivers_where(const struct vm_config *cfg,
                           bool (*want)(const struct vm_capabilities *caps))
{
    char **names = NULL;
    const struct hypervisor_ops *ops;
    for (size_t i = 0; (ops = hypervisor_at(i)) != NULL; i++) {
        struct vm_capabilities caps;
        if (want) {
            vm_capabilities(ops, cfg, &caps);
            if (!want(&caps))
                continue;
        }
        kata_strv_push(&names, xstrdup(ops->name));
    }
    char *out = names ? joined(names) : xstrdup("none");
    kata_strv_free(names);
    return out;
}

int cmd_check(int argc, char **argv)
{
    struct check_state st = {0};
    bool strict = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0)
            st.verbose = true;
        else if (strcmp(argv[i], "--strict") == 0 || strcmp(argv[i], "-s") == 0)
            strict = true;
        else if (strcmp(argv[i], "--no-network-checks") == 0 || strcmp(argv[i], "-n") == 0)
            ; /* this runtime makes no network checks (Kata's looks for newer releases) */
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("Usage: kata-runtime check [--verbose] [--strict] [--no-network-checks]\n"
                   "Tell whether this host can run VM containers, and with which accelerator.\n"
                   "Exit status 0 when it can (with --strict: only with KVM and no warning).\n");
            return 0;
        } else {
            fprintf(stderr, "kata-runtime check: unknown option `%s`\n", argv[i]);
            return 1;
        }
    }

    cleanup_kerr struct kerr *err = NULL;
    cleanup_kata_config struct kata_config *cfg =
        kata_config_load(runtime_opts.config_path, KATA_CONFIG_SKIP_ASSETS, &err);
    if (cfg == NULL) {
        printf("%-8s configuration: %s\n", "ERROR", err->msg);
        printf("System cannot run Kata Containers: the configuration does not load.\n");
        return 1;
    }
    info(&st, "configuration %s (hypervisor %s)", cfg->path, cfg->hypervisor.name);
    st.warnings += (unsigned)kata_strv_len(cfg->warnings);
    for (size_t i = 0; cfg->warnings && cfg->warnings[i]; i++)
        printf("%-8s %s\n", "WARNING", cfg->warnings[i]);

    struct host_info host;
    host_info_probe(&host);
    info(&st, "host kernel %s, %s, CPU %s", host.kernel ? host.kernel : "?",
         host.distro_name ? host.distro_name : "?", host.cpu_model ? host.cpu_model : "?");

    /* KVM: the CPU's virtualisation extensions, the modules, the device. */
    if (host.virt_flag) {
        report(&st, true, "CPU virtualisation extensions", host.virt_flag);
    } else {
        report(&st, false, "CPU virtualisation extensions",
               "the CPU flags show neither vmx (Intel VT-x) nor svm (AMD-V); enable them in the "
               "firmware, or nested virtualisation in the outer hypervisor");
        kata_strv_push(&st.kvm_missing, xstrdup("CPU virtualisation extensions (vmx/svm)"));
    }
    const char *vendor_module =
        host.cpu_vendor && strstr(host.cpu_vendor, "AMD") ? "kvm_amd" : "kvm_intel";
    check_module(&st, "kvm", NULL, "KVM itself", true);
    check_module(&st, vendor_module, NULL, "KVM for this CPU vendor", true);
    bool kvm = check_kvm_device(&st, &host);
    check_module(&st, "vhost", NULL, "vhost devices; without it virtio runs in the VMM", false);
    check_module(&st, "vhost_net", "/dev/vhost-net",
                 "virtio-net's data path stays in the VMM (slower networking)", false);
    check_module(&st, "vhost_vsock", "/dev/vhost-vsock",
                 "no vsock: the agent is reached over virtio-serial where the hypervisor "
                 "has it",
                 false);

    /* The configured hypervisor and guest assets. */
    const struct kata_hypervisor_config *hv = &cfg->hypervisor;
    const struct hypervisor_ops *ops = hypervisor_find(hv->name);
    struct vm_capabilities caps = {.needs_binary = kata_hypervisor_key_applies(hv->kind, "path")};
    if (ops == NULL) {
        cleanup_free char *names = drivers_where(NULL, NULL);
        cleanup_free char *detail = xasprintf("this build of the runtime has no driver for it "
                                              "yet (it has %s: kata-manager -S NAME)",
                                              names);
        report(&st, false, "hypervisor driver", detail);
        cleanup_free char *what = xasprintf("a %s driver in this runtime", hv->name);
        kata_strv_push(&st.fatal_missing, steal_pointer(&what));
    } else {
        struct vm_config vm_cfg = {0};
        vm_config_from_kata(cfg, &vm_cfg);
        vm_capabilities(ops, &vm_cfg, &caps);
    }
    if (caps.needs_vhost_vsock && access("/dev/vhost-vsock", F_OK) < 0) {
        cleanup_free char *why = xasprintf("%s reaches the agent only over vhost-vsock "
                                           "(modprobe vhost_vsock)",
                                           hv->name);
        report(&st, false, "/dev/vhost-vsock", why);
        kata_strv_push(&st.fatal_missing, xstrdup("/dev/vhost-vsock"));
    }
    if (caps.needs_binary) {
        check_file(&st, "hypervisor", hv->path, true);
        cleanup_free char *version = host_program_version(hv->path);
        if (version)
            info(&st, "hypervisor version: %s", version);
    }
    check_file(&st, "guest kernel", hv->kernel, false);
    check_file(&st, "guest initrd", hv->initrd, false);
    check_file(&st, "guest image", hv->image, false);
    if (strcmp(hv->shared_fs, "virtio-fs") == 0 &&
        kata_hypervisor_key_applies(hv->kind, "virtio_fs_daemon"))
        check_file(&st, "virtio-fs daemon", hv->virtio_fs_daemon, true);

    int status = 0;
    cleanup_free char *kvm_missing = joined(st.kvm_missing);
    cleanup_free char *fatal = joined(st.fatal_missing);
    if (st.fatal_missing) {
        if (st.kvm_missing)
            printf("KVM is not usable here (missing: %s).\n", kvm_missing);
        printf("System cannot run Kata Containers with %s: missing %s.\n", hv->name, fatal);
        status = 1;
    } else if (kvm && !st.kvm_missing) {
        printf("System is capable of running Kata Containers with %s using KVM "
               "(hardware virtualisation).\n",
               hv->name);
        status = strict && st.warnings ? 1 : 0;
    } else if (caps.runs_without_kvm) {
        printf("KVM is not usable here (missing: %s).\n"
               "System can run Kata Containers with %s only under software emulation (TCG): "
               "VMs work, but boot and run much slower than with KVM.\n",
               kvm_missing, hv->name);
        status = strict ? 1 : 0;
    } else {
        struct vm_config vm_cfg = {0};
        vm_config_from_kata(cfg, &vm_cfg);
        cleanup_free char *tcg = drivers_where(&vm_cfg, runs_without_kvm);
        printf("KVM is not usable here (missing: %s).\n"
               "System cannot run Kata Containers with %s: it needs KVM.  Drivers that run under "
               "software emulation (TCG): %s (kata-manager -S NAME).\n",
               kvm_missing, hv->name, tcg);
        status = 1;
    }
    kata_strv_free(st.kvm_missing);
    kata_strv_free(st.fatal_missing);
    host_info_release(&host);
    return status;
}
