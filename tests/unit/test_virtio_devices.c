/* The virtio-mmio transport and the rng, blk, fs and net devices without
 * KVM, driven by the test driver of virtio_test_driver.h. */
#include "test.h"
#include "util.h"
#include "virtio_test_driver.h"
#include "virtio_blk.h"
#include "virtio_mmio.h"
#include "vmm_devices.h"
#include "vmm_seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

TEST(virtio_mmio_registers_identify_the_device_and_negotiate_version_1)
{
    struct driver d;
    driver_open(&d);
    CHECK_INT(vmm_devices_add_rng(d.devs, NULL), 0);
    CHECK_INT(reg_read(&d, VIRTIO_MMIO_MAGIC_VALUE), VIRTIO_MMIO_MAGIC);
    CHECK_INT(reg_read(&d, VIRTIO_MMIO_VERSION_REG), 2);
    CHECK_INT(reg_read(&d, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_RNG);
    reg_write(&d, VIRTIO_MMIO_QUEUE_SEL, 0);
    CHECK_INT(reg_read(&d, VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTIO_MMIO_QUEUE_MAX);
    reg_write(&d, VIRTIO_MMIO_QUEUE_SEL, 1); /* rng has one queue */
    CHECK_INT(reg_read(&d, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
    CHECK_INT(reg_read(&d, VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffffu);
    /* Past the devices: not ours. */
    uint8_t b[4];
    CHECK(!vmm_devices_mmio(d.devs, VMM_MMIO_BASE + VIRTIO_MMIO_SIZE, b, 4, false));
    CHECK(!vmm_devices_mmio(d.devs, VMM_MMIO_BASE + VIRTIO_MMIO_SIZE - 2, b, 4, false));
    /* A legacy driver (no VERSION_1) does not get FEATURES_OK. */
    uint32_t status = driver_setup(&d, 1, 0);
    CHECK(!(status & VIRTIO_STATUS_FEATURES_OK));
    status = driver_setup(&d, 1, VIRTIO_F_VERSION_1);
    CHECK(status & VIRTIO_STATUS_DRIVER_OK);
    CHECK(!(status & VIRTIO_STATUS_DEVICE_NEEDS_RESET));
    /* Features the device did not offer are dropped. */
    struct virtio_mmio *m = vmm_devices_get(d.devs, 0);
    CHECK(!virtio_mmio_negotiated(m, 1ull << 40));
    CHECK(!virtio_mmio_negotiated(m, VIRTIO_F_RING_INDIRECT_DESC));
    /* Reset clears the status and the queues. */
    reg_write(&d, VIRTIO_MMIO_STATUS, 0);
    CHECK_INT(reg_read(&d, VIRTIO_MMIO_STATUS), 0);
    reg_write(&d, VIRTIO_MMIO_QUEUE_SEL, 0);
    CHECK_INT(reg_read(&d, VIRTIO_MMIO_QUEUE_READY), 0);
    driver_close(&d);
}

TEST(virtio_mmio_bad_queue_geometry_needs_reset)
{
    struct driver d;
    driver_open(&d);
    CHECK_INT(vmm_devices_add_rng(d.devs, NULL), 0);
    reg_write(&d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    reg_write(&d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    reg_write(&d, VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VERSION_1 */
    reg_write(&d, VIRTIO_MMIO_STATUS,
              VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    reg_write(&d, VIRTIO_MMIO_QUEUE_SEL, 0);
    reg_write(&d, VIRTIO_MMIO_QUEUE_NUM, 1024); /* above QueueNumMax */
    reg_write(&d, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x10000);
    reg_write(&d, VIRTIO_MMIO_QUEUE_DRIVER_LOW, 0x20000);
    reg_write(&d, VIRTIO_MMIO_QUEUE_DEVICE_LOW, 0x30000);
    reg_write(&d, VIRTIO_MMIO_QUEUE_READY, 1);
    CHECK_INT(reg_read(&d, VIRTIO_MMIO_QUEUE_READY), 0);
    CHECK(reg_read(&d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    reg_write(&d, VIRTIO_MMIO_STATUS, 0);
    CHECK_INT(reg_read(&d, VIRTIO_MMIO_STATUS), 0);
    /* A used ring outside guest memory. */
    reg_write(&d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    reg_write(&d, VIRTIO_MMIO_QUEUE_SEL, 0);
    reg_write(&d, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
    reg_write(&d, VIRTIO_MMIO_QUEUE_DEVICE_LOW, 0);
    reg_write(&d, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 1); /* 4 GiB */
    reg_write(&d, VIRTIO_MMIO_QUEUE_READY, 1);
    CHECK_INT(reg_read(&d, VIRTIO_MMIO_QUEUE_READY), 0);
    CHECK(reg_read(&d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    driver_close(&d);
}

TEST(virtio_rng_fills_buffers_and_interrupts)
{
    struct driver d;
    driver_open(&d);
    CHECK_INT(vmm_devices_add_rng(d.devs, NULL), 0);
    CHECK_INT(vmm_devices_start(d.devs, false, NULL), 0);
    CHECK(driver_setup(&d, 1, VIRTIO_F_VERSION_1) & VIRTIO_STATUS_DRIVER_OK);
    set_desc(&d, 0, 0, DATA_GPA, 64, VIRTQ_DESC_F_WRITE, 0);
    submit(&d, 0, 0);
    CHECK_INT(wait_used(&d, 0), 64);
    static const uint8_t zero[64];
    CHECK(memcmp(d.mem.base + DATA_GPA, zero, 64) != 0);
    driver_close(&d);
}

TEST(virtio_malformed_chain_marks_the_device_needing_reset)
{
    struct driver d;
    driver_open(&d);
    CHECK_INT(vmm_devices_add_rng(d.devs, NULL), 0);
    CHECK_INT(vmm_devices_start(d.devs, false, NULL), 0);
    CHECK(driver_setup(&d, 1, VIRTIO_F_VERSION_1) & VIRTIO_STATUS_DRIVER_OK);
    set_desc(&d, 0, 0, DATA_GPA, 64, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0); /* a loop */
    submit(&d, 0, 0);
    for (int i = 0;
         i < 50 && !(reg_read(&d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET); i++)
        usleep(20000);
    CHECK(reg_read(&d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    CHECK(reg_read(&d, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_INTERRUPT_CONFIG);
    /* After a reset and setup the device works again. */
    CHECK(driver_setup(&d, 1, VIRTIO_F_VERSION_1) & VIRTIO_STATUS_DRIVER_OK);
    memset(d.avail_idx, 0, sizeof(d.avail_idx));
    memset(d.used_seen, 0, sizeof(d.used_seen));
    memset(d.mem.base + queue_gpa(0), 0, 0x1000);
    set_desc(&d, 0, 0, DATA_GPA, 16, VIRTQ_DESC_F_WRITE, 0);
    submit(&d, 0, 0);
    CHECK_INT(wait_used(&d, 0), 16);
    driver_close(&d);
}

/* A blk request: header, data (to or from the device), status. */
static long blk_request(struct driver *d, uint32_t type, uint64_t sector, uint32_t len,
                        bool device_writes, uint8_t *status)
{
    uint8_t hdr[16] = {0};
    memcpy(hdr, &type, 4);
    memcpy(hdr + 8, &sector, 8);
    memcpy(d->mem.base + DATA_GPA, hdr, 16);
    d->mem.base[DATA_GPA + 0x3000] = 0xee;
    set_desc(d, 0, 0, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 1);
    set_desc(d, 0, 1, DATA_GPA + 0x1000, len,
             VIRTQ_DESC_F_NEXT | (device_writes ? VIRTQ_DESC_F_WRITE : 0), 2);
    set_desc(d, 0, 2, DATA_GPA + 0x3000, 1, VIRTQ_DESC_F_WRITE, 0);
    submit(d, 0, 0);
    long n = wait_used(d, 0);
    *status = d->mem.base[DATA_GPA + 0x3000];
    return n;
}

/* A test disk's path, removed with the variable even when a check fails. */
static void unlink_disk(char **path)
{
    if (*path)
        unlink(*path);
    free(*path);
}
#define cleanup_disk __attribute__((cleanup(unlink_disk)))

static char *disk_file(void)
{
    char *path = xstrdup("/tmp/test-virtio-blk.XXXXXX");
    int fd = mkstemp(path);
    uint8_t sector[512];
    for (int s = 0; s < 64; s++) {
        memset(sector, s, sizeof(sector));
        if (write(fd, sector, sizeof(sector)) != sizeof(sector))
            abort();
    }
    close(fd);
    return path;
}

TEST(virtio_blk_reads_writes_flushes_and_names_itself)
{
    struct driver d;
    driver_open(&d);
    cleanup_disk char *path = disk_file();
    CHECK_INT(vmm_devices_add_blk(d.devs, path, false, "disk-one", NULL), 0);
    CHECK_INT(vmm_devices_start(d.devs, false, NULL), 0);
    CHECK(driver_setup(&d, 1, VIRTIO_F_VERSION_1 | VIRTIO_F_RING_INDIRECT_DESC | (1ull << 9)) &
          VIRTIO_STATUS_DRIVER_OK);
    uint64_t capacity;
    uint8_t cfg[8];
    vmm_devices_mmio(d.devs, VMM_MMIO_BASE + VIRTIO_MMIO_CONFIG, cfg, 8, false);
    memcpy(&capacity, cfg, 8);
    CHECK_INT(capacity, 64);
    uint8_t status = 0xff;
    /* read sectors 3-4 */
    CHECK_INT(blk_request(&d, 0, 3, 1024, true, &status), 1025);
    CHECK_INT(status, 0);
    CHECK_INT(d.mem.base[DATA_GPA + 0x1000], 3);
    CHECK_INT(d.mem.base[DATA_GPA + 0x1000 + 1023], 4);
    /* write sector 10 */
    memset(d.mem.base + DATA_GPA + 0x1000, 0xab, 512);
    CHECK_INT(blk_request(&d, 1, 10, 512, false, &status), 1);
    CHECK_INT(status, 0);
    CHECK_INT(blk_request(&d, 4, 0, 0, false, &status), 1); /* flush */
    CHECK_INT(status, 0);
    int fd = open(path, O_RDONLY);
    uint8_t b = 0;
    CHECK(pread(fd, &b, 1, 10 * 512 + 100) == 1);
    close(fd);
    CHECK_INT(b, 0xab);
    /* get-id */
    CHECK_INT(blk_request(&d, 8, 0, 20, true, &status), 21);
    CHECK_INT(status, 0);
    CHECK(memcmp(d.mem.base + DATA_GPA + 0x1000, "disk-one", 9) == 0);
    /* past the end, a partial sector, an unknown type */
    CHECK_INT(blk_request(&d, 0, 63, 1024, true, &status), 1);
    CHECK_INT(status, 1);
    CHECK_INT(blk_request(&d, 0, UINT64_MAX, 512, true, &status), 1);
    CHECK_INT(status, 1);
    CHECK_INT(blk_request(&d, 0, 0, 100, true, &status), 1);
    CHECK_INT(status, 1);
    CHECK_INT(blk_request(&d, 99, 0, 512, true, &status), 1);
    CHECK_INT(status, 2);
    driver_close(&d);
}

TEST(virtio_blk_read_only_refuses_writes)
{
    struct driver d;
    driver_open(&d);
    cleanup_disk char *path = disk_file();
    CHECK_INT(vmm_devices_add_blk(d.devs, path, true, NULL, NULL), 0);
    CHECK_INT(vmm_devices_start(d.devs, false, NULL), 0);
    CHECK(driver_setup(&d, 1, VIRTIO_F_VERSION_1) & VIRTIO_STATUS_DRIVER_OK);
    reg_write(&d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    CHECK(reg_read(&d, VIRTIO_MMIO_DEVICE_FEATURES) & (1u << 5)); /* VIRTIO_BLK_F_RO */
    uint8_t status = 0xff;
    CHECK_INT(blk_request(&d, 1, 1, 512, false, &status), 1);
    CHECK_INT(status, 1);
    int fd = open(path, O_RDONLY);
    uint8_t b = 0;
    CHECK(pread(fd, &b, 1, 512) == 1);
    close(fd);
    CHECK_INT(b, 1);
    driver_close(&d);
}

TEST(virtio_blk_bad_disks_are_named)
{
    struct driver d;
    driver_open(&d);
    cleanup_kerr struct kerr *err = NULL;
    CHECK_INT(vmm_devices_add_blk(d.devs, "/nonexistent/disk.img", false, NULL, &err), -1);
    CHECK_CONTAINS(err->msg, "disk `/nonexistent/disk.img`");
    kerr_clear(&err);
    CHECK_INT(vmm_devices_add_blk(d.devs, "/tmp", true, NULL, &err), -1);
    CHECK_CONTAINS(err->msg, "neither a regular file");
    kerr_clear(&err);
    cleanup_disk char *path = disk_file();
    CHECK_INT(vmm_devices_add_blk(d.devs, path, false, "an-id-longer-than-twenty", &err), -1);
    CHECK_CONTAINS(err->msg, "longer than 20 bytes");
    CHECK_INT(vmm_devices_count(d.devs), 0);
    driver_close(&d);
}

static uint64_t read_capacity(struct driver *d)
{
    uint8_t cfg[8];
    uint64_t capacity;
    vmm_devices_mmio(d->devs, d->base + VIRTIO_MMIO_CONFIG, cfg, 8, false);
    memcpy(&capacity, cfg, 8);
    return capacity;
}

/* The irqfd fired (drained) and the interrupt status has these bits. */
static bool interrupted_with(struct driver *d, uint32_t bits)
{
    struct pollfd p = {.fd = vmm_devices_irqfd(d->devs, d->index), .events = POLLIN};
    uint64_t v;
    return poll(&p, 1, 1000) == 1 && read(p.fd, &v, 8) == 8 &&
           (reg_read(d, VIRTIO_MMIO_INTERRUPT_STATUS) & bits) == bits;
}

/* A disk of `sectors` sectors, each filled with `fill`. */
static char *disk_file_of(unsigned sectors, uint8_t fill)
{
    char *path = xstrdup("/tmp/test-virtio-blk.XXXXXX");
    int fd = mkstemp(path);
    uint8_t sector[512];
    memset(sector, fill, sizeof(sector));
    for (unsigned s = 0; s < sectors; s++)
        if (write(fd, sector, sizeof(sector)) != sizeof(sector))
            abort();
    close(fd);
    return path;
}

static bool guest_seen(struct driver *d, unsigned disk)
{
    struct virtio_blk_state st;
    virtio_blk_state(vmm_devices_get(d->devs, disk), &st);
    free(st.path);
    return st.guest_seen;
}

TEST(virtio_blk_empty_drive_takes_a_disk_and_gives_it_back)
{
    struct driver d;
    driver_open(&d);
    cleanup_disk char *placeholder = disk_file_of(0, 0);
    cleanup_disk char *disk = disk_file_of(16, 0x5a);
    cleanup_kerr struct kerr *err = NULL;
    CHECK_INT(vmm_devices_add_blk(d.devs, placeholder, false, "drive_0", &err), 0);
    CHECK_INT(vmm_devices_start(d.devs, false, NULL), 0);
    CHECK(driver_setup(&d, 1, VIRTIO_F_VERSION_1) & VIRTIO_STATUS_DRIVER_OK);
    CHECK_INT(read_capacity(&d), 0);
    CHECK(guest_seen(&d, 0));
    uint8_t status = 0xff;
    CHECK_INT(blk_request(&d, 0, 0, 512, true, &status), 1); /* no medium: nothing to read */
    CHECK_INT(status, 1);
    uint32_t generation = reg_read(&d, VIRTIO_MMIO_CONFIG_GENERATION);

    /* The disk goes in: new capacity, new generation, a config interrupt,
     * reads come from it. */
    CHECK_INT(vmm_devices_replace_blk(d.devs, "drive_0", disk, false, &err), 0);
    CHECK(interrupted_with(&d, VIRTIO_INTERRUPT_CONFIG));
    reg_write(&d, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_INTERRUPT_CONFIG);
    CHECK(reg_read(&d, VIRTIO_MMIO_CONFIG_GENERATION) != generation);
    CHECK(!guest_seen(&d, 0));
    CHECK_INT(read_capacity(&d), 16);
    CHECK(guest_seen(&d, 0));
    CHECK_INT(blk_request(&d, 0, 15, 512, true, &status), 513);
    CHECK_INT(status, 0);
    CHECK_INT(d.mem.base[DATA_GPA + 0x1000 + 511], 0x5a);
    memset(d.mem.base + DATA_GPA + 0x1000, 0xc3, 512);
    CHECK_INT(blk_request(&d, 1, 2, 512, false, &status), 1);
    CHECK_INT(status, 0);
    CHECK_INT(blk_request(&d, 0, 16, 512, true, &status), 1); /* past the new end */
    CHECK_INT(status, 1);
    struct virtio_blk_state st;
    virtio_blk_state(vmm_devices_get(d.devs, 0), &st);
    CHECK_STR(st.id, "drive_0");
    CHECK_STR(st.path, disk);
    CHECK_INT(st.sectors, 16);
    free(st.path);

    /* Back to the placeholder: the disk is no longer read or written. */
    CHECK_INT(vmm_devices_replace_blk(d.devs, "drive_0", placeholder, false, &err), 0);
    CHECK(interrupted_with(&d, VIRTIO_INTERRUPT_CONFIG));
    CHECK_INT(blk_request(&d, 0, 0, 512, true, &status), 1);
    CHECK_INT(status, 1);
    memset(d.mem.base + DATA_GPA + 0x1000, 0x77, 512);
    CHECK_INT(blk_request(&d, 1, 3, 512, false, &status), 1);
    CHECK_INT(status, 1);
    int fd = open(disk, O_RDONLY);
    uint8_t b[2] = {0};
    CHECK(pread(fd, &b[0], 1, 2 * 512) == 1 && pread(fd, &b[1], 1, 3 * 512) == 1);
    close(fd);
    CHECK_INT(b[0], 0xc3); /* written while it was in */
    CHECK_INT(b[1], 0x5a); /* not written after */
    CHECK_INT(read_capacity(&d), 0);
    driver_close(&d);
}

TEST(virtio_blk_replacement_read_only_and_errors)
{
    struct driver d;
    driver_open(&d);
    cleanup_disk char *placeholder = disk_file_of(0, 0);
    cleanup_disk char *disk = disk_file_of(8, 0x11);
    cleanup_disk char *odd = disk_file_of(0, 0);
    CHECK_INT(truncate(odd, 100), 0);
    cleanup_kerr struct kerr *err = NULL;
    CHECK_INT(vmm_devices_add_blk(d.devs, placeholder, false, "drive_0", NULL), 0);
    CHECK_INT(vmm_devices_add_blk(d.devs, placeholder, true, "ro_0", NULL), 0);
    CHECK_INT(vmm_devices_start(d.devs, false, NULL), 0);
    CHECK(driver_setup(&d, 1, VIRTIO_F_VERSION_1) & VIRTIO_STATUS_DRIVER_OK);
    /* Read-only: writes answer IOERR and the file is unchanged. */
    CHECK_INT(vmm_devices_replace_blk(d.devs, "drive_0", disk, true, &err), 0);
    uint8_t status = 0xff;
    CHECK_INT(blk_request(&d, 0, 7, 512, true, &status), 513);
    CHECK_INT(status, 0);
    memset(d.mem.base + DATA_GPA + 0x1000, 0x99, 512);
    CHECK_INT(blk_request(&d, 1, 1, 512, false, &status), 1);
    CHECK_INT(status, 1);
    /* Errors leave the disk as it was. */
    CHECK_INT(vmm_devices_replace_blk(d.devs, "drive_0", "/nonexistent/disk", false, &err), -1);
    CHECK_CONTAINS(err->msg, "disk `/nonexistent/disk`");
    kerr_clear(&err);
    CHECK_INT(vmm_devices_replace_blk(d.devs, "drive_0", odd, false, &err), -1);
    CHECK_CONTAINS(err->msg, "smaller than one 512-byte sector");
    kerr_clear(&err);
    CHECK_INT(vmm_devices_replace_blk(d.devs, "drive_9", disk, false, &err), -1);
    CHECK_CONTAINS(err->msg, "no disk with id `drive_9`");
    kerr_clear(&err);
    /* A drive the guest was told is read-only cannot take a writable disk. */
    CHECK_INT(vmm_devices_replace_blk(d.devs, "ro_0", disk, false, &err), -1);
    CHECK_CONTAINS(err->msg, "disk `ro_0` was attached read-only");
    CHECK_INT(read_capacity(&d), 8);
    struct virtio_blk_state states[4];
    CHECK_INT(vmm_devices_blk_states(d.devs, states, 4), 2);
    CHECK_STR(states[0].path, disk);
    CHECK(states[0].readonly);
    CHECK_STR(states[1].path, placeholder);
    CHECK_INT(states[1].sectors, 0);
    free(states[0].path);
    free(states[1].path);
    driver_close(&d);
}

TEST(vmm_devices_announce_on_the_command_line_and_in_acpi)
{
    struct driver d;
    driver_open(&d);
    CHECK_INT(vmm_devices_add_rng(d.devs, NULL), 0);
    CHECK_INT(vmm_devices_add_rng(d.devs, NULL), 0);
    cleanup_free char *line = vmm_devices_cmdline(d.devs);
    CHECK_STR(line, " virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6");
    struct vmm_acpi_mmio acpi[4];
    CHECK_INT(vmm_devices_acpi(d.devs, acpi, 4), 2);
    CHECK_INT(acpi[1].base, 0xd0001000u);
    CHECK_INT(acpi[1].gsi, 6);
    CHECK_INT(acpi[1].size, 4096);
    driver_close(&d);
}

static int blk_under_seccomp(void)
{
    struct driver d;
    driver_open(&d);
    cleanup_disk char *path = disk_file();
    int ok = vmm_devices_add_blk(d.devs, path, false, "sc", NULL) == 0 &&
             vmm_devices_start(d.devs, true, NULL) == 0 &&
             (driver_setup(&d, 1, VIRTIO_F_VERSION_1) & VIRTIO_STATUS_DRIVER_OK);
    uint8_t status = 0xff;
    ok = ok && blk_request(&d, 0, 3, 512, true, &status) == 513 && status == 0;
    ok = ok && blk_request(&d, 1, 4, 512, false, &status) == 1 && status == 0;
    ok = ok && blk_request(&d, 4, 0, 0, false, &status) == 1 && status == 0;
    driver_close(&d);
    return ok ? 0 : 1;
}

TEST(virtio_blk_works_under_the_device_threads_seccomp_filter)
{
    int status = in_child(blk_under_seccomp);
    if (WIFSIGNALED(status))
        printf("#   child killed by signal %d\n", WTERMSIG(status));
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* What a thread's filter must refuse: each call kills the process. */
static void try_exec(void)
{
    execl("/bin/true", "true", (char *)NULL);
}

static void try_inet_socket(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0); /* the device filter allows unix sockets */
    if (fd >= 0)
        socket(AF_INET, SOCK_STREAM, 0);
}

static void try_unix_socket(void)
{
    socket(AF_UNIX, SOCK_STREAM, 0);
}

static void try_open(void)
{
    open("/dev/kvm", O_RDWR);
}

/* The API thread may open an existing file (vm.update-disk), never create
 * or truncate one. */
static void try_open_existing_then_create(void)
{
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd >= 0)
        open("/tmp/kata-vmm-seccomp-must-not-exist", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
}

static void try_open_truncate(void)
{
    open("/dev/null", O_RDWR | O_TRUNC | O_CLOEXEC);
}

static void try_kvm_ioctl(void)
{
    ioctl(0, KVM_CREATE_VM, 0);
}

static const struct {
    enum vmm_thread_kind kind;
    void (*forbidden)(void);
} kill_cases[] = {
    {VMM_THREAD_DEVICE, try_exec},
    {VMM_THREAD_DEVICE, try_inet_socket},
    {VMM_THREAD_VCPU, try_open},
    {VMM_THREAD_VCPU, try_kvm_ioctl},
    {VMM_THREAD_API, try_open_existing_then_create},
    {VMM_THREAD_API, try_open_truncate},
    {VMM_THREAD_API, try_unix_socket},
    {VMM_THREAD_API, try_kvm_ioctl},
    {VMM_THREAD_API, try_exec},
};
static size_t kill_case;

/* In the child: the filter, a call every filter allows, the forbidden one. */
static int filter_then_forbidden_call(void)
{
    if (vmm_seccomp_apply(kill_cases[kill_case].kind, NULL) < 0)
        return 2;
    if (write(1, "", 0) < 0)
        return 4;
    kill_cases[kill_case].forbidden();
    return 3;
}

TEST(vmm_seccomp_filters_kill_what_a_thread_does_not_need)
{
    for (kill_case = 0; kill_case < ARRAY_SIZE(kill_cases); kill_case++) {
        int status = in_child(filter_then_forbidden_call);
        if (!WIFSIGNALED(status))
            printf("#   case %zu: exit status %d\n", kill_case, WEXITSTATUS(status));
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS);
    }
}

TEST(virtio_fs_bad_shares_are_named)
{
    struct driver d;
    driver_open(&d);
    cleanup_kerr struct kerr *err = NULL;
    CHECK_INT(vmm_devices_add_fs(d.devs, "/tmp/none.sock", "kataShared", &err), -1);
    CHECK_CONTAINS(err->msg, "guest memory is not shareable");
    kerr_clear(&err);
    vmm_devices_set_memory_fd(d.devs, 1); /* any fd: the socket fails first */
    CHECK_INT(vmm_devices_add_fs(d.devs, "/nonexistent/virtiofsd.sock", "kataShared", &err), -1);
    CHECK_CONTAINS(err->msg, "vhost-user back-end `/nonexistent/virtiofsd.sock`");
    kerr_clear(&err);
    CHECK_INT(vmm_devices_add_fs(d.devs, "/tmp/none.sock",
                                 "a-tag-longer-than-thirty-six-bytes-long", &err),
              -1);
    CHECK_CONTAINS(err->msg, "1 to 36 bytes");
    CHECK_INT(vmm_devices_count(d.devs), 0);
    driver_close(&d);
}

TEST(virtio_net_takes_a_tap_and_names_bad_input)
{
    struct driver d;
    driver_open(&d);
    cleanup_kerr struct kerr *err = NULL;
    int sv[2];
    CHECK_INT(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
    CHECK_INT(vmm_devices_add_net(d.devs, sv[0], NULL, 0, &err), -1);
    CHECK_CONTAINS(err->msg, "TUNSETVNETHDRSZ");
    kerr_clear(&err);
    CHECK_INT(vmm_devices_add_net(d.devs, sv[0], "aa:bb:cc", 0, &err), -1);
    CHECK_CONTAINS(err->msg, "MAC `aa:bb:cc`");
    kerr_clear(&err);
    close(sv[0]);
    close(sv[1]);
    int tap = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "kvmt%%d");
    if (tap < 0 || ioctl(tap, TUNSETIFF, &ifr) < 0) {
        if (tap >= 0)
            close(tap);
        driver_close(&d);
        SKIP("no tap here (/dev/net/tun, CAP_NET_ADMIN)");
    }
    CHECK_INT(vmm_devices_add_net(d.devs, tap, "02:00:ca:fe:00:01", 1400, &err), 0);
    CHECK_INT(reg_read(&d, VIRTIO_MMIO_DEVICE_ID), 1);
    reg_write(&d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    CHECK_INT(reg_read(&d, VIRTIO_MMIO_DEVICE_FEATURES) & 0x28, 0x28); /* MAC, MTU */
    uint8_t cfg[12];
    vmm_devices_mmio(d.devs, VMM_MMIO_BASE + VIRTIO_MMIO_CONFIG, cfg, 8, false);
    vmm_devices_mmio(d.devs, VMM_MMIO_BASE + VIRTIO_MMIO_CONFIG + 8, cfg + 8, 4, false);
    CHECK(memcmp(cfg, "\x02\x00\xca\xfe\x00\x01", 6) == 0);
    uint16_t mtu;
    memcpy(&mtu, cfg + 10, 2);
    CHECK_INT(mtu, 1400);
    int hdr = 0;
    CHECK_INT(ioctl(tap, TUNGETVNETHDRSZ, &hdr), 0);
    CHECK_INT(hdr, 12);
    driver_close(&d);
    close(tap);
}

static bool reset_pending(struct virtio_mmio *m)
{
    pthread_mutex_lock(&m->lock);
    bool pending = m->reset_pending;
    pthread_mutex_unlock(&m->lock);
    return pending;
}

/* vsock's reset drops connections and loop watches the device thread owns:
 * a status-0 write on a vCPU thread only marks it, and the device thread
 * runs it. */
TEST(a_vsock_reset_runs_on_the_device_thread)
{
    struct driver d;
    driver_open(&d);
    char dir[] = "/tmp/test-vsock-reset.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    cleanup_free char *path = xasprintf("%s/v.sock", dir);
    CHECK_INT(vmm_devices_add_vsock(d.devs, 3, path, NULL), 0);
    struct virtio_mmio *m = vmm_devices_get(d.devs, 0);
    reg_write(&d, VIRTIO_MMIO_STATUS, 0); /* this thread plays the vCPU */
    CHECK(reset_pending(m));              /* deferred: no device thread yet */
    CHECK_INT(vmm_devices_start(d.devs, false, NULL), 0);
    for (int i = 0; i < 2000 && reset_pending(m); i++)
        usleep(1000);
    CHECK(!reset_pending(m));
    driver_close(&d);
    unlink(path);
    rmdir(dir);
}
