/* safe_fs.h: lookups beneath a directory fd that never follow a symlink,
 * binds through fds, unmounts of recorded mounts only, and tree removal
 * that never crosses a mount; proc_ref.h: pids with start times. */
#include "proc_ref.h"
#include "safe_fs.h"
#include "test.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct tmp {
    char dir[64];
    int fd;
};

static bool tmp_make(struct tmp *t)
{
    strcpy(t->dir, "/tmp/kata-safe-fs-XXXXXX");
    if (mkdtemp(t->dir) == NULL)
        return false;
    t->fd = open(t->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    return t->fd >= 0;
}

static void tmp_drop(struct tmp *t)
{
    cleanup_kerr struct kerr *e = NULL;
    close(t->fd);
    safe_remove_tree(t->dir, &e);
}

static bool exists(const char *dir, const char *rel)
{
    cleanup_free char *p = xasprintf("%s/%s", dir, rel);
    struct stat st;
    return lstat(p, &st) == 0;
}

static bool can_mount(void)
{
    return geteuid() == 0;
}

TEST(id_check_takes_runc_ids_and_refuses_paths)
{
    cleanup_kerr struct kerr *e = NULL;
    CHECK_INT(safe_id_check("container", "abc-1_2+x.y", &e), 0);
    CHECK_INT(safe_id_check("container", "../x", &e), -1);
    CHECK(strstr(e->msg, "invalid container id `../x`") != NULL);
    kerr_clear(&e);
    CHECK_INT(safe_id_check("container", "..", &e), -1);
    kerr_clear(&e);
    CHECK_INT(safe_id_check("sandbox", "a/b", &e), -1);
    kerr_clear(&e);
    CHECK_INT(safe_id_check("sandbox", "", &e), -1);
    CHECK_STR(e->msg, "sandbox id cannot be empty: Invalid argument");
}

TEST(open_beneath_refuses_symlinks_and_dotdot)
{
    struct tmp t;
    CHECK(tmp_make(&t));
    cleanup_free char *target = xasprintf("%s/d", t.dir);
    CHECK_INT(mkdir(target, 0755), 0);
    cleanup_free char *link = xasprintf("%s/link", t.dir);
    CHECK_INT(symlink("/etc", link), 0);
    cleanup_kerr struct kerr *e = NULL;
    int fd = safe_open_beneath(t.fd, "d", O_PATH, 0, false, &e);
    CHECK(fd >= 0);
    close(fd);
    CHECK_INT(safe_open_beneath(t.fd, "link/passwd", O_RDONLY, 0, false, &e), -1);
    CHECK_INT(e->status, ELOOP);
    kerr_clear(&e);
    CHECK_INT(safe_open_beneath(t.fd, "d/../../etc/passwd", O_RDONLY, 0, false, &e), -1);
    CHECK_INT(e->status, EXDEV);
    tmp_drop(&t);
}

TEST(mkdirs_beneath_stops_at_a_planted_symlink)
{
    struct tmp t;
    CHECK(tmp_make(&t));
    char outside[] = "/tmp/kata-safe-out-XXXXXX";
    CHECK(mkdtemp(outside) != NULL);
    cleanup_free char *link = xasprintf("%s/c1", t.dir);
    CHECK_INT(symlink(outside, link), 0);
    cleanup_kerr struct kerr *e = NULL;
    CHECK_INT(safe_mkdirs_beneath(t.fd, "c1/mounts/0", 0755, &e), -1);
    CHECK(strstr(e->msg, "c1") != NULL);
    CHECK(!exists(outside, "mounts"));
    kerr_clear(&e);
    int fd = safe_mkdirs_beneath(t.fd, "c2/mounts/0", 0755, &e);
    CHECK(fd >= 0);
    close(fd);
    CHECK(exists(t.dir, "c2/mounts/0"));
    CHECK_INT(rmdir(outside), 0);
    tmp_drop(&t);
}

TEST(mount_point_file_is_not_created_through_a_symlink)
{
    struct tmp t;
    CHECK(tmp_make(&t));
    char outside[] = "/tmp/kata-safe-out-XXXXXX";
    CHECK(mkdtemp(outside) != NULL);
    cleanup_free char *victim = xasprintf("%s/victim", outside);
    cleanup_free char *link = xasprintf("%s/hosts", t.dir);
    CHECK_INT(symlink(victim, link), 0);
    cleanup_kerr struct kerr *e = NULL;
    CHECK_INT(safe_mount_point_beneath(t.fd, "hosts", false, &e), -1);
    CHECK(!exists(outside, "victim"));
    kerr_clear(&e);
    int fd = safe_mount_point_beneath(t.fd, "c/mounts/1", false, &e);
    CHECK(fd >= 0);
    close(fd);
    CHECK_INT(rmdir(outside), 0);
    tmp_drop(&t);
}

TEST(bind_read_only_and_unmount_only_the_recorded_mount)
{
    if (!can_mount())
        SKIP("not root");
    struct tmp t, src;
    CHECK(tmp_make(&t));
    CHECK(tmp_make(&src));
    cleanup_kerr struct kerr *e = NULL;
    int target = safe_mount_point_beneath(t.fd, "c/vol", true, &e);
    CHECK(target >= 0);
    uint64_t id = 0;
    CHECK_INT(safe_bind_fd(src.fd, target, SAFE_BIND_RDONLY | SAFE_BIND_RECURSIVE, &id, &e), 0);
    close(target);
    CHECK(id != 0);
    cleanup_free char *file = xasprintf("%s/c/vol/x", t.dir);
    CHECK(open(file, O_CREAT | O_WRONLY, 0644) < 0 && errno == EROFS);
    /* another mount id: left alone */
    CHECK_INT(safe_umount_beneath(t.fd, "c/vol", id + 1000, &e), 0);
    CHECK_INT(safe_umount_beneath(t.fd, "c/vol", id, &e), 1);
    CHECK_INT(safe_umount_beneath(t.fd, "c/vol", id, &e), 0);
    tmp_drop(&src);
    tmp_drop(&t);
}

TEST(remove_tree_never_crosses_a_mount)
{
    if (!can_mount())
        SKIP("not root");
    struct tmp t, src;
    CHECK(tmp_make(&t));
    CHECK(tmp_make(&src));
    cleanup_free char *precious = xasprintf("%s/precious", src.dir);
    int f = open(precious, O_CREAT | O_WRONLY, 0644);
    CHECK(f >= 0);
    close(f);
    cleanup_kerr struct kerr *e = NULL;
    int target = safe_mount_point_beneath(t.fd, "a/b/rootfs", true, &e);
    CHECK(target >= 0);
    CHECK_INT(safe_bind_fd(src.fd, target, SAFE_BIND_RECURSIVE, NULL, &e), 0);
    close(target);
    cleanup_free char *mine = xasprintf("%s/a/file", t.dir);
    f = open(mine, O_CREAT | O_WRONLY, 0644);
    CHECK(f >= 0);
    close(f);
    cleanup_free char *link = xasprintf("%s/a/link", t.dir);
    CHECK_INT(symlink(src.dir, link), 0);
    CHECK_INT(safe_remove_tree_at(t.fd, "a", &e), -1);
    CHECK_INT(e->status, EBUSY);
    kerr_clear(&e);
    CHECK(exists(src.dir, "precious"));
    CHECK(!exists(t.dir, "a/file"));
    CHECK(!exists(t.dir, "a/link"));
    CHECK(exists(t.dir, "a/b/rootfs/precious"));
    CHECK_INT(safe_umount_beneath(t.fd, "a/b/rootfs", 0, &e), 1);
    CHECK_INT(safe_remove_tree_at(t.fd, "a", &e), 0);
    CHECK(!exists(t.dir, "a"));
    CHECK(exists(src.dir, "precious"));
    tmp_drop(&src);
    tmp_drop(&t);
}

TEST(proc_ref_tells_a_reused_pid_apart)
{
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        pause();
        _exit(0);
    }
    struct proc_ref p;
    CHECK_INT(proc_ref_of(child, &p), 0);
    CHECK(proc_ref_alive(&p));
    struct proc_ref other = p;
    other.start += 1; /* the same pid, another process */
    CHECK(!proc_ref_alive(&other));
    CHECK_INT(proc_ref_kill(&other, SIGKILL), -1);
    CHECK_INT(errno, ESRCH);
    CHECK(proc_ref_alive(&p));
    proc_ref_kill_wait(&p, 0);
    int status;
    CHECK_INT(waitpid(child, &status, 0), child);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    CHECK(!proc_ref_alive(&p));
}
