/* Shared by the LLM-on-CUDA suites (test_cuda_llm.c, test_cuda_llm_prefill.c): loading a GGUF
 * model on a device, an f32 copy of a GGUF file (the reference a GPU session is held to), and the
 * normalized error of one row of logits. */
#ifndef BORN_TESTS_CUDA_LLM_UTIL_H
#define BORN_TESTS_CUDA_LLM_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "born/born.h"

/* The model at path with its weights on dev (NULL with the library's error). */
born_model *cuda_llm_load_on(const char *path, born_device dev);

/* Writes a copy of the GGUF at path to out with every tensor in f32 (quantized ones
 * dequantized); false with the library's error on failure. */
bool cuda_llm_f32_copy(const char *path, const char *out);

/* The normalized logit error a GPU session of a model with wtype weights is held to against a CPU
 * session on the file's f32 copy: 1e-2, or 4e-2 for bf16 weights. A batched prompt gives each
 * product its input in the weights' type (llm_prefill.c), so the error follows that type's unit
 * roundoff u: f16 inputs (u = 2^-11 = 4.9e-4) measured 2.0e-3 to 5.6e-3 on the tiny models of
 * these tests (4 to 11 u: the random layers amplify the rounding), bf16 inputs (u = 2^-9, four
 * times larger) 0.9e-2 to 2.6e-2 (5 to 13 u) on an H200; four times the bound of f16 and f32. */
double cuda_llm_bound(born_dtype wtype);

/* ||g - c|| / ||c|| of one row of n logits, and its largest absolute difference in *maxd (NaN
 * makes both NaN-like: larger than any bound). */
double cuda_llm_rel_err(const float *c, const float *g, int32_t n, double *maxd);

#endif
