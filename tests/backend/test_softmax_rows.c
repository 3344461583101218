/* The f32 softmax rows (src/backend/cpu/softmax.c, softmax_avx2.c, softmax_avx512.c,
 * softmax_neon.c), forward and backward, softmax and log-softmax: every way of computing a row
 * gives the bits of the first SIMD level's rows (AVX2 on x86-64, NEON on arm64) with ordinary
 * stores (any NaN matching any NaN) -- the AVX-512 rows (where the CPU has them), streaming stores
 * (stream.h; arm64 has none, so there they are the ordinary ones), outputs at every 4-byte offset
 * from a 64-byte boundary, in place, chunks of many rows (whose rows prefetch the next chunk's
 * first row) and two threads -- for rows of every length to 70 and longer ones around the block
 * of 64, holding NaN, infinities, huge values, and values far below the row's max, whose exps
 * leave the fast path (in the last partial block too, where the lanes past the row hold 0 - max).
 * Every SIMD level's rows are held to the portable ones in double: on rows of every kind of tail
 * (softmax_rows_simd_match_portable; test_reduce_simd.c does the same through autograd), and on
 * long rows for the sums' blocks. */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/stream.h"
#include "core/cpu_features.h"
#include "backend/f32_view.h"
#include "test.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static float rnd(float lo, float hi) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (float)((double)(rng >> 11) * 0x1p-53);
}

/* Row r of n values of kind r % 7: plain; a NaN; a +inf; some -inf; all -inf; far below zero
 * (max about -100, so that x - max and 0 - max pass -86.5); one huge value. */
static void fill_row(float *x, int64_t n, int64_t r) {
    int kind = (int)(r % 7);
    for (int64_t i = 0; i < n; i++)
        x[i] = kind == 5 ? rnd(-300.0f, -100.0f) : rnd(-20.0f, 20.0f);
    if (kind == 1) x[n / 2] = NAN;
    if (kind == 2) x[n - 1] = INFINITY;
    if (kind == 3)
        for (int64_t i = 0; i < n; i += 5)
            x[i] = -INFINITY;
    if (kind == 4)
        for (int64_t i = 0; i < n; i++)
            x[i] = -INFINITY;
    if (kind == 6) x[n / 3] = 1e30f;
}

/* The first element whose bits differ (any NaN matching any NaN, as in test_simd_avx512.c: a
 * NaN's sign follows the operand order that the compiler picks for a commutative operation), or
 * -1. */
static int64_t first_diff(const float *a, const float *b, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        if (isnan(a[i]) && isnan(b[i])) continue;
        if (memcmp(a + i, b + i, sizeof *a)) return i;
    }
    return -1;
}

/* The SIMD levels to test, those this machine has (AVX2 and AVX-512, or NEON), the first the
 * reference of the same-bits tests. */
static int simd_levels(cpu_level *out) {
    static const cpu_level want[] = {CPU_LEVEL_AVX2, CPU_LEVEL_AVX512, CPU_LEVEL_NEON};
    cpu_level saved = cpu_get_level();
    int k = 0;
    for (int i = 0; i < 3; i++) {
        cpu_set_level(want[i]);
        if (cpu_get_level() == want[i]) out[k++] = want[i];
    }
    cpu_set_level(saved);
    return k;
}

/* One run of the op (0 softmax, 1 log_softmax, 2 and 3 their gradients) over rows x rows of n
 * into o (in place: o holds the input, x for the forward, g for the backward). */
static born_status run_op(int op, float *o, const float *x, const float *g, int64_t rows, int64_t n,
                          bool in_place) {
    born_strided so = f32_view(o, rows, n), sx = f32_view((float *)x, rows, n),
                 sg = f32_view((float *)g, rows, n);
    if (op < 2) return cpu_softmax(op == 1, &so, in_place ? &so : &sx, 1);
    return cpu_softmax_backward(op == 3, &so, in_place ? &so : &sg, &sx, 1);
}

enum { MAXN = 9001, ROWS = 7 };

TEST(softmax_rows_same_bits_every_way) {
    static const int64_t longer[] = {100, 127, 128, 129, 1000, 4095, 4096, 4099, MAXN};
    static const char *names[] = {"softmax", "log_softmax", "softmax backward",
                                  "log_softmax backward"};
    cpu_level levels[3];
    int nl = simd_levels(levels);
    cpu_level saved = cpu_get_level();
    size_t cap = (size_t)ROWS * MAXN + 16;
    float *x = malloc(cap * 4), *g = malloc(cap * 4), *ref = malloc(cap * 4);
    float *o = aligned_alloc(64, (cap + 15) / 16 * 64);
    CHECK(x && g && ref && o);
    if (!x || !g || !ref || !o || nl == 0) goto done;
    for (int li = 0; li < 70 + 9; li++) {
        int64_t n = li < 70 ? li + 1 : longer[li - 70], cnt = ROWS * n;
        for (int64_t r = 0; r < ROWS; r++) {
            fill_row(x + r * n, n, r);
            for (int64_t i = 0; i < n; i++)
                g[r * n + i] = rnd(-1.0f, 1.0f);
        }
        g[cnt / 2] = NAN;
        for (int op = 0; op < 4; op++) {
            const float *in = op < 2 ? x : g;
            /* the reference: the first level (AVX2 or NEON), ordinary stores, not in place */
            cpu_set_level(levels[0]);
            cpu_set_stream_min_bytes(INT64_MAX);
            CHECK_OK(run_op(op, ref, x, g, ROWS, n, false));
            for (int l = 0; l < nl; l++) {
                cpu_set_level(levels[l]);
                for (int stream = 0; stream < 2; stream++) {
                    cpu_set_stream_min_bytes(stream ? 0 : INT64_MAX);
                    for (int off = 0; off < 16; off += (n > 200 ? 5 : 1)) {
                        for (int in_place = 0; in_place < 2; in_place++) {
                            float *out = o + off;
                            if (in_place)
                                memcpy(out, in, (size_t)cnt * 4);
                            else
                                memset(out, 0x55, (size_t)cnt * 4);
                            CHECK_OK(run_op(op, out, x, g, ROWS, n, in_place));
                            int64_t d = first_diff(out, ref, cnt);
                            CHECK_MSG(
                                d < 0, "%s %s%s%s, n = %lld, offset %d: %.9g, not %.9g at %lld",
                                names[op], cpu_level_name(levels[l]), stream ? " streamed" : "",
                                in_place ? " in place" : "", (long long)n, off,
                                d < 0 ? 0.0 : out[d], d < 0 ? 0.0 : ref[d], (long long)d);
                        }
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
    free(ref);
    free(o);
}

/* Many rows: chunks of several rows, whose last row prefetches the next chunk's first, and whose
 * streamed forward writes each row's output during the next row's exps; one thread and two. */
TEST(softmax_rows_chunks_and_threads_same_bits) {
    enum { R = 300 };
    static const int64_t lens[] = {1, 9, 64, 65, 203, 4099};
    cpu_level levels[3];
    int nl = simd_levels(levels);
    cpu_level saved = cpu_get_level();
    int threads = born_get_num_threads();
    size_t cap = (size_t)R * 4099 + 16;
    float *x = malloc(cap * 4), *g = malloc(cap * 4), *ref = malloc(cap * 4);
    float *o = aligned_alloc(64, (cap + 15) / 16 * 64);
    CHECK(x && g && ref && o);
    if (!x || !g || !ref || !o || nl == 0) goto done;
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        int64_t n = lens[li], cnt = R * n;
        for (int64_t r = 0; r < R; r++) {
            fill_row(x + r * n, n, r);
            for (int64_t i = 0; i < n; i++)
                g[r * n + i] = rnd(-1.0f, 1.0f);
        }
        for (int op = 0; op < 4; op++) {
            born_set_num_threads(1);
            cpu_set_level(levels[0]);
            cpu_set_stream_min_bytes(INT64_MAX);
            CHECK_OK(run_op(op, ref, x, g, R, n, false));
            for (int l = 0; l < nl; l++) {
                cpu_set_level(levels[l]);
                for (int k = 0; k < 4; k++) {
                    born_set_num_threads(k & 1 ? 2 : 1);
                    cpu_set_stream_min_bytes(k & 2 ? 0 : INT64_MAX);
                    memset(o + 3, 0x55, (size_t)cnt * 4);
                    CHECK_OK(run_op(op, o + 3, x, g, R, n, false));
                    CHECK_MSG(first_diff(o + 3, ref, cnt) < 0,
                              "op %d, %s, %d thread(s)%s, n = %lld: rows differ", op,
                              cpu_level_name(levels[l]), k & 1 ? 2 : 1, k & 2 ? ", streamed" : "",
                              (long long)n);
                }
            }
        }
    }
done:
    born_set_num_threads(threads);
    cpu_set_stream_min_bytes(-1);
    cpu_set_level(saved);
    free(x);
    free(g);
    free(ref);
    free(o);
}

/* True if got is within 1e-6 of want relatively plus abs, or both are NaN (test_reduce_simd.c's
 * bounds for the AVX2 rows). */
static bool near(float got, float want, double abs) {
    return (isnan(got) && isnan(want)) || got == want ||
           fabs((double)got - want) <= 1e-6 * fabs((double)want) + abs;
}

/* The part of a gradient's error that the row's sum s brings (gi = y (g - s), or g - e^y s for
 * log_softmax, op 3) at element i of the row y, g of n: |y| (or e^y) times 2^-24 of the sum of
 * the terms' magnitudes, which bounds the error of the SIMD levels' f32 block sums of s (measured
 * over 60 draws of these rows: under a twentieth of it). It matters where s is large beside the
 * result: a long row's log_softmax gradient at its dominant element. */
static double sum_error(int op, const float *y, const float *g, int64_t n, int64_t i) {
    double mag = 0;
    for (int64_t j = 0; j < n; j++) mag += fabs((double)g[j] * (op == 3 ? 1.0 : y[j]));
    return (op == 3 ? exp((double)y[i]) : fabs((double)y[i])) * mag * 0x1p-24;
}

/* Every SIMD level's rows against the portable rows (in double), for lengths that end in every
 * kind of tail (1-3 elements past the last whole vector, whole vectors past the sums' last block,
 * several blocks) and the rows of fill_row (NaN, infinities, all -inf, far below zero, one huge
 * value): the forward within 1e-6 relative + 1e-7, the gradients (from the portable forward's y)
 * within 1e-6 relative + 1e-6 + sum_error, NaN exactly where the portable rows have NaN. The
 * draws are this test's own (the generator is reseeded), whatever ran before. */
TEST(softmax_rows_simd_match_portable) {
    static const int64_t lens[] = {1,  2,  3,  4,  5,  7,  8,   9,    15,   16,  17,
                                   31, 32, 33, 63, 64, 65, 100, 1000, 1001, 4099};
    enum { NL = sizeof lens / sizeof lens[0], R = 7, MAXL = 4099 };
    cpu_level levels[3];
    int nl = simd_levels(levels);
    cpu_level saved = cpu_get_level();
    size_t cap = (size_t)R * MAXL;
    float *x = malloc(cap * 4), *g = malloc(cap * 4), *y = malloc(cap * 4), *ref = malloc(cap * 4),
          *o = malloc(cap * 4);
    CHECK(x && g && y && ref && o);
    if (!x || !g || !y || !ref || !o) goto done;
    rng = 0x2545F4914F6CDD1Dull;
    for (int li = 0; li < NL; li++) {
        int64_t n = lens[li], cnt = R * n;
        for (int64_t r = 0; r < R; r++) {
            fill_row(x + r * n, n, r);
            for (int64_t i = 0; i < n; i++)
                g[r * n + i] = rnd(-1.0f, 1.0f);
        }
        for (int op = 0; op < 4; op++) {
            cpu_set_level(CPU_LEVEL_SCALAR);
            /* the backward's y: the portable forward of x (softmax or log_softmax) */
            if (op >= 2) CHECK_OK(run_op(op - 2, y, x, g, R, n, false));
            const float *in = op >= 2 ? y : x;
            CHECK_OK(run_op(op, ref, in, g, R, n, false));
            for (int l = 0; l < nl; l++) {
                cpu_set_level(levels[l]);
                memset(o, 0x55, (size_t)cnt * 4);
                CHECK_OK(run_op(op, o, in, g, R, n, false));
                int bad = 0;
                for (int64_t i = 0; i < cnt && bad < 3; i++) {
                    if (near(o[i], ref[i], op < 2 ? 1e-7 : 1e-6)) continue;
                    int64_t r = i / n, j = i % n;
                    if (op >= 2 && near(o[i], ref[i], 1e-6 + sum_error(op, y + r * n, g + r * n, n, j)))
                        continue;
                    bad++;
                    test_fail(__FILE__, __LINE__, "op %d at %s, n = %lld, row %lld [%lld]: %.9g, "
                              "portable %.9g", op, cpu_level_name(levels[l]), (long long)n,
                              (long long)r, (long long)j, o[i], ref[i]);
                }
            }
        }
    }
done:
    cpu_set_level(saved);
    free(x);
    free(g);
    free(y);
    free(ref);
    free(o);
}

/* The sums of long rows, in blocks of 64 (32 at NEON) with eight f32 terms a lane first, against
 * the portable rows in double: rows of 9001 values whose exps span a wide range, and of values all
 * near the max (where the sum is large and every term counts); the gradients from the portable
 * forward's y, as in training (with any y the sum of g y can cancel, and its f32 blocks' error
 * then exceed 1e-6 of g - s at every level, depending on the draw). The draws are this test's
 * own (the generator is reseeded). */
TEST(softmax_rows_long_match_portable) {
    enum { N = 9001, R = 4 };
    cpu_level levels[3];
    int nl = simd_levels(levels);
    cpu_level saved = cpu_get_level();
    float *x = malloc((size_t)R * N * 4), *g = malloc((size_t)R * N * 4),
          *y = malloc((size_t)R * N * 4), *ref = malloc((size_t)R * N * 4),
          *o = malloc((size_t)R * N * 4);
    CHECK(x && g && y && ref && o);
    if (!x || !g || !y || !ref || !o) goto done;
    rng = 0x9E3779B97F4A7C15ull;
    for (int64_t i = 0; i < R * N; i++) {
        int64_t r = i / N;
        x[i] = r == 0   ? rnd(-15.0f, 15.0f)
               : r == 1 ? rnd(-0.01f, 0.01f)
               : r == 2 ? rnd(-80.0f, 0.0f)
                        : rnd(-1.0f, 1.0f);
        g[i] = rnd(-1.0f, 1.0f);
    }
    for (int op = 0; op < 4; op++) {
        cpu_set_level(CPU_LEVEL_SCALAR);
        if (op >= 2) CHECK_OK(run_op(op - 2, y, x, g, R, N, false));
        const float *in = op >= 2 ? y : x;
        CHECK_OK(run_op(op, ref, in, g, R, N, false));
        for (int l = 0; l < nl; l++) {
            cpu_set_level(levels[l]);
            CHECK_OK(run_op(op, o, in, g, R, N, false));
            double worst = 0;
            for (int64_t i = 0; i < R * N; i++) {
                double e = fabs((double)o[i] - ref[i]) / (fabs(ref[i]) + 1e-30);
                if (fabs((double)o[i] - ref[i]) > 1e-7 && e > worst) worst = e;
            }
            CHECK_MSG(worst <= 1e-6, "op %d at %s: relative error %.3g against the portable rows",
                      op, cpu_level_name(levels[l]), worst);
        }
    }
done:
    cpu_set_level(saved);
    free(x);
    free(g);
    free(y);
    free(ref);
    free(o);
}
