/* Test helper for the packed GEMM entries (src/backend/cpu/gemm.h): a plain row-major matrix
 * (rows rs floats apart) and the pack-B callback that reads B from one. */
#ifndef BORN_TESTS_GEMM_PACK_UTIL_H
#define BORN_TESTS_GEMM_PACK_UTIL_H

#include <stdint.h>

#include "backend/cpu/gemm.h"

typedef struct plain_mat {
    const float *p;
    int64_t rs;
} plain_mat;

/* cpu_gemm_f32_packed's B callback for a row-major [k][n] B (ctx: a plain_mat). */
static inline void pack_b_plain(void *ctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc, float *dst) {
    const plain_mat *b = ctx;
    cpu_gemm_f32_pack_b(kc, nc, b->p + p0 * b->rs + j0, b->rs, 1, dst);
}

#endif
