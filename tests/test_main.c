/* The test runner: runs every registered test (or those whose name contains argv[1]) and prints
 * one line "N passed, N failed" at the end. Each test runs inside a scope, and the library's
 * error state is cleared between tests. BORN_TEST_VERBOSE=1 names each test on stderr as it
 * starts (with its time when it ends), to find one that hangs. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

typedef struct test_case {
    const char *name, *file;
    test_fn fn;
} test_case;

static test_case *tests;
static int ntests, cap;
static bool current_failed;
static int failures_in_current;
static int passed, failed;
static const test_case *current;

void test_register(const char *name, const char *file, test_fn fn) {
    if (ntests == cap) {
        cap = cap ? cap * 2 : 256;
        tests = realloc(tests, (size_t)cap * sizeof *tests);
        if (!tests) abort();
    }
    tests[ntests++] = (test_case){name, file, fn};
}

/* One failure's line on stderr: where, then the message. */
static void report(const char *file, int line, const char *fmt, va_list ap) {
    fprintf(stderr, "  %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void test_fail(const char *file, int line, const char *fmt, ...) {
    current_failed = true;
    if (++failures_in_current > 20) return; /* keep the log readable */
    va_list ap;
    va_start(ap, fmt);
    report(file, line, fmt, ap);
    va_end(ap);
}

bool test_failed(void) { return current_failed; }

void test_fail_fatal(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    report(file, line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "FAIL %s (%s)\nstopped: the tests after it were not run\n",
            current ? current->name : "?", current ? current->file : "?");
    fflush(stderr);
    printf("%d passed, %d failed\n", passed, failed + 1);
    fflush(stdout);
    _exit(1); /* no exit handlers: the state this leaves (a stuck thread) cannot be torn down */
}

void check_error_impl(const char *file, int line, born_status status, const char *needle) {
    if (born_last_status() != status) {
        test_fail(file, line, "expected status %s, got %s (\"%s\")", born_status_name(status),
                  born_status_name(born_last_status()), born_last_error());
    } else if (needle && !strstr(born_last_error(), needle)) {
        test_fail(file, line, "error \"%s\" does not mention \"%s\"", born_last_error(), needle);
    }
    born_clear_error();
}

born_tensor *tensor_of(born_dtype dtype, int ndim, const int64_t *shape, const double *values) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    born_tensor *t64 = born_from_data(BORN_F64, ndim, shape, values, (size_t)n * sizeof(double));
    if (!t64 || dtype == BORN_F64) return t64;
    born_tensor *t = born_to_dtype(t64, dtype);
    born_free(t64);
    return t;
}

bool test_same_bits(born_tensor *a, born_tensor *b) {
    if (!a || !b || born_tensor_numel(a) != born_tensor_numel(b) ||
        born_tensor_dtype(a) != born_tensor_dtype(b))
        return false;
    size_t n = (size_t)born_tensor_numel(a) * born_dtype_size(born_tensor_dtype(a));
    char *pa = malloc(n ? n : 1), *pb = malloc(n ? n : 1);
    bool same = pa && pb && born_copy_to_buffer(a, pa, n) == BORN_OK &&
                born_copy_to_buffer(b, pb, n) == BORN_OK && memcmp(pa, pb, n) == 0;
    free(pa);
    free(pb);
    return same;
}

bool test_read(born_tensor *t, double *out, int64_t n) {
    if (!t || born_tensor_numel(t) != n) return false;
    born_scope_begin();
    born_tensor *c = born_to_dtype(born_contiguous(born_to(t, BORN_CPU)), BORN_F64);
    bool ok = c && born_copy_to_buffer(c, out, (size_t)n * sizeof(double)) == BORN_OK;
    born_scope_end();
    return ok;
}

void check_tensor_near_impl(const char *file, int line, const char *name, born_tensor *t,
                            const double *expected, int64_t n, double rtol, double atol) {
    if (!t) {
        test_fail(file, line, "%s is NULL: %s", name, born_last_error());
        born_clear_error();
        return;
    }
    if (born_tensor_numel(t) != n) {
        test_fail(file, line, "%s has %lld elements, expected %lld", name,
                  (long long)born_tensor_numel(t), (long long)n);
        return;
    }
    double *got = malloc((size_t)(n ? n : 1) * sizeof *got);
    if (!got || !test_read(t, got, n)) {
        test_fail(file, line, "%s: could not read values: %s", name, born_last_error());
        free(got);
        return;
    }
    int shown = 0;
    for (int64_t i = 0; i < n; i++) {
        double g = got[i], e = expected[i];
        bool ok = (isnan(g) && isnan(e)) || (g == e) || fabs(g - e) <= atol + rtol * fabs(e);
        if (!ok && shown++ < 5)
            test_fail(file, line, "%s[%lld] = %.10g, expected %.10g", name, (long long)i, g, e);
    }
    free(got);
}

void check_shape_impl(const char *file, int line, const char *name, born_tensor *t, int ndim,
                      const int64_t *shape) {
    if (!t) {
        test_fail(file, line, "%s is NULL: %s", name, born_last_error());
        born_clear_error();
        return;
    }
    bool same = born_tensor_ndim(t) == ndim;
    for (int i = 0; same && i < ndim; i++) same = born_tensor_shape(t)[i] == shape[i];
    if (!same) {
        char d[200];
        test_fail(file, line, "%s is %s, expected %d dims", name, born_tensor_describe(t, d, sizeof d), ndim);
    }
}

static int by_file_then_name(const void *a, const void *b) {
    const test_case *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    return c ? c : strcmp(x->name, y->name);
}

int main(int argc, char **argv) {
    const char *filter = argc > 1 ? argv[1] : NULL;
    qsort(tests, (size_t)ntests, sizeof *tests, by_file_then_name);
    const char *verbose_env = getenv("BORN_TEST_VERBOSE");
    bool verbose = verbose_env && strcmp(verbose_env, "0") != 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < ntests; i++) {
        if (filter && !strstr(tests[i].name, filter) && !strstr(tests[i].file, filter)) continue;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        if (verbose) fprintf(stderr, "[ run ] %s (%s)\n", tests[i].name, tests[i].file);
        current = &tests[i];
        current_failed = false;
        failures_in_current = 0;
        born_clear_error();
        born_scope_begin();
        tests[i].fn();
        born_scope_end();
        while (born_scope_depth() > 0) { /* a test left scopes open */
            test_fail(tests[i].file, 0, "test left a scope open");
            born_scope_end();
        }
        if (born_is_grad_enabled() == false) {
            test_fail(tests[i].file, 0, "test left grad mode off");
            while (!born_is_grad_enabled()) born_no_grad_end();
        }
        if (verbose) {
            struct timespec te;
            clock_gettime(CLOCK_MONOTONIC, &te);
            fprintf(stderr, "[ %.2f s ] %s\n",
                    (double)(te.tv_sec - ts.tv_sec) + 1e-9 * (double)(te.tv_nsec - ts.tv_nsec),
                    tests[i].name);
        }
        if (current_failed) {
            fprintf(stderr, "FAIL %s (%s)\n", tests[i].name, tests[i].file);
            failed++;
        } else {
            passed++;
        }
    }
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    fprintf(stderr, "(%.1f s)\n", secs);
    printf("%d passed, %d failed\n", passed, failed);
    free(tests);
    return failed ? 1 : 0;
}
