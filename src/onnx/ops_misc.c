/* Operators that fit no other family: Resize / Upsample (separable per-axis interpolation). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_internal.h"

const onnx_op_entry onnx_ops_misc[] = {{NULL, NULL}};
