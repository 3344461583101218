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

/* ---- micro-kernel ------------------------------------------------------------------------- */

/* The k loop in assembly (as the AVX2 kernel: with intrinsics the compiler reorders and spills).
 * zmm0 and zmm1 take the two B panels' values of a step, zmm2..zmm7 the broadcast A values, and
 * zmm8..zmm31 are the accumulators: row i, B panel h in zmm(8 + 2 i + h). A micro-panel q is read
 * through %[a<q>]; B panel 1 lies %[boff] bytes after panel 0. */
/* clang-format off */
#define T_BCAST(P, u, r, X)                                                                        \
    "vbroadcastss " #u "*%c[us]+" #r "*%c[rs](%[a" #P "]), %%zmm" #X "\n\t"
#define T_FMA(B, X, ACC) "vfmadd231ps %%zmm" #B ", %%zmm" #X ", %%zmm" #ACC "\n\t"
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
#define T_ADD_1(c0, c1, i) "vaddps (%[c]), %%zmm" #c0 ", %%zmm" #c0 "\n\t" T_PUT_1(c0, c1, i)
#define T_ADD_2(c0, c1, i)                                                                         \
    "vaddps (%[c]), %%zmm" #c0 ", %%zmm" #c0 "\n\t" "vaddps 64(%[c]), %%zmm" #c1 ", %%zmm" #c1 "\n\t" \
    T_PUT_2(c0, c1, i)
#define T_BIAS_1(c0, c1, i)                                                                        \
    "vaddps " #i "*4(%[bias])%{1to16%}, %%zmm" #c0 ", %%zmm" #c0 "\n\t" T_PUT_1(c0, c1, i)
#define T_BIAS_2(c0, c1, i)                                                                        \
    "vaddps " #i "*4(%[bias])%{1to16%}, %%zmm" #c0 ", %%zmm" #c0 "\n\t"                            \
    "vaddps " #i "*4(%[bias])%{1to16%}, %%zmm" #c1 ", %%zmm" #c1 "\n\t" T_PUT_2(c0, c1, i)

/* The whole k loop for P micro-panels of A (6 P rows) and Q panels of B (16 Q columns), unrolled
 * by four, ending with OUT: T_STORE into acc, or T_ROWS_P of T_PUT_Q / T_ADD_Q / T_BIAS_Q into C.
 * Value r of step u of a panel lies u US + r RS bytes on: US = 24, RS = 4 for the packed panels,
 * US = 4, RS = GEMM_F32_ROWS_STRIDE floats for rows. */
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

/* One call of the k loop: its operands (the asm reads and advances them in place). */
typedef struct tile {
    const float *a0, *a1, *b;
    int64_t k4, kr;
    float *c;
    float *acc;
    int64_t b_step, b_off, c_rs_bytes;
    const float *bias;
} tile;

/* The tile's shape as a switch index: (P - 1) * 2 + (Q - 1), P A panels and Q B panels. */
static int tile_shape(int mr, int nr) { return (mr > 6 ? 2 : 0) + (nr > 16 ? 1 : 0); }

/* clang-format off */
#define T_OUT_ACC(P, Q) T_STORE
#define T_OUT_PUT(P, Q) T_ROWS_##P(T_PUT_##Q)
#define T_OUT_ADD(P, Q) T_ROWS_##P(T_ADD_##Q)
#define T_OUT_BIAS(P, Q) T_ROWS_##P(T_BIAS_##Q)
#define T_SWITCH(shape, OUT, US, RS)                                                               \
    switch (shape) {                                                                               \
    case 0: T_LOOP(1, 1, OUT(1, 1), US, RS); break;                                               \
    case 1: T_LOOP(1, 2, OUT(1, 2), US, RS); break;                                               \
    case 2: T_LOOP(2, 1, OUT(2, 1), US, RS); break;                                               \
    default: T_LOOP(2, 2, OUT(2, 2), US, RS); break;                                              \
    }
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
