/* Block-quantized dtypes: quantize/dequantize round trips, the dot products (portable and AVX2)
 * against dequantize-then-dot in double, products with a quantized weight (born_linear,
 * born_matmul) against the dequantized weight, thread-count independence, LoRA-style gradients,
 * embedding rows, strided conversions and the error paths. (Byte-exact agreement with ggml and
 * gguf-py is in test_quant_fixtures.c.) */
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/quant/quant_traits.h"
#include "core/cpu_features.h"
#include "test.h"

static const born_dtype QTYPES[] = {BORN_Q4_0, BORN_Q4_1, BORN_Q5_0, BORN_Q5_1, BORN_Q8_0,
                                    BORN_Q8_1, BORN_Q2_K, BORN_Q3_K, BORN_Q4_K, BORN_Q5_K,
                                    BORN_Q6_K, BORN_Q8_K, BORN_IQ4_NL, BORN_IQ4_XS};
enum { NQ = sizeof QTYPES / sizeof QTYPES[0] };

/* A small LCG so the data does not depend on Born's generator. */
static uint64_t lcg_state;
static double lcg_uniform(void) {
    lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(lcg_state >> 11) / 9007199254740992.0;
}
static double lcg_normal(void) {
    double u = lcg_uniform() + 1e-12, v = lcg_uniform();
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}
static void fill_normal(float *x, int64_t n, uint64_t seed, double scale) {
    lcg_state = seed;
    for (int64_t i = 0; i < n; i++) x[i] = (float)(lcg_normal() * scale);
}

/* The bound on the relative RMS error of one round trip of N(0, 1) data (measured values with a
 * margin of about 1.3). */
static double roundtrip_bound(born_dtype t) {
    switch (t) {
    case BORN_Q4_0: return 0.12;
    case BORN_Q4_1: return 0.11;
    case BORN_Q5_0: return 0.06;
    case BORN_Q5_1: return 0.055;
    case BORN_Q8_0: case BORN_Q8_1: return 0.006;
    case BORN_Q2_K: return 0.42;
    case BORN_Q3_K: return 0.22;
    case BORN_Q4_K: return 0.10;
    case BORN_Q5_K: return 0.05;
    case BORN_Q6_K: return 0.025;
    case BORN_Q8_K: return 0.009;
    case BORN_IQ4_NL: case BORN_IQ4_XS: return 0.10;
    default: return 0;
    }
}

TEST(quant_roundtrip_error_bounds) {
    enum { R = 8, K = 1024 };
    float *x = malloc(sizeof(float) * R * K);
    fill_normal(x, R * K, 11, 1.0);
    born_tensor *src = born_from_data(BORN_F32, BORN_DIMS(R, K), x, sizeof(float) * R * K);
    for (int i = 0; i < NQ; i++) {
        born_tensor *q = born_to_dtype(src, QTYPES[i]);
        CHECK_OK_TENSOR(q);
        born_tensor *back = born_to_dtype(q, BORN_F32);
        CHECK_OK_TENSOR(back);
        if (!back) continue;
        const float *y = born_data_f32(back);
        double err = 0, ref = 0;
        for (int64_t j = 0; j < R * K; j++) {
            err += ((double)y[j] - x[j]) * ((double)y[j] - x[j]);
            ref += (double)x[j] * x[j];
        }
        double rel = sqrt(err / ref);
        CHECK_MSG(rel <= roundtrip_bound(QTYPES[i]) && rel > 0,
                  "%s: relative RMS error %.4f (bound %.4f)", born_dtype_name(QTYPES[i]), rel,
                  roundtrip_bound(QTYPES[i]));
        /* quantizing the dequantized values again changes little (and q8 nothing) */
        born_tensor *q2 = born_to_dtype(back, QTYPES[i]);
        born_tensor *back2 = born_to_dtype(q2, BORN_F32);
        CHECK_OK_TENSOR(back2);
        if (back2) {
            const float *z = born_data_f32(back2);
            double e2 = 0;
            for (int64_t j = 0; j < R * K; j++) e2 += ((double)z[j] - y[j]) * ((double)z[j] - y[j]);
            CHECK_MSG(sqrt(e2 / ref) <= rel, "%s: requantizing moved values by %.4f",
                      born_dtype_name(QTYPES[i]), sqrt(e2 / ref));
        }
    }
    /* all-zero rows stay zero */
    born_tensor *z = born_zeros(BORN_F32, BORN_DIMS(2, 512));
    for (int i = 0; i < NQ; i++) {
        born_tensor *back = born_to_dtype(born_to_dtype(z, QTYPES[i]), BORN_F32);
        CHECK_OK_TENSOR(back);
        if (!back) continue;
        const float *y = born_data_f32(back);
        bool all_zero = true;
        for (int j = 0; j < 1024; j++) all_zero = all_zero && y[j] == 0.0f;
        CHECK_MSG(all_zero, "%s: zeros do not come back as zeros", born_dtype_name(QTYPES[i]));
    }
    free(x);
}

/* Random blocks of dtype t with every bit pattern but finite, moderate f16 scales. */
static void random_blocks(born_dtype t, unsigned char *b, int64_t nblocks, uint64_t seed) {
    const quant_traits *tr = quant_traits_of(t);
    lcg_state = seed;
    for (int64_t i = 0; i < nblocks * (int64_t)tr->block_bytes; i++)
        b[i] = (unsigned char)(lcg_uniform() * 256);
    int offs[2] = {-1, -1};
    switch (t) {
    case BORN_Q4_0: case BORN_Q5_0: case BORN_Q8_0: case BORN_IQ4_NL: case BORN_IQ4_XS: offs[0] = 0; break;
    case BORN_Q4_1: case BORN_Q5_1: case BORN_Q8_1: case BORN_Q4_K: case BORN_Q5_K: offs[0] = 0; offs[1] = 2; break;
    case BORN_Q2_K: offs[0] = 80; offs[1] = 82; break;
    case BORN_Q3_K: offs[0] = 108; break;
    case BORN_Q6_K: offs[0] = 208; break;
    default: break;
    }
    for (int64_t i = 0; i < nblocks; i++) {
        unsigned char *blk = b + i * (int64_t)tr->block_bytes;
        for (int k = 0; k < 2; k++) {
            if (offs[k] < 0) continue;
            uint16_t h = born_f32_to_f16((float)((lcg_uniform() - 0.5) * 0.2));
            memcpy(blk + offs[k], &h, 2);
        }
        if (t == BORN_Q8_K) {
            float d = (float)((lcg_uniform() - 0.5) * 0.2);
            memcpy(blk, &d, 4);
        }
    }
}

/* Q4_1's dot takes the min term from Q8_1's s (f16 of d_y sum(q_y)), as ggml: what that rounding
 * adds to the dequantized dot, sum over blocks of m_x (s_y - d_y sum(q_y)), in double. */
static double q4_1_s_correction(const unsigned char *qx, const unsigned char *qy, int64_t k) {
    const block_q4_1 *x = (const block_q4_1 *)qx;
    const block_q8_1 *y = (const block_q8_1 *)qy;
    double c = 0.0;
    for (int64_t b = 0; b < k / 32; b++) {
        int sum = 0;
        for (int j = 0; j < 32; j++) sum += y[b].qs[j];
        c += (double)born_f16_to_f32(x[b].m) *
             ((double)born_f16_to_f32(y[b].s) - (double)born_f16_to_f32(y[b].d) * sum);
    }
    return c;
}

/* Checks vec_dot (the given implementation) of weights of type t against dequantize-then-dot in
 * double, for k elements of weights (from quantized data or random blocks). */
static void check_vec_dot(born_dtype t, quant_vec_dot_fn dot, const char *impl, int64_t k,
                          bool random_weights, uint64_t seed) {
    const quant_traits *tr = quant_traits_of(t);
    const quant_traits *tv = quant_traits_of(tr->vec_dot_type);
    float *x = malloc(sizeof(float) * k), *y = malloc(sizeof(float) * k);
    float *dx = malloc(sizeof(float) * k), *dy = malloc(sizeof(float) * k);
    unsigned char *qx = malloc(born_dtype_nbytes(t, k)), *qy = malloc(born_dtype_nbytes(tr->vec_dot_type, k));
    fill_normal(x, k, seed, 1.0);
    fill_normal(y, k, seed + 1, 0.5);
    if (random_weights)
        random_blocks(t, qx, k / tr->block, seed + 2);
    else
        tr->from_float(x, qx, k);
    tv->from_float(y, qy, k);
    tr->to_float(qx, dx, k);
    tv->to_float(qy, dy, k);
    double ref = 0, mag = 0;
    for (int64_t i = 0; i < k; i++) {
        ref += (double)dx[i] * dy[i];
        mag += fabs((double)dx[i] * dy[i]);
    }
    if (t == BORN_Q4_1) ref += q4_1_s_correction(qx, qy, k);
    double got = dot(k, qx, qy);
    CHECK_MSG(fabs(got - ref) <= 2e-5 * mag + 1e-30, "%s %s vec_dot (k %lld%s): %.9g vs %.9g (sum |.| %g)",
              born_dtype_name(t), impl, (long long)k, random_weights ? ", random blocks" : "", got,
              ref, mag);
    free(x), free(y), free(dx), free(dy), free(qx), free(qy);
}

TEST(quant_vec_dot_matches_dequantized_dot) {
    bool avx2 = cpu_features_get()->avx2 && cpu_features_get()->fma && cpu_features_get()->f16c;
    for (int i = 0; i < NQ; i++) {
        const quant_traits *tr = quant_traits_of(QTYPES[i]);
        for (int r = 0; r < 2; r++) {
            for (int64_t k = tr->block; k <= 8 * 256; k += tr->block == 32 ? 7 * 32 : 3 * 256) {
                check_vec_dot(QTYPES[i], tr->vec_dot, "scalar", k, r, 100 + (uint64_t)k);
                if (avx2 && tr->vec_dot_avx2)
                    check_vec_dot(QTYPES[i], tr->vec_dot_avx2, "avx2", k, r, 100 + (uint64_t)k);
            }
        }
        CHECK_MSG(!avx2 || tr->vec_dot_avx2, "%s has no AVX2 dot product", born_dtype_name(QTYPES[i]));
    }
}

/* ---- products with a quantized weight ------------------------------------------------------- */

/* out[m, n] = sum_k deq(q8(x))[m, k] deq(w)[n, k] + bias[n] in double: the value linear_quant
 * computes up to float rounding (its activations are quantized too). */
static void reference_linear(born_dtype wt, const unsigned char *wq, const float *x,
                             const float *bias, int64_t m, int64_t n, int64_t k, double *out,
                             double *mag) {
    const quant_traits *tr = quant_traits_of(wt), *tv = quant_traits_of(tr->vec_dot_type);
    float *wd = malloc(sizeof(float) * n * k), *xd = malloc(sizeof(float) * k);
    unsigned char *xq = malloc(born_dtype_nbytes(tr->vec_dot_type, k));
    size_t wrow = born_dtype_nbytes(wt, k);
    for (int64_t j = 0; j < n; j++) tr->to_float(wq + j * wrow, wd + j * k, k);
    for (int64_t i = 0; i < m; i++) {
        /* activations are quantized as ggml's CPU backend quantizes them */
        quant_act_from_float(tr->vec_dot_type, tv->from_float)(x + i * k, xq, k);
        tv->to_float(xq, xd, k);
        for (int64_t j = 0; j < n; j++) {
            double s = bias ? bias[j] : 0, a = bias ? fabs(bias[j]) : 0;
            if (wt == BORN_Q4_1) s += q4_1_s_correction(wq + j * wrow, xq, k);
            for (int64_t l = 0; l < k; l++) {
                s += (double)xd[l] * wd[j * k + l];
                a += fabs((double)xd[l] * wd[j * k + l]);
            }
            out[i * n + j] = s;
            mag[i * n + j] = a;
        }
    }
    free(wd), free(xd), free(xq);
}

TEST(quant_linear_matches_dequantized_weight) {
    static const int64_t Ms[] = {1, 3, 17, 64};
    cpu_level saved = cpu_get_level();
    for (int i = 0; i < NQ; i++) {
        born_dtype t = QTYPES[i];
        int64_t k = born_dtype_block_size(t) == 32 ? 800 : 768, n = 37;
        born_scope_begin();
        float *wf = malloc(sizeof(float) * n * k), *bias = malloc(sizeof(float) * n);
        fill_normal(wf, n * k, 7 + (uint64_t)i, 0.05);
        fill_normal(bias, n, 9, 1.0);
        born_tensor *w32 = born_from_data(BORN_F32, BORN_DIMS(n, k), wf, sizeof(float) * n * k);
        born_tensor *b = born_from_data(BORN_F32, BORN_DIMS(n), bias, sizeof(float) * n);
        born_tensor *wq = born_to_dtype(w32, t);
        born_tensor *wd = born_to_dtype(wq, BORN_F32);
        CHECK_OK_TENSOR(wd);
        if (!wd) {
            born_scope_end();
            continue;
        }
        for (int mi = 0; mi < 4; mi++) {
            int64_t m = Ms[mi];
            float *xf = malloc(sizeof(float) * m * k);
            fill_normal(xf, m * k, 1000 + (uint64_t)m, 1.0);
            born_tensor *x = born_from_data(BORN_F32, BORN_DIMS(m, k), xf, sizeof(float) * m * k);
            double *ref = malloc(sizeof(double) * m * n), *mag = malloc(sizeof(double) * m * n);
            reference_linear(t, born_data_ptr(wq), xf, bias, m, n, k, ref, mag);
            for (int level = 0; level <= (int)saved && level <= CPU_LEVEL_AVX2; level++) {
                cpu_set_level((cpu_level)level);
                if (cpu_get_level() != (cpu_level)level) continue; /* the other architecture's */
                born_tensor *out = born_linear(x, wq, b);
                CHECK_OK_TENSOR(out);
                if (!out) continue;
                CHECK_SHAPE(out, m, n);
                const float *o = born_data_f32(out);
                int bad = 0;
                for (int64_t j = 0; j < m * n; j++)
                    if (!(fabs(o[j] - ref[j]) <= 2e-5 * mag[j] + 1e-6)) bad++;
                CHECK_MSG(bad == 0, "%s linear m=%lld (%s): %d of %lld outputs off", born_dtype_name(t),
                          (long long)m, cpu_level_name((cpu_level)level), bad, (long long)(m * n));
                /* and against the exact product with the dequantized weight: only the 8-bit
                 * activations separate them */
                born_tensor *exact = born_linear(x, wd, b);
                const float *e = born_data_f32(exact);
                double worst = 0;
                for (int64_t j = 0; j < m * n; j++) {
                    double r = fabs(o[j] - e[j]) / (mag[j] + 1e-9);
                    worst = r > worst ? r : worst;
                }
                CHECK_MSG(worst < 0.02, "%s linear m=%lld: %.4f of sum |x w| from the f32 product",
                          born_dtype_name(t), (long long)m, worst);
            }
            cpu_set_level(saved);
            free(xf), free(ref), free(mag);
        }
        free(wf), free(bias);
        born_scope_end();
    }
}

TEST(quant_linear_thread_count_and_matmul) {
    int saved = born_get_num_threads();
    enum { M = 33, N = 70, K = 512 };
    float *wf = malloc(sizeof(float) * N * K), *xf = malloc(sizeof(float) * M * K);
    fill_normal(wf, N * K, 3, 0.1);
    fill_normal(xf, M * K, 4, 1.0);
    born_tensor *w32 = born_from_data(BORN_F32, BORN_DIMS(N, K), wf, sizeof(float) * N * K);
    born_tensor *x = born_from_data(BORN_F32, BORN_DIMS(M, K), xf, sizeof(float) * M * K);
    born_tensor *x1 = born_narrow(x, 0, 5, 1); /* M = 1 */
    for (int i = 0; i < NQ; i++) {
        born_tensor *wq = born_to_dtype(w32, QTYPES[i]);
        float outs[2][M * N], gemv[2][N];
        for (int th = 0; th < 2; th++) {
            CHECK_OK(born_set_num_threads(th + 1));
            born_tensor *o = born_linear(x, wq, NULL), *v = born_linear(x1, wq, NULL);
            CHECK_OK(born_copy_to_buffer(o, outs[th], sizeof outs[th]));
            CHECK_OK(born_copy_to_buffer(v, gemv[th], sizeof gemv[th]));
        }
        CHECK_MSG(memcmp(outs[0], outs[1], sizeof outs[0]) == 0 && memcmp(gemv[0], gemv[1], sizeof gemv[0]) == 0,
                  "%s: 1 and 2 threads differ", born_dtype_name(QTYPES[i]));
        /* the GEMV row equals the same row of the matrix product */
        CHECK_MSG(memcmp(gemv[0], outs[0] + 5 * N, sizeof gemv[0]) == 0, "%s: M = 1 differs from row 5",
                  born_dtype_name(QTYPES[i]));
        /* born_matmul(x, w^T) is born_linear(x, w); a 3-D x folds its leading dims */
        born_tensor *mm = born_matmul(born_view(x, BORN_DIMS(3, 11, K)), born_transpose(wq, 0, 1));
        CHECK_OK_TENSOR(mm);
        CHECK_SHAPE(mm, 3, 11, N);
        float got[M * N];
        CHECK_OK(born_copy_to_buffer(mm, got, sizeof got));
        CHECK_MSG(memcmp(got, outs[1], sizeof got) == 0, "%s: matmul differs from linear",
                  born_dtype_name(QTYPES[i]));
        /* f16 and non-contiguous inputs are converted to f32 first */
        born_tensor *xt = born_transpose(born_contiguous(born_transpose(x, 0, 1)), 0, 1);
        born_tensor *o2 = born_linear(xt, wq, NULL);
        CHECK_OK(born_copy_to_buffer(o2, got, sizeof got));
        CHECK_MSG(memcmp(got, outs[1], sizeof got) == 0, "%s: strided input differs",
                  born_dtype_name(QTYPES[i]));
        born_tensor *o3 = born_linear(born_to_dtype(x, BORN_F16), wq, NULL);
        CHECK_OK_TENSOR(o3);
        CHECK(o3 && born_tensor_dtype(o3) == BORN_F32);
        /* a row slice of the weight is used in place */
        born_tensor *ws = born_narrow(wq, 0, 10, 20);
        born_tensor *o4 = born_linear(x, ws, NULL);
        float part[M * 20];
        CHECK_OK(born_copy_to_buffer(o4, part, sizeof part));
        bool same = true;
        for (int m = 0; m < M; m++) same = same && memcmp(part + m * 20, outs[1] + m * N + 10, 20 * 4) == 0;
        CHECK_MSG(same, "%s: a narrowed weight differs", born_dtype_name(QTYPES[i]));
    }
    CHECK_OK(born_set_num_threads(saved));
    free(wf), free(xf);
}

TEST(quant_linear_gradient_flows_to_input_and_bias) {
    enum { M = 4, N = 40, K = 256 };
    float *wf = malloc(sizeof(float) * N * K);
    fill_normal(wf, N * K, 21, 0.1);
    born_tensor *w32 = born_from_data(BORN_F32, BORN_DIMS(N, K), wf, sizeof(float) * N * K);
    born_tensor *wq = born_to_dtype(w32, BORN_Q4_K);
    born_tensor *wd = born_to_dtype(wq, BORN_F32);
    CHECK(born_requires_grad(wq, true) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "floating");
    born_tensor *x = born_requires_grad(born_randn(NULL, BORN_F32, BORN_DIMS(2, M / 2, K)), true);
    born_tensor *b = born_requires_grad(born_randn(NULL, BORN_F32, BORN_DIMS(N)), true);
    born_tensor *g = born_randn(NULL, BORN_F32, BORN_DIMS(2, M / 2, N));
    born_tensor *out = born_linear(x, wq, b);
    CHECK_OK_TENSOR(out);
    CHECK(born_grad_fn_name(out) && strcmp(born_grad_fn_name(out), "LinearQuantBackward") == 0);
    CHECK_OK(born_backward(born_sum(born_mul(out, g), 0, NULL, false)));
    born_tensor *gx = born_grad(x), *gb = born_grad(b);
    CHECK_OK_TENSOR(gx);
    CHECK_OK_TENSOR(gb);
    /* grad_x = g @ dequant(w), grad_b = sum of g over the leading dims */
    born_tensor *want_x = born_matmul(g, wd);
    born_tensor *want_b = born_sum(g, 2, (int64_t[]){0, 1}, false);
    double wx[M * K], wb[N];
    CHECK(test_read(want_x, wx, M * K) && test_read(want_b, wb, N));
    CHECK_TENSOR_NEAR(gx, wx, M * K, 1e-5, 1e-5);
    CHECK_TENSOR_NEAR(gb, wb, N, 1e-5, 1e-5);
    free(wf);
}

TEST(quant_embedding_gathers_rows) {
    enum { V = 50, D = 256 };
    float *wf = malloc(sizeof(float) * V * D);
    fill_normal(wf, V * D, 5, 1.0);
    born_tensor *w32 = born_from_data(BORN_F32, BORN_DIMS(V, D), wf, sizeof(float) * V * D);
    int64_t idx[6] = {3, 0, 49, 3, 17, 48};
    born_tensor *ix = born_from_data(BORN_I64, BORN_DIMS(2, 3), idx, sizeof idx);
    for (int i = 0; i < NQ; i++) {
        born_tensor *wq = born_to_dtype(w32, QTYPES[i]);
        born_tensor *e = born_embedding(wq, ix);
        CHECK_OK_TENSOR(e);
        if (!e) continue;
        CHECK_SHAPE(e, 2, 3, D);
        born_tensor *want = born_embedding(born_to_dtype(wq, BORN_F32), ix);
        float a[6 * D], b[6 * D];
        CHECK_OK(born_copy_to_buffer(e, a, sizeof a));
        CHECK_OK(born_copy_to_buffer(want, b, sizeof b));
        CHECK_MSG(memcmp(a, b, sizeof a) == 0, "%s: embedding rows differ", born_dtype_name(QTYPES[i]));
        /* a row view of the table (every other row) works too, with i32 indices */
        born_tensor *half = born_slice(wq, 0, 1, V, 2);
        born_tensor *e2 = born_embedding(half, born_to_dtype(born_from_data(BORN_I64, BORN_DIMS(1), (int64_t[]){1}, 8), BORN_I32));
        CHECK_OK_TENSOR(e2);
        if (e2) {
            float r[D];
            CHECK_OK(born_copy_to_buffer(e2, r, sizeof r));
            born_tensor *row3 = born_to_dtype(born_narrow(wq, 0, 3, 1), BORN_F32);
            float w3[D];
            CHECK_OK(born_copy_to_buffer(row3, w3, sizeof w3));
            CHECK_MSG(memcmp(r, w3, sizeof r) == 0, "%s: embedding of a sliced table", born_dtype_name(QTYPES[i]));
        }
    }
    born_tensor *wq = born_to_dtype(w32, BORN_Q8_0);
    CHECK(born_embedding(wq, born_from_data(BORN_I64, BORN_DIMS(1), (int64_t[]){50}, 8)) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_embedding");
    free(wf);
}

TEST(quant_conversions_strided_and_other_dtypes) {
    enum { R = 6, K = 256 };
    float *xf = malloc(sizeof(float) * R * K);
    fill_normal(xf, R * K, 8, 2.0);
    born_tensor *x = born_from_data(BORN_F32, BORN_DIMS(R, K), xf, sizeof(float) * R * K);
    for (int i = 0; i < NQ; i++) {
        born_dtype t = QTYPES[i];
        born_tensor *q = born_to_dtype(x, t);
        unsigned char want[6 * 292];
        size_t row = born_dtype_nbytes(t, K);
        CHECK_OK(born_copy_to_buffer(q, want, row * R));
        /* quantizing a strided view (every other row, a transposed layout) gives the rows' bytes */
        born_tensor *strided = born_slice(born_transpose(born_contiguous(born_transpose(x, 0, 1)), 0, 1), 0, 1, R, 2);
        born_tensor *qs = born_to_dtype(strided, t);
        unsigned char got[3 * 292];
        CHECK_OK(born_copy_to_buffer(qs, got, row * 3));
        bool same = true;
        for (int r = 0; r < 3; r++) same = same && memcmp(got + r * row, want + (2 * r + 1) * row, row) == 0;
        CHECK_MSG(same, "%s: quantizing a strided view", born_dtype_name(t));
        /* from f64 and f16, to f64, f16, bf16 and i32; a strided quantized source */
        born_tensor *from64 = born_to_dtype(born_to_dtype(x, BORN_F64), t);
        unsigned char got64[6 * 292];
        CHECK_OK(born_copy_to_buffer(from64, got64, row * R));
        CHECK_MSG(memcmp(got64, want, row * R) == 0, "%s: quantizing from f64", born_dtype_name(t));
        born_tensor *d32 = born_to_dtype(q, BORN_F32);
        born_tensor *d64 = born_to_dtype(q, BORN_F64);
        born_tensor *d16 = born_to_dtype(born_select(born_view(q, BORN_DIMS(3, 2, K)), 1, 1), BORN_F16);
        born_tensor *di = born_to_dtype(q, BORN_I32);
        CHECK_OK_TENSOR(d64);
        CHECK_OK_TENSOR(d16);
        CHECK_OK_TENSOR(di);
        if (!d32 || !d64 || !d16 || !di) continue;
        const float *f = born_data_f32(d32);
        const double *g = born_data_f64(d64);
        bool ok = true;
        for (int j = 0; j < R * K; j++) ok = ok && g[j] == (double)f[j];
        int64_t idx[2] = {1, 7};
        double v;
        CHECK_OK(born_get(d16, idx, &v));
        ok = ok && v == born_f16_to_f32(born_f32_to_f16(f[3 * K + 7]));
        CHECK_OK(born_get(di, (int64_t[]){2, 9}, &v));
        ok = ok && v == trunc(f[2 * K + 9]);
        CHECK_MSG(ok, "%s: dequantizing to f64 / f16 / i32", born_dtype_name(t));
        /* a quantized tensor converts to another quantized dtype through f32 */
        born_tensor *other = born_to_dtype(q, t == BORN_Q8_0 ? BORN_Q4_0 : BORN_Q8_0);
        CHECK_OK_TENSOR(other);
    }
    free(xf);
}

TEST(quant_error_paths) {
    born_tensor *x = born_ones(BORN_F32, BORN_DIMS(3, 33));
    CHECK(born_to_dtype(x, BORN_Q4_0) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "multiple of its block size 32");
    CHECK(born_to_dtype(born_ones(BORN_F32, BORN_DIMS(2, 64)), BORN_Q4_K) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "multiple of its block size 256");
    CHECK(born_to_dtype(born_scalar(BORN_F32, 1.0), BORN_Q8_0) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "born_to_dtype");
    born_tensor *w = born_to_dtype(born_ones(BORN_F32, BORN_DIMS(4, 64)), BORN_Q8_0);
    born_tensor *in = born_ones(BORN_F32, BORN_DIMS(2, 64));
    born_tensor *qb = born_to_dtype(born_ones(BORN_F32, BORN_DIMS(1, 32)), BORN_Q8_0);
    CHECK(born_linear(in, w, born_reshape(qb, BORN_DIMS(32))) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "quantized weight");
    CHECK(born_linear(born_ones(BORN_F32, BORN_DIMS(2, 32)), w, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "[2, 32]");
    CHECK(born_linear(in, w, born_ones(BORN_F32, BORN_DIMS(5))) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "bias");
    CHECK(born_linear(w, w, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "quantized weight");
    CHECK(born_linear(born_ones(BORN_BOOL, BORN_DIMS(2, 64)), w, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "bool");
    /* matmul takes the transposed weight only, on the right */
    CHECK(born_matmul(in, w) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "born_transpose(w, 0, 1)");
    CHECK(born_matmul(born_transpose(w, 0, 1), in) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "right operand");
    CHECK(born_mm(in, born_transpose(w, 0, 1)) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "quantized dtype");
    /* a transposed quantized view goes nowhere else */
    born_tensor *wt = born_transpose(w, 0, 1);
    CHECK(born_contiguous(wt) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "transpose it back");
    CHECK(born_to_dtype(wt, BORN_F32) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "transposed view");
    CHECK(born_narrow(wt, 1, 0, 2) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "transposed view");
    CHECK(born_linear(in, wt, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "whole rows");
    CHECK(born_embedding(wt, born_zeros(BORN_I64, BORN_DIMS(1))) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "whole rows");
    /* transposing back gives the weight again */
    born_tensor *back = born_contiguous(born_transpose(wt, 0, 1));
    CHECK_OK_TENSOR(back);
}
