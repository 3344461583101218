/* Internal: the Conv epilogue's per-instruction-set kernels (src/onnx/conv_prep.c picks one). */
#ifndef BORN_ONNX_CONV_FAST_KERNELS_H
#define BORN_ONNX_CONV_FAST_KERNELS_H

#include <stdint.h>

/* Operations: the clamp of a fused Relu/Clip (v[0] lo, v[1] hi), then the plan's EP_MUL, EP_ADD,
 * EP_HSWISH (plan.h, same numbers). */
enum { CONV_EP_CLAMP = 0, CONV_EP_MUL = 1, CONV_EP_ADD = 2, CONV_EP_HSWISH = 3 };

/* One plane of a depthwise convolution over a zero-padded input: y [oh, ow] = bias + sum over
 * taps (i, j) of w[i kw + j] x[(oy sh + i dh) xrs + ox sw + j dw], then the epilogue operations.
 * x must have 16 readable floats past the last tap of every row (the padding's slack). */
typedef struct onnx_dw_plane {
    const float *x, *w;
    float *y, bias;
    int64_t xrs, oh, ow, kh, kw, sh, sw, dh, dw;
    int nops;
    const int *kind;
    const float (*v)[4];
} onnx_dw_plane;

/* Up to 8 channels of a depthwise convolution at once, channels in the vector lanes (narrow planes,
 * where a plane's rows fill vectors poorly): x [nc planes of h x w], w [nc, kh kw], bias [nc] or
 * NULL, y [nc planes of oh x ow]; the same arithmetic as onnx_dw_plane (the bias, then one FMA per
 * tap in row-major order, padding taps multiplying zeros). scratch holds hp wp 8 + kh kw 8 floats,
 * hp = (oh - 1) sh + (kh - 1) dh + 1, wp = (ow - 1) sw + (kw - 1) dw + 1. */
typedef struct onnx_dw_block {
    const float *x, *w, *bias;
    float *y, *scratch;
    int nc;
    int64_t h, w_in, ph, pw, oh, ow, kh, kw, sh, sw, dh, dw;
    int nops;
    const int *kind;
    const float (*v)[4];
} onnx_dw_block;

#if defined(__x86_64__)
/* The channel block with AVX2 FMAs. */
void onnx_dw_block_avx2(const onnx_dw_block *b);
/* The plane with AVX2 FMAs: sw must be 1 or 2 and kh kw at most 49. */
void onnx_dw_plane_avx2(const onnx_dw_plane *p);
/* The nops operations in order on nrows rows of ncols floats, rows rs apart, in place. */
void onnx_conv_ep_rows_avx2(int nops, const int *kind, const float (*v)[4], float *y, int64_t rs,
                            int64_t nrows, int64_t ncols);
#define ONNX_HAVE_EP_AVX2 1
#endif

#endif
