/* virtio-console, one port (see virtio_console.h).  Transmit chains are
 * copied out of guest memory a bounce buffer at a time and handed to the
 * output callback; receive chains are filled with one readv of the input fd
 * each.  Only the device thread adds or removes the input's watch (the loop
 * is that thread's), so a driver reset on a vCPU thread leaves it alone: the
 * next input event finds no ready queue and removes it. */
#include "virtio_console.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define QUEUE_RX 0u /* receiveq0: host to guest */
#define QUEUE_TX 1u /* transmitq0: guest to host */

/* struct virtio_console_config: cols, rows (le16), max_nr_ports, emerg_wr
 * (le32).  No feature makes the driver read them (no SIZE, MULTIPORT or
 * EMERG_WRITE), so they stay 0. */
#define CONSOLE_CONFIG_SIZE 12u

#define CONSOLE_BOUNCE_SIZE 4096u

struct virtio_console {
    struct virtio_mmio *dev;
    struct loop *loop;
    int input_fd;             /* non-blocking, -1: none or ended */
    struct loop_watch *watch; /* EPOLLIN on input_fd while rx buffers wait */
    virtio_console_output output;
    void *output_ctx;
    struct virtq_chain chain;
    uint8_t bounce[CONSOLE_BOUNCE_SIZE];
};

static void input_event(struct loop_watch *w, uint32_t events, void *data);

/* Device thread only. */
static void input_wait(struct virtio_console *con, bool on)
{
    if (on && con->watch == NULL && con->input_fd >= 0)
        con->watch = loop_watch_add(con->loop, con->input_fd, EPOLLIN, input_event, con, NULL);
    else if (!on && con->watch) {
        loop_watch_remove(con->watch);
        con->watch = NULL;
    }
}

/* The input ended (EOF, hangup, error): the console is output-only from now. */
static void input_end(struct virtio_console *con)
{
    input_wait(con, false);
    if (con->input_fd >= 0)
        close(con->input_fd);
    con->input_fd = -1;
}

/* Move input into receive buffers until either runs out (lock held). */
static void console_rx(struct virtio_mmio *dev)
{
    struct virtio_console *con = dev->device;
    struct virtq *q = virtio_mmio_queue(dev, QUEUE_RX);
    cleanup_kerr struct kerr *err = NULL;
    struct iovec iov[VIRTQ_CHAIN_MAX];
    bool used = false;
    if (q == NULL || con->input_fd < 0) {
        input_wait(con, false); /* buffers wait in the ring until there is input */
        return;
    }
    for (;;) {
        int r = virtq_pop(q, &dev->mem, &con->chain, &err);
        if (r < 0) {
            virtio_mmio_fail(dev, &err);
            input_wait(con, false);
            break;
        }
        if (r == 0) {
            input_wait(con, false); /* the driver notifies when it adds buffers */
            break;
        }
        uint64_t covered = 0;
        unsigned n = virtq_chain_iovec(&con->chain, true, 0, con->chain.writable_len, iov,
                                       VIRTQ_CHAIN_MAX, &covered);
        ssize_t got = 0; /* a chain with nothing writable goes back empty */
        if (covered > 0)
            got = readv(con->input_fd, iov, (int)n);
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) {
            virtq_unpop(q);
            input_wait(con, true);
            break;
        }
        if (got < 0 || (got == 0 && covered > 0)) {
            virtq_unpop(q); /* keep the buffer: nothing will come */
            input_end(con);
            break;
        }
        if (virtq_push(q, &dev->mem, con->chain.head, (uint32_t)got, &err) < 0) {
            virtio_mmio_fail(dev, &err);
            break;
        }
        used = true;
    }
    if (used)
        virtio_mmio_used(dev, q);
}

/* Each transmit chain's readable bytes go to the output in order; writable
 * buffers in a transmit chain are left alone (lock held). */
static void console_tx(struct virtio_mmio *dev)
{
    struct virtio_console *con = dev->device;
    struct virtq *q = virtio_mmio_queue(dev, QUEUE_TX);
    cleanup_kerr struct kerr *err = NULL;
    bool used = false;
    if (q == NULL)
        return;
    for (;;) {
        int r = virtq_pop(q, &dev->mem, &con->chain, &err);
        if (r < 0) {
            virtio_mmio_fail(dev, &err);
            break;
        }
        if (r == 0)
            break;
        for (uint64_t off = 0; off < con->chain.readable_len;) {
            size_t n = virtq_chain_read(&con->chain, off, con->bounce, sizeof(con->bounce));
            if (n == 0)
                break;
            if (con->output)
                con->output(con->output_ctx, con->bounce, n);
            off += n;
        }
        if (virtq_push(q, &dev->mem, con->chain.head, 0, &err) < 0) {
            virtio_mmio_fail(dev, &err);
            break;
        }
        used = true;
    }
    if (used)
        virtio_mmio_used(dev, q);
}

static void input_event(struct loop_watch *w, uint32_t events, void *data)
{
    struct virtio_console *con = data;
    pthread_mutex_lock(&con->dev->lock);
    console_rx(con->dev);
    pthread_mutex_unlock(&con->dev->lock);
}

static void console_queue_notify(struct virtio_mmio *dev, unsigned queue)
{
    if (queue == QUEUE_TX)
        console_tx(dev);
    else
        console_rx(dev);
}

static void console_free(struct virtio_mmio *dev)
{
    struct virtio_console *con = dev->device;
    if (con == NULL)
        return;
    input_end(con);
    free(con);
}

static const struct virtio_device_ops console_ops = {
    .name = "virtio-console",
    .device_id = VIRTIO_ID_CONSOLE,
    .num_queues = 2,
    .queue_notify = console_queue_notify,
    .free = console_free,
};

int virtio_console_input_open(int fd, struct kerr **err)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || !(S_ISFIFO(st.st_mode) || isatty(fd)))
        return -1;
    char path[32];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    int in = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (in < 0)
        return kerr_make(err, errno, "virtio-console: reopen input fd %d (`%s`)", fd, path);
    return in;
}

void virtio_console_init(struct virtio_mmio *dev, struct loop *loop, int input_fd,
                         virtio_console_output output, void *output_ctx,
                         const struct guest_memory *mem, uint64_t base, unsigned irq)
{
    struct virtio_console *con = xcalloc(1, sizeof(*con));
    con->loop = loop;
    con->input_fd = input_fd;
    con->output = output;
    con->output_ctx = output_ctx;
    virtio_mmio_init(dev, &console_ops, con, 0, mem, base, irq);
    con->dev = dev;
    dev->config_size = CONSOLE_CONFIG_SIZE;
}
