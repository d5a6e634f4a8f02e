/* libFuzzer target: arbitrary bytes as a LinuxResources message; its device
 * rules must either be refused with a message or compile to a program the
 * kernel's BPF verifier accepts (needs root, as the agent has).  Jump
 * offsets and unreachable code are what the verifier checks here. */
#include "cgroup_internal.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Grpc__LinuxResources *res = grpc__linux_resources__unpack(NULL, size, data);
    if (res == NULL)
        return 0;
    if (res->n_devices > 0 && res->n_devices <= 256) {
        struct kerr *err = NULL;
        int fd = cgroup_device_program_load(res->devices, res->n_devices, &err);
        if (fd >= 0) {
            close(fd);
        } else if (err == NULL || err->msg == NULL) {
            abort();
        } else if (strstr(err->msg, "device rule") == NULL) {
            /* Only rule parsing may refuse: a program we built must verify. */
            fprintf(stderr, "%s\n", err->msg);
            abort();
        }
        kerr_free(err);
    }
    grpc__linux_resources__free_unpacked(res, NULL);
    return 0;
}
