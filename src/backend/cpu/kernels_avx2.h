/* Internal: the AVX2 + FMA versions of the CPU's elementwise, reduction and softmax inner loops
 * (unary_avx2.c, reduce_avx2.c, softmax_avx2.c). The portable loops in unary.c, binary.c,
 * reduce.c and softmax.c stay the reference; they call these only when cpu_get_level() >=
 * CPU_LEVEL_AVX2, so cpu_set_level(CPU_LEVEL_SCALAR) (or BORN_CPU=scalar) switches back.
 * CPU_HAVE_AVX2_KERNELS says whether this build has them (x86-64 only). */
#ifndef BORN_CPU_KERNELS_AVX2_H
#define BORN_CPU_KERNELS_AVX2_H

#include <stddef.h>

#include "backend/cpu/iter.h"

/* The scalars of f32 Adam (optim.c's adam_c_f32 without the L2 and amsgrad ones), for
 * cpu_adam_f32_avx2 and, on arm64, cpu_adam_f32_neon (kernels_neon.h): plain C, so defined on
 * every architecture. */
typedef struct cpu_adam_f32_consts {
    float decay, coef1, b2, omb2, bc2s, eps, neg_step;
    bool small_w1, maximize;
} cpu_adam_f32_consts;

#if defined(__x86_64__)
#define CPU_HAVE_AVX2_KERNELS 1

/* Inner loops for f32 (cpu_loop_fn over out, in), any strides; NULL for ops without one
 * (exp, log, tanh, sigmoid, relu, gelu, gelu_tanh and silu have one). ctx is not used. With
 * stream, contiguous runs whose output is 32-byte aligned are written with streaming stores
 * (stream.h), fenced before return; the bits are those without stream. */
cpu_loop_fn cpu_unary_f32_avx2(born_unary_op op, bool stream);

/* Fused activation gradients for f32 (cpu_loop_fn over grad_in, grad_out, x, y; any strides;
 * ctx is the unary_ctx of unary.c, whose first member is the op's born_unary_params): relu,
 * leaky_relu, elu, softplus, sigmoid, tanh, silu, gelu and gelu_tanh; NULL for other ops.
 * stream as for cpu_unary_f32_avx2. */
cpu_loop_fn cpu_unary_backward_f32_avx2(born_unary_op op, bool stream);

/* The AVX-512 loops (unary_avx512.c) for CPU_LEVEL_AVX512, same contracts and the same bits as
 * the two above; NULL where an op has none there (the caller then takes the AVX2 loop). */
cpu_loop_fn cpu_unary_f32_avx512(born_unary_op op, bool stream);
cpu_loop_fn cpu_unary_backward_f32_avx512(born_unary_op op, bool stream);

/* Inner loops for f32 add, sub, mul and div (out, a, b), any strides (fast for contiguous
 * operands and a broadcast scalar on either side); NULL for other ops. ctx is not used. */
cpu_loop_fn cpu_binary_f32_avx2(born_binary_op op);

/* The sum of n contiguous floats, in an order fixed by n alone (32 partial sums: 8 lanes of
 * each quarter of the run). */
float cpu_sum_f32_avx2(const float *x, int64_t n);

/* acc[j] += ((r[0][j] + r[1][j]) + (r[2][j] + r[3][j])) + ((r[4][j] + ...) + (... + r[7][j]))
 * for j < n: eight rows of a column sum folded into its partial vector in one pass. ahead (or 0)
 * is the distance in bytes from each row to the one the caller folds after it, which is
 * prefetched into L2 over the same columns. */
void cpu_col_sum8_f32_avx2(float *acc, const float *const *r, int64_t n, ptrdiff_t ahead);

/* m folded with the max (or min) of n contiguous floats; NaN wins (the first NaN is returned). */
float cpu_max_f32_avx2(const float *x, int64_t n, float m);
float cpu_min_f32_avx2(const float *x, int64_t n, float m);

/* softmax (or log_softmax) of n contiguous floats x into y (y may be x). next (or NULL) is the
 * row the caller will pass next: it is prefetched into L2 while this row's exps are computed, so
 * that the memory is busy while the arithmetic runs. */
void cpu_softmax_row_f32_avx2(float *y, const float *x, int64_t n, bool log, const float *next);

/* The state of a chunk's streamed softmax rows: the row whose output is still to be written
 * (y NULL: none; y = src a, or src - a - b for log_softmax) and two scratch rows of n floats
 * for softmax's exps (NULL for log_softmax). Start from {0} with log and scratch set. */
typedef struct cpu_softmax_stream {
    float *y;
    const float *src;
    float a, b;
    int64_t n;
    bool log;
    float *scratch[2];
    int cur;
} cpu_softmax_stream;

/* One row of cpu_softmax_row_f32_avx2 with its output written by streaming stores (stream.h;
 * the caller fences): the row's max and exps are taken while the previous row's output, pending
 * in st, is written (so the writes overlap the arithmetic instead of following it), and this row
 * becomes the pending one. Rows of one state have the same n. The bits are those of
 * cpu_softmax_row_f32_avx2. */
void cpu_softmax_row_stream_f32_avx2(cpu_softmax_stream *st, float *y, const float *x, int64_t n,
                                     const float *next);

/* Writes the pending row of st, if any. */
void cpu_softmax_stream_flush_f32_avx2(cpu_softmax_stream *st);

/* cpu_softmax_row_f32_avx2, cpu_softmax_row_stream_f32_avx2 and
 * cpu_softmax_stream_flush_f32_avx2 in AVX-512 (softmax_avx512.c), for CPU_LEVEL_AVX512: the
 * same bits. */
void cpu_softmax_row_f32_avx512(float *y, const float *x, int64_t n, bool log, const float *next);
void cpu_softmax_row_stream_f32_avx512(cpu_softmax_stream *st, float *y, const float *x, int64_t n,
                                       const float *next);
void cpu_softmax_stream_flush_f32_avx512(cpu_softmax_stream *st);

/* The input gradient of one contiguous row from grad_out g and the forward output y (gi may be
 * g), written by streaming stores if stream (stream.h; the caller fences). next_g and next_y (or
 * NULL) are the rows the caller will pass next, prefetched into L2. */
void cpu_softmax_backward_row_f32_avx2(float *gi, const float *g, const float *y, int64_t n,
                                       bool log, bool stream, const float *next_g,
                                       const float *next_y);

/* cpu_softmax_backward_row_f32_avx2 in AVX-512 (softmax_avx512.c), for CPU_LEVEL_AVX512: the
 * same bits. */
void cpu_softmax_backward_row_f32_avx512(float *gi, const float *g, const float *y, int64_t n,
                                         bool log, bool stream, const float *next_g,
                                         const float *next_y);

/* One f32 Adam/AdamW update of n contiguous elements without L2 weight decay or amsgrad, with the
 * operations (and so the bits) of optim.c's portable loop. */
void cpu_adam_f32_avx2(float *p, const float *g, float *m, float *v, int64_t n,
                       const cpu_adam_f32_consts *c);

/* f32 max pooling of one plane with 2x2 windows at stride 2, all inside the plane (row length w,
 * oh x ow outputs, plane under 2^30 cells): out, and idx the flat offset of each window's first
 * maximum (a NaN takes over), as the portable kernel in pool.c. */
void cpu_max_pool_2x2_f32_avx2(const float *in, float *out, int64_t *idx, int64_t w, int64_t oh,
                               int64_t ow);

/* Its backward for one h x w plane: writes every cell of gi (0 + grad_out at each window's
 * index, 0 elsewhere) in one pass. Returns false, having written part of gi, if an index lies
 * outside its own window (then the caller's generic scatter must redo the plane). */
bool cpu_max_pool_2x2_backward_f32_avx2(float *gi, const float *go, const int64_t *idx, int64_t h,
                                        int64_t w, int64_t oh, int64_t ow);

/* f32 average pooling of one plane whose windows all lie inside it (no padding; row length w,
 * oh x ow outputs, kh x kw windows at strides sh and sw, sw under 2^28): out[y ow + x] = the
 * window's cells added from 0 in row-major order, divided by divisor, as the portable loop in
 * pool.c computes it (so its bits), eight outputs at a time. */
void cpu_avg_pool_inside_f32_avx2(const float *in, float *out, int64_t w, int64_t oh, int64_t ow,
                                  int64_t kh, int64_t kw, int64_t sh, int64_t sw, float divisor);

#endif

#endif
