/* Layouts and half precision against PyTorch in the same run: the copy and the f16 / f32
 * conversion of a transposed n x n matrix (x.t().contiguous(), x.t().to(dtype)), and a linear
 * layer x[m, 4096] W[4096, 4096]^T in f32, f16 and bf16 for m = 1, 8 and 64 (F.linear), Born's
 * public ops beside the same torch calls (a python3 child, bench/python_peer.h), timed in turns,
 * medians of 7, at each thread count given.
 *
 *   ./build/bench/bench_layouts [threads...] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "born/born.h"
#include "python_peer.h"

enum { REPS = 7, INNER = 5, K = 4096, N = 4096 };

/* "transpose THREADS DTYPE TO SIZE INNER" or "linear THREADS DTYPE M INNER" answers the seconds
 * per torch call over INNER calls (TO: the dtype converted to, or 'same' for the copy). */
static const char *const torch_script =
    "import json, sys, time\n"
    "import torch\n"
    "import torch.nn.functional as F\n"
    "print(json.dumps({'ready': torch.__version__}), flush=True)\n"
    "dts = {'f32': torch.float32, 'f16': torch.float16, 'bf16': torch.bfloat16}\n"
    "cache = {}\n"
    "for line in sys.stdin:\n"
    "    w = line.split()\n"
    "    if not w or w[0] == 'quit': break\n"
    "    torch.set_num_threads(int(w[1])); dt = dts[w[2]]\n"
    "    if w[0] == 'transpose':\n"
    "        n = int(w[4]); key = ('t', w[2], n)\n"
    "        if key not in cache: cache[key] = torch.randn(n, n).to(dt)\n"
    "        x = cache[key]\n"
    "        f = (lambda: x.t().contiguous()) if w[3] == 'same' else \\\n"
    "            (lambda: x.t().to(dts[w[3]], memory_format=torch.contiguous_format))\n"
    "        inner = int(w[5])\n"
    "    else:\n"
    "        m = int(w[3]); key = ('l', w[2], m)\n"
    "        if key not in cache: cache[key] = (torch.randn(m, 4096).to(dt), "
    "torch.randn(4096, 4096).to(dt))\n"
    "        x, wt = cache[key]\n"
    "        f = lambda: F.linear(x, wt)\n"
    "        inner = int(w[4])\n"
    "    f()\n"
    "    t0 = time.perf_counter()\n"
    "    for _ in range(inner): f()\n"
    "    print(json.dumps({'seconds': (time.perf_counter() - t0) / inner}), flush=True)\n";

static const char *dtype_word(born_dtype t) {
    return t == BORN_F16 ? "f16" : t == BORN_BF16 ? "bf16" : "f32";
}

/* Seconds per call: the transposed copy (to == the dtype) or conversion of x, or x w^T. */
static double born_seconds(born_tensor *x, born_tensor *w, born_dtype to) {
    double t0 = now();
    for (int i = 0; i < INNER; i++) {
        born_scope_begin();
        if (w)
            born_linear(x, w, NULL);
        else if (to == born_tensor_dtype(x))
            born_contiguous(born_transpose(x, 0, 1));
        else
            born_to_dtype(born_transpose(x, 0, 1), to);
        born_scope_end();
    }
    return (now() - t0) / INNER;
}

/* One row of the table: Born and torch in turns, medians; `unit_scale` turns seconds into the
 * unit printed (ns an element, or ms). */
static void row(python_peer *torch, bool have_torch, const char *name, const char *cmd,
                born_tensor *x, born_tensor *w, born_dtype to, double unit_scale) {
    born_seconds(x, w, to);
    bool peer = have_torch && python_peer_ask(torch, cmd, "seconds") > 0;
    double tb[REPS], tt[REPS], ratio[REPS];
    for (int r = 0; r < REPS; r++) {
        tb[r] = born_seconds(x, w, to);
        tt[r] = peer ? python_peer_ask(torch, cmd, "seconds") : 0;
        ratio[r] = tt[r] / tb[r];
    }
    printf("%-34s %10.3f %10.3f %8.2f\n", name, median(tb, REPS) * unit_scale,
           median(tt, REPS) * unit_scale, median(ratio, REPS));
    fflush(stdout);
}

int main(int argc, char **argv) {
    born_init();
    born_manual_seed(0);
    python_peer torch;
    bool have_torch = python_peer_start(&torch, torch_script, "");
    printf("medians of %d turns; PyTorch %s; ratio = torch / Born (> 1: Born faster)\n", REPS,
           have_torch ? torch.version : "not found");
    int nthreads = argc > 1 ? argc - 1 : 1;
    static const born_dtype dts[3] = {BORN_F32, BORN_F16, BORN_BF16};
    for (int ti = 0; ti < nthreads; ti++) {
        int threads = argc > 1 ? atoi(argv[1 + ti]) : 1;
        born_set_num_threads(threads);
        printf("\n%d thread(s)\n%-34s %10s %10s %8s\n", threads, "transposed n x n (ns/element)",
               "Born", "torch", "ratio");
        static const int64_t sizes[3] = {1000, 1024, 4096};
        for (int s = 0; s < 3; s++)
            for (int d = 0; d < 3; d++)
                for (int conv = 0; conv < 2; conv++) {
                    born_dtype to = conv ? (d == 0 ? BORN_F16 : BORN_F32) : dts[d];
                    int64_t n = sizes[s];
                    born_tensor *x =
                        born_to_dtype(born_randn(NULL, BORN_F32, BORN_DIMS(n, n)), dts[d]);
                    char name[64], cmd[64];
                    snprintf(name, sizeof name, "%lld^2 %s %s %s", (long long)n, dtype_word(dts[d]),
                             conv ? "->" : "copy", conv ? dtype_word(to) : "");
                    snprintf(cmd, sizeof cmd, "transpose %d %s %s %lld %d", threads,
                             dtype_word(dts[d]), conv ? dtype_word(to) : "same", (long long)n,
                             INNER);
                    row(&torch, have_torch, name, cmd, x, NULL, to, 1e9 / (double)(n * n));
                    born_free(x);
                }
        printf("\n%-34s %10s %10s %8s\n", "x[m,4096] W[4096,4096]^T (ms)", "Born", "torch",
               "ratio");
        static const int64_t ms[3] = {1, 8, 64};
        for (int d = 0; d < 3; d++) {
            born_tensor *w = born_to_dtype(born_randn(NULL, BORN_F32, BORN_DIMS(N, K)), dts[d]);
            for (int mi = 0; mi < 3; mi++) {
                born_tensor *x =
                    born_to_dtype(born_randn(NULL, BORN_F32, BORN_DIMS(ms[mi], K)), dts[d]);
                char name[64], cmd[64];
                snprintf(name, sizeof name, "%s m = %lld", dtype_word(dts[d]), (long long)ms[mi]);
                snprintf(cmd, sizeof cmd, "linear %d %s %lld %d", threads, dtype_word(dts[d]),
                         (long long)ms[mi], INNER);
                row(&torch, have_torch, name, cmd, x, w, dts[d], 1e3);
                born_free(x);
            }
            born_free(w);
        }
    }
    if (have_torch) python_peer_stop(&torch);
    return 0;
}
