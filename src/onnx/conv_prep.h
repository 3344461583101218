/* Internal: what the load-time passes prepare for a Conv step (src/onnx/conv_prep.c): its constant
 * weights packed once for the GEMM, and its fused epilogue (the clamp of a fused Relu/Clip, then
 * the Mul/Add/HardSwish chain), which the convolution applies to each block of its output while
 * that is still in cache instead of the executor applying it in extra passes. */
#ifndef BORN_ONNX_CONV_PREP_H
#define BORN_ONNX_CONV_PREP_H

#include "born/born.h"

typedef struct onnx_conv_prep onnx_conv_prep;
struct plan_step;

/* Takes over ps's epilogue (ps->act and ps->ep are cleared) and packs w (f32 [M, C/g, k...])
 * unless the convolution is depthwise (computed directly). Returns NULL, leaving ps as it was,
 * when the weights do not suit or memory is short. */
onnx_conv_prep *onnx_conv_prep_new(struct plan_step *ps, born_tensor *w, int64_t group);
void onnx_conv_prep_free(onnx_conv_prep *p);

/* The packed weights' conv (NULL when depthwise). */
const struct cpu_conv_weights *onnx_conv_prep_weights(const onnx_conv_prep *p);

/* The epilogue's operations (conv_fast_kernels.h numbering): their count, with *kind and *v set
 * (p NULL: none). */
int onnx_conv_prep_ops(const onnx_conv_prep *p, const int **kind, const float (**v)[4]);

/* Whether there is anything to apply. */
bool onnx_conv_prep_has_epilogue(const onnx_conv_prep *p);

/* The epilogue in place on nrows rows of ncols floats, rows rs apart: element for element what
 * the executor's clamp and onnx_plan_epilogue give. */
void onnx_conv_prep_rows(const onnx_conv_prep *p, float *y, int64_t rs, int64_t nrows,
                         int64_t ncols);

/* The epilogue on a tensor *y that the conv made (replaced by a new tensor when it is not a
 * contiguous f32 one). */
born_status onnx_conv_prep_tensor(const onnx_conv_prep *p, born_tensor **y);

#endif
