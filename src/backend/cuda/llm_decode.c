/* The CUDA plugin's LLM decoder (src/backend/llm_device.h): a model's weights in one device
 * allocation, sessions with their KV cache and activations on the device, and the decode step as
 * a short list of kernels (llm_kernels.cu), per layer:
 *
 *   q/k/v products from rms_norm(x) (RoPE and the KV cache write in their epilogue)
 *   attention over the cache (split over the context, the chunks combined by the last block)
 *   x += Wo att
 *   h = silu(Wgate n) * (Wup n) with n = rms_norm(x), in one product of both matrices
 *   x += Wdown h
 *
 * then logits = Woutput rms_norm(x). Five launches a layer. The token and the position are read
 * from device memory, so the whole step is captured once as a CUDA graph and replayed for every
 * token (one graph for steps that produce logits, one for those that do not): the host's part of
 * a token is one 8-byte copy, one graph launch and, when logits are wanted, one copy back. A
 * prompt of several tokens runs as batches instead (llm_prefill.c), into the same KV cache, and
 * several sessions' tokens as one batch (llm_multi.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_internal.h"
#include "backend/cuda/llm_kernels.h"
#include "backend/cuda/llm_model.h"
#include "backend/llm_device.h"

enum { ALIGN = 256 };

/* What a step ends with: nothing, the logits, or the logits and the greedy choice. */
enum { STEP_PLAIN = 0, STEP_LOGITS = 1, STEP_GREEDY = 2 };

static const char *const prof_names[PROF_KINDS] = {
    "embedding", "q/k/v + RoPE", "attention", "Wo", "gate/up + SwiGLU", "down", "output"};

static int64_t group_of(int fmt) {
    return fmt == LLM_DEV_I8G16 ? 16 : fmt == LLM_DEV_I8G32 || fmt == LLM_DEV_U4G32 ? 32 : 0;
}

/* Elements a 16-byte chunk holds: the kernels need whole chunks per row. */
static int64_t chunk_of(int fmt) {
    switch (fmt) {
    case LLM_DEV_F32: return 4;
    case LLM_DEV_F16:
    case LLM_DEV_BF16: return 8;
    case LLM_DEV_I8G32:
    case LLM_DEV_I8G16: return 16;
    default: return 32;
    }
}

static size_t row_bytes(int fmt, int64_t cols) {
    switch (fmt) {
    case LLM_DEV_F32: return (size_t)cols * 4;
    case LLM_DEV_F16:
    case LLM_DEV_BF16: return (size_t)cols * 2;
    case LLM_DEV_I8G32:
    case LLM_DEV_I8G16: return (size_t)cols;
    default: return (size_t)cols / 2;
    }
}

static size_t scale_bytes(int fmt, int64_t rows, int64_t cols) {
    int64_t g = group_of(fmt);
    return g ? (size_t)rows * (size_t)(cols / g) * 8 : 0;
}

static size_t round_up(size_t n) { return (n + ALIGN - 1) / ALIGN * ALIGN; }

static const char *slot_name(int slot) {
    static const char *names[LLM_DEV_SLOTS] = {
        "attn_norm",   "attn_q",      "attn_k",           "attn_v",   "attn_q.bias", "attn_k.bias",
        "attn_v.bias", "attn_output", "attn_output.bias", "ffn_norm", "ffn_gate",    "ffn_up",
        "ffn_down",    "token_embd",  "output_norm",      "output"};
    return slot >= 0 && slot < LLM_DEV_SLOTS ? names[slot] : "?";
}

/* Whether the kernels take matrix d (a product's weights). */
static born_status check_matrix(const llm_dev_matrix *d, int slot, int layer) {
    if (d->fmt < LLM_DEV_F32 || d->fmt > LLM_DEV_U4G32 || d->cols % chunk_of(d->fmt) != 0)
        return cuda_error(BORN_ERR_UNSUPPORTED,
                          "born_model_load: cuda LLM decoder: %s of layer %d "
                          "(%lld columns, format %d) cannot run on the device",
                          slot_name(slot), (int)layer, (long long)d->cols, (int)d->fmt);
    return BORN_OK;
}

/* Lays the model out in the arena (base NULL: only counts); returns the bytes. */
static size_t layout(dmodel *m, char *base) {
    size_t off = 0;
    const llm_dev_config *c = &m->cfg;
#define PLACE(mat, d)                                                                              \
    do {                                                                                           \
        (mat).fmt = (d)->fmt;                                                                      \
        (mat).rows = (d)->rows;                                                                    \
        (mat).cols = (d)->cols;                                                                    \
        (mat).q_row_bytes = row_bytes((d)->fmt, (d)->cols);                                        \
        (mat).q = base ? base + off : NULL;                                                        \
        off += round_up((mat).q_row_bytes * (size_t)(d)->rows);                                    \
        size_t sb = scale_bytes((d)->fmt, (d)->rows, (d)->cols);                                   \
        (mat).s = sb && base ? base + off : NULL;                                                  \
        off += round_up(sb);                                                                       \
    } while (0)
    for (int i = 0; i < N_MODEL_SLOTS; i++)
        if (c->model[i].fmt != LLM_DEV_NONE) PLACE(m->m[i], &c->model[i]);
    for (int32_t l = 0; l < c->n_layer; l++) {
        dlayer *L = &m->layers[l];
        const llm_dev_matrix *d = c->layers + (size_t)l * LLM_DEV_LAYER_SLOTS;
        const bool fused =
            d[LLM_DEV_WQ].fmt == d[LLM_DEV_WK].fmt && d[LLM_DEV_WQ].fmt == d[LLM_DEV_WV].fmt;
        for (int s = 0; s < LLM_DEV_LAYER_SLOTS; s++) {
            if (d[s].fmt == LLM_DEV_NONE || s == LLM_DEV_BQ || s == LLM_DEV_BK || s == LLM_DEV_BV)
                continue;
            if (fused && (s == LLM_DEV_WQ || s == LLM_DEV_WK || s == LLM_DEV_WV)) continue;
            PLACE(L->m[s], &d[s]);
        }
        memset(&L->qkv, 0, sizeof L->qkv);
        const int64_t nq = d[LLM_DEV_WQ].rows, nkv = d[LLM_DEV_WK].rows, E = d[LLM_DEV_WQ].cols;
        if (fused) { /* the three matrices' levels, then their scales, one after the other */
            llm_dev_matrix all = {d[LLM_DEV_WQ].fmt, nq + 2 * nkv, E};
            PLACE(L->qkv, &all);
            const int64_t rows[3] = {nq, nkv, nkv};
            size_t qo = 0, so = 0;
            for (int i = 0; i < 3; i++) {
                cu_llm_mat *x = &L->m[LLM_DEV_WQ + i];
                *x = L->qkv;
                x->rows = rows[i];
                x->q = base ? (const char *)L->qkv.q + qo : NULL;
                x->s = base && L->qkv.s ? (const char *)L->qkv.s + so : NULL;
                qo += L->qkv.q_row_bytes * (size_t)rows[i];
                so += scale_bytes(all.fmt, rows[i], E);
            }
        }
        L->bias_qkv = NULL;
        if (d[LLM_DEV_BQ].fmt || d[LLM_DEV_BK].fmt || d[LLM_DEV_BV].fmt) {
            L->bias_qkv = base ? (float *)(base + off) : NULL;
            off += round_up((size_t)(nq + 2 * nkv) * sizeof(float));
        }
        L->gate_up_fused = d[LLM_DEV_GATE].fmt == d[LLM_DEV_UP].fmt;
    }
#undef PLACE
    return off;
}

static void model_free(void *handle) {
    dmodel *m = handle;
    if (!m) return;
    cudaSetDevice(m->dev);
    cu_llm_multi_free(m);
    if (m->arena) cudaFree(m->arena);
    free(m->layers);
    free((void *)m->cfg.layers);
    free(m);
}

static void *model_new(int dev, const llm_dev_config *cfg) {
    const int32_t hd = cfg->head_dim;
    if (hd % 8 != 0 || hd > 256 || cfg->n_rot % 2 || cfg->n_rot > hd ||
        cfg->n_head % cfg->n_head_kv)
        return cuda_error(BORN_ERR_UNSUPPORTED,
                          "born_model_load: cuda LLM decoder: head size %d "
                          "(rotated %d) is not supported (a multiple of 8 up to 256)",
                          (int)hd, (int)cfg->n_rot),
               NULL;
    int64_t max_k = 0;
    for (int32_t l = 0; l < cfg->n_layer; l++) {
        const llm_dev_matrix *d = cfg->layers + (size_t)l * LLM_DEV_LAYER_SLOTS;
        const int prods[] = {LLM_DEV_WQ,   LLM_DEV_WK, LLM_DEV_WV,  LLM_DEV_WO,
                             LLM_DEV_GATE, LLM_DEV_UP, LLM_DEV_DOWN};
        for (size_t i = 0; i < sizeof prods / sizeof prods[0]; i++) {
            if (check_matrix(&d[prods[i]], prods[i], (int)l) != BORN_OK) return NULL;
            if (d[prods[i]].cols > max_k) max_k = d[prods[i]].cols;
        }
    }
    const llm_dev_matrix *out = cfg->model[LLM_DEV_OUTPUT - LLM_DEV_LAYER_SLOTS].fmt
                                    ? &cfg->model[LLM_DEV_OUTPUT - LLM_DEV_LAYER_SLOTS]
                                    : &cfg->model[0];
    if (check_matrix(out, LLM_DEV_OUTPUT, -1) != BORN_OK) return NULL;
    if (out->cols > max_k) max_k = out->cols;
    if (max_k * 4 > 200 * 1024)
        return cuda_error(BORN_ERR_UNSUPPORTED,
                          "born_model_load: cuda LLM decoder: products of "
                          "%lld inputs do not fit shared memory",
                          (long long)max_k),
               NULL;
    dmodel *m = calloc(1, sizeof *m);
    llm_dev_matrix *lc = malloc((size_t)cfg->n_layer * LLM_DEV_LAYER_SLOTS * sizeof *lc);
    if (m) m->layers = calloc((size_t)cfg->n_layer, sizeof *m->layers);
    if (!m || !lc || !m->layers) {
        free(lc);
        model_free(m);
        return cuda_error(BORN_ERR_MEMORY, "born_model_load: out of host memory"), NULL;
    }
    memcpy(lc, cfg->layers, (size_t)cfg->n_layer * LLM_DEV_LAYER_SLOTS * sizeof *lc);
    m->dev = dev;
    m->cfg = *cfg;
    m->cfg.layers = lc;
    m->max_k = max_k;
    size_t bytes = layout(m, NULL);
    cudaSetDevice(dev);
    cudaError_t e = cudaMalloc((void **)&m->arena, bytes);
    if (e != cudaSuccess) {
        m->arena = NULL;
        (void)cudaGetLastError();
        model_free(m);
        return cuda_error(BORN_ERR_MEMORY,
                          "born_model_load: cuda:%d: no room for the model's "
                          "%.2f GB of weights (%s)",
                          dev, (double)bytes / 1e9, cudaGetErrorString(e)),
               NULL;
    }
    layout(m, m->arena);
    if ((e = cudaMemset(m->arena, 0, bytes)) != cudaSuccess ||
        (e = cu_llm_prepare(max_k)) != cudaSuccess) {
        model_free(m);
        return cuda_check(e, "born_model_load: cuda LLM decoder"), NULL;
    }
    return m;
}

static born_status model_upload(void *handle, int32_t layer, llm_dev_slot slot, const void *q,
                                const void *scales) {
    dmodel *m = handle;
    const cu_llm_mat *mat;
    if (layer < 0) {
        mat = &m->m[slot - LLM_DEV_LAYER_SLOTS];
    } else {
        dlayer *L = &m->layers[layer];
        if (slot == LLM_DEV_BQ || slot == LLM_DEV_BK || slot == LLM_DEV_BV) {
            const llm_dev_matrix *d = m->cfg.layers + (size_t)layer * LLM_DEV_LAYER_SLOTS;
            const int64_t off = slot == LLM_DEV_BQ   ? 0
                                : slot == LLM_DEV_BK ? d[LLM_DEV_WQ].rows
                                                     : d[LLM_DEV_WQ].rows + d[LLM_DEV_WK].rows;
            const int64_t n = d[slot].cols;
            return cuda_check(
                cudaMemcpy(L->bias_qkv + off, q, (size_t)n * sizeof(float), cudaMemcpyHostToDevice),
                "born_model_load: upload");
        }
        mat = &L->m[slot];
    }
    cudaSetDevice(m->dev);
    born_status st = cuda_check(
        cudaMemcpy((void *)mat->q, q, mat->q_row_bytes * (size_t)mat->rows, cudaMemcpyHostToDevice),
        "born_model_load: upload");
    if (st == BORN_OK && mat->s && scales)
        st = cuda_check(cudaMemcpy((void *)mat->s, scales,
                                   scale_bytes(mat->fmt, mat->rows, mat->cols),
                                   cudaMemcpyHostToDevice),
                        "born_model_load: upload");
    return st;
}

const cu_llm_mat *cu_llm_output_of(const dmodel *m) {
    return m->m[LLM_DEV_OUTPUT - LLM_DEV_LAYER_SLOTS].fmt ? &m->m[LLM_DEV_OUTPUT - LLM_DEV_LAYER_SLOTS]
                                                          : &m->m[0];
}

static void session_free(void *handle) {
    dsession *d = handle;
    if (!d) return;
    cudaSetDevice(d->m->dev);
    cu_llm_prefill_free(d);
    for (int i = 0; i < 3; i++)
        if (d->exec[i]) cudaGraphExecDestroy(d->exec[i]);
    void *bufs[] = {d->kc,     d->vc,      d->x,      d->q,       d->att,   d->h,    d->h2,
                    d->logits, d->rope_cs, d->part_o, d->part_ml, d->count, d->step, d->chosen};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) cudaFree(bufs[i]);
    if (d->logits_host) cudaFreeHost(d->logits_host);
    if (d->prof) {
        double total = 0;
        for (int k = 0; k < PROF_KINDS; k++)
            total += d->ms[k];
        fprintf(stderr, "llm profile, %d eager steps, us per step:", d->steps);
        for (int k = 0; k < PROF_KINDS && d->steps; k++)
            fprintf(stderr, " %s %.1f;", prof_names[k], 1e3 * d->ms[k] / d->steps);
        fprintf(stderr, " total %.1f\n", d->steps ? 1e3 * total / d->steps : 0.0);
        for (int i = 0; i < PROF_EVENTS; i++)
            if (d->ev[i]) cudaEventDestroy(d->ev[i]);
    }
    free(d);
}

cudaError_t cu_llm_alloc(void *p, size_t bytes, bool poison) {
    cudaError_t e = cudaMalloc((void **)p, bytes ? bytes : 4);
    if (e == cudaSuccess) e = cudaMemset(*(void **)p, poison ? 0xFF : 0, bytes ? bytes : 4);
    return e;
}

static void *session_new(void *handle, int32_t n_ctx, born_dtype kv_type, const float *rope_cs) {
    dmodel *m = handle;
    const llm_dev_config *c = &m->cfg;
    dsession *d = calloc(1, sizeof *d);
    if (!d) return cuda_error(BORN_ERR_MEMORY, "born_session_new: out of host memory"), NULL;
    d->m = m;
    d->n_ctx = n_ctx;
    d->kv_f16 = kv_type == BORN_F16;
    d->nsplit = (n_ctx + CU_LLM_ATTN_CHUNK - 1) / CU_LLM_ATTN_CHUNK;
    const char *pf = getenv("BORN_LLM_PROFILE");
    d->prof = pf && pf[0] == '1';
    const char *sk = getenv("BORN_LLM_SKIP");
    d->skip = sk ? atoi(sk) : 0;
    const char *ae = getenv("BORN_LLM_ATTN_EARLY");
    d->attn_pos_early = !(ae && ae[0] == '0');
    const char *ac = getenv("BORN_LLM_ATTN_CLUSTER");
    d->attn_cluster = !(ac && ac[0] == '0');
    const char *ap = getenv("BORN_LLM_ATTN_PRELOAD");
    d->attn_preload = !(ap && ap[0] == '0');
    const char *pe = getenv("BORN_CUDA_POISON");
    const bool poison = pe && *pe && *pe != '0';
    d->poison = poison;
    const size_t cache =
        (size_t)c->n_layer * c->n_head_kv * (size_t)n_ctx * c->head_dim * (d->kv_f16 ? 2 : 4);
    const size_t dq = (size_t)c->n_head * c->head_dim;
    cudaSetDevice(m->dev);
    cudaError_t e;
    if ((e = cu_llm_alloc(&d->kc, cache, poison)) != cudaSuccess ||
        (e = cu_llm_alloc(&d->vc, cache, poison)) != cudaSuccess ||
        (e = cu_llm_alloc(&d->x, (size_t)c->n_embd * 4, poison)) != cudaSuccess ||
        (e = cu_llm_alloc(&d->q, dq * 4, poison)) != cudaSuccess ||
        (e = cu_llm_alloc(&d->att, dq * 4, poison)) != cudaSuccess ||
        (e = cu_llm_alloc(&d->h, (size_t)c->n_ff * 4, poison)) != cudaSuccess ||
        (e = cu_llm_alloc(&d->h2, (size_t)c->n_ff * 4, poison)) != cudaSuccess ||
        (e = cu_llm_alloc(&d->logits, (size_t)c->n_vocab * 4, poison)) != cudaSuccess ||
        (e = cu_llm_alloc(&d->rope_cs, (size_t)n_ctx * c->n_rot * 4, false)) != cudaSuccess ||
        (e = cu_llm_alloc(&d->part_o, dq * (size_t)d->nsplit * 4, poison)) != cudaSuccess ||
        (e = cu_llm_alloc(&d->part_ml, (size_t)c->n_head * d->nsplit * 2 * 4, poison)) != cudaSuccess ||
        (e = cu_llm_alloc(&d->count, (size_t)c->n_head * sizeof(int), false)) != cudaSuccess ||
        (e = cu_llm_alloc(&d->step, 2 * sizeof(int), false)) != cudaSuccess ||
        (e = cu_llm_alloc(&d->chosen, (size_t)n_ctx * sizeof(int), false)) != cudaSuccess ||
        (e = cudaHostAlloc((void **)&d->logits_host, (size_t)c->n_vocab * 4,
                           cudaHostAllocDefault)) != cudaSuccess ||
        (e = cudaMemcpy(d->rope_cs, rope_cs, (size_t)n_ctx * c->n_rot * 4,
                        cudaMemcpyHostToDevice)) != cudaSuccess) {
        (void)cudaGetLastError();
        session_free(d);
        return cuda_error(e == cudaErrorMemoryAllocation ? BORN_ERR_MEMORY : BORN_ERR_DEVICE,
                          "born_session_new: cuda:%d: the KV cache of %d positions and the "
                          "activations: %s",
                          m->dev, (int)n_ctx, cudaGetErrorString(e)),
               NULL;
    }
    return d;
}

/* A product's launch parameters with input x (in_mode) and output out (mode). */
static cu_llm_mv product(const cu_llm_mat *w, int mode, int in_mode, const float *x,
                         const float *x2, const float *norm_w, float eps, float *out) {
    cu_llm_mv p;
    memset(&p, 0, sizeof p);
    p.w = *w;
    p.mode = mode;
    p.in_mode = in_mode;
    p.x = x;
    p.x2 = x2;
    p.norm_w = norm_w;
    p.eps = eps;
    p.out = out;
    return p;
}

/* Profiling: an event after the kernel of the given kind (eager steps only). */
static void mark(dsession *d, cudaStream_t s, int kind, bool on) {
    if (!on || d->nev >= PROF_EVENTS) return;
    if (!d->ev[d->nev] && cudaEventCreate(&d->ev[d->nev]) != cudaSuccess) return;
    d->kind[d->nev] = kind;
    cudaEventRecord(d->ev[d->nev++], s);
}

/* Queues one token's kernels (with the output product when logits); prof: mark each. */
static cudaError_t enqueue_step(dsession *d, int kind, bool prof) {
    const bool logits = kind != STEP_PLAIN;
    const dmodel *m = d->m;
    const llm_dev_config *c = &m->cfg;
    cudaStream_t s = cuda_stream(m->dev);
    const int64_t nq = (int64_t)c->n_head * c->head_dim, nkv = (int64_t)c->n_head_kv * c->head_dim;
    const size_t layer_cache = (size_t)c->n_head_kv * d->n_ctx * c->head_dim * (d->kv_f16 ? 2 : 4);
    d->nev = 0;
    mark(d, s, PROF_EMBED, prof);
    cudaError_t e = cu_llm_embed(s, &m->m[0], d->step, d->x);
    mark(d, s, PROF_EMBED, prof);
    for (int32_t l = 0; l < c->n_layer && e == cudaSuccess; l++) {
        const dlayer *L = &m->layers[l];
        const float *attn_norm = L->m[LLM_DEV_ATTN_NORM].q, *ffn_norm = L->m[LLM_DEV_FFN_NORM].q;
        /* q, k, v: RoPE and the cache write in the epilogue */
        const cu_llm_mat *parts[3] = {&L->qkv, NULL, NULL};
        int64_t row0[3] = {0, nq, nq + nkv};
        int nparts = 1;
        if (!L->qkv.fmt) {
            parts[0] = &L->m[LLM_DEV_WQ];
            parts[1] = &L->m[LLM_DEV_WK];
            parts[2] = &L->m[LLM_DEV_WV];
            nparts = 3;
        }
        for (int i = 0; i < nparts && e == cudaSuccess; i++) {
            cu_llm_mv p =
                product(parts[i], CU_MV_QKV, CU_IN_NORM, d->x, NULL, attn_norm, c->rms_eps, NULL);
            p.bias = L->bias_qkv;
            p.row0 = (int)row0[i];
            p.n_q = (int)nq;
            p.n_kv = (int)nkv;
            p.head_dim = c->head_dim;
            p.n_rot = c->n_rot;
            p.neox = c->rope_neox;
            p.q = d->q;
            p.kc = d->kc + (size_t)l * layer_cache;
            p.vc = d->vc + (size_t)l * layer_cache;
            p.n_ctx = d->n_ctx;
            p.kv_f16 = d->kv_f16;
            p.rope_cs = d->rope_cs;
            p.step = d->step;
            if (!(d->skip & 1 << PROF_QKV)) e = cu_llm_matvec(s, &p);
        }
        mark(d, s, PROF_QKV, prof);
        if (e != cudaSuccess) break;
        cu_llm_attn a;
        memset(&a, 0, sizeof a);
        a.q = d->q;
        a.out = d->att;
        a.kc = d->kc + (size_t)l * layer_cache;
        a.vc = d->vc + (size_t)l * layer_cache;
        a.n_head = c->n_head;
        a.n_head_kv = c->n_head_kv;
        a.head_dim = c->head_dim;
        a.n_ctx = d->n_ctx;
        a.kv_f16 = d->kv_f16;
        a.nsplit = d->nsplit;
        a.scale = 1.0f / sqrtf((float)c->head_dim);
        a.part_o = d->part_o;
        a.part_ml = d->part_ml;
        a.count = d->count;
        a.step = d->step;
        a.pos_early = d->attn_pos_early;
        a.cluster = d->attn_cluster;
        a.preload = d->attn_preload;
        if (!(d->skip & 1 << PROF_ATTN) && (e = cu_llm_attention(s, &a)) != cudaSuccess) break;
        mark(d, s, PROF_ATTN, prof);
        cu_llm_mv p =
            product(&L->m[LLM_DEV_WO], CU_MV_ADD, CU_IN_PLAIN, d->att, NULL, NULL, 0, d->x);
        p.bias = L->m[LLM_DEV_BO].fmt ? L->m[LLM_DEV_BO].q : NULL;
        if (!(d->skip & 1 << PROF_WO) && (e = cu_llm_matvec(s, &p)) != cudaSuccess) break;
        mark(d, s, PROF_WO, prof);
        if (L->gate_up_fused) {
            p = product(&L->m[LLM_DEV_GATE], CU_MV_SWIGLU, CU_IN_NORM, d->x, NULL, ffn_norm,
                        c->rms_eps, d->h);
            p.w2 = L->m[LLM_DEV_UP];
            if (!(d->skip & 1 << PROF_GATE_UP) && (e = cu_llm_matvec(s, &p)) != cudaSuccess) break;
            mark(d, s, PROF_GATE_UP, prof);
            p = product(&L->m[LLM_DEV_DOWN], CU_MV_ADD, CU_IN_PLAIN, d->h, NULL, NULL, 0, d->x);
        } else {
            p = product(&L->m[LLM_DEV_GATE], CU_MV_STORE, CU_IN_NORM, d->x, NULL, ffn_norm,
                        c->rms_eps, d->h);
            if ((e = cu_llm_matvec(s, &p)) != cudaSuccess) break;
            p = product(&L->m[LLM_DEV_UP], CU_MV_STORE, CU_IN_NORM, d->x, NULL, ffn_norm,
                        c->rms_eps, d->h2);
            if ((e = cu_llm_matvec(s, &p)) != cudaSuccess) break;
            mark(d, s, PROF_GATE_UP, prof);
            p = product(&L->m[LLM_DEV_DOWN], CU_MV_ADD, CU_IN_SWIGLU, d->h, d->h2, NULL, 0, d->x);
        }
        if (!(d->skip & 1 << PROF_DOWN)) e = cu_llm_matvec(s, &p);
        mark(d, s, PROF_DOWN, prof);
    }
    if (e == cudaSuccess && logits) {
        const cu_llm_mat *out = cu_llm_output_of(m);
        cu_llm_mv p =
            product(out, CU_MV_STORE, CU_IN_NORM, d->x, NULL,
                    m->m[LLM_DEV_OUT_NORM - LLM_DEV_LAYER_SLOTS].q, c->rms_eps, d->logits);
        if (!(d->skip & 1 << PROF_OUTPUT)) e = cu_llm_matvec(s, &p);
        mark(d, s, PROF_OUTPUT, prof);
    }
    if (e == cudaSuccess && kind == STEP_GREEDY)
        e = cu_llm_argmax(s, d->logits, c->n_vocab, d->step, d->chosen);
    return e;
}

/* Adds the times of the marked step (after the device finished it) to the profile. */
static void profile_add(dsession *d) {
    for (int i = 1; i < d->nev; i++) {
        float t = 0;
        if (cudaEventElapsedTime(&t, d->ev[i - 1], d->ev[i]) == cudaSuccess) d->ms[d->kind[i]] += t;
    }
    d->steps++;
}

/* Captures the step of the given kind into d->exec[kind]. */
static born_status capture(dsession *d, int kind) {
    cudaStream_t s = cuda_stream(d->m->dev);
    cudaGraph_t g = NULL;
    cudaError_t e = cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
    if (e != cudaSuccess) return cuda_check(e, "born_session_eval: cuda graph capture");
    cudaError_t ke = enqueue_step(d, kind, false);
    e = cudaStreamEndCapture(s, &g);
    if (ke != cudaSuccess || e != cudaSuccess) {
        if (g) cudaGraphDestroy(g);
        return cuda_check(ke != cudaSuccess ? ke : e, "born_session_eval: cuda graph capture");
    }
    e = cudaGraphInstantiate(&d->exec[kind], g, 0);
    cudaGraphDestroy(g);
    if (e != cudaSuccess) {
        d->exec[kind] = NULL;
        return cuda_check(e, "born_session_eval: cuda graph instantiation");
    }
    return BORN_OK;
}

/* The graph of the given kind, captured at its first use (without programmatic launches when
 * the driver cannot capture them); NULL with the error recorded. */
static cudaGraphExec_t graph_of(dsession *d, int kind) {
    if (!d->exec[kind] && capture(d, kind) != BORN_OK && cu_llm_pdl(true)) {
        cuda_host->clear_error();
        cu_llm_pdl(false);
        capture(d, kind);
    }
    return d->exec[kind];
}

/* Queues the copy of the step's token and position to the device (what: the caller's name). */
static born_status set_step(dsession *d, int32_t token, int32_t pos, const char *what) {
    born_status st = cuda_capture_forbids(d->m->dev, what);
    if (st != BORN_OK) return st;
    const int step[2] = {token, pos};
    /* from pageable memory: the source is copied out before the call returns */
    return cuda_check(
        cudaMemcpyAsync(d->step, step, sizeof step, cudaMemcpyHostToDevice, cuda_stream(d->m->dev)),
        what);
}

static born_status decode(void *handle, int32_t token, int32_t pos, float *logits, bool graph) {
    dsession *d = handle;
    cudaStream_t s = cuda_stream(d->m->dev);
    born_status st = set_step(d, token, pos, "born_session_eval");
    if (st != BORN_OK) return st;
    const int kind = logits ? STEP_LOGITS : STEP_PLAIN;
    if (graph) {
        cudaGraphExec_t g = graph_of(d, kind);
        if (!g) return BORN_ERR_DEVICE;
        st = cuda_check(cudaGraphLaunch(g, s), "born_session_eval: graph launch");
    } else {
        st = cuda_check(enqueue_step(d, kind, d->prof), "born_session_eval: kernels");
        if (st == BORN_OK && d->prof && cudaStreamSynchronize(s) == cudaSuccess) profile_add(d);
    }
    if (st != BORN_OK || !logits) return st;
    const size_t bytes = (size_t)d->m->cfg.n_vocab * sizeof(float);
    st = cuda_check(cudaMemcpyAsync(d->logits_host, d->logits, bytes, cudaMemcpyDeviceToHost, s),
                    "born_session_eval: logits");
    if (st == BORN_OK) st = cuda_check(cudaStreamSynchronize(s), "born_session_eval: decode step");
    if (st == BORN_OK) memcpy(logits, d->logits_host, bytes);
    return st;
}

static born_status decode_greedy(void *handle, int32_t token, int32_t pos, int32_t n,
                                 int32_t *out) {
    dsession *d = handle;
    cudaStream_t s = cuda_stream(d->m->dev);
    born_status st = set_step(d, token, pos, "born_session_decode_greedy");
    cudaGraphExec_t g = st == BORN_OK ? graph_of(d, STEP_GREEDY) : NULL;
    if (!g) return st != BORN_OK ? st : BORN_ERR_DEVICE;
    for (int32_t i = 0; i < n && st == BORN_OK; i++)
        st = cuda_check(cudaGraphLaunch(g, s), "born_session_decode_greedy: graph launch");
    if (st == BORN_OK)
        st = cuda_check(cudaMemcpyAsync(out, d->chosen + pos, (size_t)n * sizeof(int),
                                        cudaMemcpyDeviceToHost, s),
                        "born_session_decode_greedy: tokens");
    if (st == BORN_OK) st = cuda_check(cudaStreamSynchronize(s), "born_session_decode_greedy");
    return st;
}

const llm_device_ops cuda_llm_ops = {
    .model_new = model_new,
    .model_upload = model_upload,
    .model_free = model_free,
    .session_new = session_new,
    .session_free = session_free,
    .decode = decode,
    .decode_greedy = decode_greedy,
    .prefill = cu_llm_prefill,
    .eval_batch = cu_llm_eval_batch,
    .decode_greedy_batch = cu_llm_decode_greedy_batch,
};
