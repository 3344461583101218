/* cpu_linear_quant_group against one cpu_linear_quant call per weight, bit for bit: three weights
 * of different row counts (one with a bias) over one input, for a tiled type (Q8_0), a K-quant
 * (Q4_K) and a type without tiles (Q5_1), with batch sizes around the task groups. */
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/quant/quant_traits.h"
#include "test.h"

static born_strided matrix(void *data, born_dtype dt, int64_t rows, int64_t cols) {
    born_strided s;
    memset(&s, 0, sizeof s);
    s.data = data;
    s.dtype = dt;
    s.ndim = 2;
    s.shape[0] = rows;
    s.shape[1] = cols;
    s.strides[0] = cols;
    s.strides[1] = 1;
    return s;
}

TEST(quant_linear_group_equals_single_products) {
    enum { K = 512, MAXM = 130 };
    const born_dtype types[] = {BORN_Q8_0, BORN_Q4_K, BORN_Q5_1};
    const int64_t rows[3] = {100, 36, 7}, ms[] = {1, 2, 65, MAXM};
    uint64_t r = 21;
    float *x = malloc(MAXM * K * sizeof *x), *wf = malloc(100 * K * sizeof *wf), bias[100];
    for (int i = 0; i < MAXM * K; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((int64_t)(r >> 40) - (1 << 23)) / (float)(1 << 23);
    }
    for (int i = 0; i < 100 * K; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        wf[i] = (float)((int64_t)(r >> 40) - (1 << 23)) / (float)(1 << 24);
    }
    for (int i = 0; i < 100; i++) bias[i] = (float)i / 64.0f;
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        const quant_traits *tr = quant_traits_of(types[t]);
        const size_t rb = born_dtype_nbytes(types[t], K);
        void *w[3];
        float *one[3], *grp[3];
        for (int i = 0; i < 3; i++) {
            w[i] = malloc(rows[i] * rb);
            for (int64_t j = 0; j < rows[i]; j++) tr->from_float(wf + (j + i) * K, (char *)w[i] + j * rb, K);
            one[i] = malloc(MAXM * rows[i] * sizeof(float));
            grp[i] = malloc(MAXM * rows[i] * sizeof(float));
        }
        for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++) {
            int64_t m = ms[mi];
            born_strided sx = matrix(x, BORN_F32, m, K), sw[3], so[3], sb[3];
            const born_strided *pw[3], *po[3], *pb[3];
            for (int i = 0; i < 3; i++) {
                sw[i] = matrix(w[i], types[t], rows[i], K);
                memset(&sb[i], 0, sizeof sb[i]);
                sb[i].data = i == 1 ? bias : NULL;
                sb[i].dtype = BORN_F32;
                sb[i].ndim = 1;
                sb[i].shape[0] = rows[i];
                sb[i].strides[0] = 1;
                so[i] = matrix(one[i], BORN_F32, m, rows[i]);
                CHECK_OK(cpu_linear_quant(&so[i], &sx, &sw[i], &sb[i]));
                so[i] = matrix(grp[i], BORN_F32, m, rows[i]);
                pw[i] = &sw[i], po[i] = &so[i], pb[i] = &sb[i];
            }
            CHECK_OK(cpu_linear_quant_group(3, po, &sx, pw, pb));
            for (int i = 0; i < 3; i++)
                CHECK_MSG(memcmp(one[i], grp[i], (size_t)(m * rows[i]) * sizeof(float)) == 0,
                          "%s, %lld rows of x, weight %d: the group's outputs differ from a single product's",
                          born_dtype_name(types[t]), (long long)m, i);
        }
        for (int i = 0; i < 3; i++) free(w[i]), free(one[i]), free(grp[i]);
    }
    free(x);
    free(wf);
}
