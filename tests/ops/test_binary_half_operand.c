/* An f32 tensor with an f16 or bf16 one in arithmetic (the CPU's binary_half_operand: the half
 * operand read in place, not converted first): the same bits as the op on the half operand's f32
 * conversion, on either side, broadcast as a row or a column, as a transposed view, at every CPU
 * level; the result is f32. The backend refuses other mixed dtypes with a message. */
#include <math.h>
#include <string.h>

#include "backend/backend.h"
#include "core/cpu_features.h"
#include "test.h"

static born_tensor *apply(born_binary_op op, born_tensor *a, born_tensor *b) {
    switch (op) {
    case BORN_BINARY_ADD: return born_add(a, b);
    case BORN_BINARY_SUB: return born_sub(a, b);
    case BORN_BINARY_MUL: return born_mul(a, b);
    case BORN_BINARY_DIV: return born_div(a, b);
    case BORN_BINARY_MAXIMUM: return born_maximum(a, b);
    default: return born_pow(a, b);
    }
}

TEST(f32_with_a_half_operand_gives_the_bits_of_its_f32_conversion) {
    static const born_binary_op ops[] = {BORN_BINARY_ADD, BORN_BINARY_SUB,     BORN_BINARY_MUL,
                                         BORN_BINARY_DIV, BORN_BINARY_MAXIMUM, BORN_BINARY_POW};
    static const born_dtype halves[] = {BORN_BF16, BORN_F16};
    born_generator *gen = born_generator_new(5);
    cpu_level saved = cpu_get_level();
    for (int lv = CPU_LEVEL_AVX512; lv >= CPU_LEVEL_SCALAR; lv--) {
        cpu_set_level((cpu_level)lv);
        if ((int)cpu_get_level() != lv && lv != CPU_LEVEL_SCALAR) continue;
        born_scope_begin();
        born_tensor *a = born_add_scalar(born_rand(gen, BORN_F32, BORN_DIMS(37, 300)), 0.5);
        born_tensor *src = born_add_scalar(born_rand(gen, BORN_F32, BORN_DIMS(300, 37)), 0.25);
        for (size_t hi = 0; hi < 2; hi++) {
            born_tensor *full = born_to_dtype(born_transpose(src, 0, 1), halves[hi]);
            /* the half operand: whole, a transposed view, a row and a column broadcast */
            born_tensor *hs[4] = {born_contiguous(full),
                                  born_transpose(born_to_dtype(src, halves[hi]), 0, 1),
                                  born_narrow(full, 0, 3, 1), born_narrow(full, 1, 7, 1)};
            for (int v = 0; v < 4; v++)
                for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++)
                    for (int side = 0; side < 2; side++) {
                        born_tensor *h = hs[v], *hf = born_to_dtype(h, BORN_F32);
                        born_tensor *got = side ? apply(ops[o], h, a) : apply(ops[o], a, h);
                        born_tensor *want = side ? apply(ops[o], hf, a) : apply(ops[o], a, hf);
                        CHECK_OK_TENSOR(got);
                        CHECK_OK_TENSOR(want);
                        if (!got || !want) continue;
                        CHECK_EQ_INT(got->dtype, BORN_F32);
                        got = born_contiguous(got);
                        want = born_contiguous(want);
                        CHECK_MSG(memcmp(born_data_f32(got), born_data_f32(want),
                                         sizeof(float) * (size_t)born_tensor_numel(want)) == 0,
                                  "level %s %s operand %d op %d side %d: bits differ",
                                  cpu_level_name(cpu_get_level()), born_dtype_name(halves[hi]), v,
                                  (int)ops[o], side);
                    }
        }
        born_scope_end();
    }
    cpu_set_level(saved);
    born_generator_free(gen);
}

TEST(cpu_binary_refuses_other_mixed_dtypes) {
    const born_backend *be = cpu_backend();
    float f[4] = {1, 2, 3, 4}, out[4];
    uint16_t h[4] = {0x3f80, 0x4000, 0x4040, 0x4080};
    double d[4] = {1, 2, 3, 4};
    born_strided sf = {f, BORN_F32, 1, {4}, {1}}, sh = {h, BORN_BF16, 1, {4}, {1}};
    born_strided sd = {d, BORN_F64, 1, {4}, {1}}, so = {out, BORN_F32, 1, {4}, {1}};
    uint8_t flags[4];
    born_strided sb = {flags, BORN_BOOL, 1, {4}, {1}};
    CHECK_OK(be->binary(BORN_BINARY_ADD, &so, &sf, &sh));
    CHECK(out[0] == 2.0f && out[3] == 8.0f);
    CHECK_EQ_INT(be->binary(BORN_BINARY_ADD, &so, &sd, &sh), BORN_ERR_DTYPE);
    CHECK_ERROR(BORN_ERR_DTYPE, "mixed dtypes");
    CHECK_EQ_INT(be->binary(BORN_BINARY_LT, &sb, &sf, &sh), BORN_ERR_DTYPE);
    CHECK_ERROR(BORN_ERR_DTYPE, "mixed dtypes");
}
