/* Internal: what a dataset and a loader share: the tensors, the transform and the gather that
 * builds batches from them. */
#ifndef BORN_DATA_INTERNAL_H
#define BORN_DATA_INTERNAL_H

#include "born/data.h"

/* A transform resolved against the dataset's dtypes. */
typedef struct data_transform {
    born_transform_params params;
    born_dtype input_dtype, target_dtype; /* resolved (never BORN_DTYPE_COUNT) */
    bool identity;                        /* scale 1, mean 0, std 1 */
    bool lut;                             /* u8 inputs to f32 through lut_f32 */
    float lut_f32[256];
} data_transform;

struct born_dataset {
    born_tensor *inputs;  /* internal references (born_tensor_retain / tensor_release) */
    born_tensor *targets; /* may be NULL */
    data_transform tf;
};

/* Gathers samples idx[0..n) (each in range) into new contiguous tensors: inputs [n, ...] and
 * targets [n, ...] (without the leading dimension when squeeze, which needs n == 1). The tensors
 * are created on the calling thread, so they belong to its innermost scope if one is open. On
 * failure nothing is returned and an error naming fn is recorded on the calling thread. */
born_status data_gather(const char *fn, born_tensor *inputs, born_tensor *targets,
                        const data_transform *tf, const int64_t *idx, int64_t n, bool squeeze,
                        born_tensor **x, born_tensor **y);

#endif
