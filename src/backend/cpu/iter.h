/* Internal: the CPU's elementwise engine, in the manner of NumPy's ufunc inner loops. An inner
 * loop handles n elements along one dimension; the engine walks the other dimensions, merges
 * dimensions that are laid out back to back, and splits large jobs across the thread pool. */
#ifndef BORN_CPU_ITER_H
#define BORN_CPU_ITER_H

#include "backend/backend.h"

enum { CPU_ITER_MAX_OPERANDS = 4 };

/* One run of n elements: data[i] is operand i's first element, steps[i] its stride in bytes. */
typedef void (*cpu_loop_fn)(char **data, const int64_t *steps, int64_t n, void *ctx);

/* Runs loop over every element of the operands, which share ops[0]'s shape (broadcast operands
 * have zero strides). grain is the number of elements per parallel chunk (0 for the default). */
void cpu_iter_run(int nops, const born_strided *const *ops, cpu_loop_fn loop, void *ctx,
                  int64_t grain);

/* One tile of operands laid out across each other (iter.c's tiled walk): data[i] is operand i's
 * first element of the tile, steps_l[i] and steps_f[i] its strides in bytes along the last
 * dimension and along the tiled one, nl x nf elements. Returns false to have the engine walk the
 * tile's rows with the loop instead. */
typedef bool (*cpu_tile_fn)(char **data, const int64_t *steps_l, const int64_t *steps_f,
                            int64_t nl, int64_t nf, void *ctx);

/* cpu_iter_run, handing whole tiles to tile (when not NULL) where it walks in tiles. */
void cpu_iter_run_tiled(int nops, const born_strided *const *ops, cpu_loop_fn loop,
                        cpu_tile_fn tile, void *ctx, int64_t grain);

/* Default elements per chunk for cheap elementwise work: 64K elements, some 20-40 us. A smaller
 * chunk costs more to hand to a pool thread than it saves (on a loaded machine a woken worker can
 * be preempted holding a chunk, and the caller waits a scheduler slice: PaddleOCR cls at load 14
 * took 40 ms instead of 3 with two threads over its two 38400-element products). */
enum { CPU_ITER_GRAIN = 65536 };

#endif
