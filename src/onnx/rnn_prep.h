/* Internal: an LSTM's constant weights prepared at load (src/onnx/rnn_prep.c). W [D, 4H, I] and
 * R [D, 4H, H] are packed side by side into panels of 8 gate rows, column by column, so that one
 * step's gate pre-activations bias + W x + R h are one pass over the panels with 8 rows per
 * vector register (AVX2 FMAs where the CPU has them), split over the thread pool by panels when
 * a step is a million multiply-adds or more. */
#ifndef BORN_ONNX_RNN_PREP_H
#define BORN_ONNX_RNN_PREP_H

#include <stdint.h>

#include "born/born.h"

typedef struct onnx_lstm_prep onnx_lstm_prep;

/* Packs W, R (contiguous f32 [D, 4H, I] and [D, 4H, H]) and the summed biases of B (contiguous f32
 * [D, 8H], or NULL for none). Returns NULL, with no error recorded, when the shapes do not fit or
 * memory is short (the op then computes from the tensors). */
onnx_lstm_prep *onnx_lstm_prep_new(born_tensor *W, born_tensor *R, born_tensor *B);
void onnx_lstm_prep_free(onnx_lstm_prep *p);

/* Whether p was made for ndir directions, hidden size H and input size I. */
bool onnx_lstm_prep_fits(const onnx_lstm_prep *p, int64_t ndir, int64_t H, int64_t I);

/* g[j] = (Wb[j] + Rb[j]) + sum_k W[d, j, k] x[k] + sum_k R[d, j, k] h[k] for j < 4H: direction d's
 * gate pre-activations (in ONNX's order i, o, f, c) for one batch entry. */
void onnx_lstm_gates(const onnx_lstm_prep *p, int d, const float *x, const float *h, float *g);

#if defined(__x86_64__)
/* Panels [p0, p1) of the packed matrix (K columns, 8 rows each, panel-major) times v (K floats),
 * plus bias, into out (8 floats per panel): AVX2 FMAs, four panels at a time. */
void onnx_lstm_panels_avx2(const float *w, const float *bias, const float *v, int64_t K, int64_t p0,
                           int64_t p1, float *out);
#define ONNX_HAVE_LSTM_AVX2 1
#endif

#endif
