/* The runtime's record of a container: <root>/<id>/state.json, written
 * atomically (temp file + rename) before anything relies on it, so every
 * later verb, and `delete --force` after any crash, can find the sandbox
 * daemon, the holder process and the bundle again. */
#ifndef KATA_RUNTIME_STATE_H
#define KATA_RUNTIME_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

struct json_object;

#define STATE_ROOT_DEFAULT "/run/kata-containers/runtime"
#define STATE_FILE_NAME    "state.json"

struct container_state {
    char *id;
    char *bundle;  /* absolute */
    char *rootfs;  /* absolute */
    char *created; /* RFC 3339, UTC, nanoseconds */
    char *owner;   /* user name of the creator */
    char *address; /* the sandbox daemon's ttrpc address ("unix:///...") */
    char *sandbox_id;
    char *namespace;       /* the shim namespace the daemon was started with */
    char *config_path;     /* --config given to create, or NULL */
    char *status;          /* last status a verb saw or set: created, running, paused, stopped */
    pid_t holder_pid;      /* the pid in --pid-file; 0 before the holder exists */
    uint64_t holder_start; /* its start time (/proc/PID/stat field 22): pid reuse */
    pid_t daemon_pid;      /* the sandbox daemon, 0 when unknown */
    uint64_t daemon_start; /* its start time */
    bool terminal;         /* process.terminal */
    /* The daemon's directory variables as create saw them (KATA_STATE_DIR ...:
     * daemon_env_record), NULL-terminated "NAME=VALUE" strings or NULL.  Later
     * verbs may come with another environment (podman calls start, kill and
     * delete with an almost empty one), and `delete --force` must clean the
     * dirs the daemon used. */
    char **daemon_env;
    struct json_object *annotations; /* the bundle's annotations object, or NULL */
};

/* --root, or STATE_ROOT_DEFAULT. */
const char *state_root(void);

/* <root>/<id> (malloc'd). */
char *state_dir(const char *id);

/* runc's rule: non-empty, letters, digits, `_+-.`, not "." or "..". */
int state_check_id(const char *id, struct kerr **err);

/* Make <root>/<id>; fails with `container "ID" already exists` (EEXIST). */
int state_create_dir(const char *id, struct kerr **err);

int state_save(const struct container_state *s, struct kerr **err);

/* Load <root>/<id>/state.json.  A missing container fails with
 * `container "ID" does not exist` and status ENOENT. */
int state_load(const char *id, struct container_state *s, struct kerr **err);

void state_release(struct container_state *s);

/* Remove <root>/<id> and everything in it (fifos, logs). */
int state_remove(const char *id, struct kerr **err);

/* The ids under the root that have a state file, sorted (NULL-terminated,
 * free with kata_strv_free). */
char **state_list_ids(struct kerr **err);

/* A process's start time in clock ticks since boot, 0 if it does not exist. */
uint64_t process_start_time(pid_t pid);

/* Is pid alive and still the process that started at start_time? */
bool process_alive(pid_t pid, uint64_t start_time);

/* Now as RFC 3339 in UTC with nanoseconds (malloc'd). */
char *rfc3339_now(void);

static inline void cleanup_state_fn(struct container_state *s)
{
    state_release(s);
}
#define cleanup_state __attribute__((cleanup(cleanup_state_fn)))

#endif
