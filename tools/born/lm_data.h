/* The data side of `born train-lm`: a text file as a stream of token ids (bytes, or a BPE
 * tokenizer's ids), split 90/10 by position into training and validation, and the seeded window
 * generator that picks the batches.
 *
 * The window generator is SplitMix64 (Steele, Lea, Flood 2014), so that another program can draw
 * the same windows (bench/validation/train_lm_torch.py does):
 *     state += 0x9E3779B97F4A7C15
 *     z = state; z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9; z = (z ^ (z >> 27)) * 0x94D049BB133111EB
 *     return z ^ (z >> 31)                                      (all arithmetic modulo 2^64)
 * A window of T tokens from the segment [lo, hi) starts at lo + next() % (hi - lo - T): its inputs
 * are ids[s, s + T) and its targets ids[s + 1, s + T + 1). The training stream starts with state =
 * seed and draws the batch's windows in order, batch after batch; after k draws its state is
 * seed + k * 0x9E3779B97F4A7C15, which is how a resumed run continues the stream. The validation
 * windows are drawn once, at the start, from a second stream with state = seed ^
 * 0xD1B54A32D192ED03. */
#ifndef BORN_TOOLS_LM_DATA_H
#define BORN_TOOLS_LM_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "born/born.h"

#define LM_SPLITMIX_GAMMA 0x9E3779B97F4A7C15ULL
#define LM_VAL_STREAM_XOR 0xD1B54A32D192ED03ULL

/* The next number of a SplitMix64 stream whose state is *state (advanced). */
uint64_t lm_splitmix64(uint64_t *state);

typedef struct lm_text {
    int32_t *ids;        /* n token ids (owned) */
    int64_t n;
    int64_t vocab;       /* 256 for bytes; the tokenizer's vocabulary otherwise */
    int64_t split;       /* ids[0, split) train, ids[split, n) validate: split = n * 9 / 10 */
    born_tokenizer *bpe; /* owned; NULL for bytes */
} lm_text;

/* Reads path and tokenizes it: bytes (id = byte value) when tokenizer is NULL, else with the
 * tokenizer at that path (a tokenizer.json file, or a folder holding vocab.json and merges.txt).
 * False with a message in err for a missing, unreadable or empty file, or a tokenizer that does
 * not load. */
bool lm_text_load(const char *path, const char *tokenizer, lm_text *out, char *err, size_t errsize);

void lm_text_free(lm_text *t);

/* The text of n ids, malloc'd and NUL-terminated (bytes as they are; BPE decoded). NULL on
 * failure. */
char *lm_text_decode(const lm_text *t, const int32_t *ids, int64_t n, size_t *len);

/* Draws `batch` window starts from the segment [lo, hi) for windows of t tokens (hi - lo > t). */
void lm_draw_starts(uint64_t *state, int64_t lo, int64_t hi, int64_t t, int64_t batch, int64_t *starts);

/* The inputs x [batch, t] and targets y [batch, t] (i64) of the windows at starts. */
bool lm_make_batch(const lm_text *text, const int64_t *starts, int64_t batch, int64_t t,
                   born_tensor **x, born_tensor **y);

#endif
