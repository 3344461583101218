/* The CUDA backend's random entry: the Philox fill of random.cu on the output's device stream. */
#include "backend/cuda/random.h"
#include "backend/cuda/cuda_internal.h"

_Static_assert(BORN_RANDOM_UNIFORM == 0 && BORN_RANDOM_NORMAL == 1 && BORN_RANDOM_INTEGER == 2,
               "random.cu's kinds");

born_status cuda_random(const born_strided *out, born_random_kind kind, uint64_t seed,
                        uint64_t offset, double a, double b) {
    int dev = cuda_device_of(out->data);
    return cuda_check(cu_random(cuda_stream(dev), (const cu_strided *)out, (int)kind, seed, offset,
                                a, b),
                      "random");
}
