/* kata-manager: list and switch the configured hypervisor (configuration
 * issue); until then it says so. */
#include <stdio.h>

int main(void)
{
    fprintf(stderr, "kata-manager: not implemented yet (configuration issue)\n");
    return 1;
}
