/* The fused paths of the CUDA backend against the CPU's composition, with fresh random inputs
 * (and poisoned device memory under `make test-cuda`): linear layers with the bias (and GELU-tanh)
 * in cuBLASLt's epilogue and the bias gradient from the weight gradient's product (BGRADB), with
 * and without bias, 2-D and 3-D inputs, f32/bf16/f16, an output width the GELU epilogue cannot
 * take (falls back); and the vectorized activations (GELU-tanh, GELU, SiLU, tanh forward and
 * backward on dense f32/bf16/f16, and a length that is not a multiple of four). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda_check.h"
#include "nn/linear_run.h"

#define CLOSE(what, ref, got, tol) cuda_close_floor(what, __FILE__, __LINE__, ref, got, tol, 0)

static const char *dt_name(born_dtype t) {
    return t == BORN_F32 ? "f32" : t == BORN_BF16 ? "bf16" : "f16";
}

TEST(cuda_fused_linear_epilogues) {
    if (!cuda_gpu_or_skip("cuda_fused_linear_epilogues")) return;
    born_dtype dts[] = {BORN_F32, BORN_BF16, BORN_F16};
    /* rows as [a, b] (b 0: 2-D input), K, N; N = 20 is not a multiple of 8 (GELU falls back) */
    struct { int64_t a, b, k, n; } shapes[] = {{37, 0, 64, 96}, {3, 13, 48, 128}, {5, 7, 32, 20}, {1, 0, 16, 8}};
    int fused_seen = 0;
    for (int d = 0; d < 3; d++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int bias = 0; bias < 2; bias++)
                for (int gelu = 0; gelu < 2; gelu++) {
                    born_scope_begin();
                    born_dtype t = dts[d];
                    int64_t a = shapes[s].a, bb = shapes[s].b, k = shapes[s].k, n = shapes[s].n;
                    born_tensor *x = bb ? cuda_randn(t, BORN_DIMS(a, bb, k)) : cuda_randn(t, BORN_DIMS(a, k));
                    born_tensor *r = bb ? cuda_randn(t, BORN_DIMS(a, bb, n)) : cuda_randn(t, BORN_DIMS(a, n));
                    born_tensor *w = born_mul_scalar(cuda_randn(t, BORN_DIMS(n, k)), 0.3);
                    born_tensor *b = bias ? cuda_randn(t, BORN_DIMS(n)) : NULL;
                    born_tensor *gc[3], *gg[3];
                    born_tensor *yc = linear_run(x, w, b, r, gelu, true, gc);
                    born_tensor *yg = linear_run(cuda_to_gpu(x), cuda_to_gpu(w), b ? cuda_to_gpu(b) : NULL,
                                                 cuda_to_gpu(r), gelu, true, gg);
                    CHECK(yc && yg);
                    if (yg) {
                        const char *fn = born_grad_fn_name(yg);
                        bool fused = fn && strncmp(fn, "Linear", 6) == 0 && (gelu || strcmp(fn, "LinearBackward") == 0);
                        if (gelu && fn && strcmp(fn, "LinearGeluTanhBackward") == 0) fused_seen++;
                        CHECK_MSG(fused || (gelu && n % 8), "%s %s bias %d gelu %d: grad_fn %s", dt_name(t),
                                  bb ? "3-D" : "2-D", bias, gelu, fn ? fn : "none");
                    }
                    /* cuBLASLt's GELU epilogue computes its tanh less exactly than the CPU's f32
                     * gelu_tanh: up to 2.4e-5 measured on 8 outputs (H200, 2026-12-01) */
                    double tol = t == BORN_F32 ? (gelu ? 1e-4 : 1e-5) : 1e-2;
                    char what[96];
                    snprintf(what, sizeof what, "linear %s n%lld bias %d gelu %d", dt_name(t), (long long)n, bias, gelu);
                    CLOSE(what, yc, yg, tol);
                    const char *names[3] = {"grad x", "grad w", "grad b"};
                    for (int i = 0; i < (bias ? 3 : 2); i++) {
                        char w2[128];
                        snprintf(w2, sizeof w2, "%s %s", what, names[i]);
                        /* a bias gradient sums many rows: measured against ||r|| per column */
                        CLOSE(w2, gc[i], gg[i], i == 2 ? 2 * tol : tol);
                    }
                    born_scope_end();
                }
    CHECK_MSG(fused_seen > 0, "the GELU-tanh epilogue never ran");
}

static born_tensor *act(int which, born_tensor *x) {
    switch (which) {
    case 0: return born_gelu_tanh(x);
    case 1: return born_gelu(x);
    case 2: return born_silu(x);
    default: return born_tanh(x);
    }
}

TEST(cuda_fused_vectorized_activations) {
    if (!cuda_gpu_or_skip("cuda_fused_vectorized_activations")) return;
    born_dtype dts[] = {BORN_F32, BORN_BF16, BORN_F16};
    int64_t lens[] = {4096 + 8, 1001};
    for (int d = 0; d < 3; d++)
        for (int which = 0; which < 4; which++)
            for (int l = 0; l < 2; l++) {
                born_scope_begin();
                born_dtype t = dts[d];
                born_tensor *x = born_mul_scalar(cuda_randn(t, BORN_DIMS(lens[l])), 3.0);
                born_tensor *r = cuda_randn(t, BORN_DIMS(lens[l]));
                born_tensor *y[2], *gx[2];
                for (int dev = 0; dev < 2; dev++) {
                    born_tensor *xi = born_requires_grad(dev ? cuda_to_gpu(x) : born_clone(x), true);
                    y[dev] = act(which, xi);
                    CHECK_OK(born_backward(born_sum(born_mul(y[dev], dev ? cuda_to_gpu(r) : r), 0, NULL, false)));
                    gx[dev] = born_grad(xi);
                }
                double tol = t == BORN_F32 ? 1e-5 : 1e-2;
                char what[64];
                snprintf(what, sizeof what, "activation %d %s len %lld", which, dt_name(t), (long long)lens[l]);
                CLOSE(what, y[0], y[1], tol);
                snprintf(what, sizeof what, "activation %d %s len %lld grad", which, dt_name(t), (long long)lens[l]);
                CLOSE(what, gx[0], gx[1], tol);
                born_scope_end();
            }
}

/* q, k, v as head views [B, H, T, D] of [B, T, H, D] projections (the Attention module's layout),
 * so the output and the gradients are written strided: the tensor-core path (bf16/f16, D 64)
 * writes them in place, the others (f32, D 48) through dense copies. Output, dq, dk, dv against
 * the CPU, and the output's layout: a [B, T, H, D] buffer seen as heads. */
static born_tensor *heads(born_tensor *x) { return born_transpose(x, 1, 2); }

TEST(cuda_fused_attention_strided_outputs) {
    if (!cuda_gpu_or_skip("cuda_fused_attention_strided_outputs")) return;
    struct { born_dtype t; int64_t b, tl, h, d; bool causal; } cases[] = {
        {BORN_BF16, 2, 100, 3, 64, true}, {BORN_F16, 1, 64, 2, 64, false},
        {BORN_BF16, 2, 70, 2, 128, true}, {BORN_F32, 2, 33, 3, 48, true}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        born_scope_begin();
        born_dtype t = cases[c].t;
        int64_t b = cases[c].b, tl = cases[c].tl, h = cases[c].h, d = cases[c].d;
        born_tensor *src[3], *r = cuda_randn(t, BORN_DIMS(b, tl, h, d));
        for (int i = 0; i < 3; i++) src[i] = cuda_randn(t, BORN_DIMS(b, tl, h, d));
        born_sdpa_params p = born_sdpa_default_params();
        p.is_causal = cases[c].causal;
        born_tensor *y[2], *gr[2][3];
        for (int dev = 0; dev < 2; dev++) {
            born_tensor *leaf[3], *hv[3];
            for (int i = 0; i < 3; i++) {
                leaf[i] = born_requires_grad(dev ? cuda_to_gpu(src[i]) : born_clone(src[i]), true);
                hv[i] = heads(leaf[i]);
            }
            y[dev] = born_scaled_dot_product_attention(hv[0], hv[1], hv[2], NULL, &p);
            CHECK(y[dev] != NULL);
            if (!y[dev]) break;
            born_tensor *rr = heads(dev ? cuda_to_gpu(r) : r);
            CHECK_OK(born_backward(born_sum(born_mul(y[dev], rr), 0, NULL, false)));
            for (int i = 0; i < 3; i++) gr[dev][i] = born_grad(leaf[i]);
        }
        if (y[0] && y[1]) {
            if (t != BORN_F32)
                CHECK_MSG(born_tensor_is_contiguous(born_transpose(y[1], 1, 2)),
                          "case %zu: the output is not a [B, T, H, D] buffer seen as heads", c);
            double tol = t == BORN_F32 ? 1e-5 : 2e-2;
            char what[64];
            snprintf(what, sizeof what, "strided attention case %zu out", c);
            CLOSE(what, y[0], y[1], tol);
            const char *names[3] = {"dq", "dk", "dv"};
            for (int i = 0; i < 3; i++) {
                snprintf(what, sizeof what, "strided attention case %zu %s", c, names[i]);
                CLOSE(what, gr[0][i], gr[1][i], tol);
            }
        }
        born_scope_end();
    }
}

/* ---- mixed precision on the GPU ---------------------------------------------------------------- */

static born_tensor *gpt_loss_ac(born_module *m, born_tensor *x, born_tensor *y, int64_t vocab,
                                born_dtype ac) {
    born_autocast_begin(ac);
    int64_t n = born_tensor_numel(y);
    born_tensor *l = born_cross_entropy(born_reshape(born_module_forward(m, x), BORN_DIMS(n, vocab)),
                                        born_reshape(y, BORN_DIMS(n)), NULL);
    born_autocast_end();
    return l;
}

/* A tiny GPT-2 with f32 parameters on the CPU and the GPU, trained under autocast (bf16, then
 * f16 with a GradScaler): the losses follow each other within 2%, gradients arrive in f32. */
TEST(cuda_fused_autocast_and_grad_scaler) {
    if (!cuda_gpu_or_skip("cuda_fused_autocast_and_grad_scaler")) return;
    born_gpt_config c = born_gpt_default_config(false);
    c.vocab_size = 97;
    c.block_size = 32;
    c.n_layer = 2;
    c.n_head = 2;
    c.n_kv_head = 2;
    c.n_embd = 128; /* head size 64: the tensor-core attention */
    for (int pass = 0; pass < 2; pass++) {
        born_dtype ac = pass ? BORN_F16 : BORN_BF16;
        born_generator *g1 = born_generator_new(cuda_test_seed), *g2 = born_generator_new(cuda_test_seed);
        born_module *mc = born_gpt_new(&c, g1), *mg = born_gpt_new(&c, g2);
        born_generator_free(g1);
        born_generator_free(g2);
        CHECK(mc && mg);
        if (!mc || !mg) return;
        CHECK_OK(born_module_to(mg, BORN_CUDA(0)));
        born_scope_begin();
        born_tensor *x = born_randint(cuda_test_gen, 0, c.vocab_size, BORN_I64, BORN_DIMS(2, c.block_size));
        born_tensor *y = born_randint(cuda_test_gen, 0, c.vocab_size, BORN_I64, BORN_DIMS(2, c.block_size));
        born_tensor *xg = cuda_to_gpu(x), *yg = cuda_to_gpu(y);
        int64_t nc = 0, ng = 0;
        born_tensor **pc = born_module_parameters(mc, &nc), **pg = born_module_parameters(mg, &ng);
        born_adam_params ap = born_adamw_default_params();
        ap.lr = 1e-3;
        born_optimizer *oc = born_adamw(pc, nc, &ap), *og = born_adamw(pg, ng, &ap);
        born_grad_scaler_params sp = born_grad_scaler_default_params();
        sp.enabled = ac == BORN_F16;
        sp.init_scale = 256; /* the default 65536 overflows f16 in the first steps (skipped) */
        born_grad_scaler *sc = born_grad_scaler_new(&sp), *sg = born_grad_scaler_new(&sp);
        for (int s = 0; s < 4; s++) {
            born_scope_begin();
            born_tensor *a = gpt_loss_ac(mc, x, y, c.vocab_size, ac), *b = gpt_loss_ac(mg, xg, yg, c.vocab_size, ac);
            CHECK_OK(born_backward(born_grad_scaler_scale(sc, a)));
            CHECK_OK(born_backward(born_grad_scaler_scale(sg, b)));
            born_tensor *gw = born_grad(pg[0]);
            CHECK(gw && born_tensor_dtype(gw) == BORN_F32);
            double va = born_item(a), vb = born_item(b);
            CHECK_MSG(fabs(va - vb) <= 2e-2 * fabs(va), "autocast %s step %d: gpu loss %.6g, cpu %.6g (seed %llu)",
                      dt_name(ac), s, vb, va, cuda_test_seed);
            bool stc = false, stg = false;
            CHECK_OK(born_grad_scaler_step(sc, oc, &stc));
            CHECK_OK(born_grad_scaler_step(sg, og, &stg));
            CHECK(stc && stg);
            CHECK_OK(born_grad_scaler_update(sc));
            CHECK_OK(born_grad_scaler_update(sg));
            born_optimizer_zero_grad(oc);
            born_optimizer_zero_grad(og);
            born_scope_end();
        }
        born_grad_scaler_free(sc);
        born_grad_scaler_free(sg);
        born_optimizer_free(oc);
        born_optimizer_free(og);
        free(pc);
        free(pg);
        born_scope_end();
        born_module_free(mc);
        born_module_free(mg);
    }
}
