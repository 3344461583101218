/* The tiled quantized products (quant_gemm.h) against vec_dot per output (bit for bit) and
 * against dequantize-then-dot in double, on shapes with edge tiles (rows and tokens not multiples of the
 * tile), on quantized data and on random blocks (every level and scale bit pattern); and the
 * bits of an output do not depend on how many tokens or rows are computed with it. On arm64 both
 * NEON builds (widening multiplies, and SDOT where the CPU has it) are held to the NEON vec_dot of
 * the same build. */
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/quant/quant_gemm.h"
#include "core/cpu_features.h"
#include "test.h"
#if defined(__aarch64__)
#include "backend/cpu/quant/quant_neon.h" /* QUANT_NEON_DOTPROD */
#endif

static const born_dtype GTYPES[] = {BORN_Q4_0, BORN_Q4_1, BORN_Q5_0, BORN_Q8_0, BORN_Q4_K, BORN_Q6_K};
enum { NG = sizeof GTYPES / sizeof GTYPES[0] };

static uint64_t rng_state;
static uint32_t rng_u32(void) {
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng_state >> 32);
}
static float rng_normal(void) {
    double u = (rng_u32() + 1.0) / 4294967297.0, v = rng_u32() / 4294967296.0;
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

/* Random bytes in every block, then its f16 scales set to finite values of either sign. */
static void random_weight_blocks(born_dtype t, unsigned char *q, int64_t blocks) {
    const quant_traits *tr = quant_traits_of(t);
    for (size_t i = 0; i < (size_t)blocks * tr->block_bytes; i++) q[i] = (unsigned char)rng_u32();
    for (int64_t b = 0; b < blocks; b++) {
        unsigned char *blk = q + (size_t)b * tr->block_bytes;
        size_t at[2] = {0, 2};
        int nf = t == BORN_Q4_1 || t == BORN_Q4_K ? 2 : 1;
        if (t == BORN_Q6_K) at[0] = offsetof(block_q6_K, d);
        for (int f = 0; f < nf; f++) {
            uint16_t h = born_f32_to_f16((float)(rng_normal() * 0.01));
            memcpy(blk + at[f], &h, 2);
        }
    }
}

/* Random bytes in every activation block (levels -128..127, bsums that need not match them),
 * then the scales set to finite values (Q8_1's s, Q8_K's float d too). */
static void random_act_blocks(born_dtype t, unsigned char *q, int64_t blocks) {
    const quant_traits *tr = quant_traits_of(t);
    for (size_t i = 0; i < (size_t)blocks * tr->block_bytes; i++) q[i] = (unsigned char)rng_u32();
    for (int64_t b = 0; b < blocks; b++) {
        unsigned char *blk = q + (size_t)b * tr->block_bytes;
        if (t == BORN_Q8_K) {
            const float d = rng_normal() * 0.01f;
            memcpy(blk, &d, 4);
            continue;
        }
        for (int f = 0; f < (t == BORN_Q8_1 ? 2 : 1); f++) {
            uint16_t h = born_f32_to_f16((float)(rng_normal() * 0.01));
            memcpy(blk + 2 * f, &h, 2);
        }
    }
}

/* Q4_1 takes its min term from Q8_1's f16 s, as ggml: what that rounding adds to the
 * dequantized dot, sum over blocks of m_w (s_y - d_y sum(q_y)). */
static double q4_1_s_rounding(const unsigned char *qw, const unsigned char *qy, int64_t k) {
    const block_q4_1 *x = (const block_q4_1 *)qw;
    const block_q8_1 *yb = (const block_q8_1 *)qy;
    double c = 0.0;
    for (int64_t b = 0; b < k / 32; b++) {
        int sum = 0;
        for (int j = 0; j < 32; j++) sum += yb[b].qs[j];
        c += (double)born_f16_to_f32(x[b].m) * ((double)born_f16_to_f32(yb[b].s) - (double)born_f16_to_f32(yb[b].d) * sum);
    }
    return c;
}

/* check_type's data: the weights quantized from floats or random blocks; the activations
 * quantized from floats or random blocks (then the double reference is not checked: Q8_K's
 * bsums need not match its levels) */
enum { RANDOM_W = 1, RANDOM_Y = 2 };

/* Checks gemm on n weight rows x m tokens of k elements against dot per output (bit for bit),
 * against itself on one token and on one row, and against the double reference. */
static void check_type(born_dtype t, quant_gemm_fn gemm, quant_vec_dot_fn dot, int64_t n, int64_t m, int64_t k,
                       int data) {
    const bool random_w = data & RANDOM_W, random_y = data & RANDOM_Y;
    const quant_traits *tr = quant_traits_of(t), *tv = quant_traits_of(tr->vec_dot_type);
    const size_t w_rs = born_dtype_nbytes(t, k), y_rs = born_dtype_nbytes(tr->vec_dot_type, k) + 8;
    unsigned char *w = malloc(w_rs * (size_t)n), *y = calloc((size_t)m, y_rs);
    float *wf = malloc(sizeof(float) * (size_t)(n * k)), *xf = malloc(sizeof(float) * (size_t)k);
    float *wd = malloc(sizeof(float) * (size_t)(n * k)), *yd = malloc(sizeof(float) * (size_t)(m * k));
    float *out = malloc(sizeof(float) * (size_t)(n * m)), *one = malloc(sizeof(float) * (size_t)n);
    if (random_w) {
        random_weight_blocks(t, w, n * k / tr->block);
    } else {
        for (int64_t i = 0; i < n * k; i++) wf[i] = rng_normal() * 0.1f;
        for (int64_t r = 0; r < n; r++) tr->from_float(wf + r * k, w + (size_t)r * w_rs, k);
    }
    for (int64_t r = 0; r < n; r++) tr->to_float(w + (size_t)r * w_rs, wd + r * k, k);
    for (int64_t c = 0; c < m; c++) {
        if (random_y) {
            random_act_blocks(tr->vec_dot_type, y + (size_t)c * y_rs, k / tv->block);
        } else {
            for (int64_t i = 0; i < k; i++) xf[i] = rng_normal() * (c % 3 == 0 ? 3.0f : 0.5f);
            tv->from_float(xf, y + (size_t)c * y_rs, k);
        }
        tv->to_float(y + (size_t)c * y_rs, yd + c * k, k);
    }
    /* out is [m, n] with a row stride of n + 3 */
    const int64_t out_rs = n + 3;
    float *o = malloc(sizeof(float) * (size_t)(m * out_rs));
    gemm(k, w, w_rs, n, y, y_rs, m, o, out_rs);
    int bad_ref = 0, bad_dot = 0, bad_bits = 0;
    for (int64_t c = 0; c < m; c++) {
        /* one token alone, all rows; and each row alone */
        gemm(k, w, w_rs, n, y + (size_t)c * y_rs, 0, 1, one, 0);
        for (int64_t r = 0; r < n; r++) {
            float alone;
            gemm(k, w + (size_t)r * w_rs, 0, 1, y + (size_t)c * y_rs, 0, 1, &alone, 0);
            float got = o[c * out_rs + r];
            if (memcmp(&got, one + r, 4) != 0 || memcmp(&got, &alone, 4) != 0) bad_bits++;
            double ref = 0, mag = 0;
            for (int64_t i = 0; i < k; i++) {
                ref += (double)wd[r * k + i] * yd[c * k + i];
                mag += fabs((double)wd[r * k + i] * yd[c * k + i]);
            }
            if (t == BORN_Q4_1) ref += q4_1_s_rounding(w + (size_t)r * w_rs, y + (size_t)c * y_rs, k);
            if (!random_y && fabs(got - ref) > 2e-5 * mag + 1e-30) bad_ref++;
            float v = dot(k, w + (size_t)r * w_rs, y + (size_t)c * y_rs);
            if (memcmp(&got, &v, 4) != 0) bad_dot++;
        }
    }
    const char *what = random_w ? (random_y ? "random blocks" : "random weight blocks") : "quantized data";
    CHECK_MSG(bad_ref == 0, "%s gemm (%s, n %lld m %lld k %lld): %d of %lld outputs off the double reference",
              born_dtype_name(t), what, (long long)n, (long long)m, (long long)k, bad_ref, (long long)(n * m));
    CHECK_MSG(bad_dot == 0, "%s gemm (%s, n %lld m %lld k %lld): %d outputs differ from vec_dot's bits",
              born_dtype_name(t), what, (long long)n, (long long)m, (long long)k, bad_dot);
    CHECK_MSG(bad_bits == 0, "%s gemm (%s, n %lld m %lld k %lld): %d outputs change bits when computed alone",
              born_dtype_name(t), what, (long long)n, (long long)m, (long long)k, bad_bits);
    free(w), free(y), free(wf), free(xf), free(wd), free(yd), free(out), free(one), free(o);
}

TEST(quant_gemm_matches_vec_dot_and_reference) {
    const cpu_features *f = cpu_features_get();
    bool avx2 = f->avx2 && f->fma && f->f16c && cpu_get_level() >= CPU_LEVEL_AVX2;
    bool neon = cpu_get_level() == CPU_LEVEL_NEON;
    rng_state = 7;
    for (int i = 0; i < NG; i++) {
        born_dtype t = GTYPES[i];
        quant_gemm_fn gemm = quant_gemm_of(t);
        quant_vec_dot_fn dot = quant_vec_dot_of(t);
        CHECK_MSG(!avx2 || gemm, "%s has no tiled product on an AVX2 CPU", born_dtype_name(t));
        CHECK_MSG(!neon || gemm, "%s has no tiled product at the NEON level", born_dtype_name(t));
        if (!gemm) continue;
        int64_t k = quant_traits_of(t)->block == QK_K ? 768 : 576;
        check_type(t, gemm, dot, 13, 11, k, 0);
        check_type(t, gemm, dot, 6, 5, k, RANDOM_W);
        check_type(t, gemm, dot, 7, 6, k, 0); /* 4 + 2 tokens: the two-token edge tiles */
        check_type(t, gemm, dot, 1, 1, quant_traits_of(t)->block, RANDOM_W);
        /* long rows: past the 96 blocks whose token pairs the VNNI tiles make up front */
        check_type(t, gemm, dot, 5, 9, 129 * quant_traits_of(t)->block, RANDOM_W);
    }
    /* types without one fall back to vec_dot */
    CHECK(quant_gemm_of(BORN_Q5_K) == NULL && quant_gemm_of(BORN_F32) == NULL);
}

/* Every tile edge: rows 1..5 (one-row tiles after the four- or two-row ones), tokens 1..9 (a
 * partial tile after the full ones; with AVX-512 VNNI an odd token left to the AVX2 tiles),
 * one block and several; at the CPU's level and again at AVX2 when that is lower. */
TEST(quant_gemm_edge_shapes_every_level) {
    rng_state = 11;
    cpu_level saved = cpu_get_level();
    for (int level = saved; level >= CPU_LEVEL_AVX2; level--) {
        cpu_set_level((cpu_level)level);
#if defined(__x86_64__)
        const bool vnni = level >= CPU_LEVEL_AVX512 && cpu_features_get()->avx512_vnni;
        CHECK(quant_gemm_of(BORN_Q8_0) == (vnni ? quant_gemm_q8_0_vnni : quant_gemm_q8_0_avx2));
#endif
        for (int i = 0; i < NG; i++) {
            quant_gemm_fn gemm = quant_gemm_of(GTYPES[i]);
            if (!gemm) continue;
            const int64_t blk = quant_traits_of(GTYPES[i])->block;
            for (int64_t n = 1; n <= 5; n++)
                for (int64_t m = 1; m <= 9; m++)
                    check_type(GTYPES[i], gemm, quant_vec_dot_of(GTYPES[i]), n, m, m % 2 ? blk : 3 * blk,
                               n % 2 == 1 ? RANDOM_W : 0);
        }
    }
    cpu_set_level(saved);
}

#if defined(__aarch64__)
/* Both NEON builds of every tiled type (widening multiplies; SDOT where the CPU has it) against
 * the NEON vec_dot of the same build, bit for bit: rows 1..9 (every tile height and the rows
 * left over after the 4- or 2-row tiles), tokens 1..9 (after the 4-token tiles, 1..3 left over),
 * one block and several, quantized and random data; and quant_gemm_of's choice between them. */
TEST(quant_gemm_neon_matches_neon_vec_dot) {
    static const quant_gemm_fn mull[NG] = {quant_gemm_q4_0_neon, quant_gemm_q4_1_neon, quant_gemm_q5_0_neon,
                                           quant_gemm_q8_0_neon, quant_gemm_q4_K_neon, quant_gemm_q6_K_neon};
#if QUANT_NEON_DOTPROD
    static const quant_gemm_fn sdot[NG] = {quant_gemm_q4_0_neon_dotprod, quant_gemm_q4_1_neon_dotprod,
                                           quant_gemm_q5_0_neon_dotprod, quant_gemm_q8_0_neon_dotprod,
                                           quant_gemm_q4_K_neon_dotprod, quant_gemm_q6_K_neon_dotprod};
#else
    static const quant_gemm_fn sdot[NG] = {NULL};
#endif
    const bool dotprod = cpu_features_get()->neon_dotprod && QUANT_NEON_DOTPROD;
    const cpu_level saved = cpu_get_level();
    cpu_set_level(CPU_LEVEL_NEON);
    for (int i = 0; i < NG; i++) {
        const born_dtype t = GTYPES[i];
        const quant_traits *tr = quant_traits_of(t);
        CHECK_MSG(quant_gemm_of(t) == (dotprod ? sdot[i] : mull[i]), "%s: wrong tiled product at the NEON level",
                  born_dtype_name(t));
        for (int v = 0; v < (dotprod ? 2 : 1); v++) {
            const quant_gemm_fn gemm = v ? sdot[i] : mull[i];
            const quant_vec_dot_fn dot = v ? tr->vec_dot_neon_dotprod : tr->vec_dot_neon;
            CHECK(gemm && dot);
            if (!gemm || !dot) continue;
            rng_state = 21 + (uint64_t)i; /* the same cases for both builds */
            for (int64_t n = 1; n <= 9; n++)
                for (int64_t m = 1; m <= 9; m++) {
                    const int64_t k = (1 + (n + m) % 3) * tr->block; /* 1, 2 or 3 blocks */
                    check_type(t, gemm, dot, n, m, k, (int)((n + 2 * m) % 4));
                }
        }
    }
    cpu_set_level(saved);
}
#endif

TEST(quant_gemm_absent_at_the_scalar_level) {
    cpu_level saved = cpu_get_level();
    cpu_set_level(CPU_LEVEL_SCALAR);
    for (int i = 0; i < NG; i++) CHECK(quant_gemm_of(GTYPES[i]) == NULL);
    cpu_set_level(saved);
}
