/* Direct boot: the PVH ELF loader and start info, and the Linux boot
 * protocol's bzImage loader and zero page.  The kernel image is a file on the
 * host, but treated as untrusted input all the same: every header field is
 * bounds-checked before it is used. */
#include "boot.h"
#include "le_bytes.h"

#include <elf.h>
#include <stdbool.h>
#include <errno.h>
#include <string.h>

#define XEN_ELFNOTE_PHYS32_ENTRY 18

/* a + b <= limit, without overflow. */
static int fits(uint64_t a, uint64_t b, uint64_t limit)
{
    return a <= limit && b <= limit - a;
}

static int find_pvh_entry(const uint8_t *elf, size_t len, const Elf64_Phdr *ph, uint64_t *entry)
{
    uint64_t off = ph->p_offset, end;
    if (!fits(ph->p_offset, ph->p_filesz, len))
        return -1;
    end = ph->p_offset + ph->p_filesz;
    while (off + sizeof(Elf64_Nhdr) <= end) {
        Elf64_Nhdr nh;
        memcpy(&nh, elf + off, sizeof(nh));
        uint64_t name_off = off + sizeof(nh);
        uint64_t desc_off = name_off + ((nh.n_namesz + 3ull) & ~3ull);
        uint64_t next = desc_off + ((nh.n_descsz + 3ull) & ~3ull);
        if (next > end || next <= off)
            return -1;
        if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 &&
            memcmp(elf + name_off, "Xen", 4) == 0 && (nh.n_descsz == 4 || nh.n_descsz == 8)) {
            uint32_t e32;
            uint64_t e64;
            if (nh.n_descsz == 4) {
                memcpy(&e32, elf + desc_off, 4);
                *entry = e32;
            } else {
                memcpy(&e64, elf + desc_off, 8);
                *entry = e64;
            }
            return 0;
        }
        off = next;
    }
    return -1;
}

int vmm_load_pvh_elf(const uint8_t *elf, size_t len, uint8_t *mem, size_t mem_size, uint64_t *entry,
                     uint64_t *kernel_end, struct kerr **err)
{
    Elf64_Ehdr eh;
    if (len < sizeof(eh))
        return kerr_make(err, ENOEXEC, "kernel: %zu bytes is too short for an ELF header", len);
    memcpy(&eh, elf, sizeof(eh));
    if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_machine != EM_X86_64)
        return kerr_make(err, ENOEXEC, "kernel: neither an x86-64 ELF64 vmlinux nor a bzImage");
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
        !fits(eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr), len))
        return kerr_make(err, ENOEXEC, "kernel: program headers out of the file");

    bool found = false;
    uint64_t end = 0;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, elf + eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
        if (ph.p_type == PT_NOTE && !found && find_pvh_entry(elf, len, &ph, entry) == 0)
            found = true;
        if (ph.p_type != PT_LOAD)
            continue;
        if (ph.p_filesz > ph.p_memsz || !fits(ph.p_offset, ph.p_filesz, len))
            return kerr_make(err, ENOEXEC, "kernel: segment %u out of the file", i);
        if (ph.p_paddr < VMM_HIGH_RAM_START || !fits(ph.p_paddr, ph.p_memsz, mem_size))
            return kerr_make(err, EFBIG,
                             "kernel: segment %u at 0x%llx+0x%llx does not fit in %zu MiB of "
                             "guest memory above 1 MiB",
                             i, (unsigned long long)ph.p_paddr, (unsigned long long)ph.p_memsz,
                             mem_size >> 20);
        memcpy(mem + ph.p_paddr, elf + ph.p_offset, ph.p_filesz);
        memset(mem + ph.p_paddr + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
        if (ph.p_paddr + ph.p_memsz > end)
            end = ph.p_paddr + ph.p_memsz;
    }
    if (!found)
        return kerr_make(err, ENOEXEC,
                         "kernel: no PVH entry note (Xen, PHYS32_ENTRY): build it with CONFIG_PVH");
    if (end == 0)
        return kerr_make(err, ENOEXEC, "kernel: no loadable segment");
    if (*entry < VMM_HIGH_RAM_START || *entry >= end)
        return kerr_make(err, ENOEXEC, "kernel: PVH entry 0x%llx outside the loaded image",
                         (unsigned long long)*entry);
    *kernel_end = end;
    return 0;
}

int vmm_place_initrd(const uint8_t *initrd, size_t len, uint8_t *mem, size_t mem_size,
                     uint64_t kernel_end, uint64_t limit, uint64_t *gpa, struct kerr **err)
{
    if (limit > mem_size)
        limit = mem_size;
    if (len > limit || (limit - len) / 4096 * 4096 < kernel_end)
        return kerr_make(err, EFBIG,
                         "initrd of %zu bytes does not fit between the kernel's end (0x%llx) and "
                         "0x%llx (guest memory: %zu MiB)",
                         len, (unsigned long long)kernel_end, (unsigned long long)limit,
                         mem_size >> 20);
    *gpa = (limit - len) / 4096 * 4096;
    memcpy(mem + *gpa, initrd, len);
    return 0;
}

/* The guest's memory map, for PVH and e820 alike (their type numbers agree):
 * low RAM, the BIOS area reserved for the ACPI tables, high RAM. */
#define MEMORY_RANGES 3
static void memory_map(size_t mem_size, struct hvm_memmap_table_entry map[MEMORY_RANGES])
{
    map[0] = (struct hvm_memmap_table_entry){
        .addr = 0, .size = VMM_LOW_RAM_END, .type = HVM_MEMMAP_TYPE_RAM};
    map[1] = (struct hvm_memmap_table_entry){.addr = VMM_BIOS_AREA_START,
                                             .size = VMM_HIGH_RAM_START - VMM_BIOS_AREA_START,
                                             .type = HVM_MEMMAP_TYPE_RESERVED};
    map[2] = (struct hvm_memmap_table_entry){.addr = VMM_HIGH_RAM_START,
                                             .size = mem_size - VMM_HIGH_RAM_START,
                                             .type = HVM_MEMMAP_TYPE_RAM};
}

static int write_cmdline(uint8_t *mem, size_t mem_size, const char *cmdline, struct kerr **err)
{
    size_t cmdline_len = strlen(cmdline);
    if (cmdline_len + 1 > VMM_CMDLINE_MAX)
        return kerr_make(err, E2BIG, "kernel command line of %zu bytes (at most %u)", cmdline_len,
                         VMM_CMDLINE_MAX - 1);
    if (mem_size < 2 * VMM_HIGH_RAM_START)
        return kerr_make(err, EINVAL, "guest memory of %zu bytes is too small", mem_size);
    memcpy(mem + VMM_CMDLINE_GPA, cmdline, cmdline_len + 1);
    return 0;
}

int vmm_write_start_info(uint8_t *mem, size_t mem_size, const char *cmdline, uint64_t initrd_gpa,
                         uint64_t initrd_len, uint64_t rsdp_gpa, struct kerr **err)
{
    if (write_cmdline(mem, mem_size, cmdline, err) < 0)
        return -1;

    struct hvm_memmap_table_entry map[MEMORY_RANGES];
    memory_map(mem_size, map);
    memcpy(mem + VMM_MEMMAP_GPA, map, sizeof(map));

    struct hvm_modlist_entry mod = {.paddr = initrd_gpa, .size = initrd_len};
    memcpy(mem + VMM_MODLIST_GPA, &mod, sizeof(mod));

    struct hvm_start_info si = {
        .magic = HVM_START_MAGIC,
        .version = 1,
        .nr_modules = initrd_len ? 1 : 0,
        .modlist_paddr = initrd_len ? VMM_MODLIST_GPA : 0,
        .cmdline_paddr = VMM_CMDLINE_GPA,
        .rsdp_paddr = rsdp_gpa,
        .memmap_paddr = VMM_MEMMAP_GPA,
        .memmap_entries = MEMORY_RANGES,
    };
    memcpy(mem + VMM_START_INFO_GPA, &si, sizeof(si));
    return 0;
}

/* The setup header's fields, at their offsets in the image's first sector and
 * in the zero page alike (arch/x86/include/uapi/asm/bootparam.h). */
#define HDR_START          0x1f1 /* setup_sects: where the header begins */
#define HDR_BOOT_FLAG      0x1fe /* 0xaa55 */
#define HDR_JUMP           0x200 /* its second byte: the header's length past 0x202 */
#define HDR_MAGIC          0x202 /* "HdrS" */
#define HDR_VERSION        0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS      0x211
#define HDR_RAMDISK_IMAGE  0x218
#define HDR_RAMDISK_SIZE   0x21c
#define HDR_CMD_LINE_PTR   0x228
#define HDR_INITRD_MAX     0x22c
#define HDR_XLOADFLAGS     0x236
#define HDR_CMDLINE_SIZE   0x238
#define HDR_PREF_ADDRESS   0x258
#define HDR_INIT_SIZE      0x260
#define HDR_END_MAX        0x290 /* where the zero page's next field begins */
/* Other zero-page fields. */
#define ZP_ACPI_RSDP    0x070
#define ZP_E820_ENTRIES 0x1e8
#define ZP_E820_TABLE   0x2d0
#define ZP_SIZE         4096

#define LOADED_HIGH      0x01
#define XLF_KERNEL_64    0x01
#define LOADER_UNDEFINED 0xff
#define MIN_PROTOCOL     0x20c /* 2.12: xloadflags */

int vmm_is_bzimage(const uint8_t *image, size_t len)
{
    return len >= HDR_MAGIC + 4 && le16(image + HDR_BOOT_FLAG) == 0xaa55 &&
           memcmp(image + HDR_MAGIC, "HdrS", 4) == 0;
}

int vmm_load_bzimage(const uint8_t *image, size_t len, uint8_t *mem, size_t mem_size,
                     uint64_t *entry, uint64_t *kernel_end, uint64_t *initrd_limit,
                     struct kerr **err)
{
    if (!vmm_is_bzimage(image, len) || len < HDR_INIT_SIZE + 4)
        return kerr_make(err, ENOEXEC, "kernel: not a bzImage (no boot flag and HdrS header)");
    unsigned version = le16(image + HDR_VERSION);
    if (version < MIN_PROTOCOL)
        return kerr_make(err, ENOEXEC,
                         "kernel: boot protocol %u.%02u is older than 2.12, which the 64-bit "
                         "entry needs",
                         version >> 8, version & 0xff);
    if (!(le16(image + HDR_XLOADFLAGS) & XLF_KERNEL_64) || !(image[HDR_LOADFLAGS] & LOADED_HIGH))
        return kerr_make(err, ENOEXEC, "kernel: the bzImage has no 64-bit entry at 1 MiB");
    size_t hdr_end = HDR_MAGIC + image[HDR_JUMP + 1];
    if (hdr_end > HDR_END_MAX || hdr_end > len)
        return kerr_make(err, ENOEXEC, "kernel: setup header of %zu bytes is too long",
                         hdr_end - HDR_START);
    unsigned setup_sects = image[HDR_START] ? image[HDR_START] : 4;
    uint64_t pm_offset = (setup_sects + 1ull) * 512;
    if (pm_offset >= len)
        return kerr_make(err, ENOEXEC, "kernel: no protected-mode code after %u setup sectors",
                         setup_sects);
    uint64_t pm_len = len - pm_offset;
    /* startup_64 decompresses to pref_address (at least LOAD_PHYSICAL_ADDR)
     * or in place, whichever is higher, and needs init_size from there. */
    uint64_t pref = 0, init_size = le32(image + HDR_INIT_SIZE);
    memcpy(&pref, image + HDR_PREF_ADDRESS, 8);
    uint64_t run_at = pref > VMM_BZIMAGE_LOAD_GPA ? pref : VMM_BZIMAGE_LOAD_GPA;
    if (!fits(VMM_BZIMAGE_LOAD_GPA, pm_len, mem_size) || !fits(run_at, init_size, mem_size))
        return kerr_make(err, EFBIG,
                         "kernel: %llu bytes loaded at 1 MiB and %llu to decompress into at "
                         "0x%llx do not fit in %zu MiB of guest memory",
                         (unsigned long long)pm_len, (unsigned long long)init_size,
                         (unsigned long long)run_at, mem_size >> 20);
    memcpy(mem + VMM_BZIMAGE_LOAD_GPA, image + pm_offset, pm_len);
    memset(mem + VMM_ZERO_PAGE_GPA, 0, ZP_SIZE);
    memcpy(mem + VMM_ZERO_PAGE_GPA + HDR_START, image + HDR_START, hdr_end - HDR_START);

    *entry = VMM_BZIMAGE_LOAD_GPA + VMM_BZIMAGE_ENTRY64;
    *kernel_end = run_at + init_size;
    if (VMM_BZIMAGE_LOAD_GPA + pm_len > *kernel_end)
        *kernel_end = VMM_BZIMAGE_LOAD_GPA + pm_len;
    *initrd_limit = le32(image + HDR_INITRD_MAX) + 1ull;
    return 0;
}

/* GDT and identity page tables for the 64-bit entry (4 GiB, 2 MiB pages). */
static void write_long_mode_tables(uint8_t *mem)
{
    const uint64_t gdt[4] = {
        0, 0, 0x00af9b000000ffffull, /* 0x10: code, 64-bit, execute/read, present */
        0x00cf93000000ffffull,       /* 0x18: data, 4 GiB flat, read/write, present */
    };
    memcpy(mem + VMM_GDT_GPA, gdt, sizeof(gdt));
    uint64_t pdpt = VMM_PML4_GPA + 0x1000, pd = VMM_PML4_GPA + 0x2000;
    uint64_t entry = pdpt | 0x3; /* present, writable */
    memset(mem + VMM_PML4_GPA, 0, 0x6000);
    memcpy(mem + VMM_PML4_GPA, &entry, 8);
    for (uint64_t i = 0; i < 4; i++) {
        entry = (pd + i * 0x1000) | 0x3;
        memcpy(mem + pdpt + i * 8, &entry, 8);
    }
    for (uint64_t i = 0; i < 4 * 512; i++) {
        entry = (i << 21) | 0x83; /* present, writable, 2 MiB page */
        memcpy(mem + pd + i * 8, &entry, 8);
    }
}

int vmm_write_boot_params(uint8_t *mem, size_t mem_size, const char *cmdline, uint64_t initrd_gpa,
                          uint64_t initrd_len, uint64_t rsdp_gpa, struct kerr **err)
{
    uint8_t *zp = mem + VMM_ZERO_PAGE_GPA;
    uint32_t cmdline_size = le32(zp + HDR_CMDLINE_SIZE);
    if (cmdline_size && strlen(cmdline) > cmdline_size)
        return kerr_make(err, E2BIG, "kernel command line of %zu bytes (this kernel takes %u)",
                         strlen(cmdline), cmdline_size);
    if (write_cmdline(mem, mem_size, cmdline, err) < 0)
        return -1;
    if (initrd_gpa + initrd_len > UINT32_MAX)
        return kerr_make(err, EINVAL, "initrd above 4 GiB");
    zp[HDR_TYPE_OF_LOADER] = LOADER_UNDEFINED;
    put32(zp + HDR_CMD_LINE_PTR, VMM_CMDLINE_GPA);
    put32(zp + HDR_RAMDISK_IMAGE, initrd_len ? (uint32_t)initrd_gpa : 0);
    put32(zp + HDR_RAMDISK_SIZE, (uint32_t)initrd_len);
    memcpy(zp + ZP_ACPI_RSDP, &rsdp_gpa, 8);

    struct hvm_memmap_table_entry map[MEMORY_RANGES];
    memory_map(mem_size, map);
    for (unsigned i = 0; i < MEMORY_RANGES; i++) { /* struct boot_e820_entry: packed, 20 bytes */
        uint8_t *e = zp + ZP_E820_TABLE + i * 20;
        memcpy(e, &map[i].addr, 8);
        memcpy(e + 8, &map[i].size, 8);
        put32(e + 16, map[i].type);
    }
    zp[ZP_E820_ENTRIES] = MEMORY_RANGES;
    write_long_mode_tables(mem);
    return 0;
}
