/* The built-in VMM's pieces that need no KVM: the PVH ELF loader, the start
 * info and memory map, initrd placement, and the UART model. */
#include "acpi.h"
#include "boot.h"
#include "test.h"
#include "uart.h"
#include "util.h"

#include <elf.h>
#include <errno.h>

#define MEM_SIZE   (32u << 20)
#define LOAD_PADDR 0x1000000u
#define ENTRY      0x1000040u

/* A minimal ELF64 image: one PT_NOTE with the Xen PHYS32_ENTRY note, one
 * PT_LOAD of 64 bytes (memsz 128) at LOAD_PADDR. */
struct fake_elf {
    Elf64_Ehdr eh;
    Elf64_Phdr ph[2];
    Elf64_Nhdr nh;
    char name[4];
    uint32_t desc;
    uint8_t payload[64];
};

static void make_elf(struct fake_elf *f)
{
    memset(f, 0, sizeof(*f));
    memcpy(f->eh.e_ident, ELFMAG, SELFMAG);
    f->eh.e_ident[EI_CLASS] = ELFCLASS64;
    f->eh.e_ident[EI_DATA] = ELFDATA2LSB;
    f->eh.e_machine = EM_X86_64;
    f->eh.e_phoff = offsetof(struct fake_elf, ph);
    f->eh.e_phentsize = sizeof(Elf64_Phdr);
    f->eh.e_phnum = 2;
    f->ph[0].p_type = PT_NOTE;
    f->ph[0].p_offset = offsetof(struct fake_elf, nh);
    f->ph[0].p_filesz = sizeof(Elf64_Nhdr) + 4 + 4;
    f->ph[1].p_type = PT_LOAD;
    f->ph[1].p_offset = offsetof(struct fake_elf, payload);
    f->ph[1].p_paddr = LOAD_PADDR;
    f->ph[1].p_filesz = 64;
    f->ph[1].p_memsz = 128;
    f->nh.n_namesz = 4;
    f->nh.n_descsz = 4;
    f->nh.n_type = 18;
    memcpy(f->name, "Xen", 4);
    f->desc = ENTRY;
    memset(f->payload, 0xab, sizeof(f->payload));
}

static uint8_t *guest_memory(void)
{
    uint8_t *mem = xmalloc(MEM_SIZE);
    memset(mem, 0xee, MEM_SIZE);
    return mem;
}

TEST(pvh_elf_loads_segments_and_finds_the_entry)
{
    struct fake_elf f;
    make_elf(&f);
    cleanup_free uint8_t *mem = guest_memory();
    uint64_t entry = 0, end = 0;
    CHECK_INT(vmm_load_pvh_elf((uint8_t *)&f, sizeof(f), mem, MEM_SIZE, &entry, &end, NULL), 0);
    CHECK_INT(entry, ENTRY);
    CHECK_INT(end, LOAD_PADDR + 128);
    CHECK_INT(mem[LOAD_PADDR], 0xab);
    CHECK_INT(mem[LOAD_PADDR + 63], 0xab);
    CHECK_INT(mem[LOAD_PADDR + 64], 0); /* bss zeroed */
    CHECK_INT(mem[LOAD_PADDR + 127], 0);
    CHECK_INT(mem[LOAD_PADDR + 128], 0xee);
}

TEST(pvh_elf_rejects_what_does_not_fit_or_is_not_there)
{
    struct fake_elf f;
    cleanup_free uint8_t *mem = guest_memory();
    uint64_t entry, end;

    make_elf(&f);
    f.ph[1].p_paddr = MEM_SIZE - 64; /* memsz 128 runs past the end */
    cleanup_kerr struct kerr *e1 = NULL;
    CHECK_INT(vmm_load_pvh_elf((uint8_t *)&f, sizeof(f), mem, MEM_SIZE, &entry, &end, &e1), -1);
    CHECK_CONTAINS(e1->msg, "does not fit");

    make_elf(&f);
    f.ph[1].p_paddr = 0xffffffffffffff00ull; /* address overflow */
    cleanup_kerr struct kerr *e2 = NULL;
    CHECK_INT(vmm_load_pvh_elf((uint8_t *)&f, sizeof(f), mem, MEM_SIZE, &entry, &end, &e2), -1);

    make_elf(&f);
    f.ph[1].p_offset = sizeof(f) - 8; /* data past the end of the file */
    cleanup_kerr struct kerr *e3 = NULL;
    CHECK_INT(vmm_load_pvh_elf((uint8_t *)&f, sizeof(f), mem, MEM_SIZE, &entry, &end, &e3), -1);
    CHECK_CONTAINS(e3->msg, "out of the file");

    make_elf(&f);
    f.nh.n_type = 1; /* no PVH note */
    cleanup_kerr struct kerr *e4 = NULL;
    CHECK_INT(vmm_load_pvh_elf((uint8_t *)&f, sizeof(f), mem, MEM_SIZE, &entry, &end, &e4), -1);
    CHECK_CONTAINS(e4->msg, "no PVH entry note");

    make_elf(&f);
    f.nh.n_namesz = 0xfffffff0u; /* a note running past its segment */
    cleanup_kerr struct kerr *e5 = NULL;
    CHECK_INT(vmm_load_pvh_elf((uint8_t *)&f, sizeof(f), mem, MEM_SIZE, &entry, &end, &e5), -1);

    make_elf(&f);
    f.desc = 0x100; /* entry outside the image */
    cleanup_kerr struct kerr *e6 = NULL;
    CHECK_INT(vmm_load_pvh_elf((uint8_t *)&f, sizeof(f), mem, MEM_SIZE, &entry, &end, &e6), -1);
    CHECK_CONTAINS(e6->msg, "outside the loaded image");

    make_elf(&f);
    f.eh.e_phnum = 1000; /* program headers past the end of the file */
    cleanup_kerr struct kerr *e7 = NULL;
    CHECK_INT(vmm_load_pvh_elf((uint8_t *)&f, sizeof(f), mem, MEM_SIZE, &entry, &end, &e7), -1);

    const uint8_t bzimage[600] = {[0x202] = 'H', [0x203] = 'd', [0x204] = 'r', [0x205] = 'S'};
    cleanup_kerr struct kerr *e8 = NULL;
    CHECK_INT(vmm_load_pvh_elf(bzimage, sizeof(bzimage), mem, MEM_SIZE, &entry, &end, &e8), -1);
    CHECK_CONTAINS(e8->msg, "ELF64");
}

/* A bzImage header as Linux 6.1 builds it (protocol 2.15), with 2 setup
 * sectors and `pm_len` bytes of protected-mode code (0xc3 bytes). */
#define BZ_SETUP_SECTS 2
static uint8_t *make_bzimage(size_t pm_len, size_t *len)
{
    *len = (BZ_SETUP_SECTS + 1) * 512 + pm_len;
    uint8_t *b = xcalloc(1, *len);
    b[0x1f1] = BZ_SETUP_SECTS;
    b[0x1fe] = 0x55;
    b[0x1ff] = 0xaa;
    b[0x200] = 0xeb;
    b[0x201] = 0x6a; /* header ends at 0x26c */
    memcpy(b + 0x202, "HdrS", 4);
    b[0x206] = 0x0f; /* 2.15 */
    b[0x207] = 0x02;
    b[0x211] = 0x01;                               /* LOADED_HIGH */
    memcpy(b + 0x22c, &(uint32_t){0x7fffffff}, 4); /* initrd_addr_max */
    b[0x236] = 0x01;                               /* XLF_KERNEL_64 */
    memcpy(b + 0x238, &(uint32_t){2047}, 4);       /* cmdline_size */
    memcpy(b + 0x258, &(uint64_t){LOAD_PADDR}, 8); /* pref_address */
    memcpy(b + 0x260, &(uint32_t){0x400000}, 4);   /* init_size */
    memset(b + (BZ_SETUP_SECTS + 1) * 512, 0xc3, pm_len);
    return b;
}

TEST(bzimage_loads_at_1mib_with_its_header_in_the_zero_page)
{
    cleanup_free uint8_t *mem = guest_memory();
    size_t len;
    cleanup_free uint8_t *b = make_bzimage(8192, &len);
    CHECK(vmm_is_bzimage(b, len));
    uint64_t entry = 0, end = 0, limit = 0;
    CHECK_INT(vmm_load_bzimage(b, len, mem, MEM_SIZE, &entry, &end, &limit, NULL), 0);
    CHECK_INT(entry, 0x100200);
    CHECK_INT(end, LOAD_PADDR + 0x400000); /* pref_address + init_size */
    CHECK_INT(limit, 0x80000000ull);
    CHECK_INT(mem[0x100000], 0xc3);
    CHECK_INT(mem[0x100000 + 8191], 0xc3);
    CHECK_INT(mem[VMM_ZERO_PAGE_GPA + 0x1f1], BZ_SETUP_SECTS);
    CHECK(memcmp(mem + VMM_ZERO_PAGE_GPA + 0x202, "HdrS", 4) == 0);

    CHECK_INT(vmm_write_boot_params(mem, MEM_SIZE, "console=ttyS0", 0x1f00000, 5000, 0xe0000, NULL),
              0);
    const uint8_t *zp = mem + VMM_ZERO_PAGE_GPA;
    uint32_t u32;
    uint64_t u64;
    CHECK_INT(zp[0x210], 0xff); /* type_of_loader */
    memcpy(&u32, zp + 0x228, 4);
    CHECK_INT(u32, VMM_CMDLINE_GPA);
    CHECK_STR((const char *)mem + VMM_CMDLINE_GPA, "console=ttyS0");
    memcpy(&u32, zp + 0x218, 4);
    CHECK_INT(u32, 0x1f00000);
    memcpy(&u32, zp + 0x21c, 4);
    CHECK_INT(u32, 5000);
    memcpy(&u64, zp + 0x070, 8);
    CHECK_INT(u64, 0xe0000);
    CHECK_INT(zp[0x1e8], 3); /* e820: low RAM, BIOS area, high RAM */
    memcpy(&u64, zp + 0x2d0 + 2 * 20, 8);
    CHECK_INT(u64, 0x100000);
    memcpy(&u64, zp + 0x2d0 + 2 * 20 + 8, 8);
    CHECK_INT(u64, MEM_SIZE - 0x100000);
    memcpy(&u32, zp + 0x2d0 + 20 + 16, 4);
    CHECK_INT(u32, 2); /* reserved */
    /* Identity map: PML4[0] -> PDPT, PDPT[3] -> the fourth PD, whose last
     * entry maps 4 GiB - 2 MiB. */
    memcpy(&u64, mem + VMM_PML4_GPA, 8);
    CHECK_INT(u64, VMM_PML4_GPA + 0x1003);
    memcpy(&u64, mem + VMM_PML4_GPA + 0x1000 + 3 * 8, 8);
    CHECK_INT(u64, VMM_PML4_GPA + 0x5003);
    memcpy(&u64, mem + VMM_PML4_GPA + 0x5000 + 511 * 8, 8);
    CHECK_INT(u64, 0xffe00083ull);
    memcpy(&u64, mem + VMM_GDT_GPA + 0x10, 8);
    CHECK_INT(u64, 0x00af9b000000ffffull);
}

TEST(bzimage_header_is_checked)
{
    cleanup_free uint8_t *mem = guest_memory();
    uint64_t entry, end, limit;
    size_t len;
    cleanup_free uint8_t *old = make_bzimage(512, &len);
    old[0x206] = 0x0b; /* 2.11 */
    cleanup_kerr struct kerr *e1 = NULL;
    CHECK_INT(vmm_load_bzimage(old, len, mem, MEM_SIZE, &entry, &end, &limit, &e1), -1);
    CHECK_CONTAINS(e1->msg, "2.11 is older than 2.12");

    cleanup_free uint8_t *b32 = make_bzimage(512, &len);
    b32[0x236] = 0;
    cleanup_kerr struct kerr *e2 = NULL;
    CHECK_INT(vmm_load_bzimage(b32, len, mem, MEM_SIZE, &entry, &end, &limit, &e2), -1);
    CHECK_CONTAINS(e2->msg, "no 64-bit entry");

    cleanup_free uint8_t *big = make_bzimage(512, &len);
    memcpy(big + 0x260, &(uint32_t){MEM_SIZE}, 4); /* init_size beyond RAM */
    cleanup_kerr struct kerr *e3 = NULL;
    CHECK_INT(vmm_load_bzimage(big, len, mem, MEM_SIZE, &entry, &end, &limit, &e3), -1);
    CHECK_CONTAINS(e3->msg, "do not fit");

    cleanup_free uint8_t *nopm = make_bzimage(0, &len);
    cleanup_kerr struct kerr *e4 = NULL;
    CHECK_INT(vmm_load_bzimage(nopm, len, mem, MEM_SIZE, &entry, &end, &limit, &e4), -1);
    CHECK_CONTAINS(e4->msg, "no protected-mode code");

    cleanup_free uint8_t *longhdr = make_bzimage(512, &len);
    longhdr[0x201] = 0xff;
    cleanup_kerr struct kerr *e5 = NULL;
    CHECK_INT(vmm_load_bzimage(longhdr, len, mem, MEM_SIZE, &entry, &end, &limit, &e5), -1);
    CHECK_CONTAINS(e5->msg, "too long");

    CHECK(!vmm_is_bzimage(longhdr, 0x205));
    cleanup_kerr struct kerr *e6 = NULL;
    CHECK_INT(vmm_load_bzimage(longhdr, 0x205, mem, MEM_SIZE, &entry, &end, &limit, &e6), -1);
    CHECK_CONTAINS(e6->msg, "not a bzImage");

    /* A command line longer than the kernel's cmdline_size. */
    cleanup_free uint8_t *b = make_bzimage(512, &len);
    memcpy(b + 0x238, &(uint32_t){8}, 4);
    CHECK_INT(vmm_load_bzimage(b, len, mem, MEM_SIZE, &entry, &end, &limit, NULL), 0);
    cleanup_kerr struct kerr *e7 = NULL;
    CHECK_INT(vmm_write_boot_params(mem, MEM_SIZE, "console=ttyS0", 0, 0, 0, &e7), -1);
    CHECK_CONTAINS(e7->msg, "this kernel takes 8");
}

TEST(initrd_stays_below_the_kernels_limit)
{
    cleanup_free uint8_t *mem = guest_memory();
    uint8_t initrd[5000] = {0};
    uint64_t gpa = 0;
    CHECK_INT(
        vmm_place_initrd(initrd, sizeof(initrd), mem, MEM_SIZE, 0x200000, MEM_SIZE / 2, &gpa, NULL),
        0);
    CHECK(gpa + sizeof(initrd) <= MEM_SIZE / 2);
    CHECK(gpa + sizeof(initrd) > MEM_SIZE / 2 - 4096);
}

TEST(initrd_goes_to_the_top_of_ram_page_aligned)
{
    cleanup_free uint8_t *mem = guest_memory();
    uint8_t initrd[5000];
    memset(initrd, 0x5a, sizeof(initrd));
    uint64_t gpa = 0;
    CHECK_INT(vmm_place_initrd(initrd, sizeof(initrd), mem, MEM_SIZE, LOAD_PADDR + 128, MEM_SIZE,
                               &gpa, NULL),
              0);
    CHECK_INT(gpa % 4096, 0);
    CHECK(gpa + sizeof(initrd) <= MEM_SIZE);
    CHECK(gpa + sizeof(initrd) > MEM_SIZE - 4096);
    CHECK_INT(mem[gpa], 0x5a);
    cleanup_kerr struct kerr *e = NULL;
    CHECK_INT(vmm_place_initrd(initrd, sizeof(initrd), mem, MEM_SIZE, MEM_SIZE - 4096, MEM_SIZE,
                               &gpa, &e),
              -1);
    CHECK_CONTAINS(e->msg, "does not fit");
}

TEST(start_info_carries_cmdline_initrd_and_memory_map)
{
    cleanup_free uint8_t *mem = guest_memory();
    CHECK_INT(vmm_write_start_info(mem, MEM_SIZE, "console=ttyS0", 0x1f00000, 5000, 0xe0000, NULL),
              0);
    struct hvm_start_info si;
    memcpy(&si, mem + VMM_START_INFO_GPA, sizeof(si));
    CHECK_INT(si.magic, HVM_START_MAGIC);
    CHECK_INT(si.version, 1);
    CHECK_INT(si.nr_modules, 1);
    CHECK_STR((char *)mem + si.cmdline_paddr, "console=ttyS0");
    struct hvm_modlist_entry mod;
    memcpy(&mod, mem + si.modlist_paddr, sizeof(mod));
    CHECK_INT(mod.paddr, 0x1f00000);
    CHECK_INT(mod.size, 5000);
    CHECK_INT(si.rsdp_paddr, 0xe0000);
    CHECK_INT(si.memmap_entries, 3);
    struct hvm_memmap_table_entry map[3];
    memcpy(map, mem + si.memmap_paddr, sizeof(map));
    CHECK_INT(map[0].addr, 0);
    CHECK_INT(map[0].type, HVM_MEMMAP_TYPE_RAM);
    CHECK_INT(map[1].addr, 0xe0000);
    CHECK_INT(map[1].type, HVM_MEMMAP_TYPE_RESERVED);
    CHECK_INT(map[2].addr, 0x100000);
    CHECK_INT(map[2].addr + map[2].size, MEM_SIZE);
    /* The structures do not overlap each other or the command line. */
    CHECK(VMM_START_INFO_GPA + sizeof(si) <= VMM_MODLIST_GPA);
    CHECK(VMM_MODLIST_GPA + sizeof(mod) <= VMM_MEMMAP_GPA);

    CHECK_INT(vmm_write_start_info(mem, MEM_SIZE, "", 0, 0, 0, NULL), 0);
    memcpy(&si, mem + VMM_START_INFO_GPA, sizeof(si));
    CHECK_INT(si.nr_modules, 0);

    char long_line[3000];
    memset(long_line, 'x', sizeof(long_line) - 1);
    long_line[sizeof(long_line) - 1] = '\0';
    cleanup_kerr struct kerr *e = NULL;
    CHECK_INT(vmm_write_start_info(mem, MEM_SIZE, long_line, 0, 0, 0, &e), -1);
    CHECK_INT(e->status, E2BIG);
}

struct sink {
    char buf[64];
    size_t len;
};

static void to_sink(void *ctx, const uint8_t *bytes, size_t len)
{
    struct sink *s = ctx;
    for (size_t i = 0; i < len && s->len < sizeof(s->buf) - 1; i++)
        s->buf[s->len++] = (char)bytes[i];
    s->buf[s->len] = '\0';
}

TEST(uart_passes_the_8250_probe)
{
    struct sink s = {0};
    struct uart u;
    uart_init(&u, to_sink, &s);
    uart_write(&u, 7, 0xa5); /* scratch */
    CHECK_INT(uart_read(&u, 7), 0xa5);
    uart_write(&u, 1, 0); /* IER */
    CHECK_INT(uart_read(&u, 1) & 0x0f, 0);
    uart_write(&u, 1, 0x0f);
    CHECK_INT(uart_read(&u, 1) & 0x0f, 0x0f);
    uart_write(&u, 1, 0);
    uart_write(&u, 4, 0x10 | 0x0a); /* loopback, OUT2 and RTS -> DCD and CTS */
    CHECK_INT(uart_read(&u, 6) & 0xf0, 0x90);
    uart_write(&u, 4, 0x10 | 0x0f);
    CHECK_INT(uart_read(&u, 6) & 0xf0, 0xf0);
    uart_write(&u, 0, 'x'); /* looped back, not transmitted */
    CHECK_INT(s.len, 0);
    uart_write(&u, 4, 0x0b);
    CHECK_INT(uart_read(&u, 6), 0xb0);
    CHECK_INT(uart_read(&u, 5) & 0x60, 0x60); /* THR empty */
    /* Divisor latch: DLL/DLM behind DLAB, THR writes not transmitted. */
    uart_write(&u, 3, 0x83);
    uart_write(&u, 0, 1);
    uart_write(&u, 1, 0);
    CHECK_INT(uart_read(&u, 0), 1);
    uart_write(&u, 3, 0x03);
    CHECK_INT(s.len, 0);
    uart_write(&u, 0, 'o');
    uart_write(&u, 0, 'k');
    CHECK_STR(s.buf, "ok");
}

TEST(uart_thr_empty_interrupt_is_raised_and_acknowledged)
{
    struct uart u;
    uart_init(&u, NULL, NULL);
    CHECK_INT(uart_read(&u, 2), 0x01); /* no interrupt */
    CHECK(!uart_irq_level(&u));
    uart_write(&u, 1, 0x02); /* enable THRI: the THR is empty, so it fires */
    CHECK(uart_irq_level(&u));
    CHECK_INT(uart_read(&u, 2), 0x02);
    CHECK(!uart_irq_level(&u)); /* reading IIR acknowledged it */
    CHECK_INT(uart_read(&u, 2), 0x01);
    uart_write(&u, 0, 'a'); /* sent at once: empty again */
    CHECK(uart_irq_level(&u));
    uart_write(&u, 1, 0); /* disabled: the line drops */
    CHECK(!uart_irq_level(&u));
}

/* Follow RSDP -> XSDT -> tables as a guest does, checking every checksum. */
static const uint8_t *xsdt_table(const uint8_t *mem, const char *sig)
{
    const uint8_t *rsdp = mem + VMM_ACPI_RSDP_GPA;
    uint64_t xsdt_gpa, gpa;
    uint32_t len;
    memcpy(&xsdt_gpa, rsdp + 24, 8);
    const uint8_t *xsdt = mem + xsdt_gpa;
    memcpy(&len, xsdt + 4, 4);
    for (uint32_t off = 36; off + 8 <= len; off += 8) {
        memcpy(&gpa, xsdt + off, 8);
        if (memcmp(mem + gpa, sig, 4) == 0)
            return mem + gpa;
    }
    return NULL;
}

TEST(acpi_tables_link_up_and_sum_to_zero)
{
    cleanup_free uint8_t *mem = guest_memory();
    CHECK_INT(vmm_write_acpi(mem, MEM_SIZE, 2, NULL, 0, NULL), 0);
    const uint8_t *rsdp = mem + VMM_ACPI_RSDP_GPA;
    CHECK(memcmp(rsdp, "RSD PTR ", 8) == 0);
    CHECK_INT(vmm_acpi_sum(rsdp, 20), 0);
    CHECK_INT(vmm_acpi_sum(rsdp, 36), 0);
    uint64_t xsdt_gpa;
    uint32_t len;
    memcpy(&xsdt_gpa, rsdp + 24, 8);
    CHECK(memcmp(mem + xsdt_gpa, "XSDT", 4) == 0);
    memcpy(&len, mem + xsdt_gpa + 4, 4);
    CHECK_INT(vmm_acpi_sum(mem + xsdt_gpa, len), 0);

    const uint8_t *fadt = xsdt_table(mem, "FACP");
    CHECK(fadt != NULL);
    memcpy(&len, fadt + 4, 4);
    CHECK_INT(len, 276);
    CHECK_INT(vmm_acpi_sum(fadt, len), 0);
    uint32_t flags;
    memcpy(&flags, fadt + 112, 4);
    CHECK(flags & (1u << 20)); /* hardware-reduced */
    uint64_t sleep_port, dsdt_gpa;
    memcpy(&sleep_port, fadt + 248, 8);
    CHECK_INT(sleep_port, VMM_ACPI_SLEEP_PORT);
    memcpy(&dsdt_gpa, fadt + 140, 8);
    const uint8_t *dsdt = mem + dsdt_gpa;
    CHECK(memcmp(dsdt, "DSDT", 4) == 0);
    memcpy(&len, dsdt + 4, 4);
    CHECK_INT(vmm_acpi_sum(dsdt, len), 0);
    CHECK(memmem(dsdt + 36, len - 36, "_S5_", 4) != NULL);

    const uint8_t *madt = xsdt_table(mem, "APIC");
    CHECK(madt != NULL);
    memcpy(&len, madt + 4, 4);
    CHECK_INT(len, 36 + 8 + 2 * 8 + 12);
    CHECK_INT(vmm_acpi_sum(madt, len), 0);
    CHECK_INT(madt[44], 0);         /* first entry: a local APIC */
    CHECK_INT(madt[44 + 8 + 3], 1); /* second vCPU's APIC ID */
    CHECK_INT(madt[44 + 16], 1);    /* then the IOAPIC */

    /* Everything stays in the reserved BIOS area. */
    CHECK(xsdt_gpa >= VMM_ACPI_RSDP_GPA && dsdt_gpa + 64 <= VMM_ACPI_END_GPA);
    cleanup_kerr struct kerr *e = NULL;
    CHECK_INT(vmm_write_acpi(mem, MEM_SIZE, 0, NULL, 0, &e), -1);
}

TEST(acpi_dsdt_describes_virtio_mmio_devices)
{
    cleanup_free uint8_t *mem = guest_memory();
    struct vmm_acpi_mmio mmio[2] = {{0xd0000000u, 0x1000, 5}, {0xd0001000u, 0x1000, 6}};
    CHECK_INT(vmm_write_acpi(mem, MEM_SIZE, 1, mmio, 2, NULL), 0);
    const uint8_t *fadt = xsdt_table(mem, "FACP");
    CHECK(fadt != NULL);
    uint64_t dsdt_gpa;
    uint32_t len;
    memcpy(&dsdt_gpa, fadt + 140, 8);
    const uint8_t *dsdt = mem + dsdt_gpa;
    memcpy(&len, dsdt + 4, 4);
    CHECK_INT(vmm_acpi_sum(dsdt, len), 0);
    CHECK(dsdt_gpa + len <= VMM_ACPI_END_GPA);
    /* Device (VR01): its PkgLength covers the rest of the device, the
     * _CRS has the register block and the GSI. */
    const uint8_t *dev = memmem(dsdt, len, "VR01", 4);
    CHECK(dev != NULL);
    CHECK_INT(dev[-3], 0x5b);
    CHECK_INT(dev[-2], 0x82);
    CHECK(dev - 1 + dev[-1] == dsdt + len); /* the last device ends the table */
    CHECK(memmem(dev, 40, "LNRO0005", 8) != NULL);
    const uint8_t *mem32 = memmem(dev, 60, "\x86\x09\x00\x01", 4);
    CHECK(mem32 != NULL);
    uint32_t base, size, gsi;
    memcpy(&base, mem32 + 4, 4);
    memcpy(&size, mem32 + 8, 4);
    CHECK_INT(base, 0xd0001000u);
    CHECK_INT(size, 0x1000);
    CHECK_INT(mem32[12], 0x89); /* extended interrupt */
    memcpy(&gsi, mem32 + 17, 4);
    CHECK_INT(gsi, 6);
    cleanup_kerr struct kerr *e = NULL;
    struct vmm_acpi_mmio many[VMM_ACPI_MAX_MMIO + 1] = {0};
    CHECK_INT(vmm_write_acpi(mem, MEM_SIZE, 1, many, VMM_ACPI_MAX_MMIO + 1, &e), -1);
    CHECK_CONTAINS(e->msg, "virtio-mmio devices");
}
