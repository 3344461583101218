/* Internal: fast paths behind the ONNX Conv and ConvTranspose operators (src/onnx/conv_fast.c). */
#ifndef BORN_ONNX_CONV_FAST_H
#define BORN_ONNX_CONV_FAST_H

#include "born/born.h"

/* Depthwise 2-D convolution (group == channels, one filter per channel) of x [N, C, H, W] with
 * w [C, 1, kh, kw] and optional b [C], in f32: kernel k, strides s, dilations dil, leading pads
 * pb (trailing pads are implied by out, the output's spatial size). Returns a tensor in the
 * current scope, or NULL with the error of the failing op. */
born_tensor *onnx_conv_depthwise(born_tensor *x, born_tensor *w, born_tensor *b,
                                 const int64_t *k, const int64_t *s, const int64_t *dil,
                                 const int64_t *pb, const int64_t *out);

/* ConvTranspose of x [N, C, spatial (nsp dims)] with w [C, M/group, kernel] and optional b [M],
 * in f32, as one GEMM per group and a col2im scatter; pb are the leading pads and out the output's
 * spatial size. Returns a tensor in the current scope, or NULL with the error. */
born_tensor *onnx_conv_transpose_gemm(born_tensor *x, born_tensor *w, born_tensor *b,
                                      int64_t group, int nsp, const int64_t *k, const int64_t *s,
                                      const int64_t *dil, const int64_t *pb, const int64_t *out);

#endif
