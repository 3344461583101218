/* born_session_eval_batch on the CPU (src/llm/session/eval_batch.c): four sessions at different
 * positions (one fresh, others after prompts of different lengths) appending 1 to 6 tokens in one
 * call give the logits, positions and cached tokens of each session evaluated alone, bit for bit,
 * for f32 and q8_0 weights and both cache types, and drop a pending generation token as
 * born_session_eval does; every argument error (mixed models, a session twice, a bad token, no
 * room, NULL arrays, a bad count) leaves every session as it was. */
#include <stdlib.h>
#include <string.h>

#include "io/tensor_file_test.h"
#include "llm/model/model_internal.h"
#include "llm/tiny_llama.h"

enum { NS = 4, N_CTX = 64 };

static const int32_t prompt_len[NS] = {0, 9, 1, 30}; /* the history before the batch */
static const int32_t batch_len[NS] = {1, 6, 1, 3};   /* what the batch appends */

static int32_t token_at(int32_t s, int32_t i, int32_t V) {
    return (int32_t)((s * 53 + i * 37 + 5) % V);
}

/* NS sessions of m with prompt_len's histories (session s's tokens token_at(s, 0..)). */
static bool sessions_with_history(born_model *m, born_dtype kv, born_session **ss) {
    born_session_params sp = born_session_default_params();
    sp.n_ctx = N_CTX;
    sp.kv_type = kv;
    const int32_t V = born_model_n_vocab(m);
    bool ok = true;
    for (int32_t s = 0; s < NS; s++) {
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

static born_model *load_tiny(const char *name, born_dtype wtype) {
    tiny_llama_opts o = tiny_llama_default();
    o.wtype = wtype;
    const char *path = tft_path(name);
    if (!tiny_llama_write(path, &o)) return NULL;
    return born_model_load(path, NULL);
}

static void check_same_as_alone(born_dtype wtype, born_dtype kv) {
    born_model *m = load_tiny("eval_batch.gguf", wtype);
    CHECK_MSG(m != NULL, "%s", born_last_error());
    if (!m) return;
    const int32_t V = born_model_n_vocab(m);
    born_session *batch[NS] = {0}, *alone[NS] = {0};
    CHECK(sessions_with_history(m, kv, batch) && sessions_with_history(m, kv, alone));
    float *want = malloc((size_t)NS * V * sizeof *want),
          *got = malloc((size_t)NS * V * sizeof *got);
    int32_t toks[NS][8];
    const int32_t *tp[NS];
    float *lp[NS];
    for (int32_t s = 0; s < NS; s++) {
        for (int32_t i = 0; i < batch_len[s]; i++)
            toks[s][i] = token_at(s, prompt_len[s] + i, V);
        tp[s] = toks[s];
        lp[s] = got + (size_t)s * V;
    }
    lp[2] = NULL; /* a session whose logits nobody wants */
    if (batch[NS - 1] && want && got) {
        batch[1]->pending = 7; /* as born_generate leaves a sampled token */
        CHECK_OK(born_session_eval_batch(batch, tp, batch_len, NS, lp));
        for (int32_t s = 0; s < NS; s++)
            CHECK_OK(
                born_session_eval(alone[s], toks[s], batch_len[s], want + (size_t)s * V, false));
        for (int32_t s = 0; s < NS; s++) {
            if (s != 2)
                CHECK_MSG(
                    memcmp(want + (size_t)s * V, got + (size_t)s * V, (size_t)V * sizeof *got) == 0,
                    "%s weights, %s cache: session %d's logits differ from its own evaluation",
                    born_dtype_name(wtype), born_dtype_name(kv), (int)s);
            CHECK_EQ_INT(born_session_pos(batch[s]), prompt_len[s] + batch_len[s]);
            CHECK(memcmp(born_session_tokens(batch[s]), born_session_tokens(alone[s]),
                         (size_t)born_session_pos(alone[s]) * sizeof(int32_t)) == 0);
            CHECK_EQ_INT(batch[s]->pending, -1);
        }
        /* the sessions go on alone from where the batch left them */
        const int32_t next = 3;
        CHECK_OK(born_session_eval(batch[3], &next, 1, got, false));
        CHECK_OK(born_session_eval(alone[3], &next, 1, want, false));
        CHECK(memcmp(want, got, (size_t)V * sizeof *got) == 0);
    }
    free(want);
    free(got);
    free_all(batch);
    free_all(alone);
    born_model_free(m);
}

TEST(llm_eval_batch_matches_alone) {
    check_same_as_alone(BORN_F32, BORN_F16);
    check_same_as_alone(BORN_F32, BORN_F32);
    check_same_as_alone(BORN_Q8_0, BORN_F16);
}

/* Whether every session is still at its history, with its pending token. */
static bool unchanged(born_session **ss, int32_t pending1) {
    for (int32_t s = 0; s < NS; s++)
        if (born_session_pos(ss[s]) != prompt_len[s]) return false;
    return ss[1]->pending == pending1;
}

TEST(llm_eval_batch_errors_leave_sessions) {
    born_model *m = load_tiny("eval_batch.gguf", BORN_F32);
    born_model *other = load_tiny("eval_batch_other.gguf", BORN_F32);
    CHECK_MSG(m && other, "%s", born_last_error());
    born_session *ss[NS] = {0};
    born_session *foreign = other ? born_session_new(other, NULL) : NULL;
    if (!m || !other || !foreign || !sessions_with_history(m, BORN_F16, ss)) {
        CHECK_MSG(false, "setup: %s", born_last_error());
        born_clear_error();
    } else {
        const int32_t V = born_model_n_vocab(m);
        ss[1]->pending = 11;
        int32_t toks[NS][4] = {{1, 2, 3, 4}, {5, 6, 7, 8}, {9, 10, 11, 12}, {13, 14, 15, 16}};
        const int32_t *tp[NS] = {toks[0], toks[1], toks[2], toks[3]};
        int32_t n[NS] = {1, 2, 3, 4};
        born_session *mixed[NS] = {ss[0], ss[1], foreign, ss[3]};
        CHECK(born_session_eval_batch(mixed, tp, n, NS, NULL) == BORN_ERR_ARGUMENT);
        CHECK_ERROR(BORN_ERR_ARGUMENT, "session 2 belongs to another model");
        CHECK(unchanged(ss, 11) && born_session_pos(foreign) == 0);
        born_session *twice[NS] = {ss[0], ss[1], ss[2], ss[1]};
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
