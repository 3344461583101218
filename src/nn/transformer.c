/* Transformer modules: self-attention (multi-head, grouped-query, multi-query; optional RoPE and
 * a KV cache), the feed-forward networks (GELU, GELU-tanh, ReLU, SwiGLU, GeGLU, ReGLU) and the
 * pre-/post-norm block, plus the training-side KV cache. Parameter names follow Hugging Face's
 * Llama (q_proj, k_proj, v_proj, o_proj; gate_proj, up_proj, down_proj). */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/tensor_impl.h"
#include "nn/linear_fused.h"
#include "nn/nn_internal.h"

/* ---- KV cache ------------------------------------------------------------------------------ */

struct born_kv_cache {
    int n_layers;
    int64_t batch, kv_heads, max_len, head_dim, v_dim;
    int64_t length;        /* positions filled, shared by every layer */
    int64_t *layer_length; /* per layer, during a step */
    born_tensor **k, **v;  /* [B, Hkv, max_len, D] per layer */
};

born_kv_cache *born_kv_cache_new(int n_layers, int64_t batch, int64_t kv_heads, int64_t max_len,
                                 int64_t head_dim, born_dtype dtype) {
    static const char *fn = "born_kv_cache_new";
    if (n_layers < 1 || batch < 1 || kv_heads < 1 || max_len < 1 || head_dim < 1)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: layers %d, batch %" PRId64 ", heads %" PRId64
                               ", length %" PRId64 " and head size %" PRId64 " must be positive",
                               fn, n_layers, batch, kv_heads, max_len, head_dim);
    if (!born_dtype_is_floating(dtype))
        return born_error_null(BORN_ERR_DTYPE, "%s: dtype must be floating", fn);
    born_kv_cache *c = calloc(1, sizeof *c);
    if (!c) return born_error_null(BORN_ERR_MEMORY, "%s: out of memory", fn);
    c->n_layers = n_layers;
    c->batch = batch;
    c->kv_heads = kv_heads;
    c->max_len = max_len;
    c->head_dim = c->v_dim = head_dim;
    c->k = calloc((size_t)n_layers, sizeof *c->k);
    c->v = calloc((size_t)n_layers, sizeof *c->v);
    c->layer_length = calloc((size_t)n_layers, sizeof *c->layer_length);
    bool ok = c->k && c->v && c->layer_length;
    for (int i = 0; ok && i < n_layers; i++) {
        c->k[i] = born_zeros(dtype, BORN_DIMS(batch, kv_heads, max_len, head_dim));
        if (c->k[i]) scope_unregister(c->k[i]);
        c->v[i] = born_zeros(dtype, BORN_DIMS(batch, kv_heads, max_len, head_dim));
        if (c->v[i]) scope_unregister(c->v[i]);
        ok = c->k[i] && c->v[i];
    }
    if (!ok) {
        born_kv_cache_free(c);
        return born_error_null(BORN_ERR_MEMORY, "%s: out of memory", fn);
    }
    return c;
}

void born_kv_cache_free(born_kv_cache *c) {
    if (!c) return;
    for (int i = 0; i < c->n_layers; i++) {
        if (c->k) born_free(c->k[i]);
        if (c->v) born_free(c->v[i]);
    }
    free(c->k);
    free(c->v);
    free(c->layer_length);
    free(c);
}

int64_t born_kv_cache_length(const born_kv_cache *c) { return c ? c->length : 0; }

born_status born_kv_cache_truncate(born_kv_cache *c, int64_t length) {
    if (!c) return born_error(BORN_ERR_ARGUMENT, "born_kv_cache_truncate: cache is NULL");
    if (length < 0 || length > c->length)
        return born_error(BORN_ERR_ARGUMENT, "born_kv_cache_truncate: length %" PRId64 " must lie "
                          "in [0, %" PRId64 "] (the positions filled)", length, c->length);
    c->length = length;
    for (int i = 0; i < c->n_layers; i++) c->layer_length[i] = length;
    return BORN_OK;
}

/* Appends k, v [B, Hkv, T, D] to layer `layer` at the cache's length and returns views of the
 * filled part [B, Hkv, length + T, D] through *ko, *vo. */
static bool kv_cache_append(born_kv_cache *c, int layer, born_tensor *k, born_tensor *v,
                            born_tensor **ko, born_tensor **vo) {
    static const char *fn = "born_kv_cache (attention)";
    if (layer < 0 || layer >= c->n_layers) {
        born_error(BORN_ERR_ARGUMENT, "%s: layer %d outside [0, %d)", fn, layer, c->n_layers);
        return false;
    }
    int64_t t = k->shape[2], start = c->length;
    if (k->shape[0] != c->batch || k->shape[1] != c->kv_heads || k->shape[3] != c->head_dim) {
        born_error(BORN_ERR_SHAPE, "%s: keys [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 "] do "
                   "not fit the cache's [%" PRId64 ", %" PRId64 ", _, %" PRId64 "]", fn, k->shape[0],
                   k->shape[1], k->shape[2], k->shape[3], c->batch, c->kv_heads, c->head_dim);
        return false;
    }
    if (start + t > c->max_len) {
        born_error(BORN_ERR_ARGUMENT, "%s: %" PRId64 " cached positions plus %" PRId64 " new exceed "
                   "the cache's %" PRId64, fn, start, t, c->max_len);
        return false;
    }
    born_no_grad_begin();
    born_status st = born_copy_(born_narrow(c->k[layer], 2, start, t), born_detach(k));
    if (st == BORN_OK) st = born_copy_(born_narrow(c->v[layer], 2, start, t), born_detach(v));
    born_no_grad_end();
    if (st != BORN_OK) return false;
    c->layer_length[layer] = start + t;
    *ko = born_narrow(c->k[layer], 2, 0, start + t);
    *vo = born_narrow(c->v[layer], 2, 0, start + t);
    return *ko && *vo;
}

born_status born_kv_cache_advance(born_kv_cache *c, int64_t n) {
    if (!c) return born_error(BORN_ERR_ARGUMENT, "born_kv_cache_advance: cache is NULL");
    if (n < 0 || c->length + n > c->max_len)
        return born_error(BORN_ERR_ARGUMENT, "born_kv_cache_advance: %" PRId64 " positions past %"
                          PRId64 " do not fit %" PRId64, n, c->length, c->max_len);
    c->length += n;
    return BORN_OK;
}

/* ---- attention ----------------------------------------------------------------------------- */

born_attention_options born_attention_default_options(int64_t num_heads) {
    born_attention_options o;
    memset(&o, 0, sizeof o);
    o.num_heads = num_heads;
    o.num_kv_heads = num_heads;
    o.bias = true;
    o.causal = true;
    o.rope = born_rope_default_params();
    return o;
}

typedef struct attention {
    born_module base;
    int64_t dim, heads, kv_heads, head_dim;
    born_attention_options opt;
    born_module *q, *k, *v, *o;
    born_generator *gen; /* dropout's (borrowed) */
    born_kv_cache *cache;
    int layer;
} attention;

/* x [B, T, H * D] -> [B, H, T, D] */
static born_tensor *split_heads(born_tensor *x, int64_t h, int64_t d) {
    born_tensor *r = born_view(x, BORN_DIMS(x->shape[0], x->shape[1], h, d));
    return born_transpose(r, 1, 2);
}

static born_tensor *attention_forward(born_module *m, born_tensor *x) {
    attention *a = (attention *)m;
    char d[200];
    if (x->ndim != 3 || x->shape[2] != a->dim)
        return born_error_null(BORN_ERR_SHAPE, "Attention: input %s must be [B, T, %" PRId64 "]",
                               shape_str(x->ndim, x->shape, d, sizeof d), a->dim);
    int64_t b = x->shape[0], t = x->shape[1];
    born_tensor *q = split_heads(born_module_forward(a->q, x), a->heads, a->head_dim);
    born_tensor *k = split_heads(born_module_forward(a->k, x), a->kv_heads, a->head_dim);
    born_tensor *v = split_heads(born_module_forward(a->v, x), a->kv_heads, a->head_dim);
    int64_t past = a->cache ? a->cache->length : 0;
    if (a->opt.use_rope && q && k) {
        born_rope_params rp = a->opt.rope;
        rp.position_offset = past;
        q = born_rope(q, NULL, &rp);
        k = born_rope(k, NULL, &rp);
    }
    if (a->cache && k && v && !kv_cache_append(a->cache, a->layer, k, v, &k, &v)) return NULL;
    born_sdpa_params p = born_sdpa_default_params();
    p.is_causal = a->opt.causal;
    p.kv_offset = past;
    p.enable_gqa = a->kv_heads != a->heads;
    p.dropout_p = m->training ? a->opt.dropout : 0.0;
    p.gen = a->gen;
    born_tensor *y = born_scaled_dot_product_attention(q, k, v, NULL, &p);
    y = y ? born_reshape(born_transpose(y, 1, 2), BORN_DIMS(b, t, a->heads * a->head_dim)) : NULL;
    return born_module_forward(a->o, y);
}

static void attention_describe(const born_module *m, char *buf, size_t size) {
    const attention *a = (const attention *)m;
    nn_buf_printf(buf, size, "embed_dim=%" PRId64 ", num_heads=%" PRId64 ", num_kv_heads=%" PRId64
                  ", causal=%s, rope=%s", a->dim, a->heads, a->kv_heads, nn_py_bool(a->opt.causal),
                  nn_py_bool(a->opt.use_rope));
}

static const born_module_vtable attention_vt = {"Attention", attention_forward, NULL,
                                                attention_describe};

born_module *born_attention_new(int64_t embed_dim, const born_attention_options *options,
                                born_generator *gen) {
    static const char *fn = "born_attention_new";
    if (!options) return born_error_null(BORN_ERR_ARGUMENT, "%s: options is NULL", fn);
    born_attention_options o = *options;
    if (o.num_kv_heads == 0) o.num_kv_heads = o.num_heads;
    int64_t hd = o.head_dim > 0 ? o.head_dim : (o.num_heads > 0 ? embed_dim / o.num_heads : 0);
    if (embed_dim < 1 || o.num_heads < 1 || o.num_kv_heads < 1 || o.num_heads % o.num_kv_heads ||
        hd < 1 || (o.head_dim == 0 && embed_dim % o.num_heads))
        return born_error_null(BORN_ERR_ARGUMENT, "%s: embed_dim %" PRId64 ", %" PRId64 " heads and %"
                               PRId64 " kv heads: heads must divide embed_dim (or head_dim be given) "
                               "and kv heads divide heads", fn, embed_dim, o.num_heads,
                               o.num_kv_heads);
    if (!(o.dropout >= 0 && o.dropout < 1))
        return born_error_null(BORN_ERR_ARGUMENT, "%s: dropout %g must lie in [0, 1)", fn, o.dropout);
    attention *a = (attention *)nn_module_alloc(sizeof *a, &attention_vt, fn);
    if (!a) return NULL;
    a->dim = embed_dim;
    a->heads = o.num_heads;
    a->kv_heads = o.num_kv_heads;
    a->head_dim = hd;
    a->opt = o;
    a->gen = o.dropout_gen;
    bool ok = born_module_register_child(&a->base, "q_proj", a->q = born_linear_new(embed_dim, o.num_heads * hd, o.bias, gen)) == BORN_OK &&
              born_module_register_child(&a->base, "k_proj", a->k = born_linear_new(embed_dim, o.num_kv_heads * hd, o.bias, gen)) == BORN_OK &&
              born_module_register_child(&a->base, "v_proj", a->v = born_linear_new(embed_dim, o.num_kv_heads * hd, o.bias, gen)) == BORN_OK &&
              born_module_register_child(&a->base, "o_proj", a->o = born_linear_new(o.num_heads * hd, embed_dim, o.out_bias, gen)) == BORN_OK;
    if (!ok) {
        born_module_free(&a->base);
        return NULL;
    }
    return &a->base;
}

born_module *born_multihead_attention_new(int64_t embed_dim, int64_t num_heads, bool bias,
                                          born_generator *gen) {
    born_attention_options o = born_attention_default_options(num_heads);
    o.bias = o.out_bias = bias;
    o.causal = false;
    return born_attention_new(embed_dim, &o, gen);
}

born_module *born_grouped_query_attention_new(int64_t embed_dim, int64_t num_heads,
                                              int64_t num_kv_heads, bool bias,
                                              born_generator *gen) {
    born_attention_options o = born_attention_default_options(num_heads);
    o.num_kv_heads = num_kv_heads;
    o.bias = o.out_bias = bias;
    o.causal = false;
    return born_attention_new(embed_dim, &o, gen);
}

born_status born_attention_set_cache(born_module *m, born_kv_cache *cache, int layer) {
    if (!m || m->vt != &attention_vt)
        return born_error(BORN_ERR_ARGUMENT, "born_attention_set_cache: module is not an Attention");
    attention *a = (attention *)m;
    if (cache && (cache->kv_heads != a->kv_heads || cache->head_dim != a->head_dim ||
                  layer < 0 || layer >= cache->n_layers))
        return born_error(BORN_ERR_ARGUMENT, "born_attention_set_cache: the cache (%" PRId64 " kv "
                          "heads of %" PRId64 ", %d layers) does not fit layer %d with %" PRId64
                          " kv heads of %" PRId64, cache->kv_heads, cache->head_dim, cache->n_layers,
                          layer, a->kv_heads, a->head_dim);
    a->cache = cache;
    a->layer = layer;
    return BORN_OK;
}

/* ---- feed-forward -------------------------------------------------------------------------- */

typedef struct ffn {
    born_module base;
    born_ffn_kind kind;
    born_module *gate, *up, *down;
} ffn;

static const char *ffn_kind_name(born_ffn_kind k) {
    static const char *names[] = {"gelu", "gelu_tanh", "relu", "silu", "swiglu", "geglu", "reglu"};
    return k >= 0 && k <= BORN_FFN_REGLU ? names[k] : "?";
}

static born_tensor *ffn_act(born_ffn_kind k, born_tensor *x) {
    switch (k) {
    case BORN_FFN_GELU: case BORN_FFN_GEGLU: return born_gelu(x);
    case BORN_FFN_GELU_TANH: return born_gelu_tanh(x);
    case BORN_FFN_RELU: case BORN_FFN_REGLU: return born_relu(x);
    case BORN_FFN_SILU: case BORN_FFN_SWIGLU: return born_silu(x);
    }
    return NULL;
}

static bool ffn_gated(born_ffn_kind k) { return k >= BORN_FFN_SWIGLU; }

static born_tensor *ffn_forward(born_module *m, born_tensor *x) {
    ffn *f = (ffn *)m;
    if (f->kind == BORN_FFN_GELU_TANH) /* GELU-tanh in the up projection's epilogue where it can */
        return born_module_forward(f->down, nn_linear_act(f->up, x, true));
    born_tensor *h = ffn_act(f->kind, born_module_forward(ffn_gated(f->kind) ? f->gate : f->up, x));
    if (ffn_gated(f->kind)) h = born_mul(h, born_module_forward(f->up, x));
    return born_module_forward(f->down, h);
}

static void ffn_describe(const born_module *m, char *buf, size_t size) {
    nn_buf_printf(buf, size, "activation=%s", ffn_kind_name(((const ffn *)m)->kind));
}

static const born_module_vtable ffn_vt = {"FeedForward", ffn_forward, NULL, ffn_describe};

born_module *born_ffn_new(int64_t dim, int64_t hidden, born_ffn_kind kind, bool bias,
                          born_generator *gen) {
    static const char *fn = "born_ffn_new";
    if (dim < 1 || hidden < 1 || kind < BORN_FFN_GELU || kind > BORN_FFN_REGLU)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: dim %" PRId64 ", hidden %" PRId64 " and kind %d"
                               " must be positive and known", fn, dim, hidden, (int)kind);
    ffn *f = (ffn *)nn_module_alloc(sizeof *f, &ffn_vt, fn);
    if (!f) return NULL;
    f->kind = kind;
    bool ok = true;
    if (ffn_gated(kind))
        ok = born_module_register_child(&f->base, "gate_proj", f->gate = born_linear_new(dim, hidden, bias, gen)) == BORN_OK;
    ok = ok && born_module_register_child(&f->base, "up_proj", f->up = born_linear_new(dim, hidden, bias, gen)) == BORN_OK;
    ok = ok && born_module_register_child(&f->base, "down_proj", f->down = born_linear_new(hidden, dim, bias, gen)) == BORN_OK;
    if (!ok) {
        born_module_free(&f->base);
        return NULL;
    }
    return &f->base;
}

/* ---- block --------------------------------------------------------------------------------- */

typedef struct block {
    born_module base;
    bool pre_norm;
    born_module *norm1, *attn, *norm2, *mlp;
} block;

static born_tensor *block_forward(born_module *m, born_tensor *x) {
    block *b = (block *)m;
    if (b->pre_norm) {
        born_tensor *h = born_add(x, born_module_forward(b->attn, born_module_forward(b->norm1, x)));
        return born_add(h, born_module_forward(b->mlp, born_module_forward(b->norm2, h)));
    }
    born_tensor *h = born_module_forward(b->norm1, born_add(x, born_module_forward(b->attn, x)));
    return born_module_forward(b->norm2, born_add(h, born_module_forward(b->mlp, h)));
}

static void block_describe(const born_module *m, char *buf, size_t size) {
    nn_buf_printf(buf, size, "norm_first=%s", nn_py_bool(((const block *)m)->pre_norm));
}

static const born_module_vtable block_vt = {"TransformerBlock", block_forward, NULL, block_describe};

born_transformer_block_options born_transformer_block_default_options(int64_t num_heads,
                                                                      int64_t ffn_hidden) {
    born_transformer_block_options o;
    memset(&o, 0, sizeof o);
    o.attention = born_attention_default_options(num_heads);
    o.ffn_hidden = ffn_hidden;
    o.ffn = BORN_FFN_GELU;
    o.ffn_bias = true;
    o.pre_norm = true;
    o.norm_eps = 1e-5;
    return o;
}

static born_module *norm_new(int64_t dim, bool rms, double eps) {
    return rms ? born_rms_norm_new(1, &dim, eps, true) : born_layer_norm_new(1, &dim, eps, true, true);
}

born_module *born_transformer_block_new(int64_t dim, const born_transformer_block_options *options,
                                        born_generator *gen) {
    static const char *fn = "born_transformer_block_new";
    if (!options) return born_error_null(BORN_ERR_ARGUMENT, "%s: options is NULL", fn);
    block *b = (block *)nn_module_alloc(sizeof *b, &block_vt, fn);
    if (!b) return NULL;
    b->pre_norm = options->pre_norm;
    bool ok = born_module_register_child(&b->base, "norm1", b->norm1 = norm_new(dim, options->rms_norm, options->norm_eps)) == BORN_OK &&
              born_module_register_child(&b->base, "attn", b->attn = born_attention_new(dim, &options->attention, gen)) == BORN_OK &&
              born_module_register_child(&b->base, "norm2", b->norm2 = norm_new(dim, options->rms_norm, options->norm_eps)) == BORN_OK &&
              born_module_register_child(&b->base, "mlp", b->mlp = born_ffn_new(dim, options->ffn_hidden, options->ffn, options->ffn_bias, gen)) == BORN_OK;
    if (!ok) {
        born_module_free(&b->base);
        return NULL;
    }
    return &b->base;
}

born_status born_transformer_block_set_cache(born_module *m, born_kv_cache *cache, int layer) {
    if (!m || m->vt != &block_vt)
        return born_error(BORN_ERR_ARGUMENT, "born_transformer_block_set_cache: module is not a "
                          "TransformerBlock");
    return born_attention_set_cache(((block *)m)->attn, cache, layer);
}
