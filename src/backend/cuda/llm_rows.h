/* Internal to the CUDA plugin: the forward of a batch of rows through the LLM decoder's layers,
 * shared by the batched prompt of one session (llm_prefill.c) and the batch of several sessions
 * (llm_multi.c). A batch is rows of tokens in segments (llm_batch.h's cu_llm_seg: one sequence's
 * consecutive tokens and its KV cache); every product runs on all rows at once through cuBLASLt,
 * each row's RoPE, cache write and attention on its own segment. */
#ifndef BORN_CUDA_LLM_ROWS_H
#define BORN_CUDA_LLM_ROWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/cuda/llm_batch.h"
#include "backend/cuda/llm_model.h"

/* BORN_LLM_PROFILE=1: a batch's kernels timed by kind (llm_model.h's PROF_*) with events. */
typedef struct cu_rows_prof {
    cudaEvent_t ev[PROF_EVENTS];
    int kind[PROF_EVENTS], nev, passes;
    int64_t rows, key; /* the passes summed: their rows in all; 2 rows + logits of the last */
    double ms[PROF_KINDS];
} cu_rows_prof;

/* The scratch of a batch of at most cap rows. */
typedef struct cu_rows {
    int dev;
    int32_t cap;   /* rows a batch holds */
    int *tok;      /* [cap] */
    float *x, *y;  /* the residual stream [cap][n_embd]; products' results [cap][ycols] */
    void *a;       /* a product's input [cap][acols], f32 or half */
    void *wh;      /* f16 rows of a group-affine matrix [wh_elems], or NULL */
    int64_t wh_elems;
    float *logits; /* [cap][n_vocab] for a prompt's every row's logits, or NULL until one */
    cu_rows_prof *prof; /* BORN_LLM_PROFILE=1, else NULL */
} cu_rows;

/* Where a batch's rows go in one layer: n rows in segs' segments, whose kv and v caches are those
 * of the layer being run (segs.segs: [n_layer][nseg] on the device, layer l's from l * nseg on),
 * or, for segs.segs NULL, the one segment segs.one with its caches at layer 0 and each layer's
 * layer_bytes further. */
typedef struct cu_rows_at {
    int32_t n;
    cu_llm_segs segs;
    size_t layer_bytes;
} cu_rows_at;

/* The input type (CU_ACT_*) of a product with weights in device format fmt. */
int cu_llm_act_of(int fmt);

/* Allocates the scratch of cap-row batches for model m into *out (device memory filled with NaN
 * when poison); what names the caller in the error recorded when it fails. */
born_status cu_llm_rows_new(const dmodel *m, int32_t cap, bool poison, const char *what, cu_rows **out);

/* Profiling (nothing without p->prof): an event on the stream after the work of the given kind
 * queued since the mark before (a pass starts with one of any kind). */
void cu_llm_rows_mark(cu_rows *p, int kind);

/* Profiling (nothing without p->prof): waits for the pass of n rows (with logits or not) marked
 * so far and adds its times by kind to the totals, which are printed to stderr and started again
 * when a pass of another kind (rows, logits) comes, and at cu_llm_rows_free. */
void cu_llm_rows_prof_end(cu_rows *p, int32_t n, bool logits);

/* Frees scratch p and its device buffers (nothing for NULL), printing its profile to stderr when
 * it has one. */
void cu_llm_rows_free(cu_rows *p);

/* out [n][ldo] (f32; += when add) = a [n][w->cols] times rows r0..r0 + rows of w, transposed; a is
 * in w's input type (cu_llm_act_of). Group-affine rows are expanded into p's f16 scratch first, as
 * many at a time as it holds. Errors recorded through the host. */
born_status cu_llm_rows_product(const dmodel *m, cu_rows *p, const cu_llm_mat *w, int64_t r0, int64_t rows,
                                const void *a, int32_t n, float *out, int64_t ldo, bool add);

/* p->a = rms_norm(x) * w for n rows of n_embd floats, in act type act, unless *held says p->a
 * holds it already (*held set to act). Errors recorded through the host. */
born_status cu_llm_rows_norm_as(const dmodel *m, cu_rows *p, const float *x, const float *w, int32_t n, int act,
                                int *held);

/* Runs layer l on p->x's rows (in and out) placed as at says: their K and V written into their
 * segments' caches, their queries attending to them. Errors recorded through the host. */
born_status cu_llm_rows_layer(const dmodel *m, cu_rows *p, int32_t l, const cu_rows_at *at);

#endif
