/* AVX-512 pieces of the f32 GEMM (see gemm_kernels.h for the contracts): the 12 x 32 micro-kernel
 * and the few-row GEMV's dot forms. Compiled with -mavx512f/bw/dq/vl and called only when
 * cpu_get_level() says CPU_LEVEL_AVX512.
 *
 * The tile keeps the packed formats of the other levels: A comes as up to two 6-row micro-panels
 * (gemm.c's A packing, cpu_gemm_f32_pack_a's prepacked weights) and B as up to two 16-column
 * panels, each lying kc steps after the one before. Each k step loads two zmm of B, broadcasts
 * each of the 12 values of A into a register once and multiplies it by both: 24 FMAs for 14
 * loads. The 24 x 16 tile it replaced read each A value straight from memory ({1to16}) for one
 * FMA, 25 loads for 24 FMAs; on Zen 5 that capped the kernel at 85-87% of the FMA peak with
 * everything in L1, where this one runs at 94% (2026-12-02).
 *
 * Every element is accumulated in k order by fma(a, b, acc) from zero and then written as
 * alpha * acc, or fma(beta, c, alpha * acc): the operations of the 6 x 16 AVX2 kernel, so both
 * levels give the same bits. */
#include <immintrin.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "backend/cpu/gemm_dot.h"
#include "backend/cpu/gemm_kernels.h"
#include "core/cpu_features.h"

/* ---- micro-kernel ------------------------------------------------------------------------- */

/* the element's instructions of gemm_tile_avx512.h's k loop */
#define T_VBCAST "vbroadcastss"
#define T_VFMA "vfmadd231ps"
#define T_VADD "vaddps"
#include "backend/cpu/gemm_tile_avx512.h"

/* The first k block of a product that starts from a bias (alpha 1): row i's accumulators plus
 * bias[i] into C. */
/* clang-format off */
#define T_BIAS_1(c0, c1, i)                                                                        \
    "vaddps " #i "*4(%[bias])%{1to16%}, %%zmm" #c0 ", %%zmm" #c0 "\n\t" T_PUT_1(c0, c1, i)
#define T_BIAS_2(c0, c1, i)                                                                        \
    "vaddps " #i "*4(%[bias])%{1to16%}, %%zmm" #c0 ", %%zmm" #c0 "\n\t"                            \
    "vaddps " #i "*4(%[bias])%{1to16%}, %%zmm" #c1 ", %%zmm" #c1 "\n\t" T_PUT_2(c0, c1, i)
#define T_OUT_BIAS(P, Q) T_ROWS_##P(T_BIAS_##Q)
/* clang-format on */

/* The same tile with A's 12 rows a runtime stride apart (a weight read where it lies): row r of
 * panel P (6 rows) at %[aP] (rows 0-2) or %[aPb] (rows 3-5, three rows on) plus 0, 1 or 2
 * strides %[s]. The twelve rows are twelve streams the hardware prefetchers follow; asking for
 * their lines ahead in the loop (every 4 steps, 256 to 2048 bytes on) had cost 5-25%. */
/* clang-format off */
#define S_BCAST_0(P, u, X) "vbroadcastss " #u "*4(%[a" #P "]), %%zmm" #X "\n\t"
#define S_BCAST_1(P, u, X) "vbroadcastss " #u "*4(%[a" #P "],%[s],1), %%zmm" #X "\n\t"
#define S_BCAST_2(P, u, X) "vbroadcastss " #u "*4(%[a" #P "],%[s],2), %%zmm" #X "\n\t"
#define S_BCAST_3(P, u, X) "vbroadcastss " #u "*4(%[a" #P "b]), %%zmm" #X "\n\t"
#define S_BCAST_4(P, u, X) "vbroadcastss " #u "*4(%[a" #P "b],%[s],1), %%zmm" #X "\n\t"
#define S_BCAST_5(P, u, X) "vbroadcastss " #u "*4(%[a" #P "b],%[s],2), %%zmm" #X "\n\t"
#define S_ROW_1(P, u, r, X, c0, c1) S_BCAST_##r(P, u, X) T_FMA(0, X, c0)
#define S_ROW_2(P, u, r, X, c0, c1) S_BCAST_##r(P, u, X) T_FMA(0, X, c0) T_FMA(1, X, c1)
/* accumulators as T_PANEL0 / T_PANEL1's */
#define S_STEP(Q, u)                                                                               \
    T_LOADB_##Q                                                                                    \
    S_ROW_##Q(0, u, 0, 2, 8, 9) S_ROW_##Q(0, u, 1, 3, 10, 11) S_ROW_##Q(0, u, 2, 4, 12, 13)       \
    S_ROW_##Q(0, u, 3, 5, 14, 15) S_ROW_##Q(0, u, 4, 6, 16, 17) S_ROW_##Q(0, u, 5, 7, 18, 19)     \
    S_ROW_##Q(1, u, 0, 2, 20, 21) S_ROW_##Q(1, u, 1, 3, 22, 23) S_ROW_##Q(1, u, 2, 4, 24, 25)     \
    S_ROW_##Q(1, u, 3, 5, 26, 27) S_ROW_##Q(1, u, 4, 6, 28, 29) S_ROW_##Q(1, u, 5, 7, 30, 31)
#define S_ADV(n)                                                                                   \
    "add $" #n "*4, %[a0]\n\t" "add $" #n "*4, %[a0b]\n\t" "add $" #n "*4, %[a1]\n\t"            \
    "add $" #n "*4, %[a1b]\n\t"
#define S_LOOP(Q)                                                                                  \
    __asm__ volatile(                                                                              \
        T_ZERO                                                                                     \
        "test %[k4], %[k4]\n\t"                                                                    \
        "jz 2f\n\t"                                                                                \
        ".p2align 5\n"                                                                             \
        "1:\n\t"                                                                                   \
        S_STEP(Q, 0) S_STEP(Q, 1) S_STEP(Q, 2) S_STEP(Q, 3)                                        \
        S_ADV(4)                                                                                   \
        "dec %[k4]\n\t"                                                                            \
        "jnz 1b\n"                                                                                 \
        "2:\n\t"                                                                                   \
        "test %[kr], %[kr]\n\t"                                                                    \
        "jz 4f\n"                                                                                  \
        "3:\n\t"                                                                                   \
        S_STEP(Q, 0)                                                                               \
        S_ADV(1)                                                                                   \
        "dec %[kr]\n\t"                                                                            \
        "jnz 3b\n"                                                                                 \
        "4:\n\t"                                                                                   \
        T_STORE                                                                                    \
        : [a0] "+r"(a0), [a0b] "+r"(a0b), [a1] "+r"(a1), [a1b] "+r"(a1b), [b] "+r"(b),             \
          [k4] "+r"(k4), [kr] "+r"(kr)                                                             \
        : [acc] "r"(&acc[0][0]), [bs] "r"(b_step), [boff] "r"(b_off), [s] "r"(s)                  \
        : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", \
          "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19",         \
          "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28",         \
          "xmm29", "xmm30", "xmm31", "cc", "memory")
/* clang-format on */

/* A as rows GEMM_F32_ROWS_STRIDE floats apart (2112 bytes: the displacement of T_LOOP) */
#define T_RS 2112
_Static_assert(T_RS == GEMM_F32_ROWS_STRIDE * 4, "T_RS is the rows' stride in bytes");

enum tile_out { OUT_ACC, OUT_PUT, OUT_ADD, OUT_BIAS };

/* Runs the k loop of t for a tile of the given shape into `out`, A packed or as rows. */
static void run_tile(tile *t, int shape, enum tile_out out, bool rows) {
    if (rows) {
        switch (out) {
        case OUT_PUT: T_SWITCH(shape, T_OUT_PUT, 4, T_RS); break;
        case OUT_ADD: T_SWITCH(shape, T_OUT_ADD, 4, T_RS); break;
        default: T_SWITCH(shape, T_OUT_ACC, 4, T_RS); break;
        }
        return;
    }
    switch (out) {
    case OUT_PUT: T_SWITCH(shape, T_OUT_PUT, 24, 4); break;
    case OUT_ADD: T_SWITCH(shape, T_OUT_ADD, 24, 4); break;
    case OUT_BIAS: T_SWITCH(shape, T_OUT_BIAS, 24, 4); break;
    default: T_SWITCH(shape, T_OUT_ACC, 24, 4); break;
    }
}

/* The operands of a tile: A's panels from a (rows: rows_stride floats apart, else packed), B's
 * from b with panel 1 kc steps after panel 0. */
static tile tile_make(int64_t kc, const float *a, int64_t rows_stride, const float *b,
                      int64_t b_step, float *c, int64_t c_rs, float *acc, int mr) {
    tile t = {0};
    t.a0 = a;
    t.a1 = mr > 6 ? a + 6 * (rows_stride ? rows_stride : kc) : a;
    t.b = b;
    t.k4 = kc / 4;
    t.kr = kc % 4;
    t.c = c;
    t.acc = acc;
    t.b_step = b_step;
    t.b_off = kc * b_step;
    t.c_rs_bytes = c_rs * (int64_t)sizeof(float);
    return t;
}

/* Whether C can take the tile straight from the registers: all of it, rows contiguous. */
static bool whole_tile(int mr, int nr, int64_t c_cs) {
    return c_cs == 1 && (mr == 6 || mr == 12) && (nr == 16 || nr == 32);
}

static void prefetch_c(const float *c, int64_t c_rs, int mr, int nr) {
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j += 16) {
            _mm_prefetch((const char *)(c + i * c_rs + j), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + i * c_rs + j + 15), _MM_HINT_T0);
        }
}

/* C = alpha acc + beta C for the mr x nr corner of the tile (beta == 0: C only written). */
static void store_acc(float acc[12][32], float *c, int64_t c_rs, int64_t c_cs, int mr, int nr,
                      double alpha_d, double beta_d) {
    __m512 al = _mm512_set1_ps((float)alpha_d);
    float beta = (float)beta_d;
    __m512 be = _mm512_set1_ps(beta);
    if (c_cs == 1) { /* rows of C contiguous: full or masked vectors */
        for (int i = 0; i < mr; i++)
            for (int h = 0; h * 16 < nr; h++) {
                int n = nr - h * 16 < 16 ? nr - h * 16 : 16;
                __mmask16 m = (__mmask16)((1u << n) - 1);
                float *ci = c + i * c_rs + h * 16;
                __m512 r = _mm512_mul_ps(al, _mm512_load_ps(acc[i] + h * 16));
                if (beta != 0) r = _mm512_fmadd_ps(be, _mm512_maskz_loadu_ps(m, ci), r);
                _mm512_mask_storeu_ps(ci, m, r);
            }
        return;
    }
    for (int i = 0; i < mr; i++) {
        for (int h = 0; h < 2; h++)
            _mm512_store_ps(acc[i] + h * 16, _mm512_mul_ps(al, _mm512_load_ps(acc[i] + h * 16)));
        for (int j = 0; j < nr; j++) {
            float *cij = c + i * c_rs + j * c_cs;
            *cij = beta == 0 ? acc[i][j] : fmaf(beta, *cij, acc[i][j]);
        }
    }
}

/* The kernel for A packed (rows_stride 0) or as rows. */
static void kernel_f32(int64_t kc, const float *a, int64_t rows_stride, const float *b,
                       int64_t b_step, float *c, int64_t c_rs, int64_t c_cs, int mr, int nr,
                       double alpha, double beta) {
    _Alignas(64) float acc[12][32];
    tile t = tile_make(kc, a, rows_stride, b, b_step, c, c_rs, &acc[0][0], mr);
    int shape = tile_shape(mr, nr);
    /* whole tiles with alpha 1 and beta 0 or 1 go from the registers to C (the same bits) */
    if (whole_tile(mr, nr, c_cs) && alpha == 1.0 && (beta == 0.0 || beta == 1.0)) {
        prefetch_c(c, c_rs, mr, nr);
        run_tile(&t, shape, beta == 0.0 ? OUT_PUT : OUT_ADD, rows_stride != 0);
        return;
    }
    run_tile(&t, shape, OUT_ACC, rows_stride != 0);
    store_acc(acc, c, c_rs, c_cs, mr, nr, alpha, beta);
}

void gemm_kernel_f32_avx512(int64_t kc, const void *a, const void *b, int64_t b_step, void *c,
                            int64_t c_rs, int64_t c_cs, int mr, int nr, double alpha,
                            double beta) {
    kernel_f32(kc, a, 0, b, b_step, c, c_rs, c_cs, mr, nr, alpha, beta);
}

void gemm_kernel_f32_avx512_rows(int64_t kc, const float *a, const float *b, int64_t b_step,
                                 float *c, int64_t c_rs, int64_t c_cs, int mr, int nr,
                                 double alpha, double beta) {
    kernel_f32(kc, a, GEMM_F32_ROWS_STRIDE, b, b_step, c, c_rs, c_cs, mr, nr, alpha, beta);
}

void gemm_kernel_f32_avx512_strided(int64_t kc, const float *a, int64_t a_rs, const float *b,
                                    int64_t b_step, float *c, int64_t c_rs, int64_t c_cs, int mr,
                                    int nr, double alpha, double beta) {
    _Alignas(64) float acc[12][32];
    int64_t s = a_rs * (int64_t)sizeof(float), k4 = kc / 4, kr = kc % 4, b_off = kc * b_step;
    const char *a0 = (const char *)a, *a0b = a0 + 3 * s, *a1 = a0 + 6 * s, *a1b = a0 + 9 * s;
    if (nr > 16)
        S_LOOP(2);
    else
        S_LOOP(1);
    store_acc(acc, c, c_rs, c_cs, mr, nr, alpha, beta);
}

void gemm_kernel_f32_avx512_bias(int64_t kc, const void *a, const void *b, int64_t b_step,
                                 float *c, int64_t c_rs, int64_t c_cs, int mr, int nr,
                                 const float *bias) {
    _Alignas(64) float acc[12][32];
    tile t = tile_make(kc, a, 0, b, b_step, c, c_rs, &acc[0][0], mr);
    t.bias = bias;
    int shape = tile_shape(mr, nr);
    if (whole_tile(mr, nr, c_cs)) {
        run_tile(&t, shape, OUT_BIAS, false);
        return;
    }
    run_tile(&t, shape, OUT_ACC, false);
    for (int i = 0; i < mr; i++)
        for (int h = 0; h * 16 < nr; h++) {
            int n = nr - h * 16 < 16 ? nr - h * 16 : 16;
            __m512 r = _mm512_add_ps(_mm512_set1_ps(bias[i]), _mm512_load_ps(acc[i] + h * 16));
            if (c_cs == 1) {
                _mm512_mask_storeu_ps(c + i * c_rs + h * 16, (__mmask16)((1u << n) - 1), r);
                continue;
            }
            _mm512_store_ps(acc[i] + h * 16, r);
            for (int j = 0; j < n; j++) c[i * c_rs + (h * 16 + j) * c_cs] = acc[i][h * 16 + j];
        }
}

/* ---- the few-row GEMV's dot form (its loop in gemm_dot.h) ---------------------------------- */

/* On AMD the groups of eight weight rows prefetch the next group (gemm_dot1_rows): on the 2-core
 * Zen 4, x[1, 4096] W[4096, 4096]^T at one thread read 22.4 -> 26.5 GB/s (medians of nine
 * alternating runs of the two builds, 2026-12-04), W[11008, 4096]^T 24.0 -> 24.3, and at two
 * threads the same within the noise. On the device host's Xeon it read no better at one and four
 * threads and worse at sixteen (W[11008, 4096]^T 129-147 against 155-166 GB/s, three
 * alternations, 2026-12-04), so Intel goes without. */
void gemv_dot_f32_avx512(int64_t k, int64_t n, const float *x, const float *b, int64_t b_cs,
                         float *y) {
    gemm_dot1_rows(8, k, n, x, b, b_cs, y, GEMM_B_F32, cpu_features_get()->amd);
}

void gemv_dot_f64_avx512(int64_t k, int64_t n, const double *x, const double *b, int64_t b_cs,
                         double *y) {
    if (!cpu_features_get()->amd)
        gemm_dot1_f64_rows(8, k, n, x, b, b_cs, y, true);
    else
        gemm_dot1_f64_rows(8, k, n, x, b, b_cs, y, false);
}

void gemv_dot_half_avx512(int64_t k, int64_t n, const float *x, const uint16_t *b, int64_t b_cs,
                          float *y, bool bf16) {
    if (bf16)
        gemm_dot1_rows(8, k, n, x, b, b_cs, y, GEMM_B_BF16, false);
    else
        gemm_dot1_rows(8, k, n, x, b, b_cs, y, GEMM_B_F16, false);
}

void gemv8_dot_f32_avx512(int64_t k, int64_t n, const float *const x[8], const float *b, int64_t b_cs,
                          float *const y[8]) {
    /* three columns at a time: one more B stream in flight than two was 41 -> 50 GFLOP/s
     * (x[8,4096] W^T, one thread) */
    gemm_dot_rows(8, 3, k, n, x, b, b_cs, y, GEMM_B_F32);
}

void gemv8_dot_half_avx512(int64_t k, int64_t n, const float *const x[8], const uint16_t *b,
                           int64_t b_cs, float *const y[8], bool bf16) {
    if (bf16)
        gemm_dot_rows(8, 3, k, n, x, b, b_cs, y, GEMM_B_BF16);
    else
        gemm_dot_rows(8, 3, k, n, x, b, b_cs, y, GEMM_B_F16);
}

void gemv4_dot_f32_avx512(int64_t k, int64_t n, const float *const x[4], const float *b, int64_t b_cs,
                          float *const y[4]) {
    gemm_dot_rows(4, 4, k, n, x, b, b_cs, y, GEMM_B_F32);
}

void gemv4_dot_half_avx512(int64_t k, int64_t n, const float *const x[4], const uint16_t *b,
                           int64_t b_cs, float *const y[4], bool bf16) {
    if (bf16)
        gemm_dot_rows(4, 4, k, n, x, b, b_cs, y, GEMM_B_BF16);
    else
        gemm_dot_rows(4, 4, k, n, x, b, b_cs, y, GEMM_B_F16);
}
