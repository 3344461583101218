/* The f32 flash kernel's register tiles at every SIMD level this CPU has (AVX2 and, where present,
 * AVX-512: src/backend/cpu/attention_avx512.c): output, lse-dependent gradients of q, k and v at
 * each level against the f64 math path, and the AVX-512 results bit for bit equal to the AVX2
 * ones (the tiles do the same operations lane for lane). Shapes cover odd numbers of 16-query
 * panels (the AVX-512 tile takes two), value widths of 8, 16, 24, 40 and 64 (32-column PV tiles
 * plus a 16- or 8-column rest), causal limits with offsets, GQA and caller tiles. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu_features.h"
#include "test.h"

typedef struct lvl_case {
    int64_t b, hq, hk, l, s, e, ev;
    bool causal;
    int64_t off, bq, bkv;
} lvl_case;

/* out, dq, dk, dv of one case at the current level as one f32 array (caller frees); NULL on
 * failure. */
static float *run_case(const lvl_case *c, int64_t *count) {
    born_scope_begin();
    born_generator *gen = born_generator_new(21);
    born_tensor *q = born_requires_grad(born_randn(gen, BORN_F32, BORN_DIMS(c->b, c->hq, c->l, c->e)), true);
    born_tensor *k = born_requires_grad(born_randn(gen, BORN_F32, BORN_DIMS(c->b, c->hk, c->s, c->e)), true);
    born_tensor *v = born_requires_grad(born_randn(gen, BORN_F32, BORN_DIMS(c->b, c->hk, c->s, c->ev)), true);
    born_tensor *gout = born_randn(gen, BORN_F32, BORN_DIMS(c->b, c->hq, c->l, c->ev));
    born_sdpa_params p = born_sdpa_default_params();
    p.is_causal = c->causal;
    p.kv_offset = c->off;
    p.enable_gqa = c->hq != c->hk;
    p.kernel = BORN_SDPA_FLASH;
    p.block_q = c->bq;
    p.block_kv = c->bkv;
    born_tensor *out = born_scaled_dot_product_attention(q, k, v, NULL, &p);
    float *res = NULL;
    if (out && born_backward(born_sum(born_mul(out, gout), 0, NULL, false)) == BORN_OK) {
        born_tensor *parts[4] = {out, born_grad(q), born_grad(k), born_grad(v)};
        int64_t n = 0;
        for (int i = 0; i < 4; i++) n += born_tensor_numel(parts[i]);
        res = malloc(sizeof(float) * (size_t)n);
        int64_t at = 0;
        for (int i = 0; i < 4; i++) {
            int64_t ne = born_tensor_numel(parts[i]);
            memcpy(res + at, born_data_f32(born_contiguous(parts[i])), sizeof(float) * (size_t)ne);
            at += ne;
        }
        *count = n;
    }
    /* against the f64 math path */
    p.kernel = BORN_SDPA_MATH;
    p.block_q = p.block_kv = 0;
    born_tensor *ref = born_scaled_dot_product_attention(born_to_dtype(q, BORN_F64), born_to_dtype(k, BORN_F64),
                                                         born_to_dtype(v, BORN_F64), NULL, &p);
    CHECK_OK_TENSOR(ref);
    if (out && ref) {
        born_tensor *d = born_max(born_div(born_abs(born_sub(born_to_dtype(out, BORN_F64), ref)),
                                           born_add_scalar(born_abs(ref), 1.0)), 0, NULL, false);
        double r = d ? born_item(d) : INFINITY;
        CHECK_MSG(r < 2e-6, "level %s L %lld S %lld E %lld Ev %lld: %g", cpu_level_name(cpu_get_level()),
                  (long long)c->l, (long long)c->s, (long long)c->e, (long long)c->ev, r);
    }
    born_generator_free(gen);
    born_scope_end();
    return res;
}

TEST(attention_tiles_every_cpu_level) {
    static const lvl_case cases[] = {
        {1, 2, 2, 100, 100, 64, 64, true, 0, 0, 0},  {2, 4, 2, 37, 53, 13, 8, false, 0, 0, 0},
        {1, 2, 1, 70, 131, 40, 24, true, 61, 0, 0},  {1, 1, 1, 45, 30, 8, 16, true, -7, 0, 0},
        {1, 3, 3, 129, 129, 32, 40, true, 0, 17, 11}, {1, 2, 2, 250, 250, 64, 64, true, 0, 96, 240},
        {1, 1, 1, 80, 200, 24, 72, false, 0, 80, 7},  {1, 2, 2, 33, 33, 7, 8, true, -40, 0, 0},
    };
    enum { NCASES = sizeof cases / sizeof cases[0] };
    cpu_level saved = cpu_get_level();
    cpu_set_level(CPU_LEVEL_AVX512);
    cpu_level hw = cpu_get_level();
    float *first[NCASES] = {0};
    int64_t counts[NCASES] = {0};
    for (int l = CPU_LEVEL_AVX2; l <= (int)hw; l++) {
        cpu_set_level((cpu_level)l);
        CHECK_EQ_INT(cpu_get_level(), l);
        for (int i = 0; i < NCASES; i++) {
            int64_t n = 0;
            float *r = run_case(&cases[i], &n);
            CHECK(r != NULL);
            if (!r) continue;
            if (!first[i]) {
                first[i] = r;
                counts[i] = n;
                continue;
            }
            CHECK(n == counts[i]);
            int64_t bad = 0;
            for (int64_t x = 0; x < n && n == counts[i]; x++)
                bad += memcmp(&r[x], &first[i][x], sizeof(float)) != 0;
            CHECK_MSG(bad == 0, "case %d: %lld of %lld values differ between AVX2 and level %d", i,
                      (long long)bad, (long long)n, l);
            free(r);
        }
    }
    for (int i = 0; i < NCASES; i++) free(first[i]);
    cpu_set_level(saved);
}
