/* Internal to the CUDA plugin: the Philox random fill (random.cu) and the backend entry that
 * calls it (random_ops.c). kind is a born_random_kind (random_ops.c checks the values). */
#ifndef BORN_CUDA_RANDOM_H
#define BORN_CUDA_RANDOM_H

#include "backend/cuda/kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fills contiguous out (any dtype) with the draws of counters offset .. offset + n - 1. */
cudaError_t cu_random(cudaStream_t s, const cu_strided *out, int kind, uint64_t seed,
                      uint64_t offset, double a, double b);

#ifdef __cplusplus
}
#endif

#ifndef __CUDACC__
#include "backend/backend.h"
/* The backend's random entry (backend.h's contract: the CPU's numbers). */
born_status cuda_random(const born_strided *out, born_random_kind kind, uint64_t seed,
                        uint64_t offset, double a, double b);
#endif

#endif
