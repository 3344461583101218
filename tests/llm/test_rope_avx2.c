/* The AVX2 rotary embedding of one head (kernels_avx2.c) against the scalar formula of
 * llm_rope_apply, bit for bit, for NeoX and interleaved pairs and rotation counts around the
 * vector widths. */
#include <math.h>
#include <string.h>

#include "core/cpu_features.h"
#include "llm/session/kernels_simd.h"
#include "test.h"

TEST(rope_head_avx2_matches_scalar) {
#if defined(__x86_64__)
    if (cpu_get_level() < CPU_LEVEL_AVX2) return;
    enum { MAX_HALF = 70 };
    float cs[2 * MAX_HALF], x[2 * MAX_HALF], got[2 * MAX_HALF], ref[2 * MAX_HALF];
    uint64_t r = 3;
    for (int i = 0; i < 2 * MAX_HALF; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((int64_t)(r >> 40) - (1 << 23)) / (float)(1 << 20);
        cs[i] = (i % 2 ? sinf : cosf)((float)(r >> 44) * 1e-3f);
    }
    const int halves[] = {1, 3, 4, 7, 8, 12, 16, 32, 33, 64, MAX_HALF};
    int bad = 0;
    for (int neox = 0; neox < 2; neox++)
        for (size_t k = 0; k < sizeof halves / sizeof halves[0]; k++) {
            int half = halves[k];
            memcpy(got, x, sizeof x);
            memcpy(ref, x, sizeof x);
            llm_rope_head_avx2(got, cs, half, neox);
            for (int i = 0; i < half; i++) {
                int i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
                float x0 = x[i0], x1 = x[i1], co = cs[2 * i], si = cs[2 * i + 1];
                ref[i0] = fmaf(x0, co, -(x1 * si));
                ref[i1] = fmaf(x0, si, x1 * co);
            }
            if (memcmp(got, ref, sizeof got) != 0 && bad++ < 4)
                test_fail(__FILE__, __LINE__, "%s rotation of %d pairs differs from the scalar formula",
                          neox ? "NeoX" : "interleaved", half);
        }
#endif
}
