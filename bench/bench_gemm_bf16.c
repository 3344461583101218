/* bf16 products on this machine against PyTorch's in the same run: born_matmul of bf16 tensors
 * (the CPU's bf16 GEMM, src/backend/cpu/gemm_bf16.c, f32 accumulation, a bf16 result) beside
 * torch.mm of bf16 tensors (a python3 child, bench/python_peer.h) and Born's own f32 product of
 * the same shape, timed in turns, medians of 7; square n = 256 ... 2048 and the LLM shapes x [M,
 * 4096] W[4096, 4096]^T (born_linear, M = 1, 8 and 32), at each thread count given.
 *
 *   ./build/bench/bench_gemm_bf16 [threads...] */
#include <stdio.h>
#include <stdlib.h>

#include "born/born.h"
#include "bench_util.h"
#include "python_peer.h"

enum { REPS = 7 };

/* "mm THREADS M N K INNER LINEAR" answers the seconds per torch bf16 product (x @ w, or x @ w.t()
 * with LINEAR) over INNER calls. */
static const char *const torch_script =
    "import json, sys, time\n"
    "import torch\n"
    "print(json.dumps({'ready': torch.__version__ + ' ' + torch.backends.cpu.get_cpu_capability()}), flush=True)\n"
    "cache = {}\n"
    "for line in sys.stdin:\n"
    "    w = line.split()\n"
    "    if not w or w[0] == 'quit': break\n"
    "    t, m, n, k, inner, lin = map(int, w[1:7]); torch.set_num_threads(t)\n"
    "    key = (m, n, k, lin)\n"
    "    if key not in cache:\n"
    "        x = torch.randn(m, k).bfloat16()\n"
    "        y = torch.randn(n, k).bfloat16().t() if lin else torch.randn(k, n).bfloat16()\n"
    "        cache = {key: (x, y)}; torch.mm(x, y)\n"
    "    x, y = cache[key]\n"
    "    t0 = time.perf_counter()\n"
    "    for _ in range(inner): torch.mm(x, y)\n"
    "    print(json.dumps({'seconds': (time.perf_counter() - t0) / inner}), flush=True)\n";

typedef struct shape {
    int m, n, k;
    bool linear; /* x [m, k] @ W^T, W [n, k] */
} shape;

/* Seconds per product of Born in dtype dt (inner calls). */
static double born_seconds(born_tensor *x, born_tensor *w, bool linear, int inner) {
    double t0 = now();
    for (int i = 0; i < inner; i++) {
        born_tensor *y = linear ? born_linear(x, w, NULL) : born_matmul(x, w);
        born_free(y);
    }
    return (now() - t0) / inner;
}

int main(int argc, char **argv) {
    born_init();
    born_manual_seed(0);
    python_peer torch;
    bool have_torch = python_peer_start(&torch, torch_script, "");
    printf("bf16 products, GFLOP/s (medians of %d turns); PyTorch %s\n", REPS,
           have_torch ? torch.version : "not found");
    static const shape shapes[] = {{256, 256, 256, false},   {512, 512, 512, false},
                                   {1024, 1024, 1024, false}, {2048, 2048, 2048, false},
                                   {1, 4096, 4096, true},     {8, 4096, 4096, true},
                                   {32, 4096, 4096, true}};
    int nthreads = argc > 1 ? argc - 1 : 1;
    for (int ti = 0; ti < nthreads; ti++) {
        int threads = argc > 1 ? atoi(argv[1 + ti]) : 1;
        born_set_num_threads(threads);
        printf("\n%d thread(s)\n%-28s %10s %10s %10s %12s %12s\n", threads, "shape", "Born bf16",
               "torch bf16", "Born f32", "torch/Born", "f32/bf16");
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            const shape *sh = &shapes[s];
            int64_t xs[2] = {sh->m, sh->k}, ws[2] = {sh->linear ? sh->n : sh->k,
                                                      sh->linear ? sh->k : sh->n};
            born_tensor *fx = born_randn(NULL, BORN_F32, 2, xs), *fw = born_randn(NULL, BORN_F32, 2, ws);
            born_tensor *hx = born_to_dtype(fx, BORN_BF16), *hw = born_to_dtype(fw, BORN_BF16);
            double flop = 2.0 * sh->m * sh->n * sh->k;
            int inner = (int)(2e9 / flop / threads) + 1;
            if (inner > 200) inner = 200;
            char cmd[128];
            snprintf(cmd, sizeof cmd, "mm %d %d %d %d %d %d", threads, sh->m, sh->n, sh->k, inner,
                     sh->linear);
            born_seconds(hx, hw, sh->linear, 1);
            born_seconds(fx, fw, sh->linear, 1);
            bool peer = have_torch && python_peer_ask(&torch, cmd, "seconds") > 0;
            double gb[REPS], gt[REPS], gf[REPS], rt[REPS], rf[REPS];
            for (int r = 0; r < REPS; r++) {
                double tb = born_seconds(hx, hw, sh->linear, inner);
                double tt = peer ? python_peer_ask(&torch, cmd, "seconds") : 0;
                double tf = born_seconds(fx, fw, sh->linear, inner);
                gb[r] = flop / tb / 1e9;
                gt[r] = tt > 0 ? flop / tt / 1e9 : 0;
                gf[r] = flop / tf / 1e9;
                rt[r] = tt / tb;
                rf[r] = tf / tb;
            }
            char name[64];
            snprintf(name, sizeof name, sh->linear ? "x[%d,%d] W[%d,%d]^T" : "%d x %d x %d", sh->m,
                     sh->k, sh->n, sh->k);
            if (!sh->linear) snprintf(name, sizeof name, "%d^3", sh->m);
            printf("%-28s %10.1f %10.1f %10.1f %12.2f %12.2f\n", name, median(gb, REPS),
                   median(gt, REPS), median(gf, REPS), median(rt, REPS), median(rf, REPS));
            fflush(stdout);
            born_free(fx);
            born_free(fw);
            born_free(hx);
            born_free(hw);
        }
    }
    if (have_torch) python_peer_stop(&torch);
    return 0;
}
