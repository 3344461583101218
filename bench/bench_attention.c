/* Attention against PyTorch in the same run: born_scaled_dot_product_attention (the flash
 * kernel) and torch.nn.functional.scaled_dot_product_attention on the CPU, f32, causal,
 * B = 1, H = 4, T = 512 ... 8192, head size 64 and 128, with 1 and 2 threads; forward (no
 * grad) and forward + backward. PyTorch runs in a child process (bench/bench_attention.py
 * --serve) with the same threads, and the repetitions are interleaved (Born, PyTorch, Born, ...)
 * so that a change in the machine's load hits both alike; the figures are medians.
 *
 *   ./build/bench/bench_attention [--no-torch] [--min-t T] [--max-t T] [--d D] [--fwd-only]
 *                                 [--reps N] [--cpu] [--bq N] [--bkv N] [--bf16] [threads...]
 *                                 (from the repo root; --bf16: q, k, v and the gradient in bf16 on
 *                                 both sides)
 *
 * --cpu reports process CPU time instead of wall-clock time (on one thread: the time the thread
 * actually ran, which a loaded machine does not inflate by time-slicing). --bq and --bkv set
 * Born's tile sizes (block_q x block_kv; default: the kernel's choice). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "born/born.h"
#include "bench_util.h"

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct {
    born_tensor *q, *k, *v, *g;
} born_case;

static born_case born_case_new(int64_t b, int64_t h, int64_t t, int64_t d, born_dtype dt) {
    born_case c;
    c.q = born_requires_grad(born_randn(NULL, dt, BORN_DIMS(b, h, t, d)), true);
    c.k = born_requires_grad(born_randn(NULL, dt, BORN_DIMS(b, h, t, d)), true);
    c.v = born_requires_grad(born_randn(NULL, dt, BORN_DIMS(b, h, t, d)), true);
    c.g = born_randn(NULL, dt, BORN_DIMS(b, h, t, d));
    return c;
}

static void born_case_free(born_case *c) {
    born_free(c->q);
    born_free(c->k);
    born_free(c->v);
    born_free(c->g);
}

/* One forward (backward = false, no graph) or forward + backward; wall and CPU seconds. */
static int64_t g_bq, g_bkv; /* --bq / --bkv: the flash kernel's tiles (0: its choice) */

static void born_once(born_case *c, bool backward, double *wall, double *cpu) {
    born_sdpa_params p = born_sdpa_default_params();
    p.is_causal = true;
    p.block_q = g_bq;
    p.block_kv = g_bkv;
    born_scope_begin();
    if (!backward) born_no_grad_begin();
    double w = now(), u = cpu_now();
    born_tensor *o = born_scaled_dot_product_attention(c->q, c->k, c->v, NULL, &p);
    if (!o) {
        fprintf(stderr, "bench_attention: %s\n", born_last_error());
        exit(1);
    }
    if (backward) {
        born_backward_params bp = born_backward_default_params();
        bp.grad = c->g;
        born_backward_ex(o, &bp);
    }
    *wall = now() - w;
    *cpu = cpu_now() - u;
    if (!backward) born_no_grad_end();
    born_scope_end();
    born_zero_grad(c->q);
    born_zero_grad(c->k);
    born_zero_grad(c->v);
}

/* The PyTorch child: its stdin and stdout. */
typedef struct {
    FILE *to, *from;
    pid_t pid;
} torch_peer;

static bool torch_start(torch_peer *p, int64_t b, int64_t h, int64_t t, int64_t d, int threads,
                        bool bf16) {
    int in[2], out[2];
    if (pipe(in) || pipe(out)) return false;
    char args[6][32];
    long long v[6] = {b, h, t, d, threads, 1};
    for (int i = 0; i < 6; i++) snprintf(args[i], sizeof args[i], "%lld", v[i]);
    const char *dtype = bf16 ? "bf16" : "f32";
    p->pid = fork();
    if (p->pid < 0) return false;
    if (p->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
        execlp("python3", "python3", "bench/bench_attention.py", "--serve", args[0], args[1], args[2],
               args[3], args[4], args[5], dtype, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    p->to = fdopen(in[1], "w");
    p->from = fdopen(out[0], "r");
    char line[64];
    if (!p->to || !p->from || !fgets(line, sizeof line, p->from) || strncmp(line, "ready", 5)) {
        if (p->to) fclose(p->to);
        if (p->from) fclose(p->from);
        waitpid(p->pid, NULL, 0);
        return false;
    }
    return true;
}

static bool torch_once(torch_peer *p, bool backward, double *wall, double *cpu) {
    fprintf(p->to, "%s\n", backward ? "b" : "f");
    fflush(p->to);
    return fscanf(p->from, "%lf %lf", wall, cpu) == 2;
}

static void torch_stop(torch_peer *p) {
    fclose(p->to);
    fclose(p->from);
    waitpid(p->pid, NULL, 0);
}

int main(int argc, char **argv) {
    bool torch = true, fwd_only = false, use_cpu = false, bf16 = false;
    int64_t min_t = 512, max_t = 8192, only_d = 0;
    int reps_arg = 0, threads[8], nthreads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--no-torch")) torch = false;
        else if (!strcmp(argv[i], "--fwd-only")) fwd_only = true;
        else if (!strcmp(argv[i], "--cpu")) use_cpu = true;
        else if (!strcmp(argv[i], "--bf16")) bf16 = true;
        else if (!strcmp(argv[i], "--max-t") && i + 1 < argc) max_t = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--min-t") && i + 1 < argc) min_t = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--d") && i + 1 < argc) only_d = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps_arg = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--bq") && i + 1 < argc) g_bq = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--bkv") && i + 1 < argc) g_bkv = atoll(argv[++i]);
        else if (nthreads < 8) threads[nthreads++] = atoi(argv[i]);
    }
    if (!nthreads) {
        threads[0] = 1;
        threads[1] = 2;
        nthreads = 2;
    }
    signal(SIGPIPE, SIG_IGN);
    const int64_t b = 1, h = 4;
    printf("causal attention, %s, B = %lld, H = %lld; milliseconds of %s (median of interleaved "
           "runs); ratio = torch / born\n",
           bf16 ? "bf16" : "f32", (long long)b, (long long)h,
           use_cpu ? "process CPU time" : "wall-clock time");
    printf("%7s %4s %5s | %10s %10s %6s | %10s %10s %6s\n", "threads", "d", "T", "born fwd", "torch fwd",
           "ratio", "born f+b", "torch f+b", "ratio");
    for (int ti = 0; ti < nthreads; ti++) {
        born_set_num_threads(threads[ti]);
        for (int64_t d = 64; d <= 128; d *= 2) {
            if (only_d && d != only_d) continue;
            for (int64_t t = min_t; t <= max_t; t *= 4) {
                int reps = reps_arg > 0 ? reps_arg : (t >= 8192 ? 3 : 5);
                if (reps > 64) reps = 64;
                born_case c = born_case_new(b, h, t, d, bf16 ? BORN_BF16 : BORN_F32);
                torch_peer peer;
                bool have = torch && torch_start(&peer, b, h, t, d, threads[ti], bf16);
                double med[4] = {0, 0, 0, 0}; /* born fwd, torch fwd, born f+b, torch f+b */
                for (int pass = 0; pass < (fwd_only ? 1 : 2); pass++) {
                    bool bw = pass == 1;
                    double bs[64], ts[64], w, u;
                    born_once(&c, bw, &w, &u); /* warm-up */
                    for (int r = 0; r < reps; r++) {
                        born_once(&c, bw, &w, &u);
                        bs[r] = use_cpu ? u : w;
                        if (have) {
                            if (!torch_once(&peer, bw, &w, &u)) have = false;
                            ts[r] = use_cpu ? u : w;
                        }
                    }
                    med[2 * pass] = median(bs, reps);
                    if (have) med[2 * pass + 1] = median(ts, reps);
                }
                if (have) torch_stop(&peer);
                born_case_free(&c);
                char cell[4][16];
                for (int i = 0; i < 4; i++) {
                    if (med[i] > 0) snprintf(cell[i], sizeof cell[i], "%.2f", med[i] * 1e3);
                    else snprintf(cell[i], sizeof cell[i], "-");
                }
                char r0[16] = "-", r1[16] = "-";
                if (med[0] > 0 && med[1] > 0) snprintf(r0, sizeof r0, "%.2f", med[1] / med[0]);
                if (med[2] > 0 && med[3] > 0) snprintf(r1, sizeof r1, "%.2f", med[3] / med[2]);
                printf("%7d %4lld %5lld | %10s %10s %6s | %10s %10s %6s\n", threads[ti], (long long)d,
                       (long long)t, cell[0], cell[1], r0, cell[2], cell[3], r1);
                fflush(stdout);
            }
        }
    }
    return 0;
}
