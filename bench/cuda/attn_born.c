/* Born's flash attention on CUDA: born_scaled_dot_product_attention (flash kernel) on GPU tensors,
 * forward and forward+backward, through the path BORN_ATTENTION picks (unset: the default, cuDNN's
 * fused attention where present; born: Born's own kernel; the row is labelled with it), in TFLOP/s (the median of 10 timed runs after 3 warm-ups, each
 * timed on the host to the stream's end; causal FLOPs counted as half of 4 B H T^2 D forward and
 * 2.5x that for forward+backward, FlashAttention's convention). Run beside attn_torch.py.
 *   cc -O2 -std=c11 -D_DEFAULT_SOURCE -Iinclude bench/cuda/attn_born.c build/X/libborn.a -lm \
 *      -pthread -o build/X/attn_born && ./build/X/attn_born bf16 B H T D */
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

static int fail(void) {
    fprintf(stderr, "%s\n", born_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 6 && argc != 7) {
        fprintf(stderr, "usage: attn_born f32|bf16|f16 B H T D [ITERS]\n");
        return 2;
    }
    born_dtype dt = strcmp(argv[1], "bf16") == 0 ? BORN_BF16 : strcmp(argv[1], "f16") == 0 ? BORN_F16 : BORN_F32;
    int64_t b = atoll(argv[2]), h = atoll(argv[3]), t = atoll(argv[4]), d = atoll(argv[5]);
    if (born_device_count(BORN_DEVICE_CUDA) < 1) {
        fprintf(stderr, "no GPU: %s\n", born_cuda_unavailable_reason());
        return 1;
    }
    int iters = argc == 7 ? atoi(argv[6]) : 10; /* timed runs after 3 warm-ups */
    if (iters < 1 || iters > 100) {
        fprintf(stderr, "ITERS must be 1..100\n");
        return 2;
    }
    born_generator *g = born_generator_new(1234);
    born_tensor *x[4];
    for (int i = 0; i < 4; i++) {
        x[i] = born_to(born_to_dtype(born_randn(g, BORN_F32, BORN_DIMS(b, h, t, d)), dt), BORN_CUDA(0));
        if (!x[i]) return fail();
    }
    for (int i = 0; i < 3; i++) born_requires_grad(x[i], true);
    born_sdpa_params p = born_sdpa_default_params();
    p.is_causal = true;
    p.kernel = BORN_SDPA_FLASH;
    double flop = 4.0 * b * h * t * t * d / 2;
    const char *path = getenv("BORN_ATTENTION");
    char label[32];
    snprintf(label, sizeof label, "born-%s", path && *path ? path : "default");
    for (int bwd = 0; bwd < 2; bwd++) {
        enum { MAX_ITERS = 100 };
        double ts[MAX_ITERS];
        for (int i = 0; i < 3 + iters; i++) {
            born_synchronize(BORN_CUDA(0));
            double t0 = now();
            born_scope_begin();
            born_tensor *o = born_scaled_dot_product_attention(x[0], x[1], x[2], NULL, &p);
            if (!o) return fail();
            if (bwd && born_backward(born_sum(born_mul(o, x[3]), 0, NULL, false)) != BORN_OK) return fail();
            if (born_synchronize(BORN_CUDA(0)) != BORN_OK) return fail();
            born_scope_end();
            if (i >= 3) ts[i - 3] = now() - t0;
            for (int k = 0; k < 3; k++) born_zero_grad(x[k]);
        }
        qsort(ts, (size_t)iters, sizeof ts[0], cmp);
        double med = (ts[(iters - 1) / 2] + ts[iters / 2]) / 2, f = bwd ? 3.5 * flop : flop;
        printf("%-15s %-5s B%lld H%lld T%lld D%lld causal %-7s %9.3f ms  %7.1f TFLOP/s\n", label,
               argv[1], (long long)b, (long long)h, (long long)t, (long long)d, bwd ? "fwd+bwd" : "fwd",
               med * 1e3, f / med / 1e12);
    }
    return 0;
}
