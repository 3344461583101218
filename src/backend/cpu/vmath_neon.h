/* Internal: f32 math on 4 lanes with arm64 Advanced SIMD (NEON), for the *_neon.c kernels only.
 * It is vmath_avx2.h written for float32x4_t: the same functions, constants and methods (read
 * that header's comment for them), with every operation of both the fast and the exact paths
 * ported one for one (an FMA for an FMA, the rounding by adding 1.5 2^23 and the scaling by
 * adding to the exponent bits, double precision where AVX2 takes it), so that a lane gives the
 * AVX2 bits whenever it takes the path AVX2 takes. Every function keeps the scalar kernels' IEEE
 * semantics: NaN in gives NaN out, infinities and signed zeros give what the libm expressions of
 * unary.c give, and denormal inputs and results are handled exactly (Linux runs arm64 with
 * FPCR.FZ clear: no flush to zero).
 *
 * Two differences from AVX2. (1) The choice between the fast and the exact path is made per
 * vector of 4 lanes, not 8: a lane in the fast range whose 4-lane half is all in range, but whose
 * AVX2 vector of 8 has a lane outside (or NaN), takes the fast path here and the exact path there
 * (both are held to the same bounds). vm4_tanh_fast and vm4_gelu_fast put x's sign on the result
 * with one bit select where AVX2 ors x's sign into |r| (tanh) or r (gelu): the same bits (tanh(+0)
 * = +0, gelu(-0) = -0, as the portable kernels).
 * (2) min and max: NEON's FMIN/FMAX return NaN when either operand is NaN, where AVX's return
 * the second operand; every clamp that can see a NaN has x second at AVX2, so NaN passes through
 * both the same way (vm4_tanh_fast's clamp, x first, sees none: NaN goes to the exact path).
 *
 * Accuracy: the same as AVX2's, since the operations are the same (tests/backend/test_vmath.c
 * runs its accuracy tests, with the AVX2 bounds, at CPU_LEVEL_NEON, and checks the fast paths
 * bit for bit against the same operations written out in scalar FMAs): exp 1.04 ulp, log 0.83,
 * tanh 2.49, sigmoid 2.33, silu 2.38, gelu (erf) 4.17, gelu (tanh) 4.10, within a few dozen
 * units of 2^-149 for results in the denormal range. */
#ifndef BORN_CPU_VMATH_NEON_H
#define BORN_CPU_VMATH_NEON_H

#include <arm_neon.h>

#define VM4_ALWAYS_INLINE static inline __attribute__((always_inline))

#define vm4_set1 vdupq_n_f32

/* ---- lane helpers ----------------------------------------------------------------------- */

/* a where mask is set, else b (AVX's blendv(b, a, mask)). */
VM4_ALWAYS_INLINE float32x4_t vm4_select(uint32x4_t mask, float32x4_t a, float32x4_t b) {
    return vbslq_f32(mask, a, b);
}
/* All ones in lanes whose sign bit is set (NaN included), as blendv reads its mask. */
VM4_ALWAYS_INLINE uint32x4_t vm4_sign_mask(float32x4_t x) {
    return vreinterpretq_u32_s32(vshrq_n_s32(vreinterpretq_s32_f32(x), 31));
}
/* |r| with x's sign: one bit select. */
VM4_ALWAYS_INLINE float32x4_t vm4_copysign(float32x4_t r, float32x4_t x) {
    return vbslq_f32(vdupq_n_u32(0x80000000u), x, r);
}
/* v where mask is set, else +0 (AVX's and of a mask and a float). */
VM4_ALWAYS_INLINE float32x4_t vm4_and(uint32x4_t mask, float32x4_t v) {
    return vreinterpretq_f32_u32(vandq_u32(mask, vreinterpretq_u32_f32(v)));
}
/* True if some lane of mask is clear. */
VM4_ALWAYS_INLINE int vm4_any_clear(uint32x4_t mask) { return vminvq_u32(mask) == 0; }

/* ---- exp -------------------------------------------------------------------------------- */

/* e^x 2^k for x already known to be NaN or within [-174, 89] and k in [0, 64]: vm_exp_core_scaled
 * (Cephes' degree-5 polynomial after Cody-Waite reduction, 2^n applied in two normal halves so a
 * denormal result rounds once). */
VM4_ALWAYS_INLINE float32x4_t vm4_exp_core_scaled(float32x4_t x, int32x4_t k) {
    float32x4_t n = vrndnq_f32(vmulq_f32(x, vm4_set1(1.44269504088896341f)));
    float32x4_t r = vfmsq_f32(x, n, vm4_set1(0.693147182464599609375f));
    r = vfmsq_f32(r, n, vm4_set1(-1.904654299957768e-09f));
    float32x4_t p = vm4_set1(1.9875691500E-4f);
    p = vfmaq_f32(vm4_set1(1.3981999507E-3f), p, r);
    p = vfmaq_f32(vm4_set1(8.3334519073E-3f), p, r);
    p = vfmaq_f32(vm4_set1(4.1665795894E-2f), p, r);
    p = vfmaq_f32(vm4_set1(1.6666665459E-1f), p, r);
    p = vfmaq_f32(vm4_set1(5.0000001201E-1f), p, r);
    float32x4_t y = vfmaq_f32(r, p, vmulq_f32(r, r));
    y = vaddq_f32(y, vm4_set1(1.0f));
    int32x4_t ni = vcvtq_s32_f32(n); /* n is an integer already */
    int32x4_t n1 = vshrq_n_s32(ni, 1);
    int32x4_t n2 = vaddq_s32(vsubq_s32(ni, n1), k);
    float32x4_t s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n1, vdupq_n_s32(127)), 23));
    float32x4_t s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n2, vdupq_n_s32(127)), 23));
    return vmulq_f32(vmulq_f32(y, s1), s2);
}

VM4_ALWAYS_INLINE float32x4_t vm4_exp_core(float32x4_t x) {
    return vm4_exp_core_scaled(x, vdupq_n_s32(0));
}

/* 64 in lanes where mask is set, else 0 (the k of vm4_exp_core_scaled). */
VM4_ALWAYS_INLINE int32x4_t vm4_scale_k(uint32x4_t mask) {
    return vreinterpretq_s32_u32(vandq_u32(mask, vdupq_n_u32(64)));
}
/* r, or NaN where x is -inf (-inf * 0, as the scalar kernels' x * sigmoid(x) and x * Phi(x)). */
VM4_ALWAYS_INLINE float32x4_t vm4_nan_at_neg_inf(float32x4_t r, float32x4_t x) {
    return vm4_select(vceqq_f32(x, vm4_set1(-__builtin_inff())), vm4_set1(__builtin_nanf("")), r);
}
/* 2^-64 where mask is set, else 1. */
VM4_ALWAYS_INLINE float32x4_t vm4_unscale(uint32x4_t mask) {
    return vm4_select(mask, vm4_set1(5.42101086242752217e-20f), vm4_set1(1.0f));
}

/* e^x for any x (the exact path): +inf beyond 89, +0 below -104 (as expf), NaN stays NaN. The
 * input is clamped to [-104, 89] (FMIN/FMAX pass NaN) and goes through vm4_exp_core. */
VM4_ALWAYS_INLINE float32x4_t vm4_exp_exact(float32x4_t x) {
    x = vminq_f32(vm4_set1(89.0f), x);
    x = vmaxq_f32(vm4_set1(-104.0f), x);
    return vm4_exp_core(x);
}

/* The bound on |x| below which vm4_exp_fast holds: every result is a normal number. */
#define VM4_EXP_FAST_MAX 86.5f

/* e^{-h / 2 - c} = 2^n (1 + s) for h in [0, 144] and |c| below an ulp of h / 2: returns s and t,
 * whose low bits hold n. vm_expm1_half_sq's operations (n rounded from h directly, Q evaluated
 * as (0.5 + c1 r) + r^2 ((c2 + c3 r) + c4 r^2)). */
VM4_ALWAYS_INLINE float32x4_t vm4_expm1_half_sq(float32x4_t h, float32x4_t c, float32x4_t *t_out) {
    const float32x4_t shift = vm4_set1(12582912.0f); /* 1.5 2^23 */
    float32x4_t x = vmulq_f32(h, vm4_set1(-0.5f));
    float32x4_t t = vfmaq_f32(shift, h, vm4_set1(-0.5f * 1.44269504088896341f));
    float32x4_t n = vsubq_f32(t, shift);
    float32x4_t r = vfmsq_f32(x, n, vm4_set1(0.693147182464599609375f));
    r = vsubq_f32(r, c);
    r = vfmsq_f32(r, n, vm4_set1(-1.904654299957768e-09f));
    float32x4_t r2 = vmulq_f32(r, r);
    float32x4_t a = vfmaq_f32(vm4_set1(0.5f), vm4_set1(1.666654348373413e-1f), r);
    float32x4_t b = vfmaq_f32(vm4_set1(4.166676849126816e-2f), vm4_set1(8.366215042769909e-3f), r);
    b = vfmaq_f32(b, vm4_set1(1.3903591316193342e-3f), r2);
    *t_out = t;
    return vfmaq_f32(r, vfmaq_f32(a, b, r2), r2);
}

/* e^x = 2^n (1 + s) for |x| <= VM4_EXP_FAST_MAX: returns s = e^r - 1 and t, whose low bits hold
 * n. vm_expm1_reduced's operations: n by adding 1.5 2^23, Cody-Waite reduction by ln 2, e^r - 1
 * = r + r^2 Q(r) with Q of degree 4 by Horner's rule. */
VM4_ALWAYS_INLINE float32x4_t vm4_expm1_reduced(float32x4_t x, float32x4_t *t_out) {
    const float32x4_t shift = vm4_set1(12582912.0f); /* 1.5 2^23 */
    float32x4_t t = vfmaq_f32(shift, x, vm4_set1(1.44269504088896341f));
    float32x4_t n = vsubq_f32(t, shift);
    float32x4_t r = vfmsq_f32(x, n, vm4_set1(0.693147182464599609375f));
    r = vfmsq_f32(r, n, vm4_set1(-1.904654299957768e-09f));
    float32x4_t q = vm4_set1(1.3903591316193342e-3f);
    q = vfmaq_f32(vm4_set1(8.366215042769909e-3f), q, r);
    q = vfmaq_f32(vm4_set1(4.166676849126816e-2f), q, r);
    q = vfmaq_f32(vm4_set1(1.666654348373413e-1f), q, r);
    q = vfmaq_f32(vm4_set1(0.5f), q, r);
    *t_out = t;
    return vfmaq_f32(r, q, vmulq_f32(r, r));
}

/* y 2^n for t from vm4_expm1_reduced, y and the result normal (exact): t's low bits, shifted by
 * 23, are n in the exponent field. */
VM4_ALWAYS_INLINE float32x4_t vm4_scale_by_t(float32x4_t y, float32x4_t t) {
    uint32x4_t e = vshlq_n_u32(vreinterpretq_u32_f32(t), 23);
    return vreinterpretq_f32_u32(vaddq_u32(vreinterpretq_u32_f32(y), e));
}

/* e^x for |x| <= VM4_EXP_FAST_MAX (not NaN); anything else gives garbage. (1 + s) 2^n from
 * vm4_expm1_reduced: the bits of vm_exp_fast. */
VM4_ALWAYS_INLINE float32x4_t vm4_exp_fast(float32x4_t x) {
    float32x4_t t;
    float32x4_t s = vm4_expm1_reduced(x, &t);
    return vm4_scale_by_t(vaddq_f32(s, vm4_set1(1.0f)), t);
}

/* True if some lane of x is NaN or has |x| > limit (so the fast path does not hold there). */
VM4_ALWAYS_INLINE int vm4_any_beyond(float32x4_t x, float limit) {
    return vm4_any_clear(vcleq_f32(vabsq_f32(x), vm4_set1(limit)));
}

/* True if some lane of x is NaN. */
VM4_ALWAYS_INLINE int vm4_any_nan(float32x4_t x) { return vm4_any_clear(vceqq_f32(x, x)); }

/* e^x: vm4_exp_fast where all four lanes have |x| <= VM4_EXP_FAST_MAX, else vm4_exp_exact for
 * all four. +inf beyond 89, +0 below -104, NaN stays NaN; 1.04 ulp at most. */
VM4_ALWAYS_INLINE float32x4_t vm4_exp(float32x4_t x) {
    float32x4_t r = vm4_exp_fast(x);
    if (__builtin_expect(vm4_any_beyond(x, VM4_EXP_FAST_MAX), 0)) return vm4_exp_exact(x);
    return r;
}

/* ---- log -------------------------------------------------------------------------------- */

/* log x by Cephes' logf (vm_log's operations, one path for every input): -inf at +-0, NaN below
 * zero and for NaN, +inf at +inf; denormals are scaled by 2^23 first. 0.83 ulp at most. */
VM4_ALWAYS_INLINE float32x4_t vm4_log(float32x4_t x) {
    const float32x4_t zero = vm4_set1(0.0f);
    uint32x4_t tiny = vcltq_f32(x, vm4_set1(1.17549435e-38f));
    float32x4_t xs = vm4_select(tiny, vmulq_f32(x, vm4_set1(8388608.0f)), x);
    float32x4_t eadj = vm4_and(tiny, vm4_set1(23.0f));
    uint32x4_t xi = vreinterpretq_u32_f32(xs);
    /* x = m 2^e with m in [0.5, 1) */
    float32x4_t e =
        vcvtq_f32_s32(vsubq_s32(vreinterpretq_s32_u32(vshrq_n_u32(xi, 23)), vdupq_n_s32(126)));
    e = vsubq_f32(e, eadj);
    float32x4_t m = vreinterpretq_f32_u32(
        vorrq_u32(vandq_u32(xi, vdupq_n_u32(0x007fffff)), vdupq_n_u32(0x3f000000)));
    /* m < sqrt(1/2): use 2m - 1 and e - 1, else m - 1 */
    uint32x4_t small = vcltq_f32(m, vm4_set1(0.707106781186547524f));
    e = vsubq_f32(e, vm4_and(small, vm4_set1(1.0f)));
    m = vsubq_f32(vaddq_f32(m, vm4_and(small, m)), vm4_set1(1.0f));
    float32x4_t z = vmulq_f32(m, m);
    float32x4_t p = vm4_set1(7.0376836292E-2f);
    p = vfmaq_f32(vm4_set1(-1.1514610310E-1f), p, m);
    p = vfmaq_f32(vm4_set1(1.1676998740E-1f), p, m);
    p = vfmaq_f32(vm4_set1(-1.2420140846E-1f), p, m);
    p = vfmaq_f32(vm4_set1(1.4249322787E-1f), p, m);
    p = vfmaq_f32(vm4_set1(-1.6668057665E-1f), p, m);
    p = vfmaq_f32(vm4_set1(2.0000714765E-1f), p, m);
    p = vfmaq_f32(vm4_set1(-2.4999993993E-1f), p, m);
    p = vfmaq_f32(vm4_set1(3.3333331174E-1f), p, m);
    float32x4_t y = vmulq_f32(vmulq_f32(p, m), z);
    y = vfmaq_f32(y, e, vm4_set1(-2.12194440e-4f));
    y = vfmsq_f32(y, z, vm4_set1(0.5f));
    float32x4_t r = vaddq_f32(m, y);
    r = vfmaq_f32(r, e, vm4_set1(0.693359375f));
    /* special values */
    r = vm4_select(vceqq_f32(x, vm4_set1(__builtin_inff())), x, r);
    r = vm4_select(vceqq_f32(x, zero), vm4_set1(-__builtin_inff()), r);
    r = vm4_select(vcltq_f32(x, zero), vm4_set1(__builtin_nanf("")), r);
    return vm4_select(vceqq_f32(x, x), r, x);
}

/* ---- tanh, sigmoid, silu, relu ---------------------------------------------------------- */

/* tanh for any x (the exact path): Cephes' odd polynomial below |x| = 0.625, 1 - 2 / (e^{2|x|} +
 * 1) above (2|x| capped at 20), then x's sign. */
VM4_ALWAYS_INLINE float32x4_t vm4_tanh_exact(float32x4_t x) {
    float32x4_t a = vabsq_f32(x);
    float32x4_t z = vmulq_f32(x, x);
    float32x4_t p = vm4_set1(-5.70498872745E-3f);
    p = vfmaq_f32(vm4_set1(2.06390887954E-2f), p, z);
    p = vfmaq_f32(vm4_set1(-5.37397155531E-2f), p, z);
    p = vfmaq_f32(vm4_set1(1.33314422036E-1f), p, z);
    p = vfmaq_f32(vm4_set1(-3.33332819422E-1f), p, z);
    float32x4_t small = vfmaq_f32(x, vmulq_f32(p, z), x);
    float32x4_t e = vm4_exp(vminq_f32(vm4_set1(20.0f), vaddq_f32(a, a)));
    float32x4_t big =
        vsubq_f32(vm4_set1(1.0f), vdivq_f32(vm4_set1(2.0f), vaddq_f32(e, vm4_set1(1.0f))));
    float32x4_t r = vm4_select(vcltq_f32(a, vm4_set1(0.625f)), small, big);
    return vm4_copysign(r, x); /* |r| with x's sign, as vm_tanh_exact's andnot and or */
}

/* sigmoid(v) from e = exp(-|v|) and nonneg (lanes where v >= 0): 1 / (1 + e) or e / (1 + e). */
VM4_ALWAYS_INLINE float32x4_t vm4_sigmoid_from_exp(float32x4_t e, uint32x4_t nonneg) {
    float32x4_t num = vm4_select(nonneg, vm4_set1(1.0f), e);
    return vdivq_f32(num, vaddq_f32(vm4_set1(1.0f), e));
}

/* 1 / (1 + e^-x) for any x (the exact path), as the scalar kernel: 1 / (1 + e^-x) for x >= 0,
 * e^x / (1 + e^x) below, e^{-|x|} by vm4_exp. */
VM4_ALWAYS_INLINE float32x4_t vm4_sigmoid_exact(float32x4_t x) {
    float32x4_t e = vm4_exp(vnegq_f32(vabsq_f32(x))); /* e^{-|x|}: vm_sigmoid_exact's or of -0 */
    return vm4_sigmoid_from_exp(e, vcgeq_f32(x, vm4_set1(0.0f)));
}

/* x sigmoid(x) for any x (the exact path). For x < 0 the sigmoid is carried scaled by 2^64, so a
 * result in the normal range never passes through a denormal intermediate; -inf gives NaN. */
VM4_ALWAYS_INLINE float32x4_t vm4_silu_exact(float32x4_t x) {
    uint32x4_t neg = vcltq_f32(x, vm4_set1(0.0f));
    float32x4_t a = vminq_f32(vm4_set1(170.0f), vabsq_f32(x));
    float32x4_t es = vm4_exp_core_scaled(vsubq_f32(vm4_set1(0.0f), a), vm4_scale_k(neg));
    float32x4_t e = vmulq_f32(es, vm4_unscale(neg));
    float32x4_t num = vm4_select(neg, es, vm4_set1(1.0f));
    float32x4_t s = vdivq_f32(num, vaddq_f32(vm4_set1(1.0f), e));
    return vm4_nan_at_neg_inf(vmulq_f32(vmulq_f32(x, s), vm4_unscale(neg)), x);
}

/* tanh for lanes that are not NaN: with a = min(|x|, 10) and m = e^{-2a} - 1 = 2^n (e^r - 1) +
 * (2^n - 1), tanh(a) = -m / (2 + m) (vm_tanh_fast's operations), then x's sign by a bit select
 * (AVX2 takes |r| and ors the sign in: the same bits). */
VM4_ALWAYS_INLINE float32x4_t vm4_tanh_fast(float32x4_t x) {
    float32x4_t a = vminq_f32(vabsq_f32(x), vm4_set1(10.0f));
    float32x4_t t;
    float32x4_t s = vm4_expm1_reduced(vmulq_f32(a, vm4_set1(-2.0f)), &t);
    float32x4_t p = vm4_scale_by_t(vm4_set1(1.0f), t); /* 2^n, n in [-29, 0] */
    float32x4_t m = vfmaq_f32(vsubq_f32(p, vm4_set1(1.0f)), s, p);
    float32x4_t r = vdivq_f32(m, vsubq_f32(vm4_set1(-2.0f), m)); /* >= 0, -0 at a = 0 */
    return vm4_copysign(r, x);
}

/* tanh x: vm4_tanh_fast unless some lane is NaN, then vm4_tanh_exact for all four; odd, +-1 at
 * +-inf, NaN stays NaN. 2.49 ulp at most. */
VM4_ALWAYS_INLINE float32x4_t vm4_tanh(float32x4_t x) {
    float32x4_t r = vm4_tanh_fast(x);
    if (__builtin_expect(vm4_any_nan(x), 0)) return vm4_tanh_exact(x);
    return r;
}

/* 1 / (1 + e^-x): by vm4_exp_fast where all four lanes have |x| <= VM4_EXP_FAST_MAX, else
 * vm4_sigmoid_exact for all four. 0 at -inf, 1 at +inf, NaN stays NaN; 2.33 ulp at most. */
VM4_ALWAYS_INLINE float32x4_t vm4_sigmoid(float32x4_t x) {
    float32x4_t e = vm4_exp_fast(vnegq_f32(x));
    float32x4_t r = vdivq_f32(vm4_set1(1.0f), vaddq_f32(vm4_set1(1.0f), e));
    if (__builtin_expect(vm4_any_beyond(x, VM4_EXP_FAST_MAX), 0)) return vm4_sigmoid_exact(x);
    return r;
}

/* x / (1 + e^-x): by vm4_exp_fast where all four lanes have |x| <= VM4_EXP_FAST_MAX, else
 * vm4_silu_exact for all four. NaN at -inf (as the scalar x * sigmoid(x)); 2.38 ulp at most. */
VM4_ALWAYS_INLINE float32x4_t vm4_silu(float32x4_t x) {
    float32x4_t e = vm4_exp_fast(vnegq_f32(x));
    float32x4_t r = vdivq_f32(x, vaddq_f32(vm4_set1(1.0f), e));
    if (__builtin_expect(vm4_any_beyond(x, VM4_EXP_FAST_MAX), 0)) return vm4_silu_exact(x);
    return r;
}

/* x < 0 ? 0 : x, so NaN and -0 pass through as in the scalar kernel. Exact. */
VM4_ALWAYS_INLINE float32x4_t vm4_relu(float32x4_t x) {
    return vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(x), vcltq_f32(x, vm4_set1(0.0f))));
}

/* ---- gelu (erf) ------------------------------------------------------------------------- */

/* k P(q) (k = 1 or 2: exact scalings), P the degree-10 polynomial of vm4_gelu_exact, by
 * vm_gelu_poly's scheme: degrees 2-10 by Estrin's, the last two by Horner's rule. */
VM4_ALWAYS_INLINE float32x4_t vm4_gelu_poly(float32x4_t q, float k) {
    float32x4_t q2 = vmulq_f32(q, q), q4 = vmulq_f32(q2, q2);
    float32x4_t a1 = vfmaq_f32(vm4_set1(k * 1.439925004e-02f), vm4_set1(k * 1.836080663e-02f), q);
    float32x4_t a2 = vfmaq_f32(vm4_set1(k * -2.420695237e-04f), vm4_set1(k * -3.375926288e-03f), q);
    float32x4_t a3 = vfmaq_f32(vm4_set1(k * -9.439419373e-04f), vm4_set1(k * 4.427004897e-04f), q);
    float32x4_t a4 = vfmaq_f32(vm4_set1(k * 3.607159597e-04f), vm4_set1(k * 1.469543986e-05f), q);
    float32x4_t b0 = vfmaq_f32(a1, a2, q2);                  /* degrees 2-5 */
    float32x4_t b1 = vfmaq_f32(a3, a4, q2);                  /* 6-9 */
    b1 = vfmaq_f32(b1, vm4_set1(k * -3.796706733e-05f), q4); /* 6-10 */
    float32x4_t h = vfmaq_f32(b0, b1, q4);                   /* 2-10 */
    h = vfmaq_f32(vm4_set1(k * -1.657022834e-01f), h, q);
    return vfmaq_f32(vm4_set1(k * 3.362039924e-01f), h, q);
}

/* Two lanes of a mask widened to double's (all ones stay all ones). */
VM4_ALWAYS_INLINE uint64x2_t vm4_mask_lo_pd(uint32x4_t m) {
    return vreinterpretq_u64_s64(vmovl_s32(vget_low_s32(vreinterpretq_s32_u32(m))));
}
VM4_ALWAYS_INLINE uint64x2_t vm4_mask_hi_pd(uint32x4_t m) {
    return vreinterpretq_u64_s64(vmovl_high_s32(vreinterpretq_s32_u32(m)));
}

/* x Phi(x) for two lanes in double: 2 e P r with r refined by one Newton step, then x Phi(x),
 * with the 2^-64 that undoes e's scaling where neg (vm_gelu_exact's last products). */
VM4_ALWAYS_INLINE float64x2_t vm4_gelu_tail_pd(float64x2_t e, float64x2_t p, float64x2_t r,
                                               float64x2_t t, float64x2_t x, uint64x2_t neg) {
    float64x2_t den = vaddq_f64(t, vdupq_n_f64(2.0));
    r = vmulq_f64(r, vfmsq_f64(vdupq_n_f64(2.0), den, r));
    float64x2_t ed = vmulq_f64(e, p);
    float64x2_t tail = vmulq_f64(vaddq_f64(ed, ed), r);
    float64x2_t phi = vbslq_f64(neg, vmulq_f64(tail, vdupq_n_f64(5.42101086242752217e-20)),
                                vsubq_f64(vdupq_n_f64(1.0), tail));
    return vmulq_f64(x, phi);
}

/* x Phi(x) for any x (the exact path): t = min(|x|, 18), Phi(-t) = exp(-t^2 / 2) 2 P(q) / (t + 2)
 * with t^2 = hi + lo, exp scaled by 2^64 where x < 0, P of degree 10 in q = (t - 2) / (t + 2) by
 * Horner's rule, the last products in double (vm_gelu_exact). -inf gives NaN. */
VM4_ALWAYS_INLINE float32x4_t vm4_gelu_exact(float32x4_t x) {
    float32x4_t t = vminq_f32(vm4_set1(18.0f), vabsq_f32(x));
    float32x4_t hi = vmulq_f32(t, t);
    float32x4_t lo = vfmaq_f32(vnegq_f32(hi), t, t); /* t^2 = hi + lo exactly */
    uint32x4_t neg = vcltq_f32(x, vm4_set1(0.0f));
    float32x4_t e = vm4_exp_core_scaled(vmulq_f32(hi, vm4_set1(-0.5f)), vm4_scale_k(neg));
    e = vfmsq_f32(e, e, vmulq_f32(lo, vm4_set1(0.5f)));
    float32x4_t r = vdivq_f32(vm4_set1(1.0f), vaddq_f32(t, vm4_set1(2.0f)));
    float32x4_t q = vmulq_f32(vsubq_f32(t, vm4_set1(2.0f)), r);
    float32x4_t p = vm4_set1(-3.796706733e-05f);
    p = vfmaq_f32(vm4_set1(1.469543986e-05f), p, q);
    p = vfmaq_f32(vm4_set1(3.607159597e-04f), p, q);
    p = vfmaq_f32(vm4_set1(4.427004897e-04f), p, q);
    p = vfmaq_f32(vm4_set1(-9.439419373e-04f), p, q);
    p = vfmaq_f32(vm4_set1(-3.375926288e-03f), p, q);
    p = vfmaq_f32(vm4_set1(-2.420695237e-04f), p, q);
    p = vfmaq_f32(vm4_set1(1.836080663e-02f), p, q);
    p = vfmaq_f32(vm4_set1(1.439925004e-02f), p, q);
    p = vfmaq_f32(vm4_set1(-1.657022834e-01f), p, q);
    p = vfmaq_f32(vm4_set1(3.362039924e-01f), p, q);
    float64x2_t lo2 = vm4_gelu_tail_pd(vcvt_f64_f32(vget_low_f32(e)), vcvt_f64_f32(vget_low_f32(p)),
                                       vcvt_f64_f32(vget_low_f32(r)), vcvt_f64_f32(vget_low_f32(t)),
                                       vcvt_f64_f32(vget_low_f32(x)), vm4_mask_lo_pd(neg));
    float64x2_t hi2 =
        vm4_gelu_tail_pd(vcvt_high_f64_f32(e), vcvt_high_f64_f32(p), vcvt_high_f64_f32(r),
                         vcvt_high_f64_f32(t), vcvt_high_f64_f32(x), vm4_mask_hi_pd(neg));
    float32x4_t out = vcvt_high_f32_f64(vcvt_f32_f64(lo2), hi2);
    return vm4_nan_at_neg_inf(out, x);
}

/* The bound below which vm4_gelu_fast does not hold: Phi(-12) ~ 1.8e-33 and exp(-72) are still
 * normal numbers. */
#define VM4_GELU_FAST_MIN -12.0f

/* x Phi(x) for x >= VM4_GELU_FAST_MIN (not NaN), all in f32: vm_gelu_fast's operations (exp of
 * -t^2 / 2 by vm4_expm1_half_sq, q and w = min(x, 12) / (t + 2) by one division each, P by
 * vm4_gelu_poly, P w split exactly by an FMA; x - v for x >= 0, v below), then x's sign by a bit
 * select (AVX2 gives gelu(-0) = +0). */
VM4_ALWAYS_INLINE float32x4_t vm4_gelu_fast(float32x4_t x) {
    float32x4_t t = vminq_f32(vm4_set1(12.0f), vabsq_f32(x));
    float32x4_t hi = vmulq_f32(t, t);
    float32x4_t lo = vfmaq_f32(vnegq_f32(hi), t, t); /* t^2 = hi + lo exactly */
    float32x4_t et; /* exp(-t^2 / 2) = 2^n (1 + es), n in et's low bits */
    float32x4_t es = vm4_expm1_half_sq(hi, vmulq_f32(lo, vm4_set1(0.5f)), &et);
    float32x4_t d = vaddq_f32(t, vm4_set1(2.0f));
    float32x4_t q = vdivq_f32(vsubq_f32(t, vm4_set1(2.0f)), d);
    float32x4_t w = vdivq_f32(vminq_f32(vm4_set1(12.0f), x), d);
    float32x4_t p = vm4_gelu_poly(q, 2.0f);
    float32x4_t pw = vmulq_f32(p, w);
    float32x4_t pe = vfmaq_f32(vnegq_f32(pw), p, w); /* p w = pw + pe exactly */
    float32x4_t v = vm4_scale_by_t(vaddq_f32(vfmaq_f32(pe, es, pw), pw), et);
    float32x4_t r = vm4_select(vm4_sign_mask(x), v, vsubq_f32(x, v));
    return vm4_copysign(r, x);
}

/* x Phi(x), Phi the standard normal CDF (gelu with erf): vm4_gelu_fast where all four lanes are
 * >= VM4_GELU_FAST_MIN, else vm4_gelu_exact for all four. 4.17 ulp at most (over every f32 from
 * -44 to 8 at AVX2, whose operations these are). */
VM4_ALWAYS_INLINE float32x4_t vm4_gelu(float32x4_t x) {
    float32x4_t r = vm4_gelu_fast(x);
    if (__builtin_expect(vm4_any_clear(vcgeq_f32(x, vm4_set1(VM4_GELU_FAST_MIN))), 0))
        return vm4_gelu_exact(x);
    return r;
}

/* ---- gelu (tanh) ------------------------------------------------------------------------ */

/* exp(-|v|) 2^k for four lanes of v in double (two halves), carried as hi + lo in f32:
 * exp(-hi) (1 - lo), |v| capped at 150 (vm_exp_neg_abs_pd). */
VM4_ALWAYS_INLINE float32x4_t vm4_exp_neg_abs_pd(float64x2_t v0, float64x2_t v1, int32x4_t k) {
    const float64x2_t cap = vdupq_n_f64(150.0);
    float64x2_t a0 = vminq_f64(cap, vabsq_f64(v0));
    float64x2_t a1 = vminq_f64(cap, vabsq_f64(v1));
    float32x2_t h0 = vcvt_f32_f64(a0), h1 = vcvt_f32_f64(a1);
    float32x2_t l0 = vcvt_f32_f64(vsubq_f64(a0, vcvt_f64_f32(h0)));
    float32x2_t l1 = vcvt_f32_f64(vsubq_f64(a1, vcvt_f64_f32(h1)));
    float32x4_t hi = vcombine_f32(h0, h1), lo = vcombine_f32(l0, l1);
    float32x4_t e = vm4_exp_core_scaled(vsubq_f32(vm4_set1(0.0f), hi), k);
    return vfmsq_f32(e, e, lo);
}

/* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) = x sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3)),
 * the argument in double, the sigmoid scaled by 2^64 where x < 0 (vm_gelu_tanh: one path). -inf
 * gives NaN; 4.10 ulp at most. */
VM4_ALWAYS_INLINE float32x4_t vm4_gelu_tanh(float32x4_t x) {
    const float64x2_t k0 = vdupq_n_f64(2.0 * 0.7978845608028654);
    const float64x2_t k1 = vdupq_n_f64(2.0 * 0.7978845608028654 * 0.044715);
    float64x2_t x0 = vcvt_f64_f32(vget_low_f32(x));
    float64x2_t x1 = vcvt_high_f64_f32(x);
    float64x2_t v0 = vmulq_f64(x0, vfmaq_f64(k0, vmulq_f64(x0, x0), k1));
    float64x2_t v1 = vmulq_f64(x1, vfmaq_f64(k0, vmulq_f64(x1, x1), k1));
    uint32x4_t neg = vcltq_f32(x, vm4_set1(0.0f));
    float32x4_t es = vm4_exp_neg_abs_pd(v0, v1, vm4_scale_k(neg));
    float32x4_t e = vmulq_f32(es, vm4_unscale(neg));
    float32x4_t num = vm4_select(neg, es, vm4_set1(1.0f));
    float32x4_t s = vdivq_f32(num, vaddq_f32(vm4_set1(1.0f), e));
    return vm4_nan_at_neg_inf(vmulq_f32(vmulq_f32(x, s), vm4_unscale(neg)), x);
}

/* ---- gelu (erf) gradient ---------------------------------------------------------------- */

/* Phi(x) + x phi(x) from e = exp(-t^2 / 2) and r = 1 / (t + 2), t = |x| (vm_gelu_grad_from). */
VM4_ALWAYS_INLINE float32x4_t vm4_gelu_grad_from(float32x4_t x, float32x4_t t, float32x4_t e,
                                                 float32x4_t r) {
    float32x4_t q = vmulq_f32(vsubq_f32(t, vm4_set1(2.0f)), r);
    float32x4_t c = vm4_gelu_poly(q, 1.0f);
    float32x4_t tail = vmulq_f32(vmulq_f32(vaddq_f32(e, e), c), r); /* Phi(-t) */
    float32x4_t phi_x =
        vm4_select(vcltq_f32(x, vm4_set1(0.0f)), tail, vsubq_f32(vm4_set1(1.0f), tail));
    float32x4_t pdf = vmulq_f32(e, vm4_set1(0.39894228040143267794f));
    return vfmaq_f32(phi_x, x, pdf);
}

/* The derivative of gelu (erf) for any x (the exact path): t = min(|x|, 18), e by vm4_exp of
 * -hi / 2 times (1 - lo / 2). */
VM4_ALWAYS_INLINE float32x4_t vm4_gelu_grad_exact(float32x4_t x) {
    float32x4_t t = vminq_f32(vm4_set1(18.0f), vabsq_f32(x));
    float32x4_t hi = vmulq_f32(t, t);
    float32x4_t lo = vfmaq_f32(vnegq_f32(hi), t, t);
    float32x4_t e = vm4_exp(vmulq_f32(hi, vm4_set1(-0.5f)));
    e = vfmsq_f32(e, e, vmulq_f32(lo, vm4_set1(0.5f)));
    float32x4_t r = vdivq_f32(vm4_set1(1.0f), vaddq_f32(t, vm4_set1(2.0f)));
    return vm4_gelu_grad_from(x, t, e, r);
}

/* The derivative of gelu (erf) for |x| <= 13 (not NaN): e from vm4_expm1_half_sq. */
VM4_ALWAYS_INLINE float32x4_t vm4_gelu_grad_fast(float32x4_t x) {
    float32x4_t t = vabsq_f32(x);
    float32x4_t hi = vmulq_f32(t, t);
    float32x4_t lo = vfmaq_f32(vnegq_f32(hi), t, t);
    float32x4_t et;
    float32x4_t es = vm4_expm1_half_sq(hi, vmulq_f32(lo, vm4_set1(0.5f)), &et);
    float32x4_t e = vm4_scale_by_t(vaddq_f32(es, vm4_set1(1.0f)), et);
    float32x4_t r = vdivq_f32(vm4_set1(1.0f), vaddq_f32(t, vm4_set1(2.0f)));
    return vm4_gelu_grad_from(x, t, e, r);
}

/* Phi(x) + x phi(x), the derivative of gelu (erf): vm4_gelu_grad_fast where all four lanes have
 * |x| <= 13, else vm4_gelu_grad_exact for all four. NaN stays NaN. */
VM4_ALWAYS_INLINE float32x4_t vm4_gelu_grad(float32x4_t x) {
    float32x4_t r = vm4_gelu_grad_fast(x);
    if (__builtin_expect(vm4_any_beyond(x, 13.0f), 0)) return vm4_gelu_grad_exact(x);
    return r;
}

#endif
