/* KVM plumbing of the built-in VMM: the VM, its memory, the in-kernel
 * interrupt controllers and PIT, the vCPUs (the boot CPU in the PVH boot
 * state, the others waiting for the guest's INIT/SIPI in the in-kernel
 * LAPIC), a thread per vCPU, and the exit loop that dispatches port I/O and
 * MMIO to the devices. */
#include "vmm.h"
#include "acpi.h"
#include "boot.h"
#include "mptable.h"
#include "uart.h"
#include "util.h"
#include "virtio_console.h"
#include "vmm_devices.h"
#include "vmm_exit.h"
#include "vmm_seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Where KVM on Intel keeps its real-mode TSS and identity map (3 pages below
 * the BIOS area, unused by guest RAM). */
#define KVM_TSS_GPA          0xfffbd000ul
#define KVM_IDENTITY_MAP_GPA 0xfffbc000ull
#define I8042_COMMAND_PORT   0x64
#define I8042_CMD_RESET      0xfe

struct vmm;

struct vcpu {
    struct vmm *vm;
    unsigned id; /* also its APIC ID */
    int fd;
    struct kvm_run *run;
    pthread_t thread; /* the boot CPU runs on vmm_run's caller */
    bool thread_started;
    bool kickable; /* in vcpu_loop on `thread`: a kick interrupts its KVM_RUN */
};

struct vmm {
    int kvm_fd, vm_fd;
    size_t run_size;
    unsigned vcpu_count;
    struct vcpu vcpus[VMM_MAX_VCPUS];
    uint8_t *mem;
    size_t mem_size;
    int mem_fd;              /* memfd behind mem when vhost-user back-ends share it, else -1 */
    pthread_mutex_t io_lock; /* COM1, the exit record, kicks */
    /* Pause: vCPUs park in vcpu_loop while pause_requested. */
    pthread_mutex_t pause_lock;
    pthread_cond_t pause_changed;
    bool pause_requested;
    unsigned parked;
    struct uart com1;
    bool com1_irq;
    /* The console sink, called by COM1 (vCPU threads) and the virtio-console
     * (device thread) under console_lock: one write at a time, in order. */
    void (*console)(void *ctx, const uint8_t *bytes, size_t len);
    void *console_ctx;
    pthread_mutex_t console_lock;
    struct vmm_devices *devices;
    volatile sig_atomic_t stop;
    bool seccomp;
    /* The first vCPU to stop says why (under io_lock). */
    bool exited;
    int exit_status;
    enum vmm_exit exit_why;
    struct kerr *exit_err;
};

/* A read-only mapping of a whole file (the kernel or initrd). */
struct mapped_file {
    const uint8_t *data;
    size_t len;
};

static int map_file(const char *what, const char *path, struct mapped_file *m, struct kerr **err)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return kerr_make(err, errno, "%s `%s`", what, path);
    if (st.st_size == 0)
        return kerr_make(err, EINVAL, "%s `%s` is empty", what, path);
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED)
        return kerr_make(err, errno, "map %s `%s`", what, path);
    m->data = p;
    m->len = (size_t)st.st_size;
    return 0;
}

static void unmap_file(struct mapped_file *m)
{
    if (m->data)
        munmap((void *)m->data, m->len);
    m->data = NULL;
}

/* Where and how the boot CPU starts. */
struct boot_entry {
    uint64_t rip;
    bool linux64; /* a bzImage's 64-bit entry, else PVH */
};

static int load_guest(struct vmm *vm, const struct vmm_config *cfg, const char *cmdline,
                      struct kerr **err, struct boot_entry *entry)
{
    struct vmm_acpi_mmio mmio[VMM_MAX_DEVICES];
    unsigned mmio_count = 0;
    if (!cfg->devices_on_cmdline)
        mmio_count = vmm_devices_acpi(vm->devices, mmio, VMM_MAX_DEVICES);
    struct mapped_file kernel = {0}, initrd = {0};
    uint64_t kernel_end = 0, initrd_gpa = 0, initrd_limit = vm->mem_size;
    int r = -1;
    if (map_file("guest kernel", cfg->kernel, &kernel, err) < 0)
        return -1;
    entry->linux64 = vmm_is_bzimage(kernel.data, kernel.len);
    if ((entry->linux64 ? vmm_load_bzimage(kernel.data, kernel.len, vm->mem, vm->mem_size,
                                           &entry->rip, &kernel_end, &initrd_limit, err)
                        : vmm_load_pvh_elf(kernel.data, kernel.len, vm->mem, vm->mem_size,
                                           &entry->rip, &kernel_end, err)) < 0) {
        kerr_wrap(err, "load `%s`", cfg->kernel);
        goto out;
    }
    if (cfg->initrd) {
        if (map_file("guest initrd", cfg->initrd, &initrd, err) < 0)
            goto out;
        if (vmm_place_initrd(initrd.data, initrd.len, vm->mem, vm->mem_size, kernel_end,
                             initrd_limit, &initrd_gpa, err) < 0) {
            kerr_wrap(err, "load `%s`", cfg->initrd);
            goto out;
        }
    }
    if (vmm_write_acpi(vm->mem, vm->mem_size, vm->vcpu_count, mmio, mmio_count, err) < 0)
        goto out;
    if (cfg->devices_on_cmdline &&
        vmm_write_mptable(vm->mem, vm->mem_size, vm->vcpu_count, err) < 0)
        goto out;
    r = entry->linux64 ? vmm_write_boot_params(vm->mem, vm->mem_size, cmdline, initrd_gpa,
                                               initrd.len, VMM_ACPI_RSDP_GPA, err)
                       : vmm_write_start_info(vm->mem, vm->mem_size, cmdline, initrd_gpa,
                                              initrd.len, VMM_ACPI_RSDP_GPA, err);
out:
    unmap_file(&kernel);
    unmap_file(&initrd);
    return r;
}

/* Everything KVM supports, as the guest's CPUID, with the vCPU's APIC ID. */
static int set_cpuid(struct vmm *vm, struct vcpu *cpu, struct kerr **err)
{
    for (unsigned n = 64; n <= 4096; n *= 2) {
        cleanup_free struct kvm_cpuid2 *c =
            xcalloc(1, sizeof(*c) + n * sizeof(struct kvm_cpuid_entry2));
        c->nent = n;
        if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
            if (errno == E2BIG)
                continue;
            return kerr_make(err, errno, "KVM_GET_SUPPORTED_CPUID");
        }
        /* Say that this is a VM (CPUID.1:ECX.hypervisor): the guest then finds
         * KVM's leaves at 0x40000000 and uses kvm-clock for its TSC rate. */
        for (unsigned i = 0; i < c->nent; i++) {
            struct kvm_cpuid_entry2 *e = &c->entries[i];
            if (e->function == 1) {
                e->ecx |= 1u << 31;
                e->ebx = (e->ebx & 0x00ffffffu) | cpu->id << 24; /* initial APIC ID */
            }
            if (e->function == 0xb)
                e->edx = cpu->id; /* x2APIC ID */
        }
        if (ioctl(cpu->fd, KVM_SET_CPUID2, c) < 0)
            return kerr_make(err, errno, "KVM_SET_CPUID2");
        return 0;
    }
    return kerr_make(err, E2BIG, "KVM_GET_SUPPORTED_CPUID: too many entries");
}

/* The PVH boot ABI's initial state: 32-bit protected mode, paging off, flat
 * 4 GiB code and data segments, a 32-bit TSS, %ebx = start info.  The Linux
 * boot protocol's 64-bit entry: long mode on the identity page tables and
 * GDT that vmm_write_boot_params wrote, a 64-bit code segment, %rsi = the
 * zero page. */
static int set_boot_registers(struct vcpu *cpu, const struct boot_entry *entry, struct kerr **err)
{
    struct kvm_sregs s;
    if (ioctl(cpu->fd, KVM_GET_SREGS, &s) < 0)
        return kerr_make(err, errno, "KVM_GET_SREGS");
    struct kvm_segment code = {
        .base = 0,
        .limit = 0xffffffff,
        .selector = 0x10,
        .type = 0xb, /* execute/read, accessed */
        .present = 1,
        .db = 1,
        .s = 1,
        .g = 1,
    };
    struct kvm_segment data = code;
    data.selector = 0x18;
    data.type = 0x3; /* read/write, accessed */
    struct kvm_segment tss = {
        .base = 0, .limit = 0x67, .selector = 0x20, .type = 0xb, .present = 1, .s = 0};
    s.cs = code;
    s.ds = s.es = s.fs = s.gs = s.ss = data;
    s.tr = tss;
    s.cr0 = 0x11; /* PE | ET */
    s.cr3 = 0;
    s.cr4 = 0;
    s.efer = 0;
    struct kvm_regs r = {.rip = entry->rip, .rbx = VMM_START_INFO_GPA, .rflags = 0x2};
    if (entry->linux64) {
        s.cs.l = 1;
        s.cs.db = 0;
        s.gdt.base = VMM_GDT_GPA;
        s.gdt.limit = 4 * 8 - 1;
        s.cr0 = 0x80000011;   /* PG | ET | PE */
        s.cr3 = VMM_PML4_GPA; /* vmm_write_boot_params' tables */
        s.cr4 = 0x20;         /* PAE */
        s.efer = 0x500;       /* LMA | LME */
        r.rbx = 0;
        r.rsi = VMM_ZERO_PAGE_GPA;
    }
    if (ioctl(cpu->fd, KVM_SET_SREGS, &s) < 0)
        return kerr_make(err, errno, "KVM_SET_SREGS");
    if (ioctl(cpu->fd, KVM_SET_REGS, &r) < 0)
        return kerr_make(err, errno, "KVM_SET_REGS");
    return 0;
}

static void device_log(void *ctx, const char *message)
{
    fprintf(stderr, "kata-vmm: %s\n", message);
}

static void console_sink(void *ctx, const uint8_t *bytes, size_t len)
{
    struct vmm *vm = ctx;
    if (vm->console == NULL)
        return;
    pthread_mutex_lock(&vm->console_lock);
    vm->console(vm->console_ctx, bytes, len);
    pthread_mutex_unlock(&vm->console_lock);
}

/* COM1 with `serial_off`: the port is there (the guest may probe it), its
 * output goes nowhere. */
static void com1_discard(void *ctx, const uint8_t *bytes, size_t len)
{
    (void)ctx;
    (void)bytes;
    (void)len;
}

/* The virtio-console reads kata-vmm's stdin when it is a terminal or a pipe. */
static int add_console(struct vmm *vm, struct kerr **err)
{
    int input = virtio_console_input_open(0, err);
    if (input < 0 && *err)
        return -1;
    return vmm_devices_add_console(vm->devices, input, console_sink, vm, err);
}

static int add_devices(struct vmm *vm, const struct vmm_config *cfg, struct kerr **err)
{
    struct guest_memory gm = {.base = vm->mem, .size = vm->mem_size};
    vm->devices = vmm_devices_new(vm->vm_fd, &gm, device_log, vm, err);
    if (vm->devices == NULL)
        return -1;
    vmm_devices_set_memory_fd(vm->devices, vm->mem_fd);
    if (cfg->rng && vmm_devices_add_rng(vm->devices, err) < 0)
        return -1;
    for (unsigned i = 0; i < cfg->disk_count; i++)
        if (vmm_devices_add_blk(vm->devices, cfg->disks[i].path, cfg->disks[i].readonly,
                                cfg->disks[i].id, err) < 0)
            return -1;
    for (unsigned i = 0; i < cfg->net_count; i++)
        if (vmm_devices_add_net(vm->devices, cfg->nets[i].tap_fd, cfg->nets[i].mac,
                                cfg->nets[i].mtu, err) < 0)
            return -1;
    for (unsigned i = 0; i < cfg->fs_count; i++)
        if (vmm_devices_add_fs(vm->devices, cfg->fs[i].socket, cfg->fs[i].tag, err) < 0)
            return -1;
    if (cfg->vsock_socket && vmm_devices_add_vsock(vm->devices, cfg->vsock_cid ? cfg->vsock_cid : 3,
                                                   cfg->vsock_socket, err) < 0)
        return -1;
    if (cfg->virtio_console && add_console(vm, err) < 0)
        return -1;
    return 0;
}

/* vCPU `cpu->id`: its fd, its kvm_run, its CPUID.  All but the boot CPU wait
 * in the in-kernel LAPIC for the guest's INIT and SIPI. */
static int create_vcpu(struct vmm *vm, struct vcpu *cpu, struct kerr **err)
{
    cpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)cpu->id);
    if (cpu->fd < 0)
        return kerr_make(err, errno, "KVM_CREATE_VCPU %u", cpu->id);
    struct kvm_run *run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, cpu->fd, 0);
    if (run == MAP_FAILED)
        return kerr_make(err, errno, "map vCPU %u's kvm_run", cpu->id);
    cpu->run = run;
    return set_cpuid(vm, cpu, err);
}

/* The command line gets the devices' announcements when they go there, and
 * `acpi=noirq`: their IRQ numbers are the MP table's ISA interrupts, which
 * Linux takes only when ACPI does not route interrupts (mptable.h). */
_Static_assert(VMM_MMIO_FIRST_GSI + VMM_MAX_DEVICES <= VMM_MPTABLE_PINS,
               "every virtio-mmio GSI has an IOAPIC pin in the MP table");
static int load_guest_with_devices(struct vmm *vm, const struct vmm_config *cfg,
                                   struct boot_entry *entry, struct kerr **err)
{
    cleanup_free char *devices = cfg->devices_on_cmdline ? vmm_devices_cmdline(vm->devices) : NULL;
    cleanup_free char *announce =
        devices ? xasprintf(" " VMM_MPTABLE_CMDLINE "%s", devices) : xstrdup("");
    cleanup_free char *cmdline = xasprintf("%s%s", cfg->cmdline ? cfg->cmdline : "", announce);
    return load_guest(vm, cfg, cmdline, err, entry);
}

struct vmm *vmm_create(const struct vmm_config *cfg,
                       void (*console)(void *ctx, const uint8_t *bytes, size_t len), void *ctx,
                       struct kerr **err)
{
    struct vmm *vm = xcalloc(1, sizeof(*vm));
    vm->kvm_fd = vm->vm_fd = vm->mem_fd = -1;
    vm->vcpu_count = cfg->vcpus ? cfg->vcpus : 1;
    for (unsigned i = 0; i < VMM_MAX_VCPUS; i++)
        vm->vcpus[i] = (struct vcpu){.vm = vm, .id = i, .fd = -1};
    vm->seccomp = cfg->seccomp;
    pthread_mutex_init(&vm->io_lock, NULL);
    pthread_mutex_init(&vm->pause_lock, NULL);
    pthread_cond_init(&vm->pause_changed, NULL);
    pthread_mutex_init(&vm->console_lock, NULL);
    vm->console = console;
    vm->console_ctx = ctx;
    uart_init(&vm->com1, cfg->serial_off ? com1_discard : console_sink, vm);
    if (vm->vcpu_count > VMM_MAX_VCPUS) {
        kerr_make(err, EINVAL, "%u vCPUs (1 to %d)", vm->vcpu_count, VMM_MAX_VCPUS);
        goto fail;
    }
    struct boot_entry entry = {0};

    vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (vm->kvm_fd < 0) {
        kerr_make(err, errno, "open `/dev/kvm`");
        goto fail;
    }
    int api = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
    if (api != KVM_API_VERSION) {
        kerr_make(err, 0, "`/dev/kvm`: KVM API version %d, expected %d", api, KVM_API_VERSION);
        goto fail;
    }
    vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
    if (vm->vm_fd < 0) {
        kerr_make(err, errno, "KVM_CREATE_VM");
        goto fail;
    }
    /* Intel needs these before the first KVM_RUN; AMD ignores them. */
    ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, KVM_TSS_GPA);
    uint64_t idmap = KVM_IDENTITY_MAP_GPA;
    ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap);
    if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
        kerr_make(err, errno, "KVM_CREATE_IRQCHIP");
        goto fail;
    }
    struct kvm_pit_config pit = {.flags = 0};
    if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
        kerr_make(err, errno, "KVM_CREATE_PIT2");
        goto fail;
    }

    vm->mem_size = (size_t)(cfg->memory_mb ? cfg->memory_mb : 256) << 20;
    if (cfg->fs_count) { /* vhost-user back-ends map it too */
        vm->mem_fd = memfd_create("kata-vmm-guest-ram", MFD_CLOEXEC);
        if (vm->mem_fd < 0 || ftruncate(vm->mem_fd, (off_t)vm->mem_size) < 0) {
            kerr_make(err, errno, "guest memory memfd of %u MiB", cfg->memory_mb);
            goto fail;
        }
    }
    vm->mem = mmap(NULL, vm->mem_size, PROT_READ | PROT_WRITE,
                   (vm->mem_fd >= 0 ? MAP_SHARED : MAP_PRIVATE | MAP_ANONYMOUS) | MAP_NORESERVE,
                   vm->mem_fd, 0);
    if (vm->mem == MAP_FAILED) {
        vm->mem = NULL;
        kerr_make(err, errno, "allocate %u MiB of guest memory", cfg->memory_mb);
        goto fail;
    }
    struct kvm_userspace_memory_region region = {
        .slot = 0,
        .guest_phys_addr = 0,
        .memory_size = vm->mem_size,
        .userspace_addr = (uintptr_t)vm->mem,
    };
    if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
        kerr_make(err, errno, "KVM_SET_USER_MEMORY_REGION");
        goto fail;
    }
    if (add_devices(vm, cfg, err) < 0 || load_guest_with_devices(vm, cfg, &entry, err) < 0)
        goto fail;

    int run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size < (int)sizeof(struct kvm_run)) {
        kerr_make(err, errno, "KVM_GET_VCPU_MMAP_SIZE");
        goto fail;
    }
    vm->run_size = (size_t)run_size;
    for (unsigned i = 0; i < vm->vcpu_count; i++)
        if (create_vcpu(vm, &vm->vcpus[i], err) < 0)
            goto fail;
    if (set_boot_registers(&vm->vcpus[0], &entry, err) < 0 ||
        vmm_devices_start(vm->devices, vm->seccomp, err) < 0)
        goto fail;
    return vm;
fail:
    vmm_free(vm);
    return NULL;
}

static int set_com1_irq(struct vmm *vm, struct kerr **err)
{
    bool level = uart_irq_level(&vm->com1);
    if (level == vm->com1_irq)
        return 0;
    struct kvm_irq_level irq = {.irq = UART_COM1_IRQ, .level = level};
    if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
        return kerr_make(err, errno, "KVM_IRQ_LINE %d", UART_COM1_IRQ);
    vm->com1_irq = level;
    return 0;
}

/* One port access of `size` bytes at data.  Returns 1 when the guest asked
 * for a reset, 2 for a power-off, 0 otherwise, -1 on error. */
static int port_io(struct vmm *vm, uint16_t port, bool out, uint8_t *data, unsigned size,
                   struct kerr **err)
{
    if (port >= UART_COM1_BASE && port < UART_COM1_BASE + 8 && size == 1) {
        if (out)
            uart_write(&vm->com1, port - UART_COM1_BASE, data[0]);
        else
            data[0] = uart_read(&vm->com1, port - UART_COM1_BASE);
        return set_com1_irq(vm, err);
    }
    if (port == I8042_COMMAND_PORT && out && size == 1 && data[0] == I8042_CMD_RESET)
        return 1;
    if (port == VMM_ACPI_SLEEP_PORT && out && size == 1 && (data[0] & VMM_ACPI_SLEEP_EN) &&
        ((data[0] >> 2) & 7) == VMM_ACPI_S5_TYPE)
        return 2; /* ACPI S5: power off */
    if (!out)
        memset(data, 0xff, size); /* nothing there */
    return 0;
}

static int handle_io(struct vmm *vm, struct kvm_run *run, struct kerr **err)
{
    unsigned size = run->io.size;
    uint64_t off = run->io.data_offset;
    uint64_t total = (uint64_t)size * run->io.count;
    if (size == 0 || size > 4 || off > vm->run_size || total > vm->run_size - off)
        return kerr_make(err, EINVAL, "port I/O exit with a bad size or offset");
    uint8_t *data = (uint8_t *)run + off;
    int r = 0;
    pthread_mutex_lock(&vm->io_lock);
    for (uint32_t i = 0; i < run->io.count && r == 0; i++)
        r = port_io(vm, run->io.port, run->io.direction == KVM_EXIT_IO_OUT, data + i * size, size,
                    err);
    pthread_mutex_unlock(&vm->io_lock);
    return r;
}

/* Wait while the VM is paused (counted in vm->parked). */
static void vcpu_park(struct vcpu *cpu)
{
    struct vmm *vm = cpu->vm;
    pthread_mutex_lock(&vm->pause_lock);
    if (vm->pause_requested && !vm->stop) {
        cpu->run->immediate_exit = 0; /* set by vmm_pause to close the race with KVM_RUN */
        vm->parked++;
        pthread_cond_broadcast(&vm->pause_changed);
        while (vm->pause_requested && !vm->stop)
            pthread_cond_wait(&vm->pause_changed, &vm->pause_lock);
        vm->parked--;
        pthread_cond_broadcast(&vm->pause_changed);
    }
    pthread_mutex_unlock(&vm->pause_lock);
}

static const char *internal_error_text(uint32_t suberror)
{
    switch (suberror) {
    case KVM_INTERNAL_ERROR_EMULATION:
        return "KVM could not emulate an instruction";
    case KVM_INTERNAL_ERROR_SIMUL_EX:
        return "an exception while delivering an exception";
    case KVM_INTERNAL_ERROR_DELIVERY_EV:
        return "an exit while delivering an event";
    default:
        return "unknown";
    }
}

/* One vCPU's exits until the guest stops or vm->stop. */
static int vcpu_loop(struct vcpu *cpu, enum vmm_exit *why, struct kerr **err)
{
    struct vmm *vm = cpu->vm;
    struct kvm_run *run = cpu->run;
    for (;;) {
        if (vm->pause_requested)
            vcpu_park(cpu);
        if (vm->stop) {
            *why = VMM_EXIT_STOPPED;
            return 0;
        }
        if (ioctl(cpu->fd, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return kerr_make(err, errno, "KVM_RUN");
        }
        switch (run->exit_reason) {
        case KVM_EXIT_IO: {
            int r = handle_io(vm, run, err);
            if (r < 0)
                return -1;
            if (r > 0) {
                *why = r == 1 ? VMM_EXIT_RESET : VMM_EXIT_SHUTDOWN;
                return 0;
            }
            break;
        }
        case KVM_EXIT_MMIO:
            if (!vmm_devices_mmio(vm->devices, run->mmio.phys_addr, run->mmio.data, run->mmio.len,
                                  run->mmio.is_write) &&
                !run->mmio.is_write)
                memset(run->mmio.data, 0xff, sizeof(run->mmio.data)); /* nothing there */
            break;
        case KVM_EXIT_INTR:
            break;
        case KVM_EXIT_SHUTDOWN: /* triple fault: a crash, or how reboot=t resets */
            *why = VMM_EXIT_TRIPLE_FAULT;
            return 0;
        case KVM_EXIT_SYSTEM_EVENT:
            *why = run->system_event.type == KVM_SYSTEM_EVENT_RESET ? VMM_EXIT_RESET
                                                                    : VMM_EXIT_SHUTDOWN;
            return 0;
        case KVM_EXIT_HLT:
            *why = VMM_EXIT_SHUTDOWN;
            return 0;
        case KVM_EXIT_FAIL_ENTRY:
            return kerr_make(err, 0, "KVM_RUN: entry failed, hardware reason 0x%llx",
                             (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        case KVM_EXIT_INTERNAL_ERROR:
            return kerr_make(err, 0, "KVM_RUN: internal error, suberror %u (%s)",
                             run->internal.suberror, internal_error_text(run->internal.suberror));
        default:
            return kerr_make(err, 0, "KVM_RUN: unhandled exit reason %u", run->exit_reason);
        }
    }
}

/* Interrupts a vCPU thread's KVM_RUN; the handler does nothing. */
#define VCPU_KICK_SIGNAL SIGRTMIN
static void on_kick(int sig)
{
    (void)sig;
}

void vmm_request_stop(struct vmm *vm)
{
    vm->stop = 1;
    for (unsigned i = 0; i < vm->vcpu_count; i++)
        if (vm->vcpus[i].run)
            vm->vcpus[i].run->immediate_exit = 1;
}

/* Interrupt every vCPU's KVM_RUN but the caller's (io_lock held). */
static void kick_vcpus(struct vmm *vm, const struct vcpu *self)
{
    for (unsigned i = 0; i < vm->vcpu_count; i++)
        if (&vm->vcpus[i] != self && vm->vcpus[i].kickable)
            pthread_kill(vm->vcpus[i].thread, VCPU_KICK_SIGNAL);
}

void vmm_stop(struct vmm *vm)
{
    vmm_request_stop(vm);
    pthread_mutex_lock(&vm->pause_lock);
    pthread_cond_broadcast(&vm->pause_changed); /* parked vCPUs see the stop */
    pthread_mutex_unlock(&vm->pause_lock);
    pthread_mutex_lock(&vm->io_lock);
    kick_vcpus(vm, NULL);
    pthread_mutex_unlock(&vm->io_lock);
}

int vmm_pause(struct vmm *vm, struct kerr **err)
{
    pthread_mutex_lock(&vm->pause_lock);
    vm->pause_requested = true;
    pthread_mutex_unlock(&vm->pause_lock);
    /* immediate_exit first: a vCPU about to enter KVM_RUN leaves at once. */
    for (unsigned i = 0; i < vm->vcpu_count; i++)
        if (vm->vcpus[i].run)
            vm->vcpus[i].run->immediate_exit = 1;
    pthread_mutex_lock(&vm->io_lock);
    kick_vcpus(vm, NULL);
    pthread_mutex_unlock(&vm->io_lock);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 5;
    int r = 0;
    pthread_mutex_lock(&vm->pause_lock);
    while (vm->parked < vm->vcpu_count && !vm->stop && r == 0)
        r = pthread_cond_timedwait(&vm->pause_changed, &vm->pause_lock, &deadline);
    bool done = vm->parked == vm->vcpu_count;
    pthread_mutex_unlock(&vm->pause_lock);
    if (!done)
        return kerr_make(err, r ? r : ESRCH, "pause: %u of %u vCPUs stopped", vm->parked,
                         vm->vcpu_count);
    return 0;
}

void vmm_resume(struct vmm *vm)
{
    pthread_mutex_lock(&vm->pause_lock);
    vm->pause_requested = false;
    pthread_cond_broadcast(&vm->pause_changed);
    pthread_mutex_unlock(&vm->pause_lock);
}

/* A vCPU stopped: the first one records why; every other vCPU is stopped. */
static void vcpu_finished(struct vcpu *cpu, int status, enum vmm_exit why, struct kerr **err)
{
    struct vmm *vm = cpu->vm;
    pthread_mutex_lock(&vm->io_lock);
    if (!vm->exited && (why != VMM_EXIT_STOPPED || status < 0 || cpu->id == 0)) {
        vm->exited = true;
        vm->exit_status = status;
        vm->exit_why = why;
        if (status < 0 && err && *err) {
            kerr_wrap(err, "vCPU %u", cpu->id);
            vm->exit_err = *err;
            *err = NULL;
        }
    }
    cpu->kickable = false;
    vmm_request_stop(vm);
    kick_vcpus(vm, cpu);
    pthread_mutex_unlock(&vm->io_lock);
    pthread_mutex_lock(&vm->pause_lock);
    pthread_cond_broadcast(&vm->pause_changed); /* parked vCPUs see the stop */
    pthread_mutex_unlock(&vm->pause_lock);
}

static void *vcpu_thread(void *arg)
{
    struct vcpu *cpu = arg;
    cleanup_kerr struct kerr *err = NULL;
    enum vmm_exit why = VMM_EXIT_STOPPED;
    int status = -1;
    if (!cpu->vm->seccomp || vmm_seccomp_apply(VMM_THREAD_VCPU, &err) == 0)
        status = vcpu_loop(cpu, &why, &err);
    /* (kickable was set by vmm_run before the thread started) */
    vcpu_finished(cpu, status, why, &err);
    return NULL;
}

int vmm_run(struct vmm *vm, enum vmm_exit *why, struct kerr **err)
{
    struct sigaction sa = {.sa_handler = on_kick}; /* no SA_RESTART: KVM_RUN returns EINTR */
    sigaction(VCPU_KICK_SIGNAL, &sa, NULL);
    /* The other vCPUs' threads take only the kick: the caller's signals
     * (stop, timeout) reach the boot CPU's thread. */
    sigset_t all, old;
    sigfillset(&all);
    sigdelset(&all, VCPU_KICK_SIGNAL);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int status = 0;
    vm->vcpus[0].thread = pthread_self();
    pthread_mutex_lock(&vm->io_lock);
    vm->vcpus[0].kickable = true;
    for (unsigned i = 1; i < vm->vcpu_count && status == 0; i++) {
        status = -pthread_create(&vm->vcpus[i].thread, NULL, vcpu_thread, &vm->vcpus[i]);
        vm->vcpus[i].thread_started = vm->vcpus[i].kickable = status == 0;
    }
    pthread_mutex_unlock(&vm->io_lock);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    cleanup_kerr struct kerr *boot_err = NULL;
    enum vmm_exit boot_why = VMM_EXIT_STOPPED;
    if (status < 0) {
        kerr_make(&boot_err, -status, "start a vCPU thread");
        vcpu_finished(&vm->vcpus[0], -1, VMM_EXIT_STOPPED, &boot_err);
    } else {
        /* From here the calling thread is the boot CPU's for good: its filter
         * stays, and covers the caller's teardown too (vmm_free). */
        status = -1;
        if (!vm->seccomp || vmm_seccomp_apply(VMM_THREAD_VCPU, &boot_err) == 0)
            status = vcpu_loop(&vm->vcpus[0], &boot_why, &boot_err);
        vcpu_finished(&vm->vcpus[0], status, boot_why, &boot_err);
    }
    for (unsigned i = 1; i < vm->vcpu_count; i++)
        if (vm->vcpus[i].thread_started) {
            pthread_join(vm->vcpus[i].thread, NULL);
            vm->vcpus[i].thread_started = false;
        }
    *why = vm->exit_why;
    if (vm->exit_status < 0) {
        if (err)
            *err = vm->exit_err;
        else
            kerr_free(vm->exit_err);
        vm->exit_err = NULL;
        return -1;
    }
    return 0;
}

int vmm_exit_code(int run_result, enum vmm_exit why)
{
    if (run_result < 0)
        return VMM_STATUS_VCPU_FAILED;
    switch (why) {
    case VMM_EXIT_RESET:
        return VMM_STATUS_RESET;
    case VMM_EXIT_TRIPLE_FAULT:
        return VMM_STATUS_TRIPLE_FAULT;
    case VMM_EXIT_STOPPED:
    case VMM_EXIT_SHUTDOWN:
        return VMM_STATUS_OFF;
    }
    return VMM_STATUS_VCPU_FAILED;
}

int vmm_disk_replace(struct vmm *vm, const char *id, const char *path, bool readonly,
                     struct kerr **err)
{
    return vmm_devices_replace_blk(vm->devices, id, path, readonly, err);
}

unsigned vmm_disk_states(struct vmm *vm, struct virtio_blk_state *out, unsigned max)
{
    return vmm_devices_blk_states(vm->devices, out, max);
}

void vmm_free(struct vmm *vm)
{
    if (vm == NULL)
        return;
    vmm_devices_free(vm->devices); /* the device thread stops before memory goes */
    for (unsigned i = 0; i < VMM_MAX_VCPUS; i++) {
        if (vm->vcpus[i].run)
            munmap(vm->vcpus[i].run, vm->run_size);
        if (vm->vcpus[i].fd >= 0)
            close(vm->vcpus[i].fd);
    }
    if (vm->mem)
        munmap(vm->mem, vm->mem_size);
    if (vm->mem_fd >= 0)
        close(vm->mem_fd);
    kerr_free(vm->exit_err);
    pthread_mutex_destroy(&vm->io_lock);
    pthread_mutex_destroy(&vm->pause_lock);
    pthread_mutex_destroy(&vm->console_lock);
    pthread_cond_destroy(&vm->pause_changed);
    if (vm->vm_fd >= 0)
        close(vm->vm_fd);
    if (vm->kvm_fd >= 0)
        close(vm->kvm_fd);
    free(vm);
}
