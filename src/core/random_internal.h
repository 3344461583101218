/* Internal: random draws on any device. The device's backend fills the tensor with the
 * generator's next counters, so the CPU and a GPU draw the same numbers from the same state. */
#ifndef BORN_CORE_RANDOM_INTERNAL_H
#define BORN_CORE_RANDOM_INTERNAL_H

#include "born/core.h"

/* born_rand's uniform [0, 1) draw, made on device (NULL + error if that backend has no random
 * entry). */
born_tensor *core_rand_on(born_generator *gen, born_dtype dtype, int ndim, const int64_t *shape,
                          born_device device);

#endif
