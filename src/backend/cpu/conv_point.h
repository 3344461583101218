/* Internal: convolutions of one group on small output planes with the output channels in the
 * vector lanes (src/backend/cpu/conv_point_avx2.c). The tile kernel of conv_direct.h puts 16
 * positions in the lanes, which a small plane leaves partly empty (5x5: 25 positions in 32 lanes;
 * the squeeze-and-excitation 1x1 planes and Silero's 1-D frames: 1-4 in 16); here a tile is 16
 * output channels x up to 6 positions in 12 AVX2 registers, the weights read as two vectors per
 * tap from panels [k][16] packed at load (cpu_conv_weights_pack_lanes) and each position's input
 * broadcast, so any number of positions fits without waste. Any kernel, stride and dilation: a
 * position's taps are read at in + pos_off[position] + tap_off[tap] of an input already padded
 * (1x1 with stride 1 needs no tables).
 *
 * The arithmetic is the packed GEMM's (gemm.h): per k block of cpu_gemm_f32_kc(k) taps an FMA
 * chain from zero in tap order, then added to the running value (the bias, or nothing for the
 * first block without one), so the outputs have the bits of born_conv2d. */
#ifndef BORN_CPU_CONV_POINT_H
#define BORN_CPU_CONV_POINT_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/cpu/conv_prepacked.h"

enum { CONV_POINT_LANES = 16, CONV_POINT_ROWS = 6 };

typedef struct conv_point {
    const float *in;    /* one image: [k, l] for a 1x1 without tables, else the padded input */
    const float *wpack; /* panels of 16 output channels, each [k][16] (lanes past m zero) */
    const float *bias;  /* [m], or NULL */
    const int32_t *tap_off; /* per tap (c, i, j): c hp wp + i dil_h wp + j dil_w; NULL: 1x1 */
    const int32_t *pos_off; /* per output position (oy, ox): oy s_h wp + ox s_w (with tap_off) */
    int64_t m, k, l;        /* output channels, taps, output positions */
    int64_t in_stride;      /* floats between images of the input */
    float *out;         /* one image [m, l] */
    const cpu_conv_ep_ops *ops; /* applied to each tile's registers before the store, or NULL */
    cpu_conv_epilogue_fn ep;    /* else called on each finished panel's run (NULL: none) */
    void *ep_ctx;
} conv_point;

/* out [batch, m, l] from in [batch, k, l] with d's weights and epilogue (its in and out ignored),
 * spread over the thread pool in about total / min_macs chunks (a multiple of the thread count):
 * ranges of output-channel panels, or of positions when there are fewer panels than chunks. Each
 * output is computed alike either way. */
void cpu_conv_point_run(const conv_point *d, const float *in, float *out, int64_t batch,
                        int64_t min_macs);

/* Whether geometry g (batch, channels, sizes, kernel, stride, padding, dilation, groups) should
 * take this kernel rather than the tile kernels of conv_direct.h: one group, and fewer wasted
 * lanes by the measured rule in conv_point.c. The caller checks that the CPU has AVX2. */
bool cpu_conv_point_takes(const born_conv2d_geometry *g);

/* w [m, k] (row-major) as panels of 16 output channels [k][16], zeros past m, 32-byte aligned;
 * free() releases it. NULL when memory is short. */
float *cpu_conv_point_pack(const float *w, int64_t m, int64_t k);

/* out [batch, m, oh, ow] = conv(in [batch, c, h, w], lanes from cpu_conv_point_pack) + bias (NULL:
 * none), then ops on each tile's registers, or else ep over each finished panel (NULL: none); the
 * bits of born_conv2d. Pads a copy of the input when g has padding. Only on AVX2 CPUs. */
born_status cpu_conv2d_point(float *out, const float *in, const float *bias,
                             const born_conv2d_geometry *g, const float *lanes,
                             const cpu_conv_ep_ops *ops, cpu_conv_epilogue_fn ep, void *ep_ctx,
                             int64_t min_macs);

#if defined(__x86_64__)
/* Output channel panels [q0, q1) at positions [p0, p1) of one image; each output element written
 * once (and, without ops, passed to ep once). */
void cpu_conv_point_f32_avx2(const conv_point *d, int64_t q0, int64_t q1, int64_t p0, int64_t p1);
#endif

#endif
