/* Internal: the elementwise epilogue of a convolution (cpu_conv_ep_ops, conv_prepacked.h) on AVX2
 * vectors, shared by the direct tile kernel (applied to the tile's registers before the store) and
 * the ONNX executor's epilogue pass (src/onnx/conv_fast_avx2.c), so both round alike: every
 * operation rounded to f32 as the graph node it replaces (no fused multiply-adds; max/min in the
 * operand order that gives the comparisons' NaN results; the division by 6 without a divide, to
 * the same bits). Include only from files compiled with AVX2 and FMA. */
#ifndef BORN_CPU_CONV_EP_AVX2_H
#define BORN_CPU_CONV_EP_AVX2_H

#include <immintrin.h>

#include "backend/cpu/conv_prepacked.h"

/* m / 6 rounded as vdivps rounds it, without the divide (the HardSwish of paddle2onnx divides by
 * 6): q0 = m r with r = RN(1/6), then one Newton step q0 + fma(-q0, 6, m) r, which is correctly
 * rounded for every float m with |m| >= 2^-123 (checked for all 2^32 inputs; test
 * onnx_hswish_div6_rounds_as_divide), and q0 itself where that is inf or NaN. Vectors with a
 * lane under 2^-123 (subnormal quotients) take the divide. */
static inline __m256 cpu_conv_ep_div6(__m256 m) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 a = _mm256_and_ps(m, absmask);
    __m256 tiny = _mm256_cmp_ps(a, _mm256_set1_ps(0x1p-123f), _CMP_LT_OQ);
    if (!_mm256_testz_ps(tiny, tiny)) return _mm256_div_ps(m, _mm256_set1_ps(6.0f));
    const __m256 d = _mm256_set1_ps(6.0f), r = _mm256_set1_ps(1.0f / 6.0f);
    __m256 q0 = _mm256_mul_ps(m, r);
    __m256 q1 = _mm256_fmadd_ps(_mm256_fnmadd_ps(q0, d, m), r, q0);
    __m256 fin = _mm256_cmp_ps(_mm256_and_ps(q0, absmask), _mm256_set1_ps(__builtin_inff()),
                               _CMP_LT_OQ);
    return _mm256_blendv_ps(q0, q1, fin);
}

/* The nops operations (kind[q], v[q]) in order on one vector. */
static inline __m256 cpu_conv_ep_apply(__m256 x, int nops, const int *kind, const float (*v)[4]) {
    for (int q = 0; q < nops; q++) {
        const float *p = v[q];
        switch (kind[q]) {
        case CPU_CONV_EP_CLAMP: /* x < lo ? lo : (x > hi ? hi : x) */
            x = _mm256_min_ps(_mm256_set1_ps(p[1]), _mm256_max_ps(_mm256_set1_ps(p[0]), x));
            break;
        case CPU_CONV_EP_MUL: x = _mm256_mul_ps(x, _mm256_set1_ps(p[0])); break;
        case CPU_CONV_EP_ADD: x = _mm256_add_ps(x, _mm256_set1_ps(p[0])); break;
        default: { /* x * clamp(x + a, lo, hi) / d */
            __m256 t = _mm256_add_ps(x, _mm256_set1_ps(p[0]));
            t = _mm256_min_ps(_mm256_set1_ps(p[2]), _mm256_max_ps(_mm256_set1_ps(p[1]), t));
            __m256 m = _mm256_mul_ps(x, t);
            x = p[3] == 6.0f ? cpu_conv_ep_div6(m) : _mm256_div_ps(m, _mm256_set1_ps(p[3]));
        }
        }
    }
    return x;
}

/* The operations on N vectors at once (N a constant where inlined): each operation's branch
 * taken once for all of them and the N independent chains overlapping; the same bits as
 * cpu_conv_ep_apply. */
static inline __attribute__((always_inline)) void cpu_conv_ep_apply_n(__m256 *x, int N, int nops,
                                                                      const int *kind,
                                                                      const float (*v)[4]) {
    for (int q = 0; q < nops; q++) {
        const float *p = v[q];
        switch (kind[q]) {
        case CPU_CONV_EP_CLAMP: {
            const __m256 lo = _mm256_set1_ps(p[0]), hi = _mm256_set1_ps(p[1]);
            for (int i = 0; i < N; i++) x[i] = _mm256_min_ps(hi, _mm256_max_ps(lo, x[i]));
            break;
        }
        case CPU_CONV_EP_MUL: {
            const __m256 a = _mm256_set1_ps(p[0]);
            for (int i = 0; i < N; i++) x[i] = _mm256_mul_ps(x[i], a);
            break;
        }
        case CPU_CONV_EP_ADD: {
            const __m256 a = _mm256_set1_ps(p[0]);
            for (int i = 0; i < N; i++) x[i] = _mm256_add_ps(x[i], a);
            break;
        }
        default: {
            const __m256 a = _mm256_set1_ps(p[0]), lo = _mm256_set1_ps(p[1]);
            const __m256 hi = _mm256_set1_ps(p[2]);
            for (int i = 0; i < N; i++)
                x[i] = _mm256_mul_ps(x[i], _mm256_min_ps(hi, _mm256_max_ps(lo, _mm256_add_ps(x[i], a))));
            if (p[3] == 6.0f) {
                for (int i = 0; i < N; i++) x[i] = cpu_conv_ep_div6(x[i]);
            } else {
                const __m256 d = _mm256_set1_ps(p[3]);
                for (int i = 0; i < N; i++) x[i] = _mm256_div_ps(x[i], d);
            }
        }
        }
    }
}

#endif
