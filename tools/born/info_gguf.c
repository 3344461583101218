/* `born info FILE.gguf`: the version and alignment, every metadata key with its type and value
 * (long strings and arrays abbreviated: tokens show as [49152 strings: '<|endoftext|>', ...]),
 * every tensor with its ggml type, Born shape and size, and the totals. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "born/born.h"
#include "tools/born/commands.h"

#define LINE 96 /* characters of a value shown before "..." */

/* A bounded text buffer: appends stop at LINE characters and set `full`. */
typedef struct text {
    char s[LINE + 64];
    size_t n;
    bool full;
} text;

__attribute__((format(printf, 2, 3))) static void add(text *t, const char *fmt, ...) {
    if (t->full) return;
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    if (t->n + (size_t)k > LINE) {
        t->full = true;
        return;
    }
    memcpy(t->s + t->n, tmp, (size_t)k + 1);
    t->n += (size_t)k;
}

/* The shortest decimal that reads back as the same float (digits up to max_digits). */
static void add_real(text *t, double v, bool single) {
    char buf[40];
    if (v == (double)(int64_t)v && v > -1e15 && v < 1e15 && (v != 0 || !signbit(v))) {
        add(t, "%.0f", v); /* 100000 rather than 1e+05 */
        return;
    }
    for (int p = 1; p <= (single ? 9 : 17); p++) {
        snprintf(buf, sizeof buf, "%.*g", p, v);
        double back = strtod(buf, NULL);
        if (single ? (float)back == (float)v : back == v) break;
    }
    add(t, "%s", buf);
}

/* A string, quoted, with control characters and bytes that are not printable escaped; at most
 * `max` bytes of it. */
static void add_string(text *t, const char *s, size_t len, char quote, size_t max) {
    add(t, "%c", quote);
    for (size_t i = 0; i < len && i < max && !t->full; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            add(t, "\\n");
        else if (c == '\t')
            add(t, "\\t");
        else if (c == (unsigned char)quote || c == '\\')
            add(t, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            add(t, "\\x%02x", c);
        else
            add(t, "%c", c);
    }
    add(t, "%c", quote);
    if (len > max) add(t, "...");
}

static const char *plural(born_gguf_type type, uint64_t n) {
    switch (type) {
    case BORN_GGUF_STRING: return n == 1 ? "string" : "strings";
    case BORN_GGUF_ARRAY: return n == 1 ? "array" : "arrays";
    case BORN_GGUF_BOOL: return n == 1 ? "bool" : "bools";
    default: return born_gguf_type_name(type);
    }
}

static void add_value(text *t, const born_gguf_value *v, bool top) {
    switch (v->type) {
    case BORN_GGUF_F32:
    case BORN_GGUF_F64: {
        double d = 0;
        born_gguf_value_f64(v, &d);
        add_real(t, d, v->type == BORN_GGUF_F32);
        break;
    }
    case BORN_GGUF_BOOL: {
        bool b = false;
        born_gguf_value_bool(v, &b);
        add(t, "%s", b ? "true" : "false");
        break;
    }
    case BORN_GGUF_STRING: {
        const char *s = NULL;
        size_t len = 0;
        born_gguf_value_string(v, &s, &len);
        add_string(t, s, len, top ? '"' : '\'', top ? 60 : 24);
        break;
    }
    case BORN_GGUF_ARRAY: {
        add(t, "[%" PRIu64 " %s%s", v->count, plural(v->elem_type, v->count), v->count ? ": " : "");
        for (uint64_t i = 0; i < v->count && !t->full; i++) {
            born_gguf_value e;
            if (born_gguf_array_at(v, i, &e) != BORN_OK) break;
            text item = {.n = 0};
            add_value(&item, &e, false);
            if (item.full || t->n + item.n + 8 > LINE) {
                add(t, "...");
                break;
            }
            add(t, "%s%s", item.s, i + 1 < v->count ? ", " : "");
        }
        t->full = false;
        add(t, "]");
        break;
    }
    case BORN_GGUF_U64: {
        uint64_t u = 0;
        born_gguf_value_u64(v, &u);
        add(t, "%" PRIu64, u);
        break;
    }
    default: {
        int64_t i = 0;
        born_gguf_value_i64(v, &i);
        add(t, "%" PRId64, i);
        break;
    }
    }
}

static const char *human_size(uint64_t bytes, char *buf, size_t size) {
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

int info_gguf(const char *path, born_file *f, uint64_t file_size) {
    int64_t n = born_file_count(f), nkv = born_gguf_kv_count(f);
    uint64_t total = 0, params = 0;
    size_t name_w = 4, key_w = 3;
    int64_t per_type[64] = {0};
    for (int64_t i = 0; i < n; i++) {
        born_tensor_info ti;
        born_file_tensor_info(f, i, &ti);
        total += ti.nbytes;
        uint64_t numel = 1;
        for (int d = 0; d < ti.ndim; d++) numel *= (uint64_t)ti.shape[d];
        params += numel;
        int type = born_gguf_tensor_type(f, i);
        if (type >= 0 && type < 64) per_type[type]++;
        if (strlen(ti.name) > name_w) name_w = strlen(ti.name);
    }
    for (int64_t i = 0; i < nkv; i++)
        if (strlen(born_gguf_kv_key(f, i)) > key_w) key_w = strlen(born_gguf_kv_key(f, i));
    if (name_w > 48) name_w = 48;
    if (key_w > 44) key_w = 44;
    char hb[32], hf[32];
    printf("%s: GGUF version %" PRIu32 ", alignment %" PRIu32 ", %" PRId64 " tensor%s, %s of "
           "tensor data, %s file\n", path, born_gguf_version(f), born_gguf_alignment(f), n,
           n == 1 ? "" : "s", human_size(total, hb, sizeof hb),
           human_size(file_size, hf, sizeof hf));
    printf("metadata (%" PRId64 " key%s):\n", nkv, nkv == 1 ? "" : "s");
    for (int64_t i = 0; i < nkv; i++) {
        born_gguf_value v;
        born_gguf_kv_value(f, i, &v);
        char type[32];
        if (v.type == BORN_GGUF_ARRAY)
            snprintf(type, sizeof type, "[%s]", born_gguf_type_name(v.elem_type));
        else
            snprintf(type, sizeof type, "%s", born_gguf_type_name(v.type));
        text t = {.n = 0};
        add_value(&t, &v, true);
        if (v.type == BORN_GGUF_STRING && v.count > 60) {
            t.full = false;
            add(&t, " (%" PRIu64 " bytes)", v.count);
        }
        printf("  %-*s  %-8s %s\n", (int)key_w, born_gguf_kv_key(f, i), type, t.s);
    }
    printf("tensors (shapes in Born's row-major order: GGUF's ne reversed):\n");
    printf("  %-*s  %-7s %-20s %s\n", (int)name_w, "name", "type", "shape", "bytes");
    for (int64_t i = 0; i < n; i++) {
        born_tensor_info ti;
        born_file_tensor_info(f, i, &ti);
        char sh[160];
        size_t k = (size_t)snprintf(sh, sizeof sh, "[");
        for (int d = 0; d < ti.ndim && k < sizeof sh; d++)
            k += (size_t)snprintf(sh + k, sizeof sh - k, d ? ", %" PRId64 : "%" PRId64,
                                  ti.shape[d]);
        if (k < sizeof sh) snprintf(sh + k, sizeof sh - k, "]");
        printf("  %-*s  %-7s %-20s %" PRIu64 "%s\n", (int)name_w, ti.name, ti.dtype_name, sh,
               ti.nbytes, ti.dtype == BORN_DTYPE_COUNT ? "  (Born cannot load this type)" : "");
    }
    printf("total: %" PRId64 " tensors, %" PRIu64 " parameters, %" PRIu64 " bytes (%s)", n, params,
           total, human_size(total, hb, sizeof hb));
    const char *sep = "; ";
    for (int type = 0; type < 64; type++) {
        if (!per_type[type]) continue;
        printf("%s%s %" PRId64, sep, born_ggml_type_name(type), per_type[type]);
        sep = ", ";
    }
    printf("\n");
    return 0;
}
