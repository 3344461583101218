/* The machine's measured f32 FMA peak, for benchmarks that report a GEMM's share of it: every pool
 * thread runs a loop of independent 8-lane FMAs on registers only (12 accumulator chains, as many
 * as the GEMM's 6 x 16 tile, enough to cover the FMA latency on both pipes; 16-lane FMAs where
 * the CPU has AVX-512), all threads at once,
 * and the figure is their total over the wall time of the slowest. Measured in the same run as the
 * GEMM, it moves with the clock and the load the GEMM sees. */
#ifndef BORN_BENCH_FMA_PEAK_H
#define BORN_BENCH_FMA_PEAK_H

#include <stdint.h>

#include "bench_util.h"
#include "core/cpu_features.h"
#include "core/thread_pool.h"

#if defined(__x86_64__) || defined(__i386__)
enum { FMA_PEAK_CHAINS = 12 };

/* The assembly of fma_peak_loop for the registers named R ("ymm" or "zmm"): 12 chains of
 * `iters` FMAs each (acc = acc * m + d, which stays near 0.1: no denormals, no overflow), so that
 * the compiler can neither merge the chains nor spill; their sum is stored to out. */
#define FMA_PEAK_ASM(R)                                                                           \
    "vbroadcastss %[m], %%" R "12\n\t"                                                            \
    "vbroadcastss %[d], %%" R "13\n\t"                                                            \
    "vmovaps %%" R "13, %%" R "0\n\t" "vmovaps %%" R "13, %%" R "1\n\t"                           \
    "vmovaps %%" R "13, %%" R "2\n\t" "vmovaps %%" R "13, %%" R "3\n\t"                           \
    "vmovaps %%" R "13, %%" R "4\n\t" "vmovaps %%" R "13, %%" R "5\n\t"                           \
    "vmovaps %%" R "13, %%" R "6\n\t" "vmovaps %%" R "13, %%" R "7\n\t"                           \
    "vmovaps %%" R "13, %%" R "8\n\t" "vmovaps %%" R "13, %%" R "9\n\t"                           \
    "vmovaps %%" R "13, %%" R "10\n\t" "vmovaps %%" R "13, %%" R "11\n\t"                         \
    ".p2align 5\n"                                                                                \
    "1:\n\t"                                                                                      \
    "vfmadd132ps %%" R "12, %%" R "13, %%" R "0\n\t"                                               \
    "vfmadd132ps %%" R "12, %%" R "13, %%" R "1\n\t"                                               \
    "vfmadd132ps %%" R "12, %%" R "13, %%" R "2\n\t"                                               \
    "vfmadd132ps %%" R "12, %%" R "13, %%" R "3\n\t"                                               \
    "vfmadd132ps %%" R "12, %%" R "13, %%" R "4\n\t"                                               \
    "vfmadd132ps %%" R "12, %%" R "13, %%" R "5\n\t"                                               \
    "vfmadd132ps %%" R "12, %%" R "13, %%" R "6\n\t"                                               \
    "vfmadd132ps %%" R "12, %%" R "13, %%" R "7\n\t"                                               \
    "vfmadd132ps %%" R "12, %%" R "13, %%" R "8\n\t"                                               \
    "vfmadd132ps %%" R "12, %%" R "13, %%" R "9\n\t"                                               \
    "vfmadd132ps %%" R "12, %%" R "13, %%" R "10\n\t"                                              \
    "vfmadd132ps %%" R "12, %%" R "13, %%" R "11\n\t"                                              \
    "dec %[n]\n\t"                                                                                \
    "jnz 1b\n\t"                                                                                  \
    "vaddps %%" R "1, %%" R "0, %%" R "0\n\t" "vaddps %%" R "3, %%" R "2, %%" R "2\n\t"            \
    "vaddps %%" R "5, %%" R "4, %%" R "4\n\t" "vaddps %%" R "7, %%" R "6, %%" R "6\n\t"            \
    "vaddps %%" R "9, %%" R "8, %%" R "8\n\t" "vaddps %%" R "11, %%" R "10, %%" R "10\n\t"         \
    "vaddps %%" R "2, %%" R "0, %%" R "0\n\t" "vaddps %%" R "6, %%" R "4, %%" R "4\n\t"            \
    "vaddps %%" R "10, %%" R "8, %%" R "8\n\t" "vaddps %%" R "4, %%" R "0, %%" R "0\n\t"           \
    "vaddps %%" R "8, %%" R "0, %%" R "0\n\t"                                                     \
    "vmovups %%" R "0, %[out]\n\t"                                                                \
    "vzeroupper\n\t"

#define FMA_PEAK_CLOBBERS                                                                         \
    "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",      \
        "xmm11", "xmm12", "xmm13", "cc"

/* The 12 chains on 8 lanes; returns a value made of all of them. */
static float fma_peak_loop(int64_t iters) {
    float m = 0.999999f, d = 1e-7f, out[8];
    __asm__ volatile(FMA_PEAK_ASM("ymm") : [n] "+r"(iters), [out] "=m"(out) : [m] "m"(m), [d] "m"(d)
                     : FMA_PEAK_CLOBBERS);
    return out[0] + out[7];
}

/* The same on 16 lanes (zmm registers), for CPUs with AVX-512. */
__attribute__((target("avx512f"))) static float fma_peak_loop16(int64_t iters) {
    float m = 0.999999f, d = 1e-7f, out[16];
    __asm__ volatile(FMA_PEAK_ASM("zmm") : [n] "+r"(iters), [out] "=m"(out) : [m] "m"(m), [d] "m"(d)
                     : FMA_PEAK_CLOBBERS);
    return out[0] + out[15];
}

typedef struct fma_peak_job {
    int64_t iters;
    int wide; /* 16 lanes (zmm) rather than 8 */
    int nthreads; /* the team's size, as the pool ran it */
    volatile float sink[256];
} fma_peak_job;

static void fma_peak_thread(int tid, int nthreads, void *ctx) {
    fma_peak_job *j = ctx;
    j->nthreads = nthreads;
    j->sink[tid & 255] = j->wide ? fma_peak_loop16(j->iters) : fma_peak_loop(j->iters);
}

/* The FMA loop calibrated for one width: `iters` steps per thread take about the seconds asked. */
typedef struct fma_peak_probe {
    int wide;      /* 16 lanes (zmm) rather than 8 */
    int64_t iters; /* 0 where the CPU has no AVX2 + FMA */
} fma_peak_probe;

static fma_peak_probe fma_peak_probe_width(int wide, double seconds) {
    fma_peak_job j = {.iters = 100000, .wide = wide};
    born_parallel_team(fma_peak_thread, &j); /* wakes the pool */
    double t0 = now();
    fma_peak_thread(0, 1, &j);
    double one = now() - t0; /* calibrate on this thread: iters for about `seconds` */
    int64_t iters = (int64_t)(100000 * seconds / (one > 1e-7 ? one : 1e-7));
    return (fma_peak_probe){wide, iters < 100000 ? 100000 : iters};
}

/* GFLOP/s of one run of the probe's loop on all pool threads at once (their total over the wall
 * time of the slowest); 0 for a probe of a CPU without AVX2 + FMA. */
static double fma_peak_probe_run(const fma_peak_probe *p) {
    if (p->iters == 0) return 0;
    fma_peak_job j = {.iters = p->iters, .wide = p->wide};
    double t0 = now();
    born_parallel_team(fma_peak_thread, &j);
    double t = now() - t0;
    return 2.0 * (p->wide ? 16 : 8) * FMA_PEAK_CHAINS * (double)p->iters * j.nthreads / t / 1e9;
}

/* A probe of about `seconds` a run at the vector width of Born's kernels (16 lanes at its AVX-512
 * level, so BORN_CPU=avx2 measures 8), for the pool's current thread count. Benchmarks run it in
 * turns with the code they measure, so that each share of the peak compares two timings taken
 * under the same load. */
static fma_peak_probe fma_peak_probe_new(double seconds) {
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        return (fma_peak_probe){0, 0};
    return fma_peak_probe_width(cpu_get_level() >= CPU_LEVEL_AVX512, seconds);
}

/* GFLOP/s of the FMA loop on all pool threads (born_set_num_threads), the best of `reps` runs of
 * about `seconds` each (a peak: on a loaded machine the median says more about the other
 * processes), at the vector width of Born's kernels; 0 where the CPU has no AVX2 + FMA. */
static double fma_peak_gflops(int reps, double seconds) {
    fma_peak_probe p = fma_peak_probe_new(seconds);
    double best = 0;
    for (int r = 0; r < reps; r++) {
        double g = fma_peak_probe_run(&p);
        if (g > best) best = g;
    }
    return best;
}
#else
typedef struct fma_peak_probe {
    int wide;
    int64_t iters;
} fma_peak_probe;

static fma_peak_probe fma_peak_probe_new(double seconds) {
    (void)seconds;
    return (fma_peak_probe){0, 0};
}

static double fma_peak_probe_run(const fma_peak_probe *p) {
    (void)p;
    return 0;
}

static double fma_peak_gflops(int reps, double seconds) {
    (void)reps;
    (void)seconds;
    return 0;
}
#endif

#endif
