/* The forward pass's kernels: RMS norm, products with (quantized) weights, embedding rows, RoPE,
 * the KV cache's writes and a fused attention over it, SwiGLU.
 *
 * Every kernel rounds as llama.cpp's x86 build (ggml, AVX2 + FMA, non-flash attention) does, so a
 * GGUF model gives llama.cpp's logits bit for bit (checked on SmolLM2 Q4_1 and Q8_0 by
 * tests/conformance/llm_conformance.c): RMS norm sums f32 squares in double; RoPE fuses one of
 * each pair's two products; SwiGLU and softmax use ggml's vectorized e^x; attention rounds q and
 * the probabilities to f16 with an f16 cache and sums its products in ggml's orders.
 *
 * Attention is one task per (token, head), run on the thread pool: the head's query against its
 * kv head's cached keys (GQA reads the shared kv head in place, never copying it), all scores of
 * the row, softmax, then the probabilities times V. A task's result depends only on its query,
 * the cache and whether the batch has one token or more (llama.cpp sums in other orders for one
 * token), so results do not depend on the thread count. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* no contraction into FMA beyond the explicit ones: the bits must be ggml's */
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

#include "backend/backend.h"
#include "backend/cpu/cpu_kernels.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "llm/model/model_internal.h"
#include "llm/session/kernels_simd.h"

typedef struct norm_ctx {
    float *out;
    const float *x, *w;
    int64_t d;
    float eps;
} norm_ctx;

static void norm_row(const norm_ctx *c, int64_t t, double ss) {
    const float *xr = c->x + t * c->d;
    float *o = c->out + t * c->d;
    float scale = 1.0f / sqrtf((float)(ss / (double)c->d) + c->eps);
    for (int64_t i = 0; i < c->d; i++) o[i] = xr[i] * scale * c->w[i];
}

/* Each row's squares summed in order in double, as ggml sums them: a chain of dependent adds,
 * so four rows go side by side (four independent chains, the same sums). */
static void norm_rows(int64_t begin, int64_t end, void *arg) {
    const norm_ctx *c = arg;
    const int64_t d = c->d;
    int64_t t = begin;
    for (; t + 4 <= end; t += 4) {
        const float *x0 = c->x + t * d, *x1 = x0 + d, *x2 = x1 + d, *x3 = x2 + d;
        double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
        for (int64_t i = 0; i < d; i++) {
            s0 += (double)(x0[i] * x0[i]);
            s1 += (double)(x1[i] * x1[i]);
            s2 += (double)(x2[i] * x2[i]);
            s3 += (double)(x3[i] * x3[i]);
        }
        norm_row(c, t, s0);
        norm_row(c, t + 1, s1);
        norm_row(c, t + 2, s2);
        norm_row(c, t + 3, s3);
    }
    for (; t < end; t++) {
        const float *xr = c->x + t * d;
        double ss = 0.0;
        for (int64_t i = 0; i < d; i++) ss += (double)(xr[i] * xr[i]); /* as ggml: f32 squares */
        norm_row(c, t, ss);
    }
}

void llm_rms_norm(float *out, const float *x, const float *w, int64_t n, int64_t d, float eps) {
    norm_ctx c = {out, x, w, d, eps};
    if (n < 32) norm_rows(0, n, &c);
    else born_parallel_for(n, 16, norm_rows, &c);
}

/* e^x as ggml's x86 build computes it in its softmax and SiLU (the vectorized expf of ARM's
 * optimized-routines: x = n ln2 + b with n = round(x / ln2), a degree-5 polynomial in b, scaled
 * by 2^n, with the scale split in two where 2^n alone would overflow or underflow). Every
 * operation is rounded as the vector code rounds it (fused where it fuses), so the bits agree. */
static inline uint32_t fbits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float bitsf(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static float llm_expf(float x) {
    const float shift = 0x1.8p23f;
    const float z = fmaf(x, 0x1.715476p+0f, shift);
    const float n = z - shift;
    const float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    const uint32_t e = fbits(z) << 23;
    const float k = bitsf(e + fbits(1.0f));
    const float u = b * b;
    const float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
                              fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                         u, 0x1.ffffecp-1f * b);
    if (!(fabsf(n) > 126.0f)) return fmaf(j, k, k);
    const uint32_t g = n <= 0.0f ? 0x82000000u : 0u;
    const float s1 = bitsf(g + 0x7f000000u), s2 = bitsf(e - g);
    if (fabsf(n) > 192.0f) return s1 * s1;
    return fmaf(s2, j, s2) * s1;
}

typedef struct swiglu_ctx {
    float *gate;
    const float *up;
} swiglu_ctx;

#if defined(__x86_64__)
static bool use_avx2(void);
#endif

/* silu(g) * up as ggml's swiglu: runs of 8 with its vectorized e^x, the tail with libm's expf */
static void swiglu_range(int64_t begin, int64_t end, void *arg) {
    const swiglu_ctx *c = arg;
#if defined(__x86_64__)
    if (use_avx2()) {
        llm_swiglu_avx2(c->gate + begin, c->up + begin, end - begin);
        return;
    }
#endif
    const int64_t runs = begin + (end - begin) / 8 * 8;
    for (int64_t i = begin; i < end; i++) {
        float g = c->gate[i];
        float e = i < runs ? llm_expf(0.0f - g) : expf(-g);
        c->gate[i] = g / (1.0f + e) * c->up[i];
    }
}

void llm_swiglu(float *gate, const float *up, int64_t n) {
    swiglu_ctx c = {gate, up};
    if (n < 65536) swiglu_range(0, n, &c); /* one token: not worth waking the pool */
    else born_parallel_for(n, 16384, swiglu_range, &c); /* grain a multiple of 8: same runs */
}

/* ---- dots with f16 / bf16 / f32 rows --------------------------------------------------------- */

/* Whether the x86 kernels of `level` may run (never elsewhere). */
static bool level_at_least(cpu_level level) {
#if defined(__x86_64__)
    return cpu_get_level() >= level;
#else
    (void)level;
    return false;
#endif
}

#if defined(__x86_64__)
static bool use_avx2(void) { return level_at_least(CPU_LEVEL_AVX2); }
#endif
#if defined(__aarch64__)
static bool use_neon(void) { return cpu_get_level() == CPU_LEVEL_NEON; }
#endif

static float dot_f16(const float *x, const uint16_t *y, int64_t n) {
#if defined(__x86_64__)
    if (use_avx2()) return llm_dot_f16_avx2(x, y, n);
#endif
#if defined(__aarch64__)
    if (use_neon()) return llm_dot_f16_neon(x, y, n);
#endif
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++) s += x[i] * born_f16_to_f32(y[i]);
    return s;
}

/* acc[i] = fma(f16(y[i]), a, acc[i]): each element one fused multiply-add */
static void llm_axpy_f16_fused(float *acc, float a, const uint16_t *y, int64_t n) {
#if defined(__x86_64__)
    if (use_avx2()) {
        llm_axpy_f16_avx2(acc, a, y, n);
        return;
    }
#endif
#if defined(__aarch64__)
    if (use_neon()) {
        llm_axpy_f16_neon(acc, a, y, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) acc[i] = fmaf(born_f16_to_f32(y[i]), a, acc[i]);
}

static float dot_f32(const float *x, const float *y, int64_t n) {
#if defined(__x86_64__)
    if (use_avx2()) return llm_dot_f32_avx2(x, y, n);
#endif
#if defined(__aarch64__)
    if (use_neon()) return llm_dot_f32_neon(x, y, n);
#endif
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++) s += x[i] * y[i];
    return s;
}

static float bf16_f32(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ---- products with weights ------------------------------------------------------------------- */

typedef struct lin_ctx {
    float *out;
    int64_t out_rs, n;
    const float *x;
    const llm_weight *w;
    const float *bias;
} lin_ctx;

void llm_dot_rows_f16(const float *x, const uint16_t *w, int64_t ls, int64_t rows, int64_t k,
                      float *out) {
    /* (four rows per pass sharing x's loads decoded slower than one row at a time on Zen 3) */
#if defined(__x86_64__)
    if (level_at_least(CPU_LEVEL_AVX512)) { /* kernels_avx512.c, with the AVX2 dots' bits */
        llm_dot_rows_f16_avx512(x, w, ls, rows, k, out);
        return;
    }
    if (use_avx2()) {
        llm_dot_rows_f16_avx2(x, w, ls, rows, k, out);
        return;
    }
#endif
#if defined(__aarch64__)
    if (use_neon()) {
        llm_dot_rows_f16_neon(x, w, ls, rows, k, out);
        return;
    }
#endif
    for (int64_t j = 0; j < rows; j++) out[j] = dot_f16(x, w + j * ls, k);
}

static void linear_float_rows(int64_t begin, int64_t end, void *arg) {
    const lin_ctx *c = arg;
    const int64_t k = c->w->cols;
    if (c->w->dtype == BORN_F16) {
        const int64_t ls = (int64_t)(c->w->row_bytes / 2);
        const uint16_t *w0 = (const uint16_t *)c->w->data + begin * ls;
        /* several tokens at AVX-512 share each row's conversion (the same bits as one at a time) */
        const bool together = c->n > 1 && level_at_least(CPU_LEVEL_AVX512);
#if defined(__x86_64__)
        if (together)
            llm_dot_rows_f16_tokens_avx512(c->x, k, c->n, w0, ls, end - begin, k, c->out + begin, c->out_rs);
#endif
        for (int64_t i = 0; i < c->n; i++) {
            float *o = c->out + i * c->out_rs;
            if (!together) llm_dot_rows_f16(c->x + i * k, w0, ls, end - begin, k, o + begin);
            if (c->bias)
                for (int64_t j = begin; j < end; j++) o[j] += c->bias[j];
        }
        return;
    }
#if defined(__x86_64__) || defined(__aarch64__)
#if defined(__x86_64__)
    const bool bf16_simd = use_avx2();
#else
    const bool bf16_simd = use_neon();
#endif
    if (c->w->dtype == BORN_BF16 && bf16_simd) {
        const int64_t ls = (int64_t)(c->w->row_bytes / 2);
        const uint16_t *w0 = (const uint16_t *)c->w->data + begin * ls;
        for (int64_t i = 0; i < c->n; i++) {
            float *o = c->out + i * c->out_rs;
#if defined(__x86_64__)
            llm_dot_rows_bf16_avx2(c->x + i * k, w0, ls, end - begin, k, o + begin);
#else
            llm_dot_rows_bf16_neon(c->x + i * k, w0, ls, end - begin, k, o + begin);
#endif
            if (c->bias)
                for (int64_t j = begin; j < end; j++) o[j] += c->bias[j];
        }
        return;
    }
#endif
    for (int64_t j = begin; j < end; j++) {
        const char *wr = (const char *)c->w->data + (size_t)j * c->w->row_bytes;
        float b = c->bias ? c->bias[j] : 0.0f;
        for (int64_t i = 0; i < c->n; i++) {
            const float *xr = c->x + i * k;
            float v;
            if (c->w->dtype == BORN_F32) {
                v = dot_f32(xr, (const float *)wr, k);
            } else if (c->w->dtype == BORN_F16) {
                v = dot_f16(xr, (const uint16_t *)wr, k);
            } else {
                const uint16_t *wb = (const uint16_t *)wr;
                v = 0.0f;
                for (int64_t e = 0; e < k; e++) v += xr[e] * bf16_f32(wb[e]);
            }
            c->out[i * c->out_rs + j] = v + b;
        }
    }
}

/* The strided views of a product's operands: out [n, w rows] rows out_rs apart, x [n, w cols],
 * w and its bias (data NULL when there is none). */
typedef struct lin_views {
    born_strided out, x, w, bias;
} lin_views;

static void lin_views_of(lin_views *v, float *out, int64_t out_rs, const float *x, int64_t n, const llm_weight *w,
                         const float *b) {
    memset(v, 0, sizeof *v);
    v->out.data = out;
    v->out.dtype = BORN_F32;
    v->out.ndim = 2;
    v->out.shape[0] = n;
    v->out.shape[1] = w->rows;
    v->out.strides[0] = out_rs;
    v->out.strides[1] = 1;
    v->x.data = (void *)x;
    v->x.dtype = BORN_F32;
    v->x.ndim = 2;
    v->x.shape[0] = n;
    v->x.shape[1] = w->cols;
    v->x.strides[0] = w->cols;
    v->x.strides[1] = 1;
    v->w.data = (void *)w->data;
    v->w.dtype = w->dtype;
    v->w.ndim = 2;
    v->w.shape[0] = w->rows;
    v->w.shape[1] = w->cols;
    v->w.strides[0] = w->cols;
    v->w.strides[1] = 1;
    v->bias.data = (void *)b;
    v->bias.dtype = BORN_F32;
    v->bias.ndim = 1;
    v->bias.shape[0] = w->rows;
    v->bias.strides[0] = 1;
}

born_status llm_linear(float *out, int64_t out_rs, const float *x, int64_t n, const llm_weight *w,
                       const llm_weight *bias) {
    const float *b = bias && bias->t ? (const float *)bias->data : NULL;
    if (born_dtype_is_quantized(w->dtype)) {
        lin_views v;
        lin_views_of(&v, out, out_rs, x, n, w, b);
        return cpu_backend()->linear_quant(&v.out, &v.x, &v.w, &v.bias);
    }
    lin_ctx c = {out, out_rs, n, x, w, b};
    born_parallel_for(w->rows, 16, linear_float_rows, &c);
    return BORN_OK;
}

_Static_assert(LLM_GROUP_MAX <= CPU_LINEAR_GROUP_MAX, "a group of llm products fits cpu_linear_quant_group");

born_status llm_linear_quant_group(float *const *outs, const float *x, int64_t n, const llm_weight *const *ws,
                                   const llm_weight *const *bs, int count) {
    lin_views v[CPU_LINEAR_GROUP_MAX];
    const born_strided *po[CPU_LINEAR_GROUP_MAX], *pw[CPU_LINEAR_GROUP_MAX], *pb[CPU_LINEAR_GROUP_MAX];
    for (int i = 0; i < count; i++) {
        const float *b = bs && bs[i] && bs[i]->t ? (const float *)bs[i]->data : NULL;
        lin_views_of(&v[i], outs[i], ws[i]->rows, x, n, ws[i], b);
        po[i] = &v[i].out;
        pw[i] = &v[i].w;
        pb[i] = &v[i].bias;
    }
    return cpu_linear_quant_group(count, po, &v[0].x, pw, pb);
}

born_status llm_get_row(float *out, const llm_weight *w, int64_t id) {
    born_strided dst = {0}, src = {0};
    dst.data = out;
    dst.dtype = BORN_F32;
    dst.ndim = 1;
    dst.shape[0] = w->cols;
    dst.strides[0] = 1;
    src.data = (char *)w->data + (size_t)id * w->row_bytes;
    src.dtype = w->dtype;
    src.ndim = 1;
    src.shape[0] = w->cols;
    src.strides[0] = 1;
    return cpu_backend()->copy(&dst, &src);
}

/* ---- RoPE (ggml's rope with YaRN, as llama.cpp runs it) -------------------------------------- */

static float yarn_corr_dim(int n_dims, int n_ctx_orig, float n_rot, float base) {
    return (float)n_dims * logf((float)n_ctx_orig / (n_rot * 2.0f * (float)M_PI)) /
           (2.0f * logf(base));
}

void llm_rope_table(float *cs, const llm_hparams *hp, const float *freq_factors, int32_t pos,
                    int32_t n) {
    const int half = hp->n_rot / 2;
    const float theta_scale = powf(hp->rope_freq_base, -2.0f / (float)hp->n_rot);
    float lo = 0.0f, hi = 0.0f;
    if (hp->yarn_ext_factor != 0.0f) {
        float start = floorf(yarn_corr_dim(hp->n_rot, hp->n_ctx_orig, hp->yarn_beta_fast,
                                           hp->rope_freq_base));
        float end = ceilf(yarn_corr_dim(hp->n_rot, hp->n_ctx_orig, hp->yarn_beta_slow,
                                        hp->rope_freq_base));
        lo = start > 0 ? start : 0;
        hi = end < (float)(hp->n_rot - 1) ? end : (float)(hp->n_rot - 1);
    }
    for (int32_t t = 0; t < n; t++) {
        float theta = (float)(pos + t);
        for (int i = 0; i < half; i++) {
            float ff = freq_factors ? freq_factors[i] : 1.0f;
            float extrap = theta / ff;
            float interp = hp->rope_freq_scale * extrap;
            float th = interp, mscale = hp->yarn_attn_factor;
            if (hp->yarn_ext_factor != 0.0f) {
                float y = ((float)i - lo) / (hi - lo > 0.001f ? hi - lo : 0.001f);
                float ramp = 1.0f - fminf(1.0f, fmaxf(0.0f, y));
                float mix = ramp * hp->yarn_ext_factor;
                th = interp * (1 - mix) + extrap * mix;
                mscale *= 1.0f + 0.1f * logf(1.0f / hp->rope_freq_scale);
            }
            cs[((size_t)t * half + i) * 2] = cosf(th) * mscale;
            cs[((size_t)t * half + i) * 2 + 1] = sinf(th) * mscale;
            theta *= theta_scale;
        }
    }
}

void llm_rope_apply(float *x, int64_t n, int64_t row_stride, int32_t n_heads,
                    const llm_hparams *hp, const float *cs) {
    /* each pair rounded as ggml's x86 build computes it: one product rounded, the other fused */
    const int half = hp->n_rot / 2;
    for (int64_t t = 0; t < n; t++) {
        const float *c = cs + (size_t)t * half * 2;
        for (int32_t h = 0; h < n_heads; h++) {
            float *v = x + t * row_stride + (int64_t)h * hp->head_dim;
#if defined(__x86_64__)
            if (use_avx2()) {
                llm_rope_head_avx2(v, c, half, hp->rope_type == LLM_ROPE_NEOX);
                continue;
            }
#endif
            if (hp->rope_type == LLM_ROPE_NEOX) {
                for (int i = 0; i < half; i++) {
                    float x0 = v[i], x1 = v[i + half], co = c[2 * i], si = c[2 * i + 1];
                    v[i] = fmaf(x0, co, -(x1 * si));
                    v[i + half] = fmaf(x0, si, x1 * co);
                }
            } else {
                for (int i = 0; i < half; i++) {
                    float x0 = v[2 * i], x1 = v[2 * i + 1], co = c[2 * i], si = c[2 * i + 1];
                    v[2 * i] = fmaf(x0, co, -(x1 * si));
                    v[2 * i + 1] = fmaf(x0, si, x1 * co);
                }
            }
        }
    }
}

/* ---- the KV cache and attention -------------------------------------------------------------- */

static size_t cache_index(const born_session *s, int32_t layer, int32_t kvh, int32_t p) {
    const llm_hparams *hp = &s->model->hp;
    return (((size_t)layer * hp->n_head_kv + kvh) * s->n_ctx + p) * hp->head_dim;
}

void llm_kv_store(born_session *s, int32_t layer, const float *k, const float *v, int32_t n,
                  int32_t pos) {
    const llm_hparams *hp = &s->model->hp;
    const int32_t D = hp->head_dim;
    for (int32_t t = 0; t < n; t++)
        for (int32_t h = 0; h < hp->n_head_kv; h++) {
            size_t at = cache_index(s, layer, h, pos + t);
            const float *kr = k + ((size_t)t * hp->n_head_kv + h) * D;
            const float *vr = v + ((size_t)t * hp->n_head_kv + h) * D;
            if (s->kv_type == BORN_F16) {
                uint16_t *kc = (uint16_t *)s->k_cache + at, *vc = (uint16_t *)s->v_cache + at;
#if defined(__x86_64__)
                if (use_avx2()) {
                    llm_f32_to_f16_avx2(kc, kr, D);
                    llm_f32_to_f16_avx2(vc, vr, D);
                    continue;
                }
#endif
                for (int32_t d = 0; d < D; d++) {
                    kc[d] = born_f32_to_f16(kr[d]);
                    vc[d] = born_f32_to_f16(vr[d]);
                }
            } else {
                memcpy((float *)s->k_cache + at, kr, (size_t)D * sizeof(float));
                memcpy((float *)s->v_cache + at, vr, (size_t)D * sizeof(float));
            }
        }
}

typedef struct att_ctx {
    const born_session *s;
    int32_t layer, pos, n;
    const float *q;
    float *out;
    atomic_int failed; /* a task could not allocate its buffers */
} att_ctx;

/* scores and V accumulators live on the stack up to these sizes (a 4096-token context, heads of
 * up to 256 with 32 slots), so decoding allocates nothing; larger ones are allocated per call */
enum { ATT_STACK_KV = 4096, ATT_STACK_ACC = 32 * 256, ATT_MAX_D = 1024 };
/* heads of one kv head whose P.V the batched f16 path runs together */
enum { ATT_GROUP_MAX = 4 };

/* ggml's two summation orders for f16/f32 dot products on x86, which llama.cpp's attention uses
 * (its KQ and KQV matrix products, the K and V caches in f16):
 *   TILE (llamafile's tinyBLAS, batches of two or more tokens): one 8-lane accumulator, element
 *     i in lane i % 8, fused multiply-adds in order, then lanes (i, i + 4) added, then
 *     (0 + 2) + (1 + 3);
 *   VEC (ggml_vec_dot_f16 / f32, one token): four 8-lane accumulators over runs of 32, element
 *     i in slot i % 32; slots k and k + 16 added, then those pairs, then lanes (i, i + 4), then
 *     (0 + 1) + (2 + 3); elements past the last whole run added in double. */
static float tree8(const float *l) {
    float h0 = l[4] + l[0], h1 = l[5] + l[1], h2 = l[6] + l[2], h3 = l[7] + l[3];
    return (h0 + h2) + (h1 + h3);
}

static float tree32(const float *a) {
    float x[8];
    for (int l = 0; l < 8; l++) x[l] = (a[l] + a[16 + l]) + (a[8 + l] + a[24 + l]);
    float t0 = x[0] + x[4], t1 = x[1] + x[5], t2 = x[2] + x[6], t3 = x[3] + x[7];
    return (t0 + t1) + (t2 + t3);
}

static inline float kv_at(const born_session *s, size_t at) {
    return s->kv_type == BORN_F16 ? born_f16_to_f32(((const uint16_t *)s->k_cache)[at])
                                  : ((const float *)s->k_cache)[at];
}

/* q . K[j] for a head of D elements (q already rounded as the product rounds it) */
static float kq_dot(const born_session *s, const float *q, size_t at, int32_t D, bool tile) {
#if defined(__x86_64__)
    if (s->kv_type == BORN_F16 && use_avx2())
        return llm_kq_dot_f16_avx2(q, (const uint16_t *)s->k_cache + at, D, tile);
#endif
    if (tile) {
        float acc[8] = {0};
        for (int32_t i = 0; i < D; i++) acc[i % 8] = fmaf(kv_at(s, at + (size_t)i), q[i], acc[i % 8]);
        return tree8(acc);
    }
    float acc[32] = {0};
    const int32_t np = D & ~31;
    for (int32_t i = 0; i < np; i++) acc[i % 32] = fmaf(kv_at(s, at + (size_t)i), q[i], acc[i % 32]);
    double r = tree32(acc);
    for (int32_t i = np; i < D; i++) r += (double)(kv_at(s, at + (size_t)i) * q[i]);
    return (float)r;
}

#if defined(__x86_64__)
/* Heads h0 .. h0 + nh - 1 (2 to 4, one kv head) of token t on the batched path under AVX2 with an
 * f16 cache (TILE order): the heads' scores in one pass over K, each head's maximum, exponentials
 * summed in runs of 8 (float) and the runs in double, probabilities scaled by 1 / sum and
 * rounded to f16, then P.V of all of them in one pass over V -- the bits of one head at a time.
 * sc holds nh * (pos + n) floats. */
static void attention_heads_tile(const att_ctx *c, int32_t t, int32_t h0, int nh, float *sc) {
    const born_session *s = c->s;
    const llm_hparams *hp = &s->model->hp;
    const int32_t D = hp->head_dim, H = hp->n_head, group = hp->n_head / hp->n_head_kv;
    const int32_t n_kv = c->pos + t + 1, stride = c->pos + c->n;
    const size_t base = cache_index(s, c->layer, h0 / group, 0);
    float qr[ATT_GROUP_MAX][ATT_MAX_D], *ps[ATT_GROUP_MAX], *os[ATT_GROUP_MAX];
    const float *qs[ATT_GROUP_MAX];
    for (int i = 0; i < nh; i++) {
        memcpy(qr[i], c->q + ((size_t)t * H + h0 + i) * D, (size_t)D * sizeof(float));
        llm_round_f16_avx2(qr[i], D);
        qs[i] = qr[i];
        ps[i] = sc + (size_t)i * stride;
        os[i] = c->out + ((size_t)t * H + h0 + i) * D;
    }
    llm_kq_scores_tile_f16_heads_avx2(qs, nh, (const uint16_t *)s->k_cache + base, D, n_kv, 1.0f / sqrtf((float)D), ps);
    for (int i = 0; i < nh; i++) {
        const float mx = llm_max_avx2(ps[i], n_kv); /* the scalar loop's maximum, in vectors */
        const double sum = llm_softmax_exp_avx2(ps[i], n_kv, mx);
        llm_scale_round_f16_avx2(ps[i], n_kv, (float)(1.0 / sum));
    }
    llm_pv_tile_f16_heads_avx2((const float *const *)ps, nh, (const uint16_t *)s->v_cache + base, D, n_kv, os);
}
#endif

/* Tasks a chunk of the batched attention: the largest divisor of the group of heads sharing a kv
 * head up to ATT_GROUP_MAX, so that a chunk holds whole runs of heads attention_tasks can run
 * together (heads of a token are consecutive tasks; the group divides the head count). */
static int64_t attention_grain(const llm_hparams *hp, int32_t n) {
    const int32_t group = hp->n_head / hp->n_head_kv;
    if (n < 2) return 1;
    for (int32_t g = ATT_GROUP_MAX; g > 1; g--)
        if (group % g == 0) return g;
    return 1;
}

static void attention_tasks(int64_t begin, int64_t end, void *arg) {
    const att_ctx *c = arg;
    const born_session *s = c->s;
    const llm_hparams *hp = &s->model->hp;
    const int32_t D = hp->head_dim, H = hp->n_head, group = hp->n_head / hp->n_head_kv;
    const float scale = 1.0f / sqrtf((float)D);
    const bool f16 = s->kv_type == BORN_F16;
    /* llama.cpp multiplies with llamafile's tiles for batches (n >= 2) when the sizes allow, and
     * with ggml's vec_dot for one token; its f32 K products always take vec_dot (q is strided) */
    const bool batch = c->n >= 2 && D % 8 == 0;
    const bool kq_tile = batch && f16, v_tile = batch;
    const int W = v_tile ? 8 : 32;
    float qr[ATT_MAX_D], stack_sc[ATT_STACK_KV], stack_acc[ATT_STACK_ACC];
    float *acc = W * D <= ATT_STACK_ACC ? stack_acc : malloc((size_t)W * D * sizeof(float));
    int32_t n_max = c->pos + c->n;
    /* the batched f16 path scores a chunk's heads of one kv head before their P.V */
    const int heads = kq_tile ? (int)attention_grain(hp, c->n) : 1;
    const size_t n_sc = (size_t)n_max * (size_t)heads;
    float *sc = n_sc <= ATT_STACK_KV ? stack_sc : malloc(n_sc * sizeof(float));
    if (!acc || !sc) {
        atomic_store(&((att_ctx *)arg)->failed, 1);
        if (acc != stack_acc) free(acc);
        if (sc != stack_sc) free(sc);
        return;
    }
    for (int64_t task = begin; task < end; task++) {
        int32_t t = (int32_t)(task / H), h = (int32_t)(task % H);
#if defined(__x86_64__)
        /* the next heads of this token and kv head (the task chunks are aligned to them) */
        int nh = 1;
        while (nh < heads && task + nh < end && h % group + nh < group) nh++;
        if (nh > 1 && use_avx2()) {
            attention_heads_tile(c, t, h, nh, sc);
            task += nh - 1;
            continue;
        }
#endif
        const float *q = c->q + ((size_t)t * H + h) * D;
        float *o = c->out + ((size_t)t * H + h) * D;
        size_t base = cache_index(s, c->layer, h / group, 0);
        int32_t n_kv = c->pos + t + 1;
#if defined(__x86_64__)
        /* batches with an f16 cache under AVX2: several keys per pass, the same bits; one token
         * (VEC order): the scores and P.V's 32 slots in vector helpers, also the same bits */
        const bool fast = kq_tile && use_avx2(), vec = !batch && f16 && D % 8 == 0 && use_avx2();
#endif
#if defined(__x86_64__)
        if (f16 && use_avx2()) {
            memcpy(qr, q, (size_t)D * sizeof(float));
            llm_round_f16_avx2(qr, D);
        } else
#endif
        for (int32_t d = 0; d < D; d++) qr[d] = f16 ? born_f16_to_f32(born_f32_to_f16(q[d])) : q[d];
        /* scores, scaled as ggml's soft_max scales them */
        float mx = -INFINITY;
#if defined(__x86_64__)
        if (vec) {
            mx = llm_kq_scores_vec_f16_avx2(qr, (const uint16_t *)s->k_cache + base, D, n_kv, scale, sc);
        } else if (fast) {
            llm_kq_scores_tile_f16_avx2(qr, (const uint16_t *)s->k_cache + base, D, n_kv, scale, sc);
            mx = llm_max_avx2(sc, n_kv); /* the scalar loop's maximum, in vectors */
        } else
#endif
        for (int32_t j = 0; j < n_kv; j++) {
            sc[j] = kq_dot(s, qr, base + (size_t)j * D, D, kq_tile) * scale;
            if (sc[j] > mx) mx = sc[j];
        }
        /* exponentials summed in runs of 8 (float, tree8), the runs in double */
        double sum = 0.0;
#if defined(__x86_64__)
        if (use_avx2()) {
            sum = llm_softmax_exp_avx2(sc, n_kv, mx);
        } else
#endif
        {
            for (int32_t j0 = 0; j0 < n_kv; j0 += 8) {
                float e[8] = {0};
                for (int32_t j = j0; j < j0 + 8 && j < n_kv; j++) e[j - j0] = sc[j] = llm_expf(sc[j] - mx);
                sum += (double)tree8(e);
            }
        }
        const float inv = (float)(1.0 / sum);
#if defined(__x86_64__)
        if (fast || vec) {
            llm_scale_round_f16_avx2(sc, n_kv, inv);
            if (vec) llm_pv_vec_f16_avx2(sc, (const uint16_t *)s->v_cache + base, D, n_kv, o);
            else llm_pv_tile_f16_avx2(sc, (const uint16_t *)s->v_cache + base, D, n_kv, o);
            continue;
        }
#endif
        /* probabilities (rounded to f16 with an f16 cache) times V, slot j % W per element */
        memset(acc, 0, (size_t)W * D * sizeof(float));
        for (int32_t j = 0; j < n_kv; j++) {
            float p = sc[j] * inv;
            if (f16) p = born_f16_to_f32(born_f32_to_f16(p));
            float *a = acc + (size_t)(j % W) * D;
            size_t at = base + (size_t)j * D;
            if (f16) {
                llm_axpy_f16_fused(a, p, (const uint16_t *)s->v_cache + at, D);
            } else {
                const float *vr = (const float *)s->v_cache + at;
                for (int32_t d = 0; d < D; d++) a[d] = fmaf(vr[d], p, a[d]);
            }
        }
        for (int32_t d = 0; d < D; d++) {
            float l[32];
            for (int k = 0; k < W; k++) l[k] = acc[(size_t)k * D + d];
            o[d] = W == 8 ? tree8(l) : tree32(l);
        }
    }
    if (acc != stack_acc) free(acc);
    if (sc != stack_sc) free(sc);
}

born_status llm_attention(const born_session *s, int32_t layer, const float *q, float *out,
                          int32_t n, int32_t pos) {
    att_ctx c = {s, layer, pos, n, q, out, 0};
    born_parallel_for((int64_t)n * s->model->hp.n_head, attention_grain(&s->model->hp, n), attention_tasks, &c);
    if (atomic_load(&c.failed))
        return born_error(BORN_ERR_MEMORY, "born_session_eval: out of memory for attention over "
                          "%d positions", (int)(pos + n));
    return BORN_OK;
}

/* llm_attention_rows' job: the segments, their first tasks, the layer and the rows */
typedef struct att_rows_ctx {
    const llm_segment *segs;
    const int64_t *first; /* segment i's tasks are [first[i], first[i + 1]) */
    int32_t count, layer;
    const float *q;
    float *out;
    atomic_int failed;
} att_rows_ctx;

/* A chunk lies inside one segment (its boundaries are multiples of a grain that divides the head
 * count): that segment's attention_tasks over it, with the segment's own session and rows. */
static void attention_rows_tasks(int64_t begin, int64_t end, void *arg) {
    att_rows_ctx *c = arg;
    int32_t lo = 0, hi = c->count - 1; /* the last segment whose first task is <= begin */
    while (lo < hi) {
        int32_t mid = (lo + hi + 1) / 2;
        if (c->first[mid] <= begin) lo = mid;
        else hi = mid - 1;
    }
    const llm_segment *g = &c->segs[lo];
    const llm_hparams *hp = &g->s->model->hp;
    const int64_t row = c->first[lo] / hp->n_head, Dq = (int64_t)hp->n_head * hp->head_dim;
    att_ctx one = {g->s, c->layer, g->pos, g->n, c->q + row * Dq, c->out + row * Dq, 0};
    attention_tasks(begin - c->first[lo], end - c->first[lo], &one);
    if (atomic_load(&one.failed)) atomic_store(&c->failed, 1);
}

born_status llm_attention_rows(const llm_segment *segs, int32_t count, int32_t layer,
                               const float *q, float *out) {
    enum { STACK_SEGS = 64 };
    int64_t stack_first[STACK_SEGS + 1];
    int64_t *first = count <= STACK_SEGS ? stack_first : malloc(((size_t)count + 1) * sizeof *first);
    if (!first) return born_error(BORN_ERR_MEMORY, "born_session_eval_batch: out of memory");
    const llm_hparams *hp = &segs[0].s->model->hp;
    int64_t grain = 1;
    first[0] = 0;
    for (int32_t i = 0; i < count; i++) {
        first[i + 1] = first[i] + (int64_t)segs[i].n * hp->n_head;
        int64_t g = attention_grain(hp, segs[i].n);
        if (g > grain) grain = g; /* every grain divides the group, hence the head count */
    }
    att_rows_ctx c = {segs, first, count, layer, q, out, 0};
    born_parallel_for(first[count], grain, attention_rows_tasks, &c);
    int32_t rows = (int32_t)(first[count] / hp->n_head);
    if (first != stack_first) free(first);
    if (atomic_load(&c.failed))
        return born_error(BORN_ERR_MEMORY, "born_session_eval_batch: out of memory for attention "
                          "over %d rows", (int)rows);
    return BORN_OK;
}

bool llm_attention_heads(const born_session *s, int32_t layer, const float *q, float *out,
                         int32_t pos, int32_t h0, int32_t h1) {
    att_ctx c = {s, layer, pos, 1, q, out, 0};
    if (h1 > h0) attention_tasks(h0, h1, &c);
    return !atomic_load(&c.failed);
}
