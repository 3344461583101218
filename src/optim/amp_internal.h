/* Internal: the GradScaler shared by src/optim/. grad_scaler.c holds the public calls and the
 * host's scale (gradients on the CPU or on several devices); grad_scaler_device.c keeps the scale,
 * the growth tracker and the inf/NaN flag as tensors on one accelerator, so that a step with loss
 * scaling never waits for the device and can be captured in a graph; amp_tensors.c is the
 * arithmetic on those tensors (a backend's multi-tensor entry, or ordinary ops). */
#ifndef BORN_AMP_INTERNAL_H
#define BORN_AMP_INTERNAL_H

#include "born/amp.h"
#include "core/tensor_impl.h"

struct born_grad_scaler {
    born_grad_scaler_params p;
    double scale;           /* the host's scale (while dev_scale is NULL) */
    int64_t growth_tracker; /* steps in a row without inf/NaN */
    bool unscaled;          /* unscale ran this step */
    bool stepped_seen;      /* step ran this step (update needs it) */
    bool found_inf;         /* the host's flag for this step */
    bool on_device;         /* this step's unscale ran on dev (the flag is dev_found) */
    /* The device state (NULL when absent), authoritative over scale and growth_tracker while it
     * exists: on dev, scale (f32), tracker (i32) and found (f32), each 0-dim and owned here. */
    born_device dev;
    born_tensor *dev_scale, *dev_tracker, *dev_found;
};

/* Makes sure the device state lives on device: created from the host's scale and tracker the
 * first time (refused with BORN_ERR_ARGUMENT while device captures a graph: its upload would be
 * replayed), moved through the host when it lives on another device. fn names the caller. */
born_status scaler_device_state(born_grad_scaler *s, born_device device, const char *fn);

/* Reads the device state back into scale and growth_tracker and drops it (a wait; refused inside
 * a capture), for a step whose loss or gradients are on the CPU or on several devices. BORN_OK
 * when there is none. */
born_status scaler_retire_device_state(born_grad_scaler *s, const char *fn);

/* The device state's scale read back (a wait), or NaN with an error (inside a capture). */
double scaler_device_scale(const born_grad_scaler *s);

/* Frees the device state unread. */
void scaler_free_device_state(born_grad_scaler *s);

/* Unscale on the device for the gradients of opt (all on s->dev): found is zeroed, then every
 * gradient is multiplied by 1 / scale and found set to 1 when a product is inf or NaN. */
born_status scaler_unscale_on_device(born_grad_scaler *s, born_optimizer *opt);

/* The optimizer step of a device-unscaled step: with stepped NULL it is skipped on the device (or,
 * for optimizers that cannot, after the host reads the flag, outside captures only); with stepped
 * not NULL the host reads the flag first (a wait; refused inside a capture, naming the fix). */
born_status scaler_step_on_device(born_grad_scaler *s, born_optimizer *opt, bool *stepped);

/* Dynamic loss scaling's two updates on tensors of one device (any backend), as torch's
 * _amp_foreach_non_finite_check_and_unscale_ and _amp_update_scale_. amp_unscale_tensors sets
 * found_inf (f32, 1 element) to 0, multiplies each of the n gradients (NULL ones skipped) in place
 * by inv = (f32)(1 / (f64)scale) (scale: f32, 1 element) and sets found_inf to 1 when a product
 * is inf or NaN: through the backend's amp_unscale_multi for the contiguous ones when use_entry
 * and the backend has it, through ordinary ops for the others. amp_update_scale_tensors then
 * multiplies scale by backoff (rounded to f32) and zeroes tracker (i32, 1 element) when found_inf
 * is set; else adds 1 to tracker and, on reaching interval, zeroes it and multiplies scale by
 * growth when the product is finite in f32. Neither reads anything back. */
born_status amp_unscale_tensors(born_tensor *const *grads, int64_t n, born_tensor *found_inf,
                                born_tensor *scale, bool use_entry);
born_status amp_update_scale_tensors(born_tensor *scale, born_tensor *tracker,
                                     born_tensor *found_inf, double growth, double backoff,
                                     int64_t interval);

#endif
