/* AVX-512 inner loops for the hot f32 unary ops and the gelu, gelu-tanh, silu and tanh gradients
 * (vmath_avx512.h), chosen by unary.c at CPU_LEVEL_AVX512; ops without one here take the AVX2
 * loops. Contiguous runs go 16 lanes at a time (two vectors an iteration) with one masked vector
 * for the tail; strided runs are gathered into a small buffer, computed there and scattered back.
 * The vectors start where the AVX2 loops' start and hold two of theirs each, so every element
 * gets the AVX2 kernels' bits (vmath_avx512.h), but gelu's and its gradient's, which have their
 * own method here. */
#include <stdint.h>

#include "backend/cpu/kernels_avx2.h"
#include "backend/cpu/prefetch_x86.h"
#include "backend/cpu/strided_chunk.h"
#include "backend/cpu/vmath_avx512.h"

typedef __m512 (*vec16_fn)(__m512);


/* out = f(in) over n elements; with stream, where both are contiguous and out is 64-byte aligned,
 * by streaming stores (stream.h), fenced before return. */
VM_ALWAYS_INLINE void unary_run16(char **d, const int64_t *s, int64_t n, vec16_fn f, bool stream) {
    if (s[0] == 4 && s[1] == 4) {
        float *o = (float *)d[0];
        const float *x = (const float *)d[1];
        int64_t i = 0;
        if (stream && !((uintptr_t)o & 63u)) {
            for (; i + 32 <= n; i += 32) {
                _mm_prefetch((const char *)(x + i + 512), _MM_HINT_T0);
                _mm_prefetch((const char *)(x + i + 528), _MM_HINT_T0);
                __m512 a = f(_mm512_loadu_ps(x + i)), b = f(_mm512_loadu_ps(x + i + 16));
                _mm512_stream_ps(o + i, a);
                _mm512_stream_ps(o + i + 16, b);
            }
            for (; i + 16 <= n; i += 16) _mm512_stream_ps(o + i, f(_mm512_loadu_ps(x + i)));
            _mm_sfence();
        }
        for (; i + 32 <= n; i += 32) {
            /* two kilobytes ahead (unary_avx2.c prefetches one; twice the lanes) */
            _mm_prefetch((const char *)(x + i + 512), _MM_HINT_T0);
            _mm_prefetch((const char *)(x + i + 528), _MM_HINT_T0);
            __m512 a = f(_mm512_loadu_ps(x + i)), b = f(_mm512_loadu_ps(x + i + 16));
            _mm512_storeu_ps(o + i, a);
            _mm512_storeu_ps(o + i + 16, b);
        }
        for (; i + 16 <= n; i += 16) _mm512_storeu_ps(o + i, f(_mm512_loadu_ps(x + i)));
        if (i < n) {
            __mmask16 m = v16_mask(n - i);
            _mm512_mask_storeu_ps(o + i, m, f(_mm512_maskz_loadu_ps(m, x + i)));
        }
        return;
    }
    float buf[STRIDED_CHUNK];
    for (int64_t done = 0; done < n; done += STRIDED_CHUNK) {
        int64_t m = n - done < STRIDED_CHUNK ? n - done : STRIDED_CHUNK;
        strided_chunk_load(buf, d[1] + done * s[1], s[1], m);
        for (int64_t i = 0; i < m; i += 16) _mm512_storeu_ps(buf + i, f(_mm512_loadu_ps(buf + i)));
        strided_chunk_store(d[0] + done * s[0], s[0], buf, m);
    }
}

VM_ALWAYS_INLINE __m512 v16_log(__m512 x) { return V16_HALVES(vm_log, x); }

#define UNARY_AVX512(name, VF)                                                                   \
    static void name##_avx512(char **d, const int64_t *s, int64_t n, void *ctx) {                \
        (void)ctx;                                                                               \
        unary_run16(d, s, n, VF, false);                                                         \
    }                                                                                            \
    static void name##_avx512_stream(char **d, const int64_t *s, int64_t n, void *ctx) {         \
        (void)ctx;                                                                               \
        unary_run16(d, s, n, VF, true);                                                          \
    }

UNARY_AVX512(exp, v16_exp)
UNARY_AVX512(log, v16_log)
UNARY_AVX512(tanh, v16_tanh)
UNARY_AVX512(sigmoid, v16_sigmoid)
UNARY_AVX512(relu, v16_relu)
UNARY_AVX512(gelu, v16_gelu)
UNARY_AVX512(gelu_tanh, v16_gelu_tanh)
UNARY_AVX512(silu, v16_silu)

#define PICK(name) return stream ? name##_avx512_stream : name##_avx512

cpu_loop_fn cpu_unary_f32_avx512(born_unary_op op, bool stream) {
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

/* ---- gradients: grad_in = grad_out * f'(x) ------------------------------------------------ */

typedef __m512 (*bw16_fn)(__m512 g, __m512 x, __m512 y);

/* d[0] = f(d[1], d[2], d[3]) over n elements: 16 lanes at a time with a masked tail when all
 * four are contiguous (streaming stores as unary_run16), else through small buffers. The
 * operands f reads (g always, x with use_x, y with use_y; an unread one is not fetched at all)
 * are prefetched ahead in prefetch_x86.h's two steps, two vectors an iteration: the streamed
 * silu and gelu gradients at one thread gained ~5 points of the copy's bandwidth by a prefetch
 * into L1 from 4 KiB ahead on Zen 5 (2026-12-02), and the gelu gradient went from 69-86% of it
 * to 101% on Zen 4 by the two steps (2026-12-03). The forward loops above keep their one
 * prefetch into L1: the two steps did not change them on Zen 4. */
VM_ALWAYS_INLINE void backward_run16(char **d, const int64_t *s, int64_t n, bw16_fn f, bool stream,
                                    bool use_x, bool use_y) {
    if (s[0] == 4 && s[1] == 4 && s[2] == 4 && s[3] == 4) {
        float *o = (float *)d[0];
        const float *g = (const float *)d[1], *x = (const float *)d[2], *y = (const float *)d[3];
        int64_t i = 0;
        if (stream && !((uintptr_t)o & 63u)) {
            for (; i + 32 <= n; i += 32) {
                for (int k = 0; k < 2; k++) {
                    prefetch_stream_line(g + i + 16 * k);
                    if (use_x) prefetch_stream_line(x + i + 16 * k);
                    if (use_y) prefetch_stream_line(y + i + 16 * k);
                }
                __m512 a = f(_mm512_loadu_ps(g + i), _mm512_loadu_ps(x + i),
                             _mm512_loadu_ps(y + i));
                __m512 b = f(_mm512_loadu_ps(g + i + 16), _mm512_loadu_ps(x + i + 16),
                             _mm512_loadu_ps(y + i + 16));
                _mm512_stream_ps(o + i, a);
                _mm512_stream_ps(o + i + 16, b);
            }
            for (; i + 16 <= n; i += 16)
                _mm512_stream_ps(o + i, f(_mm512_loadu_ps(g + i), _mm512_loadu_ps(x + i),
                                          _mm512_loadu_ps(y + i)));
            _mm_sfence();
        }
        for (; i + 32 <= n; i += 32) {
            for (int k = 0; k < 2; k++) {
                prefetch_stream_line(g + i + 16 * k);
                if (use_x) prefetch_stream_line(x + i + 16 * k);
                if (use_y) prefetch_stream_line(y + i + 16 * k);
            }
            __m512 a = f(_mm512_loadu_ps(g + i), _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i));
            __m512 b = f(_mm512_loadu_ps(g + i + 16), _mm512_loadu_ps(x + i + 16),
                         _mm512_loadu_ps(y + i + 16));
            _mm512_storeu_ps(o + i, a);
            _mm512_storeu_ps(o + i + 16, b);
        }
        for (; i + 16 <= n; i += 16)
            _mm512_storeu_ps(o + i, f(_mm512_loadu_ps(g + i), _mm512_loadu_ps(x + i),
                                      _mm512_loadu_ps(y + i)));
        if (i < n) {
            __mmask16 m = v16_mask(n - i);
            _mm512_mask_storeu_ps(o + i, m, f(_mm512_maskz_loadu_ps(m, g + i), _mm512_maskz_loadu_ps(m, x + i),
                                              _mm512_maskz_loadu_ps(m, y + i)));
        }
        return;
    }
    float buf[4][STRIDED_CHUNK];
    for (int64_t done = 0; done < n; done += STRIDED_CHUNK) {
        int64_t m = n - done < STRIDED_CHUNK ? n - done : STRIDED_CHUNK;
        for (int k = 1; k < 4; k++) strided_chunk_load(buf[k], d[k] + done * s[k], s[k], m);
        for (int64_t i = 0; i < m; i += 16)
            _mm512_storeu_ps(buf[0] + i, f(_mm512_loadu_ps(buf[1] + i), _mm512_loadu_ps(buf[2] + i),
                                           _mm512_loadu_ps(buf[3] + i)));
        strided_chunk_store(d[0] + done * s[0], s[0], buf[0], m);
    }
}

/* unary_avx2.c's bw_tanh, bw_gelu and bw_silu on 16 lanes (the same operations; gelu's
 * derivative is v16_gelu_grad's own). */
VM_ALWAYS_INLINE __m512 bw16_tanh(__m512 g, __m512 x, __m512 y) {
    (void)x;
    return _mm512_mul_ps(g, _mm512_sub_ps(v16_set1(1.0f), _mm512_mul_ps(y, y)));
}
VM_ALWAYS_INLINE __m512 bw16_gelu(__m512 g, __m512 x, __m512 y) {
    (void)y;
    return _mm512_mul_ps(g, v16_gelu_grad(x));
}
/* unary_avx2.c's bw_gelu_tanh: (1 + t) / 2 + x (1 - t^2) / 2 k (1 + 3 0.044715 x^2) with
 * t = tanh(k x (1 + 0.044715 x^2)) (v16_tanh, vm_tanh's bits), k = sqrt(2 / pi). */
VM_ALWAYS_INLINE __m512 bw16_gelu_tanh(__m512 g, __m512 x, __m512 y) {
    (void)y;
    const __m512 one = v16_set1(1.0f), half = v16_set1(0.5f), k = v16_set1(0.7978845608028654f);
    __m512 x2 = _mm512_mul_ps(x, x);
    __m512 inner = _mm512_mul_ps(
        _mm512_mul_ps(x, _mm512_add_ps(_mm512_mul_ps(x2, v16_set1(0.044715f)), one)), k);
    __m512 t = v16_tanh(inner);
    __m512 dinner = _mm512_mul_ps(
        _mm512_add_ps(_mm512_mul_ps(x2, v16_set1((float)(3.0 * 0.044715))), one), k);
    __m512 left = _mm512_mul_ps(_mm512_add_ps(t, one), half);
    __m512 right = _mm512_mul_ps(
        _mm512_mul_ps(_mm512_mul_ps(x, _mm512_sub_ps(one, _mm512_mul_ps(t, t))), half), dinner);
    return _mm512_mul_ps(g, _mm512_add_ps(left, right));
}
/* unary_avx2.c's bw_silu: s (x (1 - s) + 1), s = sigmoid(x) (v16_sigmoid, vm_sigmoid's bits). */
VM_ALWAYS_INLINE __m512 bw16_silu(__m512 g, __m512 x, __m512 y) {
    (void)y;
    const __m512 one = v16_set1(1.0f);
    __m512 s = v16_sigmoid(x);
    __m512 d = _mm512_mul_ps(s, _mm512_add_ps(_mm512_mul_ps(x, _mm512_sub_ps(one, s)), one));
    return _mm512_mul_ps(g, d);
}

#define BACKWARD_AVX512(name, USE_X, USE_Y)                                                      \
    static void name##_backward_avx512(char **d, const int64_t *s, int64_t n, void *ctx) {       \
        (void)ctx;                                                                               \
        backward_run16(d, s, n, bw16_##name, false, USE_X, USE_Y);                               \
    }                                                                                            \
    static void name##_backward_avx512_stream(char **d, const int64_t *s, int64_t n, void *ctx) { \
        (void)ctx;                                                                               \
        backward_run16(d, s, n, bw16_##name, true, USE_X, USE_Y);                                \
    }

BACKWARD_AVX512(tanh, false, true)
BACKWARD_AVX512(gelu, true, false)
BACKWARD_AVX512(silu, true, false)
BACKWARD_AVX512(gelu_tanh, true, false)

cpu_loop_fn cpu_unary_backward_f32_avx512(born_unary_op op, bool stream) {
    switch (op) {
    case BORN_UNARY_TANH: PICK(tanh_backward);
    case BORN_UNARY_GELU: PICK(gelu_backward);
    case BORN_UNARY_SILU: PICK(silu_backward);
    case BORN_UNARY_GELU_TANH: PICK(gelu_tanh_backward);
    default: return NULL;
    }
}
#undef PICK
