/* Latency of the real ONNX models (../shared/data/onnx-models) in Born, beside onnxruntime's on
 * the same inputs: run bench/bench_onnx_ort.py first (it prints "name threads ms" lines), then
 *
 *     ./build/bench/bench_onnx [--peer ORT.txt] [MODEL_DIR [FIXTURE_DIR [threads...]]]
 *
 * Each figure is the median of several runs after two warm-up runs, with 1 and 2 threads (or the
 * thread counts given). The inputs are the fixtures of tests/fixtures/onnx/models. Short runs: the
 * machine may be shared, so the medians are what to read. Beside the wall-clock latency, the
 * process's CPU time per run (median): on a loaded machine it is the steadier figure for one thread
 * (it leaves out the time spent waiting for a CPU); with two threads it adds both threads up. Last,
 * the fastest run of each side and their ratio: the figure a loaded machine disturbs least. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "born/born.h"
#include "bench_util.h"
#include "born/onnx.h"

static const struct {
    const char *name, *file;
    int nin, reps;
    const char *inputs[3];
} models[] = {
    {"ppocr_cls", "ch_ppocr_mobile_v2.0_cls_infer.onnx", 1, 40, {"x"}},
    {"ppocr_det", "ch_PP-OCRv4_det_infer.onnx", 1, 15, {"x"}},
    {"silero_vad", "silero_vad_v5.onnx", 3, 100, {"input", "state", "sr"}},
};

/* onnxruntime's median wall and CPU times and fastest run for (name, threads) from the peer file
 * ("name threads ms [cpu_ms [min_ms]]" lines), or -1. */
static double peer(const char *path, const char *name, int threads, double *cpu, double *fast) {
    *cpu = *fast = -1;
    if (!path) return -1;
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[256], nm[64];
    int th;
    double ms, c, mn, r = -1;
    while (fgets(line, sizeof line, f)) {
        int got = sscanf(line, "%63s %d %lf %lf %lf", nm, &th, &ms, &c, &mn);
        if (got >= 3 && !strcmp(nm, name) && th == threads) {
            r = ms;
            *cpu = got >= 4 ? c : -1;
            *fast = got == 5 ? mn : -1;
        }
    }
    fclose(f);
    return r;
}

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    const char *peer_file = NULL;
    int a = 1;
    if (a + 1 < argc && !strcmp(argv[a], "--peer")) {
        peer_file = argv[a + 1];
        a += 2;
    }
    const char *mdir = a < argc ? argv[a++] : "../shared/data/onnx-models";
    const char *fdir = a < argc ? argv[a++] : "tests/fixtures/onnx/models";
    int threads[8] = {1, 2}, nth = 2;
    if (a < argc) {
        nth = 0;
        for (; a < argc && nth < 8; a++) threads[nth++] = atoi(argv[a]);
    }
    printf("%-12s %7s %12s %12s %8s %12s %12s %8s %10s %10s %8s\n", "model", "threads", "born ms",
           "ort ms", "ratio", "born cpu ms", "ort cpu ms", "ratio", "born min", "ort min", "ratio");
    for (size_t k = 0; k < sizeof models / sizeof models[0]; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", mdir, models[k].file);
        born_onnx_model *m = born_onnx_load(path);
        if (!m) {
            printf("%-12s cannot load: %s\n", models[k].name, born_last_error());
            born_clear_error();
            continue;
        }
        born_tensor *ins[3];
        bool ok = true;
        for (int i = 0; i < models[k].nin; i++) {
            snprintf(path, sizeof path, "%s/%s_in_%d_%s.npy", fdir, models[k].name, i,
                     models[k].inputs[i]);
            ins[i] = born_npy_read(path);
            if (!ins[i]) ok = false;
        }
        if (!ok) {
            printf("%-12s cannot read inputs: %s\n", models[k].name, born_last_error());
            born_clear_error();
            born_onnx_free(m);
            continue;
        }
        for (int t = 0; t < nth; t++) {
            born_set_num_threads(threads[t]);
            double times[128], cpus[128];
            int reps = models[k].reps;
            for (int r = -2; r < reps && ok; r++) {
                born_tensor_list *outs = born_tensor_list_new();
                double t0 = now(), c0 = cpu_now();
                ok = born_onnx_run(m, models[k].nin, models[k].inputs, ins, outs) == BORN_OK;
                double dt = now() - t0, dc = cpu_now() - c0;
                born_tensor_list_free(outs);
                if (r >= 0) times[r] = dt, cpus[r] = dc;
            }
            if (!ok) {
                printf("%-12s run failed: %s\n", models[k].name, born_last_error());
                born_clear_error();
                break;
            }
            qsort(times, (size_t)reps, sizeof times[0], cmp_double);
            qsort(cpus, (size_t)reps, sizeof cpus[0], cmp_double);
            double ocpu, omin, ms = 1e3 * times[reps / 2], cpu = 1e3 * cpus[reps / 2];
            double ort = peer(peer_file, models[k].name, threads[t], &ocpu, &omin);
            printf("%-12s %7d %12.3f", models[k].name, threads[t], ms);
            if (ort > 0) printf(" %12.3f %8.2f", ort, ms / ort);
            else printf(" %12s %8s", "-", "-");
            printf(" %12.3f", cpu);
            if (ocpu > 0) printf(" %12.3f %8.2f", ocpu, cpu / ocpu);
            else printf(" %12s %8s", "-", "-");
            printf(" %10.3f", 1e3 * times[0]); /* the fastest run */
            if (omin > 0) printf(" %10.3f %8.2f\n", omin, 1e3 * times[0] / omin);
            else printf(" %10s %8s\n", "-", "-");
            fflush(stdout);
        }
        for (int i = 0; i < models[k].nin; i++) born_free(ins[i]);
        born_onnx_free(m);
    }
    return 0;
}
