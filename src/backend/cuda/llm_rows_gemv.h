/* Internal to the CUDA plugin: products of a batch of few rows for the batched forward
 * (llm_rows_gemv.cu, called by llm_rows.c's cu_llm_rows_product). */
#ifndef BORN_CUDA_LLM_ROWS_GEMV_H
#define BORN_CUDA_LLM_ROWS_GEMV_H

#include <cuda_runtime.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend/cuda/llm_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most rows (tokens) the path takes by default (BORN_LLM_ROWS_GEMV=n sets another, up to 8):
 * on an H200 (1B bf16, 2026-12-02) one row's pass took 1.205 ms against cuBLASLt's 1.466 and a
 * 2-token prompt 1.45 against 1.55, but from 4 rows on it is slower (4 rows 1.64 against 1.52 ms,
 * 8 rows 1.81 against 1.43), also with each chunk made floats once instead of once a row of the
 * other (4 sessions' pass 1.62-1.65 against 1.49-1.52 ms), so the conversions are not what
 * limits it; left, not measured apart: the n 16-byte shared-memory reads of staged inputs per
 * 16 bytes of weights, and every block staging all n input rows. */
enum { CU_ROWS_GEMV_MAX = 2 };

/* On GPU dev (stream s): out[j * ldo + i] = (out[j * ldo + i] +, with add) a[j] . row r0 + i of
 * w, for j < n and i < rows, a [n][w->cols] contiguous in w's input type, when the path takes
 * it: a float format,
 * 16-byte aligned rows and input, n <= CU_ROWS_GEMV_MAX (or BORN_LLM_ROWS_GEMV's n; 0 turns
 * the path off) and the n input rows within 48 KB. Returns whether it queued the product (*err its launch's
 * error); false queues nothing. */
bool cu_llm_rows_gemv(int dev, cudaStream_t s, const cu_llm_mat *w, int64_t r0, int64_t rows, const void *a,
                      int32_t n, float *out, int64_t ldo, bool add, cudaError_t *err);

#ifdef __cplusplus
}
#endif

#endif
