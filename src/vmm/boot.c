/* PVH direct boot: ELF loader and start info.  The kernel image is a file
 * on the host, but treated as untrusted input all the same: every header
 * field is bounds-checked before it is used. */
#include "boot.h"

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
        return kerr_make(err, ENOEXEC,
                         "kernel: not an x86-64 ELF64 image (a bzImage? boot the "
                         "uncompressed vmlinux)");
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
                     uint64_t kernel_end, uint64_t *gpa, struct kerr **err)
{
    if (len > mem_size || (mem_size - len) / 4096 * 4096 < kernel_end)
        return kerr_make(err, EFBIG,
                         "initrd of %zu bytes does not fit between the kernel's end (0x%llx) and "
                         "the end of %zu MiB of guest memory",
                         len, (unsigned long long)kernel_end, mem_size >> 20);
    *gpa = (mem_size - len) / 4096 * 4096;
    memcpy(mem + *gpa, initrd, len);
    return 0;
}

int vmm_write_start_info(uint8_t *mem, size_t mem_size, const char *cmdline, uint64_t initrd_gpa,
                         uint64_t initrd_len, uint64_t rsdp_gpa, struct kerr **err)
{
    size_t cmdline_len = strlen(cmdline);
    if (cmdline_len + 1 > VMM_CMDLINE_MAX)
        return kerr_make(err, E2BIG, "kernel command line of %zu bytes (at most %u)", cmdline_len,
                         VMM_CMDLINE_MAX - 1);
    if (mem_size < 2 * VMM_HIGH_RAM_START)
        return kerr_make(err, EINVAL, "guest memory of %zu bytes is too small", mem_size);
    memcpy(mem + VMM_CMDLINE_GPA, cmdline, cmdline_len + 1);

    struct hvm_memmap_table_entry map[] = {
        {.addr = 0, .size = VMM_LOW_RAM_END, .type = HVM_MEMMAP_TYPE_RAM},
        {.addr = VMM_BIOS_AREA_START,
         .size = VMM_HIGH_RAM_START - VMM_BIOS_AREA_START,
         .type = HVM_MEMMAP_TYPE_RESERVED},
        {.addr = VMM_HIGH_RAM_START,
         .size = mem_size - VMM_HIGH_RAM_START,
         .type = HVM_MEMMAP_TYPE_RAM},
    };
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
        .memmap_entries = sizeof(map) / sizeof(map[0]),
    };
    memcpy(mem + VMM_START_INFO_GPA, &si, sizeof(si));
    return 0;
}
