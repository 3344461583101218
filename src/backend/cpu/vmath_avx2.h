/* Internal: f32 math on 8 lanes with AVX2 + FMA, for the *_avx2.c kernels only (it needs their
 * compiler flags). Every function takes and returns __m256 and keeps the scalar kernels' IEEE
 * semantics: NaN in gives NaN out, infinities and signed zeros give what the libm expressions of
 * unary.c give, and denormal inputs and results are handled exactly (no flush to zero).
 *
 * Accuracy against the exact value, for results in the normal range (tests/backend/test_vmath.c
 * checks 10^6 inputs spread over the range and the special values; the figures are from runs
 * over all 2^32 inputs for exp and log and over every third bit pattern for the others):
 *   exp 1.01 ulp, log 0.83, tanh 1.33, sigmoid 2.40, silu 3.18, gelu (erf) 3.80,
 *   gelu (tanh) 4.10. Results in the denormal range are within a few dozen units of 2^-149.
 *
 * Methods: exp is Cody-Waite reduction by ln 2 (the FMA makes the two-constant split exact)
 * with Cephes' degree-5 polynomial, and a two-step scale so that results in the denormal range
 * round once. log is Cephes' logf (mantissa in [sqrt(1/2), sqrt(2)), degree-8 polynomial).
 * tanh is Cephes' odd polynomial below 0.625 and 1 - 2 / (exp(2|x|) + 1) above. sigmoid is
 * 1 / (1 + e) or e / (1 + e) with e = exp(-|x|). Where an exponent argument would be rounded
 * (x^2 / 2 for gelu, the cubic for gelu-tanh) it is carried as hi + lo and exp(-(hi + lo)) is
 * taken as exp(-hi) (1 - lo), so large negative inputs keep their relative accuracy. gelu is
 * x Phi(x) with Phi(-t) = exp(-t^2 / 2) h(t) for t >= 0, where h(t) (1 + t / 2) is a degree-10
 * polynomial in q = (t - 2) / (t + 2), fitted for this file (relative error 4e-8 on [0, 15]
 * with the coefficients rounded to f32), its last products taken in double; Phi(x) =
 * 1 - Phi(-x) for x >= 0. silu, gelu and gelu-tanh carry the small factor scaled by 2^64 for
 * x < 0, so a normal result never passes through a denormal intermediate. */
#ifndef BORN_CPU_VMATH_AVX2_H
#define BORN_CPU_VMATH_AVX2_H

#include <immintrin.h>

#define VM_ALWAYS_INLINE static inline __attribute__((always_inline))

#define vm_set1 _mm256_set1_ps

VM_ALWAYS_INLINE __m256 vm_abs(__m256 x) {
    return _mm256_andnot_ps(vm_set1(-0.0f), x);
}

/* e^x 2^k for x already known to be NaN or within [-174, 89] and k in [0, 64] (k lets a caller
 * keep an intermediate that would be denormal in the normal range, so it rounds only once, at
 * the end). */
VM_ALWAYS_INLINE __m256 vm_exp_core_scaled(__m256 x, __m256i k) {
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, vm_set1(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, vm_set1(0.693147182464599609375f), x);
    r = _mm256_fnmadd_ps(n, vm_set1(-1.904654299957768e-09f), r);
    __m256 p = vm_set1(1.9875691500E-4f);
    p = _mm256_fmadd_ps(p, r, vm_set1(1.3981999507E-3f));
    p = _mm256_fmadd_ps(p, r, vm_set1(8.3334519073E-3f));
    p = _mm256_fmadd_ps(p, r, vm_set1(4.1665795894E-2f));
    p = _mm256_fmadd_ps(p, r, vm_set1(1.6666665459E-1f));
    p = _mm256_fmadd_ps(p, r, vm_set1(5.0000001201E-1f));
    __m256 y = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
    y = _mm256_add_ps(y, vm_set1(1.0f));
    /* 2^n = 2^n1 * 2^n2 with both halves normal: the first product is exact, the second rounds
     * once (into the denormals or to infinity where the result lies there) */
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i n1 = _mm256_srai_epi32(ni, 1);
    __m256i n2 = _mm256_add_epi32(_mm256_sub_epi32(ni, n1), k);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23));
    return _mm256_mul_ps(_mm256_mul_ps(y, s1), s2);
}

VM_ALWAYS_INLINE __m256 vm_exp_core(__m256 x) { return vm_exp_core_scaled(x, _mm256_setzero_si256()); }

/* 2^64 in lanes where mask is set, else 1 (as the k of vm_exp_core_scaled and as a factor). */
VM_ALWAYS_INLINE __m256i vm_scale_k(__m256 mask) {
    return _mm256_and_si256(_mm256_castps_si256(mask), _mm256_set1_epi32(64));
}
/* x -inf gives NaN (-inf * 0, as the scalar kernels' x * sigmoid(x) and x * Phi(x)) */
VM_ALWAYS_INLINE __m256 vm_nan_at_neg_inf(__m256 r, __m256 x) {
    return _mm256_blendv_ps(r, vm_set1(__builtin_nanf("")),
                            _mm256_cmp_ps(x, vm_set1(-__builtin_inff()), _CMP_EQ_OQ));
}
VM_ALWAYS_INLINE __m256 vm_unscale(__m256 mask) {
    return _mm256_blendv_ps(vm_set1(1.0f), vm_set1(5.42101086242752217e-20f), mask); /* 2^-64 */
}

/* e^x. Beyond 89 the result is +inf, below -104 it is +0 (as expf); NaN stays NaN. */
VM_ALWAYS_INLINE __m256 vm_exp(__m256 x) {
    /* min/max return their second operand when either is NaN, so NaN passes through */
    x = _mm256_min_ps(vm_set1(89.0f), x);
    x = _mm256_max_ps(vm_set1(-104.0f), x);
    return vm_exp_core(x);
}

/* log x: -inf at +-0, NaN below zero, +inf at +inf. */
VM_ALWAYS_INLINE __m256 vm_log(__m256 x) {
    const __m256 zero = _mm256_setzero_ps();
    /* denormals: scale by 2^23 first */
    __m256 tiny = _mm256_cmp_ps(x, vm_set1(1.17549435e-38f), _CMP_LT_OQ);
    __m256 xs = _mm256_blendv_ps(x, _mm256_mul_ps(x, vm_set1(8388608.0f)), tiny);
    __m256 eadj = _mm256_and_ps(tiny, vm_set1(23.0f));
    __m256i xi = _mm256_castps_si256(xs);
    /* x = m 2^e with m in [0.5, 1) */
    __m256 e = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(xi, 23), _mm256_set1_epi32(126)));
    e = _mm256_sub_ps(e, eadj);
    __m256 m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(xi, _mm256_set1_epi32(0x007fffff)),
                                                   _mm256_set1_epi32(0x3f000000)));
    /* m < sqrt(1/2): use 2m - 1 and e - 1, else m - 1 */
    __m256 small = _mm256_cmp_ps(m, vm_set1(0.707106781186547524f), _CMP_LT_OQ);
    e = _mm256_sub_ps(e, _mm256_and_ps(small, vm_set1(1.0f)));
    m = _mm256_sub_ps(_mm256_add_ps(m, _mm256_and_ps(small, m)), vm_set1(1.0f));
    __m256 z = _mm256_mul_ps(m, m);
    __m256 p = vm_set1(7.0376836292E-2f);
    p = _mm256_fmadd_ps(p, m, vm_set1(-1.1514610310E-1f));
    p = _mm256_fmadd_ps(p, m, vm_set1(1.1676998740E-1f));
    p = _mm256_fmadd_ps(p, m, vm_set1(-1.2420140846E-1f));
    p = _mm256_fmadd_ps(p, m, vm_set1(1.4249322787E-1f));
    p = _mm256_fmadd_ps(p, m, vm_set1(-1.6668057665E-1f));
    p = _mm256_fmadd_ps(p, m, vm_set1(2.0000714765E-1f));
    p = _mm256_fmadd_ps(p, m, vm_set1(-2.4999993993E-1f));
    p = _mm256_fmadd_ps(p, m, vm_set1(3.3333331174E-1f));
    __m256 y = _mm256_mul_ps(_mm256_mul_ps(p, m), z);
    y = _mm256_fmadd_ps(e, vm_set1(-2.12194440e-4f), y);
    y = _mm256_fnmadd_ps(z, vm_set1(0.5f), y);
    __m256 r = _mm256_add_ps(m, y);
    r = _mm256_fmadd_ps(e, vm_set1(0.693359375f), r);
    /* special values */
    r = _mm256_blendv_ps(r, x, _mm256_cmp_ps(x, vm_set1(__builtin_inff()), _CMP_EQ_OQ));
    r = _mm256_blendv_ps(r, vm_set1(-__builtin_inff()), _mm256_cmp_ps(x, zero, _CMP_EQ_OQ));
    r = _mm256_blendv_ps(r, vm_set1(__builtin_nanf("")), _mm256_cmp_ps(x, zero, _CMP_LT_OQ));
    return _mm256_blendv_ps(r, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

VM_ALWAYS_INLINE __m256 vm_tanh(__m256 x) {
    __m256 a = vm_abs(x);
    /* |x| < 0.625: x + x z P(z) */
    __m256 z = _mm256_mul_ps(x, x);
    __m256 p = vm_set1(-5.70498872745E-3f);
    p = _mm256_fmadd_ps(p, z, vm_set1(2.06390887954E-2f));
    p = _mm256_fmadd_ps(p, z, vm_set1(-5.37397155531E-2f));
    p = _mm256_fmadd_ps(p, z, vm_set1(1.33314422036E-1f));
    p = _mm256_fmadd_ps(p, z, vm_set1(-3.33332819422E-1f));
    __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);
    /* otherwise 1 - 2 / (e^{2|x|} + 1), with x's sign */
    __m256 e = vm_exp(_mm256_add_ps(a, a));
    __m256 big = _mm256_sub_ps(vm_set1(1.0f), _mm256_div_ps(vm_set1(2.0f), _mm256_add_ps(e, vm_set1(1.0f))));
    __m256 r = _mm256_blendv_ps(big, small, _mm256_cmp_ps(a, vm_set1(0.625f), _CMP_LT_OQ));
    /* tanh is odd: |r| with x's sign (also makes tanh(-0) = -0) */
    return _mm256_or_ps(vm_abs(r), _mm256_and_ps(x, vm_set1(-0.0f)));
}

/* Given e = exp(-|v|) and the sign of v (nonneg: lanes where v >= 0), sigmoid(v). */
VM_ALWAYS_INLINE __m256 vm_sigmoid_from_exp(__m256 e, __m256 nonneg) {
    __m256 num = _mm256_blendv_ps(e, vm_set1(1.0f), nonneg);
    return _mm256_div_ps(num, _mm256_add_ps(vm_set1(1.0f), e));
}

/* 1 / (1 + e^-x), as the scalar kernel: 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) below. */
VM_ALWAYS_INLINE __m256 vm_sigmoid(__m256 x) {
    __m256 e = vm_exp(_mm256_or_ps(x, vm_set1(-0.0f))); /* e^{-|x|} */
    return vm_sigmoid_from_exp(e, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ));
}

/* x sigmoid(x). For x < 0 the sigmoid is carried scaled by 2^64, so a result in the normal range
 * never passes through a denormal intermediate. */
VM_ALWAYS_INLINE __m256 vm_silu(__m256 x) {
    __m256 neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
    __m256 a = _mm256_min_ps(vm_set1(170.0f), vm_abs(x));
    __m256 es = vm_exp_core_scaled(_mm256_sub_ps(_mm256_setzero_ps(), a), vm_scale_k(neg));
    __m256 e = _mm256_mul_ps(es, vm_unscale(neg));
    __m256 num = _mm256_blendv_ps(vm_set1(1.0f), es, neg);
    __m256 s = _mm256_div_ps(num, _mm256_add_ps(vm_set1(1.0f), e));
    return vm_nan_at_neg_inf(_mm256_mul_ps(_mm256_mul_ps(x, s), vm_unscale(neg)), x);
}

VM_ALWAYS_INLINE __m256 vm_relu(__m256 x) {
    /* x < 0 ? 0 : x, so NaN and -0 pass through as in the scalar kernel */
    return _mm256_andnot_ps(_mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ), x);
}

/* x Phi(x), Phi the standard normal CDF (gelu with erf). */
VM_ALWAYS_INLINE __m256 vm_gelu(__m256 x) {
    /* t = |x|, capped at 18 where exp(-t^2 / 2) 2^64 is zero (NaN passes through) */
    __m256 t = _mm256_min_ps(vm_set1(18.0f), vm_abs(x));
    __m256 hi = _mm256_mul_ps(t, t);
    __m256 lo = _mm256_fmsub_ps(t, t, hi); /* t^2 = hi + lo exactly */
    __m256 neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
    /* scaled by 2^64 where x < 0 (see vm_silu) */
    __m256 e = vm_exp_core_scaled(_mm256_mul_ps(hi, vm_set1(-0.5f)), vm_scale_k(neg));
    e = _mm256_fnmadd_ps(e, _mm256_mul_ps(lo, vm_set1(0.5f)), e);
    /* r = 1 / (t + 2), q = (t - 2) r; Phi(-t) = e P(q) / (1 + t / 2) = 2 e P(q) r */
    __m256 r = _mm256_div_ps(vm_set1(1.0f), _mm256_add_ps(t, vm_set1(2.0f)));
    __m256 q = _mm256_mul_ps(_mm256_sub_ps(t, vm_set1(2.0f)), r);
    __m256 p = vm_set1(-3.796706733e-05f);
    p = _mm256_fmadd_ps(p, q, vm_set1(1.469543986e-05f));
    p = _mm256_fmadd_ps(p, q, vm_set1(3.607159597e-04f));
    p = _mm256_fmadd_ps(p, q, vm_set1(4.427004897e-04f));
    p = _mm256_fmadd_ps(p, q, vm_set1(-9.439419373e-04f));
    p = _mm256_fmadd_ps(p, q, vm_set1(-3.375926288e-03f));
    p = _mm256_fmadd_ps(p, q, vm_set1(-2.420695237e-04f));
    p = _mm256_fmadd_ps(p, q, vm_set1(1.836080663e-02f));
    p = _mm256_fmadd_ps(p, q, vm_set1(1.439925004e-02f));
    p = _mm256_fmadd_ps(p, q, vm_set1(-1.657022834e-01f));
    p = _mm256_fmadd_ps(p, q, vm_set1(3.362039924e-01f));
    /* The last products in double, so that the result rounds once: 2 e P r with r refined by
     * one Newton step, then x Phi(x), then the 2^-64 that undoes e's scaling where x < 0. */
    __m256d res[2];
    for (int h = 0; h < 2; h++) {
        __m128 sel_e = h ? _mm256_extractf128_ps(e, 1) : _mm256_castps256_ps128(e);
        __m128 sel_p = h ? _mm256_extractf128_ps(p, 1) : _mm256_castps256_ps128(p);
        __m128 sel_r = h ? _mm256_extractf128_ps(r, 1) : _mm256_castps256_ps128(r);
        __m128 sel_t = h ? _mm256_extractf128_ps(t, 1) : _mm256_castps256_ps128(t);
        __m128 sel_x = h ? _mm256_extractf128_ps(x, 1) : _mm256_castps256_ps128(x);
        __m128 sel_n = h ? _mm256_extractf128_ps(neg, 1) : _mm256_castps256_ps128(neg);
        __m256d rd = _mm256_cvtps_pd(sel_r);
        __m256d den = _mm256_add_pd(_mm256_cvtps_pd(sel_t), _mm256_set1_pd(2.0));
        rd = _mm256_mul_pd(rd, _mm256_fnmadd_pd(den, rd, _mm256_set1_pd(2.0)));
        __m256d ed = _mm256_mul_pd(_mm256_cvtps_pd(sel_e), _mm256_cvtps_pd(sel_p));
        __m256d tail = _mm256_mul_pd(_mm256_add_pd(ed, ed), rd);
        __m256d nd = _mm256_cvtps_pd(sel_n); /* an all-ones mask converts to a negative NaN */
        __m256d phi = _mm256_blendv_pd(_mm256_sub_pd(_mm256_set1_pd(1.0), tail),
                                       _mm256_mul_pd(tail, _mm256_set1_pd(5.42101086242752217e-20)),
                                       nd);
        res[h] = _mm256_mul_pd(_mm256_cvtps_pd(sel_x), phi);
    }
    __m256 out = _mm256_set_m128(_mm256_cvtpd_ps(res[1]), _mm256_cvtpd_ps(res[0]));
    return vm_nan_at_neg_inf(out, x);
}

/* Eight lanes of exp(-|v|) 2^k for v in double (two halves), carried as hi + lo in f32:
 * exp(-hi) (1 - lo). */
VM_ALWAYS_INLINE __m256 vm_exp_neg_abs_pd(__m256d v0, __m256d v1, __m256i k) {
    const __m256d absmask = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fffffffffffffffLL));
    const __m256d cap = _mm256_set1_pd(150.0);
    __m256d a0 = _mm256_min_pd(cap, _mm256_and_pd(v0, absmask));
    __m256d a1 = _mm256_min_pd(cap, _mm256_and_pd(v1, absmask));
    __m128 h0 = _mm256_cvtpd_ps(a0), h1 = _mm256_cvtpd_ps(a1);
    __m128 l0 = _mm256_cvtpd_ps(_mm256_sub_pd(a0, _mm256_cvtps_pd(h0)));
    __m128 l1 = _mm256_cvtpd_ps(_mm256_sub_pd(a1, _mm256_cvtps_pd(h1)));
    __m256 hi = _mm256_set_m128(h1, h0), lo = _mm256_set_m128(l1, l0);
    __m256 e = vm_exp_core_scaled(_mm256_sub_ps(_mm256_setzero_ps(), hi), k);
    return _mm256_fnmadd_ps(e, lo, e);
}

/* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) = x sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3)),
 * the argument computed in double. */
VM_ALWAYS_INLINE __m256 vm_gelu_tanh(__m256 x) {
    const __m256d k0 = _mm256_set1_pd(2.0 * 0.7978845608028654);
    const __m256d k1 = _mm256_set1_pd(2.0 * 0.7978845608028654 * 0.044715);
    __m256d x0 = _mm256_cvtps_pd(_mm256_castps256_ps128(x));
    __m256d x1 = _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1));
    __m256d v0 = _mm256_mul_pd(x0, _mm256_fmadd_pd(_mm256_mul_pd(x0, x0), k1, k0));
    __m256d v1 = _mm256_mul_pd(x1, _mm256_fmadd_pd(_mm256_mul_pd(x1, x1), k1, k0));
    __m256 neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
    __m256 es = vm_exp_neg_abs_pd(v0, v1, vm_scale_k(neg)); /* scaled where x < 0, as vm_silu */
    __m256 e = _mm256_mul_ps(es, vm_unscale(neg));
    __m256 num = _mm256_blendv_ps(vm_set1(1.0f), es, neg);
    __m256 s = _mm256_div_ps(num, _mm256_add_ps(vm_set1(1.0f), e));
    return vm_nan_at_neg_inf(_mm256_mul_ps(_mm256_mul_ps(x, s), vm_unscale(neg)), x);
}

#endif
