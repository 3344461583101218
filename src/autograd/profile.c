/* The opt-in op profile (profile.h): a small table of (name, kind) rows, printed at exit. */
#define _POSIX_C_SOURCE 200809L
#include "autograd/profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { PROF_ROWS = 256, PROF_DEPTH = 64 };

typedef struct prof_row {
    const char *name, *kind;
    double seconds;
    long long calls;
} prof_row;

static prof_row rows[PROF_ROWS];
static int nrows;
static double child_time[PROF_DEPTH];
static int depth;
static int enabled = -1;

static int by_time(const void *a, const void *b) {
    double x = ((const prof_row *)a)->seconds, y = ((const prof_row *)b)->seconds;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void prof_dump(void) {
    double total = 0;
    for (int i = 0; i < nrows; i++) total += rows[i].seconds;
    qsort(rows, (size_t)nrows, sizeof rows[0], by_time);
    fprintf(stderr, "BORN_PROFILE: %-40s %-4s %10s %8s %6s\n", "op", "kind", "ms", "calls", "%");
    for (int i = 0; i < nrows; i++)
        fprintf(stderr, "BORN_PROFILE: %-40s %-4s %10.1f %8lld %6.1f\n", rows[i].name, rows[i].kind,
                rows[i].seconds * 1e3, rows[i].calls, total > 0 ? 100.0 * rows[i].seconds / total : 0.0);
    fprintf(stderr, "BORN_PROFILE: %-40s %-4s %10.1f\n", "total", "", total * 1e3);
}

bool prof_enabled(void) {
    if (enabled < 0) {
        const char *e = getenv("BORN_PROFILE");
        enabled = e && *e && strcmp(e, "0") != 0;
        if (enabled) atexit(prof_dump);
    }
    return enabled;
}

double prof_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void prof_add(const char *name, const char *kind, double seconds) {
    for (int i = 0; i < nrows; i++)
        if (rows[i].name == name && rows[i].kind == kind) {
            rows[i].seconds += seconds;
            rows[i].calls++;
            return;
        }
    for (int i = 0; i < nrows; i++) /* same text from another translation unit */
        if (!strcmp(rows[i].name, name) && !strcmp(rows[i].kind, kind)) {
            rows[i].seconds += seconds;
            rows[i].calls++;
            return;
        }
    if (nrows == PROF_ROWS) return;
    rows[nrows++] = (prof_row){name, kind, seconds, 1};
}

double prof_enter(void) {
    if (depth < PROF_DEPTH) child_time[depth] = 0;
    depth++;
    return prof_now();
}

void prof_leave(const char *name, const char *kind, double start) {
    double dt = prof_now() - start;
    depth--;
    double own = depth < PROF_DEPTH ? dt - child_time[depth] : dt;
    prof_add(name, kind, own);
    if (depth > 0 && depth - 1 < PROF_DEPTH) child_time[depth - 1] += dt;
}
