/* Positional encodings other than RoPE: ALiBi's head slopes and biases (Press et al., as Hugging
 * Face's build_alibi_tensor picks the slopes) and the sinusoidal table of "Attention Is All You
 * Need". Both are tables computed in f64 outside autograd. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>

#include "ops/op_util.h"

born_tensor *born_alibi_slopes(int64_t n_heads) {
    if (n_heads < 1)
        return born_error_null(BORN_ERR_ARGUMENT, "born_alibi_slopes: %" PRId64 " heads; need at "
                               "least one", n_heads);
    born_tensor *t = born_empty(BORN_F64, 1, &n_heads);
    double *s = t ? born_data_f64(t) : NULL;
    if (!s) return NULL;
    /* the closest power of two p <= n gets 2^(-8 i / p), i = 1..p; the rest take every other
     * slope of the 2p series, 2^(-4 i / p) for odd i */
    int64_t p = 1;
    while (p * 2 <= n_heads) p *= 2;
    for (int64_t i = 0; i < p; i++) s[i] = pow(2.0, -8.0 * (double)(i + 1) / (double)p);
    for (int64_t i = 0; i < n_heads - p; i++)
        s[p + i] = pow(2.0, -4.0 * (double)(2 * i + 1) / (double)p);
    return t;
}

born_tensor *born_alibi_bias(int64_t n_heads, int64_t q_len, int64_t kv_len, int64_t kv_offset,
                             born_dtype dtype) {
    static const char *fn = "born_alibi_bias";
    if (q_len < 0 || kv_len < 0)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: lengths %" PRId64 " and %" PRId64 " must not "
                               "be negative", fn, q_len, kv_len);
    if (!born_dtype_is_floating(dtype))
        return born_error_null(BORN_ERR_DTYPE, "%s: dtype must be floating", fn);
    born_scope_begin();
    born_tensor *slopes = born_alibi_slopes(n_heads);
    born_tensor *b = slopes ? born_empty(BORN_F64, BORN_DIMS(n_heads, q_len, kv_len)) : NULL;
    double *d = b ? born_data_f64(b) : NULL;
    if (d) {
        const double *s = born_data_f64(slopes);
        for (int64_t h = 0; h < n_heads; h++)
            for (int64_t i = 0; i < q_len; i++)
                for (int64_t j = 0; j < kv_len; j++)
                    d[(h * q_len + i) * kv_len + j] = s[h] * (double)(j - (kv_offset + i));
        b = born_to_dtype(b, dtype);
    }
    b = born_keep(d ? b : NULL);
    born_scope_end();
    return b;
}

born_tensor *born_sinusoidal_positions(int64_t n_positions, int64_t dim, double base,
                                       born_dtype dtype) {
    static const char *fn = "born_sinusoidal_positions";
    if (n_positions < 0 || dim < 2 || dim % 2)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: %" PRId64 " positions of even dimension %"
                               PRId64 " (at least 2) wanted", fn, n_positions, dim);
    if (!(base > 0)) return born_error_null(BORN_ERR_ARGUMENT, "%s: base %g must be positive", fn, base);
    if (!born_dtype_is_floating(dtype))
        return born_error_null(BORN_ERR_DTYPE, "%s: dtype must be floating", fn);
    born_scope_begin();
    born_tensor *t = born_empty(BORN_F64, BORN_DIMS(n_positions, dim));
    double *d = t ? born_data_f64(t) : NULL;
    if (d) {
        for (int64_t pos = 0; pos < n_positions; pos++)
            for (int64_t i = 0; i < dim / 2; i++) {
                double a = (double)pos / pow(base, (double)(2 * i) / (double)dim);
                d[pos * dim + 2 * i] = sin(a);
                d[pos * dim + 2 * i + 1] = cos(a);
            }
        t = born_to_dtype(t, dtype);
    }
    t = born_keep(d ? t : NULL);
    born_scope_end();
    return t;
}
