/* Printing: born_format writes a tensor exactly as PyTorch's repr does (torch/_tensor_str.py),
 * with Born's dtype names in the `dtype=` suffix.
 *
 * The rules, as torch applies them:
 *  - A tensor with more than `threshold` elements is summarized: each dimension longer than
 *    2 x edgeitems shows its first and last `edgeitems` entries around "...".
 *  - One formatter is built from the elements that will be shown. For floating dtypes it looks
 *    at the nonzero finite values: if all are integers ("int mode") they print as "3."; the
 *    scientific form ("1.2346e+05") is used when max/min > 1000, max > 1e8 or min < 1e-4;
 *    otherwise fixed with `precision` digits. Every value is right-aligned to the widest
 *    nonzero finite value (nan and inf are not measured, so they may stick out, as in torch).
 *  - Rows wrap after floor((linewidth - indent) / (width + 2)) values.
 *  - Suffixes (device, size for empty tensors, dtype unless f32/i64/bool, grad_fn or
 *    requires_grad) follow ", " or go to a new line when the last line would pass linewidth.
 *
 * This file sits in the core layer but names a tensor's grad_fn through born_grad_fn_name
 * (autograd): like tensor.c's call to node_release, a deliberate exception to the layering. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "born/autograd.h"
#include "core/error.h"
#include "core/scalar.h"
#include "core/tensor_impl.h"

/* ---- a growable string --------------------------------------------------------------------- */

typedef struct strbuf {
    char *p;
    size_t len, cap;
    bool failed; /* an allocation failed: the result is dropped */
} strbuf;

static void sb_reserve(strbuf *b, size_t extra) {
    if (b->failed) return;
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = true;
        return;
    }
    b->p = p;
    b->cap = cap;
}

static void sb_putn(strbuf *b, const char *s, size_t n) {
    sb_reserve(b, n);
    if (b->failed) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(strbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }

static void sb_spaces(strbuf *b, int64_t n) {
    sb_reserve(b, n > 0 ? (size_t)n : 0);
    for (int64_t i = 0; i < n && !b->failed; i++) b->p[b->len++] = ' ';
    if (!b->failed && b->p) b->p[b->len] = '\0';
}

/* ---- reading elements ---------------------------------------------------------------------- */

typedef struct printer {
    const born_tensor *t;
    const char *base;              /* host pointer to element [0, ..., 0] */
    int64_t strides[BORN_MAX_DIMS]; /* in elements, for base */
    size_t itemsize;
    born_print_params p;
    bool summarize;
    /* the formatter */
    bool floating, int_mode, sci_mode;
    int max_width;
    /* nonzero finite values seen while building the formatter */
    bool any_value;
    double vmin, vmax;
} printer;

static const char *element_ptr(const printer *pr, const int64_t *idx) {
    int64_t off = 0;
    for (int d = 0; d < pr->t->ndim; d++) off += idx[d] * pr->strides[d];
    return pr->base + off * (int64_t)pr->itemsize;
}

/* A value as Python's str would write it ("3", "True") for integer and bool dtypes. */
static int format_integer(const printer *pr, const char *ptr, char *buf, size_t size) {
    if (pr->t->dtype == BORN_BOOL) return snprintf(buf, size, "%s", *(const uint8_t *)ptr ? "True" : "False");
    return snprintf(buf, size, "%" PRId64, scalar_load_i64(ptr, pr->t->dtype));
}

/* Python's format of a float with the given spec character ('f' or 'e') and precision; nan and
 * inf as Python writes them (never "-nan"). */
static int format_float(double v, char spec, int precision, char *buf, size_t size) {
    if (isnan(v)) return snprintf(buf, size, "nan");
    if (isinf(v)) return snprintf(buf, size, "%s", v < 0 ? "-inf" : "inf");
    return snprintf(buf, size, spec == 'e' ? "%.*e" : "%.*f", precision, v);
}

/* ---- the formatter ------------------------------------------------------------------------- */

/* Measures one element (torch's _Formatter.__init__, split into two passes for floats: this
 * first pass collects int_mode and the nonzero finite range). */
static void observe(printer *pr, const int64_t *idx) {
    const char *ptr = element_ptr(pr, idx);
    if (!pr->floating) {
        char buf[32];
        int n = format_integer(pr, ptr, buf, sizeof buf);
        if (n > pr->max_width) pr->max_width = n;
        return;
    }
    double v = scalar_load_f64(ptr, pr->t->dtype);
    if (!isfinite(v) || v == 0.0) return;
    if (v != ceil(v)) pr->int_mode = false;
    double a = fabs(v);
    if (!pr->any_value) {
        pr->vmin = pr->vmax = a;
        pr->any_value = true;
    } else {
        if (a < pr->vmin) pr->vmin = a;
        if (a > pr->vmax) pr->vmax = a;
    }
}

/* Second pass for floats: the width of every nonzero finite value in the chosen mode. */
static void measure(printer *pr, const int64_t *idx) {
    double v = scalar_load_f64(element_ptr(pr, idx), pr->t->dtype);
    if (!isfinite(v) || v == 0.0) return;
    char buf[400];
    int n;
    if (pr->sci_mode)
        n = format_float(v, 'e', pr->p.precision, buf, sizeof buf);
    else if (pr->int_mode)
        n = format_float(v, 'f', 0, buf, sizeof buf) + 1;
    else
        n = format_float(v, 'f', pr->p.precision, buf, sizeof buf);
    if (n > pr->max_width) pr->max_width = n;
}

typedef void (*visit_fn)(printer *pr, const int64_t *idx);

/* Visits the elements torch's get_summarized_data keeps (all of them when not summarizing),
 * including its quirks with edgeitems = 0: a 1-D tensor keeps everything (self[-0:]) and a
 * tensor of more dimensions keeps nothing. */
static void visit_shown(printer *pr, int level, int64_t *idx, visit_fn fn) {
    const born_tensor *t = pr->t;
    int dims_left = t->ndim - level;
    if (dims_left == 0) {
        fn(pr, idx);
        return;
    }
    int64_t size = t->shape[level], edge = pr->p.edgeitems;
    bool cut = pr->summarize && size > 2 * edge;
    if (pr->summarize && edge == 0) {
        if (dims_left == 1) cut = false; /* self[:0] + self[-0:] is the whole row */
        else return;
    }
    for (int64_t i = 0; i < size; i++) {
        if (cut && i == edge) i = size - edge;
        idx[level] = i;
        visit_shown(pr, level + 1, idx, fn);
    }
    idx[level] = 0;
}

static void build_formatter(printer *pr) {
    pr->int_mode = true;
    pr->sci_mode = false;
    pr->max_width = 1;
    pr->any_value = false;
    int64_t idx[BORN_MAX_DIMS] = {0};
    visit_shown(pr, 0, idx, observe);
    if (!pr->floating || !pr->any_value) return;
    pr->sci_mode = pr->vmax / pr->vmin > 1000.0 || pr->vmax > 1.0e8 || pr->vmin < 1.0e-4;
    visit_shown(pr, 0, idx, measure);
}

/* torch's _Formatter.format: one value, right-aligned to the common width. */
static void put_value(printer *pr, strbuf *b, const int64_t *idx) {
    const char *ptr = element_ptr(pr, idx);
    char buf[400];
    int n;
    if (!pr->floating) {
        n = format_integer(pr, ptr, buf, sizeof buf);
    } else {
        double v = scalar_load_f64(ptr, pr->t->dtype);
        if (pr->sci_mode) {
            n = format_float(v, 'e', pr->p.precision, buf, sizeof buf);
        } else if (pr->int_mode) {
            n = format_float(v, 'f', 0, buf, sizeof buf);
            if (isfinite(v) && n + 1 < (int)sizeof buf) {
                buf[n++] = '.';
                buf[n] = '\0';
            }
        } else {
            n = format_float(v, 'f', pr->p.precision, buf, sizeof buf);
        }
    }
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof buf) n = (int)sizeof buf - 1;
    sb_spaces(b, (int64_t)pr->max_width - n);
    sb_putn(b, buf, (size_t)n);
}

/* ---- layout -------------------------------------------------------------------------------- */

/* torch's _vector_str: one row, wrapped every elements_per_line values. */
static void put_vector(printer *pr, strbuf *b, int level, int64_t *idx, int64_t indent) {
    int64_t size = pr->t->shape[level], edge = pr->p.edgeitems;
    int64_t element_length = (int64_t)pr->max_width + 2;
    int64_t room = (int64_t)pr->p.linewidth - indent;
    int64_t per_line = room > 0 ? room / element_length : 0;
    if (per_line < 1) per_line = 1;
    sb_puts(b, "[");
    if (pr->summarize && edge == 0) {
        sb_puts(b, "...]");
        return;
    }
    bool cut = pr->summarize && size > 2 * edge;
    int64_t count = 0; /* entries written, the " ..." marker included */
    for (int64_t i = 0; i < size; i++) {
        bool marker = cut && i == edge;
        if (count > 0) {
            if (count % per_line == 0) {
                sb_puts(b, ",\n");
                sb_spaces(b, indent + 1);
            } else {
                sb_puts(b, ", ");
            }
        }
        count++;
        if (marker) {
            sb_puts(b, " ...");
            i = size - edge - 1;
            continue;
        }
        idx[level] = i;
        put_value(pr, b, idx);
    }
    idx[level] = 0;
    sb_puts(b, "]");
}

/* torch's _tensor_str_with_formatter. */
static void put_tensor(printer *pr, strbuf *b, int level, int64_t *idx, int64_t indent) {
    int dims_left = pr->t->ndim - level;
    if (dims_left == 0) {
        put_value(pr, b, idx);
        return;
    }
    if (dims_left == 1) {
        put_vector(pr, b, level, idx, indent);
        return;
    }
    int64_t size = pr->t->shape[level], edge = pr->p.edgeitems;
    bool cut = pr->summarize && size > 2 * edge;
    sb_puts(b, "[");
    bool first = true;
    for (int64_t i = 0; i < size; i++) {
        if (!first) {
            sb_puts(b, ",");
            for (int k = 0; k < dims_left - 1; k++) sb_puts(b, "\n");
            sb_spaces(b, indent + 1);
        }
        first = false;
        if (cut && i == edge) {
            sb_puts(b, "...");
            i = size - edge - 1;
            continue;
        }
        idx[level] = i;
        put_tensor(pr, b, level + 1, idx, indent + 1);
    }
    idx[level] = 0;
    sb_puts(b, "]");
}

/* torch's _add_suffixes. */
static void put_suffixes(strbuf *b, char suffixes[][256], int n, int64_t indent, int linewidth) {
    const char *nl = b->p ? strrchr(b->p, '\n') : NULL;
    int64_t last_line_len = nl ? (int64_t)(b->p + b->len - nl) + 1 : (int64_t)b->len + 2;
    for (int i = 0; i < n; i++) {
        int64_t len = (int64_t)strlen(suffixes[i]);
        if (last_line_len + len + 2 > linewidth) {
            sb_puts(b, ",\n");
            sb_spaces(b, indent);
            last_line_len = indent + len;
        } else {
            sb_puts(b, ", ");
            last_line_len += len + 2;
        }
        sb_puts(b, suffixes[i]);
    }
    sb_puts(b, ")");
}

static void size_suffix(const born_tensor *t, char *buf, size_t size) {
    char dims[8 * 24] = "";
    size_t used = 0;
    for (int d = 0; d < t->ndim; d++) {
        int n = snprintf(dims + used, sizeof dims - used, "%s%" PRId64, d ? ", " : "", t->shape[d]);
        if (n > 0) used += (size_t)n;
    }
    snprintf(buf, size, "size=(%s%s)", dims, t->ndim == 1 ? "," : "");
}

/* ---- public -------------------------------------------------------------------------------- */

born_print_params born_print_default_params(void) {
    return (born_print_params){.precision = 4, .threshold = 1000, .edgeitems = 3, .linewidth = 80};
}

char *born_format(const born_tensor *t, const born_print_params *params) {
    if (!t) {
        if (!born_has_error()) born_error(BORN_ERR_ARGUMENT, "born_format: tensor is NULL");
        return NULL;
    }
    born_print_params p = params ? *params : born_print_default_params();
    if (p.precision < 0 || p.precision > 100)
        return born_error_null(BORN_ERR_ARGUMENT, "born_format: precision %d is out of range "
                               "(0 to 100)", p.precision);
    if (p.edgeitems < 0)
        return born_error_null(BORN_ERR_ARGUMENT, "born_format: edgeitems %d is negative",
                               p.edgeitems);
    if ((unsigned)t->dtype >= BORN_DTYPE_COUNT)
        return born_error_null(BORN_ERR_DTYPE, "born_format: invalid dtype %d", (int)t->dtype);

    printer pr;
    memset(&pr, 0, sizeof pr);
    pr.t = t;
    pr.p = p;
    pr.itemsize = born_dtype_size(t->dtype);
    pr.floating = born_dtype_is_floating(t->dtype);
    int64_t numel = born_tensor_numel(t);
    bool on_cpu = t->storage->device.type == BORN_DEVICE_CPU;
    void *host = NULL; /* a contiguous host copy of a tensor on another device */
    if (numel > 0) {
        if (on_cpu) {
            pr.base = tensor_data(t);
            memcpy(pr.strides, t->strides, sizeof pr.strides);
        } else {
            size_t nbytes = (size_t)numel * pr.itemsize;
            host = malloc(nbytes);
            if (!host)
                return born_error_null(BORN_ERR_MEMORY, "born_format: out of memory copying %zu "
                                       "bytes from the device", nbytes);
            if (born_copy_to_buffer(t, host, nbytes) != BORN_OK) {
                free(host);
                return NULL;
            }
            pr.base = host;
            shape_contiguous_strides(t->ndim, t->shape, pr.strides);
        }
    }

    const char *prefix = "tensor(";
    const int64_t indent = (int64_t)strlen(prefix);
    char suffixes[4][256];
    int nsuffix = 0;
    if (!on_cpu) {
        char dev[32];
        snprintf(suffixes[nsuffix++], sizeof suffixes[0], "device='%s'",
                 born_device_name(t->storage->device, dev, sizeof dev));
    }
    bool default_dtype = t->dtype == BORN_F32 || t->dtype == BORN_I64 || t->dtype == BORN_BOOL;

    strbuf b = {0};
    sb_puts(&b, prefix);
    if (numel == 0) {
        if (t->ndim != 1) size_suffix(t, suffixes[nsuffix++], sizeof suffixes[0]);
        if (t->dtype != BORN_F32)
            snprintf(suffixes[nsuffix++], sizeof suffixes[0], "dtype=%s", born_dtype_name(t->dtype));
        sb_puts(&b, "[]");
    } else {
        if (p.edgeitems == 0) size_suffix(t, suffixes[nsuffix++], sizeof suffixes[0]);
        if (!default_dtype)
            snprintf(suffixes[nsuffix++], sizeof suffixes[0], "dtype=%s", born_dtype_name(t->dtype));
        pr.summarize = numel > p.threshold;
        build_formatter(&pr);
        int64_t idx[BORN_MAX_DIMS] = {0};
        put_tensor(&pr, &b, 0, idx, indent);
    }
    const char *grad_fn = born_grad_fn_name(t);
    if (grad_fn)
        snprintf(suffixes[nsuffix++], sizeof suffixes[0], "grad_fn=<%s>", grad_fn);
    else if (born_tensor_requires_grad(t))
        snprintf(suffixes[nsuffix++], sizeof suffixes[0], "requires_grad=True");
    put_suffixes(&b, suffixes, nsuffix, indent, p.linewidth);
    free(host);
    if (b.failed) {
        free(b.p);
        return born_error_null(BORN_ERR_MEMORY, "born_format: out of memory formatting %s",
                               born_tensor_describe(t, (char[200]){0}, 200));
    }
    return b.p;
}

born_status born_fprint(FILE *stream, const born_tensor *t) {
    if (!stream) return born_error(BORN_ERR_ARGUMENT, "born_fprint: stream is NULL");
    char *s = born_format(t, NULL);
    if (!s) return born_last_status() != BORN_OK ? born_last_status() : BORN_ERR_ARGUMENT;
    born_status st = BORN_OK;
    if (fputs(s, stream) == EOF || fputc('\n', stream) == EOF)
        st = born_error(BORN_ERR_IO, "born_fprint: writing to the stream failed");
    free(s);
    return st;
}

born_status born_print(const born_tensor *t) { return born_fprint(stdout, t); }
