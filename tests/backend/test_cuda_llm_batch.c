/* Several sessions in one forward pass on CUDA (born_session_eval_batch, llm_device_ops.eval_batch,
 * src/backend/cuda/llm_multi.c) against each session evaluated alone on the GPU, with the
 * normalized logit bound of the batched prompt's tests (cuda_llm_bound: the batch's products take
 * their inputs in the weights' type as a prompt's do):
 *   - five sessions at positions 0 to 130 appending 1 to 20 tokens, then one token each, for f16,
 *     bf16, q8_0, q4_0 and q4_K weights, an f32 cache and qwen2 (biases, NEOX RoPE);
 *   - eight sessions (histories of 9 to 576 tokens, so attention splits their keys over blocks)
 *     decoding 20 steps of 1, 2 or 4 tokens together (head sizes 16, 64 and 128) against alone (every step's logits; the greedy
 *     choices equal except at near-ties, a gap within the bound's share of the logits' range), then
 *     each continuing with ordinary decode steps (CUDA graphs), the greedy graph, and all of them
 *     through born_session_decode_greedy_batch (tokens chosen on the GPU: the same as batched
 *     steps with the host's argmax);
 *   - 70 sessions, one with a 600-token prompt and a third with an f32 cache, split into passes
 *     by tokens, sessions and cache type, then decoding greedily together (two groups).
 * Device memory is poisoned under `make test-cuda`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda_check.h"
#include "backend/cuda_llm_util.h"
#include "io/tensor_file_test.h"
#include "llm/model/model_internal.h"
#include "llm/tiny_llama.h"

enum { N_CTX = 700, MAX_S = 70 };

static int32_t token_at(int32_t s, int32_t i, int32_t V) {
    return (int32_t)((s * 53 + i * 37 + 5) % V);
}

static born_model *gpu_model(const char *what, const tiny_llama_opts *o) {
    const char *path = tft_path("cuda_llm_batch.gguf");
    born_model *m = tiny_llama_write(path, o) ? cuda_llm_load_on(path, BORN_CUDA(0)) : NULL;
    CHECK_MSG(m != NULL, "%s: %s", what, born_last_error());
    if (!m) born_clear_error();
    return m;
}

/* Session s of a set: kv cache kv, history hist tokens (token_at(s, 0..)). */
static born_session *with_history(born_model *m, born_dtype kv, int32_t s, int32_t hist) {
    born_session_params sp = born_session_default_params();
    sp.n_ctx = N_CTX;
    sp.kv_type = kv;
    born_session *x = born_session_new(m, &sp);
    const int32_t V = born_model_n_vocab(m);
    int32_t *toks = malloc((size_t)(hist ? hist : 1) * sizeof *toks);
    bool ok = x && toks;
    for (int32_t i = 0; ok && i < hist; i++)
        toks[i] = token_at(s, i, V);
    if (ok && hist) ok = born_session_eval(x, toks, hist, NULL, false) == BORN_OK;
    free(toks);
    if (!ok) {
        born_session_free(x);
        return NULL;
    }
    return x;
}

/* A set of sessions twice (batch[s], alone[s]) with the same histories; false on failure. */
static bool twins(born_model *m, int32_t count, const born_dtype *kv, const int32_t *hist,
                  born_session **batch, born_session **alone) {
    bool ok = true;
    for (int32_t s = 0; s < count; s++) {
        batch[s] = ok ? with_history(m, kv[s], s, hist[s]) : NULL;
        alone[s] = ok ? with_history(m, kv[s], s, hist[s]) : NULL;
        ok = batch[s] && alone[s];
    }
    CHECK_MSG(ok, "sessions: %s", born_last_error());
    return ok;
}

static void free_twins(int32_t count, born_session **batch, born_session **alone) {
    for (int32_t s = 0; s < count; s++) {
        born_session_free(batch[s]);
        born_session_free(alone[s]);
    }
}

/* One call: session s appends len[s] tokens (token_at(s, pos..)) in one batch and alone; returns
 * the worst normalized error of the batch's logits against alone's (every session's). */
static double batch_vs_alone(int32_t count, born_session **batch, born_session **alone,
                             const int32_t *len, float *lb, float *la) {
    const int32_t V = born_model_n_vocab(born_session_model(batch[0]));
    const int32_t **tp = calloc((size_t)count, sizeof *tp);
    float **lp = calloc((size_t)count, sizeof *lp);
    double worst = 0, maxd;
    bool ok = tp && lp;
    for (int32_t s = 0; ok && s < count; s++) {
        int32_t *t = malloc((size_t)len[s] * sizeof *t);
        ok = t != NULL;
        for (int32_t i = 0; ok && i < len[s]; i++)
            t[i] = token_at(s, born_session_pos(batch[s]) + i, V);
        tp[s] = t;
        lp[s] = lb + (size_t)s * V;
    }
    if (ok) {
        int32_t before[MAX_S];
        for (int32_t s = 0; s < count; s++)
            before[s] = born_session_pos(batch[s]);
        CHECK_MSG(born_session_eval_batch(batch, tp, len, count, lp) == BORN_OK, "batch: %s",
                  born_last_error());
        for (int32_t s = 0; s < count; s++) {
            CHECK_OK(born_session_eval(alone[s], tp[s], len[s], la + (size_t)s * V, false));
            CHECK_EQ_INT(born_session_pos(batch[s]), before[s] + len[s]);
            CHECK(memcmp(born_session_tokens(batch[s]), born_session_tokens(alone[s]),
                         (size_t)born_session_pos(alone[s]) * sizeof(int32_t)) == 0);
            const double e = cuda_llm_rel_err(la + (size_t)s * V, lb + (size_t)s * V, V, &maxd);
            if (!(e <= worst)) worst = e;
        }
    } else {
        worst = 1;
    }
    for (int32_t s = 0; tp && s < count; s++)
        free((void *)tp[s]);
    free(tp);
    free(lp);
    return worst;
}

static void check_formats(const char *what, const tiny_llama_opts *o, born_dtype kv) {
    enum { NS = 5 };
    const int32_t hist[NS] = {0, 7, 1, 40, 130}, len[NS] = {1, 5, 1, 3, 20},
                  one[NS] = {1, 1, 1, 1, 1};
    const born_dtype kvs[NS] = {kv, kv, kv, kv, kv};
    const double tol = cuda_llm_bound(o->wtype);
    born_model *m = gpu_model(what, o);
    if (!m) return;
    const int32_t V = born_model_n_vocab(m);
    born_session *batch[NS] = {0}, *alone[NS] = {0};
    float *lb = malloc((size_t)NS * V * sizeof *lb), *la = malloc((size_t)NS * V * sizeof *la);
    double e1 = 1, e2 = 1;
    if (lb && la && twins(m, NS, kvs, hist, batch, alone)) {
        e1 = batch_vs_alone(NS, batch, alone, len, lb, la);
        e2 = batch_vs_alone(NS, batch, alone, one, lb, la); /* reads the K and V the batch wrote */
    }
    printf("  %s: batch of %d sessions: logits error %.2e (1 to 20 tokens), %.2e (then one each) "
           "against "
           "each alone (bound %.0e)\n",
           what, NS, e1, e2, tol);
    CHECK_MSG(e1 <= tol && e2 <= tol, "%s: normalized logit error %g / %g over %g", what, e1, e2,
              tol);
    free(lb);
    free(la);
    free_twins(NS, batch, alone);
    born_model_free(m);
}

TEST(cuda_llm_batch_formats) {
    if (!cuda_gpu_or_skip("cuda_llm_batch_formats")) return;
    tiny_llama_opts o = tiny_llama_default();
    const born_dtype dts[] = {BORN_F16, BORN_BF16, BORN_Q8_0, BORN_Q4_0};
    for (int i = 0; i < 4; i++) {
        o.wtype = dts[i];
        check_formats(born_dtype_name(dts[i]), &o, BORN_F16);
    }
    o.wtype = BORN_BF16;
    check_formats("bf16, f32 cache", &o, BORN_F32);
    o.arch = "qwen2";
    o.wtype = BORN_Q8_0;
    check_formats("qwen2 q8_0", &o, BORN_F16);
    o = tiny_llama_default();
    o.n_embd = 256;
    o.n_ff = 512;
    o.head_dim = 64;
    o.wtype = BORN_Q4_K;
    check_formats("q4_K, head size 64", &o, BORN_F16);
}

static int32_t argmax(const float *x, int32_t n) {
    int32_t best = 0;
    for (int32_t v = 1; v < n; v++)
        if (x[v] > x[best]) best = v;
    return best;
}

static int32_t argmin(const float *x, int32_t n) {
    int32_t best = 0;
    for (int32_t v = 1; v < n; v++)
        if (x[v] < x[best]) best = v;
    return best;
}

/* born_session_decode_greedy_batch on count sessions (tokens chosen on the GPU) against
 * born_session_eval_batch steps with the host's argmax from the same positions: the same kernels
 * on the same rows, so the same tokens, bit for bit. */
static void check_greedy_batch(const char *what, born_session **ss, int32_t count, int32_t n) {
    const int32_t V = born_model_n_vocab(born_session_model(ss[0]));
    int32_t at[MAX_S], first[MAX_S], cur[MAX_S], one[MAX_S];
    const int32_t *tp[MAX_S];
    float *lp[MAX_S];
    int32_t *got = malloc((size_t)count * n * sizeof *got), *want = malloc((size_t)count * n * sizeof *want);
    float *l = malloc((size_t)count * V * sizeof *l);
    if (got && want && l) {
        for (int32_t s = 0; s < count; s++) {
            at[s] = born_session_pos(ss[s]);
            first[s] = token_at(s, 300, V);
        }
        CHECK_MSG(born_session_decode_greedy_batch(ss, first, n, count, got) == BORN_OK, "%s: %s", what,
                  born_last_error());
        for (int32_t s = 0; s < count; s++) {
            CHECK_EQ_INT(born_session_pos(ss[s]), at[s] + n);
            CHECK_OK(born_session_rollback(ss[s], at[s]));
            cur[s] = first[s];
            tp[s] = &cur[s];
            one[s] = 1;
            lp[s] = l + (size_t)s * V;
        }
        for (int32_t t = 0; t < n; t++) {
            CHECK_OK(born_session_eval_batch(ss, tp, one, count, lp));
            for (int32_t s = 0; s < count; s++)
                want[(size_t)s * n + t] = cur[s] = argmax(lp[s], V);
        }
        CHECK_MSG(memcmp(got, want, (size_t)count * n * sizeof *got) == 0,
                  "%s: %d sessions: the greedy batch differs from batched steps with the host's argmax", what,
                  (int)count);
    }
    free(got);
    free(want);
    free(l);
}

/* Eight sessions decode STEPS steps of `per` tokens together and alone (the alone choice first
 * in each step, then fixed tokens, fed to both): with the tiny model's two query heads a kv head,
 * per = 1, 2 and 4 give the few-rows attention kernel 2, 4 and 8 rows. */
static void check_decode_together(const char *what, const tiny_llama_opts *o, int32_t per) {
    enum { NS = 8, STEPS = 20, AFTER = 5, GREEDY = 6, PER_MAX = 4 };
    const double tol = cuda_llm_bound(o->wtype);
    born_model *m = gpu_model(what, o);
    if (!m) return;
    const int32_t V = born_model_n_vocab(m);
    int32_t hist[NS];
    born_dtype kvs[NS];
    for (int32_t s = 0; s < NS; s++) {
        hist[s] = 9 * (s + 1) * (s + 1); /* 9 to 576: the attention splits the keys, some splits empty */
        kvs[s] = BORN_F16;
    }
    born_session *batch[NS] = {0}, *alone[NS] = {0};
    float *lb = malloc((size_t)NS * V * sizeof *lb), *la = malloc((size_t)NS * V * sizeof *la);
    double worst = 0, worst_after = 0, maxd;
    int flips = 0, bad_flips = 0;
    if (lb && la && twins(m, NS, kvs, hist, batch, alone)) {
        int32_t tok[NS], steps[NS][PER_MAX], counts[NS];
        const int32_t *tp[NS];
        float *lp[NS];
        for (int32_t s = 0; s < NS; s++) {
            tok[s] = token_at(s, 99, V);
            tp[s] = steps[s];
            counts[s] = per;
            lp[s] = lb + (size_t)s * V;
        }
        for (int step = 0; step < STEPS; step++) {
            for (int32_t s = 0; s < NS; s++) {
                steps[s][0] = tok[s];
                for (int32_t i = 1; i < per; i++) steps[s][i] = token_at(s, 200 + step * PER_MAX + i, V);
            }
            CHECK_MSG(born_session_eval_batch(batch, tp, counts, NS, lp) == BORN_OK, "step %d: %s",
                      step, born_last_error());
            for (int32_t s = 0; s < NS; s++) {
                const float *a = la + (size_t)s * V, *b = lb + (size_t)s * V;
                CHECK_OK(born_session_eval(alone[s], steps[s], per, la + (size_t)s * V, false));
                const double e = cuda_llm_rel_err(a, b, V, &maxd);
                if (!(e <= worst)) worst = e;
                const int32_t ga = argmax(a, V), gb = argmax(b, V);
                if (ga !=
                    gb) { /* a near-tie: a gap within the bound's share of the logits' range */
                    flips++;
                    if (!(a[ga] - a[gb] <= tol * (a[ga] - a[argmin(a, V)]))) bad_flips++;
                }
                tok[s] = ga;
            }
        }
        /* then ordinary decode steps (CUDA graphs) on each, from the cache the batch wrote */
        for (int step = 0; step < AFTER; step++)
            for (int32_t s = 0; s < NS; s++) {
                CHECK_OK(born_session_eval(batch[s], &tok[s], 1, lb, false));
                CHECK_OK(born_session_eval(alone[s], &tok[s], 1, la, false));
                const double e = cuda_llm_rel_err(la, lb, V, &maxd);
                if (!(e <= worst_after)) worst_after = e;
                tok[s] = argmax(la, V);
            }
        /* and the greedy graph against eval + argmax on the same cache */
        for (int32_t s = 0; s < NS; s++) {
            const int32_t at = born_session_pos(batch[s]);
            int32_t got[GREEDY], want[GREEDY], t = tok[s];
            CHECK_OK(born_session_decode_greedy(batch[s], t, GREEDY, got));
            CHECK_OK(born_session_rollback(batch[s], at));
            for (int i = 0; i < GREEDY; i++) {
                CHECK_OK(born_session_eval(batch[s], &t, 1, lb, false));
                want[i] = t = argmax(lb, V);
            }
            CHECK_MSG(memcmp(got, want, sizeof got) == 0,
                      "%s: session %d: the greedy graph after a batch", what, (int)s);
            CHECK_EQ_INT(born_session_pos(batch[s]), hist[s] + STEPS * per + AFTER + GREEDY);
        }
        /* and all of them greedily together, the tokens chosen on the device */
        check_greedy_batch(what, batch, NS, GREEDY);
    }
    printf("  %s: %d sessions decoding %d steps of %d tokens together: logits error %.2e against alone, %.2e in "
           "the "
           "decode steps after (bound %.0e); %d greedy choices differ at near-ties\n",
           what, NS, STEPS, (int)per, worst, worst_after, tol, flips);
    CHECK_MSG(worst <= tol && worst_after <= tol, "%s: normalized logit error %g / %g over %g",
              what, worst, worst_after, tol);
    CHECK_MSG(bad_flips == 0, "%s: %d greedy choices differ beyond a near-tie", what, bad_flips);
    free(lb);
    free(la);
    free_twins(NS, batch, alone);
    born_model_free(m);
}

TEST(cuda_llm_batch_decode_steps) {
    if (!cuda_gpu_or_skip("cuda_llm_batch_decode_steps")) return;
    tiny_llama_opts o = tiny_llama_default();
    o.wtype = BORN_BF16;
    check_decode_together("bf16", &o, 1);
    o.wtype = BORN_Q4_0;
    o.head_dim = 64;
    check_decode_together("q4_0, head size 64", &o, 1);
    check_decode_together("q4_0, head size 64", &o, 2);
    o.wtype = BORN_F16;
    o.head_dim = 128;
    check_decode_together("f16, head size 128", &o, 1);
    check_decode_together("f16, head size 128", &o, 4);
}

TEST(cuda_llm_batch_passes) {
    if (!cuda_gpu_or_skip("cuda_llm_batch_passes")) return;
    tiny_llama_opts o = tiny_llama_default();
    o.wtype = BORN_F16;
    const double tol = cuda_llm_bound(o.wtype);
    born_model *m = gpu_model("f16, 70 sessions", &o);
    if (!m) return;
    const int32_t V = born_model_n_vocab(m);
    int32_t hist[MAX_S], len[MAX_S];
    born_dtype kvs[MAX_S];
    for (int32_t s = 0; s < MAX_S; s++) {
        hist[s] = 2 + s % 5;
        len[s] = s == 0 ? 600 : 1 + s % 3; /* 600 + 139 tokens: more than one pass's 512 */
        kvs[s] = s % 3 == 2 ? BORN_F32 : BORN_F16;
    }
    born_session *batch[MAX_S] = {0}, *alone[MAX_S] = {0};
    float *lb = malloc((size_t)MAX_S * V * sizeof *lb),
          *la = malloc((size_t)MAX_S * V * sizeof *la);
    double e = 1;
    if (lb && la && twins(m, MAX_S, kvs, hist, batch, alone))
        e = batch_vs_alone(MAX_S, batch, alone, len, lb, la);
    if (e <= tol) check_greedy_batch("f16, 70 sessions in two groups by cache type", batch, MAX_S, 4);
    printf("  f16: %d sessions in passes (a 600-token prompt among them; f16 and f32 caches): "
           "logits error %.2e "
           "against each alone (bound %.0e)\n",
           (int)MAX_S, e, tol);
    CHECK_MSG(e <= tol, "70 sessions: normalized logit error %g over %g", e, tol);
    free(lb);
    free(la);
    free_twins(MAX_S, batch, alone);
    born_model_free(m);
}
