/* The strided description of an f32 matrix for the CPU kernel tests: `rows` rows of n elements,
 * contiguous (f32_view) or every step-th element (f32_view_step, rows n * step apart). */
#ifndef BORN_TESTS_F32_VIEW_H
#define BORN_TESTS_F32_VIEW_H

#include <string.h>

#include "backend/backend.h"

static inline born_strided f32_view_step(float *data, int64_t rows, int64_t n, int64_t step) {
    born_strided v;
    memset(&v, 0, sizeof v);
    v.data = data;
    v.dtype = BORN_F32;
    v.ndim = 2;
    v.shape[0] = rows;
    v.shape[1] = n;
    v.strides[0] = n * step;
    v.strides[1] = step;
    return v;
}

static inline born_strided f32_view(float *data, int64_t rows, int64_t n) {
    return f32_view_step(data, rows, n, 1);
}

#endif
