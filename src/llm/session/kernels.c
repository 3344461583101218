/* The forward pass's kernels: RMS norm, products with (quantized) weights, embedding rows, RoPE,
 * the KV cache's writes and a fused attention over it, SwiGLU.
 *
 * Attention is one task per (token, head), run on the thread pool: the head's query against its
 * kv head's cached keys (GQA reads the shared kv head in place, never copying it), with an online
 * softmax over tiles of 64 positions (scores of a tile, then one rescale of the running sum and
 * accumulator), so no buffer grows with the context. A task's result depends only on its query
 * and the cache, so evaluating tokens one at a time or in a batch gives identical numbers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "llm/model/model_internal.h"
#include "llm/session/kernels_simd.h"

void llm_rms_norm(float *out, const float *x, const float *w, int64_t n, int64_t d, float eps) {
    for (int64_t t = 0; t < n; t++) {
        const float *xr = x + t * d;
        float *o = out + t * d;
        double ss = 0.0;
        for (int64_t i = 0; i < d; i++) ss += (double)xr[i] * xr[i];
        float scale = 1.0f / sqrtf((float)(ss / (double)d) + eps);
        for (int64_t i = 0; i < d; i++) o[i] = xr[i] * scale * w[i];
    }
}

typedef struct swiglu_ctx {
    float *gate;
    const float *up;
} swiglu_ctx;

static void swiglu_range(int64_t begin, int64_t end, void *arg) {
    const swiglu_ctx *c = arg;
    for (int64_t i = begin; i < end; i++) {
        float g = c->gate[i];
        c->gate[i] = g / (1.0f + expf(-g)) * c->up[i];
    }
}

void llm_swiglu(float *gate, const float *up, int64_t n) {
    swiglu_ctx c = {gate, up};
    if (n < 65536) swiglu_range(0, n, &c); /* one token: not worth waking the pool */
    else born_parallel_for(n, 16384, swiglu_range, &c);
}

/* ---- dots with f16 / bf16 / f32 rows --------------------------------------------------------- */

static bool use_avx2(void) {
#if defined(__x86_64__)
    return cpu_get_level() >= CPU_LEVEL_AVX2;
#else
    return false;
#endif
}

static float dot_f16(const float *x, const uint16_t *y, int64_t n) {
#if defined(__x86_64__)
    if (use_avx2()) return llm_dot_f16_avx2(x, y, n);
#endif
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++) s += x[i] * born_f16_to_f32(y[i]);
    return s;
}

static void axpy_f16(float *acc, float a, const uint16_t *y, int64_t n) {
#if defined(__x86_64__)
    if (use_avx2()) {
        llm_axpy_f16_avx2(acc, a, y, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) acc[i] += a * born_f16_to_f32(y[i]);
}

static float dot_f32(const float *x, const float *y, int64_t n) {
#if defined(__x86_64__)
    if (use_avx2()) return llm_dot_f32_avx2(x, y, n);
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

static void linear_float_rows(int64_t begin, int64_t end, void *arg) {
    const lin_ctx *c = arg;
    const int64_t k = c->w->cols;
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

born_status llm_linear(float *out, int64_t out_rs, const float *x, int64_t n, const llm_weight *w,
                       const llm_weight *bias) {
    const float *b = bias && bias->t ? (const float *)bias->data : NULL;
    if (born_dtype_is_quantized(w->dtype)) {
        born_strided so = {0}, sx = {0}, sw = {0}, sb = {0};
        so.data = out;
        so.dtype = BORN_F32;
        so.ndim = 2;
        so.shape[0] = n;
        so.shape[1] = w->rows;
        so.strides[0] = out_rs;
        so.strides[1] = 1;
        sx.data = (void *)x;
        sx.dtype = BORN_F32;
        sx.ndim = 2;
        sx.shape[0] = n;
        sx.shape[1] = w->cols;
        sx.strides[0] = w->cols;
        sx.strides[1] = 1;
        sw.data = (void *)w->data;
        sw.dtype = w->dtype;
        sw.ndim = 2;
        sw.shape[0] = w->rows;
        sw.shape[1] = w->cols;
        sw.strides[0] = w->cols;
        sw.strides[1] = 1;
        sb.data = (void *)b;
        sb.dtype = BORN_F32;
        sb.ndim = 1;
        sb.shape[0] = w->rows;
        sb.strides[0] = 1;
        return cpu_backend()->linear_quant(&so, &sx, &sw, &sb);
    }
    lin_ctx c = {out, out_rs, n, x, w, b};
    born_parallel_for(w->rows, 16, linear_float_rows, &c);
    return BORN_OK;
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
    const int half = hp->n_rot / 2;
    for (int64_t t = 0; t < n; t++) {
        const float *c = cs + (size_t)t * half * 2;
        for (int32_t h = 0; h < n_heads; h++) {
            float *v = x + t * row_stride + (int64_t)h * hp->head_dim;
            if (hp->rope_type == LLM_ROPE_NEOX) {
                for (int i = 0; i < half; i++) {
                    float x0 = v[i], x1 = v[i + half], co = c[2 * i], si = c[2 * i + 1];
                    v[i] = x0 * co - x1 * si;
                    v[i + half] = x0 * si + x1 * co;
                }
            } else {
                for (int i = 0; i < half; i++) {
                    float x0 = v[2 * i], x1 = v[2 * i + 1], co = c[2 * i], si = c[2 * i + 1];
                    v[2 * i] = x0 * co - x1 * si;
                    v[2 * i + 1] = x0 * si + x1 * co;
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
    int32_t layer, pos;
    const float *q;
    float *out;
} att_ctx;

enum { ATT_TILE = 64, ATT_MAX_D = 1024 };

static void attention_tasks(int64_t begin, int64_t end, void *arg) {
    const att_ctx *c = arg;
    const born_session *s = c->s;
    const llm_hparams *hp = &s->model->hp;
    const int32_t D = hp->head_dim, H = hp->n_head, group = hp->n_head / hp->n_head_kv;
    const float scale = 1.0f / sqrtf((float)D);
    const bool f16 = s->kv_type == BORN_F16;
    float acc[ATT_MAX_D], sc[ATT_TILE];
    for (int64_t task = begin; task < end; task++) {
        int32_t t = (int32_t)(task / H), h = (int32_t)(task % H);
        const float *q = c->q + ((size_t)t * H + h) * D;
        float *o = c->out + ((size_t)t * H + h) * D;
        size_t base = cache_index(s, c->layer, h / group, 0);
        int32_t n_kv = c->pos + t + 1;
        float mx = -INFINITY, sum = 0.0f;
        memset(acc, 0, (size_t)D * sizeof(float));
        for (int32_t j0 = 0; j0 < n_kv; j0 += ATT_TILE) {
            int32_t nj = n_kv - j0 < ATT_TILE ? n_kv - j0 : ATT_TILE;
            float tmax = -INFINITY;
            for (int32_t j = 0; j < nj; j++) {
                size_t at = base + (size_t)(j0 + j) * D;
                float v = f16 ? dot_f16(q, (const uint16_t *)s->k_cache + at, D)
                              : dot_f32(q, (const float *)s->k_cache + at, D);
                sc[j] = v * scale;
                if (sc[j] > tmax) tmax = sc[j];
            }
            if (tmax > mx) {
                float corr = expf(mx - tmax); /* 0 when mx is -inf */
                for (int32_t d = 0; d < D; d++) acc[d] *= corr;
                sum *= corr;
                mx = tmax;
            }
            for (int32_t j = 0; j < nj; j++) {
                float p = expf(sc[j] - mx);
                sum += p;
                size_t at = base + (size_t)(j0 + j) * D;
                if (f16) {
                    axpy_f16(acc, p, (const uint16_t *)s->v_cache + at, D);
                } else {
                    const float *vr = (const float *)s->v_cache + at;
                    for (int32_t d = 0; d < D; d++) acc[d] += p * vr[d];
                }
            }
        }
        float inv = 1.0f / sum;
        for (int32_t d = 0; d < D; d++) o[d] = acc[d] * inv;
    }
}

void llm_attention(const born_session *s, int32_t layer, const float *q, float *out, int32_t n,
                   int32_t pos) {
    att_ctx c = {s, layer, pos, q, out};
    born_parallel_for((int64_t)n * s->model->hp.n_head, 1, attention_tasks, &c);
}
