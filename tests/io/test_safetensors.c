/* safetensors: the reference implementation's files (tools/gen_safetensors_fixtures.py) read
 * exactly, Born's writer reproducing their bytes, and the reference's every validation. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/tensor_file_test.h"

#define FIXTURES "tests/fixtures/safetensors/"

/* The fixture table of gen_safetensors_fixtures.py. */
static const struct {
    const char *name;
    born_dtype dtype;
    int ndim;
    int64_t shape[3];
} fixture[] = {
    {"bool", BORN_BOOL, 2, {2, 3}},  {"u8", BORN_U8, 1, {16}},         {"i8", BORN_I8, 1, {7}},
    {"i16", BORN_I16, 2, {2, 5}},    {"f16", BORN_F16, 2, {3, 4}},     {"bf16", BORN_BF16, 3, {2, 2, 3}},
    {"i32", BORN_I32, 3, {4, 1, 3}}, {"f32", BORN_F32, 3, {2, 3, 4}},  {"f64", BORN_F64, 1, {5}},
    {"i64", BORN_I64, 1, {3}},       {"scalar", BORN_F32, 0, {0}},     {"empty", BORN_F32, 2, {0, 3}},
};
enum { NFIX = (int)(sizeof fixture / sizeof fixture[0]) };

static born_tensor_list *fixture_list(void) {
    born_tensor_list *l = born_tensor_list_new();
    for (int i = 0; i < NFIX; i++)
        born_tensor_list_add(l, fixture[i].name,
                             tft_pattern(fixture[i].dtype, fixture[i].ndim, fixture[i].shape));
    return l;
}

TEST(safetensors_reads_reference_files) {
    born_file *f = born_file_open(FIXTURES "all_dtypes.safetensors", NULL);
    CHECK_OK_TENSOR(f);
    if (!f) return;
    CHECK(born_file_get_format(f) == BORN_FORMAT_SAFETENSORS);
    CHECK_EQ_INT(born_file_count(f), NFIX);
    born_tensor_list *want = fixture_list();
    for (int i = 0; i < NFIX; i++) {
        born_tensor *t = born_file_get(f, fixture[i].name);
        CHECK_MSG(tft_same(t, want->items[i].tensor), "%s differs", fixture[i].name);
    }
    CHECK(strcmp(born_string_map_get(born_file_metadata(f), "format"), "pt") == 0);
    CHECK(born_file_config(f) == NULL);
    CHECK_OK(born_file_verify(f)); /* nothing to verify */
    /* data order: the reference sorts by alignment, then name */
    born_tensor_info info;
    born_file_tensor_info(f, 0, &info);
    CHECK(strcmp(info.name, "i64") == 0 && strcmp(info.dtype_name, "I64") == 0);
    born_file_close(f);

    f = born_safetensors_open(FIXTURES "no_metadata.safetensors", NULL);
    CHECK_OK_TENSOR(f);
    CHECK(f && born_file_metadata(f)->count == 0);
    born_tensor *w = f ? born_file_get(f, "weight") : NULL;
    CHECK(tft_same(w, tft_pattern(BORN_F32, BORN_DIMS(3, 2))));
    born_file_close(f);
    born_tensor_list_free(want);
}

TEST(safetensors_lists_dtypes_born_lacks) {
    born_file *f = born_file_open(FIXTURES "unsupported.safetensors", NULL);
    CHECK_OK_TENSOR(f);
    if (!f) return;
    CHECK_EQ_INT(born_file_count(f), 4);
    const char *names[] = {"d_f32", "b_u32", "a_u16", "c_f8"};
    const char *dtypes[] = {"F32", "U32", "U16", "F8_E4M3"};
    for (int i = 0; i < 4; i++) {
        born_tensor_info info;
        CHECK_OK(born_file_tensor_info(f, i, &info));
        CHECK(strcmp(info.name, names[i]) == 0 && strcmp(info.dtype_name, dtypes[i]) == 0);
        CHECK((info.dtype == BORN_DTYPE_COUNT) == (i > 0));
    }
    CHECK(tft_same(born_file_get(f, "d_f32"), tft_pattern(BORN_F32, BORN_DIMS(2, 2))));
    CHECK(born_file_get(f, "a_u16") == NULL);
    CHECK_ERROR(BORN_ERR_UNSUPPORTED, "\"a_u16\" has dtype U16");
    CHECK(born_file_to_list(f) == NULL);
    CHECK_ERROR(BORN_ERR_UNSUPPORTED, "U32");
    born_file_close(f);
}

static void check_same_bytes(const char *fixture_name, born_tensor_list *l,
                             born_string_map *meta) {
    char path[256];
    snprintf(path, sizeof path, FIXTURES "%s", fixture_name);
    size_t len = 0, enc_len = 0, file_len = 0;
    uint8_t *want = tft_read_all(path, &len);
    void *enc = NULL;
    CHECK_OK(born_safetensors_encode(l, meta, &enc, &enc_len));
    CHECK_MSG(want && enc_len == len && memcmp(enc, want, len) == 0,
              "%s: Born writes %zu bytes that differ from the reference's %zu", fixture_name,
              enc_len, len);
    const char *out = tft_path("same.safetensors");
    CHECK_OK(born_safetensors_save(out, l, meta));
    uint8_t *saved = tft_read_all(out, &file_len);
    CHECK(saved && file_len == len && memcmp(saved, want, len) == 0);
    unlink(out);
    free(saved);
    free(enc);
    free(want);
}

TEST(safetensors_writes_reference_bytes) {
    born_tensor_list *l = born_tensor_list_new();
    /* a different insertion order: the writer sorts as the reference does */
    for (int i = NFIX - 1; i >= 0; i--)
        born_tensor_list_add(l, fixture[i].name,
                             tft_pattern(fixture[i].dtype, fixture[i].ndim, fixture[i].shape));
    born_string_map *meta = born_string_map_new();
    born_string_map_set(meta, "format", "pt");
    check_same_bytes("all_dtypes.safetensors", l, meta);
    born_string_map_free(meta);
    born_tensor_list_free(l);

    l = born_tensor_list_new();
    /* a non-contiguous tensor is written row-major */
    born_tensor *t = born_transpose(tft_pattern(BORN_F32, BORN_DIMS(2, 3)), 0, 1);
    born_tensor *expect = tft_pattern(BORN_F32, BORN_DIMS(3, 2));
    CHECK(!born_tensor_is_contiguous(t));
    born_tensor_list_add(l, "weight", born_tensor_is_contiguous(t) ? t : expect);
    check_same_bytes("no_metadata.safetensors", l, NULL);
    born_tensor_list_free(l);

    l = born_tensor_list_new();
    born_tensor_list_add(l, "t", t);
    void *enc = NULL;
    size_t len = 0;
    CHECK_OK(born_safetensors_encode(l, NULL, &enc, &len));
    born_file *f = born_file_open_memory(enc, len, NULL);
    born_tensor *back = f ? born_file_get(f, "t") : NULL;
    CHECK(tft_same(back, born_contiguous(t)));
    born_file_close(f);
    free(enc);
    born_tensor_list_free(l);
}

/* ---- validation ------------------------------------------------------------------------ */

/* A file: the 8-byte size of header (which is used as it is), then data_len bytes. */
static uint8_t *make_st(const char *header, size_t data_len, size_t *len) {
    size_t n = strlen(header);
    *len = 8 + n + data_len;
    uint8_t *b = calloc(1, *len);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(b + 8, header, n);
    return b;
}

static void expect_bad(const char *header, size_t data_len, born_status status,
                       const char *needle) {
    size_t len = 0;
    uint8_t *b = make_st(header, data_len, &len);
    born_file_params p = born_file_default_params();
    p.format = BORN_FORMAT_SAFETENSORS;
    born_file *f = born_file_open_memory(b, len, &p);
    CHECK_MSG(f == NULL, "accepted: %s", header);
    born_file_close(f);
    CHECK_ERROR(status, needle);
    free(b);
}

#define E(name, dtype, shape, b, e)                                                               \
    "\"" name "\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":[" b "," e "]}"

TEST(safetensors_validation) {
    /* good: any key order, extra keys inside an entry ignored (as serde does), a null
     * __metadata__, zero-size tensors anywhere, unaligned data (copied) */
    const char *good = "{" E("b", "F32", "[2]", "8", "16") "," E("a", "F32", "[2]", "0", "8") ","
                       E("z", "F64", "[0]", "16", "16") ",\"__metadata__\":null,"
                       "\"c\":{\"shape\":[],\"dtype\":\"I16\",\"data_offsets\":[16,18],\"x\":[]}}";
    size_t len = 0;
    uint8_t *b = make_st(good, 18, &len);
    born_file *f = born_file_open_memory(b, len, NULL);
    CHECK_OK_TENSOR(f);
    CHECK(f && born_file_count(f) == 4);
    born_tensor *c = f ? born_file_get(f, "c") : NULL;
    CHECK_OK_TENSOR(c);
    born_file_close(f);
    free(b);

    born_file_params p = born_file_default_params();
    p.format = BORN_FORMAT_SAFETENSORS;
    CHECK(born_file_open_memory("\x02\0\0\0\0\0\0", 7, &p) == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "header too small");
    CHECK(born_file_open_memory("\x01\xe1\xf5\x05\0\0\0\0{}", 10, &p) == NULL); /* 100000001 */
    CHECK_ERROR(BORN_ERR_FORMAT, "header too large");
    CHECK(born_file_open_memory("\xff\xff\xff\xff\xff\xff\xff\xff{}", 10, &p) == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "header too large");
    CHECK(born_file_open_memory("\x03\0\0\0\0\0\0\0{}", 10, &p) == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "invalid header length");
    f = born_file_open_memory("\x02\0\0\0\0\0\0\0{}", 10, &p); /* no tensors at all */
    CHECK_OK_TENSOR(f);
    CHECK(born_file_count(f) == 0);
    born_file_close(f);
    expect_bad("", 0, BORN_ERR_FORMAT, "header: born_json_parse");
    expect_bad("[]", 0, BORN_ERR_FORMAT, "not an object");
    expect_bad("{\"a\":", 0, BORN_ERR_FORMAT, "header: born_json_parse");
    expect_bad("{\"k\":\"\xff\"}", 0, BORN_ERR_FORMAT, "UTF-8");
    expect_bad("{" E("a", "F32", "[1]", "0", "4") "," E("a", "F32", "[1]", "4", "8") "}", 8,
               BORN_ERR_FORMAT, "duplicate");
    expect_bad("{" E("a", "F33", "[1]", "0", "4") "}", 4, BORN_ERR_FORMAT,
               "unknown dtype \"F33\"");
    expect_bad("{" E("a", "F32", "[2]", "0", "4") "}", 4, BORN_ERR_FORMAT,
               "invalid shape, data type, or offset for tensor \"a\"");
    expect_bad("{" E("a", "F32", "[1]", "4", "0") "}", 4, BORN_ERR_FORMAT, "end before");
    expect_bad("{" E("a", "F32", "[1]", "4", "8") "}", 8, BORN_ERR_FORMAT,
               "invalid offset for tensor \"a\"");
    expect_bad("{" E("a", "F32", "[2]", "0", "8") "," E("b", "F32", "[1]", "4", "8") "}", 8,
               BORN_ERR_FORMAT, "without gaps or overlaps");
    expect_bad("{" E("a", "F32", "[1]", "0", "4") "," E("b", "F32", "[1]", "8", "12") "}", 12,
               BORN_ERR_FORMAT, "invalid offset for tensor \"b\"");
    expect_bad("{" E("a", "F32", "[1]", "0", "4") "}", 5, BORN_ERR_FORMAT,
               "incomplete metadata, file not fully covered");
    expect_bad("{" E("a", "F32", "[2]", "0", "8") "}", 4, BORN_ERR_FORMAT, "truncated");
    expect_bad("{" E("a", "F32", "[1,1,1,1,1,1,1,1,1]", "0", "4") "}", 4, BORN_ERR_UNSUPPORTED,
               "9 dimensions");
    expect_bad("{" E("a", "F32", "[4294967296,4294967296,4294967296]", "0", "0") "}", 0,
               BORN_ERR_FORMAT, "overflow");
    expect_bad("{" E("a", "F32", "[0,4611686018427387904,4611686018427387904]", "0", "0") "}", 0,
               BORN_ERR_UNSUPPORTED, "cannot represent the shape");
    expect_bad("{" E("a", "F4", "[3]", "0", "1") "}", 1, BORN_ERR_FORMAT, "byte boundary");
    expect_bad("{" E("a", "F32", "[-1]", "0", "4") "}", 4, BORN_ERR_FORMAT, "shape[0]");
    expect_bad("{" E("a", "F32", "[1.0]", "0", "4") "}", 4, BORN_ERR_FORMAT, "shape[0]");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4,
               BORN_ERR_FORMAT, "two non-negative integers");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, BORN_ERR_FORMAT,
               "has no \"data_offsets\"");
    expect_bad("{\"a\":[]}", 0, BORN_ERR_FORMAT, "not an object");
    expect_bad("{\"__metadata__\":{\"k\":1}}", 0, BORN_ERR_FORMAT, "not a string");
    expect_bad("{\"__metadata__\":[]}", 0, BORN_ERR_FORMAT, "not an object");
    /* auto-detection refuses what is neither format */
    CHECK(born_file_open_memory("garbage!garbage!", 16, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "neither a .born file");
}

TEST(safetensors_writer_errors) {
    born_tensor_list *l = born_tensor_list_new();
    born_tensor_list_add(l, "bad\xc3", tft_pattern(BORN_F32, BORN_DIMS(2)));
    void *enc = NULL;
    size_t len = 0;
    CHECK(born_safetensors_encode(l, NULL, &enc, &len) != BORN_OK);
    CHECK(enc == NULL);
    born_clear_error();
    const char *path = tft_path("bad.safetensors");
    int entries = tft_dir_entries();
    CHECK(born_safetensors_save(path, l, NULL) != BORN_OK);
    born_clear_error();
    CHECK_EQ_INT(tft_dir_entries(), entries);
    born_tensor_list_free(l);
}
