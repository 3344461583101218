/* Reductions and softmax on the paths added for speed: the column ("outer") reductions of
 * src/backend/cpu/reduce.c, the AVX2 folds of contiguous f32 runs, and the AVX2 softmax rows,
 * each against a double-precision reference, with NaN and infinities, at the AVX2 and portable
 * CPU levels, and bit-identical for 1 and 2 threads (and for the column sums, with and without
 * the prefetching that inputs beyond the caches get on AMD). */
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cpu/stream.h"
#include "core/cpu_features.h"
#include "test.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static double rnd(void) { /* [-1, 1) */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

static born_tensor *random_f32(int ndim, const int64_t *shape, double scale) {
    born_tensor *t = born_empty(BORN_F32, ndim, shape);
    float *p = born_data_f32(t);
    int64_t n = born_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) p[i] = (float)(rnd() * scale);
    return t;
}

static born_tensor *reduce(born_reduce_op op, born_tensor *t, int ndims, const int64_t *dims) {
    switch (op) {
    case BORN_REDUCE_SUM: return born_sum(t, ndims, dims, false);
    case BORN_REDUCE_PROD: return born_prod(t, ndims, dims, false);
    case BORN_REDUCE_MAX: return born_max(t, ndims, dims, false);
    default: return born_min(t, ndims, dims, false);
    }
}

/* [B, N] reduced over dim 0 against a double loop over the columns; also 1 vs 2 threads. */
static void column_case(born_reduce_op op, int64_t B, int64_t N, cpu_level level) {
    cpu_level saved_level = cpu_get_level();
    cpu_set_level(level);
    int64_t shape[2] = {B, N};
    born_tensor *x = random_f32(2, shape, op == BORN_REDUCE_PROD ? 1.0 : 4.0);
    float *px = born_data_f32(x);
    if (op == BORN_REDUCE_PROD)
        for (int64_t i = 0; i < B * N; i++) px[i] = 1.0f + px[i] / 64.0f;
    if (N > 5) {
        px[(B / 2) * N + 2] = NAN; /* column 2 holds a NaN (which max and min must return) */
        px[(B - 1) * N + 5] = INFINITY;
    }
    int saved_threads = born_get_num_threads();
    born_set_num_threads(1);
    born_tensor *r1 = reduce(op, x, 1, (int64_t[]){0});
    born_set_num_threads(2);
    born_tensor *r2 = reduce(op, x, 1, (int64_t[]){0});
    /* as for an input beyond the caches: on AMD the sums' groups prefetch the rows read next */
    cpu_set_stream_min_bytes(0);
    born_tensor *r3 = reduce(op, x, 1, (int64_t[]){0});
    born_set_num_threads(1);
    born_tensor *r4 = reduce(op, x, 1, (int64_t[]){0});
    cpu_set_stream_min_bytes(-1);
    born_set_num_threads(saved_threads);
    CHECK_OK_TENSOR(r1);
    CHECK_OK_TENSOR(r2);
    CHECK_OK_TENSOR(r3);
    CHECK_OK_TENSOR(r4);
    if (r1 && r2 && r3 && r4) {
        CHECK(memcmp(born_data_f32(r1), born_data_f32(r2), (size_t)N * 4) == 0);
        CHECK(memcmp(born_data_f32(r1), born_data_f32(r3), (size_t)N * 4) == 0);
        CHECK(memcmp(born_data_f32(r1), born_data_f32(r4), (size_t)N * 4) == 0);
        const float *got = born_data_f32(r1);
        int bad = 0;
        for (int64_t j = 0; j < N; j++) {
            double want = op == BORN_REDUCE_SUM ? 0 : op == BORN_REDUCE_PROD ? 1 : px[j], mag = 0;
            for (int64_t i = 0; i < B; i++) {
                double v = px[i * N + j];
                if (op == BORN_REDUCE_SUM) want += v;
                else if (op == BORN_REDUCE_PROD) want *= v;
                else if (isnan(v) || isnan(want)) want = NAN;
                else if (op == BORN_REDUCE_MAX) want = v > want ? v : want;
                else want = v < want ? v : want;
                mag += fabs(v);
            }
            bool ok = isnan(want) ? isnan(got[j])
                    : isinf(want) ? got[j] == want
                                  : fabs(got[j] - want) <= 1e-6 * (mag + fabs(want)) + 1e-30;
            if (!ok && bad++ < 3)
                test_fail(__FILE__, __LINE__, "op %d [%lld, %lld] column %lld: %.9g, want %.9g", (int)op,
                          (long long)B, (long long)N, (long long)j, got[j], want);
        }
    }
    cpu_set_level(saved_level);
}

TEST(reduce_columns_against_reference) {
    const int64_t Bs[] = {2, 3, 127, 128, 129, 300};
    const int64_t Ns[] = {8, 13, 64, 2047, 2049, 4100};
    const born_reduce_op ops[] = {BORN_REDUCE_SUM, BORN_REDUCE_PROD, BORN_REDUCE_MAX, BORN_REDUCE_MIN};
    for (int level = 0; level < 2; level++)
        for (int o = 0; o < 4; o++)
            for (int b = 0; b < 6; b++)
                for (int n = 0; n < 6; n++) {
                    if (Bs[b] * Ns[n] > 400000 && o != 0) continue;
                    column_case(ops[o], Bs[b], Ns[n], level ? CPU_LEVEL_AVX2 : CPU_LEVEL_SCALAR);
                }
}

/* Column reductions over several dims, kept dims in the middle, and transposed inputs agree with
 * the same reduction of a contiguous copy laid out the other way (which takes the other path). */
TEST(reduce_columns_multidim_and_views) {
    int64_t shape[4] = {3, 40, 5, 37};
    born_tensor *x = random_f32(4, shape, 2.0);
    const int64_t sets[][3] = {{0, 2, -1}, {1, 3, -1}, {0, 1, 2}, {1, -1, -1}, {0, 2, 3}};
    for (int s = 0; s < 10; s++) {
        /* the second time round as for inputs beyond the caches (on AMD, groups prefetch) */
        cpu_set_stream_min_bytes(s < 5 ? -1 : 0);
        const int64_t *set = sets[s % 5];
        int nd = set[1] < 0 ? 1 : set[2] < 0 ? 2 : 3;
        born_tensor *a = born_sum(x, nd, set, true);
        /* the same through a permuted, contiguous copy whose innermost dim is reduced instead */
        born_tensor *xt = born_contiguous(born_permute(x, 4, (int64_t[]){3, 2, 1, 0}));
        int64_t tdims[3];
        for (int k = 0; k < nd; k++)
            tdims[k] = 3 - set[k];
        born_tensor *b = born_permute(born_sum(xt, nd, tdims, true), 4, (int64_t[]){3, 2, 1, 0});
        born_tensor *diff = born_max(born_abs(born_sub(a, b)), 0, NULL, false);
        CHECK_OK_TENSOR(diff);
        if (diff) CHECK_MSG(born_item(diff) < 1e-4, "dims set %d: %g", s, born_item(diff));
    }
    cpu_set_stream_min_bytes(-1);
    /* a transposed [N, B] view reduced over its dim 1 is a column reduction of the storage */
    int64_t s2[2] = {300, 50};
    born_tensor *y = random_f32(2, s2, 1.0);
    born_tensor *yt = born_transpose(y, 0, 1); /* [50, 300], strides [1, 50] */
    born_tensor *r1 = born_sum(yt, 1, (int64_t[]){1}, false);
    born_tensor *r2 = born_sum(y, 1, (int64_t[]){0}, false);
    born_tensor *d = born_max(born_abs(born_sub(r1, r2)), 0, NULL, false);
    CHECK_OK_TENSOR(d);
    if (d) CHECK(born_item(d) == 0);
}

/* Full and inner reductions of contiguous f32 (the AVX2 folds): values, the first NaN, and
 * thread-count independence. */
TEST(reduce_contiguous_f32_avx2) {
    cpu_level saved = cpu_get_level();
    const int64_t lens[] = {1, 7, 8, 31, 33, 64, 65, 1000, 16384, 16385, 100003};
    for (int level = 0; level < 2; level++) {
        cpu_set_level(level ? CPU_LEVEL_AVX2 : CPU_LEVEL_SCALAR);
        for (int l = 0; l < 11; l++) {
            int64_t n = lens[l];
            born_tensor *x = random_f32(1, &n, 3.0);
            const float *p = born_data_f32(x);
            double sum = 0, mag = 0, mx = -INFINITY, mn = INFINITY;
            for (int64_t i = 0; i < n; i++) {
                sum += p[i];
                mag += fabs(p[i]);
                mx = p[i] > mx ? p[i] : mx;
                mn = p[i] < mn ? p[i] : mn;
            }
            CHECK_NEAR(born_item(born_sum(x, 0, NULL, false)), sum, 1e-6 * mag + 1e-30);
            CHECK(born_item(born_max(x, 0, NULL, false)) == mx);
            CHECK(born_item(born_min(x, 0, NULL, false)) == mn);
            born_data_f32(x)[n / 2] = NAN;
            CHECK(isnan(born_item(born_max(x, 0, NULL, false))));
            CHECK(isnan(born_item(born_min(x, 0, NULL, false))));
        }
        /* sums of rows ([64, 1000] over dim 1), 1 vs 2 threads bit-identical */
        int64_t shape[2] = {64, 1000};
        born_tensor *m = random_f32(2, shape, 1.0);
        int saved_threads = born_get_num_threads();
        born_set_num_threads(1);
        born_tensor *a = born_sum(m, 1, (int64_t[]){1}, false);
        born_tensor *big = random_f32(1, (int64_t[]){300000}, 1.0);
        double s1 = born_item(born_sum(big, 0, NULL, false));
        born_set_num_threads(2);
        born_tensor *b = born_sum(m, 1, (int64_t[]){1}, false);
        double s2 = born_item(born_sum(big, 0, NULL, false));
        born_set_num_threads(saved_threads);
        CHECK(memcmp(born_data_f32(a), born_data_f32(b), 64 * 4) == 0);
        CHECK(s1 == s2);
    }
    cpu_set_level(saved);
}

/* The AVX2 softmax rows against the portable (double) rows: forward and backward, softmax and
 * log_softmax, rows of many lengths, with -inf, a NaN row, an all -inf row and large values. */
TEST(softmax_avx2_matches_portable) {
    cpu_level saved = cpu_get_level();
    const int64_t lens[] = {1, 3, 8, 9, 100, 4099};
    for (int l = 0; l < 6; l++) {
        int64_t shape[2] = {5, lens[l]};
        born_tensor *x = random_f32(2, shape, 20.0);
        float *px = born_data_f32(x);
        px[lens[l] - 1] = -INFINITY;           /* row 0: one -inf */
        for (int64_t i = 0; i < lens[l]; i++) { /* row 1: all -inf; row 2: a NaN; row 3: large */
            px[lens[l] + i] = -INFINITY;
            px[3 * lens[l] + i] = 1e4f + px[3 * lens[l] + i];
        }
        px[2 * lens[l] + lens[l] / 2] = NAN;
        born_tensor *g = random_f32(2, shape, 1.0);
        for (int lg = 0; lg < 2; lg++) {
            float *out[2], *grad[2];
            for (int path = 0; path < 2; path++) {
                cpu_set_level(path ? CPU_LEVEL_SCALAR : CPU_LEVEL_AVX2);
                born_tensor *y = lg ? born_log_softmax(x, 1) : born_softmax(x, 1);
                CHECK_OK_TENSOR(y);
                out[path] = born_data_f32(y);
                /* the backward kernel, through autograd */
                born_tensor *xr = born_detach(x);
                born_requires_grad(xr, true);
                born_tensor *yr = lg ? born_log_softmax(xr, 1) : born_softmax(xr, 1);
                CHECK_OK(born_backward(born_sum(born_mul(yr, g), 0, NULL, false)));
                grad[path] = born_data_f32(born_grad(xr));
            }
            for (int64_t i = 0; i < 5 * lens[l]; i++) {
                double f = out[0][i], s = out[1][i];
                bool ok = (isnan(f) && isnan(s)) || f == s || fabs(f - s) <= 1e-6 * fabs(s) + 1e-7;
                CHECK_MSG(ok, "%s n=%lld [%lld]: AVX2 %.9g, portable %.9g", lg ? "log_softmax" : "softmax",
                          (long long)lens[l], (long long)i, f, s);
                f = grad[0][i];
                s = grad[1][i];
                ok = (isnan(f) && isnan(s)) || f == s || fabs(f - s) <= 1e-6 * fabs(s) + 1e-6;
                CHECK_MSG(ok, "%s backward n=%lld [%lld]: AVX2 %.9g, portable %.9g",
                          lg ? "log_softmax" : "softmax", (long long)lens[l], (long long)i, f, s);
            }
        }
    }
    cpu_set_level(saved);
}
