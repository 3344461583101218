/* Streaming stores (src/backend/cpu/stream.h): the elementwise, softmax and norm kernels give
 * the same bits whether they write their output with streaming stores or ordinary ones, at every
 * SIMD level this machine has (AVX-512, AVX2), for outputs that start at every 4-byte offset from
 * a 32-byte boundary (the elementwise loops then store ordinarily, the softmax and norm rows
 * store the elements before the first boundary masked), lengths around the vector widths and long rows,
 * and inputs holding NaN, infinities, huge, denormal and signed-zero values. The bound is forced
 * with cpu_set_stream_min_bytes (0: every output streams; INT64_MAX: none). */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/stream.h"
#include "core/cpu_features.h"
#include "backend/f32_view.h"
#include "test.h"

static uint64_t rng = 0x5851F42D4C957F2Dull;

static float rnd(float lo, float hi) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (float)((double)(rng >> 11) * 0x1p-53);
}

/* n values in [-6, 6] with specials sprinkled in. */
static void fill(float *x, int64_t n, bool specials) {
    static const float sp[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e30f, -1e30f, 1e-40f, -1e-40f,
                               FLT_MIN, 90.0f, -90.0f, -13.0f};
    for (int64_t i = 0; i < n; i++) x[i] = rnd(-6.0f, 6.0f);
    if (specials)
        for (int64_t i = 0; i < n; i += 11) x[i] = sp[(i / 11) % (sizeof sp / sizeof sp[0])];
}

static bool same_bits(const float *a, const float *b, int64_t n) {
    return memcmp(a, b, (size_t)n * sizeof *a) == 0;
}

/* The SIMD levels to test, those this machine has. */
static int simd_levels(cpu_level *out) {
    static const cpu_level want[] = {CPU_LEVEL_AVX512, CPU_LEVEL_AVX2};
    cpu_level saved = cpu_get_level();
    int k = 0;
    for (int i = 0; i < 2; i++) {
        cpu_set_level(want[i]);
        if (cpu_get_level() == want[i]) out[k++] = want[i];
    }
    cpu_set_level(saved);
    return k;
}

enum { MAXN = 9000, ROWS = 3 };

static const born_unary_op fwd_ops[] = {BORN_UNARY_EXP, BORN_UNARY_LOG, BORN_UNARY_TANH,
                                        BORN_UNARY_SIGMOID, BORN_UNARY_RELU, BORN_UNARY_GELU,
                                        BORN_UNARY_GELU_TANH, BORN_UNARY_SILU};
static const born_unary_op bwd_ops[] = {BORN_UNARY_RELU, BORN_UNARY_TANH, BORN_UNARY_SIGMOID,
                                        BORN_UNARY_SILU, BORN_UNARY_GELU, BORN_UNARY_GELU_TANH};
static const int64_t lengths[] = {1, 7, 8, 9, 31, 33, 100, 203, 4099, MAXN};

TEST(stream_store_gives_the_same_bits) {
    cpu_level levels[2];
    int nl = simd_levels(levels);
    cpu_level saved = cpu_get_level();
    size_t cap = ((size_t)ROWS * MAXN + 16 + 15) / 16 * 16; /* a multiple of 64 bytes */
    float *x = malloc(cap * 4), *g = malloc(cap * 4), *a = aligned_alloc(64, cap * 4),
          *b = aligned_alloc(64, cap * 4), *w = malloc(MAXN * 4), *bias = malloc(MAXN * 4);
    float st[4][ROWS];
    CHECK(x && g && a && b && w && bias);
    if (!x || !g || !a || !b || !w || !bias) goto done;
    for (int l = 0; l < nl; l++) {
        cpu_set_level(levels[l]);
        const char *lv = cpu_level_name(levels[l]);
        for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++) {
            int64_t n = lengths[li];
            for (int off = 0; off < 8; off++) {
                if (n > 300 && off % 3 != 1) continue; /* long rows: a few offsets */
                fill(x, ROWS * n, true);
                fill(g, ROWS * n, true);
                fill(w, n, false);
                fill(bias, n, false);
                born_strided sx = f32_view(x, ROWS, n), sg = f32_view(g, ROWS, n);
                born_strided sa = f32_view(a + off, ROWS, n), sb = f32_view(b + off, ROWS, n);
                born_strided sw = f32_view(w, 1, n), sbias = f32_view(bias, 1, n), none;
                memset(&none, 0, sizeof none);
                sw.ndim = sbias.ndim = 1;
                sw.shape[0] = sbias.shape[0] = n;
                sw.strides[0] = sbias.strides[0] = 1;
                born_strided s0 = f32_view(st[0], 1, ROWS), s1 = f32_view(st[1], 1, ROWS);
                born_strided s2 = f32_view(st[2], 1, ROWS), s3 = f32_view(st[3], 1, ROWS);
                s0.ndim = s1.ndim = s2.ndim = s3.ndim = 1;
                s0.shape[0] = s1.shape[0] = s2.shape[0] = s3.shape[0] = ROWS;
                s0.strides[0] = s1.strides[0] = s2.strides[0] = s3.strides[0] = 1;
                int64_t cnt = ROWS * n;
                for (int k = 0; k < 16; k++) {
                    /* 0-7 forward ops, 8-13 backward ops, 14 softmax and log-softmax, 15 norms */
                    for (int sub = 0; sub < 4; sub++) {
                        if ((k < 14 && sub > 0) || (k == 14 && sub > 1)) continue;
                        for (int mode = 0; mode < 2; mode++) {
                            float *o = (mode ? b : a) + off;
                            born_strided so = mode ? sb : sa;
                            cpu_set_stream_min_bytes(mode ? 0 : INT64_MAX);
                            memset(o, 0x55, (size_t)cnt * 4);
                            if (k < 8) {
                                CHECK_OK(cpu_unary(fwd_ops[k], &so, &sx, NULL));
                            } else if (k < 14) {
                                CHECK_OK(cpu_unary_backward(bwd_ops[k - 8], &so, &sg, &sx, &sx, NULL));
                            } else if (k == 14) {
                                CHECK_OK(cpu_softmax(sub == 1, &so, &sx, 1));
                            } else {
                                bool rms = sub & 1;
                                if (sub < 2) {
                                    CHECK_OK(cpu_row_norm(rms, &so, rms ? &none : &s0, &s1, &sx, &sw,
                                                          rms ? &none : &sbias, 1e-5));
                                } else {
                                    /* statistics of the first pass (finite), so dx is mostly finite */
                                    CHECK_OK(cpu_row_norm(rms, &so, rms ? &none : &s0, &s1, &sx, &sw,
                                                          rms ? &none : &sbias, 1e-5));
                                    for (int r = 0; r < ROWS; r++) {
                                        if (!isfinite(st[0][r])) st[0][r] = 0.5f;
                                        if (!isfinite(st[1][r])) st[1][r] = 2.0f;
                                    }
                                    CHECK_OK(cpu_row_norm_backward(rms, &so, &sg, &sx, rms ? &none : &s0,
                                                                   &s1, &sw));
                                }
                            }
                        }
                        CHECK_MSG(same_bits(a + off, b + off, cnt),
                                  "%s: kernel %d.%d, n = %lld, offset %d: streamed output differs", lv,
                                  k, sub, (long long)n, off);
                    }
                }
            }
        }
    }
done:
    cpu_set_stream_min_bytes(-1);
    cpu_set_level(saved);
    free(x);
    free(g);
    free(a);
    free(b);
    free(w);
    free(bias);
}

/* Streamed softmax rows write each row's output during the next row's exp pass, so chunks of
 * several rows (200 rows give chunks of 3) must give the ordinary stores' bits too: lengths
 * around the vector widths and long ones, outputs at every 4-byte offset from a 32-byte boundary
 * (rows of odd length are then misaligned in turn), in place and not, softmax and log-softmax. */
TEST(stream_store_softmax_rows_in_chunks) {
    enum { R = 200 };
    static const int64_t lens[] = {1, 9, 16, 203, 4099};
    cpu_level saved = cpu_get_level();
    cpu_set_level(CPU_LEVEL_AVX2);
    size_t cap = (size_t)R * 4099 + 16;
    float *x = malloc(cap * 4), *a = aligned_alloc(64, (cap + 15) / 16 * 64), *b = aligned_alloc(64, (cap + 15) / 16 * 64);
    CHECK(x && a && b);
    if (!x || !a || !b) goto done;
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        int64_t n = lens[li], cnt = R * n;
        for (int off = 0; off < 8; off += n > 300 ? 3 : 1) {
            fill(x, cnt, true);
            born_strided sx = f32_view(x, R, n);
            for (int k = 0; k < 4; k++) {
                bool log = k & 1, in_place = k >= 2;
                for (int mode = 0; mode < 2; mode++) {
                    float *o = (mode ? b : a) + off;
                    cpu_set_stream_min_bytes(mode ? 0 : INT64_MAX);
                    if (in_place) memcpy(o, x, (size_t)cnt * 4);
                    else memset(o, 0x55, (size_t)cnt * 4);
                    born_strided so = f32_view(o, R, n);
                    CHECK_OK(cpu_softmax(log, &so, in_place ? &so : &sx, 1));
                }
                CHECK_MSG(same_bits(a + off, b + off, cnt),
                          "%s%s: n = %lld, offset %d: streamed rows differ", log ? "log_softmax" : "softmax",
                          in_place ? " in place" : "", (long long)n, off);
            }
        }
    }
done:
    cpu_set_stream_min_bytes(-1);
    cpu_set_level(saved);
    free(x);
    free(a);
    free(b);
}
