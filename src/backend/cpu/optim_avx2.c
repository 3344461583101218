/* AVX2 version of the commonest optimizer loop: f32 Adam/AdamW without L2 weight decay and
 * without amsgrad (optim.c's adam_loop_f32_00), eight elements at a time with exactly its
 * operations (no FMA: each multiply and add rounds, as the contract in src/backend/optim_step.h
 * says), so the bits are the portable loop's. */
#include <immintrin.h>

#include "backend/cpu/kernels_avx2.h"

void cpu_adam_f32_avx2(float *p, const float *g, float *m, float *v, int64_t n,
                       const cpu_adam_f32_consts *c) {
    const __m256 decay = _mm256_set1_ps(c->decay), coef1 = _mm256_set1_ps(c->coef1);
    const __m256 b2 = _mm256_set1_ps(c->b2), omb2 = _mm256_set1_ps(c->omb2);
    const __m256 bc2s = _mm256_set1_ps(c->bc2s), eps = _mm256_set1_ps(c->eps);
    const __m256 neg_step = _mm256_set1_ps(c->neg_step);
    const __m256 sign = _mm256_set1_ps(c->maximize ? -0.0f : 0.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 gi = _mm256_xor_ps(_mm256_loadu_ps(g + i), sign);
        __m256 pi = _mm256_mul_ps(_mm256_loadu_ps(p + i), decay);
        __m256 mi = _mm256_loadu_ps(m + i);
        __m256 d = _mm256_sub_ps(gi, mi); /* lerp(m, g, w) as base + coef (g - m) */
        mi = _mm256_add_ps(c->small_w1 ? mi : gi, _mm256_mul_ps(coef1, d));
        __m256 vi = _mm256_mul_ps(_mm256_loadu_ps(v + i), b2);
        vi = _mm256_add_ps(vi, _mm256_mul_ps(_mm256_mul_ps(omb2, gi), gi));
        __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), bc2s), eps);
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        _mm256_storeu_ps(p + i, _mm256_add_ps(pi, _mm256_div_ps(_mm256_mul_ps(neg_step, mi), denom)));
    }
    for (; i < n; i++) { /* the same operations one element at a time */
        float gi = c->maximize ? -g[i] : g[i], pi = p[i] * c->decay, mi = m[i];
        float d = gi - mi;
        mi = (c->small_w1 ? mi : gi) + c->coef1 * d;
        float vi = v[i] * c->b2;
        vi = vi + (c->omb2 * gi) * gi;
        float denom = _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(vi))) / c->bc2s;
        denom = denom + c->eps;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi + (c->neg_step * mi) / denom;
    }
}
