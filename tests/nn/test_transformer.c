/* Transformer modules: incremental decoding through the KV cache gives the full forward's
 * outputs (MHA, GQA and MQA, with RoPE), truncation rolls the cache back, the FFN kinds compute
 * their formulas, pre- and post-norm blocks compose as documented, and gradients flow to every
 * parameter. */
#include <stdlib.h>
#include <string.h>

#include "test.h"

static double max_abs_diff(born_tensor *a, born_tensor *b) {
    born_scope_begin();
    born_tensor *d = born_max(born_abs(born_sub(a, b)), 0, NULL, false);
    double v = d ? born_item(d) : INFINITY;
    born_scope_end();
    return v;
}

static void incremental_equals_full(int64_t heads, int64_t kv_heads, bool rope) {
    born_generator *gen = born_generator_new(1);
    born_transformer_block_options o = born_transformer_block_default_options(heads, 32);
    o.attention.num_kv_heads = kv_heads;
    o.attention.use_rope = rope;
    o.ffn = BORN_FFN_SWIGLU;
    o.rms_norm = true;
    born_module *blk = born_transformer_block_new(16, &o, gen);
    CHECK_OK_TENSOR((born_tensor *)blk);
    if (!blk) return;
    born_module_eval(blk);
    born_scope_begin();
    born_tensor *x = born_randn(gen, BORN_F32, BORN_DIMS(2, 7, 16));
    born_tensor *full = born_module_forward(blk, x);
    born_kv_cache *cache = born_kv_cache_new(1, 2, kv_heads, 16, 16 / heads, BORN_F32);
    CHECK_OK(born_transformer_block_set_cache(blk, cache, 0));
    /* a prompt of 3 tokens, then one token at a time */
    born_tensor *parts[5];
    parts[0] = born_module_forward(blk, born_narrow(x, 1, 0, 3));
    CHECK_OK(born_kv_cache_advance(cache, 3));
    for (int t = 3; t < 7; t++) {
        parts[t - 2] = born_module_forward(blk, born_narrow(x, 1, t, 1));
        CHECK_OK(born_kv_cache_advance(cache, 1));
    }
    born_tensor *inc = born_cat(parts, 5, 1);
    CHECK_OK_TENSOR(inc);
    if (inc && full) CHECK_MSG(max_abs_diff(inc, full) < 1e-5, "incremental vs full: %g", max_abs_diff(inc, full));
    /* roll back two tokens and decode them again: same outputs */
    CHECK_OK(born_kv_cache_truncate(cache, 5));
    CHECK_EQ_INT(born_kv_cache_length(cache), 5);
    born_tensor *again = born_module_forward(blk, born_narrow(x, 1, 5, 2));
    if (again && full) CHECK(max_abs_diff(again, born_narrow(full, 1, 5, 2)) < 1e-5);
    CHECK(born_kv_cache_truncate(cache, 9) != BORN_OK);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "length");
    CHECK_OK(born_transformer_block_set_cache(blk, NULL, 0));
    born_scope_end();
    born_kv_cache_free(cache);
    born_module_free(blk);
    born_generator_free(gen);
}

TEST(transformer_kv_cache_incremental_equals_full) {
    incremental_equals_full(4, 4, false);
    incremental_equals_full(4, 2, true);
    incremental_equals_full(4, 1, true);
}

TEST(transformer_ffn_kinds_and_blocks) {
    born_generator *gen = born_generator_new(2);
    born_scope_begin();
    born_tensor *x = born_randn(gen, BORN_F32, BORN_DIMS(2, 3, 8));
    static const born_ffn_kind kinds[] = {BORN_FFN_GELU, BORN_FFN_GELU_TANH, BORN_FFN_RELU,
                                          BORN_FFN_SILU, BORN_FFN_SWIGLU, BORN_FFN_GEGLU,
                                          BORN_FFN_REGLU};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        born_module *f = born_ffn_new(8, 12, kinds[i], true, gen);
        CHECK(f != NULL);
        if (!f) continue;
        born_module *down = born_module_get_child(f, "down_proj"), *up = born_module_get_child(f, "up_proj");
        born_tensor *u = born_module_forward(up, x), *h;
        switch (kinds[i]) {
        case BORN_FFN_GELU: h = born_gelu(u); break;
        case BORN_FFN_GELU_TANH: h = born_gelu_tanh(u); break;
        case BORN_FFN_RELU: h = born_relu(u); break;
        case BORN_FFN_SILU: h = born_silu(u); break;
        default: {
            born_tensor *g = born_module_forward(born_module_get_child(f, "gate_proj"), x);
            g = kinds[i] == BORN_FFN_SWIGLU ? born_silu(g) : kinds[i] == BORN_FFN_GEGLU ? born_gelu(g) : born_relu(g);
            h = born_mul(g, u);
        }
        }
        born_tensor *want = born_module_forward(down, h), *got = born_module_forward(f, x);
        CHECK(got && want && max_abs_diff(got, want) == 0.0);
        born_module_free(f);
    }
    /* post-norm block: norm2(h + mlp(h)) with h = norm1(x + attn(x)) */
    born_transformer_block_options o = born_transformer_block_default_options(2, 16);
    o.pre_norm = false;
    o.attention.causal = false;
    born_module *b = born_transformer_block_new(8, &o, gen);
    CHECK(b != NULL);
    if (b) {
        born_tensor *h = born_module_forward(born_module_get_child(b, "norm1"),
                                             born_add(x, born_module_forward(born_module_get_child(b, "attn"), x)));
        born_tensor *want = born_module_forward(born_module_get_child(b, "norm2"),
                                                born_add(h, born_module_forward(born_module_get_child(b, "mlp"), h)));
        CHECK(max_abs_diff(born_module_forward(b, x), want) == 0.0);
        /* every parameter gets a gradient */
        CHECK_OK(born_backward(born_sum(born_module_forward(b, x), 0, NULL, false)));
        int64_t n = 0;
        born_tensor **ps = born_module_parameters(b, &n);
        CHECK_EQ_INT(n, 4 + 7 + 4);
        for (int64_t i = 0; i < n; i++) CHECK(born_grad(ps[i]) != NULL);
        free(ps);
        born_module_free(b);
    }
    CHECK(!born_grouped_query_attention_new(8, 4, 3, true, NULL));
    CHECK_ERROR(BORN_ERR_ARGUMENT, "kv heads");
    born_module *mha = born_multihead_attention_new(8, 2, true, gen);
    CHECK(mha && born_module_num_parameters(mha) == 4 * (64 + 8));
    born_module_free(mha);
    born_scope_end();
    born_generator_free(gen);
}
