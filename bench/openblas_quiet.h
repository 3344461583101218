/* OpenBLAS's idle threads busy-wait for 2^28 cycles (about 80 ms) after each call before they
 * sleep. On a machine with two cores they then take a core from whatever runs next in a
 * benchmark that takes turns (Born's second thread, the FMA peak loop), which halved those
 * figures at two threads. openblas_quiet_reexec runs the benchmark again with
 * OPENBLAS_THREAD_TIMEOUT=17 (2^17 cycles, about 40 us: the order of Born's own pool spinning),
 * which OpenBLAS reads when it loads; it returns only if the variable was already set or the
 * exec failed. */
#ifndef BORN_BENCH_OPENBLAS_QUIET_H
#define BORN_BENCH_OPENBLAS_QUIET_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void openblas_quiet_reexec(char **argv) {
    if (getenv("OPENBLAS_THREAD_TIMEOUT")) return;
    if (setenv("OPENBLAS_THREAD_TIMEOUT", "17", 1) != 0) return;
    execv("/proc/self/exe", argv);
    fprintf(stderr, "note: could not restart with OPENBLAS_THREAD_TIMEOUT=17: its idle threads "
                    "spin for ~80 ms after each call\n");
}

#endif
