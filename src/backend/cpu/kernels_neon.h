/* Internal: the arm64 NEON versions of the CPU's f32 elementwise inner loops (unary_neon.c). The
 * portable loops in unary.c stay the reference; they call these only when cpu_get_level() ==
 * CPU_LEVEL_NEON, so cpu_set_level(CPU_LEVEL_SCALAR) (or BORN_CPU=scalar) switches back.
 * CPU_HAVE_NEON_KERNELS says whether this build has them (arm64 only). */
#ifndef BORN_CPU_KERNELS_NEON_H
#define BORN_CPU_KERNELS_NEON_H

#include "backend/cpu/iter.h"

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
#endif

#endif
