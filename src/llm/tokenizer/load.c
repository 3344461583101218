/* Tokenizer loaders: GGUF metadata (llama.cpp's defaults), HF tokenizer.json, GPT-2's
 * vocab.json + merges.txt and tiktoken's .tiktoken rank files. Each turns its source into a
 * born_tokenizer_spec and calls born_tokenizer_new. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "born/io.h"
#include "core/error.h"
#include "io/io_util.h"
#include "llm/tokenizer/tokenizer_internal.h"

#define MAX_FILE ((size_t)1 << 31)

/* ------------------------------------------------------------------------------------------ */
/* GGUF                                                                                         */

born_tokenizer_gguf born_tokenizer_gguf_default(void) {
    born_tokenizer_gguf kv;
    memset(&kv, 0, sizeof kv);
    kv.bos_id = kv.eos_id = kv.unk_id = kv.pad_id = kv.eot_id = kv.sep_id = -1;
    kv.add_bos = kv.add_eos = kv.add_space_prefix = -1;
    return kv;
}

static bool name_in(const char *name, const char *list) {
    if (!name) return false;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, '|');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && memcmp(p, name, n) == 0) return true;
        if (!e) break;
        p = e + 1;
    }
    return false;
}

/* Texts llama.cpp marks CONTROL whatever the file says (end-of-turn and fill-in-the-middle). */
static const char *const forced_control[] = {
    "<|eot_id|>",    "<|im_end|>",      "<|end|>",        "<end_of_turn>", "<|endoftext|>",
    "<|end_of_text|>", "<EOT>",         "_<EOT>",         "<|eom_id|>",    "<|fim_prefix|>",
    "<fim-prefix>",  "<fim_prefix>",    "<PRE>",          "<|fim_suffix|>", "<fim-suffix>",
    "<fim_suffix>",  "<SUF>",           "<|fim_middle|>", "<fim-middle>",  "<fim_middle>",
    "<MID>",         "<|fim_pad|>",     "<fim-pad>",      "<fim_pad>",     "<PAD>",
    "<|fim_repo|>",  "<|repo_name|>",   "<fim-repo>",     "<REPO>",        "<reponame>",
    "<|file_sep|>",  "<end_of_utterance>",
};
/* The first of these found becomes EOT when the file names none. */
static const char *const eot_names[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                        "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>",
                                        "<end_of_utterance>"};

static bool text_is(const char *s, size_t len, const char *name) {
    return strlen(name) == len && memcmp(s, name, len) == 0;
}

born_tokenizer *born_tokenizer_from_gguf(const born_tokenizer_gguf *kv) {
    if (!kv) return born_error_null(BORN_ERR_ARGUMENT, "born_tokenizer_from_gguf: kv is NULL");
    if (!kv->model)
        return born_error_null(BORN_ERR_ARGUMENT,
                               "born_tokenizer_from_gguf: tokenizer.ggml.model is missing");
    if (kv->n_tokens < 1 || kv->n_tokens > INT32_MAX || !kv->tokens)
        return born_error_null(BORN_ERR_ARGUMENT,
                               "born_tokenizer_from_gguf: tokenizer.ggml.tokens is missing or has "
                               "%lld entries",
                               (long long)kv->n_tokens);
    if (kv->n_merges < 0 || kv->n_merges > INT32_MAX || (kv->n_merges && !kv->merges))
        return born_error_null(BORN_ERR_ARGUMENT, "born_tokenizer_from_gguf: bad merges");
    const int32_t n = (int32_t)kv->n_tokens;
    born_tokenizer_spec spec = born_tokenizer_spec_default();
    int32_t bos = -1, eos = -1, unk = -1;
    bool add_bos = false, add_space_prefix = false;
    if (strcmp(kv->model, "llama") == 0) {
        spec.model = BORN_TOKENIZER_LLAMA;
        bos = 1;
        eos = 2;
        unk = 0;
        add_bos = true;
        add_space_prefix = true;
    } else if (strcmp(kv->model, "gpt2") == 0) {
        spec.model = BORN_TOKENIZER_GPT2;
        bos = eos = 11; /* llama.cpp's defaults for BPE vocabularies */
        const char *pre = kv->pre && kv->pre[0] ? kv->pre : "default";
        spec.pre = pre;
        if (name_in(pre, "llama3|llama-v3|llama-bpe|falcon3|falcon-h1|pixtral|midm-2.0|lfm2|"
                         "jina-v5-nano|tekken")) {
            spec.ignore_merges = true;
            add_bos = true;
        }
        if (name_in(pre, "chameleon")) add_bos = true;
        if (name_in(pre, "glm4|chatglm-bpe")) bos = -1;
        if (!born_tokenizer_pre_regexes(pre, (const char *[4]){0}))
            return born_error_null(BORN_ERR_UNSUPPORTED,
                                   "born_tokenizer_from_gguf: pre-tokenizer \"%.60s\" is not "
                                   "supported",
                                   pre);
    } else {
        return born_error_null(BORN_ERR_UNSUPPORTED,
                               "born_tokenizer_from_gguf: tokenizer model \"%.40s\" is not "
                               "supported (llama, gpt2)",
                               kv->model);
    }
    /* defaults out of range are dropped; ids from the file out of range keep the default */
    int32_t *ids[] = {&bos, &eos, &unk};
    for (int k = 0; k < 3; k++)
        if (*ids[k] >= n) *ids[k] = -1;
    int32_t pad = -1, eot = -1, sep = -1;
    const int64_t given[] = {kv->bos_id, kv->eos_id, kv->unk_id, kv->pad_id, kv->eot_id, kv->sep_id};
    int32_t *dest[] = {&bos, &eos, &unk, &pad, &eot, &sep};
    for (int k = 0; k < 6; k++)
        if (given[k] >= 0 && given[k] < n) *dest[k] = (int32_t)given[k];
    if (kv->add_bos >= 0) add_bos = kv->add_bos != 0;
    bool add_eos = kv->add_eos > 0;
    if (kv->add_space_prefix >= 0) add_space_prefix = kv->add_space_prefix != 0;

    const char **texts = malloc((size_t)n * sizeof *texts);
    size_t *lens = malloc((size_t)n * sizeof *lens);
    int32_t *types = malloc((size_t)n * sizeof *types);
    const char **merges = NULL;
    size_t *mlens = NULL;
    born_tokenizer *tok = NULL;
    if (!texts || !lens || !types) {
        born_error(BORN_ERR_MEMORY, "born_tokenizer_from_gguf: out of memory");
        goto done;
    }
    for (int32_t i = 0; i < n; i++) {
        texts[i] = kv->tokens[i];
        if (!texts[i]) {
            born_error(BORN_ERR_ARGUMENT, "born_tokenizer_from_gguf: token %d is NULL", (int)i);
            goto done;
        }
        lens[i] = kv->token_lens ? (size_t)kv->token_lens[i] : strlen(texts[i]);
        int32_t type = kv->token_types ? kv->token_types[i] : BORN_TOKEN_NORMAL;
        if (type < 0 || type > BORN_TOKEN_BYTE) type = BORN_TOKEN_UNDEFINED;
        for (size_t k = 0; k < sizeof forced_control / sizeof forced_control[0]; k++) {
            if (text_is(texts[i], lens[i], forced_control[k])) {
                type = BORN_TOKEN_CONTROL;
                break;
            }
        }
        types[i] = type;
    }
    if (eot < 0) {
        for (size_t k = 0; k < sizeof eot_names / sizeof eot_names[0] && eot < 0; k++)
            for (int32_t i = 0; i < n; i++)
                if (text_is(texts[i], lens[i], eot_names[k])) {
                    eot = i;
                    break;
                }
    }
    if (add_bos && bos < 0) {
        born_error(BORN_ERR_FORMAT,
                   "born_tokenizer_from_gguf: tokenizer.ggml.add_bos_token is true, but "
                   "tokenizer.ggml.bos_token_id is not set");
        goto done;
    }
    if (add_eos && eos < 0) {
        born_error(BORN_ERR_FORMAT,
                   "born_tokenizer_from_gguf: tokenizer.ggml.add_eos_token is true, but "
                   "tokenizer.ggml.eos_token_id is not set");
        goto done;
    }
    if (spec.model == BORN_TOKENIZER_GPT2) {
        if (!kv->n_merges) {
            born_error(BORN_ERR_FORMAT, "born_tokenizer_from_gguf: a gpt2 tokenizer needs "
                                        "tokenizer.ggml.merges");
            goto done;
        }
        merges = malloc((size_t)kv->n_merges * sizeof *merges);
        mlens = malloc((size_t)kv->n_merges * sizeof *mlens);
        if (!merges || !mlens) {
            born_error(BORN_ERR_MEMORY, "born_tokenizer_from_gguf: out of memory");
            goto done;
        }
        for (int64_t i = 0; i < kv->n_merges; i++) {
            merges[i] = kv->merges[i];
            if (!merges[i]) {
                born_error(BORN_ERR_ARGUMENT, "born_tokenizer_from_gguf: merge %lld is NULL",
                           (long long)i);
                goto done;
            }
            mlens[i] = kv->merge_lens ? (size_t)kv->merge_lens[i] : strlen(merges[i]);
        }
        spec.n_merges = (int32_t)kv->n_merges;
        spec.merges = merges;
        spec.merge_lens = mlens;
    }
    spec.n_tokens = n;
    spec.tokens = texts;
    spec.token_lens = lens;
    spec.scores = kv->scores;
    spec.types = types;
    spec.bos_id = bos;
    spec.eos_id = eos;
    spec.unk_id = unk;
    spec.pad_id = pad;
    spec.eot_id = eot;
    spec.sep_id = sep;
    spec.add_bos = add_bos;
    spec.add_eos = add_eos;
    spec.add_space_prefix = add_space_prefix;
    spec.byte_fallback = true;
    tok = born_tokenizer_new(&spec);
done:
    free(texts);
    free(lens);
    free(types);
    free(merges);
    free(mlens);
    return tok;
}

/* ------------------------------------------------------------------------------------------ */
/* A vocabulary being assembled from files                                                      */

typedef struct vocab_build {
    const char **texts;
    size_t *lens;
    int32_t *types;
    uint8_t *flags;
    int32_t n;
} vocab_build;

static void vb_free(vocab_build *vb) {
    free(vb->texts);
    free(vb->lens);
    free(vb->types);
    free(vb->flags);
    memset(vb, 0, sizeof *vb);
}

/* Sizes vb for n tokens, all empty and UNUSED until set. */
static bool vb_init(vocab_build *vb, int32_t n) {
    vb->n = n;
    vb->texts = malloc((size_t)n * sizeof *vb->texts);
    vb->lens = calloc((size_t)n, sizeof *vb->lens);
    vb->types = malloc((size_t)n * sizeof *vb->types);
    vb->flags = calloc((size_t)n, 1);
    if (!vb->texts || !vb->lens || !vb->types || !vb->flags) return false;
    for (int32_t i = 0; i < n; i++) {
        vb->texts[i] = "";
        vb->types[i] = BORN_TOKEN_UNUSED;
    }
    return true;
}

static int32_t vb_find(const vocab_build *vb, const char *s, size_t len) {
    for (int32_t i = 0; i < vb->n; i++)
        if (vb->lens[i] == len && memcmp(vb->texts[i], s, len) == 0) return i;
    return -1;
}

/* Reads the vocabulary object {text: id} of a JSON value into vb (sized to cover the largest id
 * and extra_max). */
static bool vb_from_json_vocab(vocab_build *vb, const born_json_value *vocab, int64_t extra_max,
                               const char *where) {
    size_t count = born_json_object_size(vocab);
    int64_t max_id = extra_max;
    for (size_t i = 0; i < count; i++) {
        const born_json_value *v = born_json_object_member(vocab, i, NULL, NULL);
        int64_t id;
        if (born_json_get_int64(v, &id) != BORN_OK || id < 0 || id >= INT32_MAX) {
            born_clear_error();
            born_error(BORN_ERR_FORMAT, "%s: vocabulary entry %zu has no valid id", where, i);
            return false;
        }
        if (id > max_id) max_id = id;
    }
    if (max_id < 0) {
        born_error(BORN_ERR_FORMAT, "%s: the vocabulary is empty", where);
        return false;
    }
    if (!vb_init(vb, (int32_t)(max_id + 1))) {
        born_error(BORN_ERR_MEMORY, "%s: out of memory", where);
        return false;
    }
    for (size_t i = 0; i < count; i++) {
        const char *key;
        size_t klen;
        const born_json_value *v = born_json_object_member(vocab, i, &key, &klen);
        int64_t id;
        born_json_get_int64(v, &id);
        vb->texts[id] = key;
        vb->lens[id] = klen;
        vb->types[id] = BORN_TOKEN_NORMAL;
    }
    return true;
}

/* ------------------------------------------------------------------------------------------ */
/* HF tokenizer.json                                                                            */

static const char *json_str(const born_json_value *obj, const char *key, size_t *len) {
    const born_json_value *v = born_json_type_of(obj) == BORN_JSON_OBJECT
                                   ? born_json_object_get(obj, key)
                                   : NULL;
    const char *s = NULL;
    if (born_json_type_of(v) != BORN_JSON_STRING) return NULL;
    born_json_get_string(v, &s, len);
    return s;
}

static bool json_flag(const born_json_value *obj, const char *key, bool dflt) {
    const born_json_value *v = born_json_type_of(obj) == BORN_JSON_OBJECT
                                   ? born_json_object_get(obj, key)
                                   : NULL;
    bool b;
    if (born_json_type_of(v) != BORN_JSON_BOOL || born_json_get_bool(v, &b) != BORN_OK) return dflt;
    return b;
}

static bool type_is(const born_json_value *obj, const char *name) {
    const char *t = json_str(obj, "type", NULL);
    return t && strcmp(t, name) == 0;
}

typedef struct hf_pre {
    const char *patterns[4];
    char *owned[4];
    int n;
    bool byte_level;
    bool metaspace;
} hf_pre;

static void hf_pre_free(hf_pre *p) {
    for (int k = 0; k < 4; k++) free(p->owned[k]);
}

static bool hf_pre_add(hf_pre *p, const char *pattern, const char *where) {
    if (p->n == 4) {
        born_error(BORN_ERR_UNSUPPORTED, "%s: more than 4 pre-tokenizer regexes", where);
        return false;
    }
    p->patterns[p->n++] = pattern;
    return true;
}

/* One pre-tokenizer of tokenizer.json (possibly a Sequence). */
static bool hf_read_pre(const born_json_value *pre, hf_pre *out, const char *where, int depth) {
    if (born_json_type_of(pre) == BORN_JSON_NULL || !pre) return true;
    const char *type = json_str(pre, "type", NULL);
    if (!type || depth > 4) {
        born_error(BORN_ERR_FORMAT, "%s: pre_tokenizer has no type", where);
        return false;
    }
    if (strcmp(type, "Sequence") == 0) {
        const born_json_value *list = born_json_object_get(pre, "pretokenizers");
        size_t n = born_json_type_of(list) == BORN_JSON_ARRAY ? born_json_array_length(list) : 0;
        for (size_t i = 0; i < n; i++)
            if (!hf_read_pre(born_json_array_get(list, i), out, where, depth + 1)) return false;
        return true;
    }
    if (strcmp(type, "ByteLevel") == 0) {
        if (json_flag(pre, "add_prefix_space", false)) {
            born_error(BORN_ERR_UNSUPPORTED, "%s: ByteLevel add_prefix_space is not supported", where);
            return false;
        }
        out->byte_level = true;
        if (json_flag(pre, "use_regex", true)) {
            const char *re[4];
            born_tokenizer_pre_regexes("gpt2", re);
            return hf_pre_add(out, re[0], where);
        }
        return true;
    }
    if (strcmp(type, "Digits") == 0)
        return hf_pre_add(out, json_flag(pre, "individual_digits", false) ? "\\p{N}" : "\\p{N}+",
                          where);
    if (strcmp(type, "Split") == 0) {
        const born_json_value *pat = born_json_object_get(pre, "pattern");
        const char *behavior = json_str(pre, "behavior", NULL);
        if (json_flag(pre, "invert", false) || !behavior || strcmp(behavior, "Isolated") != 0) {
            born_error(BORN_ERR_UNSUPPORTED, "%s: only Split with behavior Isolated is supported",
                       where);
            return false;
        }
        size_t len;
        const char *re = json_str(pat, "Regex", &len);
        const char *lit = re ? NULL : json_str(pat, "String", &len);
        if (!re && !lit) {
            born_error(BORN_ERR_FORMAT, "%s: Split without a pattern", where);
            return false;
        }
        char *copy;
        if (re) {
            copy = malloc(len + 1);
            if (copy) memcpy(copy, re, len + 1);
        } else { /* a literal string: escape it */
            copy = malloc(len * 2 + 1);
            if (copy) {
                size_t o = 0;
                for (size_t k = 0; k < len; k++) {
                    unsigned char c = (unsigned char)lit[k];
                    if (c < 0x80 && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                                      (c >= 'A' && c <= 'Z') || c == ' '))
                        copy[o++] = '\\';
                    copy[o++] = (char)c;
                }
                copy[o] = 0;
            }
        }
        if (!copy) {
            born_error(BORN_ERR_MEMORY, "%s: out of memory", where);
            return false;
        }
        out->owned[out->n] = copy;
        return hf_pre_add(out, copy, where);
    }
    if (strcmp(type, "Metaspace") == 0) {
        out->metaspace = true;
        return true;
    }
    born_error(BORN_ERR_UNSUPPORTED, "%s: pre-tokenizer %s is not supported", where, type);
    return false;
}

/* The normalizer of a SentencePiece-style tokenizer.json: Prepend "▁" and Replace " " -> "▁".
 * Returns 0 for none, 1 for SentencePiece-style, -1 for something else (error recorded). */
static int hf_read_normalizer(const born_json_value *norm, bool *prepend, const char *where,
                              int depth) {
    if (!norm || born_json_type_of(norm) == BORN_JSON_NULL) return 0;
    const char *type = json_str(norm, "type", NULL);
    if (!type || depth > 4) {
        born_error(BORN_ERR_FORMAT, "%s: normalizer has no type", where);
        return -1;
    }
    if (strcmp(type, "Sequence") == 0) {
        const born_json_value *list = born_json_object_get(norm, "normalizers");
        size_t n = born_json_type_of(list) == BORN_JSON_ARRAY ? born_json_array_length(list) : 0;
        int kind = 0;
        for (size_t i = 0; i < n; i++) {
            int k = hf_read_normalizer(born_json_array_get(list, i), prepend, where, depth + 1);
            if (k < 0) return -1;
            if (k > 0) kind = 1;
        }
        return kind;
    }
    if (strcmp(type, "Prepend") == 0) {
        const char *p = json_str(norm, "prepend", NULL);
        if (p && strcmp(p, "\xe2\x96\x81") == 0) {
            *prepend = true;
            return 1;
        }
    } else if (strcmp(type, "Replace") == 0) {
        const char *from = json_str(born_json_object_get(norm, "pattern"), "String", NULL);
        const char *to = json_str(norm, "content", NULL);
        if (from && to && strcmp(from, " ") == 0 && strcmp(to, "\xe2\x96\x81") == 0) return 1;
    } else if (strcmp(type, "NFC") == 0) {
        return 0; /* ignored, as llama.cpp does (Qwen2) */
    }
    born_error(BORN_ERR_UNSUPPORTED, "%s: normalizer %s is not supported", where, type);
    return -1;
}

born_tokenizer *born_tokenizer_load_hf(const char *path) {
    if (!path) return born_error_null(BORN_ERR_ARGUMENT, "born_tokenizer_load_hf: path is NULL");
    char where[600];
    snprintf(where, sizeof where, "born_tokenizer_load_hf: %.560s", path);
    born_json *doc = born_json_load(path, NULL);
    if (!doc) return NULL;
    born_tokenizer *tok = NULL;
    vocab_build vb = {0};
    hf_pre pre = {0};
    const char **merges = NULL;
    size_t *mlens = NULL;
    char **merge_bufs = NULL;
    size_t n_merges = 0;
    const born_json_value *root = born_json_root(doc);
    const born_json_value *model = born_json_type_of(root) == BORN_JSON_OBJECT
                                       ? born_json_object_get(root, "model")
                                       : NULL;
    if (born_json_type_of(model) != BORN_JSON_OBJECT) {
        born_error(BORN_ERR_FORMAT, "%s: no \"model\" object", where);
        goto done;
    }
    if (!type_is(model, "BPE")) {
        const char *type = json_str(model, "type", NULL);
        born_error(BORN_ERR_UNSUPPORTED, "%s: model type %s is not supported (only BPE)", where,
                   type ? type : "(none)");
        goto done;
    }
    const born_json_value *vocab = born_json_object_get(model, "vocab");
    const born_json_value *mlist = born_json_object_get(model, "merges");
    if (born_json_type_of(vocab) != BORN_JSON_OBJECT || born_json_type_of(mlist) != BORN_JSON_ARRAY) {
        born_error(BORN_ERR_FORMAT, "%s: the BPE model needs a vocab object and a merges array",
                   where);
        goto done;
    }
    /* added tokens may extend the vocabulary */
    const born_json_value *added = born_json_object_get(root, "added_tokens");
    size_t n_added = born_json_type_of(added) == BORN_JSON_ARRAY ? born_json_array_length(added) : 0;
    int64_t max_added = -1;
    for (size_t i = 0; i < n_added; i++) {
        int64_t id;
        const born_json_value *a = born_json_array_get(added, i);
        const born_json_value *idv = born_json_type_of(a) == BORN_JSON_OBJECT
                                         ? born_json_object_get(a, "id")
                                         : NULL;
        if (born_json_get_int64(idv, &id) != BORN_OK || id < 0 || id >= INT32_MAX ||
            !json_str(a, "content", NULL)) {
            born_clear_error();
            born_error(BORN_ERR_FORMAT, "%s: added token %zu needs an id and a content", where, i);
            goto done;
        }
        if (id > max_added) max_added = id;
    }
    if (!vb_from_json_vocab(&vb, vocab, max_added, where)) goto done;
    for (size_t i = 0; i < n_added; i++) {
        const born_json_value *a = born_json_array_get(added, i);
        int64_t id;
        born_json_get_int64(born_json_object_get(a, "id"), &id);
        size_t len;
        const char *content = json_str(a, "content", &len);
        vb.texts[id] = content;
        vb.lens[id] = len;
        vb.types[id] = json_flag(a, "special", false) ? BORN_TOKEN_CONTROL : BORN_TOKEN_USER_DEFINED;
        vb.flags[id] = (uint8_t)((json_flag(a, "lstrip", false) ? BORN_TOKEN_LSTRIP : 0) |
                                 (json_flag(a, "rstrip", false) ? BORN_TOKEN_RSTRIP : 0));
    }

    /* merges: "a b" strings or [a, b] pairs */
    n_merges = born_json_array_length(mlist);
    merges = calloc(n_merges ? n_merges : 1, sizeof *merges);
    mlens = calloc(n_merges ? n_merges : 1, sizeof *mlens);
    merge_bufs = calloc(n_merges ? n_merges : 1, sizeof *merge_bufs);
    if (!merges || !mlens || !merge_bufs) {
        born_error(BORN_ERR_MEMORY, "%s: out of memory", where);
        goto done;
    }
    for (size_t i = 0; i < n_merges; i++) {
        const born_json_value *m = born_json_array_get(mlist, i);
        if (born_json_type_of(m) == BORN_JSON_STRING) {
            born_json_get_string(m, &merges[i], &mlens[i]);
        } else if (born_json_type_of(m) == BORN_JSON_ARRAY && born_json_array_length(m) == 2) {
            const char *a, *b;
            size_t la, lb;
            if (born_json_get_string(born_json_array_get(m, 0), &a, &la) != BORN_OK ||
                born_json_get_string(born_json_array_get(m, 1), &b, &lb) != BORN_OK) {
                born_clear_error();
                born_error(BORN_ERR_FORMAT, "%s: merge %zu is not a pair of strings", where, i);
                goto done;
            }
            char *buf = malloc(la + lb + 2);
            if (!buf) {
                born_error(BORN_ERR_MEMORY, "%s: out of memory", where);
                goto done;
            }
            memcpy(buf, a, la);
            buf[la] = ' ';
            memcpy(buf + la + 1, b, lb);
            buf[la + lb + 1] = 0;
            merge_bufs[i] = buf;
            merges[i] = buf;
            mlens[i] = la + lb + 1;
        } else {
            born_error(BORN_ERR_FORMAT, "%s: merge %zu is neither \"a b\" nor [a, b]", where, i);
            goto done;
        }
    }

    born_tokenizer_spec spec = born_tokenizer_spec_default();
    if (!hf_read_pre(born_json_object_get(root, "pre_tokenizer"), &pre, where, 0)) goto done;
    bool prepend = false;
    int norm = hf_read_normalizer(born_json_object_get(root, "normalizer"), &prepend, where, 0);
    if (norm < 0) goto done;
    const born_json_value *decoder = born_json_object_get(root, "decoder");
    if (pre.byte_level || type_is(decoder, "ByteLevel")) {
        spec.model = BORN_TOKENIZER_GPT2;
        if (pre.n == 0) {
            born_error(BORN_ERR_UNSUPPORTED, "%s: a byte-level tokenizer without a regex", where);
            goto done;
        }
        spec.patterns = pre.patterns;
        spec.n_patterns = pre.n;
        int32_t eot = vb_find(&vb, "<|endoftext|>", 13);
        spec.bos_id = spec.eos_id = eot;
    } else if (norm > 0 || pre.metaspace) {
        if (pre.metaspace || pre.n) {
            born_error(BORN_ERR_UNSUPPORTED,
                       "%s: only SentencePiece-style tokenizers with normalizers (Prepend, Replace) "
                       "are supported",
                       where);
            goto done;
        }
        spec.model = BORN_TOKENIZER_LLAMA;
        spec.add_space_prefix = prepend;
        spec.byte_fallback = json_flag(model, "byte_fallback", false);
        size_t ul;
        const char *unk = json_str(model, "unk_token", &ul);
        spec.unk_id = unk ? vb_find(&vb, unk, ul) : -1;
        spec.bos_id = vb_find(&vb, "<s>", 3);
        spec.eos_id = vb_find(&vb, "</s>", 4);
        /* what HF's ByteFallback decoder turns into bytes, and the unknown token */
        for (int32_t i = 0; i < vb.n; i++) {
            const char *s = vb.texts[i];
            if (vb.types[i] == BORN_TOKEN_NORMAL && vb.lens[i] == 6 && memcmp(s, "<0x", 3) == 0 &&
                s[5] == '>' && isxdigit((unsigned char)s[3]) && isxdigit((unsigned char)s[4]))
                vb.types[i] = BORN_TOKEN_BYTE;
        }
        if (spec.unk_id >= 0) vb.types[spec.unk_id] = BORN_TOKEN_UNKNOWN;
    } else {
        born_error(BORN_ERR_UNSUPPORTED,
                   "%s: neither byte-level nor SentencePiece-style (no ByteLevel pre-tokenizer, no "
                   "Prepend normalizer)",
                   where);
        goto done;
    }
    spec.ignore_merges = json_flag(model, "ignore_merges", false);

    /* BOS / EOS from the post-processor's template ("single": [special, A, special]) */
    const born_json_value *post = born_json_object_get(root, "post_processor");
    const born_json_value *single = NULL;
    if (type_is(post, "TemplateProcessing")) single = born_json_object_get(post, "single");
    if (type_is(post, "Sequence")) {
        const born_json_value *list = born_json_object_get(post, "processors");
        size_t np = born_json_type_of(list) == BORN_JSON_ARRAY ? born_json_array_length(list) : 0;
        for (size_t i = 0; i < np; i++) {
            const born_json_value *p = born_json_array_get(list, i);
            if (type_is(p, "TemplateProcessing")) single = born_json_object_get(p, "single");
        }
    }
    if (born_json_type_of(single) == BORN_JSON_ARRAY) {
        bool seen_seq = false;
        size_t ns = born_json_array_length(single);
        for (size_t i = 0; i < ns; i++) {
            const born_json_value *item = born_json_array_get(single, i);
            if (born_json_type_of(item) != BORN_JSON_OBJECT) continue;
            if (born_json_object_get(item, "Sequence")) {
                seen_seq = true;
                continue;
            }
            size_t len;
            const char *name = json_str(born_json_object_get(item, "SpecialToken"), "id", &len);
            int32_t id = name ? vb_find(&vb, name, len) : -1;
            if (id < 0) continue;
            if (!seen_seq) {
                spec.bos_id = id;
                spec.add_bos = true;
            } else {
                spec.eos_id = id;
                spec.add_eos = true;
            }
        }
    }
    spec.n_tokens = vb.n;
    spec.tokens = vb.texts;
    spec.token_lens = vb.lens;
    spec.types = vb.types;
    spec.flags = vb.flags;
    spec.n_merges = (int32_t)n_merges;
    spec.merges = merges;
    spec.merge_lens = mlens;
    tok = born_tokenizer_new(&spec);
done:
    for (size_t i = 0; merge_bufs && i < n_merges; i++) free(merge_bufs[i]);
    free(merge_bufs);
    free(merges);
    free(mlens);
    hf_pre_free(&pre);
    vb_free(&vb);
    born_json_free(doc);
    return tok;
}

/* ------------------------------------------------------------------------------------------ */
/* vocab.json + merges.txt                                                                      */

/* Splits buf into lines (dropping \r), skipping a "#version" first line and empty lines. */
static bool split_lines(char *buf, size_t len, const char ***lines, size_t **lens, size_t *count) {
    size_t n = 0, cap = 1024;
    const char **l = malloc(cap * sizeof *l);
    size_t *ll = malloc(cap * sizeof *ll);
    if (!l || !ll) goto nomem;
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && buf[j] != '\n') j++;
        size_t e = j;
        if (e > i && buf[e - 1] == '\r') e--;
        bool skip = e == i || (n == 0 && i == 0 && e - i >= 8 && memcmp(buf, "#version", 8) == 0);
        if (!skip) {
            if (n == cap) {
                cap *= 2;
                const char **nl = realloc(l, cap * sizeof *nl);
                if (!nl) goto nomem;
                l = nl;
                size_t *nll = realloc(ll, cap * sizeof *nll);
                if (!nll) goto nomem;
                ll = nll;
            }
            buf[e] = 0;
            l[n] = buf + i;
            ll[n++] = e - i;
        }
        i = j + 1;
    }
    *lines = l;
    *lens = ll;
    *count = n;
    return true;
nomem:
    free(l);
    free(ll);
    return false;
}

born_tokenizer *born_tokenizer_load_vocab_merges(const char *vocab_path, const char *merges_path) {
    if (!vocab_path || !merges_path)
        return born_error_null(BORN_ERR_ARGUMENT, "born_tokenizer_load_vocab_merges: path is NULL");
    char where[600];
    snprintf(where, sizeof where, "born_tokenizer_load_vocab_merges: %.560s", merges_path);
    born_json *doc = born_json_load(vocab_path, NULL);
    if (!doc) return NULL;
    uint8_t *mbuf = NULL;
    size_t mlen = 0, n_merges = 0;
    const char **merges = NULL;
    size_t *mlens = NULL;
    vocab_build vb = {0};
    born_tokenizer *tok = NULL;
    const born_json_value *root = born_json_root(doc);
    if (born_json_type_of(root) != BORN_JSON_OBJECT) {
        born_error(BORN_ERR_FORMAT, "born_tokenizer_load_vocab_merges: %.500s is not a JSON object",
                   vocab_path);
        goto done;
    }
    if (!vb_from_json_vocab(&vb, root, -1, "born_tokenizer_load_vocab_merges")) goto done;
    if (io_read_file(where, merges_path, MAX_FILE, &mbuf, &mlen) != BORN_OK) goto done;
    /* io_read_file leaves no room for a terminator; lines are cut in place, the last one needs
     * one more byte */
    uint8_t *grown = realloc(mbuf, mlen + 1);
    if (!grown) {
        born_error(BORN_ERR_MEMORY, "%s: out of memory", where);
        goto done;
    }
    mbuf = grown;
    mbuf[mlen] = '\n';
    if (!split_lines((char *)mbuf, mlen + 1, &merges, &mlens, &n_merges)) {
        born_error(BORN_ERR_MEMORY, "%s: out of memory", where);
        goto done;
    }
    if (n_merges > INT32_MAX) {
        born_error(BORN_ERR_FORMAT, "%s: too many merges", where);
        goto done;
    }
    born_tokenizer_spec spec = born_tokenizer_spec_default();
    spec.model = BORN_TOKENIZER_GPT2;
    spec.pre = "gpt2";
    int32_t eot = vb_find(&vb, "<|endoftext|>", 13);
    if (eot >= 0) vb.types[eot] = BORN_TOKEN_CONTROL;
    spec.bos_id = spec.eos_id = eot;
    spec.n_tokens = vb.n;
    spec.tokens = vb.texts;
    spec.token_lens = vb.lens;
    spec.types = vb.types;
    spec.n_merges = (int32_t)n_merges;
    spec.merges = merges;
    spec.merge_lens = mlens;
    tok = born_tokenizer_new(&spec);
done:
    free(merges);
    free(mlens);
    free(mbuf);
    vb_free(&vb);
    born_json_free(doc);
    return tok;
}

/* ------------------------------------------------------------------------------------------ */
/* tiktoken                                                                                     */

static int b64val(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decodes standard base64 (with padding) in place; returns the length or -1. */
static long b64_decode(char *s, size_t n) {
    if (n % 4) return -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            char c = s[i + k];
            if (c == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
            } else {
                if (pad) return -1;
                v[k] = b64val((unsigned char)c);
                if (v[k] < 0) return -1;
            }
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        s[o++] = (char)(w >> 16);
        if (pad < 2) s[o++] = (char)(w >> 8);
        if (pad < 1) s[o++] = (char)w;
    }
    return (long)o;
}

born_tokenizer *born_tokenizer_load_tiktoken(const char *path, const char *name, const char *pattern,
                                             int32_t n_special, const char *const *special_texts,
                                             const int32_t *special_ids) {
    if (!path || (n_special > 0 && (!special_texts || !special_ids)) || n_special < 0)
        return born_error_null(BORN_ERR_ARGUMENT, "born_tokenizer_load_tiktoken: %s",
                               !path ? "path is NULL" : "bad special tokens");
    char where[600];
    snprintf(where, sizeof where, "born_tokenizer_load_tiktoken: %.560s", path);
    uint8_t *buf = NULL;
    size_t len = 0, nl = 0;
    const char **lines = NULL;
    size_t *lens = NULL;
    int32_t *ranks = NULL;
    vocab_build vb = {0};
    born_tokenizer *tok = NULL;
    if (io_read_file(where, path, MAX_FILE, &buf, &len) != BORN_OK) return NULL;
    uint8_t *grown = realloc(buf, len + 1);
    if (!grown) {
        born_error(BORN_ERR_MEMORY, "%s: out of memory", where);
        goto done;
    }
    buf = grown;
    buf[len] = '\n';
    if (!split_lines((char *)buf, len + 1, &lines, &lens, &nl)) {
        born_error(BORN_ERR_MEMORY, "%s: out of memory", where);
        goto done;
    }
    ranks = malloc((nl ? nl : 1) * sizeof *ranks);
    if (!ranks) {
        born_error(BORN_ERR_MEMORY, "%s: out of memory", where);
        goto done;
    }
    int64_t max_id = -1;
    for (size_t i = 0; i < nl; i++) {
        char *line = (char *)lines[i];
        char *sp = memchr(line, ' ', lens[i]);
        char *end;
        long long r = sp ? strtoll(sp + 1, &end, 10) : -1;
        if (!sp || end == sp + 1 || *end || r < 0 || r >= INT32_MAX) {
            born_error(BORN_ERR_FORMAT, "%s: line %zu is not \"base64 rank\"", where, i + 1);
            goto done;
        }
        long bl = b64_decode(line, (size_t)(sp - line));
        if (bl < 0) {
            born_error(BORN_ERR_FORMAT, "%s: line %zu has bad base64", where, i + 1);
            goto done;
        }
        lens[i] = (size_t)bl;
        ranks[i] = (int32_t)r;
        if (r > max_id) max_id = r;
    }
    for (int32_t k = 0; k < n_special; k++) {
        if (!special_texts[k] || special_ids[k] < 0 || special_ids[k] == INT32_MAX) {
            born_error(BORN_ERR_ARGUMENT, "%s: special token %d is invalid", where, (int)k);
            goto done;
        }
        if (special_ids[k] > max_id) max_id = special_ids[k];
    }
    if (max_id < 0) {
        born_error(BORN_ERR_FORMAT, "%s: no tokens", where);
        goto done;
    }
    if (!vb_init(&vb, (int32_t)(max_id + 1))) {
        born_error(BORN_ERR_MEMORY, "%s: out of memory", where);
        goto done;
    }
    for (size_t i = 0; i < nl; i++) {
        if (vb.types[ranks[i]] != BORN_TOKEN_UNUSED) {
            born_error(BORN_ERR_FORMAT, "%s: rank %d appears twice", where, (int)ranks[i]);
            goto done;
        }
        vb.texts[ranks[i]] = lines[i];
        vb.lens[ranks[i]] = lens[i];
        vb.types[ranks[i]] = BORN_TOKEN_NORMAL;
    }
    for (int32_t k = 0; k < n_special; k++) {
        if (vb.types[special_ids[k]] != BORN_TOKEN_UNUSED) {
            born_error(BORN_ERR_FORMAT, "%s: special token id %d is also a rank", where,
                       (int)special_ids[k]);
            goto done;
        }
        vb.texts[special_ids[k]] = special_texts[k];
        vb.lens[special_ids[k]] = strlen(special_texts[k]);
        vb.types[special_ids[k]] = BORN_TOKEN_CONTROL;
    }
    born_tokenizer_spec spec = born_tokenizer_spec_default();
    spec.model = BORN_TOKENIZER_TIKTOKEN;
    const char *pats[1] = {pattern};
    if (pattern) {
        spec.patterns = pats;
        spec.n_patterns = 1;
    } else {
        spec.pre = name ? name : "cl100k_base";
    }
    int32_t eot = vb_find(&vb, "<|endoftext|>", 13);
    if (eot >= 0 && vb.types[eot] == BORN_TOKEN_CONTROL) spec.eos_id = eot;
    spec.n_tokens = vb.n;
    spec.tokens = vb.texts;
    spec.token_lens = vb.lens;
    spec.types = vb.types;
    tok = born_tokenizer_new(&spec);
done:
    free(lines);
    free(lens);
    free(ranks);
    free(buf);
    vb_free(&vb);
    return tok;
}

born_tokenizer *born_tokenizer_load_tiktoken_json(const char *tiktoken_path, const char *json_path) {
    if (!tiktoken_path || !json_path)
        return born_error_null(BORN_ERR_ARGUMENT, "born_tokenizer_load_tiktoken_json: path is NULL");
    born_json *doc = born_json_load(json_path, NULL);
    if (!doc) return NULL;
    born_tokenizer *tok = NULL;
    const char **texts = NULL;
    int32_t *ids = NULL;
    const born_json_value *root = born_json_root(doc);
    const char *pat = json_str(root, "pat_str", NULL);
    const born_json_value *sp = born_json_type_of(root) == BORN_JSON_OBJECT
                                    ? born_json_object_get(root, "special_tokens")
                                    : NULL;
    if (!pat || (sp && born_json_type_of(sp) != BORN_JSON_OBJECT)) {
        born_error(BORN_ERR_FORMAT,
                   "born_tokenizer_load_tiktoken_json: %.500s needs \"pat_str\" and an object "
                   "\"special_tokens\"",
                   json_path);
        goto done;
    }
    size_t ns = sp ? born_json_object_size(sp) : 0;
    texts = calloc(ns ? ns : 1, sizeof *texts);
    ids = calloc(ns ? ns : 1, sizeof *ids);
    if (!texts || !ids) {
        born_error(BORN_ERR_MEMORY, "born_tokenizer_load_tiktoken_json: out of memory");
        goto done;
    }
    for (size_t i = 0; i < ns; i++) {
        int64_t id;
        const born_json_value *v = born_json_object_member(sp, i, &texts[i], NULL);
        if (born_json_get_int64(v, &id) != BORN_OK || id < 0 || id >= INT32_MAX) {
            born_clear_error();
            born_error(BORN_ERR_FORMAT, "born_tokenizer_load_tiktoken_json: special token %zu has "
                                        "no valid id",
                       i);
            goto done;
        }
        ids[i] = (int32_t)id;
    }
    tok = born_tokenizer_load_tiktoken(tiktoken_path, NULL, pat, (int32_t)ns, texts, ids);
done:
    free(texts);
    free(ids);
    born_json_free(doc);
    return tok;
}
