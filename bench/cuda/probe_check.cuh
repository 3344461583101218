/* The CUDA probes' error check (bench/cuda/*_probe.cu): CK(call) prints the failing call, where
 * it is and the CUDA error, and exits. */
#ifndef BORN_BENCH_CUDA_PROBE_CHECK_CUH
#define BORN_BENCH_CUDA_PROBE_CHECK_CUH

#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#define CK(x)                                                                                     \
    do {                                                                                          \
        cudaError_t e_ = (x);                                                                     \
        if (e_ != cudaSuccess) {                                                                  \
            fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_));    \
            exit(1);                                                                              \
        }                                                                                         \
    } while (0)

#endif
