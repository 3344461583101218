/* The tokenizer of a GGUF model: tokenizer.ggml.* keys gathered into born_tokenizer_gguf (strings
 * borrowed from the mapping) and handed to born_tokenizer_from_gguf. */
#include <stdlib.h>
#include <string.h>

#include "born/llm.h"
#include "core/error.h"
#include "llm/model/model_internal.h"

static born_status string_array(born_file *f, const char *key, int64_t *n, const char ***strs,
                                uint64_t **lens) {
    born_gguf_type et;
    uint64_t count;
    born_status st = born_gguf_get_array(f, key, &et, &count);
    if (st != BORN_OK) return st;
    if (et != BORN_GGUF_STRING || count > INT32_MAX)
        return born_error(BORN_ERR_FORMAT, "born_model_load: %s is not an array of strings", key);
    *strs = malloc((count ? count : 1) * sizeof **strs);
    *lens = malloc((count ? count : 1) * sizeof **lens);
    if (!*strs || !*lens) return born_error(BORN_ERR_MEMORY, "born_model_load: out of memory");
    for (uint64_t i = 0; i < count; i++) {
        size_t len;
        st = born_gguf_get_array_string(f, key, i, &(*strs)[i], &len);
        if (st != BORN_OK) return st;
        (*lens)[i] = len;
    }
    *n = (int64_t)count;
    return BORN_OK;
}

static born_status id_key(born_file *f, const char *key, int64_t *out) {
    if (born_gguf_find_key(f, key) < 0) return BORN_OK;
    return born_gguf_get_i64(f, key, out);
}

static born_status flag_key(born_file *f, const char *key, int *out) {
    if (born_gguf_find_key(f, key) < 0) return BORN_OK;
    bool b;
    born_status st = born_gguf_get_bool(f, key, &b);
    if (st == BORN_OK) *out = b;
    return st;
}

born_status llm_tokenizer_load(born_model *m) {
    born_file *f = m->file;
    born_tokenizer_gguf kv = born_tokenizer_gguf_default();
    const char **tokens = NULL, **merges = NULL;
    uint64_t *tlens = NULL, *mlens = NULL;
    float *scores = NULL;
    int32_t *types = NULL;
    born_status st = BORN_OK;
    if (born_gguf_find_key(f, "tokenizer.ggml.model") < 0) {
        st = born_error(BORN_ERR_FORMAT, "born_model_load: tokenizer.ggml.model is missing");
        goto done;
    }
    if ((st = born_gguf_get_string(f, "tokenizer.ggml.model", &kv.model, NULL)) != BORN_OK) goto done;
    if (born_gguf_find_key(f, "tokenizer.ggml.pre") >= 0 &&
        (st = born_gguf_get_string(f, "tokenizer.ggml.pre", &kv.pre, NULL)) != BORN_OK)
        goto done;
    if (born_gguf_find_key(f, "tokenizer.ggml.tokens") < 0) {
        st = born_error(BORN_ERR_FORMAT, "born_model_load: tokenizer.ggml.tokens is missing");
        goto done;
    }
    if ((st = string_array(f, "tokenizer.ggml.tokens", &kv.n_tokens, &tokens, &tlens)) != BORN_OK)
        goto done;
    kv.tokens = tokens;
    kv.token_lens = tlens;
    if (born_gguf_find_key(f, "tokenizer.ggml.merges") >= 0) {
        if ((st = string_array(f, "tokenizer.ggml.merges", &kv.n_merges, &merges, &mlens)) != BORN_OK)
            goto done;
        kv.merges = merges;
        kv.merge_lens = mlens;
    }
    const char *num_keys[2] = {"tokenizer.ggml.scores", "tokenizer.ggml.token_type"};
    for (int k = 0; k < 2; k++) {
        if (born_gguf_find_key(f, num_keys[k]) < 0) continue;
        uint64_t count;
        if ((st = born_gguf_get_array(f, num_keys[k], NULL, &count)) != BORN_OK) goto done;
        if (count != (uint64_t)kv.n_tokens) {
            st = born_error(BORN_ERR_FORMAT, "born_model_load: %s has %llu entries, tokens %lld",
                            num_keys[k], (unsigned long long)count, (long long)kv.n_tokens);
            goto done;
        }
        if (k == 0) scores = malloc((size_t)(count ? count : 1) * sizeof *scores);
        else types = malloc((size_t)(count ? count : 1) * sizeof *types);
        if ((k == 0 && !scores) || (k == 1 && !types)) {
            st = born_error(BORN_ERR_MEMORY, "born_model_load: out of memory");
            goto done;
        }
        for (uint64_t i = 0; i < count; i++) {
            if (k == 0) {
                double d;
                if ((st = born_gguf_get_array_f64(f, num_keys[k], i, &d)) != BORN_OK) goto done;
                scores[i] = (float)d;
            } else {
                int64_t v;
                if ((st = born_gguf_get_array_i64(f, num_keys[k], i, &v)) != BORN_OK) goto done;
                types[i] = (int32_t)v;
            }
        }
    }
    kv.scores = scores;
    kv.token_types = types;
    if ((st = id_key(f, "tokenizer.ggml.bos_token_id", &kv.bos_id)) != BORN_OK ||
        (st = id_key(f, "tokenizer.ggml.eos_token_id", &kv.eos_id)) != BORN_OK ||
        (st = id_key(f, "tokenizer.ggml.unknown_token_id", &kv.unk_id)) != BORN_OK ||
        (st = id_key(f, "tokenizer.ggml.padding_token_id", &kv.pad_id)) != BORN_OK ||
        (st = id_key(f, "tokenizer.ggml.eot_token_id", &kv.eot_id)) != BORN_OK ||
        (st = id_key(f, "tokenizer.ggml.seperator_token_id", &kv.sep_id)) != BORN_OK ||
        (st = flag_key(f, "tokenizer.ggml.add_bos_token", &kv.add_bos)) != BORN_OK ||
        (st = flag_key(f, "tokenizer.ggml.add_eos_token", &kv.add_eos)) != BORN_OK ||
        (st = flag_key(f, "tokenizer.ggml.add_space_prefix", &kv.add_space_prefix)) != BORN_OK)
        goto done;
    m->tok = born_tokenizer_from_gguf(&kv);
    if (!m->tok) st = born_last_status();
done:
    free(tokens);
    free(tlens);
    free(merges);
    free(mlens);
    free(scores);
    free(types);
    return st;
}
