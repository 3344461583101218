/* Helpers shared by the tensor-file tests (.born, safetensors, checkpoints). */
#ifndef BORN_TESTS_IO_TENSOR_FILE_TEST_H
#define BORN_TESTS_IO_TENSOR_FILE_TEST_H

#include <stddef.h>
#include <stdint.h>

#include "test.h"

/* The whole file as a malloc'd buffer (NULL if it cannot be read). */
uint8_t *tft_read_all(const char *path, size_t *len);

/* Writes len bytes to path; false on failure. */
bool tft_write_all(const char *path, const void *data, size_t len);

/* A per-process scratch directory (created once, removed at exit when empty); the path of
 * `name` inside it, in a static buffer of 4 rotating slots. */
const char *tft_path(const char *name);

/* How many entries the scratch directory holds (to check that no temporary file is left). */
int tft_dir_entries(void);

/* A tensor whose element i is the fixture formula of tools/gen_safetensors_fixtures.py for its
 * dtype. Owned by the current scope. */
born_tensor *tft_pattern(born_dtype dtype, int ndim, const int64_t *shape);

/* True when a and b have the same dtype, shape and bytes. */
bool tft_same(born_tensor *a, born_tensor *b);

#endif
