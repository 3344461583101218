/* The elementwise engine: coalesce dimensions, then hand inner runs to a loop function. */
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/iter.h"

/* A tile (run_tiles): CPU_ITER_TILE_L elements along the last dimension by as many along the
 * other as fill a cache line of the operand that is close-packed there (at least 4, at most 64). */
enum { CPU_ITER_TILE_L = 256, CPU_ITER_LINE = 64 };

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
    /* the dimensions in the output's order in memory (its strides descending), so that operands
     * laid out alike walk their memory in order whatever their shapes say (a transposed view
     * converted into a transposed copy is one contiguous run, not a transposition); an output
     * with a broadcast (zero) stride keeps the shape's order */
    bool sortable = true;
    for (int d = 0; d < nd; d++)
        if (p->step[0][d] == 0) sortable = false;
    for (int i = 1; sortable && i < nd; i++)
        for (int j = i; j > 0 && llabs(p->step[0][j - 1]) < llabs(p->step[0][j]); j--) {
            int64_t t = p->shape[j];
            p->shape[j] = p->shape[j - 1];
            p->shape[j - 1] = t;
            for (int k = 0; k < p->nops; k++) {
                t = p->step[k][j];
                p->step[k][j] = p->step[k][j - 1];
                p->step[k][j - 1] = t;
            }
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

/* ---- tiles, for operands laid out across each other (a transposition) ---------------------- */

/* The tiled walk: the last dimension and dimension f in tiles of tile_l x tile_f elements, so
 * that an operand that is strided along the last dimension but close-packed along f reads each
 * of its lines once, whole (tile_f of its elements fill one), and the tile's 256 lines stay in L1
 * between the tile's rows. Walking a transposed 4096 x 4096 f32 view row by row had cost 9-12 ns
 * an element (the source's lines 16 KB apart, all in one L1 set, evicted before the next row came
 * back to them); in tiles 2.1-2.4 (one thread, 2-core Xeon, 2026-12-03; PyTorch's
 * x.t().contiguous() 3.5), and sizes that had not aliased (1000^2: 0.6) come out the same or
 * better. Inner runs are still along the last dimension, starting at multiples of 256, a multiple
 * of every vector width, so a loop that groups a run's elements into vectors groups them as it
 * did for the whole row. */
typedef struct tile_plan {
    const iter_plan *p;
    cpu_tile_fn tile;             /* or NULL */
    int f;                        /* the dimension tiled with the last */
    int64_t tile_f, tile_l;       /* elements a tile along f and along the last */
    int64_t tiles_f, tiles_l;
} tile_plan;

/* The dimension to tile with the last, or -1: the one along which an operand that is strided by
 * a cache line or more along the last dimension is the most closely packed (its step there, in
 * bytes, into *step). */
static int crossed_dim(const iter_plan *p, int64_t *step) {
    int last = p->ndim - 1, best = -1;
    int64_t best_step = 0;
    for (int k = 0; k < p->nops; k++) {
        int64_t sl = p->step[k][last] < 0 ? -p->step[k][last] : p->step[k][last];
        if (sl < 64) continue;
        for (int d = 0; d < last; d++) {
            int64_t sd = p->step[k][d] < 0 ? -p->step[k][d] : p->step[k][d];
            if (sd > 0 && sd < sl && p->shape[d] > 1 && (best < 0 || sd < best_step)) {
                best = d;
                best_step = sd;
            }
        }
    }
    *step = best_step;
    return best;
}

/* Processes tiles [begin, end): tile t is (index over the other dimensions, tile along f, tile
 * along the last), the last fastest. */
static void run_tiles(int64_t begin, int64_t end, void *arg) {
    const tile_plan *tp = arg;
    const iter_plan *p = tp->p;
    int last = p->ndim - 1, f = tp->f;
    int64_t inner_step[CPU_ITER_MAX_OPERANDS], f_step[CPU_ITER_MAX_OPERANDS];
    for (int k = 0; k < p->nops; k++) {
        inner_step[k] = p->step[k][last];
        f_step[k] = p->step[k][f];
    }
    for (int64_t t = begin; t < end; t++) {
        int64_t tl = t % tp->tiles_l, rest = t / tp->tiles_l;
        int64_t tf = rest % tp->tiles_f, outer = rest / tp->tiles_f;
        char *base[CPU_ITER_MAX_OPERANDS];
        for (int k = 0; k < p->nops; k++) base[k] = p->base[k];
        for (int d = last - 1; d >= 0; d--) {
            if (d == f) continue;
            int64_t i = outer % p->shape[d];
            outer /= p->shape[d];
            for (int k = 0; k < p->nops; k++) base[k] += i * p->step[k][d];
        }
        int64_t f0 = tf * tp->tile_f, l0 = tl * tp->tile_l;
        int64_t nf = p->shape[f] - f0 < tp->tile_f ? p->shape[f] - f0 : tp->tile_f;
        int64_t nl = p->shape[last] - l0 < tp->tile_l ? p->shape[last] - l0 : tp->tile_l;
        if (tp->tile) {
            char *corner[CPU_ITER_MAX_OPERANDS];
            for (int k = 0; k < p->nops; k++)
                corner[k] = base[k] + f0 * p->step[k][f] + l0 * p->step[k][last];
            if (tp->tile(corner, inner_step, f_step, nl, nf, p->ctx)) continue;
        }
        for (int64_t i = f0; i < f0 + nf; i++) {
            char *ptr[CPU_ITER_MAX_OPERANDS];
            for (int k = 0; k < p->nops; k++)
                ptr[k] = base[k] + i * p->step[k][f] + l0 * p->step[k][last];
            p->loop(ptr, inner_step, nl, p->ctx);
        }
    }
}

void cpu_iter_run(int nops, const born_strided *const *ops, cpu_loop_fn loop, void *ctx,
                  int64_t grain) {
    cpu_iter_run_tiled(nops, ops, loop, NULL, ctx, grain);
}

void cpu_iter_run_tiled(int nops, const born_strided *const *ops, cpu_loop_fn loop,
                        cpu_tile_fn tile, void *ctx, int64_t grain) {
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
    if (grain <= 0) grain = CPU_ITER_GRAIN;
    int64_t step = 0;
    int f = p.ndim >= 2 ? crossed_dim(&p, &step) : -1;
    if (f >= 0) {
        int64_t tile_f = CPU_ITER_LINE / step;
        tile_plan tp = {&p, tile, f, tile_f < 4 ? 4 : tile_f > 64 ? 64 : tile_f, CPU_ITER_TILE_L,
                        0, 0};
        int last = p.ndim - 1;
        tp.tiles_f = (p.shape[f] + tp.tile_f - 1) / tp.tile_f;
        tp.tiles_l = (p.shape[last] + tp.tile_l - 1) / tp.tile_l;
        int64_t tiles = numel / (p.shape[f] * p.shape[last]) * tp.tiles_f * tp.tiles_l;
        int64_t per = grain / (tp.tile_f * tp.tile_l); /* whole tiles a chunk: the same runs at
                                                          any thread count */
        born_parallel_for(tiles, per > 0 ? per : 1, run_tiles, &tp);
        return;
    }
    born_parallel_for(numel, grain, run_range, &p);
}
