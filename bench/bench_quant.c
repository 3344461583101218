/* Products with block-quantized weights: out = x W^T with W [N, K] quantized (born_linear), for
 * M = 1 (a matrix-vector product, which can go no faster than reading W once) and M = 8, 32, 128
 * rows of x, on an LLM layer's shape (K = N = 4096) and a small model's (N = 576, K = 1536: the
 * down projection of a 135M-parameter model, whose K = 576 matrices are no multiple of 256).
 * For each type it reports the time, the weight read rate in GB/s beside this machine's read
 * bandwidth measured in the same run (a STREAM-like sum over 256 MiB with the same threads), and
 * GFLOP/s (2 M N K / time); beside them, OpenBLAS's f32 sgemv of the same shape. Weights rotate
 * through copies totalling >= 128 MiB so that they come from memory, not from the 32 MiB L3, as
 * a model's layers would. Medians of 7 runs. Usage: bench_quant [threads]. */
#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "born/born.h"
#include "bench_util.h"
#include "openblas_quiet.h"

void openblas_set_num_threads(int num_threads);

enum { REPS = 7, ROTATE_BYTES = 128 << 20 };

/* ---- read bandwidth ---------------------------------------------------------------------------- */

typedef struct bw_ctx {
    const uint64_t *data;
    uint64_t *sums;
    int64_t chunk;
} bw_ctx;

static void bw_chunk(int64_t begin, int64_t end, void *arg) {
    bw_ctx *c = arg;
    for (int64_t ch = begin; ch < end; ch++) {
        const uint64_t *p = c->data + ch * c->chunk;
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (int64_t i = 0; i < c->chunk; i += 4) {
            s0 += p[i];
            s1 += p[i + 1];
            s2 += p[i + 2];
            s3 += p[i + 3];
        }
        c->sums[ch] = s0 + s1 + s2 + s3;
    }
}

static double read_bandwidth(void) {
    const int64_t words = (256 << 20) / 8, chunk = (1 << 20) / 8, chunks = words / chunk;
    uint64_t *data = malloc((size_t)words * 8), *sums = calloc((size_t)chunks, 8);
    for (int64_t i = 0; i < words; i++) data[i] = (uint64_t)i;
    bw_ctx c = {data, sums, chunk};
    double t[REPS];
    for (int r = 0; r < REPS; r++) {
        double t0 = now();
        born_parallel_for(chunks, 1, bw_chunk, &c);
        t[r] = now() - t0;
    }
    qsort(t, REPS, sizeof t[0], cmp_double);
    uint64_t s = 0;
    for (int64_t i = 0; i < chunks; i++) s += sums[i];
    if (s == 42) printf("!");
    free(data);
    free(sums);
    return (double)words * 8 / t[REPS / 2] / 1e9;
}

/* ---- Born with quantized weights ------------------------------------------------------------ */

typedef struct qjob {
    born_tensor *x, *big; /* big: `copies` weights stacked along dim 0 */
    int64_t n, copies, next;
} qjob;

static void qjob_run(qjob *j) {
    born_scope_begin();
    born_tensor *w = born_narrow(j->big, 0, j->next * j->n, j->n);
    j->next = (j->next + 1) % j->copies;
    born_tensor *out = born_linear(j->x, w, NULL);
    if (!out) {
        fprintf(stderr, "born_linear failed: %s\n", born_last_error());
        exit(1);
    }
    born_scope_end();
}

/* Median seconds of one call, each timing covering enough calls to last about 20 ms. */
static double time_it(void (*fn)(void *), void *ctx) {
    fn(ctx);
    double t0 = now();
    int inner = 0;
    while (now() - t0 < 0.02) {
        fn(ctx);
        inner++;
    }
    double t[REPS];
    for (int r = 0; r < REPS; r++) {
        double s = now();
        for (int i = 0; i < inner; i++) fn(ctx);
        t[r] = (now() - s) / inner;
    }
    qsort(t, REPS, sizeof t[0], cmp_double);
    return t[REPS / 2];
}

static void qjob_fn(void *ctx) { qjob_run(ctx); }

/* `copies` copies of one quantized [n, k] weight (256 rows quantized, repeated) stacked. */
static born_tensor *make_weights(born_dtype dt, int64_t n, int64_t k, int64_t *copies) {
    born_scope_begin();
    int64_t rows = n < 256 ? n : 256;
    born_tensor *src = born_randn(NULL, BORN_F32, BORN_DIMS(rows, k));
    born_tensor *q = born_to_dtype(born_mul_scalar(src, 0.02), dt);
    if (!q) {
        fprintf(stderr, "quantizing failed: %s\n", born_last_error());
        exit(1);
    }
    size_t row_bytes = born_dtype_nbytes(dt, k), w_bytes = row_bytes * (size_t)n;
    *copies = (int64_t)((ROTATE_BYTES + w_bytes - 1) / w_bytes);
    size_t total = w_bytes * (size_t)*copies;
    unsigned char *buf = malloc(total);
    const unsigned char *qb = born_data_ptr(q);
    for (int64_t r = 0; r < n * *copies; r++)
        memcpy(buf + (size_t)r * row_bytes, qb + (size_t)(r % rows) * row_bytes, row_bytes);
    born_tensor *big = born_from_data(dt, BORN_DIMS(n * *copies, k), buf, total);
    free(buf);
    born_keep(big);
    born_scope_end();
    return big;
}

/* ---- OpenBLAS f32 sgemv -------------------------------------------------------------------- */

typedef struct bjob {
    float *w, *x, *y;
    int64_t n, k, copies, next;
} bjob;

static void bjob_fn(void *ctx) {
    bjob *j = ctx;
    const float *w = j->w + (size_t)j->next * (size_t)(j->n * j->k);
    j->next = (j->next + 1) % j->copies;
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)j->n, (int)j->k, 1.0f, w, (int)j->k, j->x, 1, 0.0f,
                j->y, 1);
}

int main(int argc, char **argv) {
    openblas_quiet_reexec(argv);
    born_init();
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1) born_set_num_threads(atoi(argv[1]));
    int threads = born_get_num_threads();
    openblas_set_num_threads(threads);
    double bw = read_bandwidth();
    printf("threads %d; read bandwidth %.1f GB/s (sum over 256 MiB)\n\n", threads, bw);
    static const born_dtype types[] = {BORN_Q4_0, BORN_Q4_1, BORN_Q5_0, BORN_Q5_1, BORN_Q8_0,
                                       BORN_Q2_K, BORN_Q3_K, BORN_Q4_K, BORN_Q5_K, BORN_Q6_K,
                                       BORN_IQ4_NL, BORN_IQ4_XS};
    static const int64_t shapes[][2] = {{4096, 4096}, {576, 1536}}; /* N, K */
    static const int64_t ms[] = {1, 8, 32, 128};
    for (int s = 0; s < 2; s++) {
        int64_t n = shapes[s][0], k = shapes[s][1];
        printf("W [N %lld, K %lld]     M=1: us    GB/s  %%bw  GFLOP/s | GFLOP/s M=8   M=32  M=128\n",
               (long long)n, (long long)k);
        /* f32 with OpenBLAS */
        {
            bjob j = {0};
            j.n = n;
            j.k = k;
            size_t wb = (size_t)(n * k) * 4;
            j.copies = (int64_t)((ROTATE_BYTES + wb - 1) / wb);
            j.w = malloc(wb * (size_t)j.copies);
            for (size_t i = 0; i < (size_t)(n * k) * (size_t)j.copies; i++) j.w[i] = (float)(i % 7) * 0.01f;
            j.x = calloc((size_t)k, 4);
            j.y = calloc((size_t)n, 4);
            double t = time_it(bjob_fn, &j);
            printf("  f32 openblas sgemv %9.1f %7.1f %4.0f %8.1f |\n", t * 1e6, (double)wb / t / 1e9,
                   100.0 * (double)wb / t / 1e9 / bw, 2.0 * (double)(n * k) / t / 1e9);
            free(j.w);
            free(j.x);
            free(j.y);
        }
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
            qjob j = {0};
            j.n = n;
            j.big = make_weights(types[ti], n, k, &j.copies);
            double wbytes = (double)born_dtype_nbytes(types[ti], n * k);
            double gf[4] = {0}, t1 = 0;
            for (int mi = 0; mi < 4; mi++) {
                born_scope_begin();
                j.x = born_randn(NULL, BORN_F32, BORN_DIMS(ms[mi], k));
                double t = time_it(qjob_fn, &j);
                born_scope_end();
                gf[mi] = 2.0 * (double)(ms[mi] * n * k) / t / 1e9;
                if (mi == 0) t1 = t;
            }
            printf("  %-6s %5.2f bits  %9.1f %7.1f %4.0f %8.1f | %12.1f %6.1f %6.1f\n",
                   born_dtype_name(types[ti]), wbytes * 8 / (double)(n * k), t1 * 1e6,
                   wbytes / t1 / 1e9, 100.0 * wbytes / t1 / 1e9 / bw, gf[0], gf[1], gf[2], gf[3]);
            born_free(j.big);
        }
        printf("\n");
    }
    return 0;
}
