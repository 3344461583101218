/* Internal: the optimizer object shared by src/optim/. optimizer.c holds what every optimizer does
 * (parameters, lazily created state, the step driver, state dicts); sgd.c, adam.c and rmsprop.c
 * each describe one algorithm with an optim_algo table; lr_scheduler.c reads and writes the
 * hyperparameters through the fields below. */
#ifndef BORN_OPTIM_INTERNAL_H
#define BORN_OPTIM_INTERNAL_H

#include <stdatomic.h>

#include "backend/backend.h"
#include "born/autograd.h"
#include "born/optim.h"
#include "core/error.h"

enum { OPTIM_SLOTS = 3 };

/* Every optimizer's hyperparameters (each algorithm uses some of them). */
typedef struct optim_hparams {
    double lr, momentum, dampening, weight_decay, eps, alpha;
    double betas[2];
    bool nesterov, maximize, amsgrad, centered, decoupled_weight_decay;
    bool has_initial_lr; /* set by the first scheduler, as torch's group["initial_lr"] */
    double initial_lr;
} optim_hparams;

/* One parameter's state. The slot tensors are contiguous, have the parameter's shape, dtype and
 * device, and are owned here (tensor_release); NULL when absent. */
typedef struct optim_state {
    bool initialized; /* Adam and RMSprop: torch's len(state) != 0 */
    float step;       /* the step count, an f32 as torch keeps it */
    born_tensor *slot[OPTIM_SLOTS];
    /* Where the optimizer keeps device scalars (device_scalars.c): this parameter's step count and
     * the lr in device memory, which the multi-tensor update reads (NULL: the host's). */
    float *device_step;
    const double *device_lr;
} optim_state;

typedef struct optim_algo optim_algo;

struct born_optimizer {
    atomic_int refs; /* the caller's, plus one per scheduler */
    const optim_algo *algo;
    int64_t n;
    born_tensor **params; /* references owned here */
    optim_state *state;
    optim_hparams h;
    /* Device scalars (device_scalars.c): on dev_device, the step counts ([n] f32, the parameters'
     * order; authoritative over state[i].step for its parameters while they exist) and the lr
     * ([1] f64, last written as dev_lr_value); NULL when absent. */
    born_device dev_device;
    born_tensor *dev_steps, *dev_lr;
    double dev_lr_value;
};

/* How a hyperparameter is stored in a state dict. */
typedef enum optim_hp_kind { HP_DOUBLE, HP_PAIR, HP_BOOL } optim_hp_kind;

typedef struct optim_hp_desc {
    const char *key; /* after "param_groups.0." */
    optim_hp_kind kind;
    size_t offset; /* in optim_hparams */
} optim_hp_desc;

/* One algorithm. */
struct optim_algo {
    const char *name; /* "born_adam", for messages */
    bool has_step;    /* keeps a step count (Adam, RMSprop) */
    const char *slot_names[OPTIM_SLOTS];
    const optim_hp_desc *hparams; /* terminated by key NULL */
    /* Validates hyperparameters; fn names the calling function in the message. */
    born_status (*validate)(const optim_hparams *h, const char *fn);
    /* Bit k set when slot k must exist for a parameter with state, under h. */
    unsigned (*needed_slots)(const optim_hparams *h);
    /* Slots the step creates uninitialised because the kernel writes them first (SGD's momentum
     * buffer); the others start as zeros. */
    unsigned uninit_slots;
    /* Runs the kernel for parameter p with gradient g and state st (already prepared: the step
     * count incremented, the needed slots present). first is true when the uninit slots were just
     * created. */
    born_status (*update)(const born_backend *be, const optim_hparams *h, born_tensor *p,
                          born_tensor *g, optim_state *st, bool first);
    /* Optional: whether parameter p (gradient g, state st) can join a multi-tensor update on
     * backend be, and that update over count such parameters of one device and dtype (state
     * prepared as for update). found_inf (NULL, or one f32 in that device's memory) makes the
     * kernels skip the whole update, step counts included, while it is not 0. */
    bool (*multi_ok)(const born_backend *be, const optim_hparams *h, born_tensor *p, born_tensor *g,
                     optim_state *st);
    born_status (*update_multi)(const born_backend *be, const optim_hparams *h, int64_t count,
                                born_tensor *const *p, born_tensor *const *g,
                                optim_state *const *st, const float *found_inf);
    /* The momentum that OneCycleLR cycles (momentum or betas[0]). */
    bool momentum_is_beta1;
};

extern const optim_algo optim_sgd_algo, optim_adam_algo, optim_rmsprop_algo;

/* A new optimizer over params with hyperparameters h for algo (validated), or NULL. */
born_optimizer *optim_new(const optim_algo *algo, const char *fn, born_tensor *const *params,
                          int64_t n, const optim_hparams *h);

/* The strided view of a state slot, or an absent operand (data NULL) when t is NULL. */
born_strided optim_strided(const born_tensor *t);

/* Message helpers: "must be >= 0" checks that also reject NaN. */
born_status optim_check_nonneg(const char *fn, const char *what, double v);

/* born_optimizer_step, skipped as a whole when found_inf (NULL: never; else a 1-element tensor,
 * the GradScaler's inf/NaN flag) is not 0. When every parameter with a gradient takes the
 * multi-tensor update on found_inf's accelerator with device step counts (Adam/AdamW on CUDA),
 * the kernels read the flag there: nothing is read back and the step can be captured in a graph.
 * Otherwise (SGD, RMSprop, one-by-one parameters) the host reads the flag first (a wait;
 * BORN_ERR_UNSUPPORTED inside a capture) and a set flag returns BORN_OK with nothing changed. */
born_status optim_step_skippable(born_optimizer *opt, born_tensor *found_inf);

/* Reads the n values of t (any real dtype and shape with n elements, on any device) as doubles;
 * name is the entry's name for messages. */
born_status optim_read_values(const char *fn, const char *name, born_tensor *t, double *out,
                              int64_t n);

/* Device scalars for multi-tensor updates on backends that take them (adam_multi_device_scalars),
 * so that a captured step (CUDA graphs) reads its step count and lr from the device:
 * optim_device_scalars creates them on device from the host's step counts (refused while device
 * captures a graph) and writes a changed lr; optim_push_lr writes opt->h.lr there (after a set_lr
 * or a scheduler; refused inside a capture); optim_retire_device_scalars reads the step counts
 * back into the host state and drops them (before a host-side update of one of their parameters);
 * optim_device_steps reads them into steps[n] without dropping them (false when absent);
 * optim_free_device_scalars drops them unread. */
born_status optim_device_scalars(born_optimizer *opt, born_device device);
born_status optim_push_lr(born_optimizer *opt);
born_status optim_retire_device_scalars(born_optimizer *opt);
bool optim_device_steps(const born_optimizer *opt, float *steps, born_status *status);
void optim_free_device_scalars(born_optimizer *opt);

/* A tensor of dtype on device with the given shape, filled from host (the values of a contiguous
 * host buffer), owned by the caller and by no scope (tensor_release); NULL with the error. */
born_tensor *optim_owned_on(born_device device, born_dtype dtype, int ndim, const int64_t *shape,
                            const void *host);

/* Whether the gradients of params[0..n) sit on one accelerator: at least one present, every
 * present one floating and on the same device, not the CPU; *device (may be NULL) receives it.
 * The criterion of the device paths of born_clip_grad_norm and the GradScaler. */
bool optim_grads_on_one_device(born_tensor *const *params, int64_t n, born_device *device);

/* born_clip_grad_norm's path for gradients on one accelerator (clip_grad_device.c): whether it
 * applies (every gradient present on one non-CPU device, floating; norm 2 or inf), and the clip
 * computed and applied on the device (the host reads the norm back only when total_norm is not
 * NULL). */
bool optim_clip_device_ok(born_tensor *const *params, int64_t n, double norm_type);
born_status optim_clip_grad_device(born_tensor *const *params, int64_t n, double max_norm,
                                   double norm_type, double *total_norm);

/* Schedulers keep their optimizer alive with these. */
void optim_retain(born_optimizer *opt);

#endif
