/* Flash attention on CUDA against the CPU kernel: forward output and the gradients of q, k and v
 * for random shapes (sequence lengths that are not multiples of the 32-row tile, GQA, causal with
 * a kv offset, bool and additive masks, strided inputs, dropout on the same Philox stream) in
 * f32, f64, f16 and bf16, with fresh random inputs and poisoned device memory under
 * `make test-cuda`. These run Born's own kernels (BORN_ATTENTION=born: the cuDNN path that is the
 * default where it serves is test_cuda_attention_cudnn.c's). Without a GPU only the skip path
 * runs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda_check.h"

/* Born's kernels for the duration of a test (the cuDNN path is tested on its own). */
static void born_kernels(bool on) {
    if (on)
        setenv("BORN_ATTENTION", "born", 1);
    else
        unsetenv("BORN_ATTENTION");
}

/* The error floor of a result of n elements: an RMS of 0.05 per element, since a gradient that is
 * zero in exact arithmetic (one visible key: dS = P (dP - delta) = 0) is roundoff on both devices
 * and ||ref|| says nothing about its size. */
static double error_floor(born_tensor *ref) { return ref ? 0.05 * sqrt((double)born_tensor_numel(ref)) : 0; }

/* ||got - ref|| / max(||ref||, error_floor) <= tol. */
static void close_to(const char *what, int line, born_tensor *ref, born_tensor *got, double tol) {
    cuda_close_floor(what, __FILE__, line, ref, got, tol, error_floor(ref));
}

typedef struct attn_case {
    int64_t b, hq, hk, l, s, e, ev;
    bool causal;
    int64_t kv_offset;
    int mask; /* 0 none, 1 bool [L, S], 2 additive [B, 1, L, S] */
    bool strided; /* q built as [B, L, H, E] and transposed */
    double dropout;
} attn_case;

/* out = sdpa(q, k, v); loss = sum(out * r); fills dq, dk, dv. dev moves the inputs. */
static born_tensor *attn_run(const attn_case *c, born_tensor *q, born_tensor *k, born_tensor *v,
                             born_tensor *mask, born_tensor *r, bool gpu, born_tensor **dq,
                             born_tensor **dk, born_tensor **dv) {
    *dq = *dk = *dv = NULL; /* a failed run leaves them NULL, which close_to reports */
    if (gpu) {
        q = born_to(q, BORN_CUDA(0));
        k = born_to(k, BORN_CUDA(0));
        v = born_to(v, BORN_CUDA(0));
        mask = mask ? born_to(mask, BORN_CUDA(0)) : NULL;
        r = born_to(r, BORN_CUDA(0));
    }
    q = born_requires_grad(born_clone(q), true);
    k = born_requires_grad(born_clone(k), true);
    v = born_requires_grad(born_clone(v), true);
    born_tensor *qq = c->strided ? born_transpose(q, 1, 2) : q;
    born_sdpa_params p = born_sdpa_default_params();
    p.is_causal = c->causal;
    p.kv_offset = c->kv_offset;
    p.enable_gqa = c->hq != c->hk;
    p.kernel = BORN_SDPA_FLASH;
    p.dropout_p = c->dropout;
    born_generator *g = born_generator_new(cuda_test_seed ^ 0x5eedull); /* one stream for both devices */
    p.gen = g;
    born_tensor *out = born_scaled_dot_product_attention(qq, k, v, mask, &p);
    born_generator_free(g);
    if (!out || born_backward(born_sum(born_mul(out, r), 0, NULL, false)) != BORN_OK) return NULL;
    *dq = born_grad(q);
    *dk = born_grad(k);
    *dv = born_grad(v);
    return out;
}

static born_tensor *rnd(born_dtype dt, int nd, const int64_t *shape) {
    return born_to_dtype(born_randn(cuda_test_gen, BORN_F32, nd, shape), dt);
}

static void run_case(const attn_case *c, born_dtype dt) {
    born_scope_begin();
    born_tensor *q = c->strided ? rnd(dt, 4, (const int64_t[]){c->b, c->l, c->hq, c->e})
                                : rnd(dt, 4, (const int64_t[]){c->b, c->hq, c->l, c->e});
    born_tensor *k = rnd(dt, 4, (const int64_t[]){c->b, c->hk, c->s, c->e});
    born_tensor *v = rnd(dt, 4, (const int64_t[]){c->b, c->hk, c->s, c->ev});
    born_tensor *r = rnd(dt, 4, (const int64_t[]){c->b, c->hq, c->l, c->ev});
    born_tensor *mask = NULL;
    if (c->mask == 1) /* keeps about 80%; a few rows may see nothing */
        mask = born_lt_scalar(born_rand(cuda_test_gen, BORN_F32, 2, (const int64_t[]){c->l, c->s}), 0.8);
    else if (c->mask == 2)
        mask = rnd(BORN_F32, 4, (const int64_t[]){c->b, 1, c->l, c->s});
    /* the reference: the CPU kernel in f32 (f64 for f64) on the same values */
    born_dtype rdt = dt == BORN_F64 ? BORN_F64 : BORN_F32;
    born_tensor *ref[4], *got[4], *exact[4] = {NULL, NULL, NULL, NULL};
    ref[0] = attn_run(c, born_to_dtype(q, rdt), born_to_dtype(k, rdt), born_to_dtype(v, rdt), mask,
                      born_to_dtype(r, rdt), false, &ref[1], &ref[2], &ref[3]);
    got[0] = attn_run(c, q, k, v, mask, r, true, &got[1], &got[2], &got[3]);
    if (dt == BORN_F32) /* and in f64, see below */
        exact[0] = attn_run(c, born_to_dtype(q, BORN_F64), born_to_dtype(k, BORN_F64), born_to_dtype(v, BORN_F64),
                            mask && c->mask == 2 ? born_to_dtype(mask, BORN_F64) : mask, born_to_dtype(r, BORN_F64),
                            false, &exact[1], &exact[2], &exact[3]);
    const double tol = dt == BORN_F64 ? 1e-12 : dt == BORN_F32 ? 2e-5 : dt == BORN_F16 ? 5e-3 : 2e-2;
    static const char *const what[4] = {"attention", "attention grad q", "attention grad k", "attention grad v"};
    for (int i = 0; i < 4; i++) {
        if (!exact[i]) {
            close_to(what[i], __LINE__, ref[i], got[i], tol);
            continue;
        }
        /* f32: against f64, allowed four times the CPU's own f32 error where that is larger than
         * tol (the roundoff of a gradient that is zero in exact arithmetic grows with the rows
         * summed: 3e-5 to 5e-5 of the floor with one key and 50-150 queries) */
        const double cpu = cuda_rel_error(exact[i], ref[i], error_floor(exact[i]));
        close_to(what[i], __LINE__, exact[i], got[i], cpu >= 0 ? fmax(tol, 4 * cpu) : tol);
    }
    born_tensor *out = got[0];
    if (out && born_tensor_dtype(out) != dt)
        test_fail(__FILE__, __LINE__, "attention output is %s, not %s",
                  born_dtype_name(born_tensor_dtype(out)), born_dtype_name(dt));
    born_scope_end();
}

TEST(cuda_attention_vs_cpu) {
    if (!cuda_gpu_or_skip("cuda_attention_vs_cpu")) return;
    born_kernels(true);
    const attn_case cases[] = {
        {2, 4, 4, 37, 37, 16, 16, false, 0, 0, false, 0},
        {2, 4, 4, 70, 70, 64, 64, true, 0, 0, false, 0},
        {1, 8, 2, 45, 77, 32, 48, true, 32, 0, false, 0},   /* GQA, kv offset, Ev != E */
        {2, 6, 3, 33, 65, 128, 128, true, 32, 0, true, 0},  /* strided q */
        {1, 2, 1, 19, 50, 80, 40, false, 0, 1, false, 0},   /* bool mask, rows that see nothing */
        {2, 4, 2, 40, 29, 24, 24, false, 0, 2, false, 0},   /* additive mask */
        {1, 2, 2, 64, 64, 256, 256, true, 0, 0, false, 0},
        {2, 2, 2, 50, 60, 32, 32, true, 10, 0, false, 0.25}, /* dropout */
        {1, 4, 4, 1, 100, 64, 64, true, 99, 0, false, 0},   /* decode step */
        {1, 2, 2, 20, 10, 8, 8, true, -5, 0, false, 0},     /* negative offset: first rows see nothing */
    };
    born_dtype dts[] = {BORN_F32, BORN_F64, BORN_F16, BORN_BF16};
    for (int d = 0; d < 4; d++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            if (dts[d] == BORN_F64 && (cases[i].e > 128 || cases[i].ev > 128)) continue;
            run_case(&cases[i], dts[d]);
        }
    born_kernels(false);
}

/* Random shapes: lengths 1..150, head sizes 1..160, GQA groups, causal offsets. */
TEST(cuda_attention_random_shapes) {
    if (!cuda_gpu_or_skip("cuda_attention_random_shapes")) return;
    born_kernels(true);
    srand((unsigned)cuda_test_seed);
    for (int t = 0; t < 12; t++) {
        attn_case c;
        c.b = 1 + rand() % 2;
        c.hk = 1 + rand() % 3;
        c.hq = c.hk * (1 + rand() % 3);
        c.l = 1 + rand() % 150;
        c.s = 1 + rand() % 150;
        c.e = 1 + rand() % 160;
        c.ev = 1 + rand() % 160;
        c.causal = rand() % 2;
        c.kv_offset = c.causal ? c.s - c.l : 0;
        c.mask = rand() % 3;
        c.strided = rand() % 2;
        c.dropout = 0;
        run_case(&c, t % 2 ? BORN_BF16 : BORN_F32);
    }
    born_kernels(false);
}

/* The tensor-core kernels (f16/bf16, head sizes 64 and 128, no mask or dropout), forward and
 * backward: several tiles with ragged ends and lengths under one tile, GQA groups of 3 and 4,
 * strided q, causal with positive and negative kv offsets (rows that see nothing, S < L), not
 * causal, and heads taken in groups. On an H100/H200 these are the wgmma kernels
 * (attention_hopper.cu). */
TEST(cuda_attention_tensor_cores) {
    if (!cuda_gpu_or_skip("cuda_attention_tensor_cores")) return;
    born_kernels(true);
    const attn_case cases[] = {
        {2, 8, 2, 200, 300, 128, 128, true, 100, 0, true, 0},
        {1, 4, 4, 130, 130, 64, 64, false, 0, 0, false, 0},
        {1, 2, 1, 100, 70, 64, 64, true, -40, 0, false, 0},
        {1, 2, 2, 257, 257, 128, 128, true, 0, 0, false, 0},
        {2, 4, 1, 64, 1000, 64, 64, true, 936, 0, true, 0},
        {1, 2, 2, 5, 7, 64, 64, false, 0, 0, false, 0},        /* shorter than any tile */
        {1, 2, 1, 1, 1, 128, 128, true, 0, 0, false, 0},       /* one query, one key */
        {2, 6, 2, 33, 150, 128, 128, false, 0, 0, false, 0},   /* GQA 3, not causal, ragged */
        {1, 4, 2, 300, 140, 64, 64, true, -150, 0, false, 0},  /* S < L, rows that see nothing */
        {1, 4, 1, 129, 385, 128, 128, true, 256, 0, true, 0},  /* 3 key blocks, GQA 4, strided q */
        /* long enough that the blocks take the heads in groups (head_group_order: 15 heads a
         * forward group, 7 a backward one, the last groups short) */
        {1, 16, 16, 2600, 2600, 128, 128, true, 0, 0, false, 0},
    };
    born_dtype dts[] = {BORN_F16, BORN_BF16};
    for (int d = 0; d < 2; d++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i], dts[d]);
    born_kernels(false);
}

/* A head size the kernel does not take is an error naming it, not a crash. */
TEST(cuda_attention_bad_head_size) {
    if (!cuda_gpu_or_skip("cuda_attention_bad_head_size")) return;
    born_kernels(true);
    born_scope_begin();
    born_tensor *q = born_to(rnd(BORN_F32, 4, (const int64_t[]){1, 1, 4, 300}), BORN_CUDA(0));
    born_sdpa_params p = born_sdpa_default_params();
    p.kernel = BORN_SDPA_FLASH;
    CHECK(born_scaled_dot_product_attention(q, q, q, NULL, &p) == NULL);
    CHECK(strstr(born_last_error(), "head size 300") != NULL);
    born_clear_error();
    born_scope_end();
    born_kernels(false);
}
