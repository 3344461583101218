/* Reader for the reference fixtures that tools/gen_fixtures.py writes (tests/fixtures/ops.bin;
 * the format is described at the top of that script and in tests/fixtures/README.md).
 *
 * The reader trusts nothing in the file: every length, count, dtype and shape is checked against
 * the bytes that are really there, and a malformed file is reported as an error message, never
 * read out of bounds. */
#ifndef BORN_TESTS_FIXTURE_H
#define BORN_TESTS_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "born/born.h"

#define FIXTURE_MAGIC "BORNFIX1"
#define FIXTURE_VERSION 1u

typedef struct fixture_tensor {
    char *name;       /* "in0", "out", "gout", "grad1", ... */
    born_dtype dtype; /* Born's numbering */
    int ndim;
    int64_t shape[BORN_MAX_DIMS];
    int64_t numel;
    const unsigned char *data; /* nbytes of contiguous little-endian data, inside the file buffer */
    size_t nbytes;
} fixture_tensor;

typedef struct fixture_record {
    char *name; /* "unary/exp/f32" */
    char *spec; /* "exp nc0=t" */
    int ntensors;
    fixture_tensor *tensors;
} fixture_record;

typedef struct fixture_file {
    unsigned char *buf; /* the whole file; tensors point into it */
    size_t size;
    int nrecords;
    fixture_record *records;
} fixture_file;

/* Parses size bytes of a fixture file (copied, so data may be freed afterwards). On failure
 * returns false, writes a message naming the byte offset into err, and leaves *out empty. */
bool fixture_parse(const void *data, size_t size, fixture_file *out, char *err, size_t err_size);

/* Reads and parses the file at path. */
bool fixture_load(const char *path, fixture_file *out, char *err, size_t err_size);

/* Frees everything fixture_parse allocated (safe on a zeroed or already freed file). */
void fixture_free(fixture_file *f);

/* The tensor called name in r, or NULL. */
const fixture_tensor *fixture_find(const fixture_record *r, const char *name);

/* Element i (row-major) as double / as int64 (the latter exact for every integer dtype). */
double fixture_get_f64(const fixture_tensor *t, int64_t i);
int64_t fixture_get_i64(const fixture_tensor *t, int64_t i);

/* A new contiguous Born tensor holding t's values (NULL with Born's error on failure). */
born_tensor *fixture_to_tensor(const fixture_tensor *t);

#endif
