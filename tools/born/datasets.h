/* Loading an image-classification dataset from a folder of IDX files for the CLI. */
#ifndef BORN_TOOLS_DATASETS_H
#define BORN_TOOLS_DATASETS_H

#include <stddef.h>

#include "born/born.h"

typedef struct cli_data {
    born_dataset *train, *test; /* images [N, 1, H, W] u8 -> f32 normalised; labels -> i64 */
    int64_t classes;            /* 1 + the largest label */
    char description[256];      /* "8000 train / 2000 test images of 28x28 from DIR" */
} cli_data;

/* Loads dir, which holds either the four files of MNIST's layout (train-images, train-labels,
 * t10k-images, t10k-labels; "-idx3-ubyte" or ".idx3-ubyte", raw or .gz) or one images file and
 * one labels file, of which the first `split` samples train and the rest test. The images are
 * normalised with the training set's mean and standard deviation. On failure returns false and
 * writes a message naming the file and what is wrong into err. */
bool cli_data_load(const char *dir, int64_t split, cli_data *data, char *err, size_t err_size);

void cli_data_free(cli_data *data);

#endif
