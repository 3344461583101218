/* Internal: packing a convolution's im2col matrix straight from the image into the f32 GEMM's
 * panels (gemm.h), so that no im2col matrix is written and copied again.
 *
 * col[t][l], tap t = (c, i, j) and output position l = (oy, ox), is
 *     valid ? img[tap_off[t] + pos_off[l]] : 0,
 *     valid = 0 <= tap_y[t] + pos_y[l] < h  and  0 <= tap_x[t] + pos_x[l] < w,
 * with tap_off = c h w + di w + dj, tap_y = di, tap_x = dj (di = i dilation - padding, dj
 * likewise), pos_off = ys w + xs, pos_y = ys, pos_x = xs (ys = oy stride, xs = ox stride). The
 * forward product reads col as its B (taps along k, positions along n); the weight gradient reads
 * it as its A (taps along m, positions along k); the input gradient adds a product's columns back
 * into the image (col2im, the adjoint). */
#ifndef BORN_CPU_CONV_PACK_H
#define BORN_CPU_CONV_PACK_H

#include <stdbool.h>
#include <stdint.h>

typedef struct conv_im2col {
    const float *img;
    const int32_t *tap_off, *tap_y, *tap_x; /* one per tap */
    const int32_t *pos_off, *pos_y, *pos_x; /* one per output position */
    int32_t h, w;
    int64_t out_w;    /* positions per output row */
    bool inside;      /* no padding: every element is valid */
    bool unit_stride; /* horizontal stride 1: a row's positions are consecutive in the image */
    uint64_t tables_id; /* nonzero: names the position tables for their lifetime (conv.c), so a
                           kernel may keep what it derives from them across calls; 0: unnamed */
} conv_im2col;

/* B panels: col rows (taps) [t0, t0 + kc), columns (positions) [l0, l0 + nl), as 16-lane panels
 * dst[panel][t][lane] (panels 16 kc floats apart, 32-byte aligned), zero past nl. */
void cpu_conv_pack_cols_f32(const conv_im2col *m, int64_t t0, int64_t kc, int64_t l0, int64_t nl,
                            float *dst);

/* A panels: col rows (taps) [t0, t0 + nt) as 6-row panels over positions [l0, l0 + kc),
 * dst[panel][l][row] (panels 6 kc floats apart), zero in the rows past nt. */
void cpu_conv_pack_taps_f32(const conv_im2col *m, int64_t t0, int64_t nt, int64_t l0, int64_t kc,
                            float *dst);

/* col2im of a strip of columns [l0, l0 + nl), nl <= 16, of col rows (taps) [t0, t0 + nt), which
 * are whole channels of khw taps: img[tap_off[t] + pos_off[l]] += src[(t - t0) src_rs + l - l0]
 * where valid. Each pixel gets its channel's taps in order, the same order at every level; img
 * has m's layout (m->img is not written) and the function touches only img[0, img_size). */
void cpu_conv_add_cols_f32(const conv_im2col *m, float *img, int64_t img_size, int64_t t0,
                           int64_t nt, int64_t khw, int64_t l0, int64_t nl, const float *src,
                           int64_t src_rs);

/* The most taps (C_in kH kW) the direct kernels below take. */
enum { CONV_DIRECT_TAPS = 16 };

#if defined(__x86_64__)
/* At CPU_LEVEL_AVX512 (conv_avx512.c): the forward's panels, 16 positions loaded at once. */
void cpu_conv_pack_cols_f32_avx512(const conv_im2col *m, int64_t t0, int64_t kc, int64_t l0,
                                   int64_t nl, float *dst);
/* The weight gradient's A: col rows (taps) [t0, t0 + nt) over positions [l0, l0 + kc) as plain
 * rows, row t at dst + t stride (stride >= kc rounded up to 16, zeros past kc), and the rows from
 * nt up to the next multiple of 6 zero: the A tiles of cpu_gemm_f32_packed_rows. */
void cpu_conv_pack_tap_rows_f32_avx512(const conv_im2col *m, int64_t t0, int64_t nt, int64_t l0,
                                       int64_t kc, float *dst, int64_t stride);
/* The input gradient's col2im strips: cpu_conv_add_cols_f32's bits where img holds no -0 (pixels
 * near the strip may get +0 added; the input gradient starts from +0, so it never holds -0). */
void cpu_conv_add_cols_f32_avx512(const conv_im2col *m, float *img, int64_t img_size, int64_t t0,
                                  int64_t nt, int64_t khw, int64_t l0, int64_t nl,
                                  const float *src, int64_t src_rs);
/* The direct kernels below at AVX-512: the same results, bit for bit, with larger tiles. The
 * weight gradient's xs is scratch of cpu_conv_direct_weight_scratch(taps, l) floats, 64-byte
 * aligned (reused across calls: no allocation per image). */
bool cpu_conv_direct_forward_f32_avx512(const conv_im2col *m, int64_t taps, const float *w,
                                        int64_t cout, const float *bias, float *out, int64_t l);
void cpu_conv_direct_weight_f32_avx512(const conv_im2col *m, int64_t taps, const float *dy,
                                       int64_t cout, int64_t l, float *acc, float *xs);
static inline int64_t cpu_conv_direct_weight_scratch(int64_t taps, int64_t l) {
    return taps * ((l + 7) / 8 * 8);
}

/* dst[i] += src[i] for i < n. */
void cpu_conv_add_f32_avx2(float *dst, const float *src, int64_t n);
/* dst[i] += w * src[i] for i < n, the product rounded before the add (no FMA): the bits of the
 * scalar loop in ISO C. */
void cpu_conv_mul_add_f32_avx2(float *dst, const float *src, float w, int64_t n);
/* out[q] = the FMA chain over taps t in order, from zero, of w[t] * img[off[t] + q], then + *bias
 * when bias is not NULL, for q < n: one output row of a single-channel convolution. */
void cpu_conv_taps_dot_f32_avx2(float *out, const float *img, const int32_t *off, const float *w,
                                int64_t taps, int64_t n, const float *bias);
void cpu_conv_pack_cols_f32_avx2(const conv_im2col *m, int64_t t0, int64_t kc, int64_t l0,
                                 int64_t nl, float *dst);
void cpu_conv_pack_taps_f32_avx2(const conv_im2col *m, int64_t t0, int64_t nt, int64_t l0,
                                 int64_t kc, float *dst);

/* Direct convolution for geometries with few taps (taps <= CONV_DIRECT_TAPS), no padding and a
 * horizontal stride of 1, where a GEMM's depth would be too small to pay for its tiles.
 * Forward: out [cout, l] = w [cout, taps] @ col (+ bias [cout] when not NULL), each output the
 * FMA chain over the taps in order from zero, then + bias: the bits the GEMM gives for depths up
 * to 256. Weight gradient: acc [cout][taps][8] += the 8-lane partial sums over the positions of
 * dy [cout, l] * col[t], lane i the FMA chain from zero over the positions 8 q + i in order of q
 * (the caller adds the lanes up). Both return false if memory is short. */
bool cpu_conv_direct_forward_f32_avx2(const conv_im2col *m, int64_t taps, const float *w,
                                      int64_t cout, const float *bias, float *out, int64_t l);
bool cpu_conv_direct_weight_f32_avx2(const conv_im2col *m, int64_t taps, const float *dy,
                                     int64_t cout, int64_t l, float *acc);
#endif

#if defined(__aarch64__)
/* At CPU_LEVEL_NEON (conv_neon.c), the same contracts as the AVX2 functions above: the packers
 * write the portable packers' bytes, the add is the scalar loop's, and the direct kernels perform
 * the AVX2 kernels' operations on each output and partial sum, so they give their bits. */
void cpu_conv_pack_cols_f32_neon(const conv_im2col *m, int64_t t0, int64_t kc, int64_t l0,
                                 int64_t nl, float *dst);
void cpu_conv_pack_taps_f32_neon(const conv_im2col *m, int64_t t0, int64_t nt, int64_t l0,
                                 int64_t kc, float *dst);
void cpu_conv_add_f32_neon(float *dst, const float *src, int64_t n);
void cpu_conv_mul_add_f32_neon(float *dst, const float *src, float w, int64_t n);
void cpu_conv_taps_dot_f32_neon(float *out, const float *img, const int32_t *off, const float *w,
                                int64_t taps, int64_t n, const float *bias);
bool cpu_conv_direct_forward_f32_neon(const conv_im2col *m, int64_t taps, const float *w,
                                      int64_t cout, const float *bias, float *out, int64_t l);
bool cpu_conv_direct_weight_f32_neon(const conv_im2col *m, int64_t taps, const float *dy,
                                     int64_t cout, int64_t l, float *acc);
#endif

#endif
