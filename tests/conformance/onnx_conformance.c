/* The ONNX backend node tests (Debian's libonnx-testdata, or the onnx wheel's copy): for every
 * test folder, load model.onnx, feed test_data_set_N/input_N.pb, and compare with output_N.pb
 * (relative 1e-3, absolute 1e-7, as onnx's backend runner). Prints PASS/FAIL per test with the
 * reason, then the pass rate.
 *
 *     onnx_conformance DIR [FILTER]     (DIR holds test_* folders) */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "born/born.h"
#include "born/onnx.h"

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* Compares got with want; writes a reason on mismatch. */
static bool same(born_tensor *got, born_tensor *want, char *why, size_t n) {
    char a[128], b[128];
    if (born_tensor_ndim(got) != born_tensor_ndim(want) ||
        memcmp(born_tensor_shape(got), born_tensor_shape(want),
               (size_t)born_tensor_ndim(got) * sizeof(int64_t)) != 0) {
        snprintf(why, n, "shape %s, expected %s", born_tensor_describe(got, a, sizeof a),
                 born_tensor_describe(want, b, sizeof b));
        return false;
    }
    if (born_tensor_dtype(got) != born_tensor_dtype(want)) {
        snprintf(why, n, "dtype %s, expected %s", born_dtype_name(born_tensor_dtype(got)),
                 born_dtype_name(born_tensor_dtype(want)));
        return false;
    }
    born_scope_begin();
    born_tensor *g = born_contiguous(born_to_dtype(got, BORN_F64));
    born_tensor *w = born_contiguous(born_to_dtype(want, BORN_F64));
    bool ok = g && w;
    if (!ok) snprintf(why, n, "cannot compare: %s", born_last_error());
    int64_t cnt = ok ? born_tensor_numel(g) : 0;
    double rtol = 1e-3, atol = 1e-7;
    if (born_tensor_dtype(want) == BORN_F16 || born_tensor_dtype(want) == BORN_BF16) atol = 1e-3;
    if (born_tensor_dtype(want) == BORN_BF16) rtol = 1.0 / 64; /* two bf16 ulps, as onnx's runner */
    for (int64_t i = 0; i < cnt && ok; i++) {
        double x = born_data_f64(g)[i], y = born_data_f64(w)[i];
        if (isnan(x) && isnan(y)) continue;
        if (x == y) continue;
        if (!(fabs(x - y) <= atol + rtol * fabs(y))) {
            snprintf(why, n, "element %lld is %.9g, expected %.9g", (long long)i, x, y);
            ok = false;
        }
    }
    born_scope_end();
    return ok;
}

/* The node tests of onnx before 1.15 store bfloat16 data as UINT16 tensors of the values' bits
 * (Born reads those as i32); where the model declares bfloat16 (onnx_type 16), such a tensor is
 * turned back into the bf16 values its bits encode. Other tensors are returned as they are. */
static born_tensor *legacy_bf16(born_tensor *t, int onnx_type) {
    if (!t || onnx_type != 16 || born_tensor_dtype(t) != BORN_I32) return t;
    born_tensor *src = born_contiguous(t);
    born_tensor *r = src ? born_empty(BORN_BF16, born_tensor_ndim(t), born_tensor_shape(t)) : NULL;
    if (!r) return t;
    const int32_t *v = born_data_ptr(src);
    uint16_t *o = born_data_ptr(r);
    for (int64_t i = 0; i < born_tensor_numel(t); i++) {
        if (v[i] < 0 || v[i] > 0xffff) return t; /* not 16-bit patterns */
        o[i] = (uint16_t)v[i];
    }
    return r;
}

static bool run_test(const char *dir, char *why, size_t n) {
    char path[8400];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    born_onnx_model *m = born_onnx_load(path);
    if (!m) {
        snprintf(why, n, "load: %s", born_last_error());
        born_clear_error();
        return false;
    }
    bool ok = true;
    for (int set = 0; ok; set++) {
        char sd[4200];
        snprintf(sd, sizeof sd, "%s/test_data_set_%d", dir, set);
        if (!exists(sd)) break;
        born_scope_begin();
        born_tensor *ins[64];
        const char *names[64];
        int nin = born_onnx_input_count(m);
        for (int i = 0; i < nin && ok && i < 64; i++) {
            born_onnx_value_info vi;
            born_onnx_input_info(m, i, &vi);
            names[i] = vi.name;
            snprintf(path, sizeof path, "%s/input_%d.pb", sd, i);
            ins[i] = legacy_bf16(born_onnx_read_tensor_pb(path, NULL), vi.onnx_type);
            if (!ins[i]) {
                snprintf(why, n, "input %d: %s", i, born_last_error());
                ok = false;
            }
        }
        born_tensor_list *outs = born_tensor_list_new();
        if (ok && born_onnx_run(m, nin, names, ins, outs) != BORN_OK) {
            snprintf(why, n, "run: %s", born_last_error());
            ok = false;
        }
        for (int i = 0; ok && i < born_onnx_output_count(m); i++) {
            snprintf(path, sizeof path, "%s/output_%d.pb", sd, i);
            born_onnx_value_info vo;
            born_onnx_output_info(m, i, &vo);
            born_tensor *want = legacy_bf16(born_onnx_read_tensor_pb(path, NULL), vo.onnx_type);
            if (!want) {
                snprintf(why, n, "output %d: %s", i, born_last_error());
                ok = false;
                break;
            }
            if (!same(outs->items[i].tensor, want, why, n)) {
                char tmp[512];
                snprintf(tmp, sizeof tmp, "output %d: %s", i, why);
                snprintf(why, n, "%s", tmp);
                ok = false;
            }
        }
        born_tensor_list_free(outs);
        born_clear_error();
        born_scope_end();
    }
    born_onnx_free(m);
    return ok;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: onnx_conformance DIR [FILTER]\n");
        return 2;
    }
    DIR *d = opendir(argv[1]);
    if (!d) {
        fprintf(stderr, "onnx_conformance: cannot open %s\n", argv[1]);
        return 2;
    }
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "test_", 5)) continue;
        if (argc > 2 && !strstr(e->d_name, argv[2])) continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 256;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) return 2;
            names = nn;
        }
        names[count++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, count, sizeof *names, cmp_names);
    size_t pass = 0;
    for (size_t i = 0; i < count; i++) {
        char dir[4000], why[1024] = "";
        snprintf(dir, sizeof dir, "%s/%s", argv[1], names[i]);
        bool ok = run_test(dir, why, sizeof why);
        pass += ok;
        if (ok) printf("PASS %s\n", names[i]);
        else printf("FAIL %s: %s\n", names[i], why);
        fflush(stdout);
        free(names[i]);
    }
    free(names);
    printf("onnx node tests: %zu passed, %zu failed of %zu (%.1f%%)\n", pass, count - pass, count,
           count ? 100.0 * (double)pass / (double)count : 0.0);
    /* the whole suite (no filter) must pass at least 90% of its tests */
    if (argc <= 2 && pass * 10 < count * 9) {
        fprintf(stderr, "onnx_conformance: pass rate under the 90%% target\n");
        return 1;
    }
    return 0;
}
