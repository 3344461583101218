/* GGUF metadata and tensor-type accessors over a born_file that gguf_parse validated. Values
 * are read straight from the mapping; integer reads convert between widths when the value fits
 * (as llama.cpp's loader does for u32 / i32 keys). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/gguf_internal.h"

static const struct gguf_meta *meta_of(const born_file *f) {
    return f && f->format == BORN_FORMAT_GGUF ? f->gguf : NULL;
}

uint32_t born_gguf_version(const born_file *f) {
    const struct gguf_meta *m = meta_of(f);
    return m ? m->version : 0;
}

uint32_t born_gguf_alignment(const born_file *f) {
    const struct gguf_meta *m = meta_of(f);
    return m ? m->alignment : 0;
}

uint64_t born_gguf_data_offset(const born_file *f) {
    const struct gguf_meta *m = meta_of(f);
    return m ? m->data_offset : 0;
}

int64_t born_gguf_kv_count(const born_file *f) {
    const struct gguf_meta *m = meta_of(f);
    return m ? m->nkv : 0;
}

static born_status check_index(const char *fn, const born_file *f, int64_t index) {
    const struct gguf_meta *m = meta_of(f);
    if (!f) return born_error(BORN_ERR_ARGUMENT, "%s: file is NULL", fn);
    if (!m) return born_error(BORN_ERR_ARGUMENT, "%s: %s: not a GGUF file", fn, f->where);
    if (index < 0 || index >= m->nkv)
        return born_error(BORN_ERR_ARGUMENT, "%s: %s: key index %" PRId64 " out of range (the file "
                          "has %" PRId64 " keys)", fn, f->where, index, m->nkv);
    return BORN_OK;
}

const char *born_gguf_kv_key(const born_file *f, int64_t index) {
    if (check_index("born_gguf_kv_key", f, index) != BORN_OK) return NULL;
    return f->gguf->kvs[index].key;
}

static void make_value(const born_file *f, int64_t index, born_gguf_value *out) {
    const gguf_kv *kv = &f->gguf->kvs[index];
    memset(out, 0, sizeof *out);
    out->type = (born_gguf_type)kv->type;
    out->elem_type = kv->type == BORN_GGUF_ARRAY ? (born_gguf_type)kv->elem_type
                                                 : BORN_GGUF_TYPE_COUNT;
    out->count = kv->type == BORN_GGUF_ARRAY || kv->type == BORN_GGUF_STRING ? kv->count : 0;
    out->offset = kv->offset;
    out->file_ = f;
    out->kv_ = index;
    out->index_ = -1;
}

born_status born_gguf_kv_value(const born_file *f, int64_t index, born_gguf_value *out) {
    if (!out) return born_error(BORN_ERR_ARGUMENT, "born_gguf_kv_value: out is NULL");
    born_status st = check_index("born_gguf_kv_value", f, index);
    if (st == BORN_OK) make_value(f, index, out);
    return st;
}

int64_t born_gguf_find_key(const born_file *f, const char *key) {
    const struct gguf_meta *m = meta_of(f);
    if (!m || !key) return -1;
    int64_t lo = 0, hi = m->nkv;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->kvs[m->by_key[mid]].key, key);
        if (c == 0) return m->by_key[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static born_status lookup(const char *fn, const born_file *f, const char *key,
                          born_gguf_value *out) {
    if (!f || !key || !out)
        return born_error(BORN_ERR_ARGUMENT, "%s: %s is NULL", fn,
                          !f ? "file" : !key ? "key" : "output pointer");
    if (!meta_of(f)) return born_error(BORN_ERR_ARGUMENT, "%s: %s: not a GGUF file", fn, f->where);
    int64_t i = born_gguf_find_key(f, key);
    if (i < 0)
        return born_error(BORN_ERR_ARGUMENT, "%s: %s: no key \"%s\"", fn, f->where, key);
    make_value(f, i, out);
    return BORN_OK;
}

born_status born_gguf_get(const born_file *f, const char *key, born_gguf_value *out) {
    return lookup("born_gguf_get", f, key, out);
}

/* ------------------------------------------------------------------------------------------ */
/* Values                                                                                       */

/* "key \"k\"" or "key \"k\" element 5", for messages. */
static const char *value_ctx(const born_gguf_value *v, char *buf, size_t size) {
    const char *key = v->file_->gguf->kvs[v->kv_].key;
    if (v->index_ < 0)
        snprintf(buf, size, "key \"%.100s\"", key);
    else
        snprintf(buf, size, "key \"%.100s\" element %" PRId64, key, v->index_);
    return buf;
}

static born_status check_value(const char *fn, const born_gguf_value *v) {
    if (!v || !v->file_ || !meta_of(v->file_) || v->kv_ < 0 || v->kv_ >= v->file_->gguf->nkv)
        return born_error(BORN_ERR_ARGUMENT, "%s: %s", fn,
                          !v ? "value is NULL" : "not a value read from an open GGUF file");
    return BORN_OK;
}

static born_status type_error(const char *fn, const born_gguf_value *v, const char *want) {
    char ctx[160];
    return born_error(BORN_ERR_FORMAT, "%s: %s: %s is %s, not %s", fn, v->file_->where,
                      value_ctx(v, ctx, sizeof ctx), born_gguf_type_name(v->type), want);
}

static const uint8_t *value_bytes(const born_gguf_value *v) { return v->file_->map->base + v->offset; }

static bool is_integer_type(born_gguf_type t) {
    return t == BORN_GGUF_U8 || t == BORN_GGUF_I8 || t == BORN_GGUF_U16 || t == BORN_GGUF_I16 ||
           t == BORN_GGUF_U32 || t == BORN_GGUF_I32 || t == BORN_GGUF_U64 || t == BORN_GGUF_I64;
}

/* An integer value as a sign and a magnitude. */
static void integer_of(const born_gguf_value *v, bool *neg, uint64_t *mag) {
    const uint8_t *p = value_bytes(v);
    int64_t s = 0;
    uint64_t u = 0;
    bool is_signed = true;
    switch (v->type) {
    case BORN_GGUF_U8: u = p[0], is_signed = false; break;
    case BORN_GGUF_I8: s = (int8_t)p[0]; break;
    case BORN_GGUF_U16: u = (uint16_t)(p[0] | p[1] << 8), is_signed = false; break;
    case BORN_GGUF_I16: s = (int16_t)(uint16_t)(p[0] | p[1] << 8); break;
    case BORN_GGUF_U32: u = gguf_rd32(p), is_signed = false; break;
    case BORN_GGUF_I32: s = (int32_t)gguf_rd32(p); break;
    case BORN_GGUF_U64: u = gguf_rd64(p), is_signed = false; break;
    default: s = (int64_t)gguf_rd64(p); break;
    }
    if (!is_signed) {
        *neg = false;
        *mag = u;
    } else {
        *neg = s < 0;
        *mag = s < 0 ? (uint64_t)(-(s + 1)) + 1 : (uint64_t)s;
    }
}

/* Reads an integer that must lie in [-neg_limit, pos_limit] (magnitudes). */
static born_status read_integer(const char *fn, const born_gguf_value *v, const char *want,
                                uint64_t neg_limit, uint64_t pos_limit, bool *neg, uint64_t *mag) {
    if (check_value(fn, v) != BORN_OK) return BORN_ERR_ARGUMENT;
    if (!is_integer_type(v->type)) return type_error(fn, v, want);
    integer_of(v, neg, mag);
    if (*neg ? *mag > neg_limit : *mag > pos_limit) {
        char ctx[160];
        return born_error(BORN_ERR_FORMAT, "%s: %s: %s holds %s %s%" PRIu64 ", which does not fit "
                          "in %s", fn, v->file_->where, value_ctx(v, ctx, sizeof ctx),
                          born_gguf_type_name(v->type), *neg ? "-" : "", *mag, want);
    }
    return BORN_OK;
}

static int64_t signed_of(bool neg, uint64_t mag) {
    return neg ? -(int64_t)(mag - 1) - 1 : (int64_t)mag;
}

static born_status value_u32(const char *fn, const born_gguf_value *v, uint32_t *out) {
    bool neg;
    uint64_t mag;
    born_status st = read_integer(fn, v, "u32", 0, UINT32_MAX, &neg, &mag);
    if (st == BORN_OK) *out = (uint32_t)mag;
    return st;
}

static born_status value_i32(const char *fn, const born_gguf_value *v, int32_t *out) {
    bool neg;
    uint64_t mag;
    born_status st = read_integer(fn, v, "i32", (uint64_t)INT32_MAX + 1, INT32_MAX, &neg, &mag);
    if (st == BORN_OK) *out = (int32_t)signed_of(neg, mag);
    return st;
}

static born_status value_u64(const char *fn, const born_gguf_value *v, uint64_t *out) {
    bool neg;
    uint64_t mag;
    born_status st = read_integer(fn, v, "u64", 0, UINT64_MAX, &neg, &mag);
    if (st == BORN_OK) *out = mag;
    return st;
}

static born_status value_i64(const char *fn, const born_gguf_value *v, int64_t *out) {
    bool neg;
    uint64_t mag;
    born_status st = read_integer(fn, v, "i64", (uint64_t)INT64_MAX + 1, INT64_MAX, &neg, &mag);
    if (st == BORN_OK) *out = signed_of(neg, mag);
    return st;
}

static born_status value_f64(const char *fn, const born_gguf_value *v, double *out,
                             const char *want) {
    if (check_value(fn, v) != BORN_OK) return BORN_ERR_ARGUMENT;
    const uint8_t *p = value_bytes(v);
    if (v->type == BORN_GGUF_F32) {
        uint32_t bits = gguf_rd32(p);
        float x;
        memcpy(&x, &bits, 4);
        *out = x;
    } else if (v->type == BORN_GGUF_F64) {
        uint64_t bits = gguf_rd64(p);
        memcpy(out, &bits, 8);
    } else if (is_integer_type(v->type)) {
        bool neg;
        uint64_t mag;
        integer_of(v, &neg, &mag);
        *out = neg ? (double)signed_of(neg, mag) : (double)mag;
    } else {
        return type_error(fn, v, want);
    }
    return BORN_OK;
}

static born_status value_f32(const char *fn, const born_gguf_value *v, float *out) {
    double d = 0;
    born_status st = value_f64(fn, v, &d, "f32");
    if (st == BORN_OK) *out = (float)d;
    return st;
}

static born_status value_bool(const char *fn, const born_gguf_value *v, bool *out) {
    if (check_value(fn, v) != BORN_OK) return BORN_ERR_ARGUMENT;
    if (v->type != BORN_GGUF_BOOL) return type_error(fn, v, "bool");
    *out = value_bytes(v)[0] != 0;
    return BORN_OK;
}

static born_status value_string(const char *fn, const born_gguf_value *v, const char **str,
                                size_t *len) {
    if (check_value(fn, v) != BORN_OK) return BORN_ERR_ARGUMENT;
    if (v->type != BORN_GGUF_STRING) return type_error(fn, v, "string");
    *str = v->index_ < 0 ? v->file_->gguf->kvs[v->kv_].str : (const char *)value_bytes(v);
    if (len) *len = (size_t)v->count;
    return BORN_OK;
}

#define OUT_CHECK(fn, out)                                                                        \
    if (!(out)) return born_error(BORN_ERR_ARGUMENT, "%s: output pointer is NULL", fn)

born_status born_gguf_value_u32(const born_gguf_value *v, uint32_t *out) {
    OUT_CHECK("born_gguf_value_u32", out);
    return value_u32("born_gguf_value_u32", v, out);
}

born_status born_gguf_value_i32(const born_gguf_value *v, int32_t *out) {
    OUT_CHECK("born_gguf_value_i32", out);
    return value_i32("born_gguf_value_i32", v, out);
}

born_status born_gguf_value_u64(const born_gguf_value *v, uint64_t *out) {
    OUT_CHECK("born_gguf_value_u64", out);
    return value_u64("born_gguf_value_u64", v, out);
}

born_status born_gguf_value_i64(const born_gguf_value *v, int64_t *out) {
    OUT_CHECK("born_gguf_value_i64", out);
    return value_i64("born_gguf_value_i64", v, out);
}

born_status born_gguf_value_f32(const born_gguf_value *v, float *out) {
    OUT_CHECK("born_gguf_value_f32", out);
    return value_f32("born_gguf_value_f32", v, out);
}

born_status born_gguf_value_f64(const born_gguf_value *v, double *out) {
    OUT_CHECK("born_gguf_value_f64", out);
    return value_f64("born_gguf_value_f64", v, out, "f64");
}

born_status born_gguf_value_bool(const born_gguf_value *v, bool *out) {
    OUT_CHECK("born_gguf_value_bool", out);
    return value_bool("born_gguf_value_bool", v, out);
}

born_status born_gguf_value_string(const born_gguf_value *v, const char **str, size_t *len) {
    OUT_CHECK("born_gguf_value_string", str);
    return value_string("born_gguf_value_string", v, str, len);
}

static born_status array_at(const char *fn, const born_gguf_value *a, uint64_t index,
                            born_gguf_value *out) {
    if (check_value(fn, a) != BORN_OK) return BORN_ERR_ARGUMENT;
    if (a->type != BORN_GGUF_ARRAY) return type_error(fn, a, "an array");
    if (index >= a->count) {
        char ctx[160];
        return born_error(BORN_ERR_ARGUMENT, "%s: %s: index %" PRIu64 " out of range: %s has %"
                          PRIu64 " elements", fn, a->file_->where, index,
                          value_ctx(a, ctx, sizeof ctx), a->count);
    }
    const born_file *f = a->file_;
    uint32_t et = a->elem_type, es = gguf_value_size(et);
    uint64_t pos;
    if (es) {
        pos = a->offset + index * es;
    } else {
        const gguf_kv *kv = &f->gguf->kvs[a->kv_];
        uint64_t k = 0;
        pos = a->offset;
        if (a->index_ < 0 && kv->skip) {
            k = index / GGUF_SKIP_STRIDE * GGUF_SKIP_STRIDE;
            pos = kv->skip[index / GGUF_SKIP_STRIDE];
        }
        for (; k < index; k++) {
            uint64_t n = gguf_value_span(f, et, pos, 0);
            if (n == UINT64_MAX)
                return born_error(BORN_ERR_INTERNAL, "%s: %s: array element past the end", fn,
                                  f->where);
            pos += n;
        }
    }
    const uint8_t *p = f->map->base + pos;
    memset(out, 0, sizeof *out);
    out->type = (born_gguf_type)et;
    out->elem_type = BORN_GGUF_TYPE_COUNT;
    out->offset = pos;
    if (et == BORN_GGUF_STRING) {
        out->count = gguf_rd64(p);
        out->offset = pos + 8;
    } else if (et == BORN_GGUF_ARRAY) {
        out->elem_type = (born_gguf_type)gguf_rd32(p);
        out->count = gguf_rd64(p + 4);
        out->offset = pos + 12;
    }
    out->file_ = f;
    out->kv_ = a->kv_;
    out->index_ = (int64_t)index;
    return BORN_OK;
}

born_status born_gguf_array_at(const born_gguf_value *array, uint64_t index,
                               born_gguf_value *out) {
    OUT_CHECK("born_gguf_array_at", out);
    return array_at("born_gguf_array_at", array, index, out);
}

/* ------------------------------------------------------------------------------------------ */
/* By key                                                                                       */

#define GET_BY_KEY(suffix, type)                                                                  \
    born_status born_gguf_get_##suffix(const born_file *f, const char *key, type *out) {          \
        born_gguf_value v;                                                                        \
        if (lookup("born_gguf_get_" #suffix, f, key, &v) != BORN_OK) return born_last_status();   \
        OUT_CHECK("born_gguf_get_" #suffix, out);                                                 \
        return value_##suffix("born_gguf_get_" #suffix, &v, out);                                 \
    }

GET_BY_KEY(u32, uint32_t)
GET_BY_KEY(i32, int32_t)
GET_BY_KEY(u64, uint64_t)
GET_BY_KEY(i64, int64_t)
GET_BY_KEY(f32, float)
GET_BY_KEY(bool, bool)

born_status born_gguf_get_f64(const born_file *f, const char *key, double *out) {
    born_gguf_value v;
    if (lookup("born_gguf_get_f64", f, key, &v) != BORN_OK) return born_last_status();
    OUT_CHECK("born_gguf_get_f64", out);
    return value_f64("born_gguf_get_f64", &v, out, "f64");
}

born_status born_gguf_get_string(const born_file *f, const char *key, const char **str,
                                 size_t *len) {
    born_gguf_value v;
    if (lookup("born_gguf_get_string", f, key, &v) != BORN_OK) return born_last_status();
    OUT_CHECK("born_gguf_get_string", str);
    return value_string("born_gguf_get_string", &v, str, len);
}

born_status born_gguf_get_array(const born_file *f, const char *key, born_gguf_type *elem_type,
                                uint64_t *count) {
    born_gguf_value v;
    if (lookup("born_gguf_get_array", f, key, &v) != BORN_OK) return born_last_status();
    OUT_CHECK("born_gguf_get_array", count);
    if (v.type != BORN_GGUF_ARRAY) return type_error("born_gguf_get_array", &v, "an array");
    if (elem_type) *elem_type = v.elem_type;
    *count = v.count;
    return BORN_OK;
}

born_status born_gguf_get_array_i64(const born_file *f, const char *key, uint64_t index,
                                    int64_t *out) {
    static const char fn[] = "born_gguf_get_array_i64";
    born_gguf_value v, e;
    if (lookup(fn, f, key, &v) != BORN_OK || array_at(fn, &v, index, &e) != BORN_OK)
        return born_last_status();
    OUT_CHECK(fn, out);
    return value_i64(fn, &e, out);
}

born_status born_gguf_get_array_f64(const born_file *f, const char *key, uint64_t index,
                                    double *out) {
    static const char fn[] = "born_gguf_get_array_f64";
    born_gguf_value v, e;
    if (lookup(fn, f, key, &v) != BORN_OK || array_at(fn, &v, index, &e) != BORN_OK)
        return born_last_status();
    OUT_CHECK(fn, out);
    return value_f64(fn, &e, out, "f64");
}

born_status born_gguf_get_array_string(const born_file *f, const char *key, uint64_t index,
                                       const char **str, size_t *len) {
    static const char fn[] = "born_gguf_get_array_string";
    born_gguf_value v, e;
    if (lookup(fn, f, key, &v) != BORN_OK || array_at(fn, &v, index, &e) != BORN_OK)
        return born_last_status();
    OUT_CHECK(fn, str);
    return value_string(fn, &e, str, len);
}

/* ------------------------------------------------------------------------------------------ */
/* Tensors                                                                                      */

int born_gguf_tensor_type(const born_file *f, int64_t index) {
    if (!meta_of(f)) {
        born_error(BORN_ERR_ARGUMENT, "born_gguf_tensor_type: %s%s", f ? f->where : "file is NULL",
                   f ? ": not a GGUF file" : "");
        return -1;
    }
    if (index < 0 || index >= f->count) {
        born_error(BORN_ERR_ARGUMENT, "born_gguf_tensor_type: %s: index %" PRId64 " out of range "
                   "(the file has %" PRId64 " tensors)", f->where, index, f->count);
        return -1;
    }
    return f->entries[index].ggml_type;
}

born_file *born_gguf_open(const char *path, const born_file_params *params) {
    born_file_params p = params ? *params : born_file_default_params();
    p.format = BORN_FORMAT_GGUF;
    return born_file_open(path, &p);
}
