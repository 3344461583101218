/* arm64 Advanced SIMD (NEON) pieces of the f32 GEMM (see gemm_kernels.h for the contract): the
 * 6 x 16 micro-kernel on the packed formats every level shares (6-row A micro-panels, 16-column B
 * panels). Compiled for arm64 only, where NEON is part of the architecture.
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
