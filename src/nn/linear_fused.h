/* Internal: linear layers through the backend's fused entries (backend.h's linear_fused and
 * linear_weight_grad; on CUDA, cuBLASLt epilogues; on the CPU, the f32 GEMM's epilogue): the bias
 * add, and GELU-tanh when the model applies it right after the layer, in the product's epilogue,
 * and (CUDA) the bias gradient summed by the weight gradient's product. Where the entries are
 * absent or do not take the dtype or layout, the layer is born_linear (then born_gelu_tanh)
 * exactly. */
#ifndef BORN_NN_LINEAR_FUSED_H
#define BORN_NN_LINEAR_FUSED_H

#include "born/nn.h"

/* born_linear(x, weight, bias), then born_gelu_tanh when gelu_tanh is true, with autograd;
 * fused on devices that can. NULL with an error on failure. */
born_tensor *nn_linear_fused(born_tensor *x, born_tensor *weight, born_tensor *bias,
                             bool gelu_tanh);

/* The forward of module m followed by GELU-tanh (gelu_tanh true), fused as nn_linear_fused
 * when m is a Linear (src/nn/linear.c); any other module runs its forward, then born_gelu_tanh. */
born_tensor *nn_linear_act(born_module *m, born_tensor *x, bool gelu_tanh);

#endif
