/* Conversions between quantized tensors and tensors of the other dtypes (cpu_copy hands them
 * here): rows of blocks are dequantized to f32 and stored in the destination's dtype, or loaded
 * as f32 and quantized by the reference quantizer. Rows are cut into segments of whole blocks
 * (at most SEG elements, a multiple of every block size), which are the units of work, so no
 * buffer is allocated and the split does not depend on the thread count. */
#include "backend/cpu/quant/quant_traits.h"
#include "core/scalar.h"

enum { SEG = 4096 };

typedef struct conv_ctx {
    const born_strided *dst, *src;
    const quant_traits *qd, *qs; /* dst's and src's traits, NULL when not quantized */
    int64_t k, nseg;             /* row length, segments per row */
} conv_ctx;

/* The first byte of row `row` (rows: the leading dimensions in row-major order) and, through
 * *step, the byte step between a float side's elements. */
static char *row_start(const born_strided *s, const quant_traits *q, const int64_t *shape,
                       int64_t row, int64_t *step) {
    int64_t off = 0;
    for (int d = s->ndim - 2; d >= 0; d--) {
        int64_t i = row % shape[d];
        row /= shape[d];
        off += i * s->strides[d];
    }
    if (q) {
        *step = 0;
        return (char *)s->data + off / q->block * (int64_t)q->block_bytes;
    }
    int64_t size = (int64_t)born_dtype_size(s->dtype);
    *step = s->ndim > 0 ? s->strides[s->ndim - 1] * size : 0;
    return (char *)s->data + off * size;
}

static void load_f32(float *buf, const char *p, int64_t step, int64_t n, born_dtype t) {
    switch (t) {
    case BORN_F32:
        if (step == 4) memcpy(buf, p, (size_t)n * 4);
        else for (int64_t i = 0; i < n; i++) memcpy(&buf[i], p + i * step, 4);
        break;
    case BORN_F64: for (int64_t i = 0; i < n; i++) buf[i] = (float)*(const double *)(p + i * step); break;
    case BORN_F16: for (int64_t i = 0; i < n; i++) buf[i] = born_f16_to_f32(*(const uint16_t *)(p + i * step)); break;
    case BORN_BF16: for (int64_t i = 0; i < n; i++) buf[i] = born_bf16_to_f32(*(const uint16_t *)(p + i * step)); break;
    default: for (int64_t i = 0; i < n; i++) buf[i] = (float)scalar_load_f64(p + i * step, t); break;
    }
}

static void store_f32(char *p, int64_t step, const float *buf, int64_t n, born_dtype t) {
    switch (t) {
    case BORN_F32:
        if (step == 4) memcpy(p, buf, (size_t)n * 4);
        else for (int64_t i = 0; i < n; i++) memcpy(p + i * step, &buf[i], 4);
        break;
    case BORN_F64: for (int64_t i = 0; i < n; i++) *(double *)(p + i * step) = buf[i]; break;
    case BORN_F16: for (int64_t i = 0; i < n; i++) *(uint16_t *)(p + i * step) = born_f32_to_f16(buf[i]); break;
    case BORN_BF16: for (int64_t i = 0; i < n; i++) *(uint16_t *)(p + i * step) = born_f32_to_bf16(buf[i]); break;
    default: for (int64_t i = 0; i < n; i++) scalar_store_f64(p + i * step, t, buf[i]); break;
    }
}

static void convert_range(int64_t begin, int64_t end, void *arg) {
    const conv_ctx *c = arg;
    float buf[SEG];
    for (int64_t u = begin; u < end; u++) {
        int64_t row = u / c->nseg, e0 = u % c->nseg * SEG;
        int64_t n = c->k - e0 < SEG ? c->k - e0 : SEG;
        int64_t sstep, dstep;
        char *s = row_start(c->src, c->qs, c->dst->shape, row, &sstep);
        char *d = row_start(c->dst, c->qd, c->dst->shape, row, &dstep);
        s += c->qs ? e0 / c->qs->block * (int64_t)c->qs->block_bytes : e0 * sstep;
        d += c->qd ? e0 / c->qd->block * (int64_t)c->qd->block_bytes : e0 * dstep;
        if (c->qs && c->qd && c->qs == c->qd) {
            memmove(d, s, (size_t)(n / c->qs->block) * c->qs->block_bytes);
            continue;
        }
        bool direct_out = !c->qd && c->dst->dtype == BORN_F32 && dstep == 4;
        bool direct_in = !c->qs && c->src->dtype == BORN_F32 && sstep == 4;
        float *f = buf;
        if (c->qs)
            c->qs->to_float(s, direct_out ? (f = (float *)(void *)d) : buf, n);
        else if (direct_in)
            f = (float *)(void *)s;
        else
            load_f32(buf, s, sstep, n, c->src->dtype);
        if (c->qd)
            c->qd->from_float(f, d, n);
        else if (!direct_out)
            store_f32(d, dstep, f, n, c->dst->dtype);
    }
}

born_status cpu_quant_convert(const born_strided *dst, const born_strided *src) {
    conv_ctx c = {dst, src, quant_traits_of(dst->dtype), quant_traits_of(src->dtype), 0, 0};
    if (dst->ndim < 1 || src->ndim != dst->ndim || (c.qd && dst->strides[dst->ndim - 1] != 1) ||
        (c.qs && src->strides[src->ndim - 1] != 1))
        return born_error(BORN_ERR_INTERNAL, "quantized copy: rows of blocks must be whole");
    c.k = dst->shape[dst->ndim - 1];
    int64_t rows = 1;
    for (int d = 0; d < dst->ndim - 1; d++) rows *= dst->shape[d];
    if (rows == 0 || c.k == 0) return BORN_OK;
    c.nseg = (c.k + SEG - 1) / SEG;
    int64_t grain = 65536 / (c.k < SEG ? c.k : SEG);
    born_parallel_for(rows * c.nseg, grain > 0 ? grain : 1, convert_range, &c);
    return BORN_OK;
}
