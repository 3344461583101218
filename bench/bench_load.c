/* Loading large tensor files: time to the first tensor and the memory it costs, Born beside the
 * Python safetensors package on the same file in the same run.
 *
 * Writes a ~1 GiB .born file and a ~1 GiB safetensors file (16 f32 tensors of 64 MiB) in /tmp
 * (or $BENCH_DIR), then, each in a fresh process so that RSS figures are its own:
 *   - Born: born_file_open + born_file_get of one tensor + touching every element of it,
 *     for the .born and the safetensors file;
 *   - Python: safetensors.safe_open(..., "np").get_tensor (lazy) and safetensors.numpy.load_file
 *     (reads everything), then the same sum over the same tensor;
 * "cold" runs first drop the file from the page cache (posix_fadvise DONTNEED on the clean file,
 * which touches no other file), "warm" runs find it cached. RSS is VmRSS after minus before the
 * load (the interpreter's and the program's own memory excluded). Opening should be O(header):
 * the RSS after open stays near zero, and touching one tensor adds that tensor's 64 MiB.
 * Each figure is the median of 3 runs. Also: the writers' throughput and the SHA-256 check of the
 * whole .born data section (what BORN_CHECKSUM_ALWAYS costs).
 *
 *     make bench && ./build/bench/bench_load [keep]     (keep: leave the files in place) */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "born/born.h"
#include "bench_util.h"

#define NTENSORS 16
#define ELEMS ((int64_t)16 << 20) /* 64 MiB of f32 */
#define REPS 3

/* This process's resident set in MiB. */
static double rss_mib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) kb = atof(line + 6);
    if (f) fclose(f);
    return kb / 1024.0;
}

static void evict(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return;
    fdatasync(fd);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
}

typedef struct result {
    double open_ms, first_ms, rss_open, rss_touch, sum;
} result;

/* In a child process: open, take tensor t00, touch it. */
static result born_once(const char *path) {
    int fds[2];
    result r = {0};
    if (pipe(fds) != 0) return r;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        born_init();
        double rss0 = rss_mib();
        double t0 = now();
        born_file *f = born_file_open(path, NULL);
        double t1 = now();
        r.rss_open = rss_mib() - rss0;
        born_tensor *t = f ? born_file_get(f, "t00") : NULL;
        if (!t) fprintf(stderr, "bench_load: %s\n", born_last_error());
        double s = 0;
        const float *p = t ? born_data_f32(t) : NULL;
        for (int64_t i = 0; p && i < ELEMS; i++) s += p[i];
        double t2 = now();
        r.open_ms = (t1 - t0) * 1e3;
        r.first_ms = (t2 - t0) * 1e3;
        r.rss_touch = rss_mib() - rss0;
        r.sum = s;
        if (write(fds[1], &r, sizeof r) != (ssize_t)sizeof r) _exit(1);
        born_free(t);
        born_file_close(f);
        _exit(0);
    }
    close(fds[1]);
    if (read(fds[0], &r, sizeof r) != (ssize_t)sizeof r) memset(&r, 0, sizeof r);
    close(fds[0]);
    waitpid(pid, NULL, 0);
    return r;
}

/* The Python peer; prints "open_ms first_ms rss_open rss_touch sum". */
static const char *py_script =
    "import sys, time\n"
    "import numpy as np\n"
    "import safetensors, safetensors.numpy\n"
    "def rss():\n"
    "    for l in open('/proc/self/status'):\n"
    "        if l.startswith('VmRSS:'): return float(l.split()[1]) / 1024\n"
    "path, mode = sys.argv[1], sys.argv[2]\n"
    "r0 = rss(); t0 = time.perf_counter()\n"
    "if mode == 'safe_open':\n"
    "    f = safetensors.safe_open(path, 'np'); f.__enter__()\n"
    "    t1 = time.perf_counter(); r1 = rss()\n"
    "    t = f.get_tensor('t00')\n"
    "else:\n"
    "    d = safetensors.numpy.load_file(path)\n"
    "    t1 = time.perf_counter(); r1 = rss()\n"
    "    t = d['t00']\n"
    "s = float(np.sum(t, dtype=np.float64))\n"
    "t2 = time.perf_counter()\n"
    "print((t1 - t0) * 1e3, (t2 - t0) * 1e3, r1 - r0, rss() - r0, s)\n";

static result python_once(const char *script_path, const char *path, const char *mode, bool *ok) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "python3 %s %s %s 2>/dev/null", script_path, path, mode);
    result r = {0};
    FILE *p = popen(cmd, "r");
    *ok = p && fscanf(p, "%lf %lf %lf %lf %lf", &r.open_ms, &r.first_ms, &r.rss_open,
                      &r.rss_touch, &r.sum) == 5;
    if (p) pclose(p);
    return r;
}

typedef struct row {
    const char *what;
    double v[4]; /* open ms, first ms, rss open, rss touch */
} row;

static void summarize(const char *what, result *rs, row *out) {
    double a[REPS], b[REPS], c[REPS], d[REPS];
    for (int i = 0; i < REPS; i++)
        a[i] = rs[i].open_ms, b[i] = rs[i].first_ms, c[i] = rs[i].rss_open, d[i] = rs[i].rss_touch;
    out->what = what;
    out->v[0] = median(a, REPS);
    out->v[1] = median(b, REPS);
    out->v[2] = median(c, REPS);
    out->v[3] = median(d, REPS);
}

int main(int argc, char **argv) {
    bool keep = argc > 1 && strcmp(argv[1], "keep") == 0;
    const char *dir = getenv("BENCH_DIR") ? getenv("BENCH_DIR") : "/tmp";
    char born_path[512], st_path[512], py_path[512];
    snprintf(born_path, sizeof born_path, "%s/bench_load_%d.born", dir, (int)getpid());
    snprintf(st_path, sizeof st_path, "%s/bench_load_%d.safetensors", dir, (int)getpid());
    snprintf(py_path, sizeof py_path, "%s/bench_load_%d.py", dir, (int)getpid());
    FILE *py = fopen(py_path, "w");
    if (py) {
        fputs(py_script, py);
        fclose(py);
    }

    /* the files: 16 tensors of 64 MiB (one buffer, written 16 times under 16 names) */
    born_tensor *t = born_empty(BORN_F32, BORN_DIMS(ELEMS));
    float *p = born_data_f32(t);
    for (int64_t i = 0; i < ELEMS; i++) p[i] = (float)(i % 1000) * 0.5f;
    born_tensor_list *list = born_tensor_list_new();
    for (int i = 0; i < NTENSORS; i++) {
        char name[16];
        snprintf(name, sizeof name, "t%02d", i);
        born_tensor_list_add(list, name, t);
    }
    double gib = (double)NTENSORS * (double)ELEMS * 4 / (1 << 30);
    double t0 = now();
    if (born_file_save(born_path, list, NULL) != BORN_OK) {
        fprintf(stderr, "bench_load: %s\n", born_last_error());
        return 1;
    }
    double t1 = now();
    if (born_safetensors_save(st_path, list, NULL) != BORN_OK) {
        fprintf(stderr, "bench_load: %s\n", born_last_error());
        return 1;
    }
    double t2 = now();
    born_tensor_list_free(list);
    born_free(t);
    printf("files: %.2f GiB each (%d x 64 MiB f32) in %s\n", gib, NTENSORS, dir);
    printf("write (incl. fsync): .born %.2f GB/s, safetensors %.2f GB/s\n",
           gib * 1.073741824 / (t1 - t0), gib * 1.073741824 / (t2 - t1));

    /* the checksum of the whole data section */
    born_file_params fp = born_file_default_params();
    fp.verify = BORN_CHECKSUM_NEVER;
    born_file *f = born_file_open(born_path, &fp);
    double t3 = now();
    born_status vs = born_file_verify(f);
    double t4 = now();
    born_file_close(f);
    printf("SHA-256 of the .born data section (warm cache): %.2f s, %.2f GB/s (%s)\n\n", t4 - t3,
           gib * 1.073741824 / (t4 - t3), vs == BORN_OK ? "ok" : "MISMATCH");

    row rows[12];
    int nrows = 0;
    bool have_python = true;
    double ref_sum = 0;
    for (int cold = 1; cold >= 0; cold--) {
        const char *paths[2] = {born_path, st_path};
        const char *names[2][2] = {{"Born, .born (warm)", "Born, safetensors (warm)"},
                                   {"Born, .born (cold)", "Born, safetensors (cold)"}};
        for (int k = 0; k < 2; k++) {
            result rs[REPS];
            for (int i = 0; i < REPS; i++) {
                if (cold) evict(paths[k]);
                rs[i] = born_once(paths[k]);
            }
            ref_sum = rs[0].sum;
            summarize(names[cold][k], rs, &rows[nrows++]);
        }
        const char *modes[2] = {"safe_open", "load_file"};
        const char *pnames[2][2] = {
            {"Python safe_open + get_tensor (warm)", "Python numpy.load_file (warm)"},
            {"Python safe_open + get_tensor (cold)", "Python numpy.load_file (cold)"}};
        for (int k = 0; k < 2 && have_python; k++) {
            result rs[REPS];
            for (int i = 0; i < REPS && have_python; i++) {
                if (cold) evict(st_path);
                rs[i] = python_once(py_path, st_path, modes[k], &have_python);
                if (have_python && rs[i].sum != ref_sum)
                    printf("note: Python's sum %.17g differs from Born's %.17g\n", rs[i].sum,
                           ref_sum);
            }
            if (have_python) summarize(pnames[cold][k], rs, &rows[nrows++]);
        }
    }
    printf("%-40s %10s %14s %12s %14s\n", "load one 64 MiB tensor of a 1 GiB file", "open ms",
           "1st tensor ms", "RSS open MiB", "RSS touch MiB");
    for (int i = 0; i < nrows; i++)
        printf("%-40s %10.2f %14.1f %12.1f %14.1f\n", rows[i].what, rows[i].v[0], rows[i].v[1],
               rows[i].v[2], rows[i].v[3]);
    if (!have_python)
        printf("(the Python peer did not run: `pip install safetensors numpy` for its figures)\n");
    printf("\n(1st tensor ms = open + get + summing all 16 Mi elements; RSS = VmRSS after - before)\n");
    remove(py_path);
    if (!keep) {
        remove(born_path);
        remove(st_path);
    }
    return 0;
}
