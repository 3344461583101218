/* Token streams and batch windows for `born train-lm` (lm_data.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tools/born/lm_data.h"

uint64_t lm_splitmix64(uint64_t *state) {
    uint64_t z = (*state += LM_SPLITMIX_GAMMA);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* The whole file, malloc'd; NULL with a message in err. */
static char *read_all(const char *path, size_t *len, char *err, size_t errsize) {
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errsize, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(err, errsize, "%s: is a folder, not a text file", path);
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errsize, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096, n = 0;
    char *buf = malloc(cap);
    bool oom = buf == NULL;
    while (!oom) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        char *bigger = realloc(buf, cap * 2);
        if (!bigger) oom = true;
        else buf = bigger;
        cap *= 2;
    }
    bool bad = ferror(f) != 0;
    fclose(f);
    if (oom || bad) {
        free(buf);
        snprintf(err, errsize, "%s: %s", path, oom ? "out of memory" : "read error");
        return NULL;
    }
    *len = n;
    return buf;
}

static born_tokenizer *load_tokenizer(const char *path) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        char v[4096], m[4096];
        snprintf(v, sizeof v, "%s/vocab.json", path);
        snprintf(m, sizeof m, "%s/merges.txt", path);
        return born_tokenizer_load_vocab_merges(v, m);
    }
    return born_tokenizer_load_hf(path);
}

bool lm_text_load(const char *path, const char *tokenizer, lm_text *out, char *err, size_t errsize) {
    memset(out, 0, sizeof *out);
    size_t len = 0;
    char *text = read_all(path, &len, err, errsize);
    if (!text) return false;
    if (len == 0) {
        snprintf(err, errsize, "%s: the file is empty", path);
        free(text);
        return false;
    }
    if (tokenizer) {
        out->bpe = load_tokenizer(tokenizer);
        size_t n = 0;
        if (!out->bpe || born_tokenizer_encode(out->bpe, text, len, false, false, &out->ids, &n) != BORN_OK) {
            snprintf(err, errsize, "tokenizer %s: %s", tokenizer, born_last_error());
            free(text);
            lm_text_free(out);
            return false;
        }
        out->n = (int64_t)n;
        out->vocab = born_tokenizer_vocab_size(out->bpe);
    } else {
        out->ids = malloc(len * sizeof *out->ids);
        if (!out->ids) {
            snprintf(err, errsize, "%s: out of memory", path);
            free(text);
            return false;
        }
        for (size_t i = 0; i < len; i++) out->ids[i] = (unsigned char)text[i];
        out->n = (int64_t)len;
        out->vocab = 256;
    }
    free(text);
    out->split = out->n * 9 / 10;
    return true;
}

void lm_text_free(lm_text *t) {
    if (!t) return;
    free(t->ids);
    born_tokenizer_free(t->bpe);
    memset(t, 0, sizeof *t);
}

char *lm_text_decode(const lm_text *t, const int32_t *ids, int64_t n, size_t *len) {
    if (t->bpe) {
        char *s = NULL;
        if (born_tokenizer_decode(t->bpe, ids, (size_t)n, false, &s, len) != BORN_OK) return NULL;
        return s;
    }
    char *s = malloc((size_t)n + 1);
    if (!s) return NULL;
    for (int64_t i = 0; i < n; i++) s[i] = (char)(unsigned char)ids[i];
    s[n] = 0;
    *len = (size_t)n;
    return s;
}

void lm_draw_starts(uint64_t *state, int64_t lo, int64_t hi, int64_t t, int64_t batch, int64_t *starts) {
    uint64_t range = (uint64_t)(hi - lo - t);
    for (int64_t b = 0; b < batch; b++) starts[b] = lo + (int64_t)(lm_splitmix64(state) % range);
}

bool lm_make_batch(const lm_text *text, const int64_t *starts, int64_t batch, int64_t t,
                   born_tensor **x, born_tensor **y) {
    *x = born_empty(BORN_I64, BORN_DIMS(batch, t));
    *y = born_empty(BORN_I64, BORN_DIMS(batch, t));
    if (!*x || !*y) {
        born_free(*x);
        born_free(*y);
        *x = *y = NULL;
        return false;
    }
    int64_t *xp = born_data_ptr(*x), *yp = born_data_ptr(*y);
    for (int64_t b = 0; b < batch; b++) {
        const int32_t *w = text->ids + starts[b]; /* the window's first token */
        for (int64_t i = 0; i < t; i++) {
            xp[b * t + i] = w[i];
            yp[b * t + i] = w[i + 1];
        }
    }
    return true;
}
