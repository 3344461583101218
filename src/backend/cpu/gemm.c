/* General matrix multiply, BLIS style.
 *
 *   for jc in steps of NC over n          (B block: L3)
 *     for pc in steps of KC over k        pack B[pc.., jc..] into NR-wide micro-panels (shared)
 *       for ic in steps of MC over m      pack A[ic.., pc..] into MR-tall micro-panels (per task)
 *         for jr, ir: micro-kernel        (B micro-panel in L1, A block in L2)
 *
 * Packing absorbs every stride and transposition, so the micro-kernel only ever sees unit-stride
 * panels. Blocks are equalised (k = 300 is two blocks of 150, not 256 and 44; m blocks hold
 * whole MR panels, their counts differing by at most one) and the m blocks come in a multiple of
 * the thread count when there are enough of them, which keeps the threads equally busy. The
 * (ic, jr-group) blocks of one (jc, pc) step are independent tasks for born_parallel_for; packing
 * B is split over its panels, and with several threads the next k block's B is packed into a
 * second buffer by the tail tasks of the current step (the threads that finish their blocks
 * first), one parallel region per k block instead of two. With few m blocks and several k blocks
 * (weight gradients: k is the tokens) B is packed for all of k in one parallel region and each
 * task then runs its own k loop, two regions per jc step instead of two per k block.
 *
 * Few rows do not pay for packing B, which then costs more than the product: m == 1 (or n == 1,
 * by transposing the problem) and, in f32, up to GEMV_DOT_ROWS / GEMV_AXPY_ROWS rows take GEMV
 * paths that stream B once as it lies (dot products when its columns are contiguous, row updates
 * when its rows are), split over output columns only.
 *
 * Determinism: the k blocking depends only on k, and each element of C is accumulated by the
 * same instructions in k order wherever its tile or chunk lands, so results are bit-identical for
 * any number of threads (the path taken depends on the shapes and strides alone).
 *
 * Packing buffers are per thread and reused between calls (freed when the thread exits). If one
 * cannot be allocated the routine falls back to a plain loop rather than failing. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/cpu/convert_simd.h"
#include "backend/cpu/gemm.h"
#include "backend/cpu/gemm_kernels.h"
#include "backend/cpu/scratch.h"
#include "born/core.h"
#include "core/cpu_features.h"

/* ---- per-thread packing buffers (scratch.h) ---------------------------------------------- */

enum {
    BUF_A = CPU_SCRATCH_GEMM_A,
    BUF_B = CPU_SCRATCH_GEMM_B,
    BUF_B2 = CPU_SCRATCH_GEMM_B2,
    BUF_X = CPU_SCRATCH_GEMM_X,
    BUF_Y = CPU_SCRATCH_GEMM_Y
};

/* This thread's buffer `which`, at least `bytes` long and 64-byte aligned; NULL if memory is
 * short. */
static void *gemm_buffer(int which, size_t bytes) {
    return cpu_scratch((cpu_scratch_slot)which, bytes);
}

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* ---- packing ------------------------------------------------------------------------------ */

/* One full R-lane panel from lanes that are contiguous along k: dst[p * R + i] = s[i * ls + p]
 * (the portable version of gemm_pack_t*_avx2). */
#define DEFINE_PACK_T(name, T, R)                                                                  \
    static void name(int64_t kc, const T *s, int64_t ls, T *dst) {                                 \
        for (int64_t p0 = 0; p0 < kc; p0 += 64) {                                                  \
            int64_t p1 = p0 + 64 < kc ? p0 + 64 : kc;                                              \
            for (int i = 0; i < R; i++) {                                                          \
                const T *row = s + i * ls;                                                         \
                for (int64_t p = p0; p < p1; p++)                                                  \
                    dst[p * R + i] = row[p];                                                       \
            }                                                                                      \
        }                                                                                          \
    }

DEFINE_PACK_T(pack_t6_f32, float, 6)
DEFINE_PACK_T(pack_t16_f32, float, 16)
DEFINE_PACK_T(pack_t6_f64, double, 6)
DEFINE_PACK_T(pack_t8_f64, double, 8)

/* Lanes with a unit stride (rows of B, along its columns) into R-lane micro-panels:
 * dst[panel][p][lane] = src[p * ks + panel * R + lane], zeros past count; four panels a pass
 * over k (four write streams, not one per panel). The portable version of
 * gemm_pack_rows16_f32_avx2 / gemm_pack_rows8_f64_avx2. */
#define DEFINE_PACK_ROWS(name, T, R)                                                               \
    static void name(int64_t count, int64_t kc, const T *src, int64_t ks, T *dst) {                \
        int64_t full = count / R, r = count - full * R;                                            \
        for (int64_t q0 = 0; q0 < full; q0 += 4) {                                                 \
            int64_t q1 = q0 + 4 < full ? q0 + 4 : full;                                            \
            for (int64_t p = 0; p < kc; p++) {                                                     \
                const T *row = src + p * ks;                                                       \
                for (int64_t q = q0; q < q1; q++)                                                  \
                    memcpy(dst + q * kc * R + p * R, row + q * R, R * sizeof(T));                  \
            }                                                                                      \
        }                                                                                          \
        for (int64_t p = 0; r > 0 && p < kc; p++) { /* the last panel: r lanes, zeros after */     \
            T *d = dst + full * kc * R + p * R;                                                    \
            memcpy(d, src + p * ks + full * R, (size_t)r * sizeof(T));                             \
            memset(d + r, 0, (size_t)(R - r) * sizeof(T));                                         \
        }                                                                                          \
    }

DEFINE_PACK_ROWS(pack_rows6_f32, float, GEMM_F32_MR)
DEFINE_PACK_ROWS(pack_rows16_f32, float, GEMM_F32_NR)
DEFINE_PACK_ROWS(pack_rows6_f64, double, GEMM_F64_MR)
DEFINE_PACK_ROWS(pack_rows8_f64, double, GEMM_F64_NR)

/* Packs `count` lanes (rows of A, or columns of B) of kc steps each into R-lane micro-panels:
 * dst[panel][p][lane] = src[(panel * R + lane) * ls + p * ks], zero beyond count. Lanes that are
 * contiguous along k go through the transposing panel packer TP, a unit lane stride through the
 * row packer ROWS; other strides element by element. */
#define DEFINE_PACK(name, T, R, TP, ROWS)                                                          \
    static void name(int64_t count, int64_t kc, const void *src_, int64_t ls, int64_t ks,          \
                     void *dst_) {                                                                 \
        const T *src = src_;                                                                       \
        T *dst = dst_;                                                                             \
        if (ls == 1) {                                                                             \
            ROWS(count, kc, src, ks, dst);                                                         \
            return;                                                                                \
        }                                                                                          \
        int64_t full = count / R;                                                                  \
        if (ks == 1) {                                                                             \
            for (int64_t q = 0; q < full; q++)                                                     \
                TP(kc, src + q * R * ls, ls, dst + q * kc * R);                                    \
        } else {                                                                                   \
            for (int64_t q = 0; q < full; q++)                                                     \
                for (int64_t p = 0; p < kc; p++)                                                   \
                    for (int i = 0; i < R; i++)                                                    \
                        dst[q * kc * R + p * R + i] = src[(q * R + i) * ls + p * ks];              \
        }                                                                                          \
        int64_t r = count - full * R;                                                              \
        if (r > 0) {                                                                               \
            const T *s = src + full * R * ls;                                                      \
            T *d = dst + full * kc * R;                                                            \
            for (int64_t p = 0; p < kc; p++) { /* the last panel: r lanes, zeros after */          \
                for (int64_t i = 0; i < r; i++)                                                    \
                    d[p * R + i] = s[i * ls + p * ks];                                             \
                memset(d + p * R + r, 0, (size_t)(R - r) * sizeof(T));                             \
            }                                                                                      \
        }                                                                                          \
    }

DEFINE_PACK(pack_a_f32, float, GEMM_F32_MR, pack_t6_f32, pack_rows6_f32)
DEFINE_PACK(pack_b_f32, float, GEMM_F32_NR, pack_t16_f32, pack_rows16_f32)
DEFINE_PACK(pack_a_f64, double, GEMM_F64_MR, pack_t6_f64, pack_rows6_f64)
DEFINE_PACK(pack_b_f64, double, GEMM_F64_NR, pack_t8_f64, pack_rows8_f64)
#ifdef GEMM_HAVE_AVX2
DEFINE_PACK(pack_a_f32_avx2, float, GEMM_F32_MR, gemm_pack_t6_f32_avx2, pack_rows6_f32)
DEFINE_PACK(pack_b_f32_avx2, float, GEMM_F32_NR, gemm_pack_t16_f32_avx2, gemm_pack_rows16_f32_avx2)
DEFINE_PACK(pack_a_f64_avx2, double, GEMM_F64_MR, gemm_pack_t6_f64_avx2, pack_rows6_f64)
DEFINE_PACK(pack_b_f64_avx2, double, GEMM_F64_NR, gemm_pack_t8_f64_avx2, gemm_pack_rows8_f64_avx2)
#endif

/* ---- portable micro-kernels -------------------------------------------------------------- */

/* The tile is computed in column strips of W values (32 bytes), so that a strip's accumulators
 * fit in 16 128-bit registers and the compiler can keep them there. */
#define DEFINE_KERNEL_C(name, T, MR, NR, W)                                                        \
    static void name(int64_t kc, const void *a_, const void *b_, int64_t b_step, void *c_,         \
                     int64_t c_rs, int64_t c_cs, int mr, int nr, double alpha_d, double beta_d) {  \
        const T *a0 = a_, *b0 = b_;                                                                \
        T *c = c_;                                                                                 \
        T alpha = (T)alpha_d, beta = (T)beta_d;                                                    \
        int64_t bs = b_step / (int64_t)sizeof(T);                                                  \
        for (int h = 0; h < NR && h < nr; h += W) {                                                \
            T acc[MR][W];                                                                          \
            memset(acc, 0, sizeof acc);                                                            \
            const T *a = a0, *b = b0 + h;                                                          \
            for (int64_t p = 0; p < kc; p++, a += MR, b += bs)                                     \
                for (int i = 0; i < MR; i++)                                                       \
                    for (int j = 0; j < W; j++)                                                    \
                        acc[i][j] += a[i] * b[j];                                                  \
            for (int i = 0; i < mr; i++)                                                           \
                for (int j = 0; j < W && h + j < nr; j++) {                                        \
                    T *cij = c + i * c_rs + (h + j) * c_cs;                                        \
                    T t = alpha * acc[i][j];                                                       \
                    *cij = beta == 0 ? t : beta * *cij + t;                                        \
                }                                                                                  \
        }                                                                                          \
    }

DEFINE_KERNEL_C(kernel_f32_c, float, GEMM_F32_MR, GEMM_F32_NR, 8)
DEFINE_KERNEL_C(kernel_f64_c, double, GEMM_F64_MR, GEMM_F64_NR, 4)

/* ---- plain loops: tiny problems' fallback when no buffer can be had ---------------------- */

#define DEFINE_NAIVE(name, T)                                                                      \
    static void name(int64_t m, int64_t n, int64_t k, double alpha_d, const void *a_,              \
                     int64_t a_rs, int64_t a_cs, const void *b_, int64_t b_rs, int64_t b_cs,       \
                     double beta_d, void *c_, int64_t c_rs, int64_t c_cs) {                        \
        const T *a = a_, *b = b_;                                                                  \
        T *c = c_;                                                                                 \
        T alpha = (T)alpha_d, beta = (T)beta_d;                                                    \
        for (int64_t i = 0; i < m; i++)                                                            \
            for (int64_t j = 0; j < n; j++) {                                                      \
                T s = 0;                                                                           \
                for (int64_t p = 0; p < k; p++)                                                    \
                    s += a[i * a_rs + p * a_cs] * b[p * b_rs + j * b_cs];                          \
                T *cij = c + i * c_rs + j * c_cs;                                                  \
                T t = alpha * s;                                                                   \
                *cij = beta == 0 ? t : beta * *cij + t;                                            \
            }                                                                                      \
    }

DEFINE_NAIVE(naive_f32, float)
DEFINE_NAIVE(naive_f64, double)

/* C = beta * C (beta == 0 writes zeros without reading C). */
#define DEFINE_SCALE(name, T)                                                                      \
    static void name(int64_t m, int64_t n, double beta_d, void *c_, int64_t c_rs, int64_t c_cs) {  \
        T *c = c_;                                                                                 \
        T beta = (T)beta_d;                                                                        \
        for (int64_t i = 0; i < m; i++)                                                            \
            for (int64_t j = 0; j < n; j++) {                                                      \
                T *cij = c + i * c_rs + j * c_cs;                                                  \
                *cij = beta == 0 ? 0 : beta * *cij;                                                \
            }                                                                                      \
    }

DEFINE_SCALE(scale_f32, float)
DEFINE_SCALE(scale_f64, double)

/* ---- the blocked driver (dtype-independent) ---------------------------------------------- */

typedef void (*pack_fn)(int64_t count, int64_t kc, const void *src, int64_t ls, int64_t ks,
                        void *dst);
typedef void (*naive_fn)(int64_t m, int64_t n, int64_t k, double alpha, const void *a, int64_t a_rs,
                         int64_t a_cs, const void *b, int64_t b_rs, int64_t b_cs, double beta,
                         void *c, int64_t c_rs, int64_t c_cs);

typedef struct gemm_impl {
    size_t es;
    int mr, nr; /* the kernel's tile */
    int pw;     /* columns of one packed B panel: a tile of nr > pw reads nr / pw of them */
    int64_t mc, kc, nc; /* largest blocks */
    gemm_kernel_fn kernel;
    pack_fn pack_a, pack_b;
    naive_fn naive;
} gemm_impl;

typedef struct gemm_job {
    const gemm_impl *im;
    int64_t m, n, k;
    const char *a, *b;
    char *c;
    int64_t a_rs, a_cs, b_rs, b_cs, c_rs, c_cs;
    double alpha, beta;
    int64_t nc_blk, kc_blk; /* equalised block sizes */
    int64_t mpanels;        /* MR-row panels of m, shared out between the m blocks */
    /* the (jc, pc) step in progress */
    int64_t jc, nc, pc, kc;
    double beta_cur;
    char *bpack; /* (the weight read in place: x^T packed for all of k) */
    int64_t npanels, mblocks, ngroups, group_panels;
    /* called on each block of C once it holds its final values (cpu_gemm_f32_ep), or NULL;
     * swapped: the job computes C^T (gemm_prepare), so its rows are C's columns */
    cpu_gemm_block_fn ep;
    void *ep_ctx;
    bool swapped;
    /* the next k block, packed by the tail tasks of the current step (threaded products) */
    int64_t next_pc, next_kc, pack_grain, pack_tasks;
    char *bnext;
    /* A and B as f16 (bf16 where bf16) halves, widened to f32 by the packing (cpu_gemm_halves);
     * src_es: the bytes of one of their elements (im->es, or 2 for halves) */
    bool halves, bf16;
    int64_t src_es;
} gemm_job;

/* Where A's element (i, p) and B's element (p, col) of the job lie. */
static const char *a_at(const gemm_job *j, int64_t i, int64_t p) {
    return j->a + (size_t)((i * j->a_rs + p * j->a_cs) * j->src_es);
}

static const char *b_at(const gemm_job *j, int64_t p, int64_t col) {
    return j->b + (size_t)((p * j->b_rs + col * j->b_cs) * j->src_es);
}

/* ---- packing halves ----------------------------------------------------------------------- */

enum { HALF_PACK_STEPS = 128, HALF_PACK_LANES = 64, HALF_PACK_MAX_R = 16 };
_Static_assert((int)GEMM_F32_MR <= (int)HALF_PACK_MAX_R && (int)GEMM_F32_NR <= (int)HALF_PACK_MAX_R,
               "pack_halves' buffer holds a panel's block of steps");

/* pack32's panels (R lanes each: dst[panel][p][lane], zeros past count) of `count` lanes of kc
 * f16 / bf16 values, lane i's step p at src + (i ls + p ks) * 2, widened to f32 on the way: the
 * f32 GEMM's packed panels of the widened operand, so the same kernels give its bits. Lanes
 * contiguous along k (a weight's transpose) go through the transposing conversions of
 * convert_avx2.c where a panel holds eight lanes or more; steps whose lanes are contiguous (a
 * weight as it lies) are widened a row of four panels at a time; otherwise blocks of
 * HALF_PACK_STEPS steps are widened into a buffer and packed from there. */
static void pack_halves(bool bf16, pack_fn pack32, int R, int64_t count, int64_t kc,
                        const char *src, int64_t ls, int64_t ks, float *dst) {
    float tmp[HALF_PACK_MAX_R * HALF_PACK_STEPS];
    int64_t panels = ceil_div(count, R);
    if (ls == 1 && R <= HALF_PACK_LANES) { /* a row of up to HALF_PACK_LANES lanes a step */
        int64_t group = HALF_PACK_LANES / R;
        for (int64_t q0 = 0; q0 < panels; q0 += group) {
            int64_t lanes = count - q0 * R < group * R ? count - q0 * R : group * R;
            for (int64_t p = 0; p < kc; p++) {
                cpu_halves_to_f32(src + (q0 * R + p * ks) * 2, 2, bf16, tmp, lanes);
                for (int64_t q = q0; q * R < q0 * R + lanes; q++) {
                    int64_t r = q0 * R + lanes - q * R < R ? q0 * R + lanes - q * R : R;
                    float *d = dst + q * kc * R + p * R;
                    memcpy(d, tmp + (q - q0) * R, (size_t)r * sizeof(float));
                    memset(d + r, 0, (size_t)(R - r) * sizeof(float));
                }
            }
        }
        return;
    }
    for (int64_t q = 0; q < panels; q++) {
        int64_t lanes = count - q * R < R ? count - q * R : R;
        const char *s = src + q * R * ls * 2;
        float *d = dst + q * kc * R;
#if defined(__x86_64__)
        if (ks == 1 && lanes >= 8 && cpu_get_level() >= CPU_LEVEL_AVX2) {
            cpu_transpose_avx2(s, ls * 2, (char *)d, R * (int64_t)sizeof(float), lanes, kc,
                               bf16 ? CPU_TRANSPOSE_BF16_TO_F32 : CPU_TRANSPOSE_F16_TO_F32);
            for (int64_t p = 0; lanes < R && p < kc; p++)
                memset(d + p * R + lanes, 0, (size_t)(R - lanes) * sizeof(float));
            continue;
        }
#endif
        for (int64_t p0 = 0; p0 < kc; p0 += HALF_PACK_STEPS) {
            int64_t steps = kc - p0 < HALF_PACK_STEPS ? kc - p0 : HALF_PACK_STEPS;
            for (int64_t i = 0; i < lanes; i++)
                cpu_halves_to_f32(s + (i * ls + p0 * ks) * 2, ks * 2, bf16,
                                  tmp + i * HALF_PACK_STEPS, steps);
            pack32(lanes, steps, tmp, HALF_PACK_STEPS, 1, d + p0 * R);
        }
    }
}

/* The im's packing of `count` rows of A (from a_at(j, i, p)) or columns of B, as pack_fn, with
 * halves widened on the way (pack_halves). */
static void pack_a_of(const gemm_job *j, int64_t count, int64_t kc, const char *src, void *dst) {
    if (j->halves)
        pack_halves(j->bf16, j->im->pack_a, GEMM_F32_MR, count, kc, src, j->a_rs, j->a_cs, dst);
    else
        j->im->pack_a(count, kc, src, j->a_rs, j->a_cs, dst);
}

static void pack_b_of(const gemm_job *j, int64_t count, int64_t kc, const char *src, void *dst) {
    if (j->halves)
        pack_halves(j->bf16, j->im->pack_b, j->im->pw, count, kc, src, j->b_cs, j->b_rs, dst);
    else
        j->im->pack_b(count, kc, src, j->b_cs, j->b_rs, dst);
}

/* The plain loop over an m x n block of C from A's row a and B's column b (out of memory for
 * packing buffers), halves read one by one. */
static void naive_of(const gemm_job *j, int64_t m, int64_t n, int64_t k, const char *a,
                     const char *b, double beta, char *c) {
    if (!j->halves) {
        j->im->naive(m, n, k, j->alpha, a, j->a_rs, j->a_cs, b, j->b_rs, j->b_cs, beta, c, j->c_rs,
                     j->c_cs);
        return;
    }
    const uint16_t *ha = (const uint16_t *)a, *hb = (const uint16_t *)b;
    float *fc = (float *)c;
    for (int64_t i = 0; i < m; i++)
        for (int64_t col = 0; col < n; col++) {
            float s = 0;
            for (int64_t p = 0; p < k; p++) {
                uint16_t x = ha[i * j->a_rs + p * j->a_cs], y = hb[p * j->b_rs + col * j->b_cs];
                s += (j->bf16 ? born_bf16_to_f32(x) : born_f16_to_f32(x)) *
                     (j->bf16 ? born_bf16_to_f32(y) : born_f16_to_f32(y));
            }
            float *cij = fc + i * j->c_rs + col * j->c_cs;
            *cij = beta == 0 ? (float)j->alpha * s : (float)beta * *cij + (float)j->alpha * s;
        }
}

/* Rows [i0, i0 + rows) and columns [j0, j0 + cols) of the job's C are final: the epilogue, in
 * the caller's coordinates (C's, not C^T's where the job swapped the operands). */
static void block_done(const gemm_job *j, int64_t i0, int64_t rows, int64_t j0, int64_t cols) {
    if (!j->ep) return;
    if (j->swapped)
        j->ep(j->ep_ctx, j0, cols, i0, rows);
    else
        j->ep(j->ep_ctx, i0, rows, j0, cols);
}

/* Packs B micro-panels [begin, end) of k block (pc, kc) of the current jc step into dst. */
static void pack_b_panels(const gemm_job *j, int64_t pc, int64_t kc, int64_t begin, int64_t end,
                          char *dst) {
    const gemm_impl *im = j->im;
    int64_t col0 = begin * im->nr, col1 = end * im->nr < j->nc ? end * im->nr : j->nc;
    pack_b_of(j, col1 - col0, kc, b_at(j, pc, j->jc + col0),
              dst + (size_t)(begin * kc * im->nr) * im->es);
}

/* Packs B micro-panels [begin, end) of the current step. */
static void pack_b_range(int64_t begin, int64_t end, void *ctx) {
    const gemm_job *j = ctx;
    pack_b_panels(j, j->pc, j->kc, begin, end, j->bpack);
}

/* The first MR-row panel of m block ib: the blocks' panel counts differ by at most one, so
 * tasks over m blocks are equal to within one panel (a short last block left one thread idle
 * at the end of every k step, 3-6% of a 2-thread square product). */
static int64_t m_block_panel(const gemm_job *j, int64_t ib) { return ib * j->mpanels / j->mblocks; }

/* The source of the next m block's A as a run of vectors (rows or columns of A, each
 * contiguous) asked into L2 a few cache lines per B panel while the block before it computes, so
 * that its packing reads L2 rather than memory: the packing's share of a one-thread 2048^3
 * product 4.5 -> 3.6% (2-core Xeon, 2026-12-03). Where A has no unit stride nothing is asked. */
typedef struct a_ahead {
    const char *base;
    int64_t vec_stride, nvec, vec_lines; /* bytes between vectors, vectors, lines a vector */
    int64_t next, total, per_panel;      /* lines asked so far, in all, a panel */
} a_ahead;

static a_ahead a_ahead_plan(const gemm_job *j, int64_t ib, int64_t panels) {
    a_ahead h = {0};
    if (ib >= j->mblocks || panels <= 0) return h;
    int64_t ic = m_block_panel(j, ib) * j->im->mr, iend = m_block_panel(j, ib + 1) * j->im->mr;
    int64_t mc = (iend < j->m ? iend : j->m) - ic;
    if (mc <= 0) return h;
    h.base = a_at(j, ic, j->pc);
    if (j->a_cs == 1) { /* rows */
        h.vec_stride = j->a_rs * j->src_es;
        h.nvec = mc;
        h.vec_lines = ceil_div(j->kc * j->src_es, 64) + 1;
    } else if (j->a_rs == 1) { /* columns */
        h.vec_stride = j->a_cs * j->src_es;
        h.nvec = j->kc;
        h.vec_lines = ceil_div(mc * j->src_es, 64) + 1;
    } else {
        return (a_ahead){0};
    }
    h.total = h.nvec * h.vec_lines;
    h.per_panel = ceil_div(h.total, panels);
    return h;
}

static void a_ahead_step(a_ahead *h) {
    int64_t end = h->next + h->per_panel < h->total ? h->next + h->per_panel : h->total;
    for (; h->next < end; h->next++) { /* addresses as integers: a row's last line may lie past A */
        uintptr_t at = (uintptr_t)h->base + (uintptr_t)(h->next / h->vec_lines * h->vec_stride +
                                                        h->next % h->vec_lines * 64);
        __builtin_prefetch((const void *)at, 0, 2);
    }
}

/* One task of the current (jc, pc) step: m block ib times B panels [p0, p1), whose packed
 * panels start at bpack (panel p0 first). */
static void compute_block(const gemm_job *j, int64_t ib, int64_t p0, int64_t p1, const char *bpack,
                          int64_t next_ib) {
    const gemm_impl *im = j->im;
    size_t es = im->es;
    int64_t ic = m_block_panel(j, ib) * im->mr, iend = m_block_panel(j, ib + 1) * im->mr;
    int64_t mc = (iend < j->m ? iend : j->m) - ic;
    if (mc <= 0 || p0 >= p1) return;
    int64_t mpanels = (mc + im->mr - 1) / im->mr;
    bool last = j->pc + j->kc >= j->k; /* C's values are final after this k block */
    char *apack = gemm_buffer(BUF_A, (size_t)(mpanels * im->mr * j->kc) * es);
    if (!apack) { /* out of memory: this block the slow way */
        int64_t col0 = p0 * im->nr, col1 = p1 * im->nr < j->nc ? p1 * im->nr : j->nc;
        naive_of(j, mc, col1 - col0, j->kc, a_at(j, ic, j->pc), b_at(j, j->pc, j->jc + col0),
                 j->beta_cur,
                 j->c + (size_t)((ic * j->c_rs + (j->jc + col0) * j->c_cs) * (int64_t)es));
        if (last) block_done(j, ic, mc, j->jc + col0, col1 - col0);
        return;
    }
    pack_a_of(j, mc, j->kc, a_at(j, ic, j->pc), apack);
    int64_t b_step = im->pw * (int64_t)es;
    a_ahead ahead = {0};
    if (next_ib != ib && next_ib >= 0) ahead = a_ahead_plan(j, next_ib, p1 - p0);
    for (int64_t jp = p0; jp < p1; jp++) {
        if (ahead.base) a_ahead_step(&ahead);
        int64_t col = jp * im->nr;
        int nr = (int)(j->nc - col < im->nr ? j->nc - col : im->nr);
        const char *bp = bpack + (size_t)((jp - p0) * j->kc * im->nr) * es;
        char *crow = j->c + (size_t)((ic * j->c_rs + (j->jc + col) * j->c_cs) * (int64_t)es);
        for (int64_t ir = 0; ir < mc; ir += im->mr) {
            int mr = (int)(mc - ir < im->mr ? mc - ir : im->mr);
            im->kernel(j->kc, apack + (size_t)(ir * j->kc) * es, bp, b_step,
                       crow + (size_t)(ir * j->c_rs * (int64_t)es), j->c_rs, j->c_cs, mr, nr, j->alpha,
                       j->beta_cur);
        }
    }
    /* the block in L2 (mc rows by the group's columns): runs long enough for vector loops */
    if (last) {
        int64_t col0 = p0 * im->nr, col1 = p1 * im->nr < j->nc ? p1 * im->nr : j->nc;
        block_done(j, ic, mc, j->jc + col0, col1 - col0);
    }
}

/* Runs tasks [begin, end) of the current (jc, pc) step over the shared packed B: task t is m
 * block t / ngroups times panel group t % ngroups. */
static void compute_range(int64_t begin, int64_t end, void *ctx) {
    const gemm_job *j = ctx;
    for (int64_t t = begin; t < end; t++) {
        int64_t ib = t / j->ngroups, g = t % j->ngroups;
        int64_t p0 = g * j->group_panels;
        int64_t p1 = p0 + j->group_panels < j->npanels ? p0 + j->group_panels : j->npanels;
        compute_block(j, ib, p0, p1, j->bpack + (size_t)(p0 * j->kc * j->im->nr) * j->im->es,
                      t + 1 < end ? (t + 1) / j->ngroups : -1);
    }
}

/* The current step's tasks followed by pack_tasks chunks of the next k block's B (into bnext):
 * the threads that finish their products early pack, so one parallel region per k block. */
static void compute_pack_range(int64_t begin, int64_t end, void *ctx) {
    const gemm_job *j = ctx;
    int64_t ntasks = j->mblocks * j->ngroups;
    if (begin < ntasks) compute_range(begin, end < ntasks ? end : ntasks, ctx);
    for (int64_t t = begin > ntasks ? begin : ntasks; t < end; t++) {
        int64_t p0 = (t - ntasks) * j->pack_grain;
        int64_t p1 = p0 + j->pack_grain < j->npanels ? p0 + j->pack_grain : j->npanels;
        pack_b_panels(j, j->next_pc, j->next_kc, p0, p1, j->bnext);
    }
}

/* B packed for every k block of the jc step at once: k block pc's panels start at bpack +
 * pc * npanels * nr elements (earlier blocks are kc_blk long; the last may be shorter). Task t
 * of pack_b_all_range packs panels [t % chunks * grain, ...) of k block t / chunks. */
static char *bpack_at(const gemm_job *j, int64_t pc) {
    return j->bpack + (size_t)(pc * j->npanels * j->im->nr) * j->im->es;
}

static void pack_b_all_range(int64_t begin, int64_t end, void *ctx) {
    const gemm_job *j = ctx;
    const gemm_impl *im = j->im;
    int64_t grain = j->group_panels, chunks = ceil_div(j->npanels, grain);
    for (int64_t t = begin; t < end; t++) {
        int64_t pc = t / chunks * j->kc_blk, kc = j->k - pc < j->kc_blk ? j->k - pc : j->kc_blk;
        int64_t p0 = t % chunks * grain, p1 = p0 + grain < j->npanels ? p0 + grain : j->npanels;
        int64_t col0 = p0 * im->nr, col1 = p1 * im->nr < j->nc ? p1 * im->nr : j->nc;
        pack_b_of(j, col1 - col0, kc, b_at(j, pc, j->jc + col0),
                  bpack_at(j, pc) + (size_t)(p0 * kc * im->nr) * im->es);
    }
}

/* Runs tasks [begin, end) of the current jc step over B packed for all of k, each task over the
 * whole k loop (a private copy of the job carries its pc). Each element of C sees the same k
 * blocks in the same order as step by step, so the results are the same bits; what changes is
 * two parallel regions per jc step instead of two per k block, for products with few m blocks
 * and a long k (the weight gradients dW = dY^T X). */
static void compute_k_range(int64_t begin, int64_t end, void *ctx) {
    gemm_job j = *(const gemm_job *)ctx;
    const gemm_impl *im = j.im;
    for (int64_t t = begin; t < end; t++) {
        int64_t ib = t / j.ngroups, g = t % j.ngroups;
        int64_t p0 = g * j.group_panels;
        int64_t p1 = p0 + j.group_panels < j.npanels ? p0 + j.group_panels : j.npanels;
        for (j.pc = 0; j.pc < j.k; j.pc += j.kc_blk) {
            j.kc = j.k - j.pc < j.kc_blk ? j.k - j.pc : j.kc_blk;
            j.beta_cur = j.pc == 0 ? j.beta : 1.0;
            compute_block(&j, ib, p0, p1,
                          bpack_at(&j, j.pc) + (size_t)(p0 * j.kc * im->nr) * im->es, -1);
        }
    }
}

/* ---- one m block: each B panel packed right before its kernels ------------------------------
 *
 * When all of m fits one m block (a few dozen tokens through a linear layer), a packed panel of
 * B is used by that block alone, so a shared kc x nc packed block only sends B through L3 twice
 * (written by the packing, read back by the kernels). Here each task packs one tile's B panels
 * at a time into its own buffer (16 KB per 16 columns at kc = 256, written into L1 or L2 and
 * read back from there; ONE_BLOCK_ROW_TILES tiles at a time where B's rows are contiguous) and
 * runs the block's kernels on it at once, with the k loop inside the task: one parallel region
 * per product. The columns go in chunks whose strip of C stays in L2 across the k blocks; A is
 * packed per chunk and k block. The kernels and k blocks are those of the blocked path, so C gets
 * the same bits.
 *
 * Four tiles packed together from B's rows read 512 bytes of each row a pass over kc rows, not a
 * tile's 128: x[32, 4096] W[4096, 4096] (W stored [k, n]) 15.8 -> 13.5 ms at one thread, 7.6 ->
 * 6.8 at two (2-core Xeon, medians of 5 alternating runs, 2026-12-03); x[128, 2048] W[2048, 2048]
 * and the CNN's 64 x 288 x 121 even. */
enum { ONE_BLOCK_ROW_TILES = 4 };

static void one_block_range(int64_t begin, int64_t end, void *ctx) {
    const gemm_job *j = ctx;
    const gemm_impl *im = j->im;
    size_t es = im->es;
    int64_t rows = ceil_div(j->m, im->mr) * im->mr, b_step = im->pw * (int64_t)es;
    char *apack = gemm_buffer(BUF_A, (size_t)(rows * j->kc_blk) * es);
    /* B's rows contiguous (x W with W stored [k, n]): ONE_BLOCK_ROW_TILES tiles' panels packed at
     * once, so that a pass over kc rows of B reads 512 bytes of each rather than a tile's 128 */
    int64_t group = j->b_cs == 1 ? ONE_BLOCK_ROW_TILES : 1;
    char *bpanel = gemm_buffer(BUF_B, (size_t)(group * im->nr * j->kc_blk) * es);
    int64_t col0 = begin * im->nr, col1 = end * im->nr < j->n ? end * im->nr : j->n;
    if (!apack || !bpanel) { /* out of memory: these columns the slow way */
        naive_of(j, j->m, col1 - col0, j->k, j->a, b_at(j, 0, col0), j->beta,
                 j->c + (size_t)(col0 * j->c_cs * (int64_t)es));
        block_done(j, 0, j->m, col0, col1 - col0);
        return;
    }
    /* C strips of 128 KB per 48 rows, at most 512 KB (in L2 across the k blocks): A is packed
     * again for every strip, so more rows need wider strips (x[192, 4096] W[4096, 4096], W
     * stored [k, n], at 128 / 512 KB: 50.7 / 45.2 ms at one thread, 24.8 / 22.7 at two; x[128,
     * ...] 36.2 / 33.7 and 17.4 / 16.3; 2-core Xeon, 2026-12-03) */
    int64_t strip = 131072 * ceil_div(rows, 48);
    if (strip > 524288) strip = 524288;
    int64_t chunk = strip / (int64_t)((size_t)(rows * im->nr) * es);
    if (chunk < 1) chunk = 1;
    for (int64_t q0 = begin; q0 < end; q0 += chunk) {
        int64_t q1 = q0 + chunk < end ? q0 + chunk : end;
        for (int64_t pc = 0; pc < j->k; pc += j->kc_blk) {
            int64_t kc = j->k - pc < j->kc_blk ? j->k - pc : j->kc_blk;
            double beta = pc == 0 ? j->beta : 1.0;
            pack_a_of(j, j->m, kc, a_at(j, 0, pc), apack);
            for (int64_t q = q0; q < q1; q++) {
                int64_t col = q * im->nr;
                int nr = (int)(j->n - col < im->nr ? j->n - col : im->nr);
                int64_t g = (q - q0) % group;
                if (g == 0) {
                    int64_t gend = q + group < q1 ? q + group : q1;
                    int64_t gcols = (gend * im->nr < j->n ? gend * im->nr : j->n) - col;
                    pack_b_of(j, gcols, kc, b_at(j, pc, col), bpanel);
                }
                const char *bp = bpanel + (size_t)(g * im->nr * kc) * es;
                char *ccol = j->c + (size_t)(col * j->c_cs * (int64_t)es);
                for (int64_t ir = 0; ir < j->m; ir += im->mr) {
                    int mr = (int)(j->m - ir < im->mr ? j->m - ir : im->mr);
                    im->kernel(kc, apack + (size_t)(ir * kc) * es, bp, b_step,
                               ccol + (size_t)(ir * j->c_rs * (int64_t)es), j->c_rs, j->c_cs, mr,
                               nr, j->alpha, beta);
                }
            }
            if (pc + kc >= j->k) { /* the strip of C, in L2 */
                int64_t c0 = q0 * im->nr, c1 = q1 * im->nr < j->n ? q1 * im->nr : j->n;
                block_done(j, 0, j->m, c0, c1 - c0);
            }
        }
    }
}

/* Splits `total` into the fewest blocks of at most `max` and returns their (equal) size rounded
 * up to a multiple of `unit`. */
static int64_t equal_block(int64_t total, int64_t max, int64_t unit) {
    int64_t nblocks = ceil_div(total, max);
    int64_t size = ceil_div(ceil_div(total, nblocks), unit) * unit;
    return size < max ? size : max;
}

/* Threaded products of at most this many rows take one_block_range's path (A is then packed by
 * every task, at most 192 x kc floats a time). */
enum { FEW_ROWS = 192 };

static void gemm_blocked(const gemm_impl *im, gemm_job *j) {
    size_t es = im->es;
    j->src_es = j->halves ? 2 : (int64_t)es;
    int nthreads = born_get_num_threads();
    double flops = 2.0 * (double)j->m * (double)j->n * (double)j->k;
    if (flops < 2.0 * 48 * 48 * 48) nthreads = 1; /* not worth waking the pool */
    /* m blocks: equal to within one MR panel, and a multiple of the thread count when there are
     * enough of them */
    int64_t mblocks = ceil_div(j->m, im->mc);
    if (nthreads > 1 && mblocks >= nthreads) mblocks = ceil_div(mblocks, nthreads) * nthreads;
    j->mpanels = ceil_div(j->m, im->mr);
    j->mblocks = mblocks < j->mpanels ? mblocks : j->mpanels;
    j->nc_blk = equal_block(j->n, im->nc, im->nr);
    j->kc_blk = equal_block(j->k, im->kc, 1);
    /* Few m blocks and several k blocks (the weight gradients: m and n the layer's widths, k the
     * tokens): B is packed for all of k at once (up to 16 MiB) and every task runs the whole k
     * loop, two parallel regions per jc step instead of two per k block. */
    /* One m block, or (threaded) at most FEW_ROWS rows: B panel by panel, equal column shares.
     * For products this small a shared packed B costs a second parallel region and is packed
     * while threads wait; each task packing all of A for itself costs less (two threads: the CNN
     * convolution's 64 x 288 x 121 product had run no faster than on one thread). On one
     * thread too: a panel packed into L1 right before its kernels overlaps the packing's reads
     * with the last panel's products better than a kc x nc block packed first (x[32, 4096] W^T on
     * one thread 98 -> 118 GFLOP/s, 2-core Xeon, 2026-12-02). */
    if (j->mblocks == 1 || j->m <= FEW_ROWS) {
        int64_t npanels = ceil_div(j->n, im->nr);
        born_parallel_for(npanels, ceil_div(npanels, nthreads), one_block_range, j);
        return;
    }
    int64_t kpanel_rows = ceil_div(j->nc_blk, im->nr) * im->nr;
    bool whole_k = nthreads > 1 && j->mblocks < 2 * nthreads && j->k > j->kc_blk &&
                   (double)kpanel_rows * (double)j->k * (double)es <= 16.0 * 1024 * 1024;
    size_t bbytes = (size_t)(kpanel_rows * (whole_k ? j->k : j->kc_blk)) * es;
    char *bpack = gemm_buffer(BUF_B, bbytes);
    /* threaded, step by step: a second block for the next k block's B (none: pack, then compute) */
    char *bnext = nthreads > 1 && !whole_k && j->k > j->kc_blk ? gemm_buffer(BUF_B2, bbytes) : NULL;
    if (!bpack) {
        naive_of(j, j->m, j->n, j->k, j->a, j->b, j->beta, j->c);
        block_done(j, 0, j->m, 0, j->n);
        return;
    }
    j->bpack = bpack;
    for (j->jc = 0; j->jc < j->n; j->jc += j->nc_blk) {
        j->nc = j->n - j->jc < j->nc_blk ? j->n - j->jc : j->nc_blk;
        j->npanels = ceil_div(j->nc, im->nr);
        /* with few m blocks, split the columns too: at least two tasks per thread */
        j->ngroups = 1;
        if (nthreads > 1 && j->mblocks < 2 * nthreads) {
            int64_t want = ceil_div(2 * nthreads, j->mblocks);
            int64_t most = j->npanels / 2 > 1 ? j->npanels / 2 : 1;
            j->ngroups = want < most ? want : most;
        }
        j->group_panels = ceil_div(j->npanels, j->ngroups);
        j->ngroups = ceil_div(j->npanels, j->group_panels);
        if (whole_k) {
            born_parallel_for(ceil_div(j->k, j->kc_blk) * j->ngroups, 1, pack_b_all_range, j);
            born_parallel_for(j->mblocks * j->ngroups, 1, compute_k_range, j);
            continue;
        }
        if (bnext) { /* threaded: k block pc + 1 is packed by the tail tasks of step pc */
            j->bpack = bpack;
            j->bnext = bnext;
            j->pc = 0;
            j->kc = j->kc_blk;
            j->pack_grain = ceil_div(32768, j->kc_blk * im->nr);
            born_parallel_for(j->npanels, j->pack_grain, pack_b_range, j);
            for (j->pc = 0; j->pc < j->k; j->pc += j->kc_blk) {
                j->kc = j->k - j->pc < j->kc_blk ? j->k - j->pc : j->kc_blk;
                j->beta_cur = j->pc == 0 ? j->beta : 1.0;
                j->next_pc = j->pc + j->kc;
                j->next_kc = j->k - j->next_pc < j->kc_blk ? j->k - j->next_pc : j->kc_blk;
                j->pack_tasks = j->next_pc < j->k ? ceil_div(j->npanels, j->pack_grain) : 0;
                born_parallel_for(j->mblocks * j->ngroups + j->pack_tasks, 1, compute_pack_range, j);
                char *t = j->bpack; /* the next step's block is the one just packed */
                j->bpack = j->bnext;
                j->bnext = t;
            }
            continue;
        }
        for (j->pc = 0; j->pc < j->k; j->pc += j->kc_blk) {
            j->kc = j->k - j->pc < j->kc_blk ? j->k - j->pc : j->kc_blk;
            j->beta_cur = j->pc == 0 ? j->beta : 1.0;
            int64_t pack_grain = ceil_div(32768, j->kc * im->nr);
            if (nthreads == 1) pack_grain = j->npanels;
            born_parallel_for(j->npanels, pack_grain, pack_b_range, j);
            born_parallel_for(j->mblocks * j->ngroups, 1, compute_range, j);
        }
    }
}

/* ---- GEMV (m == 1): y = alpha * x B + beta * y ------------------------------------------- */

/* The portable GEMV forms (plain multiply-adds): y[j] = sum_p x[p] b[p + j b_cs] in eight
 * partial sums (dot), and y[j] = sum_p x[p x_s] b[p b_rs + j] row by row (axpy). */
#define DEFINE_GEMV_C(dot_name, axpy_name, T)                                                      \
    static void dot_name(int64_t k, int64_t n, const T *x, const T *b, int64_t b_cs, T *y) {       \
        for (int64_t j = 0; j < n; j++) {                                                          \
            const T *col = b + j * b_cs;                                                           \
            T s[8] = {0};                                                                          \
            int64_t p = 0;                                                                         \
            for (; p + 8 <= k; p += 8)                                                             \
                for (int u = 0; u < 8; u++)                                                        \
                    s[u] += x[p + u] * col[p + u];                                                 \
            for (; p < k; p++)                                                                     \
                s[0] += x[p] * col[p];                                                             \
            y[j] = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));              \
        }                                                                                          \
    }                                                                                              \
    static void axpy_name(int64_t k, int64_t n, const T *x, int64_t x_s, const T *b, int64_t b_rs, \
                          T *y) {                                                                  \
        for (int64_t j = 0; j < n; j++)                                                            \
            y[j] = 0;                                                                              \
        for (int64_t p = 0; p < k; p++) {                                                          \
            T xp = x[p * x_s];                                                                     \
            const T *row = b + p * b_rs;                                                           \
            for (int64_t j = 0; j < n; j++)                                                        \
                y[j] += xp * row[j];                                                               \
        }                                                                                          \
    }

DEFINE_GEMV_C(gemv_dot_f32_c, gemv_axpy_f32_c, float)
DEFINE_GEMV_C(gemv_dot_f64_c, gemv_axpy_f64_c, double)

enum { GEMV_BLOCK = 4096 }; /* output columns accumulated at once (16 KB of f32, in L1) */

typedef struct gemv_job {
    int64_t k, n;
    const float *x;
    int64_t x_s;
    const float *b;
    int64_t b_rs, b_cs;
    float *c;
    int64_t c_cs;
    float alpha, beta;
    bool dot;
    gemv_dot_f32_fn dot_fn;
    gemv_axpy_f32_fn axpy_fn;
    const gemm_job *job; /* for its epilogue */
    const uint16_t *bh;  /* B in halves (bf16 where bf16) for dot_h, in place of b */
    bool bf16;
    gemv_dot_half_fn dot_h;
} gemv_job;

static void gemv_range(int64_t begin, int64_t end, void *ctx) {
    const gemv_job *g = ctx;
    float y[GEMV_BLOCK];
    for (int64_t j0 = begin; j0 < end; j0 += GEMV_BLOCK) {
        int64_t n = end - j0 < GEMV_BLOCK ? end - j0 : GEMV_BLOCK;
        if (g->bh)
            g->dot_h(g->k, n, g->x, g->bh + j0 * g->b_cs, g->b_cs, y, g->bf16);
        else if (g->dot)
            g->dot_fn(g->k, n, g->x, g->b + j0 * g->b_cs, g->b_cs, y);
        else
            g->axpy_fn(g->k, n, g->x, g->x_s, g->b + j0, g->b_rs, y);
        for (int64_t j = 0; j < n; j++) {
            float *cj = g->c + (j0 + j) * g->c_cs;
            float t = g->alpha * y[j];
            *cj = g->beta == 0 ? t : g->beta * *cj + t;
        }
        block_done(g->job, 0, 1, j0, n);
    }
}

/* The m == 1 paths' chunk of columns: one chunk per thread (at least ~64K multiply-adds each).
 * Every output is the same sequence of fmas whichever chunk it falls in, so the split may follow
 * the thread count; the axpy form then streams whole row segments of B. */
static int64_t gemv_grain(int64_t n, int64_t k) {
    int64_t grain = ceil_div(ceil_div(n, born_get_num_threads()), 64) * 64;
    int64_t least = ceil_div(65536, k > 0 ? k : 1);
    return grain < least ? least : grain;
}

/* The m == 1 case when B has a unit stride; false when it does not (or memory is short). */
static bool gemv_f32(int64_t n, int64_t k, float alpha, const float *a, int64_t a_cs,
                     const float *b, int64_t b_rs, int64_t b_cs, float beta, float *c, int64_t c_cs,
                     const gemm_job *job) {
    bool avx2 = false;
#ifdef GEMM_HAVE_AVX2
    avx2 = cpu_get_level() >= CPU_LEVEL_AVX2;
#endif
    gemv_job g = {k, n, a, a_cs, b, b_rs, b_cs, c, c_cs, alpha, beta, false, NULL, NULL, job,
                  NULL, false, NULL};
    if (b_rs == 1 && n > 1) {
        g.dot = true;
        if (a_cs != 1) { /* the dot form wants x contiguous */
            float *x = gemm_buffer(BUF_X, (size_t)k * sizeof(float));
            if (!x) return false;
            for (int64_t p = 0; p < k; p++)
                x[p] = a[p * a_cs];
            g.x = x;
            g.x_s = 1;
        }
    } else if (b_cs != 1 && n > 1) {
        return false;
    }
    g.dot_fn = gemv_dot_f32_c;
    g.axpy_fn = gemv_axpy_f32_c;
#ifdef GEMM_HAVE_AVX2
    if (avx2) {
        g.dot_fn = gemv_dot_f32_avx2;
        g.axpy_fn = gemv_axpy_f32_avx2;
    }
#ifdef GEMM_HAVE_AVX512
    if (cpu_get_level() >= CPU_LEVEL_AVX512) g.dot_fn = gemv_dot_f32_avx512;
#endif
#else
    (void)avx2;
#endif
#ifdef GEMM_HAVE_NEON
    if (cpu_get_level() == CPU_LEVEL_NEON) { /* the AVX2 loops' bits */
        g.dot_fn = gemv_dot_f32_neon;
        g.axpy_fn = gemv_axpy_f32_neon;
    }
#endif
    born_parallel_for(n, gemv_grain(n, k), gemv_range, &g);
    return true;
}

/* ---- GEMV for a few rows ------------------------------------------------------------------ */

/* Up to this many rows (the dot form when B's columns are contiguous, the axpy form when its rows
 * are), C = A B streams B once from memory, and from cache for the other groups of four rows,
 * instead of packing it: with few rows, packing B costs more than the product. */
enum {
    GEMV_DOT_ROWS = 16,
    GEMV_AXPY_ROWS = 8,
    GEMV_DOT_COLS = 24, /* columns a task takes at once: whole pairs and triples */
    GEMV_AXPY_COLS = 1024,
    GEMV_AXPY_STEPS = 64
};

static void gemv4_dot_f32_c(int64_t k, int64_t n, const float *const x[4], const float *b,
                            int64_t b_cs, float *const y[4]) {
    for (int64_t j = 0; j < n; j++)
        for (int i = 0; i < 4; i++) {
            float s = 0;
            for (int64_t p = 0; p < k; p++)
                s += x[i][p] * b[j * b_cs + p];
            y[i][j] = s;
        }
}

static void gemv4_axpy_f32_c(int64_t k, int64_t n, const float *const x[4], int64_t x_cs,
                             const float *b, int64_t b_rs, float *const y[4]) {
    for (int64_t p = 0; p < k; p++)
        for (int i = 0; i < 4; i++) {
            float xi = x[i][p * x_cs];
            for (int64_t j = 0; j < n; j++)
                y[i][j] += xi * b[p * b_rs + j];
        }
}

typedef struct gemv_rows_job {
    int64_t m, n, k;
    const float *a;
    int64_t a_rs, a_cs;
    const float *b;
    int64_t b_rs, b_cs;
    float *c;
    int64_t c_rs, c_cs;
    float alpha, beta;
    bool dot;
    gemv4_dot_f32_fn dot_fn;
    gemv4_axpy_f32_fn axpy_fn;
    gemv8_dot_f32_fn dot8_fn; /* eight rows at once, or NULL */
    const gemm_job *job;      /* for its epilogue */
    const uint16_t *bh;       /* B in halves (bf16 where bf16) for the _h forms, in place of b */
    bool bf16;
    gemv4_dot_half_fn dot_h;
    gemv8_dot_half_fn dot8_h; /* or NULL */
} gemv_rows_job;

/* C[r][j0 + j] from y[r][j] for rows [r0, r0 + rows). */
static void gemv_rows_store(const gemv_rows_job *g, int64_t r0, int64_t rows, int64_t j0, int64_t n,
                            float *const y[4]) {
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < n; j++) {
            float *cij = g->c + (r0 + i) * g->c_rs + (j0 + j) * g->c_cs;
            float t = g->alpha * y[i][j];
            *cij = g->beta == 0 ? t : g->beta * *cij + t;
        }
    block_done(g->job, r0, rows, j0, n);
}

/* Row pointers for the group of (up to) `width` rows at r0, repeating the last real row. */
static int64_t row_group(const gemv_rows_job *g, int64_t r0, const float **x, int width) {
    int64_t rows = g->m - r0 < width ? g->m - r0 : width;
    for (int i = 0; i < width; i++)
        x[i] = g->a + (r0 + (i < rows ? i : rows - 1)) * g->a_rs;
    return rows;
}

static void gemv_rows_range(int64_t begin, int64_t end, void *ctx) {
    const gemv_rows_job *g = ctx;
    if (g->dot) { /* a few columns at a time, each read from memory once for all row groups */
        float ybuf[8][GEMV_DOT_COLS];
        float *y[8] = {ybuf[0], ybuf[1], ybuf[2], ybuf[3], ybuf[4], ybuf[5], ybuf[6], ybuf[7]};
        for (int64_t j0 = begin; j0 < end; j0 += GEMV_DOT_COLS) {
            int64_t n = end - j0 < GEMV_DOT_COLS ? end - j0 : GEMV_DOT_COLS;
            for (int64_t r0 = 0; r0 < g->m;) {
                const float *x[8];
                /* groups of eight where there are more than four rows left: B read once for them */
                int width = (g->bh ? g->dot8_h != NULL : g->dot8_fn != NULL) && g->m - r0 > 4 ? 8 : 4;
                int64_t rows = row_group(g, r0, x, width);
                if (g->bh && width == 8)
                    g->dot8_h(g->k, n, x, g->bh + j0 * g->b_cs, g->b_cs, y, g->bf16);
                else if (g->bh)
                    g->dot_h(g->k, n, x, g->bh + j0 * g->b_cs, g->b_cs, y, g->bf16);
                else if (width == 8)
                    g->dot8_fn(g->k, n, x, g->b + j0 * g->b_cs, g->b_cs, y);
                else
                    g->dot_fn(g->k, n, x, g->b + j0 * g->b_cs, g->b_cs, y);
                gemv_rows_store(g, r0, rows, j0, n, y);
                r0 += width;
            }
        }
        return;
    }
    /* axpy form: a block of columns; B rows in chunks that stay in cache for all row groups */
    int64_t groups = (g->m + 3) / 4;
    float *ybuf = gemm_buffer(BUF_Y, (size_t)(groups * 4 * GEMV_AXPY_COLS) * sizeof(float));
    if (!ybuf) { /* out of memory: the plain loop */
        naive_f32(g->m, end - begin, g->k, g->alpha, g->a, g->a_rs, g->a_cs, g->b + begin, g->b_rs,
                  g->b_cs, g->beta, g->c + begin * g->c_cs, g->c_rs, g->c_cs);
        block_done(g->job, 0, g->m, begin, end - begin);
        return;
    }
    int64_t ys = end - begin < GEMV_AXPY_COLS ? end - begin : GEMV_AXPY_COLS; /* y row stride */
    for (int64_t j0 = begin; j0 < end; j0 += GEMV_AXPY_COLS) {
        int64_t n = end - j0 < GEMV_AXPY_COLS ? end - j0 : GEMV_AXPY_COLS;
        memset(ybuf, 0, (size_t)(groups * 4 * ys) * sizeof(float));
        for (int64_t p0 = 0; p0 < g->k; p0 += GEMV_AXPY_STEPS) {
            int64_t kc = g->k - p0 < GEMV_AXPY_STEPS ? g->k - p0 : GEMV_AXPY_STEPS;
            for (int64_t r0 = 0; r0 < g->m; r0 += 4) {
                const float *x[4];
                row_group(g, r0, x, 4);
                for (int i = 0; i < 4; i++)
                    x[i] += p0 * g->a_cs;
                float *y[4];
                for (int i = 0; i < 4; i++)
                    y[i] = ybuf + (r0 + i) * ys;
                g->axpy_fn(kc, n, x, g->a_cs, g->b + p0 * g->b_rs + j0, g->b_rs, y);
            }
        }
        for (int64_t r0 = 0; r0 < g->m; r0 += 4) {
            float *y[4];
            for (int i = 0; i < 4; i++)
                y[i] = ybuf + (r0 + i) * ys;
            gemv_rows_store(g, r0, g->m - r0 < 4 ? g->m - r0 : 4, j0, n, y);
        }
    }
}

/* 2 <= m <= GEMV_DOT_ROWS / GEMV_AXPY_ROWS with a unit stride in B; false otherwise (or when
 * memory is short). */
static bool gemv_rows_f32(const gemm_job *j) {
    gemv_rows_job g = {j->m,
                       j->n,
                       j->k,
                       (const float *)j->a,
                       j->a_rs,
                       j->a_cs,
                       (const float *)j->b,
                       j->b_rs,
                       j->b_cs,
                       (float *)j->c,
                       j->c_rs,
                       j->c_cs,
                       (float)j->alpha,
                       (float)j->beta,
                       false,
                       gemv4_dot_f32_c,
                       gemv4_axpy_f32_c,
                       NULL,
                       j,
                       NULL,
                       false,
                       NULL,
                       NULL};
    if (j->b_rs == 1 && j->m <= GEMV_DOT_ROWS) {
        g.dot = true;
        if (j->a_cs != 1) { /* the dot form wants rows of A contiguous */
            float *x = gemm_buffer(BUF_X, (size_t)(j->m * j->k) * sizeof(float));
            if (!x) return false;
            for (int64_t i = 0; i < j->m; i++)
                for (int64_t p = 0; p < j->k; p++)
                    x[i * j->k + p] = g.a[i * j->a_rs + p * j->a_cs];
            g.a = x;
            g.a_rs = j->k;
            g.a_cs = 1;
        }
    } else if (j->b_cs != 1 || j->m > GEMV_AXPY_ROWS) {
        return false;
    }
#ifdef GEMM_HAVE_AVX2
    if (cpu_get_level() >= CPU_LEVEL_AVX2) {
        g.dot_fn = gemv4_dot_f32_avx2;
        g.axpy_fn = gemv4_axpy_f32_avx2;
    }
#endif
#ifdef GEMM_HAVE_AVX512
    if (cpu_get_level() >= CPU_LEVEL_AVX512) {
        g.dot_fn = gemv4_dot_f32_avx512;
        g.dot8_fn = gemv8_dot_f32_avx512;
    }
#endif
#ifdef GEMM_HAVE_NEON
    if (cpu_get_level() == CPU_LEVEL_NEON) { /* the AVX2 loops' bits */
        g.dot_fn = gemv4_dot_f32_neon;
        g.axpy_fn = gemv4_axpy_f32_neon;
    }
#endif
    int nthreads = born_get_num_threads();
    int64_t unit = g.dot ? GEMV_DOT_COLS : 64;
    int64_t grain = ceil_div(ceil_div(j->n, nthreads), unit) * unit;
    int64_t least = ceil_div(65536, j->k * j->m);
    if (grain < least) grain = least;
    born_parallel_for(j->n, grain, gemv_rows_range, &g);
    return true;
}

/* ---- f64 GEMV (m == 1): y = alpha * x B + beta * y -------------------------------------- */

typedef void (*gemv_dot_f64_fn)(int64_t k, int64_t n, const double *x, const double *b,
                                int64_t b_cs, double *y);
typedef void (*gemv_axpy_f64_fn)(int64_t k, int64_t n, const double *x, int64_t x_s,
                                 const double *b, int64_t b_rs, double *y);

enum { GEMV_F64_BLOCK = 2048 }; /* output columns accumulated at once (16 KB, in L1) */

typedef struct gemv_f64_job {
    int64_t k, n;
    const double *x;
    int64_t x_s;
    const double *b;
    int64_t b_rs, b_cs;
    double *c;
    int64_t c_cs;
    double alpha, beta;
    gemv_dot_f64_fn dot; /* the dot form (B's columns contiguous), or NULL: axpy */
    gemv_axpy_f64_fn axpy;
} gemv_f64_job;

static void gemv_f64_range(int64_t begin, int64_t end, void *ctx) {
    const gemv_f64_job *g = ctx;
    double y[GEMV_F64_BLOCK];
    for (int64_t j0 = begin; j0 < end; j0 += GEMV_F64_BLOCK) {
        int64_t n = end - j0 < GEMV_F64_BLOCK ? end - j0 : GEMV_F64_BLOCK;
        if (g->dot)
            g->dot(g->k, n, g->x, g->b + j0 * g->b_cs, g->b_cs, y);
        else
            g->axpy(g->k, n, g->x, g->x_s, g->b + j0, g->b_rs, y);
        for (int64_t j = 0; j < n; j++) {
            double *cj = g->c + (j0 + j) * g->c_cs;
            double t = g->alpha * y[j];
            *cj = g->beta == 0 ? t : g->beta * *cj + t;
        }
    }
}

/* The m == 1 product when B has a unit stride (as gemv_f32: the blocked path would pack all of B
 * to use each element once); false when it has none or memory is short. */
static bool gemv_f64(const gemm_job *j) {
    const double *x = (const double *)j->a;
    gemv_f64_job g = {
        j->k,    j->n,     x,       j->a_cs, (const double *)j->b, j->b_rs, j->b_cs, (double *)j->c,
        j->c_cs, j->alpha, j->beta, NULL,    gemv_axpy_f64_c};
    if (j->b_rs == 1 && j->n > 1) {
        g.dot = gemv_dot_f64_c;
        if (j->a_cs != 1) { /* the dot form wants x contiguous */
            double *xc = gemm_buffer(BUF_X, (size_t)j->k * sizeof(double));
            if (!xc) return false;
            for (int64_t p = 0; p < j->k; p++)
                xc[p] = x[p * j->a_cs];
            g.x = xc;
            g.x_s = 1;
        }
    } else if (j->b_cs != 1 && j->n > 1) {
        return false;
    }
#ifdef GEMM_HAVE_AVX2
    if (cpu_get_level() >= CPU_LEVEL_AVX2) {
        g.dot = g.dot ? gemv_dot_f64_avx2 : NULL;
        g.axpy = gemv_axpy_f64_avx2;
    }
#endif
#ifdef GEMM_HAVE_AVX512
    if (g.dot && cpu_get_level() >= CPU_LEVEL_AVX512) g.dot = gemv_dot_f64_avx512;
#endif
    born_parallel_for(j->n, gemv_grain(j->n, j->k), gemv_f64_range, &g);
    return true;
}

/* ---- serial products with packed operands (convolutions) ---------------------------------- */

static const gemm_impl *impl_f32(void);

int64_t cpu_gemm_f32_kc(int64_t k) { return equal_block(k, impl_f32()->kc, 1); }

static pack_fn pack_a_f32_for_level(void) {
#ifdef GEMM_HAVE_AVX2
    if (cpu_get_level() >= CPU_LEVEL_AVX2) return pack_a_f32_avx2;
#endif
    return pack_a_f32;
}

static pack_fn pack_b_f32_for_level(void) {
#ifdef GEMM_HAVE_AVX2
    if (cpu_get_level() >= CPU_LEVEL_AVX2) return pack_b_f32_avx2;
#endif
    return pack_b_f32;
}

size_t cpu_gemm_f32_packed_a_size(int64_t m, int64_t k) {
    return (size_t)(ceil_div(m, GEMM_F32_MR) * GEMM_F32_MR * k);
}

void cpu_gemm_f32_pack_a(int64_t m, int64_t k, const float *a, int64_t a_rs, int64_t a_cs,
                         float *dst) {
    pack_fn pack = pack_a_f32_for_level();
    int64_t kc_blk = cpu_gemm_f32_kc(k), rows = ceil_div(m, GEMM_F32_MR) * GEMM_F32_MR;
    for (int64_t pc = 0; pc < k; pc += kc_blk) {
        int64_t kc = k - pc < kc_blk ? k - pc : kc_blk;
        pack(m, kc, a + pc * a_cs, a_rs, a_cs, dst + rows * pc);
    }
}

void cpu_gemm_f32_pack_b(int64_t kc, int64_t nc, const float *b, int64_t b_rs, int64_t b_cs,
                         float *dst) {
    pack_b_f32_for_level()(nc, kc, b, b_cs, b_rs, dst);
}

bool cpu_gemm_f32_packed(int64_t m, int64_t n, int64_t k, const float *apack,
                         cpu_gemm_pack_b_fn pack_b, void *ctx, float beta, float *c, int64_t c_rs,
                         int64_t c_cs) {
    return cpu_gemm_f32_packed_ep(m, n, k, apack, pack_b, ctx, beta, NULL, c, c_rs, c_cs, NULL,
                                  NULL);
}

/* C's columns [j0, j0 + nr) of rows [0, m) set to the rows' bias. */
static void fill_bias(int64_t m, int64_t nr, const float *bias, float *c, int64_t c_rs,
                      int64_t c_cs) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < nr; j++) c[i * c_rs + j * c_cs] = bias[i];
}

/* The most packed B that cpu_gemm_f32_packed_ep prepares at once for products of several A
 * tiles (it stays in L2). */
enum { PACKED_CHUNK_BYTES = 256 * 1024 };

bool cpu_gemm_f32_packed_ep(int64_t m, int64_t n, int64_t k, const float *apack,
                            cpu_gemm_pack_b_fn pack_b, void *ctx, float beta, const float *row_bias,
                            float *c, int64_t c_rs, int64_t c_cs, cpu_gemm_epilogue_fn ep,
                            void *ep_ctx) {
    if (m <= 0 || n <= 0) return true;
    if (k <= 0) {
        if (row_bias)
            fill_bias(m, n, row_bias, c, c_rs, c_cs);
        else
            scale_f32(m, n, beta, c, c_rs, c_cs);
        return true;
    }
    const gemm_impl *im = impl_f32();
    int64_t kc_blk = cpu_gemm_f32_kc(k), nc_blk = equal_block(n, im->nc, im->nr);
    int64_t rows = ceil_div(m, GEMM_F32_MR) * GEMM_F32_MR; /* apack's rows per k block */
    /* B a chunk of columns at a time, packed right before its tiles. With few tiles of A (a few
     * tokens through a linear layer) a chunk is one tile's B panels, written into L1 and read
     * from there, where a whole block's panels would go out to L2 and back. With more, A streams
     * through L1 for every chunk and would push out what the packing reads (a convolution's
     * image: its im2col packing ran 3x slower between the kernels than alone), so a chunk is up
     * to PACKED_CHUNK_BYTES of panels, packed together, and each tile of A meets all of them. */
    int64_t chunk = im->nr;
    if (m > 2 * im->mr) {
        chunk = PACKED_CHUNK_BYTES / (kc_blk * (int64_t)sizeof(float)) / im->nr * im->nr;
        if (chunk < im->nr) chunk = im->nr;
    }
    float *bpack = gemm_buffer(BUF_B, (size_t)(chunk * kc_blk) * sizeof(float));
    if (!bpack) return false;
    int64_t b_step = im->pw * (int64_t)sizeof(float);
    for (int64_t jc = 0; jc < n; jc += nc_blk) {
        int64_t nc = n - jc < nc_blk ? n - jc : nc_blk;
        for (int64_t pc = 0; pc < k; pc += kc_blk) {
            int64_t kc = k - pc < kc_blk ? k - pc : kc_blk;
            double beta_cur = pc == 0 ? beta : 1.0;
            const float *ablk = apack + rows * pc;
            bool biased = row_bias && pc == 0; /* this block starts from the bias */
            for (int64_t j0 = 0; j0 < nc; j0 += chunk) {
                int64_t cols = nc - j0 < chunk ? nc - j0 : chunk;
                float *cs = c + (jc + j0) * c_cs;
                pack_b(ctx, pc, kc, jc + j0, cols, bpack);
                bool bias_in_kernel = false;
#ifdef GEMM_HAVE_AVX512
                bias_in_kernel = biased && im->kernel == gemm_kernel_f32_avx512;
#endif
                if (biased && !bias_in_kernel) fill_bias(m, cols, row_bias, cs, c_rs, c_cs);
                for (int64_t ir = 0; ir < m; ir += im->mr) {
                    int mr = (int)(m - ir < im->mr ? m - ir : im->mr);
                    for (int64_t jr = 0; jr < cols; jr += im->nr) {
                        int nr = (int)(cols - jr < im->nr ? cols - jr : im->nr);
                        const float *bp = bpack + jr * kc;
                        float *ct = cs + ir * c_rs + jr * c_cs;
#ifdef GEMM_HAVE_AVX512
                        if (bias_in_kernel) {
                            gemm_kernel_f32_avx512_bias(kc, ablk + ir * kc, bp, b_step, ct, c_rs,
                                                        c_cs, mr, nr, row_bias + ir);
                            continue;
                        }
#endif
                        im->kernel(kc, ablk + ir * kc, bp, b_step, ct, c_rs, c_cs, mr, nr, 1.0,
                                   biased ? 1.0 : beta_cur);
                    }
                }
                if (ep && pc + kc == k)
                    for (int64_t jr = 0; jr < cols; jr += im->nr)
                        ep(ep_ctx, m, jc + j0 + jr, cols - jr < im->nr ? cols - jr : im->nr,
                           cs + jr * c_cs);
            }
        }
    }
    return true;
}

/* The loops of cpu_gemm_f32_packed_tiles and cpu_gemm_f32_packed_rows (rows: A as rows, the
 * AVX-512 tile). */
static bool packed_tiles(int64_t m, int64_t n, int64_t k, cpu_gemm_pack_a_fn pack_a, void *actx,
                         cpu_gemm_pack_b_fn pack_b, void *bctx, float beta, float *c, int64_t c_rs,
                         int64_t c_cs, bool rows) {
    if (m <= 0 || n <= 0) return true;
    if (k <= 0) {
        scale_f32(m, n, beta, c, c_rs, c_cs);
        return true;
    }
    const gemm_impl *im = impl_f32();
    int64_t kc_blk = cpu_gemm_f32_kc(k), npanels = ceil_div(n, im->nr);
    size_t afloats = (size_t)(ceil_div(im->mr, GEMM_F32_MR) * GEMM_F32_MR * kc_blk);
#ifdef GEMM_HAVE_AVX512
    if (rows) afloats = (size_t)(GEMM_F32_MR_AVX512 * GEMM_F32_ROWS_STRIDE);
#else
    (void)rows; /* no rows form without the AVX-512 kernel */
#endif
    float *bpack = gemm_buffer(BUF_B, (size_t)(npanels * im->nr * kc_blk) * sizeof(float));
    float *apack = gemm_buffer(BUF_A, afloats * sizeof(float));
    if (!bpack || !apack) return false;
    for (int64_t pc = 0; pc < k; pc += kc_blk) {
        int64_t kc = k - pc < kc_blk ? k - pc : kc_blk;
        double beta_cur = pc == 0 ? beta : 1.0;
        pack_b(bctx, pc, kc, 0, n, bpack);
        for (int64_t ir = 0; ir < m; ir += im->mr) {
            int mr = (int)(m - ir < im->mr ? m - ir : im->mr);
            pack_a(actx, ir, mr, pc, kc, apack);
            for (int64_t jr = 0; jr < n; jr += im->nr) {
                int nr = (int)(n - jr < im->nr ? n - jr : im->nr);
                const float *bp = bpack + jr * kc;
                float *cp = c + ir * c_rs + jr * c_cs;
#ifdef GEMM_HAVE_AVX512
                if (rows) {
                    gemm_kernel_f32_avx512_rows(kc, apack, bp, im->pw * (int64_t)sizeof(float), cp,
                                                c_rs, c_cs, mr, nr, 1.0, beta_cur);
                    continue;
                }
#endif
                im->kernel(kc, apack, bp, im->pw * (int64_t)sizeof(float), cp, c_rs, c_cs, mr, nr,
                           1.0, beta_cur);
            }
        }
    }
    return true;
}

bool cpu_gemm_f32_packed_tiles(int64_t m, int64_t n, int64_t k, cpu_gemm_pack_a_fn pack_a,
                               void *actx, cpu_gemm_pack_b_fn pack_b, void *bctx, float beta,
                               float *c, int64_t c_rs, int64_t c_cs) {
    return packed_tiles(m, n, k, pack_a, actx, pack_b, bctx, beta, c, c_rs, c_cs, false);
}

bool cpu_gemm_f32_rows_ok(void) {
#ifdef GEMM_HAVE_AVX512
    return cpu_get_level() >= CPU_LEVEL_AVX512;
#else
    return false;
#endif
}

int64_t cpu_gemm_f32_rows_stride(void) {
#ifdef GEMM_HAVE_AVX512
    return GEMM_F32_ROWS_STRIDE;
#else
    return 0;
#endif
}

bool cpu_gemm_f32_packed_rows(int64_t m, int64_t n, int64_t k, cpu_gemm_pack_a_fn pack_a,
                              void *actx, cpu_gemm_pack_b_fn pack_b, void *bctx, float beta,
                              float *c, int64_t c_rs, int64_t c_cs) {
    if (!cpu_gemm_f32_rows_ok()) return false;
    return packed_tiles(m, n, k, pack_a, actx, pack_b, bctx, beta, c, c_rs, c_cs, true);
}

/* ---- entry points ------------------------------------------------------------------------ */

#if defined(GEMM_HAVE_AVX2) || defined(GEMM_HAVE_NEON)
/* What this CPU's caches hold, as sysconf reports them (false where it cannot say): an L1 data
 * cache of 48 KB or more holds a 16-column B panel of 512 k steps (32 KB) beside the A panel
 * streaming through (the AVX2 and NEON tiles); one of 32 KB or more holds the AVX-512 tiles'
 * 24 KB of packed A while their B panels stream from L2; an L2 of 2 MB or more holds a 512 x 1024
 * B block. */
static bool l1_holds_b_panel, l1_holds_a_tile, l2_fits_deep_block;
static long l1_ways; /* the L1 data cache's associativity (0 where sysconf cannot say) */
static pthread_once_t cache_sizes_once = PTHREAD_ONCE_INIT;

static void ask_cache_sizes(void) {
#ifdef _SC_LEVEL1_DCACHE_SIZE
    long l1 = sysconf(_SC_LEVEL1_DCACHE_SIZE);
    l1_holds_b_panel = l1 >= 48 * 1024;
    l1_holds_a_tile = l1 >= 32 * 1024;
#endif
#ifdef _SC_LEVEL1_DCACHE_ASSOC
    l1_ways = sysconf(_SC_LEVEL1_DCACHE_ASSOC);
#endif
#ifdef _SC_LEVEL2_CACHE_SIZE
    l2_fits_deep_block = sysconf(_SC_LEVEL2_CACHE_SIZE) >= 2048 * 1024;
#endif
}

static bool l1_fits_deep_panels(void) {
    pthread_once(&cache_sizes_once, ask_cache_sizes);
    return l1_holds_b_panel;
}

#ifdef GEMM_HAVE_AVX2
/* Whether `rows` lines of one L1 set evict each other: an L1 of fewer ways (as sysconf reports
 * them; false where it cannot say). */
static bool l1_set_thrashes(int rows) {
    pthread_once(&cache_sizes_once, ask_cache_sizes);
    return l1_ways > 0 && l1_ways < rows;
}
#endif

#ifdef GEMM_HAVE_AVX512
/* Whether the AVX-512 tiles' packed A (24 KB) stays in this CPU's L1. */
static bool l1_fits_a_tile(void) {
    pthread_once(&cache_sizes_once, ask_cache_sizes);
    return l1_holds_a_tile;
}
#endif

#ifdef GEMM_HAVE_AVX2
/* Whether the f32 product takes k blocks of 512 on this machine: where L1 holds the AVX2 tile's
 * B panels, or where the CPU has AVX-512 and L1 holds that tile's A. Every x86 level then blocks
 * k alike (AVX2 follows AVX-512 on a 32 KB L1), so the levels keep each other's bits. */
static bool f32_deep_k_blocks(void) {
    if (l1_fits_deep_panels()) return true;
#ifdef GEMM_HAVE_AVX512
    if (cpu_features_get()->avx512f && l1_fits_a_tile()) return true;
#endif
    return false;
}
#endif
#endif

/* The f32 blocks. k blocks of 512 where L1 holds their B panels (one pass over C for every 512
 * k steps instead of 256), with small m blocks at AVX-512: on a 2-core Xeon (48 KB L1, 2 MB
 * L2; 2026-12-02) that took the square product from 0.94-0.98x OpenBLAS to 1.08-1.17x at n =
 * 1024 and 2048 with the 24 x 16 tile of then; the AVX2 kernel gained 3% from the deeper k
 * blocks. Both SIMD levels block k alike, so they keep each other's bits on one machine. The
 * AVX-512 tile needs only its 24 KB of packed A in L1, so a 32 KB L1 takes the deep blocks too:
 * on a 2-core Zen 4 (32 KB L1, 1 MB L2; 2026-12-03) 1024^3 / 2048^3 went from 82 / 85 to 88 / 88
 * GFLOP/s at one thread and from 121-158 / 147-181 to 176-178 / 157-188 at two (alternating
 * runs); AVX2 then takes k blocks of 512 as well, for the bits. */
static const gemm_impl *impl_f32(void) {
#define F32_IMPL_NC(MR, NR, MC, KC, NC, KERNEL, PACK_A, PACK_B)                                   \
    {.es = sizeof(float), .mr = MR, .nr = NR, .pw = GEMM_F32_NR, .mc = MC, .kc = KC, .nc = NC,     \
     .kernel = KERNEL, .pack_a = PACK_A, .pack_b = PACK_B, .naive = naive_f32}
#define F32_IMPL(MR, NR, MC, KC, KERNEL, PACK_A, PACK_B)                                          \
    F32_IMPL_NC(MR, NR, MC, KC, 4080, KERNEL, PACK_A, PACK_B)
    static const gemm_impl portable =
        F32_IMPL(GEMM_F32_MR, GEMM_F32_NR, 96, 256, kernel_f32_c, pack_a_f32, pack_b_f32);
#ifdef GEMM_HAVE_AVX2
    const bool deep = f32_deep_k_blocks();
    static const gemm_impl avx2 = F32_IMPL(GEMM_F32_MR, GEMM_F32_NR, 96, 256, gemm_kernel_f32_avx2,
                                           pack_a_f32_avx2, pack_b_f32_avx2);
    static const gemm_impl avx2_deep = F32_IMPL(GEMM_F32_MR, GEMM_F32_NR, 96, 512,
                                                gemm_kernel_f32_avx2, pack_a_f32_avx2,
                                                pack_b_f32_avx2);
#ifdef GEMM_HAVE_AVX512
    /* 12 x 32 tiles (two of the 6-row A panels and two 16-column B panels at once); m blocks of
     * 16 tiles, or of 1 with the deep k blocks: a tile's 24 KB of packed A stays in L1 while the
     * 64 KB B panels stream from L2 (24 rows against 48 had taken Zen 5 from 0.98-0.99x to
     * 1.01-1.02x OpenBLAS at n = 1024 and 2048, one thread; 12 against 24 rows on the 2-core Xeon
     * +1-2 points of the FMA peak at one and two threads, interleaved medians, 2026-12-03) */
    static const gemm_impl avx512 = F32_IMPL(GEMM_F32_MR_AVX512, GEMM_F32_NR_AVX512, 192, 256,
                                             gemm_kernel_f32_avx512, pack_a_f32_avx2,
                                             pack_b_f32_avx2);
    static const gemm_impl avx512_deep =
        F32_IMPL(GEMM_F32_MR_AVX512, GEMM_F32_NR_AVX512, 12, 512, gemm_kernel_f32_avx512,
                 pack_a_f32_avx2, pack_b_f32_avx2);
    /* with a 2 MB L2, B blocks that stay in it while the m blocks pass over them, not 4080
     * columns read from L3: 1024 columns (2 MB) took 2048^3 at two threads from 313 to 333
     * GFLOP/s, and 768 (1.5 MB, room left for A and C) from there to 207 / 410 at one / two
     * threads against 200 / 390 (three alternations each, 2-core Xeon, 2026-12-02); the k blocks,
     * so the bits, are the same */
    static const gemm_impl avx512_deep_l2 =
        F32_IMPL_NC(GEMM_F32_MR_AVX512, GEMM_F32_NR_AVX512, 12, 512, 768, gemm_kernel_f32_avx512,
                    pack_a_f32_avx2, pack_b_f32_avx2);
    if (cpu_get_level() >= CPU_LEVEL_AVX512)
        return !deep ? &avx512 : l2_fits_deep_block ? &avx512_deep_l2 : &avx512_deep;
#endif
    if (cpu_get_level() >= CPU_LEVEL_AVX2) return deep ? &avx2_deep : &avx2;
#endif
#ifdef GEMM_HAVE_NEON
    /* the AVX2 kernel's blocks: an arm64 machine then gives its bits (NEON has 32 registers, as
     * AVX-512, but the 6 x 16 tile already fills 30 of them) */
    static const gemm_impl neon = F32_IMPL(GEMM_F32_MR, GEMM_F32_NR, 96, 256, gemm_kernel_f32_neon,
                                           pack_a_f32, pack_b_f32);
    static const gemm_impl neon_deep = F32_IMPL(GEMM_F32_MR, GEMM_F32_NR, 96, 512,
                                                gemm_kernel_f32_neon, pack_a_f32, pack_b_f32);
    if (cpu_get_level() == CPU_LEVEL_NEON) return l1_fits_deep_panels() ? &neon_deep : &neon;
#endif
    return &portable;
#undef F32_IMPL
}

/* The f64 blocks: k blocks of 256 at every level, so the levels keep each other's bits. At
 * AVX-512 the 12 x 16 tile with the f32 deep blocks' shape in bytes: m blocks of one tile (its
 * 24 KB of packed A stay in L1 while the 32 KB B panels stream from L2) and, where L2 holds 2 MB,
 * n blocks of 768 columns (a 1.5 MB B block). On the 2-core Xeon (2026-12-03, one thread, medians
 * of 5): 2048^3 at 66.9 / 67.8 / 70.9 / 70.9 GFLOP/s with n blocks of 2040 / 1024 / 768 / 512, m
 * blocks of 12 / 24 / 48 / 96 rows even (70-71); k blocks of 384 no better. */
static const gemm_impl *impl_f64(void) {
#define F64_IMPL(MR, NR, MC, NC, KERNEL, PACK_A, PACK_B)                                           \
    {                                                                                              \
        .es = sizeof(double), .mr = MR, .nr = NR, .pw = GEMM_F64_NR, .mc = MC, .kc = 256,          \
        .nc = NC, .kernel = KERNEL, .pack_a = PACK_A, .pack_b = PACK_B, .naive = naive_f64         \
    }
    static const gemm_impl portable =
        F64_IMPL(GEMM_F64_MR, GEMM_F64_NR, 48, 2040, kernel_f64_c, pack_a_f64, pack_b_f64);
#ifdef GEMM_HAVE_AVX2
    static const gemm_impl avx2 = F64_IMPL(GEMM_F64_MR, GEMM_F64_NR, 48, 2040, gemm_kernel_f64_avx2,
                                           pack_a_f64_avx2, pack_b_f64_avx2);
#ifdef GEMM_HAVE_AVX512
    static const gemm_impl avx512 =
        F64_IMPL(GEMM_F64_MR_AVX512, GEMM_F64_NR_AVX512, 48, 2040, gemm_kernel_f64_avx512,
                 pack_a_f64_avx2, pack_b_f64_avx2);
    static const gemm_impl avx512_l1 =
        F64_IMPL(GEMM_F64_MR_AVX512, GEMM_F64_NR_AVX512, 12, 2040, gemm_kernel_f64_avx512,
                 pack_a_f64_avx2, pack_b_f64_avx2);
    static const gemm_impl avx512_l2 =
        F64_IMPL(GEMM_F64_MR_AVX512, GEMM_F64_NR_AVX512, 12, 768, gemm_kernel_f64_avx512,
                 pack_a_f64_avx2, pack_b_f64_avx2);
    if (cpu_get_level() >= CPU_LEVEL_AVX512)
        return !l1_fits_a_tile() ? &avx512 : l2_fits_deep_block ? &avx512_l2 : &avx512_l1;
#endif
    if (cpu_get_level() >= CPU_LEVEL_AVX2) return &avx2;
#endif
#ifdef GEMM_HAVE_NEON
    /* AVX2's blocks and order of operations: its bits on arm64 */
    static const gemm_impl neon =
        F64_IMPL(GEMM_F64_MR, GEMM_F64_NR, 48, 2040, gemm_kernel_f64_neon, pack_a_f64, pack_b_f64);
    if (cpu_get_level() == CPU_LEVEL_NEON) return &neon;
#endif
    return &portable;
#undef F64_IMPL
}

int64_t cpu_gemm_f64_kc(int64_t k) { return equal_block(k, impl_f64()->kc, 1); }

/* The problem's fields of j (the blocking fields are set by gemm_blocked; the whole struct is
 * not zeroed, which matters for tiny products). */
static void gemm_job_init(gemm_job *j, int64_t m, int64_t n, int64_t k, double alpha, const void *a,
                          int64_t a_rs, int64_t a_cs, const void *b, int64_t b_rs, int64_t b_cs,
                          double beta, void *c, int64_t c_rs, int64_t c_cs) {
    j->im = NULL;
    j->m = m;
    j->n = n;
    j->k = k;
    j->a = a;
    j->b = b;
    j->c = c;
    j->a_rs = a_rs;
    j->a_cs = a_cs;
    j->b_rs = b_rs;
    j->b_cs = b_cs;
    j->c_rs = c_rs;
    j->c_cs = c_cs;
    j->alpha = alpha;
    j->beta = beta;
    j->ep = NULL;
    j->ep_ctx = NULL;
    j->swapped = false;
    j->halves = false;
    j->bf16 = false;
    j->src_es = 0;
}

/* Shared front end: empty and k == 0 cases, then C^T = B^T A^T when that puts C's unit stride
 * along rows or turns n == 1 into m == 1. Returns true when the caller should go on. */
static bool gemm_prepare(gemm_job *j,
                         void (*scale)(int64_t, int64_t, double, void *, int64_t, int64_t)) {
    if (j->m <= 0 || j->n <= 0) return false;
    if (j->k <= 0 || j->alpha == 0) {
        scale(j->m, j->n, j->beta, j->c, j->c_rs, j->c_cs);
        return false;
    }
    bool swap = (j->n == 1 && j->m > 1) || (j->m > 1 && j->c_rs == 1 && j->c_cs != 1);
    if (swap) {
        int64_t t = j->m;
        j->m = j->n;
        j->n = t;
        const char *pa = j->a;
        int64_t a_rs = j->a_rs, a_cs = j->a_cs;
        j->a = j->b;
        j->a_rs = j->b_cs;
        j->a_cs = j->b_rs;
        j->b = pa;
        j->b_rs = a_cs;
        j->b_cs = a_rs;
        t = j->c_rs;
        j->c_rs = j->c_cs;
        j->c_cs = t;
    }
    j->swapped = swap;
    return true;
}

/* ---- a weight read in place: x W^T for a few dozen rows ------------------------------------
 *
 * With a few dozen rows of x against B = W^T (B's columns, W's rows, contiguous along
 * k) the blocked path spends about a third of its time packing W, which it reads once and uses
 * for a few tiles only (x[32, 4096] W[4096, 4096]^T on one thread: 34%). Here the product is
 * computed as C^T = W x^T instead: x^T is packed (small, once for all of k, shared by the tasks)
 * and W's rows are read where they lie by gemm_kernel_f32_avx512_strided, twelve at a time. The
 * k blocks and each element's operations are the blocked path's, so C gets the same bits. W's
 * last rows (fewer than a tile) are copied into a zero-padded tile first, and f16 / bf16 rows
 * widened into it a tile and k block at a time. At AVX2 the same with the 6 x 16 tile
 * (gemm_kernel_f32_avx2_strided). Where it pays: weight_tile_of_level, weight_in_place_f32. */
#ifdef GEMM_HAVE_AVX2
typedef void (*strided_kernel_fn)(int64_t kc, const float *a, int64_t a_rs, const float *b,
                                  int64_t b_step, float *c, int64_t c_rs, int64_t c_cs, int mr,
                                  int nr, double alpha, double beta);

/* The level's strided-rows tile: W rows a tile, x rows (16-lane panels) a call, and the rows of
 * x it pays for. AVX-512's 12 x 32 tile from 17 to 192 rows (interleaved medians, 2-core Xeon:
 * 1.09-1.59x the packed path at one thread, 1.06-1.53x at two; 256 rows 0.96x, 512 0.81x); AVX2's
 * 6 x 16 from 32 to 128 in whole 16-row panels (BORN_CPU=avx2 there: 32 / 48 / 64 / 96 / 128 rows
 * 1.25 / 1.16 / 1.12 / 1.09 / 1.07x, but 24 0.97x, 33 0.91x: a part panel costs a whole call, and
 * 192 1.02x). */
typedef struct weight_tile {
    strided_kernel_fn kernel;
    int rows, cols;
    int64_t min_m, max_m;
    bool whole_panels;
} weight_tile;

static weight_tile weight_tile_of_level(void) {
#ifdef GEMM_HAVE_AVX512
    if (cpu_get_level() >= CPU_LEVEL_AVX512)
        return (weight_tile){gemm_kernel_f32_avx512_strided,
                             GEMM_F32_MR_AVX512,
                             GEMM_F32_NR_AVX512,
                             GEMV_DOT_ROWS + 1,
                             192,
                             false};
#endif
    return (weight_tile){gemm_kernel_f32_avx2_strided, GEMM_F32_MR, GEMM_F32_NR, 32, 128, true};
}

/* k blocks [begin, end) of x^T packed into the job's bpack (shared by the tasks; block pc's
 * 16-lane panels, as B's would be, at pc * the padded row count floats), widened from halves. */
static void weight_pack_x_range(int64_t begin, int64_t end, void *ctx) {
    const gemm_job *j = ctx;
    int64_t rows = ceil_div(j->m, GEMM_F32_NR) * GEMM_F32_NR;
    for (int64_t b = begin; b < end; b++) {
        int64_t pc = b * j->kc_blk, kc = j->k - pc < j->kc_blk ? j->k - pc : j->kc_blk;
        float *dst = (float *)j->bpack + pc * rows;
        if (j->halves)
            pack_halves(j->bf16, j->im->pack_b, GEMM_F32_NR, j->m, kc, a_at(j, 0, pc), j->a_rs,
                        j->a_cs, dst);
        else
            j->im->pack_b(j->m, kc, a_at(j, 0, pc), j->a_rs, j->a_cs, dst);
    }
}

/* Tiles [begin, end) of W's rows (columns of C). C^T is summed in a buffer of the chunk's rows
 * (C's columns) by m, rows contiguous, then transposed into C once. */
static void weight_in_place_range(int64_t begin, int64_t end, void *ctx) {
    const gemm_job *j = ctx;
    weight_tile wt = weight_tile_of_level();
    int64_t panels = ceil_div(j->m, GEMM_F32_NR), b_step = GEMM_F32_NR * (int64_t)sizeof(float);
    int64_t cbuf_rs = panels * GEMM_F32_NR; /* floats between the buffer's rows */
    /* chunks of W's rows whose C^T (about 128 KB) stays in L2 across the k blocks */
    int64_t chunk = ceil_div(131072 / (cbuf_rs * (int64_t)sizeof(float)), wt.rows);
    float *tail = gemm_buffer(BUF_X, (size_t)(wt.rows * j->kc_blk) * sizeof(float));
    float *cbuf = gemm_buffer(BUF_Y, (size_t)(chunk * wt.rows * cbuf_rs) * sizeof(float));
    int64_t col0 = begin * wt.rows, col1 = end * wt.rows < j->n ? end * wt.rows : j->n;
    if (!tail || !cbuf) { /* out of memory: these columns the slow way */
        naive_of(j, j->m, col1 - col0, j->k, j->a, b_at(j, 0, col0), j->beta,
                 j->c + (size_t)col0 * sizeof(float));
        block_done(j, 0, j->m, col0, col1 - col0);
        return;
    }
    /* W's rows a multiple of 4 KB apart all fall in one set of L1, where the tile's rows evict
     * each other at every step if the set has fewer ways (8 on Zen 4); where the tile serves more
     * than two calls its rows are then copied into `tail` first (x[128, 4096] W[4096, 4096]^T and
     * W[11008, 4096]^T on one thread, 2-core Zen 4: 60-63 -> 68-75 GFLOP/s; with one call or two
     * the copy does not pay: 32 rows 58 -> 45, 64 rows even; on the 16-core Xeon's 12-way L1 the
     * copy cost up to 15% at four threads) */
    bool copy_rows = (j->b_cs * (int64_t)sizeof(float)) % 4096 == 0 && j->m > 2 * wt.cols &&
                     l1_set_thrashes(wt.rows);
    float *c = (float *)j->c; /* W's row c: B's column c (b_at), b_cs apart */
    int64_t c_bytes = j->c_rs * (int64_t)sizeof(float),
            cbuf_bytes = cbuf_rs * (int64_t)sizeof(float);
    for (int64_t t0 = begin; t0 < end; t0 += chunk) {
        int64_t t1 = t0 + chunk < end ? t0 + chunk : end;
        int64_t c0 = t0 * wt.rows, c1 = t1 * wt.rows < j->n ? t1 * wt.rows : j->n;
        if (j->beta != 0) /* C's values, for beta C */
            cpu_transpose_avx2((const char *)(c + c0), c_bytes, (char *)cbuf, cbuf_bytes, j->m,
                               c1 - c0, CPU_TRANSPOSE_COPY32);
        for (int64_t pc = 0; pc < j->k; pc += j->kc_blk) {
            int64_t kc = j->k - pc < j->kc_blk ? j->k - pc : j->kc_blk;
            double beta = pc == 0 ? j->beta : 1.0;
            const float *xpack = (const float *)j->bpack + pc * cbuf_rs; /* x^T's k block */
            for (int64_t t = t0; t < t1; t++) {
                int64_t col = t * wt.rows;
                int rows = (int)(j->n - col < wt.rows ? j->n - col : wt.rows);
                const float *wr = (const float *)b_at(j, pc, col);
                int64_t w_rs = j->b_cs;
                /* widened, or the last rows zero-padded, or copied */
                if (rows < wt.rows || j->halves || copy_rows) {
                    if (rows < wt.rows) memset(tail, 0, (size_t)(wt.rows * kc) * sizeof(float));
                    for (int r = 0; r < rows; r++) {
                        const char *row = b_at(j, pc, col + r);
                        if (j->halves)
                            cpu_halves_to_f32(row, 2, j->bf16, tail + r * kc, kc);
                        else
                            memcpy(tail + r * kc, row, (size_t)kc * sizeof(float));
                    }
                    wr = tail;
                    w_rs = kc;
                }
                float *ct = cbuf + (col - c0) * cbuf_rs;
                for (int64_t x0 = 0; x0 < j->m; x0 += wt.cols) { /* wt.cols rows of x a call */
                    int nr = (int)(j->m - x0 < wt.cols ? j->m - x0 : wt.cols);
                    wt.kernel(kc, wr, w_rs, xpack + x0 * kc, b_step, ct + x0, cbuf_rs, 1, rows, nr,
                              j->alpha, beta);
                }
            }
        }
        cpu_transpose_avx2((const char *)cbuf, cbuf_bytes, (char *)(c + c0), c_bytes, c1 - c0, j->m,
                           CPU_TRANSPOSE_COPY32);
        block_done(j, 0, j->m, c0, c1 - c0);
    }
}

/* Whether the product takes the path above (and then runs it): f32 at AVX2 or AVX-512, B = W^T,
 * C's rows contiguous, rows of x as weight_tile_of_level says, at least two tiles of W's rows,
 * and k of 1024 or more on more than two threads (on the 16-core host x[192,384] W[1536,384]^T
 * ran at 0.74-0.88x the packed path at 4-16 threads, where W stays in cache and the packing is
 * shared out; medians of 7, 2026-12-03). */
static bool weight_in_place_f32(gemm_job *j) {
    if (cpu_get_level() < CPU_LEVEL_AVX2 || j->b_rs != 1 || j->c_cs != 1) return false;
    weight_tile wt = weight_tile_of_level();
    int nthreads = born_get_num_threads();
    if (j->m < wt.min_m || j->m > wt.max_m || (wt.whole_panels && j->m % GEMM_F32_NR != 0) ||
        j->n < 2 * wt.rows || (j->k < 1024 && nthreads > 2))
        return false;
    /* x^T for all of k, packed once for every task (each packing it had cost 7-9% at 192 rows
     * on 16 threads) */
    size_t xbytes = (size_t)(ceil_div(j->m, GEMM_F32_NR) * GEMM_F32_NR * j->k) * sizeof(float);
    float *xpack = xbytes <= 64u << 20 ? gemm_buffer(BUF_B2, xbytes) : NULL; /* else: packed */
    if (!xpack) return false;
    j->bpack = (char *)xpack;
    j->im = impl_f32();
    j->src_es = j->halves ? 2 : (int64_t)sizeof(float);
    j->kc_blk = equal_block(j->k, j->im->kc, 1); /* the blocked path's k blocks: its bits */
    if (2.0 * (double)j->m * (double)j->n * (double)j->k < 2.0 * 48 * 48 * 48) nthreads = 1;
    int64_t kblocks = ceil_div(j->k, j->kc_blk);
    born_parallel_for(kblocks, ceil_div(kblocks, nthreads), weight_pack_x_range, j);
    int64_t tiles = ceil_div(j->n, wt.rows);
    born_parallel_for(tiles, ceil_div(tiles, nthreads), weight_in_place_range, j);
    return true;
}
#endif

void cpu_gemm_f32(int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t a_rs,
                  int64_t a_cs, const float *b, int64_t b_rs, int64_t b_cs, float beta, float *c,
                  int64_t c_rs, int64_t c_cs) {
    cpu_gemm_f32_ep(m, n, k, alpha, a, a_rs, a_cs, b, b_rs, b_cs, beta, c, c_rs, c_cs, NULL, NULL);
}

void cpu_gemm_f32_ep(int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t a_rs,
                     int64_t a_cs, const float *b, int64_t b_rs, int64_t b_cs, float beta, float *c,
                     int64_t c_rs, int64_t c_cs, cpu_gemm_block_fn ep, void *ep_ctx) {
    gemm_job j;
    gemm_job_init(&j, m, n, k, alpha, a, a_rs, a_cs, b, b_rs, b_cs, beta, c, c_rs, c_cs);
    j.ep = ep;
    j.ep_ctx = ep_ctx;
    if (!gemm_prepare(&j, scale_f32)) {
        if (ep && m > 0 && n > 0) ep(ep_ctx, 0, m, 0, n); /* C = beta C, done */
        return;
    }
    if (j.m == 1 && gemv_f32(j.n, j.k, alpha, (const float *)j.a, j.a_cs, (const float *)j.b,
                             j.b_rs, j.b_cs, beta, (float *)j.c, j.c_cs, &j))
        return;
    if (j.m > 1 && j.m <= GEMV_DOT_ROWS && gemv_rows_f32(&j)) return;
#ifdef GEMM_HAVE_AVX2
    if (weight_in_place_f32(&j)) return;
#endif
    j.im = impl_f32();
    gemm_blocked(j.im, &j);
}

bool cpu_gemm_halves(int64_t m, int64_t n, int64_t k, const uint16_t *a, int64_t a_rs, int64_t a_cs,
                     const uint16_t *b, int64_t b_rs, int64_t b_cs, bool bf16, float *c,
                     int64_t c_rs, int64_t c_cs) {
    gemm_job j;
    gemm_job_init(&j, m, n, k, 1.0, a, a_rs, a_cs, b, b_rs, b_cs, 0.0, c, c_rs, c_cs);
    j.halves = true;
    j.bf16 = bf16;
    if (!gemm_prepare(&j, scale_f32)) return true;
    if (j.m <= GEMV_DOT_ROWS) return false; /* cpu_gemm_f32's GEMV paths: the caller's */
#ifdef GEMM_HAVE_AVX2
    if (weight_in_place_f32(&j)) return true;
#endif
    j.im = impl_f32();
    gemm_blocked(j.im, &j);
    return true;
}

bool cpu_gemm_f32_half_b(int64_t m, int64_t n, int64_t k, const float *a, int64_t a_rs,
                         const uint16_t *b, int64_t b_cs, bool bf16, float *c, int64_t c_rs) {
#ifdef GEMM_HAVE_AVX2
    if (cpu_get_level() < CPU_LEVEL_AVX2 || m < 1 || m > GEMV_DOT_ROWS || n < 2 || k < 1)
        return false;
    gemm_job j; /* what cpu_gemm_f32 would run: its dot forms, B read as halves */
    gemm_job_init(&j, m, n, k, 1.0, a, a_rs, 1, NULL, 1, b_cs, 0.0, c, c_rs, 1);
    int nthreads = born_get_num_threads();
    if (m == 1) {
        gemv_job g = {k,    n,    a,     1,    NULL, 1, b_cs, c, 1, 1.0f, 0.0f, true, NULL,
                      NULL, &j,   b,     bf16, gemv_dot_half_avx2};
#ifdef GEMM_HAVE_AVX512
        if (cpu_get_level() >= CPU_LEVEL_AVX512) g.dot_h = gemv_dot_half_avx512;
#endif
        int64_t grain = ceil_div(ceil_div(n, nthreads), 64) * 64, least = ceil_div(65536, k);
        born_parallel_for(n, grain < least ? least : grain, gemv_range, &g);
        return true;
    }
    gemv_rows_job g = {m,    n,    k,    a,    a_rs, 1,    NULL, 1,    b_cs, c,
                       c_rs, 1,    1.0f, 0.0f, true, NULL, NULL, NULL, &j,   b,
                       bf16, gemv4_dot_half_avx2, NULL};
#ifdef GEMM_HAVE_AVX512
    if (cpu_get_level() >= CPU_LEVEL_AVX512) {
        g.dot_h = gemv4_dot_half_avx512;
        g.dot8_h = gemv8_dot_half_avx512;
    }
#endif
    int64_t grain = ceil_div(ceil_div(n, nthreads), GEMV_DOT_COLS) * GEMV_DOT_COLS;
    int64_t least = ceil_div(65536, k * m);
    born_parallel_for(n, grain < least ? least : grain, gemv_rows_range, &g);
    return true;
#else
    (void)m, (void)n, (void)k, (void)a, (void)a_rs, (void)b, (void)b_cs, (void)bf16, (void)c;
    (void)c_rs;
    return false;
#endif
}

void cpu_gemm_f64(int64_t m, int64_t n, int64_t k, double alpha, const double *a, int64_t a_rs,
                  int64_t a_cs, const double *b, int64_t b_rs, int64_t b_cs, double beta, double *c,
                  int64_t c_rs, int64_t c_cs) {
    gemm_job j;
    gemm_job_init(&j, m, n, k, alpha, a, a_rs, a_cs, b, b_rs, b_cs, beta, c, c_rs, c_cs);
    if (!gemm_prepare(&j, scale_f64)) return;
    if (j.m == 1 && gemv_f64(&j)) return;
    j.im = impl_f64();
    gemm_blocked(j.im, &j);
}
