/* Internal ops that backward rules use but users do not call directly. Like public ops they
 * validate, allocate and dispatch to the backend, so they run on every device. */
#ifndef BORN_OPS_INTERNAL_H
#define BORN_OPS_INTERNAL_H

#include "born/ops.h"

/* The input gradient of softmax (log = false) or log_softmax (log = true) along dim, from the
 * output gradient g and the forward output y. */
born_tensor *softmax_backward_op(born_tensor *g, born_tensor *y, int dim, bool log);

#endif
