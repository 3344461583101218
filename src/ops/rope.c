/* Rotary position embeddings: the inverse frequencies (with Hugging Face's linear, dynamic NTK,
 * YaRN and Llama 3 scalings), cos/sin tables, and the rotation in the rotate-half (GPT-NeoX, HF
 * Llama) and interleaved (GPT-J, Meta's Llama) layouts. The rotation is a composition of public
 * ops, so autograd differentiates it; the tables are computed in f64 and never need gradients. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/op_util.h"

born_rope_params born_rope_default_params(void) {
    born_rope_params p;
    memset(&p, 0, sizeof p);
    p.theta = 10000.0;
    p.scaling = BORN_ROPE_SCALING_NONE;
    p.factor = 1.0;
    p.low_freq_factor = 1.0;
    p.high_freq_factor = 4.0;
    p.beta_fast = 32.0;
    p.beta_slow = 1.0;
    return p;
}

static const char *scaling_name(born_rope_scaling s) {
    switch (s) {
    case BORN_ROPE_SCALING_NONE: return "none";
    case BORN_ROPE_SCALING_LINEAR: return "linear";
    case BORN_ROPE_SCALING_DYNAMIC_NTK: return "dynamic";
    case BORN_ROPE_SCALING_NTK: return "ntk";
    case BORN_ROPE_SCALING_YARN: return "yarn";
    case BORN_ROPE_SCALING_LLAMA3: return "llama3";
    }
    return "?";
}

static bool check_params(const char *fn, const born_rope_params *p, int64_t dim) {
    if (dim < 2 || dim % 2) {
        born_error(BORN_ERR_ARGUMENT, "%s: the rotary dimension %" PRId64 " must be even and positive",
                   fn, dim);
        return false;
    }
    if (!(p->theta > 0) || !isfinite(p->theta)) {
        born_error(BORN_ERR_ARGUMENT, "%s: theta %g must be positive", fn, p->theta);
        return false;
    }
    if (p->scaling < BORN_ROPE_SCALING_NONE || p->scaling > BORN_ROPE_SCALING_LLAMA3) {
        born_error(BORN_ERR_ARGUMENT, "%s: unknown scaling %d", fn, (int)p->scaling);
        return false;
    }
    if (p->scaling != BORN_ROPE_SCALING_NONE && !(p->factor > 0)) {
        born_error(BORN_ERR_ARGUMENT, "%s: %s scaling needs a positive factor, not %g", fn,
                   scaling_name(p->scaling), p->factor);
        return false;
    }
    bool needs_max = p->scaling == BORN_ROPE_SCALING_DYNAMIC_NTK ||
                     p->scaling == BORN_ROPE_SCALING_YARN || p->scaling == BORN_ROPE_SCALING_LLAMA3;
    if (needs_max && p->original_max_position < 1) {
        born_error(BORN_ERR_ARGUMENT, "%s: %s scaling needs original_max_position", fn,
                   scaling_name(p->scaling));
        return false;
    }
    if (p->scaling == BORN_ROPE_SCALING_LLAMA3 && !(p->high_freq_factor > p->low_freq_factor)) {
        born_error(BORN_ERR_ARGUMENT, "%s: llama3 scaling needs high_freq_factor %g above "
                   "low_freq_factor %g", fn, p->high_freq_factor, p->low_freq_factor);
        return false;
    }
    return true;
}

/* YaRN's find_correction_dim: the dimension whose wavelength makes num_rotations turns over
 * max_pos positions. */
static double yarn_correction_dim(double num_rotations, double dim, double base, double max_pos) {
    return dim * log(max_pos / (num_rotations * 2.0 * M_PI)) / (2.0 * log(base));
}

born_status born_rope_inv_freq(const born_rope_params *params, int64_t dim, int64_t seq_len,
                               double *inv_freq, double *attention_factor) {
    static const char *fn = "born_rope_inv_freq";
    born_rope_params p = params ? *params : born_rope_default_params();
    if (!inv_freq) return born_error(BORN_ERR_ARGUMENT, "%s: inv_freq is NULL", fn);
    if (!check_params(fn, &p, dim)) return born_last_status();
    int64_t half = dim / 2;
    double base = p.theta, d = (double)dim, mscale = 1.0;
    if (p.scaling == BORN_ROPE_SCALING_NTK) base *= pow(p.factor, d / (d - 2.0));
    if (p.scaling == BORN_ROPE_SCALING_DYNAMIC_NTK && seq_len > p.original_max_position) {
        double s = p.factor * (double)seq_len / (double)p.original_max_position - (p.factor - 1.0);
        base *= pow(s, d / (d - 2.0));
    }
    for (int64_t i = 0; i < half; i++) inv_freq[i] = 1.0 / pow(base, (double)(2 * i) / d);
    if (p.scaling == BORN_ROPE_SCALING_LINEAR)
        for (int64_t i = 0; i < half; i++) inv_freq[i] /= p.factor;
    if (p.scaling == BORN_ROPE_SCALING_YARN) {
        mscale = p.attention_factor > 0 ? p.attention_factor
                 : p.factor > 1        ? 0.1 * log(p.factor) + 1.0
                                       : 1.0;
        double mx = (double)p.original_max_position;
        double low = floor(yarn_correction_dim(p.beta_fast, d, base, mx));
        double high = ceil(yarn_correction_dim(p.beta_slow, d, base, mx));
        if (low < 0) low = 0;
        if (high > d - 1) high = d - 1;
        if (low == high) high += 0.001;
        for (int64_t i = 0; i < half; i++) {
            double ramp = ((double)i - low) / (high - low);
            ramp = ramp < 0 ? 0 : (ramp > 1 ? 1 : ramp);
            double extra = 1.0 - ramp; /* weight of the unscaled frequency */
            double pos_freq = pow(base, (double)(2 * i) / d);
            inv_freq[i] = (1.0 / (p.factor * pos_freq)) * (1.0 - extra) + (1.0 / pos_freq) * extra;
        }
    }
    if (p.scaling == BORN_ROPE_SCALING_LLAMA3) {
        double old = (double)p.original_max_position;
        double low_wl = old / p.low_freq_factor, high_wl = old / p.high_freq_factor;
        for (int64_t i = 0; i < half; i++) {
            double f = inv_freq[i], wl = 2.0 * M_PI / f;
            double scaled = wl > low_wl ? f / p.factor : f;
            if (!(wl < high_wl) && !(wl > low_wl)) {
                double smooth = (old / wl - p.low_freq_factor) / (p.high_freq_factor - p.low_freq_factor);
                scaled = (1.0 - smooth) * scaled / p.factor + smooth * scaled;
            }
            inv_freq[i] = scaled;
        }
    }
    if (attention_factor) *attention_factor = mscale;
    return BORN_OK;
}

born_status born_rope_cos_sin(const born_rope_params *params, int64_t dim, born_tensor *positions,
                              born_dtype dtype, born_tensor **cos_out, born_tensor **sin_out) {
    static const char *fn = "born_rope_cos_sin";
    if (!ops_check_inputs(fn, 1, &positions)) return born_last_status();
    char d[200];
    if (positions->ndim != 1 || born_dtype_is_floating(positions->dtype) ||
        positions->dtype == BORN_BOOL)
        return born_error(BORN_ERR_SHAPE, "%s: positions %s must be a 1-D integer tensor", fn,
                          ops_describe(positions, d, sizeof d));
    if (!born_dtype_is_floating(dtype))
        return born_error(BORN_ERR_DTYPE, "%s: the tables' dtype must be floating", fn);
    if (!cos_out || !sin_out) return born_error(BORN_ERR_ARGUMENT, "%s: an output pointer is NULL", fn);
    int64_t n = positions->shape[0], half = dim / 2;
    double *inv = malloc(sizeof(double) * (size_t)(half > 0 ? half : 1));
    if (!inv) return born_error(BORN_ERR_MEMORY, "%s: out of memory", fn);
    born_scope_begin();
    born_tensor *pos = born_contiguous(born_to_dtype(born_to(positions, BORN_CPU), BORN_I64));
    const int64_t *pv = pos ? born_data_i64(pos) : NULL;
    int64_t maxpos = 0;
    for (int64_t i = 0; pv && i < n; i++) maxpos = pv[i] + 1 > maxpos ? pv[i] + 1 : maxpos;
    double mscale = 1.0;
    born_status st = pv ? born_rope_inv_freq(params, dim, maxpos, inv, &mscale) : born_last_status();
    born_tensor *c = NULL, *s = NULL;
    if (st == BORN_OK) {
        c = born_empty(BORN_F64, BORN_DIMS(n, dim));
        s = born_empty(BORN_F64, BORN_DIMS(n, dim));
        double *cd = c ? born_data_f64(c) : NULL, *sd = s ? born_data_f64(s) : NULL;
        if (cd && sd) {
            /* each frequency appears twice: [f0 .. f_{h-1}, f0 .. f_{h-1}] (rotate-half layout;
             * born_rope reads the interleaved layout from the same tables) */
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = 0; j < half; j++) {
                    double a = (double)pv[i] * inv[j];
                    cd[i * dim + j] = cd[i * dim + half + j] = cos(a) * mscale;
                    sd[i * dim + j] = sd[i * dim + half + j] = sin(a) * mscale;
                }
            c = born_to_dtype(c, dtype);
            s = born_to_dtype(s, dtype);
        }
        if (!c || !s) st = born_last_status();
    }
    free(inv);
    if (st == BORN_OK) {
        *cos_out = born_keep(c);
        *sin_out = born_keep(s);
    }
    born_scope_end();
    return st;
}

born_tensor *born_rope(born_tensor *x, born_tensor *positions, const born_rope_params *params) {
    static const char *fn = "born_rope";
    if (!ops_check_inputs(fn, 1, &x)) return NULL;
    born_rope_params p = params ? *params : born_rope_default_params();
    char d[200];
    if (x->ndim < 2 || !born_dtype_is_floating(x->dtype))
        return born_error_null(BORN_ERR_SHAPE, "%s: input %s must be floating [..., T, D]", fn,
                               ops_describe(x, d, sizeof d));
    int64_t t = x->shape[x->ndim - 2], dim = x->shape[x->ndim - 1];
    int64_t rdim = p.rotary_dim > 0 ? p.rotary_dim : dim;
    if (rdim > dim || rdim % 2)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: rotary_dim %" PRId64 " must be even and at "
                               "most the head size of %s", fn, rdim, ops_describe(x, d, sizeof d));
    born_scope_begin();
    born_tensor *pos = positions;
    if (!pos) pos = born_arange(p.position_offset, p.position_offset + t, 1, BORN_I64);
    else if (pos->ndim != 1 || pos->shape[0] != t) {
        born_scope_end();
        return born_error_null(BORN_ERR_SHAPE, "%s: positions %s must be [T] with T = %" PRId64
                               " (input %s)", fn, ops_describe(pos, d, sizeof d), t,
                               ops_describe(x, d + 100, 100));
    }
    born_tensor *cs = NULL, *sn = NULL, *y = NULL;
    born_dtype cdt = x->dtype == BORN_F64 ? BORN_F64 : BORN_F32;
    if (born_rope_cos_sin(&p, rdim, pos, cdt, &cs, &sn) == BORN_OK) {
        /* the tables are made on the host; they follow x to its device */
        cs = born_to(cs, x->storage->device);
        sn = born_to(sn, x->storage->device);
        int64_t half = rdim / 2, last = x->ndim - 1;
        born_tensor *xr = rdim == dim ? x : born_narrow(x, (int)last, 0, rdim);
        born_tensor *xc = born_to_dtype(xr, cdt);
        born_tensor *rot;
        if (!p.interleaved) {
            born_tensor *x1 = born_narrow(xc, (int)last, 0, half);
            born_tensor *x2 = born_narrow(xc, (int)last, half, half);
            born_tensor *parts[2] = {born_neg(x2), x1};
            rot = born_add(born_mul(xc, cs), born_mul(born_cat(parts, 2, (int)last), sn));
        } else {
            /* pairs (2i, 2i+1) rotate by frequency i: view [..., T, half, 2] */
            int64_t shape[BORN_MAX_DIMS + 1];
            memcpy(shape, xc->shape, sizeof(int64_t) * (size_t)last);
            shape[last] = half;
            shape[last + 1] = 2;
            born_tensor *xp = born_reshape(xc, x->ndim + 1, shape);
            born_tensor *xe = born_select(xp, x->ndim, 0), *xo = born_select(xp, x->ndim, 1);
            born_tensor *c = born_narrow(cs, 1, 0, half), *s = born_narrow(sn, 1, 0, half);
            born_tensor *re = born_sub(born_mul(xe, c), born_mul(xo, s));
            born_tensor *ro = born_add(born_mul(xe, s), born_mul(xo, c));
            born_tensor *pair[2] = {re, ro};
            rot = born_reshape(born_stack(pair, 2, x->ndim), x->ndim, xc->shape);
        }
        rot = born_to_dtype(rot, x->dtype);
        if (rdim == dim) y = rot;
        else {
            born_tensor *parts[2] = {rot, born_narrow(x, (int)last, rdim, dim - rdim)};
            y = born_cat(parts, 2, (int)last);
        }
    }
    y = born_keep(y);
    born_scope_end();
    return y;
}
