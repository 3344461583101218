/* arm64 NEON inner loops for the hot f32 unary ops and their fused gradients (vmath_neon.h):
 * unary_avx2.c's loops on 4 lanes. Contiguous runs go 4 lanes at a time (two vectors per step)
 * and the last 1-3 elements through a zero-padded vector, so every element goes through the same
 * arithmetic whatever its position; strided runs are gathered into a small buffer, computed there
 * and scattered back, in the same groups of 4 from the run's start, so they give the contiguous
 * bits. Compiled for arm64 only. Outputs are written with ordinary stores. */
#include <stdint.h>
#include <string.h>

#include "backend/cpu/kernels_neon.h"
#include "backend/cpu/strided_chunk.h"
#include "backend/cpu/vmath_neon.h"

typedef float32x4_t (*vec_fn)(float32x4_t);


/* f over the first n (< 4) floats of x into o, through a zero-padded vector. */
VM4_ALWAYS_INLINE void unary_tail(float *o, const float *x, int64_t n, vec_fn f) {
    float buf[4] = {0, 0, 0, 0};
    memcpy(buf, x, (size_t)n * sizeof *buf);
    vst1q_f32(buf, f(vld1q_f32(buf)));
    memcpy(o, buf, (size_t)n * sizeof *buf);
}

VM4_ALWAYS_INLINE void unary_run(char **d, const int64_t *s, int64_t n, vec_fn f) {
    if (s[0] == 4 && s[1] == 4) {
        float *o = (float *)d[0];
        const float *x = (const float *)d[1];
        int64_t i = 0;
        for (; i + 8 <= n; i += 8) {
            float32x4_t a = f(vld1q_f32(x + i)), b = f(vld1q_f32(x + i + 4));
            vst1q_f32(o + i, a);
            vst1q_f32(o + i + 4, b);
        }
        for (; i + 4 <= n; i += 4) vst1q_f32(o + i, f(vld1q_f32(x + i)));
        if (i < n) unary_tail(o + i, x + i, n - i, f);
        return;
    }
    float buf[STRIDED_CHUNK];
    for (int64_t done = 0; done < n; done += STRIDED_CHUNK) {
        int64_t m = n - done < STRIDED_CHUNK ? n - done : STRIDED_CHUNK;
        strided_chunk_load(buf, d[1] + done * s[1], s[1], m);
        for (int64_t i = 0; i < m; i += 4) vst1q_f32(buf + i, f(vld1q_f32(buf + i)));
        strided_chunk_store(d[0] + done * s[0], s[0], buf, m);
    }
}

#define UNARY_NEON(name, VF)                                                                     \
    static void name##_neon(char **d, const int64_t *s, int64_t n, void *ctx) {                  \
        (void)ctx;                                                                               \
        unary_run(d, s, n, VF);                                                                  \
    }

UNARY_NEON(exp, vm4_exp)
UNARY_NEON(log, vm4_log)
UNARY_NEON(tanh, vm4_tanh)
UNARY_NEON(sigmoid, vm4_sigmoid)
UNARY_NEON(relu, vm4_relu)
UNARY_NEON(gelu, vm4_gelu)
UNARY_NEON(gelu_tanh, vm4_gelu_tanh)
UNARY_NEON(silu, vm4_silu)

cpu_loop_fn cpu_unary_f32_neon(born_unary_op op) {
    switch (op) {
    case BORN_UNARY_EXP: return exp_neon;
    case BORN_UNARY_LOG: return log_neon;
    case BORN_UNARY_TANH: return tanh_neon;
    case BORN_UNARY_SIGMOID: return sigmoid_neon;
    case BORN_UNARY_RELU: return relu_neon;
    case BORN_UNARY_GELU: return gelu_neon;
    case BORN_UNARY_GELU_TANH: return gelu_tanh_neon;
    case BORN_UNARY_SILU: return silu_neon;
    default: return NULL;
    }
}

/* ---- fused activation gradients: grad_in = grad_out * f'(x) ------------------------------ */

/* The op's scalar parameters, broadcast (alpha and beta of born_unary_params, as f32). */
typedef struct bw_params {
    float32x4_t a, b;
} bw_params;

typedef float32x4_t (*bw_fn)(float32x4_t g, float32x4_t x, float32x4_t y, const bw_params *p);

/* d[0] = f(d[1], d[2], d[3]) over n elements: 4 lanes at a time, the last 1-3 through
 * zero-padded vectors, when all four are contiguous, else through small buffers (the same
 * arithmetic either way). */
VM4_ALWAYS_INLINE void backward_run(char **d, const int64_t *s, int64_t n, bw_fn f, void *ctx) {
    const born_unary_params *up = ctx;
    bw_params p = {vm4_set1((float)up->alpha), vm4_set1((float)up->beta)};
    if (s[0] == 4 && s[1] == 4 && s[2] == 4 && s[3] == 4) {
        float *o = (float *)d[0];
        const float *g = (const float *)d[1], *x = (const float *)d[2], *y = (const float *)d[3];
        int64_t i = 0;
        for (; i + 4 <= n; i += 4)
            vst1q_f32(o + i, f(vld1q_f32(g + i), vld1q_f32(x + i), vld1q_f32(y + i), &p));
        if (i < n) {
            float b[4][4];
            memset(b, 0, sizeof b);
            size_t bytes = (size_t)(n - i) * sizeof(float);
            memcpy(b[1], g + i, bytes);
            memcpy(b[2], x + i, bytes);
            memcpy(b[3], y + i, bytes);
            vst1q_f32(b[0], f(vld1q_f32(b[1]), vld1q_f32(b[2]), vld1q_f32(b[3]), &p));
            memcpy(o + i, b[0], bytes);
        }
        return;
    }
    float buf[4][STRIDED_CHUNK];
    for (int64_t done = 0; done < n; done += STRIDED_CHUNK) {
        int64_t m = n - done < STRIDED_CHUNK ? n - done : STRIDED_CHUNK;
        for (int k = 1; k < 4; k++) strided_chunk_load(buf[k], d[k] + done * s[k], s[k], m);
        for (int64_t i = 0; i < m; i += 4)
            vst1q_f32(buf[0] + i, f(vld1q_f32(buf[1] + i), vld1q_f32(buf[2] + i),
                                    vld1q_f32(buf[3] + i), &p));
        strided_chunk_store(d[0] + done * s[0], s[0], buf[0], m);
    }
}

VM4_ALWAYS_INLINE uint32x4_t positive(float32x4_t x) { return vcgtq_f32(x, vm4_set1(0.0f)); }

/* unary_avx2.c's formulas, operation for operation (those are the portable loops' in unary.c,
 * so the two agree to the bit where the vector math is not involved, except gelu's). */
VM4_ALWAYS_INLINE float32x4_t bw_relu(float32x4_t g, float32x4_t x, float32x4_t y,
                                      const bw_params *p) {
    (void)y, (void)p;
    return vm4_and(positive(x), g);
}
VM4_ALWAYS_INLINE float32x4_t bw_leaky_relu(float32x4_t g, float32x4_t x, float32x4_t y,
                                            const bw_params *p) {
    (void)y;
    return vm4_select(positive(x), g, vmulq_f32(g, p->a));
}
VM4_ALWAYS_INLINE float32x4_t bw_elu(float32x4_t g, float32x4_t x, float32x4_t y,
                                     const bw_params *p) {
    return vm4_select(positive(x), g, vmulq_f32(g, vaddq_f32(y, p->a)));
}
VM4_ALWAYS_INLINE float32x4_t bw_softplus(float32x4_t g, float32x4_t x, float32x4_t y,
                                          const bw_params *p) {
    (void)y;
    float32x4_t bx = vmulq_f32(x, p->a);
    return vm4_select(vcgtq_f32(bx, p->b), g, vmulq_f32(g, vm4_sigmoid(bx)));
}
VM4_ALWAYS_INLINE float32x4_t bw_sigmoid(float32x4_t g, float32x4_t x, float32x4_t y,
                                         const bw_params *p) {
    (void)x, (void)p;
    return vmulq_f32(g, vmulq_f32(y, vsubq_f32(vm4_set1(1.0f), y)));
}
VM4_ALWAYS_INLINE float32x4_t bw_tanh(float32x4_t g, float32x4_t x, float32x4_t y,
                                      const bw_params *p) {
    (void)x, (void)p;
    return vmulq_f32(g, vsubq_f32(vm4_set1(1.0f), vmulq_f32(y, y)));
}
VM4_ALWAYS_INLINE float32x4_t bw_silu(float32x4_t g, float32x4_t x, float32x4_t y,
                                      const bw_params *p) {
    (void)y, (void)p;
    const float32x4_t one = vm4_set1(1.0f);
    float32x4_t s = vm4_sigmoid(x);
    float32x4_t d = vmulq_f32(s, vaddq_f32(vmulq_f32(x, vsubq_f32(one, s)), one));
    return vmulq_f32(g, d);
}
VM4_ALWAYS_INLINE float32x4_t bw_gelu(float32x4_t g, float32x4_t x, float32x4_t y,
                                      const bw_params *p) {
    (void)y, (void)p;
    return vmulq_f32(g, vm4_gelu_grad(x));
}
VM4_ALWAYS_INLINE float32x4_t bw_gelu_tanh(float32x4_t g, float32x4_t x, float32x4_t y,
                                           const bw_params *p) {
    (void)y, (void)p;
    const float32x4_t one = vm4_set1(1.0f), half = vm4_set1(0.5f);
    const float32x4_t k = vm4_set1(0.7978845608028654f);
    float32x4_t x2 = vmulq_f32(x, x);
    float32x4_t inner =
        vmulq_f32(vmulq_f32(x, vaddq_f32(vmulq_f32(x2, vm4_set1(0.044715f)), one)), k);
    float32x4_t t = vm4_tanh(inner);
    float32x4_t dinner =
        vmulq_f32(vaddq_f32(vmulq_f32(x2, vm4_set1((float)(3.0 * 0.044715))), one), k);
    float32x4_t left = vmulq_f32(vaddq_f32(t, one), half);
    float32x4_t right =
        vmulq_f32(vmulq_f32(vmulq_f32(x, vsubq_f32(one, vmulq_f32(t, t))), half), dinner);
    return vmulq_f32(g, vaddq_f32(left, right));
}

#define BACKWARD_NEON(name)                                                                      \
    static void name##_backward_neon(char **d, const int64_t *s, int64_t n, void *ctx) {         \
        backward_run(d, s, n, bw_##name, ctx);                                                   \
    }

BACKWARD_NEON(relu)
BACKWARD_NEON(leaky_relu)
BACKWARD_NEON(elu)
BACKWARD_NEON(softplus)
BACKWARD_NEON(sigmoid)
BACKWARD_NEON(tanh)
BACKWARD_NEON(silu)
BACKWARD_NEON(gelu)
BACKWARD_NEON(gelu_tanh)

cpu_loop_fn cpu_unary_backward_f32_neon(born_unary_op op) {
    switch (op) {
    case BORN_UNARY_RELU: return relu_backward_neon;
    case BORN_UNARY_LEAKY_RELU: return leaky_relu_backward_neon;
    case BORN_UNARY_ELU: return elu_backward_neon;
    case BORN_UNARY_SOFTPLUS: return softplus_backward_neon;
    case BORN_UNARY_SIGMOID: return sigmoid_backward_neon;
    case BORN_UNARY_TANH: return tanh_backward_neon;
    case BORN_UNARY_SILU: return silu_backward_neon;
    case BORN_UNARY_GELU: return gelu_backward_neon;
    case BORN_UNARY_GELU_TANH: return gelu_tanh_backward_neon;
    default: return NULL;
    }
}
