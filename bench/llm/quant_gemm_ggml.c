/* Born's batched quantized product beside ggml's (llama.cpp's CPU backend: llamafile's tinyBLAS
 * on AVX2) on SmolLM2-135M's prompt shapes: out[512, n] = x[512, k] W^T for the q/o (576 x 576),
 * k/v (192 x 576), gate/up (1536 x 576) and down (576 x 1536) weights, W in Q8_0, Q5_0 or Q4_0,
 * x in f32 (each side quantizes it to Q8_0 itself, as in a prompt), one thread. Each figure is
 * the best of 30 runs (wall time; run it on a quiet machine); a layer sums one q, k, v, o, gate,
 * up and down. Prints ms a layer for both and Born's time over ggml's. Built against a llama.cpp
 * build by bench/llm/run_quant_gemm_ggml.sh. Usage: quant_gemm_ggml [q8_0|q5_0|q4_0 ...] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/quant/quant_traits.h"
#include "born/born.h"
#include "ggml-cpu.h"
#include "ggml.h"

enum { TOKENS = 512, RUNS = 30 };

static const struct {
    int n, k, per_layer;
} shapes[] = {{576, 576, 2}, {192, 576, 2}, {1536, 576, 2}, {576, 1536, 1}};

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void fill(float *v, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        v[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
    }
}

static born_strided matrix(void *data, born_dtype dt, int64_t rows, int64_t cols) {
    born_strided s;
    memset(&s, 0, sizeof s);
    s.data = data;
    s.dtype = dt;
    s.ndim = 2;
    s.shape[0] = rows;
    s.shape[1] = cols;
    s.strides[0] = cols;
    s.strides[1] = 1;
    return s;
}

/* Best seconds of Born's product (cpu_linear_quant: quantize x, tiled product). */
static double born_time(born_dtype dt, int n, int k, const float *wf, const float *x, float *out) {
    const quant_traits *tr = quant_traits_of(dt);
    const size_t rb = born_dtype_nbytes(dt, k);
    char *w = malloc((size_t)n * rb);
    for (int r = 0; r < n; r++) tr->from_float(wf + (size_t)r * k, w + (size_t)r * rb, k);
    born_strided so = matrix(out, BORN_F32, TOKENS, n), sx = matrix((void *)x, BORN_F32, TOKENS, k),
                 sw = matrix(w, dt, n, k), sb = matrix(NULL, BORN_F32, n, 1);
    sb.ndim = 1;
    double best = 1e30;
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_s();
        if (cpu_linear_quant(&so, &sx, &sw, &sb) != BORN_OK) {
            fprintf(stderr, "born: %s\n", born_last_error());
            exit(1);
        }
        double t = now_s() - t0;
        best = t < best ? t : best;
    }
    free(w);
    return best;
}

/* Best seconds of ggml's mul_mat on the same weights and input. */
static double ggml_time(enum ggml_type gt, int n, int k, const float *wf, const float *x) {
    struct ggml_init_params ip = {(size_t)64 << 20, NULL, false};
    struct ggml_context *ctx = ggml_init(ip);
    struct ggml_tensor *w = ggml_new_tensor_2d(ctx, gt, k, n);
    ggml_quantize_chunk(gt, wf, w->data, 0, n, k, NULL);
    struct ggml_tensor *xt = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, k, TOKENS);
    memcpy(xt->data, x, (size_t)TOKENS * k * sizeof(float));
    struct ggml_cgraph *g = ggml_new_graph(ctx);
    ggml_build_forward_expand(g, ggml_mul_mat(ctx, w, xt));
    double best = 1e30;
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_s();
        ggml_graph_compute_with_ctx(ctx, g, 1);
        double t = now_s() - t0;
        best = t < best ? t : best;
    }
    ggml_free(ctx);
    return best;
}

int main(int argc, char **argv) {
    born_set_num_threads(1);
    static const char *all[] = {"q8_0", "q5_0", "q4_0"};
    const char **names = argc > 1 ? (const char **)argv + 1 : all;
    int count = argc > 1 ? argc - 1 : 3;
    float *wf = malloc((size_t)1536 * 1536 * sizeof(float)), *x = malloc((size_t)TOKENS * 1536 * sizeof(float));
    float *out = malloc((size_t)TOKENS * 1536 * sizeof(float));
    fill(wf, (size_t)1536 * 1536, 1);
    fill(x, (size_t)TOKENS * 1536, 2);
    printf("| type | Born ms a layer | ggml ms a layer | Born / ggml time |\n| --- | ---: | ---: | ---: |\n");
    for (int i = 0; i < count; i++) {
        born_dtype dt;
        enum ggml_type gt;
        if (!strcmp(names[i], "q8_0")) dt = BORN_Q8_0, gt = GGML_TYPE_Q8_0;
        else if (!strcmp(names[i], "q5_0")) dt = BORN_Q5_0, gt = GGML_TYPE_Q5_0;
        else if (!strcmp(names[i], "q4_0")) dt = BORN_Q4_0, gt = GGML_TYPE_Q4_0;
        else {
            fprintf(stderr, "unknown type %s (q8_0, q5_0, q4_0)\n", names[i]);
            return 2;
        }
        double tb = 0, tg = 0;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            tb += shapes[s].per_layer * born_time(dt, shapes[s].n, shapes[s].k, wf, x, out);
            tg += shapes[s].per_layer * ggml_time(gt, shapes[s].n, shapes[s].k, wf, x);
        }
        printf("| %s | %.2f | %.2f | %.2f |\n", names[i], tb * 1e3, tg * 1e3, tb / tg);
    }
    free(wf), free(x), free(out);
    return 0;
}
