/* Attention against PyTorch in the same run: born_scaled_dot_product_attention (the flash
 * kernel) and torch.nn.functional.scaled_dot_product_attention on the CPU, f32, causal,
 * B = 1, H = 4, T = 512 ... 8192, head size 64 and 128, with 1 and 2 threads; forward (no
 * grad) and forward + backward. Medians of a few runs; PyTorch runs in a child process
 * (bench/bench_attention.py) with the same threads.
 *
 *   ./build/bench/bench_attention [--no-torch] [--max-t T] [threads...]   (from the repo root) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "born/born.h"
#include "bench_util.h"

/* Median seconds of reps runs of the forward (backward = false) or forward + backward. */
static double born_time(int64_t b, int64_t h, int64_t t, int64_t d, bool backward, int reps) {
    born_tensor *q = born_requires_grad(born_randn(NULL, BORN_F32, BORN_DIMS(b, h, t, d)), backward);
    born_tensor *k = born_requires_grad(born_randn(NULL, BORN_F32, BORN_DIMS(b, h, t, d)), backward);
    born_tensor *v = born_requires_grad(born_randn(NULL, BORN_F32, BORN_DIMS(b, h, t, d)), backward);
    born_tensor *g = born_randn(NULL, BORN_F32, BORN_DIMS(b, h, t, d));
    born_sdpa_params p = born_sdpa_default_params();
    p.is_causal = true;
    double ts[16];
    for (int r = 0; r <= reps; r++) { /* run 0 warms up */
        born_scope_begin();
        double s = now();
        born_tensor *o = born_scaled_dot_product_attention(q, k, v, NULL, &p);
        if (!o) {
            fprintf(stderr, "bench_attention: %s\n", born_last_error());
            exit(1);
        }
        if (backward) {
            born_backward_params bp = born_backward_default_params();
            bp.grad = g;
            born_backward_ex(o, &bp);
        }
        double e = now() - s;
        born_scope_end();
        born_zero_grad(q);
        born_zero_grad(k);
        born_zero_grad(v);
        if (r) ts[r - 1] = e;
    }
    born_free(q);
    born_free(k);
    born_free(v);
    born_free(g);
    qsort(ts, (size_t)reps, sizeof ts[0], cmp_double);
    return ts[reps / 2];
}

static bool torch_time(int64_t b, int64_t h, int64_t t, int64_t d, int threads, int reps,
                       double *fwd, double *fb) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "OMP_WAIT_POLICY=PASSIVE python3 bench/bench_attention.py %lld %lld %lld %lld %d 1 %d",
             (long long)b, (long long)h, (long long)t, (long long)d, threads, reps);
    FILE *f = popen(cmd, "r");
    if (!f) return false;
    bool ok = fscanf(f, "%lf %lf", fwd, fb) == 2;
    pclose(f);
    return ok;
}

int main(int argc, char **argv) {
    bool torch = true;
    int64_t max_t = 8192;
    int threads[8], nthreads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--no-torch")) torch = false;
        else if (!strcmp(argv[i], "--max-t") && i + 1 < argc) max_t = atoll(argv[++i]);
        else if (nthreads < 8) threads[nthreads++] = atoi(argv[i]);
    }
    if (!nthreads) {
        threads[0] = 1;
        threads[1] = 2;
        nthreads = 2;
    }
    const int64_t b = 1, h = 4;
    printf("causal attention, f32, B = %lld, H = %lld; milliseconds (median); ratio = torch / born\n",
           (long long)b, (long long)h);
    printf("%7s %4s %3s | %10s %10s %6s | %10s %10s %6s\n", "threads", "d", "T", "born fwd", "torch fwd",
           "ratio", "born f+b", "torch f+b", "ratio");
    for (int ti = 0; ti < nthreads; ti++) {
        born_set_num_threads(threads[ti]);
        for (int64_t d = 64; d <= 128; d *= 2)
            for (int64_t t = 512; t <= max_t; t *= 4) {
                int reps = t >= 8192 ? 3 : 5;
                double bf = born_time(b, h, t, d, false, reps), bb = born_time(b, h, t, d, true, reps);
                double tf = 0, tb = 0;
                bool have = torch && torch_time(b, h, t, d, threads[ti], reps, &tf, &tb);
                if (have)
                    printf("%7d %4lld %5lld | %10.2f %10.2f %6.2f | %10.2f %10.2f %6.2f\n", threads[ti],
                           (long long)d, (long long)t, bf * 1e3, tf * 1e3, tf / bf, bb * 1e3, tb * 1e3,
                           tb / bb);
                else
                    printf("%7d %4lld %5lld | %10.2f %10s %6s | %10.2f %10s %6s\n", threads[ti],
                           (long long)d, (long long)t, bf * 1e3, "-", "-", bb * 1e3, "-", "-");
                fflush(stdout);
            }
    }
    return 0;
}
