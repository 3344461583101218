/* The prepacked f32 convolution (backend/cpu/conv_prepacked.h) on the shapes of the PaddleOCR
 * detector and classifier, one at a time: multiply-adds per second of the calling thread's CPU time
 * (the fastest and the median of many calls; wall time with several threads), to tune the conv
 * kernels apart from the executor.
 *
 *     ./build/bench/bench_onnx_conv [threads]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cpu/conv_prepacked.h"
#include "bench_util.h"
#include "born/born.h"

static int wall_clock; /* with several threads: wall time */

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(wall_clock ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static const struct {
    const char *what;
    int c, m, h, w, k, s, pad;
} shapes[] = {
    {"det 1x1 16->32 80x80", 16, 32, 80, 80, 1, 1, 0},
    {"det 1x1 48->48 40x40", 48, 48, 40, 40, 1, 1, 0},
    {"det 1x1 96->96 20x20", 96, 96, 20, 20, 1, 1, 0},
    {"det 1x1 192->192 10x10", 192, 192, 10, 10, 1, 1, 0},
    {"det 1x1 192->384 5x5", 192, 384, 5, 5, 1, 1, 0},
    {"det 1x1 384->384 5x5", 384, 384, 5, 5, 1, 1, 0},
    {"det 1x1 12->96 40x40", 12, 96, 40, 40, 1, 1, 0},
    {"det 3x3 96->24 40x40", 96, 24, 40, 40, 3, 1, 1},
    {"det 3x3 96->24 42x42 unpadded", 96, 24, 42, 42, 3, 1, 0},
    {"det 3x3 96->24 20x20", 96, 24, 20, 20, 3, 1, 1},
    {"det 3x3 96->24 10x10", 96, 24, 10, 10, 3, 1, 1},
    {"det 3x3 96->24 5x5", 96, 24, 5, 5, 3, 1, 1},
    {"det 3x3 3->16 s2 160", 3, 16, 160, 160, 3, 2, 1},
    {"cls 1x1 (8x48 plane) 32->64", 32, 64, 12, 48, 1, 1, 0},
    {"det 1x1 360->96 5x5", 360, 96, 5, 5, 1, 1, 0},
    {"det 1x1 SE 384->96 1x1", 384, 96, 1, 1, 1, 1, 0},
    {"det 1x1 SE 96->384 1x1", 96, 384, 1, 1, 1, 1, 0},
};

int main(int argc, char **argv) {
    born_set_num_threads(argc > 1 ? atoi(argv[1]) : 1);
    wall_clock = born_get_num_threads() > 1;
    printf("%-30s %10s %10s %8s %8s\n", "shape", "MMAC", "best us", "med us", "GMAC/s");
    for (size_t q = 0; q < sizeof shapes / sizeof shapes[0]; q++) {
        int C = shapes[q].c, M = shapes[q].m, H = shapes[q].h, W = shapes[q].w, K = shapes[q].k;
        int S = shapes[q].s, P = shapes[q].pad;
        int OH = (H + 2 * P - K) / S + 1, OW = (W + 2 * P - K) / S + 1;
        born_conv2d_geometry g = {1, C, H, W, M, OH, OW, K, K, {S, S}, {P, P}, {1, 1}, 1};
        float *x = malloc(sizeof(float) * (size_t)(C * H * W));
        float *wt = malloc(sizeof(float) * (size_t)(M * C * K * K));
        float *b = malloc(sizeof(float) * (size_t)M);
        float *y = malloc(sizeof(float) * (size_t)(M * OH * OW));
        for (int i = 0; i < C * H * W; i++) x[i] = (float)((i * 37) % 101) / 101.0f - 0.5f;
        for (int i = 0; i < M * C * K * K; i++) wt[i] = (float)((i * 53) % 97) / 97.0f - 0.5f;
        for (int i = 0; i < M; i++) b[i] = 0.01f * (float)i;
        cpu_conv_weights *pw = cpu_conv_weights_new(wt, M, (int64_t)C * K * K, 1);
        if (getenv("BORN_NO_LANES") == NULL) /* as the ONNX loader packs one group's weights */
            cpu_conv_weights_pack_lanes(pw);
        double macs = (double)M * C * K * K * OH * OW, t[400];
        int reps = (int)(2e8 / macs);
        reps = reps < 20 ? 20 : reps > 400 ? 400 : reps;
        for (int r = -3; r < reps; r++) {
            double t0 = cpu_now();
            cpu_conv2d_f32_prepacked(y, x, pw, b, &g, NULL, NULL);
            if (r >= 0) t[r] = cpu_now() - t0;
        }
        qsort(t, (size_t)reps, sizeof t[0], cmp_double);
        printf("%-30s %10.2f %10.1f %8.1f %8.1f\n", shapes[q].what, macs / 1e6, 1e6 * t[0],
               1e6 * t[reps / 2], macs / t[0] / 1e9);
        cpu_conv_weights_free(pw);
        free(x), free(wt), free(b), free(y);
    }
    return 0;
}
