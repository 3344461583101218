/* The elementwise and reduction ops of a transformer's MLP under bf16 autocast against PyTorch's
 * in the same run: gelu (tanh form) over the hidden activations and their sum over the tokens (a
 * bias gradient), [2048, 1536] in f32 and in bf16, and the residual add of an f32 stream and a
 * bf16 branch (f32 + bf16 into f32), Born's public ops beside the same torch calls
 * (a python3 child, bench/python_peer.h), timed in turns, medians of 7, at each thread count
 * given.
 *
 *   ./build/bench/bench_half_ops [threads...] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "born/born.h"
#include "python_peer.h"

enum { REPS = 7, ROWS = 2048, COLS = 1536, INNER = 20 };

/* "OP THREADS DTYPE INNER" answers the seconds per torch call over INNER calls. */
static const char *const torch_script =
    "import json, sys, time\n"
    "import torch\n"
    "import torch.nn.functional as F\n"
    "print(json.dumps({'ready': torch.__version__}), flush=True)\n"
    "xs = {}\n"
    "for line in sys.stdin:\n"
    "    w = line.split()\n"
    "    if not w or w[0] == 'quit': break\n"
    "    op, t, dt, inner = w[0], int(w[1]), w[2], int(w[3]); torch.set_num_threads(t)\n"
    "    if dt not in xs: xs[dt] = torch.randn(2048, 1536).to(torch.bfloat16 if dt == 'bf16' else "
    "torch.float32)\n"
    "    x = xs[dt]\n"
    "    if 'f32' not in xs: xs['f32'] = torch.randn(2048, 1536)\n"
    "    f = {'gelu': lambda: F.gelu(x, approximate='tanh'), 'sum0': lambda: x.sum(0),\n"
    "         'add': lambda: xs['f32'] + x}[op]\n"
    "    f()\n"
    "    t0 = time.perf_counter()\n"
    "    for _ in range(inner): f()\n"
    "    print(json.dumps({'seconds': (time.perf_counter() - t0) / inner}), flush=True)\n";

enum op { GELU, SUM0, ADD };

/* Seconds per call of op on x (add: stream + x). */
static double born_seconds(enum op op, born_tensor *x, born_tensor *stream) {
    double t0 = now();
    for (int i = 0; i < INNER; i++) {
        born_scope_begin();
        if (op == GELU)
            born_gelu_tanh(x);
        else if (op == SUM0)
            born_sum(x, 1, (int64_t[]){0}, false);
        else
            born_add(stream, x);
        born_scope_end();
    }
    return (now() - t0) / INNER;
}

int main(int argc, char **argv) {
    born_init();
    born_manual_seed(0);
    python_peer torch;
    bool have_torch = python_peer_start(&torch, torch_script, "");
    printf("[%d, %d] ops, milliseconds (medians of %d turns); PyTorch %s; ratio = torch / Born\n",
           ROWS, COLS, REPS, have_torch ? torch.version : "not found");
    int nthreads = argc > 1 ? argc - 1 : 1;
    for (int ti = 0; ti < nthreads; ti++) {
        int threads = argc > 1 ? atoi(argv[1 + ti]) : 1;
        born_set_num_threads(threads);
        printf("\n%d thread(s)\n%-22s %10s %10s %8s\n", threads, "op", "Born", "torch", "ratio");
        born_tensor *stream = born_randn(NULL, BORN_F32, BORN_DIMS(ROWS, COLS));
        static const char *const names[3] = {"gelu", "sum0", "add"};
        for (int op = GELU; op <= ADD; op++)
            for (int h = op == ADD ? 1 : 0; h < 2; h++) {
                bool bf16 = h == 1;
                born_tensor *x =
                    born_randn(NULL, bf16 ? BORN_BF16 : BORN_F32, BORN_DIMS(ROWS, COLS));
                char cmd[64];
                snprintf(cmd, sizeof cmd, "%s %d %s %d", names[op], threads, bf16 ? "bf16" : "f32",
                         INNER);
                born_seconds((enum op)op, x, stream);
                bool peer = have_torch && python_peer_ask(&torch, cmd, "seconds") > 0;
                double tb[REPS], tt[REPS], ratio[REPS];
                for (int r = 0; r < REPS; r++) {
                    tb[r] = born_seconds((enum op)op, x, stream);
                    tt[r] = peer ? python_peer_ask(&torch, cmd, "seconds") : 0;
                    ratio[r] = tt[r] / tb[r];
                }
                char name[32];
                if (op == ADD)
                    snprintf(name, sizeof name, "f32 + bf16");
                else
                    snprintf(name, sizeof name, "%s %s", op == GELU ? "gelu_tanh" : "sum over rows",
                             bf16 ? "bf16" : "f32");
                printf("%-22s %10.3f %10.3f %8.2f\n", name, median(tb, REPS) * 1e3,
                       median(tt, REPS) * 1e3, median(ratio, REPS));
                fflush(stdout);
                born_free(x);
            }
        born_free(stream);
    }
    if (have_torch) python_peer_stop(&torch);
    return 0;
}
