/* The agent's path confinement and mount option splitting (src/agent/mount_util.c). */
#include "test.h"

#include "../../src/agent/mount_util.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static char *confine(const char *root, const char *path, const char **rel)
{
    struct kerr *err = NULL;
    if (path_under_root(root, path, "mount point", rel, &err) == 0)
        return NULL;
    char *msg = xstrdup(err->msg);
    kerr_clear(&err);
    return msg;
}

TEST(path_under_root_accepts_and_rejects)
{
    const char *rel = NULL;
    CHECK(confine("/run/kata", "/run/kata/a/b", &rel) == NULL);
    CHECK_STR(rel, "a/b");
    CHECK(confine("/run/kata/", "/run/kata//a", &rel) == NULL);
    CHECK_STR(rel, "a");
    CHECK(confine("/run/kata", "/run/kata", &rel) == NULL);
    CHECK_STR(rel, "");
    struct {
        const char *path, *want;
    } bad[] = {
        {"run/kata/a", "not an absolute path"},
        {"/run/kata/../etc", "`.` and `..` components are not allowed"},
        {"/run/kata/a/./b", "`.` and `..` components"},
        {"/run/kata/a/..", "`..` components"},
        {"/run/katanot/a", "not under `/run/kata`"},
        {"/etc/passwd", "mount point `/etc/passwd`: not under `/run/kata`"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        char *msg = confine("/run/kata", bad[i].path, &rel);
        CHECK(msg != NULL);
        CHECK_CONTAINS(msg, bad[i].want);
        free(msg);
    }
}

TEST(mount_options_split_like_runc)
{
    char *opts[] = {"ro", "nosuid", "size=10m", "rw", "noexec", "rprivate", "mode=0755", "bind"};
    struct mount_opts o;
    mount_opts_parse(opts, ARRAY_SIZE(opts), &o);
    CHECK_INT(o.flags, MS_NOSUID | MS_NOEXEC | MS_BIND); /* rw cleared ro */
    CHECK_INT(o.propagation, MS_PRIVATE | MS_REC);
    CHECK_STR(o.data, "size=10m,mode=0755");
    mount_opts_default(&o, "size=1m"); /* already given: kept */
    mount_opts_default(&o, "nr_inodes=5");
    CHECK_STR(o.data, "size=10m,mode=0755,nr_inodes=5");
    mount_opts_release(&o);
    mount_opts_parse(NULL, 0, &o);
    CHECK(o.data == NULL && o.flags == 0);
    mount_opts_default(&o, "trans=virtio");
    CHECK_STR(o.data, "trans=virtio");
    mount_opts_release(&o);
}

TEST(beneath_stays_inside)
{
    char tmpl[] = "/tmp/test_mount_util.XXXXXX";
    CHECK(mkdtemp(tmpl) != NULL);
    cleanup_free char *root = xasprintf("%s/root", tmpl);
    cleanup_free char *outside = xasprintf("%s/outside", tmpl);
    cleanup_free char *link = xasprintf("%s/root/escape", tmpl);
    cleanup_free char *inner = xasprintf("%s/root/inner", tmpl);
    CHECK(mkdir(root, 0755) == 0 && mkdir(outside, 0755) == 0);
    CHECK(symlink("../outside", link) == 0);
    CHECK(symlink("a/b", inner) == 0);
    int rootfd = open(root, O_PATH | O_DIRECTORY);
    CHECK(rootfd >= 0);
    struct kerr *err = NULL;
    int fd = mkdir_beneath(rootfd, "a/b/c", 0700, &err);
    CHECK(fd >= 0);
    close(fd);
    /* A symlink inside the root that stays inside is followed. */
    fd = open_beneath(rootfd, "inner/c", O_PATH | O_DIRECTORY, 0);
    CHECK(fd >= 0);
    close(fd);
    /* One that leaves it is refused, and nothing is created outside. */
    CHECK(open_beneath(rootfd, "escape", O_PATH, 0) < 0);
    CHECK_INT(errno, EXDEV);
    CHECK(mkdir_beneath(rootfd, "escape/x", 0755, &err) < 0);
    CHECK_CONTAINS(err->msg, "escape");
    kerr_clear(&err);
    CHECK(open_beneath(rootfd, "/etc", O_PATH, 0) < 0);
    cleanup_free char *made = xasprintf("%s/x", outside);
    CHECK(access(made, F_OK) < 0);
    close(rootfd);
    cleanup_free char *cmd = xasprintf("rm -rf '%s'", tmpl);
    CHECK(system(cmd) == 0);
}
