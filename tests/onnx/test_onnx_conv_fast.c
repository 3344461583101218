/* The AVX2 Conv epilogue (src/onnx/conv_fast_avx2.c): its HardSwish divides by 6 without a
 * divide, and must round as the divide does. Checked here on every 251st float bit pattern and
 * on every pattern of the exponents around the point where it hands over to the divide; the whole
 * range was checked once by hand (all 2^32 patterns, 0 differences). */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu_features.h"
#include "onnx/conv_fast.h"
#include "onnx/conv_fast_kernels.h"
#include "test.h"

#ifdef ONNX_HAVE_EP_AVX2
/* Bit patterns [b, b + n step) through HardSwish with t clamped to 1, that is x * 1 / 6. */
static int64_t count_diffs(uint64_t b0, uint64_t step, int64_t n, float *buf) {
    const int kind[1] = {CONV_EP_HSWISH};
    const float v[1][4] = {{0.0f, 1.0f, 1.0f, 6.0f}};
    for (int64_t i = 0; i < n; i++) {
        uint32_t bits = (uint32_t)(b0 + (uint64_t)i * step);
        memcpy(&buf[i], &bits, sizeof bits);
    }
    float *want = malloc((size_t)n * sizeof(float));
    if (!want) return -1;
    for (int64_t i = 0; i < n; i++) want[i] = buf[i] / 6.0f;
    onnx_conv_ep_rows_avx2(1, kind, v, buf, 0, 1, n);
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++)
        if (!isnan(want[i]) && memcmp(&want[i], &buf[i], sizeof(float)) != 0) bad++;
        else if (isnan(want[i]) != isnan(buf[i])) bad++;
    free(want);
    return bad;
}
#endif

TEST(onnx_hswish_div6_rounds_as_divide) {
#ifdef ONNX_HAVE_EP_AVX2
    if (cpu_get_level() < CPU_LEVEL_AVX2) {
        printf("  onnx_hswish_div6_rounds_as_divide: skipped: no AVX2\n");
        return;
    }
    enum { N = 1 << 16 };
    float *buf = malloc(N * sizeof(float));
    CHECK(buf != NULL);
    if (!buf) return;
    int64_t bad = 0;
    /* a sample of the whole range, both signs, inf and NaN included */
    for (uint64_t b = 0; b < (1ull << 32); b += (uint64_t)N * 251)
        bad += count_diffs(b, 251, N, buf);
    /* every pattern of biased exponents 0..7 (subnormals, the divide's range, the hand-over) */
    for (uint64_t sign = 0; sign < 2; sign++)
        for (uint64_t b = 0; b < (8ull << 23); b += N)
            bad += count_diffs((sign << 31) + b, 1, N, buf);
    CHECK_MSG(bad == 0, "%lld quotients differ from the divide", (long long)bad);
    free(buf);
#endif
}

/* Depthwise convolution (src/onnx/conv_fast.c; the AVX2 plane kernel where there is AVX2): every
 * output is the bias followed by one fused multiply-add per tap in row-major tap order (padding
 * taps multiply zeros), so it must equal this scalar fmaf chain bit for bit, on wide and narrow
 * planes, strides 1 and 2, 3x3 and 5x5 kernels, dilation, and a plane count that is not a multiple
 * of the vector group. */
static int64_t dw_diffs(int64_t C, int64_t H, int64_t W, int64_t k, int64_t s, int64_t d, int64_t pad,
                        bool bias) {
    int64_t OH = (H + 2 * pad - d * (k - 1) - 1) / s + 1, OW = (W + 2 * pad - d * (k - 1) - 1) / s + 1;
    born_tensor *x = born_empty(BORN_F32, 4, (int64_t[]){1, C, H, W});
    born_tensor *w = born_empty(BORN_F32, 4, (int64_t[]){C, 1, k, k});
    born_tensor *b = born_empty(BORN_F32, 1, (int64_t[]){C});
    if (!x || !w || !b) return -1;
    float *xd = born_data_f32(x), *wd = born_data_f32(w), *bd = born_data_f32(b);
    uint32_t st = 12345u + (uint32_t)(C * 7 + H * 3 + W + k + s + d);
    for (int64_t i = 0; i < C * H * W; i++) {
        st = st * 1664525u + 1013904223u;
        xd[i] = (float)((int32_t)(st >> 8) - (1 << 23)) / (float)(1 << 23);
    }
    for (int64_t i = 0; i < C * k * k; i++) {
        st = st * 1664525u + 1013904223u;
        wd[i] = (float)((int32_t)(st >> 8) - (1 << 23)) / (float)(1 << 22);
    }
    for (int64_t i = 0; i < C; i++) bd[i] = 0.25f * (float)(i % 5) - 0.5f;
    const int64_t kk[2] = {k, k}, ss[2] = {s, s}, dd[2] = {d, d}, pb[2] = {pad, pad}, out[2] = {OH, OW};
    born_tensor *y = onnx_conv_depthwise(x, w, bias ? b : NULL, kk, ss, dd, pb, out, NULL);
    if (!y) return -1;
    const float *yd = born_data_f32(y);
    int64_t bad = 0;
    for (int64_t c = 0; c < C; c++)
        for (int64_t oy = 0; oy < OH; oy++)
            for (int64_t ox = 0; ox < OW; ox++) {
                float acc = bias ? bd[c] : 0.0f;
                for (int64_t i = 0; i < k; i++)
                    for (int64_t j = 0; j < k; j++) {
                        int64_t ih = oy * s - pad + i * d, iw = ox * s - pad + j * d;
                        float xv = ih >= 0 && ih < H && iw >= 0 && iw < W ? xd[(c * H + ih) * W + iw] : 0.0f;
                        acc = fmaf(wd[(c * k + i) * k + j], xv, acc);
                    }
                float got = yd[(c * OH + oy) * OW + ox];
                if (memcmp(&got, &acc, sizeof acc) != 0) bad++;
            }
    born_free(x);
    born_free(w);
    born_free(b);
    born_free(y);
    return bad;
}

TEST(onnx_depthwise_is_an_fma_chain_per_output) {
    if (cpu_get_level() < CPU_LEVEL_AVX2) {
        printf("  onnx_depthwise_is_an_fma_chain_per_output: skipped: no AVX2\n");
        return;
    }
    static const int64_t cases[][7] = {
        /* C, H, W, k, s, d, pad */
        {3, 10, 10, 5, 1, 1, 2},  {5, 5, 5, 5, 1, 1, 2},   {2, 3, 96, 5, 1, 1, 2}, {4, 6, 96, 5, 2, 1, 2},
        {3, 24, 97, 3, 2, 1, 1},  {2, 17, 33, 3, 1, 1, 1}, {2, 9, 13, 3, 1, 2, 2}, {7, 1, 1, 3, 1, 1, 1},
        {3, 20, 20, 3, 2, 1, 1},  {2, 12, 40, 7, 1, 1, 3}, {1, 8, 8, 3, 1, 1, 0},
        /* full blocks of eight channels (their rows transposed in 8 x 8 tiles) and a partial one */
        {9, 10, 10, 5, 1, 1, 2},  {16, 12, 14, 3, 1, 1, 1}, {8, 6, 20, 3, 2, 1, 1}, {8, 9, 17, 3, 1, 2, 2},
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const int64_t *c = cases[t];
        for (int bias = 0; bias < 2; bias++) {
            int64_t bad = dw_diffs(c[0], c[1], c[2], c[3], c[4], c[5], c[6], bias);
            CHECK_MSG(bad == 0, "case %zu (bias %d): %lld outputs differ", t, bias, (long long)bad);
        }
    }
}
