/* The direct convolution of conv_direct.h in AVX2 + FMA: 6 output channels x 16 positions in 12
 * accumulators, two input vectors and six broadcast weights per tap. */
#include <immintrin.h>
#include <stdbool.h>
#include <string.h>

#include "backend/cpu/conv_direct.h"
#include "backend/cpu/conv_ep_avx2.h"
#include "backend/cpu/gemm.h"

/* One k block: acc[r] = sum over taps p of a[p 6 + r] * x(p), from zero, in tap order, where
 * x(p) is the 16 floats at src + to[p] (masked by m0, m1 when not full). */
#define TAP(LOAD0, LOAD1)                                                                          \
    for (int64_t p = 0; p < kc; p++) {                                                             \
        const float *b = src + to[p];                                                              \
        __m256 x0 = LOAD0, x1 = LOAD1, w;                                                          \
        const float *ap = a + p * 6;                                                               \
        w = _mm256_broadcast_ss(ap + 0);                                                           \
        c00 = _mm256_fmadd_ps(w, x0, c00);                                                         \
        c01 = _mm256_fmadd_ps(w, x1, c01);                                                         \
        w = _mm256_broadcast_ss(ap + 1);                                                           \
        c10 = _mm256_fmadd_ps(w, x0, c10);                                                         \
        c11 = _mm256_fmadd_ps(w, x1, c11);                                                         \
        w = _mm256_broadcast_ss(ap + 2);                                                           \
        c20 = _mm256_fmadd_ps(w, x0, c20);                                                         \
        c21 = _mm256_fmadd_ps(w, x1, c21);                                                         \
        w = _mm256_broadcast_ss(ap + 3);                                                           \
        c30 = _mm256_fmadd_ps(w, x0, c30);                                                         \
        c31 = _mm256_fmadd_ps(w, x1, c31);                                                         \
        w = _mm256_broadcast_ss(ap + 4);                                                           \
        c40 = _mm256_fmadd_ps(w, x0, c40);                                                         \
        c41 = _mm256_fmadd_ps(w, x1, c41);                                                         \
        w = _mm256_broadcast_ss(ap + 5);                                                           \
        c50 = _mm256_fmadd_ps(w, x0, c50);                                                         \
        c51 = _mm256_fmadd_ps(w, x1, c51);                                                         \
    }

static void block_full(const float *src, const int32_t *to, const float *a, int64_t kc,
                       __m256 acc[12]) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    TAP(_mm256_loadu_ps(b), _mm256_loadu_ps(b + 8))
    acc[0] = c00, acc[1] = c01, acc[2] = c10, acc[3] = c11, acc[4] = c20, acc[5] = c21;
    acc[6] = c30, acc[7] = c31, acc[8] = c40, acc[9] = c41, acc[10] = c50, acc[11] = c51;
}

static void block_masked(const float *src, const int32_t *to, const float *a, int64_t kc,
                         __m256i m0, __m256i m1, __m256 acc[12]) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    TAP(_mm256_maskload_ps(b, m0), _mm256_maskload_ps(b + 8, m1))
    acc[0] = c00, acc[1] = c01, acc[2] = c10, acc[3] = c11, acc[4] = c20, acc[5] = c21;
    acc[6] = c30, acc[7] = c31, acc[8] = c40, acc[9] = c41, acc[10] = c50, acc[11] = c51;
}

/* Tiles are taken a few at a time, each panel of weights (6 k floats) over all of them while it
 * is in L1, then the next panel over the same input, which is then in L2. */
enum { TILE_GROUP = 8 };

/* The loop order. A tile group of TG tiles and a chunk of QC output channel panels are computed
 * together, walking the taps in steps of at most SUB: each step's input lines (TG tiles' worth)
 * stay in cache while every (panel, tile) pair of the chunk runs over them, so each input line
 * comes from L2 once per chunk instead of once per panel. The pairs' accumulators wait in a small
 * buffer between steps; an FMA chain stored and reloaded goes on with the same values, so the bits
 * are those of one chain per k block (the GEMM's). SUB is the GEMM's largest k block, so a step
 * is a whole block: on a quiet machine shorter steps were slower (det's 96 -> 24 3x3 at 40x40:
 * 64 taps 835 us, 128 819, a whole block 806; TG 1 or 3 and QC 2 slower too). */
enum { TG = 2, QC = 4, SUB = 256 };

typedef struct { _Alignas(32) float v[12][8]; } acc_buf;

/* One step of the chain: acc (in memory) += taps [0, kc) of the tile at src, from zero when
 * zero is set; masked loads when n < 16. */
static inline __attribute__((always_inline)) void chain_step(const float *src, const int32_t *to,
                                                             const float *a, int64_t kc, int64_t n,
                                                             bool zero, acc_buf *acc) {
    __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
    if (zero) {
        c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
        c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    } else {
        c00 = _mm256_load_ps(acc->v[0]), c01 = _mm256_load_ps(acc->v[1]);
        c10 = _mm256_load_ps(acc->v[2]), c11 = _mm256_load_ps(acc->v[3]);
        c20 = _mm256_load_ps(acc->v[4]), c21 = _mm256_load_ps(acc->v[5]);
        c30 = _mm256_load_ps(acc->v[6]), c31 = _mm256_load_ps(acc->v[7]);
        c40 = _mm256_load_ps(acc->v[8]), c41 = _mm256_load_ps(acc->v[9]);
        c50 = _mm256_load_ps(acc->v[10]), c51 = _mm256_load_ps(acc->v[11]);
    }
    if (n == CONV_DIRECT_TILE) {
        TAP(_mm256_loadu_ps(b), _mm256_loadu_ps(b + 8))
    } else {
        const __m256i nv = _mm256_set1_epi32((int)n);
        const __m256i m0 = _mm256_cmpgt_epi32(nv, _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        const __m256i m1 = _mm256_cmpgt_epi32(nv, _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15));
        TAP(_mm256_maskload_ps(b, m0), _mm256_maskload_ps(b + 8, m1))
    }
    _mm256_store_ps(acc->v[0], c00), _mm256_store_ps(acc->v[1], c01);
    _mm256_store_ps(acc->v[2], c10), _mm256_store_ps(acc->v[3], c11);
    _mm256_store_ps(acc->v[4], c20), _mm256_store_ps(acc->v[5], c21);
    _mm256_store_ps(acc->v[6], c30), _mm256_store_ps(acc->v[7], c31);
    _mm256_store_ps(acc->v[8], c40), _mm256_store_ps(acc->v[9], c41);
    _mm256_store_ps(acc->v[10], c50), _mm256_store_ps(acc->v[11], c51);
}

/* The output index of the first output at or after gapped position g. */
static int64_t out_index(const conv_direct *d, int64_t g) {
    int64_t oy = g / d->wp, ox = g % d->wp;
    return ox < d->ow ? oy * d->ow + ox : (oy + 1) * d->ow;
}

/* The finished values run of output channels [6 q, 6 q + nr) at the tile starting at gapped
 * position l0 (n positions): the epilogue's operations on them, then stored, the columns past ow
 * dropped. */
static inline __attribute__((always_inline)) void store_run(const conv_direct *d, int64_t q, int nr,
                                                            int64_t l0, int64_t n, __m256 run[12]) {
    const int64_t l = d->oh * d->ow;
    if (d->ops && d->ops->n > 0) cpu_conv_ep_apply_n(run, 12, d->ops->n, d->ops->kind, d->ops->v);
    int64_t ox0 = l0 % d->wp, oy0 = l0 / d->wp;
    if (n == CONV_DIRECT_TILE && ox0 + CONV_DIRECT_TILE <= d->ow) { /* inside one output row */
        float *o = d->out + q * 6 * l + oy0 * d->ow + ox0;
        for (int r = 0; r < nr; r++) {
            _mm256_storeu_ps(o + r * l, run[2 * r]);
            _mm256_storeu_ps(o + r * l + 8, run[2 * r + 1]);
        }
        return;
    }
    _Alignas(32) float tile[6][16];
    for (int r = 0; r < 6; r++) {
        _mm256_store_ps(tile[r], run[2 * r]);
        _mm256_store_ps(tile[r] + 8, run[2 * r + 1]);
    }
    /* row segment by row segment, the columns past ow dropped */
    for (int64_t p = l0; p < l0 + n;) {
        int64_t oy = p / d->wp, ox = p % d->wp, seg = d->wp - ox;
        if (seg > l0 + n - p) seg = l0 + n - p;
        if (ox < d->ow) {
            int64_t cnt = d->ow - ox < seg ? d->ow - ox : seg;
            float *o = d->out + q * 6 * l + oy * d->ow + ox;
            for (int r = 0; r < nr; r++)
                memcpy(o + r * l, tile[r] + (p - l0), (size_t)cnt * sizeof(float));
        }
        p += seg;
    }
}

/* store_run for values kept in an acc_buf. */
static void store_tile(const conv_direct *d, int64_t q, int nr, int64_t l0, int64_t n,
                       const acc_buf *runb) {
    __m256 run[12];
    for (int i = 0; i < 12; i++) run[i] = _mm256_load_ps(runb->v[i]);
    store_run(d, q, nr, l0, n, run);
}

/* Output channels [6 q, 6 q + nr) at the tile starting at gapped position l0, n positions. */
static void panel_tile(const conv_direct *d, int64_t q, int nr, int64_t l0, int64_t n) {
    const int64_t kc_blk = cpu_gemm_f32_kc(d->k), rows = (d->m + 5) / 6 * 6;
    const __m256i nv = _mm256_set1_epi32((int)n);
    const __m256i m0 = _mm256_cmpgt_epi32(nv, _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const __m256i m1 = _mm256_cmpgt_epi32(nv, _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15));
    const float *src = d->in + l0;
    __m256 run[12], acc[12];
    bool have = d->bias != NULL;
    for (int r = 0; r < 6; r++)
        run[2 * r] = run[2 * r + 1] = _mm256_set1_ps(have && r < nr ? d->bias[q * 6 + r] : 0);
    for (int64_t pc = 0; pc < d->k; pc += kc_blk) {
        int64_t kc = d->k - pc < kc_blk ? d->k - pc : kc_blk;
        const float *a = d->apack + rows * pc + q * 6 * kc;
        if (n == CONV_DIRECT_TILE) block_full(src, d->tap_off + pc, a, kc, acc);
        else block_masked(src, d->tap_off + pc, a, kc, m0, m1, acc);
        /* the GEMM's write-back: fma(1, c, acc) = c + acc, or acc alone into an unset c */
        for (int i = 0; i < 12; i++) run[i] = have ? _mm256_add_ps(acc[i], run[i]) : acc[i];
        have = true;
    }
    store_run(d, q, nr, l0, n, run);
}

/* Panels [qa, qb) (at most QC) over tiles [tb, te) (at most TG). */
static void chunk(const conv_direct *d, int64_t qa, int64_t qb, int64_t tb, int64_t te) {
    const int64_t lg = (d->oh - 1) * d->wp + d->ow, kc_blk = cpu_gemm_f32_kc(d->k);
    const int64_t rows = (d->m + 5) / 6 * 6;
    acc_buf acc[QC][TG], run[QC][TG];
    bool have = d->bias != NULL;
    for (int64_t q = qa; q < qb; q++)
        for (int64_t t = tb; t < te; t++)
            for (int r = 0; r < 6; r++) {
                float b = have && q * 6 + r < d->m ? d->bias[q * 6 + r] : 0.0f;
                for (int i = 0; i < 16; i++) run[q - qa][t - tb].v[2 * r + i / 8][i % 8] = b;
            }
    for (int64_t pc = 0; pc < d->k; pc += kc_blk) {
        int64_t kc = d->k - pc < kc_blk ? d->k - pc : kc_blk;
        for (int64_t s0 = 0; s0 < kc; s0 += SUB) {
            int64_t sn = kc - s0 < SUB ? kc - s0 : SUB;
            for (int64_t q = qa; q < qb; q++) {
                const float *a = d->apack + rows * pc + q * 6 * kc + s0 * 6;
                for (int64_t t = tb; t < te; t++) {
                    int64_t l0 = t * CONV_DIRECT_TILE;
                    int64_t n = lg - l0 < CONV_DIRECT_TILE ? lg - l0 : CONV_DIRECT_TILE;
                    chain_step(d->in + l0, d->tap_off + pc + s0, a, sn, n, s0 == 0,
                               &acc[q - qa][t - tb]);
                }
            }
        }
        /* the GEMM's write-back: fma(1, c, acc) = c + acc, or acc alone into an unset c */
        for (int64_t q = qa; q < qb; q++)
            for (int64_t t = tb; t < te; t++) {
                acc_buf *ab = &acc[q - qa][t - tb], *rb = &run[q - qa][t - tb];
                for (int i = 0; i < 12; i++) {
                    __m256 x = _mm256_load_ps(ab->v[i]);
                    _mm256_store_ps(rb->v[i], have ? _mm256_add_ps(x, _mm256_load_ps(rb->v[i])) : x);
                }
            }
        have = true;
    }
    for (int64_t q = qa; q < qb; q++) {
        int nr = (int)(d->m - q * 6 < 6 ? d->m - q * 6 : 6);
        for (int64_t t = tb; t < te; t++) {
            int64_t l0 = t * CONV_DIRECT_TILE;
            store_tile(d, q, nr, l0, lg - l0 < CONV_DIRECT_TILE ? lg - l0 : CONV_DIRECT_TILE,
                       &run[q - qa][t - tb]);
        }
    }
}

void cpu_conv_direct_f32_avx2(const conv_direct *d, int64_t t0, int64_t t1) {
    const int64_t lg = (d->oh - 1) * d->wp + d->ow, l = d->oh * d->ow;
    const int64_t qs = d->q0, qe = d->q1 > 0 ? d->q1 : (d->m + 5) / 6;
    /* several taps per input channel (3x3 and larger kernels): chunks of panels over few tiles,
     * the taps in steps (chunk()); one tap per channel (1x1): each panel over a tile group
     * (panel_tile()), which measured faster there (det's 1x1s by 5-25%) */
    const bool chunked = d->chunked;
    const int64_t tg = chunked ? TG : TILE_GROUP;
    for (int64_t tb = t0; tb < t1; tb += tg) {
        int64_t te = tb + tg < t1 ? tb + tg : t1;
        for (int64_t qa = qs; qa < qe; qa += chunked ? QC : 1) {
            int64_t qb = chunked ? (qa + QC < qe ? qa + QC : qe) : qa + 1;
            if (chunked) {
                chunk(d, qa, qb, tb, te);
            } else {
                int nr = (int)(d->m - qa * 6 < 6 ? d->m - qa * 6 : 6);
                for (int64_t t = tb; t < te; t++) {
                    int64_t l0 = t * CONV_DIRECT_TILE;
                    panel_tile(d, qa, nr, l0, lg - l0 < CONV_DIRECT_TILE ? lg - l0 : CONV_DIRECT_TILE);
                }
            }
            /* the group's outputs of these channels are one run of each output plane: the
             * epilogue once over it */
            int64_t o0 = out_index(d, tb * CONV_DIRECT_TILE);
            int64_t o1 = out_index(d, te * CONV_DIRECT_TILE < lg ? te * CONV_DIRECT_TILE : lg);
            if (d->ep && !(d->ops && d->ops->n > 0) && o1 > o0)
                for (int64_t q = qa; q < qb; q++) {
                    int nr = (int)(d->m - q * 6 < 6 ? d->m - q * 6 : 6);
                    d->ep(d->ep_ctx, q * 6, nr, d->out + q * 6 * l + o0, l, o1 - o0);
                }
        }
    }
}
