/* Internal: the forward and the input gradient of depthwise f32 convolutions (one input and one
 * output channel per group, the MobileNet layer) at stride 1, where the general path's products
 * are one output channel deep and cost more than the sums they compute. */
#ifndef BORN_CPU_CONV_DEPTHWISE_H
#define BORN_CPU_CONV_DEPTHWISE_H

#include <stdbool.h>

#include "backend/backend.h"
#include "born/born.h"

/* Whether the functions below take g: as many groups as input and output channels, stride 1, not
 * 1x1, at most 256 taps, planes whose padded size fits in 32 bits. */
bool cpu_conv_depthwise_takes(const born_conv2d_geometry *g);

/* out [N, C, oh, ow] = the convolution of in [N, C, H, W] with weight [C, 1, kh, kw] (+ bias [C]
 * when not NULL), all contiguous: each output the FMA chain over its taps in order from zero,
 * then + bias, the general path's bits (for at most 256 taps, as cpu_conv_depthwise_takes
 * requires). BORN_ERR_MEMORY if scratch cannot be had. */
born_status cpu_conv_depthwise_forward_f32(float *out, const float *in, const float *weight,
                                           const float *bias, const born_conv2d_geometry *g);

/* grad_in [N, C, H, W] = the input gradient of grad_out [N, C, oh, ow] through weight [C, 1, kh,
 * kw] (contiguous): each pixel's terms w[t] * dY (each product rounded) added from zero in tap
 * order, col2im's order, so the general path's bits at every level. BORN_ERR_MEMORY if scratch
 * cannot be had. */
born_status cpu_conv_depthwise_backward_input_f32(float *grad_in, const float *grad_out,
                                                  const float *weight,
                                                  const born_conv2d_geometry *g);

#endif
