/* Block-quantized dtypes in the core: their facts, storage sizes, which ops take them, and row
 * views that keep blocks whole. (Their arithmetic is tested with the quantization kernels.) */
#include <stdlib.h>
#include <string.h>

#include "test.h"

TEST(quantized_dtype_facts_match_ggml) {
    struct {
        born_dtype d;
        const char *name;
        int64_t block;
        size_t bytes;
    } want[] = {{BORN_Q4_0, "q4_0", 32, 18}, {BORN_Q4_1, "q4_1", 32, 20},  {BORN_Q5_0, "q5_0", 32, 22},
                {BORN_Q5_1, "q5_1", 32, 24}, {BORN_Q8_0, "q8_0", 32, 34},  {BORN_Q8_1, "q8_1", 32, 36},
                {BORN_Q2_K, "q2_k", 256, 84}, {BORN_Q3_K, "q3_k", 256, 110}, {BORN_Q4_K, "q4_k", 256, 144},
                {BORN_Q5_K, "q5_k", 256, 176}, {BORN_Q6_K, "q6_k", 256, 210}, {BORN_Q8_K, "q8_k", 256, 292},
                {BORN_IQ4_NL, "iq4_nl", 32, 18}, {BORN_IQ4_XS, "iq4_xs", 256, 136}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        CHECK(born_dtype_is_quantized(want[i].d));
        CHECK(strcmp(born_dtype_name(want[i].d), want[i].name) == 0);
        CHECK_EQ_INT(born_dtype_block_size(want[i].d), want[i].block);
        CHECK_EQ_INT(born_dtype_block_bytes(want[i].d), want[i].bytes);
        CHECK_EQ_INT(born_dtype_size(want[i].d), 0);
        CHECK_EQ_INT(born_dtype_nbytes(want[i].d, 4 * want[i].block), 4 * want[i].bytes);
    }
    CHECK(!born_dtype_is_quantized(BORN_F16));
    CHECK_EQ_INT(born_dtype_block_size(BORN_F16), 1);
    CHECK_EQ_INT(born_dtype_nbytes(BORN_F32, 10), 40);
}

/* A [rows, 64] q8_0 tensor of made-up bytes: each row's first byte is 16 x its index. */
static born_tensor *q8_rows(int64_t rows) {
    size_t nb = born_dtype_nbytes(BORN_Q8_0, rows * 64);
    unsigned char *b = malloc(nb);
    for (size_t i = 0; i < nb; i++) b[i] = (unsigned char)(i / 68 * 16 + (i % 68 ? 1 : 0));
    born_tensor *t = born_from_data(BORN_Q8_0, BORN_DIMS(rows, 64), b, nb);
    free(b);
    return t;
}

TEST(quantized_tensors_are_rows_of_blocks) {
    CHECK(born_zeros(BORN_Q4_0, BORN_DIMS(3, 33)) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "blocks of 32");
    unsigned char junk[18];
    CHECK(born_from_data(BORN_Q4_0, BORN_DIMS(1, 32), junk, 17) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "17 bytes");
    born_tensor *q = q8_rows(4);
    CHECK_OK_TENSOR(q);
    /* rows can be taken, reshaped and copied; the bytes follow */
    born_tensor *rows = born_narrow(q, 0, 1, 2);
    born_tensor *copy = born_contiguous(born_select(born_view(q, BORN_DIMS(2, 2, 64)), 1, 1));
    unsigned char a[136], b[136];
    CHECK_OK(born_copy_to_buffer(rows, a, sizeof a));
    CHECK_OK(born_copy_to_buffer(copy, b, sizeof b));
    CHECK(a[0] == 16 && a[68] == 32);   /* rows 1 and 2 */
    CHECK(b[0] == 16 && b[68] == 48);   /* rows 1 and 3 */
    born_tensor *strided = born_slice(born_view(q, BORN_DIMS(2, 2, 64)), 1, 1, 2, 1);
    born_tensor *cl = born_clone(strided); /* a strided copy of whole rows */
    CHECK_OK(born_copy_to_buffer(cl, b, sizeof b));
    CHECK(b[0] == 16 && b[68] == 48);
    /* nothing may cut a row */
    CHECK(born_narrow(q, 1, 0, 32) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "last dimension");
    CHECK(born_view(q, BORN_DIMS(16, 16)) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "multiple of 32");
    /* arithmetic and element access refuse quantized tensors with a clear message */
    CHECK(born_add(q, q) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "quantized dtype");
    CHECK(born_sum(q, 0, NULL, false) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "born_to_dtype");
    double v;
    CHECK(born_get(q, (int64_t[]){0, 0}, &v) == BORN_ERR_DTYPE);
    CHECK_ERROR(BORN_ERR_DTYPE, "not addressable");
    CHECK(born_requires_grad(q, true) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "floating");
}
