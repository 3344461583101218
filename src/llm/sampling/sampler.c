/* The sampler: validated params, the history the penalties count, and the chain of llama.cpp's
 * common sampler (logit bias, penalties, top-k, typical-p, top-p, min-p, temperature) followed by
 * a draw from the core's Philox stream. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/philox.h"
#include "llm/sampling/sampling_internal.h"

struct born_sampler {
    born_sampler_params p; /* p.logit_bias points at bias */
    born_logit_bias *bias;
    int32_t n_vocab;
    uint64_t seed;
    uint64_t n_draws; /* the Philox counter of the next draw */

    int32_t *counts; /* occurrences of each token in the window */
    int32_t *ring;   /* the window, when penalty_last_n > 0 */
    int32_t ring_len, ring_head;

    born_token_prob *cand; /* n_vocab candidates */
    born_token_prob *scratch_c;
    float *scratch_f;
    int32_t *scratch_i; /* 2 * n_vocab */
};

born_sampler_params born_sampler_default_params(void) {
    born_sampler_params p;
    memset(&p, 0, sizeof p);
    p.seed = BORN_SAMPLER_SEED_RANDOM;
    p.temperature = 0.8f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    p.typical_p = 1.0f;
    p.repeat_penalty = 1.0f;
    p.frequency_penalty = 0.0f;
    p.presence_penalty = 0.0f;
    p.penalty_last_n = 64;
    return p;
}

static born_status check_unit(const char *name, float v) {
    if (!(v >= 0.0f && v <= 1.0f)) /* NaN fails too */
        return born_error(BORN_ERR_ARGUMENT, "born_sampler_new: %s is %g; it must be in [0, 1]",
                          name, (double)v);
    return BORN_OK;
}

static born_status check_finite(const char *name, float v) {
    if (!isfinite(v))
        return born_error(BORN_ERR_ARGUMENT, "born_sampler_new: %s is %g; it must be finite",
                          name, (double)v);
    return BORN_OK;
}

static born_status check_params(const born_sampler_params *p, int32_t n_vocab) {
    if (n_vocab <= 0)
        return born_error(BORN_ERR_ARGUMENT, "born_sampler_new: n_vocab is %d; it must be > 0",
                          (int)n_vocab);
    if (check_finite("temperature", p->temperature)) return BORN_ERR_ARGUMENT;
    if (p->top_k < 0)
        return born_error(BORN_ERR_ARGUMENT,
                          "born_sampler_new: top_k is %d; it must be >= 0 (0 turns it off)",
                          (int)p->top_k);
    if (check_unit("top_p", p->top_p) || check_unit("min_p", p->min_p) ||
        check_unit("typical_p", p->typical_p))
        return BORN_ERR_ARGUMENT;
    if (!(p->repeat_penalty > 0.0f) || !isfinite(p->repeat_penalty))
        return born_error(BORN_ERR_ARGUMENT,
                          "born_sampler_new: repeat_penalty is %g; it must be finite and > 0 "
                          "(1 turns it off)", (double)p->repeat_penalty);
    if (check_finite("frequency_penalty", p->frequency_penalty) ||
        check_finite("presence_penalty", p->presence_penalty))
        return BORN_ERR_ARGUMENT;
    if (p->penalty_last_n < -1)
        return born_error(BORN_ERR_ARGUMENT,
                          "born_sampler_new: penalty_last_n is %d; it must be >= -1",
                          (int)p->penalty_last_n);
    if (p->n_logit_bias < 0 || (p->n_logit_bias > 0 && !p->logit_bias))
        return born_error(BORN_ERR_ARGUMENT,
                          "born_sampler_new: n_logit_bias is %d with logit_bias %s",
                          (int)p->n_logit_bias, p->logit_bias ? "set" : "NULL");
    for (int32_t i = 0; i < p->n_logit_bias; i++) {
        const born_logit_bias *b = &p->logit_bias[i];
        if (b->token < 0 || b->token >= n_vocab)
            return born_error(BORN_ERR_ARGUMENT,
                              "born_sampler_new: logit_bias[%d] names token %d, outside the "
                              "vocabulary [0, %d)", (int)i, (int)b->token, (int)n_vocab);
        if (isnan(b->bias) || b->bias == INFINITY)
            return born_error(BORN_ERR_ARGUMENT,
                              "born_sampler_new: logit_bias[%d] (token %d) is %g; it must be "
                              "finite or -inf", (int)i, (int)b->token, (double)b->bias);
    }
    return BORN_OK;
}

/* A seed from the clock and a counter (atomic: samplers may be made on many threads), mixed by
 * splitmix64. */
static uint64_t random_seed(const void *salt) {
    static _Atomic uint64_t calls = 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t z = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    z ^= (uint64_t)(uintptr_t)salt ^ ((atomic_fetch_add(&calls, 1) + 1) * 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    z ^= z >> 31;
    return z == BORN_SAMPLER_SEED_RANDOM ? 0 : z;
}

born_sampler *born_sampler_new(const born_sampler_params *params, int32_t n_vocab) {
    born_sampler_params p = params ? *params : born_sampler_default_params();
    if (check_params(&p, n_vocab)) return NULL;
    born_sampler *s = calloc(1, sizeof *s);
    if (!s) return born_error_null(BORN_ERR_MEMORY, "born_sampler_new: out of memory");
    s->p = p;
    s->n_vocab = n_vocab;
    size_t n = (size_t)n_vocab;
    bool ok = true;
    if (p.n_logit_bias > 0) {
        s->bias = malloc((size_t)p.n_logit_bias * sizeof *s->bias);
        ok = ok && s->bias;
        if (s->bias) memcpy(s->bias, p.logit_bias, (size_t)p.n_logit_bias * sizeof *s->bias);
    }
    s->p.logit_bias = s->bias;
    if (p.penalty_last_n != 0) {
        s->counts = calloc(n, sizeof *s->counts);
        ok = ok && s->counts;
        if (p.penalty_last_n > 0) {
            s->ring = malloc((size_t)p.penalty_last_n * sizeof *s->ring);
            ok = ok && s->ring;
        }
    }
    s->cand = malloc(n * sizeof *s->cand);
    s->scratch_c = malloc(n * sizeof *s->scratch_c);
    s->scratch_f = malloc(n * sizeof *s->scratch_f);
    s->scratch_i = malloc(2 * n * sizeof *s->scratch_i);
    ok = ok && s->cand && s->scratch_c && s->scratch_f && s->scratch_i;
    if (!ok) {
        born_sampler_free(s);
        return born_error_null(BORN_ERR_MEMORY, "born_sampler_new: out of memory for %d tokens",
                               (int)n_vocab);
    }
    s->seed = p.seed == BORN_SAMPLER_SEED_RANDOM ? random_seed(s) : p.seed;
    return s;
}

void born_sampler_free(born_sampler *s) {
    if (!s) return;
    free(s->bias);
    free(s->counts);
    free(s->ring);
    free(s->cand);
    free(s->scratch_c);
    free(s->scratch_f);
    free(s->scratch_i);
    free(s);
}

uint64_t born_sampler_seed(const born_sampler *s) { return s ? s->seed : 0; }

void born_sampler_accept(born_sampler *s, int32_t token) {
    if (!s) {
        born_error(BORN_ERR_ARGUMENT, "born_sampler_accept: the sampler is NULL");
        return;
    }
    if (token < 0 || token >= s->n_vocab) {
        born_error(BORN_ERR_ARGUMENT, "born_sampler_accept: token %d is outside [0, %d)",
                   (int)token, (int)s->n_vocab);
        return;
    }
    if (!s->counts) return; /* penalty_last_n == 0: no history kept */
    if (s->ring) {
        int32_t cap = s->p.penalty_last_n;
        if (s->ring_len == cap) s->counts[s->ring[s->ring_head]]--; /* the oldest leaves */
        else s->ring_len++;
        s->ring[s->ring_head] = token;
        s->ring_head = (s->ring_head + 1) % cap;
    }
    if (s->counts[token] < INT32_MAX) s->counts[token]++;
}

void born_sampler_reset(born_sampler *s) {
    if (!s) return;
    if (s->counts) memset(s->counts, 0, (size_t)s->n_vocab * sizeof *s->counts);
    s->ring_len = 0;
    s->ring_head = 0;
    s->n_draws = 0;
}

/* Copies the logits into the candidate list, checking them, and applies bias and penalties. */
static born_status load_logits(born_sampler *s, const float *logits, const char *fn) {
    if (!logits) return born_error(BORN_ERR_ARGUMENT, "%s: logits is NULL", fn);
    for (int32_t i = 0; i < s->n_vocab; i++) {
        float l = logits[i];
        if (isnan(l) || l == INFINITY)
            return born_error(BORN_ERR_ARGUMENT, "%s: the logit of token %d is %g", fn, (int)i,
                              (double)l);
        s->cand[i].token = i;
        s->cand[i].logit = l;
        s->cand[i].p = 0.0f;
    }
    for (int32_t i = 0; i < s->p.n_logit_bias; i++) s->cand[s->bias[i].token].logit += s->bias[i].bias;

    const born_sampler_params *p = &s->p;
    bool penalties = s->counts && (p->repeat_penalty != 1.0f || p->frequency_penalty != 0.0f ||
                                   p->presence_penalty != 0.0f);
    if (penalties) {
        for (int32_t i = 0; i < s->n_vocab; i++) {
            int32_t count = s->counts[i];
            if (count == 0) continue;
            float *l = &s->cand[i].logit;
            if (*l <= 0.0f) *l *= p->repeat_penalty;
            else *l /= p->repeat_penalty;
            *l -= (float)count * p->frequency_penalty + p->presence_penalty;
        }
    }
    return BORN_OK;
}

/* The index of the first largest candidate; -1 when every logit is -inf. */
static int32_t argmax(const born_token_prob *v, int32_t n) {
    int32_t best = -1;
    float max = -INFINITY;
    for (int32_t i = 0; i < n; i++)
        if (v[i].logit > max) {
            max = v[i].logit;
            best = i;
        }
    return best;
}

/* Runs the chain; the survivors end in s->cand[0..*n). */
static born_status run_chain(born_sampler *s, const float *logits, int32_t *n, const char *fn) {
    if (load_logits(s, logits, fn)) return BORN_ERR_ARGUMENT;
    const born_sampler_params *p = &s->p;
    sampler_cands c = {s->cand, s->n_vocab, false};
    if (p->temperature <= 0.0f) { /* greedy */
        int32_t best = argmax(c.v, c.n);
        if (best < 0) return born_error(BORN_ERR_ARGUMENT, "%s: every token is banned (-inf)", fn);
        s->cand[0] = s->cand[best];
        s->cand[0].p = 1.0f;
        *n = 1;
        return BORN_OK;
    }
    sampler_top_k(&c, p->top_k);
    sampler_typical(&c, p->typical_p, s->scratch_f, s->scratch_i, s->scratch_c);
    sampler_top_p(&c, p->top_p);
    sampler_min_p(&c, p->min_p);
    sampler_temperature(&c, p->temperature);
    if (argmax(c.v, c.n) < 0)
        return born_error(BORN_ERR_ARGUMENT, "%s: every token is banned (-inf)", fn);
    sampler_softmax(&c);
    *n = c.n;
    return BORN_OK;
}

int32_t born_sampler_candidates(born_sampler *s, const float *logits, const born_token_prob **out) {
    if (!s || !out) {
        born_error(BORN_ERR_ARGUMENT, "born_sampler_candidates: %s is NULL", s ? "out" : "s");
        return -1;
    }
    int32_t n = 0;
    if (run_chain(s, logits, &n, "born_sampler_candidates")) return -1;
    *out = s->cand;
    return n;
}

int32_t born_sampler_sample(born_sampler *s, const float *logits) {
    if (!s) {
        born_error(BORN_ERR_ARGUMENT, "born_sampler_sample: the sampler is NULL");
        return -1;
    }
    int32_t n = 0;
    if (run_chain(s, logits, &n, "born_sampler_sample")) return -1;
    if (s->p.temperature <= 0.0f) return s->cand[0].token; /* greedy: nothing is drawn */
    /* u * total against the running sum of exp(logit - max), in double. */
    const born_token_prob *v = s->cand;
    double max = v[argmax(v, n)].logit, total = 0.0;
    for (int32_t i = 0; i < n; i++) total += exp((double)v[i].logit - max);
    philox_block b = philox4x32(s->n_draws++, s->seed);
    double target = philox_uniform_f64(b.v[0], b.v[1]) * total, cum = 0.0;
    int32_t last_positive = 0;
    for (int32_t i = 0; i < n; i++) {
        double w = exp((double)v[i].logit - max);
        if (w <= 0.0) continue;
        cum += w;
        last_positive = i;
        if (target < cum) return v[i].token;
    }
    return v[last_positive].token; /* rounding left target at the very end */
}
