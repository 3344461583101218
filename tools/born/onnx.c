/* `born onnx run MODEL --input NAME=FILE.npy ... --output DIR`: runs an ONNX model on NPY inputs
 * and writes one NAME.npy per graph output into DIR (characters other than letters, digits, '.',
 * '-' and '_' in names become '_'). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "born/born.h"
#include "tools/born/commands.h"

static int usage(FILE *f) {
    fprintf(f, "usage: born onnx run MODEL [--input NAME=FILE.npy]... [--output DIR] [--threads N]\n");
    return f == stdout ? 0 : 2;
}

int cmd_onnx(int argc, char **argv) {
    if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) return usage(stdout);
    if (argc < 3 || strcmp(argv[1], "run")) return usage(stderr);
    const char *model_path = argv[2], *outdir = ".";
    const char *names[64];
    born_tensor *inputs[64];
    int n = 0, rc = 1;
    born_scope_begin();
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--output") && i + 1 < argc) {
            outdir = argv[++i];
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            born_set_num_threads(atoi(argv[++i]));
        } else if (!strcmp(argv[i], "--input") && i + 1 < argc) {
            char *spec = argv[++i], *eq = strchr(spec, '=');
            if (!eq || n == 64) {
                born_scope_end();
                return usage(stderr);
            }
            *eq = '\0';
            names[n] = spec;
            inputs[n] = born_npy_read(eq + 1);
            if (!inputs[n]) {
                fprintf(stderr, "born onnx: %s\n", born_last_error());
                born_scope_end();
                return 1;
            }
            n++;
        } else {
            born_scope_end();
            return usage(stderr);
        }
    }
    born_onnx_model *m = born_onnx_load(model_path);
    born_tensor_list *outs = born_tensor_list_new();
    if (!m || !outs || born_onnx_run(m, n, names, inputs, outs) != BORN_OK) {
        fprintf(stderr, "born onnx: %s\n", born_last_error());
        goto done;
    }
    mkdir(outdir, 0777);
    for (int64_t i = 0; i < outs->count; i++) {
        char fname[512], path[4096];
        snprintf(fname, sizeof fname, "%s", outs->items[i].name);
        for (char *p = fname; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                  *p == '.' || *p == '-' || *p == '_'))
                *p = '_';
        snprintf(path, sizeof path, "%s/%s.npy", outdir, fname);
        if (born_npy_write(path, outs->items[i].tensor) != BORN_OK) {
            fprintf(stderr, "born onnx: %s\n", born_last_error());
            goto done;
        }
        char desc[128];
        printf("%s: %s -> %s\n", outs->items[i].name,
               born_tensor_describe(outs->items[i].tensor, desc, sizeof desc), path);
    }
    rc = 0;
done:
    born_tensor_list_free(outs);
    born_onnx_free(m);
    born_scope_end();
    return rc;
}
