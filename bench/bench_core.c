/* The core's speed on this machine, each figure beside a peer's from the same run:
 *   - tensor creation latency (Born vs malloc + memset),
 *   - large elementwise ops and a reduction in GB/s (Born vs a plain C loop and OpenBLAS),
 *   - the memory bandwidth (a STREAM-like copy over the same threads), the yardstick for the
 *     streaming figures that follow,
 *   - exp, tanh, gelu, softmax and log-softmax over rows of 4096, layer and RMS norm and sums
 *     over dim 0 in GB/s (Born vs a plain C loop with libm compiled -O3 and split over the same
 *     threads, and OpenBLAS sgemv against a vector of ones for the column sums), each also as a
 *     fraction of the copy bandwidth (the copy timed in turns with that kernel, so both see the
 *     same state of the machine; the peers take the same turns); the backward kernels of gelu,
 *     softmax, log-softmax and the norms (called through the backend, without a peer; the norms
 *     also with their parameter gradients in the same pass) likewise,
 *   - an add that creates its 64 MiB result (Born's caching allocator vs malloc + loop + free),
 *   - f32 matmul GFLOP/s at n = 256 ... 2048 (Born vs OpenBLAS sgemm),
 * with 1 and 2 threads (or the thread counts given as arguments; --stream first runs only the
 * streaming rows). Each figure is the median of several repetitions. This is a measurement, not
 * a target. GB/s count the bytes an op must move once: 8 per element for a unary op, softmax or
 * norm (read + write), 12 for add and the backward kernels (two reads, one write), 4 for a sum. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/stream.h"
#include "born/born.h"
#include "bench_util.h"
#include "openblas_quiet.h"

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
    const float *w;     /* the norms' weight (and bias) */
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
static void peer_log_softmax_rows(int64_t b, int64_t e, void *arg) {
    const peer_ctx *c = arg;
    int64_t n = c->cols;
    for (int64_t r = b; r < e; r++) {
        const float *x = c->in + r * n;
        float *y = c->out + r * n;
        float m = -INFINITY, s = 0;
        for (int64_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
        for (int64_t i = 0; i < n; i++) s += expf(x[i] - m);
        float lse = m + logf(s);
        for (int64_t i = 0; i < n; i++) y[i] = x[i] - lse;
    }
}
/* layer norm (cols == n) or, with rms set, RMS norm of rows, weight and bias all ones */
static void peer_norm_rows(int64_t b, int64_t e, void *arg, bool rms) {
    const peer_ctx *c = arg;
    int64_t n = c->cols;
    for (int64_t r = b; r < e; r++) {
        const float *x = c->in + r * n;
        float *y = c->out + r * n;
        float m = 0, v = 0;
        if (!rms) {
            for (int64_t i = 0; i < n; i++) m += x[i];
            m /= (float)n;
        }
        for (int64_t i = 0; i < n; i++) v += (x[i] - m) * (x[i] - m);
        float s = 1.0f / sqrtf(v / (float)n + 1e-5f);
        for (int64_t i = 0; i < n; i++) y[i] = (x[i] - m) * s * c->w[i] + (rms ? 0 : c->w[i]);
    }
}
static void peer_layer_norm_rows(int64_t b, int64_t e, void *arg) { peer_norm_rows(b, e, arg, false); }
static void peer_rms_norm_rows(int64_t b, int64_t e, void *arg) { peer_norm_rows(b, e, arg, true); }
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
    born_strided sx, sy, sout, sm, sg, smo, sw, sstat[2], snone; /* for the backend kernels */
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
static void peer_log_softmax_fn(void *arg) {
    stream_ctx *c = arg;
    born_parallel_for(c->p.rows, 1, peer_log_softmax_rows, &c->p);
}
static void peer_layer_norm_fn(void *arg) {
    stream_ctx *c = arg;
    born_parallel_for(c->p.rows, 1, peer_layer_norm_rows, &c->p);
}
static void peer_rms_norm_fn(void *arg) {
    stream_ctx *c = arg;
    born_parallel_for(c->p.rows, 1, peer_rms_norm_rows, &c->p);
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
static void born_log_softmax_fn(void *arg) {
    stream_ctx *c = arg;
    born_scope_begin();
    born_log_softmax(c->m, 1);
    born_scope_end();
}
/* The backend kernels, called directly (their autograd wrappers would time the graph too). */
static void born_gelu_backward_fn(void *arg) {
    stream_ctx *c = arg;
    cpu_unary_backward(BORN_UNARY_GELU, &c->sout, &c->sy, &c->sx, &c->sx, NULL);
}
static void born_softmax_backward_fn(void *arg) {
    stream_ctx *c = arg;
    cpu_softmax_backward(false, &c->smo, &c->sg, &c->sm, 1);
}
static void born_log_softmax_backward_fn(void *arg) {
    stream_ctx *c = arg;
    cpu_softmax_backward(true, &c->smo, &c->sg, &c->sm, 1);
}
static void born_layer_norm_fn(void *arg) {
    stream_ctx *c = arg;
    cpu_row_norm(false, &c->smo, &c->sstat[0], &c->sstat[1], &c->sm, &c->sw, &c->sw, 1e-5);
}
static void born_rms_norm_fn(void *arg) {
    stream_ctx *c = arg;
    cpu_row_norm(true, &c->smo, &c->snone, &c->sstat[1], &c->sm, &c->sw, &c->snone, 1e-5);
}
static void born_layer_norm_backward_fn(void *arg) {
    stream_ctx *c = arg;
    cpu_row_norm_backward(false, &c->smo, &c->sg, &c->sm, &c->sstat[0], &c->sstat[1], &c->sw);
}
static void born_rms_norm_backward_fn(void *arg) {
    stream_ctx *c = arg;
    cpu_row_norm_backward(true, &c->smo, &c->sg, &c->sm, &c->snone, &c->sstat[1], &c->sw);
}
/* The backward with the parameter gradients in the same pass (weight and bias gradients into
 * [n] vectors; the partials are a small fraction of the 12 bytes an element). */
static float grad_w[4096], grad_b[4096];
static void born_layer_norm_grads_fn(void *arg) {
    stream_ctx *c = arg;
    born_strided gw = c->sw, gb = c->sw;
    gw.data = grad_w;
    gb.data = grad_b;
    if (c->sw.shape[0] > 4096) return;
    cpu_row_norm_grads(false, &c->smo, &gw, &gb, &c->sg, &c->sm, &c->sstat[0], &c->sstat[1], &c->sw);
}
static void born_rms_norm_grads_fn(void *arg) {
    stream_ctx *c = arg;
    born_strided gw = c->sw;
    gw.data = grad_w;
    if (c->sw.shape[0] > 4096) return;
    cpu_row_norm_grads(true, &c->smo, &gw, &c->snone, &c->sg, &c->sm, &c->snone, &c->sstat[1], &c->sw);
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

/* A row without a peer. */
static void row1(const char *label, double born, double bw) {
    printf("%-40s %9.1f %9s %7s %7.0f%%\n", label, born, "-", "-", 100.0 * born / bw);
}


/* The copy that sets the yardstick, timed in turns with each of Born's kernels (so that both see
 * the same state of this shared machine: measured once up front, the copy bandwidth read 68% for
 * a kernel that reads 95-102% of it in turns): its context (2^24 floats in, 2^24 out). */
static stream_ctx *yard;

/* fn's median seconds over REPS runs of `inner` calls, each run followed by the copy (its
 * bandwidth in GB/s from those runs in *bw). Born's kernels and their peers alike, so both start
 * each run with what the copy left in the caches (timed back to back, the sgemv peer of the
 * [4096, 4096] column sum had kept its 64 MB warm while Born's runs each followed the copy: 0.81x
 * that way, 0.94-0.98x in turns, 2026-12-03). */
static double time_turns(void (*fn)(void *), void *ctx, int inner, double *bw) {
    double t[REPS], tc[REPS];
    fn(ctx); /* warm up */
    for (int r = 0; r < REPS; r++) {
        double t0 = now();
        for (int i = 0; i < inner; i++) fn(ctx);
        t[r] = (now() - t0) / inner;
        t0 = now();
        peer_copy_fn(yard);
        tc[r] = now() - t0;
    }
    *bw = 8.0 * (double)yard->n / 1e9 / median(tc, REPS);
    return median(t, REPS);
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

    stream_ctx yc = c;
    born_tensor *yard_out = born_zeros(BORN_F32, 1, &n);
    yc.p.out = born_data_f32(yard_out);
    yard = &yc;
    double tc = time_median(peer_copy_fn, &c, 3), peer_bw;
    double bw = gb2 / tc;
    printf("%-40s %9s %9s %7s %8s\n", "streaming f32 (GB/s)", "born", "peer", "ratio", "of copy");
    printf("%-40s %9.1f   (each row's share: of the copy timed in turns with it)\n",
           "  copy 2^24 (STREAM-like, plain C loop)", bw);
    double bwt; /* the copy's GB/s timed in turns with the row's kernel */
    double tb = time_turns(born_copy_fn, &c, 3, &bwt);
    row("  copy 2^24 (born_copy_)", gb2 / tb, bwt, bwt);
    tb = time_turns(born_exp_fn, &c, 3, &bwt);
    double tp = time_turns(peer_exp_fn, &c, 3, &peer_bw);
    row("  exp 2^24 (peer: expf loop)", gb2 / tb, gb2 / tp, bwt);
    tb = time_turns(born_tanh_fn, &c, 3, &bwt);
    tp = time_turns(peer_tanh_fn, &c, 3, &peer_bw);
    row("  tanh 2^24 (peer: tanhf loop)", gb2 / tb, gb2 / tp, bwt);
    tb = time_turns(born_gelu_fn, &c, 3, &bwt);
    tp = time_turns(peer_gelu_fn, &c, 3, &peer_bw);
    row("  gelu (erf) 2^24 (peer: erff loop)", gb2 / tb, gb2 / tp, bwt);
    c.sx = strided_of(c.x);
    c.sy = strided_of(c.y);
    c.sout = strided_of(c.out);
    double gb3 = 12.0 * (double)n / 1e9; /* backward: grad_out and x in, grad_in out */
    tb = time_turns(born_gelu_backward_fn, &c, 3, &bwt);
    row1("  gelu backward 2^24 (12 B/element)", gb3 / tb, bwt);

    int64_t rows = 4096, cols = 4096;
    c.m = born_randn(NULL, BORN_F32, BORN_DIMS(rows, cols));
    c.p.in = born_data_f32(c.m);
    c.p.rows = rows;
    c.p.cols = cols;
    tb = time_turns(born_softmax_fn, &c, 3, &bwt);
    tp = time_turns(peer_softmax_fn, &c, 3, &peer_bw);
    row("  softmax [4096, 4096] dim 1 (peer: C)", gb2 / tb, gb2 / tp, bwt);
    tb = time_turns(born_log_softmax_fn, &c, 3, &bwt);
    tp = time_turns(peer_log_softmax_fn, &c, 3, &peer_bw);
    row("  log_softmax [4096, 4096] dim 1 (peer: C)", gb2 / tb, gb2 / tp, bwt);
    {
        born_tensor *g = born_randn(NULL, BORN_F32, BORN_DIMS(rows, cols));
        born_tensor *mo = born_zeros(BORN_F32, BORN_DIMS(rows, cols));
        born_tensor *w = born_ones(BORN_F32, 1, &cols);
        born_tensor *st[2] = {born_zeros(BORN_F32, 1, &rows), born_ones(BORN_F32, 1, &rows)};
        c.sm = strided_of(c.m);
        c.sg = strided_of(g);
        c.smo = strided_of(mo);
        c.sw = strided_of(w);
        for (int k = 0; k < 2; k++) c.sstat[k] = strided_of(st[k]);
        memset(&c.snone, 0, sizeof c.snone);
        c.p.out = born_data_f32(mo);
        c.p.w = born_data_f32(w);
        tb = time_turns(born_softmax_backward_fn, &c, 3, &bwt);
        row1("  softmax backward [4096, 4096] (12 B/el)", gb3 / tb, bwt);
        tb = time_turns(born_log_softmax_backward_fn, &c, 3, &bwt);
        row1("  log_softmax backward [4096, 4096]", gb3 / tb, bwt);
        tb = time_turns(born_layer_norm_fn, &c, 3, &bwt);
        tp = time_turns(peer_layer_norm_fn, &c, 3, &peer_bw);
        row("  layer_norm [4096, 4096] (peer: C)", gb2 / tb, gb2 / tp, bwt);
        tb = time_turns(born_rms_norm_fn, &c, 3, &bwt);
        tp = time_turns(peer_rms_norm_fn, &c, 3, &peer_bw);
        row("  rms_norm [4096, 4096] (peer: C)", gb2 / tb, gb2 / tp, bwt);
        tb = time_turns(born_layer_norm_backward_fn, &c, 3, &bwt);
        row1("  layer_norm backward [4096, 4096]", gb3 / tb, bwt);
        tb = time_turns(born_rms_norm_backward_fn, &c, 3, &bwt);
        row1("  rms_norm backward [4096, 4096]", gb3 / tb, bwt);
        tb = time_turns(born_layer_norm_grads_fn, &c, 3, &bwt);
        row1("  layer_norm backward + dw, db (one pass)", gb3 / tb, bwt);
        tb = time_turns(born_rms_norm_grads_fn, &c, 3, &bwt);
        row1("  rms_norm backward + dw (one pass)", gb3 / tb, bwt);
        born_free(g);
        born_free(mo);
        born_free(w);
        born_free(st[0]);
        born_free(st[1]);
    }

    c.colsum = born_zeros(BORN_F32, 1, &cols);
    c.ones = born_ones(BORN_F32, 1, &rows);
    c.p.out = born_data_f32(c.colsum);
    double gb1 = 4.0 * (double)rows * (double)cols / 1e9;
    tb = time_turns(born_colsum_fn, &c, 3, &bwt);
    tp = time_turns(peer_colsum_fn, &c, 3, &peer_bw);
    row("  sum [4096, 4096] over dim 0 (peer: C)", gb1 / tb, gb1 / tp, bwt);
    tp = time_turns(blas_colsum_fn, &c, 3, &peer_bw);
    row("  sum [4096, 4096] over dim 0 (sgemv)", gb1 / tb, gb1 / tp, bwt);
    born_free(c.m);
    born_free(c.ones);
    rows = 512;
    c.m = born_randn(NULL, BORN_F32, BORN_DIMS(rows, cols));
    c.ones = born_ones(BORN_F32, 1, &rows);
    c.p.in = born_data_f32(c.m);
    c.p.rows = rows;
    gb1 = 4.0 * (double)rows * (double)cols / 1e9;
    tb = time_turns(born_colsum_fn, &c, 20, &bwt);
    tp = time_turns(peer_colsum_fn, &c, 20, &peer_bw);
    row("  sum [512, 4096] over dim 0 (peer: C)", gb1 / tb, gb1 / tp, bwt);
    tp = time_turns(blas_colsum_fn, &c, 20, &peer_bw);
    row("  sum [512, 4096] over dim 0 (sgemv)", gb1 / tb, gb1 / tp, bwt);
    born_free(c.m);
    born_free(c.ones);
    born_free(c.colsum);

    tb = time_turns(born_add_alloc_fn, &c, 3, &bwt);
    tp = time_turns(peer_add_alloc_fn, &c, 3, &peer_bw);
    row("  add 2^24, new result (peer: malloc+C)", gb3 / tb, gb3 / tp, bwt);
    tb = time_turns(born_add_into_fn, &c, 3, &bwt);
    row("  add 2^24, into an existing tensor", gb3 / tb, gb3 / tp, bwt);

    born_free(c.x);
    born_free(c.y);
    born_free(c.out);
    born_free(yard_out);
    yard = NULL;
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

static bool stream_only; /* --stream: only the streaming rows */

static void run(int threads) {
    born_set_num_threads(threads);
    openblas_set_num_threads(threads); /* the column sums' sgemv peer runs in --stream too */
    if (stream_only) {
        printf("\n== %d thread%s\n", threads, threads > 1 ? "s" : "");
        run_streaming();
        return;
    }
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
    openblas_quiet_reexec(argv);
    born_init();
    born_manual_seed(0);
    /* BORN_STREAM_MIN=bytes: the output size from which the kernels use streaming stores
     * (src/backend/cpu/stream.h; for A/B runs, e.g. 9223372036854775807 for none) */
    const char *smin = getenv("BORN_STREAM_MIN");
    if (smin) cpu_set_stream_min_bytes(atoll(smin));
    printf("Born %s core benchmark. Ratios > 1 mean Born is faster (for creation: < 1).\n", born_version());
    int first = 1;
    if (argc > 1 && strcmp(argv[1], "--stream") == 0) {
        stream_only = true;
        first = 2;
    }
    if (argc > first) {
        for (int i = first; i < argc; i++) run(atoi(argv[i]));
    } else {
        run(1);
        run(2);
    }
    return 0;
}
