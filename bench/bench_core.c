/* The core's speed on this machine, each figure beside a peer's from the same run:
 *   - tensor creation latency (Born vs malloc + memset),
 *   - large elementwise ops and a reduction in GB/s (Born vs a plain C loop and OpenBLAS),
 *   - the memory bandwidth (a STREAM-like copy over the same threads), the yardstick for the
 *     streaming figures that follow,
 *   - exp, tanh, gelu, softmax over rows of 4096 and sums over dim 0 in GB/s (Born vs a plain C
 *     loop with libm compiled -O3 and split over the same threads, and OpenBLAS sgemv against a
 *     vector of ones for the column sums), each also as a fraction of the copy bandwidth,
 *   - an add that creates its 64 MiB result (Born's caching allocator vs malloc + loop + free),
 *   - f32 matmul GFLOP/s at n = 256 ... 2048 (Born vs OpenBLAS sgemm),
 * with 1 and 2 threads (or the thread counts given as arguments). Each figure is the median of
 * several repetitions. This is a measurement, not a target. GB/s count the bytes an op must move
 * once: 8 per element for a unary op or softmax (read + write), 12 for add, 4 for a sum. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "born/born.h"
#include "bench_util.h"

/* OpenBLAS's own controls (declared in openblas_config/cblas.h on Debian) */
void openblas_set_num_threads(int num_threads);
char *openblas_get_corename(void);

enum { REPS = 7 };

/* Runs fn(ctx) `inner` times per repetition; returns the median seconds per call. */
static double time_median(void (*fn)(void *), void *ctx, int inner) {
    double t[REPS];
    fn(ctx); /* warm up */
    for (int r = 0; r < REPS; r++) {
        double t0 = now();
        for (int i = 0; i < inner; i++) fn(ctx);
        t[r] = (now() - t0) / inner;
    }
    return median(t, REPS);
}

/* ---- creation ---------------------------------------------------------------------------- */

typedef struct create_ctx {
    int64_t n;
} create_ctx;

static void born_create(void *arg) {
    create_ctx *c = arg;
    born_tensor *t = born_zeros(BORN_F32, 1, &c->n);
    born_free(t);
}

static void libc_create(void *arg) {
    create_ctx *c = arg;
    float *p = malloc((size_t)c->n * sizeof *p);
    memset(p, 0, (size_t)c->n * sizeof *p);
    __asm__ volatile("" : : "r"(p) : "memory");
    free(p);
}

/* ---- elementwise ------------------------------------------------------------------------- */

typedef struct ew_ctx {
    born_tensor *a, *b, *out;
    float *pa, *pb, *po;
    int64_t n;
} ew_ctx;

static void born_add_out_fn(void *arg) {
    ew_ctx *c = arg;
    born_binary_out(BORN_BINARY_ADD, c->out, c->a, c->b);
}

static void c_add_fn(void *arg) {
    ew_ctx *c = arg;
    for (int64_t i = 0; i < c->n; i++) c->po[i] = c->pa[i] + c->pb[i];
}

static void born_relu_fn(void *arg) {
    ew_ctx *c = arg;
    born_unary_out(BORN_UNARY_RELU, c->out, c->a, NULL);
}

static void blas_axpy_fn(void *arg) {
    ew_ctx *c = arg;
    cblas_saxpy((int)c->n, 1.0f, c->pa, 1, c->po, 1);
}

static void born_sum_fn(void *arg) {
    ew_ctx *c = arg;
    born_scope_begin();
    born_sum(c->a, 0, NULL, false);
    born_scope_end();
}

static void blas_asum_fn(void *arg) {
    ew_ctx *c = arg;
    volatile float s = cblas_sasum((int)c->n, c->pa, 1);
    (void)s;
}

/* ---- peers: plain C loops with libm, -O3, split over Born's thread pool ------------------ */

#pragma GCC push_options
#pragma GCC optimize("O3")

typedef struct peer_ctx {
    const float *in;
    float *out;
    int64_t rows, cols; /* softmax rows and column sums */
} peer_ctx;

static void peer_copy_range(int64_t b, int64_t e, void *arg) {
    const peer_ctx *c = arg;
    const float *restrict in = c->in;
    float *restrict out = c->out;
    for (int64_t i = b; i < e; i++) out[i] = in[i];
}
static void peer_exp_range(int64_t b, int64_t e, void *arg) {
    const peer_ctx *c = arg;
    for (int64_t i = b; i < e; i++) c->out[i] = expf(c->in[i]);
}
static void peer_tanh_range(int64_t b, int64_t e, void *arg) {
    const peer_ctx *c = arg;
    for (int64_t i = b; i < e; i++) c->out[i] = tanhf(c->in[i]);
}
static void peer_gelu_range(int64_t b, int64_t e, void *arg) {
    const peer_ctx *c = arg;
    for (int64_t i = b; i < e; i++) {
        float x = c->in[i];
        c->out[i] = 0.5f * x * (1.0f + erff(x * 0.70710678f));
    }
}
static void peer_softmax_rows(int64_t b, int64_t e, void *arg) {
    const peer_ctx *c = arg;
    int64_t n = c->cols;
    for (int64_t r = b; r < e; r++) {
        const float *x = c->in + r * n;
        float *y = c->out + r * n;
        float m = -INFINITY, s = 0;
        for (int64_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
        for (int64_t i = 0; i < n; i++) s += (y[i] = expf(x[i] - m));
        float inv = 1.0f / s;
        for (int64_t i = 0; i < n; i++) y[i] *= inv;
    }
}
/* Column sums of a [rows, cols] matrix by accumulating rows into the output; the range is over
 * blocks of 1024 columns. */
static void peer_colsum_blocks(int64_t b, int64_t e, void *arg) {
    const peer_ctx *c = arg;
    int64_t lo = b * 1024, hi = e * 1024 < c->cols ? e * 1024 : c->cols;
    float *restrict out = c->out;
    for (int64_t j = lo; j < hi; j++) out[j] = 0;
    for (int64_t r = 0; r < c->rows; r++) {
        const float *restrict x = c->in + r * c->cols;
        for (int64_t j = lo; j < hi; j++) out[j] += x[j];
    }
}
typedef struct add_ctx {
    const float *a, *b;
    float *o;
} add_ctx;
static void peer_add_range(int64_t b, int64_t e, void *arg) {
    const add_ctx *c = arg;
    for (int64_t i = b; i < e; i++) c->o[i] = c->a[i] + c->b[i];
}

#pragma GCC pop_options

enum { PEER_GRAIN = 1 << 16 };

typedef struct stream_ctx {
    born_tensor *x, *y, *out, *m, *colsum, *ones;
    peer_ctx p;
    int64_t n;
} stream_ctx;

static void peer_copy_fn(void *arg) {
    stream_ctx *c = arg;
    born_parallel_for(c->n, PEER_GRAIN, peer_copy_range, &c->p);
}
static void peer_exp_fn(void *arg) {
    stream_ctx *c = arg;
    born_parallel_for(c->n, PEER_GRAIN, peer_exp_range, &c->p);
}
static void peer_tanh_fn(void *arg) {
    stream_ctx *c = arg;
    born_parallel_for(c->n, PEER_GRAIN, peer_tanh_range, &c->p);
}
static void peer_gelu_fn(void *arg) {
    stream_ctx *c = arg;
    born_parallel_for(c->n, PEER_GRAIN, peer_gelu_range, &c->p);
}
static void peer_softmax_fn(void *arg) {
    stream_ctx *c = arg;
    born_parallel_for(c->p.rows, 1, peer_softmax_rows, &c->p);
}
static void peer_colsum_fn(void *arg) {
    stream_ctx *c = arg;
    born_parallel_for((c->p.cols + 1023) / 1024, 1, peer_colsum_blocks, &c->p);
}
static void blas_colsum_fn(void *arg) { /* y = A^T 1 */
    stream_ctx *c = arg;
    cblas_sgemv(CblasRowMajor, CblasTrans, (int)c->p.rows, (int)c->p.cols, 1.0f, c->p.in,
                (int)c->p.cols, born_data_f32(c->ones), 1, 0.0f, c->p.out, 1);
}
static void peer_add_alloc_fn(void *arg) { /* malloc + loop (same threads) + free */
    stream_ctx *c = arg;
    add_ctx a = {born_data_f32(c->x), born_data_f32(c->y), malloc((size_t)c->n * sizeof(float))};
    born_parallel_for(c->n, PEER_GRAIN, peer_add_range, &a);
    __asm__ volatile("" : : "r"(a.o) : "memory");
    free(a.o);
}
static void born_add_into_fn(void *arg) {
    stream_ctx *c = arg;
    born_binary_out(BORN_BINARY_ADD, c->out, c->x, c->y);
}

static void born_copy_fn(void *arg) {
    stream_ctx *c = arg;
    born_copy_(c->out, c->x);
}
static void born_exp_fn(void *arg) {
    stream_ctx *c = arg;
    born_unary_out(BORN_UNARY_EXP, c->out, c->x, NULL);
}
static void born_tanh_fn(void *arg) {
    stream_ctx *c = arg;
    born_unary_out(BORN_UNARY_TANH, c->out, c->x, NULL);
}
static void born_gelu_fn(void *arg) {
    stream_ctx *c = arg;
    born_unary_out(BORN_UNARY_GELU, c->out, c->x, NULL);
}
static void born_softmax_fn(void *arg) {
    stream_ctx *c = arg;
    born_scope_begin();
    born_softmax(c->m, 1);
    born_scope_end();
}
static void born_colsum_fn(void *arg) {
    stream_ctx *c = arg;
    born_scope_begin();
    born_sum(c->m, 1, (int64_t[]){0}, false);
    born_scope_end();
}
static void born_add_alloc_fn(void *arg) {
    stream_ctx *c = arg;
    born_scope_begin();
    born_add(c->x, c->y);
    born_scope_end();
}

static void row(const char *label, double born, double peer, double bw) {
    printf("%-40s %9.1f %9.1f %7.2f %7.0f%%\n", label, born, peer, born / peer, 100.0 * born / bw);
}

/* The streaming figures: returns nothing, prints rows of GB/s. */
static void run_streaming(void) {
    int64_t n = 1 << 24;
    stream_ctx c;
    memset(&c, 0, sizeof c);
    c.n = n;
    c.x = born_randn(NULL, BORN_F32, 1, &n);
    c.y = born_randn(NULL, BORN_F32, 1, &n);
    c.out = born_zeros(BORN_F32, 1, &n);
    c.p.in = born_data_f32(c.x);
    c.p.out = born_data_f32(c.out);
    double gb2 = 8.0 * (double)n / 1e9;

    double tc = time_median(peer_copy_fn, &c, 3);
    double bw = gb2 / tc;
    printf("%-40s %9s %9s %7s %8s\n", "streaming f32 (GB/s)", "born", "peer", "ratio", "of copy");
    printf("%-40s %9.1f\n", "  copy 2^24 (STREAM-like, plain C loop)", bw);
    row("  copy 2^24 (born_copy_)", gb2 / time_median(born_copy_fn, &c, 3), bw, bw);
    double tb = time_median(born_exp_fn, &c, 3), tp = time_median(peer_exp_fn, &c, 3);
    row("  exp 2^24 (peer: expf loop)", gb2 / tb, gb2 / tp, bw);
    tb = time_median(born_tanh_fn, &c, 3);
    tp = time_median(peer_tanh_fn, &c, 3);
    row("  tanh 2^24 (peer: tanhf loop)", gb2 / tb, gb2 / tp, bw);
    tb = time_median(born_gelu_fn, &c, 3);
    tp = time_median(peer_gelu_fn, &c, 3);
    row("  gelu (erf) 2^24 (peer: erff loop)", gb2 / tb, gb2 / tp, bw);

    int64_t rows = 4096, cols = 4096;
    c.m = born_randn(NULL, BORN_F32, BORN_DIMS(rows, cols));
    c.p.in = born_data_f32(c.m);
    c.p.rows = rows;
    c.p.cols = cols;
    tb = time_median(born_softmax_fn, &c, 3);
    tp = time_median(peer_softmax_fn, &c, 3);
    row("  softmax [4096, 4096] dim 1 (peer: C)", gb2 / tb, gb2 / tp, bw);

    c.colsum = born_zeros(BORN_F32, 1, &cols);
    c.ones = born_ones(BORN_F32, 1, &rows);
    c.p.out = born_data_f32(c.colsum);
    double gb1 = 4.0 * (double)rows * (double)cols / 1e9;
    tb = time_median(born_colsum_fn, &c, 3);
    tp = time_median(peer_colsum_fn, &c, 3);
    row("  sum [4096, 4096] over dim 0 (peer: C)", gb1 / tb, gb1 / tp, bw);
    tp = time_median(blas_colsum_fn, &c, 3);
    row("  sum [4096, 4096] over dim 0 (sgemv)", gb1 / tb, gb1 / tp, bw);
    born_free(c.m);
    born_free(c.ones);
    rows = 512;
    c.m = born_randn(NULL, BORN_F32, BORN_DIMS(rows, cols));
    c.ones = born_ones(BORN_F32, 1, &rows);
    c.p.in = born_data_f32(c.m);
    c.p.rows = rows;
    gb1 = 4.0 * (double)rows * (double)cols / 1e9;
    tb = time_median(born_colsum_fn, &c, 20);
    tp = time_median(peer_colsum_fn, &c, 20);
    row("  sum [512, 4096] over dim 0 (peer: C)", gb1 / tb, gb1 / tp, bw);
    tp = time_median(blas_colsum_fn, &c, 20);
    row("  sum [512, 4096] over dim 0 (sgemv)", gb1 / tb, gb1 / tp, bw);
    born_free(c.m);
    born_free(c.ones);
    born_free(c.colsum);

    double gb3 = 12.0 * (double)n / 1e9;
    tb = time_median(born_add_alloc_fn, &c, 3);
    tp = time_median(peer_add_alloc_fn, &c, 3);
    row("  add 2^24, new result (peer: malloc+C)", gb3 / tb, gb3 / tp, bw);
    tb = time_median(born_add_into_fn, &c, 3);
    row("  add 2^24, into an existing tensor", gb3 / tb, gb3 / tp, bw);

    born_free(c.x);
    born_free(c.y);
    born_free(c.out);
}

/* ---- matmul ------------------------------------------------------------------------------ */

typedef struct mm_ctx {
    born_tensor *a, *b, *out;
    int n;
} mm_ctx;

static void born_mm_fn(void *arg) {
    mm_ctx *c = arg;
    born_matmul_out(c->out, c->a, c->b);
}

static void blas_mm_fn(void *arg) {
    mm_ctx *c = arg;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c->n, c->n, c->n, 1.0f,
                born_data_f32(c->a), c->n, born_data_f32(c->b), c->n, 0.0f, born_data_f32(c->out), c->n);
}

static void run(int threads) {
    born_set_num_threads(threads);
    openblas_set_num_threads(threads);
    printf("\n== %d thread%s (OpenBLAS core: %s)\n", threads, threads > 1 ? "s" : "", openblas_get_corename());

    printf("%-34s %12s %12s %8s\n", "tensor creation (zeros, f32)", "born", "malloc+memset", "ratio");
    int64_t sizes[3] = {16, 1024, 1 << 20};
    for (int i = 0; i < 3; i++) {
        create_ctx c = {sizes[i]};
        int inner = sizes[i] < 100000 ? 20000 : 200;
        double tb = time_median(born_create, &c, inner), tl = time_median(libc_create, &c, inner);
        char label[64];
        snprintf(label, sizeof label, "  %lld elements (us)", (long long)sizes[i]);
        printf("%-34s %12.3f %12.3f %8.2f\n", label, tb * 1e6, tl * 1e6, tb / tl);
    }

    int64_t n = 1 << 24; /* 64 MiB per f32 operand: far beyond the caches */
    ew_ctx e = {born_randn(NULL, BORN_F32, 1, &n), born_randn(NULL, BORN_F32, 1, &n),
                born_zeros(BORN_F32, 1, &n), NULL, NULL, NULL, n};
    e.pa = born_data_f32(e.a);
    e.pb = born_data_f32(e.b);
    e.po = born_data_f32(e.out);
    printf("%-34s %12s %12s %8s\n", "elementwise, 2^24 f32 (GB/s)", "born", "peer", "ratio");
    double gb3 = 3.0 * 4 * (double)n / 1e9, gb2 = 2.0 * 4 * (double)n / 1e9, gb1 = 4.0 * (double)n / 1e9;
    double tb = time_median(born_add_out_fn, &e, 3), tp = time_median(c_add_fn, &e, 3);
    printf("%-34s %12.1f %12.1f %8.2f\n", "  add (peer: plain C loop)", gb3 / tb, gb3 / tp, tp / tb);
    tb = time_median(born_relu_fn, &e, 3);
    tp = time_median(blas_axpy_fn, &e, 3);
    printf("%-34s %12.1f %12.1f %8.2f\n", "  relu (peer: OpenBLAS saxpy, 3 streams)", gb2 / tb, gb3 / tp, (gb2 / tb) / (gb3 / tp));
    tb = time_median(born_sum_fn, &e, 3);
    tp = time_median(blas_asum_fn, &e, 3);
    printf("%-34s %12.1f %12.1f %8.2f\n", "  sum (peer: OpenBLAS sasum)", gb1 / tb, gb1 / tp, tp / tb);
    born_free(e.a);
    born_free(e.b);
    born_free(e.out);

    run_streaming();

    printf("%-34s %12s %12s %8s\n", "matmul f32 n x n x n (GFLOP/s)", "born", "OpenBLAS", "ratio");
    int ns[4] = {256, 512, 1024, 2048};
    for (int i = 0; i < 4; i++) {
        int64_t sz = ns[i];
        mm_ctx m = {born_randn(NULL, BORN_F32, BORN_DIMS(sz, sz)), born_randn(NULL, BORN_F32, BORN_DIMS(sz, sz)),
                    born_zeros(BORN_F32, BORN_DIMS(sz, sz)), ns[i]};
        double flop = 2.0 * (double)sz * (double)sz * (double)sz;
        int inner = sz <= 512 ? 10 : 1;
        double b = time_median(born_mm_fn, &m, inner), o = time_median(blas_mm_fn, &m, inner);
        char label[64];
        snprintf(label, sizeof label, "  n = %d", ns[i]);
        printf("%-34s %12.1f %12.1f %8.2f\n", label, flop / b / 1e9, flop / o / 1e9, o / b);
        born_free(m.a);
        born_free(m.b);
        born_free(m.out);
    }
}

int main(int argc, char **argv) {
    born_init();
    born_manual_seed(0);
    printf("Born %s core benchmark. Ratios > 1 mean Born is faster (for creation: < 1).\n", born_version());
    if (argc > 1) {
        for (int i = 1; i < argc; i++) run(atoi(argv[i]));
    } else {
        run(1);
        run(2);
    }
    return 0;
}
