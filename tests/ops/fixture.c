/* Reader for tests/fixtures/ops.bin (see fixture.h). */
#include "fixture.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_STRING = 4096, MAX_TENSORS = 64, MAX_RECORDS = 1000000 };

typedef struct reader {
    const unsigned char *p;
    size_t size, pos;
    char *err;
    size_t err_size;
    bool failed;
} reader;

static void fail(reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(reader *r, const char *fmt, ...) {
    if (r->failed) return;
    r->failed = true;
    if (!r->err || !r->err_size) return;
    int n = snprintf(r->err, r->err_size, "fixture file, byte %zu: ", r->pos);
    if (n < 0 || (size_t)n >= r->err_size) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err + n, r->err_size - (size_t)n, fmt, ap);
    va_end(ap);
}

/* True when n more bytes are there; otherwise records the failure. */
static bool have(reader *r, size_t n, const char *what) {
    if (r->failed) return false;
    if (n > r->size - r->pos) {
        fail(r, "truncated: %s needs %zu bytes, %zu left", what, n, r->size - r->pos);
        return false;
    }
    return true;
}

static uint64_t read_le(reader *r, int bytes, const char *what) {
    if (!have(r, (size_t)bytes, what)) return 0;
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)r->p[r->pos + (size_t)i] << (8 * i);
    r->pos += (size_t)bytes;
    return v;
}

static char *read_string(reader *r, const char *what) {
    uint64_t len = read_le(r, 4, what);
    if (r->failed) return NULL;
    if (len > MAX_STRING) {
        fail(r, "%s has length %llu (more than %d)", what, (unsigned long long)len, MAX_STRING);
        return NULL;
    }
    if (!have(r, (size_t)len, what)) return NULL;
    char *s = malloc((size_t)len + 1);
    if (!s) {
        fail(r, "out of memory");
        return NULL;
    }
    memcpy(s, r->p + r->pos, (size_t)len);
    s[len] = '\0';
    if (strlen(s) != (size_t)len) {
        free(s);
        fail(r, "%s contains a NUL byte", what);
        return NULL;
    }
    r->pos += (size_t)len;
    return s;
}

static bool read_tensor(reader *r, fixture_tensor *t) {
    t->name = read_string(r, "tensor name");
    if (!t->name) return false;
    uint64_t dtype = read_le(r, 1, "dtype");
    uint64_t ndim = read_le(r, 1, "ndim");
    if (r->failed) return false;
    if (dtype >= BORN_DTYPE_COUNT) {
        fail(r, "tensor %s: dtype code %llu is not a Born dtype", t->name, (unsigned long long)dtype);
        return false;
    }
    if (ndim > BORN_MAX_DIMS) {
        fail(r, "tensor %s: %llu dimensions", t->name, (unsigned long long)ndim);
        return false;
    }
    t->dtype = (born_dtype)dtype;
    t->ndim = (int)ndim;
    uint64_t numel = 1;
    bool overflow = false;
    for (int d = 0; d < t->ndim; d++) {
        uint64_t s = read_le(r, 8, "shape");
        if (r->failed) return false;
        if (s > (uint64_t)INT64_MAX) {
            fail(r, "tensor %s: negative size in dimension %d", t->name, d);
            return false;
        }
        t->shape[d] = (int64_t)s;
        if (s != 0 && numel > UINT64_MAX / 16 / s) overflow = true;
        numel *= s;
    }
    uint64_t nbytes = read_le(r, 8, "nbytes");
    if (r->failed) return false;
    if (overflow || numel * born_dtype_size(t->dtype) != nbytes) {
        fail(r, "tensor %s: %llu bytes of data do not match its shape and dtype %s", t->name,
             (unsigned long long)nbytes, born_dtype_name(t->dtype));
        return false;
    }
    if (!have(r, (size_t)nbytes, "tensor data")) return false;
    t->numel = (int64_t)numel;
    t->nbytes = (size_t)nbytes;
    t->data = r->p + r->pos;
    r->pos += (size_t)nbytes;
    return true;
}

static bool read_record(reader *r, fixture_record *rec) {
    rec->name = read_string(r, "record name");
    if (!rec->name) return false;
    rec->spec = read_string(r, "spec");
    if (!rec->spec) return false;
    uint64_t n = read_le(r, 4, "tensor count");
    if (r->failed) return false;
    if (n > MAX_TENSORS) {
        fail(r, "record %s has %llu tensors", rec->name, (unsigned long long)n);
        return false;
    }
    rec->tensors = calloc(n ? (size_t)n : 1, sizeof *rec->tensors);
    if (!rec->tensors) {
        fail(r, "out of memory");
        return false;
    }
    for (uint64_t i = 0; i < n; i++) {
        rec->ntensors = (int)i + 1; /* so fixture_free sees every name allocated so far */
        if (!read_tensor(r, &rec->tensors[i])) return false;
        for (uint64_t j = 0; j < i; j++) {
            if (strcmp(rec->tensors[j].name, rec->tensors[i].name) == 0) {
                fail(r, "record %s has two tensors called %s", rec->name, rec->tensors[i].name);
                return false;
            }
        }
    }
    rec->ntensors = (int)n;
    return true;
}

void fixture_free(fixture_file *f) {
    if (!f) return;
    for (int i = 0; f->records && i < f->nrecords; i++) {
        fixture_record *rec = &f->records[i];
        free(rec->name);
        free(rec->spec);
        for (int j = 0; rec->tensors && j < rec->ntensors; j++) free(rec->tensors[j].name);
        free(rec->tensors);
    }
    free(f->records);
    free(f->buf);
    memset(f, 0, sizeof *f);
}

bool fixture_parse(const void *data, size_t size, fixture_file *out, char *err, size_t err_size) {
    memset(out, 0, sizeof *out);
    if (err && err_size) err[0] = '\0';
    out->buf = malloc(size ? size : 1);
    if (!out->buf) {
        if (err && err_size) snprintf(err, err_size, "out of memory");
        return false;
    }
    if (size) memcpy(out->buf, data, size);
    out->size = size;
    reader r = {out->buf, size, 0, err, err_size, false};
    if (have(&r, 8, "magic") && memcmp(r.p, FIXTURE_MAGIC, 8) != 0) fail(&r, "bad magic");
    r.pos += r.failed ? 0 : 8;
    uint64_t version = read_le(&r, 4, "version");
    if (!r.failed && version != FIXTURE_VERSION)
        fail(&r, "version %llu (this reader knows %u)", (unsigned long long)version, FIXTURE_VERSION);
    uint64_t count = read_le(&r, 4, "record count");
    if (!r.failed && count > MAX_RECORDS) fail(&r, "%llu records", (unsigned long long)count);
    if (!r.failed) {
        out->records = calloc(count ? (size_t)count : 1, sizeof *out->records);
        if (!out->records) fail(&r, "out of memory");
    }
    for (uint64_t i = 0; !r.failed && i < count; i++) {
        out->nrecords = (int)i + 1;
        read_record(&r, &out->records[i]);
    }
    if (!r.failed && r.pos != size) fail(&r, "%zu bytes after the last record", size - r.pos);
    if (r.failed) {
        fixture_free(out);
        return false;
    }
    return true;
}

bool fixture_load(const char *path, fixture_file *out, char *err, size_t err_size) {
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(err, err_size, "cannot open %s (run the tests from the repository root; "
                 "regenerate with python3 tools/gen_fixtures.py)", path);
        return false;
    }
    size_t cap = 1 << 20, len = 0;
    unsigned char *buf = malloc(cap);
    while (buf) {
        if (len == cap) {
            unsigned char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len, fp);
        len += n;
        if (n == 0) break;
    }
    bool read_error = ferror(fp) != 0;
    fclose(fp);
    if (!buf || read_error) {
        snprintf(err, err_size, "reading %s failed", path);
        free(buf);
        return false;
    }
    bool ok = fixture_parse(buf, len, out, err, err_size);
    free(buf);
    return ok;
}

const fixture_tensor *fixture_find(const fixture_record *r, const char *name) {
    for (int i = 0; i < r->ntensors; i++)
        if (strcmp(r->tensors[i].name, name) == 0) return &r->tensors[i];
    return NULL;
}

static uint64_t load_bits(const unsigned char *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

double fixture_get_f64(const fixture_tensor *t, int64_t i) {
    size_t size = born_dtype_size(t->dtype);
    uint64_t bits = load_bits(t->data + (size_t)i * size, size);
    switch (t->dtype) {
    case BORN_F32: {
        uint32_t b = (uint32_t)bits;
        float f;
        memcpy(&f, &b, sizeof f);
        return f;
    }
    case BORN_F64: {
        double d;
        memcpy(&d, &bits, sizeof d);
        return d;
    }
    case BORN_F16: return born_f16_to_f32((uint16_t)bits);
    case BORN_BF16: return born_bf16_to_f32((uint16_t)bits);
    default: return (double)fixture_get_i64(t, i);
    }
}

int64_t fixture_get_i64(const fixture_tensor *t, int64_t i) {
    size_t size = born_dtype_size(t->dtype);
    uint64_t bits = load_bits(t->data + (size_t)i * size, size);
    switch (t->dtype) {
    case BORN_I8: return (int8_t)(uint8_t)bits;
    case BORN_I16: return (int16_t)(uint16_t)bits;
    case BORN_I32: return (int32_t)(uint32_t)bits;
    case BORN_I64: return (int64_t)bits;
    case BORN_U8: return (int64_t)(uint8_t)bits;
    case BORN_BOOL: return bits != 0;
    default: {
        double v = fixture_get_f64(t, i);
        return isfinite(v) && fabs(v) < 9.2e18 ? (int64_t)v : 0;
    }
    }
}

born_tensor *fixture_to_tensor(const fixture_tensor *t) {
    /* the file is little-endian, like every machine Born runs on */
    return born_from_data(t->dtype, t->ndim, t->shape, t->nbytes ? t->data : NULL, t->nbytes);
}
