#include "test.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
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
