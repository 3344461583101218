/* Internal: the arm64 NEON row kernels of softmax / log-softmax (softmax_neon.c) and of layer
 * norm / RMS norm (norm_neon.c), forward and backward, for softmax.c and norm.c. Those files'
 * portable loops stay the reference; they call these only for contiguous f32 rows when
 * cpu_get_level() == CPU_LEVEL_NEON, so cpu_set_level(CPU_LEVEL_SCALAR) (or BORN_CPU=scalar)
 * switches back. CPU_HAVE_ROWS_NEON says whether this build has them (arm64 only). Each kernel
 * follows its AVX2 twin's method (the same passes, sums in f32 lanes over short chunks added in
 * double) on 4 lanes; the bits need not be AVX2's, and outputs are written with ordinary
 * stores. */
#ifndef BORN_CPU_ROWS_NEON_H
#define BORN_CPU_ROWS_NEON_H

#include <stdbool.h>
#include <stdint.h>

#if defined(__aarch64__)
#define CPU_HAVE_ROWS_NEON 1

/* softmax (or, with log_out, log_softmax) of n contiguous floats x into y (y may be x), by three
 * passes: the max, the exps and their sum, the scaling (or x - lse). next (or NULL) is the row
 * the caller will pass next, prefetched into L2 during the exp pass. */
void cpu_softmax_row_f32_neon(float *y, const float *x, int64_t n, bool log_out, const float *next);

/* The input gradient gi (gi may be g) of one contiguous row of n from grad_out g and the forward
 * output y: gi = y (g - sum g y) for softmax, g - e^y sum g for log_softmax (log_out). next_g
 * and next_y (or NULL) are the rows the caller will pass next, prefetched into L2 during the
 * second pass. */
void cpu_softmax_backward_row_f32_neon(float *gi, const float *g, const float *y, int64_t n,
                                       bool log_out, const float *next_g, const float *next_y);

/* y = (x - mean) rstd w + b (layer norm) or x rstd w (rms) over one contiguous row of n, w and
 * b NULL when absent; *mean (layer norm only) and *rstd, where not NULL, receive the row's
 * statistics as f32. The statistics are those of cpu_norm_row_f32_avx2's method (rows that it
 * sends to the portable kernel's double passes go there too); next (or NULL) is prefetched. */
void cpu_norm_row_f32_neon(float *y, float *mean, float *rstd, const float *x, int64_t n, bool rms,
                           const float *w, const float *b, double eps, const float *next);

/* One row of the backward from g, x, the forward's mean (0 for rms) and rstd, and w (or NULL):
 * dx = rstd (d - mean(d) - xhat mean(d xhat)), d = g w (rms: no mean(d) term), unless dx is NULL,
 * and pw += g xhat, pb += g where those are not NULL. next_g and next_x (or NULL) are the rows
 * the caller will pass next, prefetched into L2 during the second pass. */
void cpu_norm_backward_row_f32_neon(float *dx, const float *g, const float *x, int64_t n, bool rms,
                                    float mean, float rstd, const float *w, float *pw, float *pb,
                                    const float *next_g, const float *next_x);
#endif

#endif
