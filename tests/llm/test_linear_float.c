/* The batched f16 / f32 weight product of the LLM engine (src/llm/session/linear_float.c) against
 * a double-precision product of the same (converted) values, with edge sizes (rows and tokens
 * that fill no tile, k that is no multiple of 8, more than one token group and k block), a bias,
 * a strided output, and identical bits with 1 and 2 threads; and the one-token f16 rows
 * (llm_dot_rows_f16) against a double reference and against each row alone. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "llm/model/model_internal.h"
#include "test.h"

static uint64_t lf_rng = 88172645463325252ull;

static float lf_uniform(void) {
    lf_rng ^= lf_rng << 13;
    lf_rng ^= lf_rng >> 7;
    lf_rng ^= lf_rng << 17;
    return (float)((lf_rng >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

static void check_batch(born_dtype dt, int64_t n, int64_t rows, int64_t k, bool with_bias) {
    const size_t es = dt == BORN_F16 ? 2 : 4;
    void *wdata = malloc((size_t)rows * k * es);
    float *wf = malloc((size_t)rows * k * sizeof *wf), *x = malloc((size_t)n * k * sizeof *x);
    float *bias = malloc((size_t)rows * sizeof *bias);
    const int64_t out_rs = rows + 3;
    float *out = malloc((size_t)n * out_rs * sizeof *out), *out2 = malloc((size_t)n * out_rs * sizeof *out2);
    for (int64_t i = 0; i < rows * k; i++) {
        float v = lf_uniform();
        if (dt == BORN_F16) {
            ((uint16_t *)wdata)[i] = born_f32_to_f16(v);
            wf[i] = born_f16_to_f32(((uint16_t *)wdata)[i]);
        } else {
            ((float *)wdata)[i] = wf[i] = v;
        }
    }
    for (int64_t i = 0; i < n * k; i++) x[i] = lf_uniform();
    for (int64_t j = 0; j < rows; j++) bias[j] = lf_uniform();
    llm_weight w = {0}, b = {0};
    w.t = NULL;
    w.data = wdata;
    w.dtype = dt;
    w.rows = rows;
    w.cols = k;
    w.row_bytes = (size_t)k * es;
    b.t = (born_tensor *)1; /* present: only tested for NULL */
    b.data = bias;
    born_session s;
    memset(&s, 0, sizeof s);
    int saved = born_get_num_threads();
    born_set_num_threads(1);
    CHECK_OK(llm_linear_float_batch(&s, out, out_rs, x, n, &w, with_bias ? &b : NULL));
    born_set_num_threads(2);
    CHECK_OK(llm_linear_float_batch(&s, out2, out_rs, x, n, &w, with_bias ? &b : NULL));
    born_set_num_threads(saved);
    double worst = 0;
    bool same = true;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < rows; j++) {
            double ref = with_bias ? bias[j] : 0.0;
            for (int64_t p = 0; p < k; p++) ref += (double)x[i * k + p] * wf[j * k + p];
            worst = fmax(worst, fabs(out[i * out_rs + j] - ref));
            if (memcmp(&out[i * out_rs + j], &out2[i * out_rs + j], sizeof(float)) != 0) same = false;
        }
    /* |terms| <= 1: the f32 sums are off by a few ulps of sqrt(k)-sized partial sums */
    CHECK_MSG(worst <= 2e-5 * k, "%s %lld x %lld x %lld: off by %g", born_dtype_name(dt), (long long)n,
              (long long)rows, (long long)k, worst);
    CHECK_MSG(same, "%s %lld x %lld x %lld: 1 and 2 threads differ", born_dtype_name(dt), (long long)n,
              (long long)rows, (long long)k);
    free(s.fpack);
    free(wdata);
    free(wf);
    free(x);
    free(bias);
    free(out);
    free(out2);
}

TEST(llm_linear_float_batch_matches_reference) {
    check_batch(BORN_F16, 4, 16, 64, false);
    check_batch(BORN_F16, 7, 33, 72, true);      /* partial panels and tiles */
    check_batch(BORN_F16, 140, 70, 300, true);   /* two token groups, two k blocks, k % 8 = 4 */
    check_batch(BORN_F16, 13, 130, 576, false);  /* three row tasks, three k blocks */
    check_batch(BORN_F16, 5, 17, 13, true);      /* k shorter than a vector */
    check_batch(BORN_F32, 9, 40, 100, true);
    check_batch(BORN_F32, 133, 21, 257, false);
}

TEST(llm_dot_rows_f16_matches_one_dot_per_row) {
    const int64_t rows = 11, k = 203, ls = 211;
    uint16_t *w = malloc((size_t)rows * ls * sizeof *w);
    float x[203], out[11];
    for (int64_t i = 0; i < rows * ls; i++) w[i] = born_f32_to_f16(lf_uniform());
    for (int64_t i = 0; i < k; i++) x[i] = lf_uniform();
    llm_dot_rows_f16(x, w, ls, rows, k, out);
    for (int64_t j = 0; j < rows; j++) {
        float one;
        llm_dot_rows_f16(x, w + j * ls, ls, 1, k, &one); /* one row alone: the plain dot */
        CHECK_MSG(memcmp(&one, &out[j], sizeof one) == 0, "row %lld: %.9g vs %.9g alone", (long long)j,
                  (double)out[j], (double)one);
        double ref = 0;
        for (int64_t p = 0; p < k; p++) ref += (double)x[p] * born_f16_to_f32(w[j * ls + p]);
        CHECK(fabs(out[j] - ref) <= 1e-4);
    }
    free(w);
}
