/* The split virtqueue walker over a fake guest memory: a test driver lays out
 * rings and chains the way Linux does, then breaks them (bad indices, loops,
 * long chains, nested or chained indirect tables, buffers outside RAM,
 * readable after writable, an available index too far ahead). */
#include "test.h"
#include "util.h"
#include "virtqueue.h"

#include <errno.h>

#define MEM_SIZE  (1u << 20)
#define QSIZE     8
#define DESC_GPA  0x1000u
#define AVAIL_GPA 0x2000u
#define USED_GPA  0x3000u
#define DATA_GPA  0x10000u

struct fake {
    struct guest_memory mem;
    struct virtq q;
    uint16_t avail_idx;
};

static void fake_init(struct fake *f)
{
    f->mem.base = xcalloc(1, MEM_SIZE);
    f->mem.size = MEM_SIZE;
    f->q = (struct virtq){.size = QSIZE,
                          .desc_gpa = DESC_GPA,
                          .avail_gpa = AVAIL_GPA,
                          .used_gpa = USED_GPA,
                          .indirect = true};
    f->avail_idx = 0;
}

static void fake_free(struct fake *f)
{
    free(f->mem.base);
}

static void set_desc(struct fake *f, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
                     uint16_t flags, uint16_t next)
{
    struct virtq_desc d = {.addr = addr, .len = len, .flags = flags, .next = next};
    memcpy(f->mem.base + table + 16 * i, &d, sizeof(d));
}

static void make_available(struct fake *f, uint16_t head)
{
    memcpy(f->mem.base + AVAIL_GPA + 4 + 2 * (f->avail_idx % QSIZE), &head, 2);
    f->avail_idx++;
    memcpy(f->mem.base + AVAIL_GPA + 2, &f->avail_idx, 2);
}

static uint16_t used_idx(const struct fake *f)
{
    uint16_t v;
    memcpy(&v, f->mem.base + USED_GPA + 2, 2);
    return v;
}

/* Pop must fail with a message containing `what`. */
static int pop_fails(struct fake *f, const char *what)
{
    struct virtq_chain *c = xmalloc(sizeof(*c));
    cleanup_kerr struct kerr *err = NULL;
    int r = virtq_pop(&f->q, &f->mem, c, &err);
    free(c);
    if (r != -1 || err == NULL) {
        printf("#   pop returned %d, expected a failure with `%s`\n", r, what);
        return 0;
    }
    if (strstr(err->msg, what) == NULL) {
        printf("#   error `%s` does not contain `%s`\n", err->msg, what);
        return 0;
    }
    return 1;
}

TEST(virtq_check_accepts_a_linux_layout_and_rejects_bad_geometry)
{
    struct fake f;
    fake_init(&f);
    cleanup_kerr struct kerr *err = NULL;
    CHECK_INT(virtq_check(&f.q, &f.mem, &err), 0);
    f.q.size = 6;
    CHECK_INT(virtq_check(&f.q, &f.mem, &err), -1);
    CHECK_CONTAINS(err->msg, "power of two");
    kerr_clear(&err);
    f.q.size = QSIZE;
    f.q.desc_gpa = DESC_GPA + 8;
    CHECK_INT(virtq_check(&f.q, &f.mem, &err), -1);
    CHECK_CONTAINS(err->msg, "descriptor table at 0x1008 is not 16-byte aligned");
    kerr_clear(&err);
    f.q.desc_gpa = DESC_GPA;
    f.q.used_gpa = MEM_SIZE - 16;
    CHECK_INT(virtq_check(&f.q, &f.mem, &err), -1);
    CHECK_CONTAINS(err->msg, "used ring");
    CHECK_CONTAINS(err->msg, "outside guest memory");
    kerr_clear(&err);
    f.q.used_gpa = UINT64_MAX - 3;
    CHECK_INT(virtq_check(&f.q, &f.mem, &err), -1);
    fake_free(&f);
}

TEST(virtq_pop_returns_readable_then_writable_buffers_and_push_publishes_them)
{
    struct fake f;
    fake_init(&f);
    cleanup_kerr struct kerr *err = NULL;
    struct virtq_chain *c = xmalloc(sizeof(*c));
    CHECK_INT(virtq_pop(&f.q, &f.mem, c, &err), 0); /* nothing available */
    memcpy(f.mem.base + DATA_GPA, "header", 6);
    set_desc(&f, DESC_GPA, 3, DATA_GPA, 6, VIRTQ_DESC_F_NEXT, 5);
    set_desc(&f, DESC_GPA, 5, DATA_GPA + 0x100, 4, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
    set_desc(&f, DESC_GPA, 1, DATA_GPA + 0x200, 1, VIRTQ_DESC_F_WRITE, 0);
    make_available(&f, 3);
    CHECK_INT(virtq_pop(&f.q, &f.mem, c, &err), 1);
    CHECK_INT(c->head, 3);
    CHECK_INT(c->readable, 1);
    CHECK_INT(c->writable, 2);
    CHECK_INT(c->readable_len, 6);
    CHECK_INT(c->writable_len, 5);
    char hdr[8] = {0};
    CHECK_INT(virtq_chain_read(c, 2, hdr, sizeof(hdr)), 4);
    CHECK_STR(hdr, "ader");
    CHECK_INT(virtq_chain_write(c, 2, "xyz!", 4), 3); /* 2 + 3 = the 5 writable bytes */
    CHECK(memcmp(f.mem.base + DATA_GPA + 0x102, "xy", 2) == 0);
    CHECK(f.mem.base[DATA_GPA + 0x200] == 'z');
    struct iovec iov[4];
    uint64_t covered = 0;
    CHECK_INT(virtq_chain_iovec(c, true, 1, 100, iov, 4, &covered), 2);
    CHECK_INT(covered, 4);
    CHECK_INT(iov[0].iov_len, 3);
    CHECK_INT(iov[1].iov_len, 1);
    CHECK_INT(virtq_pop(&f.q, &f.mem, c, &err), 0);
    CHECK_INT(virtq_push(&f.q, &f.mem, 3, 5, &err), 0);
    CHECK_INT(used_idx(&f), 1);
    uint32_t elem[2];
    memcpy(elem, f.mem.base + USED_GPA + 4, 8);
    CHECK_INT(elem[0], 3);
    CHECK_INT(elem[1], 5);
    CHECK(virtq_wants_interrupt(&f.q, &f.mem));
    uint16_t no_irq = VIRTQ_AVAIL_F_NO_INTERRUPT;
    memcpy(f.mem.base + AVAIL_GPA, &no_irq, 2);
    CHECK(!virtq_wants_interrupt(&f.q, &f.mem));
    CHECK_INT(virtq_push(&f.q, &f.mem, QSIZE, 0, &err), -1);
    free(c);
    fake_free(&f);
}

TEST(virtq_indices_wrap_around_65536)
{
    struct fake f;
    fake_init(&f);
    cleanup_kerr struct kerr *err = NULL;
    struct virtq_chain *c = xmalloc(sizeof(*c));
    f.q.next_avail = f.q.next_used = 65534;
    f.avail_idx = 65534;
    set_desc(&f, DESC_GPA, 0, DATA_GPA, 16, 0, 0);
    for (int i = 0; i < 4; i++) {
        make_available(&f, 0);
        CHECK_INT(virtq_pop(&f.q, &f.mem, c, &err), 1);
        CHECK_INT(virtq_push(&f.q, &f.mem, c->head, 0, &err), 0);
    }
    CHECK_INT(used_idx(&f), 2);
    CHECK_INT(virtq_pop(&f.q, &f.mem, c, &err), 0);
    free(c);
    fake_free(&f);
}

TEST(virtq_unpop_gives_the_chain_back)
{
    struct fake f;
    fake_init(&f);
    cleanup_kerr struct kerr *err = NULL;
    struct virtq_chain *c = xmalloc(sizeof(*c));
    set_desc(&f, DESC_GPA, 2, DATA_GPA, 16, VIRTQ_DESC_F_WRITE, 0);
    make_available(&f, 2);
    CHECK_INT(virtq_pop(&f.q, &f.mem, c, &err), 1);
    virtq_unpop(&f.q);
    CHECK_INT(virtq_pop(&f.q, &f.mem, c, &err), 1);
    CHECK_INT(c->head, 2);
    free(c);
    fake_free(&f);
}

TEST(virtq_indirect_table_is_followed)
{
    struct fake f;
    fake_init(&f);
    cleanup_kerr struct kerr *err = NULL;
    struct virtq_chain *c = xmalloc(sizeof(*c));
    uint64_t table = 0x8000;
    set_desc(&f, table, 0, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 2);
    set_desc(&f, table, 2, DATA_GPA + 0x100, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
    set_desc(&f, table, 1, DATA_GPA + 0x400, 1, VIRTQ_DESC_F_WRITE, 0);
    set_desc(&f, DESC_GPA, 0, table, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
    make_available(&f, 0);
    CHECK_INT(virtq_pop(&f.q, &f.mem, c, &err), 1);
    CHECK_INT(c->readable, 1);
    CHECK_INT(c->writable, 2);
    CHECK_INT(c->writable_len, 513);
    free(c);
    fake_free(&f);
}

TEST(virtq_rejects_malformed_rings)
{
    struct fake f;
    fake_init(&f);
    /* available index more than a queue ahead */
    f.avail_idx = QSIZE + 1;
    memcpy(f.mem.base + AVAIL_GPA + 2, &f.avail_idx, 2);
    CHECK(pop_fails(&f, "entries ahead of the device (queue size 8)"));
    fake_free(&f);

    fake_init(&f);
    make_available(&f, QSIZE); /* head out of range */
    CHECK(pop_fails(&f, "names descriptor 8 (queue size 8)"));
    fake_free(&f);

    fake_init(&f);
    set_desc(&f, DESC_GPA, 0, DATA_GPA, 4, VIRTQ_DESC_F_NEXT, QSIZE); /* next out of range */
    make_available(&f, 0);
    CHECK(pop_fails(&f, "next index 8 outside its queue of 8"));
    fake_free(&f);

    fake_init(&f);
    set_desc(&f, DESC_GPA, 0, DATA_GPA, 4, VIRTQ_DESC_F_NEXT, 1); /* 0 -> 1 -> 0 ... */
    set_desc(&f, DESC_GPA, 1, DATA_GPA, 4, VIRTQ_DESC_F_NEXT, 0);
    make_available(&f, 0);
    CHECK(pop_fails(&f, "a loop?"));
    fake_free(&f);

    fake_init(&f);
    set_desc(&f, DESC_GPA, 0, DATA_GPA, 4, VIRTQ_DESC_F_NEXT, 0); /* points at itself */
    make_available(&f, 0);
    CHECK(pop_fails(&f, "longer than its queue of 8"));
    fake_free(&f);

    fake_init(&f);
    set_desc(&f, DESC_GPA, 0, MEM_SIZE - 2, 4, 0, 0); /* buffer crosses the end of RAM */
    make_available(&f, 0);
    CHECK(pop_fails(&f, "outside guest memory"));
    fake_free(&f);

    fake_init(&f);
    set_desc(&f, DESC_GPA, 0, UINT64_MAX - 1, 4, 0, 0); /* address wraps */
    make_available(&f, 0);
    CHECK(pop_fails(&f, "outside guest memory"));
    fake_free(&f);

    fake_init(&f);
    set_desc(&f, DESC_GPA, 0, DATA_GPA, 4, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
    set_desc(&f, DESC_GPA, 1, DATA_GPA, 4, 0, 0);
    make_available(&f, 0);
    CHECK(pop_fails(&f, "device-readable buffer after a writable one"));
    fake_free(&f);
}

TEST(virtq_rejects_malformed_indirect_tables)
{
    struct fake f;
    uint64_t table = 0x8000;

    fake_init(&f);
    f.q.indirect = false;
    set_desc(&f, DESC_GPA, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
    make_available(&f, 0);
    CHECK(pop_fails(&f, "without VIRTIO_F_RING_INDIRECT_DESC"));
    fake_free(&f);

    fake_init(&f);
    set_desc(&f, DESC_GPA, 0, table, 32, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
    make_available(&f, 0);
    CHECK(pop_fails(&f, "indirect descriptor with NEXT set"));
    fake_free(&f);

    fake_init(&f);
    set_desc(&f, DESC_GPA, 0, table, 24, VIRTQ_DESC_F_INDIRECT, 0);
    make_available(&f, 0);
    CHECK(pop_fails(&f, "indirect table of 24 bytes"));
    fake_free(&f);

    fake_init(&f);
    set_desc(&f, DESC_GPA, 0, table, 0, VIRTQ_DESC_F_INDIRECT, 0);
    make_available(&f, 0);
    CHECK(pop_fails(&f, "indirect table of 0 bytes"));
    fake_free(&f);

    fake_init(&f);
    set_desc(&f, DESC_GPA, 0, table, 16 * (VIRTQ_CHAIN_MAX + 1), VIRTQ_DESC_F_INDIRECT, 0);
    make_available(&f, 0);
    CHECK(pop_fails(&f, "at most 256 descriptors"));
    fake_free(&f);

    fake_init(&f);
    set_desc(&f, DESC_GPA, 0, MEM_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
    make_available(&f, 0);
    CHECK(pop_fails(&f, "indirect table at"));
    fake_free(&f);

    fake_init(&f);
    set_desc(&f, table, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0); /* a table in a table */
    set_desc(&f, DESC_GPA, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
    make_available(&f, 0);
    CHECK(pop_fails(&f, "indirect descriptor inside an indirect table"));
    fake_free(&f);

    fake_init(&f);
    set_desc(&f, table, 0, DATA_GPA, 4, VIRTQ_DESC_F_NEXT, 1); /* loop inside the table */
    set_desc(&f, table, 1, DATA_GPA, 4, VIRTQ_DESC_F_NEXT, 0);
    set_desc(&f, DESC_GPA, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
    make_available(&f, 0);
    CHECK(pop_fails(&f, "longer than its indirect table of 2"));
    fake_free(&f);

    fake_init(&f);
    set_desc(&f, table, 0, DATA_GPA, 4, VIRTQ_DESC_F_NEXT, 2); /* next beyond the table */
    set_desc(&f, DESC_GPA, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
    make_available(&f, 0);
    CHECK(pop_fails(&f, "next index 2 outside its indirect table of 2"));
    fake_free(&f);
}

TEST(virtq_chain_of_more_than_256_buffers_is_rejected)
{
    struct fake f;
    fake_init(&f);
    f.q.size = 512;
    f.q.avail_gpa = 0x4000; /* room for the 8 KiB descriptor table */
    f.q.used_gpa = 0x5000;
    for (unsigned i = 0; i < 300; i++)
        set_desc(&f, DESC_GPA, i, DATA_GPA, 1, VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
    set_desc(&f, DESC_GPA, 300, DATA_GPA, 1, 0, 0);
    uint16_t head = 0, idx = 1;
    memcpy(f.mem.base + 0x4000 + 4, &head, 2);
    memcpy(f.mem.base + 0x4000 + 2, &idx, 2);
    CHECK(pop_fails(&f, "more than 256 buffers"));
    fake_free(&f);
}
