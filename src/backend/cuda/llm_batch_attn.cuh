/* Internal to the CUDA plugin: what the batched attention's two kernels share
 * (llm_batch_attn.cu: the tiled kernel, the combine of splits and the launcher;
 * llm_batch_attn_few.cu: the kernel for segments of few rows). */
#ifndef BORN_CUDA_LLM_BATCH_ATTN_CUH
#define BORN_CUDA_LLM_BATCH_ATTN_CUH

#include <cuda_runtime.h>

#include "backend/cuda/llm_batch.h"

namespace cu_battn {

/* Where split blocks leave their results: row r's head h, split x at index (r n_head + h) nsplit
 * + x of ml (running maximum, sum; base-2 exponentials) and, times head_dim, of o (unnormalized). */
struct Split {
    float *o, *ml;
    int nsplit, keys; /* splits, keys a split */
};

constexpr int MAX_SPLITS = 32;  /* most splits of a segment's keys */
constexpr int FEW_ROWS_MAX = 8; /* most query rows (tokens x query heads a kv head) of the few-rows kernel */

/* Whether the few-rows kernel takes p: an f16 cache, head size 64 or 128, at most FEW_ROWS_MAX
 * rows a segment and kv head, the most keys a row sees known. */
bool few_rows_fit(const cu_llm_battn &p);

/* Keys a split for the few-rows kernel: a multiple of its chunk, enough splits for two blocks a
 * multiprocessor (sm_count of them) and at most MAX_SPLITS. */
int few_rows_keys(const cu_llm_battn &p, int sm_count);

/* Queues the few-rows kernel over sp's splits (sp.keys from few_rows_keys); the combine kernel
 * then writes the outputs. */
cudaError_t few_rows_attention(cudaStream_t s, const cu_llm_battn &p, const Split &sp);

} // namespace cu_battn

#endif
