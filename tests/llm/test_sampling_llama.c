/* The sampler against llama.cpp's samplers (tests/fixtures/llm/sampling.json, made by
 * tools/gen_sampling_fixtures.py with llama-cpp-python): for every case, each stage alone or a
 * whole chain without the draw, born_sampler_candidates must keep the same tokens with the same
 * logits and probabilities. */
#include <stdlib.h>
#include <string.h>

#include "born/llm.h"
#include "test.h"

#define FIXTURE "tests/fixtures/llm/sampling.json"

/* A number, or the string "-inf" (JSON has no infinities). */
static float json_float(const born_json_value *v) {
    double d = 0.0;
    const char *s = NULL;
    size_t len = 0;
    if (born_json_get_double(v, &d) == BORN_OK) return (float)d;
    born_clear_error();
    if (born_json_get_string(v, &s, &len) == BORN_OK && len == 4 && memcmp(s, "-inf", 4) == 0)
        return -INFINITY;
    born_clear_error();
    return NAN;
}

static int32_t json_int(const born_json_value *v) {
    int64_t x = -1;
    if (born_json_get_int64(v, &x) != BORN_OK) born_clear_error();
    return (int32_t)x;
}

static const born_json_value *member(const born_json_value *obj, const char *key) {
    return born_json_object_get(obj, key);
}

typedef struct tok_entry {
    int32_t token;
    float logit;
    double p;
} tok_entry;

static int cmp_token(const void *a, const void *b) {
    const tok_entry *x = a, *y = b;
    return (x->token > y->token) - (x->token < y->token);
}

/* Runs one case; returns true when it matches. */
static bool run_case(const born_json_value *c, const born_json_value *vectors) {
    const char *name = "?";
    size_t name_len = 0;
    born_json_get_string(member(c, "name"), &name, &name_len);
    const char *vec_name = NULL;
    size_t vec_len = 0;
    born_json_get_string(member(c, "vector"), &vec_name, &vec_len);
    const born_json_value *vec = born_json_object_get(vectors, vec_name);
    int32_t n_vocab = (int32_t)born_json_array_length(vec);
    float *logits = malloc((size_t)n_vocab * sizeof *logits);
    for (int32_t i = 0; i < n_vocab; i++) logits[i] = json_float(born_json_array_get(vec, (size_t)i));

    born_sampler_params p = born_sampler_default_params();
    p.seed = 1;
    p.temperature = json_float(member(c, "temperature"));
    p.top_k = json_int(member(c, "top_k"));
    p.top_p = json_float(member(c, "top_p"));
    p.min_p = json_float(member(c, "min_p"));
    p.typical_p = json_float(member(c, "typical_p"));
    p.repeat_penalty = json_float(member(c, "repeat_penalty"));
    p.frequency_penalty = json_float(member(c, "frequency_penalty"));
    p.presence_penalty = json_float(member(c, "presence_penalty"));
    p.penalty_last_n = json_int(member(c, "penalty_last_n"));
    const born_json_value *jb = member(c, "logit_bias");
    born_logit_bias bias[16];
    p.n_logit_bias = (int32_t)born_json_array_length(jb);
    CHECK(p.n_logit_bias <= 16);
    for (int32_t i = 0; i < p.n_logit_bias && i < 16; i++) {
        const born_json_value *e = born_json_array_get(jb, (size_t)i);
        bias[i].token = json_int(born_json_array_get(e, 0));
        bias[i].bias = json_float(born_json_array_get(e, 1));
    }
    p.logit_bias = bias;

    bool ok = true;
    born_sampler *s = born_sampler_new(&p, n_vocab);
    if (!s) {
        test_fail(__FILE__, __LINE__, "%s: born_sampler_new: %s", name, born_last_error());
        born_clear_error();
        free(logits);
        return false;
    }
    const born_json_value *hist = member(c, "history");
    for (size_t i = 0; i < born_json_array_length(hist); i++)
        born_sampler_accept(s, json_int(born_json_array_get(hist, i)));

    const born_json_value *out = member(c, "out");
    const born_json_value *rt = member(out, "tokens"), *rl = member(out, "logits"),
                          *rp = member(out, "p");
    size_t n_ref = born_json_array_length(rt);
    tok_entry *ref = calloc(n_ref + 1, sizeof *ref);
    for (size_t i = 0; i < n_ref; i++) {
        ref[i].token = json_int(born_json_array_get(rt, i));
        ref[i].logit = json_float(born_json_array_get(rl, i));
        ref[i].p = json_float(born_json_array_get(rp, i));
    }
    const born_token_prob *cand = NULL;
    int32_t n = born_sampler_candidates(s, logits, &cand);
    if (n < 0 || (size_t)n != n_ref) {
        test_fail(__FILE__, __LINE__, "%s: %d candidates, llama.cpp keeps %zu (%s)", name, (int)n,
                  n_ref, n < 0 ? born_last_error() : "");
        born_clear_error();
        ok = false;
    } else {
        tok_entry *got = calloc(n_ref + 1, sizeof *got);
        for (int32_t i = 0; i < n; i++) got[i] = (tok_entry){cand[i].token, cand[i].logit, cand[i].p};
        qsort(ref, n_ref, sizeof *ref, cmp_token);
        qsort(got, n_ref, sizeof *got, cmp_token);
        for (size_t i = 0; i < n_ref && ok; i++) {
            bool same_logit = got[i].logit == ref[i].logit ||
                              fabsf(got[i].logit - ref[i].logit) <= 1e-6f * fabsf(ref[i].logit);
            if (got[i].token != ref[i].token || !same_logit ||
                !(fabs(got[i].p - ref[i].p) <= 1e-6 + 1e-4 * ref[i].p)) {
                test_fail(__FILE__, __LINE__,
                          "%s: candidate %zu: token %d logit %.9g p %.9g; llama.cpp: token %d "
                          "logit %.9g p %.9g", name, i, (int)got[i].token, (double)got[i].logit,
                          got[i].p, (int)ref[i].token, (double)ref[i].logit, ref[i].p);
                ok = false;
            }
        }
        free(got);
    }
    free(ref);
    born_sampler_free(s);
    free(logits);
    return ok;
}

TEST(sampling_matches_llama_cpp) {
    born_json *doc = born_json_load(FIXTURE, NULL);
    if (!doc) {
        test_fail(__FILE__, __LINE__, "%s", born_last_error());
        born_clear_error();
        return;
    }
    const born_json_value *root = born_json_root(doc);
    const born_json_value *cases = member(root, "cases"), *vectors = member(root, "vectors");
    size_t n = born_json_array_length(cases), passed = 0;
    CHECK(n >= 40);
    for (size_t i = 0; i < n; i++) passed += run_case(born_json_array_get(cases, i), vectors);
    CHECK_EQ_INT(passed, n);
    born_json_free(doc);
}
