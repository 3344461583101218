/* `born info FILE`: what a tensor file holds: its format, each tensor's name, dtype, shape and
 * size, the totals, the metadata and (for .born) the config. Reads .born, safetensors and GGUF
 * (info_gguf.c) through the header only (the data is mapped, not read, unless --verify), and
 * .npy and IDX files. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "born/born.h"
#include "tools/born/commands.h"

static const char *human(uint64_t bytes, char *buf, size_t size) {
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 4) v /= 1024, u++;
    if (u == 0)
        snprintf(buf, size, "%" PRIu64 " B", bytes);
    else
        snprintf(buf, size, "%.1f %s", v, units[u]);
    return buf;
}

static void shape_text(int ndim, const int64_t *shape, char *buf, size_t size) {
    size_t n = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, i ? ", %" PRId64 : "%" PRId64, shape[i]);
    if (n < size) snprintf(buf + n, size - n, "]");
}

/* Reads the first bytes of path; returns how many. */
static size_t peek(const char *path, uint8_t *buf, size_t n) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t got = fread(buf, 1, n, f);
    fclose(f);
    return got;
}

static int info_single(const char *path, const char *format, born_tensor *t) {
    if (!t) {
        fprintf(stderr, "born info: %s\n", born_last_error());
        return 1;
    }
    char sh[256], hb[32];
    shape_text(born_tensor_ndim(t), born_tensor_shape(t), sh, sizeof sh);
    uint64_t bytes = (uint64_t)born_tensor_numel(t) * born_dtype_size(born_tensor_dtype(t));
    printf("%s: %s, 1 tensor\n", path, format);
    printf("  %-6s %-20s %s\n", born_dtype_name(born_tensor_dtype(t)), sh, human(bytes, hb, sizeof hb));
    born_free(t);
    return 0;
}

int cmd_info(int argc, char **argv) {
    bool verify = false;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--verify") == 0)
            verify = true;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: born info [--verify] FILE\n\nShows the tensors of a .born, safetensors, "
                   "GGUF, .npy or IDX file (and a GGUF file's metadata). --verify checks a .born "
                   "file's data checksum whatever its size.\n");
            return 0;
        } else if (!path)
            path = argv[i];
        else
            path = NULL, i = argc;
    }
    if (!path) {
        fprintf(stderr, "usage: born info [--verify] FILE\n");
        return 2;
    }
    size_t plen = strlen(path);
    if (plen > 5 && strcmp(path + plen - 5, ".onnx") == 0) return info_onnx(path);
    uint8_t head[8] = {0};
    size_t got = peek(path, head, sizeof head);
    if (got >= 6 && memcmp(head, "\x93NUMPY", 6) == 0)
        return info_single(path, "NPY", born_npy_read(path));
    if ((got >= 4 && head[0] == 0 && head[1] == 0 && head[3] >= 1 && head[3] <= 8 &&
         (head[2] == 0x08 || head[2] == 0x09 || (head[2] >= 0x0B && head[2] <= 0x0E))) ||
        (got >= 2 && head[0] == 0x1f && head[1] == 0x8b))
        return info_single(path, "IDX", born_idx_read(path));

    born_file_params params = born_file_default_params();
    if (verify) params.verify = BORN_CHECKSUM_ALWAYS;
    born_file *f = born_file_open(path, &params);
    if (!f) {
        fprintf(stderr, "born info: %s\n", born_last_error());
        return 1;
    }
    if (born_file_get_format(f) == BORN_FORMAT_GGUF) {
        FILE *gp = fopen(path, "rb");
        uint64_t size = 0;
        if (gp && fseek(gp, 0, SEEK_END) == 0) size = (uint64_t)ftell(gp);
        if (gp) fclose(gp);
        int rc = info_gguf(path, f, size);
        born_file_close(f);
        return rc;
    }
    bool is_born = born_file_get_format(f) == BORN_FORMAT_BORN;
    int64_t n = born_file_count(f);
    uint64_t total = 0;
    size_t name_w = 4;
    for (int64_t i = 0; i < n; i++) {
        born_tensor_info ti;
        born_file_tensor_info(f, i, &ti);
        total += ti.nbytes;
        if (strlen(ti.name) > name_w) name_w = strlen(ti.name);
    }
    if (name_w > 60) name_w = 60;
    char hb[32], hf[32];
    FILE *fp = fopen(path, "rb");
    uint64_t file_size = 0;
    if (fp && fseek(fp, 0, SEEK_END) == 0) file_size = (uint64_t)ftell(fp);
    if (fp) fclose(fp);
    printf("%s: %s, %" PRId64 " tensor%s, %s of tensor data, %s file\n", path,
           is_born ? ".born version 1" : "safetensors", n, n == 1 ? "" : "s",
           human(total, hb, sizeof hb), human(file_size, hf, sizeof hf));
    printf("  %-*s  %-6s %-24s %s\n", (int)name_w, "name", "dtype", "shape", "bytes");
    for (int64_t i = 0; i < n; i++) {
        born_tensor_info ti;
        born_file_tensor_info(f, i, &ti);
        char sh[256];
        shape_text(ti.ndim, ti.shape, sh, sizeof sh);
        printf("  %-*s  %-6s %-24s %" PRIu64 "\n", (int)name_w, ti.name, ti.dtype_name, sh,
               ti.nbytes);
    }
    const born_string_map *meta = born_file_metadata(f);
    if (meta->count) {
        printf("metadata:\n");
        for (int64_t i = 0; i < meta->count; i++)
            printf("  %s: %s\n", meta->items[i].key, meta->items[i].value);
    }
    const born_json_value *config = born_file_config(f);
    if (config) {
        born_json_writer *j = born_json_writer_new(NULL);
        born_json_write_value(j, config);
        const char *text = born_json_writer_text(j, NULL);
        printf("config: %s\n", text ? text : "?");
        born_json_writer_free(j);
    }
    int rc = 0;
    if (is_born) {
        if (verify || total <= params.verify_limit) {
            if (born_file_verify(f) == BORN_OK) {
                printf("checksum: ok (SHA-256 of the data section)\n");
            } else {
                printf("checksum: MISMATCH\n");
                fprintf(stderr, "born info: %s\n", born_last_error());
                rc = 1;
            }
        } else {
            printf("checksum: not checked (large file; use --verify)\n");
        }
    }
    born_file_close(f);
    return rc;
}
