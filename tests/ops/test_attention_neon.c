/* The arm64 NEON attention kernels (src/backend/cpu/attention_fwd_neon.c, attention_neon.c) at
 * CPU_LEVEL_NEON against the portable kernels at CPU_LEVEL_SCALAR and both against the f64 math
 * path: output and the gradients of q, k and v on shapes that hit every tail of the register
 * tiles (head dims 8, 13, 16, 24, 64, 72; value widths 4 to 72, so PV tiles of 4, 8, 12 and 16
 * columns; 1, 5, 17 and 130 queries or keys against 5-row tiles and 16-query panels), GQA,
 * causal with positive and negative KV offsets, caller tiles, and cases that take the generic
 * kernel with the NEON exp (a boolean mask, a value width not a multiple of 4). The NEON exp
 * row helper is also checked alone, on every row length up to 19. arm64 builds only. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

#if defined(__aarch64__)
#include "backend/cpu/attention_kernels.h"
#include "core/cpu_features.h"

typedef struct neon_case {
    int64_t b, hq, hk, l, s, e, ev;
    bool causal;
    int64_t off, bq, bkv;
    bool mask;
} neon_case;

/* The largest |a - b| / (1 + |b|) over two f64 tensors of one shape (b the reference). */
static double rel_diff(born_tensor *a, born_tensor *b) {
    born_scope_begin();
    born_tensor *d = born_max(born_div(born_abs(born_sub(a, b)), born_add_scalar(born_abs(b), 1.0)),
                              0, NULL, false);
    double v = d ? born_item(d) : INFINITY;
    born_scope_end();
    return v;
}

/* out, dq, dk, dv of one case in f32 at the current CPU level (as f64), or the f64 math path's
 * when math is set. Returns false on failure. */
static bool run_case(const neon_case *c, bool math, born_tensor *res[4]) {
    born_generator *gen = born_generator_new(31);
    born_dtype dt = math ? BORN_F64 : BORN_F32;
    born_tensor *q =
        born_to_dtype(born_randn(gen, BORN_F32, BORN_DIMS(c->b, c->hq, c->l, c->e)), dt);
    born_tensor *k =
        born_to_dtype(born_randn(gen, BORN_F32, BORN_DIMS(c->b, c->hk, c->s, c->e)), dt);
    born_tensor *v =
        born_to_dtype(born_randn(gen, BORN_F32, BORN_DIMS(c->b, c->hk, c->s, c->ev)), dt);
    born_tensor *gout =
        born_to_dtype(born_randn(gen, BORN_F32, BORN_DIMS(c->b, c->hq, c->l, c->ev)), dt);
    born_tensor *mask =
        c->mask ? born_gt_scalar(born_rand(gen, BORN_F32, BORN_DIMS(c->l, c->s)), 0.3) : NULL;
    born_generator_free(gen);
    q = born_requires_grad(born_detach(q), true);
    k = born_requires_grad(born_detach(k), true);
    v = born_requires_grad(born_detach(v), true);
    born_sdpa_params p = born_sdpa_default_params();
    p.is_causal = c->causal;
    p.kv_offset = c->off;
    p.enable_gqa = c->hq != c->hk;
    p.kernel = math ? BORN_SDPA_MATH : BORN_SDPA_FLASH;
    p.block_q = math ? 0 : c->bq;
    p.block_kv = math ? 0 : c->bkv;
    born_tensor *out = born_scaled_dot_product_attention(q, k, v, mask, &p);
    CHECK_OK_TENSOR(out);
    if (!out) return false;
    born_status st = born_backward(born_sum(born_mul(out, gout), 0, NULL, false));
    CHECK_OK(st);
    if (st != BORN_OK) return false;
    born_tensor *parts[4] = {out, born_grad(q), born_grad(k), born_grad(v)};
    for (int i = 0; i < 4; i++) {
        if (!parts[i]) return false;
        res[i] = born_to_dtype(born_detach(parts[i]), BORN_F64);
    }
    return true;
}

TEST(attention_neon_matches_scalar_and_math) {
    static const neon_case cases[] = {
        {1, 2, 2, 1, 1, 8, 8, true, 0, 0, 0, false},
        {1, 2, 2, 5, 5, 16, 16, false, 0, 0, 0, false},
        {2, 4, 2, 17, 17, 24, 24, true, 0, 0, 0, false},
        {1, 2, 2, 130, 130, 64, 64, true, 0, 0, 0, false},
        {1, 3, 1, 130, 17, 72, 72, false, 0, 0, 0, false},
        {1, 4, 2, 17, 130, 72, 72, true, 113, 0, 0, false},
        {1, 2, 1, 5, 130, 64, 64, true, 125, 0, 0, false},
        {1, 1, 1, 130, 5, 8, 8, true, -3, 0, 0, false},
        {1, 2, 2, 130, 130, 16, 12, true, 0, 17, 11, false},
        {1, 2, 2, 33, 40, 13, 20, false, 0, 0, 0, false},
        {1, 1, 1, 17, 130, 24, 4, true, 113, 5, 7, false},
        {1, 2, 2, 17, 130, 16, 6, true, 113, 0, 0, false},
        {1, 2, 2, 17, 37, 16, 16, false, 0, 0, 0, true},
    };
    static const char *names[4] = {"out", "dq", "dk", "dv"};
    cpu_level saved = cpu_get_level();
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const neon_case *c = &cases[ci];
        born_scope_begin();
        born_tensor *ref[4] = {0}, *got[2][4] = {{0}};
        bool ok = run_case(c, true, ref);
        cpu_set_level(CPU_LEVEL_SCALAR);
        ok = run_case(c, false, got[0]) && ok;
        cpu_set_level(CPU_LEVEL_NEON);
        CHECK_EQ_INT(cpu_get_level(), CPU_LEVEL_NEON);
        ok = run_case(c, false, got[1]) && ok;
        cpu_set_level(saved);
        for (int i = 0; i < 4 && ok; i++) {
            double tol = i == 0 ? 2e-6 : 2e-5;
            double r_scalar = rel_diff(got[0][i], ref[i]), r_neon = rel_diff(got[1][i], ref[i]);
            double r_both = rel_diff(got[1][i], got[0][i]);
            CHECK_MSG(r_neon < tol && r_both < 2 * tol && r_scalar < tol,
                      "case %zu %s (L %lld S %lld E %lld Ev %lld): neon vs math %g, scalar vs "
                      "math %g, neon vs scalar %g",
                      ci, names[i], (long long)c->l, (long long)c->s, (long long)c->e,
                      (long long)c->ev, r_neon, r_scalar, r_both);
        }
        /* queries before the first key see nothing: exact zeros */
        if (ok && c->causal && c->off < 0) {
            const double *o = born_data_f64(born_contiguous(got[1][0]));
            int64_t dead = -c->off < c->l ? -c->off : c->l;
            for (int64_t h = 0; h < c->b * c->hq; h++)
                for (int64_t i = 0; i < dead * c->ev; i++)
                    CHECK(o[h * c->l * c->ev + i] == 0.0);
        }
        born_scope_end();
    }
}

TEST(attention_neon_exp_shift_rows) {
    uint32_t seed = 12345;
    for (int64_t n = 0; n < 20; n++) {
        float x[20], y[20];
        for (int64_t i = 0; i < n; i++) {
            seed = seed * 1664525u + 1013904223u;
            x[i] = -30.0f * (float)(seed >> 8) / 16777216.0f;
            if (i % 7 == 3) x[i] = -INFINITY; /* a masked score */
        }
        memcpy(y, x, sizeof x);
        float shift = n % 2 ? 0.5f : -1.25f;
        double want = 0;
        for (int64_t i = 0; i < n; i++)
            want += exp((double)x[i] - shift);
        float sum_ref = attn_exp_shift_f32_ref(x, n, shift);
        float sum_neon = attn_exp_shift_f32_neon(y, n, shift);
        for (int64_t i = 0; i < n; i++)
            CHECK_MSG(fabsf(y[i] - x[i]) <= 3e-7f * x[i], "n %lld, element %lld: %.9g vs %.9g",
                      (long long)n, (long long)i, (double)y[i], (double)x[i]);
        CHECK_MSG(fabs(sum_neon - want) <= 1e-6 * want && fabs(sum_ref - want) <= 1e-6 * want,
                  "n %lld: sum %.9g (ref %.9g, exact %.9g)", (long long)n, (double)sum_neon,
                  (double)sum_ref, want);
    }
}
#endif
