/* The SIMD Q8_K activation quantizers (AVX2 on x86-64, NEON on arm64) against the portable one
 * (quant_from_float_q8_K), byte for byte, at every SIMD level this CPU has: random blocks of many
 * magnitudes, levels landing on .5 (ties to even), zero blocks, the largest magnitude repeated
 * with both signs (the first one is max), NaNs, an infinity, values so small that -127 / max
 * overflows, and subnormals; and the portable one at CPU_LEVEL_SCALAR. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/quant/quant_traits.h"
#include "core/cpu_features.h"
#include "test.h"

enum { Q8K_BLOCKS = 24, Q8K_N = QK_K * Q8K_BLOCKS };

static uint64_t q8k_rng = 5;
static float q8k_uniform(void) {
    q8k_rng = q8k_rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(q8k_rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static void q8k_fill_block(float *p, int b) {
    for (int j = 0; j < QK_K; j++) p[j] = q8k_uniform() * ldexpf(1.0f, b % 9 - 4);
    switch (b % 8) {
    case 1: /* amax 127: every level k + 0.5 a tie */
        for (int j = 0; j < QK_K; j++) p[j] = (float)(j % 200 - 100) + 0.5f;
        p[QK_K - 1] = 127.0f;
        break;
    case 2: memset(p, 0, QK_K * sizeof *p); break;
    case 3: /* the largest magnitude twice, negative first (far apart, or side by side) */
        p[17] = -9.0f, p[b > 8 ? 18 : 200] = 9.0f;
        break;
    case 4: p[b] = NAN, p[b + 100] = -NAN; break;
    case 5: p[b * 3] = b % 16 == 5 ? INFINITY : -INFINITY; break;
    case 6:
        for (int j = 0; j < QK_K; j++) p[j] *= 1e-39f; /* -127 / max overflows */
        break;
    case 7:
        for (int j = 0; j < QK_K; j++) p[j] *= 1e-30f;
        break;
    default: break;
    }
}

TEST(quant_act_q8_K_simd_matches_portable) {
    const cpu_level saved = cpu_get_level();
    const cpu_level levels[] = {CPU_LEVEL_AVX2, CPU_LEVEL_NEON};
    float *x = malloc(Q8K_N * sizeof *x);
    for (int b = 0; b < Q8K_BLOCKS; b++) q8k_fill_block(x + QK_K * b, b);
    const size_t bytes = born_dtype_nbytes(BORN_Q8_K, Q8K_N);
    unsigned char *ref = malloc(bytes), *got = malloc(bytes);
    int ran = 0;
    for (int l = 0; l < 2; l++) {
        cpu_set_level(levels[l]);
        if (cpu_get_level() != levels[l]) continue; /* not this CPU's (or architecture's) level */
        ran++;
        quant_from_float_fn fn = quant_act_from_float(BORN_Q8_K, quant_from_float_q8_K);
        CHECK_MSG(fn != quant_from_float_q8_K, "Q8_K at %s: the portable quantizer",
                  cpu_level_name(levels[l]));
        memset(ref, 0xA5, bytes);
        memset(got, 0x5A, bytes);
        quant_from_float_q8_K(x, ref, Q8K_N);
        fn(x, got, Q8K_N);
        int bad = 0;
        for (int b = 0; b < Q8K_BLOCKS; b++) {
            const size_t bb = sizeof(block_q8_K);
            if (memcmp(ref + b * bb, got + b * bb, bb) != 0) {
                if (!bad)
                    printf("  first differing Q8_K block at %s: %d\n", cpu_level_name(levels[l]), b);
                bad++;
            }
        }
        CHECK_MSG(bad == 0, "%s: %d of %d Q8_K blocks differ from the portable quantizer's bytes",
                  cpu_level_name(levels[l]), bad, Q8K_BLOCKS);
#if defined(__x86_64__)
        CHECK(fn == quant_act_q8_K_avx2);
#endif
    }
    if (!ran) printf("  quant_act_q8_K_simd: skipped: no SIMD level on this CPU\n");
    cpu_set_level(CPU_LEVEL_SCALAR);
    CHECK(quant_act_from_float(BORN_Q8_K, quant_from_float_q8_K) == quant_from_float_q8_K);
    cpu_set_level(saved);
    free(x), free(ref), free(got);
}
