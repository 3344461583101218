/* Internal to the CUDA plugin: the kernels of a batched prompt (llm_batch.cu, llm_batch_attn.cu),
 * callable from C (llm_rows.c). A batch's rows are row-major, one a token. The residual stream and the products' results are f32; the inputs
 * of the products (normalized rows, attention's output, SwiGLU's) are written in the type the
 * product's weights want (an act type below). The rows are one sequence's (a prompt) or several
 * sequences' (segments, cu_llm_seg), each attending to its own KV cache. Launchers queue work on the stream and return the
 * launch's error. */
#ifndef BORN_CUDA_LLM_BATCH_H
#define BORN_CUDA_LLM_BATCH_H

#include <cuda_runtime_api.h>
#include <stdint.h>

#include "backend/cuda/llm_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The element type of a product's input rows. A conversion to f16 saturates at +-65504 so that
 * a value out of its range stays finite (NaN stays NaN). */
enum { CU_ACT_F32 = 0, CU_ACT_F16, CU_ACT_BF16 };

/* x[t][0..cols) = row tokens[t] of e as f32, for t < n (rows cols floats apart). */
cudaError_t cu_llm_rows_embed(cudaStream_t s, const cu_llm_mat *e, const int *tokens, int64_t n,
                              float *x);

/* out[t] = rms_norm(x[t]) * w (cols elements a row, f32 sums, as the decode step's) in act type
 * `act`, for t < n. */
cudaError_t cu_llm_rows_norm(cudaStream_t s, const float *x, int64_t n, int64_t cols,
                             const float *w, float eps, void *out, int act);

/* out[t][j] = silu(gu[t][j]) * gu[t][n_ff + j] in act type `act`: the gate and up products of a
 * token side by side in one row of 2 n_ff floats. */
cudaError_t cu_llm_rows_swiglu(cudaStream_t s, const float *gu, int64_t n, int64_t n_ff, void *out,
                               int act);

/* x[t][c] += b[c] for t < n, c < cols. */
cudaError_t cu_llm_rows_bias(cudaStream_t s, float *x, int64_t n, int64_t cols, const float *b);

/* Rows r0..r0 + rows of group-affine matrix w as dense f16 rows in out (a q + b in f32, rounded
 * once, saturating as the act types do). cudaErrorNotSupported for a float format. */
cudaError_t cu_llm_dequant_f16(cudaStream_t s, const cu_llm_mat *w, int64_t r0, int64_t rows,
                               void *out);

/* One segment of a batch's rows: n consecutive rows from row0 that are tokens of one sequence at
 * positions pos..pos + n - 1, with that sequence's caches for the layer being run. A prompt is one
 * segment; several sessions evaluated together (llm_multi.c) are one segment each. */
typedef struct cu_llm_seg {
    void *kc, *vc;        /* this layer's caches, [n_head_kv][n_ctx][head_dim] */
    const float *rope_cs; /* [n_ctx][n_rot / 2][cos, sin] */
    int row0, n, pos, n_ctx;
} cu_llm_seg;

/* The segments of a kernel's launch: segs[0..nseg) on the device, or, when segs is NULL, the one
 * segment `one` (nseg 1); n_max is the most rows a segment has, kend_max the most keys a row
 * sees (attention splits the keys of few-row segments over blocks when it is known). Every
 * segment's cache is of one type (kv_f16). */
typedef struct cu_llm_segs {
    cu_llm_seg one;
    const cu_llm_seg *segs;
    int nseg, n_max, kv_f16;
    int kend_max; /* the most keys a row sees (max of pos + n), or 0 when not known */
} cu_llm_segs;

#ifdef __CUDACC__
/* Segment i of a launch (device code): segs[i], or the inline one. */
__device__ __forceinline__ cu_llm_seg cu_llm_seg_at(const cu_llm_segs &g, int i) {
    return g.segs ? g.segs[i] : g.one;
}
#endif

/* out[i] = row rows[i] of x (cols floats a row), for i < n; rows on the device. */
cudaError_t cu_llm_rows_gather(cudaStream_t s, const float *x, int64_t cols, const int *rows, int64_t n,
                               float *out);

/* The q/k/v rows of a batch after their products: each row of qkv holds q (n_q), k and v (n_kv
 * each); the biases are added, q and k rotated (RoPE at the row's position in its segment, rope_cs
 * and the rotated pairs as the decode step's), q written back in place, k and v into the segment's
 * cache. */
typedef struct cu_llm_rope_kv {
    float *qkv;        /* [rows][n_q + 2 n_kv] */
    const float *bias; /* [n_q + 2 n_kv], or NULL */
    cu_llm_segs sg;
    int n_q, n_kv, head_dim, n_rot, neox;
} cu_llm_rope_kv;

cudaError_t cu_llm_rows_rope_kv(cudaStream_t s, const cu_llm_rope_kv *p);

/* Causal attention of a batch: query head h of a segment's row t (position pos + t) over its
 * cache positions 0..pos + t of kv head h / (n_head / n_head_kv), softmax(q k * scale) v in f32,
 * written to out[row0 + t][h * head_dim ..] in act type out_act. head_dim: a multiple of 4 up to
 * 256. */
typedef struct cu_llm_battn {
    const float *q; /* row r's heads at q + r * q_stride */
    int64_t q_stride;
    void *out;      /* [rows][n_head * head_dim] */
    int out_act;
    cu_llm_segs sg;
    int n_head, n_head_kv, head_dim;
    float scale;
} cu_llm_battn;

cudaError_t cu_llm_batch_attention(cudaStream_t s, const cu_llm_battn *p);

#ifdef __cplusplus
}
#endif
#endif
