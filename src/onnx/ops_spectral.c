/* Spectral operators: DFT (opset 17 with the axis as an attribute, 20 with it as an input; real or
 * complex input, onesided, inverse, inverse onesided as a real inverse FFT, dft_length zero-padding
 * or truncating), STFT (frame_step, window, frame_length, onesided) and MelWeightMatrix, following
 * the ONNX reference implementation. Transforms run in double on FFTs of any length (fft.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/fft.h"
#include "onnx/onnx_internal.h"

/* An optional scalar integer input i, or def when it is absent. */
static born_status opt_int(onnx_op_ctx *c, int i, int64_t def, int64_t *out, const char *what) {
    *out = def;
    if (i >= c->nin || !c->in[i]) return BORN_OK;
    if (!born_dtype_is_integer(born_tensor_dtype(c->in[i])))
        return onnx_fail(c, BORN_ERR_DTYPE, "%s must be an integer", what);
    double v;
    ONNX_TRY(onnx_read_scalar(c, c->in[i], &v, what));
    *out = (int64_t)v;
    return BORN_OK;
}

/* A plan for length n, or an error naming the node. */
static onnx_fft *plan(onnx_op_ctx *c, int64_t n, const char *what) {
    if (n < 1 || n > ((int64_t)1 << 26)) {
        onnx_fail(c, BORN_ERR_ARGUMENT, "%s %lld is out of range (1..2^26)", what, (long long)n);
        return NULL;
    }
    onnx_fft *f = onnx_fft_new(n);
    if (!f) onnx_fail(c, BORN_ERR_MEMORY, "out of memory for an FFT of %lld", (long long)n);
    return f;
}

static born_status op_DFT(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    born_tensor *x = c->in[0];
    born_dtype dt = born_tensor_dtype(x);
    if (!born_dtype_is_floating(dt))
        return onnx_fail(c, BORN_ERR_DTYPE, "input is %s; a floating type is required",
                         born_dtype_name(dt));
    int r = born_tensor_ndim(x);
    const int64_t *shape = born_tensor_shape(x);
    if (r < 2 || (shape[r - 1] != 1 && shape[r - 1] != 2))
        return onnx_fail(c, BORN_ERR_SHAPE, "input must be [..., 1] (real) or [..., 2] (complex)");
    int64_t axis;
    if (c->opset >= 20)
        ONNX_TRY(opt_int(c, 2, -2, &axis, "axis"));
    else
        axis = onnx_attr_int(c, "axis", 1);
    if (axis < 0) axis += r;
    if (axis < 0 || axis > r - 2)
        return onnx_fail(c, BORN_ERR_ARGUMENT, "axis is out of range for rank %d", r);
    bool inverse = onnx_attr_int(c, "inverse", 0) != 0;
    bool onesided = onnx_attr_int(c, "onesided", 0) != 0;
    int64_t n_in = shape[axis], cin = shape[r - 1], len;
    ONNX_TRY(opt_int(c, 1, inverse && onesided ? 2 * (n_in - 1) : n_in, &len, "dft_length"));
    bool irfft = inverse && onesided;
    int64_t n_out = irfft || !onesided ? len : len / 2 + 1, cout = irfft ? 1 : 2;
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++)
        outer *= shape[i];
    for (int i = axis + 1; i < r - 1; i++)
        inner *= shape[i];
    int64_t oshape[BORN_MAX_DIMS];
    memcpy(oshape, shape, (size_t)r * sizeof *oshape);
    oshape[axis] = n_out, oshape[r - 1] = cout;
    onnx_fft *f = plan(c, len, "dft_length");
    if (!f) return BORN_ERR_ARGUMENT;
    born_tensor *xd = onnx_as(x, BORN_F64);
    born_tensor *y = xd ? born_empty(BORN_F64, r, oshape) : NULL;
    double *re = malloc((size_t)len * sizeof(double)), *im = malloc((size_t)len * sizeof(double));
    born_status st = BORN_OK;
    if (!y)
        st = onnx_op_failed(c);
    else if (!re || !im)
        st = onnx_fail(c, BORN_ERR_MEMORY, "out of memory");
    for (int64_t o = 0; o < outer && !st; o++)
        for (int64_t i = 0; i < inner; i++) {
            const double *src = born_data_f64(xd) + (o * n_in * inner + i) * cin;
            double *dst = born_data_f64(y) + (o * n_out * inner + i) * cout;
            for (int64_t k = 0; k < len; k++) {
                /* irfft: the full spectrum from its first len / 2 + 1 values (Hermitian) */
                int64_t s = irfft && k > len / 2 ? len - k : k;
                bool have = s < n_in;
                re[k] = have ? src[s * inner * cin] : 0;
                im[k] = have && cin == 2 ? src[s * inner * cin + 1] : 0;
                if (irfft && k > len / 2) im[k] = -im[k];
            }
            onnx_fft_run(f, re, im, inverse);
            double scale = inverse ? 1.0 / (double)len : 1.0;
            for (int64_t k = 0; k < n_out; k++) {
                dst[k * inner * cout] = re[k] * scale;
                if (cout == 2) dst[k * inner * cout + 1] = im[k] * scale;
            }
        }
    free(re), free(im);
    onnx_fft_free(f);
    if (st) return st;
    ONNX_OUT(0, born_contiguous(born_to_dtype(y, dt)));
    return BORN_OK;
}

static born_status op_STFT(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_TRY(onnx_need(c, 1));
    born_tensor *x = c->in[0], *win = c->nin > 2 ? c->in[2] : NULL;
    born_dtype dt = born_tensor_dtype(x);
    if (!born_dtype_is_floating(dt))
        return onnx_fail(c, BORN_ERR_DTYPE, "signal is %s; a floating type is required",
                         born_dtype_name(dt));
    const int64_t *shape = born_tensor_shape(x);
    if (born_tensor_ndim(x) != 3 || (shape[2] != 1 && shape[2] != 2))
        return onnx_fail(c, BORN_ERR_SHAPE, "signal must be [batch, length, 1 or 2]");
    int64_t batch = shape[0], n = shape[1], cin = shape[2], step, fl;
    ONNX_TRY(opt_int(c, 1, 0, &step, "frame_step"));
    if (win && born_tensor_ndim(win) != 1)
        return onnx_fail(c, BORN_ERR_SHAPE, "window must be 1-D");
    int64_t wl = win ? born_tensor_shape(win)[0] : n;
    ONNX_TRY(opt_int(c, 3, wl, &fl, "frame_length"));
    if (win && fl != wl)
        return onnx_fail(c, BORN_ERR_SHAPE, "frame_length %lld differs from the window's %lld",
                         (long long)fl, (long long)wl);
    if (step < 1 || fl < 1 || fl > n)
        return onnx_fail(c, BORN_ERR_ARGUMENT,
                         "frame_step %lld and frame_length %lld do not fit a signal of %lld",
                         (long long)step, (long long)fl, (long long)n);
    bool onesided = onnx_attr_int(c, "onesided", 1) != 0;
    int64_t frames = 1 + (n - fl) / step, bins = onesided ? fl / 2 + 1 : fl;
    int64_t oshape[4] = {batch, frames, bins, 2};
    onnx_fft *f = plan(c, fl, "frame_length");
    if (!f) return BORN_ERR_ARGUMENT;
    born_tensor *xd = onnx_as(x, BORN_F64), *wd = win ? onnx_as(win, BORN_F64) : NULL;
    born_tensor *y = xd && (!win || wd) ? born_empty(BORN_F64, 4, oshape) : NULL;
    double *re = malloc((size_t)fl * sizeof(double)), *im = malloc((size_t)fl * sizeof(double));
    born_status st = BORN_OK;
    if (!y)
        st = onnx_op_failed(c);
    else if (!re || !im)
        st = onnx_fail(c, BORN_ERR_MEMORY, "out of memory");
    for (int64_t b = 0; b < batch && !st; b++)
        for (int64_t fr = 0; fr < frames; fr++) {
            const double *src = born_data_f64(xd) + (b * n + fr * step) * cin;
            double *dst = born_data_f64(y) + (b * frames + fr) * bins * 2;
            for (int64_t t = 0; t < fl; t++) {
                double w = wd ? born_data_f64(wd)[t] : 1;
                re[t] = src[t * cin] * w;
                im[t] = cin == 2 ? src[t * cin + 1] * w : 0;
            }
            onnx_fft_run(f, re, im, false);
            for (int64_t k = 0; k < bins; k++)
                dst[2 * k] = re[k], dst[2 * k + 1] = im[k];
        }
    free(re), free(im);
    onnx_fft_free(f);
    if (st) return st;
    ONNX_OUT(0, born_contiguous(born_to_dtype(y, dt)));
    return BORN_OK;
}

/* Triangular filters between num_mel_bins + 2 points equally spaced on the mel scale
 * (2595 log10(1 + f / 700)), mapped to DFT bins floor((dft_length + 1) f / sample_rate). */
static born_status op_MelWeightMatrix(onnx_op_ctx *c) {
    for (int i = 0; i < 5; i++)
        ONNX_TRY(onnx_need(c, i));
    int64_t mels, len, rate;
    ONNX_TRY(opt_int(c, 0, 0, &mels, "num_mel_bins"));
    ONNX_TRY(opt_int(c, 1, 0, &len, "dft_length"));
    ONNX_TRY(opt_int(c, 2, 0, &rate, "sample_rate"));
    double lo, hi;
    ONNX_TRY(onnx_read_scalar(c, c->in[3], &lo, "lower_edge_hertz"));
    ONNX_TRY(onnx_read_scalar(c, c->in[4], &hi, "upper_edge_hertz"));
    if (mels < 1 || mels > (1 << 20) || len < 1 || len > (1 << 26) || rate < 1 || !(lo >= 0) ||
        !(hi >= lo))
        return onnx_fail(c, BORN_ERR_ARGUMENT,
                         "bad arguments (num_mel_bins %lld, dft_length %lld, "
                         "sample_rate %lld, edges %g..%g Hz)",
                         (long long)mels, (long long)len, (long long)rate, lo, hi);
    born_dtype dt;
    int64_t ot = onnx_attr_int(c, "output_datatype", 1);
    if (!onnx_dtype_map((int32_t)ot, &dt))
        return onnx_fail(c, BORN_ERR_DTYPE, "output_datatype %lld is not supported", (long long)ot);
    int64_t nbins = len / 2 + 1, shape[2] = {nbins, mels};
    int64_t *pts = malloc((size_t)(mels + 2) * sizeof *pts);
    born_tensor *y = pts ? born_zeros(BORN_F64, 2, shape) : NULL;
    if (!y) {
        free(pts);
        return pts ? onnx_op_failed(c) : onnx_fail(c, BORN_ERR_MEMORY, "out of memory");
    }
    double mlo = 2595 * log10(1 + lo / 700), mhi = 2595 * log10(1 + hi / 700);
    double step = (mhi - mlo) / (double)(mels + 2);
    for (int64_t i = 0; i < mels + 2; i++) {
        double hz = 700 * (pow(10, ((double)i * step + mlo) / 2595) - 1);
        pts[i] = (int64_t)floor((double)(len + 1) * hz / (double)rate);
        if (pts[i] < 0 || pts[i] >= nbins) {
            free(pts);
            return onnx_fail(c, BORN_ERR_ARGUMENT,
                             "upper_edge_hertz %g maps past the last of %lld "
                             "DFT bins",
                             hi, (long long)nbins);
        }
    }
    double *o = born_data_f64(y);
    for (int64_t i = 0; i < mels; i++) {
        int64_t l = pts[i], m = pts[i + 1], h = pts[i + 2];
        if (m == l)
            o[m * mels + i] = 1;
        else
            for (int64_t j = l; j <= m; j++)
                o[j * mels + i] = (double)(j - l) / (double)(m - l);
        for (int64_t j = m; j < h; j++)
            o[j * mels + i] = (double)(h - j) / (double)(h - m);
    }
    free(pts);
    ONNX_OUT(0, born_contiguous(born_to_dtype(y, dt)));
    return BORN_OK;
}

const onnx_op_entry onnx_ops_spectral[] = {
    {"DFT", op_DFT}, {"STFT", op_STFT}, {"MelWeightMatrix", op_MelWeightMatrix}, {NULL, NULL}};
