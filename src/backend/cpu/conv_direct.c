/* The direct convolution's driver (conv_direct.h): the tiles of every image over the pool. */
#include "backend/cpu/conv_direct.h"
#include "born/core.h"

typedef struct direct_job {
    const conv_direct *d;
    const float *in;
    float *out;
    int64_t tiles, in_stride, out_stride;
} direct_job;

static void direct_range(int64_t begin, int64_t end, void *arg) {
#if defined(__x86_64__)
    const direct_job *j = arg;
    for (int64_t t = begin; t < end;) {
        int64_t n = t / j->tiles, t0 = t % j->tiles;
        int64_t t1 = j->tiles < t0 + (end - t) ? j->tiles : t0 + (end - t);
        conv_direct d = *j->d;
        d.in = j->in + n * j->in_stride;
        d.out = j->out + n * j->out_stride;
        cpu_conv_direct_f32_avx2(&d, t0, t1);
        t += t1 - t0;
    }
#else
    (void)begin;
    (void)end;
    (void)arg;
#endif
}

void cpu_conv_direct_run(const conv_direct *d, const float *in, float *out, int64_t batch,
                         int64_t in_stride, int64_t out_stride, int64_t min_macs) {
    direct_job j = {d, in, out, cpu_conv_direct_tiles(d), in_stride, out_stride};
    int64_t tasks = batch * j.tiles, chunks = tasks * d->m * d->k * CONV_DIRECT_TILE / min_macs;
    if (chunks < 1) chunks = 1;
    born_parallel_for(tasks, (tasks + chunks - 1) / chunks, direct_range, &j);
}
