/* <root>/<id>/state.json: see state.h. */
#include "runtime_state.h"

#include "config.h"
#include "daemon_paths.h"
#include "proc_ref.h"
#include "runtime.h"
#include "safe_fs.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A state file is small; anything bigger is not ours. */
#define STATE_FILE_MAX (1u << 20)

const char *state_root(void)
{
    return runtime_opts.root && *runtime_opts.root ? runtime_opts.root : STATE_ROOT_DEFAULT;
}

char *state_dir(const char *id)
{
    return xasprintf("%s/%s", state_root(), id);
}

int state_check_id(const char *id, struct kerr **err)
{
    if (safe_id_check("container", id, err) < 0)
        return -1;
    cleanup_free char *dir = state_dir(id);
    if (daemon_dir_overlaps(dir))
        return kerr_make(err, EINVAL,
                         "container id `%s` is reserved: `%s` holds the sandbox daemon's files "
                         "(use another id, or another --root)",
                         id, dir);
    return 0;
}

int state_create_dir(const char *id, struct kerr **err)
{
    if (state_check_id(id, err) < 0)
        return -1;
    if (mkdir_all(state_root(), 0711, err) < 0)
        return kerr_wrap(err, "state root");
    cleanup_free char *dir = state_dir(id);
    if (mkdir(dir, 0700) < 0) {
        if (errno == EEXIST)
            return kerr_make_status(err, EEXIST, "container \"%s\" already exists", id);
        return kerr_make(err, errno, "create state directory `%s`", dir);
    }
    return 0;
}

static void put_str(struct json_object *o, const char *key, const char *value)
{
    if (value)
        json_object_object_add(o, key, json_object_new_string(value));
}

int state_save(const struct container_state *s, struct kerr **err)
{
    struct json_object *o = json_object_new_object();
    put_str(o, "id", s->id);
    put_str(o, "bundle", s->bundle);
    put_str(o, "rootfs", s->rootfs);
    put_str(o, "created", s->created);
    put_str(o, "owner", s->owner);
    put_str(o, "address", s->address);
    put_str(o, "sandbox_id", s->sandbox_id);
    put_str(o, "namespace", s->namespace);
    put_str(o, "config_path", s->config_path);
    put_str(o, "status", s->status);
    json_object_object_add(o, "holder_pid", json_object_new_int64(s->holder_pid));
    json_object_object_add(o, "holder_start", json_object_new_uint64(s->holder_start));
    json_object_object_add(o, "daemon_pid", json_object_new_int64(s->daemon_pid));
    json_object_object_add(o, "daemon_start", json_object_new_uint64(s->daemon_start));
    json_object_object_add(o, "terminal", json_object_new_boolean(s->terminal));
    if (s->daemon_env) {
        struct json_object *env = json_object_new_array();
        for (char **e = s->daemon_env; *e; e++)
            json_object_array_add(env, json_object_new_string(*e));
        json_object_object_add(o, "daemon_env", env);
    }
    if (s->annotations)
        json_object_object_add(o, "annotations", json_object_get(s->annotations));
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    cleanup_free char *path = xasprintf("%s/%s/%s", state_root(), s->id, STATE_FILE_NAME);
    int r = file_write_atomic(path, text, strlen(text), 0600, err);
    json_object_put(o);
    if (r < 0)
        return kerr_wrap(err, "save state of container `%s`", s->id);
    return 0;
}

static char *get_str(struct json_object *o, const char *key)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return xstrdup(json_object_get_string(v));
}

static int64_t get_int(struct json_object *o, const char *key)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v))
        return 0;
    return json_object_get_int64(v);
}

int state_load(const char *id, struct container_state *s, struct kerr **err)
{
    memset(s, 0, sizeof(*s));
    if (state_check_id(id, err) < 0)
        return -1;
    cleanup_free char *path = xasprintf("%s/%s/%s", state_root(), id, STATE_FILE_NAME);
    cleanup_free char *text = NULL;
    size_t len;
    cleanup_kerr struct kerr *read_err = NULL;
    if (file_read_all(path, STATE_FILE_MAX, &text, &len, &read_err) < 0) {
        if (read_err->status == ENOENT)
            return kerr_make_status(err, ENOENT, "container \"%s\" does not exist", id);
        return kerr_make(err, read_err->status, "read state of container `%s`: %s", id,
                         read_err->msg);
    }
    struct json_tokener *tok = json_tokener_new();
    struct json_object *o = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    json_tokener_free(tok);
    if (!o || jerr != json_tokener_success || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return kerr_make(err, 0, "read state of container `%s`: `%s` is not a JSON object", id,
                         path);
    }
    s->id = get_str(o, "id");
    if (!s->id || strcmp(s->id, id) != 0) {
        json_object_put(o);
        state_release(s);
        return kerr_make(err, 0, "read state of container `%s`: `%s` names another id", id, path);
    }
    s->bundle = get_str(o, "bundle");
    s->rootfs = get_str(o, "rootfs");
    s->created = get_str(o, "created");
    s->owner = get_str(o, "owner");
    s->address = get_str(o, "address");
    s->sandbox_id = get_str(o, "sandbox_id");
    s->namespace = get_str(o, "namespace");
    s->config_path = get_str(o, "config_path");
    s->status = get_str(o, "status");
    s->holder_pid = (pid_t)get_int(o, "holder_pid");
    s->holder_start = (uint64_t)get_int(o, "holder_start");
    s->daemon_pid = (pid_t)get_int(o, "daemon_pid");
    s->daemon_start = (uint64_t)get_int(o, "daemon_start");
    struct json_object *v;
    s->terminal = json_object_object_get_ex(o, "terminal", &v) && json_object_get_boolean(v);
    if (json_object_object_get_ex(o, "annotations", &v) && json_object_is_type(v, json_type_object))
        s->annotations = json_object_get(v);
    if (json_object_object_get_ex(o, "daemon_env", &v) && json_object_is_type(v, json_type_array)) {
        size_t n = json_object_array_length(v), k = 0;
        s->daemon_env = xcalloc(n + 1, sizeof(char *));
        for (size_t i = 0; i < n; i++) {
            struct json_object *e = json_object_array_get_idx(v, i);
            const char *entry = json_object_get_string(e);
            /* Only NAME=VALUE strings: anything else in the file is ignored. */
            if (json_object_is_type(e, json_type_string) && strchr(entry, '=') && entry[0] != '=')
                s->daemon_env[k++] = xstrdup(entry);
        }
    }
    json_object_put(o);
    return 0;
}

void state_release(struct container_state *s)
{
    free(s->id);
    free(s->bundle);
    free(s->rootfs);
    free(s->created);
    free(s->owner);
    free(s->address);
    free(s->sandbox_id);
    free(s->namespace);
    free(s->config_path);
    free(s->status);
    json_object_put(s->annotations);
    kata_strv_free(s->daemon_env);
    memset(s, 0, sizeof(*s));
}

int state_remove(const char *id, struct kerr **err)
{
    if (state_check_id(id, err) < 0)
        return -1;
    cleanup_close int root = open(state_root(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) {
        if (errno == ENOENT)
            return 0;
        return kerr_make(err, errno, "open state root `%s`", state_root());
    }
    if (safe_remove_tree_at(root, id, err) < 0)
        return kerr_wrap(err, "remove state of container `%s`", id);
    return 0;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **state_list_ids(struct kerr **err)
{
    size_t n = 0, cap = 8;
    char **ids = xcalloc(cap, sizeof(*ids));
    DIR *d = opendir(state_root());
    if (!d) {
        if (errno == ENOENT)
            return ids;
        free(ids);
        kerr_make(err, errno, "list containers: open `%s`", state_root());
        return NULL;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || state_check_id(e->d_name, NULL) < 0)
            continue;
        struct stat st;
        cleanup_free char *path = xasprintf("%s/%s/%s", state_root(), e->d_name, STATE_FILE_NAME);
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (n + 1 >= cap) {
            cap *= 2;
            ids = xrealloc(ids, cap * sizeof(*ids));
        }
        ids[n++] = xstrdup(e->d_name);
        ids[n] = NULL;
    }
    closedir(d);
    qsort(ids, n, sizeof(*ids), compare_strings);
    return ids;
}

uint64_t process_start_time(pid_t pid)
{
    struct proc_ref p;
    return proc_ref_of(pid, &p) == 0 ? p.start : 0;
}

bool process_alive(pid_t pid, uint64_t start_time)
{
    struct proc_ref p;
    return proc_ref_of(pid, &p) == 0 && (start_time == 0 || p.start == start_time);
}

char *rfc3339_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char date[32];
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    return xasprintf("%s.%09ldZ", date, ts.tv_nsec);
}
