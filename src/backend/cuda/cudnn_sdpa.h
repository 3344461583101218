/* Internal to the CUDA plugin: cuDNN's fused flash attention (cudnn_sdpa.c), the default path of
 * the attention entries where cuDNN is present and serves the case, with Born's kernels behind it.
 * cuDNN is loaded with dlopen at first use (BORN_CUDNN_PATH names a directory to load it from,
 * else the loader's search path: libcudnn_graph.so.9, then libcudnn.so.9); the SDPA forward and
 * backward operation graphs are built with the cuDNN 9 backend API and their plans cached per
 * shape. BORN_ATTENTION=born keeps Born's kernels; BORN_ATTENTION=cudnn makes a call that cuDNN
 * cannot serve an error (for tests and comparisons); BORN_CUDNN_DEBUG=1 prints why a call fell
 * back. */
#ifndef BORN_CUDA_CUDNN_SDPA_H
#define BORN_CUDA_CUDNN_SDPA_H

#include "backend/backend.h"

/* Which path the attention entries take now (BORN_ATTENTION, read at each call). */
typedef enum { CUDNN_SDPA_AUTO, CUDNN_SDPA_OFF, CUDNN_SDPA_FORCE } cudnn_sdpa_mode;
cudnn_sdpa_mode cudnn_sdpa_mode_now(void);

/* The forward through cuDNN (operands as backend.h's attention entry; out may be a 4-d view as
 * attention_strided_io allows). BORN_OK when cuDNN ran it; otherwise BORN_ERR_UNSUPPORTED with
 * nothing queued and no error recorded, the reason written to why (size n), and the caller runs
 * Born's kernel. */
born_status cudnn_sdpa_forward(const born_strided *out, const born_strided *lse,
                               const born_strided *q, const born_strided *k, const born_strided *v,
                               const born_strided *mask, const born_attention_args *a, char *why,
                               size_t n);
/* The backward likewise; delta is device scratch of B Hq L floats (cuDNN's softmax sum). */
born_status cudnn_sdpa_backward(const born_strided *dq, const born_strided *dk,
                                const born_strided *dv, const born_strided *grad_out,
                                const born_strided *q, const born_strided *k, const born_strided *v,
                                const born_strided *mask, const born_strided *out,
                                const born_strided *lse, void *delta, const born_attention_args *a,
                                char *why, size_t n);

#endif
