/* A container process's standard streams as the agent holds them: the agent's
 * ends of the stdin/stdout/stderr pipes (or the pty master), output buffered
 * within a bound, and the deferred ReadStdout/ReadStderr/WriteStdin calls
 * waiting on them.
 *
 * Output: the agent reads a pipe while its buffer holds less than
 * STDIO_BUFFER_MAX bytes; when the buffer is full it stops reading (the
 * writer blocks: back-pressure, nothing is dropped).  A read call takes up to
 * its len bytes; with nothing buffered it waits; at end of stream it gets an
 * empty answer (EOF).
 * Input: a write call is answered once all its bytes went into the pipe
 * (waiting while the pipe is full); CloseStdin closes the pipe after the
 * writes already queued. */
#ifndef KATA_AGENT_STDIO_STREAMS_H
#define KATA_AGENT_STDIO_STREAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "loop.h"
#include "ttrpc.h"

#define STDIO_BUFFER_MAX  (4u << 20) /* per output stream */
#define STDIO_READ_MAX    (2u << 20) /* most bytes one ReadStdout answers */
#define STDIO_PENDING_MAX 64         /* queued calls per stream */

struct stdio_out;
struct stdio_in;

/* The streams take fd (made non-blocking).  on_eof runs once, when the
 * stream has reached end of file (every byte is in the buffer). */
struct stdio_out *stdio_out_new(struct loop *loop, int fd, void (*on_eof)(void *data), void *data,
                                struct kerr **err);
/* Answers pending reads with EOF, closes the fd. */
void stdio_out_free(struct stdio_out *out);
bool stdio_out_eof(const struct stdio_out *out);
size_t stdio_out_buffered(const struct stdio_out *out);
/* Read what the pipe holds right now (until EAGAIN or a full buffer).
 * Returns true when the pipe had nothing more to give (EAGAIN or EOF). */
bool stdio_out_drain(struct stdio_out *out);
/* A ReadStdout/ReadStderr call: answered now or when data or EOF arrive. */
void stdio_out_read(struct stdio_out *out, struct ttrpc_call *call, uint32_t len);

struct stdio_in *stdio_in_new(struct loop *loop, int fd, struct kerr **err);
void stdio_in_free(struct stdio_in *in);
void stdio_in_write(struct stdio_in *in, struct ttrpc_call *call, const uint8_t *data, size_t len);
/* Close once the queued writes are done. */
void stdio_in_close(struct stdio_in *in);

/* The window size of a pty (the master is opened by the container's process
 * itself, from its own devpts instance: process.c). */
int stdio_pty_resize(int master, uint16_t rows, uint16_t cols, struct kerr **err);

#endif
