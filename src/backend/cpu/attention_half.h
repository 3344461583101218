/* Internal: the CPU attention entries for f16 and bf16 operands (attention_half.c, behind the
 * backend's attention_half) and the bf16 kernels on AMX they call (attention_bf16_fwd_avx512.c,
 * attention_bf16_bwd_avx512.c). */
#ifndef BORN_CPU_ATTENTION_HALF_H
#define BORN_CPU_ATTENTION_HALF_H

#include "backend/backend.h"

/* cpu_attention and cpu_attention_backward for q, k, v, out (and grad_out, dq, dk, dv) all f16
 * or all bf16, lse f32. bf16 without a mask or dropout runs on the AMX tiles where the CPU has
 * them; the rest converts to f32 around the f32 kernels. */
born_status cpu_attention_half(const born_strided *out, const born_strided *lse,
                               const born_strided *q, const born_strided *k, const born_strided *v,
                               const born_strided *mask, const born_attention_args *args);
born_status cpu_attention_half_backward(const born_strided *dq, const born_strided *dk,
                                        const born_strided *dv, const born_strided *grad_out,
                                        const born_strided *q, const born_strided *k,
                                        const born_strided *v, const born_strided *mask,
                                        const born_strided *out, const born_strided *lse,
                                        const born_attention_args *args);

#if defined(__x86_64__)
/* bf16 attention without mask or dropout, its products on the AMX tiles by cpu_gemm_bf16: per
 * block of queries the scores S^T = K Q^T in f32 over the keys the block can see, a softmax per
 * query in f32 (lse kept), P = exp(x - max) rounded to bf16 and O = P V in f32 divided by the
 * row's sum as it is rounded. The
 * backward recomputes P per query block, dP = dO V^T, dS = P (dP - rowsum(dO o O)) scale rounded
 * to bf16, dQ = dS K rounded as stored, and sums dV = P^T dO and dK = dS^T Q over the query
 * blocks (and the heads of a GQA group) in f32 before rounding them once. P and dS go through
 * bf16 as PyTorch's bf16 flash attention takes them; the results do not depend on the thread
 * count. Call only where cpu_amx_enabled(); out, grad_out, dq, dk and dv with unit stride along
 * their last dim. */
born_status attn_bf16_forward_amx(const born_strided *out, const born_strided *lse,
                                  const born_strided *q, const born_strided *k,
                                  const born_strided *v, const born_attention_args *args);
born_status attn_bf16_backward_amx(const born_strided *dq, const born_strided *dk,
                                   const born_strided *dv, const born_strided *grad_out,
                                   const born_strided *q, const born_strided *k,
                                   const born_strided *v, const born_strided *out,
                                   const born_strided *lse, const born_attention_args *args);
#endif

#endif
