/* Events to containerd: `publish-binary --address A publish --topic T
 * --namespace N` with a protobuf google.protobuf.Any of the event on stdin,
 * as containerd's `publish` command reads it.  Run one at a time, in order
 * (TaskExit must reach containerd before TaskDelete); skipped when there is
 * no publish binary (the kata-runtime CLI). */
#include "any.pb-c.h"
#include "log.h"
#include "shim.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct pending_event {
    char *topic;
    uint8_t *data;
    size_t len;
    struct pending_event *next;
};

static struct pending_event *queue_head, **queue_tail = &queue_head;
static pid_t publisher_pid;
static int publisher_pidfd = -1;

static void publish_next(struct shim *shim);

static void publisher_exited(struct loop_watch *w, uint32_t events, void *data)
{
    loop_watch_remove(w);
    close(publisher_pidfd);
    publisher_pidfd = -1;
    int status;
    if (waitpid(publisher_pid, &status, 0) == publisher_pid &&
        (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
        log_warn("publish event: the publish binary failed (wait status %d)", status);
    publisher_pid = 0;
    publish_next(data);
}

static void publish_next(struct shim *shim)
{
    struct pending_event *e = queue_head;
    if (e == NULL || publisher_pid > 0)
        return;
    queue_head = e->next;
    if (queue_head == NULL)
        queue_tail = &queue_head;
    int in[2];
    if (pipe2(in, O_CLOEXEC) < 0)
        goto out;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        execl(shim->opts.publish_binary, shim->opts.publish_binary, "--address", shim->opts.address,
              "publish", "--topic", e->topic, "--namespace", shim->opts.namespace, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    if (pid > 0) {
        fd_write_full(in[1], e->data, e->len); /* small: fits the pipe */
        publisher_pid = pid;
        publisher_pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (publisher_pidfd < 0 || loop_watch_add(shim->loop, publisher_pidfd, EPOLLIN,
                                                  publisher_exited, shim, NULL) == NULL) {
            waitpid(pid, NULL, 0);
            publisher_pid = 0;
        }
    }
    close(in[1]);
out:
    free(e->topic);
    free(e->data);
    free(e);
    if (publisher_pid == 0 && queue_head)
        publish_next(shim);
}

void shim_publish(struct shim *shim, const char *topic, const ProtobufCMessage *event)
{
    if (shim->opts.publish_binary == NULL || shim->opts.address == NULL)
        return;
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    cleanup_free char *type_url = xstrdup(event->descriptor->name); /* containerd.events.TaskExit */
    any.type_url = type_url;
    any.value.len = protobuf_c_message_get_packed_size(event);
    cleanup_free uint8_t *value = xmalloc(any.value.len + 1);
    protobuf_c_message_pack(event, value);
    any.value.data = value;
    struct pending_event *e = xcalloc(1, sizeof(*e));
    e->topic = xstrdup(topic);
    e->len = google__protobuf__any__get_packed_size(&any);
    e->data = xmalloc(e->len + 1);
    google__protobuf__any__pack(&any, e->data);
    *queue_tail = e;
    queue_tail = &e->next;
    publish_next(shim);
}
