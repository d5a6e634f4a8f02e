/* A 16450-style UART at the legacy COM1 ports (0x3f8-0x3ff, IRQ 4): enough for
 * Linux's 8250 driver to probe it (scratch, IER and loopback tests), print the
 * console by polling, and drive tty output with THR-empty interrupts.
 * Transmitted bytes go to a callback at once; nothing is ever received. */
#ifndef KATA_VMM_UART_H
#define KATA_VMM_UART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UART_COM1_BASE 0x3f8
#define UART_COM1_IRQ  4

struct uart {
    uint8_t ier, lcr, mcr, scr, dll, dlm;
    bool thr_empty_pending; /* THR-empty interrupt not yet acknowledged */
    void (*output)(void *ctx, const uint8_t *bytes, size_t len);
    void *ctx;
};

void uart_init(struct uart *u, void (*output)(void *ctx, const uint8_t *bytes, size_t len),
               void *ctx);
/* Register access at offset 0-7 from the base port. */
uint8_t uart_read(struct uart *u, unsigned offset);
void uart_write(struct uart *u, unsigned offset, uint8_t value);
/* The level of the UART's interrupt line after the last access. */
bool uart_irq_level(const struct uart *u);

#endif
