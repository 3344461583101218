/* The data loader: batches of a dataset in order or in a random order per epoch, gathered on a
 * background thread.
 *
 * Determinism: the order of an epoch is drawn on the caller's thread (born_dataloader_new and
 * born_dataloader_reset, one born_randperm each) and batch b always holds samples
 * order[b * batch_size ...], so the batches do not depend on threads or timing. The worker only
 * copies rows.
 *
 * Threads and lifetime: one worker thread gathers batches into a ring of `prefetch` slots under a
 * mutex. It never opens a scope, so the tensors it creates are registered with no scope: their
 * creation reference is simply held by the slot. born_dataloader_next, on the caller's thread,
 * takes a slot and registers the tensors with the caller's innermost scope (scope_register), which
 * is exactly where an op's result would go. Batches the caller never takes (a reset, or freeing the
 * loader mid-epoch) are released by whoever drops them. The worker's errors are recorded on its own
 * thread; it copies the message into the loader, clears its thread's error, and next() re-records
 * it on the caller's thread once the batches before it have been handed out. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/tensor_impl.h"
#include "data/data_internal.h"

typedef struct slot {
    int64_t batch;
    born_tensor *x, *y;
} slot;

struct born_dataloader {
    /* fixed at creation */
    born_tensor *inputs, *targets; /* internal references */
    data_transform tf;
    int64_t n, batch_size, nbatches;
    bool shuffle, background;
    int prefetch;
    born_generator *gen;
    bool own_gen;
    int64_t *scratch; /* the worker's (or, synchronously, the caller's) batch indices */

    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t work_cv;  /* the worker waits here for room or a new epoch */
    pthread_cond_t ready_cv; /* next() waits here for a batch */

    /* under mu */
    int64_t *order; /* this epoch's permutation, NULL in order */
    int64_t epoch;  /* epochs started */
    int64_t next_out, next_build;
    slot *ring;
    int head, count;
    bool stop;
    born_status err; /* the worker's failure in this epoch */
    char err_msg[1024];
};

born_dataloader_params born_dataloader_default_params(void) {
    return (born_dataloader_params){.batch_size = 1,
                                    .shuffle = false,
                                    .drop_last = false,
                                    .seed = 0,
                                    .generator = NULL,
                                    .background = true,
                                    .prefetch = 2};
}

/* The number of samples in batch b. */
static int64_t batch_count(const born_dataloader *dl, int64_t b) {
    int64_t left = dl->n - b * dl->batch_size;
    return left < dl->batch_size ? left : dl->batch_size;
}

/* Copies batch b's sample indices into dl->scratch (under mu in the background case). */
static int64_t batch_indices(born_dataloader *dl, int64_t b) {
    int64_t count = batch_count(dl, b), first = b * dl->batch_size;
    for (int64_t k = 0; k < count; k++)
        dl->scratch[k] = dl->order ? dl->order[first + k] : first + k;
    return count;
}

static void release_slot(slot *s) {
    if (s->x) tensor_release(s->x);
    if (s->y) tensor_release(s->y);
    s->x = s->y = NULL;
}

static void *worker_main(void *arg) {
    born_dataloader *dl = arg;
    pthread_mutex_lock(&dl->mu);
    for (;;) {
        while (!dl->stop && (dl->next_build >= dl->nbatches || dl->count >= dl->prefetch ||
                             dl->err != BORN_OK))
            pthread_cond_wait(&dl->work_cv, &dl->mu);
        if (dl->stop) break;
        int64_t b = dl->next_build++, epoch = dl->epoch;
        int64_t count = batch_indices(dl, b);
        pthread_mutex_unlock(&dl->mu);

        slot s = {.batch = b};
        born_status st = data_gather("born_dataloader_next", dl->inputs, dl->targets, &dl->tf,
                                     dl->scratch, count, false, &s.x, &s.y);
        char msg[1024] = "";
        if (st != BORN_OK) snprintf(msg, sizeof msg, "%s", born_last_error());
        born_clear_error();

        pthread_mutex_lock(&dl->mu);
        if (dl->stop || epoch != dl->epoch) {
            release_slot(&s); /* the epoch was reset or the loader is going away */
            continue;
        }
        if (st != BORN_OK) {
            dl->err = st;
            memcpy(dl->err_msg, msg, sizeof msg);
        } else {
            dl->ring[(dl->head + dl->count) % dl->prefetch] = s;
            dl->count++;
        }
        pthread_cond_signal(&dl->ready_cv);
    }
    pthread_mutex_unlock(&dl->mu);
    return NULL;
}

/* A new order for the next epoch (NULL when not shuffling); false with an error on failure. */
static bool draw_order(born_dataloader *dl, int64_t **order) {
    *order = NULL;
    if (!dl->shuffle || dl->n == 0) return true;
    int64_t *o = malloc((size_t)dl->n * sizeof *o);
    if (!o) {
        born_error(BORN_ERR_MEMORY, "born_dataloader: out of memory for an order of %" PRId64
                   " samples", dl->n);
        return false;
    }
    born_scope_begin();
    born_tensor *perm = born_randperm(dl->gen, dl->n);
    bool ok = perm && born_copy_to_buffer(perm, o, (size_t)dl->n * sizeof *o) == BORN_OK;
    born_scope_end();
    if (!ok) {
        free(o);
        return false;
    }
    *order = o;
    return true;
}

born_dataloader *born_dataloader_new(const born_dataset *ds, const born_dataloader_params *params) {
    const char *fn = "born_dataloader_new";
    if (!ds) return born_error_null(BORN_ERR_ARGUMENT, "%s: dataset is NULL", fn);
    born_dataloader_params p = params ? *params : born_dataloader_default_params();
    if (p.batch_size < 1)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: batch_size is %" PRId64 "; it must be at "
                               "least 1", fn, p.batch_size);
    if (p.prefetch < 1)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: prefetch is %d; it must be at least 1", fn,
                               p.prefetch);
    born_dataloader *dl = calloc(1, sizeof *dl);
    if (!dl) return born_error_null(BORN_ERR_MEMORY, "%s: out of memory", fn);
    dl->inputs = born_tensor_retain(ds->inputs);
    dl->targets = ds->targets ? born_tensor_retain(ds->targets) : NULL;
    dl->tf = ds->tf;
    dl->n = ds->inputs->shape[0];
    dl->batch_size = p.batch_size;
    dl->nbatches = p.drop_last ? dl->n / p.batch_size
                               : dl->n / p.batch_size + (dl->n % p.batch_size != 0);
    dl->shuffle = p.shuffle;
    dl->prefetch = p.prefetch;
    dl->background = p.background;
    pthread_mutex_init(&dl->mu, NULL);
    pthread_cond_init(&dl->work_cv, NULL);
    pthread_cond_init(&dl->ready_cv, NULL);
    int64_t most = p.batch_size < dl->n ? p.batch_size : dl->n;
    dl->scratch = malloc((size_t)(most > 0 ? most : 1) * sizeof *dl->scratch);
    dl->ring = calloc((size_t)p.prefetch, sizeof *dl->ring);
    if (!dl->scratch || !dl->ring) {
        born_error(BORN_ERR_MEMORY, "%s: out of memory", fn);
        born_dataloader_free(dl);
        return NULL;
    }
    if (p.generator) {
        dl->gen = p.generator;
    } else if (p.shuffle) {
        dl->gen = born_generator_new(p.seed);
        dl->own_gen = true;
        if (!dl->gen) {
            born_dataloader_free(dl);
            return NULL;
        }
    }
    if (!draw_order(dl, &dl->order)) {
        born_dataloader_free(dl);
        return NULL;
    }
    dl->epoch = 1;
    if (dl->background) {
        if (pthread_create(&dl->thread, NULL, worker_main, dl) == 0)
            dl->thread_started = true;
        else
            dl->background = false; /* same batches, gathered on the caller's thread */
    }
    return dl;
}

void born_dataloader_free(born_dataloader *dl) {
    if (!dl) return;
    if (dl->thread_started) {
        pthread_mutex_lock(&dl->mu);
        dl->stop = true;
        pthread_cond_signal(&dl->work_cv);
        pthread_mutex_unlock(&dl->mu);
        pthread_join(dl->thread, NULL);
    }
    if (dl->ring)
        for (int i = 0; i < dl->count; i++) release_slot(&dl->ring[(dl->head + i) % dl->prefetch]);
    pthread_mutex_destroy(&dl->mu);
    pthread_cond_destroy(&dl->work_cv);
    pthread_cond_destroy(&dl->ready_cv);
    if (dl->own_gen) born_generator_free(dl->gen);
    if (dl->inputs) tensor_release(dl->inputs);
    if (dl->targets) tensor_release(dl->targets);
    free(dl->order);
    free(dl->scratch);
    free(dl->ring);
    free(dl);
}

int64_t born_dataloader_len(const born_dataloader *dl) { return dl ? dl->nbatches : 0; }

int64_t born_dataloader_epoch(const born_dataloader *dl) {
    if (!dl) return 0;
    pthread_mutex_lock((pthread_mutex_t *)&dl->mu);
    int64_t e = dl->epoch;
    pthread_mutex_unlock((pthread_mutex_t *)&dl->mu);
    return e;
}

bool born_dataloader_next(born_dataloader *dl, born_tensor **x, born_tensor **y) {
    if (y) *y = NULL;
    if (!x) {
        born_error(BORN_ERR_ARGUMENT, "born_dataloader_next: x is NULL");
        return false;
    }
    *x = NULL;
    if (!dl) {
        born_error(BORN_ERR_ARGUMENT, "born_dataloader_next: loader is NULL");
        return false;
    }
    if (!dl->background) {
        if (dl->next_out >= dl->nbatches) return false;
        int64_t count = batch_indices(dl, dl->next_out);
        if (data_gather("born_dataloader_next", dl->inputs, dl->targets, &dl->tf, dl->scratch,
                        count, false, x, y) != BORN_OK)
            return false;
        dl->next_out++;
        return true;
    }
    pthread_mutex_lock(&dl->mu);
    while (dl->count == 0 && dl->next_out < dl->nbatches && dl->err == BORN_OK)
        pthread_cond_wait(&dl->ready_cv, &dl->mu);
    if (dl->count == 0) {
        if (dl->err != BORN_OK && dl->next_out < dl->nbatches) born_error(dl->err, "%s", dl->err_msg);
        pthread_mutex_unlock(&dl->mu);
        return false;
    }
    slot s = dl->ring[dl->head];
    dl->ring[dl->head] = (slot){0};
    dl->head = (dl->head + 1) % dl->prefetch;
    dl->count--;
    dl->next_out++;
    pthread_cond_signal(&dl->work_cv);
    pthread_mutex_unlock(&dl->mu);

    /* hand the creation references over to the caller's scope */
    scope_register(s.x);
    *x = s.x;
    if (s.y) {
        if (y) {
            scope_register(s.y);
            *y = s.y;
        } else {
            tensor_release(s.y);
        }
    }
    return true;
}

born_status born_dataloader_reset(born_dataloader *dl) {
    if (!dl) return born_error(BORN_ERR_ARGUMENT, "born_dataloader_reset: loader is NULL");
    int64_t *order = NULL;
    if (!draw_order(dl, &order)) return born_last_status();
    pthread_mutex_lock(&dl->mu);
    int64_t *old = dl->order;
    dl->order = order;
    dl->epoch++;
    dl->next_out = dl->next_build = 0;
    for (int i = 0; i < dl->count; i++) release_slot(&dl->ring[(dl->head + i) % dl->prefetch]);
    dl->head = dl->count = 0;
    dl->err = BORN_OK;
    dl->err_msg[0] = '\0';
    pthread_cond_signal(&dl->work_cv);
    pthread_mutex_unlock(&dl->mu);
    free(old);
    return BORN_OK;
}
