/* Helpers shared by the nn tests: deterministic inputs that Python can rebuild exactly, and
 * copying values into a module's parameters. */
#ifndef BORN_TESTS_NN_UTIL_H
#define BORN_TESTS_NN_UTIL_H

#include "test.h"

/* sin(a i + b) * s for i = 0, 1, ... in row-major order, computed in f64 then converted to dtype.
 * Python twin: (torch.sin(a * torch.arange(n, dtype=torch.float64) + b) * s).reshape(shape). */
static inline born_tensor *nn_pattern(born_dtype dtype, int ndim, const int64_t *shape, double a,
                                      double b, double s) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    double v[4096];
    if (n > 4096) return NULL;
    for (int64_t i = 0; i < n; i++) v[i] = sin(a * (double)i + b) * s;
    return tensor_of(dtype, ndim, shape, v);
}

#define PAT(a, b, s, ...) nn_pattern(BORN_F32, BORN_DIMS(__VA_ARGS__), (a), (b), (s))
#define PAT64(a, b, s, ...) nn_pattern(BORN_F64, BORN_DIMS(__VA_ARGS__), (a), (b), (s))

/* Copies v into the parameter or buffer at path (outside the graph). */
static inline void nn_set(born_module *m, const char *path, born_tensor *v) {
    born_tensor *t = born_module_get_parameter(m, path);
    if (!t) {
        born_clear_error();
        t = born_module_get_buffer(m, path);
    }
    born_no_grad_begin();
    born_status st = t ? born_copy_(t, v) : born_last_status();
    born_no_grad_end();
    if (st != BORN_OK) {
        test_fail(__FILE__, __LINE__, "nn_set %s: %s", path, born_last_error());
        born_clear_error();
    }
}

#define N_OF(a) ((int64_t)(sizeof(a) / sizeof((a)[0])))

#endif
