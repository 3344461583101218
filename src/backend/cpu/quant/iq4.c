/* The non-linear 4-bit types: IQ4_NL (blocks of 32 with one f16 scale) and IQ4_XS (super-blocks
 * of 256 with 6-bit sub-block scales), whose 4-bit indices select one of 16 fixed levels.
 * Dequantization, ggml's reference quantizers (quantize_row_iq4_nl_ref, which searches no scales,
 * and quantize_row_iq4_xs_ref, which tries 15; same float operations in the same order) and the
 * portable dot products with Q8_0 and Q8_K. */
#include <math.h>

#include "backend/cpu/quant/quant_traits.h"

#if defined(__clang__)
#pragma clang fp contract(off)
#endif

#define GROUP_MAX_EPS 1e-15f

const int8_t quant_iq4nl_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                       1,    13,   25,  38,  53,  69,  89,  113};

/* The index of the level nearest x (the lower one on a tie), by bisection as ggml does. */
static int best_index(float x) {
    const int8_t *val = quant_iq4nl_values;
    if (x <= (float)val[0]) return 0;
    if (x >= (float)val[15]) return 15;
    int ml = 0, mu = 15;
    while (mu - ml > 1) {
        int mav = (ml + mu) / 2;
        if (x < (float)val[mav])
            mu = mav;
        else
            ml = mav;
    }
    return x - (float)val[mu - 1] < (float)val[mu] - x ? mu - 1 : mu;
}

/* ggml's quantize_row_iq4_nl_impl without importance weights, for a super-block of nblocks
 * blocks of 32: each block's scale is fitted by weighted least squares (weights x^2) at the
 * levels chosen with d = max / -127 and, when ntry > 0, at the levels of 2 ntry + 1 other
 * scales. One block (IQ4_NL) stores that scale; several (IQ4_XS) store 6-bit multiples of a
 * common d and re-pick the levels. L carries over between calls, as in ggml (an all-zero block of
 * IQ4_NL keeps the previous block's levels under its zero scale). */
static void iq4_impl(int nblocks, const float *x, uint16_t *dh, uint8_t *q4, uint16_t *scales_h,
                     uint8_t *scales_l, uint8_t *L, int ntry) {
    const int8_t *values = quant_iq4nl_values;
    float scales[QK_K / 32], weight[32];
    memset(q4, 0, (size_t)nblocks * 16);
    *dh = quant_to_f16(0.f);
    float max_scale = 0, amax_scale = 0;
    for (int ib = 0; ib < nblocks; ib++) {
        const float *xb = x + 32 * ib;
        uint8_t *Lb = L + 32 * ib;
        for (int j = 0; j < 32; j++) weight[j] = xb[j] * xb[j];
        float amax = 0, max = 0;
        for (int j = 0; j < 32; j++) {
            float ax = fabsf(xb[j]);
            if (ax > amax) {
                amax = ax;
                max = xb[j];
            }
        }
        if (amax < GROUP_MAX_EPS) {
            scales[ib] = 0;
            continue;
        }
        float d = ntry > 0 ? -max / (float)values[0] : max / (float)values[0];
        float id = 1 / d;
        float sumqx = 0, sumq2 = 0;
        for (int j = 0; j < 32; j++) {
            int l = best_index(id * xb[j]);
            Lb[j] = (uint8_t)l;
            float q = (float)values[l];
            sumqx += weight[j] * q * xb[j];
            sumq2 += weight[j] * q * q;
        }
        d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
        float best = d * sumqx;
        for (int itry = -ntry; itry <= ntry; itry++) {
            id = (float)(itry + values[0]) / max;
            sumqx = sumq2 = 0;
            for (int j = 0; j < 32; j++) {
                float q = (float)values[best_index(id * xb[j])];
                sumqx += weight[j] * q * xb[j];
                sumq2 += weight[j] * q * q;
            }
            if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }
        scales[ib] = d;
        if (fabsf(d) > amax_scale) {
            amax_scale = fabsf(d);
            max_scale = d;
        }
    }
    if (nblocks > 1) {
        *scales_h = 0;
        float d = -max_scale / 32;
        *dh = quant_to_f16(d);
        float id = d != 0.0f ? 1 / d : 0.f;
        for (int ib = 0; ib < nblocks; ib++) {
            int l = quant_nearest_int(id * scales[ib]);
            l = l < -32 ? -32 : (l > 31 ? 31 : l);
            float dl = d * (float)l;
            float idl = dl != 0.0f ? 1 / dl : 0.f;
            for (int j = 0; j < 32; j++) L[32 * ib + j] = (uint8_t)best_index(idl * x[32 * ib + j]);
            l += 32;
            uint8_t l_l = (uint8_t)(l & 0xf), l_h = (uint8_t)(l >> 4);
            if (ib % 2 == 0)
                scales_l[ib / 2] = l_l;
            else
                scales_l[ib / 2] = (uint8_t)(scales_l[ib / 2] | (l_l << 4));
            *scales_h = (uint16_t)(*scales_h | (l_h << (2 * (ib % 8))));
        }
    } else {
        *dh = quant_to_f16(scales[0]);
        if (ntry > 0) {
            float id = scales[0] != 0.0f ? 1 / scales[0] : 0;
            for (int j = 0; j < 32; j++) L[j] = (uint8_t)best_index(id * x[j]);
        }
    }
    for (int i = 0; i < nblocks; i++)
        for (int j = 0; j < 16; j++)
            q4[16 * i + j] = (uint8_t)(L[32 * i + j] | (L[32 * i + 16 + j] << 4));
}

/* ---- IQ4_NL ----------------------------------------------------------------------------------- */

void quant_to_float_iq4_nl(const void *src, float *dst, int64_t n) {
    const block_iq4_nl *b = src;
    for (int64_t i = 0; i < n / QK_32; i++, dst += QK_32) {
        const float d = quant_f16(b[i].d);
        for (int j = 0; j < 16; j++) {
            dst[j] = d * (float)quant_iq4nl_values[b[i].qs[j] & 0xF];
            dst[j + 16] = d * (float)quant_iq4nl_values[b[i].qs[j] >> 4];
        }
    }
}

void quant_from_float_iq4_nl(const float *src, void *dst, int64_t n) {
    block_iq4_nl *b = dst;
    uint8_t L[32] = {0};
    uint16_t unused_h;
    for (int64_t i = 0; i < n / QK_32; i++)
        iq4_impl(1, src + QK_32 * i, &b[i].d, b[i].qs, &unused_h, NULL, L, -1);
}

float quant_vec_dot_iq4_nl_q8_0(int64_t n, const void *vx, const void *vy) {
    const block_iq4_nl *x = vx;
    const block_q8_0 *y = vy;
    float sum = 0;
    for (int64_t i = 0; i < n / QK_32; i++) {
        int s = 0;
        for (int j = 0; j < 16; j++)
            s += quant_iq4nl_values[x[i].qs[j] & 0xF] * y[i].qs[j] +
                 quant_iq4nl_values[x[i].qs[j] >> 4] * y[i].qs[j + 16];
        sum += (float)s * (quant_f16(x[i].d) * quant_f16(y[i].d));
    }
    return sum;
}

/* ---- IQ4_XS ----------------------------------------------------------------------------------- */

static inline int iq4xs_scale(const block_iq4_xs *b, int ib) {
    return (((b->scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((b->scales_h >> (2 * ib)) & 3) << 4)) - 32;
}

void quant_to_float_iq4_xs(const void *src, float *dst, int64_t n) {
    const block_iq4_xs *b = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = quant_f16(b[i].d);
        const uint8_t *qs = b[i].qs;
        for (int ib = 0; ib < QK_K / 32; ib++, qs += 16, dst += 32) {
            const float dl = d * (float)iq4xs_scale(&b[i], ib);
            for (int j = 0; j < 16; j++) {
                dst[j] = dl * (float)quant_iq4nl_values[qs[j] & 0xF];
                dst[j + 16] = dl * (float)quant_iq4nl_values[qs[j] >> 4];
            }
        }
    }
}

void quant_from_float_iq4_xs(const float *src, void *dst, int64_t n) {
    block_iq4_xs *b = dst;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++)
        iq4_impl(QK_K / 32, src + QK_K * i, &b[i].d, b[i].qs, &b[i].scales_h, b[i].scales_l, L, 7);
}

float quant_vec_dot_iq4_xs_q8_K(int64_t n, const void *vx, const void *vy) {
    const block_iq4_xs *x = vx;
    const block_q8_K *y = vy;
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *qs = x[i].qs;
        const int8_t *q8 = y[i].qs;
        int isum = 0;
        for (int ib = 0; ib < QK_K / 32; ib++, qs += 16, q8 += 32) {
            int s = 0;
            for (int j = 0; j < 16; j++)
                s += quant_iq4nl_values[qs[j] & 0xF] * q8[j] + quant_iq4nl_values[qs[j] >> 4] * q8[j + 16];
            isum += iq4xs_scale(&x[i], ib) * s;
        }
        sum += quant_f16(x[i].d) * quant_q8k_d(&y[i]) * (float)isum;
    }
    return sum;
}
