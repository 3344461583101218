/* Internal to the CUDA plugin: the flash-attention launchers (attention.cu) and the backend
 * entries that call them (attention_ops.c). cu_attention_args mirrors backend.h's
 * born_attention_args (attention_ops.c checks the layout), which the .cu files cannot include. */
#ifndef BORN_CUDA_ATTENTION_H
#define BORN_CUDA_ATTENTION_H

#include "backend/cuda/kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cu_attention_args {
    int64_t batch, q_heads, kv_heads, q_len, kv_len, head_dim, v_dim;
    double scale;
    bool causal;
    int64_t kv_offset;
    int mask_kind;
    double dropout_p;
    uint64_t seed, rng_offset;
    int64_t block_q, block_kv;
} cu_attention_args;

/* Forward: q [B, Hq, L, E], k [B, Hkv, S, E], v [B, Hkv, S, Ev] (4-d views, any strides, one
 * dtype: f32, f64, f16 or bf16), mask [B, Hq, L, S] (any strides; bool or floating; data NULL
 * when mask_kind is 0); out contiguous in q's dtype, lse contiguous in the compute type (f64 for
 * f64, else f32). E and Ev are at most 256 (128 for f64). */
cudaError_t cu_attention(cudaStream_t s, const cu_strided *out, const cu_strided *lse,
                         const cu_strided *q, const cu_strided *k, const cu_strided *v,
                         const cu_strided *mask, const cu_attention_args *a);
/* Backward (FlashAttention-2, deterministic: one kernel writes dK and dV per key tile, summing
 * the query heads of a GQA group, another dQ per query tile; the tensor-core path differs, see
 * cu_attention_tc_backward); delta is device scratch of cu_attention_delta_bytes. dq, dk, dv,
 * grad_out and out are contiguous. */
cudaError_t cu_attention_backward(cudaStream_t s, const cu_strided *dq, const cu_strided *dk,
                                  const cu_strided *dv, const cu_strided *grad_out,
                                  const cu_strided *q, const cu_strided *k, const cu_strided *v,
                                  const cu_strided *mask, const cu_strided *out,
                                  const cu_strided *lse, void *delta, const cu_attention_args *a);
/* The tensor-core forward (attention_tc.cu): true when it serves these operands (f16/bf16, head
 * size 64 or 128 for both q.k and v, no mask, no dropout, scale > 0, 16-byte aligned rows); then
 * cu_attention_tc computes what cu_attention would, on mma.sync tiles with f32 accumulation
 * (Hopper's wgmma tiles on compute capability 9.0, attention_hopper.cu). */
bool cu_attention_tc_fits(const cu_strided *q, const cu_strided *k, const cu_strided *v,
                          const cu_attention_args *a);
cudaError_t cu_attention_tc(cudaStream_t s, const cu_strided *out, const cu_strided *lse,
                            const cu_strided *q, const cu_strided *k, const cu_strided *v,
                            const cu_attention_args *a);
/* The tensor-core backward for the same operands (lse f32; delta scratch of
 * cu_attention_tc_scratch_bytes: delta, then dQ's f32 sums): one kernel per 128 keys (mma.sync,
 * or wgmma on compute capability 9.0) writes dK and dV (summing the GQA group) and adds dQ's part into the f32 sums with atomics (so dQ is not
 * bit-reproducible run to run), P and dS rounded to q's dtype for the products. */
cudaError_t cu_attention_tc_backward(cudaStream_t s, const cu_strided *dq, const cu_strided *dk,
                                     const cu_strided *dv, const cu_strided *grad_out,
                                     const cu_strided *q, const cu_strided *k, const cu_strided *v,
                                     const cu_strided *out, const cu_strided *lse, void *delta,
                                     const cu_attention_args *a);
/* Whether an output-side operand (out, grad_out, dq, dk, dv) suits the tensor-core kernels: a
 * contiguous tensor of any rank, or a 4-d [B, H, rows, D] view with stride 1 along D, the other
 * strides multiples of 8 and 16-byte alignment. cu_attention and cu_attention_backward take such
 * views (any strides) on the tensor-core path and return cudaErrorNotReady for an operand that is
 * not dense elsewhere; the caller then runs them on dense copies. */
bool cu_attention_tc_io_fits(const cu_strided *t);
/* Whether t is dense in row-major order (size-1 dims aside). */
bool cu_dense(const cu_strided *t);
/* Bytes of scratch the tensor-core backward needs for these operands of dtype dt (0 when it does
 * not serve them). */
size_t cu_attention_tc_scratch_bytes(born_dtype dt, const cu_attention_args *a);
/* Bytes of delta scratch the backward needs. */
size_t cu_attention_delta_bytes(const cu_strided *q, const cu_attention_args *a);

#ifdef __cplusplus
}
#endif

#ifndef __CUDACC__
#include "backend/backend.h"
/* The backend entries (backend.h's attention and attention_backward contracts, plus f16/bf16). */
born_status cuda_attention(const born_strided *out, const born_strided *lse, const born_strided *q,
                           const born_strided *k, const born_strided *v, const born_strided *mask,
                           const born_attention_args *args);
born_status cuda_attention_backward(const born_strided *dq, const born_strided *dk,
                                    const born_strided *dv, const born_strided *grad_out,
                                    const born_strided *q, const born_strided *k,
                                    const born_strided *v, const born_strided *mask,
                                    const born_strided *out, const born_strided *lse,
                                    const born_attention_args *args);
#endif

#endif
