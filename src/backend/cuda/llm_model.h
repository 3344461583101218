/* Internal to the CUDA plugin: a model and a session of the LLM decoder as the token-by-token
 * step (llm_decode.c) and the batched prompt (llm_prefill.c) both see them. A model is its
 * weights in one device allocation (cu_llm_mat views into it); a session is its KV cache, the
 * decode step's activations and CUDA graphs, and the batched prompt's scratch once used; the
 * model also holds the scratch of batches of several sessions (llm_multi.c) once used. */
#ifndef BORN_CUDA_LLM_MODEL_H
#define BORN_CUDA_LLM_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/cuda/llm_kernels.h"
#include "backend/llm_device.h"

enum { N_MODEL_SLOTS = LLM_DEV_SLOTS - LLM_DEV_LAYER_SLOTS };

/* What the profile sums (BORN_LLM_PROFILE=1). */
enum {
    PROF_EMBED,
    PROF_QKV,
    PROF_ATTN,
    PROF_WO,
    PROF_GATE_UP,
    PROF_DOWN,
    PROF_OUTPUT,
    PROF_KINDS,
    PROF_EVENTS = 4096
};

typedef struct dlayer {
    cu_llm_mat m[LLM_DEV_LAYER_SLOTS];
    cu_llm_mat qkv;     /* [Wq; Wk; Wv] as one matrix when they share a format (else fmt 0) */
    float *bias_qkv;    /* [bq; bk; bv] (zeros where absent), or NULL without biases */
    bool gate_up_fused; /* gate and up share a format: one SwiGLU product */
} dlayer;

typedef struct dmodel {
    int dev;
    llm_dev_config cfg;
    dlayer *layers;
    cu_llm_mat m[N_MODEL_SLOTS];
    char *arena;
    int64_t max_k;
    struct cu_multi *multi; /* NULL until the first batch of several sessions */
} dmodel;

struct cu_rows;  /* a batch's scratch (llm_rows.h) */
struct cu_multi; /* the scratch of a batch of several sessions (llm_multi.c) */

typedef struct dsession {
    dmodel *m;
    int32_t n_ctx, nsplit;
    int kv_f16;
    char *kc, *vc;
    float *x, *q, *att, *h, *h2, *logits, *rope_cs, *part_o, *part_ml;
    int *count, *step;
    int *chosen;        /* [n_ctx]: greedy steps' choices, by the position they follow */
    float *logits_host; /* pinned: the logits come back at full speed, then go to the caller */
    bool poison;        /* BORN_CUDA_POISON: new buffers filled with NaN */
    /* BORN_LLM_PROFILE=1: eager steps time their kernels by kind with events (printed at free) */
    bool prof;
    int skip; /* BORN_LLM_SKIP: kinds of kernels left out (1 << PROF_*; timing only: wrong tokens) */
    bool attn_preload;   /* earlier positions' K and V loaded before attention's wait
                            (BORN_LLM_ATTN_PRELOAD=0: after it) */
    bool attn_cluster;   /* attention chunks combine in a cluster (BORN_LLM_ATTN_CLUSTER=0: global) */
    bool attn_pos_early; /* attention reads the position before its wait (BORN_LLM_ATTN_EARLY=0: after) */
    cudaEvent_t ev[PROF_EVENTS];
    int kind[PROF_EVENTS], nev, steps;
    double ms[PROF_KINDS];
    cudaGraphExec_t exec[3]; /* steps without logits, with logits, greedy (STEP_*) */
    struct cu_rows *pre;     /* the batched prompt's scratch, NULL until the first */
} dsession;

/* cudaMalloc of bytes (at least 4) into *(void **)p, filled with 0xFF (NaN) when poison, else
 * zeros; the allocation's error. */
cudaError_t cu_llm_alloc(void *p, size_t bytes, bool poison);

/* The model's output matrix: output, or token_embd when the head is tied. */
const cu_llm_mat *cu_llm_output_of(const dmodel *m);

/* The session's llm_device_ops.prefill (llm_prefill.c): tokens[0..n) at pos.. through the model
 * one batch per layer; errors recorded through the host. */
born_status cu_llm_prefill(void *session, const int32_t *tokens, int32_t n, int32_t pos,
                           float *logits, bool all_logits);

/* Frees the session's prefill scratch (nothing when it has none); called by session_free. */
void cu_llm_prefill_free(dsession *d);

/* The model's llm_device_ops.eval_batch (llm_multi.c): several sessions' tokens in one forward
 * pass; errors recorded through the host. */
born_status cu_llm_eval_batch(void *const *sessions, const int32_t *const *tokens, const int32_t *n,
                              const int32_t *pos, int32_t count, float *const *logits);

/* The model's llm_device_ops.decode_greedy_batch (llm_multi.c): n batched passes, each session's
 * next token its row's first largest logit, chosen on the device; errors recorded through the host. */
born_status cu_llm_decode_greedy_batch(void *const *sessions, const int32_t *tokens, const int32_t *pos,
                                       int32_t count, int32_t n, int32_t *out);

/* Frees the model's multi-session scratch (nothing when it has none); called by model_free. */
void cu_llm_multi_free(dmodel *m);

#endif
