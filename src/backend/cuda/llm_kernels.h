/* Internal to the CUDA plugin: the kernels of one decoded token of a LLaMA-family model
 * (llm_kernels.cu; attention in llm_attention.cu), callable from C (llm_decode.c). Every
 * activation is f32 in device memory; the token and its position are read from device memory (step[0], step[1]) so that one captured
 * CUDA graph serves every position. Launchers queue work on the stream and return the launch's
 * error (cudaErrorNotSupported for a format they do not know). */
#ifndef BORN_CUDA_LLM_KERNELS_H
#define BORN_CUDA_LLM_KERNELS_H

#include <cuda_runtime_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A matrix on the device in an llm_dev_fmt (src/backend/llm_device.h). */
typedef struct cu_llm_mat {
    int fmt;
    int64_t rows, cols;
    const void *q;      /* rows (float formats) or levels */
    const void *s;      /* the (a, b) float pairs of a group-affine format, else NULL */
    size_t q_row_bytes; /* bytes of a row of q */
} cu_llm_mat;

/* What a matrix-vector product does with its input and its results. */
enum {
    CU_MV_STORE = 0, /* out[r] = w[r] . x (+ bias[r]) */
    CU_MV_ADD,       /* out[r] += w[r] . x (+ bias[r]): the residual add */
    CU_MV_SWIGLU,    /* out[r] = silu(w[r] . x) * (w2[r] . x) */
    CU_MV_QKV
}; /* rows of [Wq; Wk; Wv] from row0 on: RoPE, then q out or the KV cache */
enum {
    CU_IN_PLAIN = 0, /* the input x as it is */
    CU_IN_NORM,      /* rms_norm(x) * norm_w */
    CU_IN_SWIGLU
}; /* silu(x) * x2 */

typedef struct cu_llm_mv {
    cu_llm_mat w, w2;
    int mode, in_mode;
    const float *x, *x2, *norm_w;
    float eps;
    const float *bias; /* indexed by row0 + the row, or NULL */
    float *out;
    /* CU_MV_QKV */
    int row0, n_q, n_kv; /* this matrix's first row in [Wq; Wk; Wv]; rows of Wq, of Wk (= Wv) */
    int head_dim, n_rot, neox;
    float *q;
    void *kc, *vc; /* this layer's caches, [n_head_kv][n_ctx][head_dim] */
    int n_ctx, kv_f16;
    const float *rope_cs; /* [n_ctx][n_rot / 2][cos, sin] */
    const int *step;      /* {token, pos} */
} cu_llm_mv;

cudaError_t cu_llm_matvec(cudaStream_t s, const cu_llm_mv *p);

/* Allows products with inputs of up to max_k elements (their shared memory), sizes the
 * products' grids to the current GPU (BORN_LLM_BLOCKS_PER_SM, default what fits; 0: a block per
 * four units); call before capturing. */
cudaError_t cu_llm_prepare(int64_t max_k);

/* Whether launches carry the programmatic-dependent-launch attribute (sm_90 and up unless
 * BORN_LLM_PDL=0; set by cu_llm_prepare); keep false turns it off for good. */
bool cu_llm_pdl(bool keep);

/* One token's attention over positions 0..pos of the cache: query head h reads kv head
 * h / (n_head / n_head_kv); the positions are cut into nsplit chunks of CU_LLM_ATTN_CHUNK, each
 * one block, and the last block of a head to finish combines the chunks' partial results
 * (part_o [n_head][nsplit][head_dim], part_ml [n_head][nsplit][2], count [n_head] zeroed once). */
#ifndef CU_LLM_ATTN_CHUNK
#define CU_LLM_ATTN_CHUNK 64
#endif
#define CU_LLM_ATTN_CLUSTER_MAX 16
typedef struct cu_llm_attn {
    const float *q;
    float *out;
    const void *kc, *vc;
    int n_head, n_head_kv, head_dim, n_ctx, kv_f16, nsplit;
    float scale;
    float *part_o, *part_ml;
    int *count;
    const int *step;
    int pos_early; /* read the position before waiting for the kernel before (step[1] is older) */
    int preload;   /* with pos_early: K and V rows before the position loaded before the wait */
    int cluster;   /* an f16 cache, head size 64 or 128, nsplit <= CU_LLM_ATTN_CLUSTER_MAX: a head's
                      chunks are one thread-block cluster and combine in shared memory */
} cu_llm_attn;

cudaError_t cu_llm_attention(cudaStream_t s, const cu_llm_attn *p);

/* The first largest of logits[0..n) into out[step[1]] and step[0], then step[1] += 1: the next
 * greedy step's token and position. */
cudaError_t cu_llm_argmax(cudaStream_t s, const float *logits, int64_t n, int *step, int *out);

/* For each of rows rows of logits [rows][n]: its first largest into tok[r] and out[r] (the next
 * batched greedy step's tokens, and the record of the choices). */
cudaError_t cu_llm_argmax_rows(cudaStream_t s, const float *logits, int64_t n, int rows, int *tok, int *out);

/* x[0..cols) = row step[0] of e, as f32. */
cudaError_t cu_llm_embed(cudaStream_t s, const cu_llm_mat *e, const int *step, float *x);

#ifdef __cplusplus
}
#endif
#endif
