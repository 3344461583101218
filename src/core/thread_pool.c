/* The process-wide thread pool behind born_parallel_for. The calling thread works too, so a pool
 * of n threads starts n - 1 workers. Work is split into fixed chunks of `grain` items that threads
 * claim from an atomic counter: the split never depends on the thread count, which keeps
 * per-chunk partial results (and so reductions) identical with 1 and N threads. A parallel_for
 * called from inside another, or while the pool is busy with another thread's job, runs its
 * chunks on the calling thread.
 *
 * The caller waits for the chunks, not for the workers: it counts finished chunks and returns as
 * soon as all are done, even if a worker has not woken up yet (on a loaded machine a worker may
 * wait milliseconds for a CPU, and the caller would otherwise wait with it on every small job).
 * Chunks are claimed by counting down a counter of the chunks left: a claim is valid when the
 * value taken is positive, which only the live job's counter gives (a finished job's counter is
 * at or below zero, so a worker that wakes late claims nothing). A new job's fields are written
 * before its counter is set (release) and a worker reads them only after a valid claim (acquire);
 * the job cannot end before that chunk is done, so the fields it reads are its chunk's.
 *
 * A team (born_parallel_team, thread_pool.h) is the other kind of job: every worker runs the
 * team's function once, with its own index. The job's kind is the low bit of its generation, so a
 * worker learns which job it sees and its kind from one atomic load, with no lock: a team's
 * fields are written before its generation (release) and stay until every worker has run it, and
 * since a team's caller waits for every worker, no newer job can hide a team from a worker, and
 * no worker runs one twice. (Reading the kind under the mutex made every worker take it at every
 * job: on the 16-core device host the lock-free start gave 4-6% on a bf16 GPT step at 8 and 16
 * threads, BENCHMARKS.md.) Workers sleep only after spinning, counted in `sleepers`; a
 * caller wakes them (a broadcast under the mutex) only where one sleeps, and the count and the
 * generation are each written before the other is read, so a worker cannot fall asleep on a job
 * it missed. Each side puts a sequentially consistent fence between its write and its read:
 * C11's seq_cst store and load alone order them on hardware (on arm64 they are stlr and ldar,
 * which do not pass each other), but qemu-user on an x86 host turns stlr into a fence and a
 * plain store and ldar into a plain load and a fence, so the caller's read of the count could
 * pass its store of the generation in the host's store buffer: the arm64 suite under qemu hung
 * now and then on a team whose worker slept through it (test_thread_team.c now publishes teams
 * as the worker falls asleep; without the fence that stopped in four of five runs of 50,000
 * teams). A fence costs one instruction a job. Workers spin longer after a team (the next one
 * usually follows: one per decoded token). Barriers inside a team spin on a phase counter and yield
 * the CPU after a while, so a preempted partner costs its time slice, not ours as well. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/error.h"
#include "core/tensor_impl.h"
#include "core/thread_pool.h"

enum { MAX_THREADS = 256, SPIN_ROUNDS = 4000, TEAM_SPIN_ROUNDS = 16000, BARRIER_SPINS = 2000 };

typedef struct pool {
    int nthreads; /* including the caller */
    pthread_t workers[MAX_THREADS];
    pthread_mutex_t mu;
    pthread_cond_t wake;
    pthread_cond_t done;
    atomic_uint_fast64_t generation; /* 2 x the jobs published, plus 1 while the job is a team */
    uint64_t spawn_generation;       /* the generation when the workers were started */
    atomic_int sleepers;             /* workers waiting on `wake` (or about to) */
    bool shutdown;
    /* the job in flight */
    born_range_fn fn;
    void *ctx;
    int64_t n, grain, nchunks;
    atomic_int_fast64_t left; /* chunks not yet claimed; <= 0 when none (and between jobs) */
    atomic_int_fast64_t done_chunks;
    /* the team in flight (the generation odd), or none */
    born_team_fn team_fn;
    void *team_ctx;
    int team_n;
    atomic_int team_done;   /* workers that have returned from the team's function */
    atomic_int bar_arrived; /* threads at the current barrier */
    atomic_uint bar_phase;  /* barriers passed */
} pool;

static int worker_index[MAX_THREADS]; /* worker i runs a team as thread i + 1 */

static pool the_pool = {.mu = PTHREAD_MUTEX_INITIALIZER,
                        .wake = PTHREAD_COND_INITIALIZER,
                        .done = PTHREAD_COND_INITIALIZER};
static pthread_mutex_t job_lock = PTHREAD_MUTEX_INITIALIZER; /* one job at a time */
static pthread_mutex_t config_lock = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local bool inside_job;
static atomic_int configured_threads; /* 0 until the pool is started */

static void run_chunks(pool *p) {
    for (;;) {
        int64_t v = atomic_fetch_sub_explicit(&p->left, 1, memory_order_acquire);
        if (v <= 0) break;
        int64_t nchunks = p->nchunks, c = nchunks - v;
        int64_t begin = c * p->grain;
        int64_t end = begin + p->grain < p->n ? begin + p->grain : p->n;
        p->fn(begin, end, p->ctx);
        if (atomic_fetch_add_explicit(&p->done_chunks, 1, memory_order_acq_rel) + 1 == nchunks) {
            pthread_mutex_lock(&p->mu); /* the caller may be asleep on done */
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *worker_main(void *arg) {
    pool *p = &the_pool;
    const int tid = *(const int *)arg;
    inside_job = true;
    /* Not the current generation: a worker that starts late must still join the first job,
     * whose generation may already have been published (the caller counts on every worker). */
    uint64_t seen = p->spawn_generation;
    bool was_team = false;
    for (;;) {
        /* spin briefly (a new job usually follows soon), then sleep */
        int spins = 0, max_spins = was_team ? TEAM_SPIN_ROUNDS : SPIN_ROUNDS;
        while (atomic_load_explicit(&p->generation, memory_order_acquire) == seen &&
               spins < max_spins) {
            spins++;
            cpu_relax();
        }
        if (atomic_load_explicit(&p->generation, memory_order_acquire) == seen) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            atomic_thread_fence(memory_order_seq_cst); /* the file's head says why */
            while (atomic_load(&p->generation) == seen && !p->shutdown)
                pthread_cond_wait(&p->wake, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            bool stop = p->shutdown;
            pthread_mutex_unlock(&p->mu);
            if (stop) return NULL;
        }
        seen = atomic_load_explicit(&p->generation, memory_order_acquire);
        bool team = seen & 1;
        was_team = team;
        if (!team) {
            run_chunks(p);
            continue;
        }
        const int n = p->team_n; /* the team's fields stay until every worker has run it */
        p->team_fn(tid, n, p->team_ctx);
        if (atomic_fetch_add_explicit(&p->team_done, 1, memory_order_acq_rel) + 1 == n - 1) {
            pthread_mutex_lock(&p->mu); /* the caller may be asleep on done */
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

static int default_thread_count(void) {
    const char *env = getenv("BORN_NUM_THREADS");
    if (env && *env) {
        long v = strtol(env, NULL, 10);
        if (v >= 1 && v <= MAX_THREADS) return (int)v;
    }
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n >= 1) return n > MAX_THREADS ? MAX_THREADS : n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 1 ? (int)(n > MAX_THREADS ? MAX_THREADS : n) : 1;
}

static void pool_stop(pool *p) {
    pthread_mutex_lock(&p->mu);
    p->shutdown = true;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads - 1; i++) pthread_join(p->workers[i], NULL);
    p->shutdown = false;
    p->nthreads = 1;
}

static void pool_start(pool *p, int n) {
    p->nthreads = 1;
    p->spawn_generation = atomic_load(&p->generation);
    for (int i = 0; i < n - 1; i++) {
        worker_index[i] = i + 1;
        if (pthread_create(&p->workers[i], NULL, worker_main, &worker_index[i]) != 0) break;
        p->nthreads++;
    }
}

static void ensure_pool(void) {
    if (atomic_load(&configured_threads) != 0) return;
    pthread_mutex_lock(&config_lock);
    if (atomic_load(&configured_threads) == 0) {
        pool_start(&the_pool, default_thread_count());
        atomic_store(&configured_threads, the_pool.nthreads);
    }
    pthread_mutex_unlock(&config_lock);
}

born_status born_set_num_threads(int n) {
    if (n < 1 || n > MAX_THREADS)
        return born_error(BORN_ERR_ARGUMENT, "born_set_num_threads: %d threads (expected 1 to %d)",
                          n, MAX_THREADS);
    pthread_mutex_lock(&config_lock);
    pthread_mutex_lock(&job_lock);
    if (atomic_load(&configured_threads) != 0) pool_stop(&the_pool);
    pool_start(&the_pool, n);
    atomic_store(&configured_threads, the_pool.nthreads);
    pthread_mutex_unlock(&job_lock);
    pthread_mutex_unlock(&config_lock);
    return the_pool.nthreads == n ? BORN_OK
                                  : born_error(BORN_ERR_MEMORY,
                                               "born_set_num_threads: only %d of %d threads "
                                               "could be started", the_pool.nthreads, n);
}

int born_get_num_threads(void) {
    ensure_pool();
    return atomic_load(&configured_threads);
}

/* Makes the job whose fields the caller has written the current one (its kind in the low bit
 * of the generation) and wakes the workers that sleep, if any. */
static void publish(pool *p, bool team) {
    uint64_t g = atomic_load_explicit(&p->generation, memory_order_relaxed);
    atomic_store(&p->generation, ((g >> 1) + 1) << 1 | (team ? 1u : 0u));
    atomic_thread_fence(memory_order_seq_cst); /* the file's head says why */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
}

static void run_serial(int64_t n, int64_t grain, born_range_fn fn, void *ctx) {
    for (int64_t b = 0; b < n; b += grain) fn(b, b + grain < n ? b + grain : n, ctx);
}

void born_parallel_for(int64_t n, int64_t grain, born_range_fn fn, void *ctx) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    int64_t nchunks = (n + grain - 1) / grain;
    ensure_pool();
    pool *p = &the_pool;
    if (nchunks == 1 || inside_job || p->nthreads == 1 || pthread_mutex_trylock(&job_lock) != 0) {
        run_serial(n, grain, fn, ctx);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    p->grain = grain;
    p->nchunks = nchunks;
    atomic_store_explicit(&p->done_chunks, 0, memory_order_relaxed);
    atomic_store_explicit(&p->left, nchunks, memory_order_release); /* opens the job */
    publish(p, false);

    inside_job = true;
    run_chunks(p);
    inside_job = false;

    /* wait for the chunks that workers claimed (none left to claim: run_chunks returned) */
    int spins = 0;
    while (atomic_load_explicit(&p->done_chunks, memory_order_acquire) < nchunks &&
           spins < SPIN_ROUNDS * 4) {
        spins++;
        cpu_relax();
    }
    pthread_mutex_lock(&p->mu);
    while (atomic_load_explicit(&p->done_chunks, memory_order_acquire) < nchunks)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
    pthread_mutex_unlock(&job_lock);
}

void born_parallel_team(born_team_fn fn, void *ctx) {
    ensure_pool();
    pool *p = &the_pool;
    if (inside_job || p->nthreads == 1 || pthread_mutex_trylock(&job_lock) != 0) {
        bool was_inside = inside_job;
        inside_job = true;
        fn(0, 1, ctx);
        inside_job = was_inside;
        return;
    }
    const int n = p->nthreads;
    p->team_fn = fn;
    p->team_ctx = ctx;
    p->team_n = n;
    atomic_store_explicit(&p->team_done, 0, memory_order_relaxed);
    atomic_store_explicit(&p->bar_arrived, 0, memory_order_relaxed);
    publish(p, true);

    inside_job = true;
    fn(0, n, ctx);
    inside_job = false;

    int spins = 0;
    while (atomic_load_explicit(&p->team_done, memory_order_acquire) < n - 1 &&
           spins < SPIN_ROUNDS * 4) {
        spins++;
        cpu_relax();
    }
    pthread_mutex_lock(&p->mu);
    while (atomic_load_explicit(&p->team_done, memory_order_acquire) < n - 1)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
    pthread_mutex_unlock(&job_lock);
}

void born_team_barrier(int nthreads) {
    if (nthreads <= 1) return;
    pool *p = &the_pool;
    /* the phase is read before arriving: the last thread to arrive resets the count, then moves
     * the phase on (release), which the others wait for (acquire) */
    unsigned phase = atomic_load_explicit(&p->bar_phase, memory_order_acquire);
    if (atomic_fetch_add_explicit(&p->bar_arrived, 1, memory_order_acq_rel) + 1 == nthreads) {
        atomic_store_explicit(&p->bar_arrived, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->bar_phase, 1, memory_order_release);
        return;
    }
    int spins = 0;
    while (atomic_load_explicit(&p->bar_phase, memory_order_acquire) == phase) {
        if (++spins < BARRIER_SPINS) {
            cpu_relax();
        } else {
            spins = 0;
            sched_yield();
        }
    }
}
