/* The channels-in-lanes convolution of conv_point.h in AVX2 + FMA: 16 output channels x up to 6
 * positions in 12 accumulators, two weight vectors and one broadcast input per (tap, position). */
#include <immintrin.h>
#include <stdbool.h>

#include "backend/cpu/conv_ep_avx2.h"
#include "backend/cpu/conv_point.h"
#include "backend/cpu/gemm.h"
#include "backend/cpu/transpose_avx2.h"

/* Panel q (output channels [16 q, 16 q + nv)) at positions [p, p + NR): per k block an FMA chain
 * from zero over the block's taps in order, added to the running value as the GEMM
 * writes back; then the epilogue's operations and the store, each channel's NR outputs in a row.
 * With wide set (NR 6, and positions p + 6, p + 7 of every channel written later by this thread)
 * each channel's row is stored as 8 floats from an 8 x 8 transpose, the last two to be
 * overwritten. */
static inline __attribute__((always_inline)) void tile(const conv_point *d, int64_t q, int nv,
                                                       __m256 b0, __m256 b1, bool have_bias,
                                                       int64_t p, const int NR, bool wide) {
    const int64_t l = d->l, k = d->k, kc_blk = cpu_gemm_f32_kc(k);
    const float *wq = d->wpack + q * CONV_POINT_LANES * k;
    __m256 run[2 * CONV_POINT_ROWS];
    for (int r = 0; r < NR; r++) run[2 * r] = b0, run[2 * r + 1] = b1;
    bool have = have_bias;
    for (int64_t pc = 0; pc < k; pc += kc_blk) {
        const int64_t kc = k - pc < kc_blk ? k - pc : kc_blk;
        const float *w = wq + pc * CONV_POINT_LANES;
        __m256 c[2 * CONV_POINT_ROWS];
        for (int i = 0; i < 2 * NR; i++) c[i] = _mm256_setzero_ps();
        if (!d->tap_off) { /* 1x1: input channel t of position p + r at x + t l + r */
            const float *x = d->in + pc * l + p;
            for (int64_t t = 0; t < kc; t++, w += CONV_POINT_LANES, x += l) {
                const __m256 w0 = _mm256_load_ps(w), w1 = _mm256_load_ps(w + 8);
                for (int r = 0; r < NR; r++) {
                    const __m256 xb = _mm256_broadcast_ss(x + r);
                    c[2 * r] = _mm256_fmadd_ps(w0, xb, c[2 * r]);
                    c[2 * r + 1] = _mm256_fmadd_ps(w1, xb, c[2 * r + 1]);
                }
            }
        } else { /* tap t of position p + r at in + pos_off[p + r] + tap_off[t] */
            const int32_t *to = d->tap_off + pc;
            const float *xr[CONV_POINT_ROWS];
            for (int r = 0; r < NR; r++) xr[r] = d->in + d->pos_off[p + r];
            for (int64_t t = 0; t < kc; t++, w += CONV_POINT_LANES) {
                const __m256 w0 = _mm256_load_ps(w), w1 = _mm256_load_ps(w + 8);
                const int32_t o = to[t];
                for (int r = 0; r < NR; r++) {
                    const __m256 xb = _mm256_broadcast_ss(xr[r] + o);
                    c[2 * r] = _mm256_fmadd_ps(w0, xb, c[2 * r]);
                    c[2 * r + 1] = _mm256_fmadd_ps(w1, xb, c[2 * r + 1]);
                }
            }
        }
        /* the GEMM's write-back: fma(1, c, acc) = c + acc, or acc alone into an unset c */
        for (int i = 0; i < 2 * NR; i++) run[i] = have ? _mm256_add_ps(c[i], run[i]) : c[i];
        have = true;
    }
    if (d->ops && d->ops->n > 0) cpu_conv_ep_apply_n(run, 2 * NR, d->ops->n, d->ops->kind, d->ops->v);
    if (NR == CONV_POINT_ROWS && wide && nv == CONV_POINT_LANES) {
        float *o = d->out + q * CONV_POINT_LANES * l + p;
        for (int h = 0; h < 2; h++) {
            __m256 r[8];
            for (int i = 0; i < CONV_POINT_ROWS; i++) r[i] = run[2 * i + h];
            r[6] = r[7] = _mm256_setzero_ps();
            avx2_transpose8_ps(r);
            for (int ch = 0; ch < 8; ch++) _mm256_storeu_ps(o + (8 * h + ch) * l, r[ch]);
        }
        return;
    }
    _Alignas(32) float t[CONV_POINT_ROWS][CONV_POINT_LANES];
    for (int r = 0; r < NR; r++) {
        _mm256_store_ps(t[r], run[2 * r]);
        _mm256_store_ps(t[r] + 8, run[2 * r + 1]);
    }
    float *o = d->out + q * CONV_POINT_LANES * l + p;
    for (int ch = 0; ch < nv; ch++, o += l)
        for (int r = 0; r < NR; r++) o[r] = t[r][ch];
}

void cpu_conv_point_f32_avx2(const conv_point *d, int64_t q0, int64_t q1, int64_t p0, int64_t p1) {
    for (int64_t q = q0; q < q1; q++) {
        const int64_t c0 = q * CONV_POINT_LANES;
        const int nv = (int)(d->m - c0 < CONV_POINT_LANES ? d->m - c0 : CONV_POINT_LANES);
        __m256 b0 = _mm256_setzero_ps(), b1 = b0;
        if (d->bias) {
            _Alignas(32) float b[CONV_POINT_LANES] = {0};
            for (int i = 0; i < nv; i++) b[i] = d->bias[c0 + i];
            b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
        }
        const bool hb = d->bias != NULL;
        int64_t p = p0;
        /* every tile but the range's last writes 8 floats per channel (the next tile's first two
         * positions, rewritten by it) where those lie inside the range */
        for (; p + CONV_POINT_ROWS <= p1; p += CONV_POINT_ROWS)
            tile(d, q, nv, b0, b1, hb, p, 6, p + 8 <= p1);
        switch (p1 - p) {
        case 5: tile(d, q, nv, b0, b1, hb, p, 5, false); break;
        case 4: tile(d, q, nv, b0, b1, hb, p, 4, false); break;
        case 3: tile(d, q, nv, b0, b1, hb, p, 3, false); break;
        case 2: tile(d, q, nv, b0, b1, hb, p, 2, false); break;
        case 1: tile(d, q, nv, b0, b1, hb, p, 1, false); break;
        default: break;
        }
        if (d->ep && !(d->ops && d->ops->n > 0) && p1 > p0)
            d->ep(d->ep_ctx, c0, nv, d->out + c0 * d->l + p0, d->l, p1 - p0);
    }
}
