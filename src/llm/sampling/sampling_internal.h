/* Internal: the stages of the sampler chain, each doing what llama.cpp's sampler of the same name
 * does to a llama_token_data_array. They work on a candidate list that knows whether it is sorted
 * by descending logit; ties are broken by the smaller token id, so every order is deterministic. */
#ifndef BORN_LLM_SAMPLING_INTERNAL_H
#define BORN_LLM_SAMPLING_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "born/llm.h"

typedef struct sampler_cands {
    born_token_prob *v;
    int32_t n;
    bool sorted; /* v[0..n) by descending logit */
} sampler_cands;

/* Orders v[lo..hi) so that v[lo..k) holds its best k - lo candidates, sorted (descending logit,
 * then ascending token), and v[k..hi) the rest in no order. */
void sampler_partial_sort(born_token_prob *v, int32_t lo, int32_t k, int32_t hi);

/* Sets p to the softmax of the logits, in float, in the list's order (llama.cpp's softmax). */
void sampler_softmax(sampler_cands *c);

/* Keeps the k best candidates, sorted; k <= 0 or k >= n keeps all (and sorts nothing). */
void sampler_top_k(sampler_cands *c, int32_t k);

/* Locally typical sampling (Meister et al.): the candidates whose -log p is closest to the
 * entropy, until their mass exceeds p; they end in that order. p >= 1 keeps all. The scratch
 * arrays hold n floats, 2 * n ints and n candidates. */
void sampler_typical(sampler_cands *c, float p, float *scratch_f, int32_t *scratch_i,
                     born_token_prob *scratch_c);

/* Nucleus sampling: the smallest prefix by descending probability whose mass reaches p, sorted;
 * p >= 1 keeps all. Sorts only as much as it needs. */
void sampler_top_p(sampler_cands *c, float p);

/* Keeps the candidates whose probability is at least p times the largest, in their order;
 * p <= 0 keeps all. */
void sampler_min_p(sampler_cands *c, float p);

/* Divides every logit by t (> 0). */
void sampler_temperature(sampler_cands *c, float t);

#endif
