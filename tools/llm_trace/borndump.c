/* Born's intermediate tensors of a forward pass under llama.cpp's names (through llm_trace_hook),
 * for compare.py: the same evaluation as lcdump.c (the first NFIRST ids in one batch, then one at
 * a time), files OUTDIR/s<step>_<name>-<layer>.bin and OUTDIR/logits.bin. KVF32=1 uses an f32
 * cache, NOTRACE=1 writes only the logits. Build against libborn.a (internal headers):
 *
 *   cc -O2 -std=c11 -D_DEFAULT_SOURCE -Iinclude -Isrc -o borndump tools/llm_trace/borndump.c \
 *       build/libborn.a -lm -pthread
 *   borndump MODEL.gguf IDS NFIRST OUTDIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "born/born.h"
#include "born/llm.h"
#include "llm/model/model_internal.h"
static const char *outdir; static int step;
static void hook(const char *name, int32_t layer, const float *x, int64_t rows, int64_t cols) {
    char path[8192];
    if (layer >= 0) snprintf(path, sizeof path, "%s/s%d_%s-%d.bin", outdir, step, name, layer);
    else snprintf(path, sizeof path, "%s/s%d_%s.bin", outdir, step, name);
    FILE *f = fopen(path, "wb");
    int64_t ne[4] = {cols, rows, 1, 1};
    fwrite(ne, 8, 4, f); fwrite(x, 4, (size_t)(rows * cols), f); fclose(f);
}
int main(int argc, char **argv) {
    if (argc < 5) return 2;
    outdir = argv[4];
    int nfirst = atoi(argv[3]);
    FILE *fi = fopen(argv[2], "r"); int ids[4096], n = 0; while (n < 4096 && fscanf(fi, "%d", &ids[n]) == 1) n++; fclose(fi);
    born_model *m = born_model_load(argv[1], NULL);
    if (!m) { fprintf(stderr, "%s\n", born_last_error()); return 1; }
    born_session_params sp = born_session_default_params(); sp.n_ctx = 1024;
    if (getenv("KVF32")) sp.kv_type = BORN_F32;
    born_session *s = born_session_new(m, &sp);
    int V = born_model_n_vocab(m);
    float *lg = malloc((size_t)512 * V * 4);
    if (!getenv("NOTRACE")) llm_trace_hook = hook;
    char p[8192]; snprintf(p, sizeof p, "%s/logits.bin", outdir); FILE *lf = fopen(p, "wb");
    int done = 0;
    while (done < n) {
        int nb = done == 0 ? nfirst : 1; if (done + nb > n) nb = n - done;
        if (born_session_eval(s, ids + done, nb, lg, true) != BORN_OK) { fprintf(stderr, "%s\n", born_last_error()); return 1; }
        fwrite(lg, 4, (size_t)nb * V, lf);
        done += nb; step++;
    }
    fclose(lf);
    fprintf(stderr, "done %d tokens in %d steps\n", n, step);
    return 0;
}
