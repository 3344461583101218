/* Internal: the arm64 NEON versions of the CPU's f32 elementwise, reduction and optimizer inner
 * loops (unary_neon.c, binary_neon.c, reduce_neon.c, optim_neon.c). The portable loops in
 * unary.c, binary.c, reduce.c and optim.c stay the reference; they call these only when
 * cpu_get_level() == CPU_LEVEL_NEON, so cpu_set_level(CPU_LEVEL_SCALAR) (or BORN_CPU=scalar)
 * switches back. CPU_HAVE_NEON_KERNELS says whether this build has them (arm64 only). */
#ifndef BORN_CPU_KERNELS_NEON_H
#define BORN_CPU_KERNELS_NEON_H

#include "backend/cpu/iter.h"
#include "backend/cpu/kernels_avx2.h" /* cpu_adam_f32_consts (defined on every architecture) */

#if defined(__aarch64__)
#define CPU_HAVE_NEON_KERNELS 1

/* Inner loops for f32 (cpu_loop_fn over out, in), any strides, with vmath_neon.h's math: exp,
 * log, tanh, sigmoid, relu, gelu, gelu_tanh and silu; NULL for other ops. ctx is not used. The
 * output is written with ordinary stores (no streaming variant). */
cpu_loop_fn cpu_unary_f32_neon(born_unary_op op);

/* Fused activation gradients for f32 (cpu_loop_fn over grad_in, grad_out, x, y; any strides;
 * ctx is the unary_ctx of unary.c, whose first member is the op's born_unary_params): relu,
 * leaky_relu, elu, softplus, sigmoid, tanh, silu, gelu and gelu_tanh; NULL for other ops. */
cpu_loop_fn cpu_unary_backward_f32_neon(born_unary_op op);

/* Inner loops for f32 add, sub, mul and div (out, a, b), any strides (fast for contiguous
 * operands and a broadcast scalar on either side); NULL for other ops. ctx is not used. */
cpu_loop_fn cpu_binary_f32_neon(born_binary_op op);

/* The sum of n contiguous floats with cpu_sum_f32_avx2's 32 partial sums and combining tree, so
 * its bits. */
float cpu_sum_f32_neon(const float *x, int64_t n);

/* acc[j] += ((r[0][j] + r[1][j]) + (r[2][j] + r[3][j])) + ((r[4][j] + ...) + (... + r[7][j]))
 * for j < n: eight rows of a column sum folded into its partial vector in one pass. */
void cpu_col_sum8_f32_neon(float *acc, const float *const *r, int64_t n);

/* m folded with the max (or min) of n contiguous floats; NaN wins (the first NaN is returned). */
float cpu_max_f32_neon(const float *x, int64_t n, float m);
float cpu_min_f32_neon(const float *x, int64_t n, float m);

/* One f32 Adam/AdamW update of n contiguous elements without L2 weight decay or amsgrad, with the
 * operations (and so the bits) of optim.c's portable loop (no fused multiply-adds). */
void cpu_adam_f32_neon(float *p, const float *g, float *m, float *v, int64_t n,
                       const cpu_adam_f32_consts *c);
#endif

#endif
