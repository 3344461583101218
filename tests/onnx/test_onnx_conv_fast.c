/* The AVX2 Conv epilogue (src/onnx/conv_fast_avx2.c): its HardSwish divides by 6 without a
 * divide, and must round as the divide does. Checked here on every 251st float bit pattern and
 * on every pattern of the exponents around the point where it hands over to the divide; the whole
 * range was checked once by hand (all 2^32 patterns, 0 differences). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu_features.h"
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
