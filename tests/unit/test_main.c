#include "test.h"

#include <signal.h>

struct test_case test_cases[TEST_MAX];
int test_count;

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    int failures = 0, n = 0;

    signal(SIGPIPE, SIG_IGN);
    printf("TAP version 13\n");
    for (int i = 0; i < test_count; i++) {
        if (only && strcmp(only, test_cases[i].name) != 0)
            continue;
        int failed = 0;
        fflush(stdout);
        test_cases[i].fn(&failed);
        n++;
        if (failed < 0)
            printf("ok %d - %s # skip\n", n, test_cases[i].name);
        else
            printf("%sok %d - %s\n", failed ? "not " : "", n, test_cases[i].name);
        fflush(stdout);
        failures += failed > 0;
    }
    printf("1..%d\n", n);
    return failures ? 1 : 0;
}
