/* The encoders: byte-level BPE ("gpt2", tiktoken) after the regex pre-tokenizer, and
 * SentencePiece BPE ("llama") by scores (llama.cpp's llm_tokenizer_spm) or by merge ranks (HF's
 * BPE model with byte fallback). All of them pick, at each step, the best pair by (priority, left
 * position), which is what llama.cpp, HF tokenizers and tiktoken do. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "llm/tokenizer/tokenizer_internal.h"
#include "llm/tokenizer/unicode.h"

/* ------------------------------------------------------------------------------------------ */
/* A binary min-heap of candidate pairs, ordered by (prio, left).                               */

typedef struct cand {
    double prio;
    int32_t left, right; /* symbol positions */
    int32_t a, b;        /* what the pair was made of: ids (rank mode) or the size (score mode) */
} cand;

typedef struct heap {
    cand *v;
    size_t n, cap;
} heap;

static bool cand_less(const cand *x, const cand *y) {
    return x->prio < y->prio || (x->prio == y->prio && x->left < y->left);
}

static bool heap_push(heap *h, cand c) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        cand *nv = realloc(h->v, cap * sizeof *nv);
        if (!nv) return false;
        h->v = nv;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_less(&c, &h->v[p])) break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = c;
    return true;
}

static cand heap_pop(heap *h) {
    cand top = h->v[0];
    cand last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const cand *best = &last;
        if (l < h->n && cand_less(&h->v[l], best)) {
            m = l;
            best = &h->v[l];
        }
        if (r < h->n && cand_less(&h->v[r], best)) m = r;
        if (m == i) break;
        h->v[i] = h->v[m];
        i = m;
    }
    if (h->n) h->v[i] = last;
    return top;
}

/* ------------------------------------------------------------------------------------------ */
/* Merging symbols by rank (pair map)                                                           */

typedef struct workspace {
    int32_t *sym;  /* symbol ids */
    int32_t *pos;  /* where each symbol starts in the piece's bytes (pos[n] = the length) */
    int32_t *rank; /* linear mode: rank of (sym[i], sym[i+1]) */
    int32_t *prev, *next;
    size_t cap;
    heap h;
} workspace;

static bool ws_reserve(workspace *w, size_t n) {
    n++; /* room for the end sentinel of pos */
    if (n <= w->cap) return true;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < n) cap *= 2;
    int32_t **arrays[] = {&w->sym, &w->pos, &w->rank, &w->prev, &w->next};
    for (size_t k = 0; k < sizeof arrays / sizeof arrays[0]; k++) {
        int32_t *a = realloc(*arrays[k], cap * sizeof *a);
        if (!a) return false;
        *arrays[k] = a;
    }
    w->cap = cap;
    return true;
}

static void ws_free(workspace *w) {
    free(w->sym);
    free(w->pos);
    free(w->rank);
    free(w->prev);
    free(w->next);
    free(w->h.v);
}

#define NO_RANK INT32_MAX
#define LINEAR_MAX 128

/* The rank of merging symbols a and b, which cover bytes[from, to), and what they merge into:
 * tiktoken ranks by the id of the token whose bytes are the concatenation; the others look the
 * pair up among the merges. */
static int32_t pair_rank(const born_tokenizer *t, int32_t a, int32_t b, const uint8_t *bytes,
                         int32_t from, int32_t to, int32_t *merged) {
    if (t->model == BORN_TOKENIZER_TIKTOKEN) {
        int32_t id = tok_strmap_find(t, &t->sym_map, t->sym_off, t->sym_len, bytes + from,
                                     (size_t)(to - from));
        if (id < 0 || id >= t->n_vocab) return NO_RANK;
        *merged = id;
        return id;
    }
    int32_t r;
    if (a < 0 || b < 0 || !tok_pair_find(&t->pairs, a, b, &r, merged)) return NO_RANK;
    return r;
}

/* Merges w->sym[0..n) (at w->pos[0..n], the bytes ending at `len`) in place by rank; returns the
 * new count, or -1 when memory runs out. */
static int64_t merge_by_rank(const born_tokenizer *t, workspace *w, int64_t n, const uint8_t *bytes,
                             int32_t len) {
    int32_t *s = w->sym, *pos = w->pos;
    pos[n] = len;
    if (n < 2) return n;
    if (n <= LINEAR_MAX) {
        int32_t *r = w->rank, merged;
        for (int64_t i = 0; i + 1 < n; i++)
            r[i] = pair_rank(t, s[i], s[i + 1], bytes, pos[i], pos[i + 2], &merged);
        for (;;) {
            int32_t best = NO_RANK;
            int64_t at = -1;
            for (int64_t i = 0; i + 1 < n; i++)
                if (r[i] < best) {
                    best = r[i];
                    at = i;
                }
            if (at < 0) break;
            pair_rank(t, s[at], s[at + 1], bytes, pos[at], pos[at + 2], &merged);
            s[at] = merged;
            size_t tail = (size_t)(n - at - 2);
            memmove(s + at + 1, s + at + 2, tail * sizeof *s);
            memmove(pos + at + 1, pos + at + 2, (tail + 1) * sizeof *pos);
            memmove(r + at + 1, r + at + 2, tail * sizeof *r);
            n--;
            if (at > 0) r[at - 1] = pair_rank(t, s[at - 1], s[at], bytes, pos[at - 1], pos[at + 1], &merged);
            if (at + 1 < n) r[at] = pair_rank(t, s[at], s[at + 1], bytes, pos[at], pos[at + 2], &merged);
        }
        return n;
    }
    /* long inputs: a heap of candidates, validated against the current neighbours when popped */
    int32_t *prev = w->prev, *next = w->next;
    heap *h = &w->h;
    h->n = 0;
    for (int64_t i = 0; i < n; i++) {
        prev[i] = (int32_t)i - 1;
        next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
#define END_OF(k) (next[k] >= 0 ? pos[next[k]] : len)
    for (int64_t i = 0; i + 1 < n; i++) {
        int32_t merged, r = pair_rank(t, s[i], s[i + 1], bytes, pos[i], pos[i + 2], &merged);
        if (r != NO_RANK &&
            !heap_push(h, (cand){r, (int32_t)i, (int32_t)i + 1, s[i], s[i + 1]}))
            return -1;
    }
    while (h->n) {
        cand c = heap_pop(h);
        int32_t l = c.left, r = next[l];
        if (s[l] < 0 || r < 0 || s[l] != c.a || s[r] != c.b) continue; /* stale */
        int32_t merged;
        pair_rank(t, s[l], s[r], bytes, pos[l], END_OF(r), &merged);
        s[l] = merged;
        s[r] = -1;
        next[l] = next[r];
        if (next[r] >= 0) prev[next[r]] = l;
        int32_t p = prev[l], q = next[l], rr;
        if (p >= 0 && (rr = pair_rank(t, s[p], s[l], bytes, pos[p], END_OF(l), &merged)) != NO_RANK &&
            !heap_push(h, (cand){rr, p, l, s[p], s[l]}))
            return -1;
        if (q >= 0 && (rr = pair_rank(t, s[l], s[q], bytes, pos[l], END_OF(q), &merged)) != NO_RANK &&
            !heap_push(h, (cand){rr, l, q, s[l], s[q]}))
            return -1;
    }
#undef END_OF
    int64_t m = 0;
    for (int32_t i = 0; i >= 0; i = next[i]) s[m++] = s[i];
    return m;
}

/* ------------------------------------------------------------------------------------------ */
/* The per-call cache of pre-token -> ids                                                       */

typedef struct cache_slot {
    uint32_t hash;
    uint32_t key_len;
    uint64_t key_off;
    uint64_t ids_off;
    uint32_t n_ids;
    bool used;
} cache_slot;

struct tok_cache {
    cache_slot *slots;
    size_t mask, count;
    uint8_t *keys;
    size_t keys_len, keys_cap;
    int32_t *ids;
    size_t ids_len, ids_cap;
};

#define CACHE_MAX_KEY 48
#define CACHE_MAX_ENTRIES (1u << 20)

tok_cache *tok_cache_new(void) {
    tok_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->slots = calloc(4096, sizeof *c->slots);
    if (!c->slots) {
        free(c);
        return NULL;
    }
    c->mask = 4095;
    return c;
}

void tok_cache_free(tok_cache *c) {
    if (!c) return;
    free(c->slots);
    free(c->keys);
    free(c->ids);
    free(c);
}

static uint32_t cache_hash(const uint8_t *p, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

static const cache_slot *cache_find(const tok_cache *c, const uint8_t *key, size_t len,
                                    uint32_t h) {
    for (size_t i = h & c->mask;; i = (i + 1) & c->mask) {
        const cache_slot *s = &c->slots[i];
        if (!s->used) return NULL;
        if (s->hash == h && s->key_len == len && memcmp(c->keys + s->key_off, key, len) == 0)
            return s;
    }
}

static void cache_put_slot(tok_cache *c, cache_slot s) {
    for (size_t i = s.hash & c->mask;; i = (i + 1) & c->mask) {
        if (!c->slots[i].used) {
            c->slots[i] = s;
            return;
        }
    }
}

/* Best effort: a failure to grow just leaves the entry out. */
static void cache_put(tok_cache *c, const uint8_t *key, size_t len, uint32_t h, const int32_t *ids,
                      size_t n) {
    if (c->count >= CACHE_MAX_ENTRIES) return;
    if ((c->count + 1) * 2 > c->mask + 1) {
        size_t cap = (c->mask + 1) * 2;
        cache_slot *ns = calloc(cap, sizeof *ns);
        if (!ns) return;
        cache_slot *old = c->slots;
        size_t old_cap = c->mask + 1;
        c->slots = ns;
        c->mask = cap - 1;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i].used) cache_put_slot(c, old[i]);
        free(old);
    }
    if (c->keys_len + len > c->keys_cap) {
        size_t cap = c->keys_cap ? c->keys_cap * 2 : 65536;
        while (cap < c->keys_len + len) cap *= 2;
        uint8_t *nk = realloc(c->keys, cap);
        if (!nk) return;
        c->keys = nk;
        c->keys_cap = cap;
    }
    if (c->ids_len + n > c->ids_cap) {
        size_t cap = c->ids_cap ? c->ids_cap * 2 : 16384;
        while (cap < c->ids_len + n) cap *= 2;
        int32_t *ni = realloc(c->ids, cap * sizeof *ni);
        if (!ni) return;
        c->ids = ni;
        c->ids_cap = cap;
    }
    memcpy(c->keys + c->keys_len, key, len);
    memcpy(c->ids + c->ids_len, ids, n * sizeof *ids);
    cache_put_slot(c, (cache_slot){h, (uint32_t)len, c->keys_len, c->ids_len, (uint32_t)n, true});
    c->keys_len += len;
    c->ids_len += n;
    c->count++;
}

/* ------------------------------------------------------------------------------------------ */
/* Byte-level BPE                                                                               */

/* Merges one pre-token's bytes and appends the resulting ids. */
static bool encode_piece(const born_tokenizer *t, const uint8_t *p, size_t len, workspace *w,
                         tok_ids *out, tok_cache *cache) {
    if (len == 1) {
        int32_t id = t->byte_sym[p[0]];
        return id >= t->n_vocab || tok_ids_push(out, id);
    }
    if (t->ignore_merges) {
        int32_t id = tok_strmap_find(t, &t->sym_map, t->sym_off, t->sym_len, p, len);
        if (id >= 0 && id < t->n_vocab) return tok_ids_push(out, id);
    }
    uint32_t h = 0;
    if (cache && len <= CACHE_MAX_KEY) {
        h = cache_hash(p, len);
        const cache_slot *s = cache_find(cache, p, len, h);
        if (s) {
            for (uint32_t k = 0; k < s->n_ids; k++)
                if (!tok_ids_push(out, cache->ids[s->ids_off + k])) return false;
            return true;
        }
    }
    if (!ws_reserve(w, len)) return false;
    for (size_t k = 0; k < len; k++) {
        w->sym[k] = t->byte_sym[p[k]];
        w->pos[k] = (int32_t)k;
    }
    int64_t m = merge_by_rank(t, w, (int64_t)len, p, (int32_t)len);
    if (m < 0) return false;
    size_t first = out->n;
    for (int64_t k = 0; k < m; k++) {
        int32_t s = w->sym[k];
        if (s < t->n_vocab) {
            if (!tok_ids_push(out, s)) return false;
            continue;
        }
        /* a merge result that is not a token: its bytes, one token each (when they exist) */
        const uint8_t *b = t->arena + t->sym_off[s];
        for (uint32_t j = 0; j < t->sym_len[s]; j++) {
            int32_t id = t->byte_sym[b[j]];
            if (id < t->n_vocab && !tok_ids_push(out, id)) return false;
        }
    }
    if (cache && len <= CACHE_MAX_KEY) cache_put(cache, p, len, h, out->v + first, out->n - first);
    return true;
}

born_status tok_encode_bytelevel(const born_tokenizer *t, const uint8_t *text, size_t len,
                                 tok_ids *out, tok_cache *cache) {
    if (len == 0) return BORN_OK;
    if (len > (size_t)INT32_MAX / 4)
        return born_error(BORN_ERR_ARGUMENT, "born_tokenizer_encode: %zu bytes of text is too long",
                          len);
    born_status st = BORN_OK;
    uint8_t *clean = NULL;
    uint32_t *cps = NULL;
    uint8_t *info = NULL;
    int32_t *offs = NULL;
    rx_pieces a = {0}, b = {0};
    workspace w = {0};

    /* replace each byte that is not part of a well-formed sequence by U+FFFD */
    size_t bad = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int l = text[i] < 0x80 ? 1 : utf8_decode(text + i, len - i, &cp);
        if (l == 0) {
            bad++;
            i++;
        } else {
            i += (size_t)l;
        }
    }
    const uint8_t *s = text;
    size_t n = len;
    if (bad) {
        clean = malloc(len + 2 * bad);
        if (!clean) goto nomem;
        size_t o = 0;
        for (size_t i = 0; i < len;) {
            uint32_t cp;
            int l = text[i] < 0x80 ? 1 : utf8_decode(text + i, len - i, &cp);
            if (l == 0) {
                clean[o++] = 0xEF;
                clean[o++] = 0xBF;
                clean[o++] = 0xBD;
                i++;
            } else {
                memcpy(clean + o, text + i, (size_t)l);
                o += (size_t)l;
                i += (size_t)l;
            }
        }
        s = clean;
        n = o;
    }

    cps = malloc(n * sizeof *cps);
    info = malloc(n);
    offs = malloc((n + 1) * sizeof *offs);
    if (!cps || !info || !offs) goto nomem;
    int32_t ncp = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int l = s[i] < 0x80 ? (cp = s[i], 1) : utf8_decode(s + i, n - i, &cp);
        cps[ncp] = cp;
        info[ncp] = rx_info_of(cp);
        offs[ncp++] = (int32_t)i;
        i += (size_t)l;
    }
    offs[ncp] = (int32_t)n;

    if (rx_pieces_push(&a, ncp) < 0) goto nomem;
    for (int k = 0; k < t->n_regex; k++) {
        b.count = 0;
        int r = rx_split(t->regex[k], cps, info, &a, &b);
        if (r == -1) goto nomem;
        if (r == -2) {
            st = born_error(BORN_ERR_UNSUPPORTED,
                            "born_tokenizer_encode: the pre-tokenizer regex %d needed too much "
                            "backtracking on this text",
                            k);
            goto done;
        }
        rx_pieces tmp = a;
        a = b;
        b = tmp;
    }
    int32_t start = 0;
    for (int64_t k = 0; k < a.count; k++) {
        int32_t end = a.ends[k];
        if (!encode_piece(t, s + offs[start], (size_t)(offs[end] - offs[start]), &w, out, cache))
            goto nomem;
        start = end;
    }
    goto done;
nomem:
    st = born_error(BORN_ERR_MEMORY, "born_tokenizer_encode: out of memory (%zu bytes of text)", len);
done:
    free(clean);
    free(cps);
    free(info);
    free(offs);
    free(a.ends);
    free(b.ends);
    ws_free(&w);
    return st;
}

/* ------------------------------------------------------------------------------------------ */
/* SentencePiece BPE                                                                            */

typedef struct spm_sym {
    int32_t start, n; /* bytes of the text */
    int32_t prev, next;
} spm_sym;

/* The length of the character at p: a well-formed UTF-8 sequence, or one byte of an ill-formed
 * one (which then falls back to its byte token). llama.cpp takes as many bytes as the lead byte
 * claims, which for ill-formed text can swallow the next character (an escaped space among
 * them); on well-formed text the two agree. */
static size_t char_len(const uint8_t *p, size_t n) {
    uint32_t cp;
    int l = p[0] < 0x80 ? 1 : utf8_decode(p, n, &cp);
    return l ? (size_t)l : 1;
}

/* Pushes the byte tokens of text[0..n) (or UNK when a byte has no token). */
static bool push_bytes(const born_tokenizer *t, const uint8_t *p, size_t n, tok_ids *out) {
    for (size_t k = 0; k < n; k++) {
        int32_t id = t->byte_sym[p[k]];
        if (id < 0) id = t->unk_id;
        if (id >= 0 && !tok_ids_push(out, id)) return false;
    }
    return true;
}

static int32_t text_lookup(const born_tokenizer *t, const uint8_t *p, size_t n) {
    return tok_strmap_find(t, &t->text_map, t->text_off, t->text_len, p, n);
}

static bool spm_try_bigram(const born_tokenizer *t, const uint8_t *text, const spm_sym *sy,
                           int32_t l, int32_t r, heap *h) {
    if (l < 0 || r < 0) return true;
    int32_t size = sy[l].n + sy[r].n;
    int32_t id = text_lookup(t, text + sy[l].start, (size_t)size);
    if (id < 0) return true;
    return heap_push(h, (cand){-(double)t->scores[id], l, r, size, 0});
}

/* llama.cpp's llm_tokenizer_spm_session::tokenize. */
static born_status spm_by_score(const born_tokenizer *t, const uint8_t *text, size_t len,
                                tok_ids *out) {
    spm_sym *sy = malloc(len * sizeof *sy);
    heap h = {0};
    if (!sy) goto nomem;
    int32_t n = 0;
    for (size_t off = 0; off < len;) {
        size_t l = char_len(text + off, len - off);
        sy[n] = (spm_sym){(int32_t)off, (int32_t)l, n - 1, off + l == len ? -1 : n + 1};
        off += l;
        n++;
    }
    for (int32_t i = 1; i < n; i++)
        if (!spm_try_bigram(t, text, sy, i - 1, i, &h)) goto nomem;
    while (h.n) {
        cand c = heap_pop(&h);
        spm_sym *L = &sy[c.left], *R = &sy[c.right];
        if (L->n == 0 || R->n == 0 || L->n + R->n != c.a) continue;
        L->n += R->n;
        R->n = 0;
        L->next = R->next;
        if (R->next >= 0) sy[R->next].prev = c.left;
        if (!spm_try_bigram(t, text, sy, L->prev, c.left, &h) ||
            !spm_try_bigram(t, text, sy, c.left, L->next, &h))
            goto nomem;
    }
    for (int32_t i = 0; i != -1 && n > 0; i = sy[i].next) {
        const uint8_t *p = text + sy[i].start;
        int32_t id = text_lookup(t, p, (size_t)sy[i].n);
        if (id >= 0) {
            if (!tok_ids_push(out, id)) goto nomem;
        } else if (!push_bytes(t, p, (size_t)sy[i].n, out)) {
            goto nomem;
        }
    }
    free(sy);
    free(h.v);
    return BORN_OK;
nomem:
    free(sy);
    free(h.v);
    return born_error(BORN_ERR_MEMORY, "born_tokenizer_encode: out of memory");
}

/* HF tokenizers' BPE model over characters, with byte fallback (Llama-2's tokenizer.json). */
static born_status spm_by_rank(const born_tokenizer *t, const uint8_t *text, size_t len,
                               tok_ids *out) {
    workspace w = {0};
    if (!ws_reserve(&w, len + 1)) goto nomem;
    int64_t n = 0;
    bool prev_unk = false;
    for (size_t off = 0; off < len;) {
        size_t l = char_len(text + off, len - off);
        int32_t id = text_lookup(t, text + off, l);
        if (id >= 0) {
            w.pos[n] = (int32_t)off;
            w.sym[n++] = id;
            prev_unk = false;
        } else {
            bool all = t->byte_fallback;
            for (size_t k = 0; k < l && all; k++) all = t->byte_sym[text[off + k]] >= 0;
            if (all) {
                for (size_t k = 0; k < l; k++) {
                    w.pos[n] = (int32_t)(off + k);
                    w.sym[n++] = t->byte_sym[text[off + k]];
                }
                prev_unk = false;
            } else if (t->unk_id >= 0 && !prev_unk) {
                w.pos[n] = (int32_t)off;
                w.sym[n++] = t->unk_id; /* consecutive unknowns fuse into one UNK */
                prev_unk = true;
            }
        }
        off += l;
    }
    n = merge_by_rank(t, &w, n, text, (int32_t)len);
    if (n < 0) goto nomem;
    for (int64_t k = 0; k < n; k++)
        if (!tok_ids_push(out, w.sym[k])) goto nomem;
    ws_free(&w);
    return BORN_OK;
nomem:
    ws_free(&w);
    return born_error(BORN_ERR_MEMORY, "born_tokenizer_encode: out of memory");
}

born_status tok_encode_spm(const born_tokenizer *t, const uint8_t *text, size_t len, tok_ids *out) {
    if (len == 0) return BORN_OK;
    if (len > (size_t)INT32_MAX / 2)
        return born_error(BORN_ERR_ARGUMENT, "born_tokenizer_encode: %zu bytes of text is too long",
                          len);
    return t->use_merges ? spm_by_rank(t, text, len, out) : spm_by_score(t, text, len, out);
}
