/* The sampler's own checks: parameter validation, greedy, logit bias, penalties computed by hand,
 * the partial sorts against full sorts on a 150k vocabulary, determinism for a seed, and a
 * chi-square test that the draws follow the probabilities (fixed seed, so it cannot flake).
 * tests/llm/test_sampling_llama.c compares the stages with llama.cpp's. */
#include <stdlib.h>
#include <string.h>

#include "born/llm.h"
#include "test.h"

/* Neutral params: every stage off, temperature 1, a fixed seed. */
static born_sampler_params neutral(void) {
    born_sampler_params p = born_sampler_default_params();
    p.seed = 42;
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.typical_p = 1.0f;
    p.penalty_last_n = 64;
    return p;
}

static double next_unit(uint64_t *state) { /* xorshift64*, uniform in [0, 1) */
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return (double)((*state * 0x2545F4914F6CDD1Du) >> 11) * (1.0 / 9007199254740992.0);
}

/* n logits uniform in [-scale, scale), the same for a seed on every machine; malloc'd. */
static float *random_logits(int32_t n, float scale, uint64_t seed) {
    float *l = malloc((size_t)n * sizeof *l);
    uint64_t state = seed;
    for (int32_t i = 0; i < n; i++) l[i] = (float)((next_unit(&state) * 2.0 - 1.0) * scale);
    return l;
}

static int cmp_float_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x > y ? -1 : x < y ? 1 : 0;
}

TEST(sampling_default_params) {
    born_sampler_params p = born_sampler_default_params();
    CHECK_NEAR(p.temperature, 0.8, 1e-7);
    CHECK_EQ_INT(p.top_k, 40);
    CHECK_NEAR(p.top_p, 0.95, 1e-7);
    CHECK_NEAR(p.min_p, 0.05, 1e-7);
    CHECK_NEAR(p.typical_p, 1.0, 0);
    CHECK_NEAR(p.repeat_penalty, 1.0, 0);
    CHECK_EQ_INT(p.penalty_last_n, 64);
    CHECK(p.seed == BORN_SAMPLER_SEED_RANDOM);
    born_sampler *s = born_sampler_new(NULL, 100);
    CHECK(s != NULL);
    CHECK(born_sampler_seed(s) != BORN_SAMPLER_SEED_RANDOM);
    born_sampler_free(s);
    born_sampler_free(NULL);
}

TEST(sampling_rejects_bad_params) {
    born_sampler_params p;
#define BAD(field_set, needle)                                                                    \
    do {                                                                                          \
        p = neutral();                                                                            \
        field_set;                                                                                \
        CHECK(born_sampler_new(&p, 100) == NULL);                                                 \
        CHECK_ERROR(BORN_ERR_ARGUMENT, needle);                                                   \
    } while (0)
    BAD(p.temperature = NAN, "temperature");
    BAD(p.temperature = INFINITY, "temperature");
    BAD(p.top_k = -1, "top_k is -1");
    BAD(p.top_p = 1.5f, "top_p is 1.5");
    BAD(p.top_p = -0.1f, "top_p");
    BAD(p.min_p = NAN, "min_p");
    BAD(p.typical_p = 2.0f, "typical_p");
    BAD(p.repeat_penalty = 0.0f, "repeat_penalty");
    BAD(p.repeat_penalty = NAN, "repeat_penalty");
    BAD(p.frequency_penalty = NAN, "frequency_penalty");
    BAD(p.presence_penalty = INFINITY, "presence_penalty");
    BAD(p.penalty_last_n = -2, "penalty_last_n is -2");
    born_logit_bias out_of_range = {100, 1.0f}, nan_bias = {3, NAN}, pos_inf = {3, INFINITY};
    BAD((p.logit_bias = &out_of_range, p.n_logit_bias = 1), "names token 100");
    BAD((p.logit_bias = &nan_bias, p.n_logit_bias = 1), "logit_bias[0] (token 3)");
    BAD((p.logit_bias = &pos_inf, p.n_logit_bias = 1), "finite or -inf");
    BAD((p.logit_bias = NULL, p.n_logit_bias = 2), "n_logit_bias is 2");
#undef BAD
    p = neutral();
    CHECK(born_sampler_new(&p, 0) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "n_vocab is 0");
}

TEST(sampling_rejects_bad_logits) {
    born_sampler_params p = neutral();
    born_sampler *s = born_sampler_new(&p, 4);
    float nan_logits[4] = {0, 1, NAN, 2};
    CHECK_EQ_INT(born_sampler_sample(s, nan_logits), -1);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "logit of token 2 is nan");
    float inf_logits[4] = {0, INFINITY, 1, 2};
    CHECK_EQ_INT(born_sampler_sample(s, inf_logits), -1);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "logit of token 1 is inf");
    float banned[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
    CHECK_EQ_INT(born_sampler_sample(s, banned), -1);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "every token is banned");
    CHECK_EQ_INT(born_sampler_sample(s, NULL), -1);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "logits is NULL");
    CHECK_EQ_INT(born_sampler_sample(NULL, inf_logits), -1);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "sampler is NULL");
    born_sampler_accept(s, 4);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "token 4 is outside [0, 4)");
    /* -inf logits that are not all of them are fine and never drawn */
    float some[4] = {-INFINITY, 0.0f, -INFINITY, 0.0f};
    for (int i = 0; i < 50; i++) {
        int32_t t = born_sampler_sample(s, some);
        CHECK(t == 1 || t == 3);
    }
    born_sampler_free(s);
}

TEST(sampling_greedy_and_bias) {
    born_sampler_params p = neutral();
    p.temperature = 0.0f;
    float logits[6] = {0.5f, 3.0f, -2.0f, 3.0f, 1.0f, 2.9f};
    float copy[6];
    memcpy(copy, logits, sizeof copy);
    born_sampler *s = born_sampler_new(&p, 6);
    CHECK_EQ_INT(born_sampler_sample(s, logits), 1); /* the first largest */
    CHECK(memcmp(copy, logits, sizeof copy) == 0);   /* logits unchanged */
    const born_token_prob *c = NULL;
    CHECK_EQ_INT(born_sampler_candidates(s, logits, &c), 1);
    CHECK_EQ_INT(c[0].token, 1);
    CHECK_NEAR(c[0].p, 1.0, 0);
    born_sampler_free(s);

    p.temperature = -1.0f; /* negative is greedy too */
    born_logit_bias bias[3] = {{1, -INFINITY}, {3, -0.5f}, {3, 0.1f}}; /* biases add up */
    p.logit_bias = bias;
    p.n_logit_bias = 3;
    s = born_sampler_new(&p, 6);
    bias[0].token = 0; /* the sampler copied the array */
    CHECK_EQ_INT(born_sampler_sample(s, logits), 5);
    p.temperature = 1.0f;
    born_sampler_free(s);
    bias[0].token = 1;
    s = born_sampler_new(&p, 6);
    int32_t n = born_sampler_candidates(s, logits, &c);
    CHECK_EQ_INT(n, 6);
    for (int32_t i = 0; i < n; i++) {
        if (c[i].token == 1) CHECK(c[i].logit == -INFINITY && c[i].p == 0.0f);
        if (c[i].token == 3) CHECK_NEAR(c[i].logit, 2.6, 1e-6);
    }
    for (int i = 0; i < 100; i++) CHECK(born_sampler_sample(s, logits) != 1);
    born_sampler_free(s);
}

/* The candidate of token t in c[0..n), or NULL. */
static const born_token_prob *find(const born_token_prob *c, int32_t n, int32_t t) {
    for (int32_t i = 0; i < n; i++)
        if (c[i].token == t) return &c[i];
    return NULL;
}

TEST(sampling_penalties_by_hand) {
    born_sampler_params p = neutral();
    p.repeat_penalty = 1.5f;
    p.frequency_penalty = 0.1f;
    p.presence_penalty = 0.2f;
    p.penalty_last_n = 3;
    float logits[5] = {2.0f, -1.0f, 0.5f, 3.0f, 0.0f};
    born_sampler *s = born_sampler_new(&p, 5);
    int32_t history[4] = {3, 0, 0, 1}; /* the window of 3 holds 0, 0, 1 */
    for (int i = 0; i < 4; i++) born_sampler_accept(s, history[i]);
    const born_token_prob *c = NULL;
    int32_t n = born_sampler_candidates(s, logits, &c);
    CHECK_EQ_INT(n, 5);
    CHECK_NEAR(find(c, n, 0)->logit, 2.0 / 1.5 - 2 * 0.1 - 0.2, 1e-6);  /* positive: divided */
    CHECK_NEAR(find(c, n, 1)->logit, -1.0 * 1.5 - 0.1 - 0.2, 1e-6);     /* negative: multiplied */
    CHECK_NEAR(find(c, n, 2)->logit, 0.5, 0);
    CHECK_NEAR(find(c, n, 3)->logit, 3.0, 0); /* left the window */
    CHECK_NEAR(find(c, n, 4)->logit, 0.0, 0);

    born_sampler_reset(s); /* forgets the history */
    n = born_sampler_candidates(s, logits, &c);
    CHECK_NEAR(find(c, n, 0)->logit, 2.0, 0);
    born_sampler_free(s);

    p.penalty_last_n = -1; /* every token since reset */
    s = born_sampler_new(&p, 5);
    for (int i = 0; i < 4; i++) born_sampler_accept(s, history[i]);
    n = born_sampler_candidates(s, logits, &c);
    CHECK_NEAR(find(c, n, 3)->logit, 3.0 / 1.5 - 0.1 - 0.2, 1e-6);
    born_sampler_free(s);

    p.penalty_last_n = 0; /* off */
    s = born_sampler_new(&p, 5);
    for (int i = 0; i < 4; i++) born_sampler_accept(s, history[i]);
    n = born_sampler_candidates(s, logits, &c);
    CHECK_NEAR(find(c, n, 0)->logit, 2.0, 0);
    born_sampler_free(s);
}

/* top-k and top-p on 150k tokens against a full sort of the logits. */
TEST(sampling_large_vocab_partial_sorts) {
    const int32_t n_vocab = 151936;
    float *logits = random_logits(n_vocab, 8.0f, 0x1234567);
    float *sorted = malloc((size_t)n_vocab * sizeof *sorted);
    memcpy(sorted, logits, (size_t)n_vocab * sizeof *sorted);
    qsort(sorted, (size_t)n_vocab, sizeof *sorted, cmp_float_desc);

    born_sampler_params p = neutral();
    p.top_k = 40;
    born_sampler *s = born_sampler_new(&p, n_vocab);
    const born_token_prob *c = NULL;
    int32_t n = born_sampler_candidates(s, logits, &c);
    CHECK_EQ_INT(n, 40);
    for (int32_t i = 0; i < n && i < 40; i++) {
        CHECK(c[i].logit == sorted[i]);
        CHECK(logits[c[i].token] == c[i].logit);
    }
    born_sampler_free(s);

    /* top-p without top-k: the smallest prefix (by a full sort, in double) reaching 0.9 */
    p = neutral();
    p.top_p = 0.9f;
    s = born_sampler_new(&p, n_vocab);
    n = born_sampler_candidates(s, logits, &c);
    /* in double, the mass before the last kept token is below 0.9 and the mass with it reaches
     * 0.9, both up to the float rounding of a 150k-term sum (llama.cpp sums in float too) */
    double total = 0.0, before_last = 0.0;
    for (int32_t i = 0; i < n_vocab; i++) total += exp((double)sorted[i] - sorted[0]);
    for (int32_t i = 0; i + 1 < n; i++) before_last += exp((double)sorted[i] - sorted[0]) / total;
    double with_last = before_last + exp((double)sorted[n - 1] - sorted[0]) / total;
    CHECK_MSG(before_last < 0.9 + 5e-4 && with_last >= 0.9 - 5e-4, "mass %.7f .. %.7f", before_last,
              with_last);
    CHECK(n > 1000);            /* scale 8 over 150k tokens: a wide nucleus, many chunks sorted */
    for (int32_t i = 0; i < n; i++) CHECK(c[i].logit == sorted[i]);
    double psum = 0.0;
    for (int32_t i = 0; i < n; i++) psum += c[i].p;
    CHECK_NEAR(psum, 1.0, 1e-4);
    born_sampler_free(s);
    free(sorted);
    free(logits);
}

TEST(sampling_deterministic_for_a_seed) {
    const int32_t n_vocab = 1000;
    float *logits = random_logits(n_vocab, 3.0f, 0x7654321);
    born_sampler_params p = born_sampler_default_params();
    p.seed = 1234;
    p.top_k = 0;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.1f;
    born_sampler *a = born_sampler_new(&p, n_vocab), *b = born_sampler_new(&p, n_vocab);
    p.seed = 1235;
    born_sampler *other = born_sampler_new(&p, n_vocab);
    int32_t first[200];
    int differ = 0;
    for (int i = 0; i < 200; i++) {
        int32_t ta = born_sampler_sample(a, logits), tb = born_sampler_sample(b, logits);
        int32_t to = born_sampler_sample(other, logits);
        CHECK(ta >= 0 && ta < n_vocab);
        CHECK_EQ_INT(ta, tb);
        differ += ta != to;
        first[i] = ta;
        born_sampler_accept(a, ta);
        born_sampler_accept(b, tb);
        born_sampler_accept(other, to);
    }
    CHECK(differ > 100);
    born_sampler_reset(a); /* the same draws again */
    for (int i = 0; i < 200; i++) {
        int32_t t = born_sampler_sample(a, logits);
        CHECK_EQ_INT(t, first[i]);
        born_sampler_accept(a, t);
    }
    /* Philox makes these the first tokens of seed 1234 on every machine (and a change to the
     * draw shows here) */
    const int32_t pinned[5] = {646, 956, 551, 17, 275};
    for (int i = 0; i < 5; i++) CHECK_EQ_INT(first[i], pinned[i]);
    born_sampler_free(a);
    born_sampler_free(b);
    born_sampler_free(other);
    free(logits);
}

/* 40000 draws from 8 tokens (temperature 0.7, top-k 6): chi-square with 5 degrees of freedom
 * against the candidates' probabilities. The seed is fixed, so the statistic is one number. */
TEST(sampling_draws_follow_the_probabilities) {
    float logits[8] = {1.0f, 0.2f, -0.5f, 2.0f, 0.0f, 1.5f, -3.0f, -1.0f};
    born_sampler_params p = neutral();
    p.seed = 7;
    p.temperature = 0.7f;
    p.top_k = 6;
    born_sampler *s = born_sampler_new(&p, 8);
    const born_token_prob *c = NULL;
    int32_t n = born_sampler_candidates(s, logits, &c);
    CHECK_EQ_INT(n, 6);
    double prob[8] = {0};
    for (int32_t i = 0; i < n; i++) prob[c[i].token] = c[i].p;
    CHECK(prob[6] == 0.0 && prob[7] == 0.0);
    const int draws = 40000;
    int count[8] = {0};
    for (int i = 0; i < draws; i++) {
        int32_t t = born_sampler_sample(s, logits);
        CHECK(t >= 0 && t < 8);
        if (t >= 0 && t < 8) count[t]++;
    }
    CHECK_EQ_INT(count[6] + count[7], 0);
    double chi2 = 0.0;
    for (int t = 0; t < 8; t++) {
        if (prob[t] == 0.0) continue;
        double e = prob[t] * draws;
        chi2 += (count[t] - e) * (count[t] - e) / e;
    }
    CHECK_MSG(chi2 < 20.52, "chi-square %g over 5 degrees of freedom (p < 0.001 above 20.52)", chi2);
    born_sampler_free(s);
}
