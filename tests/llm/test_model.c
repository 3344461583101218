/* The inference engine on tiny random LLaMA-family models: a plain double-precision forward
 * written here from the formulas (full causal attention, no cache) agrees with the engine;
 * token-by-token decoding with the KV cache gives the batched forward's logits; rollback and
 * re-evaluation repeat them exactly; bad files and inputs give clear errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/tensor_file_test.h"
#include "llm/tiny_llama.h"

#define CHECK_ERR_HAS(text)                                                                       \
    do {                                                                                          \
        const char *e_ = born_last_error();                                                       \
        CHECK_MSG(e_ && strstr(e_, text), "error \"%s\" lacks \"%s\"", e_ ? e_ : "(none)", text); \
        born_clear_error();                                                                       \
    } while (0)

static const char *write_tiny(const char *name, const tiny_llama_opts *o) {
    const char *path = tft_path(name);
    if (!tiny_llama_write(path, o)) {
        test_fail(__FILE__, __LINE__, "tiny_llama_write: %s", born_last_error());
        born_clear_error();
        return NULL;
    }
    return path;
}

static const int32_t prompt[] = {1, 262, 270, 286, 3 + 72, 285, 288, 261, 275, 262, 264, 290, 291, 5};
#define N_PROMPT (int32_t)(sizeof prompt / sizeof prompt[0])

/* ---- a reference forward, straight from the formulas ------------------------------------------ */

static float *weight_f32(born_file *f, const char *name, int64_t n) {
    born_tensor *t = born_file_get(f, name);
    if (!t) return NULL;
    born_tensor *c = born_to_dtype(t, BORN_F32);
    float *out = malloc((size_t)n * sizeof *out);
    born_copy_to_buffer(c, out, (size_t)n * sizeof *out);
    born_free(c);
    born_free(t);
    return out;
}

static void ref_rms(double *out, const double *x, const float *w, int d, double eps) {
    double ss = 0;
    for (int i = 0; i < d; i++) ss += x[i] * x[i];
    double sc = 1.0 / sqrt(ss / d + eps);
    for (int i = 0; i < d; i++) out[i] = x[i] * sc * w[i];
}

/* When set, ref_mv first rounds x as ggml's Q8_0 activations (blocks of 32: d = amax / 127 kept
 * as f16, q = round(x / d)), which is what a Q8_0 weight is multiplied with. */
static bool ref_q8_activations;

static void ref_mv(double *out, const float *w, const double *xin, int rows, int cols,
                   const float *bias) {
    double x[256];
    for (int c = 0; c < cols; c++) x[c] = xin[c];
    if (ref_q8_activations)
        for (int b = 0; b < cols; b += 32) {
            float amax = 0;
            for (int c = b; c < b + 32; c++) amax = fmaxf(amax, fabsf((float)x[c]));
            float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
            float dh = born_f16_to_f32(born_f32_to_f16(d));
            for (int c = b; c < b + 32; c++) x[c] = roundf((float)x[c] * id) * dh;
        }
    for (int r = 0; r < rows; r++) {
        double s = bias ? bias[r] : 0.0;
        for (int c = 0; c < cols; c++) s += (double)w[(size_t)r * cols + c] * x[c];
        out[r] = s;
    }
}

static void ref_rope(double *v, int pos, bool neox) { /* one head of 16, base 10000 */
    for (int i = 0; i < 8; i++) {
        double th = pos * pow(10000.0, -2.0 * i / 16.0);
        int a = neox ? i : 2 * i, b = neox ? i + 8 : 2 * i + 1;
        double x0 = v[a], x1 = v[b];
        v[a] = x0 * cos(th) - x1 * sin(th);
        v[b] = x0 * sin(th) + x1 * cos(th);
    }
}

/* logits [n, vocab] of the whole prompt, recomputed for each position from scratch. */
static double *ref_forward(const char *path, const int32_t *toks, int n, bool qwen2, bool tied) {
    born_file *f = born_file_open(path, NULL);
    if (!f) return NULL;
    const int V = tiny_llama_vocab(), E = 64, H = 4, HKV = 2, D = 16, F = 96;
    float *emb = weight_f32(f, "token_embd.weight", (int64_t)V * E);
    float *outw = tied ? emb : weight_f32(f, "output.weight", (int64_t)V * E);
    float *onorm = weight_f32(f, "output_norm.weight", E);
    double *x = calloc((size_t)n * E, sizeof *x), *h = malloc(E * sizeof *h);
    double *q = malloc((size_t)n * H * D * sizeof *q), *k = malloc((size_t)n * HKV * D * sizeof *k);
    double *v = malloc((size_t)n * HKV * D * sizeof *v), *att = malloc(H * D * sizeof *att);
    double *tmp = malloc(F * sizeof *tmp), *up = malloc(F * sizeof *up), *o = malloc(E * sizeof *o);
    double *logits = malloc((size_t)n * V * sizeof *logits), *sc = malloc((size_t)n * sizeof *sc);
    for (int t = 0; t < n; t++)
        for (int e = 0; e < E; e++) x[t * E + e] = emb[(size_t)toks[t] * E + e];
    for (int l = 0; l < 2; l++) {
        char nm[64];
#define GET(var, fmt, cnt)                                                                        \
    snprintf(nm, sizeof nm, "blk.%d." fmt, l);                                                    \
    float *var = weight_f32(f, nm, cnt);
        GET(an, "attn_norm.weight", E)
        GET(wq, "attn_q.weight", H * D * E)
        GET(wk, "attn_k.weight", HKV * D * E)
        GET(wv, "attn_v.weight", HKV * D * E)
        GET(wo, "attn_output.weight", E * H * D)
        GET(fn, "ffn_norm.weight", E)
        GET(wg, "ffn_gate.weight", F * E)
        GET(wu, "ffn_up.weight", F * E)
        GET(wd, "ffn_down.weight", E * F)
        float *bq = NULL, *bk = NULL, *bv = NULL;
        if (qwen2) {
            snprintf(nm, sizeof nm, "blk.%d.attn_q.bias", l);
            bq = weight_f32(f, nm, H * D);
            snprintf(nm, sizeof nm, "blk.%d.attn_k.bias", l);
            bk = weight_f32(f, nm, HKV * D);
            snprintf(nm, sizeof nm, "blk.%d.attn_v.bias", l);
            bv = weight_f32(f, nm, HKV * D);
        }
#undef GET
        for (int t = 0; t < n; t++) {
            ref_rms(h, x + t * E, an, E, 1e-5);
            ref_mv(q + t * H * D, wq, h, H * D, E, bq);
            ref_mv(k + t * HKV * D, wk, h, HKV * D, E, bk);
            ref_mv(v + t * HKV * D, wv, h, HKV * D, E, bv);
            for (int hh = 0; hh < H; hh++) ref_rope(q + t * H * D + hh * D, t, qwen2);
            for (int hh = 0; hh < HKV; hh++) ref_rope(k + t * HKV * D + hh * D, t, qwen2);
        }
        for (int t = 0; t < n; t++) {
            for (int hh = 0; hh < H; hh++) {
                int kv = hh / (H / HKV);
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j <= t; j++) {
                    double s = 0;
                    for (int d = 0; d < D; d++) s += q[t * H * D + hh * D + d] * k[j * HKV * D + kv * D + d];
                    sc[j] = s / sqrt((double)D);
                    if (sc[j] > mx) mx = sc[j];
                }
                for (int j = 0; j <= t; j++) sum += (sc[j] = exp(sc[j] - mx));
                for (int d = 0; d < D; d++) {
                    double a = 0;
                    for (int j = 0; j <= t; j++) a += sc[j] / sum * v[j * HKV * D + kv * D + d];
                    att[hh * D + d] = a;
                }
            }
            ref_mv(o, wo, att, E, H * D, NULL);
            for (int e = 0; e < E; e++) x[t * E + e] += o[e];
            ref_rms(h, x + t * E, fn, E, 1e-5);
            ref_mv(tmp, wg, h, F, E, NULL);
            ref_mv(up, wu, h, F, E, NULL);
            for (int i = 0; i < F; i++) tmp[i] = tmp[i] / (1 + exp(-tmp[i])) * up[i];
            ref_mv(o, wd, tmp, E, F, NULL);
            for (int e = 0; e < E; e++) x[t * E + e] += o[e];
        }
        free(an), free(wq), free(wk), free(wv), free(wo), free(fn), free(wg), free(wu), free(wd);
        free(bq), free(bk), free(bv);
    }
    for (int t = 0; t < n; t++) {
        ref_rms(h, x + t * E, onorm, E, 1e-5);
        ref_mv(logits + (size_t)t * V, outw, h, V, E, NULL);
    }
    if (!tied) free(outw);
    free(emb), free(onorm), free(x), free(h), free(q), free(k), free(v), free(att), free(tmp);
    free(up), free(o), free(sc);
    born_file_close(f);
    return logits;
}

static double max_abs_diff_f(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

/* ---- tests ------------------------------------------------------------------------------------ */

TEST(model_load_hparams) {
    tiny_llama_opts o = tiny_llama_default();
    const char *path = write_tiny("hp.gguf", &o);
    born_model *m = born_model_load(path, NULL);
    CHECK_MSG(m != NULL, "%s", born_last_error());
    if (!m) return;
    CHECK(strcmp(born_model_arch(m), "llama") == 0);
    CHECK_EQ_INT(born_model_n_vocab(m), tiny_llama_vocab());
    CHECK_EQ_INT(born_model_n_layer(m), 2);
    CHECK_EQ_INT(born_model_n_embd(m), 64);
    CHECK_EQ_INT(born_model_n_ctx_train(m), 256);
    const int64_t V = tiny_llama_vocab();
    uint64_t want = (uint64_t)(V * 64 * 2 + 64 + 2 * (64 + 64 * 64 + 2 * 32 * 64 + 64 * 64 + 64 + 3 * 96 * 64));
    CHECK_EQ_INT(born_model_n_params(m), want);
    CHECK(born_model_size_bytes(m) == want * 4);
    CHECK(born_model_chat_template(m) && strstr(born_model_chat_template(m), "im_start"));
    CHECK(born_model_tokenizer(m) != NULL);
    CHECK_EQ_INT(born_tokenizer_vocab_size(born_model_tokenizer(m)), V);
    born_model_free(m);
    unlink(path);
}

/* The engine's logits against the reference for the prompt, for one model variant. */
static void check_against_reference(const char *arch, born_dtype wt, bool tied, double tol) {
    tiny_llama_opts o = tiny_llama_default();
    o.arch = arch;
    o.wtype = wt;
    o.tied = tied;
    const char *path = write_tiny("ref.gguf", &o);
    if (!path) return;
    double *ref = ref_forward(path, prompt, N_PROMPT, strcmp(arch, "qwen2") == 0, tied);
    born_model *m = born_model_load(path, NULL);
    CHECK_MSG(m && ref, "%s", born_last_error());
    if (m && ref) {
        born_session_params sp = born_session_default_params();
        sp.kv_type = BORN_F32;
        born_session *s = born_session_new(m, &sp);
        const int32_t V = born_model_n_vocab(m);
        float *lg = malloc((size_t)N_PROMPT * V * sizeof *lg);
        CHECK_OK(born_session_eval(s, prompt, N_PROMPT, lg, true));
        double worst = 0, scale = 0;
        for (size_t i = 0; i < (size_t)N_PROMPT * V; i++) {
            worst = fmax(worst, fabs(lg[i] - ref[i]));
            scale = fmax(scale, fabs(ref[i]));
        }
        CHECK_MSG(worst <= tol * scale,
                  "%s %s%s: logits differ from the reference by %g (tol %g of the largest, %g)",
                  arch, born_dtype_name(wt), tied ? " tied" : "", worst, tol, scale);
        free(lg);
        born_session_free(s);
    }
    born_model_free(m);
    free(ref);
    unlink(path);
}

TEST(model_matches_reference_forward) {
    /* f32 weights: only float rounding separates the engine from the double reference (bounds
     * relative to the largest logit) */
    check_against_reference("llama", BORN_F32, false, 2e-5);
    check_against_reference("mistral", BORN_F32, true, 2e-5);
    check_against_reference("qwen2", BORN_F32, false, 2e-5);
    /* f16 weights: the reference reads the same f16 values back as f32 */
    check_against_reference("llama", BORN_F16, false, 2e-5);
    /* Q8_0: activations are quantized to 8 bits as in llama.cpp; the reference does the same */
    ref_q8_activations = true;
    check_against_reference("llama", BORN_Q8_0, false, 2e-4);
    ref_q8_activations = false;
}

/* Batched (one eval, n_batch splits) and token-by-token evaluation give the same logits (to
 * rounding with an f16 cache, see below). */
static void check_incremental(const tiny_llama_opts *o, born_dtype kv, int32_t n_batch) {
    const char *path = write_tiny("inc.gguf", o);
    born_model *m = born_model_load(path, NULL);
    CHECK_MSG(m != NULL, "%s", born_last_error());
    if (!m) return;
    const int32_t V = born_model_n_vocab(m);
    born_session_params sp = born_session_default_params();
    sp.kv_type = kv;
    sp.n_batch = n_batch;
    born_session *a = born_session_new(m, &sp);
    sp.n_batch = 512;
    born_session *b = born_session_new(m, &sp);
    float *la = malloc((size_t)N_PROMPT * V * sizeof *la), *lb = malloc((size_t)N_PROMPT * V * sizeof *lb);
    CHECK_OK(born_session_eval(a, prompt, N_PROMPT, la, true));
    CHECK_EQ_INT(born_session_pos(a), N_PROMPT);
    for (int32_t t = 0; t < N_PROMPT; t++)
        CHECK_OK(born_session_eval(b, prompt + t, 1, lb + (size_t)t * V, false));
    /* llama.cpp sums its attention products in different orders for one token and for batches
     * (and Born follows it), so the two agree to rounding only: the probabilities rounded to f16
     * (an f16 cache) can land on neighbouring halves */
    double d = max_abs_diff_f(la, lb, (size_t)N_PROMPT * V);
    /* (f16 / f32 weights: batches of 4 or more go through the f32 GEMM's k-blocked sums, one
     * token through dot products, so those agree to rounding too) */
    double tol = kv == BORN_F16 ? 5e-3 : 5e-5;
    CHECK_MSG(d <= tol, "%s %s kv %s batch %d: token by token differs by %g", o->arch,
              born_dtype_name(o->wtype), born_dtype_name(kv), (int)n_batch, d);
    /* only the last row asked for */
    float *last = malloc((size_t)V * sizeof *last);
    born_session_rollback(a, 0);
    CHECK_OK(born_session_eval(a, prompt, N_PROMPT, last, false));
    CHECK(max_abs_diff_f(last, la + (size_t)(N_PROMPT - 1) * V, (size_t)V) <= 1e-5);
    free(last);
    free(la);
    free(lb);
    born_session_free(a);
    born_session_free(b);
    born_model_free(m);
    unlink(path);
}

TEST(model_decode_matches_batched) {
    tiny_llama_opts o = tiny_llama_default();
    check_incremental(&o, BORN_F32, 512);
    check_incremental(&o, BORN_F16, 5);
    o.wtype = BORN_Q4_1;
    check_incremental(&o, BORN_F16, 512);
    o.wtype = BORN_Q8_0;
    o.tied = true;
    check_incremental(&o, BORN_F16, 3);
    o.arch = "qwen2";
    o.wtype = BORN_F16;
    check_incremental(&o, BORN_F32, 4);
    o.arch = "llama";
    o.rope_scaling = "yarn";
    check_incremental(&o, BORN_F16, 512);
    o.rope_scaling = "linear";
    check_incremental(&o, BORN_F16, 7);
}

TEST(model_rollback_repeats_logits) {
    tiny_llama_opts o = tiny_llama_default();
    o.wtype = BORN_Q8_0;
    const char *path = write_tiny("rb.gguf", &o);
    born_model *m = born_model_load(path, NULL);
    CHECK_MSG(m != NULL, "%s", born_last_error());
    if (!m) return;
    const int32_t V = born_model_n_vocab(m);
    born_session *s = born_session_new(m, NULL);
    float *l1 = malloc((size_t)N_PROMPT * V * sizeof *l1), *l2 = malloc((size_t)N_PROMPT * V * sizeof *l2);
    CHECK_OK(born_session_eval(s, prompt, N_PROMPT, l1, true));
    /* go back to 6, evaluate other tokens, go back again and repeat the original ones */
    CHECK_OK(born_session_rollback(s, 6));
    CHECK_EQ_INT(born_session_pos(s), 6);
    int32_t other[4] = {40, 41, 42, 43};
    CHECK_OK(born_session_eval(s, other, 4, NULL, false));
    CHECK_OK(born_session_rollback(s, 6));
    CHECK_OK(born_session_eval(s, prompt + 6, N_PROMPT - 6, l2, true));
    CHECK(memcmp(l1 + (size_t)6 * V, l2, (size_t)(N_PROMPT - 6) * V * sizeof *l1) == 0);
    CHECK(memcmp(born_session_tokens(s), prompt, sizeof prompt) == 0);
    /* rollback out of range */
    CHECK(born_session_rollback(s, N_PROMPT + 1) == BORN_ERR_ARGUMENT);
    CHECK_ERR_HAS("outside [0, 14]");
    CHECK(born_session_rollback(s, -1) == BORN_ERR_ARGUMENT);
    born_clear_error();
    CHECK_OK(born_session_rollback(s, 0));
    CHECK_OK(born_session_eval(s, prompt, N_PROMPT, l2, true));
    CHECK(memcmp(l1, l2, (size_t)N_PROMPT * V * sizeof *l1) == 0);
    free(l1);
    free(l2);
    born_session_free(s);
    born_model_free(m);
    unlink(path);
}

TEST(model_bad_input) {
    tiny_llama_opts o = tiny_llama_default();
    const char *path = write_tiny("bad.gguf", &o);
    born_model *m = born_model_load(path, NULL);
    CHECK(m != NULL);
    if (!m) return;
    born_session_params sp = born_session_default_params();
    sp.n_ctx = 16;
    born_session *s = born_session_new(m, &sp);
    int32_t bad[2] = {5, tiny_llama_vocab()};
    CHECK(born_session_eval(s, bad, 2, NULL, false) == BORN_ERR_ARGUMENT);
    CHECK_ERR_HAS("token 293 (at index 1) is outside the vocabulary [0, 293)");
    bad[1] = -3;
    CHECK(born_session_eval(s, bad, 2, NULL, false) == BORN_ERR_ARGUMENT);
    born_clear_error();
    CHECK_EQ_INT(born_session_pos(s), 0);
    int32_t many[17] = {0};
    CHECK(born_session_eval(s, many, 17, NULL, false) == BORN_ERR_ARGUMENT);
    CHECK_ERR_HAS("do not fit the context of 16 tokens");
    CHECK_OK(born_session_eval(s, many, 16, NULL, false));
    CHECK(born_session_eval(s, many, 1, NULL, false) == BORN_ERR_ARGUMENT);
    born_clear_error();
    CHECK(born_session_eval(s, many, 0, NULL, false) == BORN_ERR_ARGUMENT);
    born_clear_error();
    sp.kv_type = BORN_BF16;
    CHECK(born_session_new(m, &sp) == NULL);
    CHECK_ERR_HAS("kv_type bf16 is not supported");
    sp = born_session_default_params();
    sp.n_ctx = -1;
    CHECK(born_session_new(m, &sp) == NULL);
    born_clear_error();
    born_session_free(s);
    born_model_free(m);

    /* a truncated file */
    size_t len = 0;
    uint8_t *bytes = tft_read_all(path, &len);
    const char *cut = tft_path("cut.gguf");
    tft_write_all(cut, bytes, len - 100);
    CHECK(born_model_load(cut, NULL) == NULL);
    CHECK(born_last_status() == BORN_ERR_FORMAT);
    born_clear_error();
    free(bytes);
    unlink(cut);
    unlink(path);

    /* an unknown architecture, a missing tensor */
    o.arch = "mamba9";
    path = write_tiny("bad.gguf", &o);
    CHECK(born_model_load(path, NULL) == NULL);
    CHECK_ERR_HAS("architecture \"mamba9\" is not supported");
    o.arch = "llama";
    o.omit = "blk.1.ffn_up.weight";
    path = write_tiny("bad.gguf", &o);
    CHECK(born_model_load(path, NULL) == NULL);
    CHECK_ERR_HAS("tensor blk.1.ffn_up.weight is missing");
    o.omit = "output_norm.weight";
    path = write_tiny("bad.gguf", &o);
    CHECK(born_model_load(path, NULL) == NULL);
    CHECK_ERR_HAS("tensor output_norm.weight is missing");
    CHECK(born_model_load("/nonexistent/model.gguf", NULL) == NULL);
    CHECK(born_last_status() == BORN_ERR_IO);
    born_clear_error();
    CHECK(born_model_load(NULL, NULL) == NULL);
    born_clear_error();
    unlink(path);
}
