/* Models on a device (src/backend/llm_device.h): the model's weights go to the device once, at
 * load (sessions there run through src/llm/session/device_eval.c).
 *
 * f32 / f16 / bf16 matrices are uploaded as stored. Block-quantized ones are repacked, block by
 * block, into a group-affine format (integer levels q and one (a, b) pair per group of 16 or 32
 * elements, element = a q + b): the same levels and the same block scales, so the values are
 * those of the CPU's dequantization (up to the rounding of a q + b), laid out so that a GPU lane
 * reads 16 aligned bytes at a time instead of 18-, 20- or 210-byte blocks. */
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/quant/quant_traits.h"
#include "core/error.h"
#include "llm/model/model_internal.h"

/* ---- levels and group scales of each block type ---------------------------------------------- */

static int nib32(const uint8_t *qs, int e) { return e < 16 ? qs[e] & 15 : qs[e - 16] >> 4; }

static int level_q8_0(const void *b, int e) { return ((const block_q8_0 *)b)->qs[e]; }
static int level_q4_0(const void *b, int e) { return nib32(((const block_q4_0 *)b)->qs, e); }
static int level_q4_1(const void *b, int e) { return nib32(((const block_q4_1 *)b)->qs, e); }

static int level_q5_0(const void *b, int e) {
    const block_q5_0 *x = b;
    uint32_t qh;
    memcpy(&qh, x->qh, 4);
    return (nib32(x->qs, e) | (int)((qh >> e) & 1) << 4) - 16;
}

static int level_q5_1(const void *b, int e) {
    const block_q5_1 *x = b;
    uint32_t qh;
    memcpy(&qh, x->qh, 4);
    return nib32(x->qs, e) | (int)((qh >> e) & 1) << 4;
}

/* Q4_K / Q5_K: 64-element chunks, byte l of a chunk holding element l (low) and l + 32 (high). */
static int nib_k(const uint8_t *qs, int e) {
    const int c = e / 64, l = e % 64;
    const uint8_t byte = qs[32 * c + l % 32];
    return l < 32 ? byte & 15 : byte >> 4;
}

static int level_q4_K(const void *b, int e) { return nib_k(((const block_q4_K *)b)->qs, e); }

static int level_q5_K(const void *b, int e) {
    const block_q5_K *x = b;
    const int c = e / 64, l = e % 64;
    const int mask = (l < 32 ? 1 : 2) << (2 * c);
    return nib_k(x->qs, e) + (x->qh[l % 32] & mask ? 16 : 0);
}

static int level_q6_K(const void *b, int e) {
    const block_q6_K *x = b;
    const int h = e / 128, k = e % 128, l = k % 32, g = k / 32;
    const uint8_t *ql = x->ql + 64 * h, *qh = x->qh + 32 * h;
    int lo = g & 1 ? ql[l + 32] : ql[l];
    lo = g & 2 ? lo >> 4 : lo & 0xF;
    return (lo | ((qh[l] >> (2 * g)) & 3) << 4) - 32;
}

static void affine_d(uint16_t d, float *ab) {
    ab[0] = quant_f16(d);
    ab[1] = 0.0f;
}

static void affine_q8_0(const void *b, int g, float *ab) {
    (void)g;
    affine_d(((const block_q8_0 *)b)->d, ab);
}
static void affine_q5_0(const void *b, int g, float *ab) {
    (void)g;
    affine_d(((const block_q5_0 *)b)->d, ab);
}

static void affine_q4_0(const void *b, int g, float *ab) {
    (void)g;
    ab[0] = quant_f16(((const block_q4_0 *)b)->d);
    ab[1] = -8.0f * ab[0];
}

static void affine_q4_1(const void *b, int g, float *ab) {
    (void)g;
    ab[0] = quant_f16(((const block_q4_1 *)b)->d);
    ab[1] = quant_f16(((const block_q4_1 *)b)->m);
}

static void affine_q5_1(const void *b, int g, float *ab) {
    (void)g;
    ab[0] = quant_f16(((const block_q5_1 *)b)->d);
    ab[1] = quant_f16(((const block_q5_1 *)b)->m);
}

/* Q4_K and Q5_K share the first fields: d, dmin, scales[12] */
static void affine_k4(const void *b, int g, float *ab) {
    const block_q4_K *x = b;
    uint8_t sc, m;
    quant_scale_min_k4(g, x->scales, &sc, &m);
    ab[0] = quant_f16(x->d) * (float)sc;
    ab[1] = -(quant_f16(x->dmin) * (float)m);
}

static void affine_q6_K(const void *b, int g, float *ab) {
    const block_q6_K *x = b;
    ab[0] = quant_f16(x->d) * (float)x->scales[g];
    ab[1] = 0.0f;
}

typedef struct repack_type {
    born_dtype dtype;
    llm_dev_fmt fmt;
    int (*level)(const void *block, int e);
    void (*affine)(const void *block, int group, float *ab);
} repack_type;

static const repack_type repack_types[] = {
    {BORN_Q8_0, LLM_DEV_I8G32, level_q8_0, affine_q8_0},
    {BORN_Q4_0, LLM_DEV_U4G32, level_q4_0, affine_q4_0},
    {BORN_Q4_1, LLM_DEV_U4G32, level_q4_1, affine_q4_1},
    {BORN_Q5_0, LLM_DEV_I8G32, level_q5_0, affine_q5_0},
    {BORN_Q5_1, LLM_DEV_I8G32, level_q5_1, affine_q5_1},
    {BORN_Q4_K, LLM_DEV_U4G32, level_q4_K, affine_k4},
    {BORN_Q5_K, LLM_DEV_I8G32, level_q5_K, affine_k4},
    {BORN_Q6_K, LLM_DEV_I8G16, level_q6_K, affine_q6_K},
};

static const repack_type *repack_of(born_dtype dt) {
    for (size_t i = 0; i < sizeof repack_types / sizeof repack_types[0]; i++)
        if (repack_types[i].dtype == dt) return &repack_types[i];
    return NULL;
}

static llm_dev_fmt fmt_of(born_dtype dt) {
    if (dt == BORN_F32) return LLM_DEV_F32;
    if (dt == BORN_F16) return LLM_DEV_F16;
    if (dt == BORN_BF16) return LLM_DEV_BF16;
    const repack_type *r = repack_of(dt);
    return r ? r->fmt : LLM_DEV_NONE;
}

/* Levels and (a, b) pairs of a whole quantized matrix w in r's format. */
static born_status repack(const llm_weight *w, const repack_type *r, void **q_out, float **s_out) {
    const int64_t block = born_dtype_block_size(w->dtype), G = r->fmt == LLM_DEV_I8G16 ? 16 : 32;
    const size_t bbytes = born_dtype_block_bytes(w->dtype);
    const int64_t nb = w->cols / block, ngroups = w->cols / G;
    const bool u4 = r->fmt == LLM_DEV_U4G32;
    uint8_t *q = malloc((size_t)w->rows * (size_t)(u4 ? w->cols / 2 : w->cols));
    float *s = malloc((size_t)w->rows * (size_t)ngroups * 2 * sizeof(float));
    if (!q || !s) {
        free(q);
        free(s);
        return born_error(BORN_ERR_MEMORY,
                          "born_model_load: out of memory repacking a %lld x %lld "
                          "matrix for the device",
                          (long long)w->rows, (long long)w->cols);
    }
    for (int64_t row = 0; row < w->rows; row++) {
        const uint8_t *src = (const uint8_t *)w->data + (size_t)row * w->row_bytes;
        uint8_t *qr = q + (size_t)row * (size_t)(u4 ? w->cols / 2 : w->cols);
        float *sr = s + (size_t)row * (size_t)ngroups * 2;
        for (int64_t b = 0; b < nb; b++) {
            const void *blk = src + (size_t)b * bbytes;
            for (int e = 0; e < block; e++) {
                const int64_t k = b * block + e;
                const int v = r->level(blk, e);
                if (!u4)
                    qr[k] = (uint8_t)(int8_t)v;
                else if (k % 2 == 0)
                    qr[k / 2] = (uint8_t)v;
                else
                    qr[k / 2] = (uint8_t)(qr[k / 2] | v << 4);
            }
            for (int g = 0; g < block / G; g++)
                r->affine(blk, g, sr + (b * (block / G) + g) * 2);
        }
    }
    *q_out = q;
    *s_out = s;
    return BORN_OK;
}

born_status llm_device_repack(const llm_weight *w, llm_dev_fmt *fmt, void **q, float **s) {
    const repack_type *r = repack_of(w->dtype);
    if (!r)
        return born_error(BORN_ERR_UNSUPPORTED, "llm_device_repack: %s is not repacked",
                          born_dtype_name(w->dtype));
    *fmt = r->fmt;
    return repack(w, r, q, s);
}

static llm_dev_matrix describe(const llm_weight *w) {
    llm_dev_matrix d = {LLM_DEV_NONE, 0, 0};
    if (!w->t) return d;
    d.fmt = fmt_of(w->dtype);
    d.rows = w->rows;
    d.cols = w->cols;
    return d;
}

static born_status upload(born_model *m, int32_t layer, llm_dev_slot slot, const llm_weight *w) {
    if (!w->t) return BORN_OK;
    const repack_type *r = repack_of(w->dtype);
    if (!r) return m->dev_ops->model_upload(m->dev_model, layer, slot, w->data, NULL);
    void *q = NULL;
    float *s = NULL;
    born_status st = repack(w, r, &q, &s);
    if (st == BORN_OK) st = m->dev_ops->model_upload(m->dev_model, layer, slot, q, s);
    free(q);
    free(s);
    return st;
}

/* The layer's weights in llm_dev_slot order. */
static void layer_weights(const llm_layer *L, const llm_weight *ws[LLM_DEV_LAYER_SLOTS]) {
    const llm_weight *list[LLM_DEV_LAYER_SLOTS] = {
        &L->attn_norm, &L->wq, &L->wk,       &L->wv,     &L->bq,   &L->bk,    &L->bv,
        &L->wo,        &L->bo, &L->ffn_norm, &L->w_gate, &L->w_up, &L->w_down};
    memcpy(ws, list, sizeof list);
}

born_status llm_device_upload(born_model *m) {
    const llm_device_ops *ops = backend_llm_ops(m->device);
    if (!ops) return born_last_status();
    const llm_hparams *hp = &m->hp;
    const llm_weight *model_ws[3] = {&m->tok_embd, &m->out_norm, &m->output};
    for (int i = 0; i < 3; i++)
        if (model_ws[i]->t && fmt_of(model_ws[i]->dtype) == LLM_DEV_NONE)
            return born_error(BORN_ERR_UNSUPPORTED,
                              "born_model_load: the device decoder does not "
                              "take %s tensors (%s)",
                              born_dtype_name(model_ws[i]->dtype),
                              i == 0   ? "token_embd"
                              : i == 1 ? "output_norm"
                                       : "output");
    llm_dev_matrix *lc = calloc((size_t)hp->n_layer * LLM_DEV_LAYER_SLOTS, sizeof *lc);
    if (!lc) return born_error(BORN_ERR_MEMORY, "born_model_load: out of memory");
    for (int32_t l = 0; l < hp->n_layer; l++) {
        const llm_weight *ws[LLM_DEV_LAYER_SLOTS];
        layer_weights(&m->layers[l], ws);
        for (int i = 0; i < LLM_DEV_LAYER_SLOTS; i++) {
            lc[(size_t)l * LLM_DEV_LAYER_SLOTS + i] = describe(ws[i]);
            if (ws[i]->t && fmt_of(ws[i]->dtype) == LLM_DEV_NONE) {
                free(lc);
                return born_error(BORN_ERR_UNSUPPORTED,
                                  "born_model_load: the device decoder does "
                                  "not take %s tensors (layer %d)",
                                  born_dtype_name(ws[i]->dtype), (int)l);
            }
        }
    }
    llm_dev_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.n_vocab = hp->n_vocab;
    cfg.n_embd = hp->n_embd;
    cfg.n_layer = hp->n_layer;
    cfg.n_head = hp->n_head;
    cfg.n_head_kv = hp->n_head_kv;
    cfg.head_dim = hp->head_dim;
    cfg.n_ff = hp->n_ff;
    cfg.n_rot = hp->n_rot;
    cfg.rms_eps = hp->rms_eps;
    cfg.rope_neox = hp->rope_type == LLM_ROPE_NEOX;
    for (int i = 0; i < 3; i++)
        cfg.model[i] = describe(model_ws[i]);
    cfg.layers = lc;
    m->dev_ops = ops;
    m->dev_model = ops->model_new(m->device.index, &cfg);
    free(lc);
    if (!m->dev_model) return born_last_status();
    born_status st = BORN_OK;
    for (int i = 0; i < 3 && st == BORN_OK; i++)
        st = upload(m, -1, (llm_dev_slot)(LLM_DEV_LAYER_SLOTS + i), model_ws[i]);
    for (int32_t l = 0; l < hp->n_layer && st == BORN_OK; l++) {
        const llm_weight *ws[LLM_DEV_LAYER_SLOTS];
        layer_weights(&m->layers[l], ws);
        for (int i = 0; i < LLM_DEV_LAYER_SLOTS && st == BORN_OK; i++)
            st = upload(m, l, (llm_dev_slot)i, ws[i]);
    }
    return st;
}
