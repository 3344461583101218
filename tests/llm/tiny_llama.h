/* A tiny random LLaMA-family GGUF for the engine's tests (CI has no real model): 2 layers,
 * width 64, 4 heads over 2 kv heads (GQA), head size 16, FFN 96, and a small SentencePiece
 * vocabulary (<unk> <s> </s>, the 256 byte tokens, "▁", letters and a few merges, <|im_end|>)
 * with a ChatML chat template. */
#ifndef BORN_TESTS_LLM_TINY_LLAMA_H
#define BORN_TESTS_LLM_TINY_LLAMA_H

#include "test.h"

typedef struct tiny_llama_opts {
    const char *arch;     /* "llama" (default), "mistral", "qwen2" (adds QKV biases), or any */
    born_dtype wtype;     /* dtype of the matrices: F32 (default), F16, Q8_0, Q4_1, ... */
    bool tied;            /* no output.weight: the lm head is token_embd */
    const char *omit;     /* a tensor name to leave out, or NULL */
    const char *rope_scaling; /* "linear" / "yarn" (factor 2), or NULL */
    uint64_t seed;
    int32_t head_dim;     /* head size (attention.key_length); 0: 16 */
    int32_t n_embd, n_ff; /* width and FFN size; 0: 64 and 96 (256 and 512 take the K-quants) */
    int32_t n_head, n_head_kv; /* query and key/value heads; 0: 4 and 2 */
    bool mixed;           /* attn_v, ffn_up and ffn_down in wtype2 instead (as Q4_K_M mixes) */
    born_dtype wtype2;
} tiny_llama_opts;

tiny_llama_opts tiny_llama_default(void);

/* Writes the model to path; false (with the library's error) on failure. */
bool tiny_llama_write(const char *path, const tiny_llama_opts *o);

/* The model's vocabulary size. */
int32_t tiny_llama_vocab(void);

#endif
