/* GGUF, llama.cpp's model file (ggml/docs/gguf.md), versions 2 and 3, little-endian:
 *
 *   "GGUF", u32 version, u64 tensor count, u64 key-value count,
 *   the key-value pairs: string key, u32 value type, value,
 *   the tensor infos: string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset,
 *   padding to general.alignment (default 32), then the data section; every tensor's offset is
 *   from the data section's start and a multiple of the alignment.
 *
 * A string is a u64 length and that many bytes; an array a u32 element type, a u64 count and the
 * elements (arrays may hold arrays). The parser validates all of it against the mapping's bounds
 * (counts and lengths are checked against the bytes left before anything is allocated or walked,
 * and every element costs at least one byte, so the work is linear in the file's size) and fills
 * the born_file entries (Born's row-major shapes: ggml's ne reversed) and f->gguf. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/tensor_impl.h"
#include "io/gguf_internal.h"
#include "io/json_internal.h"

/* ------------------------------------------------------------------------------------------ */
/* Types                                                                                        */

#define NONE BORN_DTYPE_COUNT

/* ggml's types (ggml.h's enum ggml_type, ggml.c's type_traits); the numbers ggml removed
 * (4, 5: q4_2, q4_3; 31-33, 36-38: repacked q4_0 / iq4_nl variants) are left out. q8_1's block
 * is 36 bytes as ggml's block_q8_1 (d and s are f16); gguf-py's table says 40, wrongly. */
static const gguf_ggml_type ggml_types[] = {
    [0] = {"f32", 1, 4, BORN_F32},
    [1] = {"f16", 1, 2, BORN_F16},
    [2] = {"q4_0", 32, 18, BORN_Q4_0},
    [3] = {"q4_1", 32, 20, BORN_Q4_1},
    [6] = {"q5_0", 32, 22, BORN_Q5_0},
    [7] = {"q5_1", 32, 24, BORN_Q5_1},
    [8] = {"q8_0", 32, 34, BORN_Q8_0},
    [9] = {"q8_1", 32, 36, BORN_Q8_1},
    [10] = {"q2_K", 256, 84, BORN_Q2_K},
    [11] = {"q3_K", 256, 110, BORN_Q3_K},
    [12] = {"q4_K", 256, 144, BORN_Q4_K},
    [13] = {"q5_K", 256, 176, BORN_Q5_K},
    [14] = {"q6_K", 256, 210, BORN_Q6_K},
    [15] = {"q8_K", 256, 292, BORN_Q8_K},
    [16] = {"iq2_xxs", 256, 66, NONE},
    [17] = {"iq2_xs", 256, 74, NONE},
    [18] = {"iq3_xxs", 256, 98, NONE},
    [19] = {"iq1_s", 256, 50, NONE},
    [20] = {"iq4_nl", 32, 18, BORN_IQ4_NL},
    [21] = {"iq3_s", 256, 110, NONE},
    [22] = {"iq2_s", 256, 82, NONE},
    [23] = {"iq4_xs", 256, 136, BORN_IQ4_XS},
    [24] = {"i8", 1, 1, BORN_I8},
    [25] = {"i16", 1, 2, BORN_I16},
    [26] = {"i32", 1, 4, BORN_I32},
    [27] = {"i64", 1, 8, BORN_I64},
    [28] = {"f64", 1, 8, BORN_F64},
    [29] = {"iq1_m", 256, 56, NONE},
    [30] = {"bf16", 1, 2, BORN_BF16},
    [34] = {"tq1_0", 256, 54, NONE},
    [35] = {"tq2_0", 256, 66, NONE},
    [39] = {"mxfp4", 32, 17, NONE},
    [40] = {"nvfp4", 64, 36, NONE},
    [41] = {"q1_0", 128, 18, NONE},
};
enum { NGGML = (int)(sizeof ggml_types / sizeof ggml_types[0]) };

const gguf_ggml_type *gguf_ggml_type_info(uint32_t t) {
    return t < (uint32_t)NGGML && ggml_types[t].name ? &ggml_types[t] : NULL;
}

const char *born_ggml_type_name(int ggml_type) {
    const gguf_ggml_type *t = ggml_type >= 0 ? gguf_ggml_type_info((uint32_t)ggml_type) : NULL;
    return t ? t->name : NULL;
}

born_dtype born_ggml_type_dtype(int ggml_type) {
    const gguf_ggml_type *t = ggml_type >= 0 ? gguf_ggml_type_info((uint32_t)ggml_type) : NULL;
    return t ? t->dtype : BORN_DTYPE_COUNT;
}

int born_ggml_type_of(born_dtype dtype) {
    if ((unsigned)dtype >= BORN_DTYPE_COUNT) return -1;
    for (int i = 0; i < NGGML; i++)
        if (ggml_types[i].name && ggml_types[i].dtype == dtype) return i;
    return -1;
}

static const char *const value_type_names[BORN_GGUF_TYPE_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"};

const char *born_gguf_type_name(born_gguf_type type) {
    return (unsigned)type < BORN_GGUF_TYPE_COUNT ? value_type_names[type] : "invalid";
}

uint32_t gguf_value_size(uint32_t type) {
    static const uint8_t size[BORN_GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return type < BORN_GGUF_TYPE_COUNT ? size[type] : 0;
}

bool gguf_name_ok(const uint8_t *s, uint64_t len) {
    if (len == 0) return false;
    for (uint64_t i = 0; i < len;) {
        uint32_t cp = 0;
        int n = s[i] < 0x80 ? 1 : json_utf8_decode(s + i, (size_t)(len - i), &cp);
        if (n == 0 || s[i] == 0) return false;
        i += (uint64_t)n;
    }
    return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Spans (for the accessors; the file was validated at open)                                    */

uint64_t gguf_value_span(const born_file *f, uint32_t type, uint64_t offset, int depth) {
    const uint8_t *b = f->map->base;
    uint64_t len = f->map->len;
    if (offset > len) return UINT64_MAX;
    uint64_t room = len - offset;
    uint32_t size = gguf_value_size(type);
    if (size) return size <= room ? size : UINT64_MAX;
    if (type == BORN_GGUF_STRING) {
        if (room < 8) return UINT64_MAX;
        uint64_t n = gguf_rd64(b + offset);
        return n <= room - 8 ? 8 + n : UINT64_MAX;
    }
    if (type != BORN_GGUF_ARRAY || depth >= GGUF_MAX_DEPTH || room < 12) return UINT64_MAX;
    uint32_t et = gguf_rd32(b + offset);
    uint64_t count = gguf_rd64(b + offset + 4), pos = offset + 12;
    uint32_t es = gguf_value_size(et);
    if (es) return count <= (len - pos) / es ? 12 + count * es : UINT64_MAX;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t n = gguf_value_span(f, et, pos, depth + 1);
        if (n == UINT64_MAX) return UINT64_MAX;
        pos += n;
    }
    return pos - offset;
}

/* ------------------------------------------------------------------------------------------ */
/* Parsing                                                                                      */

typedef struct gp {
    born_file *f;
    const uint8_t *b;
    uint64_t len;
    const char *w;
} gp;

/* True when n bytes start at pos inside the file. */
static bool have(const gp *p, uint64_t pos, uint64_t n) { return pos <= p->len && n <= p->len - pos; }

static born_status truncated(const gp *p, const char *ctx, uint64_t pos, uint64_t need,
                             const char *what) {
    return born_error(BORN_ERR_FORMAT, "%s: %s: truncated at byte %" PRIu64 ": %s needs %" PRIu64
                      " bytes, but the file ends %" PRIu64 " bytes later", p->w, ctx, pos, what,
                      need, pos <= p->len ? p->len - pos : 0);
}

/* Reads a string's length at *pos and checks that its bytes fit; *pos moves to the bytes. */
static born_status read_len(const gp *p, const char *ctx, uint64_t *pos, const char *what,
                            uint64_t *n) {
    if (!have(p, *pos, 8)) return truncated(p, ctx, *pos, 8, what);
    *n = gguf_rd64(p->b + *pos);
    if (*n > p->len - *pos - 8)
        return born_error(BORN_ERR_FORMAT, "%s: %s: %s %" PRIu64 " at byte %" PRIu64 " runs past "
                          "the end of the file (%" PRIu64 " bytes follow)", p->w, ctx, what, *n,
                          *pos, p->len - *pos - 8);
    *pos += 8;
    return BORN_OK;
}

/* Validates the value of `type` at *pos and moves *pos past it. For a key's own array of
 * strings or arrays, *skip (when not NULL) receives every GGUF_SKIP_STRIDE-th element's offset. */
static born_status check_value(const gp *p, const char *ctx, uint32_t type, uint64_t *pos,
                               int depth, uint64_t **skip) {
    if (type >= BORN_GGUF_TYPE_COUNT)
        return born_error(BORN_ERR_FORMAT, "%s: %s: unknown value type %" PRIu32 " at byte %" PRIu64
                          " (GGUF's types are 0 to 12)", p->w, ctx, type, *pos - 4);
    uint32_t size = gguf_value_size(type);
    if (size) {
        if (!have(p, *pos, size)) return truncated(p, ctx, *pos, size, born_gguf_type_name(type));
        if (type == BORN_GGUF_BOOL && p->b[*pos] > 1)
            return born_error(BORN_ERR_FORMAT, "%s: %s: bool value %u at byte %" PRIu64 " is "
                              "neither 0 nor 1", p->w, ctx, p->b[*pos], *pos);
        *pos += size;
        return BORN_OK;
    }
    if (type == BORN_GGUF_STRING) {
        uint64_t n = 0;
        if (read_len(p, ctx, pos, "the string length", &n) != BORN_OK) return BORN_ERR_FORMAT;
        *pos += n;
        return BORN_OK;
    }
    /* an array */
    uint64_t start = *pos;
    if (depth >= GGUF_MAX_DEPTH)
        return born_error(BORN_ERR_FORMAT, "%s: %s: arrays nested deeper than %d levels at byte "
                          "%" PRIu64, p->w, ctx, GGUF_MAX_DEPTH, start);
    if (!have(p, start, 12))
        return truncated(p, ctx, start, 12, "an array's element type and count");
    uint32_t et = gguf_rd32(p->b + start);
    uint64_t count = gguf_rd64(p->b + start + 4);
    *pos = start + 12;
    if (et >= BORN_GGUF_TYPE_COUNT)
        return born_error(BORN_ERR_FORMAT, "%s: %s: unknown array element type %" PRIu32 " at byte "
                          "%" PRIu64 " (GGUF's types are 0 to 12)", p->w, ctx, et, start);
    uint32_t es = gguf_value_size(et);
    uint64_t least = es ? es : et == BORN_GGUF_STRING ? 8 : 12, room = p->len - *pos;
    if (count > room / least)
        return born_error(BORN_ERR_FORMAT, "%s: %s: the array at byte %" PRIu64 " declares %" PRIu64
                          " elements of %s, more than the %" PRIu64 " bytes after it can hold",
                          p->w, ctx, start, count, born_gguf_type_name(et), room);
    if (es) {
        if (et == BORN_GGUF_BOOL)
            for (uint64_t i = 0; i < count; i++)
                if (p->b[*pos + i] > 1)
                    return born_error(BORN_ERR_FORMAT, "%s: %s: bool value %u at byte %" PRIu64
                                      " is neither 0 nor 1", p->w, ctx, p->b[*pos + i], *pos + i);
        *pos += count * es;
        return BORN_OK;
    }
    if (skip) {
        *skip = malloc((size_t)(count / GGUF_SKIP_STRIDE + 1) * sizeof **skip);
        if (!*skip) return born_error(BORN_ERR_MEMORY, "%s: out of memory", p->w);
    }
    for (uint64_t i = 0; i < count; i++) {
        if (skip && i % GGUF_SKIP_STRIDE == 0) (*skip)[i / GGUF_SKIP_STRIDE] = *pos;
        if (check_value(p, ctx, et, pos, depth + 1, NULL) != BORN_OK) return born_last_status();
    }
    return BORN_OK;
}

/* A short description of key index for messages: its name when it is printable, else its
 * number. */
static void kv_context(char *buf, size_t size, int64_t index, const char *key) {
    if (key)
        snprintf(buf, size, "key \"%.100s%s\"", key, strlen(key) > 100 ? "..." : "");
    else
        snprintf(buf, size, "key %" PRId64, index);
}

static born_status parse_kv(gp *p, struct gguf_meta *m, int64_t index, uint64_t *pos) {
    char ctx[160];
    kv_context(ctx, sizeof ctx, index, NULL);
    gguf_kv *kv = &m->kvs[m->nkv];
    memset(kv, 0, sizeof *kv);
    kv->start = *pos;
    uint64_t n = 0;
    if (read_len(p, ctx, pos, "the key length", &n) != BORN_OK) return BORN_ERR_FORMAT;
    if (!gguf_name_ok(p->b + *pos, n))
        return born_error(BORN_ERR_FORMAT, "%s: %s at byte %" PRIu64 ": the key is %s", p->w, ctx,
                          kv->start, n == 0 ? "empty" : "not valid UTF-8 (or contains NUL)");
    kv->key = malloc((size_t)n + 1);
    if (!kv->key) return born_error(BORN_ERR_MEMORY, "%s: out of memory", p->w);
    memcpy(kv->key, p->b + *pos, (size_t)n);
    kv->key[n] = '\0';
    m->nkv++; /* from now on born_file_close frees it */
    *pos += n;
    kv_context(ctx, sizeof ctx, index, kv->key);
    if (!have(p, *pos, 4)) return truncated(p, ctx, *pos, 4, "the value type");
    kv->type = gguf_rd32(p->b + *pos);
    *pos += 4;
    uint64_t vstart = *pos;
    if (check_value(p, ctx, kv->type, pos, 0, kv->type == BORN_GGUF_ARRAY ? &kv->skip : NULL) !=
        BORN_OK)
        return born_last_status();
    kv->offset = vstart;
    if (kv->type == BORN_GGUF_STRING) {
        kv->count = gguf_rd64(p->b + vstart);
        kv->offset = vstart + 8;
        kv->str = malloc((size_t)kv->count + 1);
        if (!kv->str) return born_error(BORN_ERR_MEMORY, "%s: out of memory", p->w);
        memcpy(kv->str, p->b + kv->offset, (size_t)kv->count);
        kv->str[kv->count] = '\0';
    } else if (kv->type == BORN_GGUF_ARRAY) {
        kv->elem_type = gguf_rd32(p->b + vstart);
        kv->count = gguf_rd64(p->b + vstart + 4);
        kv->offset = vstart + 12;
    }
    return BORN_OK;
}

typedef struct key_index {
    const char *key;
    int64_t index;
} key_index;

static int cmp_key_index(const void *a, const void *b) {
    const key_index *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* Sorts the keys into m->by_key, rejecting a key that appears twice. */
static born_status index_keys(gp *p, struct gguf_meta *m) {
    size_t n = (size_t)(m->nkv ? m->nkv : 1);
    key_index *tmp = malloc(n * sizeof *tmp);
    m->by_key = malloc(n * sizeof *m->by_key);
    if (!tmp || !m->by_key) {
        free(tmp);
        return born_error(BORN_ERR_MEMORY, "%s: out of memory", p->w);
    }
    for (int64_t i = 0; i < m->nkv; i++) tmp[i] = (key_index){m->kvs[i].key, i};
    qsort(tmp, (size_t)m->nkv, sizeof *tmp, cmp_key_index);
    born_status st = BORN_OK;
    for (int64_t i = 0; i < m->nkv; i++) {
        m->by_key[i] = tmp[i].index;
        if (i > 0 && st == BORN_OK && strcmp(tmp[i - 1].key, tmp[i].key) == 0)
            st = born_error(BORN_ERR_FORMAT, "%s: duplicate key \"%.100s\": key %" PRId64 " at byte "
                            "%" PRIu64 " and key %" PRId64 " at byte %" PRIu64, p->w, tmp[i].key,
                            tmp[i - 1].index, m->kvs[tmp[i - 1].index].start, tmp[i].index,
                            m->kvs[tmp[i].index].start);
    }
    free(tmp);
    return st;
}

static born_status read_alignment(gp *p, struct gguf_meta *m) {
    m->alignment = GGUF_DEFAULT_ALIGNMENT;
    for (int64_t i = 0; i < m->nkv; i++) {
        const gguf_kv *kv = &m->kvs[i];
        if (strcmp(kv->key, "general.alignment") != 0) continue;
        if (kv->type != BORN_GGUF_U32)
            return born_error(BORN_ERR_FORMAT, "%s: key \"general.alignment\" at byte %" PRIu64
                              " is %s, not u32", p->w, kv->start, born_gguf_type_name(kv->type));
        uint32_t a = gguf_rd32(p->b + kv->offset);
        if (a == 0 || (a & (a - 1)) != 0)
            return born_error(BORN_ERR_FORMAT, "%s: key \"general.alignment\" at byte %" PRIu64
                              ": the alignment %" PRIu32 " is not a power of two", p->w,
                              kv->start, a);
        m->alignment = a;
    }
    return BORN_OK;
}

typedef struct tinfo {
    uint64_t start; /* where the tensor's info starts */
    uint64_t offset; /* relative to the data section */
} tinfo;

static born_status parse_tensor(gp *p, struct gguf_meta *m, int64_t index, uint64_t *pos,
                                tinfo *ti) {
    born_file *f = p->f;
    char ctx[160];
    snprintf(ctx, sizeof ctx, "tensor %" PRId64, index);
    tf_entry *e = &f->entries[f->count];
    memset(e, 0, sizeof *e);
    ti->start = *pos;
    uint64_t n = 0;
    if (read_len(p, ctx, pos, "the name length", &n) != BORN_OK) return BORN_ERR_FORMAT;
    if (!gguf_name_ok(p->b + *pos, n))
        return born_error(BORN_ERR_FORMAT, "%s: %s at byte %" PRIu64 ": the name is %s", p->w, ctx,
                          ti->start, n == 0 ? "empty" : "not valid UTF-8 (or contains NUL)");
    e->name = malloc((size_t)n + 1);
    if (!e->name) return born_error(BORN_ERR_MEMORY, "%s: out of memory", p->w);
    memcpy(e->name, p->b + *pos, (size_t)n);
    e->name[n] = '\0';
    f->count++;
    *pos += n;
    snprintf(ctx, sizeof ctx, "tensor \"%.100s%s\" at byte %" PRIu64, e->name,
             n > 100 ? "..." : "", ti->start);
    if (!have(p, *pos, 4)) return truncated(p, ctx, *pos, 4, "the number of dimensions");
    uint32_t ndim = gguf_rd32(p->b + *pos);
    *pos += 4;
    if (ndim > GGUF_MAX_DIMS)
        return born_error(BORN_ERR_FORMAT, "%s: %s: %" PRIu32 " dimensions (GGUF allows at most "
                          "%d)", p->w, ctx, ndim, GGUF_MAX_DIMS);
    if (!have(p, *pos, 8 * (uint64_t)ndim))
        return truncated(p, ctx, *pos, 8 * (uint64_t)ndim, "the dimensions");
    int64_t ne[GGUF_MAX_DIMS] = {1, 1, 1, 1};
    for (uint32_t d = 0; d < ndim; d++) {
        uint64_t v = gguf_rd64(p->b + *pos + 8 * d);
        if (v > (uint64_t)INT64_MAX)
            return born_error(BORN_ERR_FORMAT, "%s: %s: ne[%" PRIu32 "] = %" PRIu64 " is negative "
                              "as ggml's int64", p->w, ctx, d, v);
        ne[d] = (int64_t)v;
    }
    *pos += 8 * (uint64_t)ndim;
    if (!have(p, *pos, 4)) return truncated(p, ctx, *pos, 4, "the ggml type");
    uint32_t type = gguf_rd32(p->b + *pos);
    const gguf_ggml_type *gt = gguf_ggml_type_info(type);
    if (!gt)
        return born_error(BORN_ERR_FORMAT, "%s: %s: unknown ggml type %" PRIu32 " (at byte %" PRIu64
                          ")", p->w, ctx, type, *pos);
    *pos += 4;
    e->ggml_type = (int)type;
    e->dtype = gt->dtype;
    e->dtype_name = gt->name;
    if (ne[0] % gt->block != 0)
        return born_error(BORN_ERR_FORMAT, "%s: %s: ne[0] = %" PRId64 " (the row length) is not a "
                          "multiple of %s's block size %" PRIu32, p->w, ctx, ne[0], gt->name,
                          gt->block);
    /* elements and bytes, as ggml checks them: the element count fits in int64 */
    uint64_t numel = 1, bytes = (uint64_t)ne[0] / gt->block;
    bool zero = false, overflow = bytes > UINT64_MAX / gt->bytes;
    bytes *= gt->bytes;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) {
        uint64_t s = (uint64_t)ne[d];
        if (s == 0) zero = true;
        if (s != 0 && numel > (uint64_t)INT64_MAX / s) overflow = true;
        numel *= s;
        if (d > 0) {
            if (s != 0 && bytes > UINT64_MAX / s) overflow = true;
            bytes *= s;
        }
    }
    if (overflow && !zero)
        return born_error(BORN_ERR_FORMAT, "%s: %s: the size of ne = [%" PRId64 ", %" PRId64 ", %"
                          PRId64 ", %" PRId64 "] overflows", p->w, ctx, ne[0], ne[1], ne[2], ne[3]);
    if (zero) bytes = 0;
    e->ndim = (int)ndim;
    for (uint32_t d = 0; d < ndim; d++) e->shape[d] = ne[ndim - 1 - d];
    if (!tf_shape_fits(e->ndim, e->shape)) {
        char sh[160];
        return born_error(BORN_ERR_UNSUPPORTED, "%s: %s: Born cannot represent the shape %s (too "
                          "many elements)", p->w, ctx, shape_str(e->ndim, e->shape, sh, sizeof sh));
    }
    e->nbytes = bytes;
    if (!have(p, *pos, 8)) return truncated(p, ctx, *pos, 8, "the data offset");
    ti->offset = gguf_rd64(p->b + *pos);
    if (ti->offset % m->alignment != 0)
        return born_error(BORN_ERR_FORMAT, "%s: %s: misaligned data offset %" PRIu64 " (at byte %"
                          PRIu64 "): not a multiple of the alignment %" PRIu32, p->w, ctx,
                          ti->offset, *pos, m->alignment);
    *pos += 8;
    return BORN_OK;
}

typedef struct name_pos {
    const char *name;
    int64_t index;
} name_pos;

static int cmp_name_pos(const void *a, const void *b) {
    const name_pos *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* Rejects a tensor name that appears twice, naming both infos' positions. */
static born_status check_names(gp *p, const tinfo *ti) {
    born_file *f = p->f;
    size_t n = (size_t)(f->count ? f->count : 1);
    name_pos *tmp = malloc(n * sizeof *tmp);
    if (!tmp) return born_error(BORN_ERR_MEMORY, "%s: out of memory", p->w);
    for (int64_t i = 0; i < f->count; i++) tmp[i] = (name_pos){f->entries[i].name, i};
    qsort(tmp, (size_t)f->count, sizeof *tmp, cmp_name_pos);
    born_status st = BORN_OK;
    for (int64_t i = 1; i < f->count && st == BORN_OK; i++)
        if (strcmp(tmp[i - 1].name, tmp[i].name) == 0)
            st = born_error(BORN_ERR_FORMAT, "%s: duplicate tensor name \"%.100s\": tensor %" PRId64
                            " at byte %" PRIu64 " and tensor %" PRId64 " at byte %" PRIu64, p->w,
                            tmp[i].name, tmp[i - 1].index, ti[tmp[i - 1].index].start,
                            tmp[i].index, ti[tmp[i].index].start);
    free(tmp);
    return st;
}

/* Grows an array of `size`-byte items to hold at least need items. */
static born_status grow(gp *p, void **items, int64_t *cap, int64_t need, size_t size) {
    if (need <= *cap) return BORN_OK;
    int64_t c = *cap ? *cap * 2 : 16;
    while (c < need) c *= 2;
    void *q = realloc(*items, (size_t)c * size);
    if (!q) return born_error(BORN_ERR_MEMORY, "%s: out of memory", p->w);
    *items = q;
    *cap = c;
    return BORN_OK;
}

born_status gguf_parse(born_file *f, const born_file_params *params) {
    (void)params;
    gp p = {f, f->map->base, f->map->len, f->where};
    const char *w = f->where;
    struct gguf_meta *m = calloc(1, sizeof *m);
    if (!m) return born_error(BORN_ERR_MEMORY, "%s: out of memory", w);
    f->gguf = m;
    if (p.len < 4 || memcmp(p.b, "GGUF", 4) != 0) {
        char magic[20] = "";
        for (size_t i = 0; i < 4 && i < p.len; i++)
            snprintf(magic + strlen(magic), sizeof magic - strlen(magic),
                     p.b[i] >= 0x20 && p.b[i] < 0x7f ? "%c" : "\\x%02x", p.b[i]);
        return born_error(BORN_ERR_FORMAT, "%s: bad magic \"%s\" at byte 0%s (a GGUF file starts "
                          "with \"GGUF\")", w, magic, p.len < 4 ? ": the file is too short" : "");
    }
    if (p.len < 8) return truncated(&p, "header", 4, 4, "the version");
    uint32_t version = gguf_rd32(p.b + 4);
    if (version == 1)
        return born_error(BORN_ERR_UNSUPPORTED, "%s: GGUF version 1 (at byte 4) is not supported: "
                          "it was replaced by version 2 in 2023 (convert the file again with a "
                          "current llama.cpp)", w);
    if (version != 0 && (version & 0xffff) == 0)
        return born_error(BORN_ERR_UNSUPPORTED, "%s: GGUF version 0x%08" PRIx32 " at byte 4 looks "
                          "byte-swapped: a big-endian file, which Born does not read", w, version);
    if (version != 2 && version != 3)
        return born_error(version > 3 ? BORN_ERR_UNSUPPORTED : BORN_ERR_FORMAT,
                          "%s: GGUF version %" PRIu32 " at byte 4 is not supported (Born reads "
                          "versions 2 and 3)", w, version);
    m->version = version;
    if (p.len < 24) return truncated(&p, "header", 8, 16, "the tensor and key-value counts");
    uint64_t ntensors = gguf_rd64(p.b + 8), nkv = gguf_rd64(p.b + 16);
    /* the least a pair (8 + 1 + 4 + 1 bytes) and an info (8 + 1 + 4 + 4 + 8) can take */
    uint64_t room = p.len - 24;
    if (nkv > room / 14)
        return born_error(BORN_ERR_FORMAT, "%s: the header declares %" PRIu64 " key-value pairs "
                          "(at byte 16), more than the %" PRIu64 " bytes after it can hold", w, nkv,
                          room);
    if (ntensors > (room - nkv * 14) / 25)
        return born_error(BORN_ERR_FORMAT, "%s: the header declares %" PRIu64 " tensors (at byte "
                          "8), more than the %" PRIu64 " bytes after it can hold", w, ntensors,
                          room);
    uint64_t pos = 24;
    int64_t kv_cap = 0, entry_cap = 0, ti_cap = 0;
    tinfo *ti = NULL;
    born_status st = BORN_OK;
    for (uint64_t i = 0; i < nkv && st == BORN_OK; i++) {
        st = grow(&p, (void **)&m->kvs, &kv_cap, m->nkv + 1, sizeof *m->kvs);
        if (st == BORN_OK) st = parse_kv(&p, m, (int64_t)i, &pos);
    }
    if (st == BORN_OK) st = index_keys(&p, m);
    if (st == BORN_OK) st = read_alignment(&p, m);
    for (uint64_t i = 0; i < ntensors && st == BORN_OK; i++) {
        st = grow(&p, (void **)&f->entries, &entry_cap, f->count + 1, sizeof *f->entries);
        if (st == BORN_OK) st = grow(&p, (void **)&ti, &ti_cap, f->count + 1, sizeof *ti);
        if (st == BORN_OK) st = parse_tensor(&p, m, (int64_t)i, &pos, &ti[f->count]);
    }
    if (st == BORN_OK) st = check_names(&p, ti);
    if (st != BORN_OK) {
        free(ti);
        return born_last_status() ? born_last_status() : st;
    }
    /* the data section starts at the next multiple of the alignment */
    uint64_t data = pos + (m->alignment - pos % m->alignment) % m->alignment;
    m->data_offset = data;
    for (int64_t i = 0; i < f->count && st == BORN_OK; i++) {
        tf_entry *e = &f->entries[i];
        uint64_t off = ti[i].offset;
        if (e->nbytes == 0) { /* nothing to read: anywhere will do (ggml seeks past the end) */
            e->offset = data <= p.len && off <= p.len - data ? data + off : p.len;
            continue;
        }
        if (data > p.len || off > p.len - data || e->nbytes > p.len - data - off)
            st = born_error(BORN_ERR_FORMAT, "%s: tensor \"%.100s\" at byte %" PRIu64 ": offset "
                            "past the end: its %" PRIu64 " bytes at data offset %" PRIu64 " (byte "
                            "%" PRIu64 " of the file) end past the end of the %" PRIu64 "-byte file",
                            w, e->name, ti[i].start, e->nbytes, off,
                            data + off < data ? UINT64_MAX : data + off, p.len);
        e->offset = data + off;
    }
    free(ti);
    if (st != BORN_OK) return st;
    if (tf_sort_by_offset(f) != BORN_OK) return BORN_ERR_MEMORY;
    /* no two tensors share a byte (empty tensors share none) */
    int64_t last = -1;
    uint64_t end = 0;
    for (int64_t i = 0; i < f->count; i++) {
        const tf_entry *e = &f->entries[i];
        if (e->nbytes == 0) continue;
        if (last >= 0 && e->offset < end) {
            const tf_entry *o = &f->entries[last];
            return born_error(BORN_ERR_FORMAT, "%s: tensors \"%.100s\" and \"%.100s\" overlap: "
                              "bytes [%" PRIu64 ", %" PRIu64 ") and [%" PRIu64 ", %" PRIu64 ") of "
                              "the data section", w, o->name, e->name, o->offset - data,
                              o->offset - data + o->nbytes, e->offset - data,
                              e->offset - data + e->nbytes);
        }
        if (e->offset + e->nbytes > end) {
            end = e->offset + e->nbytes;
            last = i;
        }
    }
    f->data_offset = data;
    f->data_length = end > data ? end - data : 0;
    return tf_index_names(f) != BORN_OK ? born_last_status() : BORN_OK;
}

void gguf_meta_free(struct gguf_meta *m) {
    if (!m) return;
    for (int64_t i = 0; i < m->nkv; i++) {
        free(m->kvs[i].key);
        free(m->kvs[i].str);
        free(m->kvs[i].skip);
    }
    free(m->kvs);
    free(m->by_key);
    free(m);
}
