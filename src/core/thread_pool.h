/* Internal: teams on the process-wide thread pool (thread_pool.c), beside born_parallel_for.
 *
 * A team runs one function on every pool thread at once, each with its own index, for work that
 * goes through many short steps (one decoded token of an LLM: ~250 products, norms and attention
 * steps of microseconds each): the threads stay in one region and meet at barriers between the
 * steps instead of being handed a job per step. */
#ifndef BORN_CORE_THREAD_POOL_H
#define BORN_CORE_THREAD_POOL_H

#include "born/core.h"

/* fn(tid, nthreads, ctx) on nthreads threads (tid 0 is the caller), returning when every one
 * has returned. nthreads is the pool's size, or 1 when called from inside another parallel region
 * or while another thread's job holds the pool; a born_parallel_for inside fn runs serially. */
typedef void (*born_team_fn)(int tid, int nthreads, void *ctx);
void born_parallel_team(born_team_fn fn, void *ctx);

/* Waits until all nthreads threads of the running team have called it (the same number of times);
 * with nthreads 1 it returns at once. Writes before the barrier are visible after it. */
void born_team_barrier(int nthreads);

#endif
