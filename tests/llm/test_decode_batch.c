/* born_session_decode_greedy_batch on the CPU (src/llm/session/decode_batch.c): sessions at
 * different positions decoding greedily together give each session's born_session_decode_greedy
 * alone, token for token, with the same positions, cached tokens and next logits (f32 and q8_0
 * weights, both cache types, one session, and more sessions than one group of 64); every
 * argument error leaves every session as it was. */
#include <stdlib.h>
#include <string.h>

#include "io/tensor_file_test.h"
#include "llm/model/model_internal.h"
#include "llm/tiny_llama.h"

enum { N_CTX = 64, MAX_NS = 70 };

static int32_t token_at(int32_t s, int32_t i, int32_t V) {
    return (int32_t)((s * 53 + i * 37 + 5) % V);
}

/* Session s of m with a history of (s * 7) % 23 tokens. */
static born_session *with_history(born_model *m, born_dtype kv, int32_t s) {
    born_session_params sp = born_session_default_params();
    sp.n_ctx = N_CTX;
    sp.kv_type = kv;
    born_session *ss = born_session_new(m, &sp);
    const int32_t V = born_model_n_vocab(m), len = (s * 7) % 23;
    int32_t toks[N_CTX];
    for (int32_t i = 0; i < len; i++)
        toks[i] = token_at(s, i, V);
    if (ss && len && born_session_eval(ss, toks, len, NULL, false) != BORN_OK) {
        born_session_free(ss);
        return NULL;
    }
    return ss;
}

static born_model *load_tiny(const tiny_llama_opts *o) {
    const char *path = tft_path("decode_batch.gguf");
    if (!tiny_llama_write(path, o)) return NULL;
    return born_model_load(path, NULL);
}

/* ns sessions decode n tokens together against ns twins decoding alone. */
static void check_together(const tiny_llama_opts *o, born_dtype kv, int32_t ns, int32_t n) {
    born_model *m = load_tiny(o);
    CHECK_MSG(m != NULL, "%s", born_last_error());
    if (!m) return;
    const int32_t V = born_model_n_vocab(m);
    born_session *batch[MAX_NS] = {0}, *alone[MAX_NS] = {0};
    int32_t first[MAX_NS], *got = malloc((size_t)ns * n * sizeof *got), want[N_CTX];
    float *lb = malloc((size_t)V * sizeof *lb), *la = malloc((size_t)V * sizeof *la);
    bool ok = got && lb && la;
    for (int32_t s = 0; s < ns && ok; s++) {
        batch[s] = with_history(m, kv, s);
        alone[s] = with_history(m, kv, s);
        first[s] = token_at(s, 99, V);
        ok = batch[s] && alone[s];
    }
    CHECK_MSG(ok, "setup: %s", born_last_error());
    if (ok) {
        CHECK_OK(born_session_decode_greedy_batch(batch, first, n, ns, got));
        for (int32_t s = 0; s < ns; s++) {
            const int32_t at = born_session_pos(alone[s]);
            CHECK_OK(born_session_decode_greedy(alone[s], first[s], n, want));
            CHECK_MSG(memcmp(got + (size_t)s * n, want, (size_t)n * sizeof *want) == 0,
                      "%s %s weights, %d sessions: session %d's tokens differ from its own decoding",
                      o->arch, born_dtype_name(o->wtype), (int)ns, (int)s);
            CHECK_EQ_INT(born_session_pos(batch[s]), at + n);
            CHECK(memcmp(born_session_tokens(batch[s]), born_session_tokens(alone[s]),
                         (size_t)(at + n) * sizeof(int32_t)) == 0);
            CHECK_OK(born_session_eval(batch[s], &want[n - 1], 1, lb, false));
            CHECK_OK(born_session_eval(alone[s], &want[n - 1], 1, la, false));
            CHECK(memcmp(la, lb, (size_t)V * sizeof *la) == 0);
        }
    }
    for (int32_t s = 0; s < ns; s++) {
        born_session_free(batch[s]);
        born_session_free(alone[s]);
    }
    free(got);
    free(lb);
    free(la);
    born_model_free(m);
}

TEST(llm_decode_greedy_batch_matches_alone) {
    tiny_llama_opts o = tiny_llama_default();
    o.wtype = BORN_F32;
    check_together(&o, BORN_F16, 8, 7);
    check_together(&o, BORN_F32, 1, 5);
    o.wtype = BORN_Q8_0;
    check_together(&o, BORN_F16, 5, 9);
    check_together(&o, BORN_F16, MAX_NS, 3); /* two groups of sessions */
}

TEST(llm_decode_greedy_batch_errors_leave_sessions) {
    const tiny_llama_opts o = tiny_llama_default();
    born_model *m = load_tiny(&o);
    CHECK_MSG(m != NULL, "%s", born_last_error());
    if (!m) return;
    const int32_t V = born_model_n_vocab(m);
    enum { NS = 4 };
    born_session *ss[NS] = {0}, *twice[NS];
    int32_t pos[NS], toks[NS], out[NS * N_CTX];
    bool ok = true;
    for (int32_t s = 0; s < NS; s++) {
        twice[s] = ss[s] = with_history(m, BORN_F16, s + 1);
        ok = ok && ss[s];
        pos[s] = ss[s] ? born_session_pos(ss[s]) : 0;
        toks[s] = 3 + s;
    }
    CHECK_MSG(ok, "setup: %s", born_last_error());
    if (ok) {
        twice[2] = ss[0];
        CHECK(born_session_decode_greedy_batch(twice, toks, 2, NS, out) == BORN_ERR_ARGUMENT);
        CHECK_ERROR(BORN_ERR_ARGUMENT, "session 2 appears twice");
        toks[1] = V;
        CHECK(born_session_decode_greedy_batch(ss, toks, 2, NS, out) == BORN_ERR_ARGUMENT);
        CHECK_ERROR(BORN_ERR_ARGUMENT, "session 1, index 0");
        toks[1] = 4;
        const int32_t room = N_CTX - pos[2]; /* session 2 has the longest history (21) */
        CHECK(born_session_decode_greedy_batch(ss, toks, room + 1, NS, out) == BORN_ERR_ARGUMENT);
        CHECK_ERROR(BORN_ERR_ARGUMENT, "fit session 2's context");
        CHECK(born_session_decode_greedy_batch(ss, toks, 0, NS, out) == BORN_ERR_ARGUMENT);
        CHECK_ERROR(BORN_ERR_ARGUMENT, "has 0 tokens");
        CHECK(born_session_decode_greedy_batch(ss, toks, 2, 0, out) == BORN_ERR_ARGUMENT);
        CHECK_ERROR(BORN_ERR_ARGUMENT, "0 sessions");
        CHECK(born_session_decode_greedy_batch(ss, toks, 2, NS, NULL) == BORN_ERR_ARGUMENT);
        CHECK_ERROR(BORN_ERR_ARGUMENT, "out is NULL");
        for (int32_t s = 0; s < NS; s++)
            CHECK_EQ_INT(born_session_pos(ss[s]), pos[s]);
        CHECK_OK(born_session_decode_greedy_batch(ss, toks, room, NS, out));
        for (int32_t s = 0; s < NS; s++)
            CHECK_EQ_INT(born_session_pos(ss[s]), pos[s] + room);
    }
    for (int32_t s = 0; s < NS; s++)
        born_session_free(ss[s]);
    born_model_free(m);
}
