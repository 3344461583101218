/* AVX2 + FMA pieces of the GEMM (see gemm_kernels.h for the contracts): the 6x16 f32 and 6x8
 * f64 micro-kernels, and the f32 GEMV loops. Compiled with -mavx2 -mfma and called only when
 * cpu_get_level() says the CPU has them.
 *
 * The micro-kernels keep the 6 x 16 (f32) or 6 x 8 (f64) tile in 12 ymm accumulators; each k
 * step loads two vectors of B and broadcasts six values of A, 12 FMAs in all (an edge tile of mr
 * < 6 rows runs a loop with only its rows). Tiles of full width with unit column stride are
 * written row by row from vectors; narrower edge tiles (and any other C layout) go through a small
 * buffer, with the same arithmetic (alpha * acc, then fma(beta, c, .)). */
#include <immintrin.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "backend/cpu/gemm_dot.h"
#include "backend/cpu/gemm_kernels.h"
#include "backend/cpu/transpose_avx2.h"

/* ---- micro-kernels ------------------------------------------------------------------------ */

/* The k loop is written in assembly: with intrinsics GCC interleaves the unrolled steps and
 * spills accumulators, which costs a third of the speed. Registers: ymm0/ymm1 hold one step of
 * the B micro-panel, ymm2/ymm3 alternate as the broadcast A value, ymm4..ymm15 are the 6 x 2
 * accumulators (row i in ymm(4 + 2i) and ymm(5 + 2i)). The tile is then stored to `acc`
 * (row-major, 2 vectors per row) for the write-back in C. GAS evaluates the address offsets. */
/* clang-format off */
#define GEMM_ROW(BCAST, u, i, ar, c0, c1, FMA, AS)                                               \
    BCAST " " #u "*6*" #AS "+" #i "*" #AS "(%[a]), %%ymm" #ar "\n\t"                            \
    FMA " %%ymm0, %%ymm" #ar ", %%ymm" #c0 "\n\t"                                                 \
    FMA " %%ymm1, %%ymm" #ar ", %%ymm" #c1 "\n\t"

/* The first R rows of the tile (R = 1..6): GEMM_ROWS_R. Rows past mr are not computed at all, so
 * an edge tile of a few rows costs a fraction of a full one. */
#define GEMM_ROWS_1(u, BCAST, FMA, AS) GEMM_ROW(BCAST, u, 0, 2, 4, 5, FMA, AS)
#define GEMM_ROWS_2(u, BCAST, FMA, AS) GEMM_ROWS_1(u, BCAST, FMA, AS) GEMM_ROW(BCAST, u, 1, 3, 6, 7, FMA, AS)
#define GEMM_ROWS_3(u, BCAST, FMA, AS) GEMM_ROWS_2(u, BCAST, FMA, AS) GEMM_ROW(BCAST, u, 2, 2, 8, 9, FMA, AS)
#define GEMM_ROWS_4(u, BCAST, FMA, AS) GEMM_ROWS_3(u, BCAST, FMA, AS) GEMM_ROW(BCAST, u, 3, 3, 10, 11, FMA, AS)
#define GEMM_ROWS_5(u, BCAST, FMA, AS) GEMM_ROWS_4(u, BCAST, FMA, AS) GEMM_ROW(BCAST, u, 4, 2, 12, 13, FMA, AS)
#define GEMM_ROWS_6(u, BCAST, FMA, AS) GEMM_ROWS_5(u, BCAST, FMA, AS) GEMM_ROW(BCAST, u, 5, 3, 14, 15, FMA, AS)

#define GEMM_STEP(u, R, LOAD, BCAST, FMA, AS)                                                     \
    LOAD " (%[b]), %%ymm0\n\t"                                                                    \
    LOAD " 32(%[b]), %%ymm1\n\t"                                                                  \
    "add %[bs], %[b]\n\t"                                                                         \
    GEMM_ROWS_##R(u, BCAST, FMA, AS)

/* One k loop for both dtypes: a B step is 64 bytes (16 f32 or 8 f64) read at %[b], which then
 * advances by %[bs] bytes (64 in a packed panel, the row stride when B is read in place); an A
 * step is 6 elements of AS bytes. */
#define GEMM_LOOP(R, LOAD, BCAST, FMA, AS, STORE)                                                    \
    __asm__ volatile(                                                                             \
        "vxorps %%ymm4, %%ymm4, %%ymm4\n\t"                                                       \
        "vxorps %%ymm5, %%ymm5, %%ymm5\n\t"                                                       \
        "vxorps %%ymm6, %%ymm6, %%ymm6\n\t"                                                       \
        "vxorps %%ymm7, %%ymm7, %%ymm7\n\t"                                                       \
        "vxorps %%ymm8, %%ymm8, %%ymm8\n\t"                                                       \
        "vxorps %%ymm9, %%ymm9, %%ymm9\n\t"                                                       \
        "vxorps %%ymm10, %%ymm10, %%ymm10\n\t"                                                    \
        "vxorps %%ymm11, %%ymm11, %%ymm11\n\t"                                                    \
        "vxorps %%ymm12, %%ymm12, %%ymm12\n\t"                                                    \
        "vxorps %%ymm13, %%ymm13, %%ymm13\n\t"                                                    \
        "vxorps %%ymm14, %%ymm14, %%ymm14\n\t"                                                    \
        "vxorps %%ymm15, %%ymm15, %%ymm15\n\t"                                                    \
        "test %[k4], %[k4]\n\t"                                                                   \
        "jz 2f\n\t"                                                                               \
        ".p2align 5\n"                                                                            \
        "1:\n\t"                                                                                  \
        "prefetcht0 16*6*" #AS "(%[a])\n\t"                                                       \
        GEMM_STEP(0, R, LOAD, BCAST, FMA, AS)                                                        \
        GEMM_STEP(1, R, LOAD, BCAST, FMA, AS)                                                        \
        GEMM_STEP(2, R, LOAD, BCAST, FMA, AS)                                                        \
        GEMM_STEP(3, R, LOAD, BCAST, FMA, AS)                                                        \
        "add $4*6*" #AS ", %[a]\n\t"                                                              \
        "dec %[k4]\n\t"                                                                           \
        "jnz 1b\n"                                                                                \
        "2:\n\t"                                                                                  \
        "test %[kr], %[kr]\n\t"                                                                   \
        "jz 4f\n"                                                                                 \
        "3:\n\t"                                                                                  \
        GEMM_STEP(0, R, LOAD, BCAST, FMA, AS)                                                        \
        "add $6*" #AS ", %[a]\n\t"                                                                \
        "dec %[kr]\n\t"                                                                           \
        "jnz 3b\n"                                                                                \
        "4:\n\t"                                                                                  \
        STORE " %%ymm4, 0(%[acc])\n\t"                                                            \
        STORE " %%ymm5, 32(%[acc])\n\t"                                                           \
        STORE " %%ymm6, 64(%[acc])\n\t"                                                           \
        STORE " %%ymm7, 96(%[acc])\n\t"                                                           \
        STORE " %%ymm8, 128(%[acc])\n\t"                                                          \
        STORE " %%ymm9, 160(%[acc])\n\t"                                                          \
        STORE " %%ymm10, 192(%[acc])\n\t"                                                         \
        STORE " %%ymm11, 224(%[acc])\n\t"                                                         \
        STORE " %%ymm12, 256(%[acc])\n\t"                                                         \
        STORE " %%ymm13, 288(%[acc])\n\t"                                                         \
        STORE " %%ymm14, 320(%[acc])\n\t"                                                         \
        STORE " %%ymm15, 352(%[acc])\n\t"                                                         \
        : [a] "+r"(a), [b] "+r"(b), [k4] "+r"(k4), [kr] "+r"(kr)                                  \
        : [acc] "r"(acc), [bs] "r"(b_step)                                                        \
        : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",         \
          "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "cc", "memory")
/* clang-format on */

/* The k loop for the first mr rows only (mr = 1..6; rows past mr keep zero accumulators). */
#define GEMM_LOOP_MR(mr, LOAD, BCAST, FMA, AS, STORE)                                             \
    switch (mr) {                                                                                 \
    case 1: GEMM_LOOP(1, LOAD, BCAST, FMA, AS, STORE); break;                                     \
    case 2: GEMM_LOOP(2, LOAD, BCAST, FMA, AS, STORE); break;                                     \
    case 3: GEMM_LOOP(3, LOAD, BCAST, FMA, AS, STORE); break;                                     \
    case 4: GEMM_LOOP(4, LOAD, BCAST, FMA, AS, STORE); break;                                     \
    case 5: GEMM_LOOP(5, LOAD, BCAST, FMA, AS, STORE); break;                                     \
    default: GEMM_LOOP(6, LOAD, BCAST, FMA, AS, STORE); break;                                    \
    }

/* The f32 k loop with the 6 rows of A a runtime stride apart (gemm_kernel_f32_avx2_strided):
 * row r at %[a] (rows 0-2) or %[ab] (rows 3-5) plus 0, 1 or 2 strides %[s]; the same FMAs as
 * GEMM_LOOP's. */
/* clang-format off */
#define S2_BCAST_0(u, X) "vbroadcastss " #u "*4(%[a]), %%ymm" #X "\n\t"
#define S2_BCAST_1(u, X) "vbroadcastss " #u "*4(%[a],%[s],1), %%ymm" #X "\n\t"
#define S2_BCAST_2(u, X) "vbroadcastss " #u "*4(%[a],%[s],2), %%ymm" #X "\n\t"
#define S2_BCAST_3(u, X) "vbroadcastss " #u "*4(%[ab]), %%ymm" #X "\n\t"
#define S2_BCAST_4(u, X) "vbroadcastss " #u "*4(%[ab],%[s],1), %%ymm" #X "\n\t"
#define S2_BCAST_5(u, X) "vbroadcastss " #u "*4(%[ab],%[s],2), %%ymm" #X "\n\t"
#define S2_ROW(u, r, X, c0, c1)                                                                   \
    S2_BCAST_##r(u, X) "vfmadd231ps %%ymm0, %%ymm" #X ", %%ymm" #c0 "\n\t"                       \
    "vfmadd231ps %%ymm1, %%ymm" #X ", %%ymm" #c1 "\n\t"
#define S2_STEP(u)                                                                                \
    "vmovups (%[b]), %%ymm0\n\t" "vmovups 32(%[b]), %%ymm1\n\t" "add %[bs], %[b]\n\t"          \
    S2_ROW(u, 0, 2, 4, 5) S2_ROW(u, 1, 3, 6, 7) S2_ROW(u, 2, 2, 8, 9)                              \
    S2_ROW(u, 3, 3, 10, 11) S2_ROW(u, 4, 2, 12, 13) S2_ROW(u, 5, 3, 14, 15)
#define S2_LOOP                                                                                   \
    __asm__ volatile(                                                                             \
        "vxorps %%ymm4, %%ymm4, %%ymm4\n\t" "vxorps %%ymm5, %%ymm5, %%ymm5\n\t"                   \
        "vxorps %%ymm6, %%ymm6, %%ymm6\n\t" "vxorps %%ymm7, %%ymm7, %%ymm7\n\t"                   \
        "vxorps %%ymm8, %%ymm8, %%ymm8\n\t" "vxorps %%ymm9, %%ymm9, %%ymm9\n\t"                   \
        "vxorps %%ymm10, %%ymm10, %%ymm10\n\t" "vxorps %%ymm11, %%ymm11, %%ymm11\n\t"             \
        "vxorps %%ymm12, %%ymm12, %%ymm12\n\t" "vxorps %%ymm13, %%ymm13, %%ymm13\n\t"             \
        "vxorps %%ymm14, %%ymm14, %%ymm14\n\t" "vxorps %%ymm15, %%ymm15, %%ymm15\n\t"             \
        "test %[k4], %[k4]\n\t"                                                                  \
        "jz 2f\n\t"                                                                              \
        ".p2align 5\n"                                                                           \
        "1:\n\t"                                                                                 \
        S2_STEP(0) S2_STEP(1) S2_STEP(2) S2_STEP(3)                                               \
        "add $16, %[a]\n\t" "add $16, %[ab]\n\t"                                                \
        "dec %[k4]\n\t"                                                                          \
        "jnz 1b\n"                                                                               \
        "2:\n\t"                                                                                 \
        "test %[kr], %[kr]\n\t"                                                                  \
        "jz 4f\n"                                                                                \
        "3:\n\t"                                                                                 \
        S2_STEP(0)                                                                                \
        "add $4, %[a]\n\t" "add $4, %[ab]\n\t"                                                  \
        "dec %[kr]\n\t"                                                                          \
        "jnz 3b\n"                                                                               \
        "4:\n\t"                                                                                 \
        "vmovaps %%ymm4, 0(%[acc])\n\t" "vmovaps %%ymm5, 32(%[acc])\n\t"                         \
        "vmovaps %%ymm6, 64(%[acc])\n\t" "vmovaps %%ymm7, 96(%[acc])\n\t"                        \
        "vmovaps %%ymm8, 128(%[acc])\n\t" "vmovaps %%ymm9, 160(%[acc])\n\t"                      \
        "vmovaps %%ymm10, 192(%[acc])\n\t" "vmovaps %%ymm11, 224(%[acc])\n\t"                    \
        "vmovaps %%ymm12, 256(%[acc])\n\t" "vmovaps %%ymm13, 288(%[acc])\n\t"                    \
        "vmovaps %%ymm14, 320(%[acc])\n\t" "vmovaps %%ymm15, 352(%[acc])\n\t"                    \
        : [a] "+r"(ar), [ab] "+r"(arb), [b] "+r"(b), [k4] "+r"(k4), [kr] "+r"(kr)                 \
        : [acc] "r"(acc), [bs] "r"(b_step), [s] "r"(s)                                            \
        : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",         \
          "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "cc", "memory")
/* clang-format on */

/* C = alpha acc + beta C for the mr x nr corner of the f32 tile (beta 0: C only written), rows of
 * 16 Q whole vectors where C's rows are contiguous and the tile is full width. */
static void store_tile_f32(float acc[6][16], float *c, int64_t c_rs, int64_t c_cs, int mr, int nr,
                           double alpha_d, double beta_d) {
    bool direct = nr == 16 && c_cs == 1;
    __m256 al = _mm256_set1_ps((float)alpha_d);
    float beta = (float)beta_d;
    if (direct) {
        __m256 be = _mm256_set1_ps(beta);
        for (int i = 0; i < mr; i++) {
            float *ci = c + i * c_rs;
            __m256 r0 = _mm256_mul_ps(al, _mm256_load_ps(acc[i]));
            __m256 r1 = _mm256_mul_ps(al, _mm256_load_ps(acc[i] + 8));
            if (beta != 0) {
                r0 = _mm256_fmadd_ps(be, _mm256_loadu_ps(ci), r0);
                r1 = _mm256_fmadd_ps(be, _mm256_loadu_ps(ci + 8), r1);
            }
            _mm256_storeu_ps(ci, r0);
            _mm256_storeu_ps(ci + 8, r1);
        }
        return;
    }
    for (int i = 0; i < mr; i++) {
        _mm256_store_ps(acc[i], _mm256_mul_ps(al, _mm256_load_ps(acc[i])));
        _mm256_store_ps(acc[i] + 8, _mm256_mul_ps(al, _mm256_load_ps(acc[i] + 8)));
    }
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) {
            float *cij = c + i * c_rs + j * c_cs;
            *cij = beta == 0 ? acc[i][j] : fmaf(beta, *cij, acc[i][j]);
        }
}

/* f32: 6 x 16. */
void gemm_kernel_f32_avx2(int64_t kc, const void *a_, const void *b_, int64_t b_step, void *c_,
                          int64_t c_rs, int64_t c_cs, int mr, int nr, double alpha_d,
                          double beta_d) {
    const float *a = a_, *b = b_;
    float *c = c_;
    _Alignas(32) float acc[6][16];
    if (nr == 16 && c_cs == 1) /* whole rows of the tile straight from vectors */
        for (int i = 0; i < mr; i++) {
            _mm_prefetch((const char *)(c + i * c_rs), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + i * c_rs + 15), _MM_HINT_T0);
        }
    int64_t k4 = kc / 4, kr = kc % 4;
    GEMM_LOOP_MR(mr, "vmovups", "vbroadcastss", "vfmadd231ps", 4, "vmovaps")
    store_tile_f32(acc, c, c_rs, c_cs, mr, nr, alpha_d, beta_d);
}

void gemm_kernel_f32_avx2_strided(int64_t kc, const float *a, int64_t a_rs, const float *b,
                                  int64_t b_step, float *c, int64_t c_rs, int64_t c_cs, int mr,
                                  int nr, double alpha, double beta) {
    _Alignas(32) float acc[6][16];
    int64_t s = a_rs * (int64_t)sizeof(float), k4 = kc / 4, kr = kc % 4;
    const char *ar = (const char *)a, *arb = ar + 3 * s;
    S2_LOOP;
    store_tile_f32(acc, c, c_rs, c_cs, mr, nr, alpha, beta);
}

/* f64: 6 x 8. */
void gemm_kernel_f64_avx2(int64_t kc, const void *a_, const void *b_, int64_t b_step, void *c_,
                          int64_t c_rs, int64_t c_cs, int mr, int nr, double alpha, double beta) {
    const double *a = a_, *b = b_;
    double *c = c_;
    _Alignas(32) double acc[6][8];
    bool direct = nr == 8 && c_cs == 1;
    if (direct)
        for (int i = 0; i < mr; i++) {
            _mm_prefetch((const char *)(c + i * c_rs), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + i * c_rs + 7), _MM_HINT_T0);
        }
    int64_t k4 = kc / 4, kr = kc % 4;
    GEMM_LOOP_MR(mr, "vmovupd", "vbroadcastsd", "vfmadd231pd", 8, "vmovapd")

    __m256d al = _mm256_set1_pd(alpha);
    if (direct) {
        __m256d be = _mm256_set1_pd(beta);
        for (int i = 0; i < mr; i++) {
            double *ci = c + i * c_rs;
            __m256d r0 = _mm256_mul_pd(al, _mm256_load_pd(acc[i]));
            __m256d r1 = _mm256_mul_pd(al, _mm256_load_pd(acc[i] + 4));
            if (beta != 0) {
                r0 = _mm256_fmadd_pd(be, _mm256_loadu_pd(ci), r0);
                r1 = _mm256_fmadd_pd(be, _mm256_loadu_pd(ci + 4), r1);
            }
            _mm256_storeu_pd(ci, r0);
            _mm256_storeu_pd(ci + 4, r1);
        }
        return;
    }
    for (int i = 0; i < mr; i++) {
        _mm256_store_pd(acc[i], _mm256_mul_pd(al, _mm256_load_pd(acc[i])));
        _mm256_store_pd(acc[i] + 4, _mm256_mul_pd(al, _mm256_load_pd(acc[i] + 4)));
    }
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) {
            double *cij = c + i * c_rs + j * c_cs;
            *cij = beta == 0 ? acc[i][j] : fma(beta, *cij, acc[i][j]);
        }
}

/* ---- f32 GEMV ----------------------------------------------------------------------------- */

/* The M = 1 dot form, four columns at a time (gemm_dot.h). */
void gemv_dot_f32_avx2(int64_t k, int64_t n, const float *x, const float *b, int64_t b_cs,
                       float *y) {
    gemm_dot1_rows(4, k, n, x, b, b_cs, y, GEMM_B_F32, false);
}

void gemv_dot_half_avx2(int64_t k, int64_t n, const float *x, const uint16_t *b, int64_t b_cs,
                        float *y, bool bf16) {
    if (bf16)
        gemm_dot1_rows(4, k, n, x, b, b_cs, y, GEMM_B_BF16, false);
    else
        gemm_dot1_rows(4, k, n, x, b, b_cs, y, GEMM_B_F16, false);
}

/* y[j] = sum_p x[p] b[p][j], four rows of B per pass over y; every y[j] is updated in p order
 * by one fma per row, so the grouping does not change the result. */
void gemv_axpy_f32_avx2(int64_t k, int64_t n, const float *x, int64_t x_s, const float *b,
                        int64_t b_rs, float *y) {
    memset(y, 0, (size_t)n * sizeof *y);
    int64_t p = 0;
    for (; p + 4 <= k; p += 4) {
        const float *r0 = b + p * b_rs, *r1 = r0 + b_rs, *r2 = r1 + b_rs, *r3 = r2 + b_rs;
        float x0 = x[p * x_s], x1 = x[(p + 1) * x_s], x2 = x[(p + 2) * x_s], x3 = x[(p + 3) * x_s];
        __m256 v0 = _mm256_set1_ps(x0), v1 = _mm256_set1_ps(x1);
        __m256 v2 = _mm256_set1_ps(x2), v3 = _mm256_set1_ps(x3);
        int64_t j = 0;
        for (; j + 8 <= n; j += 8) {
            __m256 acc = _mm256_loadu_ps(y + j);
            acc = _mm256_fmadd_ps(v0, _mm256_loadu_ps(r0 + j), acc);
            acc = _mm256_fmadd_ps(v1, _mm256_loadu_ps(r1 + j), acc);
            acc = _mm256_fmadd_ps(v2, _mm256_loadu_ps(r2 + j), acc);
            acc = _mm256_fmadd_ps(v3, _mm256_loadu_ps(r3 + j), acc);
            _mm256_storeu_ps(y + j, acc);
        }
        for (; j < n; j++) {
            float acc = y[j];
            acc = fmaf(x0, r0[j], acc);
            acc = fmaf(x1, r1[j], acc);
            acc = fmaf(x2, r2[j], acc);
            acc = fmaf(x3, r3[j], acc);
            y[j] = acc;
        }
    }
    for (; p < k; p++) {
        const float *r0 = b + p * b_rs;
        float x0 = x[p * x_s];
        __m256 v0 = _mm256_set1_ps(x0);
        int64_t j = 0;
        for (; j + 8 <= n; j += 8)
            _mm256_storeu_ps(y + j,
                             _mm256_fmadd_ps(v0, _mm256_loadu_ps(r0 + j), _mm256_loadu_ps(y + j)));
        for (; j < n; j++)
            y[j] = fmaf(x0, r0[j], y[j]);
    }
}

/* ---- f64 GEMV (m == 1) ------------------------------------------------------------------- */

/* The f64 M = 1 dot form, four columns at a time, each asked for ahead (gemm_dot.h). */
void gemv_dot_f64_avx2(int64_t k, int64_t n, const double *x, const double *b, int64_t b_cs,
                       double *y) {
    gemm_dot1_f64_rows(4, k, n, x, b, b_cs, y, true);
}

/* Each y[j] an fma chain from zero in k order, four rows of B a pass over y. */
void gemv_axpy_f64_avx2(int64_t k, int64_t n, const double *x, int64_t x_s, const double *b,
                        int64_t b_rs, double *y) {
    memset(y, 0, (size_t)n * sizeof *y);
    int64_t p = 0;
    for (; p + 4 <= k; p += 4) {
        const double *r0 = b + p * b_rs, *r1 = r0 + b_rs, *r2 = r1 + b_rs, *r3 = r2 + b_rs;
        double x0 = x[p * x_s], x1 = x[(p + 1) * x_s], x2 = x[(p + 2) * x_s], x3 = x[(p + 3) * x_s];
        __m256d v0 = _mm256_set1_pd(x0), v1 = _mm256_set1_pd(x1);
        __m256d v2 = _mm256_set1_pd(x2), v3 = _mm256_set1_pd(x3);
        int64_t j = 0;
        for (; j + 4 <= n; j += 4) {
            __m256d acc = _mm256_loadu_pd(y + j);
            acc = _mm256_fmadd_pd(v0, _mm256_loadu_pd(r0 + j), acc);
            acc = _mm256_fmadd_pd(v1, _mm256_loadu_pd(r1 + j), acc);
            acc = _mm256_fmadd_pd(v2, _mm256_loadu_pd(r2 + j), acc);
            acc = _mm256_fmadd_pd(v3, _mm256_loadu_pd(r3 + j), acc);
            _mm256_storeu_pd(y + j, acc);
        }
        for (; j < n; j++)
            y[j] = fma(x3, r3[j], fma(x2, r2[j], fma(x1, r1[j], fma(x0, r0[j], y[j]))));
    }
    for (; p < k; p++) {
        const double *r0 = b + p * b_rs;
        double x0 = x[p * x_s];
        __m256d v0 = _mm256_set1_pd(x0);
        int64_t j = 0;
        for (; j + 4 <= n; j += 4)
            _mm256_storeu_pd(y + j,
                             _mm256_fmadd_pd(v0, _mm256_loadu_pd(r0 + j), _mm256_loadu_pd(y + j)));
        for (; j < n; j++)
            y[j] = fma(x0, r0[j], y[j]);
    }
}

/* ---- f32 packing of lanes contiguous along k (rows of A, rows of a linear layer's weight) ---- */

void gemm_pack_t6_f32_avx2(int64_t kc, const float *s, int64_t ls, float *dst) {
    int64_t p = 0;
    for (; p + 8 <= kc; p += 8) {
        __m256 r[8];
        for (int i = 0; i < 6; i++)
            r[i] = _mm256_loadu_ps(s + i * ls + p);
        r[6] = r[7] = _mm256_setzero_ps();
        avx2_transpose8_ps(r);
        float *d = dst + p * 6;
        for (int q = 0; q < 7; q++)
            _mm256_storeu_ps(d + q * 6, r[q]); /* lanes 6, 7 overwritten next */
        _mm_storeu_ps(d + 42, _mm256_castps256_ps128(r[7]));
        _mm_storel_pi((__m64 *)(void *)(d + 46), _mm256_extractf128_ps(r[7], 1));
    }
    for (; p < kc; p++)
        for (int i = 0; i < 6; i++)
            dst[p * 6 + i] = s[i * ls + p];
}

void gemm_pack_t16_f32_avx2(int64_t kc, const float *s, int64_t ls, float *dst) {
    int64_t p = 0;
    for (; p + 8 <= kc; p += 8) {
        for (int g = 0; g < 2; g++) {
            __m256 r[8];
            for (int i = 0; i < 8; i++)
                r[i] = _mm256_loadu_ps(s + (g * 8 + i) * ls + p);
            avx2_transpose8_ps(r);
            for (int q = 0; q < 8; q++)
                _mm256_store_ps(dst + (p + q) * 16 + g * 8, r[q]);
        }
    }
    for (; p < kc; p++)
        for (int i = 0; i < 16; i++)
            dst[p * 16 + i] = s[i * ls + p];
}

/* f64 lanes 4 steps at a time: a 4 x 4 transpose of lanes l0..l0+3 into out[q] (step q's four
 * values), and the 4 x 2 one of lanes l0, l0 + 1 into pairs[q]. */
static void transpose4_f64(const double *s, int64_t ls, __m256d out[4]) {
    __m256d v0 = _mm256_loadu_pd(s), v1 = _mm256_loadu_pd(s + ls);
    __m256d v2 = _mm256_loadu_pd(s + 2 * ls), v3 = _mm256_loadu_pd(s + 3 * ls);
    __m256d t0 = _mm256_unpacklo_pd(v0, v1), t1 = _mm256_unpackhi_pd(v0, v1);
    __m256d t2 = _mm256_unpacklo_pd(v2, v3), t3 = _mm256_unpackhi_pd(v2, v3);
    out[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
    out[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
    out[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
    out[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
}

static void transpose2_f64(const double *s, int64_t ls, __m128d pairs[4]) {
    __m256d v0 = _mm256_loadu_pd(s), v1 = _mm256_loadu_pd(s + ls);
    __m256d u0 = _mm256_unpacklo_pd(v0, v1), u1 = _mm256_unpackhi_pd(v0, v1);
    pairs[0] = _mm256_castpd256_pd128(u0);
    pairs[1] = _mm256_castpd256_pd128(u1);
    pairs[2] = _mm256_extractf128_pd(u0, 1);
    pairs[3] = _mm256_extractf128_pd(u1, 1);
}

/* f64: micro-panels of 6 lanes (A) and 8 lanes (B^T), four steps at a time. */
void gemm_pack_t6_f64_avx2(int64_t kc, const double *s, int64_t ls, double *dst) {
    int64_t p = 0;
    for (; p + 4 <= kc; p += 4) {
        __m256d quad[4];
        __m128d pair[4];
        transpose4_f64(s + p, ls, quad);
        transpose2_f64(s + 4 * ls + p, ls, pair);
        for (int q = 0; q < 4; q++) {
            _mm256_storeu_pd(dst + (p + q) * 6, quad[q]);
            _mm_storeu_pd(dst + (p + q) * 6 + 4, pair[q]);
        }
    }
    for (; p < kc; p++)
        for (int i = 0; i < 6; i++)
            dst[p * 6 + i] = s[i * ls + p];
}

void gemm_pack_t8_f64_avx2(int64_t kc, const double *s, int64_t ls, double *dst) {
    int64_t p = 0;
    for (; p + 4 <= kc; p += 4) {
        __m256d lo[4], hi[4];
        transpose4_f64(s + p, ls, lo);
        transpose4_f64(s + 4 * ls + p, ls, hi);
        for (int q = 0; q < 4; q++) {
            _mm256_storeu_pd(dst + (p + q) * 8, lo[q]);
            _mm256_storeu_pd(dst + (p + q) * 8 + 4, hi[q]);
        }
    }
    for (; p < kc; p++)
        for (int i = 0; i < 8; i++)
            dst[p * 8 + i] = s[i * ls + p];
}

/* ---- packing of lanes with a unit stride (rows of B) ------------------------------------- */

/* 8 lanes of which the first r (0..8) are taken: the mask of _mm256_maskload_ps / _pd. */
static __m256i first_lanes32(int64_t r) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)r), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static __m256i first_lanes64(int64_t r) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(r), _mm256_setr_epi64x(0, 1, 2, 3));
}

void gemm_pack_rows16_f32_avx2(int64_t count, int64_t kc, const float *src, int64_t ks,
                               float *dst) {
    int64_t full = count / 16, r = count % 16;
    for (int64_t q0 = 0; q0 < full; q0 += 4) { /* four panels a pass: four write streams */
        int64_t q1 = q0 + 4 < full ? q0 + 4 : full;
        for (int64_t p = 0; p < kc; p++) {
            const float *row = src + p * ks;
            for (int64_t q = q0; q < q1; q++) {
                float *d = dst + (q * kc + p) * 16;
                _mm256_storeu_ps(d, _mm256_loadu_ps(row + q * 16));
                _mm256_storeu_ps(d + 8, _mm256_loadu_ps(row + q * 16 + 8));
            }
        }
    }
    if (r == 0) return;
    __m256i m0 = first_lanes32(r), m1 = first_lanes32(r - 8); /* masked loads read no further */
    for (int64_t p = 0; p < kc; p++) {
        const float *row = src + p * ks + full * 16;
        float *d = dst + (full * kc + p) * 16;
        _mm256_storeu_ps(d, _mm256_maskload_ps(row, m0));
        _mm256_storeu_ps(d + 8, _mm256_maskload_ps(row + 8, m1));
    }
}

void gemm_pack_rows8_f64_avx2(int64_t count, int64_t kc, const double *src, int64_t ks,
                              double *dst) {
    int64_t full = count / 8, r = count % 8;
    for (int64_t q0 = 0; q0 < full; q0 += 4) {
        int64_t q1 = q0 + 4 < full ? q0 + 4 : full;
        for (int64_t p = 0; p < kc; p++) {
            const double *row = src + p * ks;
            for (int64_t q = q0; q < q1; q++) {
                double *d = dst + (q * kc + p) * 8;
                _mm256_storeu_pd(d, _mm256_loadu_pd(row + q * 8));
                _mm256_storeu_pd(d + 4, _mm256_loadu_pd(row + q * 8 + 4));
            }
        }
    }
    if (r == 0) return;
    __m256i m0 = first_lanes64(r), m1 = first_lanes64(r - 4);
    for (int64_t p = 0; p < kc; p++) {
        const double *row = src + p * ks + full * 8;
        double *d = dst + (full * kc + p) * 8;
        _mm256_storeu_pd(d, _mm256_maskload_pd(row, m0));
        _mm256_storeu_pd(d + 4, _mm256_maskload_pd(row + 4, m1));
    }
}

/* ---- f32 GEMV for a few rows (2 <= m <= GEMV_ROWS): four rows of x at a time ---------------- */

/* y[r][j] = sum_p x[r][p] * b[p + j * b_cs] for r < 4, j < n (x rows contiguous). One 8-lane
 * accumulator per output, then a horizontal sum and a scalar tail; two columns at a time share
 * the loads of x, with the same arithmetic per output as one column alone. */
void gemv4_dot_f32_avx2(int64_t k, int64_t n, const float *const x[4], const float *b, int64_t b_cs,
                        float *const y[4]) {
    /* three columns at a time (12 sums, three B values and an x value: the 16 registers; 32 ->
     * 42 GFLOP/s against two columns for x[8,4096] W^T at BORN_CPU=avx2, one thread) */
    gemm_dot_rows(4, 3, k, n, x, b, b_cs, y, GEMM_B_F32);
}

void gemv4_dot_half_avx2(int64_t k, int64_t n, const float *const x[4], const uint16_t *b,
                         int64_t b_cs, float *const y[4], bool bf16) {
    if (bf16)
        gemm_dot_rows(4, 3, k, n, x, b, b_cs, y, GEMM_B_BF16);
    else
        gemm_dot_rows(4, 3, k, n, x, b, b_cs, y, GEMM_B_F16);
}

/* y[r][j] += sum_p x[r][p * x_cs] * b[p * b_rs + j] for r < 4, j < n: each y[r][j] takes one fma
 * per p, in p order. */
void gemv4_axpy_f32_avx2(int64_t k, int64_t n, const float *const x[4], int64_t x_cs,
                         const float *b, int64_t b_rs, float *const y[4]) {
    int64_t p = 0;
    for (; p + 2 <= k; p += 2) {
        const float *r0 = b + p * b_rs, *r1 = r0 + b_rs;
        float xs[4][2];
        for (int i = 0; i < 4; i++) {
            xs[i][0] = x[i][p * x_cs];
            xs[i][1] = x[i][(p + 1) * x_cs];
        }
        __m256 a00 = _mm256_set1_ps(xs[0][0]), a01 = _mm256_set1_ps(xs[0][1]);
        __m256 a10 = _mm256_set1_ps(xs[1][0]), a11 = _mm256_set1_ps(xs[1][1]);
        __m256 a20 = _mm256_set1_ps(xs[2][0]), a21 = _mm256_set1_ps(xs[2][1]);
        __m256 a30 = _mm256_set1_ps(xs[3][0]), a31 = _mm256_set1_ps(xs[3][1]);
        float *y0 = y[0], *y1 = y[1], *y2 = y[2], *y3 = y[3];
        int64_t j = 0;
        for (; j + 8 <= n; j += 8) {
            __m256 v0 = _mm256_loadu_ps(r0 + j), v1 = _mm256_loadu_ps(r1 + j), t;
            t = _mm256_fmadd_ps(a00, v0, _mm256_loadu_ps(y0 + j));
            _mm256_storeu_ps(y0 + j, _mm256_fmadd_ps(a01, v1, t));
            t = _mm256_fmadd_ps(a10, v0, _mm256_loadu_ps(y1 + j));
            _mm256_storeu_ps(y1 + j, _mm256_fmadd_ps(a11, v1, t));
            t = _mm256_fmadd_ps(a20, v0, _mm256_loadu_ps(y2 + j));
            _mm256_storeu_ps(y2 + j, _mm256_fmadd_ps(a21, v1, t));
            t = _mm256_fmadd_ps(a30, v0, _mm256_loadu_ps(y3 + j));
            _mm256_storeu_ps(y3 + j, _mm256_fmadd_ps(a31, v1, t));
        }
        for (; j < n; j++)
            for (int i = 0; i < 4; i++)
                y[i][j] = fmaf(xs[i][1], r1[j], fmaf(xs[i][0], r0[j], y[i][j]));
    }
    for (; p < k; p++) {
        const float *r0 = b + p * b_rs;
        for (int i = 0; i < 4; i++) {
            float xi = x[i][p * x_cs];
            __m256 a = _mm256_set1_ps(xi);
            float *yi = y[i];
            int64_t j = 0;
            for (; j + 8 <= n; j += 8)
                _mm256_storeu_ps(
                    yi + j, _mm256_fmadd_ps(a, _mm256_loadu_ps(r0 + j), _mm256_loadu_ps(yi + j)));
            for (; j < n; j++)
                yi[j] = fmaf(xi, r0[j], yi[j]);
        }
    }
}
