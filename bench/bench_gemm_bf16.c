/* bf16 products on this machine against PyTorch's in the same run: born_matmul of bf16 tensors
 * (the CPU's bf16 GEMM, src/backend/cpu/gemm_bf16.c, f32 accumulation, a bf16 result) beside
 * torch.mm of bf16 tensors (a python3 child, bench/python_peer.h) and Born's own f32 product of
 * the same shape, timed in turns, medians of 7; square n = 256 ... 2048, the LLM shapes x [M,
 * 4096] W[4096, 4096]^T (born_linear, M = 1, 8 and 32) and the products of a GPT training step's
 * MLP layer (2048 tokens, width 384: the forward x W^T, the input gradient dY W and the weight
 * gradient dY^T X, whose left operand is a transposed view), at each thread count given.
 *
 *   ./build/bench/bench_gemm_bf16 [threads...] */
#include <stdio.h>
#include <stdlib.h>

#include "born/born.h"
#include "bench_util.h"
#include "python_peer.h"

enum { REPS = 7 };

/* "mm THREADS M N K INNER LAYOUT" answers the seconds per torch bf16 product over INNER calls:
 * x @ w (LAYOUT 0), x @ w.t() (1) or x.t() @ w (2). */
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
    "        x = torch.randn(k, m).bfloat16().t() if lin == 2 else torch.randn(m, k).bfloat16()\n"
    "        y = torch.randn(n, k).bfloat16().t() if lin == 1 else torch.randn(k, n).bfloat16()\n"
    "        cache = {key: (x, y)}; torch.mm(x, y)\n"
    "    x, y = cache[key]\n"
    "    t0 = time.perf_counter()\n"
    "    for _ in range(inner): torch.mm(x, y)\n"
    "    print(json.dumps({'seconds': (time.perf_counter() - t0) / inner}), flush=True)\n";

enum layout { PLAIN, LINEAR, LEFT_T }; /* x @ W; x [m, k] @ W^T, W [n, k]; X^T @ W, X [k, m] */

typedef struct shape {
    int m, n, k;
    enum layout layout;
} shape;

/* Seconds per product of Born (inner calls). */
static double born_seconds(born_tensor *x, born_tensor *w, enum layout layout, int inner) {
    double t0 = now();
    for (int i = 0; i < inner; i++) {
        born_scope_begin();
        born_tensor *y = layout == LINEAR ? born_linear(x, w, NULL)
                         : layout == LEFT_T ? born_matmul(born_transpose(x, 0, 1), w)
                                            : born_matmul(x, w);
        born_scope_end();
        (void)y;
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
    static const shape shapes[] = {
        {256, 256, 256, PLAIN},     {512, 512, 512, PLAIN},     {1024, 1024, 1024, PLAIN},
        {2048, 2048, 2048, PLAIN},  {1, 4096, 4096, LINEAR},    {8, 4096, 4096, LINEAR},
        {32, 4096, 4096, LINEAR},   {2048, 1536, 384, LINEAR},  {2048, 384, 1536, PLAIN},
        {1536, 384, 2048, LEFT_T}};
    int nthreads = argc > 1 ? argc - 1 : 1;
    for (int ti = 0; ti < nthreads; ti++) {
        int threads = argc > 1 ? atoi(argv[1 + ti]) : 1;
        born_set_num_threads(threads);
        printf("\n%d thread(s)\n%-28s %10s %10s %10s %12s %12s\n", threads, "shape", "Born bf16",
               "torch bf16", "Born f32", "torch/Born", "f32/bf16");
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            const shape *sh = &shapes[s];
            bool lin = sh->layout == LINEAR, left_t = sh->layout == LEFT_T;
            int64_t xs[2] = {left_t ? sh->k : sh->m, left_t ? sh->m : sh->k};
            int64_t ws[2] = {lin ? sh->n : sh->k, lin ? sh->k : sh->n};
            born_tensor *fx = born_randn(NULL, BORN_F32, 2, xs), *fw = born_randn(NULL, BORN_F32, 2, ws);
            born_tensor *hx = born_to_dtype(fx, BORN_BF16), *hw = born_to_dtype(fw, BORN_BF16);
            double flop = 2.0 * sh->m * sh->n * sh->k;
            int inner = (int)(2e9 / flop / threads) + 1;
            if (inner > 200) inner = 200;
            char cmd[128];
            snprintf(cmd, sizeof cmd, "mm %d %d %d %d %d %d", threads, sh->m, sh->n, sh->k, inner,
                     (int)sh->layout);
            born_seconds(hx, hw, sh->layout, 1);
            born_seconds(fx, fw, sh->layout, 1);
            bool peer = have_torch && python_peer_ask(&torch, cmd, "seconds") > 0;
            double gb[REPS], gt[REPS], gf[REPS], rt[REPS], rf[REPS];
            for (int r = 0; r < REPS; r++) {
                double tb = born_seconds(hx, hw, sh->layout, inner);
                double tt = peer ? python_peer_ask(&torch, cmd, "seconds") : 0;
                double tf = born_seconds(fx, fw, sh->layout, inner);
                gb[r] = flop / tb / 1e9;
                gt[r] = tt > 0 ? flop / tt / 1e9 : 0;
                gf[r] = flop / tf / 1e9;
                rt[r] = tt / tb;
                rf[r] = tf / tb;
            }
            char name[64];
            if (lin)
                snprintf(name, sizeof name, "x[%d,%d] W[%d,%d]^T", sh->m, sh->k, sh->n, sh->k);
            else if (left_t)
                snprintf(name, sizeof name, "X[%d,%d]^T Y[%d,%d]", sh->k, sh->m, sh->k, sh->n);
            else if (sh->m == sh->n && sh->n == sh->k)
                snprintf(name, sizeof name, "%d^3", sh->m);
            else
                snprintf(name, sizeof name, "X[%d,%d] W[%d,%d]", sh->m, sh->k, sh->k, sh->n);
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
