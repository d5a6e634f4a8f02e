/* x86-64 direct boot of an uncompressed vmlinux through its PVH entry: the
 * ELF loader, the PVH start info (command line, initrd module, memory map) and
 * the guest-physical layout they use.  Pure functions over a guest memory
 * buffer: no KVM needed, so they are unit-tested anywhere. */
#ifndef KATA_VMM_BOOT_H
#define KATA_VMM_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Guest-physical layout below the kernel (which loads at its own p_paddr,
 * 16 MiB for our kernels). */
#define VMM_START_INFO_GPA  0x6000ull /* struct hvm_start_info */
#define VMM_MODLIST_GPA     0x6100ull /* one hvm_modlist_entry: the initrd */
#define VMM_MEMMAP_GPA      0x6200ull /* hvm_memmap_table_entry[] */
#define VMM_CMDLINE_GPA     0x20000ull
#define VMM_CMDLINE_MAX     2048u /* Linux's COMMAND_LINE_SIZE on x86 */
#define VMM_LOW_RAM_END     0x9fc00ull
#define VMM_BIOS_AREA_START 0xe0000ull /* reserved: the ACPI tables live here */
#define VMM_HIGH_RAM_START  0x100000ull

/* The PVH boot ABI's structures (xen/include/public/arch-x86/hvm/start_info.h). */
#define HVM_START_MAGIC 0x336ec578u
struct hvm_start_info {
    uint32_t magic;
    uint32_t version; /* 1: memmap fields present */
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
    uint64_t memmap_paddr;
    uint32_t memmap_entries;
    uint32_t reserved;
};
struct hvm_modlist_entry {
    uint64_t paddr;
    uint64_t size;
    uint64_t cmdline_paddr;
    uint64_t reserved;
};
#define HVM_MEMMAP_TYPE_RAM      1
#define HVM_MEMMAP_TYPE_RESERVED 2
struct hvm_memmap_table_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
    uint32_t reserved;
};

/* Find the PVH entry point (ELF note "Xen", type XEN_ELFNOTE_PHYS32_ENTRY) of
 * the ELF64 image elf[0..len) and copy its PT_LOAD segments to their physical
 * addresses in mem[0..mem_size).  Every offset, size and address is checked
 * against both buffers.  Returns 0 with *entry set, or -1 with err set. */
int vmm_load_pvh_elf(const uint8_t *elf, size_t len, uint8_t *mem, size_t mem_size, uint64_t *entry,
                     uint64_t *kernel_end, struct kerr **err);

/* Place the initrd at the top of guest RAM below `limit` (4 KiB aligned,
 * above kernel_end; limit is mem_size, or lower when the kernel says so).
 * Returns 0 with *gpa set, or -1 when it does not fit. */
int vmm_place_initrd(const uint8_t *initrd, size_t len, uint8_t *mem, size_t mem_size,
                     uint64_t kernel_end, uint64_t limit, uint64_t *gpa, struct kerr **err);

/* Write the command line, the memory map (low RAM, the BIOS area reserved for
 * the ACPI tables, high RAM up to mem_size) and the start info with the initrd
 * as module 0 (initrd_len 0: none) and the ACPI RSDP (0: none).
 * The vCPU starts at the PVH entry with %ebx = VMM_START_INFO_GPA. */
int vmm_write_start_info(uint8_t *mem, size_t mem_size, const char *cmdline, uint64_t initrd_gpa,
                         uint64_t initrd_len, uint64_t rsdp_gpa, struct kerr **err);

/* The Linux x86 boot protocol (Documentation/arch/x86/boot.rst), 64-bit entry,
 * for a bzImage: the protected-mode kernel loads at 1 MiB, the zero page
 * (struct boot_params) holds the setup header, command line pointer, initrd
 * and e820 map, and the vCPU starts in long mode at load + 0x200 with %rsi =
 * the zero page, on identity-mapped page tables and a flat GDT. */
#define VMM_GDT_GPA          0x500ull /* null, null, __BOOT_CS 0x10, __BOOT_DS 0x18 */
#define VMM_ZERO_PAGE_GPA    0x7000ull
#define VMM_PML4_GPA         0x9000ull /* then the PDPT at 0xa000, 4 PDs at 0xb000 */
#define VMM_BZIMAGE_LOAD_GPA 0x100000ull
#define VMM_BZIMAGE_ENTRY64  0x200ull /* startup_64, from the load address */

/* True when image[0..len) starts like a bzImage (boot flag and "HdrS"). */
int vmm_is_bzimage(const uint8_t *image, size_t len);

/* Check the setup header (protocol 2.12 or later, a 64-bit entry, LOADED_HIGH),
 * copy the protected-mode kernel to VMM_BZIMAGE_LOAD_GPA and the setup header
 * into a cleared zero page.  *entry is the 64-bit entry; *kernel_end the end
 * of the memory the kernel decompresses into (its init_size from where it
 * runs); *initrd_limit the end of the memory the initrd may use. */
int vmm_load_bzimage(const uint8_t *image, size_t len, uint8_t *mem, size_t mem_size,
                     uint64_t *entry, uint64_t *kernel_end, uint64_t *initrd_limit,
                     struct kerr **err);

/* Finish the zero page vmm_load_bzimage began: loader type, command line,
 * initrd, ACPI RSDP and the e820 map (the same three ranges as the PVH map);
 * then write the GDT and page tables identity-mapping the first 4 GiB with
 * 2 MiB pages. */
int vmm_write_boot_params(uint8_t *mem, size_t mem_size, const char *cmdline, uint64_t initrd_gpa,
                          uint64_t initrd_len, uint64_t rsdp_gpa, struct kerr **err);

#endif
