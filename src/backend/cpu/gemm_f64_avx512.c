/* AVX-512 f64 GEMM micro-kernel (see gemm_kernels.h for the contract): a 12 x 16 tile, the f32
 * tile's k loop (gemm_tile_avx512.h) on doubles. A comes as up to two 6-row micro-panels and B as
 * up to two 8-column panels, each lying kc steps after the one before, so the packed formats stay
 * those of GEMM_F64_MR / GEMM_F64_NR. Each k step loads two zmm of B, broadcasts each of the 12
 * values of A once and multiplies it by both: 24 FMAs for 14 loads, where the AVX2 kernel's 6 x 8
 * tile (12 ymm accumulators) does 12 four-lane FMAs for 8 loads.
 *
 * Every element is accumulated in k order by fma(a, b, acc) from zero and then written as
 * alpha * acc, or fma(beta, c, alpha * acc): the operations of gemm_kernel_f64_avx2, so both
 * levels give the same bits. Compiled with -mavx512f and called only at CPU_LEVEL_AVX512. */
#include <immintrin.h>
#include <math.h>

#include "backend/cpu/gemm_kernels.h"

/* the element's instructions of gemm_tile_avx512.h's k loop */
#define T_VBCAST "vbroadcastsd"
#define T_VFMA "vfmadd231pd"
#define T_VADD "vaddpd"
#include "backend/cpu/gemm_tile_avx512.h"

/* a packed A step: 6 doubles (US bytes), value r of it r * 8 bytes on */
#define F64_US 48
#define F64_RS 8

enum f64_out { F64_ACC, F64_PUT, F64_ADD };

/* Runs the k loop of t into acc (F64_ACC) or straight into C (beta 0: stored; beta 1: added). */
static void run_tile_f64(tile *t, int shape, enum f64_out out) {
    switch (out) {
    case F64_PUT: T_SWITCH(shape, T_OUT_PUT, F64_US, F64_RS); break;
    case F64_ADD: T_SWITCH(shape, T_OUT_ADD, F64_US, F64_RS); break;
    default: T_SWITCH(shape, T_OUT_ACC, F64_US, F64_RS); break;
    }
}

/* C = alpha acc + beta C for the mr x nr corner of the tile (beta == 0: C only written). */
static void store_acc_f64(double acc[12][16], double *c, int64_t c_rs, int64_t c_cs, int mr, int nr,
                          double alpha, double beta) {
    __m512d al = _mm512_set1_pd(alpha), be = _mm512_set1_pd(beta);
    if (c_cs == 1) { /* rows of C contiguous: full or masked vectors */
        for (int i = 0; i < mr; i++)
            for (int h = 0; h * 8 < nr; h++) {
                int n = nr - h * 8 < 8 ? nr - h * 8 : 8;
                __mmask8 m = (__mmask8)((1u << n) - 1);
                double *ci = c + i * c_rs + h * 8;
                __m512d r = _mm512_mul_pd(al, _mm512_load_pd(acc[i] + h * 8));
                if (beta != 0) r = _mm512_fmadd_pd(be, _mm512_maskz_loadu_pd(m, ci), r);
                _mm512_mask_storeu_pd(ci, m, r);
            }
        return;
    }
    for (int i = 0; i < mr; i++) {
        for (int h = 0; h < 2; h++)
            _mm512_store_pd(acc[i] + h * 8, _mm512_mul_pd(al, _mm512_load_pd(acc[i] + h * 8)));
        for (int j = 0; j < nr; j++) {
            double *cij = c + i * c_rs + j * c_cs;
            *cij = beta == 0 ? acc[i][j] : fma(beta, *cij, acc[i][j]);
        }
    }
}

void gemm_kernel_f64_avx512(int64_t kc, const void *a, const void *b, int64_t b_step, void *c_,
                            int64_t c_rs, int64_t c_cs, int mr, int nr, double alpha, double beta) {
    double *c = c_;
    _Alignas(64) double acc[12][16];
    tile t = {0};
    t.a0 = a;
    t.a1 = mr > 6 ? (const double *)a + 6 * kc : a;
    t.b = b;
    t.k4 = kc / 4;
    t.kr = kc % 4;
    t.c = c;
    t.acc = &acc[0][0];
    t.b_step = b_step;
    t.b_off = kc * b_step;
    t.c_rs_bytes = c_rs * (int64_t)sizeof(double);
    int shape = (mr > 6 ? 2 : 0) + (nr > 8 ? 1 : 0);
    /* whole tiles with alpha 1 and beta 0 or 1 go from the registers to C (the same bits) */
    if (c_cs == 1 && (mr == 6 || mr == 12) && (nr == 8 || nr == 16) && alpha == 1.0 &&
        (beta == 0.0 || beta == 1.0)) {
        for (int i = 0; i < mr; i++)
            for (int j = 0; j < nr; j += 8) {
                _mm_prefetch((const char *)(c + i * c_rs + j), _MM_HINT_T0);
                _mm_prefetch((const char *)(c + i * c_rs + j + 7), _MM_HINT_T0);
            }
        run_tile_f64(&t, shape, beta == 0.0 ? F64_PUT : F64_ADD);
        return;
    }
    run_tile_f64(&t, shape, F64_ACC);
    store_acc_f64(acc, c, c_rs, c_cs, mr, nr, alpha, beta);
}
