/* Born: a machine-learning framework in C. Include this one header to get the whole library:
 * core (tensors, errors, lifetime), ops (the tensor operations), autograd and io (file formats). */
#ifndef BORN_H
#define BORN_H

#include "born/core.h"
#include "born/ops.h"
#include "born/autograd.h"
#include "born/io.h"
#include "born/data.h"
#include "born/nn.h"
#include "born/optim.h"
#include "born/llm.h"
#include "born/onnx.h"
#include "born/amp.h"
#include "born/graph.h"

#endif /* BORN_H */
