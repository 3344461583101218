/* GPT: a decoder-only language model built from Born's transformer blocks, in two flavours.
 * GPT-2 (nanoGPT/llm.c): token + learned position embeddings, pre-norm LayerNorm blocks with
 * biased projections and a GELU-tanh MLP, a final LayerNorm and logits through the token
 * embedding (tied). LLaMA: token embeddings only, RMSNorm blocks with RoPE, grouped-query
 * attention and a SwiGLU MLP, no biases, a final RMSNorm and an untied lm_head. Parameter names
 * are wte, wpe, h.<i>.{norm1,attn.{q,k,v,o}_proj,norm2,mlp.{gate,up,down}_proj}, ln_f, lm_head. */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "core/tensor_impl.h"
#include "nn/nn_internal.h"

typedef struct gpt {
    born_module base;
    born_gpt_config cfg;
    born_module *wte, *wpe, *h, *ln_f, *lm_head; /* borrowed children (wpe, lm_head may be NULL) */
} gpt;

born_gpt_config born_gpt_default_config(bool llama) {
    born_gpt_config c;
    memset(&c, 0, sizeof c);
    c.vocab_size = 256;
    c.block_size = 64;
    c.n_layer = 2;
    c.n_head = 4;
    c.n_kv_head = llama ? 2 : 4;
    c.n_embd = 64;
    c.ffn_hidden = llama ? 176 : 256;
    c.llama = llama;
    c.norm_eps = 1e-5;
    c.rope_theta = 10000.0;
    return c;
}

static born_tensor *gpt_forward(born_module *m, born_tensor *idx) {
    gpt *g = (gpt *)m;
    char d[200];
    if (idx->ndim != 2 || !born_dtype_is_integer(idx->dtype) || idx->shape[1] > g->cfg.block_size ||
        idx->shape[1] < 1)
        return born_error_null(BORN_ERR_SHAPE, "GPT: input %s must be integer token ids [B, T] "
                               "with 1 <= T <= block_size %" PRId64,
                               shape_str(idx->ndim, idx->shape, d, sizeof d), g->cfg.block_size);
    born_tensor *x = born_module_forward(g->wte, idx);
    if (g->wpe) {
        born_tensor *pos = born_to(born_arange(0, (double)idx->shape[1], 1, BORN_I64),
                                   born_tensor_device(idx));
        x = born_add(x, born_module_forward(g->wpe, pos));
    }
    x = born_module_forward(g->ln_f, born_module_forward(g->h, x));
    if (g->lm_head) return born_module_forward(g->lm_head, x);
    return born_linear(x, born_module_get_parameter(g->wte, "weight"), NULL);
}

static void gpt_describe(const born_module *m, char *buf, size_t size) {
    const born_gpt_config *c = &((const gpt *)m)->cfg;
    nn_buf_printf(buf, size, "%s, vocab=%" PRId64 ", block=%" PRId64 ", layers=%" PRId64
                  ", heads=%" PRId64 "/%" PRId64 ", dim=%" PRId64 ", hidden=%" PRId64,
                  c->llama ? "llama" : "gpt2", c->vocab_size, c->block_size, c->n_layer, c->n_head,
                  c->n_kv_head, c->n_embd, c->ffn_hidden);
}

static const born_module_vtable gpt_vt = {"GPT", gpt_forward, NULL, gpt_describe};

/* nanoGPT's initialisation: N(0, 0.02) weights, zero biases, unit norms, and the projections
 * that write into the residual stream (o_proj, down_proj) scaled by 1 / sqrt(2 n_layer). */
static bool gpt_init(gpt *g, born_generator *gen) {
    born_tensor_list *ps = born_module_named_parameters(&g->base);
    if (!ps) return false;
    double resid = 0.02 / sqrt(2.0 * (double)g->cfg.n_layer);
    bool ok = true;
    for (int64_t i = 0; ok && i < ps->count; i++) {
        const char *name = ps->items[i].name;
        born_tensor *t = ps->items[i].tensor;
        size_t n = strlen(name);
        bool is_bias = n >= 5 && strcmp(name + n - 5, ".bias") == 0;
        bool is_norm = strstr(name, "norm") || strncmp(name, "ln_f", 4) == 0;
        if (is_bias) ok = born_init_zeros_(t) == BORN_OK;
        else if (is_norm) ok = born_init_ones_(t) == BORN_OK;
        else if (strstr(name, "o_proj.weight") || strstr(name, "down_proj.weight"))
            ok = born_init_normal_(t, 0.0, resid, gen) == BORN_OK;
        else ok = born_init_normal_(t, 0.0, 0.02, gen) == BORN_OK;
    }
    born_tensor_list_free(ps);
    return ok;
}

born_module *born_gpt_new(const born_gpt_config *config, born_generator *gen) {
    static const char *fn = "born_gpt_new";
    if (!config) return born_error_null(BORN_ERR_ARGUMENT, "%s: config is NULL", fn);
    born_gpt_config c = *config;
    if (c.n_kv_head == 0) c.n_kv_head = c.n_head;
    if (c.ffn_hidden == 0) c.ffn_hidden = 4 * c.n_embd;
    if (c.vocab_size < 1 || c.block_size < 1 || c.n_layer < 1 || c.n_head < 1 || c.n_embd < 1 ||
        c.n_kv_head < 1 || c.ffn_hidden < 1 || c.n_embd % c.n_head || c.n_head % c.n_kv_head ||
        (c.llama && (c.n_embd / c.n_head) % 2))
        return born_error_null(BORN_ERR_ARGUMENT, "%s: vocab %" PRId64 ", block %" PRId64 ", layers %"
                               PRId64 ", dim %" PRId64 ", hidden %" PRId64 " must be positive, heads %"
                               PRId64 " must divide dim and be a multiple of kv heads %" PRId64
                               " (with an even head size for RoPE)", fn, c.vocab_size, c.block_size,
                               c.n_layer, c.n_embd, c.ffn_hidden, c.n_head, c.n_kv_head);
    gpt *g = (gpt *)nn_module_alloc(sizeof *g, &gpt_vt, fn);
    if (!g) return NULL;
    g->cfg = c;
    born_transformer_block_options o = born_transformer_block_default_options(c.n_head, c.ffn_hidden);
    o.norm_eps = c.norm_eps;
    o.attention.num_kv_heads = c.n_kv_head;
    if (c.llama) {
        o.attention.bias = false;
        o.attention.use_rope = true;
        o.attention.rope.theta = c.rope_theta;
        o.ffn = BORN_FFN_SWIGLU;
        o.ffn_bias = false;
        o.rms_norm = true;
    } else {
        o.attention.out_bias = true;
        o.ffn = BORN_FFN_GELU_TANH;
    }
    int64_t dim = c.n_embd;
    bool ok = born_module_register_child(&g->base, "wte", g->wte = born_embedding_new(c.vocab_size, dim, BORN_EMBEDDING_NO_PADDING, gen)) == BORN_OK;
    if (ok && !c.llama)
        ok = born_module_register_child(&g->base, "wpe", g->wpe = born_embedding_new(c.block_size, dim, BORN_EMBEDDING_NO_PADDING, gen)) == BORN_OK;
    ok = ok && born_module_register_child(&g->base, "h", g->h = born_sequential_new()) == BORN_OK;
    for (int64_t i = 0; ok && i < c.n_layer; i++)
        ok = born_sequential_append(g->h, born_transformer_block_new(dim, &o, gen)) == BORN_OK;
    born_module *ln_f = !ok ? NULL : c.llama ? born_rms_norm_new(1, &dim, c.norm_eps, true)
                                : born_layer_norm_new(1, &dim, c.norm_eps, true, true);
    ok = ok && born_module_register_child(&g->base, "ln_f", g->ln_f = ln_f) == BORN_OK;
    if (ok && c.llama)
        ok = born_module_register_child(&g->base, "lm_head", g->lm_head = born_linear_new(dim, c.vocab_size, false, gen)) == BORN_OK;
    if (!ok || !gpt_init(g, gen)) {
        born_module_free(&g->base);
        return NULL;
    }
    return &g->base;
}

const born_gpt_config *born_gpt_get_config(const born_module *m) {
    if (!m || born_module_type_name(m) != gpt_vt.type_name)
        return born_error_null(BORN_ERR_ARGUMENT, "born_gpt_get_config: the module is not a GPT");
    return &((const gpt *)m)->cfg;
}
