/* IDX files, the format of the original MNIST distribution: the magic bytes 00 00, an element
 * type byte, a dimension count byte, each dimension as a big-endian u32, then the elements in
 * row-major order, big-endian. Files may be gzip-compressed; the reader recognises gzip by its
 * magic bytes, never by the file name.
 *
 * A compressed file is decoded in three steps so that a hostile file cannot make Born allocate
 * more than its header announces plus what its data really holds: the first 4 bytes (the magic
 * and the dimension count), then the whole header, then the data with the output capped at one
 * byte more than the header announces (that extra byte means trailing garbage). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/tensor_impl.h"
#include "io/io_util.h"

/* The largest IDX file Born reads from disk (compressed or not). */
#define IDX_MAX_FILE ((size_t)1 << 40)

typedef struct idx_type {
    uint8_t code;
    born_dtype dtype;
} idx_type;

static const idx_type idx_types[] = {{0x08, BORN_U8},  {0x09, BORN_I8},  {0x0B, BORN_I16},
                                     {0x0C, BORN_I32}, {0x0D, BORN_F32}, {0x0E, BORN_F64}};

static bool idx_dtype_of(uint8_t code, born_dtype *dtype) {
    for (size_t i = 0; i < sizeof idx_types / sizeof *idx_types; i++)
        if (idx_types[i].code == code) {
            *dtype = idx_types[i].dtype;
            return true;
        }
    return false;
}

static bool idx_code_of(born_dtype dtype, uint8_t *code) {
    for (size_t i = 0; i < sizeof idx_types / sizeof *idx_types; i++)
        if (idx_types[i].dtype == dtype) {
            *code = idx_types[i].code;
            return true;
        }
    return false;
}

/* A parsed header: the dtype, the shape and the sizes it implies. */
typedef struct idx_header {
    born_dtype dtype;
    int ndim;
    int64_t shape[BORN_MAX_DIMS];
    size_t header_bytes; /* 4 + 4 * ndim */
    size_t data_bytes;
} idx_header;

/* Checks the first 4 bytes. `what` says whose bytes they are for messages ("" for a raw file,
 * " of the decompressed data" for a gzip file). */
static born_status idx_magic(const char *where, const char *what, const uint8_t *p, size_t len,
                             idx_header *h) {
    if (len < 4)
        return born_error(BORN_ERR_FORMAT, "%s: truncated: an IDX header needs at least 4 bytes, "
                          "the data%s has %zu", where, what, len);
    if (p[0] != 0 || p[1] != 0)
        return born_error(BORN_ERR_FORMAT, "%s: byte 0%s: bad magic (expected 00 00 <type> <ndim>, "
                          "found %02x %02x %02x %02x)", where, what, p[0], p[1], p[2], p[3]);
    if (!idx_dtype_of(p[2], &h->dtype))
        return born_error(BORN_ERR_FORMAT, "%s: byte 2%s: unknown IDX element type 0x%02x (known: "
                          "08 u8, 09 i8, 0B i16, 0C i32, 0D f32, 0E f64)", where, what, p[2]);
    if (p[3] > BORN_MAX_DIMS)
        return born_error(BORN_ERR_FORMAT, "%s: byte 3%s: %u dimensions; Born supports at most %d",
                          where, what, p[3], BORN_MAX_DIMS);
    h->ndim = p[3];
    h->header_bytes = 4 + 4 * (size_t)h->ndim;
    return BORN_OK;
}

/* Reads the dimensions (the magic is already checked and len >= header_bytes). */
static born_status idx_dims(const char *where, const char *what, const uint8_t *p,
                            idx_header *h) {
    size_t elem = born_dtype_size(h->dtype);
    uint64_t bytes = elem;
    bool overflow = false, empty = false;
    /* the sizes must multiply to something addressable even when one of them is 0, since the
     * tensor's strides are products of them */
    for (int i = 0; i < h->ndim; i++) {
        const uint8_t *d = p + 4 + 4 * (size_t)i;
        uint32_t size = (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3];
        h->shape[i] = size;
        if (size == 0)
            empty = true;
        else if (bytes > (uint64_t)INT64_MAX / 16 / size)
            overflow = true;
        else
            bytes *= size;
    }
    if (overflow) {
        char shape[160];
        return born_error(BORN_ERR_FORMAT, "%s: bytes 4-%zu%s: the dimensions %s describe more "
                          "data than fits in memory", where, h->header_bytes - 1, what,
                          shape_str(h->ndim, h->shape, shape, sizeof shape));
    }
    if (empty) bytes = 0;
#if SIZE_MAX < UINT64_MAX
    if (bytes > SIZE_MAX) return born_error(BORN_ERR_FORMAT, "%s: the data is too large", where);
#endif
    h->data_bytes = (size_t)bytes;
    return BORN_OK;
}

static born_status idx_size_check(const char *where, const char *what, const idx_header *h,
                                  size_t have) {
    char shape[160];
    shape_str(h->ndim, h->shape, shape, sizeof shape);
    size_t avail = have - h->header_bytes;
    if (avail < h->data_bytes)
        return born_error(BORN_ERR_FORMAT, "%s: truncated: the header's dimensions %s of %s need "
                          "%zu bytes of data after byte %zu%s, but only %zu follow", where, shape,
                          born_dtype_name(h->dtype), h->data_bytes, h->header_bytes, what, avail);
    if (avail > h->data_bytes)
        return born_error(BORN_ERR_FORMAT, "%s: byte %zu%s: trailing garbage after the data (the "
                          "dimensions %s of %s need %zu bytes)", where,
                          h->header_bytes + h->data_bytes, what, shape, born_dtype_name(h->dtype),
                          h->data_bytes);
    return BORN_OK;
}

/* The tensor of the data that follows a checked header. */
static born_tensor *idx_tensor(const idx_header *h, const uint8_t *data) {
    born_tensor *t = tensor_new(h->dtype, h->ndim, h->shape, BORN_CPU);
    if (!t) return NULL;
    void *dst = tensor_data(t);
    if (h->data_bytes) memcpy(dst, data, h->data_bytes);
    size_t elem = born_dtype_size(h->dtype);
    if (elem > 1 && io_host_little_endian()) io_byteswap(dst, h->data_bytes / elem, elem);
    return t;
}

static born_tensor *idx_decode_raw(const char *where, const uint8_t *p, size_t len) {
    idx_header h;
    if (idx_magic(where, "", p, len, &h) != BORN_OK) return NULL;
    if (len < h.header_bytes)
        return born_error_null(BORN_ERR_FORMAT, "%s: truncated header: %d dimensions need %zu "
                               "bytes, the file has %zu", where, h.ndim, h.header_bytes, len);
    if (idx_dims(where, "", p, &h) != BORN_OK) return NULL;
    if (idx_size_check(where, "", &h, len) != BORN_OK) return NULL;
    return idx_tensor(&h, p + h.header_bytes);
}

static born_tensor *idx_decode_gzip(const char *where, const uint8_t *p, size_t len) {
    const char *what = " of the decompressed data";
    io_buf b = {0};
    born_tensor *t = NULL;
    idx_header h;
    /* 1: the magic and dimension count */
    if (io_gunzip(where, p, len, 4, true, &b) != BORN_OK) goto done;
    if (idx_magic(where, what, b.data, b.len, &h) != BORN_OK) goto done;
    /* 2: the dimensions */
    b.len = 0;
    if (io_gunzip(where, p, len, h.header_bytes, true, &b) != BORN_OK) goto done;
    if (b.len < h.header_bytes) {
        born_error(BORN_ERR_FORMAT, "%s: truncated header: %d dimensions need %zu bytes, the "
                   "decompressed data has %zu", where, h.ndim, h.header_bytes, b.len);
        goto done;
    }
    if (idx_dims(where, what, b.data, &h) != BORN_OK) goto done;
    /* 3: everything, capped one byte past what the header announces */
    size_t want = h.header_bytes + h.data_bytes;
    if (want < h.data_bytes || want == SIZE_MAX) {
        born_error(BORN_ERR_FORMAT, "%s: the data is too large", where);
        goto done;
    }
    b.len = 0;
    if (io_gunzip(where, p, len, want + 1, true, &b) != BORN_OK) goto done;
    if (idx_size_check(where, what, &h, b.len) != BORN_OK) goto done;
    t = idx_tensor(&h, b.data + h.header_bytes);
done:
    free(b.data);
    return t;
}

static born_tensor *idx_decode(const char *where, const uint8_t *p, size_t len) {
    if (io_is_gzip(p, len)) return idx_decode_gzip(where, p, len);
    return idx_decode_raw(where, p, len);
}

born_tensor *born_idx_parse(const void *data, size_t len) {
    if (!data && len > 0) return born_error_null(BORN_ERR_ARGUMENT, "born_idx_parse: data is NULL");
    return idx_decode("born_idx_parse: buffer", data ? data : "", len);
}

born_tensor *born_idx_read(const char *path) {
    if (!path) return born_error_null(BORN_ERR_ARGUMENT, "born_idx_read: path is NULL");
    char where[512];
    snprintf(where, sizeof where, "born_idx_read: %s", path);
    uint8_t *buf = NULL;
    size_t len = 0;
    if (io_read_file(where, path, IDX_MAX_FILE, &buf, &len) != BORN_OK) return NULL;
    born_tensor *t = idx_decode(where, buf, len);
    free(buf);
    return t;
}

born_status born_idx_encode(const born_tensor *t, void **out, size_t *out_len) {
    const char *fn = "born_idx_encode";
    if (!out || !out_len) return born_error(BORN_ERR_ARGUMENT, "%s: out or out_len is NULL", fn);
    *out = NULL;
    *out_len = 0;
    if (!t) {
        if (!born_has_error()) born_error(BORN_ERR_ARGUMENT, "%s: input is NULL", fn);
        return born_last_status();
    }
    char desc[160];
    uint8_t code;
    if (!idx_code_of(t->dtype, &code))
        return born_error(BORN_ERR_DTYPE, "%s: %s: IDX has no %s element type (it stores u8, i8, "
                          "i16, i32, f32 and f64)", fn, born_tensor_describe(t, desc, sizeof desc),
                          born_dtype_name(t->dtype));
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] > (int64_t)UINT32_MAX)
            return born_error(BORN_ERR_SHAPE, "%s: %s: dimension %d is %" PRId64 ", more than an "
                              "IDX file can hold (2^32 - 1)", fn,
                              born_tensor_describe(t, desc, sizeof desc), i, t->shape[i]);
    size_t elem = born_dtype_size(t->dtype);
    size_t nbytes = (size_t)born_tensor_numel(t) * elem;
    size_t header = 4 + 4 * (size_t)t->ndim;
    uint8_t *buf = malloc(header + nbytes);
    if (!buf) return born_error(BORN_ERR_MEMORY, "%s: out of memory (%zu bytes)", fn, header + nbytes);
    buf[0] = buf[1] = 0;
    buf[2] = code;
    buf[3] = (uint8_t)t->ndim;
    for (int i = 0; i < t->ndim; i++) {
        uint32_t s = (uint32_t)t->shape[i];
        uint8_t *d = buf + 4 + 4 * (size_t)i;
        d[0] = (uint8_t)(s >> 24);
        d[1] = (uint8_t)(s >> 16);
        d[2] = (uint8_t)(s >> 8);
        d[3] = (uint8_t)s;
    }
    /* born_copy_to_buffer stores whole elements, so it needs a buffer aligned for them; the data
     * of an IDX file starts at 4 + 4 ndim bytes */
    bool aligned = header % elem == 0;
    uint8_t *data = aligned ? buf + header : malloc(nbytes ? nbytes : 1);
    born_status st = data ? born_copy_to_buffer(t, data, nbytes)
                          : born_error(BORN_ERR_MEMORY, "%s: out of memory", fn);
    if (!aligned && data) {
        if (st == BORN_OK && nbytes) memcpy(buf + header, data, nbytes);
        free(data);
    }
    if (st != BORN_OK) {
        free(buf);
        return st;
    }
    if (elem > 1 && io_host_little_endian()) io_byteswap(buf + header, nbytes / elem, elem);
    *out = buf;
    *out_len = header + nbytes;
    return BORN_OK;
}

born_status born_idx_write(const char *path, const born_tensor *t) {
    if (!path) return born_error(BORN_ERR_ARGUMENT, "born_idx_write: path is NULL");
    void *buf = NULL;
    size_t len = 0;
    born_status st = born_idx_encode(t, &buf, &len);
    if (st != BORN_OK) return st;
    char where[512];
    snprintf(where, sizeof where, "born_idx_write: %s", path);
    st = io_write_file(where, path, buf, len);
    free(buf);
    return st;
}
