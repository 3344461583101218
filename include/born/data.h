/* Born data: datasets and a data loader that batches, shuffles and prefetches them.
 *
 * A dataset is a pair of tensors (inputs and, optionally, targets) indexed along dimension 0,
 * with an optional transform applied as batches are gathered (for images: u8 -> f32 scaled to
 * [0, 1], then normalised with a mean and a standard deviation). A data loader walks a dataset in
 * batches, in order or in a new random order each epoch, and gathers the next batch on a
 * background thread while the caller trains on the current one.
 *
 * Ownership: datasets and loaders are owned by the caller (free them with born_dataset_free and
 * born_dataloader_free). Each holds its own references to the tensors it reads, so the tensors
 * may be freed once a dataset is made; but their contents must not change while a loader reads
 * them. Batches follow the usual rule for returned tensors: see born_dataloader_next.
 *
 * Determinism: a loader's batches depend only on the dataset, the parameters and the seed (or the
 * generator's state), never on the number of threads or on whether batches are prepared in the
 * background. */
#ifndef BORN_DATA_H
#define BORN_DATA_H

#include "born/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------ */
/* Datasets                                                                                     */

typedef struct born_dataset born_dataset;

/* How a dataset's samples are turned into batch elements. Every input element x becomes
 * (x * scale - mean) / std, computed in double and stored as input_dtype; targets are converted to
 * target_dtype (as born_to_dtype converts). */
typedef struct born_transform_params {
    born_dtype input_dtype;  /* BORN_DTYPE_COUNT (default): keep the inputs' dtype */
    double scale;            /* default 1 */
    double mean;             /* default 0 */
    double std;              /* default 1; must be nonzero */
    born_dtype target_dtype; /* BORN_DTYPE_COUNT (default): keep the targets' dtype */
} born_transform_params;

/* The identity transform: dtypes kept, scale 1, mean 0, std 1. */
BORN_API born_transform_params born_transform_default_params(void);

/* The usual transform for u8 images: f32 inputs (x / 255 - mean) / std, targets as i64 class
 * indices (what born_cross_entropy expects). MNIST uses mean 0.1307 and std 0.3081. */
BORN_API born_transform_params born_transform_image_params(double mean, double std);

/* A dataset of the rows of inputs (and of targets, when not NULL; same size along dimension 0),
 * on the CPU, with at least one dimension. The dataset keeps its own references (a contiguous
 * copy only if a tensor is not contiguous). Returns NULL and records BORN_ERR_SHAPE or
 * BORN_ERR_ARGUMENT for mismatched or 0-dimensional tensors, BORN_ERR_DEVICE off the CPU. */
BORN_API born_dataset *born_tensor_dataset_new(born_tensor *inputs, born_tensor *targets);

/* Frees the dataset and its references; NULL is ignored. Loaders made from it keep working. */
BORN_API void born_dataset_free(born_dataset *ds);

/* The number of samples (the size of dimension 0). */
BORN_API int64_t born_dataset_len(const born_dataset *ds);

/* The dataset's tensors (borrowed; targets may be NULL), untransformed. */
BORN_API born_tensor *born_dataset_inputs(const born_dataset *ds);
BORN_API born_tensor *born_dataset_targets(const born_dataset *ds);

/* Sets the transform applied to samples and batches from now on (loaders made earlier keep the
 * transform they started with). Reports BORN_ERR_ARGUMENT for std == 0 or a non-finite value, and
 * BORN_ERR_DTYPE for an input_dtype that is not floating while scale, mean or std are not the
 * identity's (the result would be truncated), or for an invalid dtype. */
BORN_API born_status born_dataset_set_transform(born_dataset *ds,
                                                const born_transform_params *params);

/* A new dataset of samples [start, start + length) of ds, sharing its tensors' storage (views,
 * no copy) and its transform. Reports BORN_ERR_ARGUMENT for a range outside the dataset. */
BORN_API born_dataset *born_dataset_subset(const born_dataset *ds, int64_t start, int64_t length);

/* Splits ds into its first n samples and the rest (both views, as born_dataset_subset), e.g. 8,000
 * training and 2,000 test digits out of 10,000. On failure both are set to NULL. */
BORN_API born_status born_dataset_split(const born_dataset *ds, int64_t n, born_dataset **first,
                                        born_dataset **rest);

/* Sample index (negative counts from the end), transformed, as new tensors without the batch
 * dimension: *input, and *target when the dataset has targets (else *target is set to NULL).
 * target may be NULL to skip it. */
BORN_API born_status born_dataset_get(const born_dataset *ds, int64_t index, born_tensor **input,
                                      born_tensor **target);

/* ------------------------------------------------------------------------------------------ */
/* Data loaders                                                                                 */

typedef struct born_dataloader born_dataloader;

typedef struct born_dataloader_params {
    int64_t batch_size; /* samples per batch (default 1) */
    bool shuffle;       /* a new random order each epoch (default false: in order) */
    bool drop_last;     /* leave out a last batch smaller than batch_size (default false) */
    uint64_t seed;      /* seeds the loader's own generator when shuffle is on (default 0) */
    born_generator *generator; /* when not NULL, the orders are drawn from it instead (borrowed:
                                * it must outlive the loader; draws happen in born_dataloader_new
                                * and born_dataloader_reset, on the caller's thread) */
    bool background;    /* gather batches on a background thread (default true) */
    int prefetch;       /* batches prepared ahead in the background (default 2, at least 1) */
} born_dataloader_params;

BORN_API born_dataloader_params born_dataloader_default_params(void);

/* A loader over ds (which it does not need afterwards: it keeps its own references and a copy of
 * the transform) with params (NULL for the defaults). The first epoch starts at once: with
 * shuffle, its order is drawn now (one born_randperm), and the background thread starts gathering
 * its first batches. Reports BORN_ERR_ARGUMENT for batch_size < 1 or prefetch < 1. */
BORN_API born_dataloader *born_dataloader_new(const born_dataset *ds,
                                              const born_dataloader_params *params);

/* Stops the background thread (waiting for the batch it is gathering, if any), frees the batches
 * prepared but not handed out, and frees the loader; batches already returned stay valid. NULL is
 * ignored. Safe in the middle of an epoch. */
BORN_API void born_dataloader_free(born_dataloader *dl);

/* The number of batches in an epoch: ceil(n / batch_size), or floor with drop_last. */
BORN_API int64_t born_dataloader_len(const born_dataloader *dl);

/* The next batch of the epoch: *x gets the inputs [b, ...] and *y the targets [b, ...] (NULL when
 * the dataset has none; y may be NULL to skip them), where b is batch_size except perhaps for the
 * last batch. Returns false when the epoch is over (with no error recorded), and keeps returning
 * false until born_dataloader_reset; returns false with an error recorded when gathering failed
 * (check born_last_status()).
 *
 * Lifetime: the batch tensors are new references exactly like any op's result: they belong to the
 * caller's innermost scope open at this call (else to the caller, who born_frees them). The
 * background thread creates them with no scope open on its thread, so no scope there ever lists
 * them; this call registers them with the caller's scope when it hands them over. They share
 * nothing with the dataset (gathered copies) nor with each other, and stay valid after the loader
 * is freed. */
BORN_API bool born_dataloader_next(born_dataloader *dl, born_tensor **x, born_tensor **y);

/* Starts a new epoch: drops what remains of the current one (prepared batches are freed), draws a
 * new order when shuffling, and starts gathering again. A typical loop:
 *     for (epoch = 0; epoch < n; epoch++) {
 *         if (epoch > 0) born_dataloader_reset(dl);
 *         while (born_dataloader_next(dl, &x, &y)) { ... }
 *     } */
BORN_API born_status born_dataloader_reset(born_dataloader *dl);

/* How many epochs have started (1 after born_dataloader_new). */
BORN_API int64_t born_dataloader_epoch(const born_dataloader *dl);

#ifdef __cplusplus
}
#endif
#endif /* BORN_DATA_H */
