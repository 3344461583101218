/* The LLM engine on CUDA (born_model_params.device, src/backend/cuda/llm_*.c): a session on the
 * GPU against CPU sessions over the same GGUF file and over its f32 copy, for a prompt (every
 * position's logits) and 32 decoded tokens fed back from the CPU's greedy choices: the normalized
 * logit error against the f32 copy under 1e-2 (4e-2 for bf16 weights: cuda_llm_bound), against the
 * file's own CPU products (activations
 * quantized as llama.cpp does) under 0.1, and the same greedy token at every step unless the
 * CPU's own top two are closer than the difference. Weight types: f32, f16, bf16, Q8_0, Q4_0, Q4_1,
 * Q5_0, Q5_1 and, on a model wide enough for 256-element blocks, Q4_K, Q5_K, Q6_K and a Q4_K_M-like
 * mix (v, up and down in Q6_K: the unfused q/k/v and gate/up paths); qwen2 (NEOX RoPE, q/k/v
 * biases), a tied head, an f32 cache, a context longer than one attention chunk (GQA groups of
 * two, three and four query heads), rollback; and
 * graph replay == eager launches, bit for bit. Without a GPU only the skip messages print, and
 * loading a model on CUDA must fail with the reason. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda_check.h"
#include "backend/cuda_llm_util.h"
#include "io/tensor_file_test.h"
#include "llm/model/model_internal.h"
#include "llm/tiny_llama.h"

enum { N_PROMPT = 8, N_GEN = 32 };

static int32_t argmax(const float *x, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Checks the GPU session on the model at path (see the top of the file) against a CPU session
 * on its f32 copy (what the GPU computes: dequantized weights times f32 activations; error under
 * tol) and a CPU session on the file itself (activations quantized as llama.cpp does: error
 * reported and under 0.1, greedy tokens the same unless the CPU's top two are within the two
 * sessions' largest logit difference). The tokens after the prompt are the CPU's greedy ones. */
static void check_model(const char *what, const char *path, born_dtype kv, int32_t n_prompt,
                        double tol) {
    const char *ref_path = tft_path("cuda_llm_f32.gguf");
    CHECK_MSG(cuda_llm_f32_copy(path, ref_path), "%s: f32 copy: %s", what, born_last_error());
    born_model *mc = born_model_load(path, NULL), *mr = born_model_load(ref_path, NULL);
    born_model *mg = cuda_llm_load_on(path, BORN_CUDA(0));
    CHECK_MSG(mc && mr && mg, "%s: %s", what, born_last_error());
    if (!mc || !mr || !mg) {
        born_clear_error();
        born_model_free(mc);
        born_model_free(mr);
        born_model_free(mg);
        return;
    }
    born_session_params sp = born_session_default_params();
    sp.kv_type = kv;
    born_session *sc = born_session_new(mc, &sp), *sr = born_session_new(mr, &sp);
    born_session *sg = born_session_new(mg, &sp);
    CHECK_MSG(sc && sr && sg, "%s: %s", what, born_last_error());
    const int32_t V = born_model_n_vocab(mc);
    const size_t rows = (size_t)n_prompt * V;
    float *lc = malloc(rows * sizeof *lc), *lr = malloc(rows * sizeof *lr),
          *lg = malloc(rows * sizeof *lg);
    int32_t *prompt = malloc((size_t)n_prompt * sizeof *prompt);
    for (int32_t i = 0; i < n_prompt; i++)
        prompt[i] = (i * 37 + 5) % V;
    double worst = 0, worst_q = 0;
    int mismatches = 0;
    if (sc && sr && sg && lc && lr && lg && prompt) {
        CHECK(born_session_eval(sc, prompt, n_prompt, lc, true) == BORN_OK);
        CHECK(born_session_eval(sr, prompt, n_prompt, lr, true) == BORN_OK);
        CHECK_MSG(born_session_eval(sg, prompt, n_prompt, lg, true) == BORN_OK, "%s: %s", what,
                  born_last_error());
        double maxd;
        for (int32_t r = 0; r < n_prompt; r++) {
            double e = cuda_llm_rel_err(lr + (size_t)r * V, lg + (size_t)r * V, V, &maxd);
            if (!(e <= worst)) worst = e;
            e = cuda_llm_rel_err(lc + (size_t)r * V, lg + (size_t)r * V, V, &maxd);
            if (!(e <= worst_q)) worst_q = e;
        }
        const size_t last = (size_t)(n_prompt - 1) * V;
        const float *c = lc + last, *r = lr + last, *g = lg + last;
        for (int step = 0; step <= N_GEN; step++) {
            double e = cuda_llm_rel_err(r, g, V, &maxd);
            if (!(e <= worst)) worst = e;
            e = cuda_llm_rel_err(c, g, V, &maxd);
            if (!(e <= worst_q)) worst_q = e;
            int32_t tc = argmax(c, V), tg = argmax(g, V);
            if (tc != tg) {
                mismatches++;
                CHECK_MSG(c[tc] - c[tg] <= 2 * maxd,
                          "%s: step %d: greedy token %d on the GPU, %d "
                          "on the CPU (CPU logits %g vs %g, largest difference %g)",
                          what, step, (int)tg, (int)tc, (double)c[tg], (double)c[tc], maxd);
            }
            if (step == N_GEN) break;
            CHECK(born_session_eval(sc, &tc, 1, lc, false) == BORN_OK);
            CHECK(born_session_eval(sr, &tc, 1, lr, false) == BORN_OK);
            CHECK_MSG(born_session_eval(sg, &tc, 1, lg, false) == BORN_OK, "%s: %s", what,
                      born_last_error());
            c = lc;
            r = lr;
            g = lg;
        }
        CHECK_EQ_INT(born_session_pos(sg), n_prompt + N_GEN);
    }
    printf("  %s: logits error %.2e against the f32 weights (bound %.0e), %.2e against the CPU's "
           "quantized products, %d near-tie token differences\n",
           what, worst, tol, worst_q, mismatches);
    CHECK_MSG(worst <= tol, "%s: normalized logit error %g over %g", what, worst, tol);
    CHECK_MSG(worst_q <= 0.1, "%s: normalized logit error %g against the CPU over 0.1", what,
              worst_q);
    free(lc);
    free(lr);
    free(lg);
    free(prompt);
    born_session_free(sc);
    born_session_free(sr);
    born_session_free(sg);
    born_model_free(mc);
    born_model_free(mr);
    born_model_free(mg);
}

static void check_opts(const char *what, const tiny_llama_opts *o, born_dtype kv, double tol) {
    const char *path = tft_path("cuda_llm.gguf");
    if (!tiny_llama_write(path, o)) {
        test_fail(__FILE__, __LINE__, "tiny_llama_write (%s): %s", what, born_last_error());
        born_clear_error();
        return;
    }
    check_model(what, path, kv, N_PROMPT, tol);
}

TEST(cuda_llm_no_gpu_error) {
    if (born_device_count(BORN_DEVICE_CUDA) > 0) return; /* the other tests cover the GPU */
    tiny_llama_opts o = tiny_llama_default();
    const char *path = tft_path("cuda_llm.gguf");
    CHECK(tiny_llama_write(path, &o));
    born_model *m = cuda_llm_load_on(path, BORN_CUDA(0));
    CHECK(m == NULL);
    CHECK_ERROR(born_last_status(), "CUDA");
    born_clear_error();
    born_model_free(m);
}

TEST(cuda_llm_float_weights) {
    if (!cuda_gpu_or_skip("cuda_llm_float_weights")) return;
    tiny_llama_opts o = tiny_llama_default();
    const born_dtype dts[] = {BORN_F32, BORN_F16, BORN_BF16};
    const char *names[] = {"f32", "f16", "bf16"};
    for (int i = 0; i < 3; i++) {
        o.wtype = dts[i];
        check_opts(names[i], &o, BORN_F16, cuda_llm_bound(dts[i]));
    }
    o.wtype = BORN_F16;
    o.head_dim = 64;
    check_opts("f16, head size 64, f32 cache", &o, BORN_F32, 1e-2);
}

TEST(cuda_llm_quantized_weights) {
    if (!cuda_gpu_or_skip("cuda_llm_quantized_weights")) return;
    tiny_llama_opts o = tiny_llama_default();
    const born_dtype dts[] = {BORN_Q8_0, BORN_Q4_0, BORN_Q4_1, BORN_Q5_0, BORN_Q5_1};
    for (int i = 0; i < 5; i++) {
        o.wtype = dts[i];
        check_opts(born_dtype_name(dts[i]), &o, BORN_F16, 1e-2);
    }
    o.wtype = BORN_Q8_0;
    o.tied = true;
    check_opts("q8_0, tied head", &o, BORN_F16, 1e-2);
}

TEST(cuda_llm_k_quants) {
    if (!cuda_gpu_or_skip("cuda_llm_k_quants")) return;
    tiny_llama_opts o = tiny_llama_default();
    o.n_embd = 256;
    o.n_ff = 512;
    o.head_dim = 64;
    const born_dtype dts[] = {BORN_Q4_K, BORN_Q5_K, BORN_Q6_K};
    for (int i = 0; i < 3; i++) {
        o.wtype = dts[i];
        check_opts(born_dtype_name(dts[i]), &o, BORN_F16, 1e-2);
    }
    o.wtype = BORN_Q4_K;
    o.mixed = true;
    o.wtype2 = BORN_Q6_K;
    check_opts("q4_K with q6_K v/up/down", &o, BORN_F16, 1e-2);
}

/* Models wide enough that the float products take piece_kernel (rows of whole 2 KB pieces: 1, 2
 * and 4 a row), with every epilogue: q/k/v with RoPE (llama pairs, qwen2's NEOX pairs and
 * biases), SwiGLU of fused gate/up, the residual adds, a plain store (gate and up of different
 * formats) with a SwiGLU-staged input, and the output head. */
TEST(cuda_llm_wide_float_products) {
    if (!cuda_gpu_or_skip("cuda_llm_wide_float_products")) return;
    tiny_llama_opts o = tiny_llama_default();
    o.n_embd = 512; /* f32: 2 KB rows */
    o.n_ff = 1024;
    o.head_dim = 64;
    check_opts("f32, 512 wide", &o, BORN_F16, 1e-2);
    o.n_embd = 1024; /* f16/bf16: 2 KB rows; down's 4 and 8 KB */
    o.n_ff = 2048;
    o.wtype = BORN_BF16;
    check_opts("bf16, 1024 wide", &o, BORN_F16, cuda_llm_bound(BORN_BF16));
    o.wtype = BORN_F16;
    o.n_ff = 4096;
    check_opts("f16, 1024 wide, ffn 4096", &o, BORN_F16, 1e-2);
    o.arch = "qwen2";
    check_opts("qwen2 f16, 1024 wide", &o, BORN_F16, 1e-2);
    o.arch = "llama";
    o.mixed = true; /* v, up and down in bf16: unfused q/k/v and gate/up */
    o.wtype2 = BORN_BF16;
    check_opts("f16 with bf16 v/up/down, 1024 wide", &o, BORN_F16, cuda_llm_bound(BORN_BF16));
}

TEST(cuda_llm_qwen2_and_long_context) {
    if (!cuda_gpu_or_skip("cuda_llm_qwen2_and_long_context")) return;
    tiny_llama_opts o = tiny_llama_default();
    o.arch = "qwen2"; /* NEOX RoPE, q/k/v biases */
    o.wtype = BORN_F16;
    check_opts("qwen2 f16", &o, BORN_F16, 1e-2);
    o.arch = "llama";
    o.rope_scaling = "yarn";
    check_opts("llama f16, yarn", &o, BORN_F16, 1e-2);
    /* 200 positions: attention in four chunks, combined (head sizes 16 and 64: both kernels;
     * GQA groups of two, four and three query heads: a cluster block takes two, four or one) */
    const struct {
        int32_t head_dim, n_head;
        const char *what;
    } longer[] = {
        {0, 0, "q8_0, 200-token prompt"},
        {64, 0, "q8_0, head size 64, 200-token prompt"},
        {64, 8, "q8_0, head size 64, 8 heads over 2, 200-token prompt"},
        {128, 8, "q8_0, head size 128, 8 heads over 2, 200-token prompt"},
        {64, 6, "q8_0, head size 64, 6 heads over 2, 200-token prompt"},
    };
    const char *path = tft_path("cuda_llm.gguf");
    for (size_t i = 0; i < sizeof longer / sizeof longer[0]; i++) {
        o = tiny_llama_default();
        o.wtype = BORN_Q8_0;
        o.head_dim = longer[i].head_dim;
        o.n_head = longer[i].n_head;
        CHECK(tiny_llama_write(path, &o));
        check_model(longer[i].what, path, BORN_F16, 200, 1e-2);
    }
}

/* Logits of a prompt, 24 decoded tokens, a rollback and 8 tokens again, on one GPU session. */
static bool run_steps(born_model *m, bool graph, float *out, int32_t V) {
    born_session *s = born_session_new(m, NULL);
    if (!s) return false;
    llm_session_set_graph(s, graph);
    int32_t prompt[5] = {1, 40, 41, 42, 43};
    bool ok = born_session_eval(s, prompt, 5, out, true) == BORN_OK;
    float *o = out + 5 * (size_t)V;
    for (int t = 0; t < 24 && ok; t++, o += V) {
        int32_t tok = (t * 53 + 7) % V;
        ok = born_session_eval(s, &tok, 1, o, false) == BORN_OK;
    }
    ok = ok && born_session_rollback(s, 13) == BORN_OK;
    for (int t = 0; t < 8 && ok; t++, o += V) {
        int32_t tok = ((t + 8) * 53 + 7) % V; /* the tokens given at positions 13.. before */
        ok = born_session_eval(s, &tok, 1, o, false) == BORN_OK;
    }
    born_session_free(s);
    return ok;
}

TEST(cuda_llm_graph_equals_eager) {
    if (!cuda_gpu_or_skip("cuda_llm_graph_equals_eager")) return;
    tiny_llama_opts o = tiny_llama_default();
    o.wtype = BORN_Q4_1;
    const char *path = tft_path("cuda_llm.gguf");
    CHECK(tiny_llama_write(path, &o));
    born_model *m = cuda_llm_load_on(path, BORN_CUDA(0));
    CHECK_MSG(m != NULL, "%s", born_last_error());
    if (!m) return;
    const int32_t V = born_model_n_vocab(m);
    const size_t n = (size_t)(5 + 24 + 8) * V;
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    CHECK_MSG(run_steps(m, true, a, V), "%s", born_last_error());
    CHECK_MSG(run_steps(m, false, b, V), "%s", born_last_error());
    CHECK(memcmp(a, b, n * sizeof *a) == 0);
    /* after the rollback, positions 13..20 saw the same tokens as the first time */
    CHECK(memcmp(a + (size_t)(5 + 8) * V, a + (size_t)(5 + 24) * V, 8 * (size_t)V * sizeof *a) ==
          0);
    free(a);
    free(b);
    born_model_free(m);
}

/* born_session_decode_greedy against born_session_eval and an argmax in a loop on the same model:
 * the same tokens, the same position, and the same logits for the next token. */
static void check_greedy(born_model *m) {
    const int32_t V = born_model_n_vocab(m), N = 20;
    born_session *a = born_session_new(m, NULL), *b = born_session_new(m, NULL);
    CHECK_MSG(a && b, "%s", born_last_error());
    int32_t prompt[4] = {1, 50, 60, 70}, got[20], want[20];
    float *la = malloc((size_t)V * sizeof *la), *lb = malloc((size_t)V * sizeof *lb);
    if (a && b && la && lb) {
        CHECK_OK(born_session_eval(a, prompt, 3, NULL, false));
        CHECK_OK(born_session_eval(b, prompt, 3, NULL, false));
        CHECK_OK(born_session_decode_greedy(a, prompt[3], N, got));
        int32_t tok = prompt[3];
        for (int32_t i = 0; i < N; i++) {
            CHECK_OK(born_session_eval(b, &tok, 1, lb, false));
            int32_t best = 0;
            for (int32_t v = 1; v < V; v++)
                if (lb[v] > lb[best]) best = v;
            want[i] = tok = best;
        }
        CHECK(memcmp(got, want, sizeof got) == 0);
        CHECK_EQ_INT(born_session_pos(a), 3 + N);
        CHECK(memcmp(born_session_tokens(a), born_session_tokens(b),
                     (size_t)(3 + N) * sizeof(int32_t)) == 0);
        CHECK_OK(born_session_eval(a, &got[N - 1], 1, la, false));
        CHECK_OK(born_session_eval(b, &want[N - 1], 1, lb, false));
        CHECK(memcmp(la, lb, (size_t)V * sizeof *la) == 0);
        CHECK_ERROR(born_session_decode_greedy(a, V, 1, got), "vocabulary");
        CHECK_ERROR(born_session_decode_greedy(a, 1, born_session_n_ctx(a), got), "fit");
    }
    free(la);
    free(lb);
    born_session_free(a);
    born_session_free(b);
}

TEST(llm_decode_greedy_cpu) {
    tiny_llama_opts o = tiny_llama_default();
    const char *path = tft_path("cuda_llm.gguf");
    CHECK(tiny_llama_write(path, &o));
    born_model *m = born_model_load(path, NULL);
    CHECK_MSG(m != NULL, "%s", born_last_error());
    if (m) check_greedy(m);
    born_model_free(m);
}

TEST(cuda_llm_decode_greedy) {
    if (!cuda_gpu_or_skip("cuda_llm_decode_greedy")) return;
    tiny_llama_opts o = tiny_llama_default();
    o.wtype = BORN_Q8_0;
    const char *path = tft_path("cuda_llm.gguf");
    CHECK(tiny_llama_write(path, &o));
    born_model *m = cuda_llm_load_on(path, BORN_CUDA(0));
    CHECK_MSG(m != NULL, "%s", born_last_error());
    if (m) check_greedy(m);
    born_model_free(m);
}
