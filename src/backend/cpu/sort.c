/* CPU sort and topk along one dim, for every dtype.
 *
 * Each row is loaded into (key, index) pairs: floating dtypes as double keys (f16/bf16/f32 convert
 * exactly), integers and bool as int64 keys. The order is a total order: ascending (or
 * descending) by value with NaN above everything, and equal values by ascending index. So sort
 * is stable, and topk returns the first k elements of that same order: the lower index first
 * among ties. Values are copied from the input element found at each index (bit for bit), so the
 * kernel never converts them.
 *
 * sort is a merge sort (stable by construction). topk keeps a heap of the k best elements when
 * k is small against the row, else sorts the whole row; both give the same k elements. With
 * sorted = false the k elements come in ascending index order. Rows are split over the pool;
 * each row is independent, so the thread count never changes a result. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/rows.h"
#include "core/scalar.h"

typedef struct fpair {
    double key;
    int64_t idx;
} fpair;

typedef struct ipair {
    int64_t key;
    int64_t idx;
} ipair;

/* "a sorts before b", ignoring the index (equal keys are left to stability / the index). */
#define F_ASC(a, b) ((a).key < (b).key || (isnan((b).key) && !isnan((a).key)))
#define F_DESC(a, b) ((a).key > (b).key || (isnan((a).key) && !isnan((b).key)))
#define I_ASC(a, b) ((a).key < (b).key)
#define I_DESC(a, b) ((a).key > (b).key)

/* Per (pair type, direction): a stable merge sort, and a bounded heap for topk whose root is the
 * element that sorts last (under the total order with the index as tie-break). */
#define DEFINE_SORT(NAME, P, BEFORE)                                                               \
    static inline void NAME##_msort(P *a, P *tmp, int64_t n) {                                     \
        if (n <= 16) { /* stable insertion sort */                                                 \
            for (int64_t i = 1; i < n; i++) {                                                      \
                P x = a[i];                                                                        \
                int64_t j = i;                                                                     \
                while (j > 0 && BEFORE(x, a[j - 1])) {                                             \
                    a[j] = a[j - 1];                                                               \
                    j--;                                                                           \
                }                                                                                  \
                a[j] = x;                                                                          \
            }                                                                                      \
            return;                                                                                \
        }                                                                                          \
        int64_t h = n / 2;                                                                         \
        NAME##_msort(a, tmp, h);                                                                   \
        NAME##_msort(a + h, tmp, n - h);                                                           \
        if (!BEFORE(a[h], a[h - 1])) return; /* already in order */                                \
        memcpy(tmp, a, (size_t)h * sizeof(P));                                                     \
        int64_t i = 0, j = h, o = 0;                                                               \
        while (i < h && j < n)                                                                     \
            a[o++] = BEFORE(a[j], tmp[i]) ? a[j++] : tmp[i++];                                     \
        while (i < h)                                                                              \
            a[o++] = tmp[i++];                                                                     \
    }                                                                                              \
    static inline bool NAME##_total(P a, P b) { /* a strictly before b, index breaking ties */     \
        if (BEFORE(a, b)) return true;                                                             \
        if (BEFORE(b, a)) return false;                                                            \
        return a.idx < b.idx;                                                                      \
    }                                                                                              \
    static inline void NAME##_sift(P *heap, int64_t k, int64_t i) {                                \
        for (;;) {                                                                                 \
            int64_t l = 2 * i + 1, r = l + 1, m = i;                                               \
            if (l < k && NAME##_total(heap[m], heap[l])) m = l;                                    \
            if (r < k && NAME##_total(heap[m], heap[r])) m = r;                                    \
            if (m == i) return;                                                                    \
            P t = heap[i];                                                                         \
            heap[i] = heap[m];                                                                     \
            heap[m] = t;                                                                           \
            i = m;                                                                                 \
        }                                                                                          \
    }                                                                                              \
    /* The k elements of a[0..n) that sort first, left in heap[0..k) in no particular order. */    \
    __attribute__((unused)) static inline void NAME##_select(const P *a, int64_t n, int64_t k,      \
                                                             P *heap) {                           \
        memcpy(heap, a, (size_t)k * sizeof(P));                                                    \
        for (int64_t i = k / 2 - 1; i >= 0; i--)                                                   \
            NAME##_sift(heap, k, i);                                                               \
        for (int64_t i = k; i < n; i++)                                                            \
            if (NAME##_total(a[i], heap[0])) {                                                     \
                heap[0] = a[i];                                                                    \
                NAME##_sift(heap, k, 0);                                                           \
            }                                                                                      \
    }

DEFINE_SORT(f_asc, fpair, F_ASC)
DEFINE_SORT(f_desc, fpair, F_DESC)
DEFINE_SORT(i_asc, ipair, I_ASC)
DEFINE_SORT(i_desc, ipair, I_DESC)

#define BY_INDEX(a, b) ((a).idx < (b).idx)
DEFINE_SORT(f_index, fpair, BY_INDEX)
DEFINE_SORT(i_index, ipair, BY_INDEX)

typedef struct sort_ctx {
    const born_strided *values, *indices, *in;
    int dim;
    int64_t n, k; /* row length, and how many to keep (n for sort) */
    bool descending, topk, sorted;
    atomic_int failed;
} sort_ctx;

static int64_t stride_along(const born_strided *t, int dim) {
    return t->ndim ? t->strides[dim] : 0;
}
static int64_t row_offset(const born_strided *t, int dim, int64_t r) {
    return t->ndim ? rows_offset(t, dim, r) : 0;
}

/* Writes the first k pairs' values (copied from the input row) and indices to row r. */
#define WRITE_ROW(P)                                                                               \
    static void write_row_##P(const sort_ctx *c, int64_t r, const P *pairs, const char *src,       \
                              int64_t src_step) {                                                  \
        size_t es = born_dtype_size(c->in->dtype);                                                 \
        if (c->values->data) {                                                                     \
            char *dst = (char *)c->values->data + row_offset(c->values, c->dim, r) * (int64_t)es;  \
            int64_t step = stride_along(c->values, c->dim) * (int64_t)es;                          \
            for (int64_t j = 0; j < c->k; j++)                                                     \
                memcpy(dst + j * step, src + pairs[j].idx * src_step, es);                         \
        }                                                                                          \
        if (c->indices->data) {                                                                    \
            int64_t *dst = (int64_t *)c->indices->data + row_offset(c->indices, c->dim, r);        \
            int64_t step = stride_along(c->indices, c->dim);                                       \
            for (int64_t j = 0; j < c->k; j++)                                                     \
                dst[j * step] = pairs[j].idx;                                                      \
        }                                                                                          \
    }
WRITE_ROW(fpair)
WRITE_ROW(ipair)

/* Sorts / selects one row of pairs into pairs[0..k) in output order. */
#define ORDER_ROW(P, PREFIX, ASC, DESC)                                                            \
    static void order_row_##P(const sort_ctx *c, P *pairs, P *tmp) {                               \
        int64_t n = c->n, k = c->k;                                                                \
        bool use_heap = c->topk && k > 0 && k < n && k <= n / 4;                                   \
        if (use_heap) {                                                                            \
            if (c->descending)                                                                     \
                DESC##_select(pairs, n, k, tmp);                                                   \
            else                                                                                   \
                ASC##_select(pairs, n, k, tmp);                                                    \
            memcpy(pairs, tmp, (size_t)k * sizeof(P));                                             \
            if (c->sorted) {                                                                       \
                /* by index first, so the stable sort by value then breaks ties by index */        \
                PREFIX##_index_msort(pairs, tmp, k);                                               \
                if (c->descending)                                                                 \
                    DESC##_msort(pairs, tmp, k);                                                   \
                else                                                                               \
                    ASC##_msort(pairs, tmp, k);                                                    \
            } else {                                                                               \
                PREFIX##_index_msort(pairs, tmp, k);                                               \
            }                                                                                      \
            return;                                                                                \
        }                                                                                          \
        if (c->descending)                                                                         \
            DESC##_msort(pairs, tmp, n);                                                           \
        else                                                                                       \
            ASC##_msort(pairs, tmp, n);                                                            \
        if (c->topk && !c->sorted) PREFIX##_index_msort(pairs, tmp, k);                            \
    }
ORDER_ROW(fpair, f, f_asc, f_desc)
ORDER_ROW(ipair, i, i_asc, i_desc)

static void sort_rows(int64_t begin, int64_t end, void *arg) {
    sort_ctx *c = arg;
    const born_strided *in = c->in;
    born_dtype dt = in->dtype;
    size_t es = born_dtype_size(dt);
    bool floating = born_dtype_is_floating(dt);
    int64_t n = c->n;
    size_t psize = floating ? sizeof(fpair) : sizeof(ipair);
    char *buf = malloc((size_t)(n > 0 ? n : 1) * 2 * psize);
    if (!buf) {
        atomic_store(&c->failed, 1);
        return;
    }
    int64_t step = stride_along(in, c->dim) * (int64_t)es;
    for (int64_t r = begin; r < end; r++) {
        const char *src = (const char *)in->data + row_offset(in, c->dim, r) * (int64_t)es;
        if (floating) {
            fpair *pairs = (fpair *)buf, *tmp = pairs + n;
            if (dt == BORN_F32) {
                for (int64_t i = 0; i < n; i++)
                    pairs[i] = (fpair){*(const float *)(src + i * step), i};
            } else if (dt == BORN_F64) {
                for (int64_t i = 0; i < n; i++)
                    pairs[i] = (fpair){*(const double *)(src + i * step), i};
            } else {
                for (int64_t i = 0; i < n; i++)
                    pairs[i] = (fpair){scalar_load_f64(src + i * step, dt), i};
            }
            order_row_fpair(c, pairs, tmp);
            write_row_fpair(c, r, pairs, src, step);
        } else {
            ipair *pairs = (ipair *)buf, *tmp = pairs + n;
            for (int64_t i = 0; i < n; i++)
                pairs[i] = (ipair){scalar_load_i64(src + i * step, dt), i};
            order_row_ipair(c, pairs, tmp);
            write_row_ipair(c, r, pairs, src, step);
        }
    }
    free(buf);
}

static born_status run(sort_ctx *c, const char *name) {
    atomic_init(&c->failed, 0);
    const born_strided *in = c->in;
    int64_t rows = in->ndim ? rows_count(in, c->dim) : 1;
    if (c->n == 0 || c->k == 0) return BORN_OK; /* nothing to write */
    int64_t grain = c->n >= 4096 ? 1 : 4096 / c->n;
    born_parallel_for(rows, grain, sort_rows, c);
    return atomic_load(&c->failed) ? born_error(BORN_ERR_MEMORY, "%s: out of memory", name)
                                   : BORN_OK;
}

born_status cpu_sort(const born_strided *values, const born_strided *indices,
                     const born_strided *in, int dim, bool descending) {
    int64_t n = in->ndim ? in->shape[dim] : 1;
    sort_ctx c = {.values = values,
                  .indices = indices,
                  .in = in,
                  .dim = dim,
                  .n = n,
                  .k = n,
                  .descending = descending,
                  .topk = false,
                  .sorted = true};
    return run(&c, "sort");
}

born_status cpu_topk(const born_strided *values, const born_strided *indices,
                     const born_strided *in, int64_t k, int dim, bool largest, bool sorted) {
    int64_t n = in->ndim ? in->shape[dim] : 1;
    sort_ctx c = {.values = values,
                  .indices = indices,
                  .in = in,
                  .dim = dim,
                  .n = n,
                  .k = k,
                  .descending = largest,
                  .topk = true,
                  .sorted = sorted};
    return run(&c, "topk");
}
