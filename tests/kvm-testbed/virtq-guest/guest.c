/* virtq-guest: a hostile virtio driver, booted by kata-vmm in the KVM test
 * bed (tests/kvm-testbed/vmm-guest.sh) with --rng and one --disk.  It hands
 * the VMM's virtio-mmio devices malformed queues and chains: descriptor
 * loops, buffers and rings outside guest RAM or wrapping around the address
 * space, out-of-range head and next indices, an available index running
 * ahead, bad indirect tables, a readable buffer after a writable one, a
 * sector past the disk's end.  Each must be refused (DEVICE_NEEDS_RESET, or
 * an IOERR status for the sector) without harm to the VMM, and each device
 * must work again after a reset.  Results go to COM1 as "ok N - ..." lines;
 * then the guest powers off through the ACPI sleep register.
 * Freestanding: no libc, identity-mapped, interrupts off, everything polled. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RNG_BASE 0xd0000000ull /* kata-vmm's first device: --rng */
#define BLK_BASE 0xd0001000ull /* then the first --disk */

enum {
    MAGIC = 0x000,
    VERSION = 0x004,
    DEVICE_ID = 0x008,
    DEVICE_FEATURES = 0x010,
    DEVICE_FEATURES_SEL = 0x014,
    DRIVER_FEATURES = 0x020,
    DRIVER_FEATURES_SEL = 0x024,
    QUEUE_SEL = 0x030,
    QUEUE_NUM = 0x038,
    QUEUE_READY = 0x044,
    QUEUE_NOTIFY = 0x050,
    INTERRUPT_STATUS = 0x060,
    INTERRUPT_ACK = 0x064,
    STATUS = 0x070,
    QUEUE_DESC = 0x080,
    QUEUE_DRIVER = 0x090,
    QUEUE_DEVICE = 0x0a0,
};
#define S_ACK         1u
#define S_DRIVER      2u
#define S_DRIVER_OK   4u
#define S_FEATURES_OK 8u
#define S_NEEDS_RESET 0x40u
#define F_INDIRECT    (1u << 28)

#define D_NEXT     1u
#define D_WRITE    2u
#define D_INDIRECT 4u
#define QSZ        8u

struct desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};
struct avail {
    uint16_t flags, idx, ring[QSZ], used_event;
};
struct used {
    uint16_t flags, idx;
    struct {
        uint32_t id, len;
    } ring[QSZ];
    uint16_t avail_event;
};

static struct desc table[QSZ] __attribute__((aligned(16)));
static struct desc indirect[4] __attribute__((aligned(16)));
static struct avail avail __attribute__((aligned(2)));
static struct used used __attribute__((aligned(4)));
static uint8_t buf[4096] __attribute__((aligned(4096)));

extern uint64_t start_info; /* entry.S: %ebx at the PVH entry */

/* --- port and MMIO access, COM1 -------------------------------------------- */

static void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static uint32_t rd(uint64_t base, unsigned reg)
{
    return *(volatile uint32_t *)(uintptr_t)(base + reg);
}

static void wr(uint64_t base, unsigned reg, uint32_t v)
{
    *(volatile uint32_t *)(uintptr_t)(base + reg) = v;
}

static void wr64(uint64_t base, unsigned reg, uint64_t v)
{
    wr(base, reg, (uint32_t)v);
    wr(base, reg + 4, (uint32_t)(v >> 32));
}

static void putc_com1(char c)
{
    for (unsigned i = 0; i < 100000 && !(inb(0x3f8 + 5) & 0x20); i++)
        ;
    outb(0x3f8, (uint8_t)c);
}

static void puts_com1(const char *s)
{
    while (*s)
        putc_com1(*s++);
}

static void putu(uint64_t v)
{
    char d[21];
    int n = 0;
    do {
        d[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        putc_com1(d[--n]);
}

static void zero(void *p, size_t n)
{
    volatile uint8_t *b = p;
    while (n--)
        *b++ = 0;
}

/* --- the guest's RAM, from the PVH memory map --------------------------------- */

static uint64_t ram_end(void)
{
    const uint8_t *si = (const uint8_t *)(uintptr_t)start_info;
    uint64_t map = *(const uint64_t *)(si + 40);     /* memmap_paddr */
    uint32_t entries = *(const uint32_t *)(si + 48); /* memmap_entries */
    uint64_t end = 0;
    for (uint32_t i = 0; i < entries; i++) {
        const uint8_t *e = (const uint8_t *)(uintptr_t)(map + 24 * i);
        uint64_t addr = *(const uint64_t *)e, size = *(const uint64_t *)(e + 8);
        if (*(const uint32_t *)(e + 16) == 1 && addr + size > end)
            end = addr + size;
    }
    return end;
}

/* --- a driver -------------------------------------------------------------- */

/* Reset the device and bring queue 0 up with `num` entries at the given
 * rings; returns the device status afterwards. */
static uint32_t setup(uint64_t base, uint32_t features, uint32_t num, uint64_t desc_gpa,
                      uint64_t avail_gpa, uint64_t used_gpa)
{
    zero(table, sizeof(table));
    zero(indirect, sizeof(indirect));
    zero(&avail, sizeof(avail));
    zero(&used, sizeof(used));
    wr(base, STATUS, 0);
    wr(base, STATUS, S_ACK);
    wr(base, STATUS, S_ACK | S_DRIVER);
    wr(base, DRIVER_FEATURES_SEL, 0);
    wr(base, DRIVER_FEATURES, features);
    wr(base, DRIVER_FEATURES_SEL, 1);
    wr(base, DRIVER_FEATURES, 1); /* VIRTIO_F_VERSION_1 */
    wr(base, STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
    wr(base, QUEUE_SEL, 0);
    wr(base, QUEUE_NUM, num);
    wr64(base, QUEUE_DESC, desc_gpa);
    wr64(base, QUEUE_DRIVER, avail_gpa);
    wr64(base, QUEUE_DEVICE, used_gpa);
    wr(base, QUEUE_READY, 1);
    wr(base, STATUS, rd(base, STATUS) | S_DRIVER_OK);
    return rd(base, STATUS);
}

static uint32_t setup_default(uint64_t base, uint32_t features)
{
    return setup(base, features, QSZ, (uintptr_t)table, (uintptr_t)&avail, (uintptr_t)&used);
}

/* Publish head `head` (avail index += 1, or set to `idx` when not 0) and
 * notify queue 0. */
static void kick(uint64_t base, uint16_t head, uint16_t idx)
{
    avail.ring[avail.idx % QSZ] = head;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    avail.idx = idx ? idx : (uint16_t)(avail.idx + 1);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    wr(base, QUEUE_NOTIFY, 0);
}

/* Each status read is a VM exit: 200000 of them give the device thread
 * seconds, even nested under TCG. */
static bool becomes_broken(uint64_t base)
{
    for (unsigned i = 0; i < 200000; i++)
        if (rd(base, STATUS) & S_NEEDS_RESET)
            return true;
    return false;
}

static bool used_reaches(uint64_t base, uint16_t idx)
{
    for (unsigned i = 0; i < 200000; i++) {
        if (*(volatile uint16_t *)&used.idx == idx)
            return true;
        (void)rd(base, STATUS);
    }
    return false;
}

/* --- the checks -------------------------------------------------------------- */

static unsigned checks, failures;

static void report(bool ok, const char *what)
{
    checks++;
    if (!ok)
        failures++;
    puts_com1(ok ? "ok " : "not ok ");
    putu(checks);
    puts_com1(" - ");
    puts_com1(what);
    puts_com1("\n");
}

static bool rng_works(void)
{
    if (setup_default(RNG_BASE, 0) & S_NEEDS_RESET)
        return false;
    zero(buf, 64);
    table[0] = (struct desc){(uintptr_t)buf, 64, D_WRITE, 0};
    kick(RNG_BASE, 0, 0);
    if (!used_reaches(RNG_BASE, 1) || used.ring[0].id != 0 || used.ring[0].len != 64)
        return false;
    unsigned nonzero = 0;
    for (unsigned i = 0; i < 64; i++)
        nonzero += buf[i] != 0;
    return nonzero > 32;
}

struct blk_req {
    uint32_t type, reserved;
    uint64_t sector;
};

/* Read `sector` of the disk into buf; returns the status byte (0xff: none). */
static uint8_t blk_read(uint64_t sector)
{
    static struct blk_req req;
    static volatile uint8_t status;
    if (setup_default(BLK_BASE, 0) & S_NEEDS_RESET)
        return 0xfe;
    req = (struct blk_req){.type = 0, .sector = sector};
    status = 0xff;
    zero(buf, 512);
    table[0] = (struct desc){(uintptr_t)&req, sizeof(req), D_NEXT, 1};
    table[1] = (struct desc){(uintptr_t)buf, 512, D_NEXT | D_WRITE, 2};
    table[2] = (struct desc){(uintptr_t)&status, 1, D_WRITE, 0};
    kick(BLK_BASE, 0, 0);
    if (!used_reaches(BLK_BASE, 1))
        return 0xfd;
    return status;
}

void guest_main(void)
{
    uint64_t end = ram_end();
    puts_com1("virtq-guest: guest RAM ends at ");
    putu(end >> 20);
    puts_com1(" MiB\n");
    report(rd(RNG_BASE, MAGIC) == 0x74726976 && rd(RNG_BASE, DEVICE_ID) == 4 &&
               rd(BLK_BASE, DEVICE_ID) == 2,
           "virtio-rng and virtio-blk found at 0xd0000000 and 0xd0001000");
    report(rng_works(), "virtio-rng fills a 64-byte buffer (a well-formed request)");

    /* Queues the device must refuse at QueueReady. */
    report(setup(RNG_BASE, 0, QSZ, end + 0x10000, (uintptr_t)&avail, (uintptr_t)&used) &
               S_NEEDS_RESET,
           "descriptor table outside guest RAM: refused at QueueReady");
    report(setup(RNG_BASE, 0, QSZ, (uintptr_t)table, end - 4, (uintptr_t)&used) & S_NEEDS_RESET,
           "available ring straddling the end of RAM: refused");
    report(setup(RNG_BASE, 0, 3, (uintptr_t)table, (uintptr_t)&avail, (uintptr_t)&used) &
               S_NEEDS_RESET,
           "queue size 3 (not a power of two): refused");
    report(setup(RNG_BASE, 0, 1024, (uintptr_t)table, (uintptr_t)&avail, (uintptr_t)&used) &
               S_NEEDS_RESET,
           "queue size 1024 (above QueueNumMax): refused");
    report(setup(RNG_BASE, 0, QSZ, (uintptr_t)table + 8, (uintptr_t)&avail, (uintptr_t)&used) &
               S_NEEDS_RESET,
           "misaligned descriptor table: refused");

    /* Chains the device must refuse when notified. */
    setup_default(RNG_BASE, 0);
    table[0] = (struct desc){(uintptr_t)buf, 16, D_NEXT | D_WRITE, 1};
    table[1] = (struct desc){(uintptr_t)buf + 16, 16, D_NEXT | D_WRITE, 0};
    kick(RNG_BASE, 0, 0);
    report(becomes_broken(RNG_BASE), "descriptor loop 0 -> 1 -> 0: refused");

    setup_default(RNG_BASE, 0);
    table[0] = (struct desc){(uintptr_t)buf, 16, D_NEXT | D_WRITE, 0};
    kick(RNG_BASE, 0, 0);
    report(becomes_broken(RNG_BASE), "descriptor pointing to itself: refused");

    setup_default(RNG_BASE, 0);
    table[0] = (struct desc){end - 8, 16, D_WRITE, 0};
    kick(RNG_BASE, 0, 0);
    report(becomes_broken(RNG_BASE), "buffer crossing the end of guest RAM: refused");

    setup_default(RNG_BASE, 0);
    table[0] = (struct desc){0xfffffffffffffff0ull, 0x40, D_WRITE, 0};
    kick(RNG_BASE, 0, 0);
    report(becomes_broken(RNG_BASE), "buffer wrapping around the address space: refused");

    setup_default(RNG_BASE, 0);
    table[0] = (struct desc){0xd0000000ull, 64, D_WRITE, 0};
    kick(RNG_BASE, 0, 0);
    report(becomes_broken(RNG_BASE), "buffer on the device's own registers (not RAM): refused");

    setup_default(RNG_BASE, 0);
    kick(RNG_BASE, 200, 0);
    report(becomes_broken(RNG_BASE), "available ring naming descriptor 200 of 8: refused");

    setup_default(RNG_BASE, 0);
    table[0] = (struct desc){(uintptr_t)buf, 16, D_NEXT | D_WRITE, 9};
    kick(RNG_BASE, 0, 0);
    report(becomes_broken(RNG_BASE), "next index 9 of 8: refused");

    setup_default(RNG_BASE, 0);
    table[0] = (struct desc){(uintptr_t)buf, 16, D_WRITE, 0};
    kick(RNG_BASE, 0, QSZ + 5);
    report(becomes_broken(RNG_BASE), "available index 13 ahead of an 8-entry queue: refused");

    setup_default(RNG_BASE, F_INDIRECT);
    indirect[0] = (struct desc){(uintptr_t)buf, 16, D_WRITE, 0};
    table[0] = (struct desc){(uintptr_t)indirect, 24, D_INDIRECT, 0};
    kick(RNG_BASE, 0, 0);
    report(becomes_broken(RNG_BASE), "indirect table of 24 bytes (not a multiple of 16): refused");

    setup_default(RNG_BASE, F_INDIRECT);
    indirect[0] = (struct desc){(uintptr_t)indirect, 16, D_INDIRECT, 0};
    table[0] = (struct desc){(uintptr_t)indirect, 16, D_INDIRECT, 0};
    kick(RNG_BASE, 0, 0);
    report(becomes_broken(RNG_BASE), "indirect table inside an indirect table: refused");

    setup_default(RNG_BASE, 0); /* INDIRECT not negotiated */
    indirect[0] = (struct desc){(uintptr_t)buf, 16, D_WRITE, 0};
    table[0] = (struct desc){(uintptr_t)indirect, 16, D_INDIRECT, 0};
    kick(RNG_BASE, 0, 0);
    report(becomes_broken(RNG_BASE), "indirect descriptor without the feature: refused");

    setup_default(RNG_BASE, F_INDIRECT);
    indirect[0] = (struct desc){(uintptr_t)buf, 16, D_NEXT | D_WRITE, 1};
    indirect[1] = (struct desc){(uintptr_t)buf, 16, D_NEXT | D_WRITE, 0};
    table[0] = (struct desc){(uintptr_t)indirect, 32, D_INDIRECT, 0};
    kick(RNG_BASE, 0, 0);
    report(becomes_broken(RNG_BASE), "loop inside an indirect table: refused");

    report(rng_works(), "virtio-rng works again after a reset");

    /* virtio-blk: a readable buffer after a writable one; a sector past the
     * end of the disk (an I/O error, the device stays usable). */
    static struct blk_req req = {.type = 0, .sector = 0};
    static uint8_t status;
    setup_default(BLK_BASE, 0);
    table[0] = (struct desc){(uintptr_t)&status, 1, D_NEXT | D_WRITE, 1};
    table[1] = (struct desc){(uintptr_t)&req, sizeof(req), 0, 0};
    kick(BLK_BASE, 0, 0);
    report(becomes_broken(BLK_BASE),
           "virtio-blk: device-readable header after a writable buffer: refused");

    uint8_t st = blk_read(1ull << 40);
    report(st == 1 && !(rd(BLK_BASE, STATUS) & S_NEEDS_RESET),
           "virtio-blk: a sector past the end of the disk answers IOERR, the device stays up");
    st = blk_read(0);
    report(st == 0 && buf[0] == 'v' && buf[1] == 'q' && buf[2] == 'g',
           "virtio-blk: sector 0 reads back after all of the above");

    puts_com1("virtq-guest: ");
    putu(checks - failures);
    puts_com1(" passed, ");
    putu(failures);
    puts_com1(" failed\n");
    outb(0x600, 0x20 | (5 << 2)); /* ACPI S5: power off */
    for (;;)
        __asm__ volatile("hlt");
}
