/* Internal: the AVX-512 GEMM tile's k loop as assembly macros, shared by the f32 tile (12 x 32,
 * gemm_avx512.c) and the f64 one (12 x 16, gemm_f64_avx512.c): the same registers and the same
 * byte layout (64 bytes of B a step and panel, accumulators 64 bytes a row and panel), with the
 * element's instructions named by the including file before it includes this header: T_VBCAST
 * (broadcast one A value), T_VFMA (multiply-add) and T_VADD (add C to an accumulator). */
#ifndef BORN_CPU_GEMM_TILE_AVX512_H
#define BORN_CPU_GEMM_TILE_AVX512_H

#include <stdint.h>

#if !defined(T_VBCAST) || !defined(T_VFMA) || !defined(T_VADD)
#error "define T_VBCAST, T_VFMA and T_VADD before including gemm_tile_avx512.h"
#endif

/* The k loop in assembly (as the AVX2 kernel: with intrinsics the compiler reorders and spills).
 * zmm0 and zmm1 take the two B panels' values of a step, zmm2..zmm7 the broadcast A values, and
 * zmm8..zmm31 are the accumulators: row i, B panel h in zmm(8 + 2 i + h). A micro-panel q is read
 * through %[a<q>]; B panel 1 lies %[boff] bytes after panel 0. */
/* clang-format off */
#define T_BCAST(P, u, r, X)                                                                        \
    T_VBCAST " " #u "*%c[us]+" #r "*%c[rs](%[a" #P "]), %%zmm" #X "\n\t"
#define T_FMA(B, X, ACC) T_VFMA " %%zmm" #B ", %%zmm" #X ", %%zmm" #ACC "\n\t"
/* row r of A panel P times the Q panels of B */
#define T_ROW_1(P, u, r, X, c0, c1) T_BCAST(P, u, r, X) T_FMA(0, X, c0)
#define T_ROW_2(P, u, r, X, c0, c1) T_BCAST(P, u, r, X) T_FMA(0, X, c0) T_FMA(1, X, c1)
#define T_PANEL0(Q, u)                                                                             \
    T_ROW_##Q(0, u, 0, 2, 8, 9) T_ROW_##Q(0, u, 1, 3, 10, 11) T_ROW_##Q(0, u, 2, 4, 12, 13)        \
    T_ROW_##Q(0, u, 3, 5, 14, 15) T_ROW_##Q(0, u, 4, 6, 16, 17) T_ROW_##Q(0, u, 5, 7, 18, 19)
#define T_PANEL1(Q, u)                                                                             \
    T_ROW_##Q(1, u, 0, 2, 20, 21) T_ROW_##Q(1, u, 1, 3, 22, 23) T_ROW_##Q(1, u, 2, 4, 24, 25)      \
    T_ROW_##Q(1, u, 3, 5, 26, 27) T_ROW_##Q(1, u, 4, 6, 28, 29) T_ROW_##Q(1, u, 5, 7, 30, 31)
/* Each step asks for B's line 32 steps ahead into L1 (prefetcht0): the panels stream from L2,
 * whose own prefetchers stop there; 2048^3 on one thread 201 -> 206 GFLOP/s, 1024^3 205 -> 210
 * (2-core Xeon, 2026-12-02; A's lines too gained nothing more). */
#define T_AHEAD "2048"
#define T_LOADB_1                                                                                  \
    "prefetcht0 " T_AHEAD "(%[b])\n\t" "vmovups (%[b]), %%zmm0\n\t" "add %[bs], %[b]\n\t"
#define T_LOADB_2                                                                                  \
    "prefetcht0 " T_AHEAD "(%[b])\n\t" "prefetcht0 " T_AHEAD "(%[b],%[boff])\n\t"             \
    "vmovups (%[b]), %%zmm0\n\t" "vmovups (%[b],%[boff]), %%zmm1\n\t" "add %[bs], %[b]\n\t"
#define T_STEP_1(Q, u) T_LOADB_##Q T_PANEL0(Q, u)
#define T_STEP_2(Q, u) T_LOADB_##Q T_PANEL0(Q, u) T_PANEL1(Q, u)

#define T_ADV_1(n) "add $" #n "*%c[us], %[a0]\n\t"
#define T_ADV_2(n) T_ADV_1(n) "add $" #n "*%c[us], %[a1]\n\t"

#define T_ZERO2(c0, c1) "vpxord %%zmm" #c0 ", %%zmm" #c0 ", %%zmm" #c0 "\n\t"                      \
    "vpxord %%zmm" #c1 ", %%zmm" #c1 ", %%zmm" #c1 "\n\t"
#define T_ZERO                                                                                     \
    T_ZERO2(8, 9) T_ZERO2(10, 11) T_ZERO2(12, 13) T_ZERO2(14, 15) T_ZERO2(16, 17) T_ZERO2(18, 19)  \
    T_ZERO2(20, 21) T_ZERO2(22, 23) T_ZERO2(24, 25) T_ZERO2(26, 27) T_ZERO2(28, 29) T_ZERO2(30, 31)

/* The outputs, one macro F(c0, c1, i) per row i of A panel 0 (..._1) or of both (..._2): row i's
 * accumulators are c0 (B panel 0) and c1 (B panel 1). */
#define T_ROWS_1(F) F(8, 9, 0) F(10, 11, 1) F(12, 13, 2) F(14, 15, 3) F(16, 17, 4) F(18, 19, 5)
#define T_ROWS_2(F)                                                                                \
    T_ROWS_1(F) F(20, 21, 6) F(22, 23, 7) F(24, 25, 8) F(26, 27, 9) F(28, 29, 10) F(30, 31, 11)
/* into acc[12][32] (every accumulator, whatever the tile's size) */
#define T_ST(c0, c1, i)                                                                            \
    "vmovaps %%zmm" #c0 ", (" #c0 "-8)*64(%[acc])\n\t" "vmovaps %%zmm" #c1 ", (" #c1 "-8)*64(%[acc])\n\t"
#define T_STORE T_ROWS_2(T_ST)
/* Straight from the accumulators to C (alpha 1, rows of 16 Q contiguous floats c_rs apart): row
 * by row either stored (beta 0), added to C (beta 1: fma(1, c, acc) is c + acc, one rounding) or
 * added to a bias per row (the first k block of a product that starts from it: bias + acc). */
#define T_NEXT "add %[crs], %[c]\n\t"
#define T_PUT_1(c0, c1, i) "vmovups %%zmm" #c0 ", (%[c])\n\t" T_NEXT
#define T_PUT_2(c0, c1, i) "vmovups %%zmm" #c0 ", (%[c])\n\t" "vmovups %%zmm" #c1 ", 64(%[c])\n\t" T_NEXT
#define T_ADD_1(c0, c1, i) T_VADD " (%[c]), %%zmm" #c0 ", %%zmm" #c0 "\n\t" T_PUT_1(c0, c1, i)
#define T_ADD_2(c0, c1, i)                                                                         \
    T_VADD " (%[c]), %%zmm" #c0 ", %%zmm" #c0 "\n\t" T_VADD " 64(%[c]), %%zmm" #c1 ", %%zmm" #c1 "\n\t" \
    T_PUT_2(c0, c1, i)
/* The whole k loop for P micro-panels of A (6 P rows) and Q panels of B (16 Q columns), unrolled
 * by four, ending with OUT: T_STORE into acc, or T_ROWS_P of T_PUT_Q / T_ADD_Q / T_BIAS_Q into C.
 * Value r of step u of a panel lies u US + r RS bytes on: US = 24, RS = 4 for the packed panels,
 * US = 4, RS = GEMM_F32_ROWS_STRIDE floats for rows (f64's packed panels: US = 48, RS = 8). */
#define T_LOOP(P, Q, OUT, US, RS)                                                                  \
    __asm__ volatile(                                                                              \
        T_ZERO                                                                                     \
        "test %[k4], %[k4]\n\t"                                                                    \
        "jz 2f\n\t"                                                                                \
        ".p2align 5\n"                                                                             \
        "1:\n\t"                                                                                   \
        T_STEP_##P(Q, 0)                                                                           \
        T_STEP_##P(Q, 1)                                                                           \
        T_STEP_##P(Q, 2)                                                                           \
        T_STEP_##P(Q, 3)                                                                           \
        T_ADV_##P(4)                                                                               \
        "dec %[k4]\n\t"                                                                            \
        "jnz 1b\n"                                                                                 \
        "2:\n\t"                                                                                   \
        "test %[kr], %[kr]\n\t"                                                                    \
        "jz 4f\n"                                                                                  \
        "3:\n\t"                                                                                   \
        T_STEP_##P(Q, 0)                                                                           \
        T_ADV_##P(1)                                                                               \
        "dec %[kr]\n\t"                                                                            \
        "jnz 3b\n"                                                                                 \
        "4:\n\t"                                                                                   \
        OUT                                                                                        \
        : [a0] "+r"(t->a0), [a1] "+r"(t->a1), [b] "+r"(t->b), [k4] "+r"(t->k4), [kr] "+r"(t->kr),  \
          [c] "+r"(t->c)                                                                           \
        : [acc] "r"(t->acc), [bs] "r"(t->b_step), [boff] "r"(t->b_off), [crs] "r"(t->c_rs_bytes), \
          [bias] "r"(t->bias), [us] "i"(US), [rs] "i"(RS)                                          \
        : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", \
          "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19",         \
          "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28",         \
          "xmm29", "xmm30", "xmm31", "cc", "memory")
/* clang-format on */

/* One call of the k loop: its operands (the asm reads and advances them in place). */
typedef struct tile {
    const void *a0, *a1, *b;
    int64_t k4, kr;
    void *c;
    void *acc;
    int64_t b_step, b_off, c_rs_bytes;
    const float *bias;
} tile;

/* The tile's shape as a switch index: (P - 1) * 2 + (Q - 1), P A panels and Q B panels. */
static inline int tile_shape(int mr, int nr) { return (mr > 6 ? 2 : 0) + (nr > 16 ? 1 : 0); }

/* clang-format off */
#define T_OUT_ACC(P, Q) T_STORE
#define T_OUT_PUT(P, Q) T_ROWS_##P(T_PUT_##Q)
#define T_OUT_ADD(P, Q) T_ROWS_##P(T_ADD_##Q)
#define T_SWITCH(shape, OUT, US, RS)                                                               \
    switch (shape) {                                                                               \
    case 0: T_LOOP(1, 1, OUT(1, 1), US, RS); break;                                               \
    case 1: T_LOOP(1, 2, OUT(1, 2), US, RS); break;                                               \
    case 2: T_LOOP(2, 1, OUT(2, 1), US, RS); break;                                               \
    default: T_LOOP(2, 2, OUT(2, 2), US, RS); break;                                              \
    }
/* clang-format on */

#endif
