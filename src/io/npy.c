/* NPY files (numpy.save / numpy.load), following numpy's format description
 * (numpy/lib/format.py): the magic "\x93NUMPY", a major and minor version byte, the header length
 * (u16 little-endian for version 1.0, u32 for 2.0 and 3.0), then the header: the repr of a Python
 * dict {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } padded with spaces and a final
 * newline so that the data starts at a multiple of 64 bytes, then the raw elements.
 *
 * The header is parsed by a small strict parser for the Python literals it may contain (strings,
 * True/False, tuples of non-negative integers), not by evaluating anything: exactly the three
 * keys, each once, with values of the right kind. Whatever it rejects, numpy would too, except
 * for string escapes and the Python 2 'L' suffix, which numpy never writes today.
 *
 * The writer reproduces numpy.save byte for byte for the same array (numpy >= 1.24 pads the
 * header with room for the first dimension to grow to 21 digits, then aligns to 64 bytes). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/tensor_impl.h"
#include "io/io_util.h"

#define NPY_MAX_FILE ((size_t)1 << 40)

/* The longest header Born reads (numpy's own default limit is 10,000 bytes; simple dtypes need
 * fewer than 300). */
#define NPY_MAX_HEADER (1 << 20)

static const uint8_t npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

/* How file elements become tensor elements. */
typedef enum npy_conv {
    CONV_COPY,  /* same bytes (swapped when the byte order differs) */
    CONV_BOOL,  /* bytes; nonzero becomes 1 */
    CONV_U16,   /* u2 widened to i32 */
    CONV_U32    /* u4 widened to i64 */
} npy_conv;

typedef struct npy_header {
    born_dtype dtype; /* the tensor's dtype */
    size_t item;      /* bytes per element in the file */
    bool swap;        /* the file's byte order is not the host's */
    npy_conv conv;
    bool fortran;
    int ndim;
    int64_t shape[BORN_MAX_DIMS];
    int64_t numel;
    size_t data_offset, data_bytes;
} npy_header;

/* ------------------------------------------------------------------------------------------ */
/* The prefix: magic, version, header length                                                   */

/* Checks the magic and version in p[0..n) and finds where the header text starts and the data
 * begins. n may be short of the whole file (at least 12 bytes or the whole file). */
static born_status npy_prefix(const char *where, const uint8_t *p, size_t n, size_t *text_start,
                              size_t *data_offset) {
    if (memcmp(p, npy_magic, n < 6 ? n : 6) != 0)
        return born_error(BORN_ERR_FORMAT, "%s: byte 0: bad magic (an .npy file starts with "
                          "\\x93NUMPY)", where);
    if (n < 8)
        return born_error(BORN_ERR_FORMAT, "%s: truncated: %zu bytes, too short for an .npy "
                          "header", where, n);
    unsigned major = p[6], minor = p[7];
    if (major < 1 || major > 3 || minor != 0)
        return born_error(BORN_ERR_UNSUPPORTED, "%s: byte 6: unsupported .npy format version "
                          "%u.%u (Born reads 1.0, 2.0 and 3.0)", where, major, minor);
    size_t prefix = major == 1 ? 10 : 12;
    if (n < prefix)
        return born_error(BORN_ERR_FORMAT, "%s: truncated: %zu bytes, too short for a version %u.0 "
                          ".npy header", where, n, major);
    size_t hlen = major == 1 ? (size_t)p[8] | (size_t)p[9] << 8
                             : (size_t)p[8] | (size_t)p[9] << 8 | (size_t)p[10] << 16 |
                                   (size_t)p[11] << 24;
    if (hlen > NPY_MAX_HEADER)
        return born_error(BORN_ERR_UNSUPPORTED, "%s: byte 8: a header of %zu bytes (Born reads "
                          "headers of up to %d bytes)", where, hlen, NPY_MAX_HEADER);
    *text_start = prefix;
    *data_offset = prefix + hlen;
    return BORN_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* The header dict                                                                             */

typedef struct hparser {
    const char *where;
    const uint8_t *s;
    size_t n, i, base; /* base: the text's offset in the file, for messages */
} hparser;

static born_status herr(const hparser *h, born_status status, const char *fmt, ...)
    BORN_PRINTF(3, 4);
static born_status herr(const hparser *h, born_status status, const char *fmt, ...) {
    char what[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return born_error(status, "%s: header byte %zu: %s", h->where, h->base + h->i, what);
}

/* A printable rendering of s[0..n) for messages (at most 40 bytes, others as \xNN). */
static const char *show(const uint8_t *s, size_t n, char out[200]) {
    size_t o = 0;
    for (size_t i = 0; i < n && i < 40 && o + 5 < 200; i++) {
        if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\')
            out[o++] = (char)s[i];
        else
            o += (size_t)snprintf(out + o, 200 - o, "\\x%02x", s[i]);
    }
    if (n > 40 && o + 4 < 200) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

static const char *found(const hparser *h, char out[200]) {
    if (h->i >= h->n) return "the end of the header";
    snprintf(out, 200, "'%c'", h->s[h->i]);
    if (h->s[h->i] < 0x20 || h->s[h->i] >= 0x7f) snprintf(out, 200, "byte 0x%02x", h->s[h->i]);
    return out;
}

static void skip_ws(hparser *h) {
    while (h->i < h->n && (h->s[h->i] == ' ' || h->s[h->i] == '\t' || h->s[h->i] == '\n' ||
                           h->s[h->i] == '\r' || h->s[h->i] == '\f' || h->s[h->i] == '\v'))
        h->i++;
}

static born_status expect(hparser *h, char c, const char *what) {
    char buf[200];
    if (h->i < h->n && h->s[h->i] == (uint8_t)c) {
        h->i++;
        skip_ws(h);
        return BORN_OK;
    }
    return herr(h, BORN_ERR_FORMAT, "expected %s, found %s", what, found(h, buf));
}

/* A quoted string without escapes: '...' or "...". */
static born_status parse_string(hparser *h, const uint8_t **str, size_t *len) {
    char buf[200];
    if (h->i >= h->n || (h->s[h->i] != '\'' && h->s[h->i] != '"'))
        return herr(h, BORN_ERR_FORMAT, "expected a quoted string, found %s", found(h, buf));
    uint8_t q = h->s[h->i];
    size_t start = ++h->i;
    while (h->i < h->n && h->s[h->i] != q) {
        if (h->s[h->i] == '\\')
            return herr(h, BORN_ERR_FORMAT, "escape sequences in header strings are not supported");
        if (h->s[h->i] == '\n')
            return herr(h, BORN_ERR_FORMAT, "a newline inside a string");
        h->i++;
    }
    if (h->i >= h->n) {
        h->i = start - 1;
        return herr(h, BORN_ERR_FORMAT, "a string that is never closed");
    }
    *str = h->s + start;
    *len = h->i - start;
    h->i++;
    skip_ws(h);
    return BORN_OK;
}

static bool is_ident(uint8_t c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* True or False. */
static born_status parse_bool(hparser *h, bool *value) {
    char buf[200];
    size_t start = h->i;
    while (h->i < h->n && is_ident(h->s[h->i])) h->i++;
    size_t len = h->i - start;
    if (len == 4 && memcmp(h->s + start, "True", 4) == 0)
        *value = true;
    else if (len == 5 && memcmp(h->s + start, "False", 5) == 0)
        *value = false;
    else {
        h->i = start;
        return herr(h, BORN_ERR_FORMAT, "'fortran_order' must be True or False, found %s",
                    len ? show(h->s + start, len, buf) : found(h, buf));
    }
    skip_ws(h);
    return BORN_OK;
}

/* A non-negative decimal integer as Python writes it (no sign, no leading zeros but 0). */
static born_status parse_dim(hparser *h, int64_t *value) {
    char buf[200];
    size_t start = h->i;
    if (h->i >= h->n || h->s[h->i] < '0' || h->s[h->i] > '9')
        return herr(h, BORN_ERR_FORMAT, "expected a dimension (a non-negative integer), found %s",
                    found(h, buf));
    uint64_t v = 0;
    bool overflow = false;
    while (h->i < h->n && h->s[h->i] >= '0' && h->s[h->i] <= '9') {
        unsigned d = h->s[h->i] - '0';
        if (v > ((uint64_t)INT64_MAX - d) / 10) overflow = true;
        v = v * 10 + d;
        h->i++;
    }
    if (h->i < h->n && is_ident(h->s[h->i]))
        return herr(h, BORN_ERR_FORMAT, "unexpected %s after a dimension", found(h, buf));
    if (h->i - start > 1 && h->s[start] == '0') {
        bool all_zero = true;
        for (size_t k = start; k < h->i; k++) all_zero &= h->s[k] == '0';
        if (!all_zero) {
            h->i = start;
            return herr(h, BORN_ERR_FORMAT, "a dimension with a leading zero (not a Python "
                        "integer)");
        }
    }
    if (overflow) {
        size_t end = h->i;
        h->i = start;
        return herr(h, BORN_ERR_FORMAT, "the dimension %s is too large",
                    show(h->s + start, end - start, buf));
    }
    *value = (int64_t)v;
    skip_ws(h);
    return BORN_OK;
}

/* A tuple of dimensions: (), (n,), (n, m), (n, m,). */
static born_status parse_shape(hparser *h, npy_header *out) {
    char buf[200];
    if (h->i >= h->n || h->s[h->i] != '(')
        return herr(h, BORN_ERR_FORMAT, "'shape' must be a tuple, found %s", found(h, buf));
    h->i++;
    skip_ws(h);
    int ndim = 0;
    bool comma = false;
    while (h->i < h->n && h->s[h->i] != ')') {
        if (ndim == BORN_MAX_DIMS)
            return herr(h, BORN_ERR_UNSUPPORTED, "more than %d dimensions", BORN_MAX_DIMS);
        if (parse_dim(h, &out->shape[ndim]) != BORN_OK) return born_last_status();
        ndim++;
        comma = false;
        if (h->i < h->n && h->s[h->i] == ',') {
            comma = true;
            h->i++;
            skip_ws(h);
        } else if (h->i < h->n && h->s[h->i] != ')') {
            return herr(h, BORN_ERR_FORMAT, "expected ',' or ')' in 'shape', found %s",
                        found(h, buf));
        }
    }
    if (h->i >= h->n) return herr(h, BORN_ERR_FORMAT, "'shape' is never closed with ')'");
    if (ndim == 1 && !comma)
        return herr(h, BORN_ERR_FORMAT, "'shape' is (n) rather than the tuple (n,)");
    h->i++;
    skip_ws(h);
    out->ndim = ndim;
    return BORN_OK;
}

/* Maps a descr ('<f4') to a dtype and conversion. */
static born_status parse_descr(hparser *h, const uint8_t *s, size_t len, npy_header *out) {
    char buf[200];
    born_status unsupported = BORN_ERR_UNSUPPORTED;
    if (len < 3 || !strchr("<>|=", s[0]) || s[0] == '\0')
        return herr(h, unsupported, "unsupported dtype '%s' (Born reads f2 f4 f8 i1 i2 i4 i8 u1 "
                    "u2 u4 b1, each after a byte order <, > or |)", show(s, len, buf));
    char kind = (char)s[1];
    size_t size = 0;
    for (size_t k = 2; k < len; k++) {
        if (s[k] < '0' || s[k] > '9' || size > 100 || (k == 2 && s[k] == '0')) {
            size = 0;
            break;
        }
        size = size * 10 + (s[k] - '0');
    }
    out->item = size;
    out->conv = CONV_COPY;
    bool ok = true;
    switch (kind) {
    case 'f':
        if (size == 2) out->dtype = BORN_F16;
        else if (size == 4) out->dtype = BORN_F32;
        else if (size == 8) out->dtype = BORN_F64;
        else ok = false;
        break;
    case 'i':
        if (size == 1) out->dtype = BORN_I8;
        else if (size == 2) out->dtype = BORN_I16;
        else if (size == 4) out->dtype = BORN_I32;
        else if (size == 8) out->dtype = BORN_I64;
        else ok = false;
        break;
    case 'u':
        if (size == 1) out->dtype = BORN_U8;
        else if (size == 2) {
            out->dtype = BORN_I32;
            out->conv = CONV_U16;
        } else if (size == 4) {
            out->dtype = BORN_I64;
            out->conv = CONV_U32;
        } else if (size == 8) {
            return herr(h, unsupported, "unsupported dtype '%s': Born has no dtype that holds "
                        "every uint64 value", show(s, len, buf));
        } else
            ok = false;
        break;
    case 'b':
        if (size == 1) {
            out->dtype = BORN_BOOL;
            out->conv = CONV_BOOL;
        } else
            ok = false;
        break;
    default: ok = false;
    }
    if (!ok)
        return herr(h, unsupported, "unsupported dtype '%s' (Born reads f2 f4 f8 i1 i2 i4 i8 u1 "
                    "u2 u4 b1)", show(s, len, buf));
    bool file_little = s[0] == '<' || ((s[0] == '|' || s[0] == '=') && io_host_little_endian());
    out->swap = size > 1 && file_little != io_host_little_endian();
    return BORN_OK;
}

/* Parses the header text s[0..n) found at file offset base. */
static born_status npy_dict(const char *where, const uint8_t *s, size_t n, size_t base,
                            npy_header *out) {
    hparser h = {.where = where, .s = s, .n = n, .i = 0, .base = base};
    char buf[200];
    skip_ws(&h);
    if (expect(&h, '{', "'{' to open the header dict") != BORN_OK) return born_last_status();
    bool have_descr = false, have_fortran = false, have_shape = false;
    while (h.i < h.n && h.s[h.i] != '}') {
        size_t key_at = h.i;
        const uint8_t *key;
        size_t klen;
        if (parse_string(&h, &key, &klen) != BORN_OK) return born_last_status();
        if (expect(&h, ':', "':' after a key") != BORN_OK) return born_last_status();
        bool *seen = NULL;
        if (klen == 5 && memcmp(key, "descr", 5) == 0) seen = &have_descr;
        else if (klen == 13 && memcmp(key, "fortran_order", 13) == 0) seen = &have_fortran;
        else if (klen == 5 && memcmp(key, "shape", 5) == 0) seen = &have_shape;
        if (!seen || *seen) {
            h.i = key_at;
            return herr(&h, BORN_ERR_FORMAT, seen ? "the key '%s' appears twice"
                        : "unexpected key '%s' (the header has exactly 'descr', 'fortran_order' "
                          "and 'shape')", show(key, klen, buf));
        }
        *seen = true;
        if (seen == &have_descr) {
            if (h.i < h.n && h.s[h.i] == '[')
                return herr(&h, BORN_ERR_UNSUPPORTED, "structured dtypes (a list 'descr') are not "
                            "supported");
            size_t at = h.i;
            const uint8_t *d;
            size_t dlen;
            if (parse_string(&h, &d, &dlen) != BORN_OK) return born_last_status();
            size_t after = h.i;
            h.i = at;
            if (parse_descr(&h, d, dlen, out) != BORN_OK) return born_last_status();
            h.i = after;
        } else if (seen == &have_fortran) {
            if (parse_bool(&h, &out->fortran) != BORN_OK) return born_last_status();
        } else {
            if (parse_shape(&h, out) != BORN_OK) return born_last_status();
        }
        if (h.i < h.n && h.s[h.i] == ',') {
            h.i++;
            skip_ws(&h);
        } else if (h.i < h.n && h.s[h.i] != '}') {
            return herr(&h, BORN_ERR_FORMAT, "expected ',' or '}' after a value, found %s",
                        found(&h, buf));
        }
    }
    if (expect(&h, '}', "'}' to close the header dict") != BORN_OK) return born_last_status();
    if (h.i < h.n)
        return herr(&h, BORN_ERR_FORMAT, "unexpected %s after the header dict", found(&h, buf));
    if (!have_descr || !have_fortran || !have_shape)
        return herr(&h, BORN_ERR_FORMAT, "the header dict lacks the key '%s'",
                    !have_descr ? "descr" : !have_fortran ? "fortran_order" : "shape");
    return BORN_OK;
}

/* Parses everything before the data in p[0..n) (n may stop short of the file's end but must
 * cover the header) and checks the data size against the file's total length. */
static born_status npy_header_parse(const char *where, const uint8_t *p, size_t n, size_t total,
                                    npy_header *h) {
    memset(h, 0, sizeof *h);
    size_t text_start = 0, data_offset = 0;
    if (npy_prefix(where, p, n, &text_start, &data_offset) != BORN_OK) return born_last_status();
    if (data_offset > total)
        return born_error(BORN_ERR_FORMAT, "%s: truncated header: it should end at byte %zu, the "
                          "file has %zu bytes", where, data_offset, total);
    if (npy_dict(where, p + text_start, data_offset - text_start, text_start, h) != BORN_OK)
        return born_last_status();
    h->data_offset = data_offset;
    /* the sizes must multiply to something addressable even when one of them is 0, since the
     * tensor's strides are products of them */
    uint64_t numel = 1;
    bool overflow = false, empty = false;
    for (int i = 0; i < h->ndim; i++) {
        uint64_t s = (uint64_t)h->shape[i];
        if (s == 0)
            empty = true;
        else if (numel > (uint64_t)INT64_MAX / 16 / h->item / s)
            overflow = true;
        else
            numel *= s;
    }
    char shape[200];
    shape_str(h->ndim, h->shape, shape, sizeof shape);
    if (overflow)
        return born_error(BORN_ERR_FORMAT, "%s: the shape %s describes more data than fits in "
                          "memory", where, shape);
    if (empty) numel = 0;
    h->numel = (int64_t)numel;
    uint64_t bytes = numel * h->item;
    size_t avail = total - data_offset;
    if (bytes > avail)
        return born_error(BORN_ERR_FORMAT, "%s: truncated: the shape %s of %zu-byte elements needs "
                          "%" PRIu64 " bytes of data after byte %zu, but only %zu follow", where,
                          shape, h->item, bytes, data_offset, avail);
    if (bytes < avail)
        return born_error(BORN_ERR_FORMAT, "%s: byte %" PRIu64 ": trailing garbage after the data "
                          "(%zu extra bytes)", where, data_offset + bytes, avail - (size_t)bytes);
    h->data_bytes = (size_t)bytes;
    return BORN_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Data                                                                                         */

/* True when the file's bytes are the tensor's bytes as they stand. */
static bool npy_direct(const npy_header *h) {
    return h->conv == CONV_COPY && !h->swap && (!h->fortran || h->ndim <= 1);
}

static inline uint64_t load_uint(const uint8_t *p, size_t size, bool swap) {
    uint8_t b[8];
    for (size_t k = 0; k < size; k++) b[k] = swap ? p[size - 1 - k] : p[k];
    if (size == 2) {
        uint16_t v;
        memcpy(&v, b, 2);
        return v;
    }
    uint32_t v;
    memcpy(&v, b, 4);
    return v;
}

/* Permutes dst (numel elements of esize bytes, Fortran order) into C order. */
static born_status fortran_to_c(const npy_header *h, uint8_t *dst, size_t esize,
                                const char *where) {
    size_t n = (size_t)h->numel;
    uint8_t *tmp = malloc(n * esize);
    if (!tmp) return born_error(BORN_ERR_MEMORY, "%s: out of memory (%zu bytes)", where, n * esize);
    memcpy(tmp, dst, n * esize);
    int64_t cstride[BORN_MAX_DIMS], idx[BORN_MAX_DIMS] = {0};
    shape_contiguous_strides(h->ndim, h->shape, cstride);
    size_t off = 0; /* the C-order offset of F-order element k */
    for (size_t k = 0; k < n; k++) {
        memcpy(dst + off * esize, tmp + k * esize, esize);
        for (int d = 0; d < h->ndim; d++) { /* the first index varies fastest */
            idx[d]++;
            off += (size_t)cstride[d];
            if (idx[d] < h->shape[d]) break;
            off -= (size_t)(cstride[d] * h->shape[d]);
            idx[d] = 0;
        }
    }
    free(tmp);
    return BORN_OK;
}

/* Fills t (a new tensor of h's dtype and shape) from the file's data bytes. When raw is NULL the
 * bytes are already in t's memory (the direct case, or any case with the same element size). */
static born_status npy_fill(const char *where, const npy_header *h, const uint8_t *raw,
                            born_tensor *t) {
    uint8_t *dst = tensor_data(t);
    size_t n = (size_t)h->numel, esize = born_dtype_size(h->dtype);
    switch (h->conv) {
    case CONV_COPY:
    case CONV_BOOL:
        if (raw && n) memcpy(dst, raw, n * esize);
        if (h->swap) io_byteswap(dst, n, esize);
        if (h->conv == CONV_BOOL)
            for (size_t i = 0; i < n; i++) dst[i] = dst[i] != 0;
        break;
    case CONV_U16:
        for (size_t i = 0; i < n; i++) {
            int32_t v = (int32_t)load_uint(raw + 2 * i, 2, h->swap);
            memcpy(dst + 4 * i, &v, 4);
        }
        break;
    case CONV_U32:
        for (size_t i = 0; i < n; i++) {
            int64_t v = (int64_t)load_uint(raw + 4 * i, 4, h->swap);
            memcpy(dst + 8 * i, &v, 8);
        }
        break;
    }
    if (h->fortran && h->ndim > 1 && n > 1) return fortran_to_c(h, dst, esize, where);
    return BORN_OK;
}

static born_tensor *npy_decode(const char *where, const uint8_t *p, size_t len) {
    npy_header h;
    if (npy_header_parse(where, p, len, len, &h) != BORN_OK) return NULL;
    born_tensor *t = tensor_new(h.dtype, h.ndim, h.shape, BORN_CPU);
    if (!t) return NULL;
    if (npy_fill(where, &h, p + h.data_offset, t) != BORN_OK) {
        born_free(t);
        return NULL;
    }
    return t;
}

born_tensor *born_npy_parse(const void *data, size_t len) {
    if (!data && len > 0) return born_error_null(BORN_ERR_ARGUMENT, "born_npy_parse: data is NULL");
    return npy_decode("born_npy_parse: buffer", data ? data : "", len);
}

/* Reads exactly n bytes at the current position. */
static born_status read_exact(const char *where, FILE *f, void *buf, size_t n, size_t at) {
    if (n && fread(buf, 1, n, f) != n)
        return born_error(BORN_ERR_IO, "%s: byte %zu: the file ended or failed while reading %zu "
                          "bytes", where, at, n);
    return BORN_OK;
}

born_tensor *born_npy_read(const char *path) {
    if (!path) return born_error_null(BORN_ERR_ARGUMENT, "born_npy_read: path is NULL");
    char where[512];
    snprintf(where, sizeof where, "born_npy_read: %s", path);
    FILE *f = fopen(path, "rb");
    if (!f) return born_error_null(BORN_ERR_IO, "%s: cannot open (%s)", where, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        /* a pipe or device: read it whole */
        fclose(f);
        uint8_t *buf = NULL;
        size_t len = 0;
        if (io_read_file(where, path, NPY_MAX_FILE, &buf, &len) != BORN_OK) return NULL;
        born_tensor *t = npy_decode(where, buf, len);
        free(buf);
        return t;
    }
    /* a regular file: parse the header, then read the data straight into the tensor */
    size_t total = (size_t)st.st_size;
    born_tensor *t = NULL;
    uint8_t *head = NULL, *raw = NULL;
    uint8_t prefix[12];
    size_t plen = total < sizeof prefix ? total : sizeof prefix;
    size_t text_start = 0, data_offset = 0;
    npy_header h;
    if (read_exact(where, f, prefix, plen, 0) != BORN_OK) goto done;
    if (npy_prefix(where, prefix, plen, &text_start, &data_offset) != BORN_OK) goto done;
    if (data_offset > total) {
        born_error(BORN_ERR_FORMAT, "%s: truncated header: it should end at byte %zu, the file "
                   "has %zu bytes", where, data_offset, total);
        goto done;
    }
    head = malloc(data_offset);
    if (!head) {
        born_error(BORN_ERR_MEMORY, "%s: out of memory", where);
        goto done;
    }
    memcpy(head, prefix, plen);
    if (read_exact(where, f, head + plen, data_offset - plen, plen) != BORN_OK) goto done;
    if (npy_header_parse(where, head, data_offset, total, &h) != BORN_OK) goto done;
    t = tensor_new(h.dtype, h.ndim, h.shape, BORN_CPU);
    if (!t) goto done;
    bool same_size = h.item == born_dtype_size(h.dtype);
    if (same_size) {
        if (read_exact(where, f, tensor_data(t), h.data_bytes, data_offset) != BORN_OK) goto fail;
        if (!npy_direct(&h) && npy_fill(where, &h, NULL, t) != BORN_OK) goto fail;
    } else {
        raw = malloc(h.data_bytes ? h.data_bytes : 1);
        if (!raw) {
            born_error(BORN_ERR_MEMORY, "%s: out of memory (%zu bytes)", where, h.data_bytes);
            goto fail;
        }
        if (read_exact(where, f, raw, h.data_bytes, data_offset) != BORN_OK) goto fail;
        if (npy_fill(where, &h, raw, t) != BORN_OK) goto fail;
    }
    goto done;
fail:
    born_free(t);
    t = NULL;
done:
    free(head);
    free(raw);
    fclose(f);
    return t;
}

/* ------------------------------------------------------------------------------------------ */
/* Writing                                                                                      */

born_status born_npy_encode(const born_tensor *t, void **out, size_t *out_len) {
    const char *fn = "born_npy_encode";
    if (!out || !out_len) return born_error(BORN_ERR_ARGUMENT, "%s: out or out_len is NULL", fn);
    *out = NULL;
    *out_len = 0;
    if (!t) {
        if (!born_has_error()) born_error(BORN_ERR_ARGUMENT, "%s: input is NULL", fn);
        return born_last_status();
    }
    const char *code = NULL;
    switch (t->dtype) {
    case BORN_F16: code = "f2"; break;
    case BORN_F32: code = "f4"; break;
    case BORN_F64: code = "f8"; break;
    case BORN_I8: code = "i1"; break;
    case BORN_I16: code = "i2"; break;
    case BORN_I32: code = "i4"; break;
    case BORN_I64: code = "i8"; break;
    case BORN_U8: code = "u1"; break;
    case BORN_BOOL: code = "b1"; break;
    default: break;
    }
    char desc[160];
    if (!code)
        return born_error(BORN_ERR_DTYPE, "%s: %s: numpy has no %s dtype", fn,
                          born_tensor_describe(t, desc, sizeof desc), born_dtype_name(t->dtype));
    size_t esize = born_dtype_size(t->dtype);
    char order = esize == 1 ? '|' : io_host_little_endian() ? '<' : '>';

    /* the dict exactly as numpy writes it: sorted keys, repr'd values, a trailing ", " */
    char text[512];
    int n = snprintf(text, sizeof text, "{'descr': '%c%s', 'fortran_order': False, 'shape': (",
                     order, code);
    for (int i = 0; i < t->ndim; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, i ? ", %" PRId64 : "%" PRId64,
                      t->shape[i]);
    n += snprintf(text + n, sizeof text - (size_t)n, t->ndim == 1 ? ",), }" : "), }");
    if (t->ndim > 0) { /* room for the first dimension to grow to 21 digits */
        char digits[32];
        int d = snprintf(digits, sizeof digits, "%" PRId64, t->shape[0]);
        for (int k = d; k < 21; k++) text[n++] = ' ';
    }
    size_t hlen = (size_t)n + 1, prefix = 10;
    size_t pad = 64 - (prefix + hlen) % 64;
    if (hlen + pad > 65535) { /* cannot happen with 8 dimensions, but numpy would use 2.0 */
        prefix = 12;
        pad = 64 - (prefix + hlen) % 64;
    }
    size_t header = prefix + hlen + pad;
    size_t nbytes = (size_t)born_tensor_numel(t) * esize;
    uint8_t *buf = malloc(header + nbytes);
    if (!buf) return born_error(BORN_ERR_MEMORY, "%s: out of memory (%zu bytes)", fn, header + nbytes);
    memcpy(buf, npy_magic, 6);
    buf[6] = prefix == 10 ? 1 : 2;
    buf[7] = 0;
    size_t field = hlen + pad;
    for (size_t k = 0; k < prefix - 8; k++) buf[8 + k] = (uint8_t)(field >> (8 * k));
    memcpy(buf + prefix, text, (size_t)n);
    memset(buf + prefix + n, ' ', pad);
    buf[header - 1] = '\n';
    born_status st = born_copy_to_buffer(t, buf + header, nbytes);
    if (st != BORN_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    *out_len = header + nbytes;
    return BORN_OK;
}

born_status born_npy_write(const char *path, const born_tensor *t) {
    if (!path) return born_error(BORN_ERR_ARGUMENT, "born_npy_write: path is NULL");
    void *buf = NULL;
    size_t len = 0;
    born_status st = born_npy_encode(t, &buf, &len);
    if (st != BORN_OK) return st;
    char where[512];
    snprintf(where, sizeof where, "born_npy_write: %s", path);
    st = io_write_file(where, path, buf, len);
    free(buf);
    return st;
}
