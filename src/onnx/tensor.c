/* TensorProto -> born_tensor: every ONNX element type handled explicitly, values read from
 * raw_data, from the typed repeated fields, or from an external data file (mmapped). */
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "onnx/onnx_internal.h"

bool onnx_dtype_map(int32_t onnx_type, born_dtype *out) {
    switch (onnx_type) {
    case ONNX_FLOAT: *out = BORN_F32; return true;
    case ONNX_DOUBLE: *out = BORN_F64; return true;
    case ONNX_FLOAT16: *out = BORN_F16; return true;
    case ONNX_BFLOAT16: *out = BORN_BF16; return true;
    case ONNX_INT8: *out = BORN_I8; return true;
    case ONNX_INT16: *out = BORN_I16; return true;
    case ONNX_INT32: *out = BORN_I32; return true;
    case ONNX_INT64: *out = BORN_I64; return true;
    case ONNX_UINT8: *out = BORN_U8; return true;
    case ONNX_BOOL: *out = BORN_BOOL; return true;
    case ONNX_UINT16: *out = BORN_I32; return true;  /* widened: exact */
    case ONNX_UINT32: *out = BORN_I64; return true;  /* widened: exact */
    case ONNX_UINT64: *out = BORN_I64; return true;  /* values above INT64_MAX refused */
    default: return false;
    }
}

/* Bytes one element takes in raw_data for a storable type (0 if not storable). */
static size_t onnx_type_size(int32_t t) {
    switch (t) {
    case ONNX_FLOAT: case ONNX_INT32: case ONNX_UINT32: return 4;
    case ONNX_DOUBLE: case ONNX_INT64: case ONNX_UINT64: return 8;
    case ONNX_FLOAT16: case ONNX_BFLOAT16: case ONNX_INT16: case ONNX_UINT16: return 2;
    case ONNX_INT8: case ONNX_UINT8: case ONNX_BOOL: return 1;
    default: return 0;
    }
}

static uint64_t read_le(const uint8_t *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = (v << 8) | p[i];
    return v;
}

/* Writes element i, given as raw little-endian bits of the ONNX type, into born storage. */
static born_status store(void *dst, born_dtype dt, int32_t ot, size_t i, uint64_t bits,
                         const char *name) {
    switch (ot) {
    case ONNX_FLOAT: { uint32_t b = (uint32_t)bits; memcpy((float *)dst + i, &b, 4); break; }
    case ONNX_DOUBLE: memcpy((double *)dst + i, &bits, 8); break;
    case ONNX_FLOAT16: case ONNX_BFLOAT16: ((uint16_t *)dst)[i] = (uint16_t)bits; break;
    case ONNX_INT8: ((int8_t *)dst)[i] = (int8_t)(uint8_t)bits; break;
    case ONNX_UINT8: ((uint8_t *)dst)[i] = (uint8_t)bits; break;
    case ONNX_BOOL: ((uint8_t *)dst)[i] = (uint8_t)(bits != 0); break;
    case ONNX_INT16: ((int16_t *)dst)[i] = (int16_t)(uint16_t)bits; break;
    case ONNX_UINT16: ((int32_t *)dst)[i] = (int32_t)(uint16_t)bits; break;
    case ONNX_INT32: ((int32_t *)dst)[i] = (int32_t)(uint32_t)bits; break;
    case ONNX_UINT32: ((int64_t *)dst)[i] = (int64_t)(uint32_t)bits; break;
    case ONNX_INT64: ((int64_t *)dst)[i] = (int64_t)bits; break;
    case ONNX_UINT64:
        if (bits > (uint64_t)INT64_MAX)
            return born_error(BORN_ERR_UNSUPPORTED,
                              "onnx: tensor '%s': uint64 value %llu does not fit in i64", name,
                              (unsigned long long)bits);
        ((int64_t *)dst)[i] = (int64_t)bits;
        break;
    default: return born_error(BORN_ERR_INTERNAL, "onnx: tensor '%s': bad type", name);
    }
    (void)dt;
    return BORN_OK;
}

typedef struct ext_map {
    void *base;
    size_t len;
} ext_map;

static void ext_release(void *data, void *ctx) {
    (void)data;
    ext_map *m = ctx;
    munmap(m->base, m->len);
    free(m);
}

/* Resolves and maps external data: location relative to base_dir, never escaping it. */
static born_status ext_bytes(const onnx_tensor *t, const char *base_dir, size_t want,
                             ext_map **map, const uint8_t **bytes) {
    const char *loc = t->ext_location;
    if (!loc || !*loc)
        return born_error(BORN_ERR_FORMAT, "onnx: tensor '%s': external data without a location",
                          t->name);
    if (loc[0] == '/' || strstr(loc, ".."))
        return born_error(BORN_ERR_FORMAT,
                          "onnx: tensor '%s': external location '%s' leaves the model's folder",
                          t->name, loc);
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/%s", base_dir ? base_dir : ".", loc);
    if (n < 0 || (size_t)n >= sizeof path)
        return born_error(BORN_ERR_ARGUMENT, "onnx: tensor '%s': path too long", t->name);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return born_error(BORN_ERR_IO, "onnx: tensor '%s': cannot open external data %s", t->name,
                          path);
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        close(fd);
        return born_error(BORN_ERR_IO, "onnx: tensor '%s': cannot stat %s", t->name, path);
    }
    uint64_t off = t->ext_offset < 0 ? 0 : (uint64_t)t->ext_offset;
    uint64_t len = t->ext_length < 0 ? (uint64_t)sb.st_size - (off <= (uint64_t)sb.st_size ? off : 0)
                                     : (uint64_t)t->ext_length;
    if (off > (uint64_t)sb.st_size || len > (uint64_t)sb.st_size - off || len != want) {
        close(fd);
        return born_error(BORN_ERR_FORMAT,
                          "onnx: tensor '%s': external range offset %llu length %llu does not fit "
                          "%s (%lld bytes) or the %zu bytes the tensor needs",
                          t->name, (unsigned long long)off, (unsigned long long)len, path,
                          (long long)sb.st_size, want);
    }
    ext_map *m = calloc(1, sizeof *m);
    if (!m) {
        close(fd);
        return born_error(BORN_ERR_MEMORY, "onnx: out of memory");
    }
    m->len = (size_t)sb.st_size ? (size_t)sb.st_size : 1;
    m->base = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m->base == MAP_FAILED) {
        free(m);
        return born_error(BORN_ERR_IO, "onnx: tensor '%s': cannot map %s", t->name, path);
    }
    *map = m;
    *bytes = (const uint8_t *)m->base + off;
    return BORN_OK;
}

born_tensor *onnx_tensor_to_born(const onnx_tensor *t, const char *base_dir) {
    born_dtype dt;
    if (!onnx_dtype_map(t->data_type, &dt))
        return born_error_null(BORN_ERR_UNSUPPORTED,
                               "onnx: tensor '%s' has element type %s (%d), which Born does not "
                               "support", t->name, onnx_type_name(t->data_type), t->data_type);
    if (t->ndim > BORN_MAX_DIMS)
        return born_error_null(BORN_ERR_UNSUPPORTED, "onnx: tensor '%s' has %d dimensions (at most %d)",
                               t->name, t->ndim, BORN_MAX_DIMS);
    uint64_t numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (t->dims[i] && numel > (uint64_t)INT64_MAX / (uint64_t)t->dims[i])
            return born_error_null(BORN_ERR_FORMAT, "onnx: tensor '%s' is too large", t->name);
        numel *= (uint64_t)t->dims[i];
    }
    size_t es = onnx_type_size(t->data_type);
    ext_map *map = NULL;
    const uint8_t *bytes = NULL;
    size_t nbytes = 0;
    if (t->external) {
        if (numel > SIZE_MAX / es)
            return born_error_null(BORN_ERR_FORMAT, "onnx: tensor '%s' is too large", t->name);
        if (ext_bytes(t, base_dir, (size_t)numel * es, &map, &bytes)) return NULL;
        nbytes = (size_t)numel * es;
    } else if (t->has_raw) {
        bytes = t->raw.data;
        nbytes = t->raw.len;
        if (numel > SIZE_MAX / es || nbytes != (size_t)numel * es)
            return born_error_null(BORN_ERR_FORMAT,
                                   "onnx: tensor '%s': raw_data has %zu bytes, %llu %s elements "
                                   "need %llu", t->name, nbytes, (unsigned long long)numel,
                                   onnx_type_name(t->data_type),
                                   (unsigned long long)(numel * es));
    } else {
        int want;
        switch (t->data_type) {
        case ONNX_FLOAT: want = 4; break;
        case ONNX_DOUBLE: want = 10; break;
        case ONNX_INT64: want = 7; break;
        case ONNX_UINT32: case ONNX_UINT64: want = 11; break;
        default: want = 5; break;
        }
        if (t->nvals != numel || (t->nvals && t->typed_field != want))
            return born_error_null(BORN_ERR_FORMAT,
                                   "onnx: tensor '%s': %zu values in field %d, %llu %s elements "
                                   "expected in field %d", t->name, t->nvals, t->typed_field,
                                   (unsigned long long)numel, onnx_type_name(t->data_type), want);
    }
    int64_t shape[BORN_MAX_DIMS] = {0};
    for (int i = 0; i < t->ndim; i++) shape[i] = t->dims[i];
    born_dtype raw_same = dt;
    bool direct = bytes && io_le() &&
                  ((t->data_type != ONNX_UINT16 && t->data_type != ONNX_UINT32 &&
                    t->data_type != ONNX_UINT64 && t->data_type != ONNX_BOOL));
    if (direct && map && ((uintptr_t)bytes % born_dtype_size(raw_same)) == 0) {
        born_tensor *r = born_from_buffer(dt, t->ndim, shape, (void *)bytes, nbytes, ext_release, map);
        if (!r) ext_release(NULL, map);
        return r;
    }
    born_tensor *r = born_empty(dt, t->ndim, shape);
    if (!r) {
        if (map) ext_release(NULL, map);
        return NULL;
    }
    void *dst = born_data_ptr(r);
    born_status st = BORN_OK;
    if (direct) {
        memcpy(dst, bytes, nbytes);
    } else {
        for (size_t i = 0; i < (size_t)numel && !st; i++) {
            uint64_t bits = bytes ? read_le(bytes + i * es, es) : t->vals[i];
            if (!bytes && t->data_type == ONNX_FLOAT16) bits &= 0xffff;
            st = store(dst, dt, t->data_type, i, bits, t->name);
        }
    }
    if (map) ext_release(NULL, map);
    if (st) {
        born_free(r);
        return NULL;
    }
    return r;
}
