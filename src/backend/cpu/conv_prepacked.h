/* Internal: f32 2-D convolution whose weights are packed for the GEMM once and reused call after
 * call (an inference graph's constant weights), with an optional epilogue run on each block of
 * the output while it is still in cache. The ONNX executor makes one per Conv node at load.
 * The output has the bits born_conv2d gives for the same operands, before the epilogue. */
#ifndef BORN_CPU_CONV_PREPACKED_H
#define BORN_CPU_CONV_PREPACKED_H

#include <stdint.h>

#include "backend/backend.h"

typedef struct cpu_conv_weights cpu_conv_weights;

/* Packs w [out_channels, k] (k = in_channels / groups * kernel_h * kernel_w, row-major, as a
 * conv weight [M, C/g, kh, kw] lies) for groups groups. Returns NULL with an error recorded
 * when the sizes are inconsistent or memory is short. */
cpu_conv_weights *cpu_conv_weights_new(const float *w, int64_t out_channels, int64_t k,
                                       int64_t groups);

/* Also packs the weights with the output channels in vector lanes, for convolutions of one group
 * on small output planes (conv_point.h); weights of several groups are left as they are. Returns BORN_OK, or an error when memory is short (the weights stay usable). */
born_status cpu_conv_weights_pack_lanes(cpu_conv_weights *w);

/* Frees packed weights (NULL is ignored). */
void cpu_conv_weights_free(cpu_conv_weights *w);

/* The output channels the weights were packed for. */
int64_t cpu_conv_weights_out_channels(const cpu_conv_weights *w);

/* Called on finished blocks of the output: channels [ch0, ch0 + nch) of one image, ncols
 * consecutive output positions from out, rows rs floats apart. It may run on any pool thread. */
typedef void (*cpu_conv_epilogue_fn)(void *ctx, int64_t ch0, int64_t nch, float *out, int64_t rs,
                                     int64_t ncols);

/* Elementwise operations on every output, in order (the ONNX executor's fused Relu/Clip and
 * Mul/Add/HardSwish chain): CLAMP to [v[0], v[1]], MUL by v[0], ADD v[0], HSWISH
 * x * clamp(x + v[0], v[1], v[2]) / v[3]; each rounded to f32 (conv_ep_avx2.h). */
enum { CPU_CONV_EP_CLAMP = 0, CPU_CONV_EP_MUL = 1, CPU_CONV_EP_ADD = 2, CPU_CONV_EP_HSWISH = 3 };
typedef struct cpu_conv_ep_ops {
    int n;
    const int *kind;
    const float (*v)[4];
} cpu_conv_ep_ops;

/* out [N, M, oh, ow] = conv(in [N, C, H, W], packed w) + bias [M] (NULL: none), then ep(ep_ctx,
 * ...) over every output element exactly once (ep NULL: none). g must match the weights'
 * out_channels, k and groups (else an error). Threads over the pool as born_conv2d does. */
born_status cpu_conv2d_f32_prepacked(float *out, const float *in, const cpu_conv_weights *w,
                                     const float *bias, const born_conv2d_geometry *g,
                                     cpu_conv_epilogue_fn ep, void *ep_ctx);

/* The same with the epilogue described as operations: where the direct tile kernels run they
 * apply ops to each tile in registers before storing it, elsewhere ep(ep_ctx, ...) is called as
 * above, so ep must compute exactly what ops describes (ops NULL or empty: ep alone). */
born_status cpu_conv2d_f32_prepacked_ops(float *out, const float *in, const cpu_conv_weights *w,
                                         const float *bias, const born_conv2d_geometry *g,
                                         const cpu_conv_ep_ops *ops, cpu_conv_epilogue_fn ep,
                                         void *ep_ctx);

#endif
