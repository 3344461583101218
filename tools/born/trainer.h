/* The training loop shared by `born train` and `born demo`: mini-batch training with a chosen
 * optimizer, a progress bar per epoch, and test accuracy after each epoch. */
#ifndef BORN_TOOLS_TRAINER_H
#define BORN_TOOLS_TRAINER_H

#include <stdio.h>

#include "born/born.h"
#include "tools/born/datasets.h"

typedef struct train_config {
    int epochs;
    int64_t batch_size;
    double lr;
    const char *optimizer; /* "adam", "adamw", "sgd" (momentum 0.9) or "rmsprop" */
    uint64_t seed;         /* shuffling (weights are initialised by the caller) */
    FILE *log;             /* progress and per-epoch lines (NULL: silent) */
    const char *schedule;  /* lr per batch: NULL or "constant", "cosine" (to 0 over the run) or
                              "onecycle" (torch's OneCycleLR with max_lr = lr) */
} train_config;

typedef struct train_report {
    double final_loss;     /* mean training loss of the last epoch */
    double test_accuracy;  /* after the last epoch, in [0, 1] */
    double seconds;        /* training time, evaluation excluded */
    double epoch_seconds;  /* mean training time per epoch */
} train_report;

/* True when name is one of the optimizers train_model knows. */
bool trainer_optimizer_known(const char *name);

/* True when name is one of the learning-rate schedules train_model knows. */
bool trainer_schedule_known(const char *name);

/* Trains m on data->train (on the device of its parameters: each batch is moved there) and
 * reports on data->test after each epoch. Returns BORN_OK, or a status with Born's error
 * recorded. */
born_status train_model(born_module *m, const cli_data *data, const train_config *c,
                        train_report *report);

/* The fraction of samples in ds that m classifies correctly (eval mode, no grad); NaN on error.
 * When predictions is not NULL it receives the predicted class of the first npred samples. */
double evaluate(born_module *m, const born_dataset *ds, int64_t *predictions, int64_t npred);

#endif
