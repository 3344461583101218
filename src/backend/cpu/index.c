/* CPU indexing kernels: gather, scatter_add, index_select and index_add.
 *
 * All four walk the same geometry. Tensor B is the one iterated in full (gather's and
 * index_select's output, scatter_add's and index_add's source); tensor A is the one indexed along
 * dim (the input of gather/index_select, the output of scatter_add/index_add). A "row" is one
 * combination of B's other dimensions; A's element for B's position p is A[p with p[dim] replaced
 * by the index]. Rows are split over the thread pool in fixed chunks; within a chunk, blocks of up
 * to BLOCK rows are walked index position by index position, so rows that are neighbours in memory
 * stay together.
 *
 * Determinism of the accumulating kernels: two rows never touch the same element of A (they
 * differ in a dimension other than dim), and a row adds its values in index order, so each
 * element of A receives its additions in one fixed order whatever the thread count.
 *
 * Indices out of range are never dereferenced: workers only raise a flag, and the calling thread
 * then finds the first bad index (row-major) and records the error, so the message does not depend
 * on the thread count either. */
#include <inttypes.h>
#include <stdatomic.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/rows.h"

enum { BLOCK = 64 };

/* One block operation for one index position: nk elements at element offsets a_off[k] + a_shift
 * in A and b_off[k] + b_shift in B (a_off and b_off NULL: the nk elements are consecutive from
 * a_shift and b_shift). Either copies A -> B or adds B into A. */
typedef void (*block_fn)(char *a, const int64_t *a_off, int64_t a_shift, char *b,
                         const int64_t *b_off, int64_t b_shift, int nk);

#define COPY_BLOCK(NAME, T)                                                                       \
    static void NAME(char *a, const int64_t *ao, int64_t as, char *b, const int64_t *bo,          \
                     int64_t bs, int nk) {                                                        \
        if (!ao) {                                                                                \
            memcpy((T *)b + bs, (const T *)a + as, sizeof(T) * (size_t)nk);                       \
            return;                                                                               \
        }                                                                                         \
        for (int k = 0; k < nk; k++) ((T *)b)[bo[k] + bs] = ((const T *)a)[ao[k] + as];           \
    }

COPY_BLOCK(copy_1, uint8_t)
COPY_BLOCK(copy_2, uint16_t)
COPY_BLOCK(copy_4, uint32_t)
COPY_BLOCK(copy_8, uint64_t)

/* a += b; integers wrap (computed in the unsigned type U), floats add in their own type. */
#define ADD_BLOCK(NAME, T, U)                                                                     \
    static void NAME(char *a, const int64_t *ao, int64_t as, char *b, const int64_t *bo,          \
                     int64_t bs, int nk) {                                                        \
        if (!ao) {                                                                                \
            T *x = (T *)a + as;                                                                   \
            const T *y = (const T *)b + bs;                                                       \
            for (int k = 0; k < nk; k++) x[k] = (T)(U)((U)x[k] + (U)y[k]);                        \
            return;                                                                               \
        }                                                                                         \
        for (int k = 0; k < nk; k++) {                                                            \
            T *x = (T *)a + ao[k] + as;                                                           \
            *x = (T)(U)((U)*x + (U)((const T *)b)[bo[k] + bs]);                                   \
        }                                                                                         \
    }

ADD_BLOCK(add_f32, float, float)
ADD_BLOCK(add_f64, double, double)
ADD_BLOCK(add_i8, int8_t, uint8_t)
ADD_BLOCK(add_i16, int16_t, uint16_t)
ADD_BLOCK(add_i32, int32_t, uint32_t)
ADD_BLOCK(add_i64, int64_t, uint64_t)
ADD_BLOCK(add_u8, uint8_t, uint8_t)

static void add_bool(char *a, const int64_t *ao, int64_t as, char *b, const int64_t *bo,
                     int64_t bs, int nk) {
    for (int k = 0; k < nk; k++) {
        uint8_t *x = (uint8_t *)a + (ao ? ao[k] : k) + as;
        *x = (uint8_t)((*x | ((const uint8_t *)b)[(bo ? bo[k] : k) + bs]) != 0);
    }
}

static block_fn copy_fn(born_dtype t) {
    switch (born_dtype_size(t)) {
    case 1: return copy_1;
    case 2: return copy_2;
    case 4: return copy_4;
    default: return copy_8;
    }
}

static block_fn add_fn(born_dtype t) {
    switch (t) {
    case BORN_F32: return add_f32;
    case BORN_F64: return add_f64;
    case BORN_I8: return add_i8;
    case BORN_I16: return add_i16;
    case BORN_I32: return add_i32;
    case BORN_I64: return add_i64;
    case BORN_U8: return add_u8;
    case BORN_BOOL: return add_bool;
    default: return NULL;
    }
}

/* A 0-dim tensor seen as a 1-element 1-D one, so every kernel has a dim to work along. */
static born_strided at_least_1d(const born_strided *s) {
    born_strided r = *s;
    if (r.ndim == 0) {
        r.ndim = 1;
        r.shape[0] = 1;
        r.strides[0] = 0;
    }
    return r;
}

typedef struct index_job {
    born_strided a;      /* indexed along dim; its other sizes are replaced by B's */
    born_strided b;      /* iterated in full */
    born_strided ix;     /* i64: B's shape (per_element) or 1-D along B's dim */
    int dim;
    int64_t bound;       /* A's size along dim: valid indices are [0, bound) */
    bool per_element;
    block_fn fn;
    atomic_int bad;      /* set by a worker that met an index out of range */
} index_job;

static void index_rows(int64_t begin, int64_t end, void *arg) {
    index_job *job = arg;
    const int dim = job->dim;
    const int64_t n = job->b.shape[dim];
    const int64_t a_step = job->a.strides[dim], b_step = job->b.strides[dim];
    const int64_t i_step = job->ix.strides[job->per_element ? dim : 0];
    const int64_t *ix = job->ix.data;
    char *a = job->a.data, *b = job->b.data;
    int64_t a_off[BLOCK], b_off[BLOCK], i_off[BLOCK];
    for (int64_t r0 = begin; r0 < end; r0 += BLOCK) {
        int nk = (int)(end - r0 < BLOCK ? end - r0 : BLOCK);
        bool run = true; /* the block's rows are consecutive elements in both A and B */
        for (int k = 0; k < nk; k++) {
            a_off[k] = rows_offset(&job->a, dim, r0 + k);
            b_off[k] = rows_offset(&job->b, dim, r0 + k);
            i_off[k] = job->per_element ? rows_offset(&job->ix, dim, r0 + k) : 0;
            run = run && a_off[k] == a_off[0] + k && b_off[k] == b_off[0] + k;
        }
        for (int64_t j = 0; j < n; j++) {
            if (!job->per_element) { /* one index for the whole block (validated beforehand) */
                int64_t as = ix[j * i_step] * a_step, bs = j * b_step;
                if (run)
                    job->fn(a, NULL, a_off[0] + as, b, NULL, b_off[0] + bs, nk);
                else
                    job->fn(a, a_off, as, b, b_off, bs, nk);
                continue;
            }
            for (int k = 0; k < nk; k++) {
                int64_t v = ix[i_off[k] + j * i_step];
                if (v < 0 || v >= job->bound) {
                    atomic_store_explicit(&job->bad, 1, memory_order_relaxed);
                    continue;
                }
                job->fn(a, &a_off[k], v * a_step, b, &b_off[k], j * b_step, 1);
            }
        }
    }
}

/* The first index (row-major over ix) outside [0, bound), or false when all are valid. */
static bool first_bad_index(const born_strided *ix, int64_t bound, int64_t *value) {
    int64_t n = 1;
    for (int d = 0; d < ix->ndim; d++) n *= ix->shape[d];
    const int64_t *p = ix->data;
    for (int64_t e = 0; e < n; e++) {
        int64_t off = 0, rem = e;
        for (int d = ix->ndim - 1; d >= 0; d--) {
            off += (rem % ix->shape[d]) * ix->strides[d];
            rem /= ix->shape[d];
        }
        if (p[off] < 0 || p[off] >= bound) {
            *value = p[off];
            return true;
        }
    }
    return false;
}

static born_status out_of_range(int64_t value, int dim, int64_t bound) {
    return born_error(BORN_ERR_ARGUMENT, "index %" PRId64 " is out of range for dimension %d of "
                      "size %" PRId64, value, dim, bound);
}

/* ---- whole rows along dim 0 (the embedding's lookup and its gradient) ---------------------- */

/* True when s's dims after the first are row-major contiguous, so each index position along dim 0
 * is one run of `rows` consecutive elements. */
static bool slices_contiguous(const born_strided *s) {
    int64_t expect = 1;
    for (int d = s->ndim - 1; d >= 1; d--) {
        if (s->shape[d] == 1) continue;
        if (s->strides[d] != expect) return false;
        expect *= s->shape[d];
    }
    return true;
}

enum { SLICE_RUN = 1 << 16 }; /* elements per block_fn call */

/* index_select: B's slice j is A's slice ix[j] (validated beforehand), one copy per slice. */
static void slices_copy(int64_t begin, int64_t end, void *arg) {
    index_job *job = arg;
    int64_t len = rows_count(&job->b, 0), i_step = job->ix.strides[0];
    const int64_t *ix = job->ix.data;
    for (int64_t j = begin; j < end; j++)
        for (int64_t c = 0; c < len; c += SLICE_RUN)
            job->fn(job->a.data, NULL, ix[j * i_step] * job->a.strides[0] + c, job->b.data, NULL,
                    j * job->b.strides[0] + c, (int)(len - c < SLICE_RUN ? len - c : SLICE_RUN));
}

/* index_add: the task that owns A's slices [begin, end) adds, in index order j, every B slice j
 * whose index falls in that range -- the order of the row walk, so the same bits, and no two
 * tasks write one slice. */
static void slices_add(int64_t begin, int64_t end, void *arg) {
    index_job *job = arg;
    int64_t len = rows_count(&job->b, 0), n = job->b.shape[0], i_step = job->ix.strides[0];
    const int64_t *ix = job->ix.data;
    for (int64_t j = 0; j < n; j++) {
        int64_t v = ix[j * i_step];
        if (v < begin || v >= end) continue;
        for (int64_t c = 0; c < len; c += SLICE_RUN)
            job->fn(job->a.data, NULL, v * job->a.strides[0] + c, job->b.data, NULL,
                    j * job->b.strides[0] + c, (int)(len - c < SLICE_RUN ? len - c : SLICE_RUN));
    }
}

/* Runs a job whose a, b, ix, dim, per_element and fn are set. */
static born_status index_run(index_job *job) {
    job->a = at_least_1d(&job->a);
    job->b = at_least_1d(&job->b);
    job->ix = at_least_1d(&job->ix);
    const int dim = job->dim;
    job->bound = job->a.shape[dim];
    int64_t bad_value;
    if (!job->per_element && first_bad_index(&job->ix, job->bound, &bad_value))
        return out_of_range(bad_value, dim, job->bound);
    /* A is addressed with B's positions in every dimension but dim */
    for (int d = 0; d < job->b.ndim; d++)
        if (d != dim) job->a.shape[d] = job->b.shape[d];
    atomic_init(&job->bad, 0);
    int64_t rows = rows_count(&job->b, dim), n = job->b.shape[dim];
    if (rows == 0 || n == 0) return BORN_OK;
    if (!job->per_element && dim == 0 && slices_contiguous(&job->a) &&
        slices_contiguous(&job->b)) {
        /* whole slices: copies spread over the index positions; additions over A's slices */
        int64_t grain = 16384 / rows;
        if (job->fn == copy_fn(job->b.dtype))
            born_parallel_for(n, grain < 1 ? 1 : grain, slices_copy, job);
        else { /* every task scans all n indices: a few tasks per thread at most */
            int64_t few = job->bound / (4 * (int64_t)born_get_num_threads());
            born_parallel_for(job->bound, grain > few ? (grain < 1 ? 1 : grain) : few, slices_add,
                              job);
        }
        return BORN_OK;
    }
    /* Rows never share an element of A and each row is done by one thread, so the chunking
     * (which may follow the thread count) cannot change a result. Aim for ~16K elements per
     * chunk, but keep up to BLOCK neighbouring rows together while there are chunks enough. */
    int64_t grain = 16384 / n;
    int64_t spread = rows / (4 * (int64_t)born_get_num_threads());
    if (grain < BLOCK && spread > grain) grain = spread < BLOCK ? spread : BLOCK;
    if (grain < 1) grain = 1;
    born_parallel_for(rows, grain, index_rows, job);
    if (atomic_load(&job->bad) && first_bad_index(&job->ix, job->bound, &bad_value))
        return out_of_range(bad_value, dim, job->bound);
    return BORN_OK;
}

static born_status no_add(born_dtype t) {
    return born_error(BORN_ERR_DTYPE, "index accumulation is not supported for %s on the CPU",
                      born_dtype_name(t));
}

born_status cpu_gather(const born_strided *out, const born_strided *in, const born_strided *index,
                       int dim) {
    index_job job = {.a = *in, .b = *out, .ix = *index, .dim = dim, .per_element = true,
                     .fn = copy_fn(in->dtype)};
    return index_run(&job);
}

born_status cpu_scatter_add(const born_strided *out, const born_strided *index,
                            const born_strided *src, int dim) {
    block_fn fn = add_fn(out->dtype);
    if (!fn) return no_add(out->dtype);
    /* only the part of src that index covers takes part (index and src have one ndim, a 0-dim
     * one counting as 1-D) */
    born_strided ix = at_least_1d(index), s = at_least_1d(src);
    for (int d = 0; d < s.ndim && d < ix.ndim; d++) s.shape[d] = ix.shape[d];
    index_job job = {.a = *out, .b = s, .ix = ix, .dim = dim, .per_element = true, .fn = fn};
    return index_run(&job);
}

born_status cpu_index_select(const born_strided *out, const born_strided *in,
                             const born_strided *index, int dim) {
    index_job job = {.a = *in, .b = *out, .ix = *index, .dim = dim, .per_element = false,
                     .fn = copy_fn(in->dtype)};
    return index_run(&job);
}

born_status cpu_index_add(const born_strided *out, const born_strided *index,
                          const born_strided *src, int dim) {
    block_fn fn = add_fn(out->dtype);
    if (!fn) return no_add(out->dtype);
    index_job job = {.a = *out, .b = *src, .ix = *index, .dim = dim, .per_element = false,
                     .fn = fn};
    return index_run(&job);
}
