/* virtio-console (virtio 1.x §5.3): one port (no MULTIPORT), the guest's
 * hvc0.  What the guest writes on the transmitq goes to an output callback
 * (kata-vmm's console sink, the one COM1 writes to); the receiveq is filled
 * from a host fd when there is one (kata-vmm's stdin when it is a terminal
 * or a pipe), else the console is output-only.  The device thread reads the
 * input fd only while the guest has receive buffers, and never blocks on it:
 * the fd is non-blocking and watched by the device thread's loop. */
#ifndef KATA_VMM_VIRTIO_CONSOLE_H
#define KATA_VMM_VIRTIO_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "loop.h"
#include "virtio_mmio.h"

typedef void (*virtio_console_output)(void *ctx, const uint8_t *bytes, size_t len);

/* An fd of our own, non-blocking and close-on-exec, reading the same
 * terminal or pipe as fd (reopened through /proc/self/fd, so fd's own flags,
 * shared with whoever else holds it, stay as they are).  Returns -1 without
 * an error when fd is neither a terminal nor a pipe (/dev/null, a file,
 * closed): the console is then output-only; -1 with err when the reopen
 * fails. */
int virtio_console_input_open(int fd, struct kerr **err);

/* input_fd (non-blocking, or -1: none) becomes the device's: it is closed
 * when the device is freed or the input ends (EOF, a hangup, a read error). */
void virtio_console_init(struct virtio_mmio *dev, struct loop *loop, int input_fd,
                         virtio_console_output output, void *output_ctx,
                         const struct guest_memory *mem, uint64_t base, unsigned irq);

#endif
