/* Internal: the small backtracking regex engine behind the BPE pre-tokenizers.
 *
 * It runs over code points (with a precomputed category byte per code point) and supports the
 * subset that tokenizer patterns use: literals and escapes (\r \n \t \f \v \\ \. ... \xHH
 * \x{H..} \uHHHH), classes [...] / [^...] with ranges and \p{..} \P{..} \s \S \d \D \w \W inside,
 * \p{L} \p{Lu} \p{N} \p{M} \p{P} \p{S} \p{Z} \p{C} and their subcategories, '.', groups (...)
 * (?:...) (?i:...) (?i), lookaheads (?=...) (?!...), atomic groups (?>...), alternation, the
 * quantifiers ? * + {n} {n,} {n,m} with lazy (?) and possessive (+) forms, and ^ $ at the ends of
 * the text being split. Matching is leftmost-first with backtracking, as Perl, Oniguruma (HF
 * tokenizers) and fancy-regex (tiktoken) do. Case-insensitive matching folds ASCII letters only
 * (tiktoken does not match "'\u017f" as "'s"). */
#ifndef BORN_LLM_REGEX_H
#define BORN_LLM_REGEX_H

#include <stddef.h>
#include <stdint.h>

typedef struct rx_prog rx_prog;

/* Compiles pattern (len bytes of UTF-8). On failure returns NULL and writes a message into err. */
rx_prog *rx_compile(const char *pattern, size_t len, char *err, size_t err_size);
void rx_free(rx_prog *prog);

/* The per-code-point byte the matcher reads beside each code point: the general category
 * (born_ucat) in the low 5 bits, RX_INFO_SPACE when it is White_Space. */
#define RX_INFO_SPACE 0x20u
uint8_t rx_info_of(uint32_t cp);

/* A growable list of piece end offsets (in code points). */
typedef struct rx_pieces {
    int32_t *ends;
    int64_t count, cap;
} rx_pieces;

/* Splits each input piece (cps[prev_end..end) for every end in `in`) into the matches of prog
 * and the unmatched gaps between them, appending their ends to out in order (llama.cpp's and HF's
 * "isolated" split). Returns 0, -1 when memory runs out, -2 when a match needed more than the
 * backtracking budget (a pathological pattern). */
int rx_split(const rx_prog *prog, const uint32_t *cps, const uint8_t *info, const rx_pieces *in,
             rx_pieces *out);

/* rx_split always through the backtracking machine, even for the patterns that rx_split hands to
 * purpose-written splitters (GPT-2's, Llama-3's / cl100k's, Qwen2's, "\p{N}"); the tests check
 * that both give the same pieces. */
int rx_split_vm(const rx_prog *prog, const uint32_t *cps, const uint8_t *info, const rx_pieces *in,
                rx_pieces *out);

/* Appends one end offset; returns 0 or -1 when memory runs out. */
int rx_pieces_push(rx_pieces *p, int32_t end);

#endif
