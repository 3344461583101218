/* The filtering stages of the sampler chain, one function each, as llama.cpp's samplers
 * (src/llama-sampling.cpp) apply them with min_keep 0, the common sampler's setting. */
#include <math.h>
#include <stdlib.h>

#include "llm/sampling/sampling_internal.h"

/* a before b: larger logit first, then smaller token. Token ids are unique, so this is a total
 * order and every sort below is deterministic. */
static bool before(const born_token_prob *a, const born_token_prob *b) {
    return a->logit > b->logit || (a->logit == b->logit && a->token < b->token);
}

static int cmp_desc(const void *pa, const void *pb) {
    const born_token_prob *a = pa, *b = pb;
    if (before(a, b)) return -1;
    if (before(b, a)) return 1;
    return 0;
}

static void swap(born_token_prob *v, int32_t i, int32_t j) {
    born_token_prob t = v[i];
    v[i] = v[j];
    v[j] = t;
}

/* Quickselect (median of three, Lomuto partition): afterwards v[lo..k) are the best k - lo of
 * v[lo..hi). */
static void select_best(born_token_prob *v, int32_t lo, int32_t k, int32_t hi) {
    while (hi - lo > 1 && k > lo && k < hi) {
        int32_t mid = lo + (hi - lo) / 2, last = hi - 1;
        /* median of v[lo], v[mid], v[last] to v[last] */
        if (before(&v[mid], &v[lo])) swap(v, mid, lo);
        if (before(&v[last], &v[lo])) swap(v, last, lo);
        if (before(&v[mid], &v[last])) swap(v, mid, last);
        int32_t store = lo;
        for (int32_t i = lo; i < last; i++)
            if (before(&v[i], &v[last])) swap(v, i, store++);
        swap(v, store, last); /* the pivot is at its final rank, store */
        if (store == k || store + 1 == k) return;
        if (store > k) hi = store;
        else lo = store + 1;
    }
}

void sampler_partial_sort(born_token_prob *v, int32_t lo, int32_t k, int32_t hi) {
    if (k > hi) k = hi;
    if (k <= lo) return;
    if (k < hi) select_best(v, lo, k, hi);
    qsort(v + lo, (size_t)(k - lo), sizeof *v, cmp_desc);
}

void sampler_softmax(sampler_cands *c) {
    if (c->n == 0) return;
    float max = c->v[0].logit;
    for (int32_t i = 1; i < c->n; i++)
        if (c->v[i].logit > max) max = c->v[i].logit;
    float sum = 0.0f;
    for (int32_t i = 0; i < c->n; i++) {
        float e = c->v[i].logit == -INFINITY ? 0.0f : expf(c->v[i].logit - max);
        c->v[i].p = e;
        sum += e;
    }
    for (int32_t i = 0; i < c->n; i++) c->v[i].p /= sum;
}

void sampler_top_k(sampler_cands *c, int32_t k) {
    if (k <= 0 || k >= c->n) return; /* llama.cpp: k is clamped to the size, nothing removed */
    if (!c->sorted) sampler_partial_sort(c->v, 0, k, c->n);
    c->n = k;
    c->sorted = true;
}

/* Sorts the indices idx[0..n) by ascending key, then ascending index (merge sort into tmp). */
static void sort_by_key(int32_t *idx, int32_t *tmp, const float *key, int32_t n) {
    for (int32_t width = 1; width < n; width *= 2) {
        for (int32_t lo = 0; lo < n; lo += 2 * width) {
            int32_t mid = lo + width < n ? lo + width : n;
            int32_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            int32_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi) {
                bool take_j = key[idx[j]] < key[idx[i]];
                tmp[o++] = take_j ? idx[j++] : idx[i++];
            }
            while (i < mid) tmp[o++] = idx[i++];
            while (j < hi) tmp[o++] = idx[j++];
        }
        for (int32_t o = 0; o < n; o++) idx[o] = tmp[o];
    }
}

void sampler_typical(sampler_cands *c, float p, float *scratch_f, int32_t *scratch_i,
                     born_token_prob *scratch_c) {
    if (p >= 1.0f || c->n == 0) return;
    if (!c->sorted) sampler_partial_sort(c->v, 0, c->n, c->n);
    c->sorted = true;
    sampler_softmax(c);
    float entropy = 0.0f;
    for (int32_t i = 0; i < c->n; i++)
        if (c->v[i].p > 0.0f) entropy += -c->v[i].p * logf(c->v[i].p);
    float *shifted = scratch_f;
    int32_t *idx = scratch_i, *tmp = scratch_i + c->n;
    for (int32_t i = 0; i < c->n; i++) {
        shifted[i] = fabsf(-logf(c->v[i].p) - entropy); /* p = 0 gives +inf: last */
        idx[i] = i;
    }
    sort_by_key(idx, tmp, shifted, c->n);
    float cum = 0.0f;
    int32_t last = c->n;
    for (int32_t i = 0; i < c->n; i++) {
        cum += c->v[idx[i]].p;
        if (cum > p) {
            last = i + 1;
            break;
        }
    }
    for (int32_t i = 0; i < last; i++) scratch_c[i] = c->v[idx[i]];
    for (int32_t i = 0; i < last; i++) c->v[i] = scratch_c[i];
    c->n = last;
    c->sorted = false;
}

void sampler_top_p(sampler_cands *c, float p) {
    if (p >= 1.0f || c->n == 0) return;
    sampler_softmax(c);
    int32_t sorted_to = c->sorted ? c->n : 0; /* v[0..sorted_to) holds the best, sorted */
    float cum = 0.0f;
    int32_t last = c->n;
    for (int32_t i = 0; i < c->n; i++) {
        if (i == sorted_to) { /* sort the next chunk: 64 first, then doubling */
            int32_t want = sorted_to == 0 ? 64 : 2 * sorted_to;
            if (want > c->n || want < sorted_to) want = c->n;
            sampler_partial_sort(c->v, sorted_to, want, c->n);
            sorted_to = want;
        }
        cum += c->v[i].p;
        if (cum >= p) {
            last = i + 1;
            break;
        }
    }
    if (last > sorted_to) sampler_partial_sort(c->v, sorted_to, c->n, c->n);
    c->n = last;
    c->sorted = true;
}

void sampler_min_p(sampler_cands *c, float p) {
    if (p <= 0.0f || c->n == 0) return;
    float max = c->v[0].logit;
    for (int32_t i = 1; i < c->n; i++)
        if (c->v[i].logit > max) max = c->v[i].logit;
    const float min_logit = max + logf(p); /* p_i >= p * p_max */
    int32_t o = 0;
    for (int32_t i = 0; i < c->n; i++)
        if (c->v[i].logit >= min_logit) c->v[o++] = c->v[i];
    c->n = o; /* filtering keeps the order, so a sorted list stays sorted */
}

void sampler_temperature(sampler_cands *c, float t) {
    for (int32_t i = 0; i < c->n; i++) c->v[i].logit /= t;
}
