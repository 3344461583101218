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

#ifdef __cplusplus
}
#endif
#endif /* BORN_LLM_H */
