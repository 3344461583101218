/* The direct convolution's driver (conv_direct.h): the tiles of every image over the pool. */
#include "backend/cpu/conv_direct.h"
#include "born/core.h"

typedef struct direct_job {
    const conv_direct *d;
    const float *in;
    float *out;
    int64_t tiles, in_stride, out_stride, batch;
    int64_t panels_per_task; /* > 0: tasks are ranges of panels over every tile and image */
} direct_job;

static void direct_range(int64_t begin, int64_t end, void *arg) {
#if defined(__x86_64__)
    const direct_job *j = arg;
    if (j->panels_per_task > 0) {
        const int64_t npan = (j->d->m + 5) / 6;
        conv_direct d = *j->d;
        d.q0 = begin * j->panels_per_task;
        d.q1 = end * j->panels_per_task < npan ? end * j->panels_per_task : npan;
        for (int64_t n = 0; n < j->batch && d.q0 < d.q1; n++) {
            d.in = j->in + n * j->in_stride;
            d.out = j->out + n * j->out_stride;
            cpu_conv_direct_f32_avx2(&d, 0, j->tiles);
        }
        return;
    }
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
    direct_job j = {d, in, out, cpu_conv_direct_tiles(d), in_stride, out_stride, batch, 0};
    int64_t tasks = batch * j.tiles, chunks = tasks * d->m * d->k * CONV_DIRECT_TILE / min_macs;
    int64_t threads = born_get_num_threads();
    if (chunks > 1 && threads > 1) /* whole rounds of the threads: none waits on a last chunk */
        chunks = (chunks + threads - 1) / threads * threads;
    if (chunks < 1) chunks = 1;
    const int64_t npan = (d->m + 5) / 6;
    if (chunks > 1 && tasks < 4 * chunks && npan >= chunks) {
        /* few tiles for the chunks (small planes): split the output channels instead */
        j.panels_per_task = (npan + chunks - 1) / chunks;
        int64_t ntask = (npan + j.panels_per_task - 1) / j.panels_per_task;
        born_parallel_for(ntask, 1, direct_range, &j);
        return;
    }
    born_parallel_for(tasks, (tasks + chunks - 1) / chunks, direct_range, &j);
}
