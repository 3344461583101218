/* born_session_eval_batch on the CPU (src/llm/session/eval_batch.c, cpu_eval_batch.c, the
 * forward_rows of llama.c): eight sessions at different positions (one fresh, others after
 * prompts of different lengths) appending 1 to 13 tokens in one call, then one token each
 * (decoding together), give the logits, positions and cached tokens of each session evaluated
 * alone, bit for bit: f32, f16, q8_0, q4_k and mixed q4_k / q6_k weights, qwen2's biases, a tied
 * head, both cache types, one pass or many (small n_batch: chunks of a session in several
 * passes, sessions of different n_batch), 1 to 3 threads; a pending generation token is dropped
 * as born_session_eval drops it. Every argument error (mixed models, a session twice, a bad
 * token, no room, NULL arrays, a bad count) leaves every session as it was. */
#include <stdlib.h>
#include <string.h>

#include "io/tensor_file_test.h"
#include "llm/model/model_internal.h"
#include "llm/tiny_llama.h"

enum { NS = 8, N_CTX = 64, MAX_LEN = 16 };

/* the history before the batch, and what the batch appends (1, fewer than the float GEMM's
 * LLM_FLOAT_GEMM_MIN rows, or more, and more than a small n_batch) */
static const int32_t prompt_len[NS] = {0, 9, 1, 30, 4, 17, 2, 5};
static const int32_t batch_len[NS] = {1, 6, 1, 3, 1, 13, 4, 2};

static int32_t token_at(int32_t s, int32_t i, int32_t V) {
    return (int32_t)((s * 53 + i * 37 + 5) % V);
}

/* NS sessions of m with prompt_len's histories (session s's tokens token_at(s, 0..)); n_batch
 * (0: the default) for all but session 5, which gets three more. */
static bool sessions_with_history(born_model *m, born_dtype kv, int32_t n_batch,
                                  born_session **ss) {
    born_session_params sp = born_session_default_params();
    sp.n_ctx = N_CTX;
    sp.kv_type = kv;
    const int32_t V = born_model_n_vocab(m), nb = sp.n_batch;
    bool ok = true;
    for (int32_t s = 0; s < NS; s++) {
        sp.n_batch = n_batch ? n_batch + (s == 5 ? 3 : 0) : nb;
        ss[s] = born_session_new(m, &sp);
        ok = ok && ss[s];
        int32_t toks[N_CTX];
        for (int32_t i = 0; i < prompt_len[s]; i++)
            toks[i] = token_at(s, i, V);
        if (ok && prompt_len[s])
            ok = born_session_eval(ss[s], toks, prompt_len[s], NULL, false) == BORN_OK;
    }
    return ok;
}

static void free_all(born_session **ss) {
    for (int32_t s = 0; s < NS; s++)
        born_session_free(ss[s]);
}

static born_model *load_tiny(const char *name, const tiny_llama_opts *o) {
    const char *path = tft_path(name);
    if (!tiny_llama_write(path, o)) return NULL;
    return born_model_load(path, NULL);
}

/* One call appending len[s] tokens to each batch session (session 2's logits unwanted) against
 * each alone session evaluating the same tokens by itself: whether every logit, position, cached
 * token and pending token agrees (what, for messages). */
static bool same_round(born_session **batch, born_session **alone, const int32_t *len, float *want,
                       float *got, const char *what) {
    const int32_t V = born_model_n_vocab(born_session_model(batch[0]));
    int32_t toks[NS][MAX_LEN];
    const int32_t *tp[NS];
    float *lp[NS];
    for (int32_t s = 0; s < NS; s++) {
        for (int32_t i = 0; i < len[s]; i++)
            toks[s][i] = token_at(s, born_session_pos(batch[s]) + i, V);
        tp[s] = toks[s];
        lp[s] = s == 2 ? NULL : got + (size_t)s * V;
    }
    batch[1]->pending = 7; /* as born_generate leaves a sampled token */
    bool ok = born_session_eval_batch(batch, tp, len, NS, lp) == BORN_OK;
    CHECK_MSG(ok, "%s: %s", what, born_last_error());
    for (int32_t s = 0; s < NS && ok; s++) {
        CHECK_OK(born_session_eval(alone[s], toks[s], len[s], want + (size_t)s * V, false));
        bool same = s == 2 ||
                    memcmp(want + (size_t)s * V, got + (size_t)s * V, (size_t)V * sizeof *got) == 0;
        CHECK_MSG(same, "%s: session %d's logits differ from its own evaluation", what, (int)s);
        ok = ok && same && born_session_pos(batch[s]) == born_session_pos(alone[s]) &&
             memcmp(born_session_tokens(batch[s]), born_session_tokens(alone[s]),
                    (size_t)born_session_pos(alone[s]) * sizeof(int32_t)) == 0 &&
             batch[s]->pending == -1;
    }
    return ok;
}

static void check_same_as_alone(const tiny_llama_opts *o, born_dtype kv, int32_t n_batch) {
    born_model *m = load_tiny("eval_batch.gguf", o);
    CHECK_MSG(m != NULL, "%s", born_last_error());
    if (!m) return;
    const int32_t V = born_model_n_vocab(m);
    born_session *batch[NS] = {0}, *alone[NS] = {0};
    CHECK(sessions_with_history(m, kv, n_batch, batch) &&
          sessions_with_history(m, kv, n_batch, alone));
    float *want = malloc((size_t)NS * V * sizeof *want),
          *got = malloc((size_t)NS * V * sizeof *got);
    char what[128];
    snprintf(what, sizeof what, "%s %s%s weights, %s cache, n_batch %d, %d threads", o->arch,
             born_dtype_name(o->wtype), o->mixed ? " (mixed)" : "", born_dtype_name(kv),
             (int)n_batch, born_get_num_threads());
    static const int32_t one[NS] = {1, 1, 1, 1, 1, 1, 1, 1};
    if (batch[NS - 1] && alone[NS - 1] && want && got) {
        CHECK(same_round(batch, alone, batch_len, want, got, what));
        CHECK(same_round(batch, alone, one, want, got, what)); /* decoding together */
        /* the sessions go on alone from where the batch left them */
        const int32_t next = 3;
        CHECK_OK(born_session_eval(batch[3], &next, 1, got, false));
        CHECK_OK(born_session_eval(alone[3], &next, 1, want, false));
        CHECK_MSG(memcmp(want, got, (size_t)V * sizeof *got) == 0, "%s: after the batch", what);
    }
    free(want);
    free(got);
    free_all(batch);
    free_all(alone);
    born_model_free(m);
}

TEST(llm_eval_batch_matches_alone) {
    tiny_llama_opts o = tiny_llama_default();
    o.wtype = BORN_F32;
    check_same_as_alone(&o, BORN_F16, 0);
    check_same_as_alone(&o, BORN_F32, 4);
    o.wtype = BORN_F16;
    check_same_as_alone(&o, BORN_F16, 0);
    check_same_as_alone(&o, BORN_F32, 5);
    o.wtype = BORN_BF16; /* the f32 GEMM for segments of 4 rows or more, the dots below */
    check_same_as_alone(&o, BORN_F16, 0);
    check_same_as_alone(&o, BORN_F32, 5);
    o.wtype = BORN_Q8_0;
    check_same_as_alone(&o, BORN_F16, 0);
    check_same_as_alone(&o, BORN_F16, 4);
    o.tied = true;
    check_same_as_alone(&o, BORN_F32, 0);
    o.tied = false;
    o.arch = "qwen2"; /* QKV biases, NEOX RoPE */
    check_same_as_alone(&o, BORN_F16, 5);
    o.wtype = BORN_F16;
    check_same_as_alone(&o, BORN_F16, 0);
    o.arch = "llama";
    o.n_ff = 100; /* SwiGLU's runs of eight end inside a row */
    check_same_as_alone(&o, BORN_F16, 0);
    o.n_embd = 256; /* the K-quants' blocks of 256 (heads of 64: Wo's too) */
    o.n_ff = 512;
    o.head_dim = 64;
    o.wtype = BORN_Q4_K;
    check_same_as_alone(&o, BORN_F16, 0);
    check_same_as_alone(&o, BORN_F32, 4);
    o.mixed = true; /* as Q4_K_M mixes */
    o.wtype2 = BORN_Q6_K;
    check_same_as_alone(&o, BORN_F16, 5);
}

/* The same bits at 1, 2 and 3 threads, where the products' and attention's tasks split
 * differently among them. */
TEST(llm_eval_batch_matches_alone_threads) {
    const int before = born_get_num_threads();
    tiny_llama_opts o = tiny_llama_default();
    for (int threads = 1; threads <= 3; threads++) {
        CHECK_OK(born_set_num_threads(threads));
        o.wtype = BORN_F16;
        check_same_as_alone(&o, BORN_F16, 5);
        o.wtype = BORN_Q8_0;
        check_same_as_alone(&o, BORN_F16, 0);
    }
    born_set_num_threads(before);
}

/* Whether every session is still at its history, with its pending token. */
static bool unchanged(born_session **ss, int32_t pending1) {
    for (int32_t s = 0; s < NS; s++)
        if (born_session_pos(ss[s]) != prompt_len[s]) return false;
    return ss[1]->pending == pending1;
}

TEST(llm_eval_batch_errors_leave_sessions) {
    const tiny_llama_opts o = tiny_llama_default();
    born_model *m = load_tiny("eval_batch.gguf", &o);
    born_model *other = load_tiny("eval_batch_other.gguf", &o);
    CHECK_MSG(m && other, "%s", born_last_error());
    born_session *ss[NS] = {0};
    born_session *foreign = other ? born_session_new(other, NULL) : NULL;
    if (!m || !other || !foreign || !sessions_with_history(m, BORN_F16, 0, ss)) {
        CHECK_MSG(false, "setup: %s", born_last_error());
        born_clear_error();
    } else {
        const int32_t V = born_model_n_vocab(m);
        ss[1]->pending = 11;
        int32_t toks[NS][4], n[NS];
        const int32_t *tp[NS];
        born_session *mixed[NS], *twice[NS];
        for (int32_t s = 0; s < NS; s++) {
            for (int32_t i = 0; i < 4; i++)
                toks[s][i] = 1 + 4 * s + i;
            tp[s] = toks[s];
            n[s] = 1 + s % 4;
            mixed[s] = twice[s] = ss[s];
        }
        mixed[2] = foreign;
        CHECK(born_session_eval_batch(mixed, tp, n, NS, NULL) == BORN_ERR_ARGUMENT);
        CHECK_ERROR(BORN_ERR_ARGUMENT, "session 2 belongs to another model");
        CHECK(unchanged(ss, 11) && born_session_pos(foreign) == 0);
        twice[3] = ss[1];
        CHECK(born_session_eval_batch(twice, tp, n, NS, NULL) == BORN_ERR_ARGUMENT);
        CHECK_ERROR(BORN_ERR_ARGUMENT, "session 3 appears twice");
        CHECK(unchanged(ss, 11));
        toks[3][2] = V; /* the last session's third token is outside the vocabulary */
        CHECK(born_session_eval_batch(ss, tp, n, NS, NULL) == BORN_ERR_ARGUMENT);
        CHECK_ERROR(BORN_ERR_ARGUMENT, "session 3, index 2");
        CHECK(unchanged(ss, 11));
        toks[3][2] = 15;
        n[3] = N_CTX - prompt_len[3] + 1; /* one token more than its context holds */
        int32_t *many = calloc((size_t)n[3], sizeof *many);
        tp[3] = many;
        CHECK(born_session_eval_batch(ss, tp, n, NS, NULL) == BORN_ERR_ARGUMENT);
        CHECK_ERROR(BORN_ERR_ARGUMENT, "fit session 3's context");
        CHECK(unchanged(ss, 11));
        n[3] = 4;
        tp[3] = toks[3];
        free(many);
        n[0] = 0;
        CHECK(born_session_eval_batch(ss, tp, n, NS, NULL) == BORN_ERR_ARGUMENT);
        CHECK_ERROR(BORN_ERR_ARGUMENT, "session 0 has 0 tokens");
        n[0] = 1;
        tp[2] = NULL;
        CHECK(born_session_eval_batch(ss, tp, n, NS, NULL) == BORN_ERR_ARGUMENT);
        CHECK_ERROR(BORN_ERR_ARGUMENT, "tokens of session 2 is NULL");
        tp[2] = toks[2];
        CHECK(born_session_eval_batch(ss, tp, n, 0, NULL) == BORN_ERR_ARGUMENT);
        CHECK_ERROR(BORN_ERR_ARGUMENT, "0 sessions");
        CHECK(born_session_eval_batch(ss, tp, n, BORN_SESSION_BATCH_MAX + 1, NULL) ==
              BORN_ERR_ARGUMENT);
        CHECK_ERROR(BORN_ERR_ARGUMENT, "sessions (1 to");
        CHECK(born_session_eval_batch(NULL, tp, n, NS, NULL) == BORN_ERR_ARGUMENT);
        CHECK_ERROR(BORN_ERR_ARGUMENT, "sessions is NULL");
        CHECK(unchanged(ss, 11));
        /* and the same call, valid, then appends to each */
        CHECK_OK(born_session_eval_batch(ss, tp, n, NS, NULL));
        for (int32_t s = 0; s < NS; s++)
            CHECK_EQ_INT(born_session_pos(ss[s]), prompt_len[s] + n[s]);
        CHECK_EQ_INT(ss[1]->pending, -1);
    }
    born_session_free(foreign);
    free_all(ss);
    born_model_free(m);
    born_model_free(other);
}
