/* Internal: what a loaded model and a session are made of, shared by the model loader
 * (src/llm/model/), the architectures (one file each), the session (src/llm/session/) and
 * generation (src/llm/generate/).
 *
 * Weights are zero-copy tensors over the mmapped GGUF file, in their stored dtype. An
 * architecture registers a load function (hyperparameters from metadata, tensors checked by name,
 * dtype and shape) and a forward function (a batch of tokens at a position -> the KV cache and,
 * optionally, logits). */
#ifndef BORN_LLM_MODEL_INTERNAL_H
#define BORN_LLM_MODEL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/llm_device.h"
#include "born/llm.h"

/* A weight matrix [rows, cols] (row-major, rows whole) or vector [cols] (rows = 1). */
typedef struct llm_weight {
    born_tensor *t; /* owned reference; NULL when absent */
    const void *data;
    born_dtype dtype;
    int64_t rows, cols;
    size_t row_bytes;
} llm_weight;

typedef struct llm_layer {
    llm_weight attn_norm, wq, wk, wv, wo, bq, bk, bv, bo;
    llm_weight ffn_norm, w_gate, w_up, w_down;
} llm_layer;

typedef enum llm_rope_type { LLM_ROPE_NORM = 0, LLM_ROPE_NEOX = 2 } llm_rope_type;

typedef struct llm_hparams {
    int32_t n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff;
    int32_t n_rot;          /* rotated dims of a head (rope.dimension_count) */
    float rms_eps;
    llm_rope_type rope_type;
    float rope_freq_base;
    float rope_freq_scale; /* 1 / scaling factor (linear and yarn) */
    float yarn_ext_factor; /* 0 unless yarn */
    float yarn_attn_factor;
    float yarn_beta_fast, yarn_beta_slow;
    int32_t n_ctx_orig;     /* rope.scaling.original_context_length or n_ctx_train */
} llm_hparams;

typedef struct born_session born_session;

/* One session's part of a forward pass over several sessions' rows (llm_arch.forward_rows):
 * tokens[0..n) at positions pos..pos+n-1 of session s, and logits rows for the tokens from
 * first_logit on written to logits (none when logits is NULL or first_logit >= n). */
typedef struct llm_segment {
    born_session *s;
    const int32_t *tokens;
    int32_t n, pos, first_logit;
    float *logits;
} llm_segment;

/* One architecture: its GGUF name, how to read its tensors, how to run a batch. */
typedef struct llm_arch {
    const char *name;
    llm_rope_type rope_type;
    born_status (*load)(born_model *m);
    /* Runs tokens[0..n) (n <= the session's n_batch) at positions pos..pos+n-1, filling the KV
     * cache; writes logits rows for the tokens from first_logit on (n - first_logit rows) to
     * logits, or none when logits is NULL. */
    born_status (*forward)(born_session *s, const int32_t *tokens, int32_t n, int32_t pos,
                           float *logits, int32_t first_logit);
    /* Runs count segments of distinct sessions of one model as one pass, their rows laid end to
     * end in scratch's buffers (scratch, one of the model's sessions, holds at most its n_batch
     * rows in all): each segment's K/V go to its own session's cache and its rows attend to that
     * cache, while the weight products take all rows at once. Every segment gets the bits that
     * forward gives it alone, and no session's position changes. */
    born_status (*forward_rows)(born_session *scratch, const llm_segment *segs, int32_t count);
} llm_arch;

struct born_model {
    born_file *file;
    const llm_arch *arch;
    char *arch_name;
    char *chat_template;
    born_tokenizer *tok;
    llm_hparams hp;
    llm_weight tok_embd, out_norm, output; /* output == tok_embd's data when tied */
    llm_weight rope_freqs;                 /* [n_rot / 2] f32, or absent */
    llm_layer *layers;
    uint64_t n_params, size_bytes;
    born_device device;            /* where the weights were uploaded (the CPU: nowhere) */
    const llm_device_ops *dev_ops; /* its decoder, and the model there, or NULL on the CPU */
    void *dev_model;
};

struct born_session {
    born_model *model;
    int32_t n_ctx, n_batch, pos;
    born_dtype kv_type;
    int32_t *tokens;  /* [n_ctx]: the tokens in the cache, pos of them valid */
    int32_t pending;  /* a token born_generate sampled but did not evaluate, or -1 */
    size_t kv_elt;    /* bytes per cached element */
    void *k_cache;    /* [n_layer][n_head_kv][n_ctx][head_dim] */
    void *v_cache;
    /* scratch for n_batch tokens */
    float *x, *xn, *q, *k, *v, *att, *gate, *up, *rope_cs;
    void *xq; /* one input row quantized for llm_linear_group */
    size_t xq_bytes;
    float *fpack; /* a batch packed for the f16 / f32 weight products (linear_float.c), or NULL */
    size_t fpack_floats;
    int8_t decode_team; /* llm_decode_llama: 0 not yet checked, 1 usable, -1 not */
    void *decode_steps;      /* llm_decode_llama's per-step chunk ranges, or NULL until the first token */
    int decode_owners;       /* ... cut for this many threads */
    int32_t *decode_nch;     /* ... and chunks per step, or NULL */
    void *dev_session;       /* the session on the model's device, or NULL on the CPU */
    bool dev_graph;          /* decode steps replay CUDA graphs (default; tests turn it off) */
    int32_t greedy_ahead;    /* most tokens greedy born_generate chooses ahead (<= 1: one at a
                              * time, logits to the host); 32 on a device, 1 on the CPU */
    int32_t dev_prefill_min; /* prompts of this many tokens run batched on the device (0: never) */
};

/* The size of born_generate's buffer of tokens chosen ahead on a device. */
enum { LLM_GREEDY_AHEAD_MAX = 64 };

/* Uploads m's weights to m->device (device_upload.c): the float formats as stored, the
 * block-quantized ones repacked into llm_device.h's group-affine formats. Errors: the device's
 * (BORN_ERR_DEVICE when it is not available), BORN_ERR_UNSUPPORTED for a tensor type or shape
 * the device decoder does not take (naming it). */
born_status llm_device_upload(born_model *m);

/* The group-affine form of quantized matrix w (llm_device.h): *fmt, the levels *q and the (a, b)
 * pairs *s (malloc'd; free both). BORN_ERR_UNSUPPORTED for a type the device does not take. */
born_status llm_device_repack(const llm_weight *w, llm_dev_fmt *fmt, void **q, float **s);

/* Runs tokens[0..n) at s->pos on the model's device (src/llm/session/device_eval.c): as
 * batches when n is at least s->dev_prefill_min (and that is not 0), else one token a step;
 * logits as born_session_eval's. */
born_status llm_device_eval(born_session *s, const int32_t *tokens, int32_t n, float *logits,
                            bool all_logits);

/* Checks session i of a batch (what names the call in the error): not NULL, of session 0's
 * model, tokens not NULL with its first `given` ids in the vocabulary, and room for n >= 1 tokens
 * at its position. */
born_status llm_batch_check_session(born_session *const *sessions, const int32_t *tokens,
                                   int32_t given, int32_t n, int32_t i, const char *what);

/* BORN_ERR_ARGUMENT naming the later index when a session appears twice in sessions[0..count). */
born_status llm_batch_check_distinct(born_session *const *sessions, int32_t count,
                                     const char *what);

/* Greedy decoding of count distinct sessions of one device model in groups of the device's
 * passes (device_eval.c; the arguments as born_session_decode_greedy_batch's, validated): NULL
 * ops->decode_greedy_batch or a failure leaves positions to the caller. */
born_status llm_device_decode_greedy_batch(born_session *const *ss, const int32_t *tokens,
                                           int32_t n, int32_t count, int32_t *out);

/* Runs count distinct sessions of one device model together (device_eval.c; the arguments as
 * born_session_eval_batch's, already validated): in passes of llm_device_ops.eval_batch, each
 * within its limits and of one KV cache type, a session's tokens split over passes when they do
 * not fit one. Leaves the sessions' positions and tokens to the caller. */
born_status llm_device_eval_batch(born_session *const *ss, const int32_t *const *tokens,
                                  const int32_t *n, int32_t count, float *const *logits);

/* Runs count distinct sessions of one CPU model together (cpu_eval_batch.c; the arguments as
 * born_session_eval_batch's, already validated) through llm_arch.forward_rows, in passes of at
 * most the largest n_batch among them, each session's tokens cut into the chunks
 * born_session_eval would run. Leaves the sessions' positions and tokens to the caller. */
born_status llm_cpu_eval_batch(born_session *const *ss, const int32_t *const *tokens,
                               const int32_t *n, int32_t count, float *const *logits);

/* The shortest prompt a device session of m runs as batches: BORN_LLM_PREFILL when set (0:
 * never), else the default for m's weight types (device_eval.c says why). */
int32_t llm_device_prefill_min(const born_model *m);

/* Whether a device session's steps replay captured CUDA graphs (true by default) or launch
 * their kernels one by one (for comparisons); no effect on the CPU. */
void llm_session_set_graph(born_session *s, bool on);

/* How many tokens greedy born_generate may choose ahead through born_session_decode_greedy
 * (clamped to [1, LLM_GREEDY_AHEAD_MAX]; 1 turns it off). Device sessions start at 32, CPU ones at
 * 1 (there running ahead saves nothing; tests turn it on to check the rollbacks). */
void llm_session_set_greedy_ahead(born_session *s, int32_t n);

/* The shortest prompt a device session runs as batches (0: token by token always; for
 * comparisons and benchmarks); no effect on the CPU. */
void llm_session_set_prefill_min(born_session *s, int32_t n);

/* A trace of the forward pass for comparing intermediates with another implementation (set by
 * debugging tools only; NULL otherwise, when tracing costs one test per point): called with each
 * named intermediate as rows x cols f32, row-major, and its layer (-1 outside the layers). Names
 * follow llama.cpp's graph (attn_norm, Qcur, Kcur, Vcur, kqv_out, attn_out, ffn_inp, ...). */
typedef void (*llm_trace_fn)(const char *name, int32_t layer, const float *x, int64_t rows,
                             int64_t cols);
extern llm_trace_fn llm_trace_hook;
#define LLM_TRACE(name, layer, x, rows, cols)                                                    \
    do {                                                                                          \
        if (llm_trace_hook) llm_trace_hook(name, layer, x, rows, cols);                           \
    } while (0)

/* The architecture registered under name, or NULL. */
const llm_arch *llm_arch_find(const char *name);

/* Registered architectures (llama.c). */
extern const llm_arch llm_arch_llama, llm_arch_mistral, llm_arch_qwen2;

/* Metadata helpers for loaders: "<arch>.<suffix>" read into *out; `required` false leaves *out
 * as it is when the key is absent. Errors name the key. */
born_status llm_kv_i32(const born_model *m, const char *suffix, bool required, int32_t *out);
born_status llm_kv_f32(const born_model *m, const char *suffix, bool required, float *out);
born_status llm_kv_str(const born_model *m, const char *suffix, const char **out);

/* Takes tensor `name` into *w, checking its shape ([rows, cols], or [cols] when rows == 0) and
 * that its dtype is usable as a matrix (f32, f16, bf16 or block-quantized with a vec_dot) or, for
 * vectors, f32. required false leaves w empty when the tensor is absent. */
born_status llm_take_weight(born_model *m, llm_weight *w, const char *name, int64_t rows,
                            int64_t cols, bool required);

/* Builds m->tok from the file's tokenizer.ggml.* keys. */
born_status llm_tokenizer_load(born_model *m);

/* ---- kernels of the forward pass (src/llm/session/kernels.c) -------------------------------- */

/* out[t, :] = x[t, :] * rsqrt(mean(x[t, :]^2) + eps) * w, for n rows of width d. */
void llm_rms_norm(float *out, const float *x, const float *w, int64_t n, int64_t d, float eps);

/* out[t, 0..w->rows) = x[t, :] . w[row, :] (+ bias) for n rows of x (width w->cols); out rows have
 * stride out_rs. Quantized weights go through the backend's linear_quant. */
born_status llm_linear(float *out, int64_t out_rs, const float *x, int64_t n, const llm_weight *w,
                       const llm_weight *bias);

/* The products of count (<= LLM_GROUP_MAX) weights with one input x (n rows of their common
 * width): outs[g] (row stride ws[g]->rows) = x ws[g]^T + bs[g] (bs or its entries may be NULL).
 * One token with quantized weights of one vec_dot type runs as a single parallel loop
 * (matvec.c); anything else is llm_linear per weight. Results are the same either way. */
#define LLM_GROUP_MAX 4
born_status llm_linear_group(born_session *s, float *const *outs, const float *x, int64_t n,
                             const llm_weight *const *ws, const llm_weight *const *bs, int count);

/* The rows segment g contributes to a pass: its n tokens, or with logit_rows its logits rows
 * (n - first_logit, none without logits). */
int32_t llm_segment_rows(const llm_segment *g, bool logit_rows);

/* llm_linear_group over the rows of n_seg segments laid end to end (llm_segment_rows each), every
 * row with the bits llm_linear_group gives it when its segment runs alone. f16, bf16 and f32 weights
 * thus take the float GEMM for segments of LLM_FLOAT_GEMM_MIN rows or more and the dot products
 * for smaller ones (one call per run of segments of one kind); other weights take one call. */
born_status llm_linear_group_rows(born_session *s, float *const *outs, const float *x,
                                  const llm_segment *segs, int32_t n_seg, bool logit_rows,
                                  const llm_weight *const *ws, const llm_weight *const *bs,
                                  int count);

/* llm_linear for count (<= LLM_GROUP_MAX) quantized weights of one dtype and input width over the
 * same x, out[i] rows ws[i]->rows apart: x quantized once, all their tasks in one parallel loop
 * (the bits of one llm_linear per weight). */
born_status llm_linear_quant_group(float *const *outs, const float *x, int64_t n, const llm_weight *const *ws,
                                   const llm_weight *const *bs, int count);

/* out = x w^T (+ bias) for a batch of n >= LLM_FLOAT_GEMM_MIN rows of x with f16, bf16 or f32 weights,
 * through the f32 GEMM's micro-kernel with w converted panel by panel (linear_float.c); x is
 * packed into s->fpack (grown as needed). Results do not depend on the thread count. */
#define LLM_FLOAT_GEMM_MIN 4
born_status llm_linear_float_batch(born_session *s, float *out, int64_t out_rs, const float *x,
                                   int64_t n, const llm_weight *w, const llm_weight *bias);
/* llm_linear_float_batch for count (<= LLM_GROUP_MAX) weights of one input width over the same x:
 * x packed once, every weight's tasks in one parallel loop; outs[i] rows out_rs[i] apart, bs
 * (or its entries) may be NULL. */
born_status llm_linear_float_group(born_session *s, float *const *outs, const int64_t *out_rs, const float *x,
                                   int64_t n, const llm_weight *const *ws, const llm_weight *const *bs, int count);

/* out[j] = x . f16 row j of w (rows ls elements apart) for j < rows, each as one dot of llm_linear. */
void llm_dot_rows_f16(const float *x, const uint16_t *w, int64_t ls, int64_t rows, int64_t k,
                      float *out);

/* Dequantizes (converts) row id of w into out[w->cols]. */
born_status llm_get_row(float *out, const llm_weight *w, int64_t id);

/* The cos / sin table for positions pos..pos+n-1: cs[(t * n_rot/2 + i) * 2 + {0,1}]. */
void llm_rope_table(float *cs, const llm_hparams *hp, const float *freq_factors, int32_t pos,
                    int32_t n);

/* Rotates n rows of n_heads heads (head_dim apart, rows row_stride apart) by the table. */
void llm_rope_apply(float *x, int64_t n, int64_t row_stride, int32_t n_heads,
                    const llm_hparams *hp, const float *cs);

/* Attention over the KV cache of one layer: for each token t (at position pos + t) and head h,
 * softmax(q . K[0..pos+t] * scale) . V, with head h reading kv head h / (n_head / n_head_kv).
 * q and out are [n, n_head * head_dim]. Fails only when a long context's buffers cannot be
 * allocated. */
born_status llm_attention(const born_session *s, int32_t layer, const float *q, float *out,
                          int32_t n, int32_t pos);

/* llm_attention of count segments of distinct sessions (llm_arch.forward_rows) whose query and
 * output rows lie end to end in q and out, each segment over its own session's cache at its own
 * positions, as one parallel loop over all their heads: each row's bits are those of
 * llm_attention of its segment alone. Fails only when buffers cannot be allocated. */
born_status llm_attention_rows(const llm_segment *segs, int32_t count, int32_t layer,
                               const float *q, float *out);

/* llm_attention of one token (n = 1) for heads [h0, h1) only; false (recording no error, as it
 * may run on a pool thread) when a long context's buffers could not be allocated. */
bool llm_attention_heads(const born_session *s, int32_t layer, const float *q, float *out,
                         int32_t pos, int32_t h0, int32_t h1);

/* Whether llm_decode_llama can run this session's model: every layer's products are all f16 or
 * all quantized with one vec_dot type (checked once per session). */
bool llm_decode_usable(born_session *s);

/* One token at pos through a LLaMA-family model as one parallel region (decode.c), with logits
 * written when logits is not NULL: the results of the batch forward with n = 1, bit for bit. */
born_status llm_decode_llama(born_session *s, int32_t token, int32_t pos, float *logits);

/* Writes n rows of k and v ([n, n_head_kv * head_dim]) into the cache of layer at pos. */
void llm_kv_store(born_session *s, int32_t layer, const float *k, const float *v, int32_t n,
                  int32_t pos);

/* gate[i] = silu(gate[i]) * up[i] for n elements. */
void llm_swiglu(float *gate, const float *up, int64_t n);

#endif
