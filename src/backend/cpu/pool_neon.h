/* Internal: the arm64 NEON pooling kernels (pool_neon.c), the twins of pool_avx2.c's (declared in
 * kernels_avx2.h). pool.c calls them only when cpu_get_level() == CPU_LEVEL_NEON, so
 * cpu_set_level(CPU_LEVEL_SCALAR) (or BORN_CPU=scalar) switches back to the portable loops.
 * CPU_HAVE_POOL_NEON says whether this build has them (arm64 only). */
#ifndef BORN_CPU_POOL_NEON_H
#define BORN_CPU_POOL_NEON_H

#include <stdbool.h>
#include <stdint.h>

#if defined(__aarch64__)
#define CPU_HAVE_POOL_NEON 1

/* f32 max pooling of one plane with 2x2 windows at stride 2, all inside the plane (row length w,
 * oh x ow outputs, fewer than 2^30 cells): values and flat indices, the first maximum of each
 * window in row-major order winning and a NaN taking over, as the portable kernel in pool.c. */
void cpu_max_pool_2x2_f32_neon(const float *in, float *out, int64_t *idx, int64_t w, int64_t oh,
                               int64_t ow);

/* The backward of the kernel above for one plane: writes every cell of the h x w plane gi (0 + g
 * where an index points, 0 elsewhere) in one pass. Returns false, leaving gi partly written, when
 * some index lies outside its own window; the caller then takes the generic scatter. */
bool cpu_max_pool_2x2_backward_f32_neon(float *gi, const float *go, const int64_t *idx, int64_t h,
                                        int64_t w, int64_t oh, int64_t ow);

/* f32 average pooling of one plane whose windows all lie inside it (no padding; row length w,
 * oh x ow outputs, kh x kw windows at strides sh and sw): out[y ow + x] = the window's cells
 * added from 0 in row-major order, divided by divisor, as the portable loop in pool.c computes it
 * (so its bits), four outputs at a time. */
void cpu_avg_pool_inside_f32_neon(const float *in, float *out, int64_t w, int64_t oh, int64_t ow,
                                  int64_t kh, int64_t kw, int64_t sh, int64_t sw, float divisor);
#endif

#endif
