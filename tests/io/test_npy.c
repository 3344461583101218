/* NPY files: fixtures written by numpy (tools/gen_npy_fixtures.py) read exactly, Born's writer
 * reproducing numpy's bytes, and every error path of the strict header parser. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

#define FIXTURES "tests/fixtures/npy/"

static uint8_t *read_all(const char *path, size_t *len) {
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *buf = malloc(1 << 16);
    size_t n = buf ? fread(buf, 1, 1 << 16, f) : 0;
    fclose(f);
    *len = n;
    return buf;
}

/* Reads fixture name through both the file reader and the buffer parser; checks dtype, shape
 * and values; returns the file reader's tensor. */
static born_tensor *check_fixture(const char *name, born_dtype dtype, int ndim,
                                  const int64_t *shape, const double *values) {
    char path[256];
    snprintf(path, sizeof path, FIXTURES "%s.npy", name);
    born_tensor *t = born_npy_read(path);
    CHECK_MSG(t != NULL, "%s: %s", name, born_last_error());
    born_clear_error();
    size_t len = 0;
    uint8_t *bytes = read_all(path, &len);
    born_tensor *u = bytes ? born_npy_parse(bytes, len) : NULL;
    free(bytes);
    CHECK_MSG(u != NULL, "%s (buffer): %s", name, born_last_error());
    born_clear_error();
    born_tensor *both[2] = {t, u};
    for (int k = 0; k < 2; k++) {
        born_tensor *x = both[k];
        if (!x) continue;
        CHECK_MSG(born_tensor_dtype(x) == dtype, "%s: dtype %s", name,
                  born_dtype_name(born_tensor_dtype(x)));
        CHECK_MSG(born_tensor_ndim(x) == ndim, "%s: ndim %d", name, born_tensor_ndim(x));
        bool same = born_tensor_ndim(x) == ndim;
        for (int i = 0; same && i < ndim; i++) same = born_tensor_shape(x)[i] == shape[i];
        CHECK_MSG(same, "%s: shape differs", name);
        CHECK(born_tensor_is_contiguous(x));
        if (values && same) CHECK_TENSOR_NEAR(x, values, born_tensor_numel(x), 0, 0);
    }
    return t;
}

#define FIX(name, dtype, values, ...)                                                             \
    check_fixture(name, dtype, BORN_DIMS(__VA_ARGS__), values)

TEST(npy_reads_numpy_files) {
    FIX("f4_2x3", BORN_F32, ((const double[]){-1, -0.5, 0, 0.5, 1, 1.5}), 2, 3);
    FIX("f8_3", BORN_F64, ((const double[]){1.0 / 3.0, -2.5, 1e300}), 3);
    FIX("f2_4", BORN_F16, ((const double[]){0.5, -1, 65504, 0}), 4);
    FIX("i1_4", BORN_I8, ((const double[]){-128, -1, 0, 127}), 4);
    FIX("i2_4", BORN_I16, ((const double[]){-32768, -1, 0, 32767}), 4);
    FIX("i4_2x2", BORN_I32, ((const double[]){-2147483648.0, -1, 0, 2147483647.0}), 2, 2);
    FIX("u1_4", BORN_U8, ((const double[]){0, 1, 128, 255}), 4);
    FIX("b1_3", BORN_BOOL, ((const double[]){1, 0, 1}), 3);
    FIX("f4_empty_0x3", BORN_F32, NULL, 0, 3);
    FIX("f4_empty_long", BORN_F32, NULL, 123456789012, 0);
    born_tensor *s = check_fixture("f8_scalar", BORN_F64, 0, NULL, (const double[]){2.5});
    if (s) CHECK_NEAR(born_item(s), 2.5, 0);
    double seq[256];
    for (int i = 0; i < 256; i++) seq[i] = i;
    FIX("u1_dims8", BORN_U8, seq, 2, 2, 2, 2, 2, 2, 2, 2);
    born_tensor *i8 = FIX("i8_4", BORN_I64, NULL, 4);
    if (i8) {
        const int64_t *p = born_data_i64(i8);
        CHECK(p[0] == INT64_MIN && p[1] == -1 && p[2] == 0 && p[3] == INT64_MAX);
    }
}

TEST(npy_reads_other_layouts) {
    FIX("big_i4_2x3", BORN_I32, ((const double[]){-3, -2, -1, 0, 1, 2}), 2, 3);
    FIX("big_f8_3", BORN_F64, ((const double[]){1.5, -2.25, 1e-300}), 3);
    FIX("big_f2_2", BORN_F16, ((const double[]){0.5, -2}), 2);
    FIX("big_i2_3", BORN_I16, ((const double[]){-2, 258, 32767}), 3);
    born_tensor *b8 = FIX("big_i8_2", BORN_I64, NULL, 2);
    if (b8) {
        const int64_t *p = born_data_i64(b8);
        CHECK(p[0] == -((int64_t)1 << 40) - 5 && p[1] == ((int64_t)1 << 62) + 7);
    }
    double seq[24];
    for (int i = 0; i < 24; i++) seq[i] = i;
    FIX("fortran_i4_2x3x4", BORN_I32, seq, 2, 3, 4);
    FIX("fortran_big_f8_3x2", BORN_F64, ((const double[]){0, 1.5, 3, 4.5, 6, 7.5}), 3, 2);
    FIX("v2_f4_2x2", BORN_F32, ((const double[]){1, 2, 3, 4}), 2, 2);
    FIX("v3_i2_3", BORN_I16, ((const double[]){7, -8, 9}), 3);
    FIX("u2_3", BORN_I32, ((const double[]){0, 1, 65535}), 3);
    FIX("u4_2", BORN_I64, ((const double[]){0, 4294967295.0}), 2);
}

TEST(npy_unsupported_dtypes) {
    CHECK(born_npy_read(FIXTURES "u8_unsupported.npy") == NULL);
    CHECK_ERROR(BORN_ERR_UNSUPPORTED, "unsupported dtype '<u8': Born has no dtype that holds every "
                                      "uint64 value");
    CHECK(born_npy_read(FIXTURES "c8_unsupported.npy") == NULL);
    CHECK_ERROR(BORN_ERR_UNSUPPORTED, "tests/fixtures/npy/c8_unsupported.npy: header byte 20: "
                                      "unsupported dtype '<c8'");
    CHECK(born_npy_read(FIXTURES "structured_unsupported.npy") == NULL);
    CHECK_ERROR(BORN_ERR_UNSUPPORTED, "structured dtypes");
}

/* Born's bytes for t must equal the numpy-written fixture. */
static void check_same_bytes(const char *name, born_tensor *t) {
    char path[256];
    snprintf(path, sizeof path, FIXTURES "%s.npy", name);
    size_t len = 0, blen = 0;
    uint8_t *want = read_all(path, &len);
    void *got = NULL;
    CHECK_OK(born_npy_encode(t, &got, &blen));
    CHECK_MSG(want && got && len == blen && memcmp(want, got, len) == 0,
              "%s: Born wrote %zu bytes that differ from numpy's %zu", name, blen, len);
    free(want);
    free(got);
}

TEST(npy_writes_numpy_bytes) {
    const char *names[] = {"f4_2x3", "f8_3",    "f2_4",        "i1_4",         "i2_4",
                           "i4_2x2", "i8_4",    "u1_4",        "b1_3",         "f8_scalar",
                           "f4_empty_0x3", "f4_empty_long", "u1_dims8"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char path[256];
        snprintf(path, sizeof path, FIXTURES "%s.npy", names[i]);
        born_tensor *t = born_npy_read(path);
        CHECK_OK_TENSOR(t);
        if (t) check_same_bytes(names[i], t);
    }
    /* built from scratch, and through a non-contiguous view */
    check_same_bytes("f4_2x3",
                     tensor_of(BORN_F32, BORN_DIMS(2, 3), (const double[]){-1, -0.5, 0, 0.5, 1, 1.5}));
    born_tensor *tr = tensor_of(BORN_F32, BORN_DIMS(3, 2), (const double[]){-1, 0.5, -0.5, 1, 0, 1.5});
    check_same_bytes("f4_2x3", born_transpose(tr, 0, 1));
    check_same_bytes("b1_3", tensor_of(BORN_BOOL, BORN_DIMS(3), (const double[]){1, 0, 1}));
    check_same_bytes("f4_empty_long", born_zeros(BORN_F32, BORN_DIMS(123456789012, 0)));
    check_same_bytes("f8_scalar", born_scalar(BORN_F64, 2.5));
    /* Fortran and big-endian files come back in Born's layout: C order, host order */
    born_tensor *f = born_npy_read(FIXTURES "fortran_i4_2x3x4.npy");
    void *buf = NULL;
    size_t len = 0;
    CHECK_OK(born_npy_encode(f, &buf, &len));
    born_tensor *back = born_npy_parse(buf, len);
    free(buf);
    double seq[24];
    for (int i = 0; i < 24; i++) seq[i] = i;
    CHECK_OK_TENSOR(back);
    if (back) CHECK_TENSOR_NEAR(back, seq, 24, 0, 0);
}

TEST(npy_file_round_trip) {
    char path[128];
    snprintf(path, sizeof path, "/tmp/born_test_npy_%d.npy", (int)getpid());
    const born_dtype dtypes[] = {BORN_F16, BORN_F32, BORN_F64, BORN_I8, BORN_I16,
                                 BORN_I32, BORN_I64, BORN_U8,  BORN_BOOL};
    const double v[6] = {0, 1, 0, 3, 1, 100};
    for (size_t d = 0; d < sizeof dtypes / sizeof *dtypes; d++) {
        born_tensor *t = tensor_of(dtypes[d], BORN_DIMS(3, 2), v);
        CHECK_OK(born_npy_write(path, t));
        born_tensor *back = born_npy_read(path);
        CHECK_OK_TENSOR(back);
        if (!back) continue;
        CHECK(born_tensor_dtype(back) == dtypes[d]);
        CHECK_SHAPE(back, 3, 2);
        double want[6];
        test_read(t, want, 6);
        CHECK_TENSOR_NEAR(back, want, 6, 0, 0);
    }
    remove(path);
    born_tensor *bf = born_zeros(BORN_BF16, BORN_DIMS(2));
    CHECK(born_npy_write(path, bf) == BORN_ERR_DTYPE);
    CHECK_ERROR(BORN_ERR_DTYPE, "numpy has no bf16 dtype");
    CHECK(born_npy_write("/nonexistent/born/x.npy", born_zeros(BORN_F32, BORN_DIMS(2))) ==
          BORN_ERR_IO);
    CHECK_ERROR(BORN_ERR_IO, "born_npy_write: /nonexistent/born/x.npy: cannot create");
    CHECK(born_npy_read("/nonexistent/born/x.npy") == NULL);
    CHECK_ERROR(BORN_ERR_IO, "born_npy_read: /nonexistent/born/x.npy: cannot open");
    CHECK(born_npy_read(NULL) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "path is NULL");
    CHECK(born_npy_encode(NULL, NULL, NULL) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "NULL");
}

/* A version 1.0 file around the header text and data bytes (padded as numpy pads). */
static size_t make_npy(uint8_t *out, const char *dict, const void *data, size_t dlen) {
    size_t n = strlen(dict), hlen = n + 1, pad = 64 - (10 + hlen) % 64;
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    out[8] = (uint8_t)(hlen + pad);
    out[9] = (uint8_t)((hlen + pad) >> 8);
    memcpy(out + 10, dict, n);
    memset(out + 10 + n, ' ', pad);
    out[10 + n + pad] = '\n';
    memcpy(out + 10 + hlen + pad, data, dlen);
    return 10 + hlen + pad + dlen;
}

static void check_header_fails(const char *dict, size_t dlen, born_status status,
                               const char *needle) {
    uint8_t buf[1024];
    uint8_t data[64] = {0};
    size_t n = make_npy(buf, dict, data, dlen);
    CHECK_MSG(born_npy_parse(buf, n) == NULL, "accepted %s", dict);
    CHECK_ERROR(status, needle);
}

TEST(npy_header_errors) {
    const born_status F = BORN_ERR_FORMAT, U = BORN_ERR_UNSUPPORTED;
    /* a valid one first, with every liberty Python allows */
    uint8_t buf[1024];
    float data[2] = {1, 2};
    size_t n = make_npy(buf, " { \"shape\" :(2 ,) ,'fortran_order':True,'descr':'<f4'}", data, 8);
    born_tensor *ok = born_npy_parse(buf, n);
    CHECK_OK_TENSOR(ok);
    if (ok) CHECK_TENSOR_NEAR(ok, ((const double[]){1, 2}), 2, 0, 0);

    check_header_fails("{'descr': '<f4', 'fortran_order': False}", 0, F,
                       "the header dict lacks the key 'shape'");
    check_header_fails("{}", 0, F, "lacks the key 'descr'");
    check_header_fails("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': ()}", 4,
                       F, "header byte 27: the key 'descr' appears twice");
    check_header_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (), 'x': 1}", 4, F,
                       "unexpected key 'x'");
    check_header_fails("{'descr': '<f4', 'fortran_order': 0, 'shape': ()}", 4, F,
                       "'fortran_order' must be True or False, found 0");
    check_header_fails("{'descr': '<f4', 'fortran_order': Falsey, 'shape': ()}", 4, F,
                       "must be True or False, found Falsey");
    check_header_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (1)}", 4, F,
                       "'shape' is (n) rather than the tuple (n,)");
    check_header_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", 4, F,
                       "expected a dimension (a non-negative integer), found '-'");
    check_header_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (01,)}", 4, F,
                       "a dimension with a leading zero");
    check_header_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (1L,)}", 4, F,
                       "unexpected 'L' after a dimension");
    check_header_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (,)}", 4, F,
                       "expected a dimension");
    check_header_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (1 2)}", 4, F,
                       "expected ',' or ')' in 'shape'");
    check_header_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (1,2,3,4,5,6,7,8,9)}",
                       4, U, "more than 8 dimensions");
    check_header_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}",
                       4, F, "the dimension 99999999999999999999 is too large");
    check_header_fails("{'descr': '<f4', 'fortran_order': False, 'shape': [2]}", 8, F,
                       "'shape' must be a tuple, found '['");
    check_header_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)", 8, F,
                       "'}' to close the header dict");
    check_header_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} x", 8, F,
                       "unexpected 'x' after the header dict");
    check_header_fails("{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}", 8, F,
                       "expected ',' or '}' after a value");
    check_header_fails("{'descr': '<f\\x34', 'fortran_order': False, 'shape': (2,)}", 8, F,
                       "escape sequences in header strings are not supported");
    check_header_fails("{'descr: '<f4'}", 8, F, "expected ':' after a key");
    check_header_fails("{'descr': '<f4", 8, F, "a newline inside a string");
    check_header_fails("['descr']", 8, F, "header byte 10: expected '{' to open the header dict, "
                                          "found '['");
    check_header_fails("{'descr': 'f4', 'fortran_order': False, 'shape': (2,)}", 8, U,
                       "unsupported dtype 'f4'");
    check_header_fails("{'descr': '<f3', 'fortran_order': False, 'shape': (2,)}", 8, U,
                       "unsupported dtype '<f3'");
    check_header_fails("{'descr': '<f04', 'fortran_order': False, 'shape': (2,)}", 8, U,
                       "unsupported dtype '<f04'");
    check_header_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", 7, F,
                       "truncated: the shape [2] of 4-byte elements needs 8 bytes of data after "
                       "byte 128, but only 7 follow");
    check_header_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", 9, F,
                       "byte 136: trailing garbage after the data (1 extra bytes)");
    check_header_fails("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, "
                       "4294967296)}", 0, F, "describes more data than fits in memory");
    check_header_fails("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 0, "
                       "4294967296)}", 0, F, "the shape [4294967296, 0, 4294967296] describes "
                       "more data than fits in memory");
    check_header_fails("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,)}", 8,
                       F, "needs 8000000000000 bytes of data");
}

TEST(npy_prefix_errors) {
    CHECK(born_npy_parse("\x93NUMPZ\x01\x00\x00\x00", 10) == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "buffer: byte 0: bad magic");
    CHECK(born_npy_parse("\x93NUM", 4) == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "truncated: 4 bytes, too short");
    CHECK(born_npy_parse("", 0) == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "truncated: 0 bytes");
    CHECK(born_npy_parse("\x93NUMPY\x04\x00\x00\x00", 10) == NULL);
    CHECK_ERROR(BORN_ERR_UNSUPPORTED, "byte 6: unsupported .npy format version 4.0");
    CHECK(born_npy_parse("\x93NUMPY\x02\x00\x00\x00", 10) == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "too short for a version 2.0 .npy header");
    CHECK(born_npy_parse("\x93NUMPY\x01\x00\x40\x00{}", 12) == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "truncated header: it should end at byte 74, the file has 12");
    CHECK(born_npy_parse("\x93NUMPY\x02\x00\xff\xff\xff\xff", 12) == NULL);
    CHECK_ERROR(BORN_ERR_UNSUPPORTED, "a header of 4294967295 bytes");
    CHECK(born_npy_parse(NULL, 10) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "data is NULL");
}

TEST(npy_file_errors_name_the_path) {
    char path[128];
    snprintf(path, sizeof path, "/tmp/born_test_npy_err_%d.npy", (int)getpid());
    uint8_t buf[1024];
    float data[3] = {1, 2, 3};
    size_t n = make_npy(buf, "{'descr': '>f4', 'fortran_order': False, 'shape': (3,), }", data, 12);
    char needle[256];
    /* truncated on disk */
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(buf, 1, n - 1, f) == n - 1);
    if (f) fclose(f);
    CHECK(born_npy_read(path) == NULL);
    snprintf(needle, sizeof needle, "born_npy_read: %s: truncated: the shape [3]", path);
    CHECK_ERROR(BORN_ERR_FORMAT, needle);
    /* a bad header on disk */
    n = make_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1}", data, 12);
    f = fopen(path, "wb");
    CHECK(f && fwrite(buf, 1, n, f) == n);
    if (f) fclose(f);
    CHECK(born_npy_read(path) == NULL);
    snprintf(needle, sizeof needle, "born_npy_read: %s: header byte 66: unexpected key 'x'", path);
    CHECK_ERROR(BORN_ERR_FORMAT, needle);
    /* a header that runs past the end of the file */
    f = fopen(path, "wb");
    CHECK(f && fwrite(buf, 1, 30, f) == 30);
    if (f) fclose(f);
    CHECK(born_npy_read(path) == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "truncated header: it should end at byte 128, the file has 30");
    remove(path);
}
