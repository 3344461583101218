/* Internal: general matrix multiply on the CPU, the routine that matmul, linear, bmm and
 * convolution all go through.
 *
 *   C = alpha * A B + beta * C,   A: m x k, B: k x n, C: m x n
 *
 * Every matrix is given by a pointer and a row stride and a column stride in elements, so any
 * transposed or strided view is accepted without copying (packing absorbs the layout). beta == 0
 * means C is only written, never read (it may hold garbage or NaN). The routine threads itself
 * over the pool unless it is already running inside a parallel_for. */
#ifndef BORN_CPU_GEMM_H
#define BORN_CPU_GEMM_H

#include <stdint.h>

void cpu_gemm_f32(int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t a_rs,
                  int64_t a_cs, const float *b, int64_t b_rs, int64_t b_cs, float beta, float *c,
                  int64_t c_rs, int64_t c_cs);

void cpu_gemm_f64(int64_t m, int64_t n, int64_t k, double alpha, const double *a, int64_t a_rs,
                  int64_t a_cs, const double *b, int64_t b_rs, int64_t b_cs, double beta,
                  double *c, int64_t c_rs, int64_t c_cs);

#endif
