/* f32 GEMM at each CPU level in one process, interleaved (AVX2 then AVX-512 for every size and
 * repetition), for machines without OpenBLAS: square n = 256 ... 4096 and the LLM shapes
 * x [M, 4096] @ W^T, W [4096, 4096], M = 1, 8, 32. Prints GFLOP/s (medians). Peer:
 * bench/bench_sgemm_torch.py, the same shapes through torch.mm.
 *
 *   cc -O2 -Iinclude -Isrc bench/bench_sgemm_levels.c build/libborn.a -lm -pthread -o bench_levels
 *   ./bench_levels 1 8 16        (thread counts) */
#include <stdio.h>
#include <stdlib.h>

#include "born/born.h"
#include "bench_util.h"
#include "core/cpu_features.h"

enum { REPS = 5 };

typedef struct shape {
    int m, n, k;
    bool linear; /* out = x @ w^T */
} shape;

static void run(const shape *s, born_tensor *x, born_tensor *w, born_tensor *out) {
    if (s->linear) {
        born_scope_begin();
        born_matmul_out(out, x, born_transpose(w, 0, 1));
        born_scope_end();
    } else {
        born_matmul_out(out, x, w);
    }
}

static void bench(const shape *s, int threads, int nlevels, const cpu_level *levels) {
    born_set_num_threads(threads);
    born_tensor *x = born_randn(NULL, BORN_F32, BORN_DIMS(s->m, s->k));
    born_tensor *w = s->linear ? born_randn(NULL, BORN_F32, BORN_DIMS(s->n, s->k))
                               : born_randn(NULL, BORN_F32, BORN_DIMS(s->k, s->n));
    born_tensor *out = born_zeros(BORN_F32, BORN_DIMS(s->m, s->n));
    double flop = 2.0 * s->m * s->n * s->k;
    int inner = (int)(2e9 / (flop * 1.0) / threads) + 1;
    if (inner > 200) inner = 200;
    int reps = flop > 1e10 ? 3 : REPS;
    double t[3][REPS];
    for (int l = 0; l < nlevels; l++) {
        cpu_set_level(levels[l]);
        run(s, x, w, out); /* warm-up: packing buffers, pages */
    }
    for (int r = 0; r < reps; r++)
        for (int l = 0; l < nlevels; l++) {
            cpu_set_level(levels[l]);
            double t0 = now();
            for (int i = 0; i < inner; i++)
                run(s, x, w, out);
            t[l][r] = (now() - t0) / inner;
        }
    printf("%2d threads  %4d x %4d x %4d%s", threads, s->m, s->n, s->k, s->linear ? " (x W^T)" : "       ");
    for (int l = 0; l < nlevels; l++)
        printf("  %s %7.1f GFLOP/s", cpu_level_name(levels[l]), flop / median(t[l], reps) / 1e9);
    printf("\n");
    fflush(stdout);
    born_free(x);
    born_free(w);
    born_free(out);
}

int main(int argc, char **argv) {
    born_init();
    born_manual_seed(0);
    cpu_level levels[2] = {CPU_LEVEL_AVX2, CPU_LEVEL_AVX512};
    cpu_set_level(CPU_LEVEL_AVX512);
    int nlevels = cpu_get_level() == CPU_LEVEL_AVX512 ? 2 : 1;
    printf("Born %s f32 GEMM, levels interleaved (hardware: %s)\n", born_version(),
           cpu_level_name(cpu_get_level()));
    const shape shapes[] = {{256, 256, 256, false},   {512, 512, 512, false},
                            {1024, 1024, 1024, false}, {2048, 2048, 2048, false},
                            {4096, 4096, 4096, false}, {1, 4096, 4096, true},
                            {8, 4096, 4096, true},     {32, 4096, 4096, true}};
    for (int a = 1; a < argc; a++)
        for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
            bench(&shapes[i], atoi(argv[a]), nlevels, levels);
    return 0;
}
