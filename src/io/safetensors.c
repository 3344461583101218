/* safetensors (https://github.com/huggingface/safetensors): an 8-byte little-endian header
 * size N, N bytes of JSON header ({"__metadata__": {str: str}, "<name>": {"dtype": "F32",
 * "shape": [2, 3], "data_offsets": [begin, end]}, ...}), then the data, every tensor's bytes at
 * [begin, end) from the data's start. The reader applies every check of the reference
 * implementation (safetensors/src/tensor.rs, SafeTensors::read_metadata and Metadata::validate);
 * the writer reproduces its serialize_to_file byte for byte. docs/formats/safetensors.md. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/tensor_impl.h"
#include "io/tensor_file.h"

/* The reference's header size limit (MAX_HEADER_SIZE). */
#define ST_MAX_HEADER 100000000u

/* Every dtype of the reference, in the order of its Dtype enum (the writer sorts by it). */
static const struct st_dtype {
    const char *name;
    unsigned bits;
    born_dtype born; /* BORN_DTYPE_COUNT: none */
} st_dtypes[] = {
    {"BOOL", 8, BORN_BOOL},
    {"F4", 4, BORN_DTYPE_COUNT},
    {"F6_E2M3", 6, BORN_DTYPE_COUNT},
    {"F6_E3M2", 6, BORN_DTYPE_COUNT},
    {"U8", 8, BORN_U8},
    {"I8", 8, BORN_I8},
    {"F8_E5M2", 8, BORN_DTYPE_COUNT},
    {"F8_E4M3", 8, BORN_DTYPE_COUNT},
    {"F8_E8M0", 8, BORN_DTYPE_COUNT},
    {"F8_E4M3FNUZ", 8, BORN_DTYPE_COUNT},
    {"F8_E5M2FNUZ", 8, BORN_DTYPE_COUNT},
    {"I16", 16, BORN_I16},
    {"U16", 16, BORN_DTYPE_COUNT},
    {"F16", 16, BORN_F16},
    {"BF16", 16, BORN_BF16},
    {"I32", 32, BORN_I32},
    {"U32", 32, BORN_DTYPE_COUNT},
    {"F32", 32, BORN_F32},
    {"C64", 64, BORN_DTYPE_COUNT},
    {"F64", 64, BORN_F64},
    {"I64", 64, BORN_I64},
    {"U64", 64, BORN_DTYPE_COUNT},
};
enum { ST_NDTYPES = (int)(sizeof st_dtypes / sizeof st_dtypes[0]) };

static int st_rank(born_dtype d) {
    for (int i = 0; i < ST_NDTYPES; i++)
        if (st_dtypes[i].born == d) return i;
    return -1;
}

const char *safetensors_dtype_name(born_dtype dtype) {
    int r = st_rank(dtype);
    return r < 0 ? NULL : st_dtypes[r].name;
}

/* ------------------------------------------------------------------------------------------ */
/* Reading                                                                                      */

static born_status read_entry(born_file *f, const char *name, size_t name_len,
                              const born_json_value *t, tf_entry *e) {
    const char *w = f->where;
    if (strlen(name) != name_len)
        return born_error(BORN_ERR_FORMAT, "%s: header: a tensor name contains a NUL character", w);
    if (born_json_type_of(t) != BORN_JSON_OBJECT)
        return born_error(BORN_ERR_FORMAT, "%s: header: tensor \"%s\" is %s, not an object", w,
                          name, born_json_type_name(born_json_type_of(t)));
    const born_json_value *dtype = born_json_object_get(t, "dtype");
    const born_json_value *shape = born_json_object_get(t, "shape");
    const born_json_value *offsets = born_json_object_get(t, "data_offsets");
    const char *missing = !dtype ? "dtype" : !shape ? "shape" : !offsets ? "data_offsets" : NULL;
    if (missing)
        return born_error(BORN_ERR_FORMAT, "%s: header: tensor \"%s\" has no \"%s\"", w, name,
                          missing);
    e->name = strdup(name);
    if (!e->name) return born_error(BORN_ERR_MEMORY, "%s: out of memory", w);
    const char *dname = NULL;
    size_t dlen = 0;
    if (born_json_type_of(dtype) != BORN_JSON_STRING)
        return born_error(BORN_ERR_FORMAT, "%s: header: tensor \"%s\": dtype is %s, not a string",
                          w, name, born_json_type_name(born_json_type_of(dtype)));
    born_json_get_string(dtype, &dname, &dlen);
    int r = -1;
    for (int i = 0; i < ST_NDTYPES; i++)
        if (strlen(st_dtypes[i].name) == dlen && memcmp(st_dtypes[i].name, dname, dlen) == 0) r = i;
    if (r < 0)
        return born_error(BORN_ERR_FORMAT, "%s: header: tensor \"%s\": unknown dtype \"%.40s\"", w,
                          name, dname);
    e->dtype = st_dtypes[r].born;
    e->dtype_name = st_dtypes[r].name;
    if (born_json_type_of(shape) != BORN_JSON_ARRAY)
        return born_error(BORN_ERR_FORMAT, "%s: header: tensor \"%s\": shape is %s, not an array",
                          w, name, born_json_type_name(born_json_type_of(shape)));
    size_t ndim = born_json_array_length(shape);
    if (ndim > BORN_MAX_DIMS)
        return born_error(BORN_ERR_UNSUPPORTED, "%s: header: tensor \"%s\" has %zu dimensions "
                          "(Born supports at most %d)", w, name, ndim, BORN_MAX_DIMS);
    e->ndim = (int)ndim;
    uint64_t numel = 1;
    bool overflow = false;
    for (size_t d = 0; d < ndim; d++) {
        uint64_t s = 0;
        if (!tf_json_uint(born_json_array_get(shape, d), &s) || s > (uint64_t)INT64_MAX)
            return born_error(BORN_ERR_FORMAT, "%s: header: tensor \"%s\": shape[%zu] is not a "
                              "non-negative integer", w, name, d);
        e->shape[d] = (int64_t)s;
        if (s != 0 && numel > (uint64_t)INT64_MAX / s) overflow = true;
        numel *= s;
    }
    for (size_t d = 0; d < ndim && overflow; d++)
        if (e->shape[d] == 0) overflow = false, numel = 0;
    if (overflow || numel > UINT64_MAX / st_dtypes[r].bits)
        return born_error(BORN_ERR_FORMAT, "%s: header: tensor \"%s\": overflow computing the "
                          "byte size from the shape and dtype", w, name);
    if (!tf_shape_fits(e->ndim, e->shape)) {
        char sh[160];
        return born_error(BORN_ERR_UNSUPPORTED, "%s: header: tensor \"%s\": Born cannot "
                          "represent the shape %s (too many elements)", w, name,
                          shape_str(e->ndim, e->shape, sh, sizeof sh));
    }
    uint64_t nbits = numel * st_dtypes[r].bits;
    if (nbits % 8 != 0)
        return born_error(BORN_ERR_FORMAT, "%s: header: tensor \"%s\": %" PRIu64 " elements of %s "
                          "do not end on a byte boundary", w, name, numel, e->dtype_name);
    uint64_t begin = 0, end = 0;
    if (born_json_type_of(offsets) != BORN_JSON_ARRAY || born_json_array_length(offsets) != 2 ||
        !tf_json_uint(born_json_array_get(offsets, 0), &begin) ||
        !tf_json_uint(born_json_array_get(offsets, 1), &end))
        return born_error(BORN_ERR_FORMAT, "%s: header: tensor \"%s\": data_offsets is not an "
                          "array of two non-negative integers", w, name);
    if (end < begin)
        return born_error(BORN_ERR_FORMAT, "%s: header: invalid offset for tensor \"%s\": "
                          "data_offsets [%" PRIu64 ", %" PRIu64 ") end before they begin", w, name,
                          begin, end);
    if (end - begin != nbits / 8) {
        char sh[160];
        return born_error(BORN_ERR_FORMAT, "%s: header: invalid shape, data type, or offset for "
                          "tensor \"%s\": shape %s of %s needs %" PRIu64 " bytes, but data_offsets "
                          "[%" PRIu64 ", %" PRIu64 ") hold %" PRIu64, w, name,
                          shape_str(e->ndim, e->shape, sh, sizeof sh), e->dtype_name, nbits / 8,
                          begin, end, end - begin);
    }
    e->offset = begin; /* made absolute once the data's start is known to be in bounds */
    e->nbytes = end - begin;
    return BORN_OK;
}

born_status safetensors_parse(born_file *f, const born_file_params *params) {
    const uint8_t *b = f->map->base;
    size_t len = f->map->len;
    const char *w = f->where;
    uint64_t limit = params->max_header < ST_MAX_HEADER ? params->max_header : ST_MAX_HEADER;
    if (len < 8)
        return born_error(BORN_ERR_FORMAT, "%s: header too small: the file has %zu bytes, fewer "
                          "than the 8-byte header size", w, len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | b[i];
    if (n > limit)
        return born_error(BORN_ERR_FORMAT, "%s: header too large: the first 8 bytes declare a "
                          "%" PRIu64 "-byte header (the limit is %" PRIu64 ")", w, n, limit);
    if (n > len - 8)
        return born_error(BORN_ERR_FORMAT, "%s: invalid header length: truncated: a %" PRIu64
                          "-byte header does not fit in the %zu bytes after the header size", w, n,
                          len - 8);
    f->doc = tf_parse_header(w, b + 8, (size_t)n);
    if (!f->doc) return born_last_status() ? born_last_status() : BORN_ERR_FORMAT;
    const born_json_value *root = born_json_root(f->doc);
    if (born_json_type_of(root) != BORN_JSON_OBJECT)
        return born_error(BORN_ERR_FORMAT, "%s: header: the header is %s, not an object", w,
                          born_json_type_name(born_json_type_of(root)));
    size_t members = born_json_object_size(root);
    f->entries = calloc(members ? members : 1, sizeof *f->entries);
    if (!f->entries) return born_error(BORN_ERR_MEMORY, "%s: out of memory", w);
    for (size_t i = 0; i < members; i++) {
        const char *key = NULL;
        size_t key_len = 0;
        const born_json_value *v = born_json_object_member(root, i, &key, &key_len);
        if (key_len == 12 && memcmp(key, "__metadata__", 12) == 0) {
            if (born_json_type_of(v) != BORN_JSON_NULL &&
                tf_read_metadata(f, v, "__metadata__") != BORN_OK)
                return born_last_status();
            continue;
        }
        tf_entry *e = &f->entries[f->count++];
        if (read_entry(f, key, key_len, v, e) != BORN_OK) return born_last_status();
    }
    /* the data's layout: sorted by offsets, the tensors must cover the data exactly */
    if (tf_sort_by_offset(f) != BORN_OK) return BORN_ERR_MEMORY;
    uint64_t start = 0;
    for (int64_t i = 0; i < f->count; i++) {
        const tf_entry *e = &f->entries[i];
        if (e->offset != start)
            return born_error(BORN_ERR_FORMAT, "%s: header: invalid offset for tensor \"%s\": its "
                              "data_offsets begin at %" PRIu64 ", but %s at %" PRIu64 " (the "
                              "tensors must cover the data without gaps or overlaps)", w, e->name,
                              e->offset, i ? "the previous tensor ends" : "the data starts", start);
        start = e->offset + e->nbytes;
    }
    uint64_t data_start = 8 + n, room = len - data_start;
    if (start != room)
        return born_error(BORN_ERR_FORMAT, "%s: incomplete metadata, file not fully covered: the "
                          "tensors' data is %" PRIu64 " bytes, but %" PRIu64 " bytes follow the "
                          "header%s", w, start, room, start > room ? " (truncated)" : "");
    for (int64_t i = 0; i < f->count; i++) f->entries[i].offset += data_start;
    f->data_offset = data_start;
    f->data_length = room;
    return tf_index_names(f) != BORN_OK ? BORN_ERR_FORMAT : BORN_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Writing                                                                                      */

typedef struct st_item {
    const char *name;
    born_tensor *tensor;
    int rank;
    uint64_t nbytes;
} st_item;

static int cmp_item(const void *a, const void *b) {
    const st_item *x = a, *y = b;
    if (x->rank != y->rank) return x->rank > y->rank ? -1 : 1; /* descending alignment */
    return strcmp(x->name, y->name);
}

static born_status st_write(io_out *o, const char *where, const born_tensor_list *list,
                            const born_string_map *metadata) {
    size_t n = (size_t)list->count;
    st_item *items = malloc((n ? n : 1) * sizeof *items);
    if (!items) return born_error(BORN_ERR_MEMORY, "%s: out of memory", where);
    for (size_t i = 0; i < n; i++) {
        born_tensor *t = list->items[i].tensor;
        items[i] = (st_item){list->items[i].name, t, st_rank(born_tensor_dtype(t)),
                             (uint64_t)born_tensor_numel(t) *
                                 born_dtype_size(born_tensor_dtype(t))};
        if (items[i].rank < 0) {
            free(items);
            return born_error(BORN_ERR_DTYPE, "%s: tensor \"%s\": dtype %s has no safetensors "
                              "name", where, list->items[i].name,
                              born_dtype_name(born_tensor_dtype(t)));
        }
    }
    qsort(items, n, sizeof *items, cmp_item);
    born_json_writer_params jp = born_json_writer_default_params();
    jp.escape_line_separators = false; /* serde_json writes U+2028 as it is */
    born_json_writer *j = born_json_writer_new(&jp);
    if (!j) {
        free(items);
        return born_last_status();
    }
    born_json_write_begin_object(j);
    if (metadata) {
        born_json_write_key(j, "__metadata__");
        born_json_write_begin_object(j);
        for (int64_t i = 0; i < metadata->count; i++) {
            born_json_write_key(j, metadata->items[i].key);
            born_json_write_string(j, metadata->items[i].value);
        }
        born_json_write_end_object(j);
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < n; i++) {
        born_tensor *t = items[i].tensor;
        born_json_write_key(j, items[i].name);
        born_json_write_begin_object(j);
        born_json_write_key(j, "dtype");
        born_json_write_string(j, st_dtypes[items[i].rank].name);
        born_json_write_key(j, "shape");
        born_json_write_begin_array(j);
        for (int d = 0; d < born_tensor_ndim(t); d++)
            born_json_write_int64(j, born_tensor_shape(t)[d]);
        born_json_write_end_array(j);
        born_json_write_key(j, "data_offsets");
        born_json_write_begin_array(j);
        born_json_write_int64(j, (int64_t)offset);
        born_json_write_int64(j, (int64_t)(offset + items[i].nbytes));
        born_json_write_end_array(j);
        born_json_write_end_object(j);
        offset += items[i].nbytes;
    }
    born_json_write_end_object(j);
    size_t hlen = 0;
    const char *text = born_json_writer_text(j, &hlen);
    born_status st = BORN_OK;
    if (!text) {
        st = born_error(born_last_status() ? born_last_status() : BORN_ERR_ARGUMENT,
                        "%s: cannot write the header (a name or metadata string that is not "
                        "valid UTF-8?)", where);
    } else {
        size_t padded = (hlen + 7) / 8 * 8;
        if (padded > ST_MAX_HEADER) {
            st = born_error(BORN_ERR_ARGUMENT, "%s: the header would be %zu bytes, more than "
                            "the format's limit of %u", where, padded, ST_MAX_HEADER);
        } else {
            uint8_t size[8];
            for (int i = 0; i < 8; i++) size[i] = (uint8_t)((uint64_t)padded >> (8 * i));
            io_out_write(o, size, 8);
            io_out_write(o, text, hlen);
            static const char spaces[8] = "        ";
            io_out_write(o, spaces, padded - hlen);
            st = o->status;
        }
    }
    born_json_writer_free(j);
    for (size_t i = 0; i < n && st == BORN_OK; i++) {
        born_tensor *tmp = NULL;
        const void *data = NULL;
        size_t nbytes = 0;
        st = io_tensor_bytes(where, items[i].tensor, &tmp, &data, &nbytes);
        if (st == BORN_OK) st = io_out_write(o, data, nbytes);
        born_free(tmp);
    }
    free(items);
    return st;
}

born_status born_safetensors_save(const char *path, const born_tensor_list *list,
                                  const born_string_map *metadata) {
    if (!path || !list)
        return born_error(BORN_ERR_ARGUMENT, "born_safetensors_save: %s is NULL",
                          !path ? "path" : "list");
    size_t wl = strlen(path) + 32;
    char *where = malloc(wl);
    if (!where) return born_error(BORN_ERR_MEMORY, "born_safetensors_save: out of memory");
    snprintf(where, wl, "born_safetensors_save: %s", path);
    io_out o;
    born_status st = io_out_open_file(&o, where, path);
    if (st == BORN_OK) st = st_write(&o, where, list, metadata);
    if (st == BORN_OK)
        st = io_out_commit(&o, NULL, NULL);
    else
        io_out_abort(&o);
    free(where);
    return st;
}

born_status born_safetensors_encode(const born_tensor_list *list, const born_string_map *metadata,
                                    void **out, size_t *out_len) {
    static const char where[] = "born_safetensors_encode: buffer";
    if (!list || !out || !out_len)
        return born_error(BORN_ERR_ARGUMENT, "born_safetensors_encode: %s is NULL",
                          !list ? "list" : "output pointer");
    *out = NULL;
    *out_len = 0;
    io_out o;
    io_out_open_memory(&o, where);
    born_status st = st_write(&o, where, list, metadata);
    if (st == BORN_OK)
        st = io_out_commit(&o, out, out_len);
    else
        io_out_abort(&o);
    return st;
}
