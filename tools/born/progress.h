/* A one-line progress bar for training: batches done, batches per second, the running loss and
 * the time left, redrawn in place on a terminal (at most ten times a second) and printed once at
 * the end otherwise. */
#ifndef BORN_TOOLS_PROGRESS_H
#define BORN_TOOLS_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct progress {
    FILE *out;
    bool tty;
    char label[64];
    int64_t total, done;
    double start, last_draw;
    double loss_sum;
    int64_t loss_count;
} progress;

/* Monotonic seconds. */
double progress_now(void);

void progress_begin(progress *p, FILE *out, const char *label, int64_t total);

/* Records one finished batch and its loss; redraws when due. */
void progress_step(progress *p, double loss);

/* The mean loss over the steps so far. */
double progress_mean_loss(const progress *p);

/* Draws the final state and ends the line. */
void progress_end(progress *p);

#endif
