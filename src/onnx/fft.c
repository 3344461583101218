/* Complex FFT of any length in double: an iterative radix-2 transform for powers of two, and
 * Bluestein's algorithm (the DFT as a convolution with a chirp, done by power-of-two FFTs) for the
 * other lengths. Twiddles and chirp come from cos/sin of exactly reduced angles. */
#include "onnx/fft.h"

#include <math.h>
#include <stdlib.h>

static const double PI = 3.14159265358979323846;

struct onnx_fft {
    int64_t n, p;      /* length; the power-of-two size transformed (n itself, or Bluestein's) */
    double *twr, *twi; /* e^(-2 pi i j / p), j < p / 2 */
    double *wr, *wi;   /* Bluestein's chirp e^(-pi i k^2 / n), k < n */
    double *br, *bi;   /* FFT of the conjugate chirp, wrapped to length p */
    double *ar, *ai;   /* scratch of length p */
};

static bool pow2(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

/* Forward power-of-two FFT of length f->p in place (bit reversal, then butterflies). */
static void fft_p(const onnx_fft *f, double *re, double *im) {
    int64_t p = f->p;
    for (int64_t i = 1, j = 0; i < p; i++) {
        int64_t bit = p >> 1;
        for (; j & bit; bit >>= 1)
            j ^= bit;
        j |= bit;
        if (i < j) {
            double t = re[i];
            re[i] = re[j], re[j] = t;
            t = im[i], im[i] = im[j], im[j] = t;
        }
    }
    for (int64_t len = 2; len <= p; len <<= 1) {
        int64_t half = len / 2, stride = p / len;
        for (int64_t s = 0; s < p; s += len)
            for (int64_t k = 0; k < half; k++) {
                double wr = f->twr[k * stride], wi = f->twi[k * stride];
                double *ur = re + s + k, *ui = im + s + k, *vr = ur + half, *vi = ui + half;
                double tr = *vr * wr - *vi * wi, ti = *vr * wi + *vi * wr;
                *vr = *ur - tr, *vi = *ui - ti;
                *ur += tr, *ui += ti;
            }
    }
}

void onnx_fft_free(onnx_fft *f) {
    if (!f) return;
    free(f->twr), free(f->twi), free(f->wr), free(f->wi);
    free(f->br), free(f->bi), free(f->ar), free(f->ai);
    free(f);
}

onnx_fft *onnx_fft_new(int64_t n) {
    if (n < 1 || n > ((int64_t)1 << 26)) return NULL;
    onnx_fft *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->n = n;
    f->p = 1;
    if (pow2(n))
        f->p = n;
    else
        while (f->p < 2 * n - 1)
            f->p <<= 1;
    size_t p = (size_t)f->p, h = p / 2 + 1;
    f->twr = malloc(h * sizeof(double));
    f->twi = malloc(h * sizeof(double));
    if (!f->twr || !f->twi) goto oom;
    for (size_t j = 0; j < h; j++) {
        double a = -2 * PI * (double)j / (double)p;
        f->twr[j] = cos(a), f->twi[j] = sin(a);
    }
    if (f->p == n) return f;
    size_t nn = (size_t)n;
    f->wr = malloc(nn * sizeof(double)), f->wi = malloc(nn * sizeof(double));
    f->br = calloc(p, sizeof(double)), f->bi = calloc(p, sizeof(double));
    f->ar = malloc(p * sizeof(double)), f->ai = malloc(p * sizeof(double));
    if (!f->wr || !f->wi || !f->br || !f->bi || !f->ar || !f->ai) goto oom;
    for (int64_t k = 0; k < n; k++) {
        int64_t k2 = (k * k) % (2 * n); /* e^(-pi i k^2 / n) has period 2n in k^2 */
        double a = -PI * (double)k2 / (double)n;
        f->wr[k] = cos(a), f->wi[k] = sin(a);
        f->br[k] = f->wr[k], f->bi[k] = -f->wi[k];
        if (k) f->br[f->p - k] = f->wr[k], f->bi[f->p - k] = -f->wi[k];
    }
    fft_p(f, f->br, f->bi);
    return f;
oom:
    onnx_fft_free(f);
    return NULL;
}

/* Forward transform of length n. */
static void fft_forward(onnx_fft *f, double *re, double *im) {
    if (f->p == f->n) {
        fft_p(f, re, im);
        return;
    }
    int64_t n = f->n, p = f->p;
    for (int64_t k = 0; k < p; k++) {
        double xr = k < n ? re[k] : 0, xi = k < n ? im[k] : 0;
        double wr = k < n ? f->wr[k] : 0, wi = k < n ? f->wi[k] : 0;
        f->ar[k] = xr * wr - xi * wi, f->ai[k] = xr * wi + xi * wr;
    }
    fft_p(f, f->ar, f->ai);
    /* pointwise product with B, then the inverse FFT as conj(FFT(conj(.))) / p */
    for (int64_t k = 0; k < p; k++) {
        double r = f->ar[k] * f->br[k] - f->ai[k] * f->bi[k];
        double i = f->ar[k] * f->bi[k] + f->ai[k] * f->br[k];
        f->ar[k] = r, f->ai[k] = -i;
    }
    fft_p(f, f->ar, f->ai);
    for (int64_t k = 0; k < n; k++) {
        double cr = f->ar[k] / (double)p, ci = -f->ai[k] / (double)p;
        re[k] = cr * f->wr[k] - ci * f->wi[k];
        im[k] = cr * f->wi[k] + ci * f->wr[k];
    }
}

void onnx_fft_run(onnx_fft *f, double *re, double *im, bool inverse) {
    if (inverse)
        for (int64_t k = 0; k < f->n; k++)
            im[k] = -im[k];
    fft_forward(f, re, im);
    if (inverse)
        for (int64_t k = 0; k < f->n; k++)
            im[k] = -im[k];
}
