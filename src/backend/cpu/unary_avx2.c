/* AVX2 + FMA inner loops for the hot f32 unary ops (vmath_avx2.h) and for add, sub, mul and
 * div. Contiguous runs go 8 lanes at a time with a masked tail, so every element goes through
 * the same arithmetic whatever its position; strided runs are gathered into a small buffer,
 * computed there and scattered back, with the same arithmetic again. */
#include <stdint.h>

#include "backend/cpu/kernels_avx2.h"
#include "backend/cpu/strided_chunk.h"
#include "backend/cpu/vmath_avx2.h"

/* Lanes [0, n) of a mask, n in [0, 8]. */
static inline __m256i tail_mask(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

typedef __m256 (*vec_fn)(__m256);


VM_ALWAYS_INLINE void unary_run(char **d, const int64_t *s, int64_t n, vec_fn f) {
    if (s[0] == 4 && s[1] == 4) {
        float *o = (float *)d[0];
        const float *x = (const float *)d[1];
        int64_t i = 0;
        for (; i + 16 <= n; i += 16) {
            /* a kilobyte ahead: the arithmetic holds back the loads, and with them the hardware
             * prefetcher (+10-20% on 64 MiB exp on this Zen 3) */
            _mm_prefetch((const char *)(x + i + 256), _MM_HINT_T0);
            __m256 a = f(_mm256_loadu_ps(x + i)), b = f(_mm256_loadu_ps(x + i + 8));
            _mm256_storeu_ps(o + i, a);
            _mm256_storeu_ps(o + i + 8, b);
        }
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(o + i, f(_mm256_loadu_ps(x + i)));
        if (i < n) {
            __m256i m = tail_mask(n - i);
            _mm256_maskstore_ps(o + i, m, f(_mm256_maskload_ps(x + i, m)));
        }
        return;
    }
    float buf[STRIDED_CHUNK];
    for (int64_t done = 0; done < n; done += STRIDED_CHUNK) {
        int64_t m = n - done < STRIDED_CHUNK ? n - done : STRIDED_CHUNK;
        strided_chunk_load(buf, d[1] + done * s[1], s[1], m);
        for (int64_t i = 0; i < m; i += 8) _mm256_storeu_ps(buf + i, f(_mm256_loadu_ps(buf + i)));
        strided_chunk_store(d[0] + done * s[0], s[0], buf, m);
    }
}

/* unary_run with the output written by streaming stores (stream.h) where both operands are
 * contiguous and the output is 32-byte aligned (else ordinary stores): the vectors keep their
 * places from the run's start, so each element takes the same path (fast or exact, chosen per
 * vector of 8) and gets the same bits as without streaming. Fenced before return. */
VM_ALWAYS_INLINE void unary_run_stream(char **d, const int64_t *s, int64_t n, vec_fn f) {
    float *o = (float *)d[0];
    if (s[0] != 4 || s[1] != 4 || ((uintptr_t)o & 31u)) {
        unary_run(d, s, n, f);
        return;
    }
    const float *x = (const float *)d[1];
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm_prefetch((const char *)(x + i + 256), _MM_HINT_T0);
        __m256 a = f(_mm256_loadu_ps(x + i)), b = f(_mm256_loadu_ps(x + i + 8));
        _mm256_stream_ps(o + i, a);
        _mm256_stream_ps(o + i + 8, b);
    }
    for (; i + 8 <= n; i += 8) _mm256_stream_ps(o + i, f(_mm256_loadu_ps(x + i)));
    if (i < n) {
        __m256i m = tail_mask(n - i);
        _mm256_maskstore_ps(o + i, m, f(_mm256_maskload_ps(x + i, m)));
    }
    _mm_sfence();
}

#define UNARY_AVX2(name, VF)                                                                     \
    static void name##_avx2(char **d, const int64_t *s, int64_t n, void *ctx) {                  \
        (void)ctx;                                                                               \
        unary_run(d, s, n, VF);                                                                  \
    }                                                                                            \
    static void name##_avx2_stream(char **d, const int64_t *s, int64_t n, void *ctx) {           \
        (void)ctx;                                                                               \
        unary_run_stream(d, s, n, VF);                                                           \
    }

UNARY_AVX2(exp, vm_exp)
UNARY_AVX2(log, vm_log)
UNARY_AVX2(tanh, vm_tanh)
UNARY_AVX2(sigmoid, vm_sigmoid)
UNARY_AVX2(relu, vm_relu)
UNARY_AVX2(gelu, vm_gelu)
UNARY_AVX2(gelu_tanh, vm_gelu_tanh)
UNARY_AVX2(silu, vm_silu)

#define PICK(name) return stream ? name##_avx2_stream : name##_avx2

cpu_loop_fn cpu_unary_f32_avx2(born_unary_op op, bool stream) {
    switch (op) {
    case BORN_UNARY_EXP: PICK(exp);
    case BORN_UNARY_LOG: PICK(log);
    case BORN_UNARY_TANH: PICK(tanh);
    case BORN_UNARY_SIGMOID: PICK(sigmoid);
    case BORN_UNARY_RELU: PICK(relu);
    case BORN_UNARY_GELU: PICK(gelu);
    case BORN_UNARY_GELU_TANH: PICK(gelu_tanh);
    case BORN_UNARY_SILU: PICK(silu);
    default: return NULL;
    }
}

/* ---- fused activation gradients: grad_in = grad_out * f'(x) ------------------------------ */

/* The op's scalar parameters, broadcast (alpha and beta of born_unary_params, as f32). */
typedef struct bw_params {
    __m256 a, b;
} bw_params;

typedef __m256 (*bw_fn)(__m256 g, __m256 x, __m256 y, const bw_params *p);

/* d[0] = f(d[1], d[2], d[3]) over n elements: 8 lanes at a time with a masked tail when all four
 * are contiguous, else through small buffers (the same arithmetic either way). */
VM_ALWAYS_INLINE void backward_run(char **d, const int64_t *s, int64_t n, bw_fn f, void *ctx,
                                   bool stream) {
    const born_unary_params *up = ctx;
    bw_params p = {vm_set1((float)up->alpha), vm_set1((float)up->beta)};
    if (s[0] == 4 && s[1] == 4 && s[2] == 4 && s[3] == 4) {
        float *o = (float *)d[0];
        const float *g = (const float *)d[1], *x = (const float *)d[2], *y = (const float *)d[3];
        int64_t i = 0;
        if (stream && !((uintptr_t)o & 31u)) {
            /* streaming stores where o is 32-byte aligned (stream.h; see unary_run_stream) */
            for (; i + 8 <= n; i += 8)
                _mm256_stream_ps(o + i, f(_mm256_loadu_ps(g + i), _mm256_loadu_ps(x + i),
                                          _mm256_loadu_ps(y + i), &p));
            _mm_sfence();
        }
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(o + i, f(_mm256_loadu_ps(g + i), _mm256_loadu_ps(x + i),
                                      _mm256_loadu_ps(y + i), &p));
        if (i < n) {
            __m256i m = tail_mask(n - i);
            _mm256_maskstore_ps(o + i, m, f(_mm256_maskload_ps(g + i, m), _mm256_maskload_ps(x + i, m),
                                            _mm256_maskload_ps(y + i, m), &p));
        }
        return;
    }
    float buf[4][STRIDED_CHUNK];
    for (int64_t done = 0; done < n; done += STRIDED_CHUNK) {
        int64_t m = n - done < STRIDED_CHUNK ? n - done : STRIDED_CHUNK;
        for (int k = 1; k < 4; k++) strided_chunk_load(buf[k], d[k] + done * s[k], s[k], m);
        for (int64_t i = 0; i < m; i += 8)
            _mm256_storeu_ps(buf[0] + i, f(_mm256_loadu_ps(buf[1] + i), _mm256_loadu_ps(buf[2] + i),
                                           _mm256_loadu_ps(buf[3] + i), &p));
        strided_chunk_store(d[0] + done * s[0], s[0], buf[0], m);
    }
}

VM_ALWAYS_INLINE __m256 positive(__m256 x) { return _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GT_OQ); }

/* The formulas of the portable loops in unary.c, operation for operation (so the two agree to
 * the bit where the vector math is not involved), except gelu's. */
VM_ALWAYS_INLINE __m256 bw_relu(__m256 g, __m256 x, __m256 y, const bw_params *p) {
    (void)y, (void)p;
    return _mm256_and_ps(positive(x), g);
}
VM_ALWAYS_INLINE __m256 bw_leaky_relu(__m256 g, __m256 x, __m256 y, const bw_params *p) {
    (void)y;
    return _mm256_blendv_ps(_mm256_mul_ps(g, p->a), g, positive(x));
}
VM_ALWAYS_INLINE __m256 bw_elu(__m256 g, __m256 x, __m256 y, const bw_params *p) {
    return _mm256_blendv_ps(_mm256_mul_ps(g, _mm256_add_ps(y, p->a)), g, positive(x));
}
VM_ALWAYS_INLINE __m256 bw_softplus(__m256 g, __m256 x, __m256 y, const bw_params *p) {
    (void)y;
    __m256 bx = _mm256_mul_ps(x, p->a);
    return _mm256_blendv_ps(_mm256_mul_ps(g, vm_sigmoid(bx)), g, _mm256_cmp_ps(bx, p->b, _CMP_GT_OQ));
}
VM_ALWAYS_INLINE __m256 bw_sigmoid(__m256 g, __m256 x, __m256 y, const bw_params *p) {
    (void)x, (void)p;
    return _mm256_mul_ps(g, _mm256_mul_ps(y, _mm256_sub_ps(vm_set1(1.0f), y)));
}
VM_ALWAYS_INLINE __m256 bw_tanh(__m256 g, __m256 x, __m256 y, const bw_params *p) {
    (void)x, (void)p;
    return _mm256_mul_ps(g, _mm256_sub_ps(vm_set1(1.0f), _mm256_mul_ps(y, y)));
}
VM_ALWAYS_INLINE __m256 bw_silu(__m256 g, __m256 x, __m256 y, const bw_params *p) {
    (void)y, (void)p;
    const __m256 one = vm_set1(1.0f);
    __m256 s = vm_sigmoid(x);
    __m256 d = _mm256_mul_ps(s, _mm256_add_ps(_mm256_mul_ps(x, _mm256_sub_ps(one, s)), one));
    return _mm256_mul_ps(g, d);
}
VM_ALWAYS_INLINE __m256 bw_gelu(__m256 g, __m256 x, __m256 y, const bw_params *p) {
    (void)y, (void)p;
    return _mm256_mul_ps(g, vm_gelu_grad(x));
}
VM_ALWAYS_INLINE __m256 bw_gelu_tanh(__m256 g, __m256 x, __m256 y, const bw_params *p) {
    (void)y, (void)p;
    const __m256 one = vm_set1(1.0f), half = vm_set1(0.5f), k = vm_set1(0.7978845608028654f);
    __m256 x2 = _mm256_mul_ps(x, x);
    __m256 inner = _mm256_mul_ps(
        _mm256_mul_ps(x, _mm256_add_ps(_mm256_mul_ps(x2, vm_set1(0.044715f)), one)), k);
    __m256 t = vm_tanh(inner);
    __m256 dinner = _mm256_mul_ps(
        _mm256_add_ps(_mm256_mul_ps(x2, vm_set1((float)(3.0 * 0.044715))), one), k);
    __m256 left = _mm256_mul_ps(_mm256_add_ps(t, one), half);
    __m256 right = _mm256_mul_ps(
        _mm256_mul_ps(_mm256_mul_ps(x, _mm256_sub_ps(one, _mm256_mul_ps(t, t))), half), dinner);
    return _mm256_mul_ps(g, _mm256_add_ps(left, right));
}

#define BACKWARD_AVX2(name)                                                                      \
    static void name##_backward_avx2(char **d, const int64_t *s, int64_t n, void *ctx) {         \
        backward_run(d, s, n, bw_##name, ctx, false);                                            \
    }                                                                                            \
    static void name##_backward_avx2_stream(char **d, const int64_t *s, int64_t n, void *ctx) {  \
        backward_run(d, s, n, bw_##name, ctx, true);                                             \
    }

BACKWARD_AVX2(relu)
BACKWARD_AVX2(leaky_relu)
BACKWARD_AVX2(elu)
BACKWARD_AVX2(softplus)
BACKWARD_AVX2(sigmoid)
BACKWARD_AVX2(tanh)
BACKWARD_AVX2(silu)
BACKWARD_AVX2(gelu)
BACKWARD_AVX2(gelu_tanh)

cpu_loop_fn cpu_unary_backward_f32_avx2(born_unary_op op, bool stream) {
    switch (op) {
    case BORN_UNARY_RELU: PICK(relu_backward);
    case BORN_UNARY_LEAKY_RELU: PICK(leaky_relu_backward);
    case BORN_UNARY_ELU: PICK(elu_backward);
    case BORN_UNARY_SOFTPLUS: PICK(softplus_backward);
    case BORN_UNARY_SIGMOID: PICK(sigmoid_backward);
    case BORN_UNARY_TANH: PICK(tanh_backward);
    case BORN_UNARY_SILU: PICK(silu_backward);
    case BORN_UNARY_GELU: PICK(gelu_backward);
    case BORN_UNARY_GELU_TANH: PICK(gelu_tanh_backward);
    default: return NULL;
    }
}
#undef PICK

/* ---- binary ----------------------------------------------------------------------------- */

typedef __m256 (*vec_fn2)(__m256, __m256);

VM_ALWAYS_INLINE void binary_run(char **d, const int64_t *s, int64_t n, vec_fn2 f) {
    float *o = (float *)d[0];
    const float *pa = (const float *)d[1], *pb = (const float *)d[2];
    int64_t i = 0;
    if (n <= 0) return;
    if (s[0] == 4 && (s[1] == 4 || s[1] == 0) && (s[2] == 4 || s[2] == 0)) {
        /* contiguous, or a broadcast scalar on one (or both) sides */
        bool va = s[1] == 4, vb = s[2] == 4;
        __m256 sa = _mm256_set1_ps(pa[0]), sb = _mm256_set1_ps(pb[0]);
        if (va && vb) {
            for (; i + 16 <= n; i += 16) {
                __m256 r0 = f(_mm256_loadu_ps(pa + i), _mm256_loadu_ps(pb + i));
                __m256 r1 = f(_mm256_loadu_ps(pa + i + 8), _mm256_loadu_ps(pb + i + 8));
                _mm256_storeu_ps(o + i, r0);
                _mm256_storeu_ps(o + i + 8, r1);
            }
        } else if (va) {
            for (; i + 16 <= n; i += 16) {
                __m256 r0 = f(_mm256_loadu_ps(pa + i), sb), r1 = f(_mm256_loadu_ps(pa + i + 8), sb);
                _mm256_storeu_ps(o + i, r0);
                _mm256_storeu_ps(o + i + 8, r1);
            }
        } else if (vb) {
            for (; i + 16 <= n; i += 16) {
                __m256 r0 = f(sa, _mm256_loadu_ps(pb + i)), r1 = f(sa, _mm256_loadu_ps(pb + i + 8));
                _mm256_storeu_ps(o + i, r0);
                _mm256_storeu_ps(o + i + 8, r1);
            }
        }
        for (; i < n; i += 8) {
            __m256i m = tail_mask(n - i);
            __m256 a = va ? _mm256_maskload_ps(pa + i, m) : sa;
            __m256 b = vb ? _mm256_maskload_ps(pb + i, m) : sb;
            _mm256_maskstore_ps(o + i, m, f(a, b));
        }
        return;
    }
    /* any other strides: one lane at a time, same arithmetic */
    for (; i < n; i++) {
        __m256 a = _mm256_set1_ps(*(const float *)(d[1] + i * s[1]));
        __m256 b = _mm256_set1_ps(*(const float *)(d[2] + i * s[2]));
        *(float *)(d[0] + i * s[0]) = _mm256_cvtss_f32(f(a, b));
    }
}

VM_ALWAYS_INLINE __m256 v_add(__m256 a, __m256 b) { return _mm256_add_ps(a, b); }
VM_ALWAYS_INLINE __m256 v_sub(__m256 a, __m256 b) { return _mm256_sub_ps(a, b); }
VM_ALWAYS_INLINE __m256 v_mul(__m256 a, __m256 b) { return _mm256_mul_ps(a, b); }
VM_ALWAYS_INLINE __m256 v_div(__m256 a, __m256 b) { return _mm256_div_ps(a, b); }

#define BINARY_AVX2(name, VF)                                                                    \
    static void name##_avx2(char **d, const int64_t *s, int64_t n, void *ctx) {                  \
        (void)ctx;                                                                               \
        binary_run(d, s, n, VF);                                                                 \
    }

BINARY_AVX2(add, v_add)
BINARY_AVX2(sub, v_sub)
BINARY_AVX2(mul, v_mul)
BINARY_AVX2(div, v_div)

cpu_loop_fn cpu_binary_f32_avx2(born_binary_op op) {
    switch (op) {
    case BORN_BINARY_ADD: return add_avx2;
    case BORN_BINARY_SUB: return sub_avx2;
    case BORN_BINARY_MUL: return mul_avx2;
    case BORN_BINARY_DIV: return div_avx2;
    default: return NULL;
    }
}
