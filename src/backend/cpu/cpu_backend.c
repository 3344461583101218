/* The CPU backend's vtable: 64-byte-aligned host memory from the caching allocator
 * (allocator.c) and the kernels of src/backend/cpu/. */
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/allocator.h"
#include "backend/cpu/cpu_kernels.h"

static void *cpu_alloc(int device_index, size_t nbytes) {
    (void)device_index;
    return cpu_mem_alloc(nbytes);
}

static void cpu_free(int device_index, void *ptr) {
    (void)device_index;
    cpu_mem_free(ptr);
}

static born_status cpu_memcpy(int device_index, void *dst, const void *src, size_t nbytes) {
    (void)device_index;
    memcpy(dst, src, nbytes);
    return BORN_OK;
}

static born_status cpu_synchronize(int device_index) {
    (void)device_index;
    return BORN_OK;
}

static const born_backend cpu = {
    .name = "cpu",
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_memcpy,
    .download = cpu_memcpy,
    .synchronize = cpu_synchronize,
    .copy = cpu_copy,
    .fill = cpu_fill,
    .unary = cpu_unary,
    .binary = cpu_binary,
    .where = cpu_where,
    .reduce = cpu_reduce,
    .arg_reduce = cpu_arg_reduce,
    .reduce_half_in = true,
    .binary_half_operand = true,
    .softmax = cpu_softmax,
    .softmax_backward = cpu_softmax_backward,
    .cumsum = cpu_cumsum,
    .matmul = cpu_matmul,
    .matmul_bf16_in = true,
    .matmul_f16_in = true,
    .matmul_bf16_out = true,
    .matmul_bf16_bias = cpu_matmul_bf16_bias,
    .linear_fused = cpu_linear_fused,
    .gather = cpu_gather,
    .scatter_add = cpu_scatter_add,
    .index_select = cpu_index_select,
    .index_add = cpu_index_add,
    .sort = cpu_sort,
    .topk = cpu_topk,
    .conv2d = cpu_conv2d,
    .conv2d_backward_input = cpu_conv2d_backward_input,
    .conv2d_backward_weight = cpu_conv2d_backward_weight,
    .max_pool2d = cpu_max_pool2d,
    .max_pool2d_backward = cpu_max_pool2d_backward,
    .avg_pool2d = cpu_avg_pool2d,
    .avg_pool2d_backward = cpu_avg_pool2d_backward,
    .random = cpu_random,
    .sgd_step = cpu_sgd_step,
    .adam_step = cpu_adam_step,
    .rmsprop_step = cpu_rmsprop_step,
    .row_norm = cpu_row_norm,
    .row_norm_backward = cpu_row_norm_backward,
    .unary_backward = cpu_unary_backward,
    .linear_quant = cpu_linear_quant,
    .attention = cpu_attention,
    .attention_backward = cpu_attention_backward,
    .attention_half = true,
    .row_norm_grads = cpu_row_norm_grads,
    .batch_norm = cpu_batch_norm,
    .batch_norm_backward = cpu_batch_norm_backward,
};

const born_backend *cpu_backend(void) { return &cpu; }
