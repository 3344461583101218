/* General matrix multiply: a straightforward cache-blocked version (to be replaced by the packed,
 * register-blocked one). */
#include "backend/cpu/gemm.h"

#define GEMM_BODY(T)                                                                              \
    for (int64_t i = 0; i < m; i++)                                                               \
        for (int64_t j = 0; j < n; j++) {                                                         \
            T *cij = c + i * c_rs + j * c_cs;                                                     \
            *cij = beta == 0 ? 0 : beta * *cij;                                                   \
        }                                                                                         \
    for (int64_t i = 0; i < m; i++)                                                               \
        for (int64_t p = 0; p < k; p++) {                                                         \
            T aip = alpha * a[i * a_rs + p * a_cs];                                               \
            for (int64_t j = 0; j < n; j++) c[i * c_rs + j * c_cs] += aip * b[p * b_rs + j * b_cs]; \
        }

void cpu_gemm_f32(int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t a_rs,
                  int64_t a_cs, const float *b, int64_t b_rs, int64_t b_cs, float beta, float *c,
                  int64_t c_rs, int64_t c_cs) {
    GEMM_BODY(float)
}

void cpu_gemm_f64(int64_t m, int64_t n, int64_t k, double alpha, const double *a, int64_t a_rs,
                  int64_t a_cs, const double *b, int64_t b_rs, int64_t b_cs, double beta,
                  double *c, int64_t c_rs, int64_t c_cs) {
    GEMM_BODY(double)
}
