/* The AVX2 activation quantizers (Q8_0 / Q8_1 as ggml's x86 build) against the portable ones,
 * byte for byte: random rows, rows whose scaled values land exactly on .5 (ties to even), zero
 * blocks, one huge value per block, and tiny values. */
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

TEST(quant_act_avx2_matches_portable) {
    if (cpu_get_level() < CPU_LEVEL_AVX2) {
        printf("  quant_act_avx2: skipped: CPU below AVX2\n");
        return;
    }
    float *x = malloc(ACT_N * sizeof *x);
    for (int b = 0; b < ACT_N / 32; b++) fill_block(x, b);
    const born_dtype types[] = {BORN_Q8_0, BORN_Q8_1};
    for (int t = 0; t < 2; t++) {
        size_t bytes = born_dtype_nbytes(types[t], ACT_N);
        unsigned char *ref = malloc(bytes), *got = malloc(bytes);
        memset(ref, 0xA5, bytes);
        memset(got, 0x5A, bytes);
        (t ? quant_act_q8_1 : quant_act_q8_0)(x, ref, ACT_N);
        quant_act_from_float(types[t], NULL)(x, got, ACT_N);
        CHECK_MSG(memcmp(ref, got, bytes) == 0, "%s: the AVX2 activation quantizer differs from the portable one",
                  born_dtype_name(types[t]));
        free(ref), free(got);
    }
    free(x);
}
