/* Internal: the CPU backend's kernels, one file per family; cpu_backend.c puts them in the
 * vtable. Each has the contract of the matching born_backend entry (src/backend/backend.h). */
#ifndef BORN_CPU_KERNELS_H
#define BORN_CPU_KERNELS_H

#include "backend/backend.h"
#include "backend/cpu/iter.h"

born_status cpu_copy(const born_strided *dst, const born_strided *src);
born_status cpu_fill(const born_strided *dst, double value);
born_status cpu_unary(born_unary_op op, const born_strided *out, const born_strided *in,
                      const born_unary_params *params);
/* The inner loop that cpu_unary runs over contiguous f32 for op (one without parameters) at this
 * CPU level, or NULL where there is none. cpu_unary_f32_run applies it to n floats (out may be
 * in) on the calling thread: an epilogue over a block still in cache gets cpu_unary's bits. */
cpu_loop_fn cpu_unary_f32_loop(born_unary_op op);
void cpu_unary_f32_run(cpu_loop_fn loop, float *out, const float *in, int64_t n);
/* The same for the fused gradient (cpu_unary_backward's f32 loop for op): the _run applies it to
 * n floats, grad_in = g f'(x) (tanh and sigmoid read y, the others x). */
cpu_loop_fn cpu_unary_backward_f32_loop(born_unary_op op);
void cpu_unary_backward_f32_run(cpu_loop_fn loop, float *grad_in, const float *g, const float *x,
                                const float *y, int64_t n);
born_status cpu_unary_backward(born_unary_op op, const born_strided *grad_in,
                               const born_strided *grad_out, const born_strided *x,
                               const born_strided *y, const born_unary_params *params);
born_status cpu_binary(born_binary_op op, const born_strided *out, const born_strided *a,
                       const born_strided *b);
born_status cpu_where(const born_strided *out, const born_strided *cond, const born_strided *a,
                      const born_strided *b);
born_status cpu_reduce(born_reduce_op op, const born_strided *out, const born_strided *in,
                       uint32_t dims_mask);
born_status cpu_arg_reduce(bool is_max, const born_strided *out, const born_strided *in, int dim);
born_status cpu_softmax(bool log, const born_strided *out, const born_strided *in, int dim);
born_status cpu_softmax_backward(bool log, const born_strided *grad_in,
                                 const born_strided *grad_out, const born_strided *y, int dim);
born_status cpu_cumsum(const born_strided *out, const born_strided *in, int dim);
born_status cpu_matmul(const born_strided *out, const born_strided *a, const born_strided *b);
/* The backend's matmul_bf16_bias (2-D): out = a b + bias rounded once to bf16 (matmul.c). */
born_status cpu_matmul_bf16_bias(const born_strided *out, const born_strided *a,
                                 const born_strided *b, const float *bias);
/* The backend's linear_fused (linear_fused.c) for f32; BORN_ERR_UNSUPPORTED (no error recorded)
 * for other dtypes, which the ops layer composes. */
born_status cpu_linear_fused(const born_strided *out, const born_strided *pre,
                             const born_strided *x, const born_strided *w,
                             const born_strided *bias, bool gelu_tanh);
born_status cpu_gather(const born_strided *out, const born_strided *in, const born_strided *index,
                       int dim);
born_status cpu_scatter_add(const born_strided *out, const born_strided *index,
                            const born_strided *src, int dim);
born_status cpu_index_select(const born_strided *out, const born_strided *in,
                             const born_strided *index, int dim);
born_status cpu_index_add(const born_strided *out, const born_strided *index,
                          const born_strided *src, int dim);
born_status cpu_sort(const born_strided *values, const born_strided *indices,
                     const born_strided *in, int dim, bool descending);
born_status cpu_topk(const born_strided *values, const born_strided *indices,
                     const born_strided *in, int64_t k, int dim, bool largest, bool sorted);
born_status cpu_conv2d(const born_strided *out, const born_strided *in, const born_strided *weight,
                       const born_strided *bias, const born_conv2d_geometry *g);
born_status cpu_conv2d_backward_input(const born_strided *grad_in, const born_strided *grad_out,
                                      const born_strided *weight, const born_conv2d_geometry *g);
born_status cpu_conv2d_backward_weight(const born_strided *grad_weight,
                                       const born_strided *grad_out, const born_strided *in,
                                       const born_conv2d_geometry *g);
born_status cpu_max_pool2d(const born_strided *out, const born_strided *indices,
                           const born_strided *in, const born_pool2d_geometry *g);
born_status cpu_max_pool2d_backward(const born_strided *grad_in, const born_strided *grad_out,
                                    const born_strided *indices, const born_pool2d_geometry *g);
born_status cpu_avg_pool2d(const born_strided *out, const born_strided *in,
                           const born_pool2d_geometry *g);
born_status cpu_avg_pool2d_backward(const born_strided *grad_in, const born_strided *grad_out,
                                    const born_pool2d_geometry *g);
born_status cpu_random(const born_strided *out, born_random_kind kind, uint64_t seed,
                       uint64_t offset, double a, double b);
born_status cpu_sgd_step(const born_strided *param, const born_strided *grad,
                         const born_strided *momentum_buffer,
                         const born_sgd_step_args *args);
born_status cpu_adam_step(const born_strided *param, const born_strided *grad,
                          const born_strided *exp_avg, const born_strided *exp_avg_sq,
                          const born_strided *max_exp_avg_sq,
                          const born_adam_step_args *args);
born_status cpu_rmsprop_step(const born_strided *param, const born_strided *grad,
                             const born_strided *square_avg, const born_strided *grad_avg,
                             const born_strided *momentum_buffer,
                             const born_rmsprop_step_args *args);
born_status cpu_row_norm(bool rms, const born_strided *out, const born_strided *mean,
                         const born_strided *rstd, const born_strided *x,
                         const born_strided *weight, const born_strided *bias, double eps);
born_status cpu_row_norm_backward(bool rms, const born_strided *grad_x,
                                  const born_strided *grad_out, const born_strided *x,
                                  const born_strided *mean, const born_strided *rstd,
                                  const born_strided *weight);
born_status cpu_row_norm_grads(bool rms, const born_strided *grad_x,
                               const born_strided *grad_weight, const born_strided *grad_bias,
                               const born_strided *grad_out, const born_strided *x,
                               const born_strided *mean, const born_strided *rstd,
                               const born_strided *weight);
born_status cpu_batch_norm(const born_strided *out, const born_strided *mean,
                           const born_strided *var, const born_strided *x,
                           const born_strided *weight, const born_strided *bias, double eps);
born_status cpu_batch_norm_backward(const born_strided *grad_x, const born_strided *grad_weight,
                                    const born_strided *grad_bias, const born_strided *grad_out,
                                    const born_strided *x, const born_strided *mean,
                                    const born_strided *var, const born_strided *weight,
                                    double eps);
born_status cpu_linear_quant(const born_strided *out, const born_strided *x, const born_strided *w,
                             const born_strided *bias);
/* cpu_linear_quant for count (1..CPU_LINEAR_GROUP_MAX) weights of one quantized dtype and input
 * width over the same x: x quantized once, every weight's tasks in one parallel loop (biases and
 * its entries may be NULL). The outputs are those of one call per weight, bit for bit. */
#define CPU_LINEAR_GROUP_MAX 4
born_status cpu_linear_quant_group(int count, const born_strided *const *outs, const born_strided *x,
                                   const born_strided *const *ws, const born_strided *const *biases);
born_status cpu_attention(const born_strided *out, const born_strided *lse, const born_strided *q,
                          const born_strided *k, const born_strided *v, const born_strided *mask,
                          const born_attention_args *args);
born_status cpu_attention_backward(const born_strided *dq, const born_strided *dk,
                                   const born_strided *dv, const born_strided *grad_out,
                                   const born_strided *q, const born_strided *k,
                                   const born_strided *v, const born_strided *mask,
                                   const born_strided *out, const born_strided *lse,
                                   const born_attention_args *args);

#endif
