/* Dtype facts, promotion, and half-precision conversions (checked against values that NumPy's
 * float16 and PyTorch's bfloat16 produce). */
#include <string.h>

#include "test.h"

TEST(dtype_sizes_and_names) {
    CHECK_EQ_INT(born_dtype_size(BORN_F32), 4);
    CHECK_EQ_INT(born_dtype_size(BORN_BF16), 2);
    CHECK_EQ_INT(born_dtype_size(BORN_BOOL), 1);
    CHECK_EQ_INT(born_dtype_size(BORN_I64), 8);
    CHECK(strcmp(born_dtype_name(BORN_F16), "f16") == 0);
    CHECK(strcmp(born_dtype_name((born_dtype)99), "invalid") == 0);
    CHECK(born_dtype_is_floating(BORN_BF16) && !born_dtype_is_floating(BORN_I32));
    CHECK(born_dtype_is_integer(BORN_U8) && !born_dtype_is_integer(BORN_BOOL));
}

TEST(promote_types_matches_torch) {
    CHECK_EQ_INT(born_promote_types(BORN_U8, BORN_I8), BORN_I16);
    CHECK_EQ_INT(born_promote_types(BORN_U8, BORN_I32), BORN_I32);
    CHECK_EQ_INT(born_promote_types(BORN_BOOL, BORN_U8), BORN_U8);
    CHECK_EQ_INT(born_promote_types(BORN_I64, BORN_F16), BORN_F16);
    CHECK_EQ_INT(born_promote_types(BORN_F16, BORN_BF16), BORN_F32);
    CHECK_EQ_INT(born_promote_types(BORN_BF16, BORN_F64), BORN_F64);
    CHECK_EQ_INT(born_promote_types(BORN_I16, BORN_I32), BORN_I32);
    CHECK_EQ_INT(born_promote_types(BORN_BOOL, BORN_BOOL), BORN_BOOL);
}

TEST(f16_round_to_nearest_even) {
    /* (value, bits) pairs from numpy.float16 */
    CHECK_EQ_INT(born_f32_to_f16(1.0f), 0x3c00);
    CHECK_EQ_INT(born_f32_to_f16(-2.0f), 0xc000);
    CHECK_EQ_INT(born_f32_to_f16(65504.0f), 0x7bff);
    CHECK_EQ_INT(born_f32_to_f16(65520.0f), 0x7c00);      /* halfway to inf rounds up */
    CHECK_EQ_INT(born_f32_to_f16(65519.0f), 0x7bff);
    CHECK_EQ_INT(born_f32_to_f16(1.0f + 1.0f / 2048), 0x3c00); /* tie to even (down) */
    CHECK_EQ_INT(born_f32_to_f16(1.0f + 3.0f / 2048), 0x3c02); /* tie to even (up) */
    CHECK_EQ_INT(born_f32_to_f16(5.960464477539063e-08f), 0x0001); /* smallest subnormal */
    CHECK_EQ_INT(born_f32_to_f16(2.98023223876953125e-08f), 0x0000); /* half of it: to even 0 */
    CHECK_EQ_INT(born_f32_to_f16(8.940696716308594e-08f), 0x0002);  /* 1.5 ulp: to even 2 */
    CHECK_EQ_INT(born_f32_to_f16(6.097555160522461e-05f), 0x03ff);  /* largest subnormal */
    CHECK_EQ_INT(born_f32_to_f16(INFINITY), 0x7c00);
    CHECK_EQ_INT(born_f32_to_f16(-INFINITY), 0xfc00);
    CHECK_EQ_INT(born_f32_to_f16(-0.0f), 0x8000);
    uint16_t nan = born_f32_to_f16(NAN);
    CHECK((nan & 0x7c00) == 0x7c00 && (nan & 0x3ff) != 0);
    CHECK(isnan(born_f16_to_f32(nan)));
    CHECK(born_f16_to_f32(0x0001) == 5.960464477539063e-08f);
    CHECK(born_f16_to_f32(0x7bff) == 65504.0f);
    CHECK(born_f16_to_f32(0xfc00) == -INFINITY);
    CHECK(born_f16_to_f32(0x3555) == 0.333251953125f);
    /* every finite half survives a round trip through f32 */
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue; /* NaNs */
        if (born_f32_to_f16(born_f16_to_f32((uint16_t)h)) != h) bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

TEST(bf16_round_to_nearest_even) {
    CHECK_EQ_INT(born_f32_to_bf16(1.0f), 0x3f80);
    CHECK_EQ_INT(born_f32_to_bf16(3.140625f), 0x4049);
    CHECK_EQ_INT(born_f32_to_bf16(1.00390625f), 0x3f80);   /* tie: even (down) */
    CHECK_EQ_INT(born_f32_to_bf16(1.01171875f), 0x3f82);   /* tie: even (up) */
    CHECK_EQ_INT(born_f32_to_bf16(3.4028234663852886e38f), 0x7f80); /* FLT_MAX rounds to inf */
    CHECK_EQ_INT(born_f32_to_bf16(-INFINITY), 0xff80);
    CHECK(isnan(born_bf16_to_f32(born_f32_to_bf16(NAN))));
    CHECK(born_bf16_to_f32(0x4049) == 3.140625f);
}

/* Tensor conversions between f32 and bf16 (the CPU's direct loops, contiguous and through a
 * transposed view) give born_f32_to_bf16 / born_bf16_to_f32 bit for bit: every exponent, the
 * halfway cases of both parities, infinities, NaNs with payloads, denormals and zeros. */
TEST(bf16_tensor_conversion_matches_the_scalar_one) {
    enum { N = 4096 };
    static uint32_t bits[N];
    uint64_t r = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < N; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t v = (uint32_t)(r >> 32);
        if (i % 4 == 1) v = (v & 0xffff0000u) | 0x8000u; /* a tie */
        if (i % 16 == 2) v = 0x7f800000u | (v & 0x807fffffu); /* inf or a NaN */
        if (i % 16 == 3) v &= 0x807fffffu; /* a denormal or zero */
        bits[i] = v;
    }
    int64_t shape[2] = {64, 64};
    born_tensor *f = born_from_data(BORN_F32, 2, shape, bits, sizeof bits);
    born_tensor *ft = born_transpose(f, 0, 1);
    born_tensor *h = born_to_dtype(f, BORN_BF16), *ht = born_to_dtype(ft, BORN_BF16);
    born_tensor *back = h ? born_to_dtype(h, BORN_F32) : NULL;
    CHECK(f && ft && h && ht && back);
    if (f && ft && h && ht && back) {
        const uint16_t *ph = born_data_ptr(h), *pht = born_data_ptr(ht);
        const uint32_t *pb = born_data_ptr(back);
        int bad = 0;
        for (int i = 0; i < N && bad < 3; i++) {
            float x;
            memcpy(&x, &bits[i], 4);
            uint16_t want = born_f32_to_bf16(x);
            int row = i / 64, col = i % 64;
            float wb = born_bf16_to_f32(ph[i]);
            uint32_t wbits;
            memcpy(&wbits, &wb, 4);
            if (ph[i] != want || pht[col * 64 + row] != want || pb[i] != wbits) {
                test_fail(__FILE__, __LINE__, "0x%08x: bf16 0x%04x (view 0x%04x), scalar 0x%04x",
                          bits[i], ph[i], pht[col * 64 + row], want);
                bad++;
            }
        }
    }
    born_free(back);
    born_free(h);
    born_free(ht);
    born_free(ft);
    born_free(f);
}
