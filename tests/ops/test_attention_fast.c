/* The f32 flash kernel without mask or dropout (on AVX2 + FMA: src/backend/cpu/attention_fwd_avx2.c,
 * forward and the backward's tiles), output and the gradients of q, k and v, against the math path in f64 on shapes that hit its edges: query and key counts that are not
 * multiples of its 16-query panels or 6-key register tiles, head sizes not multiples of 8, value
 * widths of 8, 16 and 24, GQA, causal with positive and negative KV offsets (queries that see no
 * key give 0 and lse -inf), tiles from the caller, and one thread against two. */
#include <math.h>

#include "test.h"

typedef struct fast_case {
    int64_t b, hq, hk, l, s, e, ev;
    bool causal;
    int64_t off, bq, bkv;
} fast_case;

/* The largest |a - b| / (1 + |b|) over two tensors of one shape (b the reference). */
static double rel_diff(born_tensor *a, born_tensor *b) {
    born_scope_begin();
    born_tensor *d = born_max(born_div(born_abs(born_sub(a, b)), born_add_scalar(born_abs(b), 1.0)), 0,
                              NULL, false);
    double v = d ? born_item(d) : INFINITY;
    born_scope_end();
    return v;
}

static void check_case(const fast_case *c) {
    born_scope_begin();
    born_generator *gen = born_generator_new(11);
    born_tensor *q = born_requires_grad(born_randn(gen, BORN_F32, BORN_DIMS(c->b, c->hq, c->l, c->e)), true);
    born_tensor *k = born_requires_grad(born_randn(gen, BORN_F32, BORN_DIMS(c->b, c->hk, c->s, c->e)), true);
    born_tensor *v = born_requires_grad(born_randn(gen, BORN_F32, BORN_DIMS(c->b, c->hk, c->s, c->ev)), true);
    born_tensor *gout = born_randn(gen, BORN_F32, BORN_DIMS(c->b, c->hq, c->l, c->ev));
    born_tensor *q64 = born_requires_grad(born_detach(born_to_dtype(q, BORN_F64)), true);
    born_tensor *k64 = born_requires_grad(born_detach(born_to_dtype(k, BORN_F64)), true);
    born_tensor *v64 = born_requires_grad(born_detach(born_to_dtype(v, BORN_F64)), true);
    born_sdpa_params p = born_sdpa_default_params();
    p.is_causal = c->causal;
    p.kv_offset = c->off;
    p.enable_gqa = c->hq != c->hk;
    p.kernel = BORN_SDPA_FLASH;
    p.block_q = c->bq;
    p.block_kv = c->bkv;
    born_tensor *out = born_scaled_dot_product_attention(q, k, v, NULL, &p);
    CHECK_OK_TENSOR(out);
    p.kernel = BORN_SDPA_MATH;
    p.block_q = p.block_kv = 0;
    born_tensor *ref = born_scaled_dot_product_attention(q64, k64, v64, NULL, &p);
    CHECK_OK_TENSOR(ref);
    if (out && ref) {
        CHECK_OK(born_backward(born_sum(born_mul(out, gout), 0, NULL, false)));
        CHECK_OK(born_backward(born_sum(born_mul(ref, born_to_dtype(gout, BORN_F64)), 0, NULL, false)));
        born_tensor *g32[3] = {born_grad(q), born_grad(k), born_grad(v)};
        born_tensor *g64[3] = {born_grad(q64), born_grad(k64), born_grad(v64)};
        for (int i = 0; i < 3; i++) {
            CHECK(g32[i] != NULL && g64[i] != NULL);
            if (!g32[i] || !g64[i]) continue;
            double r = rel_diff(born_to_dtype(g32[i], BORN_F64), g64[i]);
            CHECK_MSG(r < 2e-5, "grad %d, L %lld S %lld E %lld Ev %lld off %lld tiles %lld x %lld: %g", i,
                      (long long)c->l, (long long)c->s, (long long)c->e, (long long)c->ev,
                      (long long)c->off, (long long)c->bq, (long long)c->bkv, r);
        }
    }
    if (out && ref) {
        double r = rel_diff(born_to_dtype(out, BORN_F64), ref);
        CHECK_MSG(r < 2e-6, "L %lld S %lld E %lld Ev %lld off %lld tiles %lld x %lld: %g",
                  (long long)c->l, (long long)c->s, (long long)c->e, (long long)c->ev,
                  (long long)c->off, (long long)c->bq, (long long)c->bkv, r);
        /* queries before the first key see nothing: exact zeros */
        if (c->causal && c->off < 0) {
            const float *o = born_data_f32(born_contiguous(out));
            int64_t dead = -c->off < c->l ? -c->off : c->l;
            for (int64_t i = 0; i < dead; i++)
                for (int64_t x = 0; x < c->ev; x++) CHECK(o[i * c->ev + x] == 0.0f);
        }
    }
    born_generator_free(gen);
    born_scope_end();
}

TEST(attention_fast_forward_matches_math_f64) {
    static const fast_case cases[] = {
        {1, 2, 2, 100, 100, 64, 64, true, 0, 0, 0},    {1, 2, 2, 300, 300, 128, 128, true, 0, 0, 0},
        {2, 4, 2, 37, 53, 13, 8, false, 0, 0, 0},      {1, 2, 1, 70, 131, 40, 24, true, 61, 0, 0},
        {1, 1, 1, 45, 30, 8, 16, true, -7, 0, 0},      {1, 3, 3, 129, 129, 32, 16, true, 0, 17, 11},
        {1, 1, 1, 1, 1, 8, 8, true, 0, 0, 0},          {1, 2, 2, 250, 250, 64, 64, true, 0, 96, 240},
        {1, 1, 1, 64, 200, 64, 64, false, 0, 64, 1},   {1, 2, 2, 33, 33, 7, 8, true, -40, 0, 0},
    };
    int saved = born_get_num_threads();
    for (int threads = 1; threads <= 2; threads++) {
        CHECK_OK(born_set_num_threads(threads));
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&cases[i]);
    }
    CHECK_OK(born_set_num_threads(saved));
}
