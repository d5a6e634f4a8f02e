/* kata-runtime --version: the format users' scripts parse; keep it exactly. */
#include "runtime.h"

#include <stdio.h>

int cmd_version(int argc, char **argv)
{
    printf("kata-runtime  : %s\n   commit   : %s\n   OCI specs: %s\n", KATA_VERSION, KATA_COMMIT,
           OCI_SPEC_VERSION);
    return 0;
}
