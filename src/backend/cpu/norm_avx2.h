/* Internal: the AVX2 + FMA rows of layer norm and RMS norm (norm_avx2.c) for norm.c, which stays
 * the reference (its portable loops run at CPU_LEVEL_SCALAR and for f64). Each call handles one
 * contiguous f32 row of n elements; the statistics are accumulated in double. */
#ifndef BORN_CPU_NORM_AVX2_H
#define BORN_CPU_NORM_AVX2_H

#include <stdbool.h>
#include <stdint.h>

#if defined(__x86_64__)
#define CPU_HAVE_NORM_AVX2 1

/* y = (x - mean) * rstd * w + b (layer norm) or x * rstd * w (rms), w and b NULL when absent;
 * *mean (layer norm only) and *rstd receive the row's statistics as f32. next (or NULL) is the
 * row the caller will pass next, prefetched into L2 during the write pass. With stream, y is
 * written by streaming stores (stream.h; the caller fences before its range returns). */
void cpu_norm_row_f32_avx2(float *y, float *mean, float *rstd, const float *x, int64_t n,
                           bool rms, const float *w, const float *b, double eps,
                           const float *next, bool stream);

/* Rows [0, rows) of the forward (each of n elements, row r at x + r n and y + r n; mean (NULL,
 * or for rms unused) and rstd (or NULL) indexed by row) in AVX-512 (norm_avx512.c), for
 * CPU_LEVEL_AVX512: cpu_norm_row_f32_avx2's bits for each row, the pass that writes a row run in
 * one loop with the first pass over the next, so that the next row's loads from memory overlap
 * this row's arithmetic. With stream, y as there (the caller fences). */
void cpu_norm_rows_f32_avx512(float *y, float *mean, float *rstd, const float *x, int64_t rows,
                              int64_t n, bool rms, const float *w, const float *b, double eps,
                              bool stream);

/* One row of the backward from grad_out g, x, the forward's mean (0 for rms) and rstd, and w
 * (NULL when absent): dx = rstd (d - mean(d) - xhat mean(d xhat)), d = g w, xhat = (x - mean)
 * rstd (rms: no mean(d) term), unless dx is NULL; and pw += g xhat, pb += g where those are not
 * NULL (the caller's partial sums of the parameter gradients). next_g and next_x (or NULL) are
 * the rows the caller will pass next, prefetched into L2. stream: dx as y above. */
void cpu_norm_backward_row_f32_avx2(float *dx, const float *g, const float *x, int64_t n, bool rms,
                                    float mean, float rstd, const float *w, float *pw, float *pb,
                                    const float *next_g, const float *next_x, bool stream);

/* Rows [0, rows) of the backward (each of n elements, row r at g + r n, x + r n and dx + r n;
 * mean (NULL for rms) and rstd indexed by row) in AVX-512 (norm_avx512.c), for
 * CPU_LEVEL_AVX512: cpu_norm_backward_row_f32_avx2's bits for each row, the second pass of a row
 * run in one loop with the sums of the next, so that the next row's loads from memory overlap
 * this row's arithmetic. With stream, dx as above. */
void cpu_norm_backward_rows_f32_avx512(float *dx, const float *g, const float *x, int64_t rows,
                                       int64_t n, bool rms, const float *mean, const float *rstd,
                                       const float *w, float *pw, float *pb, bool stream);

#endif

#endif
