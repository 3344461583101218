/* Internal: f32 math on 8 lanes with AVX2 + FMA, for the *_avx2.c kernels only (it needs their
 * compiler flags). Every function takes and returns __m256 and keeps the scalar kernels' IEEE
 * semantics: NaN in gives NaN out, infinities and signed zeros give what the libm expressions of
 * unary.c give, and denormal inputs and results are handled exactly (no flush to zero).
 *
 * Two paths. The fast path (vm_exp_fast, vm_tanh_fast, vm_gelu_fast, and the fast branches of
 * vm_sigmoid and vm_silu) holds where every intermediate is a normal number: |x| <= 86.5 for
 * exp, sigmoid and silu, x >= -12 for gelu, any non-NaN x for tanh. It rounds to the nearest
 * integer by adding 1.5 2^23 and scales by adding n to the exponent bits, with no clamps or
 * blends. vm_exp, vm_tanh, vm_sigmoid, vm_silu and vm_gelu test the eight lanes (one compare
 * and one vtestps) and send the whole vector to the exact path (the *_exact functions: two-step
 * scaling, 2^64-scaled intermediates) when some lane lies outside or is NaN; that is rare in
 * real data, so the kernels run at the fast path's cost (exp 14 vector instructions for 8
 * lanes instead of 25; tanh 21 instead of 38; gelu one f32 evaluation instead of the halves
 * in double).
 *
 * Accuracy against the exact value, for results in the normal range (tests/backend/test_vmath.c
 * checks 10^6 random inputs, a dense sweep of 2.4 million, and the special values; figures from
 * sweeps of every 5th (exp) or 37th f32 bit pattern over the whole range, 2026-11-30):
 *   exp 1.04 ulp, log 0.83, tanh 2.49, sigmoid 2.33, silu 2.38, gelu (erf) 3.75,
 *   gelu (tanh) 4.10. gelu (erf) over every f32 from -44 to 8 (2026-12-02): 4.17 ulp at
 *   x = -2.18976855 (the fast path; 3.87 below -12), more than the every-37th sweep saw.
 *   Results in the denormal range are within a few dozen units of 2^-149.
 *
 * Methods: exp is Cody-Waite reduction by ln 2 (the FMA makes the two-constant split exact);
 * the fast path uses e^r = 1 + r + r^2 Q(r), Q of degree 4 fitted for this file, the exact path
 * Cephes' degree-5 polynomial and a two-step scale so that results in the denormal range round
 * once. log is Cephes' logf (mantissa in [sqrt(1/2), sqrt(2)), degree-8 polynomial). tanh's fast
 * path is -m / (2 + m) with m = expm1(-2|x|) from the same reduction (no cancellation, no second
 * polynomial); its exact path Cephes' odd polynomial below 0.625 and 1 - 2 / (exp(2|x|) + 1)
 * above. sigmoid and silu are 1 / (1 + e^-x) and x / (1 + e^-x) on the fast path, 1 / (1 + e) or
 * e / (1 + e) with e = exp(-|x|) on the exact one. Where an exponent argument would be rounded
 * (x^2 / 2 for gelu, the cubic for gelu-tanh) it is carried as hi + lo (the fast gelu takes lo
 * off the reduced argument, the exact one multiplies by 1 - lo), so large negative inputs keep
 * their relative accuracy. gelu is x Phi(x) with Phi(-t) = exp(-t^2 / 2) h(t) for t >= 0, where
 * h(t) (1 + t / 2) is a degree-10 polynomial in q = (t - 2) / (t + 2), fitted for this file
 * (relative error 4e-8 on [0, 15] with the coefficients rounded to f32); Phi(x) = 1 - Phi(-x)
 * for x >= 0. Vectors whose every |x| is below 4 take a near path instead (vm_gelu_near): Phi(-t)
 * itself from 16 degree-5 polynomials in t on the intervals of gelu_table.h (no exponential),
 * 2.52 ulp at worst, with the AVX-512 kernel's bits. The exact path takes its last products in double; the fast one keeps e^r - 1
 * apart from the 1 and splits the product P w exactly with an FMA, so that the result rounds
 * about as few times. silu, gelu and gelu-tanh's exact paths carry the small factor scaled by
 * 2^64 for x < 0, so a normal result never passes through a denormal intermediate. */
#ifndef BORN_CPU_VMATH_AVX2_H
#define BORN_CPU_VMATH_AVX2_H

#include <immintrin.h>

#include "backend/cpu/gelu_table.h"

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

/* e^x for any x (the exact path): beyond 89 the result is +inf, below -104 it is +0 (as expf);
 * NaN stays NaN. */
VM_ALWAYS_INLINE __m256 vm_exp_exact(__m256 x) {
    /* min/max return their second operand when either is NaN, so NaN passes through */
    x = _mm256_min_ps(vm_set1(89.0f), x);
    x = _mm256_max_ps(vm_set1(-104.0f), x);
    return vm_exp_core(x);
}

/* The bound on |x| below which vm_exp_fast holds: every result is a normal number. */
#define VM_EXP_FAST_MAX 86.5f

/* e^x for |x| <= VM_EXP_FAST_MAX (not NaN); anything else gives garbage. 14 instructions for 8
 * lanes against vm_exp_exact's 25: the rounding to n = round(x / ln 2) by adding 1.5 2^23
 * (which leaves n in the low bits), Cody-Waite reduction r = x - n ln 2 with the same two
 * constants, e^r = 1 + r + r^2 Q(r) with Q of degree 4 (fitted for this file by reweighted
 * least squares on the relative error over |r| <= ln 2 / 2: 7.2e-9 with the coefficients
 * rounded to f32, i.e. 0.12 ulp before the evaluation's roundings), and 2^n added to the
 * exponent bits, exact because both e^r 2^n and e^r are normal. Max error measured against
 * libm's exp in double over every f32 in the range: see tests/backend/test_vmath.c. */
/* e^{-h / 2 - c} = 2^n (1 + s) for h in [0, 144] (a square, h / 2 <= VM_EXP_FAST_MAX) and a
 * small correction c (|c| below an ulp of h / 2): returns s = e^r - 1 and t, whose low bits
 * hold n. vm_expm1_reduced's reduction and polynomial with two shortcuts for a short dependency
 * chain (gelu's latency, not its instruction count, bounds its throughput on an out-of-order
 * core): n is rounded from h (-log2(e) / 2) directly, in parallel with -h / 2 (exact), and Q(r)
 * is evaluated as (0.5 + c1 r) + r^2 ((c2 + c3 r) + c4 r^2) instead of by Horner's rule. */
VM_ALWAYS_INLINE __m256 vm_expm1_half_sq(__m256 h, __m256 c, __m256 *t_out) {
    const __m256 shift = vm_set1(12582912.0f); /* 1.5 2^23 */
    __m256 x = _mm256_mul_ps(h, vm_set1(-0.5f));
    __m256 t = _mm256_fmadd_ps(h, vm_set1(-0.5f * 1.44269504088896341f), shift);
    __m256 n = _mm256_sub_ps(t, shift);
    __m256 r = _mm256_fnmadd_ps(n, vm_set1(0.693147182464599609375f), x);
    r = _mm256_sub_ps(r, c);
    r = _mm256_fnmadd_ps(n, vm_set1(-1.904654299957768e-09f), r);
    __m256 r2 = _mm256_mul_ps(r, r);
    __m256 a = _mm256_fmadd_ps(vm_set1(1.666654348373413e-1f), r, vm_set1(0.5f));
    __m256 b = _mm256_fmadd_ps(vm_set1(8.366215042769909e-3f), r, vm_set1(4.166676849126816e-2f));
    b = _mm256_fmadd_ps(vm_set1(1.3903591316193342e-3f), r2, b);
    *t_out = t;
    return _mm256_fmadd_ps(_mm256_fmadd_ps(b, r2, a), r2, r);
}

/* The same without the correction. */
VM_ALWAYS_INLINE __m256 vm_expm1_reduced(__m256 x, __m256 *t_out) {
    const __m256 shift = vm_set1(12582912.0f); /* 1.5 2^23 */
    __m256 t = _mm256_fmadd_ps(x, vm_set1(1.44269504088896341f), shift);
    __m256 n = _mm256_sub_ps(t, shift);
    __m256 r = _mm256_fnmadd_ps(n, vm_set1(0.693147182464599609375f), x);
    r = _mm256_fnmadd_ps(n, vm_set1(-1.904654299957768e-09f), r);
    __m256 q = vm_set1(1.3903591316193342e-3f);
    q = _mm256_fmadd_ps(q, r, vm_set1(8.366215042769909e-3f));
    q = _mm256_fmadd_ps(q, r, vm_set1(4.166676849126816e-2f));
    q = _mm256_fmadd_ps(q, r, vm_set1(1.666654348373413e-1f));
    q = _mm256_fmadd_ps(q, r, vm_set1(0.5f));
    *t_out = t;
    return _mm256_fmadd_ps(q, _mm256_mul_ps(r, r), r);
}

/* y 2^n for t from vm_expm1_reduced, y and the result normal (exact). */
VM_ALWAYS_INLINE __m256 vm_scale_by_t(__m256 y, __m256 t) {
    /* t's low bits hold n (two's complement); shifted by 23 they are n in the exponent field */
    __m256i e = _mm256_slli_epi32(_mm256_castps_si256(t), 23);
    return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(y), e));
}

VM_ALWAYS_INLINE __m256 vm_exp_fast(__m256 x) {
    __m256 t;
    __m256 s = vm_expm1_reduced(x, &t);
    return vm_scale_by_t(_mm256_add_ps(s, vm_set1(1.0f)), t);
}

/* True if some lane of x is NaN or has |x| > limit (so the fast path does not hold there). */
VM_ALWAYS_INLINE int vm_any_beyond(__m256 x, float limit) {
    __m256 out = _mm256_cmp_ps(vm_abs(x), vm_set1(limit), _CMP_NLE_UQ);
    return !_mm256_testz_ps(out, out);
}

/* e^x. Beyond 89 the result is +inf, below -104 it is +0 (as expf); NaN stays NaN. Eight lanes
 * with |x| <= VM_EXP_FAST_MAX take vm_exp_fast; if any lane lies beyond (or is NaN), all eight
 * take vm_exp_exact. */
VM_ALWAYS_INLINE __m256 vm_exp(__m256 x) {
    /* the fast result before the test (as in vm_gelu): ~10% faster on Zen 3, same bits */
    __m256 r = vm_exp_fast(x);
    if (__builtin_expect(vm_any_beyond(x, VM_EXP_FAST_MAX), 0)) return vm_exp_exact(x);
    return r;
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

VM_ALWAYS_INLINE __m256 vm_tanh_exact(__m256 x) {
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
    /* tanh(10) rounds to 1, so 2|x| is capped at 20 (NaN passes: min returns its second operand) */
    __m256 e = vm_exp(_mm256_min_ps(vm_set1(20.0f), _mm256_add_ps(a, a)));
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
VM_ALWAYS_INLINE __m256 vm_sigmoid_exact(__m256 x) {
    __m256 e = vm_exp(_mm256_or_ps(x, vm_set1(-0.0f))); /* e^{-|x|} */
    return vm_sigmoid_from_exp(e, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ));
}

/* x sigmoid(x). For x < 0 the sigmoid is carried scaled by 2^64, so a result in the normal range
 * never passes through a denormal intermediate. */
VM_ALWAYS_INLINE __m256 vm_silu_exact(__m256 x) {
    __m256 neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
    __m256 a = _mm256_min_ps(vm_set1(170.0f), vm_abs(x));
    __m256 es = vm_exp_core_scaled(_mm256_sub_ps(_mm256_setzero_ps(), a), vm_scale_k(neg));
    __m256 e = _mm256_mul_ps(es, vm_unscale(neg));
    __m256 num = _mm256_blendv_ps(vm_set1(1.0f), es, neg);
    __m256 s = _mm256_div_ps(num, _mm256_add_ps(vm_set1(1.0f), e));
    return vm_nan_at_neg_inf(_mm256_mul_ps(_mm256_mul_ps(x, s), vm_unscale(neg)), x);
}

/* tanh for lanes that are not NaN: with a = min(|x|, 10) (tanh(10) rounds to 1) and
 * m = e^{-2a} - 1 = 2^n (e^r - 1) + (2^n - 1), which keeps its relative accuracy where a is
 * small (n = 0 there), tanh(a) = -m / (2 + m); then x's sign. No cancellation anywhere, so one
 * formula serves every a. */
VM_ALWAYS_INLINE __m256 vm_tanh_fast(__m256 x) {
    __m256 a = _mm256_min_ps(vm_abs(x), vm_set1(10.0f));
    __m256 t;
    __m256 s = vm_expm1_reduced(_mm256_mul_ps(a, vm_set1(-2.0f)), &t);
    __m256 p = vm_scale_by_t(vm_set1(1.0f), t); /* 2^n, n in [-29, 0] */
    __m256 m = _mm256_fmadd_ps(s, p, _mm256_sub_ps(p, vm_set1(1.0f)));
    __m256 r = _mm256_div_ps(m, _mm256_sub_ps(vm_set1(-2.0f), m)); /* >= 0, but -0 for a = 0 */
    return _mm256_or_ps(vm_abs(r), _mm256_and_ps(x, vm_set1(-0.0f)));
}

/* True if some lane of x is NaN. */
VM_ALWAYS_INLINE int vm_any_nan(__m256 x) {
    __m256 u = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
    return !_mm256_testz_ps(u, u);
}

VM_ALWAYS_INLINE __m256 vm_tanh(__m256 x) {
    __m256 r = vm_tanh_fast(x); /* before the test, as in vm_exp */
    if (__builtin_expect(vm_any_nan(x), 0)) return vm_tanh_exact(x);
    return r;
}

/* sigmoid and silu for |x| <= VM_EXP_FAST_MAX: 1 / (1 + e^-x) and x / (1 + e^-x), whose
 * results there are normal numbers; otherwise (or for NaN) the exact forms above. */
VM_ALWAYS_INLINE __m256 vm_sigmoid(__m256 x) {
    __m256 e = vm_exp_fast(_mm256_xor_ps(x, vm_set1(-0.0f))); /* before the test, as in vm_exp */
    __m256 r = _mm256_div_ps(vm_set1(1.0f), _mm256_add_ps(vm_set1(1.0f), e));
    if (__builtin_expect(vm_any_beyond(x, VM_EXP_FAST_MAX), 0)) return vm_sigmoid_exact(x);
    return r;
}

VM_ALWAYS_INLINE __m256 vm_silu(__m256 x) {
    __m256 e = vm_exp_fast(_mm256_xor_ps(x, vm_set1(-0.0f))); /* before the test, as in vm_exp */
    __m256 r = _mm256_div_ps(x, _mm256_add_ps(vm_set1(1.0f), e));
    if (__builtin_expect(vm_any_beyond(x, VM_EXP_FAST_MAX), 0)) return vm_silu_exact(x);
    return r;
}

VM_ALWAYS_INLINE __m256 vm_relu(__m256 x) {
    /* x < 0 ? 0 : x, so NaN and -0 pass through as in the scalar kernel */
    return _mm256_andnot_ps(_mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ), x);
}

/* k P(q) (k = 1 or 2: exact scalings) for the fast gelu and its gradient, P the degree-10
 * polynomial of vm_gelu_exact: its terms of degree 2-10 by Estrin's scheme (pairs c_i + c_(i+1) q,
 * combined with q^2 and q^4), then the last two by Horner's rule, so that the chain after q is 6
 * dependent operations instead of 10 and the final roundings (those that set the error) are
 * Horner's. All of it by Estrin loses about 1.4 ulp on gelu; this keeps the same maximum error
 * over the dense sweep of tests/backend/test_vmath.c. */
VM_ALWAYS_INLINE __m256 vm_gelu_poly(__m256 q, float k) {
    __m256 q2 = _mm256_mul_ps(q, q), q4 = _mm256_mul_ps(q2, q2);
    __m256 a1 = _mm256_fmadd_ps(vm_set1(k * 1.836080663e-02f), q, vm_set1(k * 1.439925004e-02f));
    __m256 a2 = _mm256_fmadd_ps(vm_set1(k * -3.375926288e-03f), q, vm_set1(k * -2.420695237e-04f));
    __m256 a3 = _mm256_fmadd_ps(vm_set1(k * 4.427004897e-04f), q, vm_set1(k * -9.439419373e-04f));
    __m256 a4 = _mm256_fmadd_ps(vm_set1(k * 1.469543986e-05f), q, vm_set1(k * 3.607159597e-04f));
    __m256 b0 = _mm256_fmadd_ps(a2, q2, a1);                             /* degrees 2-5 */
    __m256 b1 = _mm256_fmadd_ps(a4, q2, a3);                             /* 6-9 */
    b1 = _mm256_fmadd_ps(vm_set1(k * -3.796706733e-05f), q4, b1);        /* 6-10 */
    __m256 h = _mm256_fmadd_ps(b1, q4, b0);                              /* 2-10 */
    h = _mm256_fmadd_ps(h, q, vm_set1(k * -1.657022834e-01f));
    return _mm256_fmadd_ps(h, q, vm_set1(k * 3.362039924e-01f));
}

/* x Phi(x), Phi the standard normal CDF (gelu with erf). */
VM_ALWAYS_INLINE __m256 vm_gelu_exact(__m256 x) {
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

/* The bound below which vm_gelu_fast does not hold: Phi(-12) ~ 1.8e-33 and exp(-72) are still
 * normal numbers. */
#define VM_GELU_FAST_MIN -12.0f

/* x Phi(x) for x >= VM_GELU_FAST_MIN (not NaN), all in f32 with vm_gelu_exact's method: t =
 * min(|x|, 12) (beyond 12, 1 - Phi(-t) rounds to 1), Phi(-t) = exp(-t^2 / 2) 2 P(q) / (t + 2)
 * with t^2 = hi + lo, lo / 2 taken off the reduced argument of the exponential (every
 * intermediate is a normal number down to x = -12; vm_expm1_half_sq), q = (t - 2) / (t + 2)
 * and w = x / (t + 2) each by one division, P by vm_gelu_poly, and x Phi(x) = x - v for x >= 0
 * and v below, v = exp(-t^2 / 2) 2 P(q) w (the sign of x picks), with x's sign put on the
 * result (so -0 and the tiniest negative denormals give -0). */
VM_ALWAYS_INLINE __m256 vm_gelu_fast(__m256 x) {
    __m256 t = _mm256_min_ps(vm_set1(12.0f), vm_abs(x));
    __m256 hi = _mm256_mul_ps(t, t);
    __m256 lo = _mm256_fmsub_ps(t, t, hi); /* t^2 = hi + lo exactly */
    __m256 et; /* exp(-t^2 / 2) = 2^n (1 + es), n in et's low bits */
    __m256 es = vm_expm1_half_sq(hi, _mm256_mul_ps(lo, vm_set1(0.5f)), &et);
    __m256 d = _mm256_add_ps(t, vm_set1(2.0f));
    __m256 q = _mm256_div_ps(_mm256_sub_ps(t, vm_set1(2.0f)), d);
    /* w = x / (t + 2), x capped at 12 so that +inf gives inf - 0 below */
    __m256 w = _mm256_div_ps(_mm256_min_ps(vm_set1(12.0f), x), d);
    __m256 p = vm_gelu_poly(q, 2.0f); /* vm_gelu_exact's P, times 2 (exact) */
    /* v = min(x, 12) Phi(-t) = 2^n (1 + es) p w, with p w = pw + pe exactly and the 2^n exact,
     * so that one rounding (the add) follows w's; x Phi(x) = x - v for x >= 0, v below */
    __m256 pw = _mm256_mul_ps(p, w);
    __m256 pe = _mm256_fmsub_ps(p, w, pw);
    __m256 v = vm_scale_by_t(_mm256_add_ps(_mm256_fmadd_ps(es, pw, pe), pw), et);
    /* x's sign on the result: v is +0 where x is -0 or rounds to 0 (x Phi(x) has x's sign) */
    __m256 r = _mm256_blendv_ps(_mm256_sub_ps(x, v), v, x);
    return _mm256_or_ps(r, _mm256_and_ps(x, vm_set1(-0.0f)));
}

/* |x| below which vm_gelu and v16_gelu take their near paths: t (t / 2 + 2) + 16 stays below 32
 * (the near table's last interval, gelu_table.h) with room for the roundings. */
#define VM_GELU_NEAR_MAX 3.9995f

/* Row k of the near table (gelu_table.h) at each lane's interval idx (0..15): two 8-entry
 * permutes and a blend on bit 3 of idx, which hi (idx << 28) holds in its sign bits. */
VM_ALWAYS_INLINE __m256 vm_gelu_near_entry(__m256i idx, __m256 hi, int k) {
    __m256 a = _mm256_permutevar8x32_ps(_mm256_load_ps(cpu_gelu_near_table[k]), idx);
    __m256 b = _mm256_permutevar8x32_ps(_mm256_load_ps(cpu_gelu_near_table[k] + 8), idx);
    return _mm256_blendv_ps(a, b, hi);
}

/* gelu (erf) where every lane has |x| = t < VM_GELU_NEAR_MAX, with v16_gelu_near's operations
 * (vmath_avx512.h) and so its bits: Phi(-t) from the near table's degree-5 polynomial in
 * s = t - centre on the interval of t (t / 2 + 2), then x - x Phi(-t) by one FMA for x >= 0 and
 * x Phi(-t) below. 2.52 ulp at worst over every f32 it takes; 6.7 against vm_gelu_fast's
 * 11.3 ns per 16 lanes in L1 (Zen 5, 2026-12-02). */
VM_ALWAYS_INLINE __m256 vm_gelu_near(__m256 x, __m256 t) {
    _Static_assert(CPU_GELU_DEGREE == 5, "the Horner steps below are written for degree 5");
    __m256 q = _mm256_fmadd_ps(t, _mm256_fmadd_ps(t, vm_set1(0.5f), vm_set1(2.0f)),
                               vm_set1(16.0f));
    __m256i idx = _mm256_srli_epi32(_mm256_castps_si256(q), 19);
    __m256 hi = _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28));
    __m256 s = _mm256_sub_ps(t, vm_gelu_near_entry(idx, hi, 0));
    __m256 p = _mm256_fmadd_ps(vm_gelu_near_entry(idx, hi, 6), s, vm_gelu_near_entry(idx, hi, 5));
    p = _mm256_fmadd_ps(p, s, vm_gelu_near_entry(idx, hi, 4));
    p = _mm256_fmadd_ps(p, s, vm_gelu_near_entry(idx, hi, 3));
    p = _mm256_fmadd_ps(p, s, vm_gelu_near_entry(idx, hi, 2));
    p = _mm256_fmadd_ps(p, s, vm_gelu_near_entry(idx, hi, 1));
    return _mm256_blendv_ps(_mm256_fnmadd_ps(x, p, x), _mm256_mul_ps(x, p), x);
}

/* x Phi(x), Phi the standard normal CDF (gelu with erf): vm_gelu_near where every lane has
 * |x| < VM_GELU_NEAR_MAX (nearly every vector of activations), else vm_gelu_fast where every lane
 * is >= VM_GELU_FAST_MIN, else vm_gelu_exact. The fast result is computed before its test (its
 * garbage, where the test fails, is dropped): with the test first, the compiler's code for the
 * branchy body ran about 15% slower on Zen 3 (9.2 against 7.9 ns per 8 lanes in L1). */
VM_ALWAYS_INLINE __m256 vm_gelu(__m256 x) {
    __m256 t = vm_abs(x);
    if (__builtin_expect(
            _mm256_movemask_ps(_mm256_cmp_ps(t, vm_set1(VM_GELU_NEAR_MAX), _CMP_LT_OQ)) == 0xff, 1))
        return vm_gelu_near(x, t);
    __m256 r = vm_gelu_fast(x);
    __m256 out = _mm256_cmp_ps(x, vm_set1(VM_GELU_FAST_MIN), _CMP_NGE_UQ);
    if (__builtin_expect(!_mm256_testz_ps(out, out), 0)) return vm_gelu_exact(x);
    return r;
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

/* Phi(x) + x phi(x) from e = exp(-t^2 / 2) and r = 1 / (t + 2), t = |x|: Phi(-t) = 2 e P(q) r
 * with q = (t - 2) r, Phi(x) = 1 - Phi(-t) for x >= 0, and phi(x) = e / sqrt(2 pi). */
VM_ALWAYS_INLINE __m256 vm_gelu_grad_from(__m256 x, __m256 t, __m256 e, __m256 r) {
    __m256 q = _mm256_mul_ps(_mm256_sub_ps(t, vm_set1(2.0f)), r);
    __m256 c = vm_gelu_poly(q, 1.0f);
    __m256 tail = _mm256_mul_ps(_mm256_mul_ps(_mm256_add_ps(e, e), c), r); /* Phi(-t) */
    __m256 phi_x = _mm256_blendv_ps(_mm256_sub_ps(vm_set1(1.0f), tail), tail,
                                    _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ));
    __m256 pdf = _mm256_mul_ps(e, vm_set1(0.39894228040143267794f));
    return _mm256_fmadd_ps(x, pdf, phi_x);
}

/* The derivative of gelu (erf), Phi(x) + x phi(x), with Phi and phi evaluated as in vm_gelu, for
 * any x: t = min(|x|, 18), e = exp(-t^2 / 2) by vm_exp of -hi / 2 times (1 - lo / 2) (t^2 = hi +
 * lo). */
VM_ALWAYS_INLINE __m256 vm_gelu_grad_exact(__m256 x) {
    __m256 t = _mm256_min_ps(vm_set1(18.0f), vm_abs(x));
    __m256 hi = _mm256_mul_ps(t, t);
    __m256 lo = _mm256_fmsub_ps(t, t, hi);
    __m256 e = vm_exp(_mm256_mul_ps(hi, vm_set1(-0.5f)));
    e = _mm256_fnmadd_ps(e, _mm256_mul_ps(lo, vm_set1(0.5f)), e);
    __m256 r = _mm256_div_ps(vm_set1(1.0f), _mm256_add_ps(t, vm_set1(2.0f)));
    return vm_gelu_grad_from(x, t, e, r);
}

/* vm_gelu_grad for |x| <= 13 (not NaN), where exp(-x^2 / 2) is a normal number: e from
 * vm_expm1_half_sq with lo / 2 taken off the reduced argument (vm_gelu_fast's exponential), a
 * shorter chain than vm_exp's followed by the correction. */
VM_ALWAYS_INLINE __m256 vm_gelu_grad_fast(__m256 x) {
    __m256 t = vm_abs(x);
    __m256 hi = _mm256_mul_ps(t, t);
    __m256 lo = _mm256_fmsub_ps(t, t, hi);
    __m256 et;
    __m256 es = vm_expm1_half_sq(hi, _mm256_mul_ps(lo, vm_set1(0.5f)), &et);
    __m256 e = vm_scale_by_t(_mm256_add_ps(es, vm_set1(1.0f)), et);
    __m256 r = _mm256_div_ps(vm_set1(1.0f), _mm256_add_ps(t, vm_set1(2.0f)));
    return vm_gelu_grad_from(x, t, e, r);
}

/* The derivative of gelu (erf): vm_gelu_grad_fast where every lane has |x| <= 13, else
 * vm_gelu_grad_exact. */
VM_ALWAYS_INLINE __m256 vm_gelu_grad(__m256 x) {
    __m256 r = vm_gelu_grad_fast(x); /* before the test, as in vm_gelu */
    if (__builtin_expect(vm_any_beyond(x, 13.0f), 0)) return vm_gelu_grad_exact(x);
    return r;
}

#endif
