/* The elementwise engine: coalesce dimensions, then hand inner runs to a loop function. */
#include <string.h>

#include "backend/cpu/iter.h"

typedef struct iter_plan {
    int nops, ndim;
    cpu_loop_fn loop;
    void *ctx;
    char *base[CPU_ITER_MAX_OPERANDS];
    int64_t shape[BORN_MAX_DIMS];
    int64_t step[CPU_ITER_MAX_OPERANDS][BORN_MAX_DIMS]; /* bytes */
} iter_plan;

/* Drops size-1 dimensions and merges neighbours that every operand walks contiguously. */
static void coalesce(iter_plan *p, const born_strided *const *ops) {
    int nd = 0;
    for (int d = 0; d < ops[0]->ndim; d++) {
        if (ops[0]->shape[d] == 1) continue;
        p->shape[nd] = ops[0]->shape[d];
        for (int k = 0; k < p->nops; k++)
            p->step[k][nd] = ops[k]->strides[d] * (int64_t)born_dtype_size(ops[k]->dtype);
        nd++;
    }
    /* merge dimension i into i+1 when stride[i] == stride[i+1] * shape[i+1] for all operands */
    int out = 0;
    for (int d = 0; d < nd; d++) {
        if (out > 0) {
            bool mergeable = true;
            for (int k = 0; k < p->nops; k++)
                if (p->step[k][out - 1] != p->step[k][d] * p->shape[d]) mergeable = false;
            if (mergeable) {
                p->shape[out - 1] *= p->shape[d];
                for (int k = 0; k < p->nops; k++) p->step[k][out - 1] = p->step[k][d];
                continue;
            }
        }
        p->shape[out] = p->shape[d];
        for (int k = 0; k < p->nops; k++) p->step[k][out] = p->step[k][d];
        out++;
    }
    if (out == 0) { /* a single element */
        p->shape[0] = 1;
        for (int k = 0; k < p->nops; k++) p->step[k][0] = 0;
        out = 1;
    }
    p->ndim = out;
}

/* Processes the elements with linear indices [begin, end). */
static void run_range(int64_t begin, int64_t end, void *arg) {
    const iter_plan *p = arg;
    int nd = p->ndim, last = nd - 1;
    int64_t idx[BORN_MAX_DIMS];
    int64_t rem = begin;
    for (int d = last; d >= 0; d--) {
        idx[d] = rem % p->shape[d];
        rem /= p->shape[d];
    }
    char *ptr[CPU_ITER_MAX_OPERANDS];
    int64_t inner_step[CPU_ITER_MAX_OPERANDS];
    for (int k = 0; k < p->nops; k++) {
        ptr[k] = p->base[k];
        for (int d = 0; d < nd; d++) ptr[k] += idx[d] * p->step[k][d];
        inner_step[k] = p->step[k][last];
    }
    int64_t todo = end - begin;
    while (todo > 0) {
        int64_t n = p->shape[last] - idx[last];
        if (n > todo) n = todo;
        p->loop(ptr, inner_step, n, p->ctx);
        todo -= n;
        if (todo == 0) break;
        /* advance by n along the last dimension, carrying into the outer ones */
        idx[last] += n;
        for (int k = 0; k < p->nops; k++) ptr[k] += n * p->step[k][last];
        for (int d = last; d > 0 && idx[d] == p->shape[d]; d--) {
            idx[d] = 0;
            idx[d - 1]++;
            for (int k = 0; k < p->nops; k++)
                ptr[k] += p->step[k][d - 1] - p->shape[d] * p->step[k][d];
        }
    }
}

void cpu_iter_run(int nops, const born_strided *const *ops, cpu_loop_fn loop, void *ctx,
                  int64_t grain) {
    iter_plan p;
    memset(&p, 0, sizeof p);
    p.nops = nops;
    p.loop = loop;
    p.ctx = ctx;
    for (int k = 0; k < nops; k++) p.base[k] = ops[k]->data;
    int64_t numel = 1;
    for (int d = 0; d < ops[0]->ndim; d++) numel *= ops[0]->shape[d];
    if (numel == 0) return;
    coalesce(&p, ops);
    born_parallel_for(numel, grain > 0 ? grain : CPU_ITER_GRAIN, run_range, &p);
}
