/* The .born tensor file (docs/formats/born.md): a 128-byte prefix, the data section (every
 * tensor 64-byte aligned), then a JSON header; SHA-256 digests of the data section and of the
 * header sit in the prefix. The header comes last so that the writer can stream: it writes each
 * tensor as it is added and the header (and the prefix, patched in place) at the end. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/tensor_impl.h"
#include "io/json_internal.h"
#include "io/tensor_file.h"

#define BORN_PREFIX 128
#define BORN_ALIGN 64
#define BORN_FILE_VERSION 1
#define BORN_MAX_HEADER_WRITE 100000000u

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static void wr32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void wr64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Born's dtype names, as the header spells them. */
static born_dtype dtype_from_name(const char *s, size_t len) {
    for (int d = 0; d < BORN_DTYPE_COUNT; d++) {
        const char *n = born_dtype_name((born_dtype)d);
        if (strlen(n) == len && memcmp(n, s, len) == 0) return (born_dtype)d;
    }
    return BORN_DTYPE_COUNT;
}

/* Parses the header text, re-recording a parse error with the file's name in front. */
born_json *tf_parse_header(const char *where, const uint8_t *text, size_t len) {
    born_json_parse_params pp = born_json_parse_default_params();
    pp.max_size = len;
    pp.reject_duplicate_keys = true;
    bool clean = born_last_status() == BORN_OK;
    born_json *doc = born_json_parse((const char *)text, len, &pp);
    if (!doc && clean) {
        char msg[512];
        born_status st = born_last_status();
        snprintf(msg, sizeof msg, "%s", born_last_error());
        born_clear_error();
        born_error(st, "%s: header: %s", where, msg);
    }
    return doc;
}

/* A string member as a NUL-free C string; what names the thing in messages. */
static born_status get_cstring(const char *where, const char *what, const born_json_value *v,
                               const char **out) {
    const char *s = NULL;
    size_t len = 0;
    if (born_json_type_of(v) != BORN_JSON_STRING)
        return born_error(BORN_ERR_FORMAT, "%s: header: %s is %s, not a string", where, what,
                          born_json_type_name(born_json_type_of(v)));
    born_json_get_string(v, &s, &len);
    if (strlen(s) != len)
        return born_error(BORN_ERR_FORMAT, "%s: header: %s contains a NUL character", where, what);
    *out = s;
    return BORN_OK;
}

/* Reads the "metadata" object into f->metadata. */
born_status tf_read_metadata(born_file *f, const born_json_value *obj, const char *what) {
    if (born_json_type_of(obj) != BORN_JSON_OBJECT)
        return born_error(BORN_ERR_FORMAT, "%s: header: %s is %s, not an object", f->where, what,
                          born_json_type_name(born_json_type_of(obj)));
    size_t n = born_json_object_size(obj);
    for (size_t i = 0; i < n; i++) {
        const char *key = NULL, *value = NULL;
        size_t key_len = 0;
        const born_json_value *v = born_json_object_member(obj, i, &key, &key_len);
        char label[160];
        snprintf(label, sizeof label, "%s key %zu (\"%.60s\")", what, i, key);
        if (strlen(key) != key_len)
            return born_error(BORN_ERR_FORMAT, "%s: header: %s contains a NUL character",
                              f->where, label);
        if (get_cstring(f->where, label, v, &value) != BORN_OK) return BORN_ERR_FORMAT;
        if (tf_map_append(&f->metadata, key, value) != BORN_OK) return BORN_ERR_MEMORY;
    }
    return BORN_OK;
}

/* Fills entry e from the header's description of tensor i. */
static born_status read_tensor(born_file *f, size_t i, const born_json_value *t, tf_entry *e) {
    const char *w = f->where;
    if (born_json_type_of(t) != BORN_JSON_OBJECT)
        return born_error(BORN_ERR_FORMAT, "%s: header: tensors[%zu] is %s, not an object", w, i,
                          born_json_type_name(born_json_type_of(t)));
    static const char *const keys[] = {"name", "dtype", "shape", "offset", "nbytes"};
    const born_json_value *vals[5] = {0};
    size_t n = born_json_object_size(t);
    for (size_t k = 0; k < n; k++) {
        const char *key = NULL;
        size_t key_len = 0;
        const born_json_value *v = born_json_object_member(t, k, &key, &key_len);
        int which = -1;
        for (int j = 0; j < 5; j++)
            if (strlen(keys[j]) == key_len && memcmp(keys[j], key, key_len) == 0) which = j;
        if (which < 0)
            return born_error(BORN_ERR_FORMAT, "%s: header: tensors[%zu] has an unknown key "
                              "\"%.60s\"", w, i, key);
        vals[which] = v;
    }
    for (int j = 0; j < 5; j++)
        if (!vals[j])
            return born_error(BORN_ERR_FORMAT, "%s: header: tensors[%zu] has no \"%s\"", w, i,
                              keys[j]);
    char label[64];
    snprintf(label, sizeof label, "tensors[%zu].name", i);
    const char *name = NULL;
    if (get_cstring(w, label, vals[0], &name) != BORN_OK) return BORN_ERR_FORMAT;
    if (!name[0])
        return born_error(BORN_ERR_FORMAT, "%s: header: tensors[%zu] has an empty name", w, i);
    e->name = strdup(name);
    if (!e->name) return born_error(BORN_ERR_MEMORY, "%s: out of memory", w);

    const char *dname = NULL;
    size_t dlen = 0;
    if (born_json_type_of(vals[1]) != BORN_JSON_STRING)
        return born_error(BORN_ERR_FORMAT, "%s: header: tensor \"%s\": dtype is %s, not a string",
                          w, name, born_json_type_name(born_json_type_of(vals[1])));
    born_json_get_string(vals[1], &dname, &dlen);
    e->dtype = dtype_from_name(dname, dlen);
    if (e->dtype == BORN_DTYPE_COUNT)
        return born_error(BORN_ERR_FORMAT, "%s: header: tensor \"%s\": unknown dtype \"%.40s\" "
                          "(known: f32 f64 f16 bf16 i8 i16 i32 i64 u8 bool)", w, name, dname);
    e->dtype_name = born_dtype_name(e->dtype);

    if (born_json_type_of(vals[2]) != BORN_JSON_ARRAY)
        return born_error(BORN_ERR_FORMAT, "%s: header: tensor \"%s\": shape is %s, not an array",
                          w, name, born_json_type_name(born_json_type_of(vals[2])));
    size_t ndim = born_json_array_length(vals[2]);
    if (ndim > BORN_MAX_DIMS)
        return born_error(BORN_ERR_FORMAT, "%s: header: tensor \"%s\": %zu dimensions (at most "
                          "%d)", w, name, ndim, BORN_MAX_DIMS);
    e->ndim = (int)ndim;
    /* quantized rows are counted in blocks: bytes = numel / block * block bytes */
    uint64_t block = (uint64_t)born_dtype_block_size(e->dtype);
    uint64_t item = born_dtype_block_bytes(e->dtype), bytes = item;
    bool overflow = false;
    for (size_t d = 0; d < ndim; d++) {
        uint64_t s = 0;
        if (!tf_json_uint(born_json_array_get(vals[2], d), &s) || s > (uint64_t)INT64_MAX)
            return born_error(BORN_ERR_FORMAT, "%s: header: tensor \"%s\": shape[%zu] is not a "
                              "non-negative integer", w, name, d);
        e->shape[d] = (int64_t)s;
        if (s != 0 && bytes > (uint64_t)INT64_MAX / s) overflow = true;
        bytes *= s;
    }
    for (size_t d = 0; d < ndim && overflow; d++)
        if (e->shape[d] == 0) overflow = false, bytes = 0;
    if (block > 1) {
        if (ndim == 0 || (uint64_t)e->shape[ndim - 1] % block != 0)
            return born_error(BORN_ERR_FORMAT, "%s: header: tensor \"%s\": a %s tensor's last "
                              "dimension must be a multiple of %llu", w, name,
                              born_dtype_name(e->dtype), (unsigned long long)block);
        bytes /= block;
    }
    if (overflow || !tf_shape_fits(e->ndim, e->shape))
        return born_error(BORN_ERR_FORMAT, "%s: header: tensor \"%s\": the shape's size "
                          "overflows", w, name);
    uint64_t off = 0, nbytes = 0;
    if (!tf_json_uint(vals[3], &off))
        return born_error(BORN_ERR_FORMAT, "%s: header: tensor \"%s\": offset is not a "
                          "non-negative integer", w, name);
    if (!tf_json_uint(vals[4], &nbytes))
        return born_error(BORN_ERR_FORMAT, "%s: header: tensor \"%s\": nbytes is not a "
                          "non-negative integer", w, name);
    if (nbytes != bytes) {
        char sh[160];
        return born_error(BORN_ERR_FORMAT, "%s: header: tensor \"%s\": shape %s of %s needs %" PRIu64
                          " bytes, but nbytes is %" PRIu64, w, name,
                          shape_str(e->ndim, e->shape, sh, sizeof sh), e->dtype_name, bytes, nbytes);
    }
    if (off % BORN_ALIGN != 0)
        return born_error(BORN_ERR_FORMAT, "%s: header: tensor \"%s\": misaligned offset %" PRIu64
                          " (tensors start at multiples of %d bytes)", w, name, off, BORN_ALIGN);
    if (off > f->data_length || nbytes > f->data_length - off)
        return born_error(BORN_ERR_FORMAT, "%s: header: tensor \"%s\": offset past the end: "
                          "offset %" PRIu64 " + nbytes %" PRIu64 " exceeds the %" PRIu64 "-byte "
                          "data section", w, name, off, nbytes, f->data_length);
    e->offset = f->data_offset + off;
    e->nbytes = nbytes;
    return BORN_OK;
}

born_status born_format_parse(born_file *f, const born_file_params *params) {
    const uint8_t *b = f->map->base;
    size_t len = f->map->len;
    const char *w = f->where;
    if (len > 0 && memcmp(b, "BORN", len < 4 ? len : 4) != 0)
        return born_error(BORN_ERR_FORMAT, "%s: byte 0: bad magic: not a .born file (one starts "
                          "with \"BORN\")", w);
    if (len < BORN_PREFIX)
        return born_error(BORN_ERR_FORMAT, "%s: truncated: the file has %zu bytes, fewer than the "
                          "%d-byte prefix", w, len, BORN_PREFIX);
    uint32_t version = rd32(b + 4);
    if (version != BORN_FILE_VERSION)
        return born_error(BORN_ERR_UNSUPPORTED, "%s: byte 4: format version %" PRIu32 " (Born "
                          "reads version %d)", w, version, BORN_FILE_VERSION);
    for (int i = 88; i < BORN_PREFIX; i++)
        if (b[i] != 0)
            return born_error(BORN_ERR_FORMAT, "%s: byte %d: the reserved prefix bytes 88-127 "
                              "must be zero", w, i);
    uint64_t data_length = rd64(b + 8), header_length = rd64(b + 16);
    if (data_length % BORN_ALIGN != 0)
        return born_error(BORN_ERR_FORMAT, "%s: byte 8: the data section's length %" PRIu64
                          " is not a multiple of %d", w, data_length, BORN_ALIGN);
    if (header_length > params->max_header)
        return born_error(BORN_ERR_FORMAT, "%s: byte 16: the header length %" PRIu64 " exceeds "
                          "the limit of %" PRIu64 " bytes", w, header_length, params->max_header);
    if (header_length == 0)
        return born_error(BORN_ERR_FORMAT, "%s: byte 16: the header length is 0", w);
    uint64_t room = len - BORN_PREFIX;
    if (data_length > room || header_length > room - data_length)
        return born_error(BORN_ERR_FORMAT, "%s: truncated: the prefix declares %s (%" PRIu64
                          " bytes of data and a %" PRIu64 "-byte header after the %d-byte prefix) "
                          "but the file has %zu bytes", w,
                          data_length > room ? "more data than the file holds" : "a header past "
                          "the end of the file", data_length, header_length, BORN_PREFIX, len);
    uint64_t expected = BORN_PREFIX + data_length + header_length;
    if (expected != len)
        return born_error(BORN_ERR_FORMAT, "%s: %" PRIu64 " unexpected bytes after the header (the "
                          "prefix declares a %" PRIu64 "-byte file)", w, len - expected, expected);
    f->data_offset = BORN_PREFIX;
    f->data_length = data_length;
    const uint8_t *header = b + BORN_PREFIX + data_length;
    uint8_t digest[32];
    born_sha256(header, (size_t)header_length, digest);
    if (memcmp(digest, b + 56, 32) != 0)
        return born_error(BORN_ERR_FORMAT, "%s: header checksum mismatch: the SHA-256 of the %"
                          PRIu64 "-byte header at byte %" PRIu64 " differs from the one in the "
                          "prefix (the header is damaged)", w, header_length,
                          (uint64_t)BORN_PREFIX + data_length);
    memcpy(f->data_sha256, b + 24, 32);
    f->has_checksum = true;

    f->doc = tf_parse_header(w, header, (size_t)header_length);
    if (!f->doc) return born_last_status() ? born_last_status() : BORN_ERR_FORMAT;
    const born_json_value *root = born_json_root(f->doc);
    if (born_json_type_of(root) != BORN_JSON_OBJECT)
        return born_error(BORN_ERR_FORMAT, "%s: header: the header is %s, not an object", w,
                          born_json_type_name(born_json_type_of(root)));
    const born_json_value *tensors = NULL, *metadata = NULL, *config = NULL;
    size_t nmembers = born_json_object_size(root);
    for (size_t i = 0; i < nmembers; i++) {
        const char *key = NULL;
        size_t key_len = 0;
        const born_json_value *v = born_json_object_member(root, i, &key, &key_len);
        if (key_len == 7 && memcmp(key, "tensors", 7) == 0)
            tensors = v;
        else if (key_len == 8 && memcmp(key, "metadata", 8) == 0)
            metadata = v;
        else if (key_len == 6 && memcmp(key, "config", 6) == 0)
            config = v;
        else
            return born_error(BORN_ERR_FORMAT, "%s: header: unknown key \"%.60s\" (a version 1 "
                              "header has \"tensors\", \"metadata\" and \"config\")", w, key);
    }
    if (!tensors)
        return born_error(BORN_ERR_FORMAT, "%s: header: no \"tensors\" array", w);
    if (born_json_type_of(tensors) != BORN_JSON_ARRAY)
        return born_error(BORN_ERR_FORMAT, "%s: header: \"tensors\" is %s, not an array", w,
                          born_json_type_name(born_json_type_of(tensors)));
    if (metadata && tf_read_metadata(f, metadata, "metadata") != BORN_OK) return BORN_ERR_FORMAT;
    if (config) {
        if (born_json_type_of(config) != BORN_JSON_OBJECT)
            return born_error(BORN_ERR_FORMAT, "%s: header: \"config\" is %s, not an object", w,
                              born_json_type_name(born_json_type_of(config)));
        f->config = config;
    }
    size_t n = born_json_array_length(tensors);
    f->entries = calloc(n ? n : 1, sizeof *f->entries);
    if (!f->entries) return born_error(BORN_ERR_MEMORY, "%s: out of memory", w);
    for (size_t i = 0; i < n; i++) {
        f->count = (int64_t)i + 1; /* so that close frees the name */
        if (read_tensor(f, i, born_json_array_get(tensors, i), &f->entries[i]) != BORN_OK)
            return born_last_status() ? born_last_status() : BORN_ERR_FORMAT;
    }
    f->count = (int64_t)n;
    if (tf_sort_by_offset(f) != BORN_OK) return BORN_ERR_MEMORY;
    /* no two tensors may share a byte (empty tensors occupy none) */
    int64_t prev = -1;
    for (int64_t i = 0; i < f->count; i++) {
        const tf_entry *e = &f->entries[i];
        if (e->nbytes == 0) continue;
        if (prev >= 0) {
            const tf_entry *p = &f->entries[prev];
            if (p->offset + p->nbytes > e->offset)
                return born_error(BORN_ERR_FORMAT, "%s: header: overlapping tensors: \"%s\" (data "
                                  "bytes [%" PRIu64 ", %" PRIu64 ")) and \"%s\" ([%" PRIu64 ", %"
                                  PRIu64 "))", w, p->name, p->offset - f->data_offset,
                                  p->offset - f->data_offset + p->nbytes, e->name,
                                  e->offset - f->data_offset,
                                  e->offset - f->data_offset + e->nbytes);
        }
        prev = i;
    }
    if (tf_index_names(f) != BORN_OK) return BORN_ERR_FORMAT;
    bool verify = params->verify == BORN_CHECKSUM_ALWAYS ||
                  (params->verify == BORN_CHECKSUM_AUTO && data_length <= params->verify_limit);
    if (verify && born_file_verify(f) != BORN_OK) return BORN_ERR_FORMAT;
    return BORN_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* The writer                                                                                   */

typedef struct w_entry {
    char *name;
    born_dtype dtype;
    int ndim;
    int64_t shape[BORN_MAX_DIMS];
    uint64_t offset, nbytes; /* offset within the data section */
} w_entry;

struct born_file_writer {
    io_out out;
    char *where;
    w_entry *entries;
    int64_t count, capacity;
    int64_t *slots; /* open-addressing set of entry index + 1, keyed by name */
    int64_t nslots;
    born_string_map metadata;
    born_json *config;
    born_sha256_ctx sha;
    uint64_t data_len;
};

static uint64_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211u;
    return h;
}

/* The slot holding name, or the empty slot where it would go. */
static int64_t find_slot(const born_file_writer *w, const char *name) {
    int64_t mask = w->nslots - 1, i = (int64_t)(name_hash(name) & (uint64_t)mask);
    while (w->slots[i] && strcmp(w->entries[w->slots[i] - 1].name, name) != 0) i = (i + 1) & mask;
    return i;
}

static bool grow_slots(born_file_writer *w) {
    int64_t n = w->nslots ? w->nslots * 2 : 64;
    int64_t *slots = calloc((size_t)n, sizeof *slots), *old = w->slots;
    if (!slots) return false;
    w->slots = slots;
    w->nslots = n;
    for (int64_t i = 0; i < w->count; i++) w->slots[find_slot(w, w->entries[i].name)] = i + 1;
    free(old);
    return true;
}

static bool valid_utf8(const char *s) {
    size_t len = strlen(s);
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int n = json_utf8_decode((const unsigned char *)s + i, len - i, &cp);
        if (n == 0) return false;
        i += (size_t)n;
    }
    return true;
}

static born_file_writer *writer_new(const char *fn, const char *name) {
    born_file_writer *w = calloc(1, sizeof *w);
    char *where = w ? malloc(strlen(fn) + strlen(name) + 3) : NULL;
    if (!w || !where) {
        free(w);
        return born_error_null(BORN_ERR_MEMORY, "%s: out of memory", fn);
    }
    sprintf(where, "%s: %s", fn, name);
    w->where = where;
    born_sha256_init(&w->sha);
    return w;
}

static void writer_free(born_file_writer *w) {
    for (int64_t i = 0; i < w->count; i++) free(w->entries[i].name);
    free(w->entries);
    free(w->slots);
    tf_map_clear(&w->metadata);
    born_json_free(w->config);
    free(w->where);
    free(w);
}

static born_status writer_start(born_file_writer *w) {
    static const uint8_t blank[BORN_PREFIX];
    return io_out_write(&w->out, blank, sizeof blank); /* patched by finish */
}

born_file_writer *born_file_writer_open(const char *path) {
    if (!path) return born_error_null(BORN_ERR_ARGUMENT, "born_file_writer_open: path is NULL");
    born_file_writer *w = writer_new("born_file_writer", path);
    if (!w) return NULL;
    if (io_out_open_file(&w->out, w->where, path) != BORN_OK || writer_start(w) != BORN_OK) {
        io_out_abort(&w->out);
        writer_free(w);
        return NULL;
    }
    return w;
}

born_status born_file_writer_add(born_file_writer *w, const char *name, const born_tensor *t) {
    if (!w || !name || !t)
        return born_error(BORN_ERR_ARGUMENT, "born_file_writer_add: %s is NULL",
                          !w ? "writer" : !name ? "name" : "tensor");
    if (w->out.status != BORN_OK)
        return born_error(w->out.status, "%s: an earlier write failed", w->where);
    if (!name[0]) return born_error(BORN_ERR_ARGUMENT, "%s: empty tensor name", w->where);
    if (!valid_utf8(name))
        return born_error(BORN_ERR_ARGUMENT, "%s: the tensor name is not valid UTF-8", w->where);
    if ((w->count + 1) * 2 > w->nslots && !grow_slots(w))
        return born_error(BORN_ERR_MEMORY, "%s: out of memory", w->where);
    int64_t slot = find_slot(w, name);
    if (w->slots[slot])
        return born_error(BORN_ERR_ARGUMENT, "%s: a tensor named \"%s\" was already added",
                          w->where, name);
    if (w->count == w->capacity) {
        int64_t cap = w->capacity ? w->capacity * 2 : 32;
        w_entry *grown = realloc(w->entries, (size_t)cap * sizeof *grown);
        if (!grown) return born_error(BORN_ERR_MEMORY, "%s: out of memory", w->where);
        w->entries = grown;
        w->capacity = cap;
    }
    w_entry e = {.name = strdup(name), .dtype = born_tensor_dtype(t), .ndim = born_tensor_ndim(t)};
    if (!e.name) return born_error(BORN_ERR_MEMORY, "%s: out of memory", w->where);
    memcpy(e.shape, born_tensor_shape(t), (size_t)e.ndim * sizeof(int64_t));
    born_tensor *tmp = NULL;
    const void *data = NULL;
    size_t nbytes = 0;
    if (io_tensor_bytes(w->where, t, &tmp, &data, &nbytes) != BORN_OK) {
        free(e.name);
        return born_last_status();
    }
    e.offset = w->data_len;
    e.nbytes = nbytes;
    size_t pad = (BORN_ALIGN - nbytes % BORN_ALIGN) % BORN_ALIGN;
    static const uint8_t zeros[BORN_ALIGN];
    io_out_write(&w->out, data, nbytes);
    io_out_zeros(&w->out, pad);
    born_sha256_update(&w->sha, data, nbytes);
    born_sha256_update(&w->sha, zeros, pad);
    born_free(tmp);
    if (w->out.status != BORN_OK) {
        free(e.name);
        return w->out.status;
    }
    w->data_len += nbytes + pad;
    w->entries[w->count++] = e;
    w->slots[slot] = w->count;
    return BORN_OK;
}

born_status born_file_writer_set_metadata(born_file_writer *w, const char *key,
                                          const char *value) {
    if (!w || !key || !value)
        return born_error(BORN_ERR_ARGUMENT, "born_file_writer_set_metadata: %s is NULL",
                          !w ? "writer" : !key ? "key" : "value");
    if (!valid_utf8(key) || !valid_utf8(value))
        return born_error(BORN_ERR_ARGUMENT, "%s: metadata %s is not valid UTF-8", w->where,
                          valid_utf8(key) ? "value" : "key");
    return born_string_map_set(&w->metadata, key, value);
}

born_status born_file_writer_set_config(born_file_writer *w, const char *json_text, size_t len) {
    if (!w || !json_text)
        return born_error(BORN_ERR_ARGUMENT, "born_file_writer_set_config: %s is NULL",
                          !w ? "writer" : "json_text");
    born_json *doc = born_json_parse(json_text, len, NULL);
    if (!doc) return born_last_status();
    if (born_json_type_of(born_json_root(doc)) != BORN_JSON_OBJECT) {
        born_json_type type = born_json_type_of(born_json_root(doc));
        born_json_free(doc);
        return born_error(BORN_ERR_ARGUMENT, "%s: the config is %s, not an object", w->where,
                          born_json_type_name(type));
    }
    born_json_free(w->config);
    w->config = doc;
    return BORN_OK;
}

/* Builds the header text into a JSON writer (the caller frees it). */
static born_json_writer *build_header(born_file_writer *w) {
    born_json_writer *j = born_json_writer_new(NULL);
    if (!j) return NULL;
    born_json_write_begin_object(j);
    born_json_write_key(j, "tensors");
    born_json_write_begin_array(j);
    for (int64_t i = 0; i < w->count; i++) {
        const w_entry *e = &w->entries[i];
        born_json_write_begin_object(j);
        born_json_write_key(j, "name");
        born_json_write_string(j, e->name);
        born_json_write_key(j, "dtype");
        born_json_write_string(j, born_dtype_name(e->dtype));
        born_json_write_key(j, "shape");
        born_json_write_begin_array(j);
        for (int d = 0; d < e->ndim; d++) born_json_write_int64(j, e->shape[d]);
        born_json_write_end_array(j);
        born_json_write_key(j, "offset");
        born_json_write_int64(j, (int64_t)e->offset);
        born_json_write_key(j, "nbytes");
        born_json_write_int64(j, (int64_t)e->nbytes);
        born_json_write_end_object(j);
    }
    born_json_write_end_array(j);
    born_json_write_key(j, "metadata");
    born_json_write_begin_object(j);
    for (int64_t i = 0; i < w->metadata.count; i++) {
        born_json_write_key(j, w->metadata.items[i].key);
        born_json_write_string(j, w->metadata.items[i].value);
    }
    born_json_write_end_object(j);
    if (w->config) {
        born_json_write_key(j, "config");
        born_json_write_value(j, born_json_root(w->config));
    }
    born_json_write_end_object(j);
    return j;
}

/* Writes the header and the prefix; the output is then complete. */
static born_status writer_close_data(born_file_writer *w) {
    if (w->out.status != BORN_OK)
        return born_error(w->out.status, "%s: an earlier write failed", w->where);
    born_json_writer *j = build_header(w);
    size_t hlen = 0;
    const char *text = j ? born_json_writer_text(j, &hlen) : NULL;
    if (!text) {
        born_json_writer_free(j);
        return born_error(BORN_ERR_INTERNAL, "%s: cannot build the header", w->where);
    }
    if (hlen > BORN_MAX_HEADER_WRITE) {
        born_json_writer_free(j);
        return born_error(BORN_ERR_ARGUMENT, "%s: the header would be %zu bytes, more than the "
                          "limit of %u that readers accept", w->where, hlen, BORN_MAX_HEADER_WRITE);
    }
    uint8_t prefix[BORN_PREFIX] = {'B', 'O', 'R', 'N'};
    wr32(prefix + 4, BORN_FILE_VERSION);
    wr64(prefix + 8, w->data_len);
    wr64(prefix + 16, hlen);
    born_sha256_final(&w->sha, prefix + 24);
    born_sha256(text, hlen, prefix + 56);
    io_out_write(&w->out, text, hlen);
    born_json_writer_free(j);
    return io_out_patch(&w->out, 0, prefix, sizeof prefix);
}

born_status born_file_writer_finish(born_file_writer *w) {
    if (!w) return born_error(BORN_ERR_ARGUMENT, "born_file_writer_finish: writer is NULL");
    born_status st = writer_close_data(w);
    if (st == BORN_OK)
        st = io_out_commit(&w->out, NULL, NULL);
    else
        io_out_abort(&w->out);
    writer_free(w);
    return st;
}

void born_file_writer_abort(born_file_writer *w) {
    if (!w) return;
    io_out_abort(&w->out);
    writer_free(w);
}

static born_status add_all(born_file_writer *w, const born_tensor_list *list,
                           const born_string_map *metadata) {
    for (int64_t i = 0; list && i < list->count; i++)
        if (born_file_writer_add(w, list->items[i].name, list->items[i].tensor) != BORN_OK)
            return born_last_status();
    for (int64_t i = 0; metadata && i < metadata->count; i++)
        if (born_file_writer_set_metadata(w, metadata->items[i].key, metadata->items[i].value) !=
            BORN_OK)
            return born_last_status();
    return BORN_OK;
}

born_status born_file_save(const char *path, const born_tensor_list *list,
                           const born_string_map *metadata) {
    if (!path || !list)
        return born_error(BORN_ERR_ARGUMENT, "born_file_save: %s is NULL", !path ? "path" : "list");
    born_file_writer *w = born_file_writer_open(path);
    if (!w) return born_last_status();
    if (add_all(w, list, metadata) != BORN_OK) {
        born_status st = born_last_status();
        born_file_writer_abort(w);
        return st;
    }
    return born_file_writer_finish(w);
}

born_status born_file_encode(const born_tensor_list *list, const born_string_map *metadata,
                             const char *config_json, void **out, size_t *out_len) {
    if (!list || !out || !out_len)
        return born_error(BORN_ERR_ARGUMENT, "born_file_encode: %s is NULL",
                          !list ? "list" : "output pointer");
    *out = NULL;
    *out_len = 0;
    born_file_writer *w = writer_new("born_file_encode", "buffer");
    if (!w) return born_last_status();
    io_out_open_memory(&w->out, w->where);
    born_status st = writer_start(w);
    if (st == BORN_OK) st = add_all(w, list, metadata);
    if (st == BORN_OK && config_json)
        st = born_file_writer_set_config(w, config_json, strlen(config_json));
    if (st == BORN_OK) st = writer_close_data(w);
    if (st == BORN_OK)
        st = io_out_commit(&w->out, out, out_len);
    else
        io_out_abort(&w->out);
    writer_free(w);
    return st;
}
