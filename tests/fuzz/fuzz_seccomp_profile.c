/* libFuzzer target: arbitrary bytes as a LinuxSeccomp profile, compiled the
 * way CreateContainer does before cloning (oci_seccomp_prepare: names,
 * actions, operators, architectures and flags looked up, libseccomp rules
 * added, BPF exported).  It must succeed or fail with a message; nothing is
 * loaded into the fuzzer itself. */
#include "oci_security.h"
#include "util.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Grpc__LinuxSeccomp *profile = grpc__linux_seccomp__unpack(NULL, size, data);
    if (profile == NULL)
        return 0;
    Grpc__Linux linux_ = GRPC__LINUX__INIT;
    linux_.seccomp = profile;
    struct kerr *err = NULL;
    if (oci_seccomp_prepare(&linux_, &err) < 0 && (err == NULL || err->msg == NULL))
        abort();
    kerr_free(err);
    grpc__linux_seccomp__free_unpacked(profile, NULL);
    return 0;
}
