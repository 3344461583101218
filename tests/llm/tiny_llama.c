/* The tiny random LLaMA GGUF (see tiny_llama.h), written with Born's GGUF writer. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/tiny_llama.h"

enum { E0 = 64, H = 4, HKV = 2, HD = 16, F0 = 96, L = 2 };

static const char *letters = "abcdefghijklmnopqrstuvwxyz";
static const char *extra[] = {"\xe2\x96\x81" "t", "he", "\xe2\x96\x81" "the", "in", "\xe2\x96\x81" "a",
                              "<|im_start|>", "<|im_end|>"};
#define N_EXTRA (int32_t)(sizeof extra / sizeof extra[0])

int32_t tiny_llama_vocab(void) { return 3 + 256 + 1 + 26 + N_EXTRA; }

tiny_llama_opts tiny_llama_default(void) {
    tiny_llama_opts o;
    memset(&o, 0, sizeof o);
    o.arch = "llama";
    o.wtype = BORN_F32;
    o.seed = 1234;
    return o;
}

static born_status add_weight(born_gguf_writer *w, const tiny_llama_opts *o, born_generator *g,
                              const char *name, int64_t rows, int64_t cols, double scale,
                              born_dtype dtype) {
    if (o->omit && strcmp(o->omit, name) == 0) return BORN_OK;
    born_scope_begin();
    int64_t shape[2] = {rows, cols};
    born_tensor *t = rows ? born_randn(g, BORN_F32, 2, shape) : born_randn(g, BORN_F32, 1, &cols);
    /* wider models (n_embd / n_ff set) keep the default model's activation sizes: scale by
     * sqrt(64 / cols), so that attention does not saturate and errors do not explode */
    if (rows && (o->n_embd > 0 || o->n_ff > 0)) scale *= sqrt(64.0 / (double)cols);
    t = born_mul_scalar(t, scale);
    if (!rows) t = born_add_scalar(t, 1.0); /* norm weights around 1 */
    if (dtype != BORN_F32) t = born_to_dtype(t, dtype);
    born_status st = t ? born_gguf_writer_add_tensor(w, name, t) : born_last_status();
    born_scope_end();
    return st;
}

bool tiny_llama_write(const char *path, const tiny_llama_opts *o) {
    born_gguf_writer *w = born_gguf_writer_open(path);
    if (!w) return false;
    born_generator *g = born_generator_new(o->seed);
    char key[128];
    const char *a = o->arch;
    const int32_t hd = o->head_dim > 0 ? o->head_dim : HD;
    const int32_t E = o->n_embd > 0 ? o->n_embd : E0, F = o->n_ff > 0 ? o->n_ff : F0;
    const int32_t nh = o->n_head > 0 ? o->n_head : H, nkv = o->n_head_kv > 0 ? o->n_head_kv : HKV;
    born_status st = born_gguf_writer_set_string(w, "general.architecture", a);
#define KU32(suffix, v)                                                                           \
    if (st == BORN_OK) {                                                                          \
        snprintf(key, sizeof key, "%s." suffix, a);                                               \
        st = born_gguf_writer_set_u32(w, key, v);                                                 \
    }
#define KF32(suffix, v)                                                                           \
    if (st == BORN_OK) {                                                                          \
        snprintf(key, sizeof key, "%s." suffix, a);                                               \
        st = born_gguf_writer_set_f32(w, key, v);                                                 \
    }
    KU32("context_length", 256)
    KU32("embedding_length", E)
    KU32("block_count", L)
    KU32("feed_forward_length", F)
    KU32("attention.head_count", nh)
    KU32("attention.head_count_kv", nkv)
    KU32("rope.dimension_count", hd)
    if (hd != HD) KU32("attention.key_length", hd)
    KF32("attention.layer_norm_rms_epsilon", 1e-5f)
    KF32("rope.freq_base", 10000.0f)
    if (o->rope_scaling) {
        if (st == BORN_OK) {
            snprintf(key, sizeof key, "%s.rope.scaling.type", a);
            st = born_gguf_writer_set_string(w, key, o->rope_scaling);
        }
        KF32("rope.scaling.factor", 2.0f)
        KU32("rope.scaling.original_context_length", 128)
    }
#undef KU32
#undef KF32
    /* the vocabulary */
    const int32_t n = tiny_llama_vocab();
    char **toks = calloc((size_t)n, sizeof *toks);
    float *scores = calloc((size_t)n, sizeof *scores);
    int32_t *types = calloc((size_t)n, sizeof *types);
    int32_t k = 0;
    const char *specials[3] = {"<unk>", "<s>", "</s>"};
    for (int i = 0; i < 3; i++, k++) {
        toks[k] = strdup(specials[i]);
        types[k] = i == 0 ? 2 : 3;
    }
    for (int b = 0; b < 256; b++, k++) {
        toks[k] = malloc(8);
        snprintf(toks[k], 8, "<0x%02X>", b);
        types[k] = 6;
    }
    toks[k] = strdup("\xe2\x96\x81");
    types[k] = 1;
    scores[k++] = -1.0f;
    for (int i = 0; i < 26; i++, k++) {
        toks[k] = malloc(2);
        toks[k][0] = letters[i];
        toks[k][1] = 0;
        types[k] = 1;
        scores[k] = -2.0f - (float)i * 0.01f;
    }
    for (int i = 0; i < N_EXTRA; i++, k++) {
        toks[k] = strdup(extra[i]);
        bool ctl = extra[i][0] == '<';
        types[k] = ctl ? 3 : 1;
        scores[k] = ctl ? 0.0f : -0.5f - (float)i * 0.1f;
    }
    if (st == BORN_OK) st = born_gguf_writer_set_string(w, "tokenizer.ggml.model", "llama");
    if (st == BORN_OK)
        st = born_gguf_writer_set_string_array(w, "tokenizer.ggml.tokens",
                                               (const char *const *)toks, NULL, (uint64_t)n);
    if (st == BORN_OK)
        st = born_gguf_writer_set_array(w, "tokenizer.ggml.scores", BORN_GGUF_F32, scores, (uint64_t)n);
    if (st == BORN_OK)
        st = born_gguf_writer_set_array(w, "tokenizer.ggml.token_type", BORN_GGUF_I32, types, (uint64_t)n);
    if (st == BORN_OK) st = born_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    if (st == BORN_OK) st = born_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    if (st == BORN_OK)
        st = born_gguf_writer_set_string(
            w, "tokenizer.chat_template",
            "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
            "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt "
            "%}{{ '<|im_start|>assistant\\n' }}{% endif %}");
    for (int32_t i = 0; i < n; i++) free(toks[i]);
    free(toks);
    free(scores);
    free(types);
    /* tensors */
    born_dtype wt = o->wtype, wt2 = o->mixed ? o->wtype2 : o->wtype;
    bool bias = strcmp(a, "qwen2") == 0;
    if (st == BORN_OK) st = add_weight(w, o, g, "token_embd.weight", n, E, 1.0, wt);
    for (int l = 0; l < L && st == BORN_OK; l++) {
        char name[64];
#define W(fmt, rows, cols, scale, dt)                                                             \
    if (st == BORN_OK) {                                                                          \
        snprintf(name, sizeof name, "blk.%d." fmt, l);                                            \
        st = add_weight(w, o, g, name, rows, cols, scale, dt);                                    \
    }
        W("attn_norm.weight", 0, E, 0.1, BORN_F32)
        W("attn_q.weight", nh * hd, E, 0.2, wt)
        W("attn_k.weight", nkv * hd, E, 0.2, wt)
        W("attn_v.weight", nkv * hd, E, 0.2, wt2)
        if (bias) {
            W("attn_q.bias", 0, nh * hd, 0.1, BORN_F32)
            W("attn_k.bias", 0, nkv * hd, 0.1, BORN_F32)
            W("attn_v.bias", 0, nkv * hd, 0.1, BORN_F32)
        }
        W("attn_output.weight", E, nh * hd, 0.15, wt)
        W("ffn_norm.weight", 0, E, 0.1, BORN_F32)
        W("ffn_gate.weight", F, E, 0.15, wt)
        W("ffn_up.weight", F, E, 0.15, wt2)
        W("ffn_down.weight", E, F, 0.15, wt2)
#undef W
    }
    if (st == BORN_OK) st = add_weight(w, o, g, "output_norm.weight", 0, E, 0.1, BORN_F32);
    if (st == BORN_OK && !o->tied) st = add_weight(w, o, g, "output.weight", n, E, 0.2, wt);
    born_generator_free(g);
    if (st != BORN_OK) {
        born_gguf_writer_abort(w);
        return false;
    }
    return born_gguf_writer_finish(w) == BORN_OK;
}
