/* A STREAM-like read bandwidth: T threads sum disjoint parts of a 512 MiB buffer of 64-bit words
 * (far above the L3), best of 5 passes; prints GB/s. Usage: read_bw THREADS. Built and run by
 * bench/llm/run_llama_bench.sh to put the decode rate's bytes/s beside what memory can give. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { WORDS = (512 << 20) / 8 };

typedef struct part {
    const uint64_t *p;
    size_t n;
    uint64_t sum;
} part;

static void *sum_part(void *arg) {
    part *t = arg;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i < t->n; i += 4) {
        s0 += t->p[i];
        s1 += t->p[i + 1];
        s2 += t->p[i + 2];
        s3 += t->p[i + 3];
    }
    t->sum = s0 + s1 + s2 + s3;
    return NULL;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    int nt = argc > 1 ? atoi(argv[1]) : 1;
    if (nt < 1 || nt > 64) nt = 1;
    uint64_t *data = malloc((size_t)WORDS * 8);
    if (!data) return 1;
    for (size_t i = 0; i < WORDS; i++) data[i] = i;
    double best = 1e30;
    uint64_t check = 0;
    for (int rep = 0; rep < 5; rep++) {
        pthread_t th[64];
        part parts[64];
        double t0 = now();
        for (int i = 0; i < nt; i++) {
            parts[i] = (part){data + (size_t)WORDS / nt * i, (size_t)WORDS / nt / 4 * 4, 0};
            pthread_create(&th[i], NULL, sum_part, &parts[i]);
        }
        for (int i = 0; i < nt; i++) {
            pthread_join(th[i], NULL);
            check += parts[i].sum;
        }
        double dt = now() - t0;
        if (dt < best) best = dt;
    }
    printf("%.2f\n", (double)WORDS * 8 / best / 1e9);
    free(data);
    return check == 42 ? 2 : 0;
}
