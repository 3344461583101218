/* Helpers shared by the tensor-file tests. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/tensor_file_test.h"

uint8_t *tft_read_all(const char *path, size_t *len) {
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        uint8_t *grown = realloc(buf, cap * 2);
        if (!grown) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = grown;
        cap *= 2;
    }
    fclose(f);
    *len = n;
    return buf;
}

bool tft_write_all(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

static char dir[256];

static void remove_dir(void) {
    if (dir[0]) rmdir(dir);
}

static const char *scratch(void) {
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/born-test-files-%d", (int)getpid());
        mkdir(dir, 0700);
        atexit(remove_dir);
    }
    return dir;
}

const char *tft_path(const char *name) {
    static char slots[4][512];
    static int next;
    char *p = slots[next++ % 4];
    snprintf(p, 512, "%s/%s", scratch(), name);
    return p;
}

int tft_dir_entries(void) {
    DIR *d = opendir(scratch());
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

born_tensor *tft_pattern(born_dtype dtype, int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    bool fl = born_dtype_is_floating(dtype);
    born_tensor *src = born_empty(fl ? BORN_F64 : BORN_I64, ndim, shape);
    for (int64_t i = 0; i < n; i++) {
        if (fl) {
            born_data_f64(src)[i] = (double)(i - 7) * 0.375;
            continue;
        }
        int64_t v = 0;
        switch (dtype) {
        case BORN_I8: v = (i * 37 + 11) % 256 - 128; break;
        case BORN_U8: v = (i * 37 + 11) % 256; break;
        case BORN_I16: v = (i * 1237 + 11) % 65536 - 32768; break;
        case BORN_I32: v = i * 123457 - 1000000; break;
        case BORN_I64: v = i * INT64_C(1234567890123) - (INT64_C(1) << 40); break;
        case BORN_BOOL: v = i % 3 == 0; break;
        default: break;
        }
        born_data_i64(src)[i] = v;
    }
    if (born_tensor_dtype(src) == dtype) return src;
    born_tensor *t = born_to_dtype(src, dtype);
    born_free(src);
    return t;
}

bool tft_same(born_tensor *a, born_tensor *b) {
    if (!a || !b || born_tensor_dtype(a) != born_tensor_dtype(b) ||
        born_tensor_ndim(a) != born_tensor_ndim(b))
        return false;
    for (int i = 0; i < born_tensor_ndim(a); i++)
        if (born_tensor_shape(a)[i] != born_tensor_shape(b)[i]) return false;
    size_t n = born_dtype_nbytes(born_tensor_dtype(a), born_tensor_numel(a));
    uint8_t *x = malloc(n + 1), *y = malloc(n + 1);
    bool same = x && y && born_copy_to_buffer(a, x, n) == BORN_OK &&
                born_copy_to_buffer(b, y, n) == BORN_OK && memcmp(x, y, n) == 0;
    free(x);
    free(y);
    return same;
}
