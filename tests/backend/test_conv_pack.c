/* The AVX-512 im2col routines of conv_avx512.c against their portable references, bit for bit:
 * the forward's column panels, the weight gradient's tap rows, and the input gradient's col2im
 * strips (cpu_conv_add_cols_f32), on geometries with output rows of 2, 11 and 26 positions,
 * vertical strides, dilation, last strips shorter than 16, windows too wide for registers (the
 * runs fallback) and strips ending at the last pixel of the buffer; and cpu_gemm_f32_packed_rows
 * against cpu_gemm_f32_packed (several k blocks, row and column tails, beta 0 and 1). Skipped
 * where the CPU has no AVX-512. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/conv_pack.h"
#include "backend/cpu/gemm.h"
#include "core/cpu_features.h"
#include "gemm_pack_util.h"
#include "test.h"

#if defined(__x86_64__)
static uint64_t rng = 0x9E3779B97F4A7C15ull;

static float rnd(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* One geometry without padding: C channels of H x W, a kh x kw kernel, strides, dilations. */
typedef struct geo {
    int64_t c, h, w, kh, kw, sh, sw, dh, dw;
} geo;

typedef struct tables {
    int32_t tap_off[512], tap_y[512], tap_x[512];
    int32_t pos_off[1024], pos_y[1024], pos_x[1024];
    int64_t taps, l, oh, ow;
} tables;

static conv_im2col make(const geo *g, const float *img, tables *t) {
    t->oh = (g->h - (g->kh - 1) * g->dh - 1) / g->sh + 1;
    t->ow = (g->w - (g->kw - 1) * g->dw - 1) / g->sw + 1;
    t->taps = g->c * g->kh * g->kw;
    t->l = t->oh * t->ow;
    int64_t n = 0;
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++, n++) {
                t->tap_y[n] = (int32_t)(i * g->dh);
                t->tap_x[n] = (int32_t)(j * g->dw);
                t->tap_off[n] = (int32_t)(c * g->h * g->w + i * g->dh * g->w + j * g->dw);
            }
    n = 0;
    for (int64_t y = 0; y < t->oh; y++)
        for (int64_t x = 0; x < t->ow; x++, n++) {
            t->pos_y[n] = (int32_t)(y * g->sh);
            t->pos_x[n] = (int32_t)(x * g->sw);
            t->pos_off[n] = (int32_t)(y * g->sh * g->w + x * g->sw);
        }
    return (conv_im2col){img,      t->tap_off,    t->tap_y,      t->tap_x, t->pos_off, t->pos_y,
                         t->pos_x, (int32_t)g->h, (int32_t)g->w, t->ow,    true,       g->sw == 1,
                         0};
}

static const geo geos[] = {
    {32, 13, 13, 3, 3, 1, 1, 1, 1}, /* the CNN's second convolution */
    {5, 9, 4, 3, 3, 2, 1, 1, 1},    /* output rows of 2, vertical stride 2 */
    {3, 7, 30, 2, 3, 1, 1, 2, 2},   /* rows of 26, dilation: windows too wide for registers */
    {2, 6, 20, 2, 2, 1, 1, 1, 1},   /* rows of 19 */
    {4, 5, 5, 1, 1, 1, 1, 1, 1},    /* 1x1 on a 5x5 plane */
};

TEST(conv_pack_avx512_matches_portable) {
    cpu_level saved = cpu_get_level();
    cpu_set_level(CPU_LEVEL_AVX512);
    if (cpu_get_level() < CPU_LEVEL_AVX512) {
        cpu_set_level(saved);
        printf("  conv_pack: skipped: no AVX-512\n");
        return;
    }
    cpu_set_level(saved);
    for (size_t gi = 0; gi < sizeof geos / sizeof geos[0]; gi++) {
        const geo *g = &geos[gi];
        int64_t size = g->c * g->h * g->w;
        float *img = malloc((size_t)size * sizeof(float));
        static tables t;
        for (int64_t i = 0; i < size; i++) img[i] = rnd();
        conv_im2col m = make(g, img, &t);
        /* column panels: every tap block and column range the products use, and odd ones */
        int64_t kc = t.taps - 1 < 7 ? t.taps - 1 : 7, nl = t.l - 3;
        size_t pn = (size_t)((t.l + 15) / 16 * 16 * t.taps);
        float *p1 = calloc(pn, sizeof(float)), *p2 = calloc(pn, sizeof(float));
        cpu_conv_pack_cols_f32(&m, 1, kc, 3, nl, p1);
        cpu_conv_pack_cols_f32_avx512(&m, 1, kc, 3, nl, p2);
        CHECK_MSG(memcmp(p1, p2, pn * sizeof(float)) == 0, "geometry %zu: column panels", gi);
        cpu_conv_pack_cols_f32(&m, 0, t.taps, 0, t.l, p1);
        cpu_conv_pack_cols_f32_avx512(&m, 0, t.taps, 0, t.l, p2);
        CHECK_MSG(memcmp(p1, p2, pn * sizeof(float)) == 0, "geometry %zu: all columns", gi);
        /* tap rows: row t of the tile is 1-tap panels of the portable packer */
        int64_t nt = t.taps < 23 ? t.taps : 23, kl = t.l < 200 ? t.l : 200;
        float *rows = malloc(24 * 256 * sizeof(float)), *ref = malloc(256 * sizeof(float));
        memset(rows, 0xff, 24 * 256 * sizeof(float));
        cpu_conv_pack_tap_rows_f32_avx512(&m, 0, nt, t.l - kl, kl, rows, 256);
        bool same = true;
        for (int64_t r = 0; r < (nt + 5) / 6 * 6; r++) {
            memset(ref, 0, 256 * sizeof(float));
            if (r < nt) cpu_conv_pack_cols_f32(&m, r, 1, t.l - kl, kl, ref);
            same = same && memcmp(ref, rows + r * 256, (size_t)kl * sizeof(float)) == 0;
        }
        CHECK_MSG(same, "geometry %zu: tap rows", gi);
        /* col2im strips: the whole image from the last channel's end back, strip by strip */
        int64_t khw = g->kh * g->kw;
        float *src = malloc((size_t)(t.taps * 16) * sizeof(float));
        float *d1 = malloc((size_t)size * sizeof(float)), *d2 = malloc((size_t)size * sizeof(float));
        for (int64_t i = 0; i < size; i++) d1[i] = d2[i] = rnd();
        same = true;
        for (int64_t l0 = 0; l0 < t.l; l0 += 16) {
            int64_t n = t.l - l0 < 16 ? t.l - l0 : 16;
            for (int64_t i = 0; i < t.taps * 16; i++) src[i] = rnd();
            cpu_conv_add_cols_f32(&m, d1, size, 0, t.taps, khw, l0, n, src, 16);
            cpu_conv_add_cols_f32_avx512(&m, d2, size, 0, t.taps, khw, l0, n, src, 16);
        }
        same = memcmp(d1, d2, (size_t)size * sizeof(float)) == 0;
        CHECK_MSG(same, "geometry %zu: col2im strips", gi);
        free(img);
        free(p1);
        free(p2);
        free(rows);
        free(ref);
        free(src);
        free(d1);
        free(d2);
    }
}

/* cpu_gemm_f32_packed_rows's A callback for a row-major [m][k] A (ctx: a plain_mat). */
static void pack_a_rows(void *ctx, int64_t i0, int64_t mr, int64_t p0, int64_t kc, float *dst) {
    const plain_mat *a = ctx;
    int64_t stride = cpu_gemm_f32_rows_stride();
    for (int64_t r = 0; r < (mr + 5) / 6 * 6; r++)
        for (int64_t p = 0; p < kc; p++)
            dst[r * stride + p] = r < mr ? a->p[(i0 + r) * a->rs + p0 + p] : 0.0f;
}

TEST(gemm_packed_rows_matches_packed) {
    if (!cpu_gemm_f32_rows_ok()) {
        printf("  conv_pack: skipped: no AVX-512\n");
        return;
    }
    const int64_t shapes[][3] = {{288, 64, 121}, {25, 33, 600}, {7, 16, 1}, {48, 5, 257}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        float *a = malloc((size_t)(m * k) * sizeof(float)), *b = malloc((size_t)(k * n) * sizeof(float));
        float *c1 = malloc((size_t)(m * n) * sizeof(float)), *c2 = malloc((size_t)(m * n) * sizeof(float));
        float *ap = malloc(cpu_gemm_f32_packed_a_size(m, k) * sizeof(float));
        for (int64_t i = 0; i < m * k; i++) a[i] = rnd();
        for (int64_t i = 0; i < k * n; i++) b[i] = rnd();
        cpu_gemm_f32_pack_a(m, k, a, k, 1, ap);
        plain_mat am = {a, k}, bm = {b, n};
        for (int beta = 0; beta < 2; beta++) {
            for (int64_t i = 0; i < m * n; i++) c1[i] = c2[i] = rnd();
            CHECK(cpu_gemm_f32_packed(m, n, k, ap, pack_b_plain, &bm, (float)beta, c1, n, 1));
            CHECK(cpu_gemm_f32_packed_rows(m, n, k, pack_a_rows, &am, pack_b_plain, &bm,
                                           (float)beta, c2, n, 1));
            CHECK_MSG(memcmp(c1, c2, (size_t)(m * n) * sizeof(float)) == 0,
                      "%lld x %lld x %lld, beta %d", (long long)m, (long long)n, (long long)k, beta);
        }
        free(a);
        free(b);
        free(c1);
        free(c2);
        free(ap);
    }
}
#endif
