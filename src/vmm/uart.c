/* 16450 UART model (registers as in the National PC16550D data sheet; no FIFO,
 * so Linux identifies a 16450 and writes one byte per THR-empty interrupt). */
#include "uart.h"

#include <string.h>

enum {
    REG_RBR_THR_DLL = 0,
    REG_IER_DLM = 1,
    REG_IIR_FCR = 2,
    REG_LCR = 3,
    REG_MCR = 4,
    REG_LSR = 5,
    REG_MSR = 6,
    REG_SCR = 7,
};
#define LCR_DLAB        0x80
#define MCR_LOOP        0x10
#define IER_THRI        0x02
#define IIR_NO_INT      0x01
#define IIR_THRI        0x02
#define LSR_THRE_TEMT   0x60
#define MSR_DCD_DSR_CTS 0xb0

void uart_init(struct uart *u, void (*output)(void *ctx, const uint8_t *bytes, size_t len),
               void *ctx)
{
    memset(u, 0, sizeof(*u));
    u->output = output;
    u->ctx = ctx;
}

bool uart_irq_level(const struct uart *u)
{
    return (u->ier & IER_THRI) && u->thr_empty_pending;
}

/* In loopback the modem outputs come back as inputs: DTR->DSR, RTS->CTS,
 * OUT1->RI, OUT2->DCD (what the 8250 probe checks). */
static uint8_t msr(const struct uart *u)
{
    if (!(u->mcr & MCR_LOOP))
        return MSR_DCD_DSR_CTS;
    return (uint8_t)(((u->mcr & 0x01) << 5) | ((u->mcr & 0x02) << 3) | ((u->mcr & 0x04) << 4) |
                     ((u->mcr & 0x08) << 4));
}

uint8_t uart_read(struct uart *u, unsigned offset)
{
    bool dlab = u->lcr & LCR_DLAB;
    switch (offset) {
    case REG_RBR_THR_DLL:
        return dlab ? u->dll : 0; /* nothing is ever received */
    case REG_IER_DLM:
        return dlab ? u->dlm : u->ier;
    case REG_IIR_FCR:
        if (uart_irq_level(u)) {
            u->thr_empty_pending = false; /* reading IIR acknowledges THRI */
            return IIR_THRI;
        }
        return IIR_NO_INT;
    case REG_LCR:
        return u->lcr;
    case REG_MCR:
        return u->mcr;
    case REG_LSR:
        return LSR_THRE_TEMT; /* transmitter always empty: bytes leave at once */
    case REG_MSR:
        return msr(u);
    case REG_SCR:
        return u->scr;
    default:
        return 0xff;
    }
}

void uart_write(struct uart *u, unsigned offset, uint8_t value)
{
    bool dlab = u->lcr & LCR_DLAB;
    switch (offset) {
    case REG_RBR_THR_DLL:
        if (dlab) {
            u->dll = value;
        } else {
            if (!(u->mcr & MCR_LOOP) && u->output)
                u->output(u->ctx, &value, 1);
            u->thr_empty_pending = true;
        }
        break;
    case REG_IER_DLM:
        if (dlab) {
            u->dlm = value;
        } else {
            /* Enabling THRI with the THR empty raises the interrupt at once. */
            if ((value & IER_THRI) && !(u->ier & IER_THRI))
                u->thr_empty_pending = true;
            u->ier = value & 0x0f;
        }
        break;
    case REG_LCR:
        u->lcr = value;
        break;
    case REG_MCR:
        u->mcr = value & 0x1f;
        break;
    case REG_SCR:
        u->scr = value;
        break;
    default: /* FCR (no FIFO), LSR and MSR are read-only here */
        break;
    }
}
