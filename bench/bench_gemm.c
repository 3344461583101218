/* GEMM on this machine against OpenBLAS in the same run: square sgemm n = 256 ... 2048, and the
 * shapes an LLM's linear layers see, x [M, K] times W^T with W [N, K] (M = 1, 8, 32, 64, 128
 * tokens; K = 4096; N = 4096 and 11008) and x W with W stored [K, N] (M = 32, 128), and the MNIST
 * CNN's second convolution as a plain product (64 x 288 x 121), with 1 and 2 threads; the square
 * products in f64 too (cblas_dgemm beside, shares of half the f32 FMA peak: the same FMAs with half
 * the lanes), and an f64 x[1, 4096] W^T beside cblas_dgemv. For M = 1 it also reports the weight
 * bandwidth in GB/s beside a STREAM-like read of the same bytes, since a matrix-vector product can
 * go no faster than reading W once. Medians of 7 runs.
 *
 * Each row also gives the FMA peak (bench/fma_peak.h: independent FMAs on registers, all threads)
 * and each library's share of it. For the square products and the convolution's product the
 * three are timed in turns, repetition by repetition (Born, OpenBLAS, then the FMA loop for about
 * as long as Born took), and the shares are the medians of each repetition's share, so that a
 * share compares timings taken under the same load of this shared machine; the peak column is
 * the median of those runs of the loop. Where python3 has torch, PyTorch's torch.mm (MKL on x86)
 * takes a turn there too, as a second peer (a child process; `--no-torch` leaves it out). The LLM
 * rows, bound by memory rather than by the FMAs, give the best of 7 runs of the loop measured
 * right before them. On one thread the micro-kernel alone comes first (kernel_share).
 *
 *   OPENBLAS_CORETYPE=Cooperlake ./build/bench/bench_gemm [--no-torch] [threads...] */
#include <cblas.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "born/born.h"
#include "bench_util.h"
#include "fma_peak.h"
#include "openblas_quiet.h"
#include "python_peer.h"

void openblas_set_num_threads(int num_threads);
char *openblas_get_corename(void);

enum { REPS = 7 };

typedef struct job {
    born_tensor *x, *w, *out; /* out = x @ w^T (linear) or x @ w (square) */
    int m, n, k;
    bool linear;
    bool f64; /* (square products) doubles: cblas_dgemm beside, shares of half the f32 FMA peak */
} job;

static void born_run(job *j) {
    if (j->linear) {
        born_scope_begin();
        born_tensor *wt = born_transpose(j->w, 0, 1); /* a view: W^T without a copy */
        born_matmul_out(j->out, j->x, wt);
        born_scope_end();
    } else {
        born_matmul_out(j->out, j->x, j->w);
    }
}

static void blas_run(job *j) {
    if (j->f64 && j->linear) { /* x[1, k] W^T: OpenBLAS's own matrix-vector product */
        cblas_dgemv(CblasRowMajor, CblasNoTrans, j->n, j->k, 1.0, born_data_f64(j->w), j->k,
                    born_data_f64(j->x), 1, 0.0, born_data_f64(j->out), 1);
        return;
    }
    if (j->f64) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, j->m, j->n, j->k, 1.0,
                    born_data_f64(j->x), j->k, born_data_f64(j->w), j->n, 0.0,
                    born_data_f64(j->out), j->n);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, j->linear ? CblasTrans : CblasNoTrans, j->m, j->n, j->k, 1.0f,
                born_data_f32(j->x), j->k, born_data_f32(j->w), j->linear ? j->k : j->n, 0.0f,
                born_data_f32(j->out), j->n);
}

static double median_seconds(void (*fn)(job *), job *j, int inner) {
    double t[REPS];
    fn(j);
    for (int r = 0; r < REPS; r++) {
        double t0 = now();
        for (int i = 0; i < inner; i++) fn(j);
        t[r] = (now() - t0) / inner;
    }
    qsort(t, REPS, sizeof *t, cmp_double);
    return t[REPS / 2];
}

typedef float v8f __attribute__((vector_size(32), aligned(4)));

typedef struct read_job {
    const float *p;
    size_t quarter;  /* floats in each quarter of the buffer */
    double *partial; /* one per task, so nothing is optimised away */
} read_job;

/* Task c sums the c-th 16 Ki-float chunk of each quarter of the buffer at once: four streams far
 * apart, as a GEMV reads several weight rows at a time, each with its own 8-lane accumulator, so
 * the loop is bound by the memory system, not by the latency of the additions. */
static void read_range(int64_t b, int64_t e, void *arg) {
    read_job *j = arg;
    for (int64_t c = b; c < e; c++) {
        const float *q0 = j->p + (size_t)c * 16384, *q1 = q0 + j->quarter;
        const float *q2 = q1 + j->quarter, *q3 = q2 + j->quarter;
        v8f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        for (size_t i = 0; i < 16384; i += 8) {
            a0 += *(const v8f *)(q0 + i);
            a1 += *(const v8f *)(q1 + i);
            a2 += *(const v8f *)(q2 + i);
            a3 += *(const v8f *)(q3 + i);
        }
        v8f a = (a0 + a1) + (a2 + a3);
        double s = 0;
        for (int k = 0; k < 8; k++) s += a[k];
        j->partial[c] = s;
    }
}

/* For M = 1: Born's product (median seconds of REPS runs of `inner` calls) and the bandwidth
 * bound of its weights, the seconds to read them once with the current thread count (a vectorised
 * sum over four streams, threads splitting the work like Born's kernels do), timed in turns so
 * that both see the same state of this shared machine (the read measured once before the
 * products read the same kernel at 54% of it in one run and 92% in another). */
static double born_seconds_with_bound(job *j, int inner, double *bound) {
    double tb[REPS], tr[REPS];
    const size_t n = (size_t)j->n * (size_t)j->k;
    int64_t tasks = (int64_t)(n / 65536);
    read_job rj = {born_data_f32(j->w), n / 4, calloc((size_t)tasks, sizeof(double))};
    if (!rj.partial) {
        fprintf(stderr, "bench_gemm: out of memory\n");
        exit(1);
    }
    born_run(j); /* warm */
    for (int r = 0; r < REPS; r++) {
        double t0 = now();
        for (int i = 0; i < inner; i++) born_run(j);
        tb[r] = (now() - t0) / inner;
        t0 = now();
        born_parallel_for(tasks, 4, read_range, &rj);
        tr[r] = now() - t0;
    }
    free(rj.partial);
    *bound = median(tr, REPS);
    return median(tb, REPS);
}

/* The measured FMA peak and each library's GFLOP/s as a share of it. */
static void print_shares(double peak, double born_gflops, double blas_gflops) {
    if (peak > 0)
        printf(" %7.1f %5.0f%% %5.0f%%", peak, 100.0 * born_gflops / peak, 100.0 * blas_gflops / peak);
}

/* The PyTorch peer: "mm THREADS M N K INNER" answers the seconds per torch.mm of [M, K] times
 * [K, N] (random f32, made once a shape) over INNER calls. */
static const char *const torch_script =
    "import json, sys, time\n"
    "import torch\n"
    "print(json.dumps({'ready': torch.__version__ + ' ' + "
    "torch.backends.cpu.get_cpu_capability()}), flush=True)\n"
    "cache = {}\n"
    "for line in sys.stdin:\n"
    "    w = line.split()\n"
    "    if not w or w[0] == 'quit': break\n"
    "    t, m, n, k, inner = map(int, w[1:6]); torch.set_num_threads(t)\n"
    "    dt = torch.float64 if w[6:] == ['f64'] else torch.float32\n"
    "    if (m, n, k, dt) not in cache:\n"
    "        cache = {(m, n, k, dt): (torch.randn(m, k, dtype=dt), torch.randn(k, n, dtype=dt), "
    "torch.empty(m, n, dtype=dt))}\n"
    "        a, b, c = cache[(m, n, k, dt)]; torch.mm(a, b, out=c)\n"
    "    a, b, c = cache[(m, n, k, dt)]\n"
    "    t0 = time.perf_counter()\n"
    "    for _ in range(inner): torch.mm(a, b, out=c)\n"
    "    print(json.dumps({'seconds': (time.perf_counter() - t0) / inner}), flush=True)\n";

/* Born, OpenBLAS, PyTorch (when `torch` is not NULL) and the FMA loop timed in turns on one
 * product (see the top of the file). */
typedef struct turns {
    double born, blas, torch;      /* median GFLOP/s (torch 0 without the peer) */
    double ratio, torch_ratio;     /* medians of OpenBLAS time / Born time, PyTorch's / Born's */
    double peak;                   /* median GFLOP/s of the FMA loop */
    double born_share, blas_share, torch_share; /* medians of each repetition's GFLOP/s over its peak */
} turns;

static turns time_in_turns(job *j, int inner, double flop, int threads, python_peer *torch) {
    double gb[REPS], go[REPS], gt[REPS], ratio[REPS], tratio[REPS], peak[REPS], sb[REPS], so[REPS],
        st[REPS];
    char cmd[128];
    snprintf(cmd, sizeof cmd, "mm %d %d %d %d %d%s", threads, j->m, j->n, j->k, inner,
             j->f64 ? " f64" : "");
    born_run(j);
    blas_run(j);
    if (torch && python_peer_ask(torch, cmd, "seconds") <= 0) torch = NULL;
    double t0 = now();
    for (int i = 0; i < inner; i++) born_run(j);
    fma_peak_probe probe = fma_peak_probe_new(now() - t0); /* about as long as Born's turn */
    for (int r = 0; r < REPS; r++) {
        /* who goes first alternates: the turn right after the FMA probe (or after the other
         * library's turn) starts with whatever state that left, so neither always gets it */
        double tb = 0, to = 0;
        for (int turn = 0; turn < 2; turn++) {
            bool born_turn = (turn == 0) == (r % 2 == 0);
            t0 = now();
            for (int i = 0; i < inner; i++) {
                if (born_turn) born_run(j);
                else blas_run(j);
            }
            *(born_turn ? &tb : &to) = (now() - t0) / inner;
        }
        double tt = torch ? python_peer_ask(torch, cmd, "seconds") : 0;
        if (tt <= 0) torch = NULL; /* no peer, or it stopped answering: no PyTorch column */
        peak[r] = fma_peak_probe_run(&probe) / (j->f64 ? 2 : 1); /* f64: half the lanes */
        gb[r] = flop / tb / 1e9;
        go[r] = flop / to / 1e9;
        gt[r] = tt > 0 ? flop / tt / 1e9 : 0;
        ratio[r] = to / tb;
        tratio[r] = tt / tb;
        sb[r] = peak[r] > 0 ? gb[r] / peak[r] : 0;
        so[r] = peak[r] > 0 ? go[r] / peak[r] : 0;
        st[r] = peak[r] > 0 ? gt[r] / peak[r] : 0;
    }
    turns res = {median(gb, REPS),    median(go, REPS),     median(gt, REPS),
                 median(ratio, REPS), median(tratio, REPS), median(peak, REPS),
                 median(sb, REPS),    median(so, REPS),     median(st, REPS)};
    if (!torch) res.torch = res.torch_ratio = res.torch_share = 0;
    return res;
}

static void print_turns(const turns *t) {
    printf(" %10.1f %10.1f %7.2f", t->born, t->blas, t->ratio);
    if (t->peak > 0)
        printf(" %7.1f %5.0f%% %5.0f%%", t->peak, 100.0 * t->born_share, 100.0 * t->blas_share);
    if (t->torch > 0) {
        printf(" %10.1f %7.2f", t->torch, t->torch_ratio);
        if (t->peak > 0) printf(" %5.0f%%", 100.0 * t->torch_share);
    }
}

/* ---- the micro-kernel alone ---------------------------------------------------------------
 *
 * Born's register tile (12 x 32 at its AVX-512 level, 6 x 16 at AVX2) over packed panels that
 * stay in cache, timed in turns with the FMA loop on one thread: how much of the peak the kernel
 * itself reaches, so that a square product's share splits into the kernel's and what packing,
 * tile edges and C cost around it. Panels in L1 (k = 256, one B panel) and streaming from L2
 * (k = 512, 16 B panels of 64 KB, as the blocked product's). */
#if defined(__x86_64__)
#include "backend/cpu/gemm_kernels.h"
#include "core/cpu_features.h"

static void kernel_share(int64_t kc, int panels) {
    bool wide = cpu_get_level() >= CPU_LEVEL_AVX512;
    if (cpu_get_level() < CPU_LEVEL_AVX2) return;
    int mr = wide ? GEMM_F32_MR_AVX512 : GEMM_F32_MR, nr = wide ? GEMM_F32_NR_AVX512 : GEMM_F32_NR;
    float *a = aligned_alloc(64, sizeof(float) * (size_t)(mr * kc));
    float *b = aligned_alloc(64, sizeof(float) * (size_t)(nr * kc * panels));
    float *c = aligned_alloc(64, sizeof(float) * (size_t)(mr * nr));
    if (!a || !b || !c) {
        free(a);
        free(b);
        free(c);
        return;
    }
    for (int64_t i = 0; i < mr * kc; i++)
        a[i] = 1e-3f * (float)(i % 7);
    for (int64_t i = 0; i < nr * kc * panels; i++)
        b[i] = 1e-3f * (float)(i % 5);
    int64_t calls = (int64_t)(4e8 / (2.0 * mr * nr * kc)); /* ~0.4 GFLOP a turn */
    double flop = 2.0 * mr * nr * (double)kc * (double)calls, share[REPS], gf[REPS], pk[REPS];
    born_set_num_threads(1);
    fma_peak_probe probe = fma_peak_probe_new(0.002);
    for (int r = 0; r < REPS; r++) {
        double t0 = now();
        for (int64_t i = 0; i < calls; i++) {
            const float *bp = b + (size_t)(i % panels * nr * kc);
            if (wide)
                gemm_kernel_f32_avx512(kc, a, bp, GEMM_F32_NR * 4, c, nr, 1, mr, nr, 1.0, 0.0);
            else
                gemm_kernel_f32_avx2(kc, a, bp, GEMM_F32_NR * 4, c, nr, 1, mr, nr, 1.0, 0.0);
        }
        gf[r] = flop / (now() - t0) / 1e9;
        pk[r] = fma_peak_probe_run(&probe);
        share[r] = pk[r] > 0 ? gf[r] / pk[r] : 0;
    }
    printf("  kernel %2dx%2d, k %3lld, %s %10.1f %10s %7s %7.1f %5.0f%%\n", mr, nr, (long long)kc,
           panels > 1 ? "B from L2" : "all in L1", median(gf, REPS), "-", "-", median(pk, REPS),
           100.0 * median(share, REPS));
    free(a);
    free(b);
    free(c);
}
#else
static void kernel_share(int64_t kc, int panels) { (void)kc, (void)panels; }
#endif

static void run(int threads, python_peer *torch) {
    born_set_num_threads(threads);
    openblas_set_num_threads(threads);
    printf("\n== %d thread%s (OpenBLAS core: %s)\n", threads, threads > 1 ? "s" : "", openblas_get_corename());
    printf("%-28s %10s %10s %7s %7s %6s %6s", "shape (GFLOP/s)", "born", "OpenBLAS", "ratio", "peak",
           "born%", "BLAS%");
    if (torch) printf(" %10s %7s %6s", "PyTorch", "ratio", "torch%");
    printf("\n");
    if (threads == 1) {
        kernel_share(256, 1);
        kernel_share(512, 16);
        born_set_num_threads(threads);
    }
    int squares[4] = {256, 512, 1024, 2048};
    for (int i = 0; i < 8; i++) { /* f32, then f64 */
        int64_t s = squares[i % 4];
        bool f64 = i >= 4;
        born_dtype dt = f64 ? BORN_F64 : BORN_F32;
        job j = {born_randn(NULL, dt, BORN_DIMS(s, s)),
                 born_randn(NULL, dt, BORN_DIMS(s, s)),
                 born_zeros(dt, BORN_DIMS(s, s)),
                 (int)s,
                 (int)s,
                 (int)s,
                 false,
                 f64};
        double flop = 2.0 * (double)s * (double)s * (double)s;
        turns t = time_in_turns(&j, s <= 512 ? 10 : 1, flop, threads, torch);
        printf("  %s%4d x %4d x %4d     ", f64 ? "f64 " : "    ", (int)s, (int)s, (int)s);
        print_turns(&t);
        printf("\n");
        born_free(j.x);
        born_free(j.w);
        born_free(j.out);
    }
    /* the MNIST CNN's second convolution as a plain product (one image: W [64, 288] times its
     * im2col [288, 121]): small, and n not a multiple of the 16-column panel */
    {
        job j = {born_randn(NULL, BORN_F32, BORN_DIMS(64, 288)), born_randn(NULL, BORN_F32, BORN_DIMS(288, 121)),
                 born_zeros(BORN_F32, BORN_DIMS(64, 121)), 64, 121, 288, false};
        turns t = time_in_turns(&j, 200, 2.0 * 64 * 121 * 288, threads, torch);
        printf("    64 x  288 x  121 (conv)   ");
        print_turns(&t);
        printf("\n");
        born_free(j.x);
        born_free(j.w);
        born_free(j.out);
    }
    int ms[5] = {1, 8, 32, 64, 128}, ns[2] = {4096, 11008};
    const int64_t k = 4096;
    for (int a = 0; a < 2; a++) {
        int64_t n = ns[a];
        born_tensor *w = born_randn(NULL, BORN_F32, BORN_DIMS(n, k));
        for (int b = 0; b < 5; b++) {
            int64_t m = ms[b];
            job j = {born_randn(NULL, BORN_F32, BORN_DIMS(m, k)), w, born_zeros(BORN_F32, BORN_DIMS(m, n)),
                     (int)m, (int)n, (int)k, true};
            double flop = 2.0 * (double)m * (double)n * (double)k;
            double peak = fma_peak_gflops(7, 0.01);
            double bound = 0;
            double tb = m == 1 ? born_seconds_with_bound(&j, 3, &bound) : median_seconds(born_run, &j, 3);
            double to = median_seconds(blas_run, &j, 3);
            printf("  x[%2d,%lld] W[%5lld,%lld]^T %10.1f %10.1f %7.2f", (int)m, (long long)k, (long long)n,
                   (long long)k, flop / tb / 1e9, flop / to / 1e9, to / tb);
            print_shares(peak, flop / tb / 1e9, flop / to / 1e9);
            if (m == 1) {
                double gb = 4.0 * (double)(n * k) / 1e9;
                printf("   weights %.1f GB/s vs %.1f GB/s, read bound %.1f GB/s (%.0f%%)", gb / tb, gb / to,
                       gb / bound, 100.0 * bound / tb);
            }
            printf("\n");
            born_free(j.x);
            born_free(j.out);
        }
        born_free(w);
    }
    /* x W with W stored [k, n] (B's rows contiguous: a plain x @ W, an ONNX MatMul's weight) */
    {
        born_tensor *w = born_randn(NULL, BORN_F32, BORN_DIMS(k, 4096));
        int rows[2] = {32, 128};
        for (int b = 0; b < 2; b++) {
            int64_t m = rows[b], n = 4096;
            job j = {born_randn(NULL, BORN_F32, BORN_DIMS(m, k)),
                     w,
                     born_zeros(BORN_F32, BORN_DIMS(m, n)),
                     (int)m,
                     (int)n,
                     (int)k,
                     false,
                     false};
            double flop = 2.0 * (double)m * (double)n * (double)k;
            double peak = fma_peak_gflops(7, 0.01);
            double tb = median_seconds(born_run, &j, 3), to = median_seconds(blas_run, &j, 3);
            printf("  x[%3d,%lld] W[%lld,%lld]      %10.1f %10.1f %7.2f", (int)m, (long long)k,
                   (long long)k, (long long)n, flop / tb / 1e9, flop / to / 1e9, to / tb);
            print_shares(peak, flop / tb / 1e9, flop / to / 1e9);
            printf("\n");
            born_free(j.x);
            born_free(j.out);
        }
        born_free(w);
    }
    /* f64 x[1, 4096] W[4096, 4096]^T beside cblas_dgemv: bound by reading W's 128 MB */
    {
        int64_t n = 4096;
        job j = {born_randn(NULL, BORN_F64, BORN_DIMS(1, k)),
                 born_randn(NULL, BORN_F64, BORN_DIMS(n, k)),
                 born_zeros(BORN_F64, BORN_DIMS(1, n)),
                 1,
                 (int)n,
                 (int)k,
                 true,
                 true};
        double tb = median_seconds(born_run, &j, 3), to = median_seconds(blas_run, &j, 3);
        double gb = 8.0 * (double)(n * k) / 1e9;
        printf(
            "  f64 x[1,%lld] W[%lld,%lld]^T  %10.1f %10.1f %7.2f   weights %.1f GB/s vs %.1f GB/s "
            "(cblas_dgemv)\n",
            (long long)k, (long long)n, (long long)k, 2.0 * (double)(n * k) / tb / 1e9,
            2.0 * (double)(n * k) / to / 1e9, to / tb, gb / tb, gb / to);
        born_free(j.x);
        born_free(j.w);
        born_free(j.out);
    }
}

int main(int argc, char **argv) {
    openblas_quiet_reexec(argv);
    born_init();
    born_manual_seed(0);
    printf("Born %s GEMM benchmark. ratio = OpenBLAS time / Born time (> 1: Born faster).\n", born_version());
    /* an OpenBLAS that does not know the CPU falls back to its SSE3 kernels: say so, since the
     * ratios would then compare against a peer several times slower than it can be */
    const char *core = openblas_get_corename();
    bool sse3 = core && (strcmp(core, "Prescott") == 0 || strcmp(core, "Core2") == 0);
    if (sse3 && __builtin_cpu_supports("avx2")) {
        bool wide = __builtin_cpu_supports("avx512f");
        printf("note: OpenBLAS runs its %s kernels on this AVX2%s CPU; set OPENBLAS_CORETYPE=%s "
               "for a fair peer\n",
               core, wide ? "/AVX-512" : "", wide ? "SkylakeX (or Cooperlake)" : "Haswell (or Zen)");
    }
    int threads[16], nthreads = 0;
    bool use_torch = true;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--no-torch")) use_torch = false;
        else if (nthreads < 16 && atoi(argv[i]) > 0) threads[nthreads++] = atoi(argv[i]);
        else {
            fprintf(stderr, "usage: %s [--no-torch] [threads...]\n", argv[0]);
            return 2;
        }
    }
    if (nthreads == 0) {
        threads[0] = 1;
        threads[1] = 2;
        nthreads = 2;
    }
    python_peer peer;
    bool have_peer = use_torch && python_peer_start(&peer, torch_script, "-");
    if (have_peer)
        printf("PyTorch %s (torch.mm) takes turns on the square products: ratio = PyTorch time / "
               "Born time there.\n", peer.version);
    else if (use_torch)
        fprintf(stderr, "bench_gemm: no PyTorch (python3 with torch) to compare with\n");
    for (int i = 0; i < nthreads; i++) run(threads[i], have_peer ? &peer : NULL);
    if (have_peer) python_peer_stop(&peer);
    return 0;
}
