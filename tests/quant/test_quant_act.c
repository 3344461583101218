/* The SIMD activation quantizers (Q8_0 / Q8_1 as ggml's x86 build; AVX2 on x86-64, NEON on
 * arm64) against the portable ones, byte for byte, at every SIMD level this CPU has: random rows,
 * rows whose scaled values land exactly on .5 (ties to even), zero blocks, one huge value per
 * block, and tiny values; and the portable ones at CPU_LEVEL_SCALAR. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/quant/quant_traits.h"
#include "core/cpu_features.h"
#include "test.h"

enum { ACT_N = 32 * 40 };

static uint64_t act_rng = 11;
static float act_uniform(void) {
    act_rng = act_rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(act_rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* Fills block b of x with a pattern that stresses one corner of the quantizer. */
static void fill_block(float *x, int b) {
    float *p = x + 32 * b;
    for (int j = 0; j < 32; j++) p[j] = act_uniform() * (float)(1 << (b % 12));
    switch (b % 5) {
    case 1: /* amax 127: every level k + 0.5 a tie */
        for (int j = 0; j < 32; j++) p[j] = (float)(j - 16) + 0.5f;
        p[31] = 127.0f;
        break;
    case 2: memset(p, 0, 32 * sizeof *p); break;
    case 3: p[b % 32] = 1e30f; break;
    case 4:
        for (int j = 0; j < 32; j++) p[j] *= 1e-30f;
        break;
    default: break;
    }
}

TEST(quant_act_simd_matches_portable) {
    const cpu_level saved = cpu_get_level();
    const cpu_level levels[] = {CPU_LEVEL_AVX2, CPU_LEVEL_NEON};
    float *x = malloc(ACT_N * sizeof *x);
    for (int b = 0; b < ACT_N / 32; b++) fill_block(x, b);
    const born_dtype types[] = {BORN_Q8_0, BORN_Q8_1};
    int ran = 0;
    for (int l = 0; l < 2; l++) {
        cpu_set_level(levels[l]);
        if (cpu_get_level() != levels[l]) continue; /* not this CPU's (or architecture's) level */
        ran++;
        for (int t = 0; t < 2; t++) {
            quant_from_float_fn fn = quant_act_from_float(types[t], NULL);
            CHECK_MSG(fn != quant_act_q8_0 && fn != quant_act_q8_1,
                      "%s at %s: the portable quantizer", born_dtype_name(types[t]),
                      cpu_level_name(levels[l]));
            /* whole rows, and rows of 1, 3 and 5 blocks (the tails of a loop over blocks) */
            const int64_t ns[] = {ACT_N, 32, 96, 160};
            for (int r = 0; r < 4; r++) {
                size_t bytes = born_dtype_nbytes(types[t], ns[r]);
                unsigned char *ref = malloc(bytes), *got = malloc(bytes);
                memset(ref, 0xA5, bytes);
                memset(got, 0x5A, bytes);
                const float *src = x + (r ? 32 * (3 * r + 1) : 0);
                (t ? quant_act_q8_1 : quant_act_q8_0)(src, ref, ns[r]);
                fn(src, got, ns[r]);
                CHECK_MSG(memcmp(ref, got, bytes) == 0,
                          "%s, %lld elements: the %s activation quantizer differs from the "
                          "portable one",
                          born_dtype_name(types[t]), (long long)ns[r], cpu_level_name(levels[l]));
                free(ref), free(got);
            }
        }
    }
    if (!ran) printf("  quant_act_simd: skipped: no SIMD level on this CPU\n");
    cpu_set_level(CPU_LEVEL_SCALAR);
    CHECK(quant_act_from_float(BORN_Q8_0, NULL) == quant_act_q8_0);
    CHECK(quant_act_from_float(BORN_Q8_1, NULL) == quant_act_q8_1);
    cpu_set_level(saved);
    free(x);
}
