/* ACPI tables, laid out byte by byte (ACPI 6.4 specification, chapter 5).
 * Offsets are the specification's; each table gets its checksum last. */
#include "acpi.h"
#include "le_bytes.h"

#include <errno.h>
#include <string.h>

#define RSDP_GPA VMM_ACPI_RSDP_GPA
#define XSDT_GPA 0xe0040ull
#define FADT_GPA 0xe0100ull
#define MADT_GPA 0xe0300ull
#define DSDT_GPA 0xe0800ull

#define HEADER_LEN 36
#define FADT_LEN   276

#define FADT_FLAG_HW_REDUCED_ACPI      (1u << 20)
#define IAPC_BOOT_VGA_NOT_PRESENT      (1u << 2)
#define IAPC_BOOT_CMOS_RTC_NOT_PRESENT (1u << 5)
#define GAS_SYSTEM_IO                  1
#define GAS_ACCESS_BYTE                1

uint8_t vmm_acpi_sum(const uint8_t *p, size_t len)
{
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum = (uint8_t)(sum + p[i]);
    return sum;
}

static void header(uint8_t *t, const char *sig, uint32_t len, uint8_t revision)
{
    memcpy(t, sig, 4);
    put32(t + 4, len);
    t[8] = revision;
    memcpy(t + 10, "KATAC ", 6);   /* OEM ID */
    memcpy(t + 16, "KATAVMM ", 8); /* OEM table ID */
    put32(t + 24, 1);              /* OEM revision */
    memcpy(t + 28, "KATA", 4);     /* creator ID */
    put32(t + 32, 1);              /* creator revision */
}

static void finish(uint8_t *t, uint32_t len)
{
    t[9] = 0;
    t[9] = (uint8_t)(0 - vmm_acpi_sum(t, len));
}

/* Generic address structure: an 8-bit system I/O port. */
static void gas_port(uint8_t *p, uint16_t port)
{
    p[0] = GAS_SYSTEM_IO;
    p[1] = 8; /* bit width */
    p[2] = 0; /* bit offset */
    p[3] = GAS_ACCESS_BYTE;
    put64(p + 4, port);
}

/* DSDT, in AML:
 *   Name (_S5, Package (4) { 5, 0, 0, 0 })
 *   Device (COM1) {
 *     Name (_HID, EisaId ("PNP0501")) Name (_UID, 0)
 *     Name (_CRS, ResourceTemplate () { IO (Decode16, 0x3f8, 0x3f8, 1, 8) IRQNoFlags () {4} })
 *   }
 * Hardware-reduced ACPI has no legacy PIC or ISA IRQs: the UART is found
 * (8250_pnp) and its IRQ routed through the IOAPIC only when described here. */
/* One virtio-mmio device, as QEMU's microvm and Firecracker describe them:
 *   Device (VRnn) {
 *     Name (_HID, "LNRO0005") Name (_UID, nn)
 *     Name (_CRS, ResourceTemplate () {
 *       Memory32Fixed (ReadWrite, base, size)
 *       Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { gsi } })
 *   }
 * Linux's virtio_mmio driver binds to LNRO0005 and maps the GSI through the
 * IOAPIC (a bare IRQ number on the command line has no IRQ behind it under
 * hardware-reduced ACPI: that form needs the MP table, mptable.h). */
#define AML_VIRTIO_MMIO_LEN 61u
static void aml_virtio_mmio(uint8_t *p, unsigned index, const struct vmm_acpi_mmio *d)
{
    // clang-format off
    static const uint8_t head[] = {
        0x5b, 0x82, 59,                                     /* DeviceOp, PkgLength 59 */
        'V',  'R',  '0', '0',                               /* NameSeg, digits below */
        0x08, '_',  'H', 'I', 'D', 0x0d,                    /* Name (_HID, String */
        'L',  'N',  'R', 'O', '0', '0', '0', '5', 0x00,     /*   "LNRO0005") */
        0x08, '_',  'U', 'I', 'D', 0x0a, 0x00,              /* Name (_UID, Byte nn) */
        0x08, '_',  'C', 'R', 'S', 0x11, 26, 0x0a, 23,      /* Name (_CRS, Buffer (23) { */
        0x86, 0x09, 0x00, 0x01,                             /*   Memory32Fixed, read/write */
    };
    // clang-format on
    memcpy(p, head, sizeof(head));
    p[5] = (uint8_t)('0' + index / 10);
    p[6] = (uint8_t)('0' + index % 10);
    p[28] = (uint8_t)index;
    uint8_t *r = p + sizeof(head);
    put32(r, (uint32_t)d->base);
    put32(r + 4, d->size);
    r += 8;
    r[0] = 0x89; /* Extended Interrupt */
    put16(r + 1, 6);
    r[3] = 0x03; /* consumer, edge, active high, exclusive */
    r[4] = 1;    /* one interrupt */
    put32(r + 5, d->gsi);
    r[9] = 0x79; /* end tag */
    r[10] = 0x00;
}

/* DSDT, in AML:
 *   Name (_S5, Package (4) { 5, 0, 0, 0 })
 *   Device (COM1) {
 *     Name (_HID, EisaId ("PNP0501")) Name (_UID, 0)
 *     Name (_CRS, ResourceTemplate () { IO (Decode16, 0x3f8, 0x3f8, 1, 8) IRQNoFlags () {4} })
 *   }
 *   then each virtio-mmio device (aml_virtio_mmio).
 * Hardware-reduced ACPI has no legacy PIC or ISA IRQs: the UART is found
 * (8250_pnp) and its IRQ routed through the IOAPIC only when described here. */
static uint32_t write_dsdt(uint8_t *t, const struct vmm_acpi_mmio *mmio, unsigned mmio_count)
{
    // clang-format off
    static const uint8_t aml[] = {
        0x08, '_', 'S', '5', '_',               /* NameOp "_S5_" */
        0x12, 0x07, 0x04,                       /* PackageOp, PkgLength 7, NumElements 4 */
        0x0a, VMM_ACPI_S5_TYPE,                 /* BytePrefix 5: SLP_TYP */
        0x00, 0x00, 0x00,                       /* ZeroOp x3 */
        0x5b, 0x82, 0x2b, 'C', 'O', 'M', '1',   /* DeviceOp, PkgLength 43, "COM1" */
        0x08, '_', 'H', 'I', 'D',               /* Name (_HID, */
        0x0c, 0x41, 0xd0, 0x05, 0x01,           /*   DWordPrefix EisaId ("PNP0501")) */
        0x08, '_', 'U', 'I', 'D', 0x00,         /* Name (_UID, Zero) */
        0x08, '_', 'C', 'R', 'S',               /* Name (_CRS, */
        0x11, 0x10, 0x0a, 0x0d,                 /*   BufferOp, PkgLength 16, 13 bytes: */
        0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08, /* IO 0x3f8, align 1, 8 ports */
        0x22, 0x10, 0x00,                       /*   IRQNoFlags, mask 1 << 4 */
        0x79, 0x00,                             /*   end tag) */
    };
    // clang-format on
    uint32_t len = HEADER_LEN + sizeof(aml);
    memcpy(t + HEADER_LEN, aml, sizeof(aml));
    for (unsigned i = 0; i < mmio_count; i++) {
        aml_virtio_mmio(t + len, i, &mmio[i]);
        len += AML_VIRTIO_MMIO_LEN;
    }
    header(t, "DSDT", len, 2);
    finish(t, len);
    return len;
}

static uint32_t write_fadt(uint8_t *t)
{
    memset(t, 0, FADT_LEN);
    header(t, "FACP", FADT_LEN, 6);
    put32(t + 40, (uint32_t)DSDT_GPA);                                          /* DSDT */
    put16(t + 109, IAPC_BOOT_VGA_NOT_PRESENT | IAPC_BOOT_CMOS_RTC_NOT_PRESENT); /* IAPC_BOOT_ARCH */
    put32(t + 112, FADT_FLAG_HW_REDUCED_ACPI);                                  /* Flags */
    t[131] = 4;                                 /* FADT minor version (6.4) */
    put64(t + 140, DSDT_GPA);                   /* X_DSDT */
    gas_port(t + 244, VMM_ACPI_SLEEP_PORT);     /* SLEEP_CONTROL_REG */
    gas_port(t + 256, VMM_ACPI_SLEEP_PORT + 1); /* SLEEP_STATUS_REG */
    memcpy(t + 268, "KATAVMM\0", 8);            /* hypervisor vendor identity */
    finish(t, FADT_LEN);
    return FADT_LEN;
}

static uint32_t write_madt(uint8_t *t, unsigned vcpus)
{
    uint32_t len = HEADER_LEN + 8;
    put32(t + HEADER_LEN, VMM_LAPIC_GPA);
    put32(t + HEADER_LEN + 4, 1); /* PCAT_COMPAT: 8259s present too */
    for (unsigned i = 0; i < vcpus; i++) {
        uint8_t *e = t + len;
        e[0] = 0; /* processor local APIC */
        e[1] = 8;
        e[2] = (uint8_t)i; /* ACPI processor UID */
        e[3] = (uint8_t)i; /* APIC ID */
        put32(e + 4, 1);   /* enabled */
        len += 8;
    }
    uint8_t *io = t + len;
    io[0] = 1; /* I/O APIC */
    io[1] = 12;
    io[2] = (uint8_t)vcpus; /* its ID, after the CPUs' */
    io[3] = 0;
    put32(io + 4, VMM_IOAPIC_GPA);
    put32(io + 8, 0); /* GSI base */
    len += 12;
    header(t, "APIC", len, 5);
    finish(t, len);
    return len;
}

int vmm_write_acpi(uint8_t *mem, size_t mem_size, unsigned vcpus, const struct vmm_acpi_mmio *mmio,
                   unsigned mmio_count, struct kerr **err)
{
    if (mmio_count > VMM_ACPI_MAX_MMIO)
        return kerr_make(err, EINVAL, "ACPI tables for %u virtio-mmio devices (at most %d)",
                         mmio_count, VMM_ACPI_MAX_MMIO);
    if (vcpus == 0 || vcpus > VMM_ACPI_MAX_VCPUS)
        return kerr_make(err, EINVAL, "ACPI tables for %u vCPUs (1 to %d)", vcpus,
                         VMM_ACPI_MAX_VCPUS);
    if (mem_size < VMM_ACPI_END_GPA)
        return kerr_make(err, EINVAL, "guest memory too small for the ACPI tables");
    memset(mem + RSDP_GPA, 0, VMM_ACPI_END_GPA - RSDP_GPA);
    write_dsdt(mem + DSDT_GPA, mmio, mmio_count);
    write_fadt(mem + FADT_GPA);
    write_madt(mem + MADT_GPA, vcpus);

    uint8_t *x = mem + XSDT_GPA;
    uint32_t xlen = HEADER_LEN + 2 * 8;
    header(x, "XSDT", xlen, 1);
    put64(x + HEADER_LEN, FADT_GPA);
    put64(x + HEADER_LEN + 8, MADT_GPA);
    finish(x, xlen);

    uint8_t *r = mem + RSDP_GPA;
    memcpy(r, "RSD PTR ", 8);
    memcpy(r + 9, "KATAC ", 6);
    r[15] = 2;         /* revision: ACPI 2.0+ (XSDT) */
    put32(r + 20, 36); /* length */
    put64(r + 24, XSDT_GPA);
    r[8] = (uint8_t)(0 - vmm_acpi_sum(r, 20));
    r[32] = (uint8_t)(0 - vmm_acpi_sum(r, 36));
    return 0;
}
