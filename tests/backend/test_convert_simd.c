/* Conversions at every CPU level. f32 -> bf16 gives born_f32_to_bf16's bits: random bit
 * patterns (NaNs, infinities, denormals among them), exact ties both ways, the largest finite
 * values (which round to infinity) and signed zeros, with a tail shorter than a vector. */
#include <string.h>

#include "born/born.h"
#include "core/cpu_features.h"
#include "test.h"

static uint32_t next_bits(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 32);
}

TEST(convert_f32_to_bf16_gives_the_scalar_bits_at_every_level) {
    enum { N = 4099 };
    born_tensor *f = born_empty(BORN_F32, BORN_DIMS(N));
    uint32_t *bits = (uint32_t *)born_data_f32(f);
    uint64_t s = 0x243F6A8885A308D3ull;
    static const uint32_t special[] = {
        0x00000000u, 0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00000u, 0xffc00001u,
        0x7f800001u, 0x7fbfffffu, 0x7f7fffffu, 0xff7fffffu, 0x00000001u, 0x807fffffu,
        0x3f808000u, 0x3f818000u, 0x3f807fffu, 0x3f808001u, 0x007f8000u, 0x00018000u,
    };
    const int nspecial = (int)(sizeof special / sizeof special[0]);
    for (int i = 0; i < N; i++)
        bits[i] = i < nspecial ? special[i] : next_bits(&s);
    /* the specials again without the denormals, filling a 32 of their own: where the CPU has
     * AVX512_BF16 such a 32 takes vcvtne2ps2bf16, which a denormal would have sent around */
    for (int i = 0, o = 64; o < 96; i = (i + 1) % nspecial)
        if ((special[i] & 0x7f800000u) != 0 || (special[i] & 0x7fffffu) == 0)
            bits[o++] = special[i];
    cpu_level saved = cpu_get_level();
    for (int lv = CPU_LEVEL_AVX512; lv >= CPU_LEVEL_SCALAR; lv--) {
        cpu_set_level((cpu_level)lv);
        born_tensor *h = born_to_dtype(f, BORN_BF16);
        CHECK(h != NULL);
        if (!h) break;
        const uint16_t *out = born_data_ptr(h);
        int bad = -1;
        for (int i = 0; i < N && bad < 0; i++)
            if (out[i] != born_f32_to_bf16(((const float *)bits)[i])) bad = i;
        CHECK_MSG(bad < 0, "level %s: element %d (bits %08x) became %04x, not %04x",
                  cpu_level_name(cpu_get_level()), bad, bad >= 0 ? bits[bad] : 0,
                  bad >= 0 ? out[bad] : 0,
                  bad >= 0 ? born_f32_to_bf16(((const float *)bits)[bad]) : 0);
        born_free(h);
    }
    cpu_set_level(saved);
    born_free(f);
}

/* f32 <-> f16 at every CPU level gives the portable path's bits: f32 -> f16 as born_f32_to_f16
 * (the same random patterns and specials, halfway cases at the normal and subnormal ends, 65520
 * rounding to infinity), and every one of the 65536 halves -> f32 as at the scalar level (exact,
 * signalling NaNs quieted). Lengths leave a tail past the last 8 and 16. */
TEST(convert_f32_f16_give_the_portable_bits_at_every_level) {
    enum { N = 4099, H = 65536 + 5 };
    born_tensor *f = born_empty(BORN_F32, BORN_DIMS(N));
    born_tensor *h = born_empty(BORN_F16, BORN_DIMS(H));
    uint32_t *bits = (uint32_t *)born_data_f32(f);
    uint16_t *halves = born_data_ptr(h);
    uint64_t s = 0x13198A2E03707344ull;
    static const uint32_t special[] = {
        0x7f800001u, 0xffc12345u, 0x477ff000u, 0x477fefffu, 0xc77ff000u, 0x33800000u,
        0x33000000u, 0x33000001u, 0x387fe000u, 0x387ff000u, 0x38800000u, 0x3f801000u,
        0x3f803000u, 0x00000001u, 0x80000000u, 0x7f800000u,
    };
    const int nspecial = (int)(sizeof special / sizeof special[0]);
    for (int i = 0; i < N; i++)
        bits[i] = i < nspecial ? special[i] : next_bits(&s);
    /* the specials again without the denormals, filling a 32 of their own: where the CPU has
     * AVX512_BF16 such a 32 takes vcvtne2ps2bf16, which a denormal would have sent around */
    for (int i = 0, o = 64; o < 96; i = (i + 1) % nspecial)
        if ((special[i] & 0x7f800000u) != 0 || (special[i] & 0x7fffffu) == 0)
            bits[o++] = special[i];
    for (int i = 0; i < H; i++)
        halves[i] = (uint16_t)i;
    cpu_level saved = cpu_get_level();
    cpu_set_level(CPU_LEVEL_SCALAR);
    born_tensor *ref = born_to_dtype(h, BORN_F32);
    CHECK(ref != NULL);
    for (int lv = CPU_LEVEL_AVX512; lv >= CPU_LEVEL_SCALAR && ref; lv--) {
        cpu_set_level((cpu_level)lv);
        born_tensor *to16 = born_to_dtype(f, BORN_F16), *to32 = born_to_dtype(h, BORN_F32);
        CHECK(to16 && to32);
        if (!to16 || !to32) break;
        const uint16_t *o16 = born_data_ptr(to16);
        const uint32_t *o32 = born_data_ptr(to32), *r32 = born_data_ptr(ref);
        int bad = -1;
        for (int i = 0; i < N && bad < 0; i++)
            if (o16[i] != born_f32_to_f16(((const float *)bits)[i])) bad = i;
        CHECK_MSG(bad < 0, "level %s: f32 %08x became f16 %04x", cpu_level_name(cpu_get_level()),
                  bad >= 0 ? bits[bad] : 0, bad >= 0 ? o16[bad] : 0);
        bad = -1;
        for (int i = 0; i < H && bad < 0; i++)
            if (o32[i] != r32[i]) bad = i;
        CHECK_MSG(bad < 0, "level %s: f16 %04x became %08x, not %08x",
                  cpu_level_name(cpu_get_level()), bad >= 0 ? halves[bad] : 0,
                  bad >= 0 ? o32[bad] : 0, bad >= 0 ? r32[bad] : 0);
        born_free(to16);
        born_free(to32);
    }
    cpu_set_level(saved);
    born_free(ref);
    born_free(f);
    born_free(h);
}

/* Every one of the 65536 bf16 values -> f32 at every CPU level: born_bf16_to_f32's bits (the
 * value shifted into the upper half), a tail past the last 16 included. */
TEST(convert_bf16_to_f32_gives_the_scalar_bits_at_every_level) {
    enum { H = 65536 + 7 };
    born_tensor *h = born_empty(BORN_BF16, BORN_DIMS(H));
    uint16_t *halves = born_data_ptr(h);
    for (int i = 0; i < H; i++)
        halves[i] = (uint16_t)i;
    cpu_level saved = cpu_get_level();
    for (int lv = CPU_LEVEL_AVX512; lv >= CPU_LEVEL_SCALAR; lv--) {
        cpu_set_level((cpu_level)lv);
        born_tensor *f = born_to_dtype(h, BORN_F32);
        CHECK(f != NULL);
        if (!f) break;
        const uint32_t *o = born_data_ptr(f);
        int bad = -1;
        for (int i = 0; i < H && bad < 0; i++)
            if (o[i] != (uint32_t)halves[i] << 16) bad = i;
        CHECK_MSG(bad < 0, "level %s: bf16 %04x became %08x", cpu_level_name(cpu_get_level()),
                  bad >= 0 ? halves[bad] : 0, bad >= 0 ? o[bad] : 0);
        born_free(f);
    }
    cpu_set_level(saved);
    born_free(h);
}

/* Strided runs (a transposed view: the elementwise engine's tiles) convert f16 <-> f32 one by
 * one, with the bits of the contiguous runs: every half to f32 (signalling NaNs quieted) and back.
 */
TEST(convert_f16_f32_strided_runs_give_the_contiguous_bits) {
    born_tensor *h = born_empty(BORN_F16, BORN_DIMS(256, 256));
    uint16_t *p = born_data_ptr(h);
    for (int i = 0; i < 65536; i++)
        p[i] = (uint16_t)i;
    cpu_level saved = cpu_get_level();
    for (int lv = saved; lv >= CPU_LEVEL_SCALAR; lv--) {
        cpu_set_level((cpu_level)lv);
        if ((int)cpu_get_level() != lv) continue;
        born_tensor *whole = born_to_dtype(h, BORN_F32);
        born_tensor *t = born_to_dtype(born_transpose(h, 0, 1), BORN_F32);
        born_tensor *back = born_to_dtype(born_transpose(whole, 0, 1), BORN_F16);
        CHECK(whole && t && back);
        if (!whole || !t || !back) break;
        const uint32_t *w = born_data_ptr(whole), *tt = born_data_ptr(t);
        const uint16_t *b = born_data_ptr(back),
                       *want16 = born_data_ptr(born_to_dtype(whole, BORN_F16));
        int bad = -1;
        for (int i = 0; i < 256 && bad < 0; i++)
            for (int j = 0; j < 256 && bad < 0; j++)
                if (tt[i * 256 + j] != w[j * 256 + i] || b[i * 256 + j] != want16[j * 256 + i])
                    bad = j * 256 + i;
        CHECK_MSG(bad < 0, "level %s: half %04x converted through a transposed view differs",
                  cpu_level_name(cpu_get_level()), bad);
    }
    cpu_set_level(saved);
}

/* f32 -> f16 through a transposed view (whole register-transposed tiles and their edges, at AVX2
 * and up) rounds each value as born_f32_to_f16 does: random bit patterns, halfway cases, NaNs,
 * infinities and subnormals. */
TEST(convert_f32_to_f16_transposed_rounds_as_the_scalar) {
    enum { R = 203, C = 77 };
    born_tensor *f = born_empty(BORN_F32, BORN_DIMS(R, C));
    uint32_t *bits = born_data_ptr(f);
    uint64_t s = 0x9E3779B97F4A7C15ull;
    static const uint32_t special[] = {0x7f800001u, 0xffc12345u, 0x477ff000u, 0x477fefffu,
                                       0x33800000u, 0x33000001u, 0x387fe000u, 0x3f801000u,
                                       0x3f803000u, 0x00000001u, 0x80000000u, 0x7f800000u};
    for (int i = 0; i < R * C; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        bits[i] = i < 12 ? special[i] : (uint32_t)(s >> 32);
        if (i % 3 == 0) bits[i] = (bits[i] & 0x80001fffu) | 0x38000000u | (bits[i] & 0x07ffe000u);
    }
    cpu_level saved = cpu_get_level();
    for (int lv = saved; lv >= CPU_LEVEL_SCALAR; lv--) {
        cpu_set_level((cpu_level)lv);
        if ((int)cpu_get_level() != lv) continue;
        born_tensor *h = born_to_dtype(born_transpose(f, 0, 1), BORN_F16);
        CHECK(h != NULL);
        if (!h) break;
        const uint16_t *o = born_data_ptr(h);
        int bad = -1;
        for (int i = 0; i < C && bad < 0; i++)
            for (int j = 0; j < R && bad < 0; j++)
                if (o[i * R + j] != born_f32_to_f16(((const float *)bits)[j * C + i]))
                    bad = j * C + i;
        CHECK_MSG(bad < 0, "level %s: f32 %08x through a transposed view became %04x, not %04x",
                  cpu_level_name(cpu_get_level()), bad >= 0 ? bits[bad] : 0,
                  bad >= 0 ? o[(bad % C) * R + bad / C] : 0,
                  bad >= 0 ? born_f32_to_f16(((const float *)bits)[bad]) : 0);
        born_free(h);
    }
    cpu_set_level(saved);
    born_free(f);
}
