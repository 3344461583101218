/* Internal: fast paths behind the ONNX Conv and ConvTranspose operators (src/onnx/conv_fast.c). */
#ifndef BORN_ONNX_CONV_FAST_H
#define BORN_ONNX_CONV_FAST_H

#include "born/born.h"
#include "onnx/conv_prep.h"

/* Depthwise 2-D convolution (group == channels, one filter per channel) of x [N, C, H, W] with
 * w [C, 1, kh, kw] and optional b [C], in f32: kernel k, strides s, dilations dil, leading pads
 * pb (trailing pads are implied by out, the output's spatial size), then prep's epilogue (NULL:
 * none) row by row. Returns a tensor in the current scope, or NULL with the error of the failing
 * op. */
born_tensor *onnx_conv_depthwise(born_tensor *x, born_tensor *w, born_tensor *b,
                                 const int64_t *k, const int64_t *s, const int64_t *dil,
                                 const int64_t *pb, const int64_t *out, const onnx_conv_prep *prep);

/* Conv of x [N, C, H, W] (or [N, C, 1, W] for 1-D) with prep's packed weights, optional f32 bias
 * b, symmetric pads pb, then prep's epilogue on each block while it is in cache: the bits of
 * born_conv2d followed by the epilogue. Returns a tensor in the current scope, or NULL. */
born_tensor *onnx_conv_packed(born_tensor *x, born_tensor *b, const onnx_conv_prep *prep,
                              int64_t group, const int64_t *k, const int64_t *s, const int64_t *dil,
                              const int64_t *pb, const int64_t *out);

/* ConvTranspose of x [N, C, spatial (nsp dims)] with w [C, M/group, kernel] and optional b [M],
 * in f32, as one GEMM per group and a col2im scatter; pb are the leading pads and out the output's
 * spatial size. clamp (NULL: none) is the step's fused Relu/Clip [lo, hi]: where the scatter writes
 * each output once (kernel == stride, no padding or dilation) it clamps there and sets *clamped,
 * else the caller clamps. Returns a tensor in the current scope, or NULL with the error. */
born_tensor *onnx_conv_transpose_gemm(born_tensor *x, born_tensor *w, born_tensor *b,
                                      int64_t group, int nsp, const int64_t *k, const int64_t *s,
                                      const int64_t *dil, const int64_t *pb, const int64_t *out,
                                      const float *clamp, bool *clamped);

#endif
