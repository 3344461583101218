/* The batched attention's AVX2 tiles (kernels_avx2.c) against scalar renderings of ggml's TILE
 * order, bit for bit. Scores: element i's product fused into lane i % 8 in order, the lanes summed
 * as ((4 + 0) + (6 + 2)) + ((5 + 1) + (7 + 3)), times the scale; P.V: key j's product fused into
 * slot j % 8 in key order, the slots summed the same way. Head sizes over one 64-column group,
 * key counts around the 8-key groups and 128-key blocks; scores and P.V of two to four heads at once. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu_features.h"
#include "llm/session/kernels_simd.h"
#include "test.h"

#if defined(__x86_64__) /* the tiles exist on x86-64 only */
static float tile_order_pv(const float *p, const uint16_t *v, int64_t d, int64_t n_kv, int64_t c) {
    float s[8] = {0};
    for (int64_t j = 0; j < n_kv; j++) s[j % 8] = fmaf(p[j], born_f16_to_f32(v[j * d + c]), s[j % 8]);
    return ((s[4] + s[0]) + (s[6] + s[2])) + ((s[5] + s[1]) + (s[7] + s[3]));
}

static float tile_order_kq(const float *q, const uint16_t *k, int64_t d, float scale) {
    float l[8] = {0};
    for (int64_t i = 0; i < d; i++) l[i % 8] = fmaf(born_f16_to_f32(k[i]), q[i], l[i % 8]);
    return (((l[4] + l[0]) + (l[6] + l[2])) + ((l[5] + l[1]) + (l[7] + l[3]))) * scale;
}
#endif

TEST(attention_kq_tile_matches_tile_order) {
#if defined(__x86_64__)
    if (cpu_get_level() < CPU_LEVEL_AVX2) return;
    enum { MAX_KV = 40, MAX_D = 136 };
    float q[MAX_D], sc[MAX_KV];
    uint16_t *k = malloc((size_t)MAX_KV * MAX_D * sizeof *k);
    uint64_t r = 5;
    for (int i = 0; i < MAX_D; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        q[i] = (float)((int64_t)(r >> 40) - (1 << 23)) / (float)(1 << 22);
    }
    for (int i = 0; i < MAX_KV * MAX_D; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        k[i] = born_f32_to_f16((float)((int64_t)(r >> 40) - (1 << 23)) / (float)(1 << 21));
    }
    const int64_t ds[] = {64, 8, 128, 136}, ns[] = {1, 3, 4, 7, 8, 9, 12, 13, 16, 21, 40};
    int bad = 0;
    for (size_t a = 0; a < sizeof ds / sizeof ds[0]; a++)
        for (size_t b = 0; b < sizeof ns / sizeof ns[0]; b++) {
            int64_t d = ds[a], n = ns[b];
            llm_kq_scores_tile_f16_avx2(q, k, d, n, 0.125f, sc);
            for (int64_t j = 0; j < n; j++) {
                float ref = tile_order_kq(q, k + j * d, d, 0.125f);
                if (memcmp(&ref, &sc[j], sizeof ref) != 0 && bad++ < 5)
                    test_fail(__FILE__, __LINE__, "d %lld, %lld keys, key %lld: %.9g, TILE order %.9g",
                              (long long)d, (long long)n, (long long)j, (double)sc[j], (double)ref);
            }
        }
    /* two to four heads' queries over one K at once: each head's bits as alone */
    float qh[4][MAX_D], sh[4][MAX_KV], *ss[4] = {sh[0], sh[1], sh[2], sh[3]};
    const float *qs[4] = {qh[0], qh[1], qh[2], qh[3]};
    for (int h = 0; h < 4; h++)
        for (int i = 0; i < MAX_D; i++) qh[h][i] = q[(i + 17 * h) % MAX_D] * (float)(h + 1);
    for (int nh = 2; nh <= 4; nh++)
        for (size_t a = 0; a < sizeof ds / sizeof ds[0]; a++)
            for (size_t b = 0; b < sizeof ns / sizeof ns[0]; b++) {
                int64_t d = ds[a], n = ns[b];
                llm_kq_scores_tile_f16_heads_avx2(qs, nh, k, d, n, 0.125f, ss);
                for (int h = 0; h < nh; h++)
                    for (int64_t j = 0; j < n; j++) {
                        float ref = tile_order_kq(qh[h], k + j * d, d, 0.125f);
                        if (memcmp(&ref, &sh[h][j], sizeof ref) != 0 && bad++ < 5)
                            test_fail(__FILE__, __LINE__, "%d heads, d %lld, %lld keys, head %d key %lld: %.9g, TILE order %.9g",
                                      nh, (long long)d, (long long)n, h, (long long)j, (double)sh[h][j], (double)ref);
                    }
            }
    free(k);
#endif
}

TEST(attention_pv_tile_matches_tile_order) {
#if defined(__x86_64__)
    if (cpu_get_level() < CPU_LEVEL_AVX2) return;
    enum { MAX_KV = 520, MAX_D = 136 };
    float *p = malloc(MAX_KV * sizeof *p), o[MAX_D];
    uint16_t *v = malloc((size_t)MAX_KV * MAX_D * sizeof *v);
    uint64_t r = 99;
    for (int i = 0; i < MAX_KV; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = (float)(r >> 40) / (float)(1 << 24);
    }
    for (int i = 0; i < MAX_KV * MAX_D; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        v[i] = born_f32_to_f16((float)((int64_t)(r >> 40) - (1 << 23)) / (float)(1 << 21));
    }
    const int64_t ds[] = {64, 8, 128, 136}, ns[] = {1, 7, 8, 9, 127, 128, 129, 136, 300, 513};
    int bad = 0;
    for (size_t a = 0; a < sizeof ds / sizeof ds[0]; a++)
        for (size_t b = 0; b < sizeof ns / sizeof ns[0]; b++) {
            int64_t d = ds[a], n = ns[b];
            llm_pv_tile_f16_avx2(p, v, d, n, o);
            for (int64_t c = 0; c < d; c++) {
                float ref = tile_order_pv(p, v, d, n, c);
                if (memcmp(&ref, &o[c], sizeof ref) != 0 && bad++ < 5)
                    test_fail(__FILE__, __LINE__, "d %lld, %lld keys, column %lld: %.9g, TILE order %.9g",
                              (long long)d, (long long)n, (long long)c, (double)o[c], (double)ref);
            }
        }
    /* two to four heads over one V at once: each head's bits as alone */
    float *ps[4] = {p, p + 1, p + 2, p + 3}, oh[4][MAX_D], *os[4] = {oh[0], oh[1], oh[2], oh[3]};
    for (int nh = 2; nh <= 4; nh++)
        for (size_t a = 0; a < sizeof ds / sizeof ds[0]; a++)
            for (size_t b = 0; b < sizeof ns / sizeof ns[0]; b++) {
                int64_t d = ds[a], n = ns[b] - 3 > 0 ? ns[b] - 3 : ns[b];
                llm_pv_tile_f16_heads_avx2((const float *const *)ps, nh, v, d, n, os);
                for (int h = 0; h < nh; h++)
                    for (int64_t c = 0; c < d; c++) {
                        float ref = tile_order_pv(ps[h], v, d, n, c);
                        if (memcmp(&ref, &oh[h][c], sizeof ref) != 0 && bad++ < 5)
                            test_fail(__FILE__, __LINE__, "%d heads, d %lld, %lld keys, head %d column %lld: %.9g, TILE order %.9g",
                                      nh, (long long)d, (long long)n, h, (long long)c, (double)oh[h][c], (double)ref);
                    }
            }
    free(p);
    free(v);
#endif
}
