/* The convolution's SIMD kernels (conv_pack.h) at every SIMD level the build has: NEON on arm64
 * (conv_neon.c), AVX2 and AVX-512 on x86-64 (conv_avx2.c, conv_avx512.c).
 *
 * The packers move data only, so the forward's column panels and the weight gradient's tap
 * panels must be the portable packers' bytes (an image with NaNs of several payloads, -0 and
 * +-inf among random values), on geometries with and without padding, horizontal strides 1 and 2,
 * vertical strides and dilation, output rows of 1, 2, 3, 4, 6, 7, 11, 16 and 35 positions, taps
 * falling wholly into the padding, and blocks of taps and positions that start and end anywhere.
 * The input gradient's add must be the scalar loop's bytes for every length's tail.
 *
 * The direct kernels for few taps are held to the operations the AVX2 kernels promise, written
 * out here in scalar FMAs: the forward's chain over the taps in order from zero, then + bias; the
 * weight gradient's eight lanes, lane i the chain over the positions 8 q + i, added into acc. So
 * an arm64 machine is seen to give the bits an x86-64 machine gives, each on its own. Channels
 * and taps not multiples of the tiles, 1 to 16 taps, 1 to 676 positions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/conv_pack.h"
#include "core/cpu_features.h"
#include "test.h"

#if defined(__x86_64__) || defined(__aarch64__)
static uint64_t rng = 0x2545F4914F6CDD1Dull;

static float rnd(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* Random values with a few specials (NaNs with payloads, -0, infinities): the packers must move
 * their bits. */
static float rnd_special(void) {
    float v = rnd();
    uint32_t r = (uint32_t)(rng >> 40) % 64, u;
    switch (r) {
    case 0: u = 0x7fc00001u + ((uint32_t)(rng >> 20) & 0xffff); break;
    case 1: u = 0xffa00003u; break; /* a signaling NaN, negative */
    case 2: u = 0x80000000u; break;
    case 3: u = 0x7f800000u; break;
    default: return v;
    }
    memcpy(&v, &u, sizeof v);
    return v;
}

typedef void (*pack_fn)(const conv_im2col *, int64_t, int64_t, int64_t, int64_t, float *);
typedef void (*add_fn)(float *, const float *, int64_t);
typedef bool (*fwd_fn)(const conv_im2col *, int64_t, const float *, int64_t, const float *, float *,
                       int64_t);
typedef bool (*wgt_fn)(const conv_im2col *, int64_t, const float *, int64_t, int64_t, float *);

#if defined(__x86_64__)
/* The AVX-512 weight kernel with its scratch, as the AVX2 kernel's signature. */
static bool weight_avx512(const conv_im2col *m, int64_t taps, const float *dy, int64_t cout,
                          int64_t l, float *acc) {
    size_t n = (size_t)cpu_conv_direct_weight_scratch(taps, l);
    float *xs = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    if (!xs) return false;
    cpu_conv_direct_weight_f32_avx512(m, taps, dy, cout, l, acc, xs);
    free(xs);
    return true;
}
#endif

typedef struct simd_conv {
    cpu_level level;
    pack_fn cols, taps;
    add_fn add;
    fwd_fn fwd;
    wgt_fn wgt;
} simd_conv;

static const simd_conv simd[] = {
#if defined(__x86_64__)
    {CPU_LEVEL_AVX2, cpu_conv_pack_cols_f32_avx2, cpu_conv_pack_taps_f32_avx2,
     cpu_conv_add_f32_avx2, cpu_conv_direct_forward_f32_avx2, cpu_conv_direct_weight_f32_avx2},
    {CPU_LEVEL_AVX512, cpu_conv_pack_cols_f32_avx512, cpu_conv_pack_taps_f32_avx2,
     cpu_conv_add_f32_avx2, cpu_conv_direct_forward_f32_avx512, weight_avx512},
#else
    {CPU_LEVEL_NEON, cpu_conv_pack_cols_f32_neon, cpu_conv_pack_taps_f32_neon,
     cpu_conv_add_f32_neon, cpu_conv_direct_forward_f32_neon, cpu_conv_direct_weight_f32_neon},
#endif
};
enum { NSIMD = sizeof simd / sizeof simd[0] };

/* Whether this CPU has the level (the kernels may run). */
static bool have_level(cpu_level level) {
    cpu_level saved = cpu_get_level();
    cpu_set_level(level);
    bool ok = cpu_get_level() == level;
    cpu_set_level(saved);
    return ok;
}

/* One group's geometry: c channels of h x w, a kh x kw kernel, strides, padding, dilations. */
typedef struct geo {
    int64_t c, h, w, kh, kw, sh, sw, ph, pw, dh, dw;
} geo;

/* conv.c's tables (tables_make) for g. */
typedef struct tables {
    int32_t *tap_off, *tap_y, *tap_x, *pos_off, *pos_y, *pos_x;
    int64_t taps, l, oh, ow;
} tables;

static bool tables_new(const geo *g, tables *t) {
    t->oh = (g->h + 2 * g->ph - (g->kh - 1) * g->dh - 1) / g->sh + 1;
    t->ow = (g->w + 2 * g->pw - (g->kw - 1) * g->dw - 1) / g->sw + 1;
    t->taps = g->c * g->kh * g->kw;
    t->l = t->oh * t->ow;
    int32_t *p = malloc((size_t)(3 * (t->taps + t->l)) * sizeof(int32_t));
    if (!p) return false;
    t->tap_off = p, t->tap_y = p + t->taps, t->tap_x = p + 2 * t->taps;
    t->pos_off = p + 3 * t->taps, t->pos_y = t->pos_off + t->l, t->pos_x = t->pos_y + t->l;
    int64_t n = 0;
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++, n++) {
                int64_t y = i * g->dh - g->ph, x = j * g->dw - g->pw;
                t->tap_off[n] = (int32_t)(c * g->h * g->w + y * g->w + x);
                t->tap_y[n] = (int32_t)y;
                t->tap_x[n] = (int32_t)x;
            }
    n = 0;
    for (int64_t oy = 0; oy < t->oh; oy++)
        for (int64_t ox = 0; ox < t->ow; ox++, n++) {
            t->pos_y[n] = (int32_t)(oy * g->sh);
            t->pos_x[n] = (int32_t)(ox * g->sw);
            t->pos_off[n] = (int32_t)(oy * g->sh * g->w + ox * g->sw);
        }
    return true;
}

static conv_im2col im2col(const geo *g, const tables *t, const float *img) {
    return (conv_im2col){img,
                         t->tap_off,
                         t->tap_y,
                         t->tap_x,
                         t->pos_off,
                         t->pos_y,
                         t->pos_x,
                         (int32_t)g->h,
                         (int32_t)g->w,
                         t->ow,
                         g->ph == 0 && g->pw == 0,
                         g->sw == 1,
                         0};
}

static const geo pack_geos[] = {
    /* c, h, w, kh, kw, sh, sw, ph, pw, dh, dw */
    {3, 9, 13, 3, 3, 1, 1, 0, 0, 1, 1},  /* rows of 11: quads across rows */
    {5, 17, 37, 3, 3, 1, 1, 0, 0, 1, 1}, /* rows of 35: whole 16-lane panels */
    {2, 8, 7, 3, 3, 1, 1, 1, 1, 1, 1},   /* padding 1, rows of 7 */
    {2, 11, 12, 3, 3, 2, 2, 1, 1, 1, 1}, /* stride 2 with padding */
    {3, 9, 20, 2, 3, 2, 1, 0, 0, 2, 2},  /* vertical stride 2, dilation 2, rows of 16 */
    {4, 6, 9, 2, 2, 1, 2, 0, 0, 1, 1},   /* stride 2 across, no padding */
    {1, 5, 3, 1, 2, 1, 1, 0, 1, 1, 1},   /* rows of 4 with padding */
    {2, 7, 3, 3, 2, 1, 1, 0, 0, 1, 1},   /* rows of 2: two runs per quad */
    {1, 6, 1, 2, 1, 1, 1, 0, 0, 1, 1},   /* rows of 1: a run per lane */
    {2, 9, 5, 3, 3, 1, 1, 0, 0, 1, 1},   /* rows of 3 */
    {2, 3, 4, 3, 3, 1, 1, 2, 2, 1, 1},   /* padding 2: taps wholly in the padding */
    {1, 4, 10, 3, 5, 1, 1, 1, 2, 1, 3},  /* padding, dilation 3 across */
};

TEST(conv_simd_packers_and_add_match_portable) {
    int ran = 0;
    for (int s = 0; s < NSIMD; s++) {
        if (!have_level(simd[s].level)) continue;
        ran++;
        const char *name = cpu_level_name(simd[s].level);
        for (size_t gi = 0; gi < sizeof pack_geos / sizeof pack_geos[0]; gi++) {
            const geo *g = &pack_geos[gi];
            tables t;
            int64_t size = g->c * g->h * g->w;
            float *img = malloc((size_t)size * sizeof(float));
            if (!img || !tables_new(g, &t)) {
                CHECK(false);
                free(img);
                continue;
            }
            for (int64_t i = 0; i < size; i++)
                img[i] = rnd_special();
            conv_im2col m = im2col(g, &t, img);
            /* blocks: everything; odd starts and lengths; one tap or position; the last few */
            int64_t T = t.taps, L = t.l;
            const int64_t blocks[][4] = {
                {0, T, 0, L},
                {1 % T, T - 1 % T, 3 % L, L - 3 % L},
                {T / 2, T - T / 2, L / 3, L - L / 3 - L / 5},
                {T - 1, 1, L - 1, 1},
                {0, T < 7 ? T : 7, L > 21 ? L - 21 : 0, L > 21 ? 21 : L},
            };
            size_t cap = (size_t)((L + 16) * (T + 6) + 64) / 16 * 16; /* panels 64-byte aligned */
            float *p1 = aligned_alloc(64, cap * sizeof(float));
            float *p2 = aligned_alloc(64, cap * sizeof(float));
            for (size_t b = 0; p1 && p2 && b < sizeof blocks / sizeof blocks[0]; b++) {
                int64_t t0 = blocks[b][0], nt = blocks[b][1], l0 = blocks[b][2], nl = blocks[b][3];
                if (nt <= 0 || nl <= 0) continue;
                memset(p1, 0x5a, cap * sizeof(float));
                memset(p2, 0x5a, cap * sizeof(float));
                cpu_conv_pack_cols_f32(&m, t0, nt, l0, nl, p1);
                simd[s].cols(&m, t0, nt, l0, nl, p2);
                CHECK_MSG(memcmp(p1, p2, cap * sizeof(float)) == 0,
                          "%s, geometry %zu, taps [%lld, +%lld), positions [%lld, +%lld): column "
                          "panels differ from the portable packer's",
                          name, gi, (long long)t0, (long long)nt, (long long)l0, (long long)nl);
                memset(p1, 0x5a, cap * sizeof(float));
                memset(p2, 0x5a, cap * sizeof(float));
                cpu_conv_pack_taps_f32(&m, t0, nt, l0, nl, p1);
                simd[s].taps(&m, t0, nt, l0, nl, p2);
                CHECK_MSG(memcmp(p1, p2, cap * sizeof(float)) == 0,
                          "%s, geometry %zu, taps [%lld, +%lld), positions [%lld, +%lld): tap "
                          "panels differ from the portable packer's",
                          name, gi, (long long)t0, (long long)nt, (long long)l0, (long long)nl);
            }
            CHECK(p1 && p2);
            free(p1);
            free(p2);
            free(img);
            free(t.tap_off);
        }
        /* the add, every tail of the vector loops */
        float src[200], d1[200], d2[200];
        for (int64_t n = 0; n <= 67; n += n < 20 ? 1 : 47) {
            for (int i = 0; i < 200; i++)
                src[i] = rnd_special(), d1[i] = d2[i] = rnd();
            for (int64_t i = 0; i < n; i++)
                d1[i] += src[i];
            simd[s].add(d2, src, n);
            CHECK_MSG(memcmp(d1, d2, sizeof d1) == 0, "%s: add of %lld floats", name, (long long)n);
        }
    }
    if (!ran) printf("  conv simd: skipped: no SIMD level on this CPU\n");
}

/* Geometries the direct kernels take: no padding, a horizontal stride of 1, at most 16 taps. */
static const struct {
    geo g;
    int64_t cout;
} direct_cases[] = {
    {{1, 28, 28, 3, 3, 1, 1, 0, 0, 1, 1}, 32}, /* a first layer on MNIST: 676 positions */
    {{3, 9, 10, 2, 2, 1, 1, 0, 0, 1, 1}, 5},   /* 12 taps, rows of 9 */
    {{1, 11, 9, 4, 4, 2, 1, 0, 0, 1, 1}, 13},  /* 16 taps, vertical stride 2 */
    {{2, 6, 7, 1, 3, 1, 1, 0, 0, 2, 2}, 1},    /* dilation, one channel out */
    {{1, 5, 5, 1, 1, 1, 1, 0, 0, 1, 1}, 9},    /* one tap, 25 positions */
    {{1, 3, 19, 2, 3, 1, 1, 0, 0, 1, 2}, 10},  /* rows of 15 */
    {{1, 1, 3, 1, 3, 1, 1, 0, 0, 1, 1}, 4},    /* one position */
    {{2, 4, 4, 2, 2, 1, 1, 0, 0, 1, 1}, 7},    /* 9 positions: one whole group of 8 and 1 */
    {{1, 6, 10, 2, 2, 1, 1, 0, 0, 1, 1}, 3},   /* 45 positions */
};

TEST(conv_direct_simd_gives_the_fma_order_bits) {
    int ran = 0;
    for (int s = 0; s < NSIMD; s++) {
        if (!have_level(simd[s].level)) continue;
        ran++;
        const char *name = cpu_level_name(simd[s].level);
        for (size_t ci = 0; ci < sizeof direct_cases / sizeof direct_cases[0]; ci++) {
            const geo *g = &direct_cases[ci].g;
            const int64_t cout = direct_cases[ci].cout;
            tables t;
            if (!tables_new(g, &t)) {
                CHECK(false);
                continue;
            }
            const int64_t T = t.taps, L = t.l, size = g->c * g->h * g->w;
            float *img = malloc((size_t)size * sizeof(float));
            float *w = malloc((size_t)(cout * T) * sizeof(float));
            float *bias = malloc((size_t)cout * sizeof(float));
            float *out = malloc((size_t)(cout * L) * sizeof(float));
            float *dy = malloc((size_t)(cout * L) * sizeof(float));
            float *acc = malloc((size_t)(cout * T * 8) * sizeof(float));
            float *acc0 = malloc((size_t)(cout * T * 8) * sizeof(float));
            if (!img || !w || !bias || !out || !dy || !acc || !acc0) {
                CHECK(false);
                free(img), free(w), free(bias), free(out), free(dy), free(acc), free(acc0);
                free(t.tap_off);
                continue;
            }
            for (int64_t i = 0; i < size; i++)
                img[i] = rnd();
            for (int64_t i = 0; i < cout * T; i++)
                w[i] = rnd();
            for (int64_t i = 0; i < cout; i++)
                bias[i] = rnd();
            for (int64_t i = 0; i < cout * L; i++)
                dy[i] = rnd();
            for (int64_t i = 0; i < cout * T * 8; i++)
                acc0[i] = rnd();
            conv_im2col m = im2col(g, &t, img);
            /* forward, with and without bias */
            for (int b = 0; b < 2; b++) {
                const float *bs = b ? bias : NULL;
                CHECK(simd[s].fwd(&m, T, w, cout, bs, out, L));
                int bad = 0;
                for (int64_t co = 0; co < cout; co++)
                    for (int64_t p = 0; p < L; p++) {
                        float a = 0.0f;
                        for (int64_t k = 0; k < T; k++)
                            a = fmaf(w[co * T + k], img[t.tap_off[k] + t.pos_off[p]], a);
                        if (bs) a = a + bs[co];
                        if (memcmp(&a, &out[co * L + p], sizeof a) != 0 && bad++ < 3)
                            test_fail(__FILE__, __LINE__,
                                      "%s, case %zu, bias %d: out[%lld][%lld] %.9g, the FMA "
                                      "order gives %.9g",
                                      name, ci, b, (long long)co, (long long)p,
                                      (double)out[co * L + p], (double)a);
                    }
            }
            /* weight gradient: acc += the lanes' chains */
            memcpy(acc, acc0, (size_t)(cout * T * 8) * sizeof(float));
            CHECK(simd[s].wgt(&m, T, dy, cout, L, acc));
            int bad = 0;
            for (int64_t co = 0; co < cout; co++)
                for (int64_t k = 0; k < T; k++)
                    for (int64_t i = 0; i < 8; i++) {
                        float a = 0.0f;
                        for (int64_t p = i; p < (L + 7) / 8 * 8; p += 8) {
                            float gv = p < L ? dy[co * L + p] : 0.0f;
                            float xv = p < L ? img[t.tap_off[k] + t.pos_off[p]] : 0.0f;
                            a = fmaf(gv, xv, a);
                        }
                        float want = acc0[(co * T + k) * 8 + i] + a;
                        float got = acc[(co * T + k) * 8 + i];
                        if (memcmp(&want, &got, sizeof want) != 0 && bad++ < 3)
                            test_fail(__FILE__, __LINE__,
                                      "%s, case %zu: acc[%lld][%lld] lane %lld %.9g, the FMA "
                                      "order gives %.9g",
                                      name, ci, (long long)co, (long long)k, (long long)i,
                                      (double)got, (double)want);
                    }
            free(img), free(w), free(bias), free(out), free(dy), free(acc), free(acc0);
            free(t.tap_off);
        }
    }
    if (!ran) printf("  conv direct simd: skipped: no SIMD level on this CPU\n");
}
#endif
