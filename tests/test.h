/* A minimal test harness: each tests/test_*.c is one program of TEST functions. It prints one
 * line per failed check and ends with "N passed, N failed". */
#ifndef NN_TEST_H
#define NN_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int test_failures_;
static int test_current_failed_;

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            printf("  FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                          \
            test_current_failed_ = 1;                                                        \
        }                                                                                    \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                \
    do {                                                                                     \
        double a_ = (a), b_ = (b);                                                           \
        if (!(fabs(a_ - b_) <= (tol))) {                                                     \
            printf("  FAIL %s:%d: %s = %.9g, %s = %.9g (tol %g)\n", __FILE__, __LINE__, #a, a_, \
                   #b, b_, (double)(tol));                                                   \
            test_current_failed_ = 1;                                                        \
        }                                                                                    \
    } while (0)

/* Checks that `haystack` contains `needle` (for error messages). */
#define CHECK_CONTAINS(haystack, needle)                                                     \
    do {                                                                                     \
        const char *h_ = (haystack);                                                         \
        if (!h_ || !strstr(h_, (needle))) {                                                  \
            printf("  FAIL %s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,     \
                   h_ ? h_ : "(null)", (needle));                                            \
            test_current_failed_ = 1;                                                        \
        }                                                                                    \
    } while (0)

typedef struct test_case_ { const char *name; void (*fn)(void); } test_case_;

#define TEST(name) static void name(void)

/* In main: RUN_TESTS(test_a, test_b, ...) */
#define RUN_TESTS(...)                                                                       \
    do {                                                                                     \
        void (*fns_[])(void) = { __VA_ARGS__ };                                              \
        const char *names_ = #__VA_ARGS__;                                                   \
        int passed_ = 0;                                                                     \
        for (size_t i_ = 0; i_ < sizeof(fns_) / sizeof(fns_[0]); i_++) {                     \
            char name_[128];                                                                 \
            size_t n_ = strcspn(names_, ",");                                                \
            snprintf(name_, sizeof(name_), "%.*s", (int)n_, names_);                         \
            names_ += n_ + (names_[n_] ? 1 : 0);                                             \
            while (*names_ == ' ' || *names_ == '\n') names_++;                              \
            test_current_failed_ = 0;                                                        \
            fns_[i_]();                                                                      \
            if (test_current_failed_) {                                                      \
                test_failures_++;                                                            \
                printf("FAIL %s\n", name_);                                                  \
            } else {                                                                         \
                passed_++;                                                                   \
            }                                                                                \
        }                                                                                    \
        printf("%s: %d passed, %d failed\n", __FILE__, passed_, test_failures_);             \
        return test_failures_ ? 1 : 0;                                                       \
    } while (0)

#endif
