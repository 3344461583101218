/* The layers of the CUDA LLM decoder on a batch of rows (llm_rows.h), per layer
 *
 *   a = rms_norm(x)                      (rows, in the products' input type)
 *   [q k v] = a [Wq; Wk; Wv]^T            (cuBLASLt, f32 results)
 *   q, k rotated; k, v into each row's segment's KV cache (llm_batch.cu)
 *   a = attention(q, cache)              (llm_batch_attn.cu; every row at once, each on its cache)
 *   x += a Wo^T                          (accumulated by the product in place)
 *   [g u] = rms_norm(x) [Wgate; Wup]^T, a = silu(g) u
 *   x += a Wdown^T
 *
 * The residual stream x stays f32. A product's input is in its weights' type: bf16 or f16 for bf16
 * / f16 weights, f32 for f32 ones (exact f32 products), f16 for the group-affine formats, whose
 * matrices are expanded one at a time into an f16 scratch matrix first (as llama.cpp's cuBLAS path
 * does; the output matrix in blocks of rows when it is larger than the largest layer matrix). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_internal.h"
#include "backend/cuda/llm_rows.h"
#include "backend/cuda/llm_rows_gemv.h"

enum { OUT_BLOCK_ROWS = 4096 };

static bool affine(int fmt) { return fmt >= LLM_DEV_I8G32; }

int cu_llm_act_of(int fmt) {
    return fmt == LLM_DEV_F32 ? CU_ACT_F32 : fmt == LLM_DEV_BF16 ? CU_ACT_BF16 : CU_ACT_F16;
}

static born_dtype dtype_of(int act) {
    return act == CU_ACT_F32 ? BORN_F32 : act == CU_ACT_BF16 ? BORN_BF16 : BORN_F16;
}

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

static const char *const kind_names[PROF_KINDS] = {"embedding", "norm + q/k/v + RoPE", "attention", "Wo",
                                                   "norm + gate/up + SwiGLU", "down", "output + copy"};

void cu_llm_rows_mark(cu_rows *p, int kind) {
    cu_rows_prof *f = p->prof;
    if (!f || f->nev >= PROF_EVENTS) return;
    if (!f->ev[f->nev] && cudaEventCreate(&f->ev[f->nev]) != cudaSuccess) return;
    f->kind[f->nev] = kind;
    cudaEventRecord(f->ev[f->nev++], cuda_stream(p->dev));
}

/* Prints the profile's totals (passes of rows) to stderr and starts them again. */
static void prof_print(cu_rows_prof *f) {
    if (!f->passes) return;
    double total = 0;
    fprintf(stderr, "llm batch profile, %d passes of %.1f rows%s, us a pass:", f->passes,
            (double)f->rows / f->passes, f->key & 1 ? " with logits" : "");
    for (int k = 0; k < PROF_KINDS; k++) {
        fprintf(stderr, " %s %.1f;", kind_names[k], 1e3 * f->ms[k] / f->passes);
        total += f->ms[k];
        f->ms[k] = 0;
    }
    fprintf(stderr, " total %.1f\n", 1e3 * total / f->passes);
    f->passes = 0;
    f->rows = 0;
}

void cu_llm_rows_prof_end(cu_rows *p, int32_t n, bool logits) {
    cu_rows_prof *f = p->prof;
    if (!f || cudaStreamSynchronize(cuda_stream(p->dev)) != cudaSuccess) return;
    const int64_t key = (int64_t)n * 2 + logits;
    if (key != f->key) prof_print(f);
    f->key = key;
    for (int i = 1; i < f->nev; i++) {
        float t = 0;
        if (cudaEventElapsedTime(&t, f->ev[i - 1], f->ev[i]) == cudaSuccess) f->ms[f->kind[i]] += t;
    }
    f->nev = 0;
    f->passes++;
    f->rows += n;
}

/* Prints the last totals and frees the profile's events. */
static void prof_free(cu_rows_prof *f) {
    prof_print(f);
    for (int i = 0; i < PROF_EVENTS; i++)
        if (f->ev[i]) cudaEventDestroy(f->ev[i]);
    free(f);
}

void cu_llm_rows_free(cu_rows *p) {
    if (!p) return;
    if (p->prof) prof_free(p->prof);
    void *bufs[] = {p->tok, p->x, p->y, p->a, p->wh, p->logits};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) cudaFree(bufs[i]);
    free(p);
}

/* Elements of the largest group-affine matrix a layer multiplies (one at a time), and at most
 * OUT_BLOCK_ROWS rows of a group-affine output matrix. */
static int64_t affine_elems(const dmodel *m) {
    int64_t most = 0;
    for (int32_t l = 0; l < m->cfg.n_layer; l++) {
        const dlayer *L = &m->layers[l];
        if (affine(L->qkv.fmt)) most = max64(most, L->qkv.rows * L->qkv.cols);
        const int prods[] = {LLM_DEV_WQ, LLM_DEV_WK, LLM_DEV_WV, LLM_DEV_WO, LLM_DEV_GATE, LLM_DEV_UP, LLM_DEV_DOWN};
        for (size_t i = 0; i < sizeof prods / sizeof prods[0]; i++)
            if (affine(L->m[prods[i]].fmt)) most = max64(most, L->m[prods[i]].rows * L->m[prods[i]].cols);
    }
    const cu_llm_mat *out = cu_llm_output_of(m);
    if (affine(out->fmt))
        most = max64(most, (out->rows < OUT_BLOCK_ROWS ? out->rows : OUT_BLOCK_ROWS) * out->cols);
    return most;
}

born_status cu_llm_rows_new(const dmodel *m, int32_t cap, bool poison, const char *what, cu_rows **out) {
    const llm_dev_config *c = &m->cfg;
    cu_rows *p = calloc(1, sizeof *p);
    *out = NULL;
    if (!p) return cuda_error(BORN_ERR_MEMORY, "%s: out of host memory", what);
    p->cap = cap;
    p->dev = m->dev;
    const char *pf = getenv("BORN_LLM_PROFILE");
    if (pf && pf[0] == '1' && !(p->prof = calloc(1, sizeof *p->prof))) {
        free(p);
        return cuda_error(BORN_ERR_MEMORY, "%s: out of host memory", what);
    }
    const int64_t nq = (int64_t)c->n_head * c->head_dim, nkv = (int64_t)c->n_head_kv * c->head_dim;
    /* y also holds gathered rows of x (llm_multi.c) */
    const int64_t ycols = max64(max64(nq + 2 * nkv, 2 * (int64_t)c->n_ff), c->n_embd);
    const int64_t acols = max64(max64(c->n_embd, nq), c->n_ff);
    const size_t rows = (size_t)cap;
    p->wh_elems = affine_elems(m);
    cudaError_t e;
    if ((e = cu_llm_alloc(&p->tok, rows * sizeof(int), false)) != cudaSuccess ||
        (e = cu_llm_alloc(&p->x, rows * (size_t)c->n_embd * 4, poison)) != cudaSuccess ||
        (e = cu_llm_alloc(&p->y, rows * (size_t)ycols * 4, poison)) != cudaSuccess ||
        (e = cu_llm_alloc(&p->a, rows * (size_t)acols * 4, poison)) != cudaSuccess ||
        (p->wh_elems && (e = cu_llm_alloc(&p->wh, (size_t)p->wh_elems * 2, poison)) != cudaSuccess)) {
        (void)cudaGetLastError();
        cu_llm_rows_free(p);
        return cuda_error(e == cudaErrorMemoryAllocation ? BORN_ERR_MEMORY : BORN_ERR_DEVICE,
                          "%s: cuda:%d: the batched buffers for %d tokens: %s", what, m->dev, (int)cap,
                          cudaGetErrorString(e));
    }
    *out = p;
    return BORN_OK;
}

born_status cu_llm_rows_product(const dmodel *m, cu_rows *p, const cu_llm_mat *w, int64_t r0, int64_t rows,
                                const void *a, int32_t n, float *out, int64_t ldo, bool add) {
    const int dev = m->dev;
    cudaError_t e = cudaSuccess;
    if (cu_llm_rows_gemv(dev, cuda_stream(dev), w, r0, rows, a, n, out, ldo, add, &e))
        return cuda_check(e, "born_session_eval: batch");
    if (!affine(w->fmt))
        return cuda_gemm_xwt(dev, dtype_of(cu_llm_act_of(w->fmt)), (const char *)w->q + (size_t)r0 * w->q_row_bytes,
                             rows, a, n, w->cols, out, ldo, add);
    int64_t block = p->wh_elems / w->cols;
    if (block < rows) block -= block % 8; /* whole blocks of 8 rows keep the results aligned */
    if (block < 1) return cuda_error(BORN_ERR_DEVICE, "born_session_eval: no scratch for a product");
    born_status st = BORN_OK;
    for (int64_t r = 0; r < rows && st == BORN_OK; r += block) {
        const int64_t cnt = rows - r < block ? rows - r : block;
        st = cuda_check(cu_llm_dequant_f16(cuda_stream(dev), w, r0 + r, cnt, p->wh), "born_session_eval: batch");
        if (st == BORN_OK) st = cuda_gemm_xwt(dev, BORN_F16, p->wh, cnt, a, n, w->cols, out + r, ldo, add);
    }
    return st;
}

born_status cu_llm_rows_norm_as(const dmodel *m, cu_rows *p, const float *x, const float *w, int32_t n, int act,
                                int *held) {
    if (*held == act) return BORN_OK;
    *held = act;
    const llm_dev_config *c = &m->cfg;
    return cuda_check(cu_llm_rows_norm(cuda_stream(m->dev), x, n, c->n_embd, w, c->rms_eps, p->a, act),
                      "born_session_eval: batch");
}

/* The segments of layer l as the kernels take them. */
static cu_llm_segs segs_of(const cu_rows_at *at, int32_t l) {
    cu_llm_segs g = at->segs;
    if (g.segs) {
        g.segs += (size_t)l * (size_t)g.nseg;
    } else {
        g.one.kc = (char *)g.one.kc + (size_t)l * at->layer_bytes;
        g.one.vc = (char *)g.one.vc + (size_t)l * at->layer_bytes;
    }
    return g;
}

born_status cu_llm_rows_layer(const dmodel *m, cu_rows *p, int32_t l, const cu_rows_at *at) {
    const llm_dev_config *c = &m->cfg;
    const dlayer *L = &m->layers[l];
    cudaStream_t s = cuda_stream(m->dev);
    const int32_t n = at->n;
    const int64_t nq = (int64_t)c->n_head * c->head_dim, nkv = (int64_t)c->n_head_kv * c->head_dim, ldq = nq + 2 * nkv;
    const int64_t F = c->n_ff;
    const float *attn_norm = L->m[LLM_DEV_ATTN_NORM].q, *ffn_norm = L->m[LLM_DEV_FFN_NORM].q;
    int held = -1;
    born_status st = BORN_OK;
    /* q, k, v side by side in y's rows */
    if (L->qkv.fmt) {
        st = cu_llm_rows_norm_as(m, p, p->x, attn_norm, n, cu_llm_act_of(L->qkv.fmt), &held);
        if (st == BORN_OK) st = cu_llm_rows_product(m, p, &L->qkv, 0, ldq, p->a, n, p->y, ldq, false);
    } else {
        const int64_t col0[3] = {0, nq, nq + nkv};
        for (int i = 0; i < 3 && st == BORN_OK; i++) {
            const cu_llm_mat *w = &L->m[LLM_DEV_WQ + i];
            st = cu_llm_rows_norm_as(m, p, p->x, attn_norm, n, cu_llm_act_of(w->fmt), &held);
            if (st == BORN_OK) st = cu_llm_rows_product(m, p, w, 0, w->rows, p->a, n, p->y + col0[i], ldq, false);
        }
    }
    if (st != BORN_OK) return st;
    cu_llm_rows_mark(p, PROF_QKV);
    cu_llm_rope_kv r;
    memset(&r, 0, sizeof r);
    r.qkv = p->y;
    r.bias = L->bias_qkv;
    r.sg = segs_of(at, l);
    r.n_q = (int)nq;
    r.n_kv = (int)nkv;
    r.head_dim = c->head_dim;
    r.n_rot = c->n_rot;
    r.neox = c->rope_neox;
    st = cuda_check(cu_llm_rows_rope_kv(s, &r), "born_session_eval: batch");
    if (st != BORN_OK) return st;
    const cu_llm_mat *wo = &L->m[LLM_DEV_WO];
    cu_llm_battn a;
    memset(&a, 0, sizeof a);
    a.q = p->y;
    a.q_stride = ldq;
    a.out = p->a;
    a.out_act = cu_llm_act_of(wo->fmt);
    a.sg = r.sg;
    a.n_head = c->n_head;
    a.n_head_kv = c->n_head_kv;
    a.head_dim = c->head_dim;
    a.scale = 1.0f / sqrtf((float)c->head_dim);
    st = cuda_check(cu_llm_batch_attention(s, &a), "born_session_eval: batch attention");
    cu_llm_rows_mark(p, PROF_ATTN);
    if (st == BORN_OK) st = cu_llm_rows_product(m, p, wo, 0, wo->rows, p->a, n, p->x, c->n_embd, true);
    if (st == BORN_OK && L->m[LLM_DEV_BO].fmt)
        st = cuda_check(cu_llm_rows_bias(s, p->x, n, c->n_embd, L->m[LLM_DEV_BO].q), "born_session_eval: batch");
    cu_llm_rows_mark(p, PROF_WO);
    /* the feed-forward block: gate and up side by side in y's rows */
    held = -1;
    const cu_llm_mat *gate = &L->m[LLM_DEV_GATE], *up = &L->m[LLM_DEV_UP], *down = &L->m[LLM_DEV_DOWN];
    if (st == BORN_OK) st = cu_llm_rows_norm_as(m, p, p->x, ffn_norm, n, cu_llm_act_of(gate->fmt), &held);
    if (st == BORN_OK) st = cu_llm_rows_product(m, p, gate, 0, F, p->a, n, p->y, 2 * F, false);
    if (st == BORN_OK) st = cu_llm_rows_norm_as(m, p, p->x, ffn_norm, n, cu_llm_act_of(up->fmt), &held);
    if (st == BORN_OK) st = cu_llm_rows_product(m, p, up, 0, F, p->a, n, p->y + F, 2 * F, false);
    if (st == BORN_OK)
        st = cuda_check(cu_llm_rows_swiglu(s, p->y, n, F, p->a, cu_llm_act_of(down->fmt)), "born_session_eval: batch");
    cu_llm_rows_mark(p, PROF_GATE_UP);
    if (st == BORN_OK) st = cu_llm_rows_product(m, p, down, 0, c->n_embd, p->a, n, p->x, c->n_embd, true);
    cu_llm_rows_mark(p, PROF_DOWN);
    return st;
}
