/* Internal: the contract between the inference engine (src/llm/) and a device plugin's LLM
 * decoder (src/backend/cuda/llm_*.c, llm_kernels.cu). libborn describes a LLaMA-family model
 * (hyperparameters, each matrix's device format and shape), uploads its tensors one at a time
 * (quantized ones repacked by src/llm/model/device_upload.c into the group-affine formats
 * below), then runs a session's tokens through the device, one at a time or a prompt's as batches,
 * or several sessions' tokens in one batch: the KV cache and every activation stay on the device,
 * and only the logits come back. */
#ifndef BORN_BACKEND_LLM_DEVICE_H
#define BORN_BACKEND_LLM_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "born/core.h"

/* How a matrix [rows, cols] is stored on the device. The float formats are GGUF's rows as they
 * are. The group-affine formats hold integer levels q and, per group of G consecutive elements of
 * a row, a float pair (a, b): element = a * q + b. Levels are int8 (one byte, in row order) or
 * unsigned 4-bit (two a byte, element 2j in the low nibble of byte j); the pairs of a row follow
 * each other, rows after rows. Every GGUF type Born decodes on the device maps onto one:
 *   Q8_0 -> I8G32 (d, 0); Q5_0 -> I8G32 (q - 16, (d, 0)); Q5_1 -> I8G32 (d, m);
 *   Q5_K -> I8G32 (d sc, -dmin m); Q6_K -> I8G16 (q - 32, (d sc, 0));
 *   Q4_0 -> U4G32 (d, -8 d); Q4_1 -> U4G32 (d, m); Q4_K -> U4G32 (d sc, -dmin m). */
typedef enum llm_dev_fmt {
    LLM_DEV_NONE = 0, /* absent */
    LLM_DEV_F32,
    LLM_DEV_F16,
    LLM_DEV_BF16,
    LLM_DEV_I8G32,
    LLM_DEV_I8G16,
    LLM_DEV_U4G32
} llm_dev_fmt;

typedef struct llm_dev_matrix {
    llm_dev_fmt fmt;
    int64_t rows, cols; /* vectors (norm weights, biases; always f32): rows 1 */
} llm_dev_matrix;

/* The tensors of one layer, in upload slot order. */
typedef enum llm_dev_slot {
    LLM_DEV_ATTN_NORM = 0,
    LLM_DEV_WQ,
    LLM_DEV_WK,
    LLM_DEV_WV,
    LLM_DEV_BQ,
    LLM_DEV_BK,
    LLM_DEV_BV,
    LLM_DEV_WO,
    LLM_DEV_BO,
    LLM_DEV_FFN_NORM,
    LLM_DEV_GATE,
    LLM_DEV_UP,
    LLM_DEV_DOWN,
    LLM_DEV_LAYER_SLOTS,
    /* the model's own, uploaded with layer -1 */
    LLM_DEV_TOK_EMBD = LLM_DEV_LAYER_SLOTS,
    LLM_DEV_OUT_NORM,
    LLM_DEV_OUTPUT, /* absent when tied: the output product reads token_embd */
    LLM_DEV_SLOTS
} llm_dev_slot;

typedef struct llm_dev_config {
    int32_t n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_rot;
    float rms_eps;
    bool rope_neox;
    llm_dev_matrix model[LLM_DEV_SLOTS - LLM_DEV_LAYER_SLOTS]; /* tok_embd, out_norm, output */
    const llm_dev_matrix *layers; /* [n_layer][LLM_DEV_LAYER_SLOTS]; fmt NONE where absent */
} llm_dev_config;

/* The most tokens (rows) and sessions one llm_device_ops.eval_batch call takes. */
enum { LLM_DEV_BATCH_ROWS = 512, LLM_DEV_BATCH_SESSIONS = 64 };

typedef struct llm_device_ops {
    /* Checks that the device can run cfg (formats, shapes: BORN_ERR_UNSUPPORTED naming what it
     * cannot) and allocates its weights on device `device`; an owned handle, or NULL with the
     * error recorded. */
    void *(*model_new)(int device, const llm_dev_config *cfg);
    /* Copies one tensor to the device (layer -1 for the model's own slots): q holds the rows
     * (float formats) or the levels, scales the (a, b) pairs of a group-affine format (else
     * NULL). Returns when the host buffers may be reused. */
    born_status (*model_upload)(void *model, int32_t layer, llm_dev_slot slot, const void *q,
                                const void *scales);
    void (*model_free)(void *model);
    /* A session of n_ctx positions with a kv_type (f16 or f32) KV cache on the device; rope_cs
     * is the RoPE table of every position (llm_rope_table's layout, n_ctx * n_rot floats),
     * copied. NULL with the error recorded. */
    void *(*session_new)(void *model, int32_t n_ctx, born_dtype kv_type, const float *rope_cs);
    void (*session_free)(void *session);
    /* Runs token at position pos (0 <= pos < n_ctx) and, when logits is not NULL, copies the
     * n_vocab logits there (waiting for the device). With graph, the step is replayed from a
     * CUDA graph captured at the first call (one for steps with logits, one without). */
    born_status (*decode)(void *session, int32_t token, int32_t pos, float *logits, bool graph);
    /* Greedy decoding without the host in the loop: runs token at pos, then n - 1 more steps,
     * each on the first largest logit of the step before, chosen on the device (one captured
     * graph replayed n times, the token and position advanced inside it); out[i] receives the
     * choice after step i (n of them; the last is not run). Waits for the device. */
    born_status (*decode_greedy)(void *session, int32_t token, int32_t pos, int32_t n,
                                 int32_t *out);
    /* Runs tokens[0..n) at positions pos..pos + n - 1 (pos + n <= n_ctx) as batches (matrix
     * products over all the batch's tokens, its queries attending to the cache together), their
     * K and V written into the cache as the decode step writes them; when logits is not NULL,
     * copies there the last token's n_vocab logits or, with all_logits, every token's (n rows),
     * waiting for the device. NULL when the device runs prompts token by token only. */
    born_status (*prefill)(void *session, const int32_t *tokens, int32_t n, int32_t pos,
                           float *logits, bool all_logits);
    /* Runs several sessions of one model in one forward pass: session i's tokens[i][0..n[i]) at
     * positions pos[i].. (pos[i] + n[i] <= its n_ctx), every product over all the sessions' rows
     * at once, each row's K and V written into its own session's cache and its query attending to
     * that cache; when logits[i] is not NULL, copies there session i's last token's n_vocab
     * logits (waiting for the device). The sessions are distinct and share one KV cache type;
     * count <= LLM_DEV_BATCH_SESSIONS and the n[i] sum to at most LLM_DEV_BATCH_ROWS
     * (BORN_ERR_ARGUMENT otherwise). */
    born_status (*eval_batch)(void *const *sessions, const int32_t *const *tokens, const int32_t *n,
                              const int32_t *pos, int32_t count, float *const *logits);
    /* Greedy decoding of several sessions in batched passes (eval_batch's, one token a session
     * a pass) without the host in the loop: session i runs tokens[i] at pos[i], then n - 1 more
     * steps, each on the first largest logit of its step before, chosen on the device; out[i * n
     * + t] receives session i's choice after step t. The sessions as for eval_batch, each with
     * room for n tokens. Waits for the device once. NULL where the device has none. */
    born_status (*decode_greedy_batch)(void *const *sessions, const int32_t *tokens, const int32_t *pos,
                                       int32_t count, int32_t n, int32_t *out);
} llm_device_ops;

/* The decoder of device (NULL with BORN_ERR_DEVICE recorded, quoting why, when its backend is
 * not available or has none). */
const llm_device_ops *backend_llm_ops(born_device device);

#endif
