/* bf16 (and f16) attention on the CPU (src/backend/cpu/attention_half.c and, with AMX,
 * attention_bf16_{fwd,bwd}_avx512.c): output and the gradients of q, k and v against the f32
 * flash kernel on the same values (the bf16 inputs widened exactly), within what rounding P, dS
 * and the results to bf16 can explain, with GQA, causal limits with offsets (rows that see no
 * key), head and value widths that are not multiples of 16, caller tiles, keys over several of
 * the kernels' 512-key chunks and operands not contiguous along their widths; bit for bit the
 * same on one, two and four threads (with more threads than (batch, kv head) pairs the backward
 * splits its work by key blocks and query blocks instead). Without AMX (or for f16) the operands
 * go through f32, so the output is the f32 kernel's rounded: checked exactly. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu_features.h"
#include "test.h"

typedef struct half_case {
    int64_t b, hq, hk, l, s, e, ev;
    bool causal;
    int64_t off, bq;
    bool strided; /* q, k and v as transposed views of [B, H, E, T] tensors */
} half_case;

/* out, dq, dk, dv of a case in dtype (q, k, v, grad_out the given f32 values converted), each
 * widened to f32. */
typedef struct half_result {
    born_tensor *t[4];
} half_result;

static bool run(const half_case *c, born_dtype dtype, born_tensor *const in[4], half_result *r) {
    born_tensor *x[3], *leaf[3];
    for (int i = 0; i < 3; i++) {
        born_tensor *t = born_to_dtype(in[i], dtype);
        if (c->strided) t = born_contiguous(born_transpose(t, 2, 3));
        leaf[i] = born_requires_grad(born_detach(t), true);
        x[i] = c->strided ? born_transpose(leaf[i], 2, 3) : leaf[i];
    }
    born_tensor *gout = born_to_dtype(in[3], dtype);
    born_sdpa_params p = born_sdpa_default_params();
    p.is_causal = c->causal;
    p.kv_offset = c->off;
    p.enable_gqa = c->hq != c->hk;
    p.kernel = BORN_SDPA_FLASH;
    p.block_q = c->bq;
    born_tensor *out = born_scaled_dot_product_attention(x[0], x[1], x[2], NULL, &p);
    CHECK_OK_TENSOR(out);
    if (!out) return false;
    born_status st = born_backward(born_sum(
        born_mul(born_to_dtype(out, BORN_F32), born_to_dtype(gout, BORN_F32)), 0, NULL, false));
    CHECK_OK(st);
    if (st != BORN_OK) return false;
    r->t[0] = born_contiguous(born_to_dtype(out, BORN_F32));
    for (int i = 0; i < 3; i++) {
        born_tensor *g = born_grad(leaf[i]);
        if (c->strided) g = born_transpose(g, 2, 3);
        r->t[1 + i] = born_contiguous(born_to_dtype(g, BORN_F32));
    }
    return true;
}

/* max |a - b| over max |b| (b the reference), with the place of the worst difference. */
static double rel_diff(born_tensor *a, born_tensor *b) {
    const float *pa = born_data_f32(a), *pb = born_data_f32(b);
    int64_t n = born_tensor_numel(b);
    double worst = 0, scale = 1e-30;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)pa[i] - pb[i]);
        if (!(d <= worst)) worst = d; /* NaN counts */
        if (fabs(pb[i]) > scale) scale = fabs(pb[i]);
    }
    return worst / scale;
}

TEST(cpu_bf16_attention_matches_the_f32_kernel) {
    static const half_case cases[] = {
        {2, 4, 2, 67, 67, 40, 24, true, 0, 0, false}, /* GQA, widths not multiples of 16 */
        {1, 2, 2, 130, 130, 64, 64, false, 0, 0, false},
        {1, 3, 1, 5, 37, 32, 16, true, 32, 0, false},  /* a few new queries against a cache */
        {2, 2, 2, 33, 20, 16, 48, true, -5, 0, false}, /* the first five rows see no key */
        {1, 2, 2, 100, 100, 64, 64, true, 0, 32, false},
        /* one kv head: split by key blocks on 2 threads */
        {1, 2, 1, 70, 300, 32, 24, true, 0, 0, false},
        /* several of the forward's 512-key chunks (a row's maximum growing from one to the next) */
        {1, 2, 1, 40, 1100, 64, 64, true, 1060, 0, false},
        {1, 1, 1, 600, 600, 96, 80, false, 0, 0, false},
        /* a caller's query tile that is not a multiple of the tiles' 32 rows */
        {1, 2, 1, 90, 150, 64, 64, true, 60, 37, false},
        /* q, k and v not contiguous along their widths */
        {2, 4, 2, 67, 67, 40, 24, true, 0, 0, true},
        {1, 2, 1, 70, 600, 64, 32, true, 0, 0, true},
    };
    static const char *names[4] = {"out", "dq", "dk", "dv"};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const half_case *c = &cases[ci];
        born_scope_begin();
        born_generator *gen = born_generator_new(100 + ci);
        born_tensor *in[4] = {born_randn(gen, BORN_F32, BORN_DIMS(c->b, c->hq, c->l, c->e)),
                              born_randn(gen, BORN_F32, BORN_DIMS(c->b, c->hk, c->s, c->e)),
                              born_randn(gen, BORN_F32, BORN_DIMS(c->b, c->hk, c->s, c->ev)),
                              born_randn(gen, BORN_F32, BORN_DIMS(c->b, c->hq, c->l, c->ev))};
        for (int i = 0; i < 4; i++)
            in[i] = born_to_dtype(born_to_dtype(in[i], BORN_BF16), BORN_F32);
        half_result ref, one, two, four, plain;
        int saved = born_get_num_threads();
        bool ok = run(c, BORN_F32, in, &ref);
        born_set_num_threads(1);
        ok = ok && run(c, BORN_BF16, in, &one);
        born_set_num_threads(2);
        ok = ok && run(c, BORN_BF16, in, &two);
        born_set_num_threads(4); /* more threads than (batch, kv head) pairs: the split backward */
        ok = ok && run(c, BORN_BF16, in, &four);
        born_set_num_threads(saved);
        cpu_set_amx(false); /* through f32 (also where the CPU has no AMX) */
        ok = ok && run(c, BORN_BF16, in, &plain);
        cpu_set_amx(true);
        if (ok) {
            for (int i = 0; i < 4; i++) {
                double d1 = rel_diff(one.t[i], ref.t[i]), d0 = rel_diff(plain.t[i], ref.t[i]);
                /* P and dS rounded to bf16 (2^-9 relative each), the results too, sums of up to a
                 * few hundred such terms */
                double tol = i == 0 ? 8e-3 : 1.2e-2;
                CHECK_MSG(d1 <= tol, "case %zu %s: bf16 differs from f32 by %.3g of its largest",
                          ci, names[i], d1);
                CHECK_MSG(d0 <= tol, "case %zu %s (through f32): %.3g", ci, names[i], d0);
                CHECK_MSG(test_same_bits(one.t[i], two.t[i]),
                          "case %zu %s: 1 and 2 threads differ", ci, names[i]);
                CHECK_MSG(test_same_bits(one.t[i], four.t[i]),
                          "case %zu %s: 1 and 4 threads differ", ci, names[i]);
            }
            /* through f32 the output is the f32 kernel's, rounded once (on the contiguous f32
             * copies: the strided cases' reference ran on their strides, other bits) */
            born_tensor *rounded = born_to_dtype(born_to_dtype(ref.t[0], BORN_BF16), BORN_F32);
            CHECK_MSG(c->strided || test_same_bits(plain.t[0], rounded),
                      "case %zu: out through f32 is not the f32 kernel's rounded", ci);
        }
        /* f16 takes the f32 kernels: its output is theirs rounded to f16 */
        half_result h;
        if (run(c, BORN_F16, in, &h)) {
            born_tensor *rounded = born_to_dtype(born_to_dtype(ref.t[0], BORN_F16), BORN_F32);
            CHECK_MSG(c->strided || test_same_bits(h.t[0], rounded),
                      "case %zu: f16 out is not the f32 kernel's rounded", ci);
            for (int i = 1; i < 4; i++)
                CHECK_MSG(rel_diff(h.t[i], ref.t[i]) <= 5e-3, "case %zu f16 %s: %.3g", ci, names[i],
                          rel_diff(h.t[i], ref.t[i]));
        }
        born_generator_free(gen);
        born_scope_end();
    }
}

/* Past 32,768 keys bf16 takes the f32 kernels (the AMX kernels' memory grows with the keys): the
 * output is then exactly the f32 kernel's rounded, a few queries at the end of a long cache. */
TEST(cpu_bf16_attention_over_a_long_cache_takes_the_f32_kernels) {
    const half_case c = {1, 1, 1, 3, 32769, 16, 16, true, 32766, 0, false};
    born_generator *gen = born_generator_new(7);
    born_tensor *in[4] = {born_randn(gen, BORN_F32, BORN_DIMS(c.b, c.hq, c.l, c.e)),
                          born_randn(gen, BORN_F32, BORN_DIMS(c.b, c.hk, c.s, c.e)),
                          born_randn(gen, BORN_F32, BORN_DIMS(c.b, c.hk, c.s, c.ev)),
                          born_randn(gen, BORN_F32, BORN_DIMS(c.b, c.hq, c.l, c.ev))};
    for (int i = 0; i < 4; i++)
        in[i] = born_to_dtype(born_to_dtype(in[i], BORN_BF16), BORN_F32);
    half_result ref, got;
    if (run(&c, BORN_F32, in, &ref) && run(&c, BORN_BF16, in, &got)) {
        born_tensor *rounded = born_to_dtype(born_to_dtype(ref.t[0], BORN_BF16), BORN_F32);
        CHECK_MSG(test_same_bits(got.t[0], rounded),
                  "out over 32769 keys is not the f32 kernel's rounded");
        for (int i = 1; i < 4; i++)
            CHECK(rel_diff(got.t[i], ref.t[i]) <= 1.2e-2);
    }
    born_generator_free(gen);
}
