/* Internal: the tables of the AVX-512 gelu (erf) kernels (vmath_avx512.h, v16_gelu and
 * v16_gelu_grad).
 *
 * cpu_gelu_table: h(t) = Phi(-t) exp(t^2 / 2) on [0, 15), as 16 polynomials of degree
 * CPU_GELU_DEGREE in s = t - centre, one per interval of t + 1 (four per binade: [0, 0.25), ...,
 * [1, 1.5), ..., [11, 13), [13, 15)). An interval's slot is bits 21-24 of the f32 t + 1, so a
 * 16-lane permute by (bits(t + 1) >> 21) fetches each lane's entry. Row 0 holds the centres, row
 * k + 1 the coefficient of s^k.
 *
 * cpu_gelu_near_table: the near path's (t < 4) Phi(-t) and Phi(-t) - t phi(t) (the gradient at
 * x = -t) themselves, no exponential, as polynomials of the same degree in s = t - centre on the
 * 16 intervals of q = t (t / 2 + 2) in [j, j + 1) (t in [0, 0.45), ..., [3.87, 4)); slot j is the
 * low four bits of bits(q + 16) >> 19. Row 0 holds the centres, row k + 1 Phi(-t)'s coefficient
 * of s^k, row k + CPU_GELU_DEGREE + 2 that of Phi(-t) - t phi(t). tools/gen_gelu_table.py fits both and writes gelu_table.c. */
#ifndef BORN_CPU_GELU_TABLE_H
#define BORN_CPU_GELU_TABLE_H

#define CPU_GELU_DEGREE 5
#define CPU_GELU_TABLE_ROWS (CPU_GELU_DEGREE + 2)
#define CPU_GELU_NEAR_ROWS (2 * CPU_GELU_DEGREE + 3)

extern const float cpu_gelu_table[CPU_GELU_TABLE_ROWS][16];
extern const float cpu_gelu_near_table[CPU_GELU_NEAR_ROWS][16];

#endif
