/* .born files: round trips of every dtype and layout, zero-copy tensors that outlive the handle,
 * the streaming writer's atomic replacement, and one test per kind of damage, each with its own
 * message. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/tensor_file.h"
#include "io/tensor_file_test.h"

static void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* A .born file with the given header text and data_len zero bytes of data, both checksums
 * right, so that the header's own validation is what a test exercises. */
static uint8_t *make_born(const char *header, uint64_t data_len, size_t *len) {
    size_t hlen = strlen(header);
    *len = 128 + (size_t)data_len + hlen;
    uint8_t *b = calloc(1, *len);
    memcpy(b, "BORN", 4);
    b[4] = 1;
    put64(b + 8, data_len);
    put64(b + 16, hlen);
    born_sha256(b + 128, (size_t)data_len, b + 24);
    memcpy(b + 128 + data_len, header, hlen);
    born_sha256(b + 128 + data_len, hlen, b + 56);
    return b;
}

static born_file *open_bytes(const uint8_t *b, size_t len) {
    return born_file_open_memory(b, len, NULL);
}

/* Opening the header must fail with status and a message containing needle. */
static void expect_bad_header(const char *header, uint64_t data_len, born_status status,
                              const char *needle) {
    size_t len = 0;
    uint8_t *b = make_born(header, data_len, &len);
    born_file *f = open_bytes(b, len);
    CHECK_MSG(f == NULL, "accepted: %s", header);
    born_file_close(f);
    CHECK_ERROR(status, needle);
    free(b);
}

/* A list with every dtype, a 0-dim, an empty and a non-contiguous tensor. */
static born_tensor_list *sample_list(void) {
    born_tensor_list *l = born_tensor_list_new();
    for (int d = 0; d < BORN_DTYPE_COUNT; d++) {
        char name[32];
        snprintf(name, sizeof name, "t.%s", born_dtype_name((born_dtype)d));
        if (born_dtype_is_quantized((born_dtype)d)) { /* blocks of arbitrary bytes, 2 rows */
            int64_t k = born_dtype_block_size((born_dtype)d) * 2;
            size_t nb = born_dtype_nbytes((born_dtype)d, 2 * k);
            unsigned char *bytes = malloc(nb);
            for (size_t i = 0; i < nb; i++) bytes[i] = (unsigned char)(i * 7 + (size_t)d);
            born_tensor *q = born_from_data((born_dtype)d, BORN_DIMS(2, k), bytes, nb);
            born_tensor_list_add(l, name, q);
            born_free(q);
            free(bytes);
            continue;
        }
        born_tensor_list_add(l, name, tft_pattern((born_dtype)d, BORN_DIMS(3, 5)));
    }
    born_tensor_list_add(l, "scalar", born_scalar(BORN_F64, 2.5));
    born_tensor_list_add(l, "empty", born_zeros(BORN_F32, BORN_DIMS(0, 4)));
    born_tensor *m = tft_pattern(BORN_F32, BORN_DIMS(4, 6));
    born_tensor_list_add(l, "transposed", born_transpose(m, 0, 1));
    return l;
}

TEST(born_file_round_trip_every_dtype) {
    born_tensor_list *l = sample_list();
    born_string_map *meta = born_string_map_new();
    born_string_map_set(meta, "author", "Born tests");
    born_string_map_set(meta, "unicode", "caf\xc3\xa9 \xe2\x80\xa8 \"quoted\"\n");
    const char *path = tft_path("round.born");
    born_file_writer *w = born_file_writer_open(path);
    CHECK_OK_TENSOR(w);
    for (int64_t i = 0; w && i < l->count; i++)
        CHECK_OK(born_file_writer_add(w, l->items[i].name, l->items[i].tensor));
    for (int64_t i = 0; w && i < meta->count; i++)
        CHECK_OK(born_file_writer_set_metadata(w, meta->items[i].key, meta->items[i].value));
    const char *config = "{\"arch\": \"mlp\", \"layers\": [4, 8, 1], \"nested\": {\"x\": null}}";
    CHECK_OK(born_file_writer_set_config(w, config, strlen(config)));
    CHECK_OK(born_file_writer_finish(w));

    born_file *f = born_file_open(path, NULL);
    CHECK_OK_TENSOR(f);
    if (!f) return;
    CHECK(born_file_get_format(f) == BORN_FORMAT_BORN);
    CHECK_EQ_INT(born_file_count(f), l->count);
    for (int64_t i = 0; i < l->count; i++) {
        born_tensor_info info;
        CHECK_OK(born_file_tensor_info(f, i, &info));
        CHECK_MSG(strcmp(info.name, l->items[i].name) == 0, "order: %s", info.name);
        CHECK_EQ_INT(info.offset % 64, 0);
        CHECK_EQ_INT(born_file_find(f, l->items[i].name), i);
        born_tensor *t = born_file_get(f, l->items[i].name);
        CHECK_MSG(tft_same(t, l->items[i].tensor), "tensor %s differs", l->items[i].name);
        if (t && born_tensor_numel(t) > 0)
            CHECK_EQ_INT((uintptr_t)born_data_ptr(t) % 64, 0);
    }
    const born_string_map *m = born_file_metadata(f);
    CHECK_EQ_INT(m->count, 2);
    CHECK(strcmp(born_string_map_get(m, "unicode"), meta->items[1].value) == 0);
    const born_json_value *cfg = born_file_config(f);
    born_json *want = born_json_parse(config, strlen(config), NULL);
    CHECK(cfg && born_json_value_equal(cfg, born_json_root(want)));
    born_json_free(want);
    CHECK(born_file_find(f, "nope") == -1);
    CHECK(born_file_get(f, "nope") == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "no tensor named \"nope\"");
    CHECK(born_file_get_index(f, l->count) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "out of range");

    /* the same bytes through the encoder */
    void *enc = NULL;
    size_t enc_len = 0, file_len = 0;
    CHECK_OK(born_file_encode(l, meta, config, &enc, &enc_len));
    uint8_t *bytes = tft_read_all(path, &file_len);
    CHECK(enc_len == file_len && memcmp(enc, bytes, file_len) == 0);
    free(enc);
    free(bytes);
    born_file_close(f);
    born_string_map_free(meta);
    born_tensor_list_free(l);
    unlink(path);
}

TEST(born_file_tensors_outlive_the_handle) {
    born_tensor_list *l = sample_list();
    const char *path = tft_path("outlive.born");
    CHECK_OK(born_file_save(path, l, NULL));
    born_file *f = born_file_open(path, NULL);
    CHECK_OK_TENSOR(f);
    born_tensor_list *got = f ? born_file_to_list(f) : NULL;
    born_tensor *one = f ? born_file_get(f, "t.f32") : NULL; /* owned by the test's scope */
    born_file_close(f); /* the mapping stays while tensors use it */
    unlink(path);       /* and even once the file is gone */
    CHECK(got && got->count == l->count);
    for (int64_t i = 0; got && i < got->count; i++) {
        CHECK(strcmp(got->items[i].name, l->items[i].name) == 0);
        CHECK(tft_same(got->items[i].tensor, l->items[i].tensor));
    }
    born_tensor_list_free(got);
    /* writing to a mapped tensor is private copy-on-write: it works and never reaches the file */
    CHECK_OK(born_set(one, (const int64_t[]){0, 0}, 42.0));
    double v = 0;
    CHECK_OK(born_get(one, (const int64_t[]){0, 0}, &v));
    CHECK(v == 42.0);
    born_free(one);
    born_tensor_list_free(l);
}

TEST(born_file_empty_and_memory) {
    born_tensor_list *l = born_tensor_list_new();
    void *enc = NULL;
    size_t len = 0;
    CHECK_OK(born_file_encode(l, NULL, NULL, &enc, &len));
    born_file *f = born_file_open_memory(enc, len, NULL);
    CHECK_OK_TENSOR(f);
    CHECK_EQ_INT(born_file_count(f), 0);
    CHECK(born_file_config(f) == NULL);
    born_tensor_list *got = born_file_to_list(f);
    CHECK(got && got->count == 0);
    born_tensor_list_free(got);
    born_file_close(f);
    free(enc);
    born_tensor_list_free(l);
}

TEST(born_file_writer_is_atomic) {
    const char *path = tft_path("atomic.born");
    born_tensor_list *old = born_tensor_list_new();
    born_tensor_list_add(old, "w", tft_pattern(BORN_F32, BORN_DIMS(8)));
    CHECK_OK(born_file_save(path, old, NULL));
    size_t old_len = 0;
    uint8_t *old_bytes = tft_read_all(path, &old_len);
    int entries = tft_dir_entries();

    /* abort: the target is untouched and the temporary file is gone */
    born_file_writer *w = born_file_writer_open(path);
    CHECK_OK(born_file_writer_add(w, "x", tft_pattern(BORN_F64, BORN_DIMS(100))));
    CHECK_EQ_INT(tft_dir_entries(), entries + 1);
    born_file_writer_abort(w);
    CHECK_EQ_INT(tft_dir_entries(), entries);

    /* a write that fails midway (a full disk, simulated after 1000 bytes) */
    born_tensor_list *big = born_tensor_list_new();
    born_tensor_list_add(big, "a", tft_pattern(BORN_F32, BORN_DIMS(100)));
    born_tensor_list_add(big, "b", tft_pattern(BORN_F32, BORN_DIMS(1000)));
    void *enc = NULL;
    size_t full = 0;
    CHECK_OK(born_file_encode(big, NULL, NULL, &enc, &full));
    free(enc);
    for (int64_t limit = 0; limit < (int64_t)full; limit += limit < 200 ? 61 : 397) {
        io_out_fail_after(limit);
        CHECK(born_file_save(path, big, NULL) != BORN_OK);
        CHECK_ERROR(BORN_ERR_IO, "simulated");
        io_out_fail_after(-1);
        size_t len = 0;
        uint8_t *now = tft_read_all(path, &len);
        CHECK_MSG(len == old_len && memcmp(now, old_bytes, len) == 0, "limit %lld",
                  (long long)limit);
        free(now);
        CHECK_EQ_INT(tft_dir_entries(), entries);
    }
    /* errors after a failed write stick; finish then fails and cleans up */
    io_out_fail_after(200);
    w = born_file_writer_open(path);
    CHECK(born_file_writer_add(w, "a", tft_pattern(BORN_F32, BORN_DIMS(100))) == BORN_ERR_IO);
    born_clear_error();
    io_out_fail_after(-1);
    CHECK(born_file_writer_add(w, "b", tft_pattern(BORN_F32, BORN_DIMS(1))) == BORN_ERR_IO);
    CHECK_ERROR(BORN_ERR_IO, "earlier write failed");
    CHECK(born_file_writer_finish(w) == BORN_ERR_IO);
    born_clear_error();
    CHECK_EQ_INT(tft_dir_entries(), entries);

    /* a directory that does not exist: nothing is created */
    CHECK(born_file_save(tft_path("no/such/dir.born"), big, NULL) == BORN_ERR_IO);
    CHECK_ERROR(BORN_ERR_IO, "cannot create the temporary file");

    /* success replaces the file */
    CHECK_OK(born_file_save(path, big, NULL));
    born_file *f = born_file_open(path, NULL);
    CHECK(f && born_file_count(f) == 2);
    born_file_close(f);
    unlink(path);
    free(old_bytes);
    born_tensor_list_free(old);
    born_tensor_list_free(big);
}

TEST(born_file_writer_rejects_bad_arguments) {
    const char *path = tft_path("args.born");
    born_file_writer *w = born_file_writer_open(path);
    born_tensor *t = tft_pattern(BORN_F32, BORN_DIMS(2));
    CHECK_OK(born_file_writer_add(w, "a", t));
    CHECK(born_file_writer_add(w, "a", t) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "already added");
    CHECK(born_file_writer_add(w, "", t) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "empty tensor name");
    CHECK(born_file_writer_add(w, "bad\xff", t) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "UTF-8");
    CHECK(born_file_writer_set_config(w, "[1]", 3) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "not an object");
    CHECK(born_file_writer_set_metadata(w, "k", "\xc0") == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "UTF-8");
    /* the argument errors did not spoil the writer */
    CHECK_OK(born_file_writer_add(w, "b", t));
    CHECK_OK(born_file_writer_finish(w));
    born_file *f = born_file_open(path, NULL);
    CHECK(f && born_file_count(f) == 2);
    born_file_close(f);
    unlink(path);
}

/* ---- damage ---------------------------------------------------------------------------- */

static uint8_t *good_file(size_t *len) {
    born_tensor_list *l = born_tensor_list_new();
    born_tensor_list_add(l, "a", tft_pattern(BORN_F32, BORN_DIMS(10)));
    born_tensor_list_add(l, "b", tft_pattern(BORN_I64, BORN_DIMS(3, 3)));
    void *enc = NULL;
    born_file_encode(l, NULL, NULL, &enc, len);
    born_tensor_list_free(l);
    return enc;
}

TEST(born_file_truncated) {
    size_t len = 0;
    uint8_t *b = good_file(&len);
    const size_t cuts[] = {0, 3, 4, 100, 127, 128, 200, 128 + 64 + 10, len - 10, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        born_file_params p = born_file_default_params();
        p.format = BORN_FORMAT_BORN;
        born_file *f = born_file_open_memory(b, cuts[i], &p);
        CHECK_MSG(f == NULL, "cut at %zu accepted", cuts[i]);
        born_file_close(f);
        CHECK_ERROR(BORN_ERR_FORMAT, "truncated");
    }
    /* and through a real file */
    const char *path = tft_path("cut.born");
    tft_write_all(path, b, len - 1);
    CHECK(born_file_open(path, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "cut.born: truncated");
    unlink(path);
    free(b);
}

TEST(born_file_flipped_bytes) {
    size_t len = 0;
    uint8_t *b = good_file(&len);
    uint64_t data_len = 0;
    for (int i = 7; i >= 0; i--) data_len = data_len << 8 | b[8 + i];
    /* every byte of the header */
    for (size_t at = 128 + data_len; at < len; at++) {
        b[at] ^= 0x20;
        born_file *f = open_bytes(b, len);
        CHECK_MSG(f == NULL, "flip at %zu accepted", at);
        born_file_close(f);
        CHECK_ERROR(BORN_ERR_FORMAT, "header checksum mismatch");
        b[at] ^= 0x20;
    }
    /* data bytes, including padding */
    for (size_t at = 128; at < 128 + data_len; at += 7) {
        b[at] ^= 1;
        born_file *f = open_bytes(b, len);
        CHECK_MSG(f == NULL, "flip at %zu accepted", at);
        born_file_close(f);
        CHECK_ERROR(BORN_ERR_FORMAT, "data checksum mismatch");
        /* unchecked at open, the damage shows in born_file_verify */
        born_file_params p = born_file_default_params();
        p.verify = BORN_CHECKSUM_NEVER;
        f = born_file_open_memory(b, len, &p);
        CHECK(f != NULL);
        CHECK(born_file_verify(f) == BORN_ERR_FORMAT);
        CHECK_ERROR(BORN_ERR_FORMAT, "data checksum mismatch");
        born_file_close(f);
        b[at] ^= 1;
    }
    /* prefix fields */
    b[0] = 'X';
    CHECK(born_file_open_memory(b, len, &(born_file_params){.format = BORN_FORMAT_BORN,
                                                           .max_header = 1000}) == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "bad magic");
    CHECK(open_bytes(b, len) == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "neither a .born file");
    b[0] = 'B';
    b[4] = 2;
    CHECK(open_bytes(b, len) == NULL);
    CHECK_ERROR(BORN_ERR_UNSUPPORTED, "version 2");
    b[4] = 1;
    b[100] = 1;
    CHECK(open_bytes(b, len) == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "reserved");
    b[100] = 0;
    b[8] ^= 1; /* data length no longer a multiple of 64 */
    CHECK(open_bytes(b, len) == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "not a multiple of 64");
    b[8] ^= 1;
    born_file *f = open_bytes(b, len);
    CHECK_OK_TENSOR(f);
    born_file_close(f);
    free(b);
}

TEST(born_file_huge_sizes) {
    size_t len = 0;
    uint8_t *b = good_file(&len);
    uint8_t saved[16];
    memcpy(saved, b + 8, 16);
    put64(b + 16, UINT64_MAX);
    CHECK(open_bytes(b, len) == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "exceeds the limit");
    put64(b + 16, 99999999);
    CHECK(open_bytes(b, len) == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "truncated");
    memcpy(b + 8, saved, 16);
    put64(b + 8, UINT64_MAX - 63);
    CHECK(open_bytes(b, len) == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "truncated");
    memcpy(b + 8, saved, 16);
    /* bytes after the header */
    uint8_t *longer = calloc(1, len + 5);
    memcpy(longer, b, len);
    CHECK(open_bytes(longer, len + 5) == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "5 unexpected bytes after the header");
    free(longer);
    free(b);
}

#define T(name, dtype, shape, off, n)                                                             \
    "{\"name\":\"" name "\",\"dtype\":\"" dtype "\",\"shape\":" shape ",\"offset\":" off           \
    ",\"nbytes\":" n "}"

TEST(born_file_bad_headers) {
    /* the good one */
    size_t len = 0;
    uint8_t *b = make_born("{\"tensors\":[" T("a", "f32", "[4]", "0", "16") "," T(
                               "b", "u8", "[2,3]", "64", "6") "]}",
                           128, &len);
    born_file *f = open_bytes(b, len);
    CHECK_OK_TENSOR(f);
    CHECK(born_file_count(f) == 2);
    born_file_close(f);
    free(b);
    /* zero-size tensors may share offsets, even the end of the data */
    b = make_born("{\"tensors\":[" T("e", "f32", "[0,5]", "64", "0") "," T("a", "f32", "[16]", "0",
                                                                         "64") "]}",
                  64, &len);
    f = open_bytes(b, len);
    CHECK_OK_TENSOR(f);
    born_tensor_info info;
    if (f) born_file_tensor_info(f, 0, &info);
    CHECK(f && strcmp(info.name, "a") == 0); /* data order */
    born_file_close(f);
    free(b);

    expect_bad_header("{\"tensors\":[" T("a", "f32", "[4]", "0", "16") "," T("b", "f32", "[4]",
                                                                           "128", "16") "]}",
                      128, BORN_ERR_FORMAT, "offset past the end");
    expect_bad_header("{\"tensors\":[" T("a", "f32", "[4]", "18446744073709551552", "16") "]}",
                      128, BORN_ERR_FORMAT, "offset past the end");
    expect_bad_header("{\"tensors\":[" T("a", "f32", "[32]", "0", "128") "," T("b", "f32", "[4]",
                                                                             "64", "16") "]}",
                      128, BORN_ERR_FORMAT, "overlapping tensors: \"a\"");
    expect_bad_header("{\"tensors\":[" T("a", "f32", "[4]", "0", "16") "," T("a", "f32", "[4]",
                                                                           "64", "16") "]}",
                      128, BORN_ERR_FORMAT, "\"a\" appears twice");
    expect_bad_header("{\"tensors\":[" T("a", "f128", "[4]", "0", "64") "]}", 64, BORN_ERR_FORMAT,
                      "unknown dtype \"f128\"");
    expect_bad_header("{\"tensors\":[" T("a", "F32", "[4]", "0", "16") "]}", 64, BORN_ERR_FORMAT,
                      "unknown dtype");
    expect_bad_header("{\"tensors\":[" T("a", "f32", "[4]", "32", "16") "]}", 64, BORN_ERR_FORMAT,
                      "misaligned offset 32");
    expect_bad_header("{\"tensors\":[" T("a", "f32", "[4]", "0", "15") "]}", 64, BORN_ERR_FORMAT,
                      "needs 16 bytes, but nbytes is 15");
    expect_bad_header("{\"tensors\":[" T("a", "f32", "[4294967296,4294967296]", "0", "0") "]}", 64,
                      BORN_ERR_FORMAT, "overflows");
    expect_bad_header("{\"tensors\":[" T("a", "f32", "[0,4611686018427387904,4611686018427387904]",
                                          "0", "0") "]}",
                      64, BORN_ERR_FORMAT, "overflows");
    expect_bad_header("{\"tensors\":[" T("a", "f32", "[1,1,1,1,1,1,1,1,1]", "0", "4") "]}", 64,
                      BORN_ERR_FORMAT, "9 dimensions");
    expect_bad_header("{\"tensors\":[" T("a", "f32", "[-4]", "0", "16") "]}", 64, BORN_ERR_FORMAT,
                      "shape[0] is not a non-negative integer");
    expect_bad_header("{\"tensors\":[" T("a", "f32", "[4.0]", "0", "16") "]}", 64,
                      BORN_ERR_FORMAT, "shape[0]");
    expect_bad_header("{\"tensors\":[" T("a", "f32", "[4]", "0e0", "16") "]}", 64,
                      BORN_ERR_FORMAT, "offset is not");
    expect_bad_header("{\"tensors\":[" T("", "f32", "[4]", "0", "16") "]}", 64, BORN_ERR_FORMAT,
                      "empty name");
    expect_bad_header("{\"tensors\":[" T("a\\u0000b", "f32", "[4]", "0", "16") "]}", 64,
                      BORN_ERR_FORMAT, "NUL");
    expect_bad_header("{\"tensors\":[{\"name\":\"a\",\"dtype\":\"f32\",\"shape\":[],"
                      "\"offset\":0}]}",
                      64, BORN_ERR_FORMAT, "has no \"nbytes\"");
    expect_bad_header("{\"tensors\":[{\"name\":\"a\",\"dtype\":\"f32\",\"shape\":[],\"offset\":0,"
                      "\"nbytes\":4,\"extra\":1}]}",
                      64, BORN_ERR_FORMAT, "unknown key \"extra\"");
    expect_bad_header("{\"tensors\":[" T("a", "f32", "[]", "0", "4") "," T("b", "f32", "[]",
                      "64", "4") ",{\"name\":1,\"dtype\":\"f32\",\"shape\":[],\"offset\":0,\"nbytes\":4}]}",
                      128, BORN_ERR_FORMAT, "tensors[2].name is number, not a string");
    expect_bad_header("{\"tensors\":[[]]}", 64, BORN_ERR_FORMAT, "not an object");
    expect_bad_header("{\"tensors\":{}}", 64, BORN_ERR_FORMAT, "not an array");
    expect_bad_header("{}", 0, BORN_ERR_FORMAT, "no \"tensors\"");
    expect_bad_header("[]", 0, BORN_ERR_FORMAT, "not an object");
    expect_bad_header("{\"tensors\":[],\"x\":1}", 0, BORN_ERR_FORMAT, "unknown key \"x\"");
    expect_bad_header("{\"tensors\":[],\"tensors\":[]}", 0, BORN_ERR_FORMAT, "header: ");
    expect_bad_header("{\"tensors\":[],", 0, BORN_ERR_FORMAT, "header: born_json_parse");
    expect_bad_header("{\"tensors\":[],\"metadata\":{\"k\":1}}", 0, BORN_ERR_FORMAT,
                      "metadata key 0 (\"k\") is number, not a string");
    expect_bad_header("{\"tensors\":[],\"metadata\":[]}", 0, BORN_ERR_FORMAT, "not an object");
    expect_bad_header("{\"tensors\":[],\"config\":\"x\"}", 0, BORN_ERR_FORMAT,
                      "\"config\" is string, not an object");
    expect_bad_header("{\"tensors\":[]}\xff", 0, BORN_ERR_FORMAT, "header: ");
}

TEST(born_file_open_errors) {
    CHECK(born_file_open(tft_path("missing.born"), NULL) == NULL);
    CHECK_ERROR(BORN_ERR_IO, "missing.born: cannot open");
    CHECK(born_file_open("/tmp", NULL) == NULL);
    CHECK_ERROR(BORN_ERR_IO, "not a regular file");
    const char *path = tft_path("empty.born");
    tft_write_all(path, "", 0);
    CHECK(born_file_open(path, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "empty");
    unlink(path);
    CHECK(born_file_open(NULL, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "NULL");
}
