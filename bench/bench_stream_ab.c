/* Interleaved A/B of the streaming-store and AVX-512 paths of the elementwise, softmax and norm
 * kernels (src/backend/cpu/stream.h, *_avx512.c): each round runs every kernel on [4096, 4096] f32
 * (2^24 elements, 64 MiB) once in each mode -- AVX2 with ordinary stores, AVX2 streaming, and
 * (where the CPU has it) AVX-512 streaming -- beside a plain copy loop; the figures are medians
 * over the rounds, in GB/s of the bytes the kernel must move (8 per element, 12 for gradients
 * and add), and the median over the rounds of its share of the rate of a copy run just before it
 * (so that a slow stretch of a shared machine moves both sides of a ratio). The softmax backward rows take x as the forward's
 * output (the arithmetic does not care). Usage: bench_stream_ab [threads] [rounds]. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/stream.h"
#include "born/born.h"
#include "core/cpu_features.h"
#include "bench_util.h"

enum { KERNELS = 17, MODES = 3, MAX_ROUNDS = 64 };

static const char *names[KERNELS] = {"copy (plain C loop)", "tanh", "gelu (erf)", "gelu backward",
                                     "softmax", "log_softmax", "layer_norm", "rms_norm",
                                     "layer_norm backward", "rms_norm backward", "exp", "silu",
                                     "silu backward", "tanh backward", "softmax backward",
                                     "log_softmax backward", "add (into y)"};

/* Kernels that move 12 bytes an element (two operands in, one out); the others move 8. */
static bool three_streams(int k) { return k == 3 || k == 8 || k == 9 || k >= 12; }

#pragma GCC push_options
#pragma GCC optimize("O3")
static void copy_loop(float *restrict o, const float *restrict x, int64_t n) {
    for (int64_t i = 0; i < n; i++) o[i] = x[i];
}
#pragma GCC pop_options

typedef struct copy_ctx {
    float *o;
    const float *x;
} copy_ctx;
static void copy_range(int64_t b, int64_t e, void *arg) {
    copy_ctx *c = arg;
    copy_loop(c->o + b, c->x + b, e - b);
}

int main(int argc, char **argv) {
    born_init();
    born_manual_seed(0);
    int threads = argc > 1 ? atoi(argv[1]) : 1, rounds = argc > 2 ? atoi(argv[2]) : 9;
    if (rounds < 1 || rounds > MAX_ROUNDS) rounds = 9;
    born_set_num_threads(threads);
    int64_t rows = 4096, cols = 4096, n = rows * cols;
    born_tensor *x = born_randn(NULL, BORN_F32, BORN_DIMS(rows, cols));
    born_tensor *g = born_randn(NULL, BORN_F32, BORN_DIMS(rows, cols));
    born_tensor *y = born_zeros(BORN_F32, BORN_DIMS(rows, cols));
    born_tensor *w = born_ones(BORN_F32, 1, &cols);
    born_tensor *mean = born_zeros(BORN_F32, 1, &rows), *rstd = born_ones(BORN_F32, 1, &rows);
    born_strided sx = strided_of(x), sg = strided_of(g), sy = strided_of(y), sw = strided_of(w);
    born_strided sm = strided_of(mean), sr = strided_of(rstd), none;
    memset(&none, 0, sizeof none);
    cpu_level hw = cpu_get_level();
    int modes = hw >= CPU_LEVEL_AVX512 ? 3 : 2;
    static double t[KERNELS][MODES][MAX_ROUNDS], tcopy[KERNELS][MODES][MAX_ROUNDS];
    for (int r = 0; r < rounds; r++) {
        for (int m = 0; m < modes; m++) {
            cpu_set_level(m == 2 ? CPU_LEVEL_AVX512 : CPU_LEVEL_AVX2);
            cpu_set_stream_min_bytes(m == 0 ? INT64_MAX : 0);
            /* untimed: on the 2-core Xeon VM the first kernel after the switch ran at half the
             * rate whichever kernel it was (tanh or exp in first place: 57-63% of the copy,
             * 140-159% in tenth place; 2026-12-03) */
            cpu_unary(BORN_UNARY_TANH, &sy, &sx, NULL);
            for (int k = 0; k < KERNELS; k++) {
                copy_ctx c = {born_data_f32(y), born_data_f32(x)};
                double t0 = now();
                born_parallel_for(n, 1 << 16, copy_range, &c);
                tcopy[k][m][r] = now() - t0;
                t0 = now();
                switch (k) {
                case 0: break;
                case 1: cpu_unary(BORN_UNARY_TANH, &sy, &sx, NULL); break;
                case 2: cpu_unary(BORN_UNARY_GELU, &sy, &sx, NULL); break;
                case 3: cpu_unary_backward(BORN_UNARY_GELU, &sy, &sg, &sx, &sx, NULL); break;
                case 4: cpu_softmax(false, &sy, &sx, 1); break;
                case 5: cpu_softmax(true, &sy, &sx, 1); break;
                case 6: cpu_row_norm(false, &sy, &sm, &sr, &sx, &sw, &sw, 1e-5); break;
                case 7: cpu_row_norm(true, &sy, &none, &sr, &sx, &sw, &none, 1e-5); break;
                case 8: cpu_row_norm_backward(false, &sy, &sg, &sx, &sm, &sr, &sw); break;
                case 9: cpu_row_norm_backward(true, &sy, &sg, &sx, &none, &sr, &sw); break;
                case 10: cpu_unary(BORN_UNARY_EXP, &sy, &sx, NULL); break;
                case 11: cpu_unary(BORN_UNARY_SILU, &sy, &sx, NULL); break;
                case 12: cpu_unary_backward(BORN_UNARY_SILU, &sy, &sg, &sx, &sx, NULL); break;
                case 13: cpu_unary_backward(BORN_UNARY_TANH, &sy, &sg, &sx, &sx, NULL); break;
                case 14: cpu_softmax_backward(false, &sy, &sg, &sx, 1); break;
                case 15: cpu_softmax_backward(true, &sy, &sg, &sx, 1); break;
                case 16: born_binary_out(BORN_BINARY_ADD, y, x, g); break;
                }
                t[k][m][r] = now() - t0;
            }
        }
    }
    cpu_set_level(hw);
    cpu_set_stream_min_bytes(-1);
    double copy[MODES * MAX_ROUNDS];
    for (int m = 0; m < modes; m++)
        for (int r = 0; r < rounds; r++) copy[m * rounds + r] = tcopy[0][m][r];
    double bw = 8.0 * (double)n / median(copy, modes * rounds) / 1e9;
    printf("%d thread(s), %d rounds, copy %.1f GB/s (median over every mode's rounds)\n", threads,
           rounds, bw);
    printf("%-22s %16s %16s %16s\n", "GB/s (share of copy)", "avx2", "avx2 stream", "avx512 stream");
    for (int k = 1; k < KERNELS; k++) {
        double bytes = (three_streams(k) ? 12.0 : 8.0) * (double)n / 1e9;
        printf("%-22s", names[k]);
        for (int m = 0; m < modes; m++) {
            double gbs = bytes / median(t[k][m], rounds), share[MAX_ROUNDS];
            for (int r = 0; r < rounds; r++)
                share[r] = (bytes / t[k][m][r]) / (8.0 * (double)n / tcopy[k][m][r] / 1e9);
            printf("      %5.1f (%3.0f%%)", gbs, 100.0 * median(share, rounds));
        }
        printf("\n");
    }
    born_free(x);
    born_free(g);
    born_free(y);
    born_free(w);
    born_free(mean);
    born_free(rstd);
    return 0;
}
