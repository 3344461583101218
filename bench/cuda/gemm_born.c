/* Born's GEMM on CUDA: born_matmul on GPU tensors for the shapes of issue 8, in TFLOP/s (the
 * median of 20 timed products after 5 warm-ups, each product timed to the stream's end). Run
 * beside gemm_torch.py in the same call; BORN_ALLOW_TF32=1 makes f32 use tf32.
 *   cc -O2 -std=c11 -D_DEFAULT_SOURCE -Iinclude bench/cuda/gemm_born.c build/X/libborn.a -lm \
 *      -pthread -o build/X/gemm_born && ./build/X/gemm_born f32|bf16|f16 M N K */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "born/born.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: gemm_born f32|bf16|f16 M N K\n");
        return 2;
    }
    born_dtype dt = strcmp(argv[1], "bf16") == 0 ? BORN_BF16 : strcmp(argv[1], "f16") == 0 ? BORN_F16 : BORN_F32;
    int64_t m = atoll(argv[2]), n = atoll(argv[3]), k = atoll(argv[4]);
    if (born_device_count(BORN_DEVICE_CUDA) < 1) {
        fprintf(stderr, "no GPU: %s\n", born_cuda_unavailable_reason());
        return 1;
    }
    born_generator *g = born_generator_new(1234);
    born_tensor *a = born_to(born_to_dtype(born_randn(g, BORN_F32, BORN_DIMS(m, k)), dt), BORN_CUDA(0));
    born_tensor *b = born_to(born_to_dtype(born_randn(g, BORN_F32, BORN_DIMS(k, n)), dt), BORN_CUDA(0));
    if (!a || !b) {
        fprintf(stderr, "%s\n", born_last_error());
        return 1;
    }
    double t[20];
    for (int i = 0; i < 25; i++) {
        born_synchronize(BORN_CUDA(0));
        double t0 = now();
        born_tensor *c = born_matmul(a, b);
        if (!c || born_synchronize(BORN_CUDA(0)) != BORN_OK) {
            fprintf(stderr, "%s\n", born_last_error());
            return 1;
        }
        if (i >= 5) t[i - 5] = now() - t0;
        born_free(c);
    }
    qsort(t, 20, sizeof t[0], cmp);
    double med = (t[9] + t[10]) / 2;
    printf("born  %-5s %6lld x %6lld x %6lld  %8.3f ms  %7.1f TFLOP/s\n", argv[1], (long long)m,
           (long long)n, (long long)k, med * 1e3, 2.0 * m * n * k / med / 1e12);
    return 0;
}
