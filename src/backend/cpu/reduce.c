/* CPU reductions (sum, prod, max, min; any/all are max/min on bool) over any set of dims.
 *
 * Determinism: every output element is reduced by one thread in a fixed order. A reduction to a
 * single value is split into fixed blocks whose partial results are combined in block order, so
 * the result never depends on the thread count. Float sums use several accumulators per run and
 * a block-wise cascade, which keeps f32 error small without f64. With AVX2 the contiguous f32
 * runs are folded by reduce_avx2.c (32 partial sums per run), and on arm64 with NEON by
 * reduce_neon.c in the same order (the same bits); the order is still fixed by the shape alone,
 * though it differs from the portable loops' order.
 *
 * Outer reductions (the kept dims include the input's contiguous innermost one, e.g. summing a
 * [B, N] gradient over B) are "column" reductions: rather than walking each output's strided
 * column, whole rows are accumulated into a vector of outputs. The reduced rows are cut into
 * fixed chunks of COL_CHUNK rows; each chunk is summed row by row into its own partial vector
 * and the partials are combined in chunk order, which is the same cascade as above and again
 * independent of the thread count.
 *
 * f16 and bf16 inputs (with an f32 output) are read in place: each run, or each group of rows of
 * a column reduction, is converted into an f32 buffer of the task's and folded by the f32
 * functions, so a contiguous half tensor gives the bits of its f32 conversion reduced, without
 * the conversion pass's f32 copy going through memory. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/convert_simd.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/kernels_avx2.h"
#include "backend/cpu/kernels_neon.h"
#include "backend/cpu/scratch.h"
#include "backend/cpu/stream.h"
#include "core/cpu_features.h"

/* One accumulator of any dtype family. */
typedef union acc {
    float f;
    double d;
    int64_t i;
    uint64_t u;
} acc;

/* Folds n elements (stride in bytes) into *a. */
typedef void (*run_fn)(const char *p, int64_t step, int64_t n, acc *a);
/* Combines partial b into a. */
typedef void (*combine_fn)(acc *a, acc b);

/* ---- sums -------------------------------------------------------------------------------- */

static void sum_f32(const char *p, int64_t step, int64_t n, acc *a) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    int64_t i = 0;
    if (step == 4) {
        const float *x = (const float *)p;
        for (; i + 8 <= n; i += 8) {
            s0 += x[i]; s1 += x[i + 1]; s2 += x[i + 2]; s3 += x[i + 3];
            s4 += x[i + 4]; s5 += x[i + 5]; s6 += x[i + 6]; s7 += x[i + 7];
        }
    }
    for (; i < n; i++) s0 += *(const float *)(p + i * step);
    a->f += ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
}

static void sum_f64(const char *p, int64_t step, int64_t n, acc *a) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    if (step == 8) {
        const double *x = (const double *)p;
        for (; i + 4 <= n; i += 4) {
            s0 += x[i]; s1 += x[i + 1]; s2 += x[i + 2]; s3 += x[i + 3];
        }
    }
    for (; i < n; i++) s0 += *(const double *)(p + i * step);
    a->d += (s0 + s1) + (s2 + s3);
}

static void sum_i64(const char *p, int64_t step, int64_t n, acc *a) {
    uint64_t s = 0; /* wraps like two's complement */
    for (int64_t i = 0; i < n; i++) s += (uint64_t)*(const int64_t *)(p + i * step);
    a->u += s;
}

#ifdef CPU_HAVE_AVX2_KERNELS
static void sum_f32_avx2(const char *p, int64_t step, int64_t n, acc *a) {
    if (step == 4)
        a->f += cpu_sum_f32_avx2((const float *)p, n);
    else
        sum_f32(p, step, n, a);
}
#endif
#ifdef CPU_HAVE_NEON_KERNELS
static void sum_f32_neon(const char *p, int64_t step, int64_t n, acc *a) {
    if (step == 4)
        a->f += cpu_sum_f32_neon((const float *)p, n);
    else
        sum_f32(p, step, n, a);
}
#endif

static void add_f(acc *a, acc b) { a->f += b.f; }
static void add_d(acc *a, acc b) { a->d += b.d; }
static void add_u(acc *a, acc b) { a->u += b.u; }

/* ---- products ---------------------------------------------------------------------------- */

static void prod_f32(const char *p, int64_t step, int64_t n, acc *a) {
    for (int64_t i = 0; i < n; i++) a->f *= *(const float *)(p + i * step);
}
static void prod_f64(const char *p, int64_t step, int64_t n, acc *a) {
    for (int64_t i = 0; i < n; i++) a->d *= *(const double *)(p + i * step);
}
static void prod_i64(const char *p, int64_t step, int64_t n, acc *a) {
    for (int64_t i = 0; i < n; i++) a->u *= (uint64_t)*(const int64_t *)(p + i * step);
}
static void mul_f(acc *a, acc b) { a->f *= b.f; }
static void mul_d(acc *a, acc b) { a->d *= b.d; }
static void mul_u(acc *a, acc b) { a->u *= b.u; }

/* ---- max / min: floats propagate NaN; integers are held as int64 ------------------------ */

#define FLOAT_EXTREMUM(name, T, field, CMP)                                                       \
    static void name(const char *p, int64_t step, int64_t n, acc *a) {                            \
        T m = a->field;                                                                           \
        for (int64_t i = 0; i < n; i++) {                                                         \
            T x = *(const T *)(p + i * step);                                                     \
            if (x != x || x CMP m) m = x;                                                         \
            if (m != m) break;                                                                    \
        }                                                                                         \
        a->field = m;                                                                             \
    }                                                                                             \
    static void name##_combine(acc *a, acc b) {                                                   \
        if (b.field != b.field || b.field CMP a->field) a->field = b.field;                       \
    }

FLOAT_EXTREMUM(max_f32, float, f, >)
FLOAT_EXTREMUM(min_f32, float, f, <)

#ifdef CPU_HAVE_AVX2_KERNELS
static void max_f32_avx2(const char *p, int64_t step, int64_t n, acc *a) {
    if (step == 4)
        a->f = cpu_max_f32_avx2((const float *)p, n, a->f);
    else
        max_f32(p, step, n, a);
}
static void min_f32_avx2(const char *p, int64_t step, int64_t n, acc *a) {
    if (step == 4)
        a->f = cpu_min_f32_avx2((const float *)p, n, a->f);
    else
        min_f32(p, step, n, a);
}
#endif
#ifdef CPU_HAVE_NEON_KERNELS
static void max_f32_neon(const char *p, int64_t step, int64_t n, acc *a) {
    if (step == 4)
        a->f = cpu_max_f32_neon((const float *)p, n, a->f);
    else
        max_f32(p, step, n, a);
}
static void min_f32_neon(const char *p, int64_t step, int64_t n, acc *a) {
    if (step == 4)
        a->f = cpu_min_f32_neon((const float *)p, n, a->f);
    else
        min_f32(p, step, n, a);
}
#endif
FLOAT_EXTREMUM(max_f64, double, d, >)
FLOAT_EXTREMUM(min_f64, double, d, <)

#define INT_EXTREMUM(name, T, CMP)                                                                \
    static void name(const char *p, int64_t step, int64_t n, acc *a) {                            \
        int64_t m = a->i;                                                                         \
        for (int64_t i = 0; i < n; i++) {                                                         \
            int64_t x = *(const T *)(p + i * step);                                               \
            if (x CMP m) m = x;                                                                   \
        }                                                                                         \
        a->i = m;                                                                                 \
    }

INT_EXTREMUM(max_i8, int8_t, >)
INT_EXTREMUM(min_i8, int8_t, <)
INT_EXTREMUM(max_i16, int16_t, >)
INT_EXTREMUM(min_i16, int16_t, <)
INT_EXTREMUM(max_i32, int32_t, >)
INT_EXTREMUM(min_i32, int32_t, <)
INT_EXTREMUM(max_i64, int64_t, >)
INT_EXTREMUM(min_i64, int64_t, <)
INT_EXTREMUM(max_u8, uint8_t, >)
INT_EXTREMUM(min_u8, uint8_t, <)
static void max_i_combine(acc *a, acc b) { if (b.i > a->i) a->i = b.i; }
static void min_i_combine(acc *a, acc b) { if (b.i < a->i) a->i = b.i; }

/* ---- choosing the functions for (op, dtype) ---------------------------------------------- */

typedef struct reducer {
    run_fn run;
    combine_fn combine;
    acc init;
} reducer;

static bool pick(born_reduce_op op, born_dtype t, reducer *r) {
    memset(r, 0, sizeof *r);
    bool is_max = op == BORN_REDUCE_MAX || op == BORN_REDUCE_ANY;
    switch (op) {
    case BORN_REDUCE_SUM:
        if (t == BORN_F32) *r = (reducer){sum_f32, add_f, {.f = 0}};
        else if (t == BORN_F64) *r = (reducer){sum_f64, add_d, {.d = 0}};
        else if (t == BORN_I64) *r = (reducer){sum_i64, add_u, {.u = 0}};
        break;
    case BORN_REDUCE_PROD:
        if (t == BORN_F32) *r = (reducer){prod_f32, mul_f, {.f = 1}};
        else if (t == BORN_F64) *r = (reducer){prod_f64, mul_d, {.d = 1}};
        else if (t == BORN_I64) *r = (reducer){prod_i64, mul_u, {.u = 1}};
        break;
    default:
        switch (t) {
        case BORN_F32:
            *r = is_max ? (reducer){max_f32, max_f32_combine, {.f = -INFINITY}}
                        : (reducer){min_f32, min_f32_combine, {.f = INFINITY}};
            break;
        case BORN_F64:
            *r = is_max ? (reducer){max_f64, max_f64_combine, {.d = -INFINITY}}
                        : (reducer){min_f64, min_f64_combine, {.d = INFINITY}};
            break;
        case BORN_I8: *r = is_max ? (reducer){max_i8, max_i_combine, {.i = INT64_MIN}} : (reducer){min_i8, min_i_combine, {.i = INT64_MAX}}; break;
        case BORN_I16: *r = is_max ? (reducer){max_i16, max_i_combine, {.i = INT64_MIN}} : (reducer){min_i16, min_i_combine, {.i = INT64_MAX}}; break;
        case BORN_I32: *r = is_max ? (reducer){max_i32, max_i_combine, {.i = INT64_MIN}} : (reducer){min_i32, min_i_combine, {.i = INT64_MAX}}; break;
        case BORN_I64: *r = is_max ? (reducer){max_i64, max_i_combine, {.i = INT64_MIN}} : (reducer){min_i64, min_i_combine, {.i = INT64_MAX}}; break;
        case BORN_U8:
        case BORN_BOOL: *r = is_max ? (reducer){max_u8, max_i_combine, {.i = INT64_MIN}} : (reducer){min_u8, min_i_combine, {.i = INT64_MAX}}; break;
        default: break;
        }
    }
#ifdef CPU_HAVE_AVX2_KERNELS
    if (t == BORN_F32 && cpu_get_level() >= CPU_LEVEL_AVX2) {
        if (r->run == sum_f32) r->run = sum_f32_avx2;
        else if (r->run == max_f32) r->run = max_f32_avx2;
        else if (r->run == min_f32) r->run = min_f32_avx2;
    }
#endif
#ifdef CPU_HAVE_NEON_KERNELS
    /* reduce_neon.c: the AVX2 sums' bits */
    if (t == BORN_F32 && cpu_get_level() == CPU_LEVEL_NEON) {
        if (r->run == sum_f32) r->run = sum_f32_neon;
        else if (r->run == max_f32) r->run = max_f32_neon;
        else if (r->run == min_f32) r->run = min_f32_neon;
    }
#endif
    return r->run != NULL;
}

static void store(char *p, born_dtype t, acc a) {
    switch (t) {
    case BORN_F32: *(float *)p = a.f; break;
    case BORN_F64: *(double *)p = a.d; break;
    case BORN_I8: *(int8_t *)p = (int8_t)a.i; break;
    case BORN_I16: *(int16_t *)p = (int16_t)a.i; break;
    case BORN_I32: *(int32_t *)p = (int32_t)a.i; break;
    case BORN_I64: *(int64_t *)p = a.i; break;
    case BORN_U8: *(uint8_t *)p = (uint8_t)a.i; break;
    case BORN_BOOL: *(uint8_t *)p = a.i != 0; break;
    default: break;
    }
}

/* ---- traversal --------------------------------------------------------------------------- */

typedef struct plan {
    reducer r;
    born_dtype dtype;
    const char *in;
    char *out;
    int nk, nr;                      /* kept and reduced dims (reduced ones coalesced) */
    int64_t kshape[BORN_MAX_DIMS];
    int64_t kstep_in[BORN_MAX_DIMS]; /* bytes */
    int64_t kstep_out[BORN_MAX_DIMS];
    int64_t rshape[BORN_MAX_DIMS];
    int64_t rstep[BORN_MAX_DIMS];
    int64_t R;                       /* elements reduced per output */
    acc *partials;                   /* full reduction: one per block */
    bool half, bf16;                 /* the input is f16 / bf16, folded in f32 */
    atomic_bool short_of_memory;     /* a task could not get its buffer for the halves */
} plan;

enum { BLOCK = 16384 };

/* A task's f32 buffer for a run of up to BLOCK converted halves (2 BLOCK floats: a strided run's
 * values go to every other one) or a group of eight rows of a column unit; NULL for other inputs,
 * or when memory is short, which the plan then records for cpu_reduce to report. */
static float *halves_buffer(plan *p) {
    if (!p->half) return NULL;
    float *buf = cpu_scratch(CPU_SCRATCH_REDUCE_HALVES, 2 * BLOCK * sizeof(float));
    if (!buf) atomic_store(&p->short_of_memory, true);
    return buf;
}

/* Folds a run of n elements step bytes apart into *a; a run of halves is first converted into
 * buf (n <= BLOCK): contiguous for a contiguous run, else into every other float, so that the
 * run functions take their strided path, as they do for the f32 tensor of the same layout (the
 * sums' order differs between the two). */
static void fold_run(const plan *p, const char *ptr, int64_t step, int64_t n, float *buf, acc *a) {
    if (!p->half) {
        p->r.run(ptr, step, n, a);
        return;
    }
    cpu_halves_to_f32(ptr, step, p->bf16, buf, n);
    if (step == 2) {
        p->r.run((const char *)buf, sizeof(float), n, a);
        return;
    }
    for (int64_t i = n - 1; i > 0; i--) buf[2 * i] = buf[i];
    p->r.run((const char *)buf, 2 * sizeof(float), n, a);
}

/* Folds reduced elements [begin, end) (row-major over the reduced dims, at most BLOCK of them)
 * starting at base; buf is halves_buffer's. */
static void fold_range(const plan *p, const char *base, int64_t begin, int64_t end, float *buf,
                       acc *a) {
    int last = p->nr - 1;
    int64_t idx[BORN_MAX_DIMS];
    int64_t rem = begin;
    const char *ptr = base;
    for (int d = last; d >= 0; d--) {
        idx[d] = rem % p->rshape[d];
        rem /= p->rshape[d];
        ptr += idx[d] * p->rstep[d];
    }
    int64_t todo = end - begin;
    while (todo > 0) {
        int64_t n = p->rshape[last] - idx[last];
        if (n > todo) n = todo;
        fold_run(p, ptr, p->rstep[last], n, buf, a);
        todo -= n;
        if (!todo) break;
        idx[last] += n;
        ptr += n * p->rstep[last];
        for (int d = last; d > 0 && idx[d] == p->rshape[d]; d--) {
            idx[d] = 0;
            idx[d - 1]++;
            ptr += p->rstep[d - 1] - p->rshape[d] * p->rstep[d];
        }
    }
}

/* Reduces outputs [begin, end), each over all R elements in blocks combined in order. */
static void reduce_outputs(int64_t begin, int64_t end, void *arg) {
    plan *p = arg;
    float *buf = halves_buffer(p);
    if (p->half && !buf) return;
    for (int64_t m = begin; m < end; m++) {
        int64_t rem = m;
        const char *in = p->in;
        char *out = p->out;
        for (int d = p->nk - 1; d >= 0; d--) {
            int64_t k = rem % p->kshape[d];
            rem /= p->kshape[d];
            in += k * p->kstep_in[d];
            out += k * p->kstep_out[d];
        }
        acc total = p->r.init;
        for (int64_t b = 0; b < p->R; b += BLOCK) {
            acc part = p->r.init;
            fold_range(p, in, b, b + BLOCK < p->R ? b + BLOCK : p->R, buf, &part);
            p->r.combine(&total, part);
        }
        store(out, p->dtype, total);
    }
}

/* One block of a full reduction. */
static void reduce_block(int64_t begin, int64_t end, void *arg) {
    plan *p = arg;
    float *buf = halves_buffer(p);
    if (p->half && !buf) return;
    for (int64_t b = begin; b < end; b++) {
        acc part = p->r.init;
        int64_t lo = b * BLOCK, hi = lo + BLOCK < p->R ? lo + BLOCK : p->R;
        fold_range(p, p->in, lo, hi, buf, &part);
        p->partials[b] = part;
    }
}

/* ---- column reductions ------------------------------------------------------------------- */

/* Rows per partial vector, and the bytes of a unit's partial: a unit folds COL_CHUNK rows of
 * (partial bytes) / (output element size) columns, so that the partial stays in L1 while the rows
 * stream past. Inputs beyond the caches on AMD take the larger partial, so that each row is read
 * in runs of 16 KiB: 8 KiB runs (2048 f32 columns) had read a [4096, 4096] column sum 5-10% slower
 * at one thread on Zen 4 (more restarts of the rows' streams), where in-cache inputs ([64, 4096],
 * [512, 4096]) read no better or worse with them. */
enum { COL_CHUNK = 128, COL_BLOCK_BYTES = 8192, COL_BLOCK_BYTES_MEMORY = 16384 };
_Static_assert(8 * (COL_BLOCK_BYTES_MEMORY / 4) <= 2 * BLOCK,
               "halves_buffer holds a group of eight rows");

/* acc[j] = fold(acc[j], row[j]) for j < n */
typedef void (*col_fn)(char *acc, const char *row, int64_t n);

#define COL_OPS(T, sfx)                                                                           \
    static void col_sum_##sfx(char *a, const char *r, int64_t n) {                                \
        T *restrict x = (T *)a;                                                                   \
        const T *restrict y = (const T *)r;                                                       \
        for (int64_t j = 0; j < n; j++) x[j] += y[j];                                             \
    }                                                                                             \
    static void col_prod_##sfx(char *a, const char *r, int64_t n) {                               \
        T *restrict x = (T *)a;                                                                   \
        const T *restrict y = (const T *)r;                                                       \
        for (int64_t j = 0; j < n; j++) x[j] *= y[j];                                             \
    }                                                                                             \
    static void col_max_##sfx(char *a, const char *r, int64_t n) {                                \
        T *restrict x = (T *)a;                                                                   \
        const T *restrict y = (const T *)r;                                                       \
        for (int64_t j = 0; j < n; j++) {                                                         \
            T v = y[j], m = x[j];                                                                 \
            x[j] = (v != v || v > m) ? v : m;                                                     \
        }                                                                                         \
    }                                                                                             \
    static void col_min_##sfx(char *a, const char *r, int64_t n) {                                \
        T *restrict x = (T *)a;                                                                   \
        const T *restrict y = (const T *)r;                                                       \
        for (int64_t j = 0; j < n; j++) {                                                         \
            T v = y[j], m = x[j];                                                                 \
            x[j] = (v != v || v < m) ? v : m;                                                     \
        }                                                                                         \
    }

COL_OPS(float, f32)
COL_OPS(double, f64)

/* Sums fold four rows per pass, (r0 + r1) + (r2 + r3) into the partial, which quarters the
 * partial's loads and stores; chunks are a multiple of 4 rows, so the order is still fixed by
 * the shape. */
typedef void (*col4_fn)(char *acc, const char *const *rows, int64_t n);

#define COL_SUM4(T, sfx)                                                                          \
    static void col_sum4_##sfx(char *a, const char *const *r, int64_t n) {                        \
        T *restrict x = (T *)a;                                                                   \
        const T *restrict y0 = (const T *)r[0], *restrict y1 = (const T *)r[1];                  \
        const T *restrict y2 = (const T *)r[2], *restrict y3 = (const T *)r[3];                  \
        for (int64_t j = 0; j < n; j++) x[j] += (y0[j] + y1[j]) + (y2[j] + y3[j]);               \
    }

COL_SUM4(float, f32)
COL_SUM4(double, f64)

/* Folds eight rows per pass; ahead (or 0) is the distance in bytes from each row to the row
 * folded after it, for the fold to prefetch. */
typedef void (*col8_fn)(char *acc, const char *const *rows, int64_t n, ptrdiff_t ahead);

#ifdef CPU_HAVE_AVX2_KERNELS
/* With AVX2, f32 sums fold eight rows per pass (reduce_avx2.c); chunks are a multiple of 8. */
static void col_sum8_f32_avx2(char *a, const char *const *r, int64_t n, ptrdiff_t ahead) {
    cpu_col_sum8_f32_avx2((float *)a, (const float *const *)r, n, ahead);
}
#endif
#ifdef CPU_HAVE_NEON_KERNELS
/* The same on NEON (reduce_neon.c): the same tree, so the same bits. It does not prefetch (its
 * speed has not been measured on an arm64 machine). */
static void col_sum8_f32_neon(char *a, const char *const *r, int64_t n, ptrdiff_t ahead) {
    (void)ahead;
    cpu_col_sum8_f32_neon((float *)a, (const float *const *)r, n);
}
#endif

typedef struct col_plan {
    plan *p;
    col_fn fold;
    col4_fn fold4; /* NULL: one row at a time */
    col8_fn fold8; /* NULL: four rows (or one) at a time */
    size_t esz, in_esz; /* the output's (f32 or f64) and the input's element sizes */
    int64_t K, Mo, nchunks, nblocks, block; /* block: columns a unit */
    bool prefetch;  /* beyond the caches on AMD, not halves: groups of eight prefetch the next */
    char *partials; /* [Mo][nchunks][K] when nchunks > 1 */
} col_plan;

static void col_fill(char *dst, int64_t n, const col_plan *c) {
    if (c->esz == 4)
        for (int64_t j = 0; j < n; j++) ((float *)dst)[j] = c->p->r.init.f;
    else
        for (int64_t j = 0; j < n; j++) ((double *)dst)[j] = c->p->r.init.d;
}

/* Byte offsets of outer kept index o in the input and the output. */
static void col_outer(const plan *p, int64_t o, int64_t *in_off, int64_t *out_off) {
    *in_off = *out_off = 0;
    for (int d = p->nk - 2; d >= 0; d--) {
        int64_t k = o % p->kshape[d];
        o /= p->kshape[d];
        *in_off += k * p->kstep_in[d];
        *out_off += k * p->kstep_out[d];
    }
}

/* The rows of a chunk in order, walking the reduced dims like an odometer. */
typedef struct row_walk {
    const plan *p;
    int64_t idx[BORN_MAX_DIMS];
    const char *row; /* the next row to hand out */
    int64_t left;    /* rows still to hand out */
} row_walk;

/* Starts a walk over rows [r0, r1) of the reduced dims, from base (the outer index's input at the
 * block's first column). */
static void walk_start(row_walk *w, const plan *p, const char *base, int64_t r0, int64_t r1) {
    w->p = p;
    w->left = r1 - r0;
    w->row = base;
    int64_t rem = r0;
    for (int d = p->nr - 1; d >= 0; d--) {
        w->idx[d] = rem % p->rshape[d];
        rem /= p->rshape[d];
        w->row += w->idx[d] * p->rstep[d];
    }
}

/* Hands out the next rows, at most max of them, into out; returns how many (0 at the end). The
 * walk never steps past its last row. */
static int walk_take(row_walk *w, const char **out, int max) {
    const plan *p = w->p;
    int k = 0;
    while (k < max && w->left > 0) {
        out[k++] = w->row;
        if (--w->left == 0) break;
        for (int d = p->nr - 1; d >= 0; d--) {
            w->row += p->rstep[d];
            if (++w->idx[d] < p->rshape[d]) break;
            w->row -= p->rshape[d] * p->rstep[d];
            w->idx[d] = 0;
        }
    }
    return k;
}

/* A unit's partial (or output) at its block's first column, its columns, and its rows. */
typedef struct col_unit {
    char *dst;
    int64_t n;
    row_walk rows;
} col_unit;

static void unit_start(const col_plan *c, int64_t u, col_unit *t) {
    const plan *p = c->p;
    int64_t b = u % c->nblocks, ch = (u / c->nblocks) % c->nchunks,
            o = u / (c->nblocks * c->nchunks);
    int64_t in_off, out_off;
    col_outer(p, o, &in_off, &out_off);
    int64_t j0 = b * c->block;
    t->n = c->K - j0 < c->block ? c->K - j0 : c->block;
    t->dst = c->nchunks == 1 ? p->out + out_off + j0 * (int64_t)c->esz
                             : c->partials + ((o * c->nchunks + ch) * c->K + j0) * (int64_t)c->esz;
    int64_t r0 = ch * COL_CHUNK, r1 = r0 + COL_CHUNK < p->R ? r0 + COL_CHUNK : p->R;
    walk_start(&t->rows, p, p->in + in_off + j0 * (int64_t)c->in_esz, r0, r1);
}

/* The distance from each of the eight rows to its counterpart in next, if it is one distance
 * (rows evenly spaced, as in any column reduction whose reduced dims step evenly), else 0. */
static ptrdiff_t uniform_ahead(const char *const *rows, const char *const *next) {
    ptrdiff_t d = next[0] - rows[0];
    for (int k = 1; k < 8; k++)
        if (next[k] - rows[k] != d) return 0;
    return d;
}

/* Units (o, chunk, block) [begin, end): fold each chunk's rows into the chunk's partial (or, with
 * a single chunk, straight into the output), a group of rows at a time. When the input is beyond
 * the caches on AMD (cpu_stream_output's bound; halves rows excepted, which their conversion
 * reads), a group of eight is given the eight rows read after it to prefetch (reduce_avx2.c says
 * why): the unit's next group, or at its end the next unit's first. Inputs in cache are not
 * prefetched: there the prefetches only took load slots (a [64, 4096] column sum at one thread on
 * Zen 4: 0.61-0.76 of OpenBLAS's sgemv with them, 0.84-0.95 without). */
static void col_fold_units(int64_t begin, int64_t end, void *arg) {
    const col_plan *c = arg;
    plan *p = c->p;
    float *buf = halves_buffer(p);
    if (p->half && !buf) return;
    int group = c->fold8 ? 8 : c->fold4 ? 4 : 1;
    for (int64_t u = begin; u < end; u++) {
        col_unit t;
        unit_start(c, u, &t);
        col_fill(t.dst, t.n, c);
        const char *groups[2][8], *after[8];
        int count[2] = {walk_take(&t.rows, groups[0], group), walk_take(&t.rows, groups[1], group)};
        for (int g = 0; count[g & 1] > 0; g++) {
            const char **rows = groups[g & 1];
            int nrows = count[g & 1], later = count[~g & 1];
            ptrdiff_t ahead = 0;
            if (nrows == 8 && c->prefetch && later == 8)
                ahead = uniform_ahead(rows, groups[~g & 1]);
            if (nrows == 8 && c->prefetch && later == 0 && u + 1 < end) {
                col_unit t2;
                unit_start(c, u + 1, &t2);
                if (walk_take(&t2.rows, after, 8) == 8) ahead = uniform_ahead(rows, after);
            }
            for (int k = 0; p->half && k < nrows; k++) { /* the group's rows in f32 */
                cpu_halves_to_f32(rows[k], 2, p->bf16, buf + k * c->block, t.n);
                rows[k] = (const char *)(buf + k * c->block);
            }
            if (nrows == 8)
                c->fold8(t.dst, rows, t.n, ahead);
            else if (nrows == 4)
                c->fold4(t.dst, rows, t.n);
            else
                for (int k = 0; k < nrows; k++)
                    c->fold(t.dst, rows[k], t.n);
            count[g & 1] = walk_take(&t.rows, rows, group);
        }
    }
}

/* Units (o, block): combine the partials of every chunk in chunk order into the output. */
static void col_combine_units(int64_t begin, int64_t end, void *arg) {
    const col_plan *c = arg;
    const plan *p = c->p;
    for (int64_t u = begin; u < end; u++) {
        int64_t b = u % c->nblocks, o = u / c->nblocks;
        int64_t in_off, out_off;
        col_outer(p, o, &in_off, &out_off);
        int64_t j0 = b * c->block, n = c->K - j0 < c->block ? c->K - j0 : c->block;
        char *dst = p->out + out_off + j0 * (int64_t)c->esz;
        const char *part = c->partials + (o * c->nchunks * c->K + j0) * (int64_t)c->esz;
        memcpy(dst, part, (size_t)n * c->esz);
        for (int64_t ch = 1; ch < c->nchunks; ch++)
            c->fold(dst, part + ch * c->K * (int64_t)c->esz, n);
    }
}

/* The column path, when it applies (floating sum/prod/max/min whose innermost kept dim is
 * contiguous in the input and the output). Returns false to let the caller use the general one;
 * *st is set when it ran. */
static bool reduce_columns(born_reduce_op op, plan *p, int64_t M, born_status *st) {
    size_t esz = p->dtype == BORN_F32 ? 4 : p->dtype == BORN_F64 ? 8 : 0;
    size_t in_esz = p->half ? 2 : esz;
    if (!esz || p->nk < 1 || p->R < 2) return false;
    int64_t K = p->kshape[p->nk - 1];
    if (K < 8 || p->kstep_in[p->nk - 1] != (int64_t)in_esz ||
        p->kstep_out[p->nk - 1] != (int64_t)esz)
        return false;
    col_plan c = {p, NULL, NULL, NULL, esz, in_esz, K, M / K, 0, 0, 0, false, NULL};
    bool f32 = esz == 4;
    switch (op) {
    case BORN_REDUCE_SUM:
        c.fold = f32 ? col_sum_f32 : col_sum_f64;
        c.fold4 = f32 ? col_sum4_f32 : col_sum4_f64;
#ifdef CPU_HAVE_AVX2_KERNELS
        if (f32 && cpu_get_level() >= CPU_LEVEL_AVX2) c.fold8 = col_sum8_f32_avx2;
#endif
#ifdef CPU_HAVE_NEON_KERNELS
        if (f32 && cpu_get_level() == CPU_LEVEL_NEON) c.fold8 = col_sum8_f32_neon;
#endif
        break;
    case BORN_REDUCE_PROD: c.fold = f32 ? col_prod_f32 : col_prod_f64; break;
    case BORN_REDUCE_MAX: c.fold = f32 ? col_max_f32 : col_max_f64; break;
    case BORN_REDUCE_MIN: c.fold = f32 ? col_min_f32 : col_min_f64; break;
    default: return false;
    }
    c.nchunks = (p->R + COL_CHUNK - 1) / COL_CHUNK;
    /* measured on AMD only: on the device host's Xeon (300 MiB of L3) a [4096, 4096] column sum
     * read 72-81 against 78-87 GB/s at four threads with the memory form, so Intel goes without */
    bool memory_form = cpu_stream_output(M * p->R * (int64_t)in_esz) && cpu_features_get()->amd;
    c.prefetch = memory_form && !p->half;
    c.block = (memory_form ? COL_BLOCK_BYTES_MEMORY : COL_BLOCK_BYTES) / (int64_t)esz;
    c.nblocks = (K + c.block - 1) / c.block;
    if (c.nchunks > 1) {
        c.partials = cpu_scratch(CPU_SCRATCH_REDUCE_COLUMNS, (size_t)(c.Mo * c.nchunks * K) * esz);
        if (!c.partials) {
            *st = born_error(BORN_ERR_MEMORY, "reduce: out of memory");
            return true;
        }
    }
    int64_t units = c.Mo * c.nchunks * c.nblocks;
    int64_t unit_elems = (p->R < COL_CHUNK ? p->R : COL_CHUNK) * (K < c.block ? K : c.block);
    born_parallel_for(units, unit_elems >= 32768 ? 1 : 32768 / unit_elems, col_fold_units, &c);
    if (c.nchunks > 1) {
        int64_t per = c.nchunks * (K < c.block ? K : c.block);
        born_parallel_for(c.Mo * c.nblocks, per >= 32768 ? 1 : 32768 / per, col_combine_units, &c);
    }
    *st = atomic_load(&p->short_of_memory) ? born_error(BORN_ERR_MEMORY, "reduce: out of memory")
                                            : BORN_OK;
    return true;
}

born_status cpu_reduce(born_reduce_op op, const born_strided *out, const born_strided *in,
                       uint32_t mask) {
    plan p;
    memset(&p, 0, sizeof p);
    atomic_init(&p.short_of_memory, false);
    p.half = in->dtype == BORN_F16 || in->dtype == BORN_BF16;
    p.bf16 = in->dtype == BORN_BF16;
    if (p.half && (out->dtype != BORN_F32 || op == BORN_REDUCE_ANY || op == BORN_REDUCE_ALL))
        return born_error(BORN_ERR_DTYPE, "reduction %d: %s input needs an f32 output on the CPU",
                          (int)op, born_dtype_name(in->dtype));
    if (!pick(op, p.half ? BORN_F32 : in->dtype, &p.r))
        return born_error(BORN_ERR_DTYPE, "reduction %d: not defined for %s on the CPU", (int)op,
                          born_dtype_name(in->dtype));
    p.dtype = out->dtype;
    p.in = in->data;
    p.out = out->data;
    size_t isz = born_dtype_size(in->dtype), osz = born_dtype_size(out->dtype);
    int64_t M = 1;
    p.R = 1;
    for (int d = 0; d < in->ndim; d++) {
        if (in->shape[d] == 0 && (mask & (1u << d))) p.R = 0;
        if (mask & (1u << d)) {
            if (in->shape[d] == 1) continue;
            /* merge with the previous reduced dim when contiguous with it */
            if (p.nr > 0 && p.rstep[p.nr - 1] == in->strides[d] * (int64_t)isz * in->shape[d]) {
                p.rshape[p.nr - 1] *= in->shape[d];
                p.rstep[p.nr - 1] = in->strides[d] * (int64_t)isz;
            } else {
                p.rshape[p.nr] = in->shape[d];
                p.rstep[p.nr++] = in->strides[d] * (int64_t)isz;
            }
            p.R *= in->shape[d];
        } else {
            int64_t si = in->strides[d] * (int64_t)isz, so = out->strides[d] * (int64_t)osz;
            M *= in->shape[d];
            if (in->shape[d] == 1) continue;
            /* merge with the previous kept dim when both tensors lay them out back to back */
            if (p.nk > 0 && p.kstep_in[p.nk - 1] == si * in->shape[d] &&
                p.kstep_out[p.nk - 1] == so * in->shape[d]) {
                p.kshape[p.nk - 1] *= in->shape[d];
                p.kstep_in[p.nk - 1] = si;
                p.kstep_out[p.nk - 1] = so;
                continue;
            }
            p.kshape[p.nk] = in->shape[d];
            p.kstep_in[p.nk] = si;
            p.kstep_out[p.nk++] = so;
        }
    }
    if (p.nr == 0) { /* nothing to fold: every output takes one element (or the identity) */
        p.rshape[0] = 1;
        p.rstep[0] = 0;
        p.nr = 1;
    }
    if (M == 0) return BORN_OK;
    if (M == 1 && p.R > BLOCK) {
        int64_t nblocks = (p.R + BLOCK - 1) / BLOCK;
        p.partials = cpu_scratch(CPU_SCRATCH_REDUCE_BLOCKS, (size_t)nblocks * sizeof *p.partials);
        if (!p.partials) return born_error(BORN_ERR_MEMORY, "reduce: out of memory");
        born_parallel_for(nblocks, 1, reduce_block, &p);
        if (atomic_load(&p.short_of_memory))
            return born_error(BORN_ERR_MEMORY, "reduce: out of memory");
        acc total = p.r.init;
        for (int64_t b = 0; b < nblocks; b++) p.r.combine(&total, p.partials[b]);
        store(p.out, p.dtype, total);
        return BORN_OK;
    }
    born_status st;
    if (reduce_columns(op, &p, M, &st)) return st;
    int64_t grain = p.R >= 4096 ? 1 : 4096 / (p.R ? p.R : 1);
    born_parallel_for(M, grain, reduce_outputs, &p);
    return atomic_load(&p.short_of_memory) ? born_error(BORN_ERR_MEMORY, "reduce: out of memory")
                                           : BORN_OK;
}
