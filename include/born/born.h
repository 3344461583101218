/* Born: a machine-learning framework in C. Include this one header to get the whole library:
 * core (tensors, errors, lifetime), ops (the tensor operations) and autograd. */
#ifndef BORN_H
#define BORN_H

#include "born/core.h"
#include "born/ops.h"
#include "born/autograd.h"

#endif /* BORN_H */
