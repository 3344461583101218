/* Internal: unary ops on f16 and bf16 tensors by lookup. A half has 65,536 bit patterns, so an op
 * that costs dozens of vector instructions a value in f32 (GELU, SiLU, exp, tanh, ...) is, for
 * halves, one table of its 65,536 results: a 128 KB table whose used part (activations span a few
 * binades) stays in L1, read by 16-lane gathers at ~0.2 ns a value against ~0.9 for GELU-tanh
 * computed (2-core Xeon, 2026-12-03).
 *
 * A table is built at first use by the op's own f32 loop at the CPU level in force (cpu_unary's
 * half path: each half widened, the loop, the result rounded back), so a lookup gives the bits
 * cpu_unary gives for that input, NaN inputs included where the input is contiguous. Tables are
 * kept per level, op and dtype for the life of the process. Gradients of the form g d(x) (GELU,
 * GELU-tanh, SiLU) or g d(y) (tanh, sigmoid) keep d as f32 (256 KB): grad_in = g d rounded, the
 * bits of the fused backward loop. */
#ifndef BORN_CPU_HALF_TABLE_H
#define BORN_CPU_HALF_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "born/ops.h"

/* Halves in a run from which cpu_unary and cpu_unary_backward use the tables (a table's build
 * costs about one op over 65,536 values, once). */
enum { CPU_HALF_TABLE_MIN = 16384 };

/* The op's results for every half of the dtype (bf16 where bf16, else f16), indexed by the
 * input's bits; NULL when the op has no table (it takes parameters, or is cheap to compute), when
 * the level's gathers are slowed (the kernel's Gather Data Sampling mitigation) or memory is
 * short (no error recorded: the caller computes instead). */
const uint16_t *cpu_half_table(born_unary_op op, bool bf16);

/* d of the op's gradient g d for every half, as f32, indexed by the bits of x (or of the forward's
 * output y where *on_y is set); NULL as cpu_half_table. */
const float *cpu_half_grad_table(born_unary_op op, bool bf16, bool *on_y);

/* Whether a line of /sys/devices/system/cpu/vulnerabilities/gather_data_sampling reports the
 * microcode mitigation (which makes each gather several times slower): then the AVX2 and AVX-512
 * levels compute instead of looking up. */
bool cpu_gds_slows_gathers(const char *status);

/* For the tests: 1 or 0 takes the place of the kernel's report from now on, -1 asks it again. */
void cpu_half_table_force_gathers_slowed(int slowed);

/* out[i] = table[in[i]] for i < n, halves in and out step bytes apart (2: contiguous, taken by
 * gathers where the level has them). */
void cpu_half_lookup(const uint16_t *table, const char *in, int64_t in_step, char *out,
                     int64_t out_step, int64_t n);

/* g[i] *= d[keys[i]] for i < n (keys contiguous halves): the gradient's product in f32. */
void cpu_half_grad_mul(const float *d, const uint16_t *keys, float *g, int64_t n);

#if defined(__x86_64__)
/* The contiguous loops of the two above by AVX-512 and AVX2 gathers (half_table_avx512.c,
 * half_table_avx2.c); each returns how many values it did (a multiple of its lane count). */
int64_t cpu_half_lookup_avx512(const uint16_t *table, const uint16_t *in, uint16_t *out, int64_t n);
int64_t cpu_half_grad_mul_avx512(const float *d, const uint16_t *keys, float *g, int64_t n);
int64_t cpu_half_lookup_avx2(const uint16_t *table, const uint16_t *in, uint16_t *out, int64_t n);
int64_t cpu_half_grad_mul_avx2(const float *d, const uint16_t *keys, float *g, int64_t n);
#endif

#endif
