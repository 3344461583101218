/* The CPU's fused linear layer (bias and GELU-tanh in the f32 GEMM's epilogue, cpu_linear_fused)
 * against the composition born_linear then born_gelu_tanh: the same bits, forward and gradients,
 * over shapes that reach every path of the GEMM (one row, a few rows, one m block, the blocked
 * product, a single output column, k = 0) and at 1 and 3 threads; bf16 (composed on the CPU)
 * through the same entry. */
#include <stdlib.h>
#include <string.h>

#include "nn/linear_run.h"

TEST(linear_fused_cpu_matches_composition) {
    int saved = born_get_num_threads();
    born_generator *gen = born_generator_new(11);
    /* rows as [a, b] (b 0: 2-D input), K, N: one row (GEMV), a few rows (the dot rows), one m
     * block, the blocked product with tails, a single output (the problem transposed), k = 0 */
    struct {
        int64_t a, b, k, n;
    } shapes[] = {{1, 0, 70, 45},   {5, 0, 33, 40},  {3, 13, 48, 100}, {300, 0, 70, 130},
                  {2, 150, 24, 37}, {200, 0, 40, 1}, {9, 0, 0, 20}};
    born_dtype dts[] = {BORN_F32, BORN_BF16};
    int fused_seen = 0;
    for (int th = 0; th < 2; th++) {
        CHECK_OK(born_set_num_threads(th ? 3 : 1));
        for (int d = 0; d < 2; d++)
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
                for (int bias = 0; bias < 2; bias++)
                    for (int gelu = 0; gelu < 2; gelu++) {
                        born_scope_begin();
                        born_dtype t = dts[d];
                        int64_t a = shapes[s].a, bb = shapes[s].b, k = shapes[s].k, n = shapes[s].n;
                        int64_t rows = bb ? a * bb : a;
                        born_tensor *x = bb ? born_randn(gen, t, BORN_DIMS(a, bb, k))
                                            : born_randn(gen, t, BORN_DIMS(a, k));
                        born_tensor *r = bb ? born_randn(gen, t, BORN_DIMS(a, bb, n))
                                            : born_randn(gen, t, BORN_DIMS(a, n));
                        born_tensor *w = born_mul_scalar(born_randn(gen, t, BORN_DIMS(n, k)), 0.3);
                        born_tensor *b = bias ? born_randn(gen, t, BORN_DIMS(n)) : NULL;
                        born_tensor *gf[3], *gc[3];
                        born_tensor *yf = linear_run(x, w, b, r, gelu, true, gf);
                        born_tensor *yc = linear_run(x, w, b, r, gelu, false, gc);
                        CHECK_OK_TENSOR(yf);
                        CHECK_OK_TENSOR(yc);
                        char what[96];
                        snprintf(what, sizeof what,
                                 "%s rows %lld k %lld n %lld bias %d gelu %d, %d threads",
                                 t == BORN_F32 ? "f32" : "bf16", (long long)rows, (long long)k,
                                 (long long)n, bias, gelu, th ? 3 : 1);
                        /* the fused node in f32 (bf16 is composed on the CPU) */
                        const char *fn = yf ? born_grad_fn_name(yf) : NULL;
                        const char *want = gelu ? "LinearGeluTanhBackward" : "LinearBackward";
                        if (t == BORN_F32) {
                            CHECK_MSG(fn && strcmp(fn, want) == 0, "%s: grad_fn %s", what,
                                      fn ? fn : "none");
                            fused_seen += gelu;
                        }
                        CHECK_MSG(test_same_bits(yf, yc), "%s: outputs differ", what);
                        const char *names[3] = {"grad x", "grad w", "grad b"};
                        for (int i = 0; i < (bias ? 3 : 2); i++)
                            CHECK_MSG(test_same_bits(gf[i], gc[i]), "%s: %s differs", what,
                                      names[i]);
                        born_scope_end();
                    }
    }
    CHECK_MSG(fused_seen > 0, "the fused GELU-tanh never ran");
    born_generator_free(gen);
    CHECK_OK(born_set_num_threads(saved));
}

/* A non-contiguous input, an f64 layer and an f16 one are composed, with the composition's bits. */
TEST(linear_fused_cpu_composes_what_it_does_not_take) {
    born_generator *gen = born_generator_new(12);
    born_scope_begin();
    born_tensor *x = born_transpose(born_randn(gen, BORN_F32, BORN_DIMS(16, 8)), 0, 1);
    born_tensor *w = born_randn(gen, BORN_F32, BORN_DIMS(5, 16));
    born_tensor *b = born_randn(gen, BORN_F32, BORN_DIMS(5));
    born_tensor *y = nn_linear_fused(x, w, b, true);
    CHECK_OK_TENSOR(y);
    CHECK(test_same_bits(y, born_gelu_tanh(born_linear(x, w, b))));
    born_dtype others[] = {BORN_F64, BORN_F16};
    for (int i = 0; i < 2; i++) {
        born_tensor *xo = born_randn(gen, others[i], BORN_DIMS(6, 16));
        born_tensor *wo = born_randn(gen, others[i], BORN_DIMS(5, 16));
        born_tensor *bo = born_randn(gen, others[i], BORN_DIMS(5));
        born_tensor *yo = nn_linear_fused(xo, wo, bo, true);
        CHECK_OK_TENSOR(yo);
        CHECK(test_same_bits(yo, born_gelu_tanh(born_linear(xo, wo, bo))));
    }
    born_scope_end();
    born_generator_free(gen);
}
