/* arm64 NEON versions of the convolution's f32 kernels (conv_pack.h): the im2col packers of the
 * forward's B panels and of the weight gradient's A, the input gradient's add, and the direct
 * kernels for first layers with few taps.
 *
 * The packers move data only, so they write the portable packers' bytes. Positions are taken four
 * at a time (a quad, one vector). Without padding and with a horizontal stride of 1 a quad reads
 * one run of consecutive pixels per output row it touches: one load when it is a single run, else
 * one load per run merged by bit selects; every load stays between the quad's first and last
 * pixel, since the offsets of such a geometry grow by at least 1 from one position to the next.
 * Other geometries check each lane against the image's bounds (zeros in the padding) and load lane
 * by lane, or as one vector when four consecutive pixels are all inside.
 *
 * The direct kernels first copy the image's tap rows (a row of pixels per output row: no padding,
 * stride 1 across) into scratch, zero-padded to whole tiles, so their inner loops are plain
 * loads. Forward: 8 output channels x 12 positions in 24 accumulators, each output the FMA chain
 * over the taps in order from zero, then + bias, as the AVX2 kernel computes it (the GEMM's bits).
 * Weight gradient: 3 output channels x 3 taps of 8-lane partial sums (two registers each, lanes
 * 0-3 and 4-7; a fourth channel would not fit in the registers), lane i of tap t summing dy * x
 * over the positions 8 q + i in order of q, as the AVX2 kernel's 8-lane registers do. */
#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "backend/cpu/conv_pack.h"
#include "backend/cpu/scratch.h"

/* ---- packers -------------------------------------------------------------------------------- */

/* Output positions [l, l + n), n <= 4, as the packers read them. */
typedef struct quad {
    int32_t off[4], y[4], x[4]; /* the lanes' pos_off, pos_y, pos_x (0 past n) */
    uint32_t live[4];           /* all ones in lanes [0, n) */
    int32_t shift[4];           /* run r: lane i reads base + shift[r] + i */
    uint32_t from[4][4];        /* run r: all ones from the run's first lane on */
    int n, runs;                /* runs of consecutive offsets; one run of 4: a plain load */
} quad;

static inline void quad_make(const conv_im2col *m, int64_t l, int64_t n, quad *q) {
    memset(q, 0, sizeof *q);
    q->n = (int)(n < 0 ? 0 : n > 4 ? 4 : n);
    for (int i = 0; i < q->n; i++) {
        q->off[i] = m->pos_off[l + i];
        q->y[i] = m->pos_y[l + i];
        q->x[i] = m->pos_x[l + i];
        q->live[i] = ~0u;
    }
    for (int i = 0; i < q->n;) {
        int e = i + 1;
        while (e < q->n && q->off[e] == q->off[e - 1] + 1)
            e++;
        q->shift[q->runs] = q->off[i] - i;
        for (int k = i; k < 4; k++)
            q->from[q->runs][k] = ~0u;
        q->runs++;
        i = e;
    }
}

static inline bool quad_whole(const quad *q) { return q->n == 4 && q->runs == 1; }

/* The quad's pixels at base (a geometry without padding and with a horizontal stride of 1): the
 * runs merged lane by lane, 0 past n. */
static inline float32x4_t load_runs(const float *base, const quad *q) {
    if (q->n == 4) {
        float32x4_t v = vld1q_f32(base + q->shift[0]);
        for (int r = 1; r < q->runs; r++)
            v = vbslq_f32(vld1q_u32(q->from[r]), vld1q_f32(base + q->shift[r]), v);
        return v;
    }
    float t[4] = {0, 0, 0, 0};
    for (int i = 0; i < q->n; i++)
        t[i] = base[q->off[i]];
    return vld1q_f32(t);
}

/* The quad's values of tap t in any geometry: 0 where the tap falls into the padding or past n. */
static inline float32x4_t load_checked(const conv_im2col *m, int64_t t, const quad *q) {
    const float *base = m->img + m->tap_off[t];
    uint32x4_t ok = vld1q_u32(q->live);
    if (!m->inside) {
        /* 0 <= y < h and 0 <= x < w, as unsigned compares */
        int32x4_t y = vaddq_s32(vld1q_s32(q->y), vdupq_n_s32(m->tap_y[t]));
        int32x4_t x = vaddq_s32(vld1q_s32(q->x), vdupq_n_s32(m->tap_x[t]));
        ok = vandq_u32(ok, vcltq_u32(vreinterpretq_u32_s32(y), vdupq_n_u32((uint32_t)m->h)));
        ok = vandq_u32(ok, vcltq_u32(vreinterpretq_u32_s32(x), vdupq_n_u32((uint32_t)m->w)));
    }
    if (quad_whole(q) && vminvq_u32(ok)) return vld1q_f32(base + q->shift[0]);
    uint32_t k[4];
    vst1q_u32(k, ok);
    float v[4];
    for (int i = 0; i < 4; i++)
        v[i] = k[i] ? base[q->off[i]] : 0.0f;
    return vld1q_f32(v);
}

void cpu_conv_pack_cols_f32_neon(const conv_im2col *m, int64_t t0, int64_t kc, int64_t l0,
                                 int64_t nl, float *dst) {
    const bool runs = m->inside && m->unit_stride;
    for (int64_t p = 0; p * 16 < nl; p++) {
        int64_t lb = l0 + p * 16, count = nl - p * 16 < 16 ? nl - p * 16 : 16;
        quad q[4];
        for (int j = 0; j < 4; j++)
            quad_make(m, lb + 4 * j, count - 4 * j, &q[j]);
        float *d = dst + p * 16 * kc;
        if (runs && quad_whole(&q[0]) && quad_whole(&q[1]) && quad_whole(&q[2]) &&
            quad_whole(&q[3]) && q[3].off[3] == q[0].off[0] + 15) {
            /* 16 consecutive pixels (one output row): four plain loads per tap */
            for (int64_t t = 0; t < kc; t++) {
                const float *s = m->img + m->tap_off[t0 + t] + q[0].off[0];
                float32x4_t v0 = vld1q_f32(s), v1 = vld1q_f32(s + 4);
                float32x4_t v2 = vld1q_f32(s + 8), v3 = vld1q_f32(s + 12);
                vst1q_f32(d + t * 16, v0);
                vst1q_f32(d + t * 16 + 4, v1);
                vst1q_f32(d + t * 16 + 8, v2);
                vst1q_f32(d + t * 16 + 12, v3);
            }
        } else if (runs) {
            for (int64_t t = 0; t < kc; t++) {
                const float *base = m->img + m->tap_off[t0 + t];
                for (int j = 0; j < 4; j++)
                    vst1q_f32(d + t * 16 + 4 * j, load_runs(base, &q[j]));
            }
        } else {
            for (int64_t t = 0; t < kc; t++)
                for (int j = 0; j < 4; j++)
                    vst1q_f32(d + t * 16 + 4 * j, load_checked(m, t0 + t, &q[j]));
        }
    }
}

/* Six tap rows v0..v5 of n <= 4 positions as positions of six taps at d: d[s 6 + i] = vi[s]. */
static inline void store_six(float *d, float32x4_t v0, float32x4_t v1, float32x4_t v2,
                             float32x4_t v3, float32x4_t v4, float32x4_t v5, int64_t n) {
    if (n == 4) { /* pairs of taps zipped, then their 64-bit halves in order */
        float64x2_t z01 = vreinterpretq_f64_f32(vzip1q_f32(v0, v1));
        float64x2_t z23 = vreinterpretq_f64_f32(vzip1q_f32(v2, v3));
        float64x2_t z45 = vreinterpretq_f64_f32(vzip1q_f32(v4, v5));
        float64x2_t y01 = vreinterpretq_f64_f32(vzip2q_f32(v0, v1));
        float64x2_t y23 = vreinterpretq_f64_f32(vzip2q_f32(v2, v3));
        float64x2_t y45 = vreinterpretq_f64_f32(vzip2q_f32(v4, v5));
        /* positions 0 and 1, then 2 and 3: six taps each */
        vst1q_f32(d, vreinterpretq_f32_f64(vzip1q_f64(z01, z23)));
        vst1q_f32(d + 4,
                  vreinterpretq_f32_f64(vcombine_f64(vget_low_f64(z45), vget_high_f64(z01))));
        vst1q_f32(d + 8, vreinterpretq_f32_f64(vzip2q_f64(z23, z45)));
        vst1q_f32(d + 12, vreinterpretq_f32_f64(vzip1q_f64(y01, y23)));
        vst1q_f32(d + 16,
                  vreinterpretq_f32_f64(vcombine_f64(vget_low_f64(y45), vget_high_f64(y01))));
        vst1q_f32(d + 20, vreinterpretq_f32_f64(vzip2q_f64(y23, y45)));
        return;
    }
    float t[6][4];
    vst1q_f32(t[0], v0), vst1q_f32(t[1], v1), vst1q_f32(t[2], v2);
    vst1q_f32(t[3], v3), vst1q_f32(t[4], v4), vst1q_f32(t[5], v5);
    for (int64_t s = 0; s < n; s++)
        for (int i = 0; i < 6; i++)
            d[s * 6 + i] = t[i][s];
}

void cpu_conv_pack_taps_f32_neon(const conv_im2col *m, int64_t t0, int64_t nt, int64_t l0,
                                 int64_t kc, float *dst) {
    const bool runs = m->inside && m->unit_stride;
    const float32x4_t zero = vdupq_n_f32(0.0f);
    /* the quads of a span of positions, shared by all the panels */
    enum { QUADS = 64 };
    quad q[QUADS];
    for (int64_t p0 = 0; p0 < kc; p0 += QUADS * 4) {
        int64_t span = kc - p0 < QUADS * 4 ? kc - p0 : QUADS * 4;
        for (int64_t j = 0; j * 4 < span; j++)
            quad_make(m, l0 + p0 + j * 4, span - j * 4, &q[j]);
        for (int64_t pq = 0; pq * 6 < nt; pq++) {
            int64_t rows = nt - pq * 6 < 6 ? nt - pq * 6 : 6, tb = t0 + pq * 6;
            float *d = dst + pq * 6 * kc + p0 * 6;
            if (runs && rows == 6) { /* the common case: six rows of runs */
                const float *b0 = m->img + m->tap_off[tb], *b1 = m->img + m->tap_off[tb + 1];
                const float *b2 = m->img + m->tap_off[tb + 2], *b3 = m->img + m->tap_off[tb + 3];
                const float *b4 = m->img + m->tap_off[tb + 4], *b5 = m->img + m->tap_off[tb + 5];
                for (int64_t j = 0; j * 4 < span; j++) {
                    const quad *qj = &q[j];
                    store_six(d + j * 24, load_runs(b0, qj), load_runs(b1, qj), load_runs(b2, qj),
                              load_runs(b3, qj), load_runs(b4, qj), load_runs(b5, qj), qj->n);
                }
                continue;
            }
            for (int64_t j = 0; j * 4 < span; j++) {
                const quad *qj = &q[j];
#define ROW(i)                                                                                     \
    (i >= rows ? zero                                                                              \
     : runs    ? load_runs(m->img + m->tap_off[tb + i], qj)                                        \
               : load_checked(m, tb + i, qj))
                store_six(d + j * 24, ROW(0), ROW(1), ROW(2), ROW(3), ROW(4), ROW(5), qj->n);
#undef ROW
            }
        }
    }
}

void cpu_conv_mul_add_f32_neon(float *dst, const float *src, float w, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) { /* vmulq then vaddq: no fused multiply-add */
        float32x4_t p0 = vmulq_n_f32(vld1q_f32(src + i), w);
        float32x4_t p1 = vmulq_n_f32(vld1q_f32(src + i + 4), w);
        vst1q_f32(dst + i, vaddq_f32(vld1q_f32(dst + i), p0));
        vst1q_f32(dst + i + 4, vaddq_f32(vld1q_f32(dst + i + 4), p1));
    }
    for (; i + 4 <= n; i += 4)
        vst1q_f32(dst + i, vaddq_f32(vld1q_f32(dst + i), vmulq_n_f32(vld1q_f32(src + i), w)));
    for (; i < n; i++) {
        float prod = w * src[i];
        dst[i] += prod;
    }
}

void cpu_conv_taps_dot_f32_neon(float *out, const float *img, const int32_t *off, const float *w,
                                int64_t taps, int64_t n, const float *bias) {
    int64_t q = 0;
    for (; q + 16 <= n; q += 16) { /* four chains at a time, FMLA by the tap's weight */
        float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t t = 0; t < taps; t++) {
            const float *x = img + off[t] + q;
            a0 = vfmaq_n_f32(a0, vld1q_f32(x), w[t]);
            a1 = vfmaq_n_f32(a1, vld1q_f32(x + 4), w[t]);
            a2 = vfmaq_n_f32(a2, vld1q_f32(x + 8), w[t]);
            a3 = vfmaq_n_f32(a3, vld1q_f32(x + 12), w[t]);
        }
        if (bias) {
            a0 = vaddq_f32(a0, vdupq_n_f32(*bias)), a1 = vaddq_f32(a1, vdupq_n_f32(*bias));
            a2 = vaddq_f32(a2, vdupq_n_f32(*bias)), a3 = vaddq_f32(a3, vdupq_n_f32(*bias));
        }
        vst1q_f32(out + q, a0), vst1q_f32(out + q + 4, a1);
        vst1q_f32(out + q + 8, a2), vst1q_f32(out + q + 12, a3);
    }
    for (; q + 4 <= n; q += 4) {
        float32x4_t a = vdupq_n_f32(0.0f);
        for (int64_t t = 0; t < taps; t++)
            a = vfmaq_n_f32(a, vld1q_f32(img + off[t] + q), w[t]);
        vst1q_f32(out + q, bias ? vaddq_f32(a, vdupq_n_f32(*bias)) : a);
    }
    for (; q < n; q++) {
        float a = 0.0f;
        for (int64_t t = 0; t < taps; t++)
            a = fmaf(w[t], img[off[t] + q], a);
        out[q] = bias ? a + *bias : a;
    }
}

void cpu_conv_add_f32_neon(float *dst, const float *src, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        float32x4_t a0 = vld1q_f32(dst + i), a1 = vld1q_f32(dst + i + 4);
        float32x4_t a2 = vld1q_f32(dst + i + 8), a3 = vld1q_f32(dst + i + 12);
        vst1q_f32(dst + i, vaddq_f32(a0, vld1q_f32(src + i)));
        vst1q_f32(dst + i + 4, vaddq_f32(a1, vld1q_f32(src + i + 4)));
        vst1q_f32(dst + i + 8, vaddq_f32(a2, vld1q_f32(src + i + 8)));
        vst1q_f32(dst + i + 12, vaddq_f32(a3, vld1q_f32(src + i + 12)));
    }
    for (; i + 4 <= n; i += 4)
        vst1q_f32(dst + i, vaddq_f32(vld1q_f32(dst + i), vld1q_f32(src + i)));
    for (; i < n; i++)
        dst[i] += src[i];
}

/* ---- direct convolution for few taps ------------------------------------------------------- */

/* The tap rows of a geometry without padding and with a horizontal stride of 1: row t of xs
 * (lp floats apart) is col[t][0, l), then zeros up to lp. Each output row's positions read
 * consecutive pixels, so a row is out_h copies of out_w floats. */
static void stage_rows(const conv_im2col *m, int64_t taps, int64_t l, int64_t lp, float *xs) {
    const int64_t ow = m->out_w;
    for (int64_t t = 0; t < taps; t++) {
        float *row = xs + t * lp;
        const float *base = m->img + m->tap_off[t];
        for (int64_t p = 0; p < l; p += ow)
            memcpy(row + p, base + m->pos_off[p], (size_t)ow * sizeof(float));
        memset(row + l, 0, (size_t)(lp - l) * sizeof(float));
    }
}

enum { FWD_CH = 8, FWD_POS = 12 };

/* v (lanes [0, n) of it, n >= 1) to o. */
static inline void store_part(float *o, float32x4_t v, int64_t n) {
    if (n >= 4) {
        vst1q_f32(o, v);
        return;
    }
    float t[4];
    vst1q_f32(t, v);
    memcpy(o, t, (size_t)n * sizeof(float));
}

/* Output channels [co0, co0 + 8) at positions [p0, p0 + 12): the FMA chains over the taps, with
 * x the tap rows at p0 and wt the tile's weights [taps][8]. */
static inline void forward_tile(const float *x, int64_t lp, const float *wt, int64_t taps,
                                float32x4_t acc[FWD_CH][3]) {
    float32x4_t a00 = vdupq_n_f32(0.0f), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00;
    float32x4_t a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
    float32x4_t a40 = a00, a41 = a00, a42 = a00, a50 = a00, a51 = a00, a52 = a00;
    float32x4_t a60 = a00, a61 = a00, a62 = a00, a70 = a00, a71 = a00, a72 = a00;
    for (int64_t t = 0; t < taps; t++, x += lp, wt += FWD_CH) {
        float32x4_t x0 = vld1q_f32(x), x1 = vld1q_f32(x + 4), x2 = vld1q_f32(x + 8);
        float32x4_t w0 = vld1q_f32(wt), w1 = vld1q_f32(wt + 4);
#define CHAN(c, w, lane)                                                                           \
    a##c##0 = vfmaq_laneq_f32(a##c##0, x0, w, lane);                                               \
    a##c##1 = vfmaq_laneq_f32(a##c##1, x1, w, lane);                                               \
    a##c##2 = vfmaq_laneq_f32(a##c##2, x2, w, lane);
        CHAN(0, w0, 0)
        CHAN(1, w0, 1)
        CHAN(2, w0, 2)
        CHAN(3, w0, 3)
        CHAN(4, w1, 0)
        CHAN(5, w1, 1)
        CHAN(6, w1, 2)
        CHAN(7, w1, 3)
#undef CHAN
    }
    acc[0][0] = a00, acc[0][1] = a01, acc[0][2] = a02, acc[1][0] = a10, acc[1][1] = a11;
    acc[1][2] = a12, acc[2][0] = a20, acc[2][1] = a21, acc[2][2] = a22, acc[3][0] = a30;
    acc[3][1] = a31, acc[3][2] = a32, acc[4][0] = a40, acc[4][1] = a41, acc[4][2] = a42;
    acc[5][0] = a50, acc[5][1] = a51, acc[5][2] = a52, acc[6][0] = a60, acc[6][1] = a61;
    acc[6][2] = a62, acc[7][0] = a70, acc[7][1] = a71, acc[7][2] = a72;
}

/* One output channel (a depthwise convolution's group): 12 positions a step in 3 accumulators,
 * each the chain over the staged tap rows, then + bias, as forward_tile computes a channel. */
static void forward_one_channel(const float *xs, int64_t lp, int64_t taps, const float *w,
                                const float *bias, float *out, int64_t l) {
    for (int64_t p0 = 0; p0 < l; p0 += FWD_POS) {
        float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0;
        for (int64_t t = 0; t < taps; t++) {
            const float *x = xs + t * lp + p0;
            a0 = vfmaq_n_f32(a0, vld1q_f32(x), w[t]);
            a1 = vfmaq_n_f32(a1, vld1q_f32(x + 4), w[t]);
            a2 = vfmaq_n_f32(a2, vld1q_f32(x + 8), w[t]);
        }
        float32x4_t v[3] = {a0, a1, a2};
        for (int64_t j = 0; j < 3 && p0 + 4 * j < l; j++)
            store_part(out + p0 + 4 * j, bias ? vaddq_f32(v[j], vdupq_n_f32(*bias)) : v[j],
                       l - p0 - 4 * j);
    }
}

bool cpu_conv_direct_forward_f32_neon(const conv_im2col *m, int64_t taps, const float *w,
                                      int64_t cout, const float *bias, float *out, int64_t l) {
    if (l <= 0 || cout <= 0) return true;
    const int64_t lp = (l + FWD_POS - 1) / FWD_POS * FWD_POS, tiles = (cout + FWD_CH - 1) / FWD_CH;
    /* the tap rows, then the weights as [channel tile][tap][8] (zeros past cout) */
    size_t floats = (size_t)(taps * lp + tiles * taps * FWD_CH);
    float *xs = cpu_scratch(CPU_SCRATCH_CONV_RUNS, (floats ? floats : 1) * sizeof(float));
    if (!xs) return false;
    float *wt = xs + taps * lp;
    stage_rows(m, taps, l, lp, xs);
    if (cout == 1) { /* not 1 of 8 channels of a tile */
        forward_one_channel(xs, lp, taps, w, bias, out, l);
        return true;
    }
    for (int64_t ct = 0; ct < tiles; ct++)
        for (int64_t t = 0; t < taps; t++)
            for (int64_t c = 0; c < FWD_CH; c++) {
                int64_t co = ct * FWD_CH + c;
                wt[(ct * taps + t) * FWD_CH + c] = co < cout ? w[co * taps + t] : 0.0f;
            }
    for (int64_t p0 = 0; p0 < l; p0 += FWD_POS)
        for (int64_t ct = 0; ct < tiles; ct++) {
            float32x4_t acc[FWD_CH][3];
            forward_tile(xs + p0, lp, wt + ct * taps * FWD_CH, taps, acc);
            for (int64_t c = 0; c < FWD_CH && ct * FWD_CH + c < cout; c++) {
                int64_t co = ct * FWD_CH + c;
                float *o = out + co * l;
                for (int64_t j = 0; j < 3 && p0 + 4 * j < l; j++) {
                    float32x4_t v = acc[c][j];
                    if (bias) v = vaddq_f32(v, vdupq_n_f32(bias[co]));
                    store_part(o + p0 + 4 * j, v, l - p0 - 4 * j);
                }
            }
        }
    return true;
}

enum { WGT_CH = 3, WGT_TAPS = 3 };

/* The partial sums of 3 output channels x 3 taps over groups [0, groups) of 8 positions, going
 * on from a: a[c][k][h] (lanes 4 h .. 4 h + 3 of a group) += g[c] * x[k], group by group. */
static inline void weight_tile(const float *const x[WGT_TAPS], const float *const g[WGT_CH],
                               int64_t groups, float32x4_t a[WGT_CH][WGT_TAPS][2]) {
    float32x4_t a000 = a[0][0][0], a001 = a[0][0][1], a010 = a[0][1][0], a011 = a[0][1][1];
    float32x4_t a020 = a[0][2][0], a021 = a[0][2][1], a100 = a[1][0][0], a101 = a[1][0][1];
    float32x4_t a110 = a[1][1][0], a111 = a[1][1][1], a120 = a[1][2][0], a121 = a[1][2][1];
    float32x4_t a200 = a[2][0][0], a201 = a[2][0][1], a210 = a[2][1][0], a211 = a[2][1][1];
    float32x4_t a220 = a[2][2][0], a221 = a[2][2][1];
    for (int64_t i = 0; i < groups * 8; i += 8) {
        float32x4_t x00 = vld1q_f32(x[0] + i), x01 = vld1q_f32(x[0] + i + 4);
        float32x4_t x10 = vld1q_f32(x[1] + i), x11 = vld1q_f32(x[1] + i + 4);
        float32x4_t x20 = vld1q_f32(x[2] + i), x21 = vld1q_f32(x[2] + i + 4);
#define CHAN(c)                                                                                    \
    {                                                                                              \
        float32x4_t g0 = vld1q_f32(g[c] + i), g1 = vld1q_f32(g[c] + i + 4);                        \
        a##c##00 = vfmaq_f32(a##c##00, g0, x00);                                                   \
        a##c##01 = vfmaq_f32(a##c##01, g1, x01);                                                   \
        a##c##10 = vfmaq_f32(a##c##10, g0, x10);                                                   \
        a##c##11 = vfmaq_f32(a##c##11, g1, x11);                                                   \
        a##c##20 = vfmaq_f32(a##c##20, g0, x20);                                                   \
        a##c##21 = vfmaq_f32(a##c##21, g1, x21);                                                   \
    }
        CHAN(0)
        CHAN(1)
        CHAN(2)
#undef CHAN
    }
    a[0][0][0] = a000, a[0][0][1] = a001, a[0][1][0] = a010, a[0][1][1] = a011;
    a[0][2][0] = a020, a[0][2][1] = a021, a[1][0][0] = a100, a[1][0][1] = a101;
    a[1][1][0] = a110, a[1][1][1] = a111, a[1][2][0] = a120, a[1][2][1] = a121;
    a[2][0][0] = a200, a[2][0][1] = a201, a[2][1][0] = a210, a[2][1][1] = a211;
    a[2][2][0] = a220, a[2][2][1] = a221;
}

enum { ONE_TAPS = 6 };

/* One output channel: tiles of up to 6 taps, each a pair of accumulators going over the groups of
 * positions (the last one from dy's zero-padded tail): weight_tile's chains for one channel. */
static void weight_one_channel(const float *xs, int64_t lp, int64_t taps, const float *dy,
                               const float *tail, int64_t l, float *acc) {
    const int64_t groups = (l + 7) / 8, full = l / 8;
    for (int64_t t0 = 0; t0 < taps; t0 += ONE_TAPS) {
        int64_t nk = taps - t0 < ONE_TAPS ? taps - t0 : ONE_TAPS;
        float32x4_t a[ONE_TAPS][2];
        for (int k = 0; k < ONE_TAPS; k++)
            a[k][0] = a[k][1] = vdupq_n_f32(0.0f);
        for (int64_t q = 0; q < groups; q++) {
            const float *g = q < full ? dy + q * 8 : tail;
            float32x4_t g0 = vld1q_f32(g), g1 = vld1q_f32(g + 4);
            for (int k = 0; k < ONE_TAPS; k++) {
                if (k >= nk) break;
                const float *x = xs + (t0 + k) * lp + q * 8;
                a[k][0] = vfmaq_f32(a[k][0], g0, vld1q_f32(x));
                a[k][1] = vfmaq_f32(a[k][1], g1, vld1q_f32(x + 4));
            }
        }
        for (int64_t k = 0; k < nk; k++) {
            float *dst = acc + (t0 + k) * 8;
            vst1q_f32(dst, vaddq_f32(vld1q_f32(dst), a[k][0]));
            vst1q_f32(dst + 4, vaddq_f32(vld1q_f32(dst + 4), a[k][1]));
        }
    }
}

bool cpu_conv_direct_weight_f32_neon(const conv_im2col *m, int64_t taps, const float *dy,
                                     int64_t cout, int64_t l, float *acc) {
    if (l <= 0 || taps <= 0 || cout <= 0) return true;
    const int64_t lp = (l + 7) / 8 * 8, full = l / 8;
    float *xs = cpu_scratch(CPU_SCRATCH_CONV_RUNS, (size_t)(taps * lp) * sizeof(float));
    if (!xs) return false;
    stage_rows(m, taps, l, lp, xs);
    if (cout == 1) { /* not 1 of 3 channels of a tile */
        float tail[8] = {0};
        memcpy(tail, dy + full * 8, (size_t)(l - full * 8) * sizeof(float));
        weight_one_channel(xs, lp, taps, dy, tail, l, acc);
        return true;
    }
    for (int64_t co0 = 0; co0 < cout; co0 += WGT_CH) {
        const float *gr[WGT_CH];
        float tail[WGT_CH][8]; /* the last group of positions when l is not a multiple of 8 */
        for (int c = 0; c < WGT_CH; c++) {
            gr[c] = dy + (co0 + c < cout ? co0 + c : cout - 1) * l;
            memset(tail[c], 0, sizeof tail[c]);
            memcpy(tail[c], gr[c] + full * 8, (size_t)(l - full * 8) * sizeof(float));
        }
        for (int64_t t0 = 0; t0 < taps; t0 += WGT_TAPS) {
            const float *xb[WGT_TAPS];
            for (int k = 0; k < WGT_TAPS; k++)
                xb[k] = xs + (t0 + k < taps ? t0 + k : taps - 1) * lp;
            /* the whole groups, then the last one with dy's tail (zeros past l): the chains go
             * on from memory with the same values */
            float32x4_t a[WGT_CH][WGT_TAPS][2];
            for (int c = 0; c < WGT_CH; c++)
                for (int k = 0; k < WGT_TAPS; k++)
                    a[c][k][0] = a[c][k][1] = vdupq_n_f32(0.0f);
            weight_tile(xb, gr, full, a);
            if (full * 8 < l) {
                const float *xt[WGT_TAPS] = {xb[0] + full * 8, xb[1] + full * 8, xb[2] + full * 8};
                const float *gt[WGT_CH] = {tail[0], tail[1], tail[2]};
                weight_tile(xt, gt, 1, a);
            }
            for (int c = 0; c < WGT_CH && co0 + c < cout; c++)
                for (int k = 0; k < WGT_TAPS && t0 + k < taps; k++) {
                    float *dst = acc + ((co0 + c) * taps + t0 + k) * 8;
                    vst1q_f32(dst, vaddq_f32(vld1q_f32(dst), a[c][k][0]));
                    vst1q_f32(dst + 4, vaddq_f32(vld1q_f32(dst + 4), a[c][k][1]));
                }
        }
    }
    return true;
}
