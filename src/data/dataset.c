/* Tensor datasets: the rows of an inputs tensor (and of a targets tensor) along dimension 0, with
 * a transform applied as samples are gathered into batches. Subsets are views. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "born/ops.h"
#include "core/error.h"
#include "core/scalar.h"
#include "core/tensor_impl.h"
#include "data/data_internal.h"

born_transform_params born_transform_default_params(void) {
    return (born_transform_params){.input_dtype = BORN_DTYPE_COUNT,
                                   .scale = 1.0,
                                   .mean = 0.0,
                                   .std = 1.0,
                                   .target_dtype = BORN_DTYPE_COUNT};
}

born_transform_params born_transform_image_params(double mean, double std) {
    return (born_transform_params){.input_dtype = BORN_F32,
                                   .scale = 1.0 / 255.0,
                                   .mean = mean,
                                   .std = std,
                                   .target_dtype = BORN_I64};
}

/* Checks params against the dataset's tensors and precomputes what the gather needs. */
static born_status resolve(const char *fn, const born_tensor *inputs, const born_tensor *targets,
                           const born_transform_params *p, data_transform *out) {
    if (!isfinite(p->scale) || !isfinite(p->mean) || !isfinite(p->std) || p->std == 0.0)
        return born_error(BORN_ERR_ARGUMENT, "%s: the transform's scale %g, mean %g and std %g "
                          "must be finite, and std nonzero", fn, p->scale, p->mean, p->std);
    if ((unsigned)p->input_dtype > BORN_DTYPE_COUNT || (unsigned)p->target_dtype > BORN_DTYPE_COUNT)
        return born_error(BORN_ERR_DTYPE, "%s: the transform names an invalid dtype", fn);
    memset(out, 0, sizeof *out);
    out->params = *p;
    out->input_dtype = p->input_dtype == BORN_DTYPE_COUNT ? inputs->dtype : p->input_dtype;
    out->target_dtype = p->target_dtype;
    if (out->target_dtype == BORN_DTYPE_COUNT && targets) out->target_dtype = targets->dtype;
    out->identity = p->scale == 1.0 && p->mean == 0.0 && p->std == 1.0;
    if (!out->identity && !born_dtype_is_floating(out->input_dtype))
        return born_error(BORN_ERR_DTYPE, "%s: the transform scales and shifts the inputs, so its "
                          "input dtype must be floating, not %s", fn,
                          born_dtype_name(out->input_dtype));
    if (inputs->dtype == BORN_U8 && out->input_dtype == BORN_F32) {
        out->lut = true;
        for (int v = 0; v < 256; v++)
            out->lut_f32[v] = (float)((v * p->scale - p->mean) / p->std);
    }
    return BORN_OK;
}

/* Copies rows idx[0..n) of src into dst (contiguous, n rows of the same row shape), converting
 * the dtype and, when apply is set, transforming the values. */
static void fill_rows(const born_tensor *src, born_tensor *dst, const data_transform *tf,
                      const int64_t *idx, int64_t n, bool apply) {
    if (n == 0 || src->shape[0] == 0) return;
    size_t row = (size_t)(shape_numel(src->ndim, src->shape) / src->shape[0]);
    born_dtype sd = src->dtype, dd = dst->dtype;
    size_t ses = born_dtype_size(sd), des = born_dtype_size(dd);
    const uint8_t *s = tensor_data(src);
    uint8_t *d = tensor_data(dst);
    double scale = tf->params.scale, mean = tf->params.mean, std = tf->params.std;
    bool transform = apply && !tf->identity;
    for (int64_t k = 0; k < n; k++) {
        const uint8_t *sr = s + (size_t)idx[k] * row * ses;
        uint8_t *dr = d + (size_t)k * row * des;
        if (sd == dd && !transform) {
            memcpy(dr, sr, row * ses);
        } else if (apply && tf->lut) {
            float *out = (float *)(void *)dr;
            for (size_t j = 0; j < row; j++) out[j] = tf->lut_f32[sr[j]];
        } else if (transform) {
            for (size_t j = 0; j < row; j++)
                scalar_store_f64(dr + j * des, dd,
                                 (scalar_load_f64(sr + j * ses, sd) * scale - mean) / std);
        } else if (born_dtype_is_floating(sd)) {
            for (size_t j = 0; j < row; j++)
                scalar_store_f64(dr + j * des, dd, scalar_load_f64(sr + j * ses, sd));
        } else {
            for (size_t j = 0; j < row; j++)
                scalar_store_i64(dr + j * des, dd, scalar_load_i64(sr + j * ses, sd));
        }
    }
}

/* A new tensor shaped like src's rows, with n of them in front (or none when squeeze). */
static born_tensor *batch_like(const born_tensor *src, born_dtype dtype, int64_t n, bool squeeze) {
    int64_t shape[BORN_MAX_DIMS];
    int nd = 0;
    if (!squeeze) shape[nd++] = n;
    for (int i = 1; i < src->ndim; i++) shape[nd++] = src->shape[i];
    return tensor_new(dtype, nd, shape, BORN_CPU);
}

born_status data_gather(const char *fn, born_tensor *inputs, born_tensor *targets,
                        const data_transform *tf, const int64_t *idx, int64_t n, bool squeeze,
                        born_tensor **x, born_tensor **y) {
    *x = NULL;
    if (y) *y = NULL;
    born_tensor *xt = batch_like(inputs, tf->input_dtype, n, squeeze);
    if (!xt)
        return born_has_error() ? born_last_status()
                                : born_error(BORN_ERR_MEMORY, "%s: cannot allocate a batch of %"
                                             PRId64 " inputs", fn, n);
    fill_rows(inputs, xt, tf, idx, n, true);
    born_tensor *yt = NULL;
    if (targets && y) {
        yt = batch_like(targets, tf->target_dtype, n, squeeze);
        if (!yt) {
            born_free(xt);
            return born_has_error() ? born_last_status()
                                    : born_error(BORN_ERR_MEMORY, "%s: cannot allocate a batch "
                                                 "of %" PRId64 " targets", fn, n);
        }
        fill_rows(targets, yt, tf, idx, n, false);
    }
    *x = xt;
    if (y) *y = yt;
    return BORN_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Datasets                                                                                     */

/* An internal reference to a detached, contiguous version of t (t itself when it already is). */
static born_tensor *own_rows(born_tensor *t) {
    born_scope_begin();
    born_tensor *c = born_contiguous(born_detach(t));
    if (c) born_tensor_retain(c);
    born_scope_end();
    return c;
}

born_dataset *born_tensor_dataset_new(born_tensor *inputs, born_tensor *targets) {
    const char *fn = "born_tensor_dataset_new";
    if (!inputs) {
        if (!born_has_error()) born_error(BORN_ERR_ARGUMENT, "%s: inputs is NULL", fn);
        return NULL;
    }
    char a[160], b[160];
    born_tensor *ts[2] = {inputs, targets};
    for (int i = 0; i < 2; i++) {
        if (!ts[i]) continue;
        if (ts[i]->ndim < 1)
            return born_error_null(BORN_ERR_SHAPE, "%s: %s %s has no dimension to index samples "
                                   "along", fn, i ? "targets" : "inputs",
                                   born_tensor_describe(ts[i], a, sizeof a));
        if (ts[i]->storage->device.type != BORN_DEVICE_CPU)
            return born_error_null(BORN_ERR_DEVICE, "%s: %s must be on the CPU", fn,
                                   i ? "targets" : "inputs");
    }
    if (targets && targets->shape[0] != inputs->shape[0])
        return born_error_null(BORN_ERR_SHAPE, "%s: inputs %s and targets %s have different "
                               "numbers of samples (%" PRId64 " vs %" PRId64 ")", fn,
                               born_tensor_describe(inputs, a, sizeof a),
                               born_tensor_describe(targets, b, sizeof b), inputs->shape[0],
                               targets->shape[0]);
    born_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) return born_error_null(BORN_ERR_MEMORY, "%s: out of memory", fn);
    ds->inputs = own_rows(inputs);
    ds->targets = targets ? own_rows(targets) : NULL;
    born_transform_params p = born_transform_default_params();
    if (!ds->inputs || (targets && !ds->targets) ||
        resolve(fn, ds->inputs, ds->targets, &p, &ds->tf) != BORN_OK) {
        born_dataset_free(ds);
        return NULL;
    }
    return ds;
}

void born_dataset_free(born_dataset *ds) {
    if (!ds) return;
    if (ds->inputs) tensor_release(ds->inputs);
    if (ds->targets) tensor_release(ds->targets);
    free(ds);
}

int64_t born_dataset_len(const born_dataset *ds) { return ds ? ds->inputs->shape[0] : 0; }

born_tensor *born_dataset_inputs(const born_dataset *ds) { return ds ? ds->inputs : NULL; }

born_tensor *born_dataset_targets(const born_dataset *ds) { return ds ? ds->targets : NULL; }

born_status born_dataset_set_transform(born_dataset *ds, const born_transform_params *params) {
    const char *fn = "born_dataset_set_transform";
    if (!ds) return born_error(BORN_ERR_ARGUMENT, "%s: dataset is NULL", fn);
    born_transform_params p = params ? *params : born_transform_default_params();
    data_transform tf;
    born_status st = resolve(fn, ds->inputs, ds->targets, &p, &tf);
    if (st == BORN_OK) ds->tf = tf;
    return st;
}

/* An internal reference to rows [start, start + length) of t. */
static born_tensor *rows_view(born_tensor *t, int64_t start, int64_t length) {
    born_scope_begin();
    born_tensor *v = born_narrow(t, 0, start, length);
    if (v) born_tensor_retain(v);
    born_scope_end();
    return v;
}

born_dataset *born_dataset_subset(const born_dataset *ds, int64_t start, int64_t length) {
    const char *fn = "born_dataset_subset";
    if (!ds) return born_error_null(BORN_ERR_ARGUMENT, "%s: dataset is NULL", fn);
    int64_t n = ds->inputs->shape[0];
    if (start < 0 || length < 0 || start > n || length > n - start)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: samples [%" PRId64 ", %" PRId64 " + %"
                               PRId64 ") are not within the dataset's %" PRId64, fn, start, start,
                               length, n);
    born_dataset *sub = calloc(1, sizeof *sub);
    if (!sub) return born_error_null(BORN_ERR_MEMORY, "%s: out of memory", fn);
    sub->inputs = rows_view(ds->inputs, start, length);
    sub->targets = ds->targets ? rows_view(ds->targets, start, length) : NULL;
    if (!sub->inputs || (ds->targets && !sub->targets)) {
        born_dataset_free(sub);
        return NULL;
    }
    sub->tf = ds->tf;
    return sub;
}

born_status born_dataset_split(const born_dataset *ds, int64_t n, born_dataset **first,
                               born_dataset **rest) {
    const char *fn = "born_dataset_split";
    if (!first || !rest) return born_error(BORN_ERR_ARGUMENT, "%s: first or rest is NULL", fn);
    *first = *rest = NULL;
    if (!ds) return born_error(BORN_ERR_ARGUMENT, "%s: dataset is NULL", fn);
    int64_t len = ds->inputs->shape[0];
    if (n < 0 || n > len)
        return born_error(BORN_ERR_ARGUMENT, "%s: cannot split %" PRId64 " samples after the "
                          "first %" PRId64, fn, len, n);
    born_dataset *a = born_dataset_subset(ds, 0, n);
    born_dataset *b = a ? born_dataset_subset(ds, n, len - n) : NULL;
    if (!b) {
        born_dataset_free(a);
        return born_last_status();
    }
    *first = a;
    *rest = b;
    return BORN_OK;
}

born_status born_dataset_get(const born_dataset *ds, int64_t index, born_tensor **input,
                             born_tensor **target) {
    const char *fn = "born_dataset_get";
    if (!ds || !input) return born_error(BORN_ERR_ARGUMENT, "%s: dataset or input is NULL", fn);
    *input = NULL;
    if (target) *target = NULL;
    int64_t n = ds->inputs->shape[0];
    int64_t i = index < 0 ? index + n : index;
    if (i < 0 || i >= n)
        return born_error(BORN_ERR_ARGUMENT, "%s: index %" PRId64 " is out of range for %" PRId64
                          " samples", fn, index, n);
    return data_gather(fn, ds->inputs, ds->targets, &ds->tf, &i, 1, true, input, target);
}
