/* virtq-guest's entry: the PVH note kata-vmm looks for, then from the PVH
 * state (32-bit protected mode, paging off) into long mode on identity page
 * tables covering the first 4 GiB (guest RAM and the virtio-mmio window at
 * 0xd0000000), and a call to guest_main with interrupts off. */
    .section .note.Xen, "a", @note
    .balign 4
    .long 4                 /* name size */
    .long 4                 /* descriptor size */
    .long 18                /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .long pvh_start
    .balign 4

    .section .text.entry, "ax"
    .code32
    .globl pvh_start
pvh_start:
    cli
    movl %ebx, start_info           /* struct hvm_start_info, for the memory map */
    lgdt gdt_descriptor
    movl $pml4, %eax
    movl %eax, %cr3
    movl %cr4, %eax
    orl $0x20, %eax                 /* PAE */
    movl %eax, %cr4
    movl $0xc0000080, %ecx          /* EFER */
    rdmsr
    orl $0x100, %eax                /* LME */
    wrmsr
    movl %cr0, %eax
    orl $0x80000001, %eax           /* PG | PE */
    movl %eax, %cr0
    ljmp $0x08, $long_mode

    .code64
long_mode:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    leaq stack_top(%rip), %rsp
    call guest_main
1:  hlt
    jmp 1b

    .section .data
    .balign 8
gdt:
    .quad 0
    .quad 0x00af9a000000ffff        /* 0x08: 64-bit code */
    .quad 0x00cf92000000ffff        /* 0x10: flat data */
gdt_end:
gdt_descriptor:
    .word gdt_end - gdt - 1
    .long gdt

    .balign 4096
pml4:
    .quad pdpt + 3
    .fill 511, 8, 0
pdpt:
    .quad pd + 3
    .quad pd + 0x1000 + 3
    .quad pd + 0x2000 + 3
    .quad pd + 0x3000 + 3
    .fill 508, 8, 0
pd:                                 /* 2048 entries of 2 MiB: 4 GiB */
    .set page, 0
    .rept 2048
    .quad (page << 21) | 0x83       /* present, writable, large */
    .set page, page + 1
    .endr

    .globl start_info
    .balign 8
start_info:
    .quad 0

    .section .bss
    .balign 16
    .space 16384
stack_top:

    .section .note.GNU-stack, "", @progbits
