/* A linear layer's f32 product with its bias and GELU-tanh applied in the GEMM's epilogue (the
 * backend's linear_fused): each block of x W^T (an m block by a group of columns, in L2) gets the
 * bias and the activation as soon as its sums are final, instead of two more passes over the
 * output through memory.
 *
 * The arithmetic is the composition's: cpu_gemm_f32's sums, the bias added in f32, the activation
 * by cpu_unary's own loop, so the results are the bits of born_linear then born_gelu_tanh. bf16
 * is left to the composition: on the AMX tiles the product already adds the bias as it rounds
 * (matmul_bf16_bias), and GELU-tanh run between the tiles' blocks cost more than its own pass
 * through a lookup table (half_table.h) after them (2048 x 384 x 1536 at one thread, 2-core Xeon,
 * 2026-12-03: 2.44 ms per 32-row run, 4.0 ms per 32 x 32 block, against 2.29 ms for the product
 * then the table). f16 is not taken either. */
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/gemm.h"

typedef struct linear_ep {
    float *pre;        /* the product, plus the bias in place: [m, n] contiguous */
    float *out;        /* the activation of pre (with act) */
    const float *bias; /* n floats, or NULL */
    int64_t n;         /* the row length of pre and out */
    cpu_loop_fn act;   /* the activation's f32 loop, or NULL */
} linear_ep;

/* Rows [i0, i0 + rows), columns [j0, j0 + cols) of the product are final. */
static void finish_block(void *ctx, int64_t i0, int64_t rows, int64_t j0, int64_t cols) {
    const linear_ep *e = ctx;
    for (int64_t i = i0; i < i0 + rows; i++) {
        float *p = e->pre + i * e->n + j0;
        if (e->bias) {
            const float *b = e->bias + j0;
            for (int64_t j = 0; j < cols; j++)
                p[j] += b[j];
        }
        if (e->act) cpu_unary_f32_run(e->act, e->out + i * e->n + j0, p, cols);
    }
}

born_status cpu_linear_fused(const born_strided *out, const born_strided *pre,
                             const born_strided *x, const born_strided *w, const born_strided *bias,
                             bool gelu_tanh) {
    if (out->dtype != BORN_F32 || x->ndim != 2 || w->ndim != 2 || out->ndim != 2 ||
        x->strides[1] != 1)
        return BORN_ERR_UNSUPPORTED;
    int64_t m = x->shape[0], k = x->shape[1], n = w->shape[0];
    if (m == 0 || n == 0) return BORN_OK;
    linear_ep e = {.pre = gelu_tanh ? pre->data : out->data,
                   .out = gelu_tanh ? out->data : NULL,
                   .bias = bias->data,
                   .n = n};
    if (gelu_tanh) {
        e.act = cpu_unary_f32_loop(BORN_UNARY_GELU_TANH);
        if (!e.act) return BORN_ERR_UNSUPPORTED;
    }
    /* the composition's call: W^T as B (unit row stride), x's rows as A (stride 0 for one row) */
    cpu_gemm_f32_ep(m, n, k, 1.0f, x->data, m == 1 ? 0 : x->strides[0], 1, w->data, 1,
                    w->strides[0], 0.0f, e.pre, n, 1, e.bias || e.act ? finish_block : NULL, &e);
    return BORN_OK;
}
