/* One decoded token as one parallel region (src/llm/session/decode.c) gives the logits of the
 * step-by-step forward (the batch path with n = 1, taken here by setting a trace hook) bit for
 * bit, at 1, 2 and 3 threads, for f16 and quantized weights, biases (qwen2), tied heads and both
 * cache types. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/tensor_file_test.h"
#include "core/cpu_features.h"
#include "llm/model/model_internal.h"
#include "llm/session/kernels_simd.h"
#include "llm/tiny_llama.h"

static void quiet_hook(const char *name, int32_t layer, const float *x, int64_t rows, int64_t cols) {
    (void)name;
    (void)layer;
    (void)x;
    (void)rows;
    (void)cols;
}

enum { N_TOK = 40 };

/* logits of N_TOK tokens decoded one at a time into out[N_TOK * V] */
static bool decode_all(born_model *m, born_dtype kv, float *out) {
    born_session_params sp = born_session_default_params();
    sp.kv_type = kv;
    born_session *s = born_session_new(m, &sp);
    if (!s) return false;
    const int32_t V = born_model_n_vocab(m);
    bool ok = true;
    for (int32_t t = 0; t < N_TOK && ok; t++) {
        int32_t tok = (t * 37 + 5) % V;
        ok = born_session_eval(s, &tok, 1, out + (size_t)t * V, false) == BORN_OK;
    }
    born_session_free(s);
    return ok;
}

static void check_team(const tiny_llama_opts *o, born_dtype kv) {
    const char *path = tft_path("decode.gguf");
    if (!tiny_llama_write(path, o)) {
        test_fail(__FILE__, __LINE__, "tiny_llama_write: %s", born_last_error());
        born_clear_error();
        return;
    }
    born_model *m = born_model_load(path, NULL);
    CHECK_MSG(m != NULL, "%s", born_last_error());
    if (!m) return;
    const int32_t V = born_model_n_vocab(m);
    born_session *probe = born_session_new(m, NULL);
    CHECK(probe && llm_decode_usable(probe)); /* the test is about that path */
    born_session_free(probe);
    size_t count = (size_t)N_TOK * V;
    float *ref = malloc(count * sizeof *ref), *got = malloc(count * sizeof *got);
    int before = born_get_num_threads();
    llm_trace_hook = quiet_hook; /* the step-by-step forward */
    CHECK(decode_all(m, kv, ref));
    llm_trace_hook = NULL;
    for (int threads = 1; threads <= 3; threads++) {
        CHECK_OK(born_set_num_threads(threads));
        memset(got, 0, count * sizeof *got);
        CHECK(decode_all(m, kv, got));
        size_t diff = 0;
        for (size_t i = 0; i < count; i++) diff += memcmp(&ref[i], &got[i], sizeof(float)) != 0;
        CHECK_MSG(diff == 0, "%s %s kv %s, %d threads: %zu of %zu logits differ", o->arch,
                  born_dtype_name(o->wtype), born_dtype_name(kv), threads, diff, count);
    }
    born_set_num_threads(before);
    free(ref);
    free(got);
    born_model_free(m);
    unlink(path);
}

TEST(decode_team_equals_step_by_step_forward) {
    tiny_llama_opts o = tiny_llama_default();
    o.wtype = BORN_F16;
    check_team(&o, BORN_F16);
    o.wtype = BORN_Q4_1;
    check_team(&o, BORN_F16);
    o.wtype = BORN_Q8_0;
    o.tied = true;
    check_team(&o, BORN_F32);
    o.wtype = BORN_Q5_0;
    o.arch = "qwen2";
    check_team(&o, BORN_F16);
    o.wtype = BORN_Q4_0;
    o.arch = "llama";
    o.rope_scaling = "yarn";
    check_team(&o, BORN_F16);
    /* heads of 32 and 64: Wo's input quantized head by head inside the attention step */
    o.rope_scaling = NULL;
    o.head_dim = 32;
    o.wtype = BORN_Q4_1;
    check_team(&o, BORN_F16);
    o.head_dim = 64;
    o.wtype = BORN_Q8_0;
    check_team(&o, BORN_F16);
    o.wtype = BORN_F16;
    check_team(&o, BORN_F32);
}

#if defined(__x86_64__) || defined(__aarch64__)
/* nx floats in [-2, 2) and nw f16 values in [-4, 4) from a 64-bit LCG seeded with seed. */
static void random_dot_operands(uint64_t seed, float *x, int nx, uint16_t *w, int nw) {
    uint64_t r = seed;
    for (int i = 0; i < nx; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((int64_t)(r >> 40) - (1 << 23)) / (float)(1 << 22);
    }
    for (int i = 0; i < nw; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        w[i] = born_f32_to_f16((float)((int64_t)(r >> 40) - (1 << 23)) / (float)(1 << 21));
    }
}
#endif

/* The decode rows' f16 dot (unrolled, prefetching) gives the one-row dot's bits. */
TEST(decode_f16_rows_equal_single_dots) {
#if defined(__x86_64__)
    if (cpu_get_level() < CPU_LEVEL_AVX2) return;
    enum { ROWS = 5, MAXK = 600 };
    float x[MAXK], out[ROWS];
    uint16_t w[ROWS * MAXK];
    random_dot_operands(12345, x, MAXK, w, ROWS * MAXK);
    const int64_t ks[] = {576, 600, 100, 37, 8, 3, 32, 48};
    for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
        int64_t k = ks[t];
        llm_dot_rows_f16_avx2(x, w, MAXK, ROWS, k, out);
        for (int j = 0; j < ROWS; j++) {
            float ref = llm_dot_f16_avx2(x, w + (size_t)j * MAXK, k);
            CHECK_MSG(memcmp(&ref, &out[j], sizeof ref) == 0, "k %lld row %d: %.9g vs %.9g",
                      (long long)k, j, (double)out[j], (double)ref);
        }
    }
#endif
}

/* The AVX-512 f16 rows, one token and several at once (the batched decode), give the AVX2 one-row
 * dot's bits: k with runs of 16, a last run of 8 and scalar tails; 1 to 11 tokens. */
TEST(decode_f16_rows_avx512_equal_avx2_dots) {
#if defined(__x86_64__)
    if (cpu_get_level() < CPU_LEVEL_AVX512) return;
    enum { ROWS = 5, MAXK = 600, TOK = 11 };
    static float x[TOK * MAXK], out[TOK * ROWS];
    static uint16_t w[ROWS * MAXK];
    random_dot_operands(777, x, TOK * MAXK, w, ROWS * MAXK);
    const int64_t ks[] = {576, 600, 100, 37, 8, 3, 32, 48, 24, 16, 599};
    for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
        int64_t k = ks[t];
        llm_dot_rows_f16_avx512(x, w, MAXK, ROWS, k, out);
        for (int j = 0; j < ROWS; j++) {
            float ref = llm_dot_f16_avx2(x, w + (size_t)j * MAXK, k);
            CHECK_MSG(memcmp(&ref, &out[j], sizeof ref) == 0, "one token, k %lld row %d: %.9g vs %.9g",
                      (long long)k, j, (double)out[j], (double)ref);
        }
        for (int nt = 1; nt <= TOK; nt++) {
            memset(out, 0, sizeof out);
            llm_dot_rows_f16_tokens_avx512(x, MAXK, nt, w, MAXK, ROWS, k, out, ROWS);
            for (int i = 0; i < nt; i++)
                for (int j = 0; j < ROWS; j++) {
                    float ref = llm_dot_f16_avx2(x + (size_t)i * MAXK, w + (size_t)j * MAXK, k);
                    CHECK_MSG(memcmp(&ref, &out[i * ROWS + j], sizeof ref) == 0,
                              "%d tokens, k %lld, token %d row %d: %.9g vs %.9g", nt, (long long)k, i, j,
                              (double)out[i * ROWS + j], (double)ref);
                }
        }
    }
#endif
}

/* The AVX2 weight dots' order written out in scalar C (dot_half_finish in kernels_avx2.c): two
 * 8-lane accumulators take alternate runs of 8 by fmaf, a last run of 8 the first, lanes (i, i + 4)
 * added after the two accumulators, then (0 + 2) + (1 + 3), then the tail product by product. */
static float avx2_order_dot(const float *x, const float *w, int64_t n) {
    float a[2][8] = {{0}};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int h = 0; h < 2; h++)
            for (int l = 0; l < 8; l++) a[h][l] = fmaf(x[i + 8 * h + l], w[i + 8 * h + l], a[h][l]);
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) a[0][l] = fmaf(x[i + l], w[i + l], a[0][l]);
    float v[8], q[4];
    for (int l = 0; l < 8; l++) v[l] = a[0][l] + a[1][l];
    for (int l = 0; l < 4; l++) q[l] = v[l] + v[l + 4];
    float s = (q[0] + q[2]) + (q[1] + q[3]);
    for (; i < n; i++) {
        float p = x[i] * w[i];
        s += p;
    }
    return s;
}

/* The SIMD weight dots of this machine (AVX2 on x86, NEON on arm64) for f16, bf16 and f32 weights,
 * one row and rows, give the AVX2 order's bits (so arm64 gives x86's), within 2 k 2^-24 of the
 * exact sum's terms: k with runs of 16, a run of 8 and tails. */
TEST(decode_weight_dots_give_the_avx2_order_bits) {
#if defined(__x86_64__) || defined(__aarch64__)
#if defined(__x86_64__)
    if (cpu_get_level() < CPU_LEVEL_AVX2) return;
#else
    if (cpu_get_level() != CPU_LEVEL_NEON) return;
#endif
    enum { ROWS = 3, MAXK = 600 };
    static float x[MAXK], wf[ROWS * MAXK], wv[ROWS * MAXK], out[ROWS];
    static uint16_t w[ROWS * MAXK], wb[ROWS * MAXK];
    random_dot_operands(99, x, MAXK, w, ROWS * MAXK);
    for (int i = 0; i < ROWS * MAXK; i++) {
        wf[i] = born_f16_to_f32(w[i]) * 0.71f;
        wb[i] = born_f32_to_bf16(wf[i]);
    }
    const int64_t ks[] = {600, 576, 100, 37, 8, 3, 32, 48, 24, 16, 599, 1, 0};
    for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
        int64_t k = ks[t];
        for (int kind = 0; kind < 3; kind++) { /* f16, bf16, f32 */
            for (int j = 0; j < ROWS; j++)
                for (int64_t e = 0; e < k; e++) {
                    size_t at = (size_t)j * MAXK + (size_t)e;
                    wv[at] = kind == 0 ? born_f16_to_f32(w[at]) : kind == 1 ? born_bf16_to_f32(wb[at]) : wf[at];
                }
#if defined(__x86_64__)
            if (kind == 0) llm_dot_rows_f16_avx2(x, w, MAXK, ROWS, k, out);
            if (kind == 1) llm_dot_rows_bf16_avx2(x, wb, MAXK, ROWS, k, out);
#else
            if (kind == 0) llm_dot_rows_f16_neon(x, w, MAXK, ROWS, k, out);
            if (kind == 1) llm_dot_rows_bf16_neon(x, wb, MAXK, ROWS, k, out);
#endif
            for (int j = 0; j < ROWS; j++) {
                const size_t r = (size_t)j * MAXK;
#if defined(__x86_64__)
                float one = kind == 0 ? llm_dot_f16_avx2(x, w + r, k)
                          : kind == 1 ? llm_dot_bf16_avx2(x, wb + r, k) : llm_dot_f32_avx2(x, wf + r, k);
#else
                float one = kind == 0 ? llm_dot_f16_neon(x, w + r, k)
                          : kind == 1 ? llm_dot_bf16_neon(x, wb + r, k) : llm_dot_f32_neon(x, wf + r, k);
#endif
                float want = avx2_order_dot(x, wv + r, k);
                double exact = 0, mag = 0; /* and within 2 k 2^-24 of the exact sum's terms */
                for (int64_t e = 0; e < k; e++) {
                    double p = (double)x[e] * wv[r + (size_t)e];
                    exact += p;
                    mag += fabs(p);
                }
                CHECK_MSG(fabs((double)one - exact) <= 2.0 * (double)k * 5.960464477539063e-08 * mag,
                          "kind %d k %lld row %d: %.9g, exact %.9g", kind, (long long)k, j,
                          (double)one, exact);
                CHECK_MSG(memcmp(&one, &want, 4) == 0, "kind %d k %lld row %d: %.9g, the AVX2 order %.9g",
                          kind, (long long)k, j, (double)one, (double)want);
                if (kind < 2)
                    CHECK_MSG(memcmp(&out[j], &want, 4) == 0, "rows, kind %d k %lld row %d: %.9g vs %.9g",
                              kind, (long long)k, j, (double)out[j], (double)want);
            }
        }
    }
#endif
}

/* A model with bf16 matrices gives, on the SIMD path (a prompt of 6 tokens at once through the f32
 * GEMM on bf16 panels, then 5 tokens through the bf16 dots), the logits of the portable path fed
 * the same tokens one at a time (its plain dot loop), within a thousandth of their range. */
TEST(decode_bf16_weights_match_the_portable_path) {
    if (cpu_get_level() == CPU_LEVEL_SCALAR) return;
    tiny_llama_opts o = tiny_llama_default();
    o.wtype = BORN_BF16;
    const char *path = tft_path("decode_bf16.gguf");
    if (!tiny_llama_write(path, &o)) {
        test_fail(__FILE__, __LINE__, "tiny_llama_write: %s", born_last_error());
        born_clear_error();
        return;
    }
    born_model *m = born_model_load(path, NULL);
    CHECK_MSG(m != NULL, "%s", born_last_error());
    if (!m) return;
    const int32_t V = born_model_n_vocab(m);
    enum { STEPS = 6 };
    float *logits[2];
    cpu_level saved = cpu_get_level();
    for (int pass = 0; pass < 2; pass++) {
        cpu_set_level(pass ? CPU_LEVEL_SCALAR : saved);
        logits[pass] = calloc((size_t)STEPS * V, sizeof(float));
        born_session *s = born_session_new(m, NULL);
        CHECK(s && logits[pass]);
        if (!s || !logits[pass]) break;
        int32_t prompt[6];
        for (int i = 0; i < 6; i++) prompt[i] = (i * 37 + 5) % V;
        if (pass == 0) /* at once: the f32 GEMM on the bf16 panels */
            CHECK_OK(born_session_eval(s, prompt, 6, logits[pass], false));
        else /* token by token: the portable dots */
            for (int i = 0; i < 6; i++) CHECK_OK(born_session_eval(s, &prompt[i], 1, logits[pass], false));
        for (int t = 1; t < STEPS; t++) {
            int32_t tok = (t * 53 + 11) % V;
            CHECK_OK(born_session_eval(s, &tok, 1, logits[pass] + (size_t)t * V, false));
        }
        born_session_free(s);
    }
    cpu_set_level(saved);
    if (logits[0] && logits[1]) {
        double worst = 0, range = 0;
        for (size_t i = 0; i < (size_t)STEPS * V; i++) {
            double d = (double)logits[0][i] - logits[1][i], a = logits[1][i];
            worst = d < 0 ? (-d > worst ? -d : worst) : (d > worst ? d : worst);
            range = a < 0 ? (-a > range ? -a : range) : (a > range ? a : range);
        }
        CHECK_MSG(range > 0 && worst <= 1e-3 * range, "bf16 logits: SIMD and portable differ by %g of %g",
                  worst, range);
    }
    free(logits[0]);
    free(logits[1]);
    born_model_free(m);
    unlink(path);
}

/* A model read into memory (use_mmap false, the default: 2 MiB pages, see born_file_params)
 * decodes the mapped model's logits bit for bit. */
TEST(decode_model_read_into_memory_equals_mapped) {
    tiny_llama_opts o = tiny_llama_default();
    o.wtype = BORN_Q8_0;
    const char *path = tft_path("decode_read.gguf");
    if (!tiny_llama_write(path, &o)) {
        test_fail(__FILE__, __LINE__, "tiny_llama_write: %s", born_last_error());
        born_clear_error();
        return;
    }
    born_model_params mp = born_model_default_params();
    CHECK(!mp.use_mmap);
    born_model *read = born_model_load(path, &mp);
    mp.use_mmap = true;
    born_model *mapped = born_model_load(path, &mp);
    CHECK_MSG(mapped && read, "%s", born_last_error());
    if (mapped && read) {
        const size_t count = (size_t)N_TOK * (size_t)born_model_n_vocab(mapped);
        float *a = calloc(count, sizeof *a), *b = calloc(count, sizeof *b);
        CHECK(a && b && decode_all(mapped, BORN_F16, a) && decode_all(read, BORN_F16, b));
        CHECK(a && b && memcmp(a, b, count * sizeof *a) == 0);
        free(a);
        free(b);
    }
    born_model_free(mapped);
    born_model_free(read);
    unlink(path);
}
