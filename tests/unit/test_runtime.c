/* kata-runtime's pieces that need no daemon: signal names, container ids,
 * the state file (atomic save, load, list, remove), JSON errors with line and
 * column, process start times. */
#include "bundle.h"
#include "runtime.h"
#include "runtime_state.h"
#include "test.h"
#include "util.h"

#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct runtime_options runtime_opts;

TEST(signal_names_with_and_without_sig_and_numbers)
{
    CHECK_INT(signal_parse("KILL"), SIGKILL);
    CHECK_INT(signal_parse("SIGKILL"), SIGKILL);
    CHECK_INT(signal_parse("sigterm"), SIGTERM);
    CHECK_INT(signal_parse("usr1"), SIGUSR1);
    CHECK_INT(signal_parse("9"), 9);
    CHECK_INT(signal_parse("RTMIN+2"), SIGRTMIN + 2);
    CHECK_INT(signal_parse("SIGRTMAX-1"), SIGRTMAX - 1);
    CHECK_INT(signal_parse("0"), -1);
    CHECK_INT(signal_parse("65"), -1);
    CHECK_INT(signal_parse("NOPE"), -1);
    CHECK_INT(signal_parse("9x"), -1);
    CHECK_INT(signal_parse(""), -1);
}

TEST(container_ids_follow_runc)
{
    CHECK_INT(state_check_id("abc-1_2+3.4", NULL), 0);
    CHECK_INT(state_check_id("", NULL), -1);
    CHECK_INT(state_check_id(".", NULL), -1);
    CHECK_INT(state_check_id("..", NULL), -1);
    CHECK_INT(state_check_id("a/b", NULL), -1);
    CHECK_INT(state_check_id("a b", NULL), -1);
}

static char *temp_root(void)
{
    char tmpl[] = "/tmp/test_runtime.XXXXXX";
    char *dir = mkdtemp(tmpl);
    return dir ? xasprintf("%s/root", dir) : NULL;
}

TEST(state_saved_loaded_listed_removed)
{
    cleanup_free char *root = temp_root();
    CHECK(root != NULL);
    runtime_opts.root = root;
    cleanup_kerr struct kerr *err = NULL;
    CHECK_INT(state_create_dir("b", &err), 0);
    CHECK_INT(state_create_dir("a", &err), 0);
    CHECK_INT(state_create_dir("a", &err), -1);
    CHECK_STR(err->msg, "container \"a\" already exists");
    CHECK_INT(err->status, EEXIST);
    kerr_clear(&err);

    struct container_state s = {0};
    s.id = "a";
    s.bundle = "/b";
    s.holder_pid = 1234;
    s.holder_start = 99;
    s.terminal = true;
    s.annotations = json_object_new_object();
    json_object_object_add(s.annotations, "k", json_object_new_string("v"));
    char *daemon_env[] = {"KATA_STATE_DIR=/x/vc", NULL};
    s.daemon_env = daemon_env;
    CHECK_INT(state_save(&s, &err), 0);
    json_object_put(s.annotations);

    cleanup_state struct container_state t = {0};
    CHECK_INT(state_load("a", &t, &err), 0);
    CHECK_STR(t.bundle, "/b");
    CHECK_INT(t.holder_pid, 1234);
    CHECK_INT(t.holder_start, 99);
    CHECK(t.terminal);
    CHECK(t.rootfs == NULL);
    CHECK_STR(json_object_get_string(json_object_object_get(t.annotations, "k")), "v");
    CHECK(t.daemon_env && t.daemon_env[0] && !t.daemon_env[1]);
    CHECK_STR(t.daemon_env[0], "KATA_STATE_DIR=/x/vc");

    /* No temp file is left beside it (file_write_atomic renames). */
    cleanup_free char *dir = state_dir("a");
    int entries = 0;
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "ls -A %s | wc -l", dir);
    FILE *p = popen(cmd, "r");
    CHECK(p && fscanf(p, "%d", &entries) == 1);
    pclose(p);
    CHECK_INT(entries, 1);

    /* "b" has no state file yet: not a container. */
    char **ids = state_list_ids(&err);
    CHECK(ids && ids[0] && !ids[1]);
    CHECK_STR(ids[0], "a");
    for (size_t i = 0; ids[i]; i++)
        free(ids[i]);
    free(ids);

    CHECK_INT(state_remove("a", &err), 0);
    CHECK_INT(state_remove("b", &err), 0);
    CHECK_INT(state_remove("never", &err), 0);
    struct container_state u;
    CHECK_INT(state_load("a", &u, &err), -1);
    CHECK_STR(err->msg, "container \"a\" does not exist");
    CHECK_INT(err->status, ENOENT);
    rmdir(root);
    *strrchr(root, '/') = '\0';
    rmdir(root);
    runtime_opts.root = NULL;
}

TEST(state_remove_does_not_follow_symlinks)
{
    cleanup_free char *root = temp_root();
    runtime_opts.root = root;
    CHECK_INT(state_create_dir("c", NULL), 0);
    cleanup_free char *outside = xasprintf("%s.outside", root);
    CHECK_INT(mkdir(outside, 0700), 0);
    cleanup_free char *keep = xasprintf("%s/keep", outside);
    CHECK_INT(file_write_atomic(keep, "x", 1, 0600, NULL), 0);
    cleanup_free char *link = xasprintf("%s/c/link", root);
    CHECK_INT(symlink(outside, link), 0);
    CHECK_INT(state_remove("c", NULL), 0);
    CHECK_INT(access(keep, F_OK), 0);
    unlink(keep);
    rmdir(outside);
    rmdir(root);
    *strrchr(root, '/') = '\0';
    rmdir(root);
    runtime_opts.root = NULL;
}

TEST(state_daemon_env_keeps_only_name_value_strings)
{
    cleanup_free char *root = temp_root();
    runtime_opts.root = root;
    CHECK_INT(state_create_dir("d", NULL), 0);
    cleanup_free char *path = xasprintf("%s/d/" STATE_FILE_NAME, root);
    const char *text = "{\"id\": \"d\", \"daemon_env\": [null, 7, \"=x\", \"NOVALUE\", "
                       "\"KATA_SHARED_DIR=/s\", {}]}";
    CHECK_INT(file_write_atomic(path, text, strlen(text), 0600, NULL), 0);
    cleanup_state struct container_state s = {0};
    CHECK_INT(state_load("d", &s, NULL), 0);
    CHECK(s.daemon_env && s.daemon_env[0] && !s.daemon_env[1]);
    CHECK_STR(s.daemon_env[0], "KATA_SHARED_DIR=/s");
    CHECK_INT(state_remove("d", NULL), 0);
    rmdir(root);
    *strrchr(root, '/') = '\0';
    rmdir(root);
    runtime_opts.root = NULL;
}

TEST(json_errors_name_line_and_column)
{
    cleanup_kerr struct kerr *err = NULL;
    const char *text = "{\n  \"a\": 1,\n  \"b\": ]\n}";
    CHECK(json_parse_text(text, strlen(text), "f.json", &err) == NULL);
    CHECK(strncmp(err->msg, "f.json:3:", 9) == 0);
    kerr_clear(&err);
    CHECK(json_parse_text("{} x", 4, "g.json", &err) == NULL);
    CHECK(strstr(err->msg, "g.json:1:4: malformed JSON") != NULL);
    kerr_clear(&err);
    CHECK(json_parse_text("{\"a\"", 4, "h.json", &err) == NULL);
    kerr_clear(&err);
    struct json_object *o = json_parse_text("{\"a\": [1, 2]}\n", 14, "ok.json", &err);
    CHECK(o != NULL);
    json_object_put(o);
}

TEST(process_start_time_tells_live_from_gone)
{
    uint64_t mine = process_start_time(getpid());
    CHECK(mine > 0);
    CHECK(process_alive(getpid(), mine));
    CHECK(!process_alive(getpid(), mine + 1));
    CHECK(!process_alive(0, 0));
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    int status;
    waitpid(child, &status, 0);
    CHECK(!process_alive(child, 0));
}

TEST(rfc3339_now_is_utc_with_nanoseconds)
{
    cleanup_free char *t = rfc3339_now();
    CHECK_INT(strlen(t), 30);
    CHECK(t[4] == '-' && t[10] == 'T' && t[19] == '.' && t[29] == 'Z');
}
