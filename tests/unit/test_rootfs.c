/* The container module's pure pieces: paths resolved inside a rootfs
 * (symlinks confined) and mount option parsing. */
#include "rootfs.h"
#include "test.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[64];

static void make_root(void)
{
    strcpy(root, "/tmp/test_rootfs.XXXXXX");
    if (mkdtemp(root) == NULL)
        abort();
    cleanup_free char *etc = xasprintf("%s/etc", root);
    mkdir(etc, 0755);
    cleanup_free char *abs_link = xasprintf("%s/abs", root);
    cleanup_free char *rel_link = xasprintf("%s/etc/up", root);
    cleanup_free char *loop_a = xasprintf("%s/loop", root);
    if (symlink("/etc", abs_link) < 0 || symlink("../../../../usr", rel_link) < 0 ||
        symlink("loop", loop_a) < 0)
        abort();
}

static void remove_root(void)
{
    cleanup_free char *cmd = xasprintf("rm -rf '%s'", root);
    if (system(cmd) != 0)
        abort();
}

static char *resolved(const char *path)
{
    cleanup_kerr struct kerr *err = NULL;
    char *full = rootfs_resolve(root, path, &err);
    if (full == NULL)
        return xasprintf("error: %s", strerror(err->status));
    char *rel = xstrdup(full + strlen(root));
    free(full);
    return rel;
}

TEST(rootfs_resolve_stays_inside_the_root)
{
    make_root();
    cleanup_free char *a = resolved("/../../etc/passwd");
    cleanup_free char *b = resolved("/abs/passwd");
    cleanup_free char *c = resolved("/etc/up/bin");
    cleanup_free char *d = resolved("/loop/x");
    cleanup_free char *e = resolved("");
    cleanup_free char *f = resolved("//a/./b/../c/");
    remove_root();
    CHECK_STR(a, "/etc/passwd");
    CHECK_STR(b, "/etc/passwd"); /* an absolute link is relative to the root */
    CHECK_STR(c, "/usr/bin");    /* ".." in a link stops at the root */
    CHECK_STR(d, "error: Too many levels of symbolic links");
    CHECK_STR(e, "/");
    CHECK_STR(f, "/a/c");
}

TEST(mount_options_split_into_flags_propagation_and_data)
{
    char *opts[] = {"ro", "nosuid", "size=1m", "rprivate", "mode=755", "noexec", "exec"};
    struct mount_options o;
    rootfs_parse_options(opts, ARRAY_SIZE(opts), &o);
    CHECK(o.flags == (MS_RDONLY | MS_NOSUID));
    CHECK(o.clear == MS_NOEXEC);
    CHECK(o.propagation == (MS_PRIVATE | MS_REC));
    CHECK_STR(o.data, "size=1m,mode=755");
    free(o.data);
    char *bind[] = {"rbind", "rw"};
    rootfs_parse_options(bind, ARRAY_SIZE(bind), &o);
    CHECK(o.flags == (MS_BIND | MS_REC));
    CHECK(o.clear == MS_RDONLY);
    CHECK(o.data == NULL);
}
