/* Internal: per-thread scratch buffers for the CPU kernels' workspace (packed panels, im2col
 * strips, attention tiles, partial sums, offset tables). Each buffer lives as long as its thread
 * and only grows, so a kernel called again with the same shapes allocates nothing: a training
 * step's kernels stop allocating after the first step, as the packing buffers of BLIS-style
 * libraries do.
 *
 * Every use has its own slot, since one thread holds several at once: an operation's buffers
 * taken on the calling thread stay in use while its parallel tasks run, some of them on that
 * same thread with their own buffers, and a convolution's tasks call the GEMM with its own. */
#ifndef BORN_CPU_SCRATCH_H
#define BORN_CPU_SCRATCH_H

#include <stddef.h>
#include <stdint.h>

typedef enum cpu_scratch_slot {
    /* gemm.c: packed A and B blocks, the next B block, a packed x (GEMV), row sums; the AMX
     * GEMM (gemm_bf16_amx.c) takes A, B and B2 for its packed tails, Q panels and P blocks and
     * Y for a task's f32 sums between k sub-blocks */
    CPU_SCRATCH_GEMM_A = 0,
    CPU_SCRATCH_GEMM_B,
    CPU_SCRATCH_GEMM_B2,
    CPU_SCRATCH_GEMM_X,
    CPU_SCRATCH_GEMM_Y,
    /* conv.c, taken by the calling thread for the whole call: offset tables, packed weights,
     * the weight gradient's per-chunk partial sums */
    CPU_SCRATCH_CONV_TABLES,
    CPU_SCRATCH_CONV_WEIGHTS,
    CPU_SCRATCH_CONV_PARTIALS,
    /* conv.c, taken by one task for its own run */
    CPU_SCRATCH_CONV_TASK_A,
    CPU_SCRATCH_CONV_TASK_B,
    /* conv.c: a task's images padded, or its input gradients before they are cropped */
    CPU_SCRATCH_CONV_PAD,
    /* conv_avx2.c: a direct kernel's runs of positions; conv_neon.c: its tap rows and weights
     * (per kernel call, inside a task) */
    CPU_SCRATCH_CONV_RUNS,
    /* softmax.c: one task's rows (the portable loop's f64 copies, the streamed rows' exps) */
    CPU_SCRATCH_SOFTMAX_ROWS,
    /* attention: one task's tiles and panels; the backward's per-row dot products (per call) */
    CPU_SCRATCH_ATTN_TASK,
    CPU_SCRATCH_ATTN_ROWS,
    /* attention_bf16_{fwd,bwd}_avx512.c: one thread's keys and values packed for the tiles, kept
     * across its tasks of one call (each kernel tags them with its own call numbers) */
    CPU_SCRATCH_ATTN_KV,
    /* per call: the row norms' parameter-gradient blocks, a column reduction's partial sums, a
     * whole reduction's block results */
    CPU_SCRATCH_NORM_PARTIALS,
    CPU_SCRATCH_REDUCE_COLUMNS,
    CPU_SCRATCH_REDUCE_BLOCKS,
    /* reduce.c: a task's runs or rows of f16/bf16 input converted to f32 (per task) */
    CPU_SCRATCH_REDUCE_HALVES,
    CPU_SCRATCH_SLOTS
} cpu_scratch_slot;

/* This thread's buffer for slot: at least bytes long, 64-byte aligned (2 MiB pages from 2 MiB
 * on, where the kernel gives them), contents undefined when it is new or has grown (asked again
 * for no more bytes than before, it is the same buffer, its contents kept). It stays valid until
 * this thread asks for the same slot again or exits; NULL if memory is short. */
void *cpu_scratch(cpu_scratch_slot slot, size_t bytes);

/* How many times, over all threads, a scratch buffer has been allocated or grown: a loop that
 * repeats its shapes leaves it unchanged after its first pass (tests/nn/test_steady_allocations.c). */
uint64_t cpu_scratch_growths(void);

#endif
