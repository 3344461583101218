/* Born llm (layer 8): what large-language-model inference needs on top of the library.
 *
 * Tokenizers: one object, built from plain data, for the three families in use:
 *   - "llama": SentencePiece BPE as llama.cpp's llm_tokenizer_spm runs it (score-driven merges,
 *     U+2581 for spaces, an optional space prefix, <0xNN> byte fallback), or, when merges are
 *     given (a Llama-2 style tokenizer.json), the same with HF tokenizers' merge ranks;
 *   - "gpt2": byte-level BPE (GPT-2's byte-to-unicode mapping, merges ranked by order) after a
 *     regex pre-tokenizer chosen by name (GGUF's tokenizer.ggml.pre) or given as a pattern;
 *   - tiktoken: byte-level BPE ranked by token rank (.tiktoken files), with the encoding's regex.
 * The GGUF loader, HF files (tokenizer.json, vocab.json + merges.txt) and .tiktoken files all
 * produce the same object. Encoding gives exactly the ids that llama.cpp, HF tokenizers and
 * tiktoken give (see tests/llm/test_tokenizer.c for what is checked).
 *
 * Ownership: a tokenizer is owned by the caller (born_tokenizer_free) and is read-only after
 * creation, so one tokenizer may encode and decode on many threads at once. Arrays returned by
 * encode / decode are malloc'd and freed with free(). Errors follow the library's model: a failing
 * function returns NULL or a status and records a message (born_last_error).
 *
 * Invalid UTF-8 in text to encode never fails and never crashes:
 *   - "llama" cuts the text into characters by their lead byte, as llama.cpp does, so the bytes of
 *     an ill-formed sequence reach the vocabulary as they are and fall back to <0xNN> byte tokens:
 *     decode(encode(s)) == s for any bytes.
 *   - "gpt2" and tiktoken replace each byte that is not part of a well-formed UTF-8 sequence with
 *     U+FFFD before pre-tokenizing (what llama.cpp does, and what tiktoken does with text decoded
 *     with errors="surrogateescape"; llama.cpp alone also accepts overlong and surrogate forms).
 */
#ifndef BORN_LLM_H
#define BORN_LLM_H

#include "born/core.h"
#include "born/io.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------ */
/* Tokenizers                                                                                   */

typedef struct born_tokenizer born_tokenizer;

/* Token types: GGUF's tokenizer.ggml.token_type values (llama.cpp's llama_token_type). */
typedef enum born_token_type {
    BORN_TOKEN_UNDEFINED = 0,
    BORN_TOKEN_NORMAL = 1,
    BORN_TOKEN_UNKNOWN = 2,
    BORN_TOKEN_CONTROL = 3,      /* special tokens: <s>, <|im_start|> ... */
    BORN_TOKEN_USER_DEFINED = 4, /* added tokens matched in text even without parse_special */
    BORN_TOKEN_UNUSED = 5,
    BORN_TOKEN_BYTE = 6 /* <0xNN> */
} born_token_type;

typedef enum born_tokenizer_model {
    BORN_TOKENIZER_LLAMA = 0, /* SentencePiece BPE (GGUF tokenizer.ggml.model "llama") */
    BORN_TOKENIZER_GPT2,      /* byte-level BPE with merges (GGUF "gpt2") */
    BORN_TOKENIZER_TIKTOKEN   /* byte-level BPE ranked by token rank */
} born_tokenizer_model;

/* Flags per token beyond its type (HF added tokens' lstrip / rstrip). */
#define BORN_TOKEN_LSTRIP 1u /* when matched as special, whitespace before it is dropped */
#define BORN_TOKEN_RSTRIP 2u /* ... and whitespace after it */

/* Everything a tokenizer is made of. Arrays are read during born_tokenizer_new only (copied).
 * Token texts are bytes as the source stores them: with U+2581 for spaces for "llama", GPT-2's
 * byte-to-unicode characters for "gpt2" (as vocab.json and GGUF store them), and the raw bytes for
 * tiktoken. Start from born_tokenizer_spec_default(). */
typedef struct born_tokenizer_spec {
    born_tokenizer_model model;
    /* The pre-tokenizer of "gpt2" and tiktoken: a name (GGUF tokenizer.ggml.pre: "gpt2",
     * "gpt-2", "default", "llama3", "llama-bpe", "qwen2", "smollm", "starcoder", "cl100k_base",
     * "o200k_base", ...; see born_tokenizer_pre_regexes) or, when `patterns` is set, the regexes
     * themselves, applied one after the other as llama.cpp does. NULL means "default". */
    const char *pre;
    const char *const *patterns; /* n_patterns regexes (NUL-terminated UTF-8), or NULL */
    int32_t n_patterns;

    int32_t n_tokens;              /* at least 1 */
    const char *const *tokens;     /* n_tokens texts */
    const size_t *token_lens;      /* their lengths, or NULL when they are NUL-terminated */
    const float *scores;           /* n_tokens scores ("llama" merges by them), or NULL (all 0) */
    const int32_t *types;          /* n_tokens born_token_type values, or NULL (all normal) */
    const uint8_t *flags;          /* n_tokens BORN_TOKEN_LSTRIP / RSTRIP flags, or NULL */

    /* Merges "left right" (GGUF tokenizer.ggml.merges, merges.txt lines), rank = index. Required
     * for "gpt2"; optional for "llama" (then HF's merge ranks replace the scores); ignored by
     * tiktoken, which merges by the rank (id) of the merged token. */
    int32_t n_merges;
    const char *const *merges;
    const size_t *merge_lens; /* or NULL when NUL-terminated */

    /* Special ids: -1 for none. */
    int32_t bos_id, eos_id, unk_id, pad_id, eot_id, sep_id;
    bool add_bos;          /* encode(add_special) starts with BOS */
    bool add_eos;          /* ... and ends with EOS */
    bool add_space_prefix; /* "llama": a space before the text and after each special token */
    bool ignore_merges;    /* BPE: a pre-token that is itself a token is not merged (llama3) */
    bool byte_fallback;    /* "llama" with merges: unknown characters become <0xNN> (else UNK) */
} born_tokenizer_spec;

/* A spec with model "llama", no tokens, every id -1, every flag false. */
BORN_API born_tokenizer_spec born_tokenizer_spec_default(void);

/* Builds a tokenizer from spec (owned; free with born_tokenizer_free). Checks everything:
 * BORN_ERR_ARGUMENT for a missing array, a duplicate token text, a special id out of range, an
 * unknown pre-tokenizer name or an unsupported regex; BORN_ERR_FORMAT for a malformed merge. */
BORN_API born_tokenizer *born_tokenizer_new(const born_tokenizer_spec *spec);

/* Frees a tokenizer; NULL is ignored. */
BORN_API void born_tokenizer_free(born_tokenizer *tok);

/* The regexes llama.cpp applies for a pre-tokenizer name (GGUF tokenizer.ggml.pre), in order,
 * through out[0..count) (static strings); returns count (at most 4), or 0 for a name it does not
 * know. Also knows the tiktoken encodings' names ("r50k_base", "cl100k_base", "o200k_base"). */
BORN_API int born_tokenizer_pre_regexes(const char *name, const char *out[4]);

/* The tokenizer metadata of a GGUF file, as its keys hold them (the GGUF reader fills this;
 * born_tokenizer_from_gguf applies llama.cpp's defaults for whatever is absent). */
typedef struct born_tokenizer_gguf {
    const char *model;             /* tokenizer.ggml.model: "llama" or "gpt2" (required) */
    const char *pre;               /* tokenizer.ggml.pre, or NULL */
    int64_t n_tokens;              /* tokenizer.ggml.tokens */
    const char *const *tokens;
    const uint64_t *token_lens;    /* or NULL when NUL-terminated */
    const float *scores;           /* tokenizer.ggml.scores, or NULL */
    const int32_t *token_types;    /* tokenizer.ggml.token_type, or NULL */
    int64_t n_merges;              /* tokenizer.ggml.merges */
    const char *const *merges;
    const uint64_t *merge_lens;    /* or NULL when NUL-terminated */
    /* tokenizer.ggml.{bos,eos,unknown,padding,eot,seperator}_token_id; -1 when absent */
    int64_t bos_id, eos_id, unk_id, pad_id, eot_id, sep_id;
    /* tokenizer.ggml.add_bos_token, add_eos_token, add_space_prefix: -1 absent, 0, 1 */
    int add_bos, add_eos, add_space_prefix;
} born_tokenizer_gguf;

/* Every field absent: NULL pointers, counts 0, ids and flags -1. */
BORN_API born_tokenizer_gguf born_tokenizer_gguf_default(void);

/* Builds a tokenizer from GGUF metadata with llama.cpp's rules: "llama" defaults to BOS 1, EOS 2,
 * UNK 0, add_bos and a space prefix; "gpt2" adds BOS by default only for the pre-tokenizers that
 * llama.cpp says so (llama3, tekken, chameleon); ids out of range are ignored as llama.cpp does
 * (with the default kept). Errors as born_tokenizer_new; an unknown model is
 * BORN_ERR_UNSUPPORTED. */
BORN_API born_tokenizer *born_tokenizer_from_gguf(const born_tokenizer_gguf *kv);

/* Reads a Hugging Face tokenizer.json with a BPE model: byte-level ones (a ByteLevel
 * pre-tokenizer, optionally after Split / Digits: GPT-2, Llama-3, Qwen, SmolLM) become "gpt2",
 * and SentencePiece-style ones (Prepend / Replace U+2581 normalizers, byte_fallback: Llama-2)
 * become "llama" with merge ranks. Added tokens become CONTROL (special) or USER_DEFINED tokens
 * with their lstrip / rstrip; BOS / EOS come from the post-processor's template. Reports
 * BORN_ERR_IO, BORN_ERR_FORMAT for malformed JSON or fields, BORN_ERR_UNSUPPORTED for other
 * models, normalizers or pre-tokenizers. */
BORN_API born_tokenizer *born_tokenizer_load_hf(const char *path);

/* Reads GPT-2's vocab.json and merges.txt (the "#version" line skipped) into a "gpt2" tokenizer
 * with the GPT-2 pre-tokenizer; a token "<|endoftext|>" becomes a CONTROL token and EOS/BOS. */
BORN_API born_tokenizer *born_tokenizer_load_vocab_merges(const char *vocab_json_path,
                                                          const char *merges_txt_path);

/* Reads a .tiktoken rank file (lines "base64-token rank") with the encoding's regex `pattern`
 * (NULL: looked up by `name`, e.g. "cl100k_base") and special tokens (n_special of them, ids
 * given; CONTROL tokens). Ranks must be 0..n-1 without gaps; the vocabulary size is the largest id
 * + 1 (ids in gaps are UNUSED tokens with empty text). */
BORN_API born_tokenizer *born_tokenizer_load_tiktoken(const char *path, const char *name,
                                                      const char *pattern, int32_t n_special,
                                                      const char *const *special_texts,
                                                      const int32_t *special_ids);

/* Reads tiktoken's encoding description as the tokenizers data ships it: path.tiktoken with the
 * JSON file beside it, {"pat_str": ..., "special_tokens": {text: id}}. */
BORN_API born_tokenizer *born_tokenizer_load_tiktoken_json(const char *tiktoken_path,
                                                           const char *json_path);

/* Encodes len bytes of text. add_special adds BOS / EOS as the tokenizer says; parse_special
 * splits the text around CONTROL and UNKNOWN token texts (e.g. "<|im_start|>") and emits those
 * tokens, as llama.cpp's parse_special does (USER_DEFINED tokens are always split out; with
 * parse_special false, CONTROL texts are ordinary text). On success *ids is a malloc'd array
 * (free it; never NULL) of *n_ids ids. Reports BORN_ERR_ARGUMENT for NULL pointers. */
BORN_API born_status born_tokenizer_encode(const born_tokenizer *tok, const char *text,
                                           size_t len, bool add_special, bool parse_special,
                                           int32_t **ids, size_t *n_ids);

/* Decodes n ids into a malloc'd, NUL-terminated buffer *text of *len bytes (free it). With
 * special false, CONTROL and UNKNOWN tokens give nothing (HF's skip_special_tokens); with
 * special true they give their text. A "llama" tokenizer with a space prefix drops one space at
 * the very start of the text, as HF's Strip decoder does. No space clean-up is done, so
 * decode(encode(s)) == s for valid UTF-8 s. An id outside [0, vocab size) is BORN_ERR_ARGUMENT
 * naming it. */
BORN_API born_status born_tokenizer_decode(const born_tokenizer *tok, const int32_t *ids, size_t n,
                                           bool special, char **text, size_t *len);

/* The bytes token id stands for (borrowed, valid while tok lives; not NUL-terminated), their count
 * through len: the text with U+2581 turned into spaces ("llama"), the bytes behind GPT-2's
 * characters ("gpt2"), the byte of a <0xNN> token, the text of USER_DEFINED tokens, and for
 * CONTROL / UNKNOWN tokens their text when special is true, else nothing (UNUSED / UNDEFINED:
 * nothing), as llama.cpp's token_to_piece. NULL and BORN_ERR_ARGUMENT for an invalid id. */
BORN_API const char *born_tokenizer_token_to_piece(const born_tokenizer *tok, int32_t id,
                                                   bool special, size_t *len);

/* The token's text as the vocabulary stores it (borrowed; NUL-terminated), or NULL and
 * BORN_ERR_ARGUMENT for an invalid id. */
BORN_API const char *born_tokenizer_token_text(const born_tokenizer *tok, int32_t id, size_t *len);

/* The id of the token whose stored text is text[0..len), or -1 (no error recorded). */
BORN_API int32_t born_tokenizer_find(const born_tokenizer *tok, const char *text, size_t len);

BORN_API born_tokenizer_model born_tokenizer_model_of(const born_tokenizer *tok);
BORN_API int32_t born_tokenizer_vocab_size(const born_tokenizer *tok);

/* The token's type and score (BORN_TOKEN_UNDEFINED / 0 for an invalid id, with an error). */
BORN_API born_token_type born_tokenizer_token_type(const born_tokenizer *tok, int32_t id);
BORN_API float born_tokenizer_token_score(const born_tokenizer *tok, int32_t id);

/* Special ids (-1 when the tokenizer has none) and flags. */
BORN_API int32_t born_tokenizer_bos(const born_tokenizer *tok);
BORN_API int32_t born_tokenizer_eos(const born_tokenizer *tok);
BORN_API int32_t born_tokenizer_unk(const born_tokenizer *tok);
BORN_API int32_t born_tokenizer_pad(const born_tokenizer *tok);
BORN_API int32_t born_tokenizer_eot(const born_tokenizer *tok);
BORN_API bool born_tokenizer_add_bos(const born_tokenizer *tok);
BORN_API bool born_tokenizer_add_eos(const born_tokenizer *tok);

/* True when generation should stop at id: EOS, EOT, and the CONTROL tokens llama.cpp treats as
 * end of generation ("<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
 * "<|end_of_text|>", "<|eom_id|>", "<EOT>"). */
BORN_API bool born_tokenizer_is_eog(const born_tokenizer *tok, int32_t id);

/* A streaming detokenizer: feed ids one at a time and get text that never ends inside a UTF-8
 * character; bytes that could still become a character are held back until the next call, and
 * born_detokenizer_flush gives whatever is left (possibly ill-formed). The pieces together are
 * exactly born_tokenizer_decode of the same ids. Owned by the caller (born_detokenizer_free); it
 * borrows tok, which must outlive it. */
typedef struct born_detokenizer born_detokenizer;

BORN_API born_detokenizer *born_detokenizer_new(const born_tokenizer *tok, bool special);
BORN_API void born_detokenizer_free(born_detokenizer *d);

/* Adds one token; *text (borrowed until the next call on d; not NUL-terminated) and *len receive
 * the bytes that are now complete (often none). Reports BORN_ERR_ARGUMENT for an invalid id,
 * which changes nothing. */
BORN_API born_status born_detokenizer_push(born_detokenizer *d, int32_t id, const char **text,
                                           size_t *len);

/* Gives the held-back bytes and resets d for a new text. */
BORN_API born_status born_detokenizer_flush(born_detokenizer *d, const char **text, size_t *len);

/* ------------------------------------------------------------------------------------------ */
/* Chat templates                                                                               */
/*
 * A model's tokenizer.chat_template (a Jinja2 template) rendered as HF transformers'
 * apply_chat_template renders it: jinja2's ImmutableSandboxedEnvironment with trim_blocks and
 * lstrip_blocks, loop controls ({% break %} / {% continue %}), and HF's tojson (json.dumps with
 * ensure_ascii=False), raise_exception(msg) and strftime_now(format). The output is byte for byte
 * what Python gives for the templates of ChatML / Qwen2 / Qwen2.5 (with tools), Llama-2, Llama-3,
 * 3.1, 3.2, Mistral (v0.1, v0.3 with tools), Gemma, Phi-3 and SmolLM2 (tests/llm/).
 *
 * The language: {{ }}, {% %}, {# #} with -/+ whitespace control; if / elif / else; for with
 * `if` filters, `else`, loop.index, index0, revindex, revindex0, first, last, length, previtem,
 * nextitem, depth, cycle(); set (names, tuples, namespace attributes, blocks with filters);
 * macro / call / caller; filter blocks; with; raw; Python-like expressions (literals, attribute and
 * item access, slices, arithmetic, ~, comparisons, and / or / not, in, is tests, conditional
 * expressions); jinja2's filters and tests and the common str / dict methods. Values behave as in
 * Python (int, float, str, list, tuple, dict, None, jinja2's Undefined); printing uses Python's
 * str() / repr(). What is not supported (includes, extends, recursive loops, big integers, some
 * rare filters) is an error naming the construct and its line and column, never a silent
 * difference.
 *
 * Ownership: a compiled template is owned by the caller (born_chat_template_free) and read-only,
 * so several threads may render it at once. Rendered text is malloc'd (free() it).
 */

typedef struct born_chat_template born_chat_template;

/* Limits that keep a hostile template from hanging or exhausting memory; each one exceeded is
 * BORN_ERR_ARGUMENT naming the limit. */
typedef struct born_chat_template_params {
    size_t max_output;      /* bytes of rendered text (default 16 MiB) */
    size_t max_memory;      /* bytes of working memory during one render (default 256 MiB) */
    int64_t max_iterations; /* loop iterations in one render, all loops together (default 1e6) */
    int64_t max_operations; /* evaluation steps: expression nodes plus items visited by filters
                             * and comparisons (default 1e8, about a second) */
    int max_depth;          /* nesting of evaluation: expressions, blocks, macro calls and
                             * values being printed or compared (default 500) */
    int64_t now;            /* the time strftime_now formats, in seconds since the epoch (local
                             * time, as HF's datetime.now()); -1 (default) for the current time */
} born_chat_template_params;

BORN_API born_chat_template_params born_chat_template_default_params(void);

/* Compiles len bytes of template source (UTF-8). Reports BORN_ERR_FORMAT for a syntax error
 * (an unclosed block, an unknown filter or test, a stray end tag) and BORN_ERR_UNSUPPORTED for a
 * construct Born does not run, each with the line and column; BORN_ERR_ARGUMENT for NULL or
 * invalid UTF-8. Returns an owned template. */
BORN_API born_chat_template *born_chat_template_compile(const char *source, size_t len);

/* Frees a template; NULL is ignored. */
BORN_API void born_chat_template_free(born_chat_template *tmpl);

/* Renders with the members of context (a JSON object) as the template's variables: JSON null,
 * booleans, numbers (integers when written without a fraction or exponent), strings, arrays and
 * objects become None, bool, int / float, str, list and dict. params may be NULL for the
 * defaults. On success *out is a malloc'd NUL-terminated UTF-8 string of *out_len bytes. Errors:
 * BORN_ERR_ARGUMENT when the template calls raise_exception (the message is the template's) or a
 * limit is reached, BORN_ERR_FORMAT for a runtime error (an undefined attribute of an undefined
 * value, a type error, division by zero), BORN_ERR_UNSUPPORTED, each naming the line and column. */
BORN_API born_status born_chat_template_render(const born_chat_template *tmpl,
                                               const born_json_value *context,
                                               const born_chat_template_params *params,
                                               char **out, size_t *out_len);

/* The variables apply_chat_template passes. */
typedef struct born_chat_input {
    const born_json_value *messages; /* an array of {"role": ..., "content": ...} (required);
                                      * tool calls and other fields are passed as they are */
    const born_json_value *tools;    /* an array of tool definitions, or NULL: tools = None */
    const born_json_value *documents; /* or NULL: documents = None */
    bool add_generation_prompt;
    const char *bos_token;           /* NULL: not defined */
    const char *eos_token;           /* NULL: not defined */
    const born_json_value *extra;    /* an object of further variables (HF's template kwargs:
                                      * date_string, enable_thinking, other special tokens), or
                                      * NULL; its members win over the fields above */
} born_chat_input;

/* Renders as born_chat_template_render with the variables of input, as HF's
 * tokenizer.apply_chat_template(messages, tools=..., documents=..., add_generation_prompt=...,
 * tokenize=False, **extra) with the tokenizer's bos_token / eos_token. */
BORN_API born_status born_chat_template_apply(const born_chat_template *tmpl,
                                              const born_chat_input *input,
                                              const born_chat_template_params *params,
                                              char **out, size_t *out_len);

/* ------------------------------------------------------------------------------------------ */
/* Sampling                                                                                     */
/*
 * A sampler turns one position's logits into a token with llama.cpp's common sampler chain:
 * logit bias, penalties (repeat / frequency / presence over the last penalty_last_n accepted
 * tokens), top-k, typical-p, top-p, min-p, temperature, then a seeded draw. Each stage does what
 * llama.cpp's stage of the same name does (tests/llm/test_sampling*.c compare them with fixtures
 * made by llama.cpp). temperature <= 0 is greedy: the first largest logit after bias and
 * penalties. The draw uses the core's Philox generator: the n-th draw after creation or reset
 * depends only on the seed and n, so a seed gives the same tokens on every machine.
 *
 * Ownership: a sampler is owned by the caller (born_sampler_free), copies its params (the logit
 * bias array too), holds the history of accepted tokens, and is used by one thread at a time.
 */

typedef struct born_logit_bias {
    int32_t token;
    float bias; /* added to the token's logit; -INFINITY bans the token */
} born_logit_bias;

/* The seed that asks for a seed taken from the clock (llama.cpp's LLAMA_DEFAULT_SEED). */
#define BORN_SAMPLER_SEED_RANDOM UINT64_MAX

typedef struct born_sampler_params {
    uint64_t seed;           /* default BORN_SAMPLER_SEED_RANDOM */
    float temperature;       /* default 0.8; <= 0: greedy */
    int32_t top_k;           /* default 40; 0: off */
    float top_p;             /* default 0.95; in [0, 1], 1: off */
    float min_p;             /* default 0.05; in [0, 1], 0: off */
    float typical_p;         /* default 1 (off); in [0, 1] */
    float repeat_penalty;    /* default 1 (off); > 0 */
    float frequency_penalty; /* default 0; subtracted once per occurrence */
    float presence_penalty;  /* default 0; subtracted once for any occurrence */
    int32_t penalty_last_n;  /* default 64; 0: no penalties, -1: every token since reset */
    const born_logit_bias *logit_bias; /* n_logit_bias entries (copied), or NULL */
    int32_t n_logit_bias;
} born_sampler_params;

/* llama.cpp's defaults: temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, typical_p 1,
 * repeat_penalty 1, no frequency / presence penalty, penalty_last_n 64, a random seed. */
BORN_API born_sampler_params born_sampler_default_params(void);

typedef struct born_sampler born_sampler;

/* A sampler over a vocabulary of n_vocab tokens with params p (NULL: the defaults); owned, free
 * with born_sampler_free. Reports BORN_ERR_ARGUMENT naming the field for a NaN or out-of-range
 * value (a negative top_k, top_p outside [0, 1], a bias token outside [0, n_vocab) ...). */
BORN_API born_sampler *born_sampler_new(const born_sampler_params *p, int32_t n_vocab);

/* Frees a sampler; NULL is ignored. */
BORN_API void born_sampler_free(born_sampler *s);

/* Runs the chain on n_vocab logits (not modified) and draws a token, which it returns. Returns
 * -1 with BORN_ERR_ARGUMENT for NULL, a NaN or +infinite logit, or when every token is banned.
 * The token is not accepted: call born_sampler_accept with the token actually used. */
BORN_API int32_t born_sampler_sample(born_sampler *s, const float *logits);

/* Adds token to the history the penalties count (the last penalty_last_n tokens). A token
 * outside [0, n_vocab) is ignored with BORN_ERR_ARGUMENT recorded. */
BORN_API void born_sampler_accept(born_sampler *s, int32_t token);

/* Forgets the history and restarts the draws at the first number of the seed's stream. */
BORN_API void born_sampler_reset(born_sampler *s);

/* The seed the draws use (the clock's when the params asked for a random one). */
BORN_API uint64_t born_sampler_seed(const born_sampler *s);

/* A candidate surviving the chain: its logit after every stage (temperature included) and its
 * probability among the survivors. */
typedef struct born_token_prob {
    int32_t token;
    float logit;
    float p;
} born_token_prob;

/* Runs the chain on logits without the draw and points *out (borrowed; valid until the next call
 * on s) at the surviving candidates, whose count it returns (one, p = 1, when greedy). The order
 * is the chain's: by descending logit after top-k or top-p, else the vocabulary's. Returns -1
 * and reports as born_sampler_sample. */
BORN_API int32_t born_sampler_candidates(born_sampler *s, const float *logits,
                                         const born_token_prob **out);

/* ------------------------------------------------------------------------------------------ */
/* Models and sessions (the inference engine)                                                   */
/*
 * A model is a GGUF file's architecture and weights: the weights stay mmapped in their stored
 * (usually block-quantized) type and are never dequantized wholesale. A model is immutable after
 * born_model_load and may be shared by many sessions on many threads; it must outlive them.
 * A session owns one sequence's KV cache, its position and the scratch buffers of the forward
 * pass; it is used by one thread at a time.
 */

typedef struct born_model born_model;
typedef struct born_session born_session;

typedef struct born_model_params {
    int32_t n_threads; /* threads for kernels: 0 = leave the library's setting */
    bool load_tokenizer; /* default true: build the tokenizer from tokenizer.ggml.* */
    born_device device;  /* where sessions run (default BORN_CPU): BORN_CUDA(i) uploads every
                          * weight to that GPU at load (quantized types repacked, never
                          * dequantized), and the model's sessions keep their KV cache there and
                          * decode with the GPU's kernels, one token a step, each step one CUDA
                          * graph replay; loading fails with BORN_ERR_DEVICE, quoting why, when
                          * there is no such GPU or no CUDA plugin */
    bool use_mmap;       /* default false: the file is read into private memory in 2 MiB pages
                          * where the kernel gives them (born_file_params.read_into_memory),
                          * which decodes faster than 4 KiB pages of a mapping (fewer TLB
                          * misses); true: the weights are a mapping of the file (loads faster,
                          * shares the page cache with other processes); models on a GPU
                          * always map (the weights are read once, to upload them) */
} born_model_params;

BORN_API born_model_params born_model_default_params(void);

/* Opens the GGUF file at gguf_path and builds the model its general.architecture names
 * (llama, mistral, qwen2 and their kin), checking every hyperparameter and every tensor's
 * presence, dtype and shape. Returns an owned model, or NULL with BORN_ERR_IO / BORN_ERR_FORMAT
 * for an unreadable or malformed file and BORN_ERR_UNSUPPORTED for an unknown architecture or
 * tensor type, the message naming the key or tensor at fault. params may be NULL. */
BORN_API born_model *born_model_load(const char *gguf_path, const born_model_params *params);

/* Frees a model (and unmaps its file); NULL is ignored. Free its sessions first. */
BORN_API void born_model_free(born_model *m);

/* The model's tokenizer (borrowed; lives as long as m), NULL when it was not loaded. */
BORN_API const born_tokenizer *born_model_tokenizer(const born_model *m);

/* tokenizer.chat_template (borrowed; NUL-terminated), or NULL when the file has none. */
BORN_API const char *born_model_chat_template(const born_model *m);

/* general.architecture (borrowed), e.g. "llama". */
BORN_API const char *born_model_arch(const born_model *m);

/* Hyperparameters: vocabulary size, training context length, layers, embedding width. */
BORN_API int32_t born_model_n_vocab(const born_model *m);
BORN_API int32_t born_model_n_ctx_train(const born_model *m);
BORN_API int32_t born_model_n_layer(const born_model *m);
BORN_API int32_t born_model_n_embd(const born_model *m);

/* The number of weights (elements of all tensors) and their bytes as stored in the file. */
BORN_API uint64_t born_model_n_params(const born_model *m);
BORN_API uint64_t born_model_size_bytes(const born_model *m);

typedef struct born_session_params {
    int32_t n_ctx;      /* tokens the KV cache holds; 0 = min(n_ctx_train, 4096) */
    int32_t n_batch;    /* most tokens one forward pass processes (longer evals are split);
                         * default 256: scratch grows with it, speed barely does */
    born_dtype kv_type; /* BORN_F16 (default, as llama.cpp) or BORN_F32 */
} born_session_params;

BORN_API born_session_params born_session_default_params(void);

/* A new session over m (borrowed) with an empty KV cache at position 0; params may be NULL.
 * Returns an owned session, or NULL with BORN_ERR_ARGUMENT for bad params, BORN_ERR_MEMORY. */
BORN_API born_session *born_session_new(born_model *m, const born_session_params *params);

/* Frees a session; NULL is ignored. */
BORN_API void born_session_free(born_session *s);

/* How many tokens the KV cache holds (the position of the next token). */
BORN_API int32_t born_session_pos(const born_session *s);

/* The KV cache's capacity in tokens. */
BORN_API int32_t born_session_n_ctx(const born_session *s);

/* The model the session runs (borrowed). */
BORN_API born_model *born_session_model(const born_session *s);

/* The tokens in the KV cache, born_session_pos of them (borrowed; valid until the next eval,
 * rollback or free), so a caller can find the prefix a new prompt shares with it. */
BORN_API const int32_t *born_session_tokens(const born_session *s);

/* Forgets every token from position pos on (0 <= pos <= born_session_pos), so the next eval
 * continues from pos. BORN_ERR_ARGUMENT when pos is out of range. */
BORN_API born_status born_session_rollback(born_session *s, int32_t pos);

/* Appends n tokens at the current position and runs them through the model (in batches of
 * n_batch). logits (may be NULL) receives n * n_vocab floats (row i: the distribution after
 * token i) when all_logits, else the last token's n_vocab. Errors (nothing is appended):
 * BORN_ERR_ARGUMENT for n <= 0, a token id outside [0, n_vocab), or a position beyond n_ctx. */
BORN_API born_status born_session_eval(born_session *s, const int32_t *tokens, int32_t n,
                                       float *logits, bool all_logits);

/* Greedy decoding in one call: appends token at the current position and n - 1 more tokens,
 * each the first largest logit after the one before, and writes the n choices to out (out[n - 1],
 * the choice after the last appended token, is not evaluated: it is the next call's token). The
 * tokens of born_session_eval with an argmax in a loop; on a GPU session they are chosen on the
 * device, one CUDA graph replay a token, and the host waits once for all n. Errors as
 * born_session_eval (n < 1, an invalid token, no room for n tokens; nothing is appended). */
BORN_API born_status born_session_decode_greedy(born_session *s, int32_t token, int32_t n,
                                                int32_t *out);

/* The most sessions one born_session_eval_batch call takes. */
#define BORN_SESSION_BATCH_MAX 1024

/* Evaluates several sessions of one model together: session i appends n_tokens[i] tokens
 * (tokens[i]) at its own position and logits[i] (logits, or any entry, may be NULL) receives the
 * n_vocab logits after its last token, as born_session_eval gives them (on the CPU bit for bit),
 * all their tokens going through one forward pass that reads the weights once (in passes of at
 * most the largest n_batch among the sessions on the CPU, of at most 512 tokens and 64 sessions
 * of one KV cache type on a GPU). Errors, found before anything runs so that nothing is appended (a pending generation token is
 * dropped only on success, as born_session_eval drops it): BORN_ERR_ARGUMENT for count outside
 * [1, BORN_SESSION_BATCH_MAX], a NULL array or session, sessions of different models (naming the
 * first), a session given twice, n_tokens[i] < 1, a token id outside [0, n_vocab) or no room in a
 * session's context; an error while running (the device's, memory) leaves every session's
 * position as it was. */
BORN_API born_status born_session_eval_batch(born_session *const *sessions,
                                             const int32_t *const *tokens,
                                             const int32_t *n_tokens, int32_t count,
                                             float *const *logits);

/* Greedy decoding of several sessions of one model together: session i appends tokens[i] and
 * n - 1 more tokens, each its first largest logit after the one before, and out[i * n + t]
 * receives its t-th choice (out[i * n + n - 1] is not evaluated: the next call's token). The
 * tokens of born_session_eval_batch steps with an argmax in a loop, each step one forward pass
 * for every session; on a GPU the tokens are chosen on the device and the host waits once for
 * each group of up to 64 sessions. Errors as born_session_eval_batch's (each session needs room
 * for n tokens), found before anything runs; an error while running appends nothing. */
BORN_API born_status born_session_decode_greedy_batch(born_session *const *sessions,
                                                      const int32_t *tokens, int32_t n,
                                                      int32_t count, int32_t *out);

/* ------------------------------------------------------------------------------------------ */
/* Generation                                                                                   */

/* The sampler (section "Sampling"): a chain of penalties, filters and a seeded draw. */
typedef struct born_sampler born_sampler;

/* Called for each generated token with its text (the bytes now complete; may be empty, not
 * NUL-terminated, valid until the callback returns); a last call with id -1 may bring text held
 * back at the end (an incomplete character, the start of a stop string that did not come).
 * Returning false stops generation. */
typedef bool (*born_token_callback)(int32_t id, const char *piece, size_t len, void *user);

typedef struct born_generate_params {
    int32_t max_tokens;        /* most tokens to generate (default 256; < 0 = until n_ctx) */
    bool add_bos;              /* encode the prompt with the tokenizer's BOS/EOS rules
                                * (default true) */
    bool parse_special;        /* turn special-token texts in the prompt into their tokens
                                * (default true, so rendered chat templates work) */
    bool special_output;       /* print special tokens' text in output (default false) */
    const char *const *stop;   /* n_stop stop strings (not emitted), or NULL */
    int32_t n_stop;
    born_token_callback on_token; /* or NULL */
    void *user;
    const int32_t *tokens;     /* when not NULL: the prompt as n_tokens token ids (the prompt
                                * text is then ignored and may be NULL; add_bos does not apply) */
    int32_t n_tokens;
} born_generate_params;

BORN_API born_generate_params born_generate_default_params(void);

typedef enum born_stop_reason {
    BORN_STOP_NONE = 0,
    BORN_STOP_EOG,       /* an end-of-generation token (not emitted) */
    BORN_STOP_MAX_TOKENS,
    BORN_STOP_STRING,    /* a stop string appeared */
    BORN_STOP_CALLBACK,  /* on_token returned false */
    BORN_STOP_CONTEXT    /* the KV cache is full */
} born_stop_reason;

typedef struct born_generate_result {
    int32_t n_prompt;      /* prompt tokens evaluated (after any reused prefix) */
    int32_t n_generated;   /* tokens sampled (including an EOG token that stopped it) */
    double prompt_ms;      /* time to evaluate the prompt */
    double generate_ms;    /* time from the first sampled token to the end */
    born_stop_reason stop_reason;
    char *text;            /* everything emitted, malloc'd and NUL-terminated (free() it) */
    size_t text_len;
} born_generate_result;

/* Encodes prompt (BOS added only at position 0), appends it to the session at its current
 * position (so a session continues a conversation; roll back first to start over), then samples
 * tokens with sampler (NULL = greedy, the first largest logit), feeding each back, until
 * max_tokens, an end-of-generation token, a stop string, the callback's false or a full context.
 * Each token's text is its piece (born_tokenizer_token_to_piece), as llama.cpp streams it. Text
 * that could still become a stop string is held back until it cannot; the stop string and what
 * follows are not emitted. The last sampled token (unless end-of-generation) is not evaluated:
 * it stays pending and the next born_generate on the session evaluates it first (an eval or
 * rollback drops it). result may be NULL. Errors: BORN_ERR_ARGUMENT for a prompt that does not
 * fit the context or holds an invalid id (nothing is evaluated), the model's and sampler's. */
BORN_API born_status born_generate(born_session *s, born_sampler *sampler, const char *prompt,
                                   const born_generate_params *params,
                                   born_generate_result *result);

/* Frees result->text and zeroes it; NULL is ignored. */
BORN_API void born_generate_result_clear(born_generate_result *result);

#ifdef __cplusplus
}
#endif
#endif /* BORN_LLM_H */
