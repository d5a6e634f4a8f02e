/* kata-runtime features: what this runtime supports, as the JSON document
 * `runc features` prints (runtime-spec features.md). */
#include "runtime.h"
#include "util.h"

#include <json-c/json.h>
#include <string.h>

/* The OCI hooks this runtime runs (on the host, by the sandbox daemon:
 * src/shim/hooks.c); startContainer would need the guest and is not run. */
static const char *const hooks[] = {"prestart",  "createRuntime", "createContainer",
                                    "poststart", "poststop",      NULL};

static const char *const mount_options[] = {
    "async",         "atime",      "bind",       "defaults", "dev",
    "diratime",      "dirsync",    "exec",       "iversion", "lazytime",
    "loud",          "mand",       "noatime",    "nodev",    "nodiratime",
    "noexec",        "noiversion", "nolazytime", "nomand",   "norelatime",
    "nostrictatime", "nosuid",     "private",    "rbind",    "relatime",
    "remount",       "ro",         "rprivate",   "rshared",  "rslave",
    "runbindable",   "rw",         "shared",     "silent",   "slave",
    "strictatime",   "sync",       "unbindable",
};

static const char *const namespaces[] = {"cgroup", "ipc", "mount", "network", "pid", "user", "uts"};

/* Linux capabilities up to CAP_CHECKPOINT_RESTORE (the guest kernel is 6.1). */
static const char *const capabilities[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};

static const char *const seccomp_actions[] = {
    "SCMP_ACT_ALLOW",       "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",  "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG",   "SCMP_ACT_TRACE", "SCMP_ACT_TRAP",
};

static const char *const seccomp_operators[] = {
    "SCMP_CMP_EQ", "SCMP_CMP_GE",        "SCMP_CMP_GT", "SCMP_CMP_LE",
    "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE",
};

static const char *const seccomp_archs[] = {"SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"};

static struct json_object *string_array(const char *const *v, size_t n)
{
    struct json_object *a = json_object_new_array_ext((int)n);
    for (size_t i = 0; i < n; i++)
        json_object_array_add(a, json_object_new_string(v[i]));
    return a;
}

#define STRINGS(v) string_array(v, ARRAY_SIZE(v))

static struct json_object *flag(bool enabled)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "enabled", json_object_new_boolean(enabled));
    return o;
}

int cmd_features(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("Usage: kata-runtime features\nPrint what this runtime supports (JSON).\n");
        return 0;
    }
    if (argc > 1)
        return runtime_fail_msg("features: takes no arguments (got `%s`)", argv[1]);
    struct json_object *doc = json_object_new_object();
    json_object_object_add(doc, "ociVersionMin", json_object_new_string("1.0.0"));
    json_object_object_add(doc, "ociVersionMax", json_object_new_string(OCI_SPEC_VERSION));
    json_object_object_add(doc, "hooks", string_array(hooks, ARRAY_SIZE(hooks) - 1));
    json_object_object_add(doc, "mountOptions", STRINGS(mount_options));

    struct json_object *linux_ = json_object_new_object();
    json_object_object_add(linux_, "namespaces", STRINGS(namespaces));
    json_object_object_add(linux_, "capabilities", STRINGS(capabilities));
    struct json_object *cgroup = json_object_new_object();
    json_object_object_add(cgroup, "v1", json_object_new_boolean(false));
    json_object_object_add(cgroup, "v2", json_object_new_boolean(true));
    json_object_object_add(cgroup, "systemd", json_object_new_boolean(false));
    json_object_object_add(cgroup, "systemdUser", json_object_new_boolean(false));
    json_object_object_add(linux_, "cgroup", cgroup);
    struct json_object *seccomp = flag(true);
    json_object_object_add(seccomp, "actions", STRINGS(seccomp_actions));
    json_object_object_add(seccomp, "operators", STRINGS(seccomp_operators));
    json_object_object_add(seccomp, "archs", STRINGS(seccomp_archs));
    json_object_object_add(linux_, "seccomp", seccomp);
    json_object_object_add(linux_, "apparmor", flag(false));
    json_object_object_add(linux_, "selinux", flag(false));
    json_object_object_add(doc, "linux", linux_);

    struct json_object *annotations = json_object_new_object();
    json_object_object_add(annotations, "io.katacontainers.version",
                           json_object_new_string(KATA_VERSION));
    json_object_object_add(annotations, "io.katacontainers.commit",
                           json_object_new_string(KATA_COMMIT));
    json_object_object_add(annotations, "io.katacontainers.isolation",
                           json_object_new_string("vm"));
    json_object_object_add(doc, "annotations", annotations);

    printf("%s\n",
           json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                   JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(doc);
    return 0;
}
