/* CUDA graphs: record the device work of a step once, then replay it with one launch per step, as
 * torch.cuda.CUDAGraph. The host work of every op (checks, autograd bookkeeping, kernel launches)
 * runs once, at capture; each replay runs the recorded kernels alone, on the same memory.
 *
 *     born_tensor *x = ..., *y = ..., *loss_out = born_zeros(BORN_F32, 0, NULL);  // made before
 *     loss_out = born_to(loss_out, dev);
 *     step(ctx);                                   // one eager step first (warm-up: see below)
 *     born_graph *g = born_graph_capture(dev, step, ctx);
 *     for (...) {
 *         born_copy_(x, next_batch_on_device);     // inputs into the captured tensors
 *         born_graph_replay(g);
 *         double loss = born_item(loss_out);       // outputs read from the captured tensors
 *     }
 *     born_graph_free(g);
 *
 * Inside the captured function:
 *   - shapes, dtypes and control flow are fixed: a replay repeats exactly what was recorded;
 *   - nothing may wait for the device or read it back (born_item, born_to the CPU, printing a
 *     device tensor, born_synchronize, born_cuda_empty_cache, an integer division on the device,
 *     which checks its divisor on the host): such a call fails, naming itself, and so does the
 *     capture. Host data moved to the device inside the step (positions a model builds on the
 *     CPU) is copied at capture into memory the graph keeps: every replay uploads that snapshot;
 *   - inputs are read from tensors made before the capture (copy new data into them between
 *     replays), and results are copied into tensors made before the capture; tensors made inside
 *     the function live in the graph's private memory and are freed by the scope that
 *     born_graph_capture opens around the call;
 *   - state created lazily on the first use (optimizer moments and step counts, library
 *     workspaces) must exist before the capture: run the step once eagerly first. An optimizer step
 *     that would create state during a capture fails;
 *   - work on the CPU, or on another device, runs once, at capture, and is not replayed; random
 *     ops replay the numbers drawn at capture;
 *   - Adam/AdamW keep their step counts and learning rate on the device: born_optimizer_set_lr
 *     between replays changes the rate the next replay uses; their other hyperparameters are
 *     fixed at capture. born_clip_grad_norm on gradients of one GPU clips on the device (pass
 *     total_norm NULL inside the step: reading the norm waits). A GradScaler whose loss and
 *     gradients are on the GPU keeps its scale and inf/NaN flag there: pass stepped NULL to
 *     born_grad_scaler_step inside the step, with Adam/AdamW (which skip on the device), and
 *     run one step with the scaler before capturing;
 *   - index ops (embedding, gather, index_select, cross-entropy's targets and their backward)
 *     check their indices on the device: an index out of range in a replay is reported, with the
 *     op's name, by the next call that waits for the device (born_item, born_synchronize, ...).
 *     The embedding's lookup and gradient (index_select, index_add) work that way outside
 *     captures too, so an eager step does not wait for them either.
 * Every tensor the captured work reads or writes must stay alive until the graph is freed. One
 * thread captures at a time per device. */
#ifndef BORN_GRAPH_H
#define BORN_GRAPH_H

#include "born/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct born_graph born_graph;

/* The step a graph records: returns BORN_OK, or an error status (recorded) to abort the capture. */
typedef born_status (*born_graph_fn)(void *ctx);

/* Calls fn(ctx) once inside a scope while recording the work it queues on device (a CUDA
 * device), and returns the graph ready for replay. NULL with an error when device cannot capture
 * (the CPU), fn fails or calls something a capture forbids (the message names it), or a capture is
 * already under way on device; the recorded work has then not run. */
BORN_API born_graph *born_graph_capture(born_device device, born_graph_fn fn, void *ctx);

/* Queues one run of the recorded work on its device's stream (the host does not wait). Fails on
 * a NULL graph or while a capture is under way on that device. */
BORN_API born_status born_graph_replay(born_graph *g);

/* Waits for the graph's queued runs, then frees it; its private memory returns to the device's
 * cache. NULL is ignored. */
BORN_API void born_graph_free(born_graph *g);

/* True while a born_graph_capture on device is recording (false for the CPU). */
BORN_API bool born_graph_capturing(born_device device);

#ifdef __cplusplus
}
#endif

#endif
