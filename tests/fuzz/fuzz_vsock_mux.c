/* libFuzzer target: arbitrary packets from a guest into the hybrid vsock
 * muxer, each followed by draining what the muxer has for the guest.  Input:
 * records of a 16-bit length and that many bytes (a packet).  Packets the
 * muxer produces must be well-formed: host CID to the guest's, a stream
 * header whose length matches.  A host listener on port 5000 accepts the
 * guest's connections there, so data paths run too. */
#include "channel.h"
#include "loop.h"
#include "util.h"
#include "vsock_mux.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GUEST_CID 3u

static struct loop *loop;
static struct vsock_mux *mux;
static int listener = -1;
static uint8_t out[VSOCK_HEADER_SIZE + 4096];
static char dir[] = "/tmp/fuzz-vsock-mux.XXXXXX";
static char *port_path;

/* Leave nothing in /tmp when libFuzzer exits. */
static void teardown(void)
{
    vsock_mux_free(mux);
    if (listener >= 0)
        close(listener);
    unlink(port_path);
    rmdir(dir);
}

static void setup(void)
{
    if (mkdtemp(dir) == NULL)
        abort();
    cleanup_free char *path = xasprintf("%s/v.sock", dir);
    port_path = xasprintf("%s_5000", path);
    loop = loop_new(NULL);
    mux = vsock_mux_new(loop, path, GUEST_CID, NULL, NULL, NULL);
    listener = unix_listen(port_path, NULL);
    if (loop == NULL || mux == NULL || listener < 0)
        abort();
    atexit(teardown);
}

static void drain(void)
{
    for (int i = 0; i < 16; i++) {
        size_t n = vsock_mux_to_guest(mux, out, sizeof(out));
        if (n == 0)
            return;
        struct vsock_header h;
        memcpy(&h, out, sizeof(h));
        if (n < VSOCK_HEADER_SIZE || h.len != n - VSOCK_HEADER_SIZE ||
            h.src_cid != VSOCK_HOST_CID || h.dst_cid != GUEST_CID || h.type != VSOCK_TYPE_STREAM)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (mux == NULL)
        setup();
    size_t at = 0;
    while (at + 2 <= size) {
        size_t len = (size_t)data[at] | (size_t)data[at + 1] << 8;
        at += 2;
        if (len > size - at)
            len = size - at;
        vsock_mux_from_guest(mux, data + at, len);
        at += len;
        drain();
        loop_run_once(loop, 0, NULL);
    }
    vsock_mux_reset(mux);
    return 0;
}
