/* Internal: direct f32 convolution with prepacked weights (src/backend/cpu/conv_direct_avx2.c),
 * for stride-1 geometries whose input is already zero-padded (or needs no padding): no im2col
 * panels are packed. A tile of 6 output channels x 16 output positions stays in 12 AVX2
 * registers while the kernel walks the taps; the 16 positions are consecutive in the input
 * plane's own row layout ("gapped" positions oy wp + ox, ox < wp, where the columns ox >= ow are
 * computed and thrown away), so every tap reads them as two unaligned vector loads at
 * in + position + tap_off[tap].
 *
 * The arithmetic is the packed GEMM's (gemm.h, cpu_gemm_f32_packed with C preset to the bias):
 * per k block of cpu_gemm_f32_kc(k) taps an FMA chain from zero in tap order, then added to the
 * running value (the bias, or nothing for the first block without one), so the outputs have the
 * bits of born_conv2d. */
#ifndef BORN_CPU_CONV_DIRECT_H
#define BORN_CPU_CONV_DIRECT_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/cpu/conv_prepacked.h"

enum { CONV_DIRECT_TILE = 16 };

typedef struct conv_direct {
    const float *in;        /* one image: every input channel, planes of hp x wp floats */
    const float *apack;     /* weights as cpu_gemm_f32_pack_a packs [m, k] */
    const float *bias;      /* [m], or NULL */
    const int32_t *tap_off; /* per tap (c, i, j): c hp wp + i dil_h wp + j dil_w */
    int64_t m, k;           /* output channels, taps */
    int64_t wp, oh, ow;     /* the input's row width; the output's size */
    float *out;             /* [m, oh ow] */
    cpu_conv_epilogue_fn ep; /* on each finished block (NULL: none) */
    void *ep_ctx;
    const cpu_conv_ep_ops *ops; /* applied to each tile's registers before the store (NULL:
                                   none); ep is then not called */
    int64_t q0, q1; /* the panels of 6 output channels to compute, [q0, q1) (q1 0: all) */
    bool chunked;   /* a 2-D kernel (3x3 and up, both sides > 1) read in place: a few panels over
                       a few tiles at a time, each k block over all of them while its input lines
                       are in cache; else (1x1, 1-D) each panel over a group of tiles */
} conv_direct;

/* The number of 16-position tiles of the gapped output: ceil(((oh - 1) wp + ow) / 16). */
static inline int64_t cpu_conv_direct_tiles(const conv_direct *d) {
    int64_t lg = (d->oh - 1) * d->wp + d->ow;
    return d->oh > 0 && d->ow > 0 ? (lg + CONV_DIRECT_TILE - 1) / CONV_DIRECT_TILE : 0;
}

/* out [batch, m, oh ow] from in [batch, ...] (images in_stride and out_stride floats apart) with
 * d's weights, taps and epilogue (its in and out ignored), spread over the thread pool in chunks
 * of about min_macs multiply-adds or more (one chunk when the whole is less), their number a
 * multiple of the thread count: ranges of tiles where there are many, else ranges of output
 * channel panels over all tiles (small planes). Each output is computed alike either way. */
void cpu_conv_direct_run(const conv_direct *d, const float *in, float *out, int64_t batch,
                         int64_t in_stride, int64_t out_stride, int64_t min_macs);

#if defined(__x86_64__)
/* Tiles [t0, t1), output channel panels [q0, q1) (all when q1 is 0): each output element written (and passed to ep) once. The
 * last tile reads with masks, so nothing past the input's last element is touched. */
void cpu_conv_direct_f32_avx2(const conv_direct *d, int64_t t0, int64_t t1);
#endif

#endif
