/* Writing GGUF version 3 (little-endian). Metadata values are encoded into small buffers as they
 * are set (a key set again replaces its value in place); tensors are described as they are
 * added. The first born_gguf_writer_write_tensor, or finish, writes the header, the metadata and
 * the tensor infos; the data then streams tensor by tensor, each at a multiple of the alignment
 * and padded after (as gguf-py and llama.cpp write it, so llama.cpp can read the padded data
 * section whole). Output goes through io_out: a temporary file renamed into place, or memory. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/tensor_impl.h"
#include "io/gguf_internal.h"

typedef struct gw_kv {
    char *key;
    io_buf val; /* the value type (u32) and the value */
} gw_kv;

typedef struct gw_tensor {
    char *name;
    born_dtype dtype;
    int ndim;
    int64_t shape[GGUF_MAX_DIMS];
    uint64_t nbytes;
    uint64_t offset;   /* from the data section's start */
    born_tensor *held; /* add_tensor's reference until written; NULL for a declared tensor */
} gw_tensor;

/* A set of names: open addressing over indices into an array of names. */
typedef struct name_set {
    int64_t *slots; /* index + 1, 0 empty */
    size_t cap;     /* a power of two, or 0 */
} name_set;

typedef struct frame {
    uint32_t elem_type;
    size_t count_pos; /* where the array's count sits in `building` */
    uint64_t count;
} frame;

struct born_gguf_writer {
    io_out out;
    char *where; /* "born_gguf_writer: <path>" */
    gw_kv *kvs;
    int64_t nkv, kv_cap;
    name_set kv_set;
    gw_tensor *tensors;
    int64_t nt, t_cap;
    name_set t_set;
    uint32_t alignment;
    /* an array being built with begin_array */
    int depth;
    frame stack[GGUF_MAX_DEPTH];
    char *building_key;
    io_buf building;
    bool header_written;
    int64_t next; /* the next tensor whose data goes out */
};

/* ------------------------------------------------------------------------------------------ */
/* Helpers                                                                                      */

static uint64_t hash_name(const char *s) {
    uint64_t h = 1469598103934665603u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211u;
    return h;
}

typedef const char *(*name_of_fn)(const born_gguf_writer *w, int64_t i);

static const char *kv_name(const born_gguf_writer *w, int64_t i) { return w->kvs[i].key; }
static const char *tensor_name(const born_gguf_writer *w, int64_t i) { return w->tensors[i].name; }

/* The index of name in the set, or -1. */
static int64_t set_find(const born_gguf_writer *w, const name_set *s, name_of_fn name_of,
                        const char *name) {
    if (!s->cap) return -1;
    for (size_t i = (size_t)hash_name(name) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (!s->slots[i]) return -1;
        if (strcmp(name_of(w, s->slots[i] - 1), name) == 0) return s->slots[i] - 1;
    }
}

static void set_put(const born_gguf_writer *w, name_set *s, name_of_fn name_of, int64_t index) {
    size_t i = (size_t)hash_name(name_of(w, index)) & (s->cap - 1);
    while (s->slots[i]) i = (i + 1) & (s->cap - 1);
    s->slots[i] = index + 1;
}

/* Adds index (whose name is new) to the set, growing it to stay at most half full. */
static born_status set_add(born_gguf_writer *w, name_set *s, name_of_fn name_of, int64_t index,
                           int64_t count) {
    if ((size_t)count * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        int64_t *slots = calloc(cap, sizeof *slots);
        if (!slots) return born_error(BORN_ERR_MEMORY, "%s: out of memory", w->where);
        free(s->slots);
        s->slots = slots;
        s->cap = cap;
        for (int64_t i = 0; i < index; i++) set_put(w, s, name_of, i);
    }
    set_put(w, s, name_of, index);
    return BORN_OK;
}

static born_status buf_put(born_gguf_writer *w, io_buf *b, const void *data, size_t len) {
    if (io_buf_reserve(b, b->len + len, w->where) != BORN_OK) return BORN_ERR_MEMORY;
    if (len) memcpy(b->data + b->len, data, len);
    b->len += len;
    return BORN_OK;
}

static void le32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void le64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static born_status buf_u32(born_gguf_writer *w, io_buf *b, uint32_t v) {
    uint8_t p[4];
    le32(p, v);
    return buf_put(w, b, p, 4);
}

static born_status buf_u64(born_gguf_writer *w, io_buf *b, uint64_t v) {
    uint8_t p[8];
    le64(p, v);
    return buf_put(w, b, p, 8);
}

static born_status check_writer(const char *fn, born_gguf_writer *w) {
    if (!w) return born_error(BORN_ERR_ARGUMENT, "%s: writer is NULL", fn);
    if (w->out.status != BORN_OK) return w->out.status;
    if (w->header_written)
        return born_error(BORN_ERR_ARGUMENT, "%s: %s: the header is already written (metadata and "
                          "tensors must all be added before the first write_tensor)", fn, w->where);
    return BORN_OK;
}

static born_status check_name(const char *fn, born_gguf_writer *w, const char *name,
                              const char *what) {
    if (!name) return born_error(BORN_ERR_ARGUMENT, "%s: %s: the %s is NULL", fn, w->where, what);
    if (!gguf_name_ok((const uint8_t *)name, strlen(name)))
        return born_error(BORN_ERR_ARGUMENT, "%s: %s: the %s \"%.100s\" is %s", fn, w->where, what,
                          name, name[0] ? "not valid UTF-8" : "empty");
    return BORN_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Opening                                                                                      */

static born_gguf_writer *writer_new(const char *name) {
    born_gguf_writer *w = calloc(1, sizeof *w);
    size_t n = strlen(name) + 32;
    char *where = malloc(n);
    if (!w || !where) {
        free(w);
        free(where);
        return born_error_null(BORN_ERR_MEMORY, "born_gguf_writer_open: out of memory");
    }
    snprintf(where, n, "born_gguf_writer: %s", name);
    w->where = where;
    w->alignment = GGUF_DEFAULT_ALIGNMENT;
    return w;
}

born_gguf_writer *born_gguf_writer_open(const char *path) {
    if (!path) return born_error_null(BORN_ERR_ARGUMENT, "born_gguf_writer_open: path is NULL");
    born_gguf_writer *w = writer_new(path);
    if (!w) return NULL;
    if (io_out_open_file(&w->out, w->where, path) != BORN_OK) {
        free(w->where);
        free(w);
        return NULL;
    }
    return w;
}

born_gguf_writer *born_gguf_writer_open_memory(void) {
    born_gguf_writer *w = writer_new("buffer");
    if (w) io_out_open_memory(&w->out, w->where);
    return w;
}

static void writer_free(born_gguf_writer *w) {
    for (int64_t i = 0; i < w->nkv; i++) {
        free(w->kvs[i].key);
        free(w->kvs[i].val.data);
    }
    for (int64_t i = 0; i < w->nt; i++) {
        free(w->tensors[i].name);
        if (w->tensors[i].held) tensor_release(w->tensors[i].held);
    }
    free(w->kvs);
    free(w->tensors);
    free(w->kv_set.slots);
    free(w->t_set.slots);
    free(w->building_key);
    free(w->building.data);
    free(w->where);
    free(w);
}

void born_gguf_writer_abort(born_gguf_writer *w) {
    if (!w) return;
    io_out_abort(&w->out);
    writer_free(w);
}

/* ------------------------------------------------------------------------------------------ */
/* Metadata                                                                                     */

/* Stores val (type and value, taken over) as key's value: in place when the key exists. */
static born_status commit(born_gguf_writer *w, const char *fn, const char *key, io_buf *val) {
    if (strcmp(key, "general.alignment") == 0) {
        uint32_t a = val->len == 8 ? gguf_rd32(val->data + 4) : 0;
        if (val->len != 8 || gguf_rd32(val->data) != BORN_GGUF_U32 || a == 0 || (a & (a - 1))) {
            free(val->data);
            *val = (io_buf){0};
            return born_error(BORN_ERR_ARGUMENT, "%s: %s: general.alignment must be a u32 power "
                              "of two", fn, w->where);
        }
        w->alignment = a;
    }
    int64_t i = set_find(w, &w->kv_set, kv_name, key);
    if (i >= 0) {
        free(w->kvs[i].val.data);
        w->kvs[i].val = *val;
        *val = (io_buf){0};
        return BORN_OK;
    }
    char *k = strdup(key);
    if (k && w->nkv == w->kv_cap) {
        int64_t cap = w->kv_cap ? w->kv_cap * 2 : 16;
        gw_kv *kvs = realloc(w->kvs, (size_t)cap * sizeof *kvs);
        if (kvs) {
            w->kvs = kvs;
            w->kv_cap = cap;
        }
    }
    if (!k || w->nkv == w->kv_cap) {
        free(k);
        free(val->data);
        *val = (io_buf){0};
        return born_error(BORN_ERR_MEMORY, "%s: %s: out of memory", fn, w->where);
    }
    w->kvs[w->nkv] = (gw_kv){k, *val};
    *val = (io_buf){0};
    if (set_add(w, &w->kv_set, kv_name, w->nkv, w->nkv + 1) != BORN_OK) {
        free(k);
        free(w->kvs[w->nkv].val.data);
        return BORN_ERR_MEMORY;
    }
    w->nkv++;
    return BORN_OK;
}

/* Checks that a value of `type` may go where key says: under a new key (no array open) or, with
 * a NULL key, into the open array (whose element type must be `type`). */
static born_status check_place(const char *fn, born_gguf_writer *w, const char *key,
                               uint32_t type) {
    born_status st = check_writer(fn, w);
    if (st != BORN_OK) return st;
    if (w->depth == 0) return check_name(fn, w, key, "key");
    if (key)
        return born_error(BORN_ERR_ARGUMENT, "%s: %s: key \"%.100s\" given while the array of "
                          "\"%.100s\" is open (pass NULL to append to it, or end it first)", fn,
                          w->where, key, w->building_key);
    uint32_t want = w->stack[w->depth - 1].elem_type;
    if (want != type)
        return born_error(BORN_ERR_ARGUMENT, "%s: %s: a %s value cannot go into the open array of "
                          "%s (key \"%.100s\")", fn, w->where,
                          born_gguf_type_name((born_gguf_type)type),
                          born_gguf_type_name((born_gguf_type)want), w->building_key);
    return BORN_OK;
}

/* Writes value bytes (whose type is `type`) under key or into the open array. */
static born_status put_value(born_gguf_writer *w, const char *fn, const char *key, uint32_t type,
                             const void *bytes, size_t len) {
    if (w->depth > 0) {
        if (buf_put(w, &w->building, bytes, len) != BORN_OK) return w->out.status = BORN_ERR_MEMORY;
        w->stack[w->depth - 1].count++;
        return BORN_OK;
    }
    io_buf val = {0};
    if (buf_u32(w, &val, type) != BORN_OK || buf_put(w, &val, bytes, len) != BORN_OK) {
        free(val.data);
        return BORN_ERR_MEMORY;
    }
    return commit(w, fn, key, &val);
}

static born_status set_scalar(born_gguf_writer *w, const char *fn, const char *key, uint32_t type,
                              uint64_t bits) {
    born_status st = check_place(fn, w, key, type);
    if (st != BORN_OK) return st;
    uint8_t p[8];
    le64(p, bits);
    return put_value(w, fn, key, type, p, gguf_value_size(type));
}

born_status born_gguf_writer_set_u8(born_gguf_writer *w, const char *key, uint8_t value) {
    return set_scalar(w, "born_gguf_writer_set_u8", key, BORN_GGUF_U8, value);
}

born_status born_gguf_writer_set_i8(born_gguf_writer *w, const char *key, int8_t value) {
    return set_scalar(w, "born_gguf_writer_set_i8", key, BORN_GGUF_I8, (uint8_t)value);
}

born_status born_gguf_writer_set_u16(born_gguf_writer *w, const char *key, uint16_t value) {
    return set_scalar(w, "born_gguf_writer_set_u16", key, BORN_GGUF_U16, value);
}

born_status born_gguf_writer_set_i16(born_gguf_writer *w, const char *key, int16_t value) {
    return set_scalar(w, "born_gguf_writer_set_i16", key, BORN_GGUF_I16, (uint16_t)value);
}

born_status born_gguf_writer_set_u32(born_gguf_writer *w, const char *key, uint32_t value) {
    return set_scalar(w, "born_gguf_writer_set_u32", key, BORN_GGUF_U32, value);
}

born_status born_gguf_writer_set_i32(born_gguf_writer *w, const char *key, int32_t value) {
    return set_scalar(w, "born_gguf_writer_set_i32", key, BORN_GGUF_I32, (uint32_t)value);
}

born_status born_gguf_writer_set_u64(born_gguf_writer *w, const char *key, uint64_t value) {
    return set_scalar(w, "born_gguf_writer_set_u64", key, BORN_GGUF_U64, value);
}

born_status born_gguf_writer_set_i64(born_gguf_writer *w, const char *key, int64_t value) {
    return set_scalar(w, "born_gguf_writer_set_i64", key, BORN_GGUF_I64, (uint64_t)value);
}

born_status born_gguf_writer_set_f32(born_gguf_writer *w, const char *key, float value) {
    uint32_t bits;
    memcpy(&bits, &value, 4);
    return set_scalar(w, "born_gguf_writer_set_f32", key, BORN_GGUF_F32, bits);
}

born_status born_gguf_writer_set_f64(born_gguf_writer *w, const char *key, double value) {
    uint64_t bits;
    memcpy(&bits, &value, 8);
    return set_scalar(w, "born_gguf_writer_set_f64", key, BORN_GGUF_F64, bits);
}

born_status born_gguf_writer_set_bool(born_gguf_writer *w, const char *key, bool value) {
    return set_scalar(w, "born_gguf_writer_set_bool", key, BORN_GGUF_BOOL, value ? 1 : 0);
}

born_status born_gguf_writer_set_string_n(born_gguf_writer *w, const char *key, const char *value,
                                          size_t len) {
    static const char fn[] = "born_gguf_writer_set_string";
    born_status st = check_place(fn, w, key, BORN_GGUF_STRING);
    if (st != BORN_OK) return st;
    if (!value && len)
        return born_error(BORN_ERR_ARGUMENT, "%s: %s: the string is NULL", fn, w->where);
    io_buf b = {0};
    if (buf_u64(w, &b, len) != BORN_OK || buf_put(w, &b, value, len) != BORN_OK) {
        free(b.data);
        return BORN_ERR_MEMORY;
    }
    st = put_value(w, fn, key, BORN_GGUF_STRING, b.data, b.len);
    free(b.data);
    return st;
}

born_status born_gguf_writer_set_string(born_gguf_writer *w, const char *key, const char *value) {
    if (!value)
        return born_error(BORN_ERR_ARGUMENT, "born_gguf_writer_set_string: the string is NULL");
    return born_gguf_writer_set_string_n(w, key, value, strlen(value));
}

/* Encodes an array (element type, count, elements) into b. */
static born_status encode_array(born_gguf_writer *w, io_buf *b, uint32_t et, const void *data,
                                const char *const *strs, const size_t *lens, uint64_t count) {
    if (buf_u32(w, b, et) != BORN_OK || buf_u64(w, b, count) != BORN_OK) return BORN_ERR_MEMORY;
    uint32_t es = gguf_value_size(et);
    if (et == BORN_GGUF_STRING) {
        for (uint64_t i = 0; i < count; i++) {
            size_t n = lens ? lens[i] : strlen(strs[i]);
            if (buf_u64(w, b, n) != BORN_OK || buf_put(w, b, strs[i], n) != BORN_OK)
                return BORN_ERR_MEMORY;
        }
        return BORN_OK;
    }
    if (count > SIZE_MAX / es || io_buf_reserve(b, b->len + (size_t)(count * es), w->where))
        return BORN_ERR_MEMORY;
    const uint8_t *src = data;
    for (uint64_t i = 0; i < count; i++) {
        uint8_t *p = b->data + b->len;
        const uint8_t *e = src + i * es;
        uint64_t v = 0;
        switch (es) { /* the element in host order, written little-endian */
        case 1: v = et == BORN_GGUF_BOOL ? (((const bool *)data)[i] ? 1 : 0) : e[0]; break;
        case 2: { uint16_t x; memcpy(&x, e, 2); v = x; break; }
        case 4: { uint32_t x; memcpy(&x, e, 4); v = x; break; }
        default: memcpy(&v, e, 8); break;
        }
        for (uint32_t k = 0; k < es; k++) p[k] = (uint8_t)(v >> (8 * k));
        b->len += es;
    }
    return BORN_OK;
}

static born_status set_array_impl(born_gguf_writer *w, const char *fn, const char *key,
                                  uint32_t et, const void *data, const char *const *strs,
                                  const size_t *lens, uint64_t count) {
    born_status st = check_place(fn, w, key, BORN_GGUF_ARRAY);
    if (st != BORN_OK) return st;
    if (et >= BORN_GGUF_TYPE_COUNT || et == BORN_GGUF_ARRAY)
        return born_error(BORN_ERR_ARGUMENT, "%s: %s: cannot write an array of %s this way (use "
                          "born_gguf_writer_begin_array)", fn, w->where,
                          born_gguf_type_name((born_gguf_type)et));
    if (count && (et == BORN_GGUF_STRING ? !strs : !data))
        return born_error(BORN_ERR_ARGUMENT, "%s: %s: the elements are NULL", fn, w->where);
    if (w->depth + 1 > GGUF_MAX_DEPTH)
        return born_error(BORN_ERR_ARGUMENT, "%s: %s: arrays nested deeper than %d levels", fn,
                          w->where, GGUF_MAX_DEPTH);
    for (uint64_t i = 0; strs && i < count; i++)
        if (!strs[i])
            return born_error(BORN_ERR_ARGUMENT, "%s: %s: string %" PRIu64 " is NULL", fn,
                              w->where, i);
    io_buf b = {0};
    if (encode_array(w, &b, et, data, strs, lens, count) != BORN_OK) {
        free(b.data);
        return born_last_status() ? born_last_status() : BORN_ERR_MEMORY;
    }
    st = put_value(w, fn, key, BORN_GGUF_ARRAY, b.data, b.len);
    free(b.data);
    return st;
}

born_status born_gguf_writer_set_array(born_gguf_writer *w, const char *key,
                                       born_gguf_type elem_type, const void *data,
                                       uint64_t count) {
    if (elem_type == BORN_GGUF_STRING)
        return born_error(BORN_ERR_ARGUMENT, "born_gguf_writer_set_array: use "
                          "born_gguf_writer_set_string_array for strings");
    return set_array_impl(w, "born_gguf_writer_set_array", key, (uint32_t)elem_type, data, NULL,
                          NULL, count);
}

born_status born_gguf_writer_set_string_array(born_gguf_writer *w, const char *key,
                                              const char *const *strs, const size_t *lens,
                                              uint64_t count) {
    return set_array_impl(w, "born_gguf_writer_set_string_array", key, BORN_GGUF_STRING, NULL,
                          strs, lens, count);
}

born_status born_gguf_writer_begin_array(born_gguf_writer *w, const char *key,
                                         born_gguf_type elem_type) {
    static const char fn[] = "born_gguf_writer_begin_array";
    born_status st = check_place(fn, w, key, BORN_GGUF_ARRAY);
    if (st != BORN_OK) return st;
    if ((unsigned)elem_type >= BORN_GGUF_TYPE_COUNT)
        return born_error(BORN_ERR_ARGUMENT, "%s: %s: invalid element type %d", fn, w->where,
                          (int)elem_type);
    if (w->depth >= GGUF_MAX_DEPTH)
        return born_error(BORN_ERR_ARGUMENT, "%s: %s: arrays nested deeper than %d levels", fn,
                          w->where, GGUF_MAX_DEPTH);
    if (w->depth == 0) {
        w->building.len = 0;
        free(w->building_key);
        w->building_key = strdup(key);
        if (!w->building_key || buf_u32(w, &w->building, BORN_GGUF_ARRAY) != BORN_OK)
            return w->out.status = born_error(BORN_ERR_MEMORY, "%s: %s: out of memory", fn,
                                              w->where);
    } else {
        w->stack[w->depth - 1].count++;
    }
    frame *fr = &w->stack[w->depth];
    fr->elem_type = (uint32_t)elem_type;
    fr->count = 0;
    if (buf_u32(w, &w->building, (uint32_t)elem_type) != BORN_OK) return w->out.status = BORN_ERR_MEMORY;
    fr->count_pos = w->building.len;
    if (buf_u64(w, &w->building, 0) != BORN_OK) return w->out.status = BORN_ERR_MEMORY;
    w->depth++;
    return BORN_OK;
}

born_status born_gguf_writer_end_array(born_gguf_writer *w) {
    static const char fn[] = "born_gguf_writer_end_array";
    born_status st = check_writer(fn, w);
    if (st != BORN_OK) return st;
    if (w->depth == 0)
        return born_error(BORN_ERR_ARGUMENT, "%s: %s: no array is open", fn, w->where);
    frame *fr = &w->stack[--w->depth];
    le64(w->building.data + fr->count_pos, fr->count);
    if (w->depth > 0) return BORN_OK;
    io_buf val = w->building;
    w->building = (io_buf){0};
    return commit(w, fn, w->building_key, &val);
}

/* The deepest nesting of arrays inside the value at offset (0 for a scalar or string). */
static int value_depth(const born_file *f, uint32_t type, uint64_t offset) {
    if (type != BORN_GGUF_ARRAY) return 0;
    const uint8_t *b = f->map->base;
    uint32_t et = gguf_rd32(b + offset);
    uint64_t count = gguf_rd64(b + offset + 4), pos = offset + 12;
    if (et != BORN_GGUF_ARRAY && et != BORN_GGUF_STRING) return 1;
    int deepest = 1;
    for (uint64_t i = 0; i < count; i++) {
        if (et == BORN_GGUF_ARRAY) {
            int d = 1 + value_depth(f, et, pos);
            if (d > deepest) deepest = d;
        }
        pos += gguf_value_span(f, et, pos, 0);
    }
    return deepest;
}

born_status born_gguf_writer_set_value(born_gguf_writer *w, const char *key,
                                       const born_gguf_value *value) {
    static const char fn[] = "born_gguf_writer_set_value";
    if (!value || !value->file_ || value->file_->format != BORN_FORMAT_GGUF || !value->file_->gguf)
        return born_error(BORN_ERR_ARGUMENT, "%s: not a value read from an open GGUF file", fn);
    born_status st = check_place(fn, w, key, value->type);
    if (st != BORN_OK) return st;
    const born_file *f = value->file_;
    uint64_t start = value->offset;
    if (value->type == BORN_GGUF_STRING) start -= 8;
    if (value->type == BORN_GGUF_ARRAY) start -= 12;
    uint64_t span = gguf_value_span(f, value->type, start, 0);
    if (span == UINT64_MAX)
        return born_error(BORN_ERR_ARGUMENT, "%s: %s: the value lies outside its file", fn,
                          w->where);
    if (w->depth + value_depth(f, value->type, start) > GGUF_MAX_DEPTH)
        return born_error(BORN_ERR_ARGUMENT, "%s: %s: arrays nested deeper than %d levels", fn,
                          w->where, GGUF_MAX_DEPTH);
    return put_value(w, fn, key, value->type, f->map->base + start, (size_t)span);
}

/* ------------------------------------------------------------------------------------------ */
/* Tensors                                                                                      */

static born_status add_info(born_gguf_writer *w, const char *fn, const char *name,
                            born_dtype dtype, int ndim, const int64_t *shape, born_tensor *held) {
    born_status st = check_writer(fn, w);
    if (st != BORN_OK) return st;
    if (w->depth > 0)
        return born_error(BORN_ERR_ARGUMENT, "%s: %s: the array of \"%.100s\" is still open", fn,
                          w->where, w->building_key);
    if (check_name(fn, w, name, "tensor name") != BORN_OK) return BORN_ERR_ARGUMENT;
    if (set_find(w, &w->t_set, tensor_name, name) >= 0)
        return born_error(BORN_ERR_ARGUMENT, "%s: %s: a tensor named \"%.100s\" was already added",
                          fn, w->where, name);
    if (born_ggml_type_of(dtype) < 0)
        return born_error(BORN_ERR_DTYPE, "%s: %s: tensor \"%.100s\": GGUF has no type for %s", fn,
                          w->where, name, born_dtype_name(dtype));
    if (ndim < 0 || ndim > GGUF_MAX_DIMS || (ndim > 0 && !shape))
        return born_error(BORN_ERR_SHAPE, "%s: %s: tensor \"%.100s\" has %d dimensions (GGUF allows "
                          "0 to %d)", fn, w->where, name, ndim, GGUF_MAX_DIMS);
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            return born_error(BORN_ERR_SHAPE, "%s: %s: tensor \"%.100s\": negative size", fn,
                              w->where, name);
        numel = shape[d] && numel > INT64_MAX / shape[d] ? -1 : numel * shape[d];
        if (numel < 0) break;
    }
    char sh[160];
    if (numel < 0 || !tf_shape_fits(ndim, shape))
        return born_error(BORN_ERR_SHAPE, "%s: %s: tensor \"%.100s\": the shape %s is too large",
                          fn, w->where, name, shape_str(ndim, shape, sh, sizeof sh));
    int64_t block = born_dtype_block_size(dtype);
    if (block > 1 && (ndim == 0 || shape[ndim - 1] % block != 0))
        return born_error(BORN_ERR_SHAPE, "%s: %s: tensor \"%.100s\": a %s tensor's last dimension "
                          "must be a multiple of %" PRId64 " (shape %s)", fn, w->where, name,
                          born_dtype_name(dtype), block, shape_str(ndim, shape, sh, sizeof sh));
    if (w->nt == w->t_cap) {
        int64_t cap = w->t_cap ? w->t_cap * 2 : 16;
        gw_tensor *t = realloc(w->tensors, (size_t)cap * sizeof *t);
        if (!t) return born_error(BORN_ERR_MEMORY, "%s: %s: out of memory", fn, w->where);
        w->tensors = t;
        w->t_cap = cap;
    }
    gw_tensor *t = &w->tensors[w->nt];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name) return born_error(BORN_ERR_MEMORY, "%s: %s: out of memory", fn, w->where);
    t->dtype = dtype;
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++) t->shape[d] = shape[d];
    t->nbytes = born_dtype_nbytes(dtype, numel);
    if (set_add(w, &w->t_set, tensor_name, w->nt, w->nt + 1) != BORN_OK) {
        free(t->name);
        return BORN_ERR_MEMORY;
    }
    t->held = held ? born_tensor_retain(held) : NULL;
    w->nt++;
    return BORN_OK;
}

born_status born_gguf_writer_add_tensor(born_gguf_writer *w, const char *name,
                                        const born_tensor *t) {
    static const char fn[] = "born_gguf_writer_add_tensor";
    if (!t) return born_error(BORN_ERR_ARGUMENT, "%s: the tensor is NULL", fn);
    return add_info(w, fn, name, born_tensor_dtype(t), born_tensor_ndim(t), born_tensor_shape(t),
                    (born_tensor *)t);
}

born_status born_gguf_writer_declare_tensor(born_gguf_writer *w, const char *name,
                                            born_dtype dtype, int ndim, const int64_t *shape) {
    return add_info(w, "born_gguf_writer_declare_tensor", name, dtype, ndim, shape, NULL);
}

static uint64_t pad_to(uint64_t x, uint32_t a) { return x + (a - x % a) % a; }

static born_status write_header(born_gguf_writer *w) {
    io_out *o = &w->out;
    uint8_t p[24];
    memcpy(p, "GGUF", 4);
    le32(p + 4, 3);
    le64(p + 8, (uint64_t)w->nt);
    le64(p + 16, (uint64_t)w->nkv);
    io_out_write(o, p, 24);
    for (int64_t i = 0; i < w->nkv && o->status == BORN_OK; i++) {
        size_t n = strlen(w->kvs[i].key);
        le64(p, n);
        io_out_write(o, p, 8);
        io_out_write(o, w->kvs[i].key, n);
        io_out_write(o, w->kvs[i].val.data, w->kvs[i].val.len);
    }
    uint64_t offset = 0;
    for (int64_t i = 0; i < w->nt && o->status == BORN_OK; i++) {
        gw_tensor *t = &w->tensors[i];
        size_t n = strlen(t->name);
        le64(p, n);
        io_out_write(o, p, 8);
        io_out_write(o, t->name, n);
        le32(p, (uint32_t)t->ndim);
        io_out_write(o, p, 4);
        for (int d = t->ndim - 1; d >= 0; d--) { /* ne[0] is Born's last dim */
            le64(p, (uint64_t)t->shape[d]);
            io_out_write(o, p, 8);
        }
        le32(p, (uint32_t)born_ggml_type_of(t->dtype));
        le64(p + 4, offset);
        io_out_write(o, p, 12);
        t->offset = offset;
        offset += pad_to(t->nbytes, w->alignment);
    }
    io_out_zeros(o, (size_t)(pad_to(o->pos, w->alignment) - o->pos));
    w->header_written = true;
    return o->status;
}

static born_status write_data(born_gguf_writer *w, const char *fn, gw_tensor *t,
                              const born_tensor *data_t) {
    born_tensor *tmp = NULL;
    const void *data = NULL;
    size_t nbytes = 0;
    born_status st = io_tensor_bytes(w->where, data_t, &tmp, &data, &nbytes);
    if (st == BORN_OK && nbytes != t->nbytes)
        st = born_error(BORN_ERR_INTERNAL, "%s: %s: tensor \"%.100s\" has %zu bytes, not %" PRIu64,
                        fn, w->where, t->name, nbytes, t->nbytes);
    if (st == BORN_OK) st = io_out_write(&w->out, data, nbytes);
    if (st == BORN_OK) st = io_out_zeros(&w->out, (size_t)(pad_to(nbytes, w->alignment) - nbytes));
    born_free(tmp);
    if (t->held) {
        tensor_release(t->held);
        t->held = NULL;
    }
    return st;
}

/* Writes the held tensors up to the next declared one (or the end). */
static born_status write_held(born_gguf_writer *w, const char *fn) {
    for (; w->next < w->nt && w->tensors[w->next].held && w->out.status == BORN_OK; w->next++)
        if (write_data(w, fn, &w->tensors[w->next], w->tensors[w->next].held) != BORN_OK)
            return born_last_status() ? born_last_status() : w->out.status;
    return w->out.status;
}

born_status born_gguf_writer_write_tensor(born_gguf_writer *w, const char *name,
                                          const born_tensor *t) {
    static const char fn[] = "born_gguf_writer_write_tensor";
    if (!w || !name || !t)
        return born_error(BORN_ERR_ARGUMENT, "%s: %s is NULL", fn,
                          !w ? "writer" : !name ? "name" : "tensor");
    if (w->out.status != BORN_OK) return w->out.status;
    if (w->depth > 0)
        return born_error(BORN_ERR_ARGUMENT, "%s: %s: the array of \"%.100s\" is still open", fn,
                          w->where, w->building_key);
    if (!w->header_written && write_header(w) != BORN_OK) return w->out.status;
    if (write_held(w, fn) != BORN_OK) return born_last_status();
    if (w->next == w->nt)
        return born_error(BORN_ERR_ARGUMENT, "%s: %s: tensor \"%.100s\": every declared tensor's "
                          "data is already written", fn, w->where, name);
    gw_tensor *d = &w->tensors[w->next];
    if (strcmp(d->name, name) != 0)
        return born_error(BORN_ERR_ARGUMENT, "%s: %s: the data of tensor \"%.100s\" is due next, "
                          "not that of \"%.100s\"", fn, w->where, d->name, name);
    bool same = born_tensor_dtype(t) == d->dtype && born_tensor_ndim(t) == d->ndim;
    for (int i = 0; same && i < d->ndim; i++) same = born_tensor_shape(t)[i] == d->shape[i];
    if (!same) {
        char a[160], b[160];
        return born_error(BORN_ERR_SHAPE, "%s: %s: tensor \"%.100s\" was declared %s %s but is %s",
                          fn, w->where, name, shape_str(d->ndim, d->shape, a, sizeof a),
                          born_dtype_name(d->dtype), born_tensor_describe(t, b, sizeof b));
    }
    born_status st = write_data(w, fn, d, t);
    w->next++;
    return st;
}

static born_status finish(born_gguf_writer *w, void **out, size_t *out_len) {
    static const char fn[] = "born_gguf_writer_finish";
    born_status st = w->out.status;
    if (st == BORN_OK && w->depth > 0)
        st = born_error(BORN_ERR_ARGUMENT, "%s: %s: the array of \"%.100s\" is still open", fn,
                        w->where, w->building_key);
    if (st == BORN_OK && !w->header_written) st = write_header(w);
    if (st == BORN_OK) st = write_held(w, fn);
    if (st == BORN_OK && w->next < w->nt)
        st = born_error(BORN_ERR_ARGUMENT, "%s: %s: tensor \"%.100s\" was declared, but its data "
                        "was never written", fn, w->where, w->tensors[w->next].name);
    if (st == BORN_OK)
        st = io_out_commit(&w->out, out, out_len);
    else
        io_out_abort(&w->out);
    writer_free(w);
    return st;
}

born_status born_gguf_writer_finish(born_gguf_writer *w) {
    if (!w) return born_error(BORN_ERR_ARGUMENT, "born_gguf_writer_finish: writer is NULL");
    if (w->out.memory) {
        born_gguf_writer_abort(w);
        return born_error(BORN_ERR_ARGUMENT, "born_gguf_writer_finish: a memory writer ends with "
                          "born_gguf_writer_finish_memory");
    }
    return finish(w, NULL, NULL);
}

born_status born_gguf_writer_finish_memory(born_gguf_writer *w, void **out, size_t *out_len) {
    if (!w || !out || !out_len) {
        born_gguf_writer_abort(w);
        return born_error(BORN_ERR_ARGUMENT, "born_gguf_writer_finish_memory: %s is NULL",
                          !w ? "writer" : "output pointer");
    }
    *out = NULL;
    *out_len = 0;
    if (!w->out.memory) {
        born_gguf_writer_abort(w);
        return born_error(BORN_ERR_ARGUMENT, "born_gguf_writer_finish_memory: not a memory writer");
    }
    return finish(w, out, out_len);
}
