/* Tokenizers against HF tokenizers and tiktoken: the ids of 163 strings (tests/fixtures/
 * tokenizers/cases.json, made by tools/gen_tokenizer_fixtures.py) for GPT-2 (vocab.json +
 * merges.txt), Llama-2-style SentencePiece BPE (tokenizer.json, read from ../shared), cl100k_base
 * and o200k_base (tiktoken) and SmolLM2 (its GGUF metadata through born_tokenizer_from_gguf);
 * decoding, the streaming detokenizer, invalid input and every error path. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "born/llm.h"
#include "llm/tokenizer/unicode.h"
#include "test.h"

#define FIX "tests/fixtures/tokenizers/"
#define SHARED "../shared/data/tokenizers/"

static bool file_exists(const char *path) { return access(path, R_OK) == 0; }

/* ------------------------------------------------------------------------------------------ */
/* Fixture helpers                                                                              */

typedef struct fixture {
    born_json *doc;
    const born_json_value *root;
    uint8_t **texts;
    size_t *lens;
    size_t count;
} fixture;

static int hexv(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

static bool fixture_load(fixture *f) {
    memset(f, 0, sizeof *f);
    f->doc = born_json_load(FIX "cases.json", NULL);
    if (!f->doc) {
        test_fail(__FILE__, __LINE__, "cases.json: %s", born_last_error());
        born_clear_error();
        return false;
    }
    f->root = born_json_root(f->doc);
    const born_json_value *strs = born_json_object_get(f->root, "strings");
    f->count = born_json_array_length(strs);
    f->texts = calloc(f->count, sizeof *f->texts);
    f->lens = calloc(f->count, sizeof *f->lens);
    for (size_t i = 0; i < f->count; i++) {
        const char *hex;
        size_t hl;
        born_json_get_string(born_json_array_get(strs, i), &hex, &hl);
        f->texts[i] = malloc(hl / 2 + 1);
        for (size_t k = 0; k < hl / 2; k++)
            f->texts[i][k] = (uint8_t)(hexv(hex[2 * k]) * 16 + hexv(hex[2 * k + 1]));
        f->lens[i] = hl / 2;
    }
    return true;
}

static void fixture_free(fixture *f) {
    for (size_t i = 0; i < f->count; i++) free(f->texts[i]);
    free(f->texts);
    free(f->lens);
    born_json_free(f->doc);
}

/* Reads an array of ints into a malloc'd array. */
static int32_t *json_ids(const born_json_value *arr, size_t *n) {
    *n = born_json_array_length(arr);
    int32_t *v = malloc((*n + 1) * sizeof *v);
    for (size_t i = 0; i < *n; i++) {
        int64_t x = 0;
        born_json_get_int64(born_json_array_get(arr, i), &x);
        v[i] = (int32_t)x;
    }
    return v;
}

static bool same_ids(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

static void show_ids(const char *what, const int32_t *v, size_t n) {
    fprintf(stderr, "    %s (%zu):", what, n);
    for (size_t i = 0; i < n && i < 40; i++) fprintf(stderr, " %d", (int)v[i]);
    fprintf(stderr, n > 40 ? " ...\n" : "\n");
}

/* Rust's String::from_utf8_lossy, which HF's decode applies: each maximal ill-formed subpart
 * becomes U+FFFD. Returns a malloc'd copy. */
static uint8_t *lossy(const uint8_t *s, size_t n, size_t *out_len) {
    uint8_t *o = malloc(3 * n + 1);
    size_t m = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int l = utf8_decode(s + i, n - i, &cp);
        if (l > 0) {
            memcpy(o + m, s + i, (size_t)l);
            m += (size_t)l;
            i += (size_t)l;
            continue;
        }
        size_t k = 1;
        for (size_t j = 3; j >= 2; j--)
            if (i + j <= n && utf8_incomplete_tail(s + i, j) == j) {
                k = j;
                break;
            }
        memcpy(o + m, "\xef\xbf\xbd", 3);
        m += 3;
        i += k;
    }
    *out_len = m;
    return o;
}

/* Checks every case of `name`: ids with special parsing on and off, the decoding (made lossy as
 * HF's is when `hf`), and the streaming detokenizer. Returns the number of cases that matched. */
static size_t run_cases(const born_tokenizer *tok, const fixture *f, const char *name,
                        bool add_special, bool decode_special, size_t *total) {
    bool hf = strcmp(name, "cl100k_base") != 0 && strcmp(name, "o200k_base") != 0;
    const born_json_value *list = born_json_object_get(f->root, name);
    size_t n = born_json_array_length(list), ok = 0;
    *total = n;
    CHECK(n > 100);
    for (size_t c = 0; c < n; c++) {
        const born_json_value *rec = born_json_array_get(list, c);
        int64_t si;
        born_json_get_int64(born_json_object_get(rec, "s"), &si);
        const uint8_t *text = f->texts[si];
        size_t len = f->lens[si];
        size_t n_ref, n_plain = 0;
        int32_t *ref = json_ids(born_json_object_get(rec, "ids"), &n_ref);
        const born_json_value *pv = born_json_object_get(rec, "plain");
        int32_t *plain = pv ? json_ids(pv, &n_plain) : NULL;
        bool good = true;

        int32_t *ids = NULL;
        size_t n_ids = 0;
        CHECK_OK(born_tokenizer_encode(tok, (const char *)text, len, add_special, true, &ids, &n_ids));
        if (!same_ids(ids, n_ids, ref, n_ref)) {
            good = false;
            test_fail(__FILE__, __LINE__, "%s: string %d (\"%.60s\") parse_special: ids differ", name,
                      (int)si, (const char *)text);
            show_ids("born", ids, n_ids);
            show_ids("reference", ref, n_ref);
        }
        free(ids);
        CHECK_OK(born_tokenizer_encode(tok, (const char *)text, len, add_special, false, &ids, &n_ids));
        const int32_t *want = plain ? plain : ref;
        size_t n_want = plain ? n_plain : n_ref;
        if (!same_ids(ids, n_ids, want, n_want)) {
            good = false;
            test_fail(__FILE__, __LINE__, "%s: string %d (\"%.60s\") plain: ids differ", name,
                      (int)si, (const char *)text);
            show_ids("born", ids, n_ids);
            show_ids("reference", want, n_want);
        }
        free(ids);

        /* decoding the reference ids gives the reference's decoding */
        char *dec = NULL;
        size_t dl = 0;
        CHECK_OK(born_tokenizer_decode(tok, ref, n_ref, decode_special, &dec, &dl));
        const uint8_t *exp = text;
        size_t el = len;
        uint8_t *expbuf = NULL;
        size_t hl;
        const char *hex;
        const born_json_value *dv = born_json_object_get(rec, "dec");
        if (dv && born_json_get_string(dv, &hex, &hl) == BORN_OK) {
            expbuf = malloc(hl / 2 + 1);
            for (size_t k = 0; k < hl / 2; k++)
                expbuf[k] = (uint8_t)(hexv(hex[2 * k]) * 16 + hexv(hex[2 * k + 1]));
            exp = expbuf;
            el = hl / 2;
        }
        size_t cl = dl;
        uint8_t *cmp = hf ? lossy((const uint8_t *)dec, dl, &cl) : NULL;
        if (!dec || cl != el || memcmp(cmp ? (const char *)cmp : dec, exp, el) != 0) {
            good = false;
            test_fail(__FILE__, __LINE__, "%s: string %d decodes to \"%.60s\" (%zu bytes), want %zu bytes",
                      name, (int)si, dec ? dec : "", dl, el);
        }
        /* the stream gives the same bytes and never stops inside a character */
        born_detokenizer *d = born_detokenizer_new(tok, decode_special);
        char *acc = malloc(dl + 16);
        size_t al = 0;
        for (size_t k = 0; k < n_ref; k++) {
            const char *piece;
            size_t pl;
            CHECK_OK(born_detokenizer_push(d, ref[k], &piece, &pl));
            if (pl && utf8_incomplete_tail((const uint8_t *)piece, pl) != 0) {
                good = false;
                test_fail(__FILE__, __LINE__, "%s: string %d: a streamed piece ends inside a character",
                          name, (int)si);
            }
            if (al + pl <= dl) memcpy(acc + al, piece, pl);
            al += pl;
        }
        const char *rest;
        size_t rl;
        CHECK_OK(born_detokenizer_flush(d, &rest, &rl));
        if (al + rl <= dl) memcpy(acc + al, rest, rl);
        al += rl;
        if (al != dl || (dl && memcmp(acc, dec, dl) != 0)) {
            good = false;
            test_fail(__FILE__, __LINE__, "%s: string %d: streamed text differs from decode", name,
                      (int)si);
        }
        born_detokenizer_free(d);
        free(cmp);
        free(acc);
        free(expbuf);
        free(dec);
        free(ref);
        free(plain);
        if (good) ok++;
    }
    return ok;
}

static void report(const char *name, size_t ok, size_t total) {
    fprintf(stderr, "  [tokenizer] %-12s %zu/%zu reference strings match (ids, decode, stream)\n", name,
            ok, total);
}

/* ------------------------------------------------------------------------------------------ */
/* Tokenizers under test                                                                        */

static born_tokenizer *load_gpt2(void) {
    born_tokenizer *tok = born_tokenizer_load_vocab_merges(FIX "gpt2/vocab.json", FIX "gpt2/merges.txt");
    CHECK_MSG(tok, "gpt2: %s", born_last_error());
    return tok;
}

static born_tokenizer *load_smollm2(void) {
    born_json *doc = born_json_load(FIX "smollm2_gguf.json", NULL);
    CHECK_MSG(doc, "smollm2_gguf.json: %s", born_last_error());
    if (!doc) return NULL;
    const born_json_value *root = born_json_root(doc);
    born_tokenizer_gguf kv = born_tokenizer_gguf_default();
    born_json_get_string(born_json_object_get(root, "tokenizer.ggml.model"), &kv.model, NULL);
    born_json_get_string(born_json_object_get(root, "tokenizer.ggml.pre"), &kv.pre, NULL);
    const born_json_value *toks = born_json_object_get(root, "tokenizer.ggml.tokens");
    const born_json_value *types = born_json_object_get(root, "tokenizer.ggml.token_type");
    const born_json_value *merges = born_json_object_get(root, "tokenizer.ggml.merges");
    kv.n_tokens = (int64_t)born_json_array_length(toks);
    kv.n_merges = (int64_t)born_json_array_length(merges);
    const char **t = malloc((size_t)kv.n_tokens * sizeof *t);
    uint64_t *tl = malloc((size_t)kv.n_tokens * sizeof *tl);
    int32_t *ty = malloc((size_t)kv.n_tokens * sizeof *ty);
    const char **m = malloc((size_t)kv.n_merges * sizeof *m);
    for (int64_t i = 0; i < kv.n_tokens; i++) {
        size_t len;
        born_json_get_string(born_json_array_get(toks, (size_t)i), &t[i], &len);
        tl[i] = len;
        int64_t v;
        born_json_get_int64(born_json_array_get(types, (size_t)i), &v);
        ty[i] = (int32_t)v;
    }
    for (int64_t i = 0; i < kv.n_merges; i++)
        born_json_get_string(born_json_array_get(merges, (size_t)i), &m[i], NULL);
    kv.tokens = t;
    kv.token_lens = tl;
    kv.token_types = ty;
    kv.merges = m;
    int64_t v;
    if (born_json_get_int64(born_json_object_get(root, "tokenizer.ggml.bos_token_id"), &v) == BORN_OK)
        kv.bos_id = v;
    if (born_json_get_int64(born_json_object_get(root, "tokenizer.ggml.eos_token_id"), &v) == BORN_OK)
        kv.eos_id = v;
    if (born_json_get_int64(born_json_object_get(root, "tokenizer.ggml.unknown_token_id"), &v) == BORN_OK)
        kv.unk_id = v;
    if (born_json_get_int64(born_json_object_get(root, "tokenizer.ggml.padding_token_id"), &v) == BORN_OK)
        kv.pad_id = v;
    bool b;
    if (born_json_get_bool(born_json_object_get(root, "tokenizer.ggml.add_bos_token"), &b) == BORN_OK)
        kv.add_bos = b;
    if (born_json_get_bool(born_json_object_get(root, "tokenizer.ggml.add_space_prefix"), &b) == BORN_OK)
        kv.add_space_prefix = b;
    born_clear_error();
    born_tokenizer *tok = born_tokenizer_from_gguf(&kv);
    CHECK_MSG(tok, "smollm2: %s", born_last_error());
    free(t);
    free(tl);
    free(ty);
    free(m);
    born_json_free(doc);
    return tok;
}

TEST(tokenizer_gpt2_matches_hf) {
    fixture f;
    if (!fixture_load(&f)) return;
    born_tokenizer *tok = load_gpt2();
    if (tok) {
        CHECK_EQ_INT(born_tokenizer_vocab_size(tok), 50257);
        CHECK_EQ_INT(born_tokenizer_model_of(tok), BORN_TOKENIZER_GPT2);
        size_t total, ok = run_cases(tok, &f, "gpt2", false, false, &total);
        CHECK_EQ_INT(ok, total);
        report("gpt2", ok, total);
    }
    born_tokenizer_free(tok);
    fixture_free(&f);
}

TEST(tokenizer_smollm2_gguf_matches_hf) {
    fixture f;
    if (!fixture_load(&f)) return;
    born_tokenizer *tok = load_smollm2();
    if (tok) {
        CHECK_EQ_INT(born_tokenizer_vocab_size(tok), 49152);
        CHECK_EQ_INT(born_tokenizer_bos(tok), 1);
        CHECK_EQ_INT(born_tokenizer_eos(tok), 2);
        CHECK(!born_tokenizer_add_bos(tok));
        CHECK_EQ_INT(born_tokenizer_eot(tok), 2); /* "<|im_end|>", found by text as llama.cpp */
        CHECK(born_tokenizer_is_eog(tok, 2));
        CHECK(born_tokenizer_is_eog(tok, 0)); /* <|endoftext|> */
        CHECK(!born_tokenizer_is_eog(tok, 1));
        CHECK_EQ_INT(born_tokenizer_token_type(tok, 1), BORN_TOKEN_CONTROL);
        CHECK_EQ_INT(born_tokenizer_find(tok, "<|im_start|>", 12), 1);
        size_t total, ok = run_cases(tok, &f, "smollm2", false, false, &total);
        CHECK_EQ_INT(ok, total);
        report("smollm2", ok, total);
    }
    born_tokenizer_free(tok);
    fixture_free(&f);
}

TEST(tokenizer_cl100k_matches_tiktoken) {
    fixture f;
    if (!fixture_load(&f)) return;
    born_tokenizer *tok =
        born_tokenizer_load_tiktoken_json(FIX "cl100k_base.tiktoken", FIX "cl100k_base.json");
    CHECK_MSG(tok, "cl100k: %s", born_last_error());
    if (tok) {
        CHECK_EQ_INT(born_tokenizer_vocab_size(tok), 100277);
        CHECK_EQ_INT(born_tokenizer_token_type(tok, 100257), BORN_TOKEN_CONTROL);
        CHECK_EQ_INT(born_tokenizer_token_type(tok, 100261), BORN_TOKEN_UNUSED); /* a gap */
        size_t total, ok = run_cases(tok, &f, "cl100k_base", false, true, &total);
        CHECK_EQ_INT(ok, total);
        report("cl100k_base", ok, total);
    }
    born_tokenizer_free(tok);
    fixture_free(&f);
}

TEST(tokenizer_o200k_matches_tiktoken) {
    if (!file_exists(SHARED "o200k_base.tiktoken")) {
        fprintf(stderr, "  [tokenizer] o200k_base skipped: " SHARED "o200k_base.tiktoken absent\n");
        return;
    }
    fixture f;
    if (!fixture_load(&f)) return;
    born_tokenizer *tok =
        born_tokenizer_load_tiktoken_json(SHARED "o200k_base.tiktoken", SHARED "o200k_base.json");
    CHECK_MSG(tok, "o200k: %s", born_last_error());
    if (tok) {
        size_t total, ok = run_cases(tok, &f, "o200k_base", false, true, &total);
        CHECK_EQ_INT(ok, total);
        report("o200k_base", ok, total);
    }
    born_tokenizer_free(tok);
    fixture_free(&f);
}

TEST(tokenizer_llama2_matches_hf) {
    if (!file_exists(SHARED "llama2/tokenizer.json")) {
        fprintf(stderr, "  [tokenizer] llama2 skipped: " SHARED "llama2/tokenizer.json absent\n");
        return;
    }
    fixture f;
    if (!fixture_load(&f)) return;
    born_tokenizer *tok = born_tokenizer_load_hf(SHARED "llama2/tokenizer.json");
    CHECK_MSG(tok, "llama2: %s", born_last_error());
    if (tok) {
        CHECK_EQ_INT(born_tokenizer_model_of(tok), BORN_TOKENIZER_LLAMA);
        CHECK_EQ_INT(born_tokenizer_bos(tok), 1);
        CHECK_EQ_INT(born_tokenizer_eos(tok), 2);
        CHECK_EQ_INT(born_tokenizer_unk(tok), 0);
        CHECK(born_tokenizer_add_bos(tok));
        size_t total, ok = run_cases(tok, &f, "llama2", true, false, &total);
        CHECK_EQ_INT(ok, total);
        report("llama2", ok, total);
        /* any bytes round-trip through byte fallback */
        for (size_t i = 0; i < f.count; i++) {
            int32_t *ids;
            size_t n;
            char *dec;
            size_t dl;
            CHECK_OK(born_tokenizer_encode(tok, (const char *)f.texts[i], f.lens[i], true, false,
                                           &ids, &n));
            CHECK_OK(born_tokenizer_decode(tok, ids, n, false, &dec, &dl));
            CHECK_MSG(dl == f.lens[i] && memcmp(dec, f.texts[i], dl) == 0,
                      "llama2 round trip of string %zu", i);
            free(ids);
            free(dec);
        }
    }
    born_tokenizer_free(tok);
    fixture_free(&f);
}

/* llama.cpp's score-driven SentencePiece merging, with scores derived from the merge ranks of the
 * same vocabulary, gives HF's ids: the GGUF path and the tokenizer.json path agree. */
TEST(tokenizer_llama_scores_match_merge_ranks) {
    if (!file_exists(SHARED "llama2/tokenizer.json")) return;
    fixture f;
    if (!fixture_load(&f)) return;
    born_json *doc = born_json_load(SHARED "llama2/tokenizer.json", NULL);
    CHECK(doc);
    const born_json_value *model = born_json_object_get(born_json_root(doc), "model");
    const born_json_value *vocab = born_json_object_get(model, "vocab");
    const born_json_value *merges = born_json_object_get(model, "merges");
    int64_t n = (int64_t)born_json_object_size(vocab);
    const char **texts = calloc((size_t)n, sizeof *texts);
    uint64_t *lens = calloc((size_t)n, sizeof *lens);
    float *scores = malloc((size_t)n * sizeof *scores);
    int32_t *types = malloc((size_t)n * sizeof *types);
    for (int64_t i = 0; i < n; i++) {
        const char *k;
        size_t kl;
        int64_t id;
        born_json_get_int64(born_json_object_member(vocab, (size_t)i, &k, &kl), &id);
        texts[id] = k;
        lens[id] = kl;
        scores[id] = -1e9f;
        types[id] = BORN_TOKEN_NORMAL;
    }
    types[0] = BORN_TOKEN_UNKNOWN;
    types[1] = types[2] = BORN_TOKEN_CONTROL;
    for (int b = 0; b < 256; b++) types[3 + b] = BORN_TOKEN_BYTE;
    born_tokenizer_gguf kv = born_tokenizer_gguf_default();
    kv.model = "llama";
    kv.n_tokens = n;
    kv.tokens = texts;
    kv.token_lens = lens;
    kv.scores = scores;
    kv.token_types = types;
    /* a token's score is minus the rank of the first merge that makes it */
    born_tokenizer *lookup = born_tokenizer_from_gguf(&kv);
    CHECK(lookup);
    size_t nm = born_json_array_length(merges);
    for (size_t r = 0; lookup && r < nm; r++) {
        const char *m;
        size_t ml;
        born_json_get_string(born_json_array_get(merges, r), &m, &ml);
        char buf[256];
        size_t o = 0;
        for (size_t k = 0; k < ml && o < sizeof buf; k++)
            if (m[k] != ' ') buf[o++] = m[k];
        int32_t id = born_tokenizer_find(lookup, buf, o);
        if (id >= 0 && scores[id] == -1e9f) scores[id] = -(float)r;
    }
    born_tokenizer_free(lookup);
    born_tokenizer *tok = born_tokenizer_from_gguf(&kv);
    CHECK_MSG(tok, "%s", born_last_error());
    if (tok) {
        size_t total, ok = run_cases(tok, &f, "llama2", true, false, &total);
        CHECK_EQ_INT(ok, total);
        report("llama(score)", ok, total);
    }
    born_tokenizer_free(tok);
    free(texts);
    free(lens);
    free(scores);
    free(types);
    born_json_free(doc);
    fixture_free(&f);
}

/* tiktoken's r50k_base is GPT-2: the two paths agree on every string. */
TEST(tokenizer_r50k_equals_gpt2) {
    if (!file_exists(SHARED "r50k_base.tiktoken")) return;
    fixture f;
    if (!fixture_load(&f)) return;
    born_tokenizer *a = load_gpt2();
    born_tokenizer *b = born_tokenizer_load_tiktoken_json(SHARED "r50k_base.tiktoken", SHARED "r50k_base.json");
    CHECK_MSG(b, "%s", born_last_error());
    for (size_t i = 0; a && b && i < f.count; i++) {
        int32_t *x, *y;
        size_t nx, ny;
        CHECK_OK(born_tokenizer_encode(a, (const char *)f.texts[i], f.lens[i], false, true, &x, &nx));
        CHECK_OK(born_tokenizer_encode(b, (const char *)f.texts[i], f.lens[i], false, true, &y, &ny));
        CHECK_MSG(same_ids(x, nx, y, ny), "r50k vs gpt2: string %zu", i);
        free(x);
        free(y);
    }
    born_tokenizer_free(a);
    born_tokenizer_free(b);
    fixture_free(&f);
}

/* ------------------------------------------------------------------------------------------ */
/* Streaming, invalid input, API details                                                        */

TEST(tokenizer_stream_holds_back_partial_characters) {
    born_tokenizer *tok = load_gpt2();
    if (!tok) return;
    const char *text = "\xf0\x9f\x91\x8d \xe4\xb8\xad\xe6\x96\x87 caf\xc3\xa9 \xf0\x9f\x98\x80!";
    int32_t *ids;
    size_t n;
    CHECK_OK(born_tokenizer_encode(tok, text, strlen(text), false, false, &ids, &n));
    /* GPT-2 splits these characters across tokens: some pieces alone are not UTF-8 */
    size_t partial = 0;
    for (size_t i = 0; i < n; i++) {
        size_t pl;
        const char *p = born_tokenizer_token_to_piece(tok, ids[i], false, &pl);
        if (utf8_incomplete_tail((const uint8_t *)p, pl) || (pl && ((uint8_t)p[0] & 0xC0) == 0x80))
            partial++;
    }
    CHECK(partial >= 2);
    born_detokenizer *d = born_detokenizer_new(tok, false);
    char out[256];
    size_t ol = 0, empty = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p;
        size_t pl;
        CHECK_OK(born_detokenizer_push(d, ids[i], &p, &pl));
        if (!pl) empty++;
        /* every prefix given so far is valid UTF-8 */
        memcpy(out + ol, p, pl);
        ol += pl;
        for (size_t k = 0; k < ol;) {
            uint32_t cp;
            int l = utf8_decode((const uint8_t *)out + k, ol - k, &cp);
            CHECK(l > 0);
            k += l > 0 ? (size_t)l : 1;
        }
    }
    CHECK(empty >= 1);
    const char *p;
    size_t pl;
    CHECK_OK(born_detokenizer_flush(d, &p, &pl));
    CHECK_EQ_INT(pl, 0);
    CHECK(ol == strlen(text) && memcmp(out, text, ol) == 0);
    /* a dangling lead byte is held until flush, then given as it is */
    int32_t lone = born_tokenizer_find(tok, "\xc3\xa2", 2); /* GPT-2's character for byte 0xE2 */
    CHECK(lone >= 0);
    CHECK_OK(born_detokenizer_push(d, lone, &p, &pl));
    CHECK_EQ_INT(pl, 0);
    CHECK_OK(born_detokenizer_flush(d, &p, &pl));
    CHECK(pl == 1 && (uint8_t)p[0] == 0xE2);
    /* an invalid id changes nothing */
    CHECK_EQ_INT(born_detokenizer_push(d, 50257, &p, &pl), BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "outside the vocabulary");
    born_detokenizer_free(d);
    free(ids);
    born_tokenizer_free(tok);
}

static uint64_t rng_state = 0x1234567;
static uint32_t rnd(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33);
}

/* Random bytes never crash anything; byte-level tokenizers decode to the text with bad bytes as
 * U+FFFD, and SentencePiece ones give the bytes back. */
TEST(tokenizer_random_bytes) {
    born_tokenizer *toks[3] = {load_gpt2(), load_smollm2(),
                               born_tokenizer_load_tiktoken_json(FIX "cl100k_base.tiktoken",
                                                                 FIX "cl100k_base.json")};
    born_tokenizer *spm = file_exists(SHARED "llama2/tokenizer.json")
                              ? born_tokenizer_load_hf(SHARED "llama2/tokenizer.json")
                              : NULL;
    uint8_t buf[300], want[900];
    for (int iter = 0; iter < 300; iter++) {
        size_t len = rnd() % sizeof buf;
        for (size_t k = 0; k < len; k++) {
            uint32_t r = rnd();
            /* mostly ASCII and pieces of UTF-8, some arbitrary bytes */
            buf[k] = (uint8_t)(r % 4 == 0 ? r >> 8 : r % 4 == 1 ? 0x80 + (r >> 8) % 0x40
                                                  : r % 4 == 2 ? 0xC2 + (r >> 8) % 0x33
                                                               : 0x20 + (r >> 8) % 0x5F);
        }
        size_t wl = 0;
        for (size_t k = 0; k < len;) {
            uint32_t cp;
            int l = utf8_decode(buf + k, len - k, &cp);
            if (l == 0) {
                memcpy(want + wl, "\xef\xbf\xbd", 3);
                wl += 3;
                k++;
            } else {
                memcpy(want + wl, buf + k, (size_t)l);
                wl += (size_t)l;
                k += (size_t)l;
            }
        }
        for (int t = 0; t < 3; t++) {
            if (!toks[t]) continue;
            int32_t *ids;
            size_t n;
            char *dec;
            size_t dl;
            CHECK_OK(born_tokenizer_encode(toks[t], (const char *)buf, len, true, true, &ids, &n));
            CHECK_OK(born_tokenizer_decode(toks[t], ids, n, true, &dec, &dl));
            /* SmolLM2 has no tokens for 21 bytes (0x04, 0xF1, ...): those are dropped, as llama.cpp
             * and HF drop them */
            if (t == 1) CHECK(dl <= wl);
            else CHECK_MSG(dl == wl && memcmp(dec, want, wl) == 0, "tokenizer %d, iteration %d", t, iter);
            free(ids);
            free(dec);
        }
        if (spm) {
            int32_t *ids;
            size_t n;
            char *dec;
            size_t dl;
            CHECK_OK(born_tokenizer_encode(spm, (const char *)buf, len, true, true, &ids, &n));
            CHECK_OK(born_tokenizer_decode(spm, ids, n, false, &dec, &dl));
            /* parse_special may turn "<s>"-like texts into tokens: only check without it */
            free(ids);
            free(dec);
            CHECK_OK(born_tokenizer_encode(spm, (const char *)buf, len, false, false, &ids, &n));
            CHECK_OK(born_tokenizer_decode(spm, ids, n, false, &dec, &dl));
            CHECK_MSG(dl == len && memcmp(dec, buf, len) == 0, "spm round trip, iteration %d", iter);
            free(ids);
            free(dec);
        }
    }
    for (int t = 0; t < 3; t++) born_tokenizer_free(toks[t]);
    born_tokenizer_free(spm);
}

/* A small SentencePiece vocabulary worked by hand, through the GGUF path (llama.cpp's rules). */
TEST(tokenizer_spm_by_hand) {
    /* ids: 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>, then pieces */
    const char *pieces[] = {"\xe2\x96\x81", "a", "b", "c", "\xe2\x96\x81" "a", "ab", "\xe2\x96\x81" "ab",
                            "bc", "<|x|>"};
    const float piece_scores[] = {-1, -2, -2, -2, -3, -1.5f, -4, -1.5f, 0};
    const int npieces = 9;
    int n = 3 + 256 + npieces;
    const char **texts = malloc((size_t)n * sizeof *texts);
    char (*bytes)[7] = malloc(256 * sizeof *bytes);
    float *scores = calloc((size_t)n, sizeof *scores);
    int32_t *types = malloc((size_t)n * sizeof *types);
    texts[0] = "<unk>";
    texts[1] = "<s>";
    texts[2] = "</s>";
    types[0] = BORN_TOKEN_UNKNOWN;
    types[1] = types[2] = BORN_TOKEN_CONTROL;
    for (int b = 0; b < 256; b++) {
        snprintf(bytes[b], 7, "<0x%02X>", b);
        texts[3 + b] = bytes[b];
        types[3 + b] = BORN_TOKEN_BYTE;
    }
    for (int k = 0; k < npieces; k++) {
        texts[259 + k] = pieces[k];
        scores[259 + k] = piece_scores[k];
        types[259 + k] = BORN_TOKEN_NORMAL;
    }
    types[259 + 8] = BORN_TOKEN_CONTROL; /* <|x|> */
    born_tokenizer_gguf kv = born_tokenizer_gguf_default();
    kv.model = "llama";
    kv.n_tokens = n;
    kv.tokens = texts;
    kv.scores = scores;
    kv.token_types = types;
    born_tokenizer *tok = born_tokenizer_from_gguf(&kv);
    CHECK_MSG(tok, "%s", born_last_error());
    if (tok) {
        const int A = 259; /* ▁ a b c ▁a ab ▁ab bc <|x|> = A+0 .. A+8 */
        struct {
            const char *text;
            bool add, special;
            int32_t want[12];
            int nwant;
            const char *dec; /* decode(special = true), when not the text */
        } cases[] = {
            /* "▁abc": bigrams ▁a(-3), ab(-1.5), bc(-1.5): ab wins (left of bc), then ▁ab(-4) */
            {"abc", false, false, {A + 6, A + 3}, 2, NULL},
            {"abc", true, false, {1, A + 6, A + 3}, 3, "<s> abc"},
            /* "▁bc": bc */
            {"bc", false, false, {A + 0, A + 7}, 2, NULL},
            /* é is not a piece: its bytes */
            {"a\xc3\xa9", false, false, {A + 4, 3 + 0xC3, 3 + 0xA9}, 3, NULL},
            /* a space prefix after a special token, none after plain text */
            {"a<|x|>b", false, true, {A + 4, A + 8, A + 0, A + 2}, 4, "a<|x|> b"},
            {"a<|x|>b", false, false, {A + 4, 3 + '<', 3 + '|', 3 + 'x', 3 + '|', 3 + '>', A + 2}, 7, NULL},
            {"", true, false, {1}, 1, "<s>"},
            {" a", false, false, {A + 0, A + 4}, 2, NULL},
        };
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            int32_t *ids;
            size_t nids;
            CHECK_OK(born_tokenizer_encode(tok, cases[c].text, strlen(cases[c].text), cases[c].add,
                                           cases[c].special, &ids, &nids));
            CHECK_MSG(same_ids(ids, nids, cases[c].want, (size_t)cases[c].nwant), "case %zu", c);
            if (!same_ids(ids, nids, cases[c].want, (size_t)cases[c].nwant)) show_ids("born", ids, nids);
            char *dec;
            size_t dl;
            CHECK_OK(born_tokenizer_decode(tok, ids, nids, true, &dec, &dl));
            const char *want_dec = cases[c].dec ? cases[c].dec : cases[c].text;
            CHECK_MSG(strcmp(dec, want_dec) == 0, "case %zu decodes to \"%s\"", c, dec);
            free(dec);
            free(ids);
        }
        size_t pl;
        const char *p = born_tokenizer_token_to_piece(tok, A + 4, false, &pl);
        CHECK(pl == 2 && memcmp(p, " a", 2) == 0);
        p = born_tokenizer_token_to_piece(tok, 3 + 0x41, false, &pl);
        CHECK(pl == 1 && p[0] == 'A');
        born_tokenizer_token_to_piece(tok, 1, false, &pl);
        CHECK_EQ_INT(pl, 0);
        p = born_tokenizer_token_to_piece(tok, 1, true, &pl);
        CHECK(pl == 3 && memcmp(p, "<s>", 3) == 0);
        CHECK_EQ_INT(born_tokenizer_token_type(tok, 3), BORN_TOKEN_BYTE);
        CHECK(born_tokenizer_token_score(tok, A + 5) == -1.5f);
        CHECK_EQ_INT(born_tokenizer_bos(tok), 1);
        CHECK_EQ_INT(born_tokenizer_eos(tok), 2);
        CHECK_EQ_INT(born_tokenizer_unk(tok), 0);
        CHECK(born_tokenizer_is_eog(tok, 2));
        CHECK(!born_tokenizer_is_eog(tok, A + 1));
    }
    born_tokenizer_free(tok);
    free(texts);
    free(bytes);
    free(scores);
    free(types);
}

TEST(tokenizer_pre_names) {
    const char *re[4];
    CHECK_EQ_INT(born_tokenizer_pre_regexes("smollm", re), 2);
    CHECK(strcmp(re[0], "\\p{N}") == 0);
    CHECK_EQ_INT(born_tokenizer_pre_regexes("default", re), 4);
    CHECK_EQ_INT(born_tokenizer_pre_regexes("llama-bpe", re), 1);
    CHECK_EQ_INT(born_tokenizer_pre_regexes("qwen2", re), 1);
    CHECK_EQ_INT(born_tokenizer_pre_regexes("o200k_base", re), 1);
    CHECK_EQ_INT(born_tokenizer_pre_regexes("no-such-pre", re), 0);
    CHECK_EQ_INT(born_tokenizer_pre_regexes("gpt2|llama3", re), 0);
    CHECK_EQ_INT(born_tokenizer_pre_regexes("", re), 0);
    /* every named pre-tokenizer compiles */
    const char *names[] = {"default", "gpt2", "llama3", "qwen2", "smollm", "falcon", "gpt-4o",
                           "tekken", "bloom", "cl100k_base", "o200k_base"};
    const char *tok_texts[] = {"a", "b"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        born_tokenizer_spec spec = born_tokenizer_spec_default();
        spec.model = BORN_TOKENIZER_GPT2;
        spec.pre = names[k];
        spec.n_tokens = 2;
        spec.tokens = tok_texts;
        born_tokenizer *tok = born_tokenizer_new(&spec);
        CHECK_MSG(tok, "%s: %s", names[k], born_last_error());
        born_clear_error();
        if (tok) {
            int32_t *ids;
            size_t n;
            CHECK_OK(born_tokenizer_encode(tok, "ab ba 12 x", 10, false, false, &ids, &n));
            CHECK_EQ_INT(n, 4); /* a b b a; bytes without tokens are skipped */
            free(ids);
        }
        born_tokenizer_free(tok);
    }
}

TEST(tokenizer_errors) {
    born_tokenizer *tok = load_gpt2();
    if (!tok) return;
    int32_t *ids;
    size_t n;
    char *text;
    size_t len;
    CHECK_EQ_INT(born_tokenizer_encode(NULL, "a", 1, false, false, &ids, &n), BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "tokenizer is NULL");
    CHECK_EQ_INT(born_tokenizer_encode(tok, NULL, 1, false, false, &ids, &n), BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "text is NULL");
    CHECK_OK(born_tokenizer_encode(tok, NULL, 0, false, false, &ids, &n));
    CHECK(ids && n == 0);
    free(ids);
    int32_t bad[] = {15496, -1};
    CHECK_EQ_INT(born_tokenizer_decode(tok, bad, 2, false, &text, &len), BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "id -1 at position 1");
    CHECK(text == NULL);
    CHECK(born_tokenizer_token_to_piece(tok, 50257, true, &len) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "token id 50257 is outside the vocabulary [0, 50257)");
    CHECK(born_tokenizer_token_text(tok, -3, &len) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "outside the vocabulary");
    CHECK_EQ_INT(born_tokenizer_token_type(tok, 1 << 30), BORN_TOKEN_UNDEFINED);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "outside");
    CHECK_EQ_INT(born_tokenizer_find(tok, "no such token text", 18), -1);
    CHECK_EQ_INT(born_last_status(), BORN_OK);
    size_t tl;
    const char *t = born_tokenizer_token_text(tok, 15496, &tl);
    CHECK(t && tl == 5 && strcmp(t, "Hello") == 0);
    born_tokenizer_free(tok);
    born_tokenizer_free(NULL);

    /* specs */
    const char *two[] = {"a", "a"};
    born_tokenizer_spec spec = born_tokenizer_spec_default();
    CHECK(born_tokenizer_new(&spec) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "at least one token");
    spec.n_tokens = 2;
    spec.tokens = two;
    CHECK(born_tokenizer_new(&spec) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "tokens 0 and 1 have the same text");
    const char *ab[] = {"a", "b"};
    spec.tokens = ab;
    spec.bos_id = 2;
    CHECK(born_tokenizer_new(&spec) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "special id is outside");
    spec.bos_id = -1;
    spec.add_bos = true;
    CHECK(born_tokenizer_new(&spec) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "add_bos");
    spec.add_bos = false;
    int32_t badtype[] = {1, 9};
    spec.types = badtype;
    CHECK(born_tokenizer_new(&spec) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "token 1 has type 9");
    spec.types = NULL;
    spec.model = BORN_TOKENIZER_GPT2;
    spec.pre = "no-such-pre";
    CHECK(born_tokenizer_new(&spec) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "unknown pre-tokenizer \"no-such-pre\"");
    const char *badre[] = {"(?<=x)a"};
    spec.patterns = badre;
    spec.n_patterns = 1;
    CHECK(born_tokenizer_new(&spec) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "lookbehind");
    spec.patterns = NULL;
    spec.pre = "gpt2";
    const char *merge[] = {"ab"};
    spec.n_merges = 1;
    spec.merges = merge;
    CHECK(born_tokenizer_new(&spec) == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "merge 0 \"ab\" is not \"left right\"");

    /* GGUF */
    born_tokenizer_gguf kv = born_tokenizer_gguf_default();
    CHECK(born_tokenizer_from_gguf(&kv) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "tokenizer.ggml.model is missing");
    kv.model = "bert";
    kv.n_tokens = 2;
    kv.tokens = ab;
    CHECK(born_tokenizer_from_gguf(&kv) == NULL);
    CHECK_ERROR(BORN_ERR_UNSUPPORTED, "\"bert\" is not supported");
    kv.model = "gpt2";
    kv.pre = "deepseek-coder";
    CHECK(born_tokenizer_from_gguf(&kv) == NULL);
    CHECK_ERROR(BORN_ERR_UNSUPPORTED, "pre-tokenizer \"deepseek-coder\"");
    kv.pre = "gpt-2";
    CHECK(born_tokenizer_from_gguf(&kv) == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "needs tokenizer.ggml.merges");
    kv.model = "llama";
    kv.add_bos = 1; /* default BOS 1 is in range: fine */
    born_tokenizer *small = born_tokenizer_from_gguf(&kv);
    CHECK_MSG(small, "%s", born_last_error());
    if (small) {
        CHECK_EQ_INT(born_tokenizer_bos(small), 1);
        CHECK_EQ_INT(born_tokenizer_eos(small), -1); /* default 2 is out of range: none */
    }
    born_tokenizer_free(small);
    kv.bos_id = 5; /* out of range: llama.cpp keeps the default */
    small = born_tokenizer_from_gguf(&kv);
    CHECK(small && born_tokenizer_bos(small) == 1);
    born_tokenizer_free(small);

    /* files */
    CHECK(born_tokenizer_load_hf("tests/fixtures/tokenizers/no-such.json") == NULL);
    CHECK_ERROR(BORN_ERR_IO, "no-such.json");
    CHECK(born_tokenizer_load_hf(FIX "cl100k_base.json") == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "no \"model\" object");
    CHECK(born_tokenizer_load_vocab_merges(FIX "gpt2/vocab.json", FIX "no-such.txt") == NULL);
    CHECK_ERROR(BORN_ERR_IO, "no-such.txt");
    CHECK(born_tokenizer_load_tiktoken(FIX "gpt2/merges.txt", "cl100k_base", NULL, 0, NULL, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "line 1 is not \"base64 rank\"");
    CHECK(born_tokenizer_load_tiktoken_json(FIX "cl100k_base.tiktoken", FIX "gpt2/vocab.json") == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "pat_str");
}
