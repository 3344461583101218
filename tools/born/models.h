/* The models `born train`, `born eval` and `born demo` know by name. */
#ifndef BORN_TOOLS_MODELS_H
#define BORN_TOOLS_MODELS_H

#include <stddef.h>

#include "born/born.h"

/* The known names, "mlp, cnn", for messages. */
extern const char *const model_names;

/* True when name is a known model. */
bool model_known(const char *name);

/* A new model (owned: born_module_free) for 28 x 28 single-channel images and 10 classes:
 *   "mlp": Flatten - Linear(784, 128) - ReLU - Linear(128, 10)
 *   "cnn": Conv2d(1, 32, 3) - ReLU - MaxPool2d(2) - Conv2d(32, 64, 3) - ReLU - MaxPool2d(2) -
 *          Flatten - Linear(1600, 128) - ReLU - Linear(128, 10)
 * initialised as PyTorch would from gen. NULL for an unknown name (check model_known first) or
 * with Born's error recorded. */
born_module *model_new(const char *name, born_generator *gen);

/* Saves the model's state dict as a .born file (atomically) with its name in the metadata, so
 * model_load can rebuild it; extra metadata may be NULL. */
born_status model_save(born_module *m, const char *name, const char *path,
                       const born_string_map *extra);

/* Loads a file written by model_save: rebuilds the named model and loads its weights (owned).
 * On failure returns NULL and writes a message naming the file and the problem into err. */
born_module *model_load(const char *path, char *err, size_t err_size);

#endif
