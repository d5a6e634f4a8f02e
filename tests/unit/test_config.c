/* Configuration lookup, drop-ins, validation, annotations and the shipped
 * files.  Every path is rooted in a temporary directory. */
#include "config.h"
#include "vm_config.h"
#include "log.h"
#include "test.h"
#include "toml.h"
#include "util.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

__attribute__((constructor)) static void quiet_logs(void)
{
    log_set_level(LOG_LEVEL_ERROR);
}

static char *make_root(void)
{
    char tmpl[] = "/tmp/test-config.XXXXXX";
    char *dir = mkdtemp(tmpl);
    if (dir == NULL)
        abort();
    cleanup_free char *etc = xasprintf("%s/etc", dir);
    cleanup_free char *defaults = xasprintf("%s/defaults", dir);
    setenv("KATA_ETC_DIR", etc, 1);
    setenv("KATA_DEFAULTS_DIR", defaults, 1);
    unsetenv("KATA_CONF_FILE");
    return xstrdup(dir);
}

static void remove_root(char *root)
{
    cleanup_free char *cmd = xasprintf("rm -rf '%s'", root);
    if (system(cmd) != 0)
        abort();
    free(root);
}

static char *put(const char *root, const char *rel, const char *text)
{
    char *path = xasprintf("%s/%s", root, rel);
    cleanup_free char *dir = xstrdup(path);
    *strrchr(dir, '/') = '\0';
    if (mkdir_all(dir, 0755, NULL) < 0 ||
        file_write_atomic(path, text, strlen(text), 0755, NULL) < 0)
        abort();
    return path;
}

/* A minimal valid QEMU configuration whose assets exist under root. */
static char *qemu_config(const char *root, const char *extra)
{
    free(put(root, "assets/qemu", "#!/bin/sh\n"));
    free(put(root, "assets/vmlinux", "k"));
    free(put(root, "assets/initrd.img", "i"));
    free(put(root, "assets/virtiofsd", "#!/bin/sh\n"));
    return xasprintf("[hypervisor.qemu]\n"
                     "path = \"%s/assets/qemu\"\n"
                     "kernel = \"%s/assets/vmlinux\"\n"
                     "initrd = \"%s/assets/initrd.img\"\n"
                     "machine_type = \"microvm\"\n"
                     "virtio_fs_daemon = \"%s/assets/virtiofsd\"\n"
                     "%s",
                     root, root, root, root, extra ? extra : "");
}

static char *real(const char *path)
{
    char *r = realpath(path, NULL);
    return r ? r : xstrdup(path);
}

/* Load text as a configuration file; return the error message or NULL. */
static char *load_error(const char *root, const char *text, unsigned flags)
{
    free(put(root, "etc/configuration.toml", text));
    cleanup_kerr struct kerr *e = NULL;
    struct kata_config *cfg = kata_config_load(NULL, flags, &e);
    if (cfg) {
        kata_config_free(cfg);
        return NULL;
    }
    return xstrdup(e->msg);
}

TEST(lookup_prefers_explicit_path_over_everything)
{
    char *root = make_root();
    cleanup_free char *text = qemu_config(root, "default_memory = 1\n");
    free(put(root, "etc/configuration.toml", text));
    free(put(root, "defaults/configuration.toml", text));
    cleanup_free char *env = put(root, "env.toml", text);
    cleanup_free char *explicit_path = put(root, "explicit.toml", text);
    setenv("KATA_CONF_FILE", env, 1);
    cleanup_kerr struct kerr *e = NULL;
    cleanup_free char *found = kata_config_find(explicit_path, &e);
    cleanup_free char *want = real(explicit_path);
    remove_root(root);
    CHECK_STR(found, want);
}

TEST(lookup_uses_kata_conf_file_before_etc)
{
    char *root = make_root();
    free(put(root, "etc/configuration.toml", "x"));
    cleanup_free char *env = put(root, "env.toml", "x");
    setenv("KATA_CONF_FILE", env, 1);
    cleanup_free char *found = kata_config_find(NULL, NULL);
    cleanup_free char *want = real(env);
    remove_root(root);
    CHECK_STR(found, want);
}

TEST(lookup_uses_etc_before_defaults)
{
    char *root = make_root();
    cleanup_free char *etc = put(root, "etc/configuration.toml", "x");
    free(put(root, "defaults/configuration.toml", "x"));
    cleanup_free char *found = kata_config_find(NULL, NULL);
    cleanup_free char *want = real(etc);
    remove_root(root);
    CHECK_STR(found, want);
}

TEST(lookup_falls_back_to_pristine_defaults)
{
    char *root = make_root();
    cleanup_free char *pristine = put(root, "defaults/configuration-qemu.toml", "x");
    cleanup_free char *link = xasprintf("%s/defaults/configuration.toml", root);
    CHECK(symlink("configuration-qemu.toml", link) == 0);
    cleanup_free char *found = kata_config_find(NULL, NULL);
    cleanup_free char *want = real(pristine);
    remove_root(root);
    CHECK_STR(found, want); /* symlink resolved */
}

TEST(lookup_missing_explicit_path_is_an_error_not_a_fallthrough)
{
    char *root = make_root();
    free(put(root, "etc/configuration.toml", "x"));
    cleanup_free char *missing = xasprintf("%s/nope.toml", root);
    cleanup_kerr struct kerr *e = NULL;
    char *found = kata_config_find(missing, &e);
    setenv("KATA_CONF_FILE", missing, 1);
    cleanup_kerr struct kerr *e2 = NULL;
    char *found2 = kata_config_find(NULL, &e2);
    remove_root(root);
    CHECK(found == NULL && found2 == NULL);
    CHECK_CONTAINS(e->msg, "nope.toml");
    CHECK_CONTAINS(e->msg, "No such file");
    CHECK_CONTAINS(e2->msg, "KATA_CONF_FILE");
}

TEST(lookup_nothing_found_names_both_defaults)
{
    char *root = make_root();
    cleanup_kerr struct kerr *e = NULL;
    char *found = kata_config_find(NULL, &e);
    remove_root(root);
    CHECK(found == NULL);
    CHECK_CONTAINS(e->msg, "/etc/configuration.toml");
    CHECK_CONTAINS(e->msg, "/defaults/configuration.toml");
}

TEST(default_paths_follow_the_roots_in_priority_order)
{
    char *root = make_root();
    char **paths = kata_config_default_paths();
    cleanup_free char *etc = xasprintf("%s/etc/configuration.toml", root);
    cleanup_free char *defaults = xasprintf("%s/defaults/configuration.toml", root);
    unsetenv("KATA_ETC_DIR");
    unsetenv("KATA_DEFAULTS_DIR");
    char **builtin = kata_config_default_paths();
    remove_root(root);
    CHECK_INT(kata_strv_len(paths), 2);
    CHECK_STR(paths[0], etc);
    CHECK_STR(paths[1], defaults);
    CHECK_STR(builtin[0], "/etc/kata-containers/configuration.toml");
    CHECK_STR(builtin[1], KATA_PREFIX "/share/defaults/kata-containers/configuration.toml");
    kata_strv_free(paths);
    kata_strv_free(builtin);
}

TEST(dropins_merge_in_lexical_order_key_by_key)
{
    char *root = make_root();
    cleanup_free char *text = qemu_config(root, "default_memory = 512\ndefault_vcpus = 1\n");
    free(put(root, "etc/configuration.toml", text));
    free(put(root, "etc/config.d/20-second.toml", "[hypervisor.qemu]\ndefault_memory = 300\n"));
    free(put(root, "etc/config.d/10-first.toml",
             "[hypervisor.qemu]\ndefault_memory = 100\nkernel_params = \"a=1\"\n"
             "[runtime]\nenable_debug = true\n"));
    free(put(root, "etc/config.d/30-ignored.toml~", "[hypervisor.qemu]\ndefault_memory = 9\n"));
    cleanup_kerr struct kerr *e = NULL;
    cleanup_kata_config struct kata_config *cfg = kata_config_load(NULL, 0, &e);
    remove_root(root);
    CHECK(cfg != NULL);
    CHECK_INT(cfg->hypervisor.default_memory, 300);
    CHECK_STR(cfg->hypervisor.kernel_params, "a=1");
    CHECK_INT(cfg->hypervisor.default_vcpus, 1);
    CHECK(cfg->runtime.enable_debug);
    CHECK_INT(kata_strv_len(cfg->dropins), 2);
    CHECK_CONTAINS(cfg->dropins[0], "10-first.toml");
    CHECK_CONTAINS(cfg->dropins[1], "20-second.toml");
}

TEST(dropins_are_found_beside_the_resolved_file)
{
    char *root = make_root();
    cleanup_free char *text = qemu_config(root, NULL);
    free(put(root, "elsewhere/configuration-qemu.toml", text));
    free(put(root, "elsewhere/config.d/50.toml", "[hypervisor.qemu]\ndefault_memory = 700\n"));
    free(put(root, "etc/config.d/50.toml", "[hypervisor.qemu]\ndefault_memory = 900\n"));
    cleanup_free char *link = xasprintf("%s/etc/configuration.toml", root);
    CHECK(symlink("../elsewhere/configuration-qemu.toml", link) == 0);
    cleanup_kerr struct kerr *e = NULL;
    cleanup_kata_config struct kata_config *cfg = kata_config_load(NULL, 0, &e);
    remove_root(root);
    CHECK(cfg != NULL);
    CHECK_INT(cfg->hypervisor.default_memory, 700);
    CHECK_CONTAINS(cfg->path, "elsewhere/configuration-qemu.toml");
}

TEST(dropin_errors_point_at_the_dropin_line)
{
    char *root = make_root();
    cleanup_free char *text = qemu_config(root, NULL);
    free(put(root, "etc/configuration.toml", text));
    free(put(root, "etc/config.d/10.toml", "[hypervisor.qemu]\n\nshared_fs = \"virtio-foo\"\n"));
    cleanup_kerr struct kerr *e = NULL;
    struct kata_config *cfg = kata_config_load(NULL, 0, &e);
    remove_root(root);
    CHECK(cfg == NULL);
    CHECK_CONTAINS(e->msg, "config.d/10.toml:3: [hypervisor.qemu] shared_fs = \"virtio-foo\"");
}

TEST(dropin_that_adds_a_second_hypervisor_is_rejected)
{
    char *root = make_root();
    cleanup_free char *text = qemu_config(root, NULL);
    free(put(root, "etc/configuration.toml", text));
    free(put(root, "etc/config.d/10.toml", "[hypervisor.clh]\npath = \"/x\"\n"));
    cleanup_kerr struct kerr *e = NULL;
    struct kata_config *cfg = kata_config_load(NULL, 0, &e);
    remove_root(root);
    CHECK(cfg == NULL);
    CHECK_CONTAINS(e->msg, "exactly one [hypervisor.*] section allowed, found 2");
    CHECK_CONTAINS(e->msg, "[hypervisor.clh] (");
    CHECK_CONTAINS(e->msg, "config.d/10.toml:1");
}

TEST(no_hypervisor_section_is_an_error)
{
    char *root = make_root();
    cleanup_free char *msg = load_error(root, "[runtime]\nenable_debug = true\n", 0);
    remove_root(root);
    CHECK_CONTAINS(msg, "no [hypervisor.<name>] section");
}

TEST(unknown_hypervisor_section_is_an_error)
{
    char *root = make_root();
    cleanup_free char *msg = load_error(root, "[hypervisor.vbox]\npath = \"/x\"\n", 0);
    remove_root(root);
    CHECK_CONTAINS(msg, "configuration.toml:1: [hypervisor.vbox]: unknown hypervisor: expected "
                        "one of \"qemu\", \"clh\", \"firecracker\", \"dragonball\", "
                        "\"stratovirt\"");
}

TEST(invalid_shared_fs_names_file_line_section_key_and_choices)
{
    char *root = make_root();
    cleanup_free char *text = qemu_config(root, "shared_fs = \"virtio-foo\"\n");
    cleanup_free char *msg = load_error(root, text, 0);
    cleanup_free char *want = xasprintf(
        "%s/etc/configuration.toml:7: [hypervisor.qemu] shared_fs = \"virtio-foo\": expected "
        "one of \"virtio-fs\", \"virtio-9p\", \"none\"",
        root);
    remove_root(root);
    CHECK_STR(msg, want);
}

TEST(invalid_block_device_driver)
{
    char *root = make_root();
    cleanup_free char *text = qemu_config(root, "block_device_driver = \"ide\"\n");
    cleanup_free char *msg = load_error(root, text, 0);
    remove_root(root);
    CHECK_CONTAINS(msg, ":7: [hypervisor.qemu] block_device_driver = \"ide\": expected one of "
                        "\"virtio-blk\", \"virtio-scsi\", \"nvdimm\"");
}

TEST(disable_block_device_use_is_a_boolean_defaulting_to_false)
{
    char *root = make_root();
    cleanup_free char *text = qemu_config(root, "disable_block_device_use = true\n");
    free(put(root, "etc/configuration.toml", text));
    cleanup_kata_config struct kata_config *cfg = kata_config_load(NULL, 0, NULL);
    cleanup_free char *plain = qemu_config(root, "");
    free(put(root, "etc/configuration.toml", plain));
    cleanup_kata_config struct kata_config *cfg2 = kata_config_load(NULL, 0, NULL);
    cleanup_free char *bad = qemu_config(root, "disable_block_device_use = \"yes\"\n");
    cleanup_free char *msg = load_error(root, bad, 0);
    remove_root(root);
    CHECK(cfg != NULL && cfg->hypervisor.disable_block_device_use);
    CHECK(cfg2 != NULL && !cfg2->hypervisor.disable_block_device_use);
    CHECK_CONTAINS(msg, "disable_block_device_use = \"yes\": expected a boolean");
}

TEST(invalid_machine_type)
{
    char *root = make_root();
    cleanup_free char *text = qemu_config(root, NULL);
    char *at = strstr(text, "\"microvm\"");
    memcpy(at, "\"pc-i44\"", 9);
    cleanup_free char *msg = load_error(root, text, 0);
    remove_root(root);
    CHECK_CONTAINS(msg, ":5: [hypervisor.qemu] machine_type = \"pc-i44\": expected one of "
                        "\"q35\", \"microvm\"");
}

TEST(firecracker_with_virtio_fs_is_a_contradiction)
{
    char *root = make_root();
    cleanup_free char *text =
        xasprintf("[hypervisor.firecracker]\npath = \"/fc\"\nkernel = \"/k\"\nimage = \"/i\"\n"
                  "shared_fs = \"virtio-fs\"\n");
    cleanup_free char *msg = load_error(root, text, KATA_CONFIG_SKIP_ASSETS);
    remove_root(root);
    CHECK_CONTAINS(msg, ":5: [hypervisor.firecracker] shared_fs = \"virtio-fs\": not supported "
                        "by firecracker: expected one of \"none\"");
}

TEST(zero_memory_is_an_error)
{
    char *root = make_root();
    cleanup_free char *text = qemu_config(root, "default_memory = 0\n");
    cleanup_free char *msg = load_error(root, text, 0);
    remove_root(root);
    CHECK_CONTAINS(msg, ":7: [hypervisor.qemu] default_memory = 0: expected a size in MiB "
                        "greater than 0");
}

TEST(wrong_type_names_what_is_expected)
{
    char *root = make_root();
    cleanup_free char *text = qemu_config(root, "default_memory = \"lots\"\n");
    cleanup_free char *msg = load_error(root, text, 0);
    cleanup_free char *msg2 = load_error(root, "[hypervisor.qemu]\nenable_debug = 1\n", 0);
    remove_root(root);
    CHECK_CONTAINS(msg, ":7: [hypervisor.qemu] default_memory = \"lots\": expected a "
                        "non-negative integer");
    CHECK_CONTAINS(msg2, ":2: [hypervisor.qemu] enable_debug = 1: expected a boolean");
}

TEST(missing_asset_is_an_error_naming_the_path)
{
    char *root = make_root();
    cleanup_free char *text = qemu_config(root, NULL);
    cleanup_free char *kernel = xasprintf("%s/assets/vmlinux", root);
    unlink(kernel);
    cleanup_free char *msg = load_error(root, text, 0);
    cleanup_free char *skipped = load_error(root, text, KATA_CONFIG_SKIP_ASSETS);
    remove_root(root);
    CHECK_CONTAINS(msg, ":3: [hypervisor.qemu] kernel = \"");
    CHECK_CONTAINS(msg, "assets/vmlinux\": No such file or directory");
    CHECK(skipped == NULL);
}

TEST(hypervisor_binary_must_be_executable)
{
    char *root = make_root();
    cleanup_free char *text = qemu_config(root, NULL);
    cleanup_free char *qemu = xasprintf("%s/assets/qemu", root);
    chmod(qemu, 0644);
    cleanup_free char *msg = load_error(root, text, 0);
    remove_root(root);
    if (geteuid() != 0) /* root may execute anything with an x bit... or not at all */
        CHECK_CONTAINS(msg, "path = \"");
    CHECK(msg == NULL || strstr(msg, "not executable") != NULL);
}

TEST(initrd_and_image_together_are_rejected)
{
    char *root = make_root();
    cleanup_free char *text = qemu_config(root, "image = \"/img\"\n");
    cleanup_free char *msg = load_error(root, text, KATA_CONFIG_SKIP_ASSETS);
    remove_root(root);
    CHECK_CONTAINS(msg, "[hypervisor.qemu] image = \"/img\": initrd and image are both set");
}

TEST(virtio_fs_without_daemon_is_rejected)
{
    char *root = make_root();
    cleanup_free char *msg =
        load_error(root, "[hypervisor.clh]\npath = \"/c\"\nkernel = \"/k\"\nimage = \"/i\"\n",
                   KATA_CONFIG_SKIP_ASSETS);
    remove_root(root);
    CHECK_CONTAINS(msg, "[hypervisor.clh] virtio_fs_daemon = \"\": shared_fs = \"virtio-fs\" "
                        "needs the virtio-fs daemon");
}

TEST(invalid_internetworking_model)
{
    char *root = make_root();
    cleanup_free char *text = qemu_config(root, "[runtime]\ninternetworking_model = \"bridge\"\n");
    cleanup_free char *msg = load_error(root, text, 0);
    remove_root(root);
    CHECK_CONTAINS(msg, ":8: [runtime] internetworking_model = \"bridge\": expected one of "
                        "\"tcfilter\", \"macvtap\", \"none\"");
}

TEST(unknown_keys_and_sections_are_warned_about)
{
    char *root = make_root();
    cleanup_free char *text = qemu_config(root, "colour = \"blue\"\n[agent.kata]\nspeed = 3\n"
                                                "[agent.other]\n[surprise]\n");
    free(put(root, "etc/configuration.toml", text));
    cleanup_kata_config struct kata_config *cfg = kata_config_load(NULL, 0, NULL);
    remove_root(root);
    CHECK(cfg != NULL);
    CHECK_INT(kata_strv_len(cfg->warnings), 4);
    CHECK_CONTAINS(cfg->warnings[0], "configuration.toml:7: [hypervisor.qemu] unknown key "
                                     "`colour` ignored");
    CHECK_CONTAINS(cfg->warnings[1], ":9: [agent.kata] unknown key `speed` ignored");
    CHECK_CONTAINS(cfg->warnings[2], ":10: unknown agent section [agent.other]");
    CHECK_CONTAINS(cfg->warnings[3], ":11: unknown section [surprise] ignored");
}

TEST(key_of_another_hypervisor_is_warned_about)
{
    char *root = make_root();
    free(put(root, "etc/configuration.toml",
             "[hypervisor.clh]\npath = \"/c\"\nkernel = \"/k\"\nimage = \"/i\"\n"
             "virtio_fs_daemon = \"/v\"\nmachine_type = \"q35\"\n"));
    cleanup_kata_config struct kata_config *cfg =
        kata_config_load(NULL, KATA_CONFIG_SKIP_ASSETS, NULL);
    remove_root(root);
    CHECK(cfg != NULL);
    CHECK_INT(kata_strv_len(cfg->warnings), 1);
    CHECK_CONTAINS(cfg->warnings[0], ":6: [hypervisor.clh] `machine_type` is not used by clh");
    CHECK(cfg->hypervisor.machine_type == NULL);
}

TEST(keys_cloud_hypervisor_does_not_use_are_warned_about_by_name)
{
    char *root = make_root();
    free(put(root, "etc/configuration.toml",
             "[hypervisor.clh]\npath = \"/c\"\nkernel = \"/k\"\nimage = \"/i\"\n"
             "virtio_fs_daemon = \"/v\"\nmemory_slots = 4\ndisable_vhost_net = true\n"
             "default_maxvcpus = 1\n"));
    cleanup_kata_config struct kata_config *cfg =
        kata_config_load(NULL, KATA_CONFIG_SKIP_ASSETS, NULL);
    remove_root(root);
    CHECK(cfg != NULL);
    CHECK_INT(kata_strv_len(cfg->warnings), 2);
    CHECK_CONTAINS(cfg->warnings[0], ":6: [hypervisor.clh] `memory_slots` is not used by clh");
    CHECK_CONTAINS(cfg->warnings[1], ":7: [hypervisor.clh] `disable_vhost_net` is not used by clh");
    CHECK(!cfg->hypervisor.disable_vhost_net);
    CHECK_INT(cfg->hypervisor.default_maxvcpus, 1);
}

TEST(keys_firecracker_does_not_use_are_warned_about_by_name)
{
    char *root = make_root();
    free(put(root, "etc/configuration.toml",
             "[hypervisor.firecracker]\npath = \"/f\"\nkernel = \"/k\"\nimage = \"/i\"\n"
             "virtio_fs_daemon = \"/v\"\nmemory_slots = 4\ndisable_vhost_net = true\n"
             "virtio_fs_cache = \"never\"\n"));
    cleanup_kata_config struct kata_config *cfg =
        kata_config_load(NULL, KATA_CONFIG_SKIP_ASSETS, NULL);
    remove_root(root);
    CHECK(cfg != NULL);
    CHECK_INT(kata_strv_len(cfg->warnings), 4);
    CHECK_CONTAINS(cfg->warnings[0], ":5: [hypervisor.firecracker] `virtio_fs_daemon` is not used");
    CHECK_CONTAINS(cfg->warnings[1], ":6: [hypervisor.firecracker] `memory_slots` is not used");
    CHECK_CONTAINS(cfg->warnings[2],
                   ":7: [hypervisor.firecracker] `disable_vhost_net` is not used");
    CHECK_CONTAINS(cfg->warnings[3], ":8: [hypervisor.firecracker] `virtio_fs_cache` is not used");
    CHECK_STR(cfg->hypervisor.shared_fs, "none");
}

TEST(firecracker_refuses_a_share_and_the_jailer_naming_file_line_and_key)
{
    char *root = make_root();
    cleanup_free char *fs = load_error(root,
                                       "[hypervisor.firecracker]\npath = \"/f\"\nkernel = "
                                       "\"/k\"\nimage = \"/i\"\nshared_fs = \"virtio-fs\"\n",
                                       KATA_CONFIG_SKIP_ASSETS);
    cleanup_free char *jailer = load_error(root,
                                           "[hypervisor.firecracker]\npath = \"/f\"\nkernel = "
                                           "\"/k\"\nimage = \"/i\"\njailer_path = \"/j\"\n",
                                           KATA_CONFIG_SKIP_ASSETS);
    cleanup_free char *qemu_jailer = load_error(root,
                                                "[hypervisor.qemu]\npath = \"/q\"\nkernel = "
                                                "\"/k\"\nimage = \"/i\"\nshared_fs = \"none\"\n"
                                                "jailer_path = \"/j\"\n",
                                                KATA_CONFIG_SKIP_ASSETS);
    remove_root(root);
    CHECK_CONTAINS(fs, ":5: [hypervisor.firecracker] shared_fs = \"virtio-fs\": not supported by "
                       "firecracker");
    CHECK_CONTAINS(jailer, ":5: [hypervisor.firecracker] jailer_path");
    CHECK_CONTAINS(jailer, "jailer is not implemented");
    if (qemu_jailer)
        printf("#   %s\n", qemu_jailer);
    CHECK(qemu_jailer == NULL); /* warned about, ignored */
}

TEST(virtio_mmio_cmdline_is_dragonballs_only)
{
    char *root = make_root();
    free(put(root, "etc/configuration.toml",
             "[hypervisor.dragonball]\nkernel = \"/k\"\nimage = \"/i\"\n"
             "virtio_mmio_cmdline = true\n"));
    cleanup_kata_config struct kata_config *cfg =
        kata_config_load(NULL, KATA_CONFIG_SKIP_ASSETS, NULL);
    free(put(root, "etc/configuration.toml",
             "[hypervisor.clh]\npath = \"/c\"\nkernel = \"/k\"\nimage = \"/i\"\n"
             "virtio_fs_daemon = \"/v\"\nvirtio_mmio_cmdline = true\n"));
    cleanup_kata_config struct kata_config *clh =
        kata_config_load(NULL, KATA_CONFIG_SKIP_ASSETS, NULL);
    remove_root(root);
    CHECK(cfg != NULL && clh != NULL);
    CHECK(cfg->hypervisor.virtio_mmio_cmdline);
    CHECK_INT(kata_strv_len(cfg->warnings), 0);
    CHECK(!clh->hypervisor.virtio_mmio_cmdline);
    CHECK_INT(kata_strv_len(clh->warnings), 1);
    CHECK_CONTAINS(clh->warnings[0], "`virtio_mmio_cmdline` is not used by clh");
}

TEST(vcpus_are_clamped_to_the_host_with_a_warning)
{
    char *root = make_root();
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    cleanup_free char *extra = xasprintf("default_vcpus = %ld\n", cpus + 5);
    cleanup_free char *text = qemu_config(root, extra);
    free(put(root, "etc/configuration.toml", text));
    cleanup_kata_config struct kata_config *cfg = kata_config_load(NULL, 0, NULL);
    cleanup_free char *neg = qemu_config(root, "default_vcpus = -1\n");
    free(put(root, "etc/configuration.toml", neg));
    cleanup_kata_config struct kata_config *all = kata_config_load(NULL, 0, NULL);
    remove_root(root);
    CHECK(cfg != NULL && all != NULL);
    CHECK_INT(cfg->hypervisor.default_vcpus, cpus);
    CHECK_INT(cfg->hypervisor.default_maxvcpus, cpus);
    CHECK_INT(kata_strv_len(cfg->warnings), 1);
    CHECK_CONTAINS(cfg->warnings[0], "default_vcpus: ");
    CHECK_CONTAINS(cfg->warnings[0], "CPUs; using");
    CHECK_INT(all->hypervisor.default_vcpus, cpus);
    CHECK_INT(kata_strv_len(all->warnings), 0);
}

TEST(defaults_fill_unset_keys)
{
    char *root = make_root();
    cleanup_free char *text = qemu_config(root, NULL);
    free(put(root, "etc/configuration.toml", text));
    cleanup_kata_config struct kata_config *cfg = kata_config_load(NULL, 0, NULL);
    remove_root(root);
    CHECK(cfg != NULL);
    CHECK_INT(cfg->hypervisor.kind, KATA_HV_QEMU);
    CHECK_STR(cfg->hypervisor.name, "qemu");
    CHECK_INT(cfg->hypervisor.default_memory, 2048);
    CHECK_INT(cfg->hypervisor.default_vcpus, 1);
    CHECK_STR(cfg->hypervisor.shared_fs, "virtio-fs");
    CHECK_INT(cfg->agent.dial_timeout, 60);
    CHECK_STR(cfg->runtime.internetworking_model, "tcfilter");
    CHECK_INT(kata_strv_len(cfg->warnings), 0);
}

/* build/tests/unit/test_config -> build/config */
static char *shipped_path(const char *hv)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n < 0)
        abort();
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0';
    return xasprintf("%s/../../config/configuration-%s.toml", exe, hv);
}

TEST(every_shipped_configuration_loads_cleanly)
{
    static const char *const files[] = {"qemu", "clh", "fc", "dragonball", "stratovirt"};
    static const char *const sections[] = {"qemu", "clh", "firecracker", "dragonball",
                                           "stratovirt"};
    char *root = make_root();
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        cleanup_free char *path = shipped_path(files[i]);
        cleanup_kerr struct kerr *e = NULL;
        cleanup_kata_config struct kata_config *cfg =
            kata_config_load(path, KATA_CONFIG_SKIP_ASSETS, &e);
        if (cfg == NULL)
            printf("# %s: %s\n", files[i], e->msg);
        CHECK(cfg != NULL);
        CHECK_STR(cfg->hypervisor.name, sections[i]);
        for (size_t w = 0; cfg->warnings && cfg->warnings[w]; w++)
            printf("# warning: %s\n", cfg->warnings[w]);
        CHECK_INT(kata_strv_len(cfg->warnings), 0);
        CHECK_CONTAINS(cfg->hypervisor.kernel, KATA_PREFIX "/share/kata-containers/");
        CHECK(strstr(cfg->hypervisor.kernel, "@PREFIX@") == NULL);
    }
    remove_root(root);
}

TEST(shipped_qemu_configuration_has_the_documented_defaults)
{
    char *root = make_root();
    cleanup_free char *path = shipped_path("qemu");
    cleanup_kata_config struct kata_config *cfg =
        kata_config_load(path, KATA_CONFIG_SKIP_ASSETS, NULL);
    remove_root(root);
    CHECK(cfg != NULL);
    CHECK_STR(cfg->hypervisor.path, "/usr/bin/qemu-system-x86_64");
    CHECK_STR(cfg->hypervisor.kernel, KATA_PREFIX "/share/kata-containers/vmlinux.container");
    CHECK_STR(cfg->hypervisor.initrd,
              KATA_PREFIX "/share/kata-containers/kata-containers-initrd.img");
    CHECK_STR(cfg->hypervisor.machine_type, "microvm");
    CHECK_STR(cfg->hypervisor.shared_fs, "virtio-fs");
    CHECK_STR(cfg->hypervisor.virtio_fs_daemon, "/usr/lib/qemu/virtiofsd");
}

TEST(shipped_dragonball_has_no_external_binary)
{
    char *root = make_root();
    cleanup_free char *path = shipped_path("dragonball");
    cleanup_kata_config struct kata_config *cfg =
        kata_config_load(path, KATA_CONFIG_SKIP_ASSETS, NULL);
    remove_root(root);
    CHECK(cfg != NULL);
    CHECK(cfg->hypervisor.path == NULL);
    CHECK_INT(cfg->hypervisor.kind, KATA_HV_DRAGONBALL);
    CHECK(!cfg->hypervisor.virtio_mmio_cmdline); /* the DSDT by default */
}

static struct kata_config *annotated_config(const char *root, const char *extra)
{
    cleanup_free char *text = qemu_config(root, extra);
    free(put(root, "etc/configuration.toml", text));
    return kata_config_load(NULL, 0, NULL);
}

TEST(annotations_override_allowed_keys)
{
    char *root = make_root();
    cleanup_kata_config struct kata_config *cfg = annotated_config(
        root, "enable_annotations = [\"kernel_params\", \"default_.*\", \"agent.enable_debug\"]\n");
    CHECK(cfg != NULL);
    const char *keys[] = {"io.katacontainers.config.hypervisor.kernel_params",
                          "io.katacontainers.config.hypervisor.default_memory",
                          "io.katacontainers.config.agent.enable_debug",
                          "io.kubernetes.cri.container-type"};
    const char *values[] = {"quiet=0", "1024", "true", "sandbox"};
    cleanup_kerr struct kerr *e = NULL;
    int rc = kata_config_apply_annotations(cfg, keys, values, 4, 0, &e);
    remove_root(root);
    if (rc < 0)
        printf("# %s\n", e->msg);
    CHECK_INT(rc, 0);
    CHECK_STR(cfg->hypervisor.kernel_params, "quiet=0");
    CHECK_INT(cfg->hypervisor.default_memory, 1024);
    CHECK(cfg->agent.enable_debug);
}

TEST(annotations_outside_the_allow_list_are_rejected)
{
    char *root = make_root();
    cleanup_kata_config struct kata_config *cfg =
        annotated_config(root, "enable_annotations = [\"kernel_params\"]\n");
    CHECK(cfg != NULL);
    const char *keys[] = {"io.katacontainers.config.hypervisor.default_memory"};
    const char *values[] = {"64"};
    cleanup_kerr struct kerr *e = NULL;
    int rc = kata_config_apply_annotations(cfg, keys, values, 1, 0, &e);
    const char *keys2[] = {"io.katacontainers.config.agent.enable_debug"};
    const char *values2[] = {"true"};
    cleanup_kerr struct kerr *e2 = NULL;
    int rc2 = kata_config_apply_annotations(cfg, keys2, values2, 1, 0, &e2);
    remove_root(root);
    CHECK_INT(rc, -1);
    CHECK_CONTAINS(e->msg, "annotation io.katacontainers.config.hypervisor.default_memory: not "
                           "allowed by");
    CHECK_CONTAINS(e->msg, "enable_annotations does not list \"default_memory\"");
    CHECK_INT(rc2, -1);
    CHECK_CONTAINS(e2->msg, "does not list \"agent.enable_debug\"");
    CHECK_INT(cfg->hypervisor.default_memory, 2048);
}

TEST(annotations_cannot_widen_the_allow_list)
{
    char *root = make_root();
    cleanup_kata_config struct kata_config *cfg =
        annotated_config(root, "enable_annotations = [\".*\"]\n");
    CHECK(cfg != NULL);
    const char *keys[] = {"io.katacontainers.config.hypervisor.valid_hypervisor_paths"};
    const char *values[] = {"[\"/*\"]"};
    cleanup_kerr struct kerr *e = NULL;
    int rc = kata_config_apply_annotations(cfg, keys, values, 1, 0, &e);
    remove_root(root);
    CHECK_INT(rc, -1);
    CHECK_CONTAINS(e->msg, "can never be set by annotation");
}

TEST(annotation_paths_must_match_the_valid_paths)
{
    char *root = make_root();
    cleanup_free char *extra = xasprintf(
        "enable_annotations = [\"path\"]\nvalid_hypervisor_paths = [\"%s/assets/*\"]\n", root);
    cleanup_kata_config struct kata_config *cfg = annotated_config(root, extra);
    CHECK(cfg != NULL);
    const char *keys[] = {"io.katacontainers.config.hypervisor.path"};
    const char *bad[] = {"/usr/bin/evil"};
    cleanup_kerr struct kerr *e = NULL;
    int rc = kata_config_apply_annotations(cfg, keys, bad, 1, 0, &e);
    cleanup_free char *good_path = xasprintf("%s/assets/virtiofsd", root);
    const char *good[] = {good_path};
    cleanup_kerr struct kerr *e2 = NULL;
    int rc2 = kata_config_apply_annotations(cfg, keys, good, 1, 0, &e2);
    remove_root(root);
    CHECK_INT(rc, -1);
    CHECK_CONTAINS(e->msg, "path not allowed by valid_hypervisor_paths");
    CHECK_INT(rc2, 0);
    CHECK_STR(cfg->hypervisor.path, good_path);
}

TEST(annotation_values_are_validated_like_the_file)
{
    char *root = make_root();
    cleanup_kata_config struct kata_config *cfg =
        annotated_config(root, "enable_annotations = [\"shared_fs\", \"default_memory\"]\n");
    CHECK(cfg != NULL);
    const char *keys[] = {"io.katacontainers.config.hypervisor.shared_fs"};
    const char *values[] = {"virtio-foo"};
    cleanup_kerr struct kerr *e = NULL;
    int rc = kata_config_apply_annotations(cfg, keys, values, 1, 0, &e);
    const char *keys2[] = {"io.katacontainers.config.hypervisor.default_memory"};
    const char *values2[] = {"many"};
    cleanup_kerr struct kerr *e2 = NULL;
    int rc2 = kata_config_apply_annotations(cfg, keys2, values2, 1, 0, &e2);
    remove_root(root);
    CHECK_INT(rc, -1);
    CHECK_CONTAINS(e->msg, "annotation io.katacontainers.config.hypervisor.shared_fs: "
                           "[hypervisor.qemu] shared_fs = \"virtio-foo\": expected one of");
    CHECK_INT(rc2, -1);
    CHECK_CONTAINS(e2->msg, "default_memory");
}

TEST(dropin_syntax_error_names_the_dropin)
{
    char *root = make_root();
    cleanup_free char *text = qemu_config(root, NULL);
    free(put(root, "etc/configuration.toml", text));
    free(put(root, "etc/config.d/10.toml", "[hypervisor.qemu]\ndefault_memory = = 1\n"));
    cleanup_kerr struct kerr *e = NULL;
    struct kata_config *cfg = kata_config_load(NULL, 0, &e);
    remove_root(root);
    CHECK(cfg == NULL);
    CHECK_CONTAINS(e->msg, "config.d/10.toml:2:");
}

TEST(maxvcpus_below_vcpus_is_raised_with_a_warning)
{
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
        return; /* needs two CPUs to express */
    char *root = make_root();
    cleanup_free char *text = qemu_config(root, "default_vcpus = 2\ndefault_maxvcpus = 1\n");
    free(put(root, "etc/configuration.toml", text));
    cleanup_kata_config struct kata_config *cfg = kata_config_load(NULL, 0, NULL);
    remove_root(root);
    CHECK(cfg != NULL);
    CHECK_INT(cfg->hypervisor.default_maxvcpus, 2);
    CHECK_INT(kata_strv_len(cfg->warnings), 1);
    CHECK_CONTAINS(cfg->warnings[0], ":8: [hypervisor.qemu] default_maxvcpus: 1 is less than "
                                     "default_vcpus; using 2");
}

TEST(explicit_path_is_what_the_shim_passes_as_config_path)
{
    char *root = make_root();
    cleanup_free char *text = qemu_config(root, "default_memory = 321\n");
    cleanup_free char *shim_path = put(root, "containerd/kata.toml", text);
    free(put(root, "etc/configuration.toml", "[hypervisor.vbox]\n"));
    cleanup_kerr struct kerr *e = NULL;
    cleanup_kata_config struct kata_config *cfg = kata_config_load(shim_path, 0, &e);
    remove_root(root);
    CHECK(cfg != NULL);
    CHECK_INT(cfg->hypervisor.default_memory, 321);
}

TEST(config_fills_the_vm_config)
{
    char *root = make_root();
    cleanup_free char *text = qemu_config(root, "default_memory = 640\nkernel_params = \"a=b\"\n"
                                                "[agent.kata]\nenable_debug = true\n");
    free(put(root, "etc/configuration.toml", text));
    cleanup_kata_config struct kata_config *cfg = kata_config_load(NULL, 0, NULL);
    CHECK(cfg != NULL);
    struct vm_config vm = {.run_dir = "/run/x"};
    vm_config_from_kata(cfg, &vm);
    cleanup_free char *initrd = xasprintf("%s/assets/initrd.img", root);
    remove_root(root);
    CHECK_STR(vm.initrd, initrd);
    CHECK(vm.image == NULL);
    CHECK_STR(vm.machine_type, "microvm");
    CHECK_INT(vm.vcpus, 1);
    CHECK_INT(vm.memory_mb, 640);
    CHECK_STR(vm.kernel_params, "a=b");
    CHECK_STR(vm.agent_params, "agent.log=debug");
    CHECK_STR(vm.run_dir, "/run/x");
    CHECK_STR(vm.shared_fs, "virtio-fs");
    CHECK_STR(vm.virtiofs_cache, "auto");
}

/* One annotation applied to cfg: NULL on success, else the error message. */
static char *annotate(struct kata_config *cfg, const char *key, const char *value)
{
    cleanup_free char *full = xasprintf("io.katacontainers.config.%s", key);
    const char *keys[] = {full};
    const char *values[] = {value};
    cleanup_kerr struct kerr *e = NULL;
    if (kata_config_apply_annotations(cfg, keys, values, 1, KATA_CONFIG_SKIP_ASSETS, &e) == 0)
        return NULL;
    return xstrdup(e->msg);
}

TEST(shipped_configurations_let_no_annotation_name_host_files_or_weaken_the_sandbox)
{
    static const char *const files[] = {"qemu", "clh", "fc", "dragonball", "stratovirt"};
    static const char *const attempts[][2] = {
        {"hypervisor.path", "/bin/sh"},
        {"hypervisor.kernel", "/etc/shadow"},
        {"hypervisor.initrd", "/etc/shadow"},
        {"hypervisor.image", "/dev/sda"},
        {"hypervisor.virtio_fs_daemon", "/bin/sh"},
        {"hypervisor.virtio_fs_extra_args", "[\"-o\", \"source=/\"]"},
        {"hypervisor.seccompsandbox", ""},
        {"hypervisor.rootless", "false"},
        {"hypervisor.enable_annotations", "[\".*\"]"},
        {"hypervisor.valid_guest_asset_paths", "[\"/*\"]"},
        {"runtime.disable_new_netns", "true"},
    };
    char *root = make_root();
    for (size_t f = 0; f < ARRAY_SIZE(files); f++) {
        cleanup_free char *path = shipped_path(files[f]);
        for (size_t i = 0; i < ARRAY_SIZE(attempts); i++) {
            cleanup_kata_config struct kata_config *cfg =
                kata_config_load(path, KATA_CONFIG_SKIP_ASSETS, NULL);
            CHECK(cfg != NULL);
            cleanup_free char *msg = annotate(cfg, attempts[i][0], attempts[i][1]);
            if (msg == NULL)
                printf("# %s: %s accepted\n", files[f], attempts[i][0]);
            CHECK(msg != NULL);
            CHECK_CONTAINS(msg, attempts[i][0]);
        }
    }
    remove_root(root);
}

TEST(virtiofsd_options_that_change_its_source_sandbox_caps_or_socket_are_refused)
{
    static const char *const refused[][2] = {
        {"[\"-o\", \"source=/\"]", "`source=/` refused: it changes the directory"},
        {"[\"-osource=/\"]", "`-osource=/` refused"},
        {"[\"-o\", \"cache=auto,source=/\"]", "it changes the directory virtiofsd shares"},
        {"[\"--shared-dir=/\"]", "`--shared-dir=/` refused"},
        {"[\"-o\", \"sandbox=chroot\"]", "it changes virtiofsd's sandbox"},
        {"[\"--sandbox=none\"]", "it changes virtiofsd's sandbox"},
        {"[\"--seccomp=none\"]", "it changes virtiofsd's sandbox"},
        {"[\"-o\", \"modcaps=+sys_admin\"]", "it changes virtiofsd's capabilities"},
        {"[\"--modcaps=+mknod\"]", "it changes virtiofsd's capabilities"},
        {"[\"-o\", \"xattr\"]", "extended attributes"},
        {"[\"-o\", \"xattrmap=:map::user.:\"]", "extended attributes"},
        {"[\"--socket-path=/tmp/s\"]", "socket"},
        {"[\"--fd=7\"]", "socket"},
        {"[\"--inode-file-handles=mandatory\"]", "CAP_DAC_READ_SEARCH"},
        {"[\"--daemonize\"]", "child"},
        {"[\"--thread-pool-size\", \"1\"]", "`1` refused: not a virtiofsd option known"},
        {"[\"-o\"]", "without its option list"},
        {"[\"--sock=/x\"]", "not a virtiofsd option known to be safe"},
    };
    char *root = make_root();
    cleanup_kata_config struct kata_config *cfg =
        annotated_config(root, "enable_annotations = [\"virtio_fs_extra_args\"]\n");
    CHECK(cfg != NULL);
    for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
        cleanup_free char *msg = annotate(cfg, "hypervisor.virtio_fs_extra_args", refused[i][0]);
        if (msg == NULL)
            printf("# %s accepted\n", refused[i][0]);
        CHECK(msg != NULL);
        CHECK_CONTAINS(msg, "annotation io.katacontainers.config.hypervisor.virtio_fs_extra_args");
        CHECK_CONTAINS(msg, refused[i][1]);
    }
    cleanup_free char *ok =
        annotate(cfg, "hypervisor.virtio_fs_extra_args",
                 "[\"--thread-pool-size=1\", \"-o\", \"announce_submounts,cache=none\", \"-f\"]");
    remove_root(root);
    if (ok)
        printf("# %s\n", ok);
    CHECK(ok == NULL);
    CHECK_INT(kata_strv_len(cfg->hypervisor.virtio_fs_extra_args), 4);
}

TEST(virtiofsd_options_from_the_file_are_checked_too)
{
    char *root = make_root();
    cleanup_free char *text =
        qemu_config(root, "virtio_fs_extra_args = [\"-o\", \"sandbox=chroot\"]\n");
    cleanup_free char *msg = load_error(root, text, 0);
    remove_root(root);
    CHECK_CONTAINS(msg, "configuration.toml:7: [hypervisor.qemu] virtio_fs_extra_args = [\"-o\", "
                        "\"sandbox=chroot\"]: virtiofsd option `sandbox=chroot` refused");
}

TEST(guest_asset_annotations_need_a_clean_path_in_valid_guest_asset_paths)
{
    char *root = make_root();
    cleanup_free char *extra = xasprintf("enable_annotations = [\"kernel\", \"initrd\"]\n"
                                         "valid_guest_asset_paths = [\"%s/assets/*\"]\n",
                                         root);
    cleanup_kata_config struct kata_config *cfg = annotated_config(root, extra);
    CHECK(cfg != NULL);
    cleanup_free char *outside = annotate(cfg, "hypervisor.initrd", "/etc/shadow");
    cleanup_free char *dotdot_path = xasprintf("%s/assets/../../../etc/shadow", root);
    cleanup_free char *dotdot = annotate(cfg, "hypervisor.initrd", dotdot_path);
    cleanup_free char *relative = annotate(cfg, "hypervisor.kernel", "vmlinux");
    cleanup_free char *good_path = xasprintf("%s/assets/vmlinux", root);
    cleanup_free char *good = annotate(cfg, "hypervisor.kernel", good_path);
    remove_root(root);
    CHECK_CONTAINS(outside, "annotation io.katacontainers.config.hypervisor.initrd = "
                            "\"/etc/shadow\": path not allowed by valid_guest_asset_paths");
    CHECK_CONTAINS(dotdot, "path not allowed by valid_guest_asset_paths");
    CHECK_CONTAINS(relative, "path not allowed by valid_guest_asset_paths");
    CHECK(good == NULL);
    CHECK_STR(cfg->hypervisor.kernel, good_path);
}

TEST(annotations_cannot_turn_confinement_off_even_when_enabled)
{
    char *root = make_root();
    cleanup_kata_config struct kata_config *cfg =
        annotated_config(root, "enable_annotations = [\".*\"]\n[runtime]\n");
    CHECK(cfg != NULL);
    cleanup_free char *seccomp = annotate(cfg, "hypervisor.seccompsandbox", "");
    cleanup_free char *rootless_off = annotate(cfg, "hypervisor.rootless", "false");
    cleanup_free char *rootless_on = annotate(cfg, "hypervisor.rootless", "true");
    cleanup_free char *netns = annotate(cfg, "runtime.disable_new_netns", "true");
    cleanup_free char *daemon = annotate(cfg, "hypervisor.virtio_fs_daemon", "/bin/sh");
    remove_root(root);
    CHECK_CONTAINS(seccomp, "`seccompsandbox` can never be set by annotation");
    CHECK_CONTAINS(rootless_off, "may only set `rootless` to true");
    CHECK(rootless_on == NULL);
    CHECK(cfg->hypervisor.rootless);
    CHECK_CONTAINS(netns, "may only set `disable_new_netns` to false");
    CHECK_CONTAINS(daemon, "path not allowed by valid_virtio_fs_daemon_paths");
    CHECK_STR(cfg->hypervisor.seccompsandbox, KATA_QEMU_SECCOMP_SANDBOX_DEFAULT);
}

TEST(seccompsandbox_defaults_on_is_validated_and_empty_disables_it)
{
    char *root = make_root();
    cleanup_kata_config struct kata_config *unset = annotated_config(root, NULL);
    CHECK(unset != NULL);
    struct vm_config vm = {0};
    vm_config_from_kata(unset, &vm);
    CHECK_STR(vm.seccomp_sandbox, KATA_QEMU_SECCOMP_SANDBOX_DEFAULT);
    CHECK(!vm.rootless);
    cleanup_free char *empty_text = qemu_config(root, "seccompsandbox = \"\"\nrootless = true\n");
    free(put(root, "etc/configuration.toml", empty_text));
    cleanup_kata_config struct kata_config *empty = kata_config_load(NULL, 0, NULL);
    CHECK(empty != NULL);
    struct vm_config vm2 = {0};
    vm_config_from_kata(empty, &vm2);
    cleanup_free char *bad_text = qemu_config(root, "seccompsandbox = \"on,spawn=maybe\"\n");
    cleanup_free char *bad = load_error(root, bad_text, 0);
    cleanup_free char *junk_text = qemu_config(root, "seccompsandbox = \"on -no-shutdown\"\n");
    cleanup_free char *junk = load_error(root, junk_text, 0);
    cleanup_free char *off_text = qemu_config(root, "seccompsandbox = \"on,obsolete=allow\"\n");
    cleanup_free char *off = load_error(root, off_text, 0);
    cleanup_free char *shipped = shipped_path("qemu");
    cleanup_kata_config struct kata_config *ship =
        kata_config_load(shipped, KATA_CONFIG_SKIP_ASSETS, NULL);
    remove_root(root);
    CHECK(vm2.seccomp_sandbox == NULL);
    CHECK(vm2.rootless);
    CHECK_CONTAINS(bad, "[hypervisor.qemu] seccompsandbox = \"on,spawn=maybe\": expected");
    CHECK(junk != NULL);
    CHECK(off == NULL);
    CHECK(ship != NULL);
    CHECK_STR(ship->hypervisor.seccompsandbox,
              "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
    CHECK(!ship->hypervisor.rootless);
}
