/* Teams on the thread pool (core/thread_pool.h): every thread runs once with its own index,
 * barriers order the steps (each thread sees the others' writes of the step before), a
 * parallel_for inside a team runs on the calling thread, teams mix with parallel_for jobs, short
 * ones in quick succession too, and a team published as its worker falls asleep wakes it. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "core/thread_pool.h"
#include "test.h"

enum { STEPS = 100, MAXT = 8 };

typedef struct team_ctx {
    atomic_int calls[MAXT];
    atomic_int bad;
    int seen_n;
    int64_t slots[MAXT];
} team_ctx;

static void count_range(int64_t begin, int64_t end, void *arg) {
    atomic_fetch_add((atomic_int *)arg, (int)(end - begin));
}

static void team_body(int tid, int n, void *arg) {
    team_ctx *c = arg;
    if (tid < 0 || tid >= n || n > MAXT) {
        atomic_fetch_add(&c->bad, 1);
        return;
    }
    atomic_fetch_add(&c->calls[tid], 1);
    if (tid == 0) c->seen_n = n;
    for (int step = 0; step < STEPS; step++) {
        c->slots[tid] = step * 1000 + tid; /* plain writes, ordered by the barriers */
        born_team_barrier(n);
        for (int t = 0; t < n; t++)
            if (c->slots[t] != step * 1000 + t) atomic_fetch_add(&c->bad, 1);
        born_team_barrier(n);
    }
    /* nested: runs serially on this thread, all of it */
    atomic_int hits = 0;
    born_parallel_for(1000, 7, count_range, &hits);
    if (atomic_load(&hits) != 1000) atomic_fetch_add(&c->bad, 1);
}

TEST(thread_team_runs_every_thread_once_with_barriers) {
    int before = born_get_num_threads();
    for (int threads = 1; threads <= 4; threads++) {
        CHECK_OK(born_set_num_threads(threads));
        for (int rep = 0; rep < 10; rep++) {
            team_ctx c;
            memset(&c, 0, sizeof c);
            born_parallel_team(team_body, &c);
            CHECK_EQ_INT(c.seen_n, threads);
            for (int t = 0; t < MAXT; t++) CHECK_EQ_INT(atomic_load(&c.calls[t]), t < threads ? 1 : 0);
            CHECK_EQ_INT(atomic_load(&c.bad), 0);
            /* a plain job between teams (late workers must not confuse the two kinds) */
            atomic_int hits = 0;
            born_parallel_for(5000, 3, count_range, &hits);
            CHECK_EQ_INT(atomic_load(&hits), 5000);
        }
    }
    born_set_num_threads(before);
}

static void nested_team(int64_t begin, int64_t end, void *arg) {
    for (int64_t i = begin; i < end; i++) {
        team_ctx c;
        memset(&c, 0, sizeof c);
        born_parallel_team(team_body, &c); /* inside a job: a team of one */
        if (c.seen_n != 1 || atomic_load(&c.calls[0]) != 1 || atomic_load(&c.bad) != 0)
            atomic_fetch_add((atomic_int *)arg, 1);
    }
}

TEST(thread_team_inside_a_job_is_a_team_of_one) {
    int before = born_get_num_threads();
    CHECK_OK(born_set_num_threads(2));
    atomic_int bad = 0;
    born_parallel_for(4, 1, nested_team, &bad);
    CHECK_EQ_INT(atomic_load(&bad), 0);
    born_set_num_threads(before);
}

static void short_team(int tid, int n, void *arg) {
    atomic_int *calls = arg;
    if (tid >= 0 && tid < n && tid < MAXT) atomic_fetch_add(&calls[tid], 1);
    born_team_barrier(n);
}

/* Short jobs and teams in quick succession, more threads than this machine may have cores: a
 * worker that wakes late, or spins past a job it missed, must neither lose a team (its caller
 * would wait for ever), nor run one twice, nor claim a chunk twice (workers learn a job's kind
 * from the pool's generation alone, without a lock). */
TEST(thread_pool_alternates_short_jobs_and_teams) {
    int before = born_get_num_threads();
    for (int threads = 3; threads <= MAXT; threads += 5) {
        CHECK_OK(born_set_num_threads(threads));
        int bad = 0;
        for (int it = 0; it < 3000 && bad == 0; it++) {
            atomic_int hits = 0;
            int64_t n = 1 + (it * 37) % 97;
            born_parallel_for(n, 1 + it % 3, count_range, &hits);
            if (atomic_load(&hits) != n) bad++;
            if (it % 4 == 0) {
                atomic_int calls[MAXT];
                for (int t = 0; t < MAXT; t++) atomic_init(&calls[t], 0);
                born_parallel_team(short_team, calls);
                for (int t = 0; t < MAXT; t++)
                    if (atomic_load(&calls[t]) != (t < threads ? 1 : 0)) bad++;
            }
        }
        CHECK_MSG(bad == 0, "%d threads: a job or a team went wrong", threads);
    }
    born_set_num_threads(before);
}

typedef struct sleeper_run {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool finished;
    long teams, calls;
} sleeper_run;

static void count_team(int tid, int n, void *arg) {
    (void)tid;
    (void)n;
    atomic_fetch_add((atomic_long *)arg, 1);
}

static volatile long idle_sink;

/* Teams of two, each after an idle stretch of a pseudo-random length around the worker's spin
 * before it sleeps, so that many are published just as it goes to sleep. */
static void *publish_as_workers_sleep(void *arg) {
    sleeper_run *r = arg;
    atomic_long calls = 0;
    unsigned s = 1;
    for (long i = 0; i < r->teams; i++) {
        s = s * 1103515245u + 12345u;
        for (long k = 0, w = (s >> 16) % 40000; k < w; k++)
            idle_sink += k;
        born_parallel_team(count_team, &calls);
    }
    pthread_mutex_lock(&r->mu);
    r->calls = atomic_load(&calls);
    r->finished = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* A team published while its worker is falling asleep must still wake it: the publisher writes
 * the generation then reads the sleepers, the worker the reverse, and neither read may pass its
 * write. Under qemu-user on an x86 host aarch64's store-release / load-acquire pair did pass
 * (thread_pool.c's head), and the team's caller waited for ever: in four of five runs of this
 * test with 50,000 teams (now 100,000; about a second natively, 5-15 s under qemu). The teams
 * run on a second thread so that a lost one ends the run with a failure after a minute rather
 * than hanging it (the stuck caller holds the pool for good). */
TEST(thread_pool_wakes_a_worker_falling_asleep) {
    int before = born_get_num_threads();
    CHECK_OK(born_set_num_threads(2));
    sleeper_run r = {
        .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .teams = 100000};
    pthread_t t;
    if (pthread_create(&t, NULL, publish_as_workers_sleep, &r) != 0) {
        CHECK_MSG(false, "could not start the publishing thread");
        born_set_num_threads(before);
        return;
    }
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 60;
    pthread_mutex_lock(&r.mu);
    int rc = 0;
    while (!r.finished && rc == 0)
        rc = pthread_cond_timedwait(&r.cv, &r.mu, &deadline);
    bool finished = r.finished;
    pthread_mutex_unlock(&r.mu);
    if (!finished)
        test_fail_fatal(__FILE__, __LINE__,
                        "a team's worker slept through it: its caller "
                        "still waits after 60 s (and holds the pool)");
    pthread_join(t, NULL);
    CHECK_EQ_INT(r.calls, 2 * r.teams);
    born_set_num_threads(before);
}
