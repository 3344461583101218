/* Internal: a complex FFT of any length in double (radix-2 for powers of two, Bluestein's chirp
 * transform through a power-of-two FFT otherwise), for the spectral ONNX operators. */
#ifndef BORN_ONNX_FFT_H
#define BORN_ONNX_FFT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct onnx_fft onnx_fft;

/* A plan for transforms of length n (1 <= n <= 2^26); NULL when out of memory or n is out of
 * range. Free with onnx_fft_free. */
onnx_fft *onnx_fft_new(int64_t n);
void onnx_fft_free(onnx_fft *f);

/* Transforms re + i im (n values each) in place: X[k] = sum_t x[t] e^(-+2 pi i k t / n), the sign
 * positive when inverse (no 1/n scaling). */
void onnx_fft_run(onnx_fft *f, double *re, double *im, bool inverse);

#endif
