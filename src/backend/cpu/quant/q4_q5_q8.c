/* The 32-element block types: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1. Dequantization, ggml's
 * reference quantizers (same float operations in the same order, so the same bytes) and the
 * portable dot products with their activation types. */
#include <float.h>
#include <math.h>

#include "backend/cpu/quant/quant_traits.h"

#if defined(__clang__)
#pragma clang fp contract(off)
#endif

/* ---- Q4_0: x = d * (q - 8) ------------------------------------------------------------------- */

void quant_to_float_q4_0(const void *src, float *dst, int64_t n) {
    const block_q4_0 *b = src;
    for (int64_t i = 0; i < n / QK_32; i++, dst += QK_32) {
        float d = quant_f16(b[i].d);
        for (int j = 0; j < 16; j++) {
            dst[j] = (float)((b[i].qs[j] & 0xF) - 8) * d;
            dst[j + 16] = (float)((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

/* The value of largest magnitude (the first of equal magnitudes), signed. */
static float signed_absmax(const float *x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    return max;
}

void quant_from_float_q4_0(const float *src, void *dst, int64_t n) {
    block_q4_0 *b = dst;
    for (int64_t i = 0; i < n / QK_32; i++, src += QK_32) {
        const float d = signed_absmax(src, QK_32) / -8;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = quant_to_f16(d);
        for (int j = 0; j < 16; j++) {
            const float x0 = src[j] * id, x1 = src[j + 16] * id;
            int q0 = (int8_t)(x0 + 8.5f), q1 = (int8_t)(x1 + 8.5f);
            q0 = q0 < 15 ? q0 : 15;
            q1 = q1 < 15 ? q1 : 15;
            b[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

float quant_vec_dot_q4_0_q8_0(int64_t n, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_32; i++) {
        int s = 0;
        for (int j = 0; j < 16; j++)
            s += ((x[i].qs[j] & 0xF) - 8) * y[i].qs[j] + ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
        sum += (float)s * (quant_f16(x[i].d) * quant_f16(y[i].d));
    }
    return sum;
}

/* ---- Q4_1: x = d * q + m --------------------------------------------------------------------- */

void quant_to_float_q4_1(const void *src, float *dst, int64_t n) {
    const block_q4_1 *b = src;
    for (int64_t i = 0; i < n / QK_32; i++, dst += QK_32) {
        float d = quant_f16(b[i].d), m = quant_f16(b[i].m);
        for (int j = 0; j < 16; j++) {
            dst[j] = (float)(b[i].qs[j] & 0xF) * d + m;
            dst[j + 16] = (float)(b[i].qs[j] >> 4) * d + m;
        }
    }
}

static void min_max(const float *x, int n, float *mn, float *mx) {
    float lo = FLT_MAX, hi = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    *mn = lo;
    *mx = hi;
}

void quant_from_float_q4_1(const float *src, void *dst, int64_t n) {
    block_q4_1 *b = dst;
    for (int64_t i = 0; i < n / QK_32; i++, src += QK_32) {
        float min, max;
        min_max(src, QK_32, &min, &max);
        const float d = (max - min) / 15;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = quant_to_f16(d);
        b[i].m = quant_to_f16(min);
        for (int j = 0; j < 16; j++) {
            const float x0 = (src[j] - min) * id, x1 = (src[j + 16] - min) * id;
            int q0 = (int8_t)(x0 + 0.5f), q1 = (int8_t)(x1 + 0.5f);
            q0 = q0 < 15 ? q0 : 15;
            q1 = q1 < 15 ? q1 : 15;
            b[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

/* The min term is m_x * s_y with Q8_1's f16 s = d_y * sum(q_y), as ggml computes it (its
 * rounding, up to 2^-11 of that term per block, is part of llama.cpp's results). */
float quant_vec_dot_q4_1_q8_1(int64_t n, const void *vx, const void *vy) {
    const block_q4_1 *x = vx;
    const block_q8_1 *y = vy;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_32; i++) {
        int s = 0;
        for (int j = 0; j < 16; j++)
            s += (x[i].qs[j] & 0xF) * y[i].qs[j] + (x[i].qs[j] >> 4) * y[i].qs[j + 16];
        sum += (float)s * (quant_f16(x[i].d) * quant_f16(y[i].d)) +
               quant_f16(x[i].m) * quant_f16(y[i].s);
    }
    return sum;
}

/* ---- Q5_0: x = d * (q - 16), the fifth bits in qh -------------------------------------------- */

void quant_to_float_q5_0(const void *src, float *dst, int64_t n) {
    const block_q5_0 *b = src;
    for (int64_t i = 0; i < n / QK_32; i++, dst += QK_32) {
        float d = quant_f16(b[i].d);
        uint32_t qh;
        memcpy(&qh, b[i].qh, 4);
        for (int j = 0; j < 16; j++) {
            int h0 = (qh >> j) & 1, h1 = (qh >> (j + 16)) & 1;
            dst[j] = (float)(((b[i].qs[j] & 0xF) | (h0 << 4)) - 16) * d;
            dst[j + 16] = (float)(((b[i].qs[j] >> 4) | (h1 << 4)) - 16) * d;
        }
    }
}

void quant_from_float_q5_0(const float *src, void *dst, int64_t n) {
    block_q5_0 *b = dst;
    for (int64_t i = 0; i < n / QK_32; i++, src += QK_32) {
        const float d = signed_absmax(src, QK_32) / -16;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = quant_to_f16(d);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            const float x0 = src[j] * id, x1 = src[j + 16] * id;
            int q0 = (int8_t)(x0 + 16.5f), q1 = (int8_t)(x1 + 16.5f);
            q0 = q0 < 31 ? q0 : 31;
            q1 = q1 < 31 ? q1 : 31;
            b[i].qs[j] = (uint8_t)((q0 & 0xF) | ((q1 & 0xF) << 4));
            qh |= (uint32_t)((q0 >> 4) & 1) << j;
            qh |= (uint32_t)((q1 >> 4) & 1) << (j + 16);
        }
        memcpy(b[i].qh, &qh, 4);
    }
}

float quant_vec_dot_q5_0_q8_0(int64_t n, const void *vx, const void *vy) {
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_32; i++) {
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        int s = 0;
        for (int j = 0; j < 16; j++) {
            int v0 = ((x[i].qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4)) - 16;
            int v1 = ((x[i].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4)) - 16;
            s += v0 * y[i].qs[j] + v1 * y[i].qs[j + 16];
        }
        sum += (float)s * (quant_f16(x[i].d) * quant_f16(y[i].d));
    }
    return sum;
}

/* ---- Q5_1: x = d * q + m --------------------------------------------------------------------- */

void quant_to_float_q5_1(const void *src, float *dst, int64_t n) {
    const block_q5_1 *b = src;
    for (int64_t i = 0; i < n / QK_32; i++, dst += QK_32) {
        float d = quant_f16(b[i].d), m = quant_f16(b[i].m);
        uint32_t qh;
        memcpy(&qh, b[i].qh, 4);
        for (int j = 0; j < 16; j++) {
            int h0 = (qh >> j) & 1, h1 = (qh >> (j + 16)) & 1;
            dst[j] = (float)((b[i].qs[j] & 0xF) | (h0 << 4)) * d + m;
            dst[j + 16] = (float)((b[i].qs[j] >> 4) | (h1 << 4)) * d + m;
        }
    }
}

void quant_from_float_q5_1(const float *src, void *dst, int64_t n) {
    block_q5_1 *b = dst;
    for (int64_t i = 0; i < n / QK_32; i++, src += QK_32) {
        float min, max;
        min_max(src, QK_32, &min, &max);
        const float d = (max - min) / 31;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = quant_to_f16(d);
        b[i].m = quant_to_f16(min);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            const float x0 = (src[j] - min) * id, x1 = (src[j + 16] - min) * id;
            /* ggml truncates to uint8_t without clamping; (x - min) / d never passes 31.5 */
            unsigned q0 = (uint8_t)(x0 + 0.5f), q1 = (uint8_t)(x1 + 0.5f);
            b[i].qs[j] = (uint8_t)((q0 & 0xF) | ((q1 & 0xF) << 4));
            qh |= ((q0 >> 4) & 1u) << j;
            qh |= ((q1 >> 4) & 1u) << (j + 16);
        }
        memcpy(b[i].qh, &qh, 4);
    }
}

float quant_vec_dot_q5_1_q8_1(int64_t n, const void *vx, const void *vy) {
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_32; i++) {
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        int s = 0, sy = 0;
        for (int j = 0; j < 16; j++) {
            int v0 = (x[i].qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4);
            int v1 = (x[i].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            s += v0 * y[i].qs[j] + v1 * y[i].qs[j + 16];
            sy += y[i].qs[j] + y[i].qs[j + 16];
        }
        const float dy = quant_f16(y[i].d);
        sum += (float)s * (quant_f16(x[i].d) * dy) + quant_f16(x[i].m) * dy * (float)sy;
    }
    return sum;
}

/* ---- Q8_0 and Q8_1: x = d * q (Q8_1 also keeps s = d * sum q) -------------------------------- */

void quant_to_float_q8_0(const void *src, float *dst, int64_t n) {
    const block_q8_0 *b = src;
    for (int64_t i = 0; i < n / QK_32; i++, dst += QK_32) {
        float d = quant_f16(b[i].d);
        for (int j = 0; j < QK_32; j++) dst[j] = (float)b[i].qs[j] * d;
    }
}

static float absmax(const float *x, int n) {
    float amax = 0.0f;
    for (int j = 0; j < n; j++) amax = amax > fabsf(x[j]) ? amax : fabsf(x[j]);
    return amax;
}

void quant_from_float_q8_0(const float *src, void *dst, int64_t n) {
    block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / QK_32; i++, src += QK_32) {
        const float d = absmax(src, QK_32) / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = quant_to_f16(d);
        for (int j = 0; j < QK_32; j++) b[i].qs[j] = (int8_t)roundf(src[j] * id);
    }
}

float quant_vec_dot_q8_0_q8_0(int64_t n, const void *vx, const void *vy) {
    const block_q8_0 *x = vx;
    const block_q8_0 *y = vy;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_32; i++) {
        int s = 0;
        for (int j = 0; j < QK_32; j++) s += x[i].qs[j] * y[i].qs[j];
        sum += (float)s * (quant_f16(x[i].d) * quant_f16(y[i].d));
    }
    return sum;
}

void quant_to_float_q8_1(const void *src, float *dst, int64_t n) {
    const block_q8_1 *b = src;
    for (int64_t i = 0; i < n / QK_32; i++, dst += QK_32) {
        float d = quant_f16(b[i].d);
        for (int j = 0; j < QK_32; j++) dst[j] = (float)b[i].qs[j] * d;
    }
}

void quant_from_float_q8_1(const float *src, void *dst, int64_t n) {
    block_q8_1 *b = dst;
    for (int64_t i = 0; i < n / QK_32; i++, src += QK_32) {
        const float d = absmax(src, QK_32) / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = quant_to_f16(d);
        int sum = 0;
        for (int j = 0; j < QK_32; j++) {
            b[i].qs[j] = (int8_t)roundf(src[j] * id);
            sum += b[i].qs[j];
        }
        b[i].s = quant_to_f16((float)sum * d);
    }
}

float quant_vec_dot_q8_1_q8_1(int64_t n, const void *vx, const void *vy) {
    const block_q8_1 *x = vx;
    const block_q8_1 *y = vy;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_32; i++) {
        int s = 0;
        for (int j = 0; j < QK_32; j++) s += x[i].qs[j] * y[i].qs[j];
        sum += (float)s * (quant_f16(x[i].d) * quant_f16(y[i].d));
    }
    return sum;
}

/* ---- activation quantizers, as ggml's CPU backend quantizes activations on x86 ---------------
 * (quantize_row_q8_0 / q8_1 with AVX2: 127 / amax as the multiplier, levels rounded to nearest
 * even), which differ from the reference quantizers above in rare last bits; llama.cpp's results
 * depend on them. */

static void act_block(const float *x, int8_t *q, float *d_out, int *sum_out) {
    float amax = 0.0f;
    for (int j = 0; j < QK_32; j++) amax = amax > fabsf(x[j]) ? amax : fabsf(x[j]);
    const float d = amax / 127.f;
    const float id = amax != 0.0f ? 127.f / amax : 0.0f;
    int sum = 0;
    for (int j = 0; j < QK_32; j++) {
        q[j] = (int8_t)quant_nearest_int(x[j] * id);
        sum += q[j];
    }
    *d_out = d;
    *sum_out = sum;
}

void quant_act_q8_0(const float *src, void *dst, int64_t n) {
    block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / QK_32; i++, src += QK_32) {
        float d;
        int sum;
        act_block(src, b[i].qs, &d, &sum);
        b[i].d = quant_to_f16(d);
    }
}

void quant_act_q8_1(const float *src, void *dst, int64_t n) {
    block_q8_1 *b = dst;
    for (int64_t i = 0; i < n / QK_32; i++, src += QK_32) {
        float d;
        int sum;
        act_block(src, b[i].qs, &d, &sum);
        b[i].d = quant_to_f16(d);
        b[i].s = quant_to_f16(d * (float)sum);
    }
}
