/* containerd-shim-kata-v2: the containerd shim v2 and per-pod sandbox daemon.
 * Built from the runtime and containerd issues; until then it says so. */
#include <stdio.h>

int main(void)
{
    fprintf(stderr, "containerd-shim-kata-v2: not implemented yet (runtime and containerd "
                    "issues)\n");
    return 1;
}
