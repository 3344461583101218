/* What does a dependency between two steps of the decode cost on this GPU? A probe for issue 8's
 * batch-1 decode, whose step is ~80 short kernels, each waiting for the one before. Each kind
 * runs N dependent steps on one wave of blocks (2 blocks of 256 threads a multiprocessor), every
 * step reading a value the previous step wrote in another block and writing its own, replayed
 * from one CUDA graph:
 *   plain  a kernel a step, ordinary stream order;
 *   pdl    a kernel a step, programmatic dependent launch (launch_dependents at the start, wait
 *          before the read: how the decode's kernels hand over now);
 *   flag   a kernel a step with programmatic launch, the read waiting on a counter the previous
 *          step's blocks increment instead of on the grid's completion (and the grid wait at the
 *          end, so completion stays ordered);
 *   grid   one kernel, the steps separated by a barrier of every block (an atomic counter);
 *   grid2  the same, each block's arrival one release reduction;
 *   coop   grid2 launched cooperatively and programmatically between two pdl kernels.
 * Prints microseconds a step for each. Built from the repository's root with
 * nvcc -O3 -std=c++17 -gencode arch=compute_90,code=sm_90 -Iinclude -Isrc bench/cuda/boundary_probe.cu -o boundary_probe
 * Usage: boundary_probe [steps] */
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "backend/cuda/llm_launch.cuh"
#include "probe_check.cuh"


using cu_llm::pdl_trigger;
using cu_llm::pdl_wait;

constexpr int THREADS = 256;

__device__ __forceinline__ unsigned long long ld_acquire(const unsigned long long *p) {
    unsigned long long v;
    asm volatile("ld.acquire.gpu.global.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");
    return v;
}

/* Waits until *ctr reaches target (thread 0 spins, the block follows). */
__device__ void wait_count(const unsigned long long *ctr, unsigned long long target) {
    if (threadIdx.x == 0)
        while (ld_acquire(ctr) < target) {
        }
    __syncthreads();
}

/* Adds this block to *ctr once every thread's writes are done. */
__device__ void arrive(unsigned long long *ctr) {
    __syncthreads();
    if (threadIdx.x == 0) {
        __threadfence();
        atomicAdd(ctr, 1ull);
    }
}

/* The same with one release reduction (no separate fence). */
__device__ void arrive_release(unsigned long long *ctr) {
    __syncthreads();
    if (threadIdx.x == 0) asm volatile("red.release.gpu.global.add.u64 [%0], 1;" ::"l"(ctr) : "memory");
}

/* One step's work: the value block b - 1 wrote last step, plus one, into this block's slot. */
__device__ void step_work(float *val, int step) {
    const int b = blockIdx.x, nb = gridDim.x;
    if (threadIdx.x == 0) {
        const float prev = __ldcg(val + (size_t)(step & 1) * nb + (b + nb - 1) % nb);
        val[(size_t)((step + 1) & 1) * nb + b] = prev + 1.0f;
    }
}

__global__ void __launch_bounds__(THREADS) plain_kernel(float *val, int step) {
    step_work(val, step);
}

__global__ void __launch_bounds__(THREADS) pdl_kernel(float *val, int step) {
    pdl_trigger();
    pdl_wait();
    step_work(val, step);
}

__global__ void __launch_bounds__(THREADS) flag_kernel(float *val, int step, unsigned long long *ctr, unsigned long long base) {
    pdl_trigger();
    wait_count(ctr, base + (unsigned long long)step * gridDim.x);
    step_work(val, step);
    arrive(ctr);
    pdl_wait();
}

__global__ void __launch_bounds__(THREADS) grid_kernel(float *val, int steps, unsigned long long *ctr, unsigned long long base) {
    for (int s = 0; s < steps; s++) {
        step_work(val, s);
        arrive(ctr);
        wait_count(ctr, base + (unsigned long long)(s + 1) * gridDim.x);
    }
}

__global__ void __launch_bounds__(THREADS) grid2_kernel(float *val, int steps, unsigned long long *ctr, unsigned long long base) {
    pdl_wait();
    for (int s = 0; s < steps; s++) {
        step_work(val, s);
        arrive_release(ctr);
        wait_count(ctr, base + (unsigned long long)(s + 1) * gridDim.x);
    }
}

/* grid2_kernel launched cooperatively (co-residency guaranteed) and programmatically after a pdl
 * kernel: whether the two attributes go together in a captured graph. */
static cudaError_t launch_coop(int grid, cudaStream_t s, float *val, int steps, unsigned long long *ctr, unsigned long long base) {
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3((unsigned)grid);
    cfg.blockDim = dim3(THREADS);
    cfg.stream = s;
    cudaLaunchAttribute attr[2];
    attr[0].id = cudaLaunchAttributeCooperative;
    attr[0].val.cooperative = 1;
    attr[1].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[1].val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = attr;
    cfg.numAttrs = 2;
    return cudaLaunchKernelEx(&cfg, grid2_kernel, val, steps, ctr, base);
}

/* the plugin's programmatic launcher (llm_launch.cuh), always with the attribute */
bool cu_llm::use_pdl = true;

template <typename... P, typename... A> static void launch_pdl(void (*k)(P...), int grid, cudaStream_t s, A... a) {
    CK(cu_llm::launch(k, dim3((unsigned)grid), dim3(THREADS), 0, s, a...));
}

int main(int argc, char **argv) {
    const int steps = argc > 1 ? atoi(argv[1]) : 400;
    int sms = 0;
    CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    const int grid = 2 * sms;
    float *val;
    unsigned long long *ctr;
    CK(cudaMalloc(&val, 2 * (size_t)grid * sizeof(float)));
    CK(cudaMalloc(&ctr, sizeof(unsigned long long)));
    CK(cudaMemset(val, 0, 2 * (size_t)grid * sizeof(float)));
    CK(cudaMemset(ctr, 0, sizeof(unsigned long long)));
    cudaStream_t s;
    CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    const char *kinds[] = {"plain", "pdl", "flag", "grid", "grid2", "coop"};
    unsigned long long count = 0; /* the counter's value before a replay */
    printf("boundary probe: %d blocks of %d threads, %d dependent steps a replay\n", grid, THREADS, steps);
    for (int k = 0; k < 6; k++) {
        /* the counter advances by grid a step in flag and grid: each replay is captured with its base */
        const int reps = 20;
        float best = 1e30f, med[20];
        for (int r = 0; r < reps; r++) {
            cudaGraph_t g;
            cudaGraphExec_t ge;
            CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
            if (k == 3) {
                grid_kernel<<<grid, THREADS, 0, s>>>(val, steps, ctr, count);
            } else if (k == 4) {
                grid2_kernel<<<grid, THREADS, 0, s>>>(val, steps, ctr, count);
            } else if (k == 5) {
                launch_pdl(pdl_kernel, grid, s, val, 0);
                CK(launch_coop(grid, s, val, steps, ctr, count));
                launch_pdl(pdl_kernel, grid, s, val, 1);
            } else {
                for (int i = 0; i < steps; i++) {
                    if (k == 0) plain_kernel<<<grid, THREADS, 0, s>>>(val, i);
                    else if (k == 1) launch_pdl(pdl_kernel, grid, s, val, i);
                    else launch_pdl(flag_kernel, grid, s, val, i, ctr, count);
                }
            }
            CK(cudaStreamEndCapture(s, &g));
            CK(cudaGraphInstantiate(&ge, g, 0));
            /* the flag kind's first step waits for base + 0: the counter as it is */
            if (k == 2) count += (unsigned long long)grid * steps;
            if (k >= 3) count += (unsigned long long)grid * steps;
            cudaEvent_t a, b;
            CK(cudaEventCreate(&a));
            CK(cudaEventCreate(&b));
            CK(cudaEventRecord(a, s));
            CK(cudaGraphLaunch(ge, s));
            CK(cudaEventRecord(b, s));
            CK(cudaStreamSynchronize(s));
            float ms = 0.0f;
            CK(cudaEventElapsedTime(&ms, a, b));
            med[r] = ms;
            if (ms < best) best = ms;
            CK(cudaGraphExecDestroy(ge));
            CK(cudaGraphDestroy(g));
            CK(cudaEventDestroy(a));
            CK(cudaEventDestroy(b));
        }
        for (int i = 1; i < reps; i++)
            for (int j = i; j > 0 && med[j] < med[j - 1]; j--) {
                const float t = med[j];
                med[j] = med[j - 1];
                med[j - 1] = t;
            }
        printf("%-6s %.3f us a step (median of %d replays; best %.3f)\n", kinds[k], 1000.0f * med[reps / 2] / steps, reps,
               1000.0f * best / steps);
    }
    float host[2];
    CK(cudaMemcpy(host, val, sizeof(host), cudaMemcpyDeviceToHost));
    printf("check: %.0f\n", host[0]);
    return 0;
}
