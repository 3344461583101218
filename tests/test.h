/* A small test framework: TEST(name) { ... } registers a test; CHECK and friends record failures
 * and keep going; the runner prints one "N passed, N failed" line. */
#ifndef BORN_TEST_H
#define BORN_TEST_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "born/born.h"

typedef void (*test_fn)(void);
void test_register(const char *name, const char *file, test_fn fn);
void test_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
bool test_failed(void);
/* Fails the running test and ends the run at once, with the counts so far as the last line: for
 * a state no later test could run in (a thread pool job that never finishes holds the pool). */
void test_fail_fatal(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

#define TEST(name)                                                                                \
    static void test_##name(void);                                                                \
    __attribute__((constructor)) static void register_##name(void) {                              \
        test_register(#name, __FILE__, test_##name);                                              \
    }                                                                                             \
    static void test_##name(void)

#define CHECK(cond)                                                                               \
    do {                                                                                          \
        if (!(cond)) test_fail(__FILE__, __LINE__, "CHECK(%s) failed", #cond);                    \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                      \
    do {                                                                                          \
        if (!(cond)) test_fail(__FILE__, __LINE__, __VA_ARGS__);                                  \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                        \
    do {                                                                                          \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                     \
        if (va_ != vb_) test_fail(__FILE__, __LINE__, "%s == %s failed: %lld vs %lld", #a, #b, va_, vb_); \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                     \
    do {                                                                                          \
        double va_ = (double)(a), vb_ = (double)(b);                                              \
        if (!(fabs(va_ - vb_) <= (tol)))                                                          \
            test_fail(__FILE__, __LINE__, "%s ~= %s failed: %.17g vs %.17g (tol %g)", #a, #b, va_, vb_, (double)(tol)); \
    } while (0)

/* Fails (with born_last_error) when the tensor is NULL, and clears the error. */
#define CHECK_OK_TENSOR(t)                                                                        \
    do {                                                                                          \
        if (!(t)) {                                                                               \
            test_fail(__FILE__, __LINE__, "%s is NULL: %s", #t, born_last_error());              \
            born_clear_error();                                                                   \
        }                                                                                         \
    } while (0)

#define CHECK_OK(status)                                                                          \
    do {                                                                                          \
        born_status st_ = (status);                                                               \
        if (st_ != BORN_OK) {                                                                     \
            test_fail(__FILE__, __LINE__, "%s failed: %s", #status, born_last_error());          \
            born_clear_error();                                                                   \
        }                                                                                         \
    } while (0)

/* Checks that an error with the given status was recorded and its message contains `needle`,
 * then clears it. */
#define CHECK_ERROR(status, needle) check_error_impl(__FILE__, __LINE__, (status), (needle))
void check_error_impl(const char *file, int line, born_status status, const char *needle);

/* Compares every element of t (any dtype, read as double) with `expected` (row-major): each
 * must satisfy |t - e| <= atol + rtol |e| (NaN matches NaN). */
#define CHECK_TENSOR_NEAR(t, expected, n, rtol, atol)                                             \
    check_tensor_near_impl(__FILE__, __LINE__, #t, (t), (expected), (n), (rtol), (atol))
void check_tensor_near_impl(const char *file, int line, const char *name, born_tensor *t,
                            const double *expected, int64_t n, double rtol, double atol);

/* Checks that t has the given shape. */
#define CHECK_SHAPE(t, ...) check_shape_impl(__FILE__, __LINE__, #t, (t), BORN_DIMS(__VA_ARGS__))
void check_shape_impl(const char *file, int line, const char *name, born_tensor *t, int ndim,
                      const int64_t *shape);

/* A tensor of dtype with the given values (row-major, as doubles): tensor_of(BORN_F32,
 * BORN_DIMS(2, 2), (double[]){1, 2, 3, 4}). Owned by the current scope. */
born_tensor *tensor_of(born_dtype dtype, int ndim, const int64_t *shape, const double *values);

/* Reads t's elements row-major as doubles into out (n entries); returns false on mismatch. */
bool test_read(born_tensor *t, double *out, int64_t n);

/* Whether a and b (CPU tensors of one dtype, any layout) hold the same elements to the bit,
 * row-major; false when either is NULL or their sizes or dtypes differ. */
bool test_same_bits(born_tensor *a, born_tensor *b);

#endif
