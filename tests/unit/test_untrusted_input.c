/* Input the host must not trust: guest text on its way to a terminal
 * (text_escape, the ttrpc client's status messages) and files that must be
 * regular (file_read_regular: a FIFO config.json fails at once). */
#include "test.h"
#include "loop.h"
#include "ttrpc.h"
#include "ttrpc.pb-c.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static char *escape(const char *s, size_t max)
{
    return text_escape(s, strlen(s), max);
}

TEST(text_escape_keeps_printable_ascii_and_utf8)
{
    cleanup_free char *plain = escape("container `abc`: not found", 100);
    CHECK_STR(plain, "container `abc`: not found");
    cleanup_free char *utf8 = escape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xb3", 100);
    CHECK_STR(utf8, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xb3");
}

TEST(text_escape_escapes_control_bytes)
{
    /* A terminal title change, a clear screen, a bell, a newline forging a
     * log line, DEL. */
    cleanup_free char *s = escape("\x1b]0;owned\x07\x1b[2J\nfake log\r\x7f", 200);
    CHECK_STR(s, "\\x1b]0;owned\\x07\\x1b[2J\\x0afake log\\x0d\\x7f");
    cleanup_free char *tab = escape("a\tb", 100);
    CHECK_STR(tab, "a\\x09b");
}

TEST(text_escape_escapes_invalid_utf8_and_c1_controls)
{
    /* A lone continuation byte, a truncated sequence, an overlong '/', a
     * UTF-16 surrogate, beyond U+10FFFF, and U+009B (an 8-bit CSI). */
    cleanup_free char *s =
        escape("\x80|\xe2\x82|\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\xc2\x9b", 200);
    CHECK_STR(s, "\\x80|\\xe2\\x82|\\xc0\\xaf|\\xed\\xa0\\x80|\\xf4\\x90\\x80\\x80|\\xc2\\x9b");
}

TEST(text_escape_is_idempotent)
{
    cleanup_free char *once = escape("\x1b[31mred\\x41", 200);
    cleanup_free char *twice = escape(once, 200);
    CHECK_STR(once, "\\x1b[31mred\\x41");
    CHECK_STR(twice, once);
}

TEST(text_escape_bounds_the_length)
{
    cleanup_free char *fits = escape("0123456789", 10);
    CHECK_STR(fits, "0123456789");
    cleanup_free char *cut = escape("0123456789a", 10);
    CHECK_STR(cut, "0123456...");
    /* An escape is never cut in half, nor is a UTF-8 character. */
    cleanup_free char *esc = escape("abcde\x1b\x1b\x1b", 10);
    CHECK_STR(esc, "abcde...");
    cleanup_free char *wide = escape("abcd\xe2\x82\xac\xe2\x82\xac", 9);
    CHECK_STR(wide, "abcd...");
    /* Megabytes in, max out. */
    size_t big = 4u << 20;
    char *huge = xmalloc(big + 1);
    memset(huge, '\x1b', big);
    huge[big] = '\0';
    cleanup_free char *bounded = text_escape(huge, big, 4096);
    free(huge);
    CHECK(strlen(bounded) <= 4096);
    CHECK(strlen(bounded) >= 4090);
    CHECK_CONTAINS(bounded, "\\x1b...");
}

TEST(text_escape_stops_at_len_and_takes_null)
{
    cleanup_free char *part = text_escape("abc\x1b", 3, 100);
    CHECK_STR(part, "abc");
    cleanup_free char *nul = text_escape("a\0b", 3, 100);
    CHECK_STR(nul, "a\\x00b");
    cleanup_free char *none = text_escape(NULL, 5, 100);
    CHECK_STR(none, "");
}

TEST(file_read_regular_refuses_a_fifo_at_once)
{
    char dir[] = "/tmp/kata-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    cleanup_free char *fifo = xasprintf("%s/config.json", dir);
    CHECK_INT(mkfifo(fifo, 0600), 0);
    cleanup_kerr struct kerr *e = NULL;
    cleanup_free char *data = NULL;
    /* Without O_NONBLOCK this open would wait for a writer for ever. */
    int r = file_read_regular(fifo, 1024, false, &data, NULL, &e);
    unlink(fifo);
    rmdir(dir);
    CHECK_INT(r, -1);
    CHECK(data == NULL);
    CHECK_CONTAINS(e->msg, fifo);
    CHECK_CONTAINS(e->msg, "is a FIFO, not a regular file");
}

TEST(file_read_regular_reads_a_file_and_refuses_others)
{
    char dir[] = "/tmp/kata-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    cleanup_free char *path = xasprintf("%s/process.json", dir);
    cleanup_free char *link = xasprintf("%s/link.json", dir);
    cleanup_kerr struct kerr *e = NULL;
    CHECK_INT(file_write_atomic(path, "{\"a\":1}", 7, 0600, &e), 0);
    CHECK_INT(symlink(path, link), 0);
    cleanup_free char *data = NULL;
    size_t len = 0;
    int ok = file_read_regular(path, 1024, true, &data, &len, &e);
    cleanup_free char *followed = NULL;
    int via_link = file_read_regular(link, 1024, false, &followed, NULL, &e);
    cleanup_kerr struct kerr *nofollow = NULL;
    cleanup_free char *refused = NULL;
    int no_link = file_read_regular(link, 1024, true, &refused, NULL, &nofollow);
    cleanup_kerr struct kerr *dir_err = NULL;
    cleanup_free char *dir_data = NULL;
    int on_dir = file_read_regular(dir, 1024, false, &dir_data, NULL, &dir_err);
    unlink(link);
    unlink(path);
    rmdir(dir);
    CHECK_INT(ok, 0);
    CHECK_STR(data, "{\"a\":1}");
    CHECK_INT(len, 7);
    CHECK_INT(via_link, 0);
    CHECK_STR(followed, "{\"a\":1}");
    CHECK_INT(no_link, -1);
    CHECK_INT(nofollow->status, ELOOP);
    CHECK_INT(on_dir, -1);
    CHECK_CONTAINS(dir_err->msg, "is a directory, not a regular file");
}

/* ---- the ttrpc client escapes what the peer says ---- */

static void fail_with_peer_text(struct ttrpc_call *call, const ProtobufCMessage *req, void *data)
{
    ttrpc_call_fail(call, TTRPC_INTERNAL, "%s", ((const Ttrpc__KeyValue *)req)->value);
}

static const struct ttrpc_method methods[] = {
    {"grpc.AgentService", "Fail", &ttrpc__key_value__descriptor, fail_with_peer_text},
};

struct reply {
    bool done;
    char *message;
};

static void on_reply(int code, const char *message, const uint8_t *payload, size_t len, void *data)
{
    struct reply *r = data;
    r->done = true;
    r->message = xstrdup(message);
}

TEST(ttrpc_client_escapes_and_bounds_status_messages)
{
    int sv[2];
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    struct loop *loop = loop_new(NULL);
    struct ttrpc_server *server = ttrpc_server_new(loop, methods, ARRAY_SIZE(methods), NULL);
    CHECK_INT(ttrpc_server_add_stream(server, sv[0], false, NULL), 0);
    struct ttrpc_client *c = ttrpc_client_new(loop, sv[1], NULL);
    CHECK(c != NULL);
    Ttrpc__KeyValue kv = TTRPC__KEY_VALUE__INIT;
    kv.key = "k";
    kv.value = "no such file\x1b]0;pwned\x07\n";
    cleanup_kerr struct kerr *e = NULL;
    int sync = ttrpc_client_call(c, "grpc.AgentService", "Fail", &kv.base, NULL, NULL, 0, NULL, &e);
    /* The asynchronous path (the daemon's WaitProcess, OOM events) too, with
     * a long message. */
    char *long_text = xmalloc(100001);
    memset(long_text, 'x', 100000);
    long_text[100000] = '\0';
    long_text[5] = '\x1b';
    kv.value = long_text;
    struct reply r = {0};
    cleanup_kerr struct kerr *async_err = NULL;
    int async = ttrpc_client_call_async(c, "grpc.AgentService", "Fail", &kv.base, 0, on_reply, &r,
                                        &async_err);
    for (int i = 0; async == 0 && !r.done && i < 500; i++)
        loop_run_once(loop, 10, NULL);
    free(long_text);
    ttrpc_client_free(c);
    ttrpc_server_free(server);
    loop_free(loop);
    cleanup_free char *message = r.message;
    CHECK_INT(sync, -1);
    CHECK_STR(e->msg, "grpc.AgentService/Fail: Internal: no such file\\x1b]0;pwned\\x07\\x0a");
    CHECK_INT(async, 0);
    CHECK(r.done);
    CHECK(strncmp(message, "xxxxx\\x1bxxx", 12) == 0);
    CHECK(strlen(message) <= 4096);
    CHECK_CONTAINS(message, "...");
}
