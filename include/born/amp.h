/* Mixed precision, as torch.amp: autocast regions (matrix products in f16/bf16 while parameters
 * stay f32) and dynamic loss scaling for f16 (a GradScaler). */
#ifndef BORN_AMP_H
#define BORN_AMP_H

#include "born/core.h"
#include "born/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Opens an autocast region on this thread, as torch.autocast(dtype=dtype): inside it born_linear,
 * born_matmul, born_scaled_dot_product_attention and Linear modules cast floating operands that
 * are not f64 to dtype (BORN_BF16 or BORN_F16) with autograd and return results in dtype, so the
 * gradients of f32 parameters arrive in f32; other ops keep the ordinary type rules. Regions
 * nest (up to 16 deep); BORN_ERR_ARGUMENT for another dtype or too deep a nesting. */
BORN_API born_status born_autocast_begin(born_dtype dtype);

/* Closes the innermost autocast region on this thread (nothing outside one). */
BORN_API void born_autocast_end(void);

/* The dtype of the innermost open autocast region on this thread, or BORN_F32 when none is open. */
BORN_API born_dtype born_autocast_dtype(void);

/* Dynamic loss scaling, as torch.amp.GradScaler: multiply the loss by a scale before backward,
 * divide the gradients by it before the optimizer step, skip steps whose gradients hold inf or
 * NaN and then shrink the scale (backoff_factor), grow it (growth_factor) after growth_interval
 * steps without such gradients.
 *
 * Where the scale lives: when the loss, or all the gradients, sit on one accelerator (a CUDA
 * device), the scale (f32), the growth tracker (i32) and the inf/NaN flag (f32) are kept as
 * tensors on that device, as torch does, created from the host's values at the first such call
 * (which must not be inside a graph capture). Scale, unscale, step (stepped NULL) and update then
 * never wait for the device: Adam/AdamW skip a step on the flag in their kernels, so a training
 * step with loss scaling can be captured as a CUDA graph (include/born/graph.h) and replayed,
 * skipped steps included. Otherwise (the CPU, gradients on several devices) the host keeps them
 * and reads the flag back once a step. */
typedef struct born_grad_scaler born_grad_scaler;

typedef struct born_grad_scaler_params {
    double init_scale;       /* 65536 */
    double growth_factor;    /* 2 */
    double backoff_factor;   /* 0.5 */
    int64_t growth_interval; /* 2000 */
    bool enabled;            /* true; false makes every call a pass-through */
} born_grad_scaler_params;

BORN_API born_grad_scaler_params born_grad_scaler_default_params(void);

/* A new scaler (NULL params: the defaults); NULL with an error for a non-positive scale or
 * interval, a growth factor <= 1 or a backoff factor outside (0, 1). Free with born_grad_scaler_free. */
BORN_API born_grad_scaler *born_grad_scaler_new(const born_grad_scaler_params *params);
BORN_API void born_grad_scaler_free(born_grad_scaler *s);

/* loss times the current scale (recorded by autograd; a new tensor on loss's device), or loss
 * times 1 when the scaler is disabled. On an accelerator the factor is the device's 0-dim f32
 * scale tensor, read when the work runs (a captured step scales by each replay's scale; a
 * half-precision loss comes back in f32, as torch's). */
BORN_API born_tensor *born_grad_scaler_scale(born_grad_scaler *s, born_tensor *loss);

/* Divides the gradients of opt's parameters by the scale in place and records whether any holds
 * inf or NaN: on one accelerator in one multi-tensor kernel with nothing read back, elsewhere
 * reduced on each device and read back once. Once per step; a second call before
 * born_grad_scaler_update is BORN_ERR_ARGUMENT. */
BORN_API born_status born_grad_scaler_unscale(born_grad_scaler *s, born_optimizer *opt);

/* Unscales if not yet done, then runs born_optimizer_step unless a gradient held inf or NaN;
 * *stepped (may be NULL) says which. With the flag on an accelerator a stepped pointer makes the
 * host read it (a wait, refused inside a graph capture by a message that says to pass NULL),
 * while NULL never waits when Adam/AdamW skip on the device, step counts included (SGD, RMSprop
 * and parameters outside the multi-tensor update read the flag on the host instead, which a
 * capture refuses with BORN_ERR_UNSUPPORTED). */
BORN_API born_status born_grad_scaler_step(born_grad_scaler *s, born_optimizer *opt, bool *stepped);

/* Ends the step: backs the scale off after a skipped step, else grows it after growth_interval
 * steps in a row without inf/NaN (and only when the grown scale is finite). On an accelerator the
 * device updates its scale and tracker in f32/i32 arithmetic without a wait. */
BORN_API born_status born_grad_scaler_update(born_grad_scaler *s);

/* The current scale (1 when disabled). When the scale lives on an accelerator this reads it back
 * (a wait; NaN with an error inside a graph capture). */
BORN_API double born_grad_scaler_get_scale(const born_grad_scaler *s);

#ifdef __cplusplus
}
#endif

#endif /* BORN_AMP_H */
