/* The AVX-512 elementwise, softmax and norm kernels (src/backend/cpu/unary_avx512.c,
 * softmax_avx512.c, norm_avx512.c, vmath_avx512.h) give the AVX2 kernels' bits, element for
 * element: the unary ops over a million inputs (any finite f32, [-20, 20], and the special values
 * NaN, +-inf, +-0, denormals, the thresholds of the fast paths), contiguous with every tail length
 * and strided; the tanh, silu and gelu-tanh gradients; softmax and log-softmax rows of lengths
 * around the vector widths and long rows, with NaN, infinities and huge values; layer and RMS
 * norm rows (output and statistics, and the backward's dx and parameter gradients) of many
 * lengths, rows far from zero, huge, denormal and NaN values. The AVX2 kernels are held to the exact values by
 * test_vmath.c and the softmax and norm tests, so this carries their bounds over. gelu and its
 * gradient are the exceptions: they have their own method at AVX-512 (vmath_avx512.h), which
 * test_vmath.c holds to the exact value at both levels. On a CPU without AVX-512 the test says
 * so and passes. */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/stream.h"
#include "core/cpu_features.h"
#include "backend/f32_view.h"
#include "test.h"

static uint64_t rng = 0x2545F4914F6CDD1Dull;

static uint32_t rnd32(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng >> 32);
}

static float uni(float lo, float hi) { return lo + (hi - lo) * (float)((double)rnd32() / 4294967296.0); }

static const float specials[] = {
    NAN, -NAN, INFINITY, -INFINITY, 0.0f, -0.0f, FLT_MIN, -FLT_MIN, 1e-45f, -1e-45f, 1e-40f,
    -1e-40f, FLT_MAX, -FLT_MAX, 88.7228394f, 89.0f, -87.3365479f, -103.972084f, -104.0f, -150.0f,
    86.5f, -86.5f, 86.50001f, -86.50001f, -12.0f, -12.000001f, 13.0f, -13.0f, 13.000001f,
    -13.1f, 18.0f, -18.0f, 0.625f, 10.0f, -10.0f, 1e20f, -1e20f, 170.0f, -170.0f,
};
enum { NSPEC = sizeof specials / sizeof specials[0] };

static bool have_avx512(void) {
    cpu_level saved = cpu_get_level();
    cpu_set_level(CPU_LEVEL_AVX512);
    bool ok = cpu_get_level() == CPU_LEVEL_AVX512;
    cpu_set_level(saved);
    return ok;
}

/* The first index where a and b differ in their bits, any NaN matching any NaN (-1: none). Where
 * several operands of an instruction are NaN, which one's sign the result takes depends on the
 * operand order of the instruction form the compiler picks (vfmadd132/213/231), so the sign of a
 * NaN result is not a property of the kernel. */
static int64_t first_diff(const float *a, const float *b, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        if (isnan(a[i]) && isnan(b[i])) continue;
        if (memcmp(&a[i], &b[i], 4) != 0) return i;
    }
    return -1;
}

enum { N = 1 << 20 };

TEST(avx512_kernels_give_the_avx2_bits) {
    if (!have_avx512()) {
        printf("  avx512_kernels_give_the_avx2_bits: skipped: no AVX-512 on this CPU\n");
        return;
    }
    static const born_unary_op fwd[] = {BORN_UNARY_EXP,  BORN_UNARY_LOG,       BORN_UNARY_TANH,
                                        BORN_UNARY_SIGMOID, BORN_UNARY_RELU, BORN_UNARY_GELU_TANH,
                                        BORN_UNARY_SILU};
    static const born_unary_op bwd[] = {BORN_UNARY_TANH, BORN_UNARY_SILU,
                                        BORN_UNARY_GELU_TANH}; /* gelu's: its own */
    cpu_level saved = cpu_get_level();
    float *x = malloc((size_t)N * 4), *g = malloc((size_t)N * 4);
    float *out[2] = {malloc((size_t)N * 4), malloc((size_t)N * 4)};
    CHECK(x && g && out[0] && out[1]);
    if (!x || !g || !out[0] || !out[1]) goto done;
    for (int64_t i = 0; i < N; i++) {
        if (i % 3 == 0) {
            float f;
            uint32_t b = rnd32();
            memcpy(&f, &b, 4);
            x[i] = isfinite(f) ? f : 1.0f;
        } else {
            x[i] = uni(-20.0f, 20.0f);
        }
        g[i] = uni(-2.0f, 2.0f);
    }
    for (int64_t i = 0; i < N; i += 97) x[i] = specials[(i / 97) % NSPEC];
    /* the specials also packed together at the start */
    for (int i = 0; i < NSPEC; i++) x[i] = specials[i];

    /* unary forward: the whole run, short runs of every tail length, a strided view */
    for (size_t o = 0; o < sizeof fwd / sizeof fwd[0]; o++) {
        const char *name = born_unary_op_name(fwd[o]);
        for (int pass = 0; pass < 3; pass++) {
            int64_t n = pass == 0 ? N : pass == 1 ? 41 : N / 3;
            int64_t step = pass == 2 ? 3 : 1;
            for (int64_t start = 0; start < (pass == 1 ? 40 : 1); start++) {
                for (int l = 0; l < 2; l++) {
                    cpu_set_level(l ? CPU_LEVEL_AVX2 : CPU_LEVEL_AVX512);
                    born_strided so = f32_view_step(out[l], 1, n, 1), si = f32_view_step(x + start, 1, n, step);
                    memset(out[l], 0, (size_t)n * 4);
                    CHECK_OK(cpu_unary(fwd[o], &so, &si, NULL));
                }
                int64_t d = first_diff(out[0], out[1], n);
                CHECK_MSG(d < 0, "%s (run %d, start %lld): AVX-512 %.9g, AVX2 %.9g at x = %.9g", name,
                          pass, (long long)start, d < 0 ? 0.0 : out[0][d], d < 0 ? 0.0 : out[1][d],
                          d < 0 ? 0.0 : x[start + d * step]);
            }
        }
    }
    /* gradients */
    for (size_t o = 0; o < sizeof bwd / sizeof bwd[0]; o++) {
        for (int pass = 0; pass < 2; pass++) {
            int64_t n = pass == 0 ? N : 37;
            for (int l = 0; l < 2; l++) {
                cpu_set_level(l ? CPU_LEVEL_AVX2 : CPU_LEVEL_AVX512);
                born_strided so = f32_view_step(out[l], 1, n, 1), sg = f32_view_step(g, 1, n, 1), sx = f32_view_step(x, 1, n, 1);
                CHECK_OK(cpu_unary_backward(bwd[o], &so, &sg, &sx, &sx, NULL));
            }
            int64_t d = first_diff(out[0], out[1], n);
            CHECK_MSG(d < 0, "%s backward (n = %lld): AVX-512 %.9g, AVX2 %.9g at x = %.9g",
                      born_unary_op_name(bwd[o]), (long long)n, d < 0 ? 0.0 : out[0][d],
                      d < 0 ? 0.0 : out[1][d], d < 0 ? 0.0 : x[d]);
        }
    }
    /* softmax rows: values in [-20, 20] with a few specials, every length to 70, then long rows */
    static const int64_t lens[] = {100, 1000, 4096, 4099, 8192, 9001};
    /* (norms: with and without streaming stores) */
    for (int li = 0; li < 70 + 6; li++) {
        int64_t n = li < 70 ? li + 1 : lens[li - 70], rows = n < 1000 ? 5 : 3;
        for (int64_t i = 0; i < rows * n; i++) g[i] = uni(-20.0f, 20.0f);
        if (li % 4 == 1) g[n / 2] = NAN;
        if (li % 4 == 2) g[rows * n - 1] = INFINITY;
        if (li % 4 == 3) g[n] = -INFINITY;
        if (li % 5 == 4) g[0] = 1e30f;
        for (int lg = 0; lg < 2; lg++) {
            for (int l = 0; l < 2; l++) {
                cpu_set_level(l ? CPU_LEVEL_AVX2 : CPU_LEVEL_AVX512);
                born_strided so = f32_view_step(out[l] + 1, rows, n, 1), si = f32_view_step(g, rows, n, 1);
                CHECK_OK(cpu_softmax(lg == 1, &so, &si, 1));
            }
            int64_t d = first_diff(out[0] + 1, out[1] + 1, rows * n);
            CHECK_MSG(d < 0, "%s n = %lld: AVX-512 %.9g, AVX2 %.9g at %lld", lg ? "log_softmax" : "softmax",
                      (long long)n, d < 0 ? 0.0 : out[0][1 + d], d < 0 ? 0.0 : out[1][1 + d], (long long)d);
        }
    }
    /* layer and RMS norm rows (their statistics too), with weight and bias, rows far from zero,
     * huge, denormal and NaN values */
    for (int li = 0; li < 40 + 6; li++) {
        int64_t n = li < 40 ? li + 1 : lens[li - 40], rows = 4;
        float *w = x, *b = x + 10000;
        for (int64_t i = 0; i < 10000 + n; i++) x[i] = uni(-2.0f, 2.0f);
        for (int64_t i = 0; i < rows * n; i++) g[i] = uni(-3.0f, 3.0f) + (li % 3 == 1 ? 1000.0f : 0.0f);
        if (li % 5 == 2) g[n / 2] = 1e25f;
        if (li % 5 == 3) g[n] = NAN;
        if (li % 7 == 4) for (int64_t i = 0; i < n; i++) g[i] = 1e-42f * (float)(i % 5);
        for (int rms = 0; rms < 2; rms++) {
            for (int st = 0; st < 2; st++) {
                float stats[2][2][8];
                for (int l = 0; l < 2; l++) {
                    cpu_set_level(l ? CPU_LEVEL_AVX2 : CPU_LEVEL_AVX512);
                    cpu_set_stream_min_bytes(st ? 0 : INT64_MAX);
                    born_strided so = f32_view_step(out[l] + 3, rows, n, 1), si = f32_view_step(g, rows, n, 1);
                    born_strided sw = f32_view_step(w, 1, n, 1), sb = f32_view_step(b, 1, n, 1);
                    born_strided sm = f32_view_step(stats[l][0], 1, rows, 1), sr = f32_view_step(stats[l][1], 1, rows, 1), none;
                    memset(&none, 0, sizeof none);
                    sw.ndim = sb.ndim = sm.ndim = sr.ndim = 1;
                    sw.shape[0] = sb.shape[0] = n;
                    sm.shape[0] = sr.shape[0] = rows;
                    sw.strides[0] = sb.strides[0] = sm.strides[0] = sr.strides[0] = 1;
                    memset(stats[l], 0, sizeof stats[l]);
                    CHECK_OK(cpu_row_norm(rms, &so, rms ? &none : &sm, &sr, &si, &sw, rms ? &none : &sb, 1e-5));
                }
                int64_t d = first_diff(out[0] + 3, out[1] + 3, rows * n);
                CHECK_MSG(d < 0 && first_diff(stats[0][0], stats[1][0], 2 * 8) < 0,
                          "%s n = %lld stream %d: AVX-512 %.9g, AVX2 %.9g at %lld", rms ? "rms_norm" : "layer_norm",
                          (long long)n, st, d < 0 ? 0.0 : out[0][3 + d], d < 0 ? 0.0 : out[1][3 + d], (long long)d);
            }
        }
    }
    /* layer and RMS norm backward rows: dx and the parameter gradients (mean and rstd from the
     * forward above, perturbed), with and without weight and streaming stores */
    for (int li = 0; li < 70 + 6; li++) {
        int64_t n = li < 70 ? li + 1 : lens[li - 70], rows = 4;
        float *w = x, *gx = x + 10000, *gg = g + 40000;
        for (int64_t i = 0; i < 10000 + rows * n; i++) x[i] = uni(-2.0f, 2.0f);
        for (int64_t i = 0; i < rows * n; i++) gg[i] = uni(-3.0f, 3.0f) + (li % 3 == 1 ? 1000.0f : 0.0f);
        if (li % 5 == 2) gx[n / 2] = 1e25f;
        if (li % 5 == 3) gg[n] = NAN;
        if (li % 7 == 4) for (int64_t i = 0; i < n; i++) gx[i] = 1e-42f * (float)(i % 5);
        float stats[2][8] = {{0}};
        for (int r = 0; r < rows; r++) {
            stats[0][r] = uni(-0.5f, 0.5f) + (li % 3 == 1 ? 1000.0f : 0.0f);
            stats[1][r] = uni(0.5f, 2.0f);
        }
        for (int rms = 0; rms < 2; rms++) {
            for (int variant = 0; variant < 4; variant++) {
                bool st = variant & 1, affine = variant & 2;
                for (int l = 0; l < 2; l++) {
                    cpu_set_level(l ? CPU_LEVEL_AVX2 : CPU_LEVEL_AVX512);
                    cpu_set_stream_min_bytes(st ? 0 : INT64_MAX);
                    float *o = out[l] + 3, *gw = o + rows * n + 5, *gb = gw + n;
                    born_strided so = f32_view_step(o, rows, n, 1), sg = f32_view_step(gg, rows, n, 1), sx = f32_view_step(gx, rows, n, 1);
                    born_strided sw = f32_view_step(w, 1, n, 1), sgw = f32_view_step(gw, 1, n, 1), sgb = f32_view_step(gb, 1, n, 1);
                    born_strided sm = f32_view_step(stats[0], 1, rows, 1), sr = f32_view_step(stats[1], 1, rows, 1), none;
                    memset(&none, 0, sizeof none);
                    sw.ndim = sgw.ndim = sgb.ndim = sm.ndim = sr.ndim = 1;
                    sw.shape[0] = sgw.shape[0] = sgb.shape[0] = n;
                    sm.shape[0] = sr.shape[0] = rows;
                    sw.strides[0] = sgw.strides[0] = sgb.strides[0] = sm.strides[0] = sr.strides[0] = 1;
                    memset(out[l], 0, (size_t)(rows * n + 2 * n + 8) * 4);
                    CHECK_OK(cpu_row_norm_grads(rms, &so, affine ? &sgw : NULL, affine && !rms ? &sgb : NULL,
                                                &sg, &sx, rms ? &none : &sm, &sr, affine ? &sw : &none));
                }
                int64_t d = first_diff(out[0], out[1], rows * n + 2 * n + 8);
                CHECK_MSG(d < 0, "%s backward n = %lld stream %d affine %d: AVX-512 %.9g, AVX2 %.9g at %lld",
                          rms ? "rms_norm" : "layer_norm", (long long)n, st, affine, d < 0 ? 0.0 : out[0][d],
                          d < 0 ? 0.0 : out[1][d], (long long)d);
            }
        }
    }
done:
    cpu_set_stream_min_bytes(-1);
    cpu_set_level(saved);
    free(x);
    free(g);
    free(out[0]);
    free(out[1]);
}
