/* Philox draws on CUDA against the CPU's: the backend's random entry (uniform, normal, integer in
 * several dtypes, at a nonzero counter offset) and born_dropout on GPU tensors, which must drop
 * the same elements as on the CPU from the same generator state. Without a GPU only the skip
 * path runs. */
#include <math.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "test.h"

static bool gpu(const char *test) {
    if (born_device_count(BORN_DEVICE_CUDA) > 0) return true;
    printf("  %s: skipped: no GPU (%s)\n", test, born_cuda_unavailable_reason());
    return false;
}

/* max |a - b| / max(1, |a|) over two same-shaped tensors (read back to f64). */
static double max_diff(born_tensor *a, born_tensor *b) {
    int64_t n = born_tensor_numel(a);
    double *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    double m = INFINITY;
    if (x && y && born_tensor_numel(b) == n && test_read(a, x, n) && test_read(b, y, n)) {
        m = 0;
        for (int64_t i = 0; i < n; i++) {
            double d = fabs(x[i] - y[i]) / (fabs(x[i]) > 1 ? fabs(x[i]) : 1);
            if (!(d <= m)) m = d; /* NaN stays */
        }
    }
    free(x);
    free(y);
    return m;
}

TEST(cuda_random_entry_matches_cpu) {
    if (!gpu("cuda_random_entry_matches_cpu")) return;
    const born_backend *cpu = cpu_backend(), *gpu_be = backend_for(BORN_CUDA(0));
    CHECK(gpu_be && gpu_be->random);
    if (!gpu_be || !gpu_be->random) return;
    born_dtype dts[] = {BORN_F32, BORN_F64, BORN_BF16, BORN_F16, BORN_I64, BORN_I32};
    int64_t n = 100003;
    for (int d = 0; d < 6; d++) {
        for (int kind = 0; kind < 3; kind++) {
            bool integer = dts[d] == BORN_I64 || dts[d] == BORN_I32;
            if (integer != (kind == BORN_RANDOM_INTEGER)) continue;
            double a = kind == BORN_RANDOM_INTEGER ? -7 : kind == BORN_RANDOM_NORMAL ? 0.5 : -2;
            double b = kind == BORN_RANDOM_INTEGER ? 1000 : kind == BORN_RANDOM_NORMAL ? 3 : 5;
            born_scope_begin();
            born_tensor *c = born_zeros(dts[d], 1, &n);
            born_tensor *g = born_to(born_zeros(dts[d], 1, &n), BORN_CUDA(0));
            CHECK_MSG(c && g, "allocation: %s", born_last_error());
            if (!c || !g) {
                born_scope_end();
                return;
            }
            born_strided sc = strided_of(c), sg = strided_of(g);
            CHECK(cpu->random(&sc, (born_random_kind)kind, 0x1234567890ull, 987654321ull, a, b) == BORN_OK);
            CHECK(gpu_be->random(&sg, (born_random_kind)kind, 0x1234567890ull, 987654321ull, a, b) == BORN_OK);
            double diff = max_diff(c, g);
            /* uniform and integer draws are bit-identical; normal ones go through double log/cos */
            double tol = kind == BORN_RANDOM_NORMAL && dts[d] == BORN_F64 ? 1e-13 : 0;
            if (kind == BORN_RANDOM_NORMAL && dts[d] != BORN_F64) tol = dts[d] == BORN_F32 ? 1.2e-7 : 8e-3;
            CHECK_MSG(diff <= tol, "random kind %d %s: max difference %g (tol %g)", kind,
                      born_dtype_name(dts[d]), diff, tol);
            born_scope_end();
        }
    }
}

TEST(cuda_dropout_matches_cpu) {
    if (!gpu("cuda_dropout_matches_cpu")) return;
    born_dtype dts[] = {BORN_F32, BORN_BF16, BORN_F64};
    for (int d = 0; d < 3; d++) {
        born_scope_begin();
        born_generator *g0 = born_generator_new(4242), *g1 = born_generator_new(4242);
        born_tensor *x = born_to_dtype(born_randn(g0, BORN_F32, BORN_DIMS(37, 129)), dts[d]);
        born_generator_set_state(g0, 99, 12345);
        born_generator_set_state(g1, 99, 12345);
        born_tensor *yc = born_dropout(x, 0.3, true, g0);
        born_tensor *yg = born_dropout(born_to(x, BORN_CUDA(0)), 0.3, true, g1);
        CHECK(yg && born_tensor_device(yg).type == BORN_DEVICE_CUDA);
        CHECK_MSG(yc && yg && max_diff(yc, yg) == 0, "dropout %s on CUDA differs from the CPU: %s",
                  born_dtype_name(dts[d]), born_last_error());
        uint64_t s0, o0, s1, o1;
        born_generator_get_state(g0, &s0, &o0);
        born_generator_get_state(g1, &s1, &o1);
        CHECK(s0 == s1 && o0 == o1 && o0 == 12345 + 37 * 129);
        born_generator_free(g0);
        born_generator_free(g1);
        born_scope_end();
    }
}
