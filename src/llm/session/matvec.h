/* Internal: one token's products with a group of weights that read the same input (matvec.c),
 * split into row ranges that any thread can run: llm_linear_group runs the ranges on the pool,
 * the one-region decode (decode.c) gives each thread of its team an equal share of the bytes. */
#ifndef BORN_LLM_SESSION_MATVEC_H
#define BORN_LLM_SESSION_MATVEC_H

#include "backend/cpu/quant/quant_gemm.h"
#include "llm/model/model_internal.h"

typedef struct llm_group {
    const llm_weight *ws[LLM_GROUP_MAX], *bs[LLM_GROUP_MAX];
    float *outs[LLM_GROUP_MAX];
    int64_t starts[LLM_GROUP_MAX + 1]; /* each weight's first row in the group's numbering */
    int count;
    bool f16;                /* f16 weights: xq is the f32 input itself */
    born_dtype vdt;          /* quantized weights: their common vec_dot type */
    quant_from_float_fn act; /* ... and its activation quantizer */
    const void *xq;
    quant_vec_dot_fn dot[LLM_GROUP_MAX];
    quant_gemm_fn gemm[LLM_GROUP_MAX]; /* all set, or gemm[0] NULL (then dot per row) */
} llm_group;

/* Sets up the one-token product outs[g] = x ws[g]^T + bs[g] (bs or its entries may be NULL):
 * false when the weights do not qualify (not all f16 or all quantized with one vec_dot type, of
 * one width, or a row of the vec_dot type larger than xq_bytes). Quantized groups quantize the
 * input into xq (llm_group_quantize); f16 groups read x. */
bool llm_group_init(llm_group *g, float *const *outs, const float *x, const llm_weight *const *ws,
                    const llm_weight *const *bs, int count, void *xq, size_t xq_bytes);

/* Quantizes x (the group's width) into the group's xq; nothing for f16 groups. */
void llm_group_quantize(const llm_group *g, const float *x);

/* Rows [begin, end) of the group's numbering: each output as llm_linear computes it. */
void llm_group_rows(const llm_group *g, int64_t begin, int64_t end);

/* The rows of thread tid of n: contiguous ranges of about equal weight bytes, multiples of four
 * rows apart. */
void llm_group_share(const llm_group *g, int tid, int n, int64_t *begin, int64_t *end);

#endif
