/* arm64 Advanced SIMD (NEON) pieces of the f32 and f64 GEMMs (see gemm_kernels.h for the
 * contract): the 6 x 16 f32 and 6 x 8 f64 micro-kernels on the packed formats every level shares
 * (6-row A micro-panels, 16- and 8-column B panels). Compiled for arm64 only, where NEON is part
 * of the architecture.
 *
 * The tile keeps 24 accumulators of 4 lanes (row i, columns 4q..4q+3 in acc[i][q]); each k step
 * loads the 16 values of B into 4 registers and the 6 values of A into two, and issues 24
 * fused multiply-adds by lane (FMLA by element): 30 of the 32 vector registers, no spill.
 *
 * Every element is accumulated in k order by fma(a, b, acc) from zero and written as alpha * acc,
 * or fma(beta, c, alpha * acc): the operations of the AVX2 and AVX-512 kernels, so an arm64
 * machine gives the bits an x86-64 one gives at those levels. */
#include <arm_neon.h>
#include <math.h>

#include "backend/cpu/gemm_kernels.h"

/* The tile's corner to C when it is not 16 contiguous columns (or not all of them). */
static void store_corner(const float32x4_t acc[6][4], float *c, int64_t c_rs, int64_t c_cs, int mr,
                         int nr, float alpha, float beta) {
    for (int i = 0; i < mr; i++) {
        float row[16];
        for (int q = 0; q < 4; q++) vst1q_f32(row + 4 * q, vmulq_n_f32(acc[i][q], alpha));
        for (int j = 0; j < nr; j++) {
            float *cij = c + i * c_rs + j * c_cs;
            *cij = beta == 0 ? row[j] : fmaf(beta, *cij, row[j]);
        }
    }
}

void gemm_kernel_f32_neon(int64_t kc, const void *a_, const void *b_, int64_t b_step, void *c_,
                          int64_t c_rs, int64_t c_cs, int mr, int nr, double alpha_d,
                          double beta_d) {
    const float *a = a_;
    const char *b = b_;
    float *c = c_;
    float32x4_t acc[6][4];
    for (int i = 0; i < 6; i++)
        for (int q = 0; q < 4; q++) acc[i][q] = vdupq_n_f32(0.0f);
    for (int64_t p = 0; p < kc; p++, a += GEMM_F32_MR, b += b_step) {
        const float *bp = (const float *)b;
        float32x4_t b0 = vld1q_f32(bp), b1 = vld1q_f32(bp + 4);
        float32x4_t b2 = vld1q_f32(bp + 8), b3 = vld1q_f32(bp + 12);
        float32x4_t a03 = vld1q_f32(a);
        float32x2_t a45 = vld1_f32(a + 4);
#define ROW_LANEQ(i, lane)                                                                         \
    acc[i][0] = vfmaq_laneq_f32(acc[i][0], b0, a03, lane);                                         \
    acc[i][1] = vfmaq_laneq_f32(acc[i][1], b1, a03, lane);                                         \
    acc[i][2] = vfmaq_laneq_f32(acc[i][2], b2, a03, lane);                                         \
    acc[i][3] = vfmaq_laneq_f32(acc[i][3], b3, a03, lane);
#define ROW_LANE(i, lane)                                                                          \
    acc[i][0] = vfmaq_lane_f32(acc[i][0], b0, a45, lane);                                          \
    acc[i][1] = vfmaq_lane_f32(acc[i][1], b1, a45, lane);                                          \
    acc[i][2] = vfmaq_lane_f32(acc[i][2], b2, a45, lane);                                          \
    acc[i][3] = vfmaq_lane_f32(acc[i][3], b3, a45, lane);
        ROW_LANEQ(0, 0)
        ROW_LANEQ(1, 1)
        ROW_LANEQ(2, 2)
        ROW_LANEQ(3, 3)
        ROW_LANE(4, 0)
        ROW_LANE(5, 1)
#undef ROW_LANEQ
#undef ROW_LANE
    }
    float alpha = (float)alpha_d, beta = (float)beta_d;
    if (nr != 16 || c_cs != 1) {
        store_corner((const float32x4_t(*)[4])acc, c, c_rs, c_cs, mr, nr, alpha, beta);
        return;
    }
    float32x4_t be = vdupq_n_f32(beta);
    for (int i = 0; i < mr; i++) {
        float *ci = c + i * c_rs;
        for (int q = 0; q < 4; q++) {
            float32x4_t r = vmulq_n_f32(acc[i][q], alpha);
            if (beta != 0) r = vfmaq_f32(r, be, vld1q_f32(ci + 4 * q)); /* fma(beta, c, r) */
            vst1q_f32(ci + 4 * q, r);
        }
    }
}

/* The f64 tile: acc[i][q] holds row i, columns 2q and 2q + 1; each k step loads 8 values of B
 * into 4 registers and 6 of A into 3, and issues 24 FMLAs by element: 31 of the 32 registers. */
void gemm_kernel_f64_neon(int64_t kc, const void *a_, const void *b_, int64_t b_step, void *c_,
                          int64_t c_rs, int64_t c_cs, int mr, int nr, double alpha, double beta) {
    const double *a = a_;
    const char *b = b_;
    double *c = c_;
    float64x2_t acc[6][4];
    for (int i = 0; i < 6; i++)
        for (int q = 0; q < 4; q++)
            acc[i][q] = vdupq_n_f64(0.0);
    for (int64_t p = 0; p < kc; p++, a += GEMM_F64_MR, b += b_step) {
        const double *bp = (const double *)b;
        float64x2_t b0 = vld1q_f64(bp), b1 = vld1q_f64(bp + 2);
        float64x2_t b2 = vld1q_f64(bp + 4), b3 = vld1q_f64(bp + 6);
        float64x2_t a01 = vld1q_f64(a), a23 = vld1q_f64(a + 2), a45 = vld1q_f64(a + 4);
#define ROW_F64(i, pair, lane)                                                                     \
    acc[i][0] = vfmaq_laneq_f64(acc[i][0], b0, pair, lane);                                        \
    acc[i][1] = vfmaq_laneq_f64(acc[i][1], b1, pair, lane);                                        \
    acc[i][2] = vfmaq_laneq_f64(acc[i][2], b2, pair, lane);                                        \
    acc[i][3] = vfmaq_laneq_f64(acc[i][3], b3, pair, lane);
        ROW_F64(0, a01, 0)
        ROW_F64(1, a01, 1)
        ROW_F64(2, a23, 0)
        ROW_F64(3, a23, 1)
        ROW_F64(4, a45, 0)
        ROW_F64(5, a45, 1)
#undef ROW_F64
    }
    if (nr == 8 && c_cs == 1) {
        float64x2_t be = vdupq_n_f64(beta);
        for (int i = 0; i < mr; i++) {
            double *ci = c + i * c_rs;
            for (int q = 0; q < 4; q++) {
                float64x2_t r = vmulq_n_f64(acc[i][q], alpha);
                if (beta != 0) r = vfmaq_f64(r, be, vld1q_f64(ci + 2 * q)); /* fma(beta, c, r) */
                vst1q_f64(ci + 2 * q, r);
            }
        }
        return;
    }
    for (int i = 0; i < mr; i++) { /* the tile's corner, column by column */
        double row[8];
        for (int q = 0; q < 4; q++)
            vst1q_f64(row + 2 * q, vmulq_n_f64(acc[i][q], alpha));
        for (int j = 0; j < nr; j++) {
            double *cij = c + i * c_rs + j * c_cs;
            *cij = beta == 0 ? row[j] : fma(beta, *cij, row[j]);
        }
    }
}
