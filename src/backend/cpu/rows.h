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

#endif
