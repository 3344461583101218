/* arm64 NEON version of the commonest optimizer loop: f32 Adam/AdamW without L2 weight decay and
 * without amsgrad (optim.c's adam_loop_f32_00, picked at CPU_LEVEL_NEON), eight elements per step
 * as two independent 4-lane vectors, with exactly its operations: no FMA (each multiply and add
 * rounds, as the contract in src/backend/optim_step.h says; GCC does not contract in ISO C mode
 * and clang is told not to), IEEE sqrt and division, so the bits are the portable loop's (and
 * optim_avx2.c's). Compiled for arm64 only. */
#include <arm_neon.h>
#include <math.h>

#include "backend/cpu/kernels_neon.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* The loop's constants as vectors. */
typedef struct adam_vec {
    float32x4_t decay, coef1, b2, omb2, bc2s, eps, neg_step;
    uint32x4_t sign; /* the sign bit where maximize flips the gradient */
} adam_vec;

/* One step of 4 elements at offset i. */
static inline __attribute__((always_inline)) void
adam4(float *p, const float *g, float *m, float *v, int64_t i, const adam_vec *k, bool small_w1) {
    float32x4_t gi =
        vreinterpretq_f32_u32(veorq_u32(vreinterpretq_u32_f32(vld1q_f32(g + i)), k->sign));
    float32x4_t pi = vmulq_f32(vld1q_f32(p + i), k->decay);
    float32x4_t mi = vld1q_f32(m + i);
    float32x4_t d = vsubq_f32(gi, mi); /* lerp(m, g, w) as base + coef (g - m) */
    mi = vaddq_f32(small_w1 ? mi : gi, vmulq_f32(k->coef1, d));
    float32x4_t vi = vmulq_f32(vld1q_f32(v + i), k->b2);
    vi = vaddq_f32(vi, vmulq_f32(vmulq_f32(k->omb2, gi), gi));
    float32x4_t denom = vaddq_f32(vdivq_f32(vsqrtq_f32(vi), k->bc2s), k->eps);
    vst1q_f32(m + i, mi);
    vst1q_f32(v + i, vi);
    vst1q_f32(p + i, vaddq_f32(pi, vdivq_f32(vmulq_f32(k->neg_step, mi), denom)));
}

void cpu_adam_f32_neon(float *p, const float *g, float *m, float *v, int64_t n,
                       const cpu_adam_f32_consts *c) {
    const adam_vec k = {vdupq_n_f32(c->decay),    vdupq_n_f32(c->coef1),
                        vdupq_n_f32(c->b2),       vdupq_n_f32(c->omb2),
                        vdupq_n_f32(c->bc2s),     vdupq_n_f32(c->eps),
                        vdupq_n_f32(c->neg_step), vdupq_n_u32(c->maximize ? 0x80000000u : 0)};
    const bool small = c->small_w1;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        adam4(p, g, m, v, i, &k, small);
        adam4(p, g, m, v, i + 4, &k, small);
    }
    for (; i + 4 <= n; i += 4)
        adam4(p, g, m, v, i, &k, small);
    for (; i < n; i++) { /* the same operations one element at a time */
        float gi = c->maximize ? -g[i] : g[i], pi = p[i] * c->decay, mi = m[i];
        float d = gi - mi;
        mi = (small ? mi : gi) + c->coef1 * d;
        float vi = v[i] * c->b2;
        vi = vi + (c->omb2 * gi) * gi;
        float denom = sqrtf(vi) / c->bc2s;
        denom = denom + c->eps;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi + (c->neg_step * mi) / denom;
    }
}
