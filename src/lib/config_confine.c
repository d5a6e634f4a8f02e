/* What the configuration may ask of the confined daemons: virtiofsd's extra
 * arguments (an allow-list: nothing that changes what it shares, its sandbox,
 * its capabilities, its socket or its privileges) and QEMU's -sandbox value.
 * Both the file and annotations go through here (config_validate.c), and the
 * hypervisor layer checks again before it starts virtiofsd. */
#include "config.h"
#include "util.h"

#include <stdbool.h>
#include <string.h>

/* C virtiofsd's `-o` options (QEMU 7.2) that are safe to pass. */
static const char *const safe_o_options[] = {
    "cache",
    "flock",
    "no_flock",
    "posix_lock",
    "no_posix_lock",
    "readdirplus",
    "no_readdirplus",
    "timeout",
    "writeback",
    "no_writeback",
    "no_xattr",
    "log_level",
    "max_idle_threads",
    "allow_direct_io",
    "no_allow_direct_io",
    "announce_submounts",
    "killpriv_v2",
    "no_killpriv_v2",
    "no_posix_acl",
    "no_security_label",
    "debug",
};

/* Long options (C and Rust virtiofsd) that are safe, without their value. */
static const char *const safe_long_options[] = {
    "--thread-pool-size",   "--rlimit-nofile",  "--syslog",
    "--announce-submounts", "--cache",          "--log-level",
    "--allow-direct-io",    "--writeback",      "--no-readdirplus",
    "--killpriv-v2",        "--no-killpriv-v2", "--readdirplus",
};

static const char *const safe_short_options[] = {"-f", "-d"};

/* Refused with a reason, so the error says why rather than "unknown". */
static const struct {
    const char *name, *why;
} refused[] = {
    {"source", "it changes the directory virtiofsd shares"},
    {"--shared-dir", "it changes the directory virtiofsd shares"},
    {"sandbox", "it changes virtiofsd's sandbox"},
    {"--sandbox", "it changes virtiofsd's sandbox"},
    {"--seccomp", "it changes virtiofsd's sandbox"},
    {"modcaps", "it changes virtiofsd's capabilities"},
    {"--modcaps", "it changes virtiofsd's capabilities"},
    {"--inode-file-handles", "it keeps CAP_DAC_READ_SEARCH (open_by_handle_at) in virtiofsd"},
    {"xattr", "it lets the guest set extended attributes on host files"},
    {"xattrmap", "it lets the guest set extended attributes on host files"},
    {"--xattr", "it lets the guest set extended attributes on host files"},
    {"--xattrmap", "it lets the guest set extended attributes on host files"},
    {"posix_acl", "it lets the guest set ACLs on host files"},
    {"--posix-acl", "it lets the guest set ACLs on host files"},
    {"security_label", "it lets the guest set security labels on host files"},
    {"--security-label", "it lets the guest set security labels on host files"},
    {"allow_root", "it changes who may access the share"},
    {"--socket-path", "the runtime owns virtiofsd's socket"},
    {"--socket", "the runtime owns virtiofsd's socket"},
    {"--socket-group", "the runtime owns virtiofsd's socket"},
    {"--fd", "the runtime owns virtiofsd's socket"},
    {"--daemonize", "virtiofsd must stay the runtime's child"},
};

static const char *unknown_why =
    "not a virtiofsd option known to be safe (see docs/configuration.md; long options "
    "take the `--name=value` form)";

static bool in_list(const char *const *list, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(list[i]) == len && strncmp(list[i], name, len) == 0)
            return true;
    return false;
}

static const char *refusal_of(const char *name, size_t len)
{
    for (size_t i = 0; i < ARRAY_SIZE(refused); i++)
        if (strlen(refused[i].name) == len && strncmp(refused[i].name, name, len) == 0)
            return refused[i].why;
    return NULL;
}

/* One comma-separated `-o` list. */
static const char *o_list_refusal(const char *list)
{
    if (*list == '\0')
        return "an empty `-o` list";
    for (const char *p = list; *p;) {
        size_t item = strcspn(p, ",");
        size_t name = strcspn(p, ",=");
        if (name > item)
            name = item;
        const char *why = refusal_of(p, name);
        if (why)
            return why;
        if (!in_list(safe_o_options, ARRAY_SIZE(safe_o_options), p, name))
            return unknown_why;
        p += item;
        if (*p == ',')
            p++;
    }
    return NULL;
}

const char *kata_virtiofsd_arg_refusal(const char *arg, const char *next, bool *consumed,
                                       const char **bad_option)
{
    *consumed = false;
    *bad_option = arg;
    if (strcmp(arg, "-o") == 0) {
        if (next == NULL)
            return "`-o` without its option list";
        *consumed = true;
        *bad_option = next;
        return o_list_refusal(next);
    }
    if (strncmp(arg, "-o", 2) == 0)
        return o_list_refusal(arg + 2);
    if (strncmp(arg, "--", 2) == 0) {
        size_t name = strcspn(arg, "=");
        const char *why = refusal_of(arg, name);
        if (why)
            return why;
        return in_list(safe_long_options, ARRAY_SIZE(safe_long_options), arg, name) ? NULL
                                                                                    : unknown_why;
    }
    return in_list(safe_short_options, ARRAY_SIZE(safe_short_options), arg, strlen(arg))
               ? NULL
               : unknown_why;
}

int kata_virtiofsd_args_check(char *const *args, const char **bad, const char **why)
{
    for (size_t i = 0; args && args[i]; i++) {
        bool consumed;
        *why = kata_virtiofsd_arg_refusal(args[i], args[i + 1], &consumed, bad);
        if (*why)
            return -1;
        if (consumed)
            i++;
    }
    return 0;
}

/* QEMU 7.2's -sandbox suboptions and their values. */
static const struct {
    const char *name;
    const char *const values[4];
} sandbox_options[] = {
    {"obsolete", {"allow", "deny", NULL}},
    {"elevateprivileges", {"allow", "deny", "children", NULL}},
    {"spawn", {"allow", "deny", NULL}},
    {"resourcecontrol", {"allow", "deny", NULL}},
};

static bool sandbox_item_valid(const char *item, size_t len)
{
    const char *eq = memchr(item, '=', len);
    if (eq == NULL)
        return false;
    size_t name = (size_t)(eq - item), value = len - name - 1;
    for (size_t i = 0; i < ARRAY_SIZE(sandbox_options); i++) {
        if (strlen(sandbox_options[i].name) != name ||
            strncmp(sandbox_options[i].name, item, name) != 0)
            continue;
        for (const char *const *v = sandbox_options[i].values; *v; v++)
            if (strlen(*v) == value && strncmp(*v, eq + 1, value) == 0)
                return true;
    }
    return false;
}

bool kata_qemu_seccomp_sandbox_valid(const char *value)
{
    if (value == NULL || *value == '\0')
        return true;
    size_t first = strcspn(value, ",");
    if (!((first == 2 && strncmp(value, "on", 2) == 0) ||
          (first == 3 && strncmp(value, "off", 3) == 0)))
        return false;
    for (const char *p = value + first; *p;) {
        p++; /* the comma */
        size_t item = strcspn(p, ",");
        if (!sandbox_item_valid(p, item))
            return false;
        p += item;
    }
    return true;
}
