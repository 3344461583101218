/* IDX files: the shipped MNIST digits (values checked against Python's gzip + numpy), round trips
 * of every element type, and every error path. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

static const char *images_path = "data/mnist-10k/mnist-10k-images-idx3-ubyte.gz";
static const char *labels_path = "data/mnist-10k/mnist-10k-labels-idx1-ubyte.gz";

/* A fresh temporary file name (the file itself is not created). */
static void temp_path(char *buf, size_t size, const char *suffix) {
    static int counter;
    snprintf(buf, size, "/tmp/born_test_idx_%d_%d%s", (int)getpid(), counter++, suffix);
}

static int64_t u8_at(born_tensor *t, int64_t i, int64_t j, int64_t k) {
    int64_t v = -1;
    born_get_i64(t, (const int64_t[]){i, j, k}, &v);
    return v;
}

TEST(idx_mnist_images) {
    born_tensor *x = born_idx_read(images_path);
    CHECK_OK_TENSOR(x);
    if (!x) return;
    CHECK_SHAPE(x, 10000, 28, 28);
    CHECK(born_tensor_dtype(x) == BORN_U8);
    CHECK(born_tensor_is_contiguous(x));
    /* numpy: a[0, 14, 10:20] and a[9999, 10, 10:20] */
    const int64_t row0[10] = {0, 0, 0, 79, 253, 253, 253, 226, 38, 0};
    const int64_t row9999[10] = {223, 253, 252, 40, 0, 0, 0, 0, 0, 0};
    for (int k = 0; k < 10; k++) {
        CHECK_EQ_INT(u8_at(x, 0, 14, 10 + k), row0[k]);
        CHECK_EQ_INT(u8_at(x, 9999, 10, 10 + k), row9999[k]);
    }
    /* numpy: a.sum(), a[0].sum(), a[1234].sum() */
    const uint8_t *p = born_data_u8(x);
    uint64_t total = 0, first = 0, mid = 0;
    for (int64_t i = 0; i < 10000 * 784; i++) total += p[i];
    for (int64_t i = 0; i < 784; i++) {
        first += p[i];
        mid += p[1234 * 784 + i];
    }
    CHECK_EQ_INT(total, 262146600);
    CHECK_EQ_INT(first, 28397);
    CHECK_EQ_INT(mid, 22016);
}

TEST(idx_mnist_labels) {
    born_tensor *y = born_idx_read(labels_path);
    CHECK_OK_TENSOR(y);
    if (!y) return;
    CHECK_SHAPE(y, 10000);
    CHECK(born_tensor_dtype(y) == BORN_U8);
    const uint8_t *p = born_data_u8(y);
    int64_t hist[10] = {0};
    bool in_range = true;
    for (int i = 0; i < 10000; i++) {
        if (p[i] < 10) hist[p[i]]++;
        else in_range = false;
    }
    CHECK(in_range);
    /* numpy: np.bincount(labels) and labels[:10] */
    const int64_t want[10] = {1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978};
    for (int d = 0; d < 10; d++) CHECK_EQ_INT(hist[d], want[d]);
    const int64_t first[10] = {9, 3, 7, 0, 9, 7, 7, 9, 6, 5};
    for (int i = 0; i < 10; i++) CHECK_EQ_INT(p[i], first[i]);
}

TEST(idx_encode_known_bytes) {
    born_tensor *t = tensor_of(BORN_I16, BORN_DIMS(2), (const double[]){1, -2});
    void *buf = NULL;
    size_t len = 0;
    CHECK_OK(born_idx_encode(t, &buf, &len));
    const uint8_t want[] = {0, 0, 0x0B, 1, 0, 0, 0, 2, 0x00, 0x01, 0xff, 0xfe};
    CHECK_EQ_INT(len, sizeof want);
    CHECK(buf && len == sizeof want && memcmp(buf, want, len) == 0);
    free(buf);
    born_tensor *f = tensor_of(BORN_F32, BORN_DIMS(1, 1), (const double[]){1.0});
    CHECK_OK(born_idx_encode(f, &buf, &len));
    const uint8_t wantf[] = {0, 0, 0x0D, 2, 0, 0, 0, 1, 0, 0, 0, 1, 0x3f, 0x80, 0, 0};
    CHECK(buf && len == sizeof wantf && memcmp(buf, wantf, len) == 0);
    free(buf);
}

TEST(idx_round_trip_every_type) {
    const born_dtype dtypes[] = {BORN_U8, BORN_I8, BORN_I16, BORN_I32, BORN_F32, BORN_F64};
    const double values[6] = {0, 1, 127, 100, 2, 3};
    const double signed_values[6] = {-128, -1, 0, 1, 127, -7};
    for (size_t d = 0; d < sizeof dtypes / sizeof *dtypes; d++) {
        const double *v = dtypes[d] == BORN_U8 ? values : signed_values;
        double big[6];
        for (int i = 0; i < 6; i++)
            big[i] = dtypes[d] == BORN_I32    ? v[i] * 16777259.0
                     : dtypes[d] == BORN_I16  ? v[i] * 255.0
                     : dtypes[d] == BORN_F32  ? v[i] * 0.3
                     : dtypes[d] == BORN_F64  ? v[i] / 3.0
                                              : v[i];
        born_tensor *t = tensor_of(dtypes[d], BORN_DIMS(2, 3), big);
        /* a transposed view is written row-major like any tensor */
        born_tensor *tt = born_transpose(t, 0, 1);
        void *buf = NULL;
        size_t len = 0;
        CHECK_OK(born_idx_encode(tt, &buf, &len));
        born_tensor *back = born_idx_parse(buf, len);
        CHECK_OK_TENSOR(back);
        free(buf);
        if (!back) continue;
        CHECK(born_tensor_dtype(back) == dtypes[d]);
        CHECK_SHAPE(back, 3, 2);
        double want[6];
        test_read(born_contiguous(tt), want, 6);
        CHECK_TENSOR_NEAR(back, want, 6, 0, 0);

        char path[128];
        temp_path(path, sizeof path, ".idx");
        CHECK_OK(born_idx_write(path, t));
        born_tensor *fromfile = born_idx_read(path);
        CHECK_OK_TENSOR(fromfile);
        double orig[6];
        test_read(t, orig, 6);
        if (fromfile) CHECK_TENSOR_NEAR(fromfile, orig, 6, 0, 0);
        remove(path);
    }
    /* 0 dimensions (one element) and empty tensors */
    born_tensor *s = born_scalar(BORN_F64, 2.5);
    void *buf = NULL;
    size_t len = 0;
    CHECK_OK(born_idx_encode(s, &buf, &len));
    CHECK_EQ_INT(len, 12);
    born_tensor *back = born_idx_parse(buf, len);
    CHECK_OK_TENSOR(back);
    if (back) {
        CHECK_EQ_INT(born_tensor_ndim(back), 0);
        CHECK_NEAR(born_item(back), 2.5, 0);
    }
    free(buf);
    born_tensor *e = born_zeros(BORN_U8, BORN_DIMS(0, 5));
    CHECK_OK(born_idx_encode(e, &buf, &len));
    back = born_idx_parse(buf, len);
    CHECK_OK_TENSOR(back);
    if (back) CHECK_SHAPE(back, 0, 5);
    free(buf);
}

/* Builds a one-member gzip file (stored blocks) around payload. */
static uint8_t *gzip_stored(const uint8_t *payload, size_t n, size_t *out_len) {
    size_t blocks = n / 65535 + 1;
    uint8_t *out = malloc(10 + n + 5 * blocks + 8);
    if (!out) return NULL;
    const uint8_t head[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    memcpy(out, head, 10);
    size_t o = 10, left = n;
    const uint8_t *p = payload;
    do {
        size_t take = left < 65535 ? left : 65535;
        out[o++] = take == left ? 1 : 0;
        out[o++] = (uint8_t)take;
        out[o++] = (uint8_t)(take >> 8);
        out[o++] = (uint8_t)~take;
        out[o++] = (uint8_t)(~take >> 8);
        memcpy(out + o, p, take);
        o += take;
        p += take;
        left -= take;
    } while (left > 0);
    uint32_t crc = born_crc32(0, payload, n);
    for (int i = 0; i < 4; i++) out[o++] = (uint8_t)(crc >> (8 * i));
    for (int i = 0; i < 4; i++) out[o++] = (uint8_t)(n >> (8 * i));
    *out_len = o;
    return out;
}

TEST(idx_gzip_in_memory_and_on_disk) {
    const uint8_t raw[] = {0, 0, 0x0C, 1, 0, 0, 0, 2, 0x12, 0x34, 0x56, 0x78, 0xff, 0xff, 0xff, 0xfe};
    size_t glen = 0;
    uint8_t *gz = gzip_stored(raw, sizeof raw, &glen);
    born_tensor *t = born_idx_parse(gz, glen);
    CHECK_OK_TENSOR(t);
    if (t) {
        CHECK(born_tensor_dtype(t) == BORN_I32);
        CHECK_TENSOR_NEAR(t, ((const double[]){0x12345678, -2}), 2, 0, 0);
    }
    /* the name does not matter: a .idx file that holds gzip data is read as gzip */
    char path[128];
    temp_path(path, sizeof path, ".idx");
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(gz, 1, glen, f) == glen);
    if (f) fclose(f);
    born_tensor *u = born_idx_read(path);
    CHECK_OK_TENSOR(u);
    if (u) CHECK_TENSOR_NEAR(u, ((const double[]){0x12345678, -2}), 2, 0, 0);
    /* a corrupt gzip file names the path */
    gz[glen - 8] ^= 0xff;
    f = fopen(path, "wb");
    CHECK(f && fwrite(gz, 1, glen, f) == glen);
    if (f) fclose(f);
    CHECK(born_idx_read(path) == NULL);
    char needle[200];
    snprintf(needle, sizeof needle, "born_idx_read: %s: byte %zu: gzip CRC-32 mismatch", path,
             glen - 8);
    CHECK_ERROR(BORN_ERR_FORMAT, needle);
    remove(path);
    free(gz);
}

static void check_parse_fails(const uint8_t *data, size_t len, const char *needle) {
    CHECK(born_idx_parse(data, len) == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, needle);
}

TEST(idx_errors) {
    check_parse_fails((const uint8_t *)"", 0, "buffer: truncated: an IDX header needs at least 4 "
                                               "bytes, the data has 0");
    check_parse_fails((const uint8_t[]){1, 0, 8, 1, 0, 0, 0, 0}, 8,
                      "buffer: byte 0: bad magic (expected 00 00 <type> <ndim>, found 01 00 08 01)");
    check_parse_fails((const uint8_t[]){0, 0, 0x0A, 1, 0, 0, 0, 0}, 8,
                      "byte 2: unknown IDX element type 0x0a");
    check_parse_fails((const uint8_t[]){0, 0, 8, 9, 0, 0, 0, 0}, 8,
                      "byte 3: 9 dimensions; Born supports at most 8");
    check_parse_fails((const uint8_t[]){0, 0, 8, 3, 0, 0, 0, 1, 0, 0}, 10,
                      "truncated header: 3 dimensions need 16 bytes, the file has 10");
    check_parse_fails((const uint8_t[]){0, 0, 0x0B, 1, 0, 0, 0, 3, 0, 1, 0, 2, 0}, 13,
                      "truncated: the header's dimensions [3] of i16 need 6 bytes of data after "
                      "byte 8, but only 5 follow");
    check_parse_fails((const uint8_t[]){0, 0, 8, 1, 0, 0, 0, 2, 7, 7, 7}, 11,
                      "byte 10: trailing garbage after the data");
    const uint8_t huge[] = {0, 0, 0x0E, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                            0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    check_parse_fails(huge, sizeof huge, "describe more data than fits in memory");
    const uint8_t big[] = {0, 0, 8, 2, 0, 1, 0, 0, 0, 0x10, 0, 0, 1};
    check_parse_fails(big, sizeof big, "need 68719476736 bytes of data after byte 12, but only 1");
    /* sizes that overflow are an error even when another is 0 (strides multiply them) */
    const uint8_t empty[] = {0, 0, 0x0E, 3, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
    check_parse_fails(empty, sizeof empty, "bytes 4-15: the dimensions [4294967295, 0, 4294967295] "
                                           "describe more data than fits in memory");
    const uint8_t empty_ok[] = {0, 0, 0x0E, 3, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 3};
    born_tensor *e = born_idx_parse(empty_ok, sizeof empty_ok);
    CHECK_OK_TENSOR(e);
    if (e) CHECK_SHAPE(e, 4294967295, 0, 3);
    CHECK(born_idx_parse(NULL, 3) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "data is NULL");
}

TEST(idx_gzip_errors) {
    const uint8_t extra[] = {0, 0, 8, 1, 0, 0, 0, 2, 7, 7, 7};
    size_t glen = 0;
    uint8_t *gz = gzip_stored(extra, sizeof extra, &glen);
    check_parse_fails(gz, glen, "byte 10 of the decompressed data: trailing garbage");
    free(gz);
    const uint8_t short_data[] = {0, 0, 8, 1, 0, 0, 0, 5, 7, 7};
    gz = gzip_stored(short_data, sizeof short_data, &glen);
    check_parse_fails(gz, glen, "need 5 bytes of data after byte 8 of the decompressed data, but "
                                "only 2 follow");
    free(gz);
    const uint8_t short_header[] = {0, 0, 8, 2, 0, 0};
    gz = gzip_stored(short_header, sizeof short_header, &glen);
    check_parse_fails(gz, glen, "truncated header: 2 dimensions need 12 bytes, the decompressed "
                                "data has 6");
    free(gz);
    const uint8_t bad_magic[] = {0, 1, 8, 1, 0, 0, 0, 0};
    gz = gzip_stored(bad_magic, sizeof bad_magic, &glen);
    check_parse_fails(gz, glen, "byte 0 of the decompressed data: bad magic");
    /* a gzip stream cut short */
    check_parse_fails(gz, glen - 12, "truncated");
    free(gz);
    /* a header announcing 4 GB of data in a small file: no absurd allocation, just an error */
    const uint8_t bomb_header[] = {0, 0, 8, 1, 0xff, 0xff, 0xff, 0xff, 1, 2, 3};
    gz = gzip_stored(bomb_header, sizeof bomb_header, &glen);
    check_parse_fails(gz, glen, "need 4294967295 bytes of data after byte 8 of the decompressed "
                                "data, but only 3 follow");
    free(gz);
}

TEST(idx_file_errors) {
    CHECK(born_idx_read("/nonexistent/born/no_such_file.idx") == NULL);
    CHECK_ERROR(BORN_ERR_IO, "born_idx_read: /nonexistent/born/no_such_file.idx: cannot open");
    CHECK(born_idx_read(NULL) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "path is NULL");
    char path[128];
    temp_path(path, sizeof path, ".idx");
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite("\0\0\x08\x01\0\0\0\x03\x01", 1, 9, f) == 9);
    if (f) fclose(f);
    CHECK(born_idx_read(path) == NULL);
    char needle[200];
    snprintf(needle, sizeof needle, "born_idx_read: %s: truncated", path);
    CHECK_ERROR(BORN_ERR_FORMAT, needle);
    remove(path);

    born_tensor *t = born_zeros(BORN_U8, BORN_DIMS(2));
    CHECK(born_idx_write("/nonexistent/born/out.idx", t) == BORN_ERR_IO);
    CHECK_ERROR(BORN_ERR_IO, "born_idx_write: /nonexistent/born/out.idx: cannot create");
}

TEST(idx_write_errors) {
    void *buf = NULL;
    size_t len = 0;
    const born_dtype bad[] = {BORN_I64, BORN_BOOL, BORN_F16, BORN_BF16};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        born_tensor *t = born_zeros(bad[i], BORN_DIMS(2));
        CHECK(born_idx_encode(t, &buf, &len) == BORN_ERR_DTYPE);
        CHECK_ERROR(BORN_ERR_DTYPE, "IDX has no");
    }
    /* a 5e9-long view of one element (no memory behind it): too long for a u32 size */
    born_tensor *one = born_zeros(BORN_U8, BORN_DIMS(1));
    born_tensor *wide = born_expand(one, BORN_DIMS(5000000000));
    CHECK_OK_TENSOR(wide);
    CHECK(born_idx_encode(wide, &buf, &len) == BORN_ERR_SHAPE);
    CHECK_ERROR(BORN_ERR_SHAPE, "dimension 0 is 5000000000, more than an IDX file can hold");
    CHECK(born_idx_encode(NULL, &buf, &len) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "input is NULL");
    CHECK(born_idx_encode(one, NULL, &len) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "NULL");
}
