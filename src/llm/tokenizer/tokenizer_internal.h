/* Internal: the tokenizer object and the pieces of it that the source files share. */
#ifndef BORN_LLM_TOKENIZER_INTERNAL_H
#define BORN_LLM_TOKENIZER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "born/llm.h"
#include "llm/tokenizer/regex.h"

/* An open-addressing map from byte strings (stored in the tokenizer's arena) to ids. */
typedef struct tok_strslot {
    uint32_t id1; /* id + 1, 0 = empty */
    uint32_t hash;
} tok_strslot;

typedef struct tok_strmap {
    tok_strslot *slots;
    size_t mask;
} tok_strmap;

/* An open-addressing map from a pair of symbol ids to (rank, merged id). */
typedef struct tok_pair_slot {
    uint64_t key; /* (left << 32 | right) + 1, 0 = empty */
    int32_t rank, merged;
} tok_pair_slot;

typedef struct tok_pairmap {
    tok_pair_slot *slots;
    size_t mask, count;
} tok_pairmap;

struct born_tokenizer {
    born_tokenizer_model model;
    int32_t n_vocab;
    /* Symbols 0..n_vocab-1 are the tokens; n_vocab..n_sym-1 are merge results that are not
     * tokens (they decompose into bytes at the end). */
    int32_t n_sym;

    uint8_t *arena; /* every byte string below, NUL-terminated */
    size_t arena_len, arena_cap;
    int64_t *text_off; /* per token: the stored text */
    uint32_t *text_len;
    int64_t *piece_off; /* per token: token_to_piece(special = true) */
    uint32_t *piece_len;
    int64_t *sym_off; /* per symbol: the bytes BPE matches ("gpt2"/tiktoken); -1 if none */
    uint32_t *sym_len;
    float *scores;
    uint8_t *types;
    uint8_t *flags;

    tok_strmap text_map; /* stored text -> id */
    tok_strmap sym_map;  /* BPE bytes -> symbol ("gpt2", tiktoken) */
    tok_pairmap pairs;   /* BPE merges ("gpt2", "llama" with merges); tiktoken looks its
                            merged byte strings up in sym_map instead */
    bool use_merges;     /* "llama": HF merge ranks instead of scores */
    bool byte_fallback;
    int32_t byte_sym[256]; /* "gpt2"/tiktoken: the symbol of each single byte;
                              "llama": the <0xNN> token (or the one-byte token), -1 if none */

    /* special tokens matched in text, longest text first */
    int32_t *specials;
    int32_t n_specials;

    rx_prog *regex[4];
    int n_regex;

    int32_t bos_id, eos_id, unk_id, pad_id, eot_id, sep_id;
    bool add_bos, add_eos, add_space_prefix, ignore_merges;
};

/* Map helpers (tokenizer.c). */
int32_t tok_strmap_find(const born_tokenizer *t, const tok_strmap *m, const int64_t *offs,
                        const uint32_t *lens, const void *key, size_t len);
static inline const uint8_t *tok_bytes(const born_tokenizer *t, int64_t off) {
    return t->arena + off;
}
bool tok_pair_find(const tok_pairmap *m, int32_t left, int32_t right, int32_t *rank,
                   int32_t *merged);

/* Encoders (bpe.c): append ids to a growable list. */
typedef struct tok_ids {
    int32_t *v;
    size_t n, cap;
} tok_ids;
bool tok_ids_push(tok_ids *ids, int32_t id);

/* A per-call cache of BPE results for repeated pre-tokens. */
typedef struct tok_cache tok_cache;
tok_cache *tok_cache_new(void);
void tok_cache_free(tok_cache *c);

/* Byte-level BPE of one fragment of raw text (any bytes): pre-tokenize with the regexes, then
 * merge each piece. Returns BORN_OK or records an error. */
born_status tok_encode_bytelevel(const born_tokenizer *t, const uint8_t *text, size_t len,
                                 tok_ids *out, tok_cache *cache);

/* SentencePiece BPE of one fragment (spaces already escaped to U+2581). */
born_status tok_encode_spm(const born_tokenizer *t, const uint8_t *text, size_t len, tok_ids *out);

/* GPT-2's byte <-> unicode mapping. */
uint32_t tok_byte_to_cp(uint8_t b);
int tok_cp_to_byte(uint32_t cp); /* -1 when cp is not one of the 256 */

#endif
