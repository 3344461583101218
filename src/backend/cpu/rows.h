/* Internal: walking the 1-D "rows" of a strided tensor along one dimension. Kernels that work
 * along a dim (softmax, cumsum, argmax, sort) visit every combination of the other dims and get
 * a pointer to the row's first element plus the row's stride. */
#ifndef BORN_CPU_ROWS_H
#define BORN_CPU_ROWS_H

#include "backend/backend.h"

/* The number of rows along dim (the product of the other sizes). */
static inline int64_t rows_count(const born_strided *t, int dim) {
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        if (d != dim) n *= t->shape[d];
    return n;
}

/* The element offset (in elements) of row r's first element. Rows are numbered row-major over
 * the dims other than dim; r must be below rows_count. */
static inline int64_t rows_offset(const born_strided *t, int dim, int64_t r) {
    int64_t off = 0;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (d == dim) continue;
        off += (r % t->shape[d]) * t->strides[d];
        r /= t->shape[d];
    }
    return off;
}

/* Rows per chunk (born_parallel_for's grain) for a kernel that works row by row over rows rows of
 * n elements: enough rows for about 32768 elements, so that a chunk of long rows can prefetch
 * each next row while it computes the current one and a kernel that streams its output fences
 * once per chunk, not per row; but no more than rows / 64, so that short jobs still split over
 * the threads. Rows are independent in the kernels that use it, so the grain sets no bits. */
static inline int64_t rows_grain(int64_t rows, int64_t n) {
    int64_t g = n > 0 ? (32768 + n - 1) / n : 32768, cap = rows / 64;
    if (cap < 1) cap = 1;
    return g < cap ? g : cap;
}

#endif
