/* llama.cpp's intermediate tensors of a forward pass, for comparing with Born's op by op (see
 * compare.py). Evaluates the ids of IDS (text, one id per line) as llama-cpp-python does for the
 * conformance fixtures (n_ctx 1024, n_batch 512, non-flash attention, f16 KV cache): the first
 * NFIRST in one batch, then one at a time; every tensor the graph names (or those in the
 * comma-separated NAMES) goes to OUTDIR/s<step>_<name>.bin (4 int64 sizes, then f32 values; a
 * name seen again in a step gets #2, #3, ...), the logits to OUTDIR/logits.bin. Build against the
 * headers and libraries of the llama.cpp that made the fixtures, e.g.
 *
 *   V=.../llama_cpp_python-0.3.36/vendor/llama.cpp
 *   cc -O1 -o lcdump lcdump.c -I$V/include -I$V/ggml/include -L$LIB -lllama -lggml -lggml-base \
 *       -Wl,-rpath,$LIB
 *   lcdump MODEL.gguf IDS NFIRST OUTDIR [NAMES] */
#include "llama.h"
#include "ggml.h"
#include "ggml-backend.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static const char *outdir; static char filt[4096]; static int step = 0;
static bool want(const char *name) {
    if (!filt[0]) return true;
    char buf[4096]; strcpy(buf, filt);
    for (char *t = strtok(buf, ","); t; t = strtok(NULL, ","))
        if (strcmp(name, t) == 0) return true;
    return false;
}
static bool cb(struct ggml_tensor *t, bool ask, void *ud) {
    (void)ud;
    if (ask) return want(t->name);
    if (t->type != GGML_TYPE_F32 && t->type != GGML_TYPE_F16) return true;
    char path[8192]; snprintf(path, sizeof path, "%s/s%d_%s.bin", outdir, step, t->name);
    for (int k = 2; ; k++) { FILE *e = fopen(path, "rb"); if (!e) break; fclose(e); snprintf(path, sizeof path, "%s/s%d_%s#%d.bin", outdir, step, t->name, k); }
    FILE *f = fopen(path, "wb");
    int64_t ne[4] = {t->ne[0], t->ne[1], t->ne[2], t->ne[3]};
    fwrite(ne, 8, 4, f);
    size_t nb = ggml_nbytes(t);
    char *buf = malloc(nb);
    ggml_backend_tensor_get(t, buf, 0, nb);
    // buf is raw with strides relative to the start: ggml_nbytes covers the view extent
    for (int64_t i3 = 0; i3 < ne[3]; i3++) for (int64_t i2 = 0; i2 < ne[2]; i2++)
    for (int64_t i1 = 0; i1 < ne[1]; i1++) for (int64_t i0 = 0; i0 < ne[0]; i0++) {
        char *p = buf + i0*t->nb[0] + i1*t->nb[1] + i2*t->nb[2] + i3*t->nb[3];
        float v = t->type == GGML_TYPE_F32 ? *(float*)p : ggml_fp16_to_fp32(*(ggml_fp16_t*)p);
        fwrite(&v, 4, 1, f);
    }
    free(buf); fclose(f);
    return true;
}
int main(int argc, char **argv) {
    if (argc < 5) return 2;
    outdir = argv[4]; if (argc > 5) snprintf(filt, sizeof filt, "%s", argv[5]);
    int nfirst = atoi(argv[3]);
    FILE *fi = fopen(argv[2], "r"); int ids[4096], n = 0; while (n < 4096 && fscanf(fi, "%d", &ids[n]) == 1) n++; fclose(fi);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    struct llama_model *m = llama_model_load_from_file(argv[1], mp);
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 1024; cp.n_batch = 512; cp.n_ubatch = 512; cp.n_threads = 1; cp.n_threads_batch = 2;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.cb_eval = cb; cp.cb_eval_user_data = NULL;
    struct llama_context *ctx = llama_init_from_model(m, cp);
    int done = 0;
    int V = llama_vocab_n_tokens(llama_model_get_vocab(m));
    FILE *lf = NULL; { char p[8192]; snprintf(p, sizeof p, "%s/logits.bin", outdir); lf = fopen(p, "wb"); }
    while (done < n) {
        int nb = done == 0 ? nfirst : 1;
        if (done + nb > n) nb = n - done;
        struct llama_batch b = llama_batch_init(nb, 0, 1);
        for (int i = 0; i < nb; i++) { b.token[i] = ids[done+i]; b.pos[i] = done+i; b.n_seq_id[i] = 1; b.seq_id[i][0] = 0; b.logits[i] = 1; }
        b.n_tokens = nb;
        if (llama_decode(ctx, b)) { fprintf(stderr, "decode failed\n"); return 1; }
        fwrite(llama_get_logits(ctx), 4, (size_t)nb * V, lf);
        llama_batch_free(b);
        done += nb; step++;
    }
    fclose(lf);
    fprintf(stderr, "done %d tokens in %d steps\n", n, step);
    return 0;
}
