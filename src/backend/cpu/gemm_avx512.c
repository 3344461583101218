/* AVX-512 pieces of the f32 GEMM (see gemm_kernels.h for the contracts): the 24 x 16 micro-kernel
 * and the f32 panel packers. Compiled with -mavx512f/bw/dq/vl and called only when cpu_get_level()
 * says CPU_LEVEL_AVX512.
 *
 * The tile keeps the packed formats of the other levels: A comes as up to four 6-row micro-panels
 * (gemm.c's A packing, cpu_gemm_f32_pack_a's prepacked weights), lying one after another kc steps
 * apart, and B as one 16-column panel. Each k step loads one zmm of B and multiplies it by 24
 * values of A broadcast straight from memory ({1to16}), 24 FMAs into 24 zmm accumulators: two
 * loads in 24 FMAs, so the two FMA ports are the limit. The B panel (16 KB at kc = 256) stays in
 * L1 across the A panels of an m block; the A panels stream from L2.
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

/* ---- micro-kernel ------------------------------------------------------------------------- */

/* The k loop in assembly (as the AVX2 kernel: with intrinsics the compiler reorders and spills).
 * zmm0..zmm3 take B steps in turn, zmm8..zmm31 are the accumulators, row i in zmm(8 + i). A
 * micro-panel q is read through %[a<q>]; each step of it is 6 floats (24 bytes). */
/* clang-format off */
#define K5_FMA(Q, u, r, B, ACC)                                                                    \
    "vfmadd231ps " #u "*%c[us]+" #r "*%c[rs](%[a" #Q "])%{1to16%}, %%zmm" #B ", %%zmm" #ACC "\n\t"
#define K5_PANEL(Q, u, B, c0, c1, c2, c3, c4, c5)                                                  \
    K5_FMA(Q, u, 0, B, c0) K5_FMA(Q, u, 1, B, c1) K5_FMA(Q, u, 2, B, c2)                           \
    K5_FMA(Q, u, 3, B, c3) K5_FMA(Q, u, 4, B, c4) K5_FMA(Q, u, 5, B, c5)
#define K5_P0(u, B) K5_PANEL(0, u, B, 8, 9, 10, 11, 12, 13)
#define K5_P1(u, B) K5_PANEL(1, u, B, 14, 15, 16, 17, 18, 19)
#define K5_P2(u, B) K5_PANEL(2, u, B, 20, 21, 22, 23, 24, 25)
#define K5_P3(u, B) K5_PANEL(3, u, B, 26, 27, 28, 29, 30, 31)
#define K5_LOADB(B) "vmovups (%[b]), %%zmm" #B "\n\t" "add %[bs], %[b]\n\t"

#define K5_STEP_1(u, B) K5_LOADB(B) K5_P0(u, B)
#define K5_STEP_2(u, B) K5_STEP_1(u, B) K5_P1(u, B)
#define K5_STEP_3(u, B) K5_STEP_2(u, B) K5_P2(u, B)
#define K5_STEP_4(u, B) K5_STEP_3(u, B) K5_P3(u, B)

#define K5_ADV_1(n) "add $" #n "*%c[us], %[a0]\n\t"
#define K5_ADV_2(n) K5_ADV_1(n) "add $" #n "*%c[us], %[a1]\n\t"
#define K5_ADV_3(n) K5_ADV_2(n) "add $" #n "*%c[us], %[a2]\n\t"
#define K5_ADV_4(n) K5_ADV_3(n) "add $" #n "*%c[us], %[a3]\n\t"

#define K5_PF_1 "prefetcht0 512(%[a0])\n\t"
#define K5_PF_2 K5_PF_1 "prefetcht0 512(%[a1])\n\t"
#define K5_PF_3 K5_PF_2 "prefetcht0 512(%[a2])\n\t"
#define K5_PF_4 K5_PF_3 "prefetcht0 512(%[a3])\n\t"

#define K5_ZERO6(c0, c1, c2, c3, c4, c5)                                                           \
    "vpxord %%zmm" #c0 ", %%zmm" #c0 ", %%zmm" #c0 "\n\t"                                          \
    "vpxord %%zmm" #c1 ", %%zmm" #c1 ", %%zmm" #c1 "\n\t"                                          \
    "vpxord %%zmm" #c2 ", %%zmm" #c2 ", %%zmm" #c2 "\n\t"                                          \
    "vpxord %%zmm" #c3 ", %%zmm" #c3 ", %%zmm" #c3 "\n\t"                                          \
    "vpxord %%zmm" #c4 ", %%zmm" #c4 ", %%zmm" #c4 "\n\t"                                          \
    "vpxord %%zmm" #c5 ", %%zmm" #c5 ", %%zmm" #c5 "\n\t"
#define K5_ZERO_1 K5_ZERO6(8, 9, 10, 11, 12, 13)
#define K5_ZERO_2 K5_ZERO_1 K5_ZERO6(14, 15, 16, 17, 18, 19)
#define K5_ZERO_3 K5_ZERO_2 K5_ZERO6(20, 21, 22, 23, 24, 25)
#define K5_ZERO_4 K5_ZERO_3 K5_ZERO6(26, 27, 28, 29, 30, 31)

#define K5_ST(r) "vmovaps %%zmm" #r ", (" #r "-8)*64(%[acc])\n\t"
#define K5_STORE6(c0, c1, c2, c3, c4, c5) K5_ST(c0) K5_ST(c1) K5_ST(c2) K5_ST(c3) K5_ST(c4) K5_ST(c5)
#define K5_STORE_1 K5_STORE6(8, 9, 10, 11, 12, 13)
#define K5_STORE_2 K5_STORE_1 K5_STORE6(14, 15, 16, 17, 18, 19)
#define K5_STORE_3 K5_STORE_2 K5_STORE6(20, 21, 22, 23, 24, 25)
#define K5_STORE_4 K5_STORE_3 K5_STORE6(26, 27, 28, 29, 30, 31)

/* Straight from the accumulators to C (alpha 1, rows of 16 contiguous floats c_rs apart): row by
 * row either stored (beta 0) or added to C (beta 1: fma(1, c, acc) is c + acc, one rounding). */
#define K5_PUT(r) "vmovups %%zmm" #r ", (%[c])\n\t" "add %[crs], %[c]\n\t"
#define K5_ADD(r) "vaddps (%[c]), %%zmm" #r ", %%zmm" #r "\n\t" K5_PUT(r)
#define K5_PUT6(c0, c1, c2, c3, c4, c5) K5_PUT(c0) K5_PUT(c1) K5_PUT(c2) K5_PUT(c3) K5_PUT(c4) K5_PUT(c5)
#define K5_ADD6(c0, c1, c2, c3, c4, c5) K5_ADD(c0) K5_ADD(c1) K5_ADD(c2) K5_ADD(c3) K5_ADD(c4) K5_ADD(c5)
#define K5_PUT_1 K5_PUT6(8, 9, 10, 11, 12, 13)
#define K5_PUT_2 K5_PUT_1 K5_PUT6(14, 15, 16, 17, 18, 19)
#define K5_PUT_3 K5_PUT_2 K5_PUT6(20, 21, 22, 23, 24, 25)
#define K5_PUT_4 K5_PUT_3 K5_PUT6(26, 27, 28, 29, 30, 31)
#define K5_ADD_1 K5_ADD6(8, 9, 10, 11, 12, 13)
#define K5_ADD_2 K5_ADD_1 K5_ADD6(14, 15, 16, 17, 18, 19)
#define K5_ADD_3 K5_ADD_2 K5_ADD6(20, 21, 22, 23, 24, 25)
#define K5_ADD_4 K5_ADD_3 K5_ADD6(26, 27, 28, 29, 30, 31)
/* ... or added to a bias per row (the first k block of a product that starts from it):
 * fma(1, bias, acc) is bias + acc, one rounding. Row i is accumulator i + 8. */
#define K5_BIAS(r, i) "vaddps " #i "*4(%[bias])%{1to16%}, %%zmm" #r ", %%zmm" #r "\n\t" K5_PUT(r)
#define K5_BIAS_1                                                                                  \
    K5_BIAS(8, 0) K5_BIAS(9, 1) K5_BIAS(10, 2) K5_BIAS(11, 3) K5_BIAS(12, 4) K5_BIAS(13, 5)
#define K5_BIAS_2                                                                                  \
    K5_BIAS_1 K5_BIAS(14, 6) K5_BIAS(15, 7) K5_BIAS(16, 8) K5_BIAS(17, 9) K5_BIAS(18, 10)          \
    K5_BIAS(19, 11)
#define K5_BIAS_3                                                                                  \
    K5_BIAS_2 K5_BIAS(20, 12) K5_BIAS(21, 13) K5_BIAS(22, 14) K5_BIAS(23, 15) K5_BIAS(24, 16)      \
    K5_BIAS(25, 17)
#define K5_BIAS_4                                                                                  \
    K5_BIAS_3 K5_BIAS(26, 18) K5_BIAS(27, 19) K5_BIAS(28, 20) K5_BIAS(29, 21) K5_BIAS(30, 22)      \
    K5_BIAS(31, 23)

/* The whole k loop for P micro-panels of A (6 P rows), unrolled by four, ending with OUT: K5_STORE
 * into acc, or K5_PUT / K5_ADD into C. Value r of step u of a panel lies u US + r RS bytes on:
 * US = 24, RS = 4 for the packed panels, US = 4, RS = GEMM_F32_ROWS_STRIDE floats for rows. */
#define K5_LOOP(P) K5_LOOP_TO(P, K5_STORE_##P, 24, 4)
#define K5_LOOP_TO(P, OUT, US, RS)                                                                                 \
    __asm__ volatile(                                                                              \
        K5_ZERO_##P                                                                                \
        "test %[k4], %[k4]\n\t"                                                                    \
        "jz 2f\n\t"                                                                                \
        ".p2align 5\n"                                                                             \
        "1:\n\t"                                                                                   \
        K5_PF_##P                                                                                  \
        K5_STEP_##P(0, 0)                                                                          \
        K5_STEP_##P(1, 1)                                                                          \
        K5_STEP_##P(2, 2)                                                                          \
        K5_STEP_##P(3, 3)                                                                          \
        K5_ADV_##P(4)                                                                              \
        "dec %[k4]\n\t"                                                                            \
        "jnz 1b\n"                                                                                 \
        "2:\n\t"                                                                                   \
        "test %[kr], %[kr]\n\t"                                                                    \
        "jz 4f\n"                                                                                  \
        "3:\n\t"                                                                                   \
        K5_STEP_##P(0, 0)                                                                          \
        K5_ADV_##P(1)                                                                              \
        "dec %[kr]\n\t"                                                                            \
        "jnz 3b\n"                                                                                 \
        "4:\n\t"                                                                                   \
        OUT                                                                                        \
        : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [b] "+r"(b),                 \
          [k4] "+r"(k4), [kr] "+r"(kr), [c] "+r"(cp)                                               \
        : [acc] "r"(acc), [bs] "r"(b_step), [crs] "r"(c_rs_bytes), [bias] "r"(bias),               \
          [us] "i"(US), [rs] "i"(RS)                                                               \
        : "xmm0", "xmm1", "xmm2", "xmm3", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",      \
          "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22",         \
          "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31", "cc",   \
          "memory")
/* clang-format on */

/* C = alpha acc + beta C for the mr x nr corner of the tile (beta == 0: C only written). */
static void store_acc(float acc[24][16], float *c, int64_t c_rs, int64_t c_cs, int mr, int nr,
                      double alpha_d, double beta_d) {
    bool direct = nr == 16 && c_cs == 1;
    __m512 al = _mm512_set1_ps((float)alpha_d);
    float beta = (float)beta_d;
    __m512 be = _mm512_set1_ps(beta);
    if (c_cs == 1) { /* rows of C contiguous: full or masked vectors */
        __mmask16 m = direct ? (__mmask16)0xffff : (__mmask16)((1u << nr) - 1);
        for (int i = 0; i < mr; i++) {
            float *ci = c + i * c_rs;
            __m512 r = _mm512_mul_ps(al, _mm512_load_ps(acc[i]));
            if (beta != 0) r = _mm512_fmadd_ps(be, _mm512_maskz_loadu_ps(m, ci), r);
            _mm512_mask_storeu_ps(ci, m, r);
        }
        return;
    }
    for (int i = 0; i < mr; i++) {
        _mm512_store_ps(acc[i], _mm512_mul_ps(al, _mm512_load_ps(acc[i])));
        for (int j = 0; j < nr; j++) {
            float *cij = c + i * c_rs + j * c_cs;
            *cij = beta == 0 ? acc[i][j] : fmaf(beta, *cij, acc[i][j]);
        }
    }
}

void gemm_kernel_f32_avx512(int64_t kc, const void *a_, const void *b_, int64_t b_step, void *c_,
                            int64_t c_rs, int64_t c_cs, int mr, int nr, double alpha_d,
                            double beta_d) {
    const float *b = b_;
    float *c = c_;
    /* micro-panel q of A: 6 rows, kc steps, right after panel q - 1 */
    int panels = (mr + 5) / 6; /* only the panels that hold rows: a prepacked A has no others */
    const float *a0 = a_, *a1 = panels > 1 ? a0 + 6 * kc : a0;
    const float *a2 = panels > 2 ? a1 + 6 * kc : a0, *a3 = panels > 3 ? a2 + 6 * kc : a0;
    _Alignas(64) float acc[24][16];
    bool direct = nr == 16 && c_cs == 1;
    if (direct)
        for (int i = 0; i < mr; i++) {
            _mm_prefetch((const char *)(c + i * c_rs), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + i * c_rs + 15), _MM_HINT_T0);
        }
    int64_t k4 = kc / 4, kr = kc % 4;
    float *cp = c;
    int64_t c_rs_bytes = c_rs * (int64_t)sizeof(float);
    const float *bias = NULL; /* only K5_BIAS reads it */
    /* whole tiles with alpha 1 and beta 0 or 1 go from the registers to C (the same bits) */
    if (direct && mr == 6 * panels && alpha_d == 1.0 && (beta_d == 0.0 || beta_d == 1.0)) {
        if (beta_d == 0.0) {
            switch (panels) {
            case 1: K5_LOOP_TO(1, K5_PUT_1, 24, 4); break;
            case 2: K5_LOOP_TO(2, K5_PUT_2, 24, 4); break;
            case 3: K5_LOOP_TO(3, K5_PUT_3, 24, 4); break;
            default: K5_LOOP_TO(4, K5_PUT_4, 24, 4); break;
            }
        } else {
            switch (panels) {
            case 1: K5_LOOP_TO(1, K5_ADD_1, 24, 4); break;
            case 2: K5_LOOP_TO(2, K5_ADD_2, 24, 4); break;
            case 3: K5_LOOP_TO(3, K5_ADD_3, 24, 4); break;
            default: K5_LOOP_TO(4, K5_ADD_4, 24, 4); break;
            }
        }
        return;
    }
    switch (panels) {
    case 1: K5_LOOP(1); break;
    case 2: K5_LOOP(2); break;
    case 3: K5_LOOP(3); break;
    default: K5_LOOP(4); break;
    }

    store_acc(acc, c, c_rs, c_cs, mr, nr, alpha_d, beta_d);
}

/* A as rows GEMM_F32_ROWS_STRIDE floats apart (2112 bytes: the displacement below) */
#define K5_RS 2112
_Static_assert(K5_RS == GEMM_F32_ROWS_STRIDE * 4, "K5_RS is the rows' stride in bytes");

void gemm_kernel_f32_avx512_rows(int64_t kc, const float *a, const float *b, int64_t b_step,
                                 float *c, int64_t c_rs, int64_t c_cs, int mr, int nr,
                                 double alpha_d, double beta_d) {
    int panels = (mr + 5) / 6;
    const float *a0 = a, *a1 = a + 6 * GEMM_F32_ROWS_STRIDE, *a2 = a + 12 * GEMM_F32_ROWS_STRIDE;
    const float *a3 = a + 18 * GEMM_F32_ROWS_STRIDE;
    _Alignas(64) float acc[24][16];
    int64_t k4 = kc / 4, kr = kc % 4;
    float *cp = c;
    int64_t c_rs_bytes = c_rs * (int64_t)sizeof(float);
    const float *bias = NULL; /* only K5_BIAS reads it */
    if (nr == 16 && c_cs == 1 && mr == 24 && alpha_d == 1.0 && (beta_d == 0.0 || beta_d == 1.0)) {
        if (beta_d == 0.0)
            K5_LOOP_TO(4, K5_PUT_4, 4, K5_RS);
        else
            K5_LOOP_TO(4, K5_ADD_4, 4, K5_RS);
        return;
    }
    switch (panels) {
    case 1: K5_LOOP_TO(1, K5_STORE_1, 4, K5_RS); break;
    case 2: K5_LOOP_TO(2, K5_STORE_2, 4, K5_RS); break;
    case 3: K5_LOOP_TO(3, K5_STORE_3, 4, K5_RS); break;
    default: K5_LOOP_TO(4, K5_STORE_4, 4, K5_RS); break;
    }
    store_acc(acc, c, c_rs, c_cs, mr, nr, alpha_d, beta_d);
}

void gemm_kernel_f32_avx512_bias(int64_t kc, const void *a_, const void *b_, int64_t b_step,
                                 float *c, int64_t c_rs, int64_t c_cs, int mr, int nr,
                                 const float *bias) {
    const float *b = b_;
    int panels = (mr + 5) / 6;
    const float *a0 = a_, *a1 = panels > 1 ? a0 + 6 * kc : a0;
    const float *a2 = panels > 2 ? a1 + 6 * kc : a0, *a3 = panels > 3 ? a2 + 6 * kc : a0;
    _Alignas(64) float acc[24][16];
    int64_t k4 = kc / 4, kr = kc % 4;
    float *cp = c;
    int64_t c_rs_bytes = c_rs * (int64_t)sizeof(float);
    if (nr == 16 && c_cs == 1 && mr == 6 * panels) {
        switch (panels) {
        case 1: K5_LOOP_TO(1, K5_BIAS_1, 24, 4); break;
        case 2: K5_LOOP_TO(2, K5_BIAS_2, 24, 4); break;
        case 3: K5_LOOP_TO(3, K5_BIAS_3, 24, 4); break;
        default: K5_LOOP_TO(4, K5_BIAS_4, 24, 4); break;
        }
        return;
    }
    switch (panels) {
    case 1: K5_LOOP(1); break;
    case 2: K5_LOOP(2); break;
    case 3: K5_LOOP(3); break;
    default: K5_LOOP(4); break;
    }
    for (int i = 0; i < mr; i++) {
        __m512 r = _mm512_add_ps(_mm512_set1_ps(bias[i]), _mm512_load_ps(acc[i]));
        if (c_cs == 1) {
            _mm512_mask_storeu_ps(c + i * c_rs, (__mmask16)((1u << nr) - 1), r);
            continue;
        }
        _mm512_store_ps(acc[i], r);
        for (int j = 0; j < nr; j++) c[i * c_rs + j * c_cs] = acc[i][j];
    }
}

/* ---- the few-row GEMV's dot form (its loop in gemm_dot.h) ---------------------------------- */

void gemv8_dot_f32_avx512(int64_t k, int64_t n, const float *const x[8], const float *b, int64_t b_cs,
                          float *const y[8]) {
    /* three columns at a time: one more B stream in flight than two was 41 -> 50 GFLOP/s
     * (x[8,4096] W^T, one thread) */
    gemm_dot_rows(8, 3, k, n, x, b, b_cs, y);
}

void gemv4_dot_f32_avx512(int64_t k, int64_t n, const float *const x[4], const float *b, int64_t b_cs,
                          float *const y[4]) {
    gemm_dot_rows(4, 4, k, n, x, b, b_cs, y);
}
