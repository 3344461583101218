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

/* ||g - c|| / ||c|| of one row of n logits, and its largest absolute difference in *maxd (NaN
 * makes both NaN-like: larger than any bound). */
double cuda_llm_rel_err(const float *c, const float *g, int32_t n, double *maxd);

#endif
