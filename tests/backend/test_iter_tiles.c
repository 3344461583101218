/* The elementwise engine's tiles (iter.c, run_tiles): operands laid out across each other (a
 * transposed or permuted view) are walked in tiles of 256 elements along the last dimension by a
 * cache line's worth along the other. Copies, conversions, a binary op with one transposed
 * operand and a unary op on a permuted view give every element, at tile edges too (sizes no
 * multiple of the tile, a tiled dimension that is not next to the last), the value the index
 * arithmetic says, at one and at three threads. */
#include <string.h>

#include "test.h"

/* A [n0, n1, n2] f64 tensor whose element (i, j, k) is i * 1e6 + j * 1e3 + k (exact in every
 * dtype used below up to 2048). */
static born_tensor *indexed(int64_t n0, int64_t n1, int64_t n2) {
    born_tensor *t = born_empty(BORN_F64, BORN_DIMS(n0, n1, n2));
    double *d = born_data_ptr(t);
    for (int64_t i = 0; i < n0; i++)
        for (int64_t j = 0; j < n1; j++)
            for (int64_t k = 0; k < n2; k++)
                d[(i * n1 + j) * n2 + k] = (double)(i * 1000000 + j * 1000 + k);
    return t;
}

/* Whether out (contiguous, f64 after conversion) holds src's values permuted by perm: out's
 * element (a, b, c) is src's element with index[perm[0]] = a, index[perm[1]] = b, ... */
static bool permuted_ok(born_tensor *out, const int64_t src_shape[3], const int64_t perm[3],
                        double scale, double shift) {
    born_tensor *o = born_to_dtype(born_contiguous(out), BORN_F64);
    const double *d = born_data_ptr(o);
    const int64_t *os = born_tensor_shape(o);
    for (int64_t a = 0; a < os[0]; a++)
        for (int64_t b = 0; b < os[1]; b++)
            for (int64_t c = 0; c < os[2]; c++) {
                int64_t idx[3];
                idx[perm[0]] = a, idx[perm[1]] = b, idx[perm[2]] = c;
                double want = (double)(idx[0] * 1000000 + idx[1] * 1000 + idx[2]) * scale + shift;
                double got = d[(a * os[1] + b) * os[2] + c];
                if (got != want) {
                    test_fail(
                        __FILE__, __LINE__,
                        "[%lld, %lld, %lld] of a permuted [%lld, %lld, %lld]: %.17g, want %.17g",
                        (long long)a, (long long)b, (long long)c, (long long)src_shape[0],
                        (long long)src_shape[1], (long long)src_shape[2], got, want);
                    return false;
                }
            }
    return true;
}

static void tiled_cases(void) {
    static const int64_t shapes[][3] = {{1, 70, 130}, {1, 64, 64},  {3, 65, 200}, {2, 129, 7},
                                        {5, 3, 300},  {1, 300, 70}, {2, 520, 33}};
    static const int64_t perms[][3] = {{0, 2, 1}, {2, 1, 0}, {1, 2, 0}, {2, 0, 1}};
    static const born_dtype dtypes[] = {BORN_F32, BORN_F64, BORN_I64, BORN_I32};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        born_scope_begin();
        born_tensor *src = indexed(shapes[s][0], shapes[s][1], shapes[s][2]);
        for (size_t p = 0; p < sizeof perms / sizeof perms[0]; p++)
            for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
                born_tensor *x = born_to_dtype(src, dtypes[d]);
                born_tensor *v = born_permute(x, 3, perms[p]);
                /* a copy, a conversion, a binary op and a unary op of the crossed view */
                if (!permuted_ok(born_contiguous(v), shapes[s], perms[p], 1, 0)) goto failed;
                if (!permuted_ok(born_to_dtype(v, BORN_F64), shapes[s], perms[p], 1, 0))
                    goto failed;
                born_tensor *ones = born_ones(dtypes[d], born_tensor_ndim(v), born_tensor_shape(v));
                if (!permuted_ok(born_add(ones, v), shapes[s], perms[p], 1, 1)) goto failed;
                if (dtypes[d] == BORN_F64 &&
                    !permuted_ok(born_sqrt(born_mul(v, v)), shapes[s], perms[p], 1, 0))
                    goto failed;
            }
        /* into a crossed output: copy a contiguous tensor into a transposed view */
        born_tensor *dst =
            born_zeros(BORN_F32, BORN_DIMS(shapes[s][0], shapes[s][2], shapes[s][1]));
        born_tensor *view = born_transpose(dst, 1, 2);
        CHECK_OK(born_copy_(view, born_to_dtype(src, BORN_F32)));
        static const int64_t swap12[3] = {0, 2, 1};
        if (!permuted_ok(dst, shapes[s], swap12, 1, 0)) goto failed;
        /* operands permuted alike: walked in their memory order (one run), converted */
        born_tensor *same =
            born_zeros(BORN_F32, BORN_DIMS(shapes[s][0], shapes[s][1], shapes[s][2]));
        CHECK_OK(born_copy_(born_transpose(same, 1, 2), born_transpose(src, 1, 2)));
        static const int64_t identity[3] = {0, 1, 2};
        if (!permuted_ok(same, shapes[s], identity, 1, 0)) goto failed;
        born_scope_end();
        continue;
    failed:
        born_scope_end();
        return;
    }
}

TEST(iter_tiles_give_every_element_of_crossed_views) {
    int saved = born_get_num_threads();
    for (int threads = 1; threads <= 3; threads += 2) {
        CHECK_OK(born_set_num_threads(threads));
        tiled_cases();
    }
    CHECK_OK(born_set_num_threads(saved));
}

/* Half precision: 2-byte elements strided by whole rows, f16 and bf16 to f32 and back. */
TEST(iter_tiles_convert_transposed_halves) {
    born_tensor *small = born_empty(BORN_F32, BORN_DIMS(100, 90));
    float *fs = born_data_ptr(small);
    for (int64_t i = 0; i < 100 * 90; i++)
        fs[i] = (float)(i % 256); /* exact in f16 and bf16 */
    const born_dtype halves[2] = {BORN_F16, BORN_BF16};
    for (int h = 0; h < 2; h++) {
        born_tensor *x = born_to_dtype(small, halves[h]);
        born_tensor *t = born_to_dtype(born_transpose(x, 0, 1), BORN_F32);
        born_tensor *back = born_to_dtype(born_transpose(small, 0, 1), halves[h]);
        born_tensor *bc = born_to_dtype(back, BORN_F32);
        CHECK_OK_TENSOR(t);
        CHECK_OK_TENSOR(bc);
        if (!t || !bc) return;
        const float *ft = born_data_ptr(t), *fb = born_data_ptr(bc);
        bool ok = true;
        for (int64_t i = 0; i < 90 && ok; i++)
            for (int64_t j = 0; j < 100 && ok; j++)
                ok = ft[i * 100 + j] == fs[j * 90 + i] && fb[i * 100 + j] == fs[j * 90 + i];
        CHECK_MSG(ok, "%s: a transposed conversion moved an element", h ? "bf16" : "f16");
    }
}

/* 16-bit copies of crossed views (8 x 8 register transposes at AVX2): out of a transposed view
 * and into one, every element where the index says, at tile and block edges. */
TEST(iter_tiles_copy_transposed_16_bit_elements) {
    static const int64_t shapes[][2] = {{70, 130}, {64, 64}, {300, 70}, {9, 1000}, {257, 17}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t r = shapes[s][0], c = shapes[s][1];
        born_tensor *x = born_empty(BORN_I16, BORN_DIMS(r, c));
        int16_t *px = born_data_ptr(x);
        for (int64_t i = 0; i < r * c; i++)
            px[i] = (int16_t)(i % 32749);
        born_tensor *t = born_contiguous(born_transpose(x, 0, 1)); /* [c, r] */
        born_tensor *back = born_empty(BORN_I16, BORN_DIMS(r, c));
        CHECK_OK_TENSOR(t);
        if (!t || !back) return;
        CHECK_OK(born_copy_(born_transpose(back, 0, 1), t)); /* into a crossed output */
        const int16_t *pt = born_data_ptr(t), *pb = born_data_ptr(back);
        bool ok = true;
        for (int64_t i = 0; i < r && ok; i++)
            for (int64_t j = 0; j < c && ok; j++)
                ok = pt[j * r + i] == px[i * c + j] && pb[i * c + j] == px[i * c + j];
        CHECK_MSG(ok, "[%lld, %lld]: a transposed 16-bit copy moved an element", (long long)r,
                  (long long)c);
    }
}
