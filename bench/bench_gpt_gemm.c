/* The GEMM shapes of one GPT training step (6 layers, width 384, batch 8 x 256 tokens): forward
 * x W^T, backward dX = dY W and dW = dY^T X, timed one shape at a time (best of 7) with the given
 * threads; "step total" is what one training step spends in them. Not in `make bench` (no peer):
 *   cc -O2 -std=c11 -D_DEFAULT_SOURCE -Iinclude -o build/gpt_gemm bench/bench_gpt_gemm.c \
 *      build/libborn.a -lm -pthread -ldl && ./build/gpt_gemm 1 2 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "born/born.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    const int64_t T = 2048, C = 384;
    const int64_t outs[5] = {3 * C, C, 4 * C, C, 256}, ins[5] = {C, C, C, 4 * C, C};
    const char *names[5] = {"qkv", "proj", "fc", "fc_proj", "lm_head"};
    born_generator *gen = born_generator_new(1);
    for (int a = 1; a < argc || a == 1; a++) {
        int th = argc > 1 ? atoi(argv[a]) : 1;
        born_set_num_threads(th);
        printf("threads %d\n", th);
        double tot[3] = {0};
        for (int s = 0; s < 5; s++) {
            born_scope_begin();
            born_tensor *x = born_randn(gen, BORN_F32, BORN_DIMS(T, ins[s]));
            born_tensor *w = born_randn(gen, BORN_F32, BORN_DIMS(outs[s], ins[s]));
            born_tensor *g = born_randn(gen, BORN_F32, BORN_DIMS(T, outs[s]));
            double best[3] = {1e9, 1e9, 1e9};
            for (int r = 0; r < 7; r++) {
                born_scope_begin();
                double t0 = now();
                born_linear(x, w, NULL);
                double t1 = now();
                born_matmul(g, w);
                double t2 = now();
                born_matmul(born_transpose(g, 0, 1), x);
                double t3 = now();
                born_scope_end();
                double d[3] = {t1 - t0, t2 - t1, t3 - t2};
                for (int k = 0; k < 3; k++) if (d[k] < best[k]) best[k] = d[k];
            }
            double fl = 2.0 * (double)T * (double)outs[s] * (double)ins[s];
            printf("  %-8s fwd %7.2f ms (%5.1f GF/s)  dX %7.2f ms (%5.1f)  dW %7.2f ms (%5.1f)\n", names[s],
                   best[0] * 1e3, fl / best[0] * 1e-9, best[1] * 1e3, fl / best[1] * 1e-9, best[2] * 1e3,
                   fl / best[2] * 1e-9);
            for (int k = 0; k < 3; k++) tot[k] += best[k] * (s == 4 ? 1 : 6);
            born_scope_end();
        }
        printf("  step total (x6 layers): fwd %.1f ms, dX %.1f ms, dW %.1f ms\n", tot[0] * 1e3, tot[1] * 1e3, tot[2] * 1e3);
    }
    born_generator_free(gen);
    return 0;
}
