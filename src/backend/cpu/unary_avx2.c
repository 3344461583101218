/* AVX2 + FMA inner loops for the hot f32 unary ops (vmath_avx2.h) and for add, sub, mul and
 * div. Contiguous runs go 8 lanes at a time with a masked tail, so every element goes through
 * the same arithmetic whatever its position; strided runs are gathered into a small buffer,
 * computed there and scattered back, with the same arithmetic again. */
#include "backend/cpu/kernels_avx2.h"
#include "backend/cpu/vmath_avx2.h"

/* Lanes [0, n) of a mask, n in [0, 8]. */
static inline __m256i tail_mask(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

typedef __m256 (*vec_fn)(__m256);

enum { STRIDED_CHUNK = 64 };

VM_ALWAYS_INLINE void unary_run(char **d, const int64_t *s, int64_t n, vec_fn f) {
    if (s[0] == 4 && s[1] == 4) {
        float *o = (float *)d[0];
        const float *x = (const float *)d[1];
        int64_t i = 0;
        for (; i + 16 <= n; i += 16) {
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
        const char *src = d[1] + done * s[1];
        for (int64_t i = 0; i < m; i++) buf[i] = *(const float *)(src + i * s[1]);
        for (int64_t i = m; i < STRIDED_CHUNK; i++) buf[i] = 0;
        for (int64_t i = 0; i < m; i += 8) _mm256_storeu_ps(buf + i, f(_mm256_loadu_ps(buf + i)));
        char *dst = d[0] + done * s[0];
        for (int64_t i = 0; i < m; i++) *(float *)(dst + i * s[0]) = buf[i];
    }
}

#define UNARY_AVX2(name, VF)                                                                     \
    static void name##_avx2(char **d, const int64_t *s, int64_t n, void *ctx) {                  \
        (void)ctx;                                                                               \
        unary_run(d, s, n, VF);                                                                  \
    }

UNARY_AVX2(exp, vm_exp)
UNARY_AVX2(log, vm_log)
UNARY_AVX2(tanh, vm_tanh)
UNARY_AVX2(sigmoid, vm_sigmoid)
UNARY_AVX2(relu, vm_relu)
UNARY_AVX2(gelu, vm_gelu)
UNARY_AVX2(gelu_tanh, vm_gelu_tanh)
UNARY_AVX2(silu, vm_silu)

cpu_loop_fn cpu_unary_f32_avx2(born_unary_op op) {
    switch (op) {
    case BORN_UNARY_EXP: return exp_avx2;
    case BORN_UNARY_LOG: return log_avx2;
    case BORN_UNARY_TANH: return tanh_avx2;
    case BORN_UNARY_SIGMOID: return sigmoid_avx2;
    case BORN_UNARY_RELU: return relu_avx2;
    case BORN_UNARY_GELU: return gelu_avx2;
    case BORN_UNARY_GELU_TANH: return gelu_tanh_avx2;
    case BORN_UNARY_SILU: return silu_avx2;
    default: return NULL;
    }
}

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
