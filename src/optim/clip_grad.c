/* Gradient clipping, as torch.nn.utils.clip_grad_norm_ and clip_grad_value_. The norm is computed
 * in f64 and is thread-count independent; the gradients are then scaled or clamped in place.
 *
 * The common case -- the 2-norm of contiguous f32 gradients in CPU memory -- is one threaded pass
 * for the norm and one for the scale: every gradient is cut into fixed chunks of CLIP_CHUNK
 * elements, each chunk's sum of squares is formed in f64 (eight running sums, combined in a fixed
 * order) by whichever thread takes it, and the chunks' sums are added in order, so the bits do not
 * depend on the thread count. Other norms, dtypes, layouts and devices go through the public ops
 * (one gradient at a time, in f64). */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/tensor_impl.h"
#include "optim/optim_internal.h"

enum { CLIP_CHUNK = 32768 };

/* The gradients of the fast path (those with elements), cut into chunks. */
typedef struct clip_job {
    float **data;
    int64_t *numel;
    int64_t *first; /* first chunk of each gradient; first[ng] = the number of chunks */
    int64_t ng;
    double *part; /* per chunk: its sum of squares */
    float coef;
} clip_job;

/* The gradient and the element range of chunk c. */
static float *clip_chunk(const clip_job *j, int64_t c, int64_t *n) {
    int64_t lo = 0, hi = j->ng - 1; /* the last gradient with first[g] <= c */
    while (lo < hi) {
        int64_t mid = (lo + hi + 1) / 2;
        if (j->first[mid] <= c) lo = mid;
        else hi = mid - 1;
    }
    int64_t off = (c - j->first[lo]) * CLIP_CHUNK, rest = j->numel[lo] - off;
    *n = rest < CLIP_CHUNK ? rest : CLIP_CHUNK;
    return j->data[lo] + off;
}

static void clip_sumsq_range(int64_t begin, int64_t end, void *ctx) {
    clip_job *j = ctx;
    for (int64_t c = begin; c < end; c++) {
        int64_t n;
        const float *x = clip_chunk(j, c, &n);
        double s[8] = {0};
        int64_t i = 0;
        for (; i + 8 <= n; i += 8)
            for (int k = 0; k < 8; k++) s[k] += (double)x[i + k] * (double)x[i + k];
        for (; i < n; i++) s[i & 7] += (double)x[i] * (double)x[i];
        j->part[c] = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    }
}

static void clip_scale_range(int64_t begin, int64_t end, void *ctx) {
    clip_job *j = ctx;
    const float coef = j->coef;
    for (int64_t c = begin; c < end; c++) {
        int64_t n;
        float *x = clip_chunk(j, c, &n);
        for (int64_t i = 0; i < n; i++) x[i] = x[i] * coef;
    }
}

static int cmp_range(const void *a, const void *b) {
    uintptr_t x = ((const uintptr_t *)a)[0], y = ((const uintptr_t *)b)[0];
    return x < y ? -1 : x > y;
}

/* True when every gradient present is a contiguous f32 tensor in CPU memory and no two of them
 * share memory (a parameter listed twice is scaled twice, one after the other, by the general
 * path; chunks of the same memory must not be scaled at once). */
static bool clip_fast_ok(born_tensor *const *params, int64_t n) {
    uintptr_t *r = malloc(sizeof *r * 2 * (size_t)(n > 0 ? n : 1));
    if (!r) return false;
    int64_t m = 0;
    bool ok = true;
    for (int64_t i = 0; i < n && ok; i++) {
        born_tensor *g = born_grad(params[i]);
        if (!g || born_tensor_numel(g) == 0) continue;
        ok = g->dtype == BORN_F32 && g->storage->device.type == BORN_DEVICE_CPU &&
             born_tensor_is_contiguous(g);
        r[2 * m] = (uintptr_t)tensor_data(g);
        r[2 * m + 1] = r[2 * m] + (uintptr_t)born_tensor_numel(g) * sizeof(float);
        m++;
    }
    if (ok) qsort(r, (size_t)m, 2 * sizeof *r, cmp_range);
    for (int64_t i = 1; i < m && ok; i++) ok = r[2 * i] >= r[2 * i - 1];
    free(r);
    return ok;
}

/* The 2-norm of the f32 gradients and the scale, as the general path computes them. Returns
 * BORN_ERR_MEMORY (recorded) when the chunk tables cannot be allocated. */
static born_status clip_fast(born_tensor *const *params, int64_t n, double max_norm,
                             double *total_norm) {
    clip_job j = {0};
    j.data = malloc(sizeof *j.data * (size_t)(n + 1));
    j.numel = malloc(sizeof *j.numel * (size_t)(n + 1));
    j.first = malloc(sizeof *j.first * (size_t)(n + 1));
    int64_t chunks = 0;
    if (j.data && j.numel && j.first) {
        for (int64_t i = 0; i < n; i++) {
            born_tensor *g = born_grad(params[i]);
            int64_t ne = g ? born_tensor_numel(g) : 0;
            if (ne == 0) continue;
            j.data[j.ng] = tensor_data(g);
            j.numel[j.ng] = ne;
            j.first[j.ng++] = chunks;
            chunks += (ne + CLIP_CHUNK - 1) / CLIP_CHUNK;
        }
        j.first[j.ng] = chunks;
        j.part = malloc(sizeof *j.part * (size_t)(chunks > 0 ? chunks : 1));
    }
    if (!j.data || !j.numel || !j.first || !j.part) {
        free(j.data), free(j.numel), free(j.first), free(j.part);
        return born_error(BORN_ERR_MEMORY, "born_clip_grad_norm: out of memory");
    }
    born_parallel_for(chunks, 1, clip_sumsq_range, &j);
    double acc = 0;
    for (int64_t c = 0; c < chunks; c++) acc += j.part[c];
    double total = sqrt(acc);
    double coef = max_norm / (total + 1e-6);
    if (!(coef >= 1.0)) { /* torch.clamp(coef, max=1): NaN stays NaN */
        j.coef = (float)coef; /* as born_mul_scalar_ on an f32 tensor */
        born_parallel_for(chunks, 1, clip_scale_range, &j);
        for (int64_t i = 0; i < n; i++) {
            born_tensor *g = born_grad(params[i]);
            if (g) storage_bump_version(g->storage);
        }
    }
    free(j.data), free(j.numel), free(j.first), free(j.part);
    *total_norm = total;
    return BORN_OK;
}

/* sum |g|^p (or max |g| for p = inf) of one gradient, in f64. */
static born_status grad_norm_part(born_tensor *g, double p, double *out) {
    born_tensor *g64 = born_to_dtype(g, BORN_F64);
    born_tensor *a = born_abs(g64);
    born_tensor *r = NULL;
    if (isinf(p)) r = born_max(a, 0, NULL, false);
    else if (p == 1) r = born_sum(a, 0, NULL, false);
    else if (p == 2) r = born_sum(born_square(a), 0, NULL, false);
    else r = born_sum(born_pow_scalar(a, p), 0, NULL, false);
    if (!r) return born_last_status();
    *out = born_item(r);
    return BORN_OK;
}

born_status born_clip_grad_norm(born_tensor *const *params, int64_t n, double max_norm,
                                double norm_type, double *total_norm) {
    static const char fn[] = "born_clip_grad_norm";
    if (n < 0 || (n > 0 && !params))
        return born_error(BORN_ERR_ARGUMENT, "%s: bad parameter list", fn);
    if (!(norm_type > 0))
        return born_error(BORN_ERR_ARGUMENT, "%s: norm_type %g is not supported (a p > 0, or "
                          "INFINITY)", fn, norm_type);
    if (max_norm != max_norm) return born_error(BORN_ERR_ARGUMENT, "%s: max_norm is NaN", fn);
    for (int64_t i = 0; i < n; i++)
        if (!params[i])
            return born_error(BORN_ERR_ARGUMENT, "%s: parameter %" PRId64 " is NULL", fn, i);
    if (optim_clip_device_ok(params, n, norm_type)) /* no read-back: capturable */
        return optim_clip_grad_device(params, n, max_norm, norm_type, total_norm);
    if (norm_type == 2 && clip_fast_ok(params, n)) {
        double total = 0;
        born_status fst = clip_fast(params, n, max_norm, &total);
        if (fst == BORN_OK && total_norm) *total_norm = total;
        return fst;
    }
    born_status st = BORN_OK;
    double acc = 0;
    bool any = false;
    born_no_grad_begin();
    born_scope_begin();
    for (int64_t i = 0; i < n && st == BORN_OK; i++) {
        born_tensor *g = born_grad(params[i]);
        if (!g) continue;
        any = true;
        if (born_tensor_numel(g) == 0) continue;
        double part = 0;
        st = grad_norm_part(g, norm_type, &part);
        if (isinf(norm_type)) acc = (part > acc || part != part || acc != acc) ? part : acc;
        else acc += part;
        born_scope_end();
        born_scope_begin();
    }
    double total = 0;
    if (any) total = isinf(norm_type) ? acc : norm_type == 2 ? sqrt(acc)
                                           : norm_type == 1 ? acc
                                                            : pow(acc, 1.0 / norm_type);
    if (st == BORN_OK) {
        double coef = max_norm / (total + 1e-6);
        if (!(coef >= 1.0)) { /* torch.clamp(coef, max=1): NaN stays NaN */
            for (int64_t i = 0; i < n && st == BORN_OK; i++) {
                born_tensor *g = born_grad(params[i]);
                if (g) st = born_mul_scalar_(g, coef);
            }
        }
    }
    born_scope_end();
    born_no_grad_end();
    if (st == BORN_OK && total_norm) *total_norm = total;
    return st;
}

born_status born_clip_grad_value(born_tensor *const *params, int64_t n, double clip_value) {
    static const char fn[] = "born_clip_grad_value";
    if (n < 0 || (n > 0 && !params))
        return born_error(BORN_ERR_ARGUMENT, "%s: bad parameter list", fn);
    if (!(clip_value >= 0))
        return born_error(BORN_ERR_ARGUMENT, "%s: clip_value %g must be >= 0", fn, clip_value);
    for (int64_t i = 0; i < n; i++)
        if (!params[i])
            return born_error(BORN_ERR_ARGUMENT, "%s: parameter %" PRId64 " is NULL", fn, i);
    born_unary_params p = {.alpha = -clip_value, .beta = clip_value};
    born_status st = BORN_OK;
    born_no_grad_begin();
    for (int64_t i = 0; i < n && st == BORN_OK; i++) {
        born_tensor *g = born_grad(params[i]);
        if (g) st = born_unary_out(BORN_UNARY_CLAMP, g, g, &p);
    }
    born_no_grad_end();
    return st;
}
