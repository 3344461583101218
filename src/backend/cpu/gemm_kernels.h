/* Internal: the pieces of the CPU GEMM (src/backend/cpu/gemm.c) that have one version per
 * instruction set. gemm.c owns the blocking, packing and threading and picks these at run time
 * (cpu_get_level); the AVX2 versions live in gemm_avx2.c, the only file compiled with AVX2, and
 * the arm64 ones in gemm_neon.c (the micro-kernel) and gemv_neon.c (the GEMV loops).
 *
 * Micro-kernel contract: `a` holds kc steps of an MR-row micro-panel of A (MR values per step,
 * zero-padded to the full tile, 64-byte aligned). `b` points at the NR values of B for the first
 * step and each further step's values start b_step bytes later (gemm.c passes packed, zero-padded
 * panels, b_step = NR values; a row-major B could be read in place with its row stride); a
 * kernel whose tile is wider than one panel (AVX-512's) reads the next panel kc * b_step bytes
 * on. The
 * kernel forms the MR x NR product and writes its top-left mr x nr corner to C as
 *
 *     C = alpha * AB + beta * C        (beta == 0: C is only written)
 *
 * Every element is accumulated in k order with the same instructions wherever it lies in the
 * tile, so results never depend on how the work is split between threads. */
#ifndef BORN_CPU_GEMM_KERNELS_H
#define BORN_CPU_GEMM_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

/* Register tile of each dtype (shared by all instruction sets, so packing is common). */
enum { GEMM_F32_MR = 6, GEMM_F32_NR = 16, GEMM_F64_MR = 6, GEMM_F64_NR = 8 };

typedef void (*gemm_kernel_fn)(int64_t kc, const void *a, const void *b, int64_t b_step, void *c,
                               int64_t c_rs, int64_t c_cs, int mr, int nr, double alpha,
                               double beta);

/* y[j] = sum_p x[p] * b[p + j * b_cs] for j < n (columns of B contiguous in k): dot products. */
typedef void (*gemv_dot_f32_fn)(int64_t k, int64_t n, const float *x, const float *b, int64_t b_cs,
                                float *y);
/* y[j] = sum_p x[p * x_s] * b[p * b_rs + j] for j < n (rows of B contiguous): axpy form. */
typedef void (*gemv_axpy_f32_fn)(int64_t k, int64_t n, const float *x, int64_t x_s, const float *b,
                                 int64_t b_rs, float *y);

/* The same for four rows of x at once (row pointers; a caller with fewer rows repeats one):
 * y[r][j] = sum_p x[r][p] b[p + j b_cs] (x rows contiguous), and y[r][j] += sum_p x[r][p x_cs]
 * b[p b_rs + j]. */
typedef void (*gemv4_dot_f32_fn)(int64_t k, int64_t n, const float *const x[4], const float *b,
                                 int64_t b_cs, float *const y[4]);
typedef void (*gemv4_axpy_f32_fn)(int64_t k, int64_t n, const float *const x[4], int64_t x_cs,
                                  const float *b, int64_t b_rs, float *const y[4]);
/* The dot form for eight rows of x. */
typedef void (*gemv8_dot_f32_fn)(int64_t k, int64_t n, const float *const x[8], const float *b,
                                 int64_t b_cs, float *const y[8]);
/* The dot forms with B's columns in f16 (bf16 where bf16), widened as loaded: the bits of the f32
 * dot forms on B's values (gemm_dot.h). */
typedef void (*gemv_dot_half_fn)(int64_t k, int64_t n, const float *x, const uint16_t *b,
                                 int64_t b_cs, float *y, bool bf16);
typedef void (*gemv4_dot_half_fn)(int64_t k, int64_t n, const float *const x[4], const uint16_t *b,
                                  int64_t b_cs, float *const y[4], bool bf16);
typedef void (*gemv8_dot_half_fn)(int64_t k, int64_t n, const float *const x[8], const uint16_t *b,
                                  int64_t b_cs, float *const y[8], bool bf16);

#if defined(__x86_64__) || defined(__i386__)
void gemm_kernel_f32_avx2(int64_t kc, const void *a, const void *b, int64_t b_step, void *c,
                          int64_t c_rs, int64_t c_cs, int mr, int nr, double alpha, double beta);
/* The same tile with the 6 rows of A a_rs floats apart wherever they lie (a weight read in place,
 * never packed; all 6 rows readable, the first mr stored), nr <= 16 columns of B packed: the same
 * operations in the same order, so the same bits. */
void gemm_kernel_f32_avx2_strided(int64_t kc, const float *a, int64_t a_rs, const float *b,
                                  int64_t b_step, float *c, int64_t c_rs, int64_t c_cs, int mr,
                                  int nr, double alpha, double beta);
void gemm_kernel_f64_avx2(int64_t kc, const void *a, const void *b, int64_t b_step, void *c,
                          int64_t c_rs, int64_t c_cs, int mr, int nr, double alpha, double beta);
void gemv_dot_f32_avx2(int64_t k, int64_t n, const float *x, const float *b, int64_t b_cs,
                       float *y);
void gemv_axpy_f32_avx2(int64_t k, int64_t n, const float *x, int64_t x_s, const float *b,
                        int64_t b_rs, float *y);
void gemv4_dot_f32_avx2(int64_t k, int64_t n, const float *const x[4], const float *b, int64_t b_cs,
                        float *const y[4]);
void gemv4_axpy_f32_avx2(int64_t k, int64_t n, const float *const x[4], int64_t x_cs,
                         const float *b, int64_t b_rs, float *const y[4]);
void gemv_dot_half_avx2(int64_t k, int64_t n, const float *x, const uint16_t *b, int64_t b_cs,
                        float *y, bool bf16);
void gemv4_dot_half_avx2(int64_t k, int64_t n, const float *const x[4], const uint16_t *b,
                         int64_t b_cs, float *const y[4], bool bf16);
/* The f64 GEMV forms (gemv_dot_f32_fn, gemv_axpy_f32_fn on doubles): every y[j] the same
 * operations whichever columns it is computed with, so the split between threads leaves the bits.
 */
void gemv_dot_f64_avx2(int64_t k, int64_t n, const double *x, const double *b, int64_t b_cs,
                       double *y);
void gemv_axpy_f64_avx2(int64_t k, int64_t n, const double *x, int64_t x_s, const double *b,
                        int64_t b_rs, double *y);
/* One full f32 micro-panel of R = 6 or 16 lanes from lanes that are contiguous along k (lane i
 * starts at s + i * ls): dst[p * R + i] = s[i * ls + p]. dst is 64-byte aligned. */
void gemm_pack_t6_f32_avx2(int64_t kc, const float *s, int64_t ls, float *dst);
void gemm_pack_t16_f32_avx2(int64_t kc, const float *s, int64_t ls, float *dst);
/* The same for f64 micro-panels of 6 and 8 lanes. */
void gemm_pack_t6_f64_avx2(int64_t kc, const double *s, int64_t ls, double *dst);
void gemm_pack_t8_f64_avx2(int64_t kc, const double *s, int64_t ls, double *dst);
/* B's rows (lanes with a unit stride) into 16-lane f32 / 8-lane f64 micro-panels:
 * dst[panel][p][lane] = src[p * ks + panel * R + lane], zeros past count (the last panel's loads
 * masked, so nothing past the count is read). */
void gemm_pack_rows16_f32_avx2(int64_t count, int64_t kc, const float *src, int64_t ks, float *dst);
void gemm_pack_rows8_f64_avx2(int64_t count, int64_t kc, const double *src, int64_t ks,
                              double *dst);
#define GEMM_HAVE_AVX2 1

/* AVX-512 (gemm_avx512.c): a 12 x 32 f32 tile that reads A as up to two 6-row micro-panels and
 * B as up to two 16-column panels, each lying kc steps after the one before (only the panels
 * that hold the mr rows and nr columns are read), so the packed formats stay those of
 * GEMM_F32_MR / GEMM_F32_NR; b_step is still one 16-column panel's step. */
enum { GEMM_F32_MR_AVX512 = 12, GEMM_F32_NR_AVX512 = 32 };
void gemm_kernel_f32_avx512(int64_t kc, const void *a, const void *b, int64_t b_step, void *c,
                            int64_t c_rs, int64_t c_cs, int mr, int nr, double alpha, double beta);
/* The same tile (alpha 1) with C = bias[i] + AB: the bits of C filled with the bias, beta 1. */
void gemm_kernel_f32_avx512_bias(int64_t kc, const void *a, const void *b, int64_t b_step,
                                 float *c, int64_t c_rs, int64_t c_cs, int mr, int nr,
                                 const float *bias);
/* The same tile with A as rows GEMM_F32_ROWS_STRIDE floats apart (kc <= 512, the deepest k
 * block): row r of step p at a[r * GEMM_F32_ROWS_STRIDE + p], rows up to the next multiple of 6
 * readable. The same operations in the same order, so the same bits. The stride is 528, not
 * 512, so that the rows' current lines do not all fall in a few L1 sets. */
enum { GEMM_F32_ROWS_STRIDE = 528 };
void gemm_kernel_f32_avx512_rows(int64_t kc, const float *a, const float *b, int64_t b_step,
                                 float *c, int64_t c_rs, int64_t c_cs, int mr, int nr,
                                 double alpha, double beta);
/* The tile with the 12 rows of A a_rs floats apart wherever they lie (a weight read in place,
 * never packed; all 12 rows readable, the first mr stored), nr <= 32 columns of B packed as
 * above: the same operations in the same order as gemm_kernel_f32_avx512, so the same bits. */
void gemm_kernel_f32_avx512_strided(int64_t kc, const float *a, int64_t a_rs, const float *b,
                                    int64_t b_step, float *c, int64_t c_rs, int64_t c_cs, int mr,
                                    int nr, double alpha, double beta);
/* The f64 tile (gemm_f64_avx512.c): 12 x 16 doubles in the same registers, A as up to two 6-row
 * micro-panels and B as up to two 8-column panels kc steps apart (the packed formats of
 * GEMM_F64_MR / GEMM_F64_NR, b_step one 8-column panel's step); the operations of
 * gemm_kernel_f64_avx2, so the same bits. */
enum { GEMM_F64_MR_AVX512 = 12, GEMM_F64_NR_AVX512 = 16 };
void gemm_kernel_f64_avx512(int64_t kc, const void *a, const void *b, int64_t b_step, void *c,
                            int64_t c_rs, int64_t c_cs, int mr, int nr, double alpha, double beta);
/* gemv_dot_f32_avx2 with eight B columns in flight instead of four (16 sums in AVX-512's 32
 * registers; the same bits): on the 2-core Zen 4 the weights of x[1, 4096] W[11008, 4096]^T read
 * at ~21 GB/s against ~18 at one thread. */
void gemv_dot_f32_avx512(int64_t k, int64_t n, const float *x, const float *b, int64_t b_cs,
                         float *y);
void gemv_dot_half_avx512(int64_t k, int64_t n, const float *x, const uint16_t *b, int64_t b_cs,
                          float *y, bool bf16);
/* gemv_dot_f64_avx2 with eight B columns in flight (the same bits), asking for them ahead on
 * Intel only (AMD's prefetchers keep up: on Zen 4 eight columns without read the weights at
 * 19-22 GB/s against 14-18 for the AVX2 loop). */
void gemv_dot_f64_avx512(int64_t k, int64_t n, const double *x, const double *b, int64_t b_cs,
                         double *y);
/* gemv4_dot_f32_avx2 for eight rows at once (AVX-512's 32 vector registers hold 24 sums: three B
 * columns), so each B column is read once for all eight: every y[r][j] gets the four-row
 * kernel's operations (gemm_dot.h), so the same bits. */
void gemv8_dot_f32_avx512(int64_t k, int64_t n, const float *const x[8], const float *b, int64_t b_cs,
                          float *const y[8]);
/* gemv4_dot_f32_avx2 with four B columns in flight instead of three (the same bits). */
void gemv4_dot_f32_avx512(int64_t k, int64_t n, const float *const x[4], const float *b, int64_t b_cs,
                          float *const y[4]);
void gemv8_dot_half_avx512(int64_t k, int64_t n, const float *const x[8], const uint16_t *b,
                           int64_t b_cs, float *const y[8], bool bf16);
void gemv4_dot_half_avx512(int64_t k, int64_t n, const float *const x[4], const uint16_t *b,
                           int64_t b_cs, float *const y[4], bool bf16);
#define GEMM_HAVE_AVX512 1
#endif

#if defined(__aarch64__)
/* arm64 (gemm_neon.c): the 6 x 16 f32 tile on NEON, the operations of the AVX2 kernel. */
void gemm_kernel_f32_neon(int64_t kc, const void *a, const void *b, int64_t b_step, void *c,
                          int64_t c_rs, int64_t c_cs, int mr, int nr, double alpha, double beta);
/* The 6 x 8 f64 tile on NEON (24 two-lane accumulators), the operations of gemm_kernel_f64_avx2
 * on the same packed panels, so its bits. */
void gemm_kernel_f64_neon(int64_t kc, const void *a, const void *b, int64_t b_step, void *c,
                          int64_t c_rs, int64_t c_cs, int mr, int nr, double alpha, double beta);
/* The f32 GEMV loops on NEON (gemv_neon.c), for CPU_LEVEL_NEON: the m == 1 dot and axpy forms
 * and the four-row ones, with the operations of their AVX2 versions (an 8-lane sum as two 4-lane
 * halves, added in gemm_hsum8's order), so the same bits. */
void gemv_dot_f32_neon(int64_t k, int64_t n, const float *x, const float *b, int64_t b_cs,
                       float *y);
void gemv_axpy_f32_neon(int64_t k, int64_t n, const float *x, int64_t x_s, const float *b,
                        int64_t b_rs, float *y);
void gemv4_dot_f32_neon(int64_t k, int64_t n, const float *const x[4], const float *b, int64_t b_cs,
                        float *const y[4]);
void gemv4_axpy_f32_neon(int64_t k, int64_t n, const float *const x[4], int64_t x_cs,
                         const float *b, int64_t b_rs, float *const y[4]);
#define GEMM_HAVE_NEON 1
#endif

#endif
