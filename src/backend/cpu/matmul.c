/* Batched matrix multiply on the CPU: out[..., m, n] = sum_k a[..., m, k] b[..., k, n].
 *
 * f32 and f64 go through the packed GEMM (gemm.c) once per batch entry, with the operands' own
 * strides (transposed and broadcast views need no copy). Many small matrices are spread over the
 * pool one matrix per task (the GEMM then runs serially inside); large ones are taken one at a
 * time and the GEMM threads itself; a right operand broadcast over the batch with a left one whose
 * batch folds into its rows (x @ W on [B, T, C]) is one GEMM of all the rows. bf16 operands
 * with an f32 out (matmul_bf16_in) or a bf16 one (matmul_bf16_out: the f32 sums rounded once) go
 * to gemm_bf16.c, folded the same way (a bf16 linear's input gradient on [8, 256, 1536] was eight
 * products, each packing W again: 3.3 against 1.2 ms at two threads); f16 operands with an f32
 * out (matmul_f16_in), and bf16 ones where the CPU has no bf16 product, are converted to f32 in
 * their own memory order, or on a few rows read as halves by the GEMV's dot forms (few_rows_half).
 * Integer dtypes accumulate in 64 bits with wrap-around (the result modulo 2^bits, as the same
 * arithmetic in the narrow type would give) in plain loops, split over output rows. Every output
 * element is computed by one thread in a fixed order, so results do not depend on the thread
 * count. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/allocator.h"
#include "backend/cpu/convert_simd.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/gemm.h"
#include "backend/cpu/gemm_bf16.h"

typedef struct matmul_job {
    const born_strided *out, *a, *b;
    int nb; /* batch dimensions */
    int64_t m, n, k;
} matmul_job;

/* Element offsets of batch entry t in out, a and b. */
static void batch_offsets(const matmul_job *j, int64_t t, int64_t *oo, int64_t *oa, int64_t *ob) {
    int64_t o = 0, pa = 0, pb = 0;
    for (int d = j->nb - 1; d >= 0; d--) {
        int64_t size = j->out->shape[d], i = t % size;
        t /= size;
        o += i * j->out->strides[d];
        pa += i * j->a->strides[d];
        pb += i * j->b->strides[d];
    }
    *oo = o;
    *oa = pa;
    *ob = pb;
}

/* The GEMM for batch entry t. */
static void float_one(const matmul_job *j, int64_t t) {
    int64_t oo, oa, ob;
    batch_offsets(j, t, &oo, &oa, &ob);
    int nd = j->out->ndim;
    const born_strided *a = j->a, *b = j->b, *o = j->out;
    if (o->dtype == BORN_F32)
        cpu_gemm_f32(j->m, j->n, j->k, 1.0f, (const float *)a->data + oa, a->strides[nd - 2],
                     a->strides[nd - 1], (const float *)b->data + ob, b->strides[nd - 2],
                     b->strides[nd - 1], 0.0f, (float *)o->data + oo, o->strides[nd - 2],
                     o->strides[nd - 1]);
    else
        cpu_gemm_f64(j->m, j->n, j->k, 1.0, (const double *)a->data + oa, a->strides[nd - 2],
                     a->strides[nd - 1], (const double *)b->data + ob, b->strides[nd - 2],
                     b->strides[nd - 1], 0.0, (double *)o->data + oo, o->strides[nd - 2],
                     o->strides[nd - 1]);
}

/* A half (bf16 or f16) operand as a new f32 one of the same shape (a block of the CPU allocator's cache, as
 * this file's other temporaries: a training step's repeated shapes reuse them), or NULL (error
 * recorded). Where s is dense apart from broadcast dimensions (a transposed weight, a batch
 * broadcast) the f32 copy keeps its strides: converted in memory order, not transposed or
 * expanded (a transposed 4096 x 4096 weight had taken 180 ms through a contiguous copy). */
static float *halves_to_f32(const born_strided *s, born_strided *f) {
    int64_t count = 1;
    bool same_strides = strided_dense(s, true, &count);
    if (!same_strides) {
        count = 1;
        for (int d = 0; d < s->ndim; d++)
            count *= s->shape[d];
    }
    float *data = cpu_mem_alloc((size_t)(count > 0 ? count : 1) * sizeof *data);
    if (!data) {
        born_error(BORN_ERR_MEMORY, "cpu matmul: no memory to convert a %s operand",
                   born_dtype_name(s->dtype));
        return NULL;
    }
    *f = *s;
    f->data = data;
    f->dtype = BORN_F32;
    born_strided from = *s, to = *f; /* the copy: without the broadcast dimensions */
    if (same_strides) {
        from.ndim = to.ndim = 0;
        for (int d = 0; d < s->ndim; d++) {
            if (s->strides[d] == 0) continue;
            from.shape[from.ndim] = to.shape[to.ndim] = s->shape[d];
            from.strides[from.ndim++] = to.strides[to.ndim++] = s->strides[d];
        }
    } else {
        int64_t stride = 1;
        for (int d = s->ndim - 1; d >= 0; d--) {
            f->strides[d] = stride;
            stride *= s->shape[d];
        }
        to = *f;
    }
    if (cpu_copy(&to, &from) != BORN_OK) {
        cpu_mem_free(data);
        return NULL;
    }
    return data;
}

/* out (bf16) as the f32 product into a contiguous buffer, plus bias[j] along the last dimension
 * where bias is not NULL (an f32 add), converted after. */
static born_status bf16_via_f32(const born_strided *out, const born_strided *a,
                                const born_strided *b, const float *bias) {
    born_strided f = *out;
    int64_t count = 1;
    for (int d = out->ndim - 1; d >= 0; d--) {
        f.strides[d] = count;
        count *= out->shape[d];
    }
    f.dtype = BORN_F32;
    f.data = cpu_mem_alloc((size_t)(count > 0 ? count : 1) * sizeof(float));
    if (!f.data) return born_error(BORN_ERR_MEMORY, "cpu matmul: no memory for the f32 product");
    born_status st = cpu_matmul(&f, a, b);
    float *p = f.data;
    int64_t n = out->shape[out->ndim - 1];
    for (int64_t i = 0; st == BORN_OK && bias && i < count; i++) p[i] += bias[i % n];
    if (st == BORN_OK) st = cpu_copy(out, &f);
    cpu_mem_free(f.data);
    return st;
}

/* True when the batch dimensions of s continue its row dimension (every non-1 batch dim's stride
 * is the next dim's stride times its size, as in a contiguous [..., m, k]), so batch and rows
 * fold into one row index of stride s->strides[nd - 2]. */
static bool rows_fold(const born_strided *s, int nb) {
    int64_t stride = s->strides[nb], size = s->shape[nb];
    for (int d = nb - 1; d >= 0; d--) {
        if (s->shape[d] == 1) continue;
        if (s->strides[d] != stride * size) return false;
        stride = s->strides[d];
        size = s->shape[d];
    }
    return true;
}

/* [..., m, k] @ [k, n] broadcast over the batch (b's batch strides all 0) with a's and out's batch
 * folding into rows -- the x @ W of a linear layer's backward on [B, T, C] -- is one GEMM of
 * batch * m rows instead of batch GEMMs of m rows each: the same products (each element is summed
 * in k order however the rows are blocked), without the per-entry packing of B and with all rows to
 * spread over the threads. Returns false when it does not apply; else f is that product, over the
 * 2-D views a, b and o. */
static bool fold_batch(const matmul_job *j, int64_t batch, matmul_job *f, born_strided *a,
                       born_strided *b, born_strided *o) {
    if (batch <= 1 || j->m <= 1) return false;
    for (int d = 0; d < j->nb; d++)
        if (j->b->strides[d] != 0 && j->b->shape[d] != 1) return false;
    if (!rows_fold(j->a, j->nb) || !rows_fold(j->out, j->nb)) return false;
    *f = *j;
    *a = *j->a;
    *o = *j->out;
    *b = *j->b;
    int nd = j->out->ndim;
    a->ndim = o->ndim = b->ndim = 2;
    a->shape[0] = o->shape[0] = batch * j->m;
    a->shape[1] = j->k;
    o->shape[1] = j->n;
    a->strides[0] = j->a->strides[nd - 2];
    a->strides[1] = j->a->strides[nd - 1];
    o->strides[0] = j->out->strides[nd - 2];
    o->strides[1] = j->out->strides[nd - 1];
    b->shape[0] = j->k;
    b->shape[1] = j->n;
    b->strides[0] = j->b->strides[nd - 2];
    b->strides[1] = j->b->strides[nd - 1];
    f->a = a;
    f->out = o;
    f->b = b;
    f->nb = 0;
    f->m = batch * j->m;
    return true;
}

/* A product of few rows against half-precision columns (x W^T: B's columns contiguous along k)
 * with an f32 out: at AVX2 and up the GEMV's dot forms read the halves and widen them as they
 * load them (cpu_gemm_f32_half_b); elsewhere B is converted a chunk of columns at a time into a
 * buffer that stays in L2, each chunk's f32 product (the GEMV forms) run from it. Converting all
 * of B first wrote and read back twice its bytes in f32 (f16 x[8, 4096] W[4096, 4096]^T: 16 ms
 * against the f32 product's 3.8). Both give the f32 product's bits, since every output of the
 * GEMV forms is the same sequence of fmas whatever the number of columns (two or more: a chunk
 * never has one). */
enum { FEW_ROWS_HALF = 16, HALF_CHUNK_BYTES = 256 * 1024 };

typedef struct half_chunks_job {
    int64_t m, n, k, width, chunks;
    const float *a; /* m x k f32, rows a_rs apart */
    int64_t a_rs, a_cs;
    const char *b; /* column j: k contiguous halves at b + j b_cs halves */
    int64_t b_cs;
    bool bf16;
    float *c;
    int64_t c_rs;
    atomic_int failed;
} half_chunks_job;

static void half_chunk_range(int64_t begin, int64_t end, void *ctx) {
    half_chunks_job *h = ctx;
    float *buf = cpu_mem_alloc((size_t)(2 * h->width) * (size_t)h->k * sizeof *buf);
    if (!buf) {
        atomic_store(&h->failed, 1);
        return;
    }
    for (int64_t t = begin; t < end; t++) {
        int64_t j0 = t * h->width, w = t + 1 == h->chunks ? h->n - j0 : h->width;
        for (int64_t q = 0; q < w; q++)
            cpu_halves_to_f32(h->b + (j0 + q) * h->b_cs * 2, 2, h->bf16, buf + q * h->k, h->k);
        cpu_gemm_f32(h->m, w, h->k, 1.0f, h->a, h->a_rs, h->a_cs, buf, 1, h->k, 0.0f,
                     h->c + j0, h->c_rs, 1);
    }
    cpu_mem_free(buf);
}

/* out (f32, 2-D) = a b as above where the shape is one (m <= FEW_ROWS_HALF, n >= 2, B's columns
 * contiguous along k, out's rows contiguous); false where it is not. */
static bool few_rows_half(const born_strided *o, const born_strided *a, const born_strided *b,
                          born_status *st) {
    int64_t m = o->shape[0], n = o->shape[1], k = a->shape[1];
    if (o->ndim != 2 || o->dtype != BORN_F32 || m > FEW_ROWS_HALF || n < 2 || k < 1 ||
        b->strides[0] != 1 || o->strides[1] != 1)
        return false;
    born_strided fa;
    float *da = halves_to_f32(a, &fa);
    if (!da) {
        *st = born_last_status();
        return true;
    }
    if (fa.strides[1] == 1 &&
        cpu_gemm_f32_half_b(m, n, k, da, fa.strides[0], b->data, b->strides[1],
                            b->dtype == BORN_BF16, o->data, o->strides[0])) {
        cpu_mem_free(da);
        *st = BORN_OK;
        return true;
    }
    half_chunks_job h = {.m = m, .n = n, .k = k, .a = da, .a_rs = fa.strides[0],
                         .a_cs = fa.strides[1], .b = b->data, .b_cs = b->strides[1],
                         .bf16 = b->dtype == BORN_BF16, .c = o->data, .c_rs = o->strides[0]};
    h.width = HALF_CHUNK_BYTES / ((int64_t)sizeof(float) * k);
    if (h.width < 2) h.width = 2;
    h.chunks = n / h.width > 0 ? n / h.width : 1; /* the last takes the rest: never one column */
    if (h.chunks == 1) h.width = n;
    atomic_init(&h.failed, 0);
    born_parallel_for(h.chunks, 1, half_chunk_range, &h);
    cpu_mem_free(da);
    *st = atomic_load(&h.failed)
              ? born_error(BORN_ERR_MEMORY, "cpu matmul: no memory for a chunk of columns")
              : BORN_OK;
    return true;
}

/* Half (bf16 or f16) a and b, f32 or (bf16 only) bf16 out: gemm_bf16.c's product per batch
 * entry where the operands are bf16, cpu_gemm_bf16_takes the shape and out's columns are
 * contiguous; else the f32 GEMM (through an f32 out converted after, for a bf16 one): on a few
 * rows through few_rows_half, on one product or large ones per batch entry with the halves
 * widened as they are packed (cpu_gemm_halves), otherwise with the operands converted to f32
 * first (many small products spread over the batch). */
static born_status half_products(const matmul_job *j, int64_t batch) {
    matmul_job folded;
    born_strided va, vb, vo;
    if (fold_batch(j, batch, &folded, &va, &vb, &vo)) { /* one product of all the rows */
        j = &folded;
        batch = 1;
    }
    int nd = j->out->ndim;
    const born_strided *a = j->a, *b = j->b, *o = j->out;
    bool rounded = o->dtype == BORN_BF16;
    if (a->dtype == BORN_BF16 && cpu_gemm_bf16_takes(j->m, a->strides[nd - 1], b->strides[nd - 2]) &&
        o->strides[nd - 1] == 1) {
        for (int64_t t = 0; t < batch; t++) {
            int64_t oo, oa, ob;
            batch_offsets(j, t, &oo, &oa, &ob);
            const uint16_t *pa = (const uint16_t *)a->data + oa, *pb = (const uint16_t *)b->data + ob;
            born_status st =
                rounded ? cpu_gemm_bf16_rounded(j->m, j->n, j->k, pa, a->strides[nd - 2],
                                                a->strides[nd - 1], pb, b->strides[nd - 2],
                                                b->strides[nd - 1], NULL,
                                                (uint16_t *)o->data + oo, o->strides[nd - 2])
                        : cpu_gemm_bf16(j->m, j->n, j->k, pa, a->strides[nd - 2],
                                        a->strides[nd - 1], pb, b->strides[nd - 2],
                                        b->strides[nd - 1], (float *)o->data + oo,
                                        o->strides[nd - 2]);
            if (st != BORN_OK) return st;
        }
        return BORN_OK;
    }
    if (rounded) return bf16_via_f32(o, a, b, NULL);
    born_status few;
    if (batch == 1 && few_rows_half(o, a, b, &few)) return few;
    if (batch == 1 || (double)j->m * (double)j->n * (double)j->k > 128.0 * 128 * 128) {
        bool taken = true; /* the GEMM widens the halves as it packs them */
        for (int64_t t = 0; taken && t < batch; t++) {
            int64_t oo, oa, ob;
            batch_offsets(j, t, &oo, &oa, &ob);
            taken = cpu_gemm_halves(j->m, j->n, j->k, (const uint16_t *)a->data + oa,
                                    a->strides[nd - 2], a->strides[nd - 1],
                                    (const uint16_t *)b->data + ob, b->strides[nd - 2],
                                    b->strides[nd - 1], a->dtype == BORN_BF16,
                                    (float *)o->data + oo, o->strides[nd - 2], o->strides[nd - 1]);
        }
        if (taken) return BORN_OK;
    }
    born_strided fa, fb;
    float *da = halves_to_f32(a, &fa), *db = da ? halves_to_f32(b, &fb) : NULL;
    born_status st = db ? cpu_matmul(o, &fa, &fb) : born_last_status();
    cpu_mem_free(da);
    cpu_mem_free(db);
    return st;
}

born_status cpu_matmul_bf16_bias(const born_strided *out, const born_strided *a,
                                 const born_strided *b, const float *bias) {
    if (out->ndim != 2 || a->dtype != BORN_BF16 || b->dtype != BORN_BF16 || out->dtype != BORN_BF16)
        return born_error(BORN_ERR_DTYPE, "cpu matmul_bf16_bias: takes 2-D bf16 operands and result");
    int64_t m = out->shape[0], n = out->shape[1], k = a->shape[1];
    if (m == 0 || n == 0) return BORN_OK;
    if (cpu_gemm_bf16_takes(m, a->strides[1], b->strides[0]) && out->strides[1] == 1)
        return cpu_gemm_bf16_rounded(m, n, k, a->data, a->strides[0], a->strides[1], b->data,
                                     b->strides[0], b->strides[1], bias, out->data,
                                     out->strides[0]);
    /* the f32 product, the bias added in f32, then rounded: what the ops layer does without us */
    return bf16_via_f32(out, a, b, bias);
}

static void float_range(int64_t begin, int64_t end, void *ctx) {
    for (int64_t t = begin; t < end; t++)
        float_one(ctx, t);
}

/* ---- integers ---------------------------------------------------------------------------- */

enum { INT_COLS = 256 }; /* output columns accumulated at once */

/* Rows [begin, end) of the flattened (batch * m) output. */
#define DEFINE_INT_ROWS(name, T)                                                                   \
    static void name(int64_t begin, int64_t end, void *ctx) {                                      \
        const matmul_job *job = ctx;                                                               \
        int nd = job->out->ndim;                                                                   \
        int64_t a_rs = job->a->strides[nd - 2], a_cs = job->a->strides[nd - 1];                    \
        int64_t b_rs = job->b->strides[nd - 2], b_cs = job->b->strides[nd - 1];                    \
        int64_t o_rs = job->out->strides[nd - 2], o_cs = job->out->strides[nd - 1];                \
        uint64_t acc[INT_COLS];                                                                    \
        for (int64_t r = begin; r < end; r++) {                                                    \
            int64_t t = r / job->m, i = r % job->m, oo, oa, ob;                                    \
            batch_offsets(job, t, &oo, &oa, &ob);                                                  \
            const T *arow = (const T *)job->a->data + oa + i * a_rs; /* a[t, i, :] */              \
            const T *bmat = (const T *)job->b->data + ob;            /* b[t, :, :] */              \
            T *orow = (T *)job->out->data + oo + i * o_rs;           /* out[t, i, :] */            \
            for (int64_t j0 = 0; j0 < job->n; j0 += INT_COLS) {                                    \
                int64_t nc = job->n - j0 < INT_COLS ? job->n - j0 : INT_COLS;                      \
                memset(acc, 0, sizeof acc);                                                        \
                for (int64_t p = 0; p < job->k; p++) {                                             \
                    uint64_t x = (uint64_t)(int64_t)arow[p * a_cs];                                \
                    const T *brow = bmat + p * b_rs + j0 * b_cs;                                   \
                    for (int64_t c = 0; c < nc; c++)                                               \
                        acc[c] += x * (uint64_t)(int64_t)brow[c * b_cs];                           \
                }                                                                                  \
                for (int64_t c = 0; c < nc; c++)                                                   \
                    orow[(j0 + c) * o_cs] = (T)acc[c];                                             \
            }                                                                                      \
        }                                                                                          \
    }

DEFINE_INT_ROWS(int_rows_i8, int8_t)
DEFINE_INT_ROWS(int_rows_i16, int16_t)
DEFINE_INT_ROWS(int_rows_i32, int32_t)
DEFINE_INT_ROWS(int_rows_i64, int64_t)
DEFINE_INT_ROWS(int_rows_u8, uint8_t)

born_status cpu_matmul(const born_strided *out, const born_strided *a, const born_strided *b) {
    int nd = out->ndim;
    matmul_job j = {.out = out,
                    .a = a,
                    .b = b,
                    .nb = nd - 2,
                    .m = out->shape[nd - 2],
                    .n = out->shape[nd - 1],
                    .k = a->shape[nd - 1]};
    int64_t batch = 1;
    for (int d = 0; d < j.nb; d++)
        batch *= out->shape[d];
    if (batch == 0 || j.m == 0 || j.n == 0) return BORN_OK;
    if (a->dtype == BORN_BF16 && b->dtype == BORN_BF16 &&
        (out->dtype == BORN_F32 || out->dtype == BORN_BF16))
        return half_products(&j, batch);
    if (a->dtype == BORN_F16 && b->dtype == BORN_F16 && out->dtype == BORN_F32)
        return half_products(&j, batch);
    born_range_fn int_rows = NULL;
    switch (out->dtype) {
    case BORN_F32:
    case BORN_F64: {
        matmul_job folded;
        born_strided fa, fb, fo;
        if (fold_batch(&j, batch, &folded, &fa, &fb, &fo)) {
            float_one(&folded, 0);
            return BORN_OK;
        }
        double work = (double)j.m * (double)j.n * (double)(j.k > 0 ? j.k : 1);
        if (batch > 1 && work <= 128.0 * 128 * 128) {
            /* small matrices: whole ones per task, ~256K multiply-adds a chunk at least */
            int64_t grain = (int64_t)(262144.0 / work);
            born_parallel_for(batch, grain < 1 ? 1 : grain, float_range, &j);
        } else {
            for (int64_t t = 0; t < batch; t++)
                float_one(&j, t);
        }
        return BORN_OK;
    }
    case BORN_I8: int_rows = int_rows_i8; break;
    case BORN_I16: int_rows = int_rows_i16; break;
    case BORN_I32: int_rows = int_rows_i32; break;
    case BORN_I64: int_rows = int_rows_i64; break;
    case BORN_U8: int_rows = int_rows_u8; break;
    default:
        return born_error(
            BORN_ERR_DTYPE,
            "cpu matmul: %s is not supported (the ops layer converts f16/bf16 to f32)",
            born_dtype_name(out->dtype));
    }
    double row_work = (double)j.n * (double)(j.k > 0 ? j.k : 1);
    int64_t grain = (int64_t)(65536.0 / row_work);
    born_parallel_for(batch * j.m, grain < 1 ? 1 : grain, int_rows, &j);
    return BORN_OK;
}
