/* Born against PyTorch: replays every record of tests/fixtures/ops.bin (written by
 * tools/gen_fixtures.py) through Born and compares outputs and gradients.
 *
 * For each record the inputs in0, in1, ... are built as Born tensors (as non-contiguous views
 * when the spec says nc<i>=t or nc<i>=s), inputs with a stored gradient are marked with
 * born_requires_grad, the op named by the spec runs, every output is compared with torch's
 * (same dtype, same shape, values within the dtype's tolerance), and born_backward on
 * sum(out * gout) must give each stored gradient.
 *
 * Tolerances (|got - want| <= atol + rtol |want|; NaN matches NaN, infinities match exactly):
 *   f64 1e-12 / 1e-12, f32 1e-5 / 1e-6, f16 1e-3 / 1e-5 and bf16 8e-3 / 1e-5 (one unit in the
 *   last place: Born computes them in f32 and rounds once, as torch does on the CPU);
 *   integers and bool exactly. Gradients of f16/bf16 get four units in the last place, because
 *   Born's backward rules are compositions of ops that each round to the input's dtype.
 *
 * To add an op: give it a spec in tools/gen_fixtures.py (torch_apply) and here (run_op), add
 * its cases to the script, regenerate the file, and list its family in FAMILIES below. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "test.h"

#define FIXTURE_PATH "tests/fixtures/ops.bin"

/* ---- specs: "op key=value key=value ..." -------------------------------------------------- */

enum { SPEC_MAX_ARGS = 16 };

typedef struct spec {
    char op[48];
    int nargs;
    char keys[SPEC_MAX_ARGS][24];
    char vals[SPEC_MAX_ARGS][96];
    bool bad; /* a value did not parse */
    char bad_key[24];
} spec;

static bool spec_parse(const char *text, spec *s) {
    memset(s, 0, sizeof *s);
    const char *p = text;
    while (*p == ' ') p++;
    size_t n = strcspn(p, " ");
    if (n == 0 || n >= sizeof s->op) return false;
    memcpy(s->op, p, n);
    p += n;
    while (*p) {
        while (*p == ' ') p++;
        if (!*p) break;
        n = strcspn(p, " ");
        const char *eq = memchr(p, '=', n);
        if (!eq || s->nargs == SPEC_MAX_ARGS) return false;
        size_t klen = (size_t)(eq - p), vlen = n - klen - 1;
        if (klen == 0 || klen >= sizeof s->keys[0] || vlen >= sizeof s->vals[0]) return false;
        memcpy(s->keys[s->nargs], p, klen);
        memcpy(s->vals[s->nargs], eq + 1, vlen);
        s->nargs++;
        p += n;
    }
    return true;
}

static const char *spec_get(const spec *s, const char *key) {
    for (int i = 0; i < s->nargs; i++)
        if (strcmp(s->keys[i], key) == 0) return s->vals[i];
    return NULL;
}

static void spec_mark_bad(spec *s, const char *key) {
    if (!s->bad) snprintf(s->bad_key, sizeof s->bad_key, "%s", key);
    s->bad = true;
}

static double spec_f64(spec *s, const char *key, double def) {
    const char *v = spec_get(s, key);
    if (!v) return def;
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end) spec_mark_bad(s, key);
    return d;
}

static int64_t spec_i64(spec *s, const char *key, int64_t def) {
    const char *v = spec_get(s, key);
    if (!v) return def;
    char *end;
    long long d = strtoll(v, &end, 10);
    if (end == v || *end) spec_mark_bad(s, key);
    return (int64_t)d;
}

static int spec_int(spec *s, const char *key, int def) {
    int64_t v = spec_i64(s, key, def);
    if (v < INT32_MIN || v > INT32_MAX) spec_mark_bad(s, key);
    return (int)v;
}

/* A comma-separated integer list into out (at most max); returns the count (0 if absent). */
static int spec_ints(spec *s, const char *key, int64_t *out, int max) {
    const char *v = spec_get(s, key);
    if (!v || !*v) return 0;
    int n = 0;
    while (*v) {
        char *end;
        long long d = strtoll(v, &end, 10);
        if (end == v || n == max || (*end && *end != ',')) {
            spec_mark_bad(s, key);
            return 0;
        }
        out[n++] = (int64_t)d;
        v = *end ? end + 1 : end;
    }
    return n;
}

static bool dtype_from_name(const char *name, born_dtype *out) {
    for (int d = 0; d < BORN_DTYPE_COUNT; d++) {
        if (name && strcmp(born_dtype_name((born_dtype)d), name) == 0) {
            *out = (born_dtype)d;
            return true;
        }
    }
    return false;
}

/* ---- the dispatcher: runs the op a spec names ------------------------------------------- */

typedef born_tensor *(*reduce_fn)(born_tensor *, int, const int64_t *, bool);
typedef born_tensor *(*scalar_fn)(born_tensor *, double);

static const struct {
    const char *name;
    reduce_fn fn;
} reductions[] = {
    {"sum", born_sum},   {"mean", born_mean}, {"prod", born_prod},
    {"max", born_max},   {"min", born_min},   {"logsumexp", born_logsumexp},
    {"any", born_any},   {"all", born_all},
};

static const struct {
    const char *name;
    scalar_fn fn;
} scalar_ops[] = {
    {"add_scalar", born_add_scalar}, {"sub_scalar", born_sub_scalar},
    {"rsub_scalar", born_rsub_scalar}, {"mul_scalar", born_mul_scalar},
    {"div_scalar", born_div_scalar}, {"eq_scalar", born_eq_scalar},
    {"ne_scalar", born_ne_scalar},   {"lt_scalar", born_lt_scalar},
    {"le_scalar", born_le_scalar},   {"gt_scalar", born_gt_scalar},
    {"ge_scalar", born_ge_scalar},
};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

enum { MAX_INPUTS = 8, MAX_OUTPUTS = 8 };

/* Runs s on the nin inputs; writes the outputs (NULL where Born failed) to out and their count
 * to *nout. Returns false, with a reason in why, when the spec itself cannot be run (unknown
 * op, wrong number of inputs, a malformed argument). */
static bool run_op(spec *s, born_tensor **in, int nin, born_tensor **out, int *nout, char *why,
                   size_t why_size) {
    const char *op = s->op;
    *nout = 1;
    out[0] = NULL;
#define NEED(k)                                                                                   \
    do {                                                                                          \
        if (nin != (k)) {                                                                         \
            snprintf(why, why_size, "%s takes %d inputs, the record has %d", op, (k), nin);        \
            return false;                                                                         \
        }                                                                                         \
    } while (0)
    int64_t list[BORN_MAX_DIMS];
    int keep = (int)spec_i64(s, "keepdim", 0);

    /* elementwise */
    for (int u = 0; u < BORN_UNARY_OP_COUNT; u++) {
        if (strcmp(op, born_unary_op_name((born_unary_op)u)) != 0) continue;
        NEED(1);
        born_unary_params p = {spec_f64(s, "alpha", 0.0), spec_f64(s, "beta", 0.0)};
        bool has = spec_get(s, "alpha") || spec_get(s, "beta");
        out[0] = born_unary((born_unary_op)u, in[0], has ? &p : NULL);
        return true;
    }
    for (int b = 0; b < BORN_BINARY_OP_COUNT; b++) {
        if (strcmp(op, born_binary_op_name((born_binary_op)b)) != 0) continue;
        NEED(2);
        out[0] = born_binary((born_binary_op)b, in[0], in[1]);
        return true;
    }
    for (int i = 0; i < COUNT(scalar_ops); i++) {
        if (strcmp(op, scalar_ops[i].name) != 0) continue;
        NEED(1);
        out[0] = scalar_ops[i].fn(in[0], spec_f64(s, "s", 0.0));
        return true;
    }
    if (strcmp(op, "binary_scalar") == 0) {
        NEED(1);
        const char *name = spec_get(s, "op");
        for (int b = 0; name && b < BORN_BINARY_OP_COUNT; b++) {
            if (strcmp(name, born_binary_op_name((born_binary_op)b)) != 0) continue;
            out[0] = born_binary_scalar((born_binary_op)b, in[0], spec_f64(s, "s", 0.0));
            return true;
        }
        snprintf(why, why_size, "binary_scalar: unknown op %s", name ? name : "(none)");
        return false;
    }
    if (strcmp(op, "where") == 0) {
        NEED(3);
        out[0] = born_where(in[0], in[1], in[2]);
        return true;
    }
    if (strcmp(op, "masked_fill") == 0) {
        NEED(2);
        out[0] = born_masked_fill(in[0], in[1], spec_f64(s, "value", 0.0));
        return true;
    }

    /* reductions */
    for (int i = 0; i < COUNT(reductions); i++) {
        if (strcmp(op, reductions[i].name) != 0) continue;
        NEED(1);
        int nd = spec_ints(s, "dims", list, BORN_MAX_DIMS);
        out[0] = reductions[i].fn(in[0], nd, nd ? list : NULL, keep);
        return true;
    }
    if (strcmp(op, "var") == 0 || strcmp(op, "std") == 0) {
        NEED(1);
        int nd = spec_ints(s, "dims", list, BORN_MAX_DIMS);
        int64_t c = spec_i64(s, "correction", 1);
        out[0] = (op[0] == 'v' ? born_var : born_std)(in[0], nd, nd ? list : NULL, c, keep);
        return true;
    }
    if (strcmp(op, "argmax") == 0 || strcmp(op, "argmin") == 0) {
        NEED(1);
        out[0] = (op[3] == 'm' && op[4] == 'a' ? born_argmax : born_argmin)(
            in[0], spec_int(s, "dim", 0), keep);
        return true;
    }
    if (strcmp(op, "argmax_all") == 0 || strcmp(op, "argmin_all") == 0) {
        NEED(1);
        out[0] = (op[4] == 'a' ? born_argmax_all : born_argmin_all)(in[0]);
        return true;
    }
    if (strcmp(op, "softmax") == 0 || strcmp(op, "log_softmax") == 0 || strcmp(op, "cumsum") == 0) {
        NEED(1);
        int dim = spec_int(s, "dim", 0);
        out[0] = op[0] == 's' ? born_softmax(in[0], dim)
                 : op[0] == 'l' ? born_log_softmax(in[0], dim)
                                : born_cumsum(in[0], dim);
        return true;
    }

    /* views and copies */
    if (strcmp(op, "view") == 0 || strcmp(op, "reshape") == 0 || strcmp(op, "expand") == 0) {
        NEED(1);
        int nd = spec_ints(s, "shape", list, BORN_MAX_DIMS);
        out[0] = (op[0] == 'v' ? born_view : op[0] == 'r' ? born_reshape : born_expand)(in[0], nd, list);
        return true;
    }
    if (strcmp(op, "permute") == 0) {
        NEED(1);
        int nd = spec_ints(s, "dims", list, BORN_MAX_DIMS);
        out[0] = born_permute(in[0], nd, list);
        return true;
    }
    if (strcmp(op, "transpose") == 0) {
        NEED(1);
        out[0] = born_transpose(in[0], spec_int(s, "dim0", 0), spec_int(s, "dim1", 0));
        return true;
    }
    if (strcmp(op, "slice") == 0) {
        NEED(1);
        out[0] = born_slice(in[0], spec_int(s, "dim", 0), spec_i64(s, "start", 0),
                            spec_i64(s, "end", INT64_MAX), spec_i64(s, "step", 1));
        return true;
    }
    if (strcmp(op, "narrow") == 0) {
        NEED(1);
        out[0] = born_narrow(in[0], spec_int(s, "dim", 0), spec_i64(s, "start", 0),
                             spec_i64(s, "length", 0));
        return true;
    }
    if (strcmp(op, "select") == 0) {
        NEED(1);
        out[0] = born_select(in[0], spec_int(s, "dim", 0), spec_i64(s, "index", 0));
        return true;
    }
    if (strcmp(op, "squeeze") == 0) {
        NEED(1);
        out[0] = born_squeeze(in[0], spec_int(s, "dim", 0));
        return true;
    }
    if (strcmp(op, "squeeze_all") == 0) {
        NEED(1);
        out[0] = born_squeeze_all(in[0]);
        return true;
    }
    if (strcmp(op, "unsqueeze") == 0) {
        NEED(1);
        out[0] = born_unsqueeze(in[0], spec_int(s, "dim", 0));
        return true;
    }
    if (strcmp(op, "flatten") == 0) {
        NEED(1);
        out[0] = born_flatten(in[0], spec_int(s, "start", 0), spec_int(s, "end", -1));
        return true;
    }
    if (strcmp(op, "contiguous") == 0) {
        NEED(1);
        out[0] = born_contiguous(in[0]);
        return true;
    }
    if (strcmp(op, "clone") == 0) {
        NEED(1);
        out[0] = born_clone(in[0]);
        return true;
    }
    if (strcmp(op, "to_dtype") == 0) {
        NEED(1);
        born_dtype d;
        if (!dtype_from_name(spec_get(s, "dtype"), &d)) {
            snprintf(why, why_size, "to_dtype: unknown dtype %s", spec_get(s, "dtype") ? spec_get(s, "dtype") : "(none)");
            return false;
        }
        out[0] = born_to_dtype(in[0], d);
        return true;
    }

    /* joining, splitting, indexing */
    if (strcmp(op, "cat") == 0 || strcmp(op, "stack") == 0) {
        if (nin < 1) NEED(1);
        out[0] = (op[0] == 'c' ? born_cat : born_stack)(in, nin, spec_int(s, "dim", 0));
        return true;
    }
    if (strcmp(op, "chunk") == 0 || strcmp(op, "split") == 0) {
        NEED(1);
        int dim = spec_int(s, "dim", 0), n;
        if (op[0] == 'c') {
            int chunks = spec_int(s, "chunks", 1);
            if (chunks < 1 || chunks > MAX_OUTPUTS) {
                snprintf(why, why_size, "chunk: %d chunks (at most %d here)", chunks, MAX_OUTPUTS);
                return false;
            }
            n = born_chunk(in[0], chunks, dim, out);
        } else {
            n = born_split(in[0], spec_i64(s, "size", 1), dim, out, MAX_OUTPUTS);
            if (n > MAX_OUTPUTS) {
                snprintf(why, why_size, "split: %d pieces (at most %d here)", n, MAX_OUTPUTS);
                return false;
            }
        }
        *nout = n < 0 ? 1 : n;
        if (n < 0) out[0] = NULL;
        return true;
    }
    if (strcmp(op, "gather") == 0 || strcmp(op, "index_select") == 0) {
        NEED(2);
        out[0] = (op[0] == 'g' ? born_gather : born_index_select)(in[0], spec_int(s, "dim", 0), in[1]);
        return true;
    }
    if (strcmp(op, "scatter_add") == 0) {
        NEED(3);
        out[0] = born_scatter_add(in[0], spec_int(s, "dim", 0), in[1], in[2]);
        return true;
    }
    if (strcmp(op, "embedding") == 0) {
        NEED(2);
        out[0] = born_embedding(in[0], in[1]);
        return true;
    }
    if (strcmp(op, "one_hot") == 0) {
        NEED(1);
        out[0] = born_one_hot(in[0], spec_i64(s, "num_classes", -1));
        return true;
    }
    if (strcmp(op, "pad") == 0) {
        NEED(1);
        int64_t pad[2 * BORN_MAX_DIMS];
        int np = spec_ints(s, "pad", pad, 2 * BORN_MAX_DIMS);
        out[0] = born_pad(in[0], np, pad, spec_f64(s, "value", 0.0));
        return true;
    }
    if (strcmp(op, "tril") == 0 || strcmp(op, "triu") == 0) {
        NEED(1);
        out[0] = (op[3] == 'l' ? born_tril : born_triu)(in[0], spec_i64(s, "k", 0));
        return true;
    }

    /* linear algebra */
    if (strcmp(op, "matmul") == 0 || strcmp(op, "mm") == 0 || strcmp(op, "bmm") == 0 ||
        strcmp(op, "outer") == 0) {
        NEED(2);
        born_tensor *(*fn)(born_tensor *, born_tensor *) =
            op[0] == 'o' ? born_outer : op[0] == 'b' ? born_bmm : op[1] == 'm' ? born_mm : born_matmul;
        out[0] = fn(in[0], in[1]);
        return true;
    }
    if (strcmp(op, "linear") == 0) {
        if (nin != 3) NEED(2);
        out[0] = born_linear(in[0], in[1], nin == 3 ? in[2] : NULL);
        return true;
    }

    /* convolution and pooling */
    if (strcmp(op, "conv2d") == 0) {
        if (nin != 3) NEED(2);
        born_conv2d_params p = born_conv2d_default_params();
        if (spec_get(s, "stride") && spec_ints(s, "stride", p.stride, 2) != 2) spec_mark_bad(s, "stride");
        if (spec_get(s, "padding") && spec_ints(s, "padding", p.padding, 2) != 2) spec_mark_bad(s, "padding");
        if (spec_get(s, "dilation") && spec_ints(s, "dilation", p.dilation, 2) != 2) spec_mark_bad(s, "dilation");
        p.groups = spec_i64(s, "groups", 1);
        out[0] = born_conv2d(in[0], in[1], nin == 3 ? in[2] : NULL, &p);
        return true;
    }
    if (strncmp(op, "max_pool2d", 10) == 0 || strcmp(op, "avg_pool2d") == 0) {
        NEED(1);
        int64_t k[2] = {0, 0};
        if (spec_ints(s, "kernel", k, 2) != 2) spec_mark_bad(s, "kernel");
        born_pool2d_params p = born_pool2d_default_params(k[0], k[1]);
        if (spec_get(s, "stride") && spec_ints(s, "stride", p.stride, 2) != 2) spec_mark_bad(s, "stride");
        if (spec_get(s, "padding") && spec_ints(s, "padding", p.padding, 2) != 2) spec_mark_bad(s, "padding");
        if (spec_get(s, "dilation") && spec_ints(s, "dilation", p.dilation, 2) != 2) spec_mark_bad(s, "dilation");
        p.ceil_mode = spec_i64(s, "ceil_mode", 0) != 0;
        p.count_include_pad = spec_i64(s, "count_include_pad", 1) != 0;
        p.divisor_override = spec_i64(s, "divisor_override", 0);
        if (strcmp(op, "max_pool2d") == 0) {
            out[0] = born_max_pool2d(in[0], &p);
        } else if (strcmp(op, "max_pool2d_with_indices") == 0) {
            out[0] = born_max_pool2d_with_indices(in[0], &p, &out[1]);
            *nout = 2;
        } else if (strcmp(op, "avg_pool2d") == 0) {
            out[0] = born_avg_pool2d(in[0], &p);
        } else {
            snprintf(why, why_size, "unknown op \"%s\"", op);
            return false;
        }
        return true;
    }

    /* sorting */
    if (strcmp(op, "sort") == 0 || strcmp(op, "topk") == 0) {
        NEED(1);
        born_status st;
        int dim = spec_int(s, "dim", -1);
        if (op[0] == 's')
            st = born_sort(in[0], dim, spec_i64(s, "descending", 0) != 0, &out[0], &out[1]);
        else
            st = born_topk(in[0], spec_i64(s, "k", 1), dim, spec_i64(s, "largest", 1) != 0, true,
                           &out[0], &out[1]);
        if (st != BORN_OK) out[0] = out[1] = NULL;
        *nout = 2;
        return true;
    }
    if (strcmp(op, "argsort") == 0) {
        NEED(1);
        out[0] = born_argsort(in[0], spec_int(s, "dim", -1), spec_i64(s, "descending", 0) != 0);
        return true;
    }

    /* Not yet covered (Born does not implement them at the time of writing; see
     * tests/fixtures/README.md): matmul mm bmm linear outer. Add them here with the same spec
     * the script's torch_apply reads. */
#undef NEED
    snprintf(why, why_size, "unknown op \"%s\" (teach run_op in %s)", op, __FILE__);
    return false;
}

/* ---- building inputs ---------------------------------------------------------------------- */

/* The input as Born sees it: contiguous, or a view with the same values and other strides. */
static born_tensor *build_input(const fixture_tensor *ft, const char *layout, char *why, size_t n) {
    born_tensor *x = fixture_to_tensor(ft);
    if (!x || !layout) return x;
    if (strcmp(layout, "t") == 0) { /* a transposed copy, transposed back */
        if (ft->ndim < 2) {
            snprintf(why, n, "layout t needs 2 dimensions, %s has %d", ft->name, ft->ndim);
            return NULL;
        }
        born_tensor *v = born_transpose(born_contiguous(born_transpose(x, -1, -2)), -1, -2);
        if (v && ft->shape[ft->ndim - 1] > 1 && ft->shape[ft->ndim - 2] > 1 &&
            born_tensor_is_contiguous(v)) {
            snprintf(why, n, "layout t gave a contiguous tensor for %s", ft->name);
            return NULL;
        }
        return v;
    }
    if (strcmp(layout, "s") == 0) { /* every other element of a buffer twice as wide */
        if (ft->ndim < 1) {
            snprintf(why, n, "layout s needs a dimension, %s has none", ft->name);
            return NULL;
        }
        int64_t shape[BORN_MAX_DIMS];
        memcpy(shape, ft->shape, sizeof shape);
        shape[ft->ndim - 1] *= 2;
        double sentinel = born_dtype_is_floating(ft->dtype) ? NAN : 77.0;
        born_tensor *wide = born_full(ft->dtype, ft->ndim, shape, sentinel);
        born_tensor *v = born_slice(wide, -1, 0, shape[ft->ndim - 1], 2);
        if (!v || born_copy_(v, x) != BORN_OK) return NULL;
        if (ft->shape[ft->ndim - 1] > 1 && born_tensor_is_contiguous(v)) {
            snprintf(why, n, "layout s gave a contiguous tensor for %s", ft->name);
            return NULL;
        }
        return v;
    }
    snprintf(why, n, "unknown layout %s for %s", layout, ft->name);
    return NULL;
}

/* ---- comparing ---------------------------------------------------------------------------- */

/* The spacing of the dtype's values just above 1. */
static double epsilon(born_dtype d) {
    switch (d) {
    case BORN_F64: return 0x1p-52;
    case BORN_F32: return 0x1p-23;
    case BORN_F16: return 0x1p-10;
    case BORN_BF16: return 0x1p-7;
    default: return 0.0;
    }
}

static void tolerance(born_dtype d, bool grad, double *rtol, double *atol) {
    switch (d) {
    case BORN_F64: *rtol = 1e-12, *atol = 1e-12; break;
    case BORN_F32: *rtol = 1e-5, *atol = 1e-6; break;
    case BORN_F16: *rtol = grad ? 2.0 / 1024 : 1.0 / 1024, *atol = 1e-5; break;
    case BORN_BF16: *rtol = grad ? 2.0 / 128 : 1.0 / 128, *atol = 1e-5; break;
    default: *rtol = *atol = 0.0; break;
    }
}

/* Ops whose results torch and Born must agree on bit for bit: they move, select, convert or
 * round values without arithmetic that could round differently. */
static bool exact_op(const char *op) {
    static const char *const exact[] = {
        "to_dtype", "view", "reshape", "permute", "transpose", "slice", "narrow", "select",
        "expand", "squeeze", "squeeze_all", "unsqueeze", "flatten", "contiguous", "clone",
        "where", "masked_fill", "neg", "abs", "sign", "relu", "clamp", "floor", "ceil", "round",
        "trunc", "max", "min", "minimum", "maximum", "argmax", "argmin", "argmax_all",
        "argmin_all", "any", "all", "cat", "stack", "chunk", "split", "gather", "index_select",
        "embedding", "one_hot", "pad", "tril", "triu", "max_pool2d", "max_pool2d_with_indices",
        "sort", "argsort", "topk",
    };
    for (int i = 0; i < (int)(sizeof exact / sizeof exact[0]); i++)
        if (strcmp(op, exact[i]) == 0) return true;
    return false;
}

typedef struct run_ctx {
    const fixture_record *rec;
    int failures; /* messages for this record */
} run_ctx;

/* What the records of a family checked, for the BORN_FIXTURE_VERBOSE summary. */
static struct {
    int outputs, gradients, strided_inputs;
} checked;

static void report(run_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void report(run_ctx *c, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->failures++;
    test_fail(__FILE__, __LINE__, "%s [%s]: %s", c->rec->name, c->rec->spec, msg);
    if (getenv("BORN_FIXTURE_VERBOSE"))
        fprintf(stderr, "FIXTURE %s [%s]: %s\n", c->rec->name, c->rec->spec, msg);
}

static bool all_zero(const fixture_tensor *t) {
    for (int64_t i = 0; i < t->numel; i++)
        if (fixture_get_f64(t, i) != 0.0) return false;
    return true;
}

/* Compares Born's tensor with the stored one: dtype, shape, then every value. */
/* grad_of: for a gradient, the dtype of the output it comes from (NULL for outputs): a gradient
 * is no more precise than the coarser of the two dtypes. */
static void compare(run_ctx *c, const char *what, const fixture_tensor *want, born_tensor *got,
                    const born_tensor *grad_of, bool exact_values) {
    bool grad = grad_of != NULL;
    if (!got) {
        report(c, "%s: Born gave NULL: %s", what, born_last_error());
        born_clear_error();
        return;
    }
    if (born_tensor_dtype(got) != want->dtype) {
        report(c, "%s: dtype %s, torch gives %s", what, born_dtype_name(born_tensor_dtype(got)),
               born_dtype_name(want->dtype));
        return;
    }
    bool same = born_tensor_ndim(got) == want->ndim;
    for (int d = 0; same && d < want->ndim; d++) same = born_tensor_shape(got)[d] == want->shape[d];
    if (!same) {
        char a[200];
        report(c, "%s: shape %s, torch gives %d dims [%" PRId64 ", ...]", what,
               born_tensor_describe(got, a, sizeof a), want->ndim, want->ndim ? want->shape[0] : 0);
        return;
    }
    unsigned char *buf = malloc(want->nbytes ? want->nbytes : 1);
    if (!buf || born_copy_to_buffer(got, buf, want->nbytes) != BORN_OK) {
        report(c, "%s: reading Born's values failed: %s", what, born_last_error());
        born_clear_error();
        free(buf);
        return;
    }
    fixture_tensor g = *want;
    g.data = buf;
    double rtol, atol;
    tolerance(want->dtype, grad, &rtol, &atol);
    if (exact_values) rtol = atol = 0.0;
    born_dtype prec = want->dtype;
    if (grad && born_dtype_is_floating(born_tensor_dtype(grad_of)) &&
        epsilon(born_tensor_dtype(grad_of)) > epsilon(prec))
        prec = born_tensor_dtype(grad_of);
    if (prec != want->dtype) tolerance(prec, grad, &rtol, &atol);
    if (grad && (prec == BORN_F16 || prec == BORN_BF16)) {
        /* Born's backward rules round every intermediate to the dtype, so their error is a few
         * units in the last place of the largest intermediate, which the gradient's largest
         * value stands for. */
        double scale = 0.0;
        for (int64_t i = 0; i < want->numel; i++) {
            double e = fabs(fixture_get_f64(want, i));
            if (isfinite(e) && e > scale) scale = e;
        }
        double a = 4.0 * (prec == BORN_F16 ? 1.0 / 1024 : 1.0 / 128) * scale;
        if (a > atol) atol = a;
    }
    bool exact = !born_dtype_is_floating(want->dtype);
    int64_t bad = 0, first = -1;
    double worst = 0.0;
    for (int64_t i = 0; i < want->numel; i++) {
        bool ok;
        if (exact) {
            ok = fixture_get_i64(&g, i) == fixture_get_i64(want, i);
        } else {
            double x = fixture_get_f64(&g, i), e = fixture_get_f64(want, i);
            ok = (isnan(x) && isnan(e)) || x == e ||
                 (isfinite(e) && fabs(x - e) <= atol + rtol * fabs(e));
            if (!ok && isfinite(x) && isfinite(e) && fabs(x - e) / (atol + rtol * fabs(e)) > worst)
                worst = fabs(x - e) / (atol + rtol * fabs(e));
        }
        if (!ok && bad++ == 0) first = i;
    }
    if (bad) {
        if (exact)
            report(c, "%s: %" PRId64 " of %" PRId64 " values differ; first [%" PRId64 "] = %" PRId64
                   ", torch %" PRId64, what, bad, want->numel, first, fixture_get_i64(&g, first),
                   fixture_get_i64(want, first));
        else
            report(c, "%s: %" PRId64 " of %" PRId64 " values differ; first [%" PRId64 "] = %.9g, "
                   "torch %.9g (worst %.1fx the tolerance)", what, bad, want->numel, first,
                   fixture_get_f64(&g, first), fixture_get_f64(want, first), worst);
    }
    free(buf);
}

/* ---- one record ----------------------------------------------------------------------------- */


static void run_record(const fixture_record *rec, int *failed) {
    run_ctx c = {rec, 0};
    spec s;
    if (!spec_parse(rec->spec, &s)) {
        report(&c, "malformed spec");
        (*failed)++;
        return;
    }
    born_scope_begin();
    born_tensor *in[MAX_INPUTS] = {0};
    int nin = 0;
    char name[16], why[256] = "";
    for (; nin < MAX_INPUTS; nin++) {
        snprintf(name, sizeof name, "in%d", nin);
        const fixture_tensor *ft = fixture_find(rec, name);
        if (!ft) break;
        char key[8];
        snprintf(key, sizeof key, "nc%d", nin);
        in[nin] = build_input(ft, spec_get(&s, key), why, sizeof why);
        if (in[nin] && !born_tensor_is_contiguous(in[nin])) checked.strided_inputs++;
        if (!in[nin]) {
            report(&c, "building %s failed: %s%s", name, why, born_last_error());
            born_clear_error();
            goto done;
        }
        snprintf(name, sizeof name, "grad%d", nin);
        if (fixture_find(rec, name) && !born_requires_grad(in[nin], true)) {
            report(&c, "born_requires_grad(in%d) failed: %s", nin, born_last_error());
            born_clear_error();
            goto done;
        }
    }

    born_tensor *out[MAX_OUTPUTS] = {0};
    int nout = 0;
    if (!run_op(&s, in, nin, out, &nout, why, sizeof why)) {
        report(&c, "%s", why);
        goto done;
    }
    if (s.bad) {
        report(&c, "malformed value for %s", s.bad_key);
        goto done;
    }
    for (int k = 0; k < MAX_OUTPUTS; k++) {
        snprintf(name, sizeof name, k ? "out%d" : "out", k);
        const fixture_tensor *want = fixture_find(rec, name);
        if (!want) {
            if (k < nout) report(&c, "Born gives %d outputs, the record has %d", nout, k);
            break;
        }
        if (k >= nout) {
            report(&c, "the record has more outputs than Born gives (%d)", nout);
            break;
        }
        compare(&c, name, want, out[k], NULL, exact_op(s.op));
        checked.outputs++;
    }

    /* gradients of sum(out * gout) */
    const fixture_tensor *gout = fixture_find(rec, "gout");
    if (gout && out[0]) {
        if (!born_tensor_requires_grad(out[0])) {
            report(&c, "the output does not require grad, but torch differentiates it");
            goto done;
        }
        born_tensor *loss = born_sum(born_mul(out[0], fixture_to_tensor(gout)), 0, NULL, false);
        if (!loss || born_backward(loss) != BORN_OK) {
            report(&c, "backward failed: %s", born_last_error());
            born_clear_error();
            goto done;
        }
        for (int i = 0; i < nin; i++) {
            snprintf(name, sizeof name, "grad%d", i);
            const fixture_tensor *want = fixture_find(rec, name);
            if (!want) continue;
            born_tensor *g = born_grad(in[i]);
            if (!g) { /* no gradient reached the input: right only when torch's is all zeros */
                if (!all_zero(want)) report(&c, "%s: Born computed no gradient", name);
                continue;
            }
            compare(&c, name, want, g, out[0], false);
            checked.gradients++;
        }
    }
done:
    born_scope_end();
    if (c.failures) (*failed)++;
}

/* ---- the tests ------------------------------------------------------------------------------ */

/* Record names start with their family ("unary/exp/f32"); every family belongs to one test. */
static const char *const FAMILIES[][4] = {
    {"unary"}, {"binary", "where", "masked_fill"}, {"reduce"}, {"softmax", "cumsum"},
    {"view"}, {"convert"}, {"linalg"}, {"join"}, {"index"}, {"pad"}, {"conv"}, {"sort"},
};

static bool in_family(const char *record, const char *const *family) {
    for (int i = 0; i < 4 && family[i]; i++) {
        size_t n = strlen(family[i]);
        if (strncmp(record, family[i], n) == 0 && record[n] == '/') return true;
    }
    return false;
}

static void run_family(int which) {
    fixture_file f;
    char err[512];
    if (!fixture_load(FIXTURE_PATH, &f, err, sizeof err)) {
        test_fail(__FILE__, __LINE__, "%s", err);
        return;
    }
    const char *only = getenv("BORN_FIXTURE"); /* run only the records whose name has this */
    int ran = 0, failed = 0;
    memset(&checked, 0, sizeof checked);
    for (int i = 0; i < f.nrecords; i++) {
        if (!in_family(f.records[i].name, FAMILIES[which])) continue;
        if (only && !strstr(f.records[i].name, only)) continue;
        run_record(&f.records[i], &failed);
        ran++;
    }
    CHECK_MSG(ran > 0 || only, "no fixture records for family %s", FAMILIES[which][0]);
    if (getenv("BORN_FIXTURE_VERBOSE"))
        fprintf(stderr, "fixtures %s: %d records, %d outputs and %d gradients compared, %d "
                "non-contiguous inputs\n", FAMILIES[which][0], ran, checked.outputs,
                checked.gradients, checked.strided_inputs);
    if (failed)
        test_fail(__FILE__, __LINE__, "%d of %d %s fixture records failed (BORN_FIXTURE_VERBOSE=1 "
                  "lists them all)", failed, ran, FAMILIES[which][0]);
    fixture_free(&f);
}

TEST(fixtures_unary) { run_family(0); }
TEST(fixtures_binary) { run_family(1); }
TEST(fixtures_reduce) { run_family(2); }
TEST(fixtures_softmax_cumsum) { run_family(3); }
TEST(fixtures_views) { run_family(4); }
TEST(fixtures_convert) { run_family(5); }
TEST(fixtures_join) { run_family(6); }
TEST(fixtures_index) { run_family(7); }
TEST(fixtures_pad_tril_triu) { run_family(8); }
TEST(fixtures_conv_pool) { run_family(9); }
TEST(fixtures_sort_topk) { run_family(10); }

/* Every record belongs to a family that a test above runs, and the file is not empty. */
TEST(fixtures_every_record_has_a_test) {
    fixture_file f;
    char err[512];
    if (!fixture_load(FIXTURE_PATH, &f, err, sizeof err)) {
        test_fail(__FILE__, __LINE__, "%s", err);
        return;
    }
    CHECK(f.nrecords > 1000);
    for (int i = 0; i < f.nrecords; i++) {
        bool found = false;
        for (int k = 0; k < COUNT(FAMILIES) && !found; k++) found = in_family(f.records[i].name, FAMILIES[k]);
        CHECK_MSG(found, "record %s belongs to no family in FAMILIES", f.records[i].name);
        CHECK_MSG(fixture_find(&f.records[i], "in0") && fixture_find(&f.records[i], "out"),
                  "record %s lacks in0 or out", f.records[i].name);
    }
    fixture_free(&f);
}

/* ---- Born's own rule where torch's is undefined: float -> integer saturates, NaN -> 0 ------ */

/* Born's rule: NaN -> 0, else truncate toward zero and clamp to [lo, hi]. */
static int64_t saturate(double v, double lo, double hi) {
    if (isnan(v)) return 0;
    if (v <= lo) return (int64_t)lo;
    if (v >= hi) return hi >= 9.2e18 ? INT64_MAX : (int64_t)hi;
    return (int64_t)trunc(v);
}

TEST(to_dtype_float_to_int_saturates) {
    const double in[] = {300, -300, NAN, INFINITY, -INFINITY, 1e20, -1e20, 127.9, -128.9, 2.5, -0.7};
    enum { N = sizeof in / sizeof in[0] };
    static const struct {
        born_dtype dtype;
        double lo, hi;
        int64_t want[N]; /* from f32 and f64 */
    } cases[] = {
        {BORN_I8, -128, 127, {127, -128, 0, 127, -128, 127, -128, 127, -128, 2, 0}},
        {BORN_U8, 0, 255, {255, 0, 0, 255, 0, 255, 0, 127, 0, 2, 0}},
        {BORN_I16, -32768, 32767, {300, -300, 0, 32767, -32768, 32767, -32768, 127, -128, 2, 0}},
        {BORN_I32, -2147483648.0, 2147483647.0,
         {300, -300, 0, INT32_MAX, INT32_MIN, INT32_MAX, INT32_MIN, 127, -128, 2, 0}},
        {BORN_I64, -9223372036854775808.0, 9223372036854775807.0,
         {300, -300, 0, INT64_MAX, INT64_MIN, INT64_MAX, INT64_MIN, 127, -128, 2, 0}},
    };
    for (int src = 0; src < 4; src++) { /* f32 f64 f16 bf16 */
        born_dtype sd = (born_dtype)src;
        born_tensor *x = tensor_of(sd, BORN_DIMS(N), in);
        for (int k = 0; k < COUNT(cases); k++) {
            born_tensor *y = born_to_dtype(x, cases[k].dtype);
            CHECK_OK_TENSOR(y);
            if (!y) continue;
            for (int64_t i = 0; i < N; i++) {
                double v = 0; /* the value as the source dtype holds it */
                CHECK_OK(born_get(x, &i, &v));
                int64_t got = 0;
                CHECK_OK(born_get_i64(y, &i, &got));
                int64_t want = src < 2 ? cases[k].want[i] : saturate(v, cases[k].lo, cases[k].hi);
                CHECK_MSG(got == want, "%s(%.9g) -> %s gave %" PRId64 ", expected %" PRId64,
                          born_dtype_name(sd), v, born_dtype_name(cases[k].dtype), got, want);
            }
        }
    }
    /* the largest doubles below 2^63 still convert exactly; 2^63 saturates */
    born_tensor *big = tensor_of(BORN_F64, BORN_DIMS(2), ((const double[]){9223372036854774784.0, 9223372036854775808.0}));
    born_tensor *b64 = born_to_dtype(big, BORN_I64);
    int64_t v0 = 0, v1 = 0;
    CHECK_OK(born_get_i64(b64, (int64_t[]){0}, &v0));
    CHECK_OK(born_get_i64(b64, (int64_t[]){1}, &v1));
    CHECK(v0 == INT64_C(9223372036854774784));
    CHECK(v1 == INT64_MAX);
}

/* ---- the reader itself: malformed files are errors, never crashes ------------------------ */

typedef struct wbuf {
    unsigned char b[1024];
    size_t n;
} wbuf;

static void w_le(wbuf *w, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) w->b[w->n++] = (unsigned char)(v >> (8 * i));
}
static void w_str(wbuf *w, const char *s) {
    w_le(w, strlen(s), 4);
    memcpy(w->b + w->n, s, strlen(s));
    w->n += strlen(s);
}
static void w_f32_tensor(wbuf *w, const char *name, int n, const float *v) {
    w_str(w, name);
    w_le(w, BORN_F32, 1);
    w_le(w, 1, 1);
    w_le(w, (uint64_t)n, 8);
    w_le(w, (uint64_t)n * 4, 8);
    for (int i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &v[i], 4);
        w_le(w, bits, 4);
    }
}

/* A small valid file: "r1" (exp: in0, out) and "r2" (sum: an i64 0-dim in0 and out). */
static void small_file(wbuf *w) {
    w->n = 0;
    memcpy(w->b, FIXTURE_MAGIC, 8);
    w->n = 8;
    w_le(w, FIXTURE_VERSION, 4);
    w_le(w, 2, 4);
    w_str(w, "unary/r1");
    w_str(w, "exp");
    w_le(w, 2, 4);
    w_f32_tensor(w, "in0", 2, (const float[]){0.0f, 1.0f});
    w_f32_tensor(w, "out", 2, (const float[]){1.0f, 2.7182817f});
    w_str(w, "reduce/r2");
    w_str(w, "sum");
    w_le(w, 2, 4);
    for (int k = 0; k < 2; k++) {
        w_str(w, k ? "out" : "in0");
        w_le(w, BORN_I64, 1);
        w_le(w, 0, 1);
        w_le(w, 8, 8);
        w_le(w, (uint64_t)-5, 8);
    }
}

static void expect_parse_error(const wbuf *w, const char *needle, int line) {
    fixture_file f;
    char err[256];
    if (fixture_parse(w->b, w->n, &f, err, sizeof err)) {
        test_fail(__FILE__, line, "a malformed file parsed");
        fixture_free(&f);
        return;
    }
    if (!strstr(err, needle)) test_fail(__FILE__, line, "error \"%s\" lacks \"%s\"", err, needle);
}

TEST(fixture_reader_reads_a_valid_file) {
    wbuf w;
    small_file(&w);
    fixture_file f;
    char err[256];
    CHECK_MSG(fixture_parse(w.b, w.n, &f, err, sizeof err), "%s", err);
    CHECK_EQ_INT(f.nrecords, 2);
    if (f.nrecords != 2) return;
    CHECK(strcmp(f.records[0].spec, "exp") == 0);
    const fixture_tensor *out = fixture_find(&f.records[0], "out");
    CHECK(out && out->dtype == BORN_F32 && out->ndim == 1 && out->shape[0] == 2);
    if (out) CHECK_NEAR(fixture_get_f64(out, 1), 2.7182817, 1e-6);
    const fixture_tensor *s = fixture_find(&f.records[1], "in0");
    CHECK(s && s->ndim == 0 && s->numel == 1 && fixture_get_i64(s, 0) == -5);
    CHECK(fixture_find(&f.records[1], "grad0") == NULL);
    born_tensor *t = s ? fixture_to_tensor(s) : NULL;
    CHECK_OK_TENSOR(t);
    if (t) CHECK_NEAR(born_item(t), -5, 0);
    fixture_free(&f);
    fixture_free(&f); /* harmless twice */
}

TEST(fixture_reader_rejects_malformed_files) {
    wbuf good, w;
    small_file(&good);
    /* every truncation */
    for (size_t n = 0; n < good.n; n++) {
        w = good;
        w.n = n;
        expect_parse_error(&w, "truncated", __LINE__);
    }
    w = good;
    w.b[good.n] = 0;
    w.n = good.n + 1;
    expect_parse_error(&w, "after the last record", __LINE__);
    w = good;
    w.b[0] = 'X';
    expect_parse_error(&w, "magic", __LINE__);
    w = good;
    w.b[8] = 2;
    expect_parse_error(&w, "version", __LINE__);
    /* byte offsets in the first record: name at 16, spec, count, then tensor "in0" */
    size_t rec1 = 16, t0 = rec1 + 4 + 8 + 4 + 3 + 4; /* start of in0's name */
    size_t dtype_at = t0 + 4 + 3, ndim_at = dtype_at + 1, shape_at = ndim_at + 1;
    w = good;
    w.b[dtype_at] = BORN_DTYPE_COUNT;
    expect_parse_error(&w, "not a Born dtype", __LINE__);
    w = good;
    w.b[ndim_at] = 9;
    expect_parse_error(&w, "9 dimensions", __LINE__);
    w = good;
    w.b[shape_at] = 3; /* 3 elements, 8 bytes */
    expect_parse_error(&w, "do not match", __LINE__);
    w = good;
    w.b[shape_at + 7] = 0x80; /* a negative size */
    expect_parse_error(&w, "negative size", __LINE__);
    w = good;
    w.b[shape_at + 6] = 0x10; /* a huge size whose byte count overflows */
    expect_parse_error(&w, "do not match", __LINE__);
    w = good;
    w.b[rec1 + 3] = 0x40; /* a name of a billion bytes */
    expect_parse_error(&w, "length", __LINE__);
    w = good;
    w.b[t0 - 4 + 1] = 0x10; /* 4096 + 2 tensors */
    expect_parse_error(&w, "tensors", __LINE__);
    w = good;
    w.b[12] = 3; /* three records announced, two present */
    expect_parse_error(&w, "truncated", __LINE__);
    w = good;
    w.b[12] = 0xff, w.b[13] = 0xff, w.b[14] = 0xff, w.b[15] = 0x7f;
    expect_parse_error(&w, "records", __LINE__);
    w = good;
    w.b[rec1 + 4 + 1] = 0; /* a NUL inside the record name */
    expect_parse_error(&w, "NUL", __LINE__);
    w = good; /* the second tensor renamed to "in0" */
    size_t t1 = shape_at + 8 + 8 + 8;
    memcpy(w.b + t1 + 4, "in0", 3);
    expect_parse_error(&w, "two tensors", __LINE__);
    fixture_file f;
    char err[64];
    CHECK(!fixture_load("tests/fixtures/no_such_file.bin", &f, err, sizeof err));
}
