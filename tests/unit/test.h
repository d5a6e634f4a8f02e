/* A minimal unit-test harness: each test is a function registered with TEST();
 * the binary prints TAP ("ok N - name" / "not ok N - name") and exits non-zero
 * when any test failed.  tests/run counts the TAP lines of every binary. */
#ifndef KATA_TEST_H
#define KATA_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct test_case {
    const char *name;
    void (*fn)(int *failed);
};

#define TEST_MAX 256
extern struct test_case test_cases[TEST_MAX];
extern int test_count;

#define TEST(name)                                                                                 \
    static void test_##name(int *failed);                                                          \
    __attribute__((constructor)) static void register_##name(void)                                 \
    {                                                                                              \
        if (test_count < TEST_MAX)                                                                 \
            test_cases[test_count++] = (struct test_case){#name, test_##name};                     \
    }                                                                                              \
    static void test_##name(int *failed)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("#   %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                    \
            *failed = 1;                                                                           \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_INT(a, b)                                                                            \
    do {                                                                                           \
        long long _a = (long long)(a), _b = (long long)(b);                                        \
        if (_a != _b) {                                                                            \
            printf("#   %s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, #a, _a, #b, \
                   _b);                                                                            \
            *failed = 1;                                                                           \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *_a = (a), *_b = (b);                                                           \
        if (_a == NULL || _b == NULL || strcmp(_a, _b) != 0) {                                     \
            printf("#   %s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a,           \
                   _a ? _a : "(null)", _b ? _b : "(null)");                                        \
            *failed = 1;                                                                           \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* Skip the rest of a test that needs what this host lacks: TAP "ok N - name
 * # skip reason". */
#define SKIP(reason)                                                                               \
    do {                                                                                           \
        printf("#   skip: %s\n", (reason));                                                        \
        *failed = -1;                                                                              \
        return;                                                                                    \
    } while (0)

/* Substring check, for error messages. */
#define CHECK_CONTAINS(hay, needle)                                                                \
    do {                                                                                           \
        const char *_h = (hay), *_n = (needle);                                                    \
        if (_h == NULL || strstr(_h, _n) == NULL) {                                                \
            printf("#   %s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,              \
                   _h ? _h : "(null)", _n);                                                        \
            *failed = 1;                                                                           \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#endif
