/* Resize and Upsample: interpolation applied one axis at a time (nearest, linear and cubic are
 * all separable), following the ONNX reference's coordinate transforms, neighbour choice and
 * edge handling. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "onnx/onnx_internal.h"
#include "onnx/plan.h"

typedef struct rs_params {
    int mode; /* 0 nearest, 1 linear, 2 cubic */
    char ctm[32], nearest[32];
    double a, extrap;
    bool exclude;
} rs_params;

static double transform(const rs_params *p, double o, double scale, int64_t L, int64_t O,
                        double rs, double re) {
    double ow = scale * (double)L;
    if (!strcmp(p->ctm, "asymmetric")) return o / scale;
    if (!strcmp(p->ctm, "align_corners")) return ow == 1 ? 0 : o * (double)(L - 1) / (ow - 1);
    if (!strcmp(p->ctm, "pytorch_half_pixel")) return ow > 1 ? (o + 0.5) / scale - 0.5 : 0;
    if (!strcmp(p->ctm, "tf_half_pixel_for_nn")) return (o + 0.5) / scale;
    if (!strcmp(p->ctm, "tf_crop_and_resize"))
        return O > 1 ? rs * (double)(L - 1) + o * (re - rs) * (double)(L - 1) / (double)(O - 1)
                     : 0.5 * (rs + re) * (double)(L - 1);
    return (o + 0.5) / scale - 0.5; /* half_pixel */
}

static void cubic_coeffs(double r, double A, double *c) {
    double x = r + 1;
    c[0] = ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
    c[1] = ((A + 2) * r - (A + 3)) * r * r + 1;
    x = 1 - r;
    c[2] = ((A + 2) * x - (A + 3)) * x * x + 1;
    x = 2 - r;
    c[3] = ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
}

/* The input index that nearest mode takes for output o (before clamping to [0, L)). */
static int64_t nearest_index(const rs_params *p, double xo) {
    double base = ceil(xo) - 1, rr = xo - base;
    if (xo == floor(xo)) return (int64_t)xo;
    if (!strcmp(p->nearest, "floor")) return (int64_t)floor(xo);
    if (!strcmp(p->nearest, "ceil")) return (int64_t)ceil(xo);
    if (!strcmp(p->nearest, "round_prefer_ceil")) return (int64_t)(rr >= 0.5 ? base + 1 : base);
    return (int64_t)(rr > 0.5 ? base + 1 : base);
}

/* Resamples axis a of the contiguous f64 tensor x (shape s, rank r) to O elements. */
static born_tensor *resize_axis(born_tensor *x, int r, int a, int64_t O, double scale,
                                const rs_params *p, double rs, double re) {
    const int64_t *s = born_tensor_shape(x);
    int64_t L = s[a], outer = 1, inner = 1;
    for (int i = 0; i < a; i++) outer *= s[i];
    for (int i = a + 1; i < r; i++) inner *= s[i];
    int64_t shape[BORN_MAX_DIMS];
    memcpy(shape, s, (size_t)r * sizeof *shape);
    shape[a] = O;
    born_tensor *y = born_empty(BORN_F64, r, shape);
    if (!y) return NULL;
    const double *X = born_data_f64(x);
    double *Y = born_data_f64(y);
    for (int64_t o = 0; o < O; o++) {
        double xo = transform(p, (double)o, scale, L, O, rs, re);
        int64_t idx[4];
        double w[4];
        int n;
        bool extrap = !strcmp(p->ctm, "tf_crop_and_resize") && (xo < 0 || xo > (double)(L - 1));
        double base = ceil(xo) - 1, rr = xo - base;
        if (p->mode == 0) {
            idx[0] = nearest_index(p, xo);
            w[0] = 1;
            n = 1;
        } else if (p->mode == 1) {
            idx[0] = (int64_t)base, idx[1] = (int64_t)base + 1;
            w[0] = 1 - rr, w[1] = rr;
            n = 2;
        } else {
            for (int k = 0; k < 4; k++) idx[k] = (int64_t)base - 1 + k;
            cubic_coeffs(rr, p->a, w);
            n = 4;
        }
        if (p->exclude) {
            double sum = 0;
            for (int k = 0; k < n; k++) {
                if (idx[k] < 0 || idx[k] >= L) w[k] = 0;
                sum += w[k];
            }
            if (sum != 0)
                for (int k = 0; k < n; k++) w[k] /= sum;
        }
        for (int k = 0; k < n; k++) idx[k] = idx[k] < 0 ? 0 : idx[k] >= L ? L - 1 : idx[k];
        for (int64_t b = 0; b < outer; b++)
            for (int64_t i = 0; i < inner; i++) {
                double acc = 0;
                for (int k = 0; k < n; k++) acc += w[k] * X[(b * L + idx[k]) * inner + i];
                Y[(b * O + o) * inner + i] = extrap ? p->extrap : acc;
            }
    }
    return y;
}

/* Nearest-neighbour resize of an f32 tensor straight in f32 (a copy of chosen elements, so the
 * values are those of the f64 path): one index table per axis, out[i] = x[idx_0[i_0], ...].
 * O[a] and scale[a] per axis (an axis left as it is has O = L and a NULL table). */
typedef struct nearest_job {
    const float *x;
    float *y;
    int r;
    int64_t L[BORN_MAX_DIMS], O[BORN_MAX_DIMS];
    const int64_t *idx[BORN_MAX_DIMS];
    int64_t rep;      /* > 0: the last axis's table is o / rep (an integer upscale) */
    const float *add; /* fused Add (onnx_op_fused_resize_add): y = add + resized, or resized +
                         add when !add_first, add shaped as y */
    bool add_first;
} nearest_job;

/* One output row from the source row xs: y[o] = xs[last[o]] (+ the addend's row). */
static void nearest_row(const nearest_job *j, const float *xs, float *yr, const float *ar) {
    const int64_t ow = j->O[j->r - 1], *last = j->idx[j->r - 1], rep = j->rep;
    if (!ar) {
        if (!last) memcpy(yr, xs, (size_t)ow * sizeof(float));
        else if (rep == 2)
            for (int64_t i = 0; i < ow / 2; i++) yr[2 * i] = yr[2 * i + 1] = xs[i];
        else if (rep > 0)
            for (int64_t i = 0; i < ow / rep; i++)
                for (int64_t q = 0; q < rep; q++) yr[i * rep + q] = xs[i];
        else
            for (int64_t o = 0; o < ow; o++) yr[o] = xs[last[o]];
        return;
    }
    if (j->add_first) { /* add + resized, in the Add's order */
        if (!last)
            for (int64_t o = 0; o < ow; o++) yr[o] = ar[o] + xs[o];
        else if (rep == 2)
            for (int64_t i = 0; i < ow / 2; i++) {
                float v = xs[i];
                yr[2 * i] = ar[2 * i] + v;
                yr[2 * i + 1] = ar[2 * i + 1] + v;
            }
        else
            for (int64_t o = 0; o < ow; o++) yr[o] = ar[o] + xs[last[o]];
    } else {
        if (!last)
            for (int64_t o = 0; o < ow; o++) yr[o] = xs[o] + ar[o];
        else
            for (int64_t o = 0; o < ow; o++) yr[o] = xs[last[o]] + ar[o];
    }
}

/* Output rows (all axes but the last) [begin, end). */
static void nearest_rows(int64_t begin, int64_t end, void *arg) {
    const nearest_job *j = arg;
    int r = j->r;
    int64_t ow = j->O[r - 1];
    int64_t prev = -1; /* the source row of the row before (upsampling repeats rows: a copy) */
    for (int64_t row = begin; row < end; row++) {
        int64_t rem = row, src = 0, mul = 1;
        for (int a = r - 2; a >= 0; a--) { /* the source row of this output row */
            int64_t o = rem % j->O[a];
            rem /= j->O[a];
            src += (j->idx[a] ? j->idx[a][o] : o) * mul;
            mul *= j->L[a];
        }
        const float *xs = j->x + src * j->L[r - 1];
        float *yr = j->y + row * ow;
        if (src == prev && !j->add) memcpy(yr, yr - ow, (size_t)ow * sizeof(float));
        else nearest_row(j, xs, yr, j->add ? j->add + row * ow : NULL);
        prev = src;
    }
}

/* add (NULL: none) is an f32 contiguous tensor shaped O, added as described in nearest_job. */
static born_tensor *resize_nearest_f32(born_tensor *x, const int64_t *O, const double *scale,
                                       const rs_params *p, const double *roi, born_tensor *add,
                                       bool add_first) {
    int r = born_tensor_ndim(x);
    born_tensor *xf = onnx_as(x, BORN_F32);
    born_tensor *y = xf ? born_empty(BORN_F32, r, O) : NULL;
    if (!y) return NULL;
    nearest_job j = {born_data_f32(xf), born_data_f32(y), r, {0}, {0}, {NULL}, 0,
                     add ? born_data_f32(add) : NULL, add_first};
    int64_t total = 0, rows = 1;
    for (int a = 0; a < r; a++) total += O[a];
    int64_t *tab = malloc((size_t)(total + 1) * sizeof *tab), *t = tab;
    if (!tab) {
        born_error(BORN_ERR_MEMORY, "Resize: out of memory");
        return NULL;
    }
    for (int a = 0; a < r; a++) {
        int64_t L = born_tensor_shape(x)[a];
        j.L[a] = L;
        j.O[a] = O[a];
        if (a < r - 1) rows *= O[a];
        if (O[a] == L && scale[a] == 1) continue;
        for (int64_t o = 0; o < O[a]; o++) {
            int64_t i = nearest_index(p, transform(p, (double)o, scale[a], L, O[a], roi[a],
                                                   roi[BORN_MAX_DIMS + a]));
            t[o] = i < 0 ? 0 : i >= L ? L - 1 : i;
        }
        j.idx[a] = t;
        t += O[a];
    }
    if (r > 0 && j.idx[r - 1] && j.L[r - 1] > 0 && O[r - 1] % j.L[r - 1] == 0) {
        int64_t rep = O[r - 1] / j.L[r - 1];
        bool plain = true; /* the table is o / rep: copies in runs of rep */
        for (int64_t o = 0; o < O[r - 1] && plain; o++) plain = j.idx[r - 1][o] == o / rep;
        if (plain) j.rep = rep;
    }
    int64_t ow = r ? O[r - 1] : 1, grain = ow > 0 ? (32768 + ow - 1) / ow : 1;
    if (r > 0 && total > 0 && born_tensor_numel(y) > 0) born_parallel_for(rows, grain, nearest_rows, &j);
    free(tab);
    return y;
}

static born_status resize(onnx_op_ctx *c, bool upsample) {
    ONNX_TRY(onnx_need(c, 0));
    born_tensor *x = c->in[0];
    int r = born_tensor_ndim(x);
    rs_params p;
    char mb[32];
    const char *mode = onnx_attr_str(c, "mode", "nearest", mb, sizeof mb);
    p.mode = !strcmp(mode, "nearest") ? 0 : (!strcmp(mode, "linear") || !strcmp(mode, "bilinear")) ? 1
             : !strcmp(mode, "cubic") ? 2 : -1;
    if (p.mode < 0) return onnx_fail(c, BORN_ERR_ARGUMENT, "unknown mode '%s'", mode);
    bool old = upsample || c->opset < 11;
    snprintf(p.ctm, sizeof p.ctm, "%s", old ? "asymmetric" : "half_pixel");
    onnx_attr_str(c, "coordinate_transformation_mode", p.ctm, p.ctm, sizeof p.ctm);
    snprintf(p.nearest, sizeof p.nearest, "round_prefer_floor");
    onnx_attr_str(c, "nearest_mode", p.nearest, p.nearest, sizeof p.nearest);
    if (old && p.mode == 0) snprintf(p.nearest, sizeof p.nearest, "floor");
    p.a = onnx_attr_float(c, "cubic_coeff_a", -0.75f);
    p.extrap = onnx_attr_float(c, "extrapolation_value", 0);
    p.exclude = onnx_attr_int(c, "exclude_outside", 0) != 0;
    if (onnx_attr_int(c, "antialias", 0))
        return onnx_fail(c, BORN_ERR_UNSUPPORTED, "antialias is not supported");
    char kb[32];
    if (strcmp(onnx_attr_str(c, "keep_aspect_ratio_policy", "stretch", kb, sizeof kb), "stretch"))
        return onnx_fail(c, BORN_ERR_UNSUPPORTED, "keep_aspect_ratio_policy '%s' is not supported", kb);
    int nax;
    const int64_t *axes_attr = onnx_attr_ints(c, "axes", &nax);
    int64_t axes[BORN_MAX_DIMS];
    int k = axes_attr ? nax : r;
    for (int i = 0; i < k; i++) {
        axes[i] = axes_attr ? onnx_axis(c, axes_attr[i], r) : i;
        if (axes[i] < 0) return born_last_status();
    }
    double scales[BORN_MAX_DIMS], roi[2 * BORN_MAX_DIMS];
    int64_t sizes[BORN_MAX_DIMS];
    bool have_sizes = false, have_scales = false;
    born_tensor *ts = NULL, *tz = NULL, *troi = NULL;
    if (upsample && c->opset < 9) {
        int n;
        const float *f = onnx_attr_floats(c, "scales", &n);
        if (n != r) return onnx_fail(c, BORN_ERR_ARGUMENT, "scales has %d entries for rank %d", n, r);
        for (int i = 0; i < r; i++) scales[i] = f[i];
        have_scales = true;
    } else if (old) {
        ts = c->nin > 1 ? c->in[1] : NULL;
    } else {
        troi = c->nin > 1 ? c->in[1] : NULL;
        ts = c->nin > 2 ? c->in[2] : NULL;
        tz = c->nin > 3 ? c->in[3] : NULL;
    }
    if (ts && born_tensor_numel(ts) > 0) {
        if (born_tensor_numel(ts) != k) return onnx_fail(c, BORN_ERR_SHAPE, "scales has the wrong length");
        born_tensor *f = onnx_as(ts, BORN_F64);
        if (!f) return onnx_op_failed(c);
        for (int i = 0; i < k; i++) scales[i] = born_data_f64(f)[i];
        have_scales = true;
    }
    if (tz && born_tensor_numel(tz) > 0) {
        if (onnx_read_ints(c, tz, sizes, BORN_MAX_DIMS, "sizes") != k)
            return onnx_fail(c, BORN_ERR_SHAPE, "sizes has the wrong length");
        have_sizes = true;
    }
    if (have_sizes == have_scales) return onnx_fail(c, BORN_ERR_ARGUMENT, "give exactly one of scales and sizes");
    for (int i = 0; i < 2 * BORN_MAX_DIMS; i++) roi[i] = i < BORN_MAX_DIMS ? 0 : 1;
    if (troi && born_tensor_numel(troi) == 2 * k) {
        born_tensor *f = onnx_as(troi, BORN_F64);
        if (!f) return onnx_op_failed(c);
        for (int i = 0; i < k; i++) {
            roi[axes[i]] = born_data_f64(f)[i];
            roi[BORN_MAX_DIMS + axes[i]] = born_data_f64(f)[k + i];
        }
    }
    born_dtype dt = born_tensor_dtype(x);
    if (p.mode == 0 && dt == BORN_F32 && !p.exclude && r >= 1 && born_tensor_numel(x) > 0 &&
        strcmp(p.ctm, "tf_crop_and_resize")) { /* nearest in f32: the same values, one pass */
        int64_t O[BORN_MAX_DIMS];
        double sc[BORN_MAX_DIMS];
        for (int a = 0; a < r; a++) O[a] = born_tensor_shape(x)[a], sc[a] = 1;
        for (int i = 0; i < k; i++) {
            int a = (int)axes[i];
            int64_t L = O[a];
            if (have_sizes) {
                O[a] = sizes[i];
                sc[a] = L ? (double)O[a] / (double)L : 1;
            } else {
                sc[a] = scales[i];
                if (!(sc[a] > 0)) return onnx_fail(c, BORN_ERR_ARGUMENT, "scale %g is not positive", sc[a]);
                O[a] = (int64_t)floor((double)L * sc[a]);
            }
            if (O[a] < 0) return onnx_fail(c, BORN_ERR_SHAPE, "negative output size");
        }
        born_tensor *add = c->addend;
        bool fits = add && born_tensor_dtype(add) == BORN_F32 && born_tensor_ndim(add) == r &&
                    born_tensor_is_contiguous(add);
        for (int a = 0; a < r && fits; a++) fits = born_tensor_shape(add)[a] == O[a];
        if (fits) c->addend = NULL; /* added here */
        ONNX_OUT(0, resize_nearest_f32(x, O, sc, &p, roi, fits ? add : NULL, c->addend_first));
        return BORN_OK;
    }
    born_tensor *y = onnx_as(x, BORN_F64);
    for (int i = 0; i < k && y; i++) {
        int a = (int)axes[i];
        int64_t L = born_tensor_shape(y)[a], O;
        double s;
        if (have_sizes) {
            O = sizes[i];
            s = L ? (double)O / (double)L : 1;
        } else {
            s = scales[i];
            if (!(s > 0)) return onnx_fail(c, BORN_ERR_ARGUMENT, "scale %g is not positive", s);
            O = (int64_t)floor((double)L * s);
        }
        if (O == L && s == 1 && strcmp(p.ctm, "tf_crop_and_resize")) continue;
        y = resize_axis(y, r, a, O, s, &p, roi[a], roi[BORN_MAX_DIMS + a]);
    }
    if (!y) return onnx_op_failed(c);
    if (!born_dtype_is_floating(dt)) y = born_round(y);
    ONNX_OUT(0, born_to_dtype(y, dt));
    return BORN_OK;
}

static born_status op_Resize(onnx_op_ctx *c) { return resize(c, false); }

born_status onnx_op_fused_resize_add(onnx_op_ctx *c) {
    born_tensor *addend = c->addend;
    ONNX_TRY(resize(c, false)); /* adds c->addend itself where it can, and then clears it */
    if (!c->addend) return BORN_OK;
    /* otherwise the Add node's own operator on the resized tensor, in the node's operand order */
    onnx_op_fn add = onnx_op_find("Add");
    born_tensor *pair[2] = {c->addend_first ? addend : c->out[0], c->addend_first ? c->out[0] : addend};
    born_tensor *out[1] = {NULL};
    onnx_op_ctx ac = *c;
    ac.in = pair;
    ac.nin = 2;
    ac.out = out;
    ac.nout = 1;
    ac.addend = NULL;
    ac.subplans = NULL;
    if (!add) return onnx_fail(c, BORN_ERR_INTERNAL, "no Add operator");
    ONNX_TRY(add(&ac));
    c->out[0] = out[0];
    return BORN_OK;
}
static born_status op_Upsample(onnx_op_ctx *c) { return resize(c, true); }

const onnx_op_entry onnx_ops_misc[] = {{"Resize", op_Resize}, {"Upsample", op_Upsample}, {NULL, NULL}};
