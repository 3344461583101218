/* The batched prompt of the LLM engine on CUDA (llm_device_ops.prefill,
 * src/backend/cuda/llm_prefill.c) against a CPU session on the model file's f32 copy: prompts of
 * 1, 2 (those two through llm_rows_gemv.cu's products for float weights), 7, 64, 200 and 600
 * tokens (more than one 512-token chunk), every row's logits and the last
 * row's, and a 600-token prompt given as two evaluations (the second at position 137), for f32,
 * f16 and bf16 weights, every group-affine format (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K
 * and a Q4_K_M-like mix), head sizes 16 to 256, an f32 cache, qwen2 (NEOX RoPE, q/k/v biases),
 * YaRN and a tied head. The bound is the token-by-token tests' (test_cuda_llm.c): a normalized
 * logit error under 1e-2 against the f32 weights, 4e-2 for bf16 weights, whose products take bf16
 * inputs (cuda_llm_bound says why; the errors are printed). Then decoding after a batched prompt against
 * decoding after the same prompt token by token (and the CPU), and the greedy graph continuing
 * from the batch's end. Device memory is poisoned under `make test-cuda`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda_check.h"
#include "backend/cuda_llm_util.h"
#include "io/tensor_file_test.h"
#include "llm/model/model_internal.h"
#include "llm/tiny_llama.h"

enum { N_MAX = 600, N_CTX = 700, SPLIT = 137 };

static const int32_t lengths[] = {1, 2, 7, 64, 200, 600};

static void make_prompt(int32_t *prompt, int32_t n, int32_t V) {
    for (int32_t i = 0; i < n; i++)
        prompt[i] = (i * 37 + 5) % V;
}

/* The worst normalized error of rows [r0, r1) of got (rows from got's row 0) against ref. */
static double worst_rows(const float *ref, const float *got, int32_t r0, int32_t r1, int32_t V) {
    double worst = 0, maxd;
    for (int32_t r = r0; r < r1; r++) {
        double e = cuda_llm_rel_err(ref + (size_t)r * V, got + (size_t)(r - r0) * V, V, &maxd);
        if (!(e <= worst)) worst = e;
    }
    return worst;
}

/* Writes the model of o, its f32 copy, and loads the copy on the CPU and the model on the GPU. */
static bool models(const char *what, const tiny_llama_opts *o, born_model **ref, born_model **gpu) {
    const char *path = tft_path("cuda_llm_prefill.gguf"), *ref_path = tft_path("cuda_llm_prefill_f32.gguf");
    *ref = *gpu = NULL;
    if (!tiny_llama_write(path, o) || !cuda_llm_f32_copy(path, ref_path)) {
        test_fail(__FILE__, __LINE__, "%s: writing the model: %s", what, born_last_error());
        born_clear_error();
        return false;
    }
    *ref = born_model_load(ref_path, NULL);
    *gpu = cuda_llm_load_on(path, BORN_CUDA(0));
    CHECK_MSG(*ref && *gpu, "%s: %s", what, born_last_error());
    if (*ref && *gpu) return true;
    born_clear_error();
    born_model_free(*ref);
    born_model_free(*gpu);
    return false;
}

static born_session *session_on(born_model *m, born_dtype kv) {
    born_session_params sp = born_session_default_params();
    sp.kv_type = kv;
    sp.n_ctx = N_CTX;
    return born_session_new(m, &sp);
}

/* Every length of `lengths` with all and with the last logits, and the split prompt. */
static void check_prefill(const char *what, const tiny_llama_opts *o, born_dtype kv) {
    const double tol = cuda_llm_bound(o->wtype);
    born_model *mr, *mg;
    if (!models(what, o, &mr, &mg)) return;
    const int32_t V = born_model_n_vocab(mr);
    born_session *sr = session_on(mr, kv), *sg = session_on(mg, kv);
    float *ref = malloc((size_t)N_MAX * V * sizeof *ref), *got = malloc((size_t)N_MAX * V * sizeof *got);
    int32_t *prompt = malloc(N_MAX * sizeof *prompt);
    CHECK_MSG(sr && sg && ref && got && prompt, "%s: %s", what, born_last_error());
    double worst_all = 0, worst_last = 0, worst_split = 0;
    if (sr && sg && ref && got && prompt) {
        make_prompt(prompt, N_MAX, V);
        llm_session_set_prefill_min(sg, 1); /* one token too goes through the batched path */
        CHECK_OK(born_session_eval(sr, prompt, N_MAX, ref, true));
        for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
            const int32_t n = lengths[i];
            CHECK_OK(born_session_rollback(sg, 0));
            CHECK_MSG(born_session_eval(sg, prompt, n, got, true) == BORN_OK, "%s: %d tokens: %s", what,
                      (int)n, born_last_error());
            double e = worst_rows(ref, got, 0, n, V);
            if (!(e <= worst_all)) worst_all = e;
            CHECK_OK(born_session_rollback(sg, 0));
            CHECK_OK(born_session_eval(sg, prompt, n, got, false));
            e = worst_rows(ref, got, n - 1, n, V);
            if (!(e <= worst_last)) worst_last = e;
            CHECK_EQ_INT(born_session_pos(sg), n);
        }
        CHECK_OK(born_session_rollback(sg, 0));
        CHECK_OK(born_session_eval(sg, prompt, SPLIT, NULL, false));
        CHECK_OK(born_session_eval(sg, prompt + SPLIT, N_MAX - SPLIT, got, true));
        worst_split = worst_rows(ref, got, SPLIT, N_MAX, V);
    }
    printf("  %s: batched prompt logits error %.2e (every row), %.2e (last row), %.2e (split at %d) "
           "against the f32 weights (bound %.0e)\n",
           what, worst_all, worst_last, worst_split, SPLIT, tol);
    CHECK_MSG(worst_all <= tol && worst_last <= tol && worst_split <= tol,
              "%s: normalized logit error %g / %g / %g over %g", what, worst_all, worst_last, worst_split, tol);
    free(ref);
    free(got);
    free(prompt);
    born_session_free(sr);
    born_session_free(sg);
    born_model_free(mr);
    born_model_free(mg);
}

TEST(cuda_llm_prefill_float_weights) {
    if (!cuda_gpu_or_skip("cuda_llm_prefill_float_weights")) return;
    tiny_llama_opts o = tiny_llama_default();
    const born_dtype dts[] = {BORN_F32, BORN_F16, BORN_BF16};
    const char *names[] = {"f32", "f16", "bf16"};
    for (int i = 0; i < 3; i++) {
        o.wtype = dts[i];
        check_prefill(names[i], &o, BORN_F16);
    }
    o.wtype = BORN_F16;
    o.head_dim = 64;
    check_prefill("f16, head size 64, f32 cache", &o, BORN_F32);
    o.wtype = BORN_BF16;
    o.head_dim = 128;
    check_prefill("bf16, head size 128", &o, BORN_F16);
    o.head_dim = 256;
    check_prefill("bf16, head size 256, f32 cache", &o, BORN_F32);
    o.head_dim = 40;
    check_prefill("bf16, head size 40", &o, BORN_F16);
}

TEST(cuda_llm_prefill_quantized_weights) {
    if (!cuda_gpu_or_skip("cuda_llm_prefill_quantized_weights")) return;
    tiny_llama_opts o = tiny_llama_default();
    const born_dtype dts[] = {BORN_Q8_0, BORN_Q4_0, BORN_Q4_1, BORN_Q5_0, BORN_Q5_1};
    for (int i = 0; i < 5; i++) {
        o.wtype = dts[i];
        check_prefill(born_dtype_name(dts[i]), &o, BORN_F16);
    }
    o.wtype = BORN_Q8_0;
    o.tied = true;
    check_prefill("q8_0, tied head", &o, BORN_F16);
    o.wtype = BORN_Q4_0;
    check_prefill("q4_0, tied head, f32 cache", &o, BORN_F32);
}

TEST(cuda_llm_prefill_k_quants) {
    if (!cuda_gpu_or_skip("cuda_llm_prefill_k_quants")) return;
    tiny_llama_opts o = tiny_llama_default();
    o.n_embd = 256;
    o.n_ff = 512;
    o.head_dim = 64;
    const born_dtype dts[] = {BORN_Q4_K, BORN_Q5_K, BORN_Q6_K};
    for (int i = 0; i < 3; i++) {
        o.wtype = dts[i];
        check_prefill(born_dtype_name(dts[i]), &o, BORN_F16);
    }
    o.wtype = BORN_Q4_K;
    o.mixed = true;
    o.wtype2 = BORN_Q6_K;
    check_prefill("q4_K with q6_K v/up/down", &o, BORN_F16);
}

TEST(cuda_llm_prefill_qwen2_yarn) {
    if (!cuda_gpu_or_skip("cuda_llm_prefill_qwen2_yarn")) return;
    tiny_llama_opts o = tiny_llama_default();
    o.arch = "qwen2"; /* NEOX RoPE, q/k/v biases */
    o.wtype = BORN_F16;
    check_prefill("qwen2 f16", &o, BORN_F16);
    o.wtype = BORN_Q8_0;
    check_prefill("qwen2 q8_0, f32 cache", &o, BORN_F32);
    o.arch = "llama";
    o.wtype = BORN_F16;
    o.rope_scaling = "yarn";
    check_prefill("llama f16, yarn", &o, BORN_F16);
}

/* A 200-token prompt batched (a) and token by token (b), then the same 24 tokens decoded on
 * both and on the CPU's f32 copy: every step's logits within the bound of each other and of the
 * CPU. Then the greedy graph from a's batched cache against eval + argmax on the same cache. */
static void check_decode_after(const char *what, const tiny_llama_opts *o) {
    const double tol = cuda_llm_bound(o->wtype);
    born_model *mr, *mg;
    if (!models(what, o, &mr, &mg)) return;
    enum { N = 200, STEPS = 24, GREEDY = 8 };
    const int32_t V = born_model_n_vocab(mr);
    born_session *sr = session_on(mr, BORN_F16), *a = session_on(mg, BORN_F16), *b = session_on(mg, BORN_F16);
    float *lr = malloc((size_t)V * sizeof *lr), *la = malloc((size_t)V * sizeof *la),
          *lb = malloc((size_t)V * sizeof *lb);
    int32_t prompt[N];
    make_prompt(prompt, N, V);
    double worst = 0, worst_ab = 0, maxd;
    CHECK_MSG(sr && a && b && lr && la && lb, "%s: %s", what, born_last_error());
    if (sr && a && b && lr && la && lb) {
        llm_session_set_prefill_min(a, 1);
        llm_session_set_prefill_min(b, 0);
        CHECK_OK(born_session_eval(sr, prompt, N, lr, false));
        CHECK_OK(born_session_eval(a, prompt, N, la, false));
        CHECK_OK(born_session_eval(b, prompt, N, lb, false));
        for (int step = 0; step <= STEPS; step++) {
            double e = cuda_llm_rel_err(lr, la, V, &maxd);
            if (!(e <= worst)) worst = e;
            e = cuda_llm_rel_err(lr, lb, V, &maxd);
            if (!(e <= worst)) worst = e;
            e = cuda_llm_rel_err(lb, la, V, &maxd);
            if (!(e <= worst_ab)) worst_ab = e;
            if (step == STEPS) break;
            int32_t tok = (step * 53 + 7) % V;
            CHECK_OK(born_session_eval(sr, &tok, 1, lr, false));
            CHECK_OK(born_session_eval(a, &tok, 1, la, false));
            CHECK_OK(born_session_eval(b, &tok, 1, lb, false));
        }
        /* the greedy graph from the end of a batched prompt */
        int32_t got[GREEDY], want[GREEDY], tok = 3;
        CHECK_OK(born_session_rollback(a, 0));
        CHECK_OK(born_session_eval(a, prompt, N, NULL, false));
        CHECK_OK(born_session_decode_greedy(a, tok, GREEDY, got));
        CHECK_OK(born_session_rollback(a, N));
        for (int i = 0; i < GREEDY; i++) {
            CHECK_OK(born_session_eval(a, &tok, 1, la, false));
            int32_t best = 0;
            for (int32_t v = 1; v < V; v++)
                if (la[v] > la[best]) best = v;
            want[i] = tok = best;
        }
        CHECK(memcmp(got, want, sizeof got) == 0);
        CHECK_EQ_INT(born_session_pos(a), N + GREEDY);
    }
    printf("  %s: decoding after a batched prompt: logits error %.2e against the CPU, %.2e against "
           "decoding after the prompt token by token (bound %.0e)\n",
           what, worst, worst_ab, tol);
    CHECK_MSG(worst <= tol && worst_ab <= tol, "%s: normalized logit error %g / %g over %g", what, worst, worst_ab,
              tol);
    free(lr);
    free(la);
    free(lb);
    born_session_free(sr);
    born_session_free(a);
    born_session_free(b);
    born_model_free(mr);
    born_model_free(mg);
}

TEST(cuda_llm_prefill_then_decode) {
    if (!cuda_gpu_or_skip("cuda_llm_prefill_then_decode")) return;
    tiny_llama_opts o = tiny_llama_default();
    o.wtype = BORN_BF16;
    check_decode_after("bf16", &o);
    o.wtype = BORN_Q4_1;
    o.head_dim = 64;
    check_decode_after("q4_1, head size 64", &o);
}
