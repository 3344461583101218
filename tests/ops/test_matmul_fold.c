/* born_matmul of a batched left operand with a right operand broadcast over the batch: the CPU
 * folds the batch into rows (one GEMM) when the left operand's batch continues its rows. The result
 * must be each batch entry's own 2-D product, bit for bit for packed-size rows, for foldable and
 * unfoldable (permuted) layouts, and near it for few rows. */
#include <math.h>
#include <string.h>

#include "core/cpu_features.h"
#include "test.h"

/* out[b] vs a[b] @ w for every entry of a [B, M, K] (any strides). */
static void check_entries(born_tensor *a, born_tensor *w, double rtol) {
    born_tensor *out = born_matmul(a, w);
    CHECK_OK_TENSOR(out);
    int64_t B = born_tensor_size(a, 0), M = born_tensor_size(a, 1), N = born_tensor_size(w, 1);
    CHECK_SHAPE(out, B, M, N);
    born_tensor *oc = born_contiguous(out);
    for (int64_t b = 0; b < B; b++) {
        born_tensor *ref = born_contiguous(born_matmul(born_contiguous(born_select(a, 0, b)), w));
        const float *r = born_data_f32(ref), *o = born_data_f32(oc) + b * M * N;
        int bad = 0;
        for (int64_t i = 0; i < M * N; i++)
            bad += rtol == 0 ? o[i] != r[i] : !(fabsf(o[i] - r[i]) <= rtol * (fabsf(r[i]) + 1));
        CHECK_MSG(bad == 0, "entry %lld: %d of %lld elements differ", (long long)b, bad,
                  (long long)(M * N));
    }
}

TEST(matmul_batch_broadcast_folds_rows) {
    born_generator *gen = born_generator_new(3);
    born_scope_begin();
    born_tensor *w = born_randn(gen, BORN_F32, BORN_DIMS(70, 45));
    /* contiguous [4, 200, 70]: folds into one 800-row GEMM */
    check_entries(born_randn(gen, BORN_F32, BORN_DIMS(4, 200, 70)), w, 0);
    /* [4, 200, 70] seen through a permute of [200, 4, 70]: the batch does not continue the rows */
    check_entries(born_permute(born_randn(gen, BORN_F32, BORN_DIMS(200, 4, 70)), BORN_DIMS(1, 0, 2)),
                  w, 0);
    /* a transposed weight and a 4-D batch ([2, 3, 50, 70] as [6, 50, 70] after the fold check) */
    born_tensor *wt = born_transpose(born_randn(gen, BORN_F32, BORN_DIMS(45, 70)), 0, 1);
    born_tensor *a4 = born_randn(gen, BORN_F32, BORN_DIMS(2, 3, 50, 70));
    born_tensor *o4 = born_matmul(a4, wt);
    CHECK_OK_TENSOR(o4);
    check_entries(born_reshape(a4, BORN_DIMS(6, 50, 70)), wt, 0);
    born_tensor *o3 = born_matmul(born_reshape(a4, BORN_DIMS(6, 50, 70)), wt);
    CHECK(memcmp(born_data_f32(born_contiguous(o4)), born_data_f32(born_contiguous(o3)),
                 sizeof(float) * 6 * 50 * 45) == 0);
    /* few rows per entry (small-m paths unfolded, one GEMM folded): equal within rounding */
    check_entries(born_randn(gen, BORN_F32, BORN_DIMS(16, 3, 70)), w, 1e-5);
    born_scope_end();
    born_generator_free(gen);
}

/* The same for bf16 operands (the CPU's bf16 GEMM; a bf16 result, each sum rounded once): the
 * folded product gives each entry's own bits, with the tiles (AMX) and without. */
static void check_entries_bf16(born_tensor *a, born_tensor *w) {
    born_tensor *out = born_matmul(a, w);
    CHECK_OK_TENSOR(out);
    if (!out) return;
    int64_t B = born_tensor_size(a, 0), M = born_tensor_size(a, 1), N = born_tensor_size(w, 1);
    born_tensor *oc = born_contiguous(out);
    for (int64_t b = 0; b < B; b++) {
        born_tensor *ref = born_contiguous(born_matmul(born_contiguous(born_select(a, 0, b)), w));
        CHECK_MSG(ref && memcmp(born_data_ptr(ref), (const uint16_t *)born_data_ptr(oc) + b * M * N,
                                sizeof(uint16_t) * (size_t)(M * N)) == 0,
                  "bf16 entry %lld differs", (long long)b);
    }
}

TEST(matmul_batch_broadcast_folds_rows_bf16) {
    born_generator *gen = born_generator_new(4);
    born_scope_begin();
    born_tensor *w = born_randn(gen, BORN_BF16, BORN_DIMS(70, 45));
    born_tensor *a = born_randn(gen, BORN_BF16, BORN_DIMS(4, 200, 70));
    born_tensor *wt = born_transpose(born_randn(gen, BORN_BF16, BORN_DIMS(45, 70)), 0, 1);
    for (int amx = 1; amx >= 0; amx--) {
        cpu_set_amx(amx != 0);
        check_entries_bf16(a, w);
        check_entries_bf16(a, wt);
        check_entries_bf16(born_permute(born_randn(gen, BORN_BF16, BORN_DIMS(200, 4, 70)),
                                        BORN_DIMS(1, 0, 2)),
                           w);
    }
    cpu_set_amx(true);
    born_scope_end();
    born_generator_free(gen);
}
