#include "test.h"
#include "loop.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

TEST(kerr_make_appends_strerror)
{
    struct kerr *e = NULL;
    CHECK_INT(kerr_make(&e, ENOENT, "open `%s`", "/x"), -1);
    CHECK_STR(e->msg, "open `/x`: No such file or directory");
    CHECK_INT(e->status, ENOENT);
    kerr_clear(&e);
    CHECK(e == NULL);
}

TEST(kerr_wrap_adds_context_in_front)
{
    cleanup_kerr struct kerr *e = NULL;
    kerr_make(&e, 0, "bad value");
    kerr_wrap(&e, "create container `%s`", "abc");
    CHECK_STR(e->msg, "create container `abc`: bad value");
}

TEST(kerr_make_with_null_err_is_harmless)
{
    CHECK_INT(kerr_make(NULL, EINVAL, "x"), -1);
}

TEST(file_write_atomic_then_read_back)
{
    char dir[] = "/tmp/kata-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    cleanup_free char *path = xasprintf("%s/a/b/state.json", dir);
    cleanup_free char *sub = xasprintf("%s/a/b", dir);
    cleanup_kerr struct kerr *e = NULL;
    CHECK_INT(mkdir_all(sub, 0700, &e), 0);
    CHECK_INT(file_write_atomic(path, "{}", 2, 0600, &e), 0);
    cleanup_free char *data = NULL;
    size_t len = 0;
    CHECK_INT(file_read_all(path, 1024, &data, &len, &e), 0);
    CHECK_STR(data, "{}");
    CHECK_INT(len, 2);
    unlink(path);
    rmdir(sub);
    cleanup_free char *a = xasprintf("%s/a", dir);
    rmdir(a);
    rmdir(dir);
}

TEST(file_read_all_enforces_limit)
{
    cleanup_kerr struct kerr *e = NULL;
    cleanup_free char *data = NULL;
    CHECK_INT(file_read_all("/proc/self/maps", 8, &data, NULL, &e), -1);
    CHECK_CONTAINS(e->msg, "limit 8 bytes");
}

TEST(file_read_all_names_missing_path)
{
    cleanup_kerr struct kerr *e = NULL;
    cleanup_free char *data = NULL;
    CHECK_INT(file_read_all("/nonexistent/file", 8, &data, NULL, &e), -1);
    CHECK_CONTAINS(e->msg, "open `/nonexistent/file`");
}

TEST(file_rotate_if_larger_copies_then_truncates)
{
    char dir[] = "/tmp/test_util.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    cleanup_free char *path = xasprintf("%s/console.log", dir);
    cleanup_free char *old = xasprintf("%s/console.log.1", dir);
    CHECK_INT(file_rotate_if_larger(path, 10, NULL), 0); /* no file yet */
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    CHECK(fd >= 0);
    CHECK_INT(write(fd, "0123456789", 10), 10);
    CHECK_INT(file_rotate_if_larger(path, 10, NULL), 0); /* not larger */
    CHECK_INT(write(fd, "abc", 3), 3);
    CHECK_INT(file_rotate_if_larger(path, 10, NULL), 1);
    CHECK_INT(write(fd, "more", 4), 4); /* the writer goes on at the new end */
    close(fd);
    char *text = NULL;
    size_t len = 0;
    CHECK_INT(file_read_all(old, 100, &text, &len, NULL), 0);
    CHECK(strcmp(text, "0123456789abc") == 0);
    free(text);
    CHECK_INT(file_read_all(path, 100, &text, &len, NULL), 0);
    CHECK(strcmp(text, "more") == 0);
    free(text);
    unlink(path);
    unlink(old);
    rmdir(dir);
}

/* A callback that waits synchronously runs the loop itself (a ttrpc client
 * call): a watch removed there must outlive the outer round, whose epoll
 * batch still points at it, and must not be dispatched. */
struct nested {
    struct loop *loop;
    struct loop_watch *victim;
    int fired_victim, fired_first;
};

static void nested_victim_cb(struct loop_watch *w, uint32_t events, void *data)
{
    ((struct nested *)data)->fired_victim++;
}

static void nested_other_cb(struct loop_watch *w, uint32_t events, void *data)
{
    loop_watch_remove(w);
}

static void nested_first_cb(struct loop_watch *w, uint32_t events, void *data)
{
    struct nested *n = data;
    if (n->fired_first++ > 0)
        return;
    loop_watch_remove(n->victim);
    loop_run_once(n->loop, 0, NULL); /* a nested round */
}

TEST(loop_frees_watches_removed_in_a_nested_round_after_the_outer_round)
{
    int a[2], b[2], c[2];
    CHECK(pipe(a) == 0 && pipe(b) == 0 && pipe(c) == 0);
    CHECK(write(a[1], "x", 1) == 1 && write(b[1], "x", 1) == 1 && write(c[1], "x", 1) == 1);
    struct loop *loop = loop_new(NULL);
    struct nested n = {.loop = loop};
    /* Ready when added: epoll reports them in this order. */
    loop_watch_add(loop, a[0], EPOLLIN, nested_first_cb, &n, NULL);
    loop_watch_add(loop, c[0], EPOLLIN, nested_other_cb, &n, NULL);
    n.victim = loop_watch_add(loop, b[0], EPOLLIN, nested_victim_cb, &n, NULL);
    CHECK_INT(loop_run_once(loop, 0, NULL), 0);
    CHECK_INT(n.fired_victim, 0);
    CHECK(n.fired_first >= 1);
    loop_free(loop);
    for (int i = 0; i < 2; i++)
        close(a[i]), close(b[i]), close(c[i]);
}
