/* The core's speed on this machine, each figure beside a peer's from the same run:
 *   - tensor creation latency (Born vs malloc + memset),
 *   - large elementwise ops and a reduction in GB/s (Born vs a plain C loop and OpenBLAS),
 *   - f32 matmul GFLOP/s at n = 256 ... 2048 (Born vs OpenBLAS sgemm),
 * with 1 and 2 threads (or the thread counts given as arguments). Each figure is the median of
 * several repetitions. This is a measurement, not a target. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "born/born.h"

/* OpenBLAS's own controls (declared in openblas_config/cblas.h on Debian) */
void openblas_set_num_threads(int num_threads);
char *openblas_get_corename(void);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

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
