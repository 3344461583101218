/* AVX-512 packing of a convolution's im2col matrix straight from the image, and its adjoint for
 * the input gradient (conv_pack.h). Only geometries without padding and with a horizontal stride
 * of 1 take the fast forms here (the others go to the portable or AVX2 versions): sixteen
 * consecutive output positions then read a few runs of consecutive pixels, one per output row
 * they touch (two or three for an 11-wide output), within 32 pixels of the first unless the rows
 * are far apart; so a tap's 16 values are two whole loads and one permute (masked loads per run
 * otherwise, and near the image's end), for the forward's panels and the weight gradient's rows
 * alike. Only values move, so the results are those of the other levels. The strips of the input
 * gradient go the other way, from 16 values of each tap into the pixels (see
 * cpu_conv_add_cols_f32_avx512). */
#include <immintrin.h>
#include <stdbool.h>

#include "backend/cpu/conv_pack.h"

/* The positions [l, l + n) (n <= 16) as runs: lane i of run r reads base + shift[r] + i, for the
 * lanes in mask[r]; no run covers the lanes past n. */
typedef struct runs16 {
    int n;
    int32_t shift[16];
    __mmask16 mask[16];
} runs16;

static inline void runs16_make(const conv_im2col *m, int64_t l, int64_t n, runs16 *r) {
    const int32_t *off = m->pos_off + l;
    r->n = 0;
    for (int64_t i = 0; i < n;) {
        int64_t e = i + 1;
        while (e < n && off[e] == off[e - 1] + 1) e++;
        r->shift[r->n] = off[i] - (int32_t)i;
        r->mask[r->n] = (__mmask16)(((1u << e) - 1) & ~((1u << i) - 1));
        r->n++;
        i = e;
    }
}

/* The 16 lanes of one tap row (zero in the lanes no run covers). */
static inline __m512 runs16_load(const float *base, const runs16 *r) {
    __m512 v = _mm512_setzero_ps();
    for (int k = 0; k < r->n; k++) v = _mm512_mask_loadu_ps(v, r->mask[k], base + r->shift[k]);
    return v;
}

/* More runs than this in a group of 16 positions are gathered instead. */
enum { GATHER_RUNS = 4 };

/* Columns [l0, l0 + nl) of col rows [t0, t0 + kc) by groups of 16: group q of tap t to dst + q
 * q_stride + t t_stride (zero past nl). */
static void pack_groups(const conv_im2col *m, int64_t t0, int64_t kc, int64_t l0, int64_t nl,
                        float *dst, int64_t q_stride, int64_t t_stride) {
    const int32_t *tap = m->tap_off + t0;
    /* the last pixel this call reads: every tap's window of 32 pixels that ends before it can be
     * loaded whole (over phase planes the taps' offsets do not grow with t) */
    int32_t far = tap[0];
    for (int64_t t = 1; t < kc; t++)
        far = tap[t] > far ? tap[t] : far;
    const int64_t last = (int64_t)far + m->pos_off[l0 + nl - 1];
    for (int64_t q = 0; q * 16 < nl; q++) {
        int64_t count = nl - q * 16 < 16 ? nl - q * 16 : 16;
        const int32_t *off = m->pos_off + l0 + q * 16;
        float *d = dst + q * q_stride;
        int64_t span = off[count - 1] - off[0] + 1, t = 0;
        if (span <= 32) { /* two whole loads and one permute per tap */
            _Alignas(64) int32_t ix[16] = {0};
            for (int64_t i = 0; i < count; i++) ix[i] = off[i] - off[0];
            const __m512i idx = _mm512_load_si512(ix);
            const __mmask16 live = (__mmask16)((1u << count) - 1);
            const float *base = m->img + off[0];
            for (; t < kc && tap[t] + off[0] + 31 <= last; t++) {
                const float *b = base + tap[t];
                _mm512_storeu_ps(d + t * t_stride,
                                 _mm512_maskz_permutex2var_ps(live, _mm512_loadu_ps(b), idx,
                                                              _mm512_loadu_ps(b + 16)));
            }
        }
        if (t == kc) continue;
        runs16 r; /* the rest by runs, or gathered where the runs are short (strides over 1) */
        runs16_make(m, l0 + q * 16, count, &r);
        if (r.n <= GATHER_RUNS) {
            for (; t < kc; t++)
                _mm512_storeu_ps(d + t * t_stride, runs16_load(m->img + tap[t], &r));
            continue;
        }
        _Alignas(64) int32_t ix[16] = {0};
        for (int64_t i = 0; i < count; i++)
            ix[i] = off[i];
        const __m512i idx = _mm512_load_si512(ix);
        const __mmask16 live = (__mmask16)((1u << count) - 1);
        for (; t < kc; t++)
            _mm512_storeu_ps(d + t * t_stride, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), live,
                                                                        idx, m->img + tap[t], 4));
    }
}

void cpu_conv_pack_cols_f32_avx512(const conv_im2col *m, int64_t t0, int64_t kc, int64_t l0,
                                   int64_t nl, float *dst) {
    if (!m->inside) {
        cpu_conv_pack_cols_f32_avx2(m, t0, kc, l0, nl, dst);
        return;
    }
    pack_groups(m, t0, kc, l0, nl, dst, 16 * kc, 16);
}

void cpu_conv_pack_tap_rows_f32_avx512(const conv_im2col *m, int64_t t0, int64_t nt, int64_t l0,
                                       int64_t kc, float *dst, int64_t stride) {
    int64_t rows = (nt + 5) / 6 * 6;
    if (m->inside) {
        pack_groups(m, t0, nt, l0, kc, dst, 16, stride);
    } else {
        for (int64_t t = 0; t < nt; t++) /* one tap's row is one 1-row panel of cols */
            cpu_conv_pack_cols_f32(m, t0 + t, 1, l0, kc, dst + t * stride);
    }
    for (int64_t t = nt; t < rows; t++)
        for (int64_t p = 0; p < kc; p += 16) _mm512_storeu_ps(dst + t * stride + p, _mm512_setzero_ps());
}

/* The runs path of cpu_conv_add_cols_f32_avx512: one masked load, add and store per run. */
static void add_cols_runs(const conv_im2col *m, float *img, int64_t t0, int64_t nt, int64_t khw,
                          int64_t l0, int64_t nl, const float *src, int64_t src_rs) {
    __mmask16 live = (__mmask16)((1u << nl) - 1);
    runs16 r;
    runs16_make(m, l0, nl, &r);
    for (int64_t j = 0; j < khw; j++)
        for (int64_t t = j; t < nt; t += khw) {
            __m512 s = _mm512_maskz_loadu_ps(live, src + t * src_rs), v[16];
            float *base = img + m->tap_off[t0 + t];
            for (int k = 0; k < r.n; k++)
                v[k] = _mm512_add_ps(_mm512_maskz_loadu_ps(r.mask[k], base + r.shift[k]), s);
            for (int k = 0; k < r.n; k++) _mm512_mask_storeu_ps(base + r.shift[k], r.mask[k], v[k]);
        }
}

enum { WIN_VECS = 4, WIN_TABLE = 64 };

static inline int popcount64(uint64_t x) {
    x = x - ((x >> 1) & 0x5555555555555555u);
    x = (x & 0x3333333333333333u) + ((x >> 2) & 0x3333333333333333u);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fu;
    return (int)((x * 0x0101010101010101u) >> 56);
}

/* Each channel's window of nw vectors (a constant in each copy, so that the sums stay in
 * registers and their chains interleave): loaded once, the channel's khw taps added in order
 * (every tap to every vector, zeros where it does not reach: no branch to mispredict), stored
 * once. */
static inline void add_windows(int nw, const int32_t *tap, int64_t nt, int64_t khw, float *img,
                               int64_t img_size, int32_t off0, __mmask16 live, const float *src,
                               int64_t src_rs, const int32_t (*idx)[16]) {
    const __m512 zero = _mm512_setzero_ps();
    for (int64_t t = 0; t < nt; t += khw) {
        float *w = img + tap[t] + off0;
        int64_t room = img + img_size - w; /* pixels of img from w on */
        __mmask16 keep[WIN_VECS];
        __m512 acc[WIN_VECS];
        for (int k = 0; k < nw; k++) {
            int64_t n = room - 16 * k;
            keep[k] = n >= 16 ? (__mmask16)0xffff : n > 0 ? (__mmask16)((1u << n) - 1) : 0;
            acc[k] = _mm512_maskz_loadu_ps(keep[k], w + 16 * k);
        }
        for (int64_t j = 0; j < khw; j++) {
            __m512 v = _mm512_maskz_loadu_ps(live, src + (t + j) * src_rs);
            for (int k = 0; k < nw; k++)
                acc[k] = _mm512_add_ps(
                    acc[k], _mm512_permutex2var_ps(v, _mm512_load_si512(idx[j * nw + k]), zero));
        }
        for (int k = 0; k < nw; k++) _mm512_mask_storeu_ps(w + 16 * k, keep[k], acc[k]);
    }
}

void cpu_conv_add_cols_f32_avx512(const conv_im2col *m, float *img, int64_t img_size, int64_t t0,
                                  int64_t nt, int64_t khw, int64_t l0, int64_t nl,
                                  const float *src, int64_t src_rs) {
    if (!m->inside || !m->unit_stride) {
        cpu_conv_add_cols_f32(m, img, img_size, t0, nt, khw, l0, nl, src, src_rs);
        return;
    }
    /* Each channel's pixels under the strip: a window of up to WIN_VECS vectors from its first
     * tap's first pixel, which each tap's 16 values are permuted into. */
    const int32_t *off = m->pos_off + l0, *tap = m->tap_off + t0;
    int64_t foot = 0; /* the window's extent: the farthest tap of a channel, plus the strip */
    for (int64_t j = 0; j < khw; j++)
        if (tap[j] - tap[0] > foot) foot = tap[j] - tap[0];
    foot += off[nl - 1] - off[0] + 1;
    int64_t nwin = (foot + 15) / 16;
    if (nwin > WIN_VECS || khw * nwin > WIN_TABLE || nt % khw) {
        add_cols_runs(m, img, t0, nt, khw, l0, nl, src, src_rs);
        return;
    }
    /* lane e of window vector k gets lane idx[j nwin + k][e] of tap j's values, or +0 (index 16
     * and up: the zero vector); the strip's slots in the window are the bits of used, shifted by
     * the tap's place in the channel, and the values come in lane order, so each vector's are
     * consecutive lanes expanded. */
    _Alignas(64) int32_t idx[WIN_TABLE][16];
    uint64_t used = 0;
    for (int64_t i = 0; i < nl; i++) used |= (uint64_t)1 << (off[i] - off[0]);
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i none = _mm512_set1_epi32(16);
    for (int64_t j = 0; j < khw; j++) {
        uint64_t at = used << (tap[j] - tap[0]); /* foot <= 64: no bit is lost */
        for (int64_t k = 0; k < nwin; k++) {
            __mmask16 mk = (__mmask16)(at >> (16 * k));
            int before = popcount64(at & (((uint64_t)1 << (16 * k)) - 1));
            __m512i ix = _mm512_add_epi32(iota, _mm512_set1_epi32(before));
            _mm512_store_si512(idx[j * nwin + k], _mm512_mask_expand_epi32(none, mk, ix));
        }
    }
    /* A load waits for an older store whose 64 bytes it overlaps until that store is done (long
     * for a masked store), and the taps of a channel overlap: so each window vector of a channel
     * is loaded once, gets the channel's taps in order (each pixel lies in one vector, so it
     * gets its terms in tap order), and is stored once (add_windows). Adding +0 leaves a pixel as
     * it was: dX starts from +0, so no pixel is ever -0. */
    const __mmask16 live = (__mmask16)((1u << nl) - 1);
    switch (nwin) {
    case 1: add_windows(1, tap, nt, khw, img, img_size, off[0], live, src, src_rs, idx); break;
    case 2: add_windows(2, tap, nt, khw, img, img_size, off[0], live, src, src_rs, idx); break;
    case 3: add_windows(3, tap, nt, khw, img, img_size, off[0], live, src, src_rs, idx); break;
    default: add_windows(4, tap, nt, khw, img, img_size, off[0], live, src, src_rs, idx); break;
    }
}

/* ---- direct convolution for few taps (conv_pack.h) ------------------------------------------ */

/* Tiles of 8 output channels x 32 positions, 16 accumulators: cpu_conv_direct_forward_f32_avx2's
 * chain for each output (FMAs over the taps in order from zero, then + bias), so its bits, with
 * twice the lanes and twice the channels a tile. The 32 positions' values of every tap are
 * loaded by runs once into an L1 block, which every channel tile then reads with plain loads
 * (the runs' loops, reloaded per tile, had cost more than the FMAs). Channels past cout repeat
 * the last one and are not stored. */
bool cpu_conv_direct_forward_f32_avx512(const conv_im2col *m, int64_t taps, const float *w,
                                        int64_t cout, const float *bias, float *out, int64_t l) {
    _Alignas(64) float xs[CONV_DIRECT_TAPS][32];
    for (int64_t p0 = 0; p0 < l; p0 += 32) {
        int64_t n[2] = {l - p0 < 16 ? l - p0 : 16, l - p0 - 16};
        n[1] = n[1] < 0 ? 0 : n[1] < 16 ? n[1] : 16;
        runs16 r[2];
        runs16_make(m, p0, n[0], &r[0]);
        runs16_make(m, p0 + 16, n[1], &r[1]);
        for (int64_t t = 0; t < taps; t++)
            for (int h = 0; h < 2; h++)
                _mm512_store_ps(xs[t] + 16 * h, runs16_load(m->img + m->tap_off[t], &r[h]));
        for (int64_t co0 = 0; co0 < cout; co0 += 8) {
            const float *wr[8];
            for (int c = 0; c < 8; c++) wr[c] = w + (co0 + c < cout ? co0 + c : cout - 1) * taps;
            __m512 acc[8][2];
            for (int c = 0; c < 8; c++) acc[c][0] = acc[c][1] = _mm512_setzero_ps();
            for (int64_t t = 0; t < taps; t++) {
                __m512 x0 = _mm512_load_ps(xs[t]), x1 = _mm512_load_ps(xs[t] + 16);
                for (int c = 0; c < 8; c++) {
                    __m512 wv = _mm512_set1_ps(wr[c][t]);
                    acc[c][0] = _mm512_fmadd_ps(wv, x0, acc[c][0]);
                    acc[c][1] = _mm512_fmadd_ps(wv, x1, acc[c][1]);
                }
            }
            /* (unrolled whole, so that acc stays in registers through the taps) */
#pragma GCC unroll 8
            for (int c = 0; c < 8; c++)
#pragma GCC unroll 2
                for (int h = 0; h < 2; h++) {
                    if (co0 + c >= cout || n[h] <= 0) continue;
                    __m512 v = acc[c][h];
                    if (bias) v = _mm512_add_ps(v, _mm512_set1_ps(bias[co0 + c]));
                    _mm512_mask_storeu_ps(out + (co0 + c) * l + p0 + 16 * h,
                                          (__mmask16)((1u << n[h]) - 1), v);
                }
        }
    }
    return true;
}

/* Tiles of 8 output channels x 6 taps held over all the positions: cpu_conv_direct_weight_f32_avx2's
 * partial sums (lane i of (channel, tap) adds the products of positions 8 q + i in q's order),
 * so its bits. Two taps share a 16-lane accumulator (lanes 0-7 tap t, 8-15 tap t + 1) and meet
 * the channel's 8 values broadcast to both halves: the same chain per lane in half the FMAs of
 * 8-lane vectors (Zen 5 runs 16 lanes at the rate of 8). The image's values under every tap and
 * position are loaded by runs once, into xs [taps][l rounded up to 8] (zero past l), which the
 * tiles read with plain loads. Channels and taps past the ends repeat the last one and are not
 * stored. */
void cpu_conv_direct_weight_f32_avx512(const conv_im2col *m, int64_t taps, const float *dy,
                                       int64_t cout, int64_t l, float *acc, float *xs) {
    int64_t groups = (l + 7) / 8, last = l - (groups - 1) * 8, row = groups * 8;
    for (int64_t p0 = 0; p0 < row; p0 += 16) {
        int64_t n = l - p0 < 16 ? l - p0 : 16;
        runs16 r;
        runs16_make(m, p0, n, &r);
        __mmask16 room = (__mmask16)(row - p0 >= 16 ? 0xffff : 0xff); /* row is a multiple of 8 */
        for (int64_t t = 0; t < taps; t++)
            _mm512_mask_storeu_ps(xs + t * row + p0, room, runs16_load(m->img + m->tap_off[t], &r));
    }
    const __mmask8 tail = (__mmask8)((1u << last) - 1);
    for (int64_t co0 = 0; co0 < cout; co0 += 8) {
        const float *g[8];
        for (int c = 0; c < 8; c++) g[c] = dy + (co0 + c < cout ? co0 + c : cout - 1) * l;
        for (int64_t t0 = 0; t0 < taps; t0 += 6) {
            const float *xr[6];
            for (int k = 0; k < 6; k++) xr[k] = xs + (t0 + k < taps ? t0 + k : taps - 1) * row;
            __m512 a[8][3];
            for (int c = 0; c < 8; c++)
                for (int k = 0; k < 3; k++) a[c][k] = _mm512_setzero_ps();
            for (int64_t q = 0; q < groups; q++) {
                __m512 x[3];
                for (int k = 0; k < 3; k++)
                    x[k] = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_load_ps(xr[2 * k] + q * 8)),
                                              _mm256_load_ps(xr[2 * k + 1] + q * 8), 1);
                __mmask8 live = q + 1 < groups ? (__mmask8)0xff : tail;
                for (int c = 0; c < 8; c++) {
                    __m512 gv = _mm512_broadcast_f32x8(_mm256_maskz_loadu_ps(live, g[c] + q * 8));
                    for (int k = 0; k < 3; k++) a[c][k] = _mm512_fmadd_ps(gv, x[k], a[c][k]);
                }
            }
#pragma GCC unroll 8
            for (int c = 0; c < 8; c++)
#pragma GCC unroll 3
                for (int k = 0; k < 3; k++) {
                    int64_t t = t0 + 2 * k;
                    if (co0 + c >= cout || t >= taps) continue;
                    float *dst = acc + ((co0 + c) * taps + t) * 8;
                    __mmask16 keep = t + 1 < taps ? (__mmask16)0xffff : (__mmask16)0xff;
                    _mm512_mask_storeu_ps(dst, keep,
                                          _mm512_add_ps(_mm512_maskz_loadu_ps(keep, dst), a[c][k]));
                }
        }
    }
}
