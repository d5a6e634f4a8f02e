/* virtio-console without KVM: the test driver (virtio_test_driver.h) writes
 * transmit chains and the device thread hands their bytes to an output sink;
 * receive buffers are filled from a pipe or a pty, and the device thread
 * never blocks on the input. */
#include "test.h"
#include "util.h"
#include "virtio_console.h"
#include "virtio_test_driver.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define RX 0
#define TX 1

/* What the device wrote, in order. */
struct sink {
    pthread_mutex_t lock;
    uint8_t bytes[16384];
    size_t len;
    unsigned calls;
};

static void sink_output(void *ctx, const uint8_t *bytes, size_t len)
{
    struct sink *s = ctx;
    pthread_mutex_lock(&s->lock);
    if (len > sizeof(s->bytes) - s->len)
        len = sizeof(s->bytes) - s->len;
    memcpy(s->bytes + s->len, bytes, len);
    s->len += len;
    s->calls++;
    pthread_mutex_unlock(&s->lock);
}

static size_t sink_len(struct sink *s)
{
    pthread_mutex_lock(&s->lock);
    size_t n = s->len;
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* A console device at slot 0 with input_fd, its thread running, a driver
 * attached to both queues. */
static bool console_open(struct driver *d, struct sink *s, int input_fd)
{
    driver_open(d);
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    return vmm_devices_add_console(d->devs, input_fd, sink_output, s, NULL) == 0 &&
           vmm_devices_start(d->devs, false, NULL) == 0 &&
           (driver_setup(d, 2, VIRTIO_F_VERSION_1) & VIRTIO_STATUS_DRIVER_OK);
}

static void console_close(struct driver *d, struct sink *s)
{
    driver_close(d);
    pthread_mutex_destroy(&s->lock);
}

/* Transmit `text` as one readable buffer at gpa through descriptor desc. */
static long transmit(struct driver *d, unsigned desc, uint64_t gpa, const char *text)
{
    memcpy(d->mem.base + gpa, text, strlen(text));
    set_desc(d, TX, desc, gpa, (uint32_t)strlen(text), 0, 0);
    submit(d, TX, (uint16_t)desc);
    return wait_used(d, TX);
}

/* The device closes an input that ended: wait (5 s at most) until fd is no
 * longer open in this process. */
static bool fd_closed_soon(int fd)
{
    for (int i = 0; i < 250; i++) {
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF)
            return true;
        usleep(20000);
    }
    return false;
}

TEST(virtio_console_identifies_itself_as_one_port_without_features)
{
    struct driver d;
    struct sink s;
    driver_open(&d);
    memset(&s, 0, sizeof(s));
    CHECK_INT(vmm_devices_add_console(d.devs, -1, sink_output, &s, NULL), 0);
    CHECK_INT(reg_read(&d, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_CONSOLE);
    reg_write(&d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    /* No SIZE (0), MULTIPORT (1) or EMERG_WRITE (2): one port, config unread. */
    CHECK_INT(reg_read(&d, VIRTIO_MMIO_DEVICE_FEATURES) & 7u, 0);
    reg_write(&d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    CHECK_INT(reg_read(&d, VIRTIO_MMIO_DEVICE_FEATURES), 1); /* VERSION_1 */
    reg_write(&d, VIRTIO_MMIO_QUEUE_SEL, TX);
    CHECK_INT(reg_read(&d, VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTIO_MMIO_QUEUE_MAX);
    reg_write(&d, VIRTIO_MMIO_QUEUE_SEL, 2); /* receiveq0 and transmitq0 only */
    CHECK_INT(reg_read(&d, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
    CHECK_INT(reg_read(&d, VIRTIO_MMIO_CONFIG + 4), 0); /* max_nr_ports */
    driver_close(&d);
}

TEST(virtio_console_transmits_to_the_output_in_order)
{
    struct driver d;
    struct sink s;
    CHECK(console_open(&d, &s, -1));
    CHECK_INT(transmit(&d, 0, DATA_GPA, "hello, "), 0);
    /* Two readable buffers, then a writable one the device leaves alone. */
    memcpy(d.mem.base + DATA_GPA + 0x100, "wor", 3);
    memcpy(d.mem.base + DATA_GPA + 0x200, "ld\n", 3);
    memset(d.mem.base + DATA_GPA + 0x300, 0x55, 8);
    set_desc(&d, TX, 1, DATA_GPA + 0x100, 3, VIRTQ_DESC_F_NEXT, 2);
    set_desc(&d, TX, 2, DATA_GPA + 0x200, 3, VIRTQ_DESC_F_NEXT, 3);
    set_desc(&d, TX, 3, DATA_GPA + 0x300, 8, VIRTQ_DESC_F_WRITE, 0);
    submit(&d, TX, 1);
    CHECK_INT(wait_used(&d, TX), 0);
    CHECK_INT(d.mem.base[DATA_GPA + 0x300], 0x55);
    /* A buffer larger than the device's bounce buffer arrives whole. */
    uint8_t *big = d.mem.base + DATA_GPA + 0x1000;
    for (unsigned i = 0; i < 10000; i++)
        big[i] = (uint8_t)('a' + i % 26);
    set_desc(&d, TX, 4, DATA_GPA + 0x1000, 10000, 0, 0);
    submit(&d, TX, 4);
    CHECK_INT(wait_used(&d, TX), 0);
    CHECK_INT(sink_len(&s), 13 + 10000);
    CHECK(memcmp(s.bytes, "hello, world\n", 13) == 0);
    CHECK(memcmp(s.bytes + 13, big, 10000) == 0);
    console_close(&d, &s);
}

TEST(virtio_console_receives_from_a_pipe_and_never_waits_for_it)
{
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    cleanup_kerr struct kerr *err = NULL;
    int input = virtio_console_input_open(p[0], &err);
    CHECK(input >= 0);
    struct driver d;
    struct sink s;
    CHECK(console_open(&d, &s, input));
    /* A receive buffer with no input yet: the device keeps it and keeps
     * serving the transmit queue. */
    set_desc(&d, RX, 0, DATA_GPA, 16, VIRTQ_DESC_F_WRITE, 0);
    submit(&d, RX, 0);
    CHECK_INT(transmit(&d, 0, DATA_GPA + 0x1000, "still here\n"), 0);
    CHECK_INT(sink_len(&s), 11);
    /* Input arrives: the waiting buffer takes it. */
    CHECK(write(p[1], "ls\n", 3) == 3);
    CHECK_INT(wait_used(&d, RX), 3);
    CHECK(memcmp(d.mem.base + DATA_GPA, "ls\n", 3) == 0);
    /* More input than a buffer holds spreads over the next ones. */
    CHECK(write(p[1], "0123456789abcdefghij", 20) == 20);
    set_desc(&d, RX, 1, DATA_GPA + 0x100, 16, VIRTQ_DESC_F_WRITE, 0);
    submit(&d, RX, 1);
    CHECK_INT(wait_used(&d, RX), 16);
    set_desc(&d, RX, 2, DATA_GPA + 0x200, 16, VIRTQ_DESC_F_WRITE, 0);
    submit(&d, RX, 2);
    CHECK_INT(wait_used(&d, RX), 4);
    CHECK(memcmp(d.mem.base + DATA_GPA + 0x100, "0123456789abcdef", 16) == 0);
    CHECK(memcmp(d.mem.base + DATA_GPA + 0x200, "ghij", 4) == 0);
    /* EOF: the device closes its input and keeps the buffer; output goes on. */
    close(p[1]);
    set_desc(&d, RX, 3, DATA_GPA + 0x300, 16, VIRTQ_DESC_F_WRITE, 0);
    submit(&d, RX, 3);
    CHECK(fd_closed_soon(input));
    CHECK_INT(transmit(&d, 0, DATA_GPA + 0x1000, "bye\n"), 0);
    CHECK_INT(sink_len(&s), 15);
    uint16_t used_idx;
    memcpy(&used_idx, d.mem.base + queue_gpa(RX) + 0x400 + 2, 2);
    CHECK_INT(used_idx, 3);
    close(p[0]);
    console_close(&d, &s);
}

TEST(virtio_console_input_is_a_tty_or_pipe_reopened_non_blocking)
{
    cleanup_kerr struct kerr *err = NULL;
    /* Not a terminal or a pipe: output-only, no error. */
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK(null >= 0);
    CHECK_INT(virtio_console_input_open(null, &err), -1);
    CHECK(err == NULL);
    close(null);
    CHECK_INT(virtio_console_input_open(null, &err), -1); /* closed */
    CHECK(err == NULL);
    char path[] = "/tmp/test-virtio-console.XXXXXX";
    int file = mkstemp(path);
    CHECK(file >= 0);
    unlink(path);
    CHECK_INT(virtio_console_input_open(file, &err), -1);
    CHECK(err == NULL);
    close(file);
    /* A pipe: our own non-blocking description, the original left blocking. */
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    int in = virtio_console_input_open(p[0], &err);
    CHECK(in >= 0 && in != p[0]);
    CHECK(fcntl(in, F_GETFL) & O_NONBLOCK);
    CHECK(fcntl(in, F_GETFD) & FD_CLOEXEC);
    CHECK(!(fcntl(p[0], F_GETFL) & O_NONBLOCK));
    char c;
    CHECK(read(in, &c, 1) < 0 && errno == EAGAIN);
    CHECK(write(p[1], "x", 1) == 1);
    CHECK(read(in, &c, 1) == 1 && c == 'x');
    close(in);
    close(p[0]);
    close(p[1]);
    /* A terminal (a pty's slave). */
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0)
        SKIP("no pty");
    int slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
    CHECK(slave >= 0);
    in = virtio_console_input_open(slave, &err);
    CHECK(in >= 0);
    CHECK(fcntl(in, F_GETFL) & O_NONBLOCK);
    CHECK(!(fcntl(slave, F_GETFL) & O_NONBLOCK));
    close(in);
    close(slave);
    close(master);
}

/* Wait (5 s at most) until the device asks for a reset. */
static bool needs_reset_soon(struct driver *d)
{
    for (int i = 0; i < 250; i++) {
        if (reg_read(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET)
            return true;
        usleep(20000);
    }
    return false;
}

/* Reset and set the driver up again with empty rings. */
static bool driver_restart(struct driver *d)
{
    memset(d->avail_idx, 0, sizeof(d->avail_idx));
    memset(d->used_seen, 0, sizeof(d->used_seen));
    memset(d->mem.base + queue_gpa(TX), 0, 0x1000);
    return driver_setup(d, 2, VIRTIO_F_VERSION_1) & VIRTIO_STATUS_DRIVER_OK;
}

TEST(virtio_console_bad_chains_need_a_reset)
{
    struct driver d;
    struct sink s;
    CHECK(console_open(&d, &s, -1));
    set_desc(&d, TX, 0, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 0); /* a loop */
    memcpy(d.mem.base + DATA_GPA, "loop!!!\n", 8);
    submit(&d, TX, 0);
    CHECK(needs_reset_soon(&d));
    CHECK_INT(sink_len(&s), 0);
    /* A buffer across the end of guest memory, after a reset. */
    CHECK(driver_restart(&d));
    set_desc(&d, TX, 0, MEM_SIZE - 4, 8, 0, 0);
    submit(&d, TX, 0);
    CHECK(needs_reset_soon(&d));
    CHECK_INT(sink_len(&s), 0);
    /* Usable again after a reset. */
    CHECK(driver_restart(&d));
    CHECK_INT(transmit(&d, 0, DATA_GPA, "ok\n"), 0);
    CHECK_INT(sink_len(&s), 3);
    console_close(&d, &s);
}

TEST(virtio_console_closes_its_input_when_no_slot_is_left)
{
    struct driver d;
    driver_open(&d);
    for (unsigned i = 0; i < VMM_MAX_DEVICES; i++)
        CHECK_INT(vmm_devices_add_rng(d.devs, NULL), 0);
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    cleanup_kerr struct kerr *err = NULL;
    CHECK_INT(vmm_devices_add_console(d.devs, p[0], sink_output, NULL, &err), -1);
    CHECK_CONTAINS(err->msg, "more than 16 virtio devices");
    CHECK(fcntl(p[0], F_GETFD) < 0 && errno == EBADF);
    close(p[1]);
    driver_close(&d);
}

/* In a child: transmit and receive under the device thread's filter. */
static int console_under_seccomp(void)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return 1;
    int input = virtio_console_input_open(p[0], NULL);
    struct driver d;
    struct sink s;
    driver_open(&d);
    memset(&s, 0, sizeof(s));
    pthread_mutex_init(&s.lock, NULL);
    bool ok = vmm_devices_add_console(d.devs, input, sink_output, &s, NULL) == 0 &&
              vmm_devices_start(d.devs, true, NULL) == 0 &&
              (driver_setup(&d, 2, VIRTIO_F_VERSION_1) & VIRTIO_STATUS_DRIVER_OK);
    ok = ok && transmit(&d, 0, DATA_GPA, "filtered\n") == 0 && sink_len(&s) == 9;
    set_desc(&d, RX, 0, DATA_GPA + 0x100, 16, VIRTQ_DESC_F_WRITE, 0);
    submit(&d, RX, 0);
    ok = ok && write(p[1], "in\n", 3) == 3 && wait_used(&d, RX) == 3;
    close(p[1]); /* EOF: the device thread closes its input under the filter */
    set_desc(&d, RX, 1, DATA_GPA + 0x200, 16, VIRTQ_DESC_F_WRITE, 0);
    submit(&d, RX, 1);
    ok = ok && fd_closed_soon(input);
    driver_close(&d);
    return ok ? 0 : 1;
}

TEST(virtio_console_works_under_the_device_threads_seccomp_filter)
{
    int status = in_child(console_under_seccomp);
    if (WIFSIGNALED(status))
        printf("#   child killed by signal %d\n", WTERMSIG(status));
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
