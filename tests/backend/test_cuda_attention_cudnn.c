/* The cuDNN fused-attention path of the CUDA backend (src/backend/cuda/cudnn_sdpa.c), forced with
 * BORN_ATTENTION=cudnn: forward output and the gradients of q, k and v against the CPU kernel (f32
 * reference on the same values) and against Born's own kernel (BORN_ATTENTION=born) on the same
 * inputs, for causal and non-causal, GQA, f16/bf16, head sizes 64 and 128, lengths that are not
 * multiples of the tiles and strided q; fresh random inputs, and device memory poisoned under
 * `make test-cuda`. Skipped without a GPU, and (saying so) where cuDNN 9 is not installed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda_check.h"

typedef struct dnn_case {
    int64_t b, hq, hk, l, s, e;
    bool causal;
    int64_t kv_offset;
    bool strided; /* q built as [B, L, H, E] and transposed */
    bool may_decline; /* cuDNN releases differ on this one: a refusal is reported, not failed */
} dnn_case;

static void set_path(const char *path) {
    if (path)
        setenv("BORN_ATTENTION", path, 1);
    else
        unsetenv("BORN_ATTENTION");
}

/* out = sdpa(q, k, v) and the gradients of sum(out * r), inputs on the device given. */
static born_tensor *run(const dnn_case *c, born_tensor *q, born_tensor *k, born_tensor *v, born_tensor *r,
                        born_device dev, born_tensor **g) {
    g[0] = g[1] = g[2] = NULL;
    q = born_requires_grad(born_clone(born_to(q, dev)), true);
    k = born_requires_grad(born_clone(born_to(k, dev)), true);
    v = born_requires_grad(born_clone(born_to(v, dev)), true);
    r = born_to(r, dev);
    born_tensor *qq = c->strided ? born_transpose(q, 1, 2) : q;
    born_sdpa_params p = born_sdpa_default_params();
    p.is_causal = c->causal;
    p.kv_offset = c->kv_offset;
    p.enable_gqa = c->hq != c->hk;
    p.kernel = BORN_SDPA_FLASH;
    born_tensor *out = born_scaled_dot_product_attention(qq, k, v, NULL, &p);
    if (!out || born_backward(born_sum(born_mul(out, r), 0, NULL, false)) != BORN_OK) return NULL;
    g[0] = born_grad(q);
    g[1] = born_grad(k);
    g[2] = born_grad(v);
    return out;
}

static bool cudnn_missing(const char *msg) {
    return strstr(msg, "not installed") || strstr(msg, "did not load") || strstr(msg, "lacks the backend") ||
           strstr(msg, "older than") || strstr(msg, "without cuDNN");
}

/* 1: compared, 0: cuDNN declined a may_decline case, -1: cuDNN is not installed. */
static int check_case(const dnn_case *c, born_dtype dt) {
    born_scope_begin();
    born_tensor *q = c->strided ? cuda_randn(dt, 4, (const int64_t[]){c->b, c->l, c->hq, c->e})
                                : cuda_randn(dt, 4, (const int64_t[]){c->b, c->hq, c->l, c->e});
    born_tensor *k = cuda_randn(dt, 4, (const int64_t[]){c->b, c->hk, c->s, c->e});
    born_tensor *v = cuda_randn(dt, 4, (const int64_t[]){c->b, c->hk, c->s, c->e});
    born_tensor *r = cuda_randn(dt, 4, (const int64_t[]){c->b, c->hq, c->l, c->e});
    born_tensor *gd[3], *gb[3], *gr[3];
    set_path("cudnn");
    born_tensor *dnn = run(c, q, k, v, r, BORN_CUDA(0), gd);
    int res = 1;
    if (!dnn) {
        const char *msg = born_last_error();
        if (cudnn_missing(msg)) {
            printf("  cuda_attention_cudnn: skipped: %s\n", msg);
            res = -1;
        } else if (c->may_decline && strstr(msg, "cannot run this call")) {
            printf("  cuda_attention_cudnn: cuDNN declined L%lld S%lld kv_offset %lld (%s); Born's kernel runs it\n",
                   (long long)c->l, (long long)c->s, (long long)c->kv_offset, msg);
            res = 0;
        } else {
            test_fail(__FILE__, __LINE__, "cuDNN attention failed (L%lld S%lld E%lld %s): %s", (long long)c->l,
                      (long long)c->s, (long long)c->e, born_dtype_name(dt), msg);
        }
        born_clear_error();
        set_path(NULL);
        born_scope_end();
        return res;
    }
    set_path("born");
    born_tensor *own = run(c, q, k, v, r, BORN_CUDA(0), gb);
    set_path(NULL);
    born_tensor *ref = run(c, born_to_dtype(q, BORN_F32), born_to_dtype(k, BORN_F32), born_to_dtype(v, BORN_F32),
                           born_to_dtype(r, BORN_F32), BORN_CPU, gr);
    double tol = dt == BORN_F16 ? 5e-3 : 2e-2;
    const char *names[3] = {"grad q", "grad k", "grad v"};
    double floor_out = 0.05 * sqrt((double)(c->b * c->hq * c->l * c->e));
    cuda_close_floor("cudnn attention vs CPU", __FILE__, __LINE__, ref, dnn, tol, floor_out);
    cuda_close_floor("cudnn attention vs Born's kernel", __FILE__, __LINE__, own ? born_to_dtype(own, BORN_F32) : NULL,
                     dnn, tol, floor_out);
    for (int i = 0; i < 3; i++) {
        double fl = gr[i] ? 0.05 * sqrt((double)born_tensor_numel(gr[i])) : 0;
        cuda_close_floor(names[i], __FILE__, __LINE__, gr[i], gd[i], tol, fl);
        cuda_close_floor(names[i], __FILE__, __LINE__, gb[i] ? born_to_dtype(gb[i], BORN_F32) : NULL, gd[i], tol, fl);
    }
    if (born_tensor_dtype(dnn) != dt)
        test_fail(__FILE__, __LINE__, "cuDNN attention output is %s, not %s", born_dtype_name(born_tensor_dtype(dnn)),
                  born_dtype_name(dt));
    born_scope_end();
    return res;
}

TEST(cuda_attention_cudnn) {
    if (!cuda_gpu_or_skip("cuda_attention_cudnn")) return;
    const dnn_case cases[] = {
        {2, 4, 4, 128, 128, 64, true, 0, false, false},
        {2, 4, 4, 200, 200, 128, true, 0, false, false},  /* lengths past the tiles */
        {1, 4, 4, 130, 77, 64, false, 0, false, false},   /* not causal, L != S */
        {2, 8, 2, 96, 96, 128, true, 0, false, false},    /* GQA, groups of 4 */
        {2, 6, 3, 64, 64, 64, false, 0, true, false},     /* GQA, strided q */
        {1, 2, 2, 64, 192, 128, true, 128, false, true},  /* causal with a kv offset */
    };
    const born_dtype dts[] = {BORN_BF16, BORN_F16};
    int ran = 0;
    for (int d = 0; d < 2; d++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            int r = check_case(&cases[i], dts[d]);
            if (r < 0) return; /* no cuDNN here: said so */
            ran += r;
        }
    printf("  cuda_attention_cudnn: %d cases through cuDNN\n", ran);
}

/* Either path's forward pairs with either's backward (both keep lse in natural units): the
 * forward through cuDNN and the backward through Born's kernel, and the other way round, against
 * the CPU. BORN_ATTENTION is read at each call, so it is switched between born_scaled_dot_
 * product_attention and born_backward. */
TEST(cuda_attention_cudnn_mixed_paths) {
    if (!cuda_gpu_or_skip("cuda_attention_cudnn_mixed_paths")) return;
    const dnn_case c = {2, 4, 2, 96, 96, 128, true, 0, false, false};
    for (int order = 0; order < 2; order++) {
        born_scope_begin();
        born_tensor *q = cuda_randn(BORN_BF16, 4, (const int64_t[]){c.b, c.hq, c.l, c.e});
        born_tensor *k = cuda_randn(BORN_BF16, 4, (const int64_t[]){c.b, c.hk, c.s, c.e});
        born_tensor *v = cuda_randn(BORN_BF16, 4, (const int64_t[]){c.b, c.hk, c.s, c.e});
        born_tensor *r = cuda_randn(BORN_BF16, 4, (const int64_t[]){c.b, c.hq, c.l, c.e});
        born_tensor *gr[3], *gq, *gk, *gv;
        set_path(NULL);
        born_tensor *ref = run(&c, born_to_dtype(q, BORN_F32), born_to_dtype(k, BORN_F32), born_to_dtype(v, BORN_F32),
                               born_to_dtype(r, BORN_F32), BORN_CPU, gr);
        born_tensor *dq = born_requires_grad(born_clone(born_to(q, BORN_CUDA(0))), true);
        born_tensor *dk = born_requires_grad(born_clone(born_to(k, BORN_CUDA(0))), true);
        born_tensor *dv = born_requires_grad(born_clone(born_to(v, BORN_CUDA(0))), true);
        born_sdpa_params p = born_sdpa_default_params();
        p.is_causal = true;
        p.enable_gqa = true;
        p.kernel = BORN_SDPA_FLASH;
        set_path(order == 0 ? "cudnn" : "born");
        born_tensor *out = born_scaled_dot_product_attention(dq, dk, dv, NULL, &p);
        if (!out && order == 0 && cudnn_missing(born_last_error())) {
            printf("  cuda_attention_cudnn_mixed_paths: skipped: %s\n", born_last_error());
            born_clear_error();
            set_path(NULL);
            born_scope_end();
            return;
        }
        set_path(order == 0 ? "born" : "cudnn");
        CHECK(out && born_backward(born_sum(born_mul(out, born_to(r, BORN_CUDA(0))), 0, NULL, false)) == BORN_OK);
        set_path(NULL);
        gq = born_grad(dq);
        gk = born_grad(dk);
        gv = born_grad(dv);
        double fl = 0.05 * sqrt((double)(c.b * c.hq * c.l * c.e)), flk = 0.05 * sqrt((double)(c.b * c.hk * c.s * c.e));
        cuda_close_floor(order == 0 ? "cuDNN forward" : "Born forward", __FILE__, __LINE__, ref, out, 2e-2, fl);
        cuda_close_floor(order == 0 ? "Born backward: grad q" : "cuDNN backward: grad q", __FILE__, __LINE__, gr[0], gq,
                         2e-2, fl);
        cuda_close_floor("mixed: grad k", __FILE__, __LINE__, gr[1], gk, 2e-2, flk);
        cuda_close_floor("mixed: grad v", __FILE__, __LINE__, gr[2], gv, 2e-2, flk);
        born_clear_error();
        born_scope_end();
    }
}

/* What cuDNN's path does not take runs on Born's kernel by default: f32 and a bool mask give the
 * CPU's result with BORN_ATTENTION unset, and are an error naming cuDNN when it is forced. */
TEST(cuda_attention_cudnn_fallback) {
    if (!cuda_gpu_or_skip("cuda_attention_cudnn_fallback")) return;
    born_scope_begin();
    set_path(NULL);
    born_tensor *q = cuda_randn(BORN_F32, 4, (const int64_t[]){1, 2, 40, 32});
    born_tensor *mask = born_lt_scalar(born_rand(cuda_test_gen, BORN_F32, 2, (const int64_t[]){40, 40}), 0.8);
    born_sdpa_params p = born_sdpa_default_params();
    p.kernel = BORN_SDPA_FLASH;
    born_tensor *ref = born_scaled_dot_product_attention(q, q, q, mask, &p);
    born_tensor *gq = cuda_to_gpu(q);
    born_tensor *got = born_scaled_dot_product_attention(gq, gq, gq, cuda_to_gpu(mask), &p);
    cuda_close_floor("fallback attention", __FILE__, __LINE__, ref, got, 2e-5, 0);
    set_path("cudnn");
    CHECK(born_scaled_dot_product_attention(gq, gq, gq, cuda_to_gpu(mask), &p) == NULL);
    CHECK(strstr(born_last_error(), "BORN_ATTENTION=cudnn") != NULL);
    born_clear_error();
    set_path(NULL);
    born_scope_end();
}
