/* arm64 NEON inner loops for f32 add, sub, mul and div (binary.c picks them at CPU_LEVEL_NEON):
 * unary_avx2.c's binary loops on 4 lanes. Contiguous operands, or a broadcast scalar on either
 * side, go 16 floats per step (four independent vectors), then 4, then one at a time; other
 * strides go one element at a time. Every element is one IEEE operation wherever it lies, so the
 * results are the portable loops' (and the AVX2 ones'). Compiled for arm64 only. */
#include <arm_neon.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend/cpu/kernels_neon.h"

#define NEON_INLINE static inline __attribute__((always_inline))

/* One op as a vector and as a scalar function. */
NEON_INLINE float32x4_t v_add(float32x4_t a, float32x4_t b) { return vaddq_f32(a, b); }
NEON_INLINE float32x4_t v_sub(float32x4_t a, float32x4_t b) { return vsubq_f32(a, b); }
NEON_INLINE float32x4_t v_mul(float32x4_t a, float32x4_t b) { return vmulq_f32(a, b); }
NEON_INLINE float32x4_t v_div(float32x4_t a, float32x4_t b) { return vdivq_f32(a, b); }
NEON_INLINE float s_add(float a, float b) { return a + b; }
NEON_INLINE float s_sub(float a, float b) { return a - b; }
NEON_INLINE float s_mul(float a, float b) { return a * b; }
NEON_INLINE float s_div(float a, float b) { return a / b; }

typedef float32x4_t (*vec_fn2)(float32x4_t, float32x4_t);
typedef float (*scalar_fn2)(float, float);

/* o[i] = f(a[i], b[i]) for i < n, where a side whose va (vb) is false is the scalar sa (sb). */
NEON_INLINE void binary_contig(float *o, const float *a, const float *b, int64_t n, bool va,
                               bool vb, vec_fn2 f, scalar_fn2 fs) {
    const float sa = a[0], sb = b[0];
    const float32x4_t ka = vdupq_n_f32(sa), kb = vdupq_n_f32(sb);
    int64_t i = 0;
    /* the sides are fixed for the whole run, so the compiler splits the loops by (va, vb) */
#define LA(k) (va ? vld1q_f32(a + i + (k)) : ka)
#define LB(k) (vb ? vld1q_f32(b + i + (k)) : kb)
    for (; i + 16 <= n; i += 16) {
        float32x4_t r0 = f(LA(0), LB(0)), r1 = f(LA(4), LB(4));
        float32x4_t r2 = f(LA(8), LB(8)), r3 = f(LA(12), LB(12));
        vst1q_f32(o + i, r0);
        vst1q_f32(o + i + 4, r1);
        vst1q_f32(o + i + 8, r2);
        vst1q_f32(o + i + 12, r3);
    }
    for (; i + 4 <= n; i += 4)
        vst1q_f32(o + i, f(LA(0), LB(0)));
#undef LA
#undef LB
    for (; i < n; i++)
        o[i] = fs(va ? a[i] : sa, vb ? b[i] : sb);
}

NEON_INLINE void binary_run(char **d, const int64_t *s, int64_t n, vec_fn2 f, scalar_fn2 fs) {
    if (n <= 0) return;
    if (s[0] == 4 && (s[1] == 4 || s[1] == 0) && (s[2] == 4 || s[2] == 0)) {
        float *o = (float *)d[0];
        const float *a = (const float *)d[1], *b = (const float *)d[2];
        bool va = s[1] == 4, vb = s[2] == 4;
        if (va && vb)
            binary_contig(o, a, b, n, true, true, f, fs);
        else if (va)
            binary_contig(o, a, b, n, true, false, f, fs);
        else if (vb)
            binary_contig(o, a, b, n, false, true, f, fs);
        else
            binary_contig(o, a, b, n, false, false, f, fs);
        return;
    }
    for (int64_t i = 0; i < n; i++) /* any other strides: one element at a time */
        *(float *)(d[0] + i * s[0]) =
            fs(*(const float *)(d[1] + i * s[1]), *(const float *)(d[2] + i * s[2]));
}

#define BINARY_NEON(name)                                                                          \
    static void name##_neon(char **d, const int64_t *s, int64_t n, void *ctx) {                    \
        (void)ctx;                                                                                 \
        binary_run(d, s, n, v_##name, s_##name);                                                   \
    }

BINARY_NEON(add)
BINARY_NEON(sub)
BINARY_NEON(mul)
BINARY_NEON(div)

cpu_loop_fn cpu_binary_f32_neon(born_binary_op op) {
    switch (op) {
    case BORN_BINARY_ADD: return add_neon;
    case BORN_BINARY_SUB: return sub_neon;
    case BORN_BINARY_MUL: return mul_neon;
    case BORN_BINARY_DIV: return div_neon;
    default: return NULL;
    }
}
