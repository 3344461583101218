/* 2-D convolution on CUDA as im2col + cuBLASLt products (no cuDNN needed), for f32 and f64, any
 * stride, padding, dilation and groups. The batch is processed in chunks so that the column
 * buffer stays under COL_BYTES. With K = C/G * kh * kw and P = out_h * out_w, for each image n
 * and group g:
 *   forward         out[n, g] [O/G, P] = W[g] [O/G, K] @ col[n, g] [K, P]  (+ bias)
 *   input grad      dcol[n, g] [K, P] = W[g]^T @ dout[n, g], then col2im (a gather: deterministic)
 *   weight grad     dW[g] = sum_n dout[n, g] @ col[n, g]^T, the sum over n a reduction kernel
 *                   (a fixed order, so it is deterministic too).
 * Every product is one batched cuda_matmul call over (n, g), the weight broadcast by a zero
 * stride. */
#include <string.h>

#include "backend/cuda/cuda_internal.h"

enum { COL_BYTES = 256 << 20 };

typedef struct conv_dims {
    int64_t N, C, O, G, Cg, Og, K, P, es;
} conv_dims;

static conv_dims dims_of(const born_conv2d_geometry *g, born_dtype dt) {
    conv_dims d;
    d.N = g->batch;
    d.C = g->in_channels;
    d.O = g->out_channels;
    d.G = g->groups > 0 ? g->groups : 1;
    d.Cg = d.C / d.G;
    d.Og = d.O / d.G;
    d.K = d.Cg * g->kernel_h * g->kernel_w;
    d.P = g->out_h * g->out_w;
    d.es = dt == BORN_F64 ? 8 : 4;
    return d;
}

/* Images per chunk so that one chunk's columns fit in COL_BYTES (at least one). */
static int64_t chunk_of(const conv_dims *d) {
    int64_t per = d->G * d->K * d->P * d->es;
    int64_t nb = per > 0 ? COL_BYTES / per : d->N;
    if (nb < 1) nb = 1;
    return nb > d->N ? d->N : nb;
}

static born_strided view4(void *data, born_dtype dt, int64_t a, int64_t b, int64_t c, int64_t e,
                          int64_t sa, int64_t sb, int64_t sc, int64_t se) {
    born_strided s;
    memset(&s, 0, sizeof s);
    s.data = data;
    s.dtype = dt;
    s.ndim = 4;
    s.shape[0] = a, s.shape[1] = b, s.shape[2] = c, s.shape[3] = e;
    s.strides[0] = sa, s.strides[1] = sb, s.strides[2] = sc, s.strides[3] = se;
    return s;
}

static born_status check_dtype(born_dtype dt, const char *op) {
    if (dt == BORN_F32 || dt == BORN_F64) return BORN_OK;
    return cuda_error(BORN_ERR_DTYPE, "%s: not defined for %s on CUDA", op, cuda_host->dtype_name(dt));
}

born_status cuda_conv2d(const born_strided *out, const born_strided *in, const born_strided *weight,
                        const born_strided *bias, const born_conv2d_geometry *g) {
    born_dtype dt = in->dtype;
    born_status st = check_dtype(dt, "conv2d");
    conv_dims d = dims_of(g, dt);
    if (st != BORN_OK || d.N * d.O * d.P == 0) return st;
    int dev = cuda_device_of(out->data);
    cudaStream_t s = cuda_stream(dev);
    int64_t nb = chunk_of(&d), in_img = d.C * g->in_h * g->in_w;
    char *col = d.K > 0 ? cuda_mem_alloc(dev, (size_t)(nb * d.G * d.K * d.P * d.es)) : NULL;
    if (d.K > 0 && !col) return BORN_ERR_MEMORY;
    for (int64_t n0 = 0; n0 < d.N && st == BORN_OK; n0 += nb) {
        int64_t n = d.N - n0 < nb ? d.N - n0 : nb;
        char *o = (char *)out->data + n0 * d.O * d.P * d.es;
        born_strided so = view4(o, dt, n, d.G, d.Og, d.P, d.O * d.P, d.Og * d.P, d.P, 1);
        if (d.K == 0) {
            st = cuda_fill(&so, 0.0);
            continue;
        }
        st = cuda_check(cu_im2col(s, dt, (const cu_conv2d_geometry *)g, n, (const char *)in->data + n0 * in_img * d.es, col), "conv2d");
        born_strided sw = view4(weight->data, dt, n, d.G, d.Og, d.K, 0, d.Og * d.K, d.K, 1);
        born_strided sc = view4(col, dt, n, d.G, d.K, d.P, d.G * d.K * d.P, d.K * d.P, d.P, 1);
        if (st == BORN_OK) st = cuda_matmul(&so, &sw, &sc);
    }
    if (col) cuda_mem_free(dev, col);
    if (st == BORN_OK && bias && bias->data) {
        born_strided o3 = view4(out->data, dt, d.N, d.O, d.P, 1, d.O * d.P, d.P, 1, 1);
        born_strided b3 = view4(bias->data, dt, d.N, d.O, d.P, 1, 0, 1, 0, 0);
        st = cuda_binary(BORN_BINARY_ADD, &o3, &o3, &b3);
    }
    return st;
}

born_status cuda_conv2d_backward_input(const born_strided *grad_in, const born_strided *grad_out,
                                       const born_strided *weight, const born_conv2d_geometry *g) {
    born_dtype dt = grad_out->dtype;
    born_status st = check_dtype(dt, "conv2d backward");
    conv_dims d = dims_of(g, dt);
    int64_t in_img = d.C * g->in_h * g->in_w;
    if (st != BORN_OK || d.N * in_img == 0) return st;
    int dev = cuda_device_of(grad_in->data);
    cudaStream_t s = cuda_stream(dev);
    if (d.K == 0 || d.P == 0 || d.O == 0) {
        born_strided gi = view4(grad_in->data, dt, d.N, in_img, 1, 1, in_img, 1, 1, 1);
        return cuda_fill(&gi, 0.0);
    }
    int64_t nb = chunk_of(&d);
    char *col = cuda_mem_alloc(dev, (size_t)(nb * d.G * d.K * d.P * d.es));
    if (!col) return BORN_ERR_MEMORY;
    for (int64_t n0 = 0; n0 < d.N && st == BORN_OK; n0 += nb) {
        int64_t n = d.N - n0 < nb ? d.N - n0 : nb;
        born_strided sc = view4(col, dt, n, d.G, d.K, d.P, d.G * d.K * d.P, d.K * d.P, d.P, 1);
        born_strided swt = view4(weight->data, dt, n, d.G, d.K, d.Og, 0, d.Og * d.K, 1, d.K);
        born_strided sg = view4((char *)grad_out->data + n0 * d.O * d.P * d.es, dt, n, d.G, d.Og, d.P,
                                d.O * d.P, d.Og * d.P, d.P, 1);
        st = cuda_matmul(&sc, &swt, &sg);
        if (st == BORN_OK)
            st = cuda_check(cu_col2im(s, dt, (const cu_conv2d_geometry *)g, n, col, (char *)grad_in->data + n0 * in_img * d.es),
                            "conv2d backward");
    }
    cuda_mem_free(dev, col);
    return st;
}

born_status cuda_conv2d_backward_weight(const born_strided *grad_weight,
                                        const born_strided *grad_out, const born_strided *in,
                                        const born_conv2d_geometry *g) {
    born_dtype dt = grad_out->dtype;
    born_status st = check_dtype(dt, "conv2d backward");
    conv_dims d = dims_of(g, dt);
    if (st != BORN_OK || d.O * d.K == 0) return st;
    int dev = cuda_device_of(grad_weight->data);
    cudaStream_t s = cuda_stream(dev);
    born_strided gw = view4(grad_weight->data, dt, 1, d.G, d.Og, d.K, d.O * d.K, d.Og * d.K, d.K, 1);
    if (d.N == 0 || d.P == 0) return cuda_fill(&gw, 0.0);
    int64_t nb = chunk_of(&d), in_img = d.C * g->in_h * g->in_w;
    size_t wbytes = (size_t)(d.O * d.K * d.es);
    char *col = cuda_mem_alloc(dev, (size_t)(nb * d.G * d.K * d.P * d.es));
    char *part = col ? cuda_mem_alloc(dev, (size_t)nb * wbytes) : NULL;
    char *sum = part && nb < d.N ? cuda_mem_alloc(dev, wbytes) : NULL;
    if (!col || !part || (nb < d.N && !sum)) st = BORN_ERR_MEMORY;
    for (int64_t n0 = 0; n0 < d.N && st == BORN_OK; n0 += nb) {
        int64_t n = d.N - n0 < nb ? d.N - n0 : nb;
        st = cuda_check(cu_im2col(s, dt, (const cu_conv2d_geometry *)g, n, (const char *)in->data + n0 * in_img * d.es, col),
                        "conv2d backward");
        born_strided sg = view4((char *)grad_out->data + n0 * d.O * d.P * d.es, dt, n, d.G, d.Og, d.P,
                                d.O * d.P, d.Og * d.P, d.P, 1);
        born_strided sct = view4(col, dt, n, d.G, d.P, d.K, d.G * d.K * d.P, d.K * d.P, 1, d.P);
        born_strided sp = view4(part, dt, n, d.G, d.Og, d.K, d.O * d.K, d.Og * d.K, d.K, 1);
        if (st == BORN_OK) st = cuda_matmul(&sp, &sg, &sct);
        born_strided dst = n0 == 0 ? gw : view4(sum, dt, 1, d.G, d.Og, d.K, d.O * d.K, d.Og * d.K, d.K, 1);
        if (st == BORN_OK) st = cuda_reduce(BORN_REDUCE_SUM, &dst, &sp, 1u);
        if (st == BORN_OK && n0 > 0) st = cuda_binary(BORN_BINARY_ADD, &gw, &gw, &dst);
    }
    if (sum) cuda_mem_free(dev, sum);
    if (part) cuda_mem_free(dev, part);
    if (col) cuda_mem_free(dev, col);
    return st;
}
