/* The tokenizer object: building it from a spec, its lookup tables, encoding (special-token
 * partitioning, then the model's encoder), decoding and the streaming detokenizer. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "llm/tokenizer/tokenizer_internal.h"
#include "llm/tokenizer/unicode.h"

#define MAX_EOG 16

/* ------------------------------------------------------------------------------------------ */
/* GPT-2's byte <-> unicode mapping: printable Latin-1 bytes stand for themselves, the other 68
 * bytes take U+0100 onwards in byte order.                                                     */

static bool byte_is_printable(int b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t tok_byte_to_cp(uint8_t b) {
    if (byte_is_printable(b)) return b;
    uint32_t n = 0;
    for (int k = 0; k < b; k++)
        if (!byte_is_printable(k)) n++;
    return 256 + n;
}

int tok_cp_to_byte(uint32_t cp) {
    if (cp < 256) return byte_is_printable((int)cp) ? (int)cp : -1;
    if (cp >= 256 + 68) return -1;
    uint32_t n = cp - 256;
    for (int k = 0; k < 256; k++) {
        if (!byte_is_printable(k)) {
            if (n == 0) return k;
            n--;
        }
    }
    return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* Hashing and maps                                                                             */

static uint32_t hash_bytes(const uint8_t *p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = (h ^ v) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    uint64_t v = 0;
    for (size_t k = 0; k < n; k++) v |= (uint64_t)p[k] << (8 * k);
    h = (h ^ v) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 32;
    return (uint32_t)h;
}

static bool strmap_init(tok_strmap *m, size_t n) {
    size_t cap = 16;
    while (cap < n * 2) cap *= 2;
    m->slots = calloc(cap, sizeof *m->slots);
    m->mask = cap - 1;
    return m->slots != NULL;
}

static void strmap_free(tok_strmap *m) { free(m->slots); }

int32_t tok_strmap_find(const born_tokenizer *t, const tok_strmap *m, const int64_t *offs,
                        const uint32_t *lens, const void *key, size_t len) {
    uint32_t h = hash_bytes(key, len);
    for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
        tok_strslot s = m->slots[i];
        if (!s.id1) return -1;
        int32_t id = (int32_t)(s.id1 - 1);
        if (s.hash == h && lens[id] == len && memcmp(t->arena + offs[id], key, len) == 0)
            return id;
    }
}

/* Inserts id (whose bytes are at offs[id]); returns the id already there for equal bytes, or -1
 * when inserted. */
static int32_t strmap_insert(const born_tokenizer *t, tok_strmap *m, const int64_t *offs,
                             const uint32_t *lens, int32_t id) {
    const uint8_t *key = t->arena + offs[id];
    size_t len = lens[id];
    uint32_t h = hash_bytes(key, len);
    for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
        tok_strslot s = m->slots[i];
        if (!s.id1) {
            m->slots[i] = (tok_strslot){(uint32_t)id + 1, h};
            return -1;
        }
        int32_t other = (int32_t)(s.id1 - 1);
        if (s.hash == h && lens[other] == len && memcmp(t->arena + offs[other], key, len) == 0)
            return other;
    }
}

static bool strmap_grow(const born_tokenizer *t, tok_strmap *m, const int64_t *offs,
                        const uint32_t *lens, size_t count) {
    if ((count + 1) * 2 <= m->mask + 1) return true;
    tok_strmap old = *m;
    if (!strmap_init(m, (m->mask + 1) * 2)) {
        strmap_free(m);
        *m = old;
        return false;
    }
    for (size_t i = 0; i <= old.mask; i++)
        if (old.slots[i].id1) strmap_insert(t, m, offs, lens, (int32_t)(old.slots[i].id1 - 1));
    strmap_free(&old);
    return true;
}

static uint64_t pair_key(int32_t a, int32_t b) {
    return (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
}

static size_t pair_hash(uint64_t key) {
    key *= 0x9E3779B97F4A7C15ull;
    return (size_t)(key ^ (key >> 29));
}

bool tok_pair_find(const tok_pairmap *m, int32_t left, int32_t right, int32_t *rank,
                   int32_t *merged) {
    if (!m->slots) return false;
    uint64_t key = pair_key(left, right);
    for (size_t i = pair_hash(key) & m->mask;; i = (i + 1) & m->mask) {
        const tok_pair_slot *s = &m->slots[i];
        if (s->key == key) {
            *rank = s->rank;
            *merged = s->merged;
            return true;
        }
        if (!s->key) return false;
    }
}

static bool pair_insert_slot(tok_pairmap *m, uint64_t key, int32_t rank, int32_t merged) {
    for (size_t i = pair_hash(key) & m->mask;; i = (i + 1) & m->mask) {
        tok_pair_slot *s = &m->slots[i];
        if (s->key == key) return false; /* the first (lowest rank) merge of a pair wins */
        if (!s->key) {
            *s = (tok_pair_slot){key, rank, merged};
            m->count++;
            return true;
        }
    }
}

static bool pair_insert(tok_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t merged) {
    if (!m->slots || (m->count + 1) * 2 > m->mask + 1) {
        size_t cap = m->slots ? (m->mask + 1) * 2 : 1024;
        tok_pair_slot *old = m->slots;
        size_t old_cap = old ? m->mask + 1 : 0;
        m->slots = calloc(cap, sizeof *m->slots);
        if (!m->slots) {
            m->slots = old;
            return false;
        }
        m->mask = cap - 1;
        m->count = 0;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i].key) pair_insert_slot(m, old[i].key, old[i].rank, old[i].merged);
        free(old);
    }
    pair_insert_slot(m, pair_key(a, b), rank, merged);
    return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Building                                                                                     */

/* Appends len bytes and a NUL to the arena; returns the offset or -1 when memory runs out. */
static int64_t arena_add(born_tokenizer *t, const void *data, size_t len) {
    if (t->arena_len + len + 1 > t->arena_cap) {
        size_t cap = t->arena_cap ? t->arena_cap : 4096;
        while (cap < t->arena_len + len + 1) cap *= 2;
        uint8_t *na = realloc(t->arena, cap);
        if (!na) return -1;
        t->arena = na;
        t->arena_cap = cap;
    }
    int64_t off = (int64_t)t->arena_len;
    if (len) memcpy(t->arena + off, data, len);
    t->arena[off + (int64_t)len] = 0;
    t->arena_len += len + 1;
    return off;
}

born_tokenizer_spec born_tokenizer_spec_default(void) {
    born_tokenizer_spec s;
    memset(&s, 0, sizeof s);
    s.model = BORN_TOKENIZER_LLAMA;
    s.bos_id = s.eos_id = s.unk_id = s.pad_id = s.eot_id = s.sep_id = -1;
    return s;
}

static const char *model_name(born_tokenizer_model m) {
    switch (m) {
    case BORN_TOKENIZER_LLAMA: return "llama";
    case BORN_TOKENIZER_GPT2: return "gpt2";
    case BORN_TOKENIZER_TIKTOKEN: return "tiktoken";
    }
    return "?";
}

void born_tokenizer_free(born_tokenizer *t) {
    if (!t) return;
    free(t->arena);
    free(t->text_off);
    free(t->text_len);
    free(t->piece_off);
    free(t->piece_len);
    free(t->sym_off);
    free(t->sym_len);
    free(t->scores);
    free(t->types);
    free(t->flags);
    strmap_free(&t->text_map);
    strmap_free(&t->sym_map);
    free(t->pairs.slots);
    free(t->specials);
    for (int k = 0; k < t->n_regex; k++) rx_free(t->regex[k]);
    free(t);
}

static int hexdigit(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* The byte of a "<0xNN>" text, or -1. */
static int byte_token_value(const uint8_t *s, size_t n) {
    if (n != 6 || s[0] != '<' || s[1] != '0' || s[2] != 'x' || s[5] != '>') return -1;
    int hi = hexdigit(s[3]), lo = hexdigit(s[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/* Decodes GPT-2's characters into bytes; characters outside the mapping are kept as UTF-8 when
 * keep_unmapped (token_to_piece), else the whole text is rejected (returns false). out needs
 * room for n bytes (the decoded form is never longer). */
static bool bytelevel_decode(const uint8_t *s, size_t n, uint8_t *out, size_t *out_len,
                             bool keep_unmapped) {
    size_t i = 0, o = 0;
    while (i < n) {
        uint32_t cp;
        int len = utf8_decode(s + i, n - i, &cp);
        int b = len ? tok_cp_to_byte(cp) : -1;
        if (b >= 0) {
            out[o++] = (uint8_t)b;
            i += (size_t)len;
        } else {
            if (!keep_unmapped) return false;
            size_t take = len ? (size_t)len : 1;
            memcpy(out + o, s + i, take);
            o += take;
            i += take;
        }
    }
    *out_len = o;
    return true;
}

/* Grows the symbol arrays to hold at least n symbols. */
static bool sym_reserve(born_tokenizer *t, int32_t n, int32_t *cap) {
    if (n <= *cap) return true;
    int32_t nc = *cap ? *cap : 1024;
    while (nc < n) nc *= 2;
    int64_t *no = realloc(t->sym_off, (size_t)nc * sizeof *no);
    if (!no) return false;
    t->sym_off = no;
    uint32_t *nl = realloc(t->sym_len, (size_t)nc * sizeof *nl);
    if (!nl) return false;
    t->sym_len = nl;
    *cap = nc;
    return true;
}

/* The symbol for bytes[0..len): an existing one, or a new virtual symbol (-1 on no memory). */
static int32_t sym_intern(born_tokenizer *t, const uint8_t *bytes, size_t len, int32_t *cap) {
    int32_t id = tok_strmap_find(t, &t->sym_map, t->sym_off, t->sym_len, bytes, len);
    if (id >= 0) return id;
    if (!sym_reserve(t, t->n_sym + 1, cap)) return -1;
    int64_t off = arena_add(t, bytes, len);
    if (off < 0) return -1;
    id = t->n_sym++;
    t->sym_off[id] = off;
    t->sym_len[id] = (uint32_t)len;
    if (!strmap_grow(t, &t->sym_map, t->sym_off, t->sym_len, (size_t)t->n_sym)) return -1;
    strmap_insert(t, &t->sym_map, t->sym_off, t->sym_len, id);
    return id;
}

static int cmp_specials_ctx_len(const born_tokenizer *t, int32_t a, int32_t b) {
    if (t->text_len[a] != t->text_len[b]) return t->text_len[a] > t->text_len[b] ? -1 : 1;
    return a < b ? -1 : a > b;
}

/* Insertion-merge sort of the special ids (no qsort context pointer in C11). */
static void sort_specials(const born_tokenizer *t, int32_t *v, int32_t n, int32_t *tmp) {
    if (n < 2) return;
    int32_t h = n / 2;
    sort_specials(t, v, h, tmp);
    sort_specials(t, v + h, n - h, tmp);
    int32_t i = 0, j = h, k = 0;
    while (i < h && j < n) tmp[k++] = cmp_specials_ctx_len(t, v[i], v[j]) <= 0 ? v[i++] : v[j++];
    while (i < h) tmp[k++] = v[i++];
    while (j < n) tmp[k++] = v[j++];
    memcpy(v, tmp, (size_t)n * sizeof *v);
}

#define FAIL(status, ...)                                                                          \
    do {                                                                                           \
        born_error(status, __VA_ARGS__);                                                           \
        goto fail;                                                                                 \
    } while (0)
#define NOMEM() FAIL(BORN_ERR_MEMORY, "born_tokenizer_new: out of memory")

static bool id_ok(int32_t id, int32_t n) { return id >= -1 && id < n; }

born_tokenizer *born_tokenizer_new(const born_tokenizer_spec *spec) {
    if (!spec) return born_error_null(BORN_ERR_ARGUMENT, "born_tokenizer_new: spec is NULL");
    if (spec->model != BORN_TOKENIZER_LLAMA && spec->model != BORN_TOKENIZER_GPT2 &&
        spec->model != BORN_TOKENIZER_TIKTOKEN)
        return born_error_null(BORN_ERR_ARGUMENT, "born_tokenizer_new: unknown model %d",
                               (int)spec->model);
    if (spec->n_tokens < 1 || !spec->tokens)
        return born_error_null(BORN_ERR_ARGUMENT,
                               "born_tokenizer_new: a vocabulary needs at least one token "
                               "(n_tokens %d, tokens %s)",
                               (int)spec->n_tokens, spec->tokens ? "set" : "NULL");
    if (spec->model == BORN_TOKENIZER_GPT2 && (spec->n_merges < 0 || (spec->n_merges && !spec->merges)))
        return born_error_null(BORN_ERR_ARGUMENT, "born_tokenizer_new: gpt2 merges missing");
    const int32_t n = spec->n_tokens;
    if (!id_ok(spec->bos_id, n) || !id_ok(spec->eos_id, n) || !id_ok(spec->unk_id, n) ||
        !id_ok(spec->pad_id, n) || !id_ok(spec->eot_id, n) || !id_ok(spec->sep_id, n))
        return born_error_null(BORN_ERR_ARGUMENT,
                               "born_tokenizer_new: a special id is outside [-1, %d) (bos %d, eos "
                               "%d, unk %d, pad %d, eot %d, sep %d)",
                               (int)n, (int)spec->bos_id, (int)spec->eos_id, (int)spec->unk_id,
                               (int)spec->pad_id, (int)spec->eot_id, (int)spec->sep_id);
    if ((spec->add_bos && spec->bos_id < 0) || (spec->add_eos && spec->eos_id < 0))
        return born_error_null(BORN_ERR_ARGUMENT,
                               "born_tokenizer_new: add_bos / add_eos set without a BOS / EOS id");

    born_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return born_error_null(BORN_ERR_MEMORY, "born_tokenizer_new: out of memory");
    uint8_t *tmp = NULL;
    int32_t *sort_tmp = NULL;
    int32_t sym_cap = 0;
    t->model = spec->model;
    t->n_vocab = n;
    t->bos_id = spec->bos_id;
    t->eos_id = spec->eos_id;
    t->unk_id = spec->unk_id;
    t->pad_id = spec->pad_id;
    t->eot_id = spec->eot_id;
    t->sep_id = spec->sep_id;
    t->add_bos = spec->add_bos;
    t->add_eos = spec->add_eos;
    t->add_space_prefix = spec->model == BORN_TOKENIZER_LLAMA && spec->add_space_prefix;
    /* tiktoken emits a pre-token that is itself a token whole, without merging */
    t->ignore_merges = spec->ignore_merges || spec->model == BORN_TOKENIZER_TIKTOKEN;
    t->byte_fallback = spec->byte_fallback;

    t->text_off = malloc((size_t)n * sizeof *t->text_off);
    t->text_len = malloc((size_t)n * sizeof *t->text_len);
    t->piece_off = malloc((size_t)n * sizeof *t->piece_off);
    t->piece_len = malloc((size_t)n * sizeof *t->piece_len);
    t->scores = calloc((size_t)n, sizeof *t->scores);
    t->types = malloc((size_t)n);
    t->flags = calloc((size_t)n, 1);
    if (!t->text_off || !t->text_len || !t->piece_off || !t->piece_len || !t->scores ||
        !t->types || !t->flags || !strmap_init(&t->text_map, (size_t)n))
        NOMEM();

    size_t max_len = 0;
    for (int32_t i = 0; i < n; i++) {
        const char *s = spec->tokens[i];
        if (!s) FAIL(BORN_ERR_ARGUMENT, "born_tokenizer_new: token %d is NULL", (int)i);
        size_t len = spec->token_lens ? spec->token_lens[i] : strlen(s);
        if (len > UINT32_MAX / 2)
            FAIL(BORN_ERR_ARGUMENT, "born_tokenizer_new: token %d is too long", (int)i);
        if (len > max_len) max_len = len;
        int64_t off = arena_add(t, s, len);
        if (off < 0) NOMEM();
        t->text_off[i] = off;
        t->text_len[i] = (uint32_t)len;
        int32_t type = spec->types ? spec->types[i] : BORN_TOKEN_NORMAL;
        if (type < 0 || type > BORN_TOKEN_BYTE)
            FAIL(BORN_ERR_ARGUMENT, "born_tokenizer_new: token %d has type %d (valid: 0..6)",
                 (int)i, (int)type);
        t->types[i] = (uint8_t)type;
        if (spec->scores) t->scores[i] = spec->scores[i];
        if (spec->flags) t->flags[i] = spec->flags[i] & (BORN_TOKEN_LSTRIP | BORN_TOKEN_RSTRIP);
    }
    for (int32_t i = 0; i < n; i++) {
        if (!t->text_len[i]) continue; /* empty texts (gaps in a vocabulary) are never looked up */
        int32_t dup = strmap_insert(t, &t->text_map, t->text_off, t->text_len, i);
        if (dup >= 0)
            FAIL(BORN_ERR_ARGUMENT, "born_tokenizer_new: tokens %d and %d have the same text \"%.40s\"",
                 (int)dup, (int)i, (const char *)t->arena + t->text_off[i]);
    }

    /* pieces: what each token decodes to (with special = true) */
    tmp = malloc(max_len + 8);
    if (!tmp) NOMEM();
    for (int32_t i = 0; i < n; i++) {
        const uint8_t *s = t->arena + t->text_off[i];
        size_t len = t->text_len[i], plen = 0;
        const uint8_t *piece = tmp;
        int type = t->types[i];
        int byte = byte_token_value(s, len);
        if (type == BORN_TOKEN_BYTE && byte >= 0) {
            tmp[0] = (uint8_t)byte;
            plen = 1;
        } else if (type == BORN_TOKEN_NORMAL || (type == BORN_TOKEN_BYTE && byte < 0)) {
            if (t->model == BORN_TOKENIZER_LLAMA) {
                for (size_t k = 0; k < len;) {
                    if (k + 3 <= len && s[k] == 0xE2 && s[k + 1] == 0x96 && s[k + 2] == 0x81) {
                        tmp[plen++] = ' ';
                        k += 3;
                    } else {
                        tmp[plen++] = s[k++];
                    }
                }
            } else if (t->model == BORN_TOKENIZER_GPT2) {
                bytelevel_decode(s, len, tmp, &plen, true);
            } else {
                piece = s;
                plen = len;
            }
        } else if (type == BORN_TOKEN_CONTROL || type == BORN_TOKEN_UNKNOWN ||
                   type == BORN_TOKEN_USER_DEFINED) {
            piece = s;
            plen = len;
        } /* UNUSED, UNDEFINED: nothing */
        if (piece == s) {
            t->piece_off[i] = t->text_off[i];
        } else {
            int64_t off = arena_add(t, piece, plen);
            if (off < 0) NOMEM();
            t->piece_off[i] = off;
        }
        t->piece_len[i] = (uint32_t)plen;
    }

    /* BPE symbols and merges */
    if (t->model == BORN_TOKENIZER_LLAMA) {
        for (int b = 0; b < 256; b++) {
            static const char hex[] = "0123456789ABCDEF";
            char name[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
            int32_t id = tok_strmap_find(t, &t->text_map, t->text_off, t->text_len, name, 6);
            if (id < 0) {
                uint8_t one = (uint8_t)b;
                id = tok_strmap_find(t, &t->text_map, t->text_off, t->text_len, &one, 1);
            }
            t->byte_sym[b] = id;
        }
        if (spec->n_merges > 0 && spec->merges) {
            t->use_merges = true;
            for (int32_t r = 0; r < spec->n_merges; r++) {
                const char *m = spec->merges[r];
                if (!m) FAIL(BORN_ERR_ARGUMENT, "born_tokenizer_new: merge %d is NULL", (int)r);
                size_t len = spec->merge_lens ? spec->merge_lens[r] : strlen(m);
                const char *sp = len > 1 ? memchr(m + 1, ' ', len - 1) : NULL;
                if (!sp)
                    FAIL(BORN_ERR_FORMAT, "born_tokenizer_new: merge %d \"%.40s\" is not \"left right\"",
                         (int)r, m);
                size_t la = (size_t)(sp - m), lb = len - la - 1;
                int32_t a = tok_strmap_find(t, &t->text_map, t->text_off, t->text_len, m, la);
                int32_t b = tok_strmap_find(t, &t->text_map, t->text_off, t->text_len, sp + 1, lb);
                if (la + lb > max_len) max_len = la + lb;
                uint8_t *cat = malloc(la + lb + 1);
                if (!cat) NOMEM();
                memcpy(cat, m, la);
                memcpy(cat + la, sp + 1, lb);
                int32_t ab = tok_strmap_find(t, &t->text_map, t->text_off, t->text_len, cat, la + lb);
                free(cat);
                if (a < 0 || b < 0 || ab < 0)
                    FAIL(BORN_ERR_FORMAT,
                         "born_tokenizer_new: merge %d \"%.40s\" uses a token that is not in the "
                         "vocabulary",
                         (int)r, m);
                if (!pair_insert(&t->pairs, a, b, r, ab)) NOMEM();
            }
        }
    } else {
        /* symbols 0..n-1 are the tokens, by the bytes they match */
        if (!sym_reserve(t, n, &sym_cap) || !strmap_init(&t->sym_map, (size_t)n)) NOMEM();
        t->n_sym = n;
        for (int32_t i = 0; i < n; i++) {
            t->sym_off[i] = -1;
            t->sym_len[i] = 0;
            const uint8_t *s = t->arena + t->text_off[i];
            size_t len = t->text_len[i], blen;
            if (!len) continue;
            if (t->model == BORN_TOKENIZER_TIKTOKEN) {
                if (t->types[i] != BORN_TOKEN_NORMAL) continue; /* specials never merge */
                t->sym_off[i] = t->text_off[i];
                t->sym_len[i] = (uint32_t)len;
            } else {
                if (!bytelevel_decode(s, len, tmp, &blen, false)) continue;
                int64_t off = arena_add(t, tmp, blen);
                if (off < 0) NOMEM();
                t->sym_off[i] = off;
                t->sym_len[i] = (uint32_t)blen;
            }
            int32_t dup = strmap_insert(t, &t->sym_map, t->sym_off, t->sym_len, i);
            if (dup >= 0)
                FAIL(BORN_ERR_ARGUMENT, "born_tokenizer_new: tokens %d and %d stand for the same bytes",
                     (int)dup, (int)i);
        }
        for (int b = 0; b < 256; b++) {
            uint8_t one = (uint8_t)b;
            int32_t id = sym_intern(t, &one, 1, &sym_cap);
            if (id < 0) NOMEM();
            t->byte_sym[b] = id;
        }
        if (t->model == BORN_TOKENIZER_GPT2) {
            size_t cap_cat = 0;
            uint8_t *cat = NULL;
            for (int32_t r = 0; r < spec->n_merges; r++) {
                const char *m = spec->merges[r];
                if (!m) {
                    free(cat);
                    FAIL(BORN_ERR_ARGUMENT, "born_tokenizer_new: merge %d is NULL", (int)r);
                }
                size_t len = spec->merge_lens ? spec->merge_lens[r] : strlen(m);
                const char *sp = len > 1 ? memchr(m + 1, ' ', len - 1) : NULL;
                if (!sp) {
                    free(cat);
                    FAIL(BORN_ERR_FORMAT, "born_tokenizer_new: merge %d \"%.40s\" is not \"left right\"",
                         (int)r, m);
                }
                size_t la = (size_t)(sp - m), lb = len - la - 1;
                if (la + lb > cap_cat) {
                    cap_cat = (la + lb) * 2;
                    uint8_t *nc = realloc(cat, cap_cat);
                    if (!nc) {
                        free(cat);
                        NOMEM();
                    }
                    cat = nc;
                }
                size_t ba, bb;
                /* parts with characters outside GPT-2's mapping can never match: skip them */
                if (!bytelevel_decode((const uint8_t *)m, la, cat, &ba, false) ||
                    !bytelevel_decode((const uint8_t *)sp + 1, lb, cat + ba, &bb, false))
                    continue;
                int32_t a = sym_intern(t, cat, ba, &sym_cap);
                int32_t b = a < 0 ? -1 : sym_intern(t, cat + ba, bb, &sym_cap);
                int32_t ab = b < 0 ? -1 : sym_intern(t, cat, ba + bb, &sym_cap);
                if (ab < 0 || !pair_insert(&t->pairs, a, b, r, ab)) {
                    free(cat);
                    NOMEM();
                }
            }
            free(cat);
        } /* tiktoken merges (a, b) into the token whose bytes are a + b, ranked by its id: the
           * encoder looks the bytes up (bpe.c) */
    }

    /* special tokens, matched longest first */
    t->specials = malloc((size_t)n * sizeof *t->specials);
    sort_tmp = malloc((size_t)n * sizeof *sort_tmp);
    if (!t->specials || !sort_tmp) NOMEM();
    for (int32_t i = 0; i < n; i++) {
        int type = t->types[i];
        if (t->text_len[i] && (type == BORN_TOKEN_CONTROL || type == BORN_TOKEN_USER_DEFINED ||
                               type == BORN_TOKEN_UNKNOWN))
            t->specials[t->n_specials++] = i;
    }
    sort_specials(t, t->specials, t->n_specials, sort_tmp);

    /* pre-tokenizer */
    if (t->model != BORN_TOKENIZER_LLAMA) {
        const char *pats[4];
        int np;
        if (spec->patterns && spec->n_patterns > 0) {
            if (spec->n_patterns > 4)
                FAIL(BORN_ERR_ARGUMENT, "born_tokenizer_new: at most 4 patterns (got %d)",
                     (int)spec->n_patterns);
            np = spec->n_patterns;
            for (int k = 0; k < np; k++) pats[k] = spec->patterns[k];
        } else {
            const char *name = spec->pre && spec->pre[0] ? spec->pre : "default";
            np = born_tokenizer_pre_regexes(name, pats);
            if (!np)
                FAIL(BORN_ERR_ARGUMENT, "born_tokenizer_new: unknown pre-tokenizer \"%.60s\"", name);
        }
        for (int k = 0; k < np; k++) {
            char err[160];
            if (!pats[k]) FAIL(BORN_ERR_ARGUMENT, "born_tokenizer_new: pattern %d is NULL", k);
            t->regex[k] = rx_compile(pats[k], strlen(pats[k]), err, sizeof err);
            if (!t->regex[k])
                FAIL(BORN_ERR_ARGUMENT, "born_tokenizer_new: pre-tokenizer regex %d \"%.80s\": %s", k,
                     pats[k], err);
            t->n_regex = k + 1;
        }
    }
    free(tmp);
    free(sort_tmp);
    (void)model_name;
    return t;

fail:
    free(tmp);
    free(sort_tmp);
    born_tokenizer_free(t);
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Pre-tokenizer names (llama.cpp's llm_tokenizer_bpe and tiktoken's encodings)                 */

#define RE_GPT2                                                                                    \
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define RE_LLAMA3                                                                                  \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"     \
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN2                                                                                   \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"     \
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_CL100K                                                                                  \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "                    \
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_O200K                                                                                   \
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|" \
    "'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}" \
    "\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*["  \
    "\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_GPT4O                                                                                   \
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'"  \
    "[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^" \
    "A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| "              \
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_TEKKEN                                                                                  \
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[" \
    "\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|" \
    "\\s+(?!\\S)|\\s+"
#define RE_BLOOM " ?[^(\\s|.,!?\xe2\x80\xa6\xe3\x80\x82\xef\xbc\x8c\xe3\x80\x81\xe0\xa5\xa4\xdb\x94\xd8\x8c)]+"

int born_tokenizer_pre_regexes(const char *name, const char *out[4]) {
    static const struct {
        const char *names;
        const char *re[4];
    } table[] = {
        {"|default|", {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"}},
        {"|gpt2|gpt-2|phi-2|jina-es|jina-de|gigachat|jina-v2-es|jina-v2-de|a.x-4.0|mellum|"
         "modern-bert|mpt|olmo|jais|trillion|granite-docling|exaone4|jina-v1-en|jina-v2-code|"
         "roberta-bpe|r50k_base|p50k_base|p50k_edit|gpt2_tiktoken|",
         {RE_GPT2}},
        {"|llama3|llama-v3|llama-bpe|falcon3|falcon-h1|pixtral|midm-2.0|lfm2|jina-v5-nano|dbrx|"
         "smaug-bpe|glm4|chatglm-bpe|",
         {RE_LLAMA3}},
        {"|qwen2|deepseek-r1-qwen|kormo|f2llmv2|stablelm2|megrez|hunyuan|solar-open|grok-2|",
         {RE_QWEN2}},
        {"|starcoder|refact|command-r|smollm|codeshell|exaone|minerva-7b|mellum2|",
         {"\\p{N}", RE_GPT2}},
        {"|falcon|", {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]"}},
        {"|gpt-4o|llama4|kanana2|talkie|minimax-m2|", {RE_GPT4O}},
        {"|tekken|", {RE_TEKKEN}},
        {"|poro-chat|bloom|gpt3-finnish|", {RE_BLOOM}},
        {"|cl100k_base|", {RE_CL100K}},
        {"|o200k_base|o200k_harmony|", {RE_O200K}},
    };
    if (!name || !out) return 0;
    size_t len = strlen(name);
    if (!len || len > 64 || strchr(name, '|')) return 0;
    char key[68];
    key[0] = '|';
    memcpy(key + 1, name, len);
    key[len + 1] = '|';
    key[len + 2] = 0;
    for (size_t k = 0; k < sizeof table / sizeof table[0]; k++) {
        if (!strstr(table[k].names, key)) continue;
        int n = 0;
        while (n < 4 && table[k].re[n]) {
            out[n] = table[k].re[n];
            n++;
        }
        return n;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Accessors                                                                                    */

static bool check_id(const born_tokenizer *t, int32_t id, const char *fn) {
    if (!t) {
        born_error(BORN_ERR_ARGUMENT, "%s: tokenizer is NULL", fn);
        return false;
    }
    if (id < 0 || id >= t->n_vocab) {
        born_error(BORN_ERR_ARGUMENT, "%s: token id %d is outside the vocabulary [0, %d)", fn,
                   (int)id, (int)t->n_vocab);
        return false;
    }
    return true;
}

const char *born_tokenizer_token_to_piece(const born_tokenizer *t, int32_t id, bool special,
                                          size_t *len) {
    if (len) *len = 0;
    if (!check_id(t, id, "born_tokenizer_token_to_piece")) return NULL;
    int type = t->types[id];
    if (!special && (type == BORN_TOKEN_CONTROL || type == BORN_TOKEN_UNKNOWN))
        return (const char *)t->arena + t->piece_off[id] + t->piece_len[id]; /* "" */
    if (len) *len = t->piece_len[id];
    return (const char *)t->arena + t->piece_off[id];
}

const char *born_tokenizer_token_text(const born_tokenizer *t, int32_t id, size_t *len) {
    if (len) *len = 0;
    if (!check_id(t, id, "born_tokenizer_token_text")) return NULL;
    if (len) *len = t->text_len[id];
    return (const char *)t->arena + t->text_off[id];
}

int32_t born_tokenizer_find(const born_tokenizer *t, const char *text, size_t len) {
    if (!t || (!text && len)) return -1;
    if (!len) return -1;
    return tok_strmap_find(t, &t->text_map, t->text_off, t->text_len, text, len);
}

born_tokenizer_model born_tokenizer_model_of(const born_tokenizer *t) {
    return t ? t->model : BORN_TOKENIZER_LLAMA;
}
int32_t born_tokenizer_vocab_size(const born_tokenizer *t) { return t ? t->n_vocab : 0; }

born_token_type born_tokenizer_token_type(const born_tokenizer *t, int32_t id) {
    if (!check_id(t, id, "born_tokenizer_token_type")) return BORN_TOKEN_UNDEFINED;
    return (born_token_type)t->types[id];
}

float born_tokenizer_token_score(const born_tokenizer *t, int32_t id) {
    if (!check_id(t, id, "born_tokenizer_token_score")) return 0.0f;
    return t->scores[id];
}

int32_t born_tokenizer_bos(const born_tokenizer *t) { return t ? t->bos_id : -1; }
int32_t born_tokenizer_eos(const born_tokenizer *t) { return t ? t->eos_id : -1; }
int32_t born_tokenizer_unk(const born_tokenizer *t) { return t ? t->unk_id : -1; }
int32_t born_tokenizer_pad(const born_tokenizer *t) { return t ? t->pad_id : -1; }
int32_t born_tokenizer_eot(const born_tokenizer *t) { return t ? t->eot_id : -1; }
bool born_tokenizer_add_bos(const born_tokenizer *t) { return t && t->add_bos; }
bool born_tokenizer_add_eos(const born_tokenizer *t) { return t && t->add_eos; }

bool born_tokenizer_is_eog(const born_tokenizer *t, int32_t id) {
    if (!t || id < 0 || id >= t->n_vocab) return false;
    if (id == t->eos_id || id == t->eot_id) return true;
    if (t->types[id] != BORN_TOKEN_CONTROL) return false;
    static const char *const names[] = {"<|eot_id|>",   "<|im_end|>",      "<|end|>",
                                        "<end_of_turn>", "<|endoftext|>",  "<|end_of_text|>",
                                        "<|eom_id|>",    "<EOT>"};
    const char *s = (const char *)t->arena + t->text_off[id];
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (t->text_len[id] == strlen(names[k]) && memcmp(s, names[k], t->text_len[id]) == 0)
            return true;
    return false;
}

/* ------------------------------------------------------------------------------------------ */
/* Encoding                                                                                     */

bool tok_ids_push(tok_ids *ids, int32_t id) {
    if (ids->n == ids->cap) {
        size_t cap = ids->cap ? ids->cap * 2 : 64;
        int32_t *nv = realloc(ids->v, cap * sizeof *nv);
        if (!nv) return false;
        ids->v = nv;
        ids->cap = cap;
    }
    ids->v[ids->n++] = id;
    return true;
}

/* A fragment of the text: raw bytes [off, off + len) or a special token. */
typedef struct fragment {
    int64_t off, len;
    int32_t token; /* -1 for raw text */
} fragment;

typedef struct frag_list {
    fragment *v;
    size_t n, cap;
} frag_list;

static bool frag_push(frag_list *l, fragment f) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        fragment *nv = realloc(l->v, cap * sizeof *nv);
        if (!nv) return false;
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = f;
    return true;
}

static bool is_c_space(uint8_t c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

static const uint8_t *find_bytes(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m) {
    if (m == 0 || m > n) return NULL;
    const uint8_t *end = hay + n - m + 1;
    for (const uint8_t *p = hay; p < end;) {
        p = memchr(p, needle[0], (size_t)(end - p));
        if (!p) return NULL;
        if (memcmp(p, needle, m) == 0) return p;
        p++;
    }
    return NULL;
}

/* llama.cpp's tokenizer_st_partition: each special token in turn (longest first) splits every
 * raw fragment at its occurrences. */
static bool partition_specials(const born_tokenizer *t, const uint8_t *text, frag_list *frags,
                               bool parse_special) {
    frag_list next = {0};
    for (int32_t s = 0; s < t->n_specials; s++) {
        int32_t id = t->specials[s];
        int type = t->types[id];
        if (!parse_special && (type == BORN_TOKEN_CONTROL || type == BORN_TOKEN_UNKNOWN)) continue;
        const uint8_t *st = t->arena + t->text_off[id];
        size_t sl = t->text_len[id];
        next.n = 0;
        bool changed = false;
        for (size_t f = 0; f < frags->n; f++) {
            fragment fr = frags->v[f];
            if (fr.token >= 0 || (size_t)fr.len < sl) {
                if (!frag_push(&next, fr)) goto nomem;
                continue;
            }
            int64_t off = fr.off, len = fr.len;
            for (;;) {
                const uint8_t *m = find_bytes(text + off, (size_t)len, st, sl);
                if (!m) {
                    if (len > 0 && !frag_push(&next, (fragment){off, len, -1})) goto nomem;
                    break;
                }
                changed = true;
                int64_t at = m - text;
                int64_t left_len = at - off;
                if (t->flags[id] & BORN_TOKEN_LSTRIP)
                    while (left_len > 0 && is_c_space(text[off + left_len - 1])) left_len--;
                if (left_len > 0 && !frag_push(&next, (fragment){off, left_len, -1})) goto nomem;
                if (!frag_push(&next, (fragment){0, 0, id})) goto nomem;
                int64_t roff = at + (int64_t)sl, rlen = off + len - roff;
                if (t->flags[id] & BORN_TOKEN_RSTRIP)
                    while (rlen > 0 && is_c_space(text[roff])) {
                        roff++;
                        rlen--;
                    }
                off = roff;
                len = rlen;
                if (len <= 0) break;
            }
        }
        if (changed) {
            frag_list swap = *frags;
            *frags = next;
            next = swap;
        }
    }
    free(next.v);
    return true;
nomem:
    free(next.v);
    return false;
}

born_status born_tokenizer_encode(const born_tokenizer *t, const char *text, size_t len,
                                  bool add_special, bool parse_special, int32_t **ids,
                                  size_t *n_ids) {
    if (ids) *ids = NULL;
    if (n_ids) *n_ids = 0;
    if (!t || !ids || !n_ids || (!text && len))
        return born_error(BORN_ERR_ARGUMENT, "born_tokenizer_encode: %s is NULL",
                          !t ? "tokenizer" : !ids ? "ids" : !n_ids ? "n_ids" : "text");
    tok_ids out = {0};
    frag_list frags = {0};
    uint8_t *buf = NULL;
    tok_cache *cache = NULL;
    born_status st = BORN_OK;
    const uint8_t *src = (const uint8_t *)text;

    if (len > 0) {
        if (!frag_push(&frags, (fragment){0, (int64_t)len, -1}) ||
            !partition_specials(t, src, &frags, parse_special))
            goto nomem;
    }
    if (add_special && t->add_bos && !tok_ids_push(&out, t->bos_id)) goto nomem;

    if (t->model == BORN_TOKENIZER_LLAMA) {
        bool prev_special = true;
        size_t cap = 0;
        for (size_t f = 0; f < frags.n; f++) {
            fragment fr = frags.v[f];
            if (fr.token >= 0) {
                if (!tok_ids_push(&out, fr.token)) goto nomem;
                prev_special = true;
                continue;
            }
            /* escape spaces as U+2581, with a leading one after a special token or at the start */
            size_t need = ((size_t)fr.len + 1) * 3;
            if (need > cap) {
                uint8_t *nb = realloc(buf, need);
                if (!nb) goto nomem;
                buf = nb;
                cap = need;
            }
            size_t n = 0;
            if (t->add_space_prefix && prev_special) {
                buf[n++] = 0xE2;
                buf[n++] = 0x96;
                buf[n++] = 0x81;
            }
            for (int64_t k = 0; k < fr.len; k++) {
                uint8_t c = src[fr.off + k];
                if (c == ' ') {
                    buf[n++] = 0xE2;
                    buf[n++] = 0x96;
                    buf[n++] = 0x81;
                } else {
                    buf[n++] = c;
                }
            }
            st = tok_encode_spm(t, buf, n, &out);
            if (st != BORN_OK) goto done;
            prev_special = false;
        }
    } else {
        if (len > 4096) {
            cache = tok_cache_new();
            if (!cache) goto nomem;
        }
        for (size_t f = 0; f < frags.n; f++) {
            fragment fr = frags.v[f];
            if (fr.token >= 0) {
                if (!tok_ids_push(&out, fr.token)) goto nomem;
                continue;
            }
            st = tok_encode_bytelevel(t, src + fr.off, (size_t)fr.len, &out, cache);
            if (st != BORN_OK) goto done;
        }
    }
    if (add_special && t->add_eos && !tok_ids_push(&out, t->eos_id)) goto nomem;
    if (!out.v) {
        out.v = malloc(sizeof(int32_t));
        if (!out.v) goto nomem;
    }
    *ids = out.v;
    *n_ids = out.n;
    out.v = NULL;
    goto done;
nomem:
    st = born_error(BORN_ERR_MEMORY, "born_tokenizer_encode: out of memory (%zu bytes of text)", len);
done:
    free(out.v);
    free(frags.v);
    free(buf);
    tok_cache_free(cache);
    return st;
}

/* ------------------------------------------------------------------------------------------ */
/* Decoding                                                                                     */

born_status born_tokenizer_decode(const born_tokenizer *t, const int32_t *ids, size_t n,
                                  bool special, char **text, size_t *len) {
    if (text) *text = NULL;
    if (len) *len = 0;
    if (!t || !text || !len || (!ids && n))
        return born_error(BORN_ERR_ARGUMENT, "born_tokenizer_decode: %s is NULL",
                          !t ? "tokenizer" : !text ? "text" : !len ? "len" : "ids");
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab)
            return born_error(BORN_ERR_ARGUMENT,
                              "born_tokenizer_decode: id %d at position %zu is outside the "
                              "vocabulary [0, %d)",
                              (int)ids[i], i, (int)t->n_vocab);
        total += t->piece_len[ids[i]];
    }
    char *out = malloc(total + 1);
    if (!out) return born_error(BORN_ERR_MEMORY, "born_tokenizer_decode: out of memory");
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        size_t pl;
        const char *p = born_tokenizer_token_to_piece(t, ids[i], special, &pl);
        memcpy(out + o, p, pl);
        o += pl;
    }
    size_t start = t->add_space_prefix && o > 0 && out[0] == ' ' ? 1 : 0;
    if (start) memmove(out, out + 1, o - 1);
    o -= start;
    out[o] = 0;
    *text = out;
    *len = o;
    return BORN_OK;
}

struct born_detokenizer {
    const born_tokenizer *tok;
    bool special;
    bool started; /* some text has been given (the leading space is settled) */
    uint8_t held[4];
    size_t nheld;
    char *buf;
    size_t cap;
};

born_detokenizer *born_detokenizer_new(const born_tokenizer *tok, bool special) {
    if (!tok) return born_error_null(BORN_ERR_ARGUMENT, "born_detokenizer_new: tokenizer is NULL");
    born_detokenizer *d = calloc(1, sizeof *d);
    if (!d) return born_error_null(BORN_ERR_MEMORY, "born_detokenizer_new: out of memory");
    d->tok = tok;
    d->special = special;
    return d;
}

void born_detokenizer_free(born_detokenizer *d) {
    if (!d) return;
    free(d->buf);
    free(d);
}

born_status born_detokenizer_push(born_detokenizer *d, int32_t id, const char **text, size_t *len) {
    if (text) *text = "";
    if (len) *len = 0;
    if (!d || !text || !len)
        return born_error(BORN_ERR_ARGUMENT, "born_detokenizer_push: %s is NULL",
                          !d ? "detokenizer" : !text ? "text" : "len");
    if (!check_id(d->tok, id, "born_detokenizer_push")) return born_last_status();
    size_t pl;
    const char *p = born_tokenizer_token_to_piece(d->tok, id, d->special, &pl);
    if (!d->started && pl > 0) {
        d->started = true;
        if (d->tok->add_space_prefix && p[0] == ' ') {
            p++;
            pl--;
        }
    }
    size_t need = d->nheld + pl + 1;
    if (need > d->cap) {
        size_t cap = d->cap ? d->cap : 64;
        while (cap < need) cap *= 2;
        char *nb = realloc(d->buf, cap);
        if (!nb) return born_error(BORN_ERR_MEMORY, "born_detokenizer_push: out of memory");
        d->buf = nb;
        d->cap = cap;
    }
    memcpy(d->buf, d->held, d->nheld);
    memcpy(d->buf + d->nheld, p, pl);
    size_t total = d->nheld + pl;
    size_t keep = utf8_incomplete_tail((const uint8_t *)d->buf, total);
    memcpy(d->held, d->buf + total - keep, keep);
    d->nheld = keep;
    *text = d->buf;
    *len = total - keep;
    return BORN_OK;
}

born_status born_detokenizer_flush(born_detokenizer *d, const char **text, size_t *len) {
    if (text) *text = "";
    if (len) *len = 0;
    if (!d || !text || !len)
        return born_error(BORN_ERR_ARGUMENT, "born_detokenizer_flush: %s is NULL",
                          !d ? "detokenizer" : !text ? "text" : "len");
    if (d->cap < 4) {
        char *nb = realloc(d->buf, 64);
        if (!nb) return born_error(BORN_ERR_MEMORY, "born_detokenizer_flush: out of memory");
        d->buf = nb;
        d->cap = 64;
    }
    memcpy(d->buf, d->held, d->nheld);
    *text = d->buf;
    *len = d->nheld;
    d->nheld = 0;
    d->started = false;
    return BORN_OK;
}
