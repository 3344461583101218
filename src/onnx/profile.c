/* BORN_ONNX_PROFILE=1: the executor times each step of each plan (wall time, so the steps of a
 * run add up to its latency; BORN_ONNX_PROFILE=cpu: the calling thread's CPU time instead, which
 * a loaded machine disturbs less, but which leaves out the pool's other threads), and each plan
 * prints its table when it is freed -- step by step in plan order (to set beside onnxruntime's
 * own profile), then the totals by op type. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>

#include "onnx/plan.h"

/* 0: off, 1: wall time, 2: CPU time; read once (pthread_once: plans may run on several threads). */
static int prof_state;
static pthread_once_t prof_once = PTHREAD_ONCE_INIT;

static void prof_read_env(void) {
    const char *e = getenv("BORN_ONNX_PROFILE");
    prof_state = e && *e && strcmp(e, "0") != 0;
    if (prof_state && !strcmp(e, "cpu")) prof_state = 2;
}

bool onnx_prof_on(void) {
    pthread_once(&prof_once, prof_read_env);
    return prof_state > 0;
}

double onnx_prof_now(void) {
    struct timespec ts;
    clock_gettime(prof_state == 2 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct op_total {
    const char *op;
    double s;
    int steps;
} op_total;

static int by_time(const void *a, const void *b) {
    double x = ((const op_total *)a)->s, y = ((const op_total *)b)->s;
    return x < y ? 1 : x > y ? -1 : 0;
}

void onnx_prof_report(const onnx_plan *p) {
    double total = 0;
    int64_t runs = 0;
    for (int i = 0; i < p->nsteps; i++) {
        total += p->steps[i].prof_s;
        if (p->steps[i].prof_n > runs) runs = p->steps[i].prof_n;
    }
    if (runs == 0) return;
    op_total *ops = calloc((size_t)p->nsteps, sizeof *ops);
    int nops = 0;
    fprintf(stderr, "BORN_ONNX_PROFILE: %d steps, %lld runs, %.1f us per run\n", p->nsteps,
            (long long)runs, 1e6 * total / (double)runs);
    fprintf(stderr, "BORN_ONNX_PROFILE: %4s %-20s %-36s %-22s %9s %6s\n", "step", "op", "name",
            "output", "us/run", "%");
    for (int i = 0; i < p->nsteps; i++) {
        const plan_step *ps = &p->steps[i];
        if (!ps->prof_n) continue;
        char shape[64] = "";
        size_t at = 0;
        for (int d = 0; d < ps->prof_rank && at < sizeof shape - 24; d++)
            at += (size_t)snprintf(shape + at, sizeof shape - at, d ? "x%lld" : "%lld",
                                   (long long)ps->prof_dims[d]);
        const char *op = ps->node->op_type;
        fprintf(stderr, "BORN_ONNX_PROFILE: %4d %-20s %-36.36s %-22s %9.1f %6.2f\n", i, op,
                ps->node->name ? ps->node->name : "", shape, 1e6 * ps->prof_s / (double)ps->prof_n,
                total > 0 ? 100.0 * ps->prof_s / total : 0.0);
        if (!ops) continue;
        int k = 0;
        while (k < nops && strcmp(ops[k].op, op)) k++;
        if (k == nops) ops[nops++] = (op_total){op, 0, 0};
        ops[k].s += ps->prof_s / (double)ps->prof_n;
        ops[k].steps++;
    }
    if (ops) {
        qsort(ops, (size_t)nops, sizeof *ops, by_time);
        double per_run = total / (double)runs;
        for (int k = 0; k < nops; k++)
            fprintf(stderr, "BORN_ONNX_PROFILE: total %-20s %4d steps %9.1f us/run %6.2f\n",
                    ops[k].op, ops[k].steps, 1e6 * ops[k].s,
                    per_run > 0 ? 100.0 * ops[k].s / per_run : 0.0);
        free(ops);
    }
}
