/* Internal: the table of the AVX-512 gelu (erf) kernel (vmath_avx512.h, v16_gelu).
 *
 * h(t) = Phi(-t) exp(t^2 / 2) on [0, 15), as 16 polynomials of degree CPU_GELU_DEGREE in
 * s = t - centre, one per interval of t + 1 (four per binade: [0, 0.25), ..., [1, 1.5), ...,
 * [11, 13), [13, 15)). An interval's slot is bits 21-24 of the f32 t + 1, so a 16-lane permute
 * by (bits(t + 1) >> 21) fetches each lane's entry. Row 0 holds the centres, row k + 1 the
 * coefficient of s^k. tools/gen_gelu_table.py fits it and writes gelu_table.c. */
#ifndef BORN_CPU_GELU_TABLE_H
#define BORN_CPU_GELU_TABLE_H

#define CPU_GELU_DEGREE 5
#define CPU_GELU_TABLE_ROWS (CPU_GELU_DEGREE + 2)

extern const float cpu_gelu_table[CPU_GELU_TABLE_ROWS][16];

#endif
