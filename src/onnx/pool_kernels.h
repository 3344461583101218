/* Internal: the pooling operators' per-instruction-set kernels (src/onnx/ops_nn.c picks one). */
#ifndef BORN_ONNX_POOL_KERNELS_H
#define BORN_ONNX_POOL_KERNELS_H

#include <stdint.h>

#if defined(__x86_64__)
/* The sum of x[0..n) in double: 16 partial sums (four vectors of four doubles, each float widened
 * exactly), added pairwise at the end; GlobalAveragePool's plane sums. */
double onnx_sum_f64_avx2(const float *x, int64_t n);
#define ONNX_HAVE_POOL_AVX2 1
#endif

#endif
