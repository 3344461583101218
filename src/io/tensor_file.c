/* Tensor files: the mapping that zero-copy tensors borrow, the born_file handle shared by the
 * .born and safetensors readers, string maps, and the atomic output file both writers use. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "born/autograd.h"
#include "born/ops.h"
#include "core/error.h"
#include "core/tensor_impl.h"
#include "io/tensor_file.h"

/* ------------------------------------------------------------------------------------------ */
/* String maps                                                                                  */

born_string_map *born_string_map_new(void) {
    born_string_map *m = calloc(1, sizeof *m);
    if (!m) return born_error_null(BORN_ERR_MEMORY, "born_string_map_new: out of memory");
    return m;
}

void tf_map_clear(born_string_map *map) {
    for (int64_t i = 0; i < map->count; i++) {
        free(map->items[i].key);
        free(map->items[i].value);
    }
    free(map->items);
    map->items = NULL;
    map->count = map->capacity = 0;
}

void born_string_map_free(born_string_map *map) {
    if (!map) return;
    tf_map_clear(map);
    free(map);
}

const char *born_string_map_get(const born_string_map *map, const char *key) {
    if (!map || !key) return NULL;
    for (int64_t i = 0; i < map->count; i++)
        if (strcmp(map->items[i].key, key) == 0) return map->items[i].value;
    return NULL;
}

born_status tf_map_append(born_string_map *map, const char *key, const char *value) {
    if (map->count == map->capacity) {
        int64_t cap = map->capacity ? map->capacity * 2 : 8;
        born_string_entry *items = realloc(map->items, (size_t)cap * sizeof *items);
        if (!items) return born_error(BORN_ERR_MEMORY, "born_string_map_set: out of memory");
        map->items = items;
        map->capacity = cap;
    }
    char *k = strdup(key), *v = strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return born_error(BORN_ERR_MEMORY, "born_string_map_set: out of memory");
    }
    map->items[map->count].key = k;
    map->items[map->count].value = v;
    map->count++;
    return BORN_OK;
}

born_status born_string_map_set(born_string_map *map, const char *key, const char *value) {
    if (!map || !key || !value)
        return born_error(BORN_ERR_ARGUMENT, "born_string_map_set: %s is NULL",
                          !map ? "map" : !key ? "key" : "value");
    for (int64_t i = 0; i < map->count; i++) {
        if (strcmp(map->items[i].key, key) != 0) continue;
        char *v = strdup(value);
        if (!v) return born_error(BORN_ERR_MEMORY, "born_string_map_set: out of memory");
        free(map->items[i].value);
        map->items[i].value = v;
        return BORN_OK;
    }
    return tf_map_append(map, key, value);
}

/* ------------------------------------------------------------------------------------------ */
/* The mapping                                                                                  */

/* Reads the len bytes of fd into memory 2 MiB-aligned (m->base, freed by free), the whole 2 MiB
 * pages with MADV_HUGEPAGE and the tail past the last one in small pages, so the part of the last
 * huge page beyond the file is never resident (up to 2 MiB of RSS); false with errno set on
 * failure. */
static bool read_whole(io_mapping *m, int fd) {
    const size_t huge = (size_t)2 << 20, want = (m->len + huge - 1) & ~(huge - 1);
    const size_t whole = m->len & ~(huge - 1);
    void *p = NULL;
    int e = posix_memalign(&p, huge, want);
    if (e != 0) {
        errno = e;
        return false;
    }
    /* advice only: failure is harmless */
#ifdef MADV_HUGEPAGE
    if (whole > 0) madvise(p, whole, MADV_HUGEPAGE);
#endif
#ifdef MADV_NOHUGEPAGE
    if (want > whole) madvise((uint8_t *)p + whole, want - whole, MADV_NOHUGEPAGE);
#endif
    for (size_t at = 0; at < m->len;) {
        ssize_t got = pread(fd, (uint8_t *)p + at, m->len - at, (off_t)at);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            e = got < 0 ? errno : EIO;
            free(p);
            errno = e;
            return false;
        }
        at += (size_t)got;
    }
    m->base = p;
    return true;
}

io_mapping *io_mapping_open(const char *where, const char *path, bool read_in) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return born_error_null(BORN_ERR_IO, "%s: cannot open (%s)", where, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return born_error_null(BORN_ERR_IO, "%s: cannot stat (%s)", where, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return born_error_null(BORN_ERR_IO, "%s: not a regular file", where);
    }
    if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX / 2) {
        close(fd);
        return born_error_null(BORN_ERR_IO, "%s: the file is too large to map", where);
    }
    io_mapping *m = calloc(1, sizeof *m);
    if (!m) {
        close(fd);
        return born_error_null(BORN_ERR_MEMORY, "%s: out of memory", where);
    }
    atomic_init(&m->refs, 1);
    m->len = (size_t)st.st_size;
    if (m->len > 0 && read_in) {
        if (!read_whole(m, fd)) {
            int e = errno;
            close(fd);
            free(m);
            return born_error_null(BORN_ERR_IO, "%s: cannot read %zu bytes into memory (%s)", where,
                                   (size_t)st.st_size, strerror(e));
        }
    } else if (m->len > 0) {
        /* Private and writable, so a tensor written in place copies its page instead of
         * faulting (or reaching the file); MAP_NORESERVE keeps a large file from counting
         * against the commit limit. Where that is refused, map read-only. */
        void *p = mmap(NULL, m->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
        if (p == MAP_FAILED) p = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            free(m);
            return born_error_null(BORN_ERR_IO, "%s: cannot map %zu bytes (%s)", where,
                                   (size_t)st.st_size, strerror(e));
        }
        /* no read-ahead while the header is parsed: a .born file's prefix and header lie at
         * its two ends, and read-ahead around each costs more than the pages themselves
         * (open_mapping turns it back on) */
        madvise(p, m->len, MADV_RANDOM);
        m->base = p;
        m->mmapped = true;
    }
    close(fd);
    return m;
}

io_mapping *io_mapping_copy(const char *where, const void *data, size_t len) {
    io_mapping *m = calloc(1, sizeof *m);
    size_t alloc = (len + 63) / 64 * 64;
    uint8_t *copy = m && len > 0 ? aligned_alloc(64, alloc) : NULL;
    if (!m || (len > 0 && !copy)) {
        free(m);
        return born_error_null(BORN_ERR_MEMORY, "%s: out of memory copying %zu bytes", where, len);
    }
    if (len > 0) {
        memcpy(copy, data, len);
        memset(copy + len, 0, alloc - len);
    }
    atomic_init(&m->refs, 1);
    m->base = copy;
    m->len = len;
    return m;
}

void io_mapping_retain(io_mapping *m) { atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed); }

void io_mapping_release(io_mapping *m) {
    if (!m || atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1) return;
    if (m->mmapped)
        munmap(m->base, m->len);
    else
        free(m->base);
    free(m);
}

static void mapping_release_cb(void *data, void *ctx) {
    (void)data;
    io_mapping_release(ctx);
}

/* ------------------------------------------------------------------------------------------ */
/* Opening                                                                                      */

born_file_params born_file_default_params(void) {
    return (born_file_params){.format = BORN_FORMAT_AUTO,
                              .verify = BORN_CHECKSUM_AUTO,
                              .verify_limit = (uint64_t)64 << 20,
                              .max_header = 100000000,
                              .read_into_memory = false};
}

void born_file_close(born_file *f) {
    if (!f) return;
    for (int64_t i = 0; i < f->count; i++) free(f->entries[i].name);
    free(f->entries);
    free(f->by_name);
    tf_map_clear(&f->metadata);
    born_json_free(f->doc);
    gguf_meta_free(f->gguf);
    io_mapping_release(f->map);
    free(f->where);
    free(f);
}

static char *make_where(const char *fn, const char *name) {
    size_t n = strlen(fn) + strlen(name) + 3;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s: %s", fn, name);
    return s;
}

/* True when the bytes can only be a safetensors file: a header size within the limit that fits
 * the file, followed by '{' (after optional whitespace). */
static bool looks_like_safetensors(const io_mapping *m, uint64_t max_header) {
    if (m->len < 9) return false;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | m->base[i];
    if (n > max_header || n > m->len - 8) return false;
    for (uint64_t i = 0; i < n; i++) {
        uint8_t c = m->base[8 + i];
        if (c == '{') return true;
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return false;
    }
    return false;
}

static born_file *open_mapping(const char *fn, const char *name, io_mapping *map,
                               const born_file_params *params) {
    born_file_params p = params ? *params : born_file_default_params();
    born_file *f = calloc(1, sizeof *f);
    char *where = make_where(fn, name);
    if (!f || !where) {
        free(f);
        free(where);
        io_mapping_release(map);
        return born_error_null(BORN_ERR_MEMORY, "%s: out of memory", fn);
    }
    f->where = where;
    f->map = map;
    born_file_format format = p.format;
    if (format == BORN_FORMAT_AUTO) {
        if (map->len > 0 && memcmp(map->base, "BORN", map->len < 4 ? map->len : 4) == 0)
            format = BORN_FORMAT_BORN;
        else if (map->len > 0 && memcmp(map->base, "GGUF", map->len < 4 ? map->len : 4) == 0)
            format = BORN_FORMAT_GGUF;
        else if (looks_like_safetensors(map, p.max_header))
            format = BORN_FORMAT_SAFETENSORS;
        else {
            born_error(BORN_ERR_FORMAT,
                       "%s: neither a .born file (which starts with \"BORN\"), a GGUF file "
                       "(\"GGUF\") nor a safetensors file (an 8-byte header size, then a JSON "
                       "object)%s",
                       where, map->len == 0 ? ": the file is empty" : "");
            born_file_close(f);
            return NULL;
        }
    }
    f->format = format;
    born_status st = format == BORN_FORMAT_BORN          ? born_format_parse(f, &p)
                     : format == BORN_FORMAT_SAFETENSORS ? safetensors_parse(f, &p)
                     : format == BORN_FORMAT_GGUF        ? gguf_parse(f, &p)
                                                          : born_error(BORN_ERR_ARGUMENT,
                                                                       "%s: unknown format %d",
                                                                       where, (int)format);
    if (map->mmapped) madvise(map->base, map->len, MADV_NORMAL);
    if (st != BORN_OK) {
        born_file_close(f);
        return NULL;
    }
    return f;
}

born_file *born_file_open(const char *path, const born_file_params *params) {
    if (!path) return born_error_null(BORN_ERR_ARGUMENT, "born_file_open: path is NULL");
    char *where = make_where("born_file_open", path);
    if (!where) return born_error_null(BORN_ERR_MEMORY, "born_file_open: out of memory");
    io_mapping *map = io_mapping_open(where, path, params && params->read_into_memory);
    free(where);
    if (!map) return NULL;
    return open_mapping("born_file_open", path, map, params);
}

born_file *born_safetensors_open(const char *path, const born_file_params *params) {
    born_file_params p = params ? *params : born_file_default_params();
    p.format = BORN_FORMAT_SAFETENSORS;
    return born_file_open(path, &p);
}

born_file *born_file_open_memory(const void *data, size_t len, const born_file_params *params) {
    if (!data && len > 0)
        return born_error_null(BORN_ERR_ARGUMENT, "born_file_open_memory: data is NULL");
    io_mapping *map = io_mapping_copy("born_file_open_memory", data, len);
    if (!map) return NULL;
    return open_mapping("born_file_open_memory", "buffer", map, params);
}

/* ------------------------------------------------------------------------------------------ */
/* Names                                                                                        */

typedef struct name_index {
    const char *name;
    int64_t index;
} name_index;

static int cmp_name_index(const void *a, const void *b) {
    const name_index *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

born_status tf_index_names(born_file *f) {
    size_t n = (size_t)(f->count ? f->count : 1);
    f->by_name = malloc(n * sizeof *f->by_name);
    name_index *tmp = malloc(n * sizeof *tmp);
    if (!f->by_name || !tmp) {
        free(tmp);
        return born_error(BORN_ERR_MEMORY, "%s: out of memory", f->where);
    }
    for (int64_t i = 0; i < f->count; i++) tmp[i] = (name_index){f->entries[i].name, i};
    qsort(tmp, (size_t)f->count, sizeof *tmp, cmp_name_index);
    born_status st = BORN_OK;
    for (int64_t i = 0; i < f->count; i++) {
        f->by_name[i] = tmp[i].index;
        if (i > 0 && st == BORN_OK && strcmp(tmp[i - 1].name, tmp[i].name) == 0)
            st = born_error(BORN_ERR_FORMAT, "%s: header: the tensor name \"%s\" appears twice",
                            f->where, tmp[i].name);
    }
    free(tmp);
    return st;
}

typedef struct offset_index {
    uint64_t offset, nbytes;
    int64_t index;
} offset_index;

static int cmp_offset_index(const void *a, const void *b) {
    const offset_index *x = a, *y = b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

born_status tf_sort_by_offset(born_file *f) {
    size_t n = (size_t)f->count;
    offset_index *keys = malloc((n ? n : 1) * sizeof *keys);
    tf_entry *sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!keys || !sorted) {
        free(keys);
        free(sorted);
        return born_error(BORN_ERR_MEMORY, "%s: out of memory", f->where);
    }
    for (size_t i = 0; i < n; i++) keys[i] = (offset_index){f->entries[i].offset, f->entries[i].nbytes, (int64_t)i};
    qsort(keys, n, sizeof *keys, cmp_offset_index);
    for (size_t i = 0; i < n; i++) sorted[i] = f->entries[keys[i].index];
    free(keys);
    free(f->entries);
    f->entries = sorted;
    return BORN_OK;
}

bool tf_shape_fits(int ndim, const int64_t *shape) {
    int64_t span = 1; /* as shape_check: the nonzero sizes bound every stride */
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return false;
        if (shape[i] > 1 && span > INT64_MAX / 16 / shape[i]) return false;
        if (shape[i] > 1) span *= shape[i];
    }
    return true;
}

bool tf_json_uint(const born_json_value *v, uint64_t *out) {
    if (born_json_type_of(v) != BORN_JSON_NUMBER) return false;
    size_t len = 0;
    const char *text = born_json_number_text(v, &len);
    if (!text || len == 0) return false;
    uint64_t x = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9') return false;
        unsigned d = (unsigned)(text[i] - '0');
        if (x > (UINT64_MAX - d) / 10) return false;
        x = x * 10 + d;
    }
    *out = x;
    return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Access                                                                                       */

born_file_format born_file_get_format(const born_file *f) { return f ? f->format : BORN_FORMAT_AUTO; }

int64_t born_file_count(const born_file *f) { return f ? f->count : 0; }

born_status born_file_tensor_info(const born_file *f, int64_t index, born_tensor_info *info) {
    if (!f || !info)
        return born_error(BORN_ERR_ARGUMENT, "born_file_tensor_info: %s is NULL",
                          !f ? "file" : "info");
    if (index < 0 || index >= f->count)
        return born_error(BORN_ERR_ARGUMENT, "born_file_tensor_info: %s: index %" PRId64
                          " out of range (the file has %" PRId64 " tensors)", f->where, index,
                          f->count);
    const tf_entry *e = &f->entries[index];
    memset(info, 0, sizeof *info);
    info->name = e->name;
    info->dtype = e->dtype;
    info->dtype_name = e->dtype_name;
    info->ndim = e->ndim;
    memcpy(info->shape, e->shape, sizeof e->shape);
    info->offset = e->offset;
    info->nbytes = e->nbytes;
    return BORN_OK;
}

int64_t born_file_find(const born_file *f, const char *name) {
    if (!f || !name) return -1;
    int64_t lo = 0, hi = f->count;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->entries[f->by_name[mid]].name, name);
        if (c == 0) return f->by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

born_tensor *born_file_get_index(born_file *f, int64_t index) {
    if (!f) return born_error_null(BORN_ERR_ARGUMENT, "born_file_get_index: file is NULL");
    if (index < 0 || index >= f->count)
        return born_error_null(BORN_ERR_ARGUMENT, "born_file_get_index: %s: index %" PRId64
                               " out of range (the file has %" PRId64 " tensors)", f->where,
                               index, f->count);
    const tf_entry *e = &f->entries[index];
    if (e->dtype == BORN_DTYPE_COUNT && f->format == BORN_FORMAT_GGUF)
        return born_error_null(BORN_ERR_UNSUPPORTED, "%s: tensor \"%s\" has ggml type %d (%s), "
                               "which Born does not support", f->where, e->name, e->ggml_type,
                               e->dtype_name);
    if (e->dtype == BORN_DTYPE_COUNT)
        return born_error_null(BORN_ERR_UNSUPPORTED, "%s: tensor \"%s\" has dtype %s, which Born "
                               "does not support", f->where, e->name, e->dtype_name);
    born_ensure_init();
    uint8_t *data = f->map->base + e->offset;
    size_t align = born_dtype_is_quantized(e->dtype) ? 2 : born_dtype_size(e->dtype);
    if ((uintptr_t)data % align != 0) /* only in hand-made safetensors */
        return born_from_data(e->dtype, e->ndim, e->shape, data, (size_t)e->nbytes);
    io_mapping_retain(f->map);
    born_storage *s = storage_borrow(BORN_CPU, data, (size_t)e->nbytes, mapping_release_cb, f->map);
    if (!s) {
        io_mapping_release(f->map);
        return NULL;
    }
    born_tensor *t = tensor_wrap_storage(s, e->dtype, e->ndim, e->shape, NULL, 0);
    storage_release(s); /* the tensor's reference keeps it (or this releases the mapping) */
    return t;
}

born_tensor *born_file_get(born_file *f, const char *name) {
    if (!f || !name)
        return born_error_null(BORN_ERR_ARGUMENT, "born_file_get: %s is NULL", !f ? "file" : "name");
    int64_t i = born_file_find(f, name);
    if (i < 0)
        return born_error_null(BORN_ERR_ARGUMENT, "born_file_get: %s: no tensor named \"%s\"",
                               f->where, name);
    return born_file_get_index(f, i);
}

born_tensor_list *born_file_to_list(born_file *f) {
    if (!f) return born_error_null(BORN_ERR_ARGUMENT, "born_file_to_list: file is NULL");
    born_tensor_list *list = born_tensor_list_new();
    if (!list) return NULL;
    if (f->count > 0) {
        list->items = calloc((size_t)f->count, sizeof *list->items);
        if (!list->items) {
            free(list);
            return born_error_null(BORN_ERR_MEMORY, "born_file_to_list: out of memory");
        }
        list->capacity = f->count;
    }
    /* the names are unique already, so the entries go in directly (born_tensor_list_add's
     * duplicate check is linear per entry) */
    for (int64_t i = 0; i < f->count; i++) {
        born_tensor *t = born_file_get_index(f, i);
        char *name = t ? strdup(f->entries[i].name) : NULL;
        if (!name) {
            if (t) born_error(BORN_ERR_MEMORY, "born_file_to_list: out of memory");
            born_free(t);
            born_tensor_list_free(list);
            return NULL;
        }
        list->items[i].name = name;
        list->items[i].tensor = born_tensor_retain(t);
        list->count++;
        born_free(t);
    }
    return list;
}

const born_string_map *born_file_metadata(const born_file *f) { return f ? &f->metadata : NULL; }

const born_json_value *born_file_config(const born_file *f) { return f ? f->config : NULL; }

born_status born_file_verify(born_file *f) {
    if (!f) return born_error(BORN_ERR_ARGUMENT, "born_file_verify: file is NULL");
    if (!f->has_checksum) return BORN_OK;
    if (f->verified == 0) {
        uint8_t digest[32];
        born_sha256(f->map->base + f->data_offset, (size_t)f->data_length, digest);
        f->verified = memcmp(digest, f->data_sha256, 32) == 0 ? 1 : -1;
    }
    if (f->verified < 0)
        return born_error(BORN_ERR_FORMAT, "%s: data checksum mismatch: the SHA-256 of the %" PRIu64
                          "-byte data section differs from the one in the prefix (the tensor data "
                          "is damaged)", f->where, f->data_length);
    return BORN_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Output                                                                                       */

static _Atomic int64_t fail_after = -1;
static atomic_uint tmp_counter;

void io_out_fail_after(int64_t bytes) { atomic_store(&fail_after, bytes); }

born_status io_out_open_file(io_out *o, const char *where, const char *path) {
    memset(o, 0, sizeof *o);
    o->where = where;
    o->fd = -1;
    size_t n = strlen(path) + 64;
    o->path = strdup(path);
    o->tmp_path = malloc(n);
    if (!o->path || !o->tmp_path) {
        free(o->path);
        free(o->tmp_path);
        o->path = o->tmp_path = NULL;
        return o->status = born_error(BORN_ERR_MEMORY, "%s: out of memory", where);
    }
    for (int attempt = 0; attempt < 1000; attempt++) {
        snprintf(o->tmp_path, n, "%s.tmp-%ld-%u", path, (long)getpid(),
                 atomic_fetch_add(&tmp_counter, 1));
        o->fd = open(o->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (o->fd >= 0 || errno != EEXIST) break;
    }
    if (o->fd < 0) {
        int e = errno;
        o->status = born_error(BORN_ERR_IO, "%s: cannot create the temporary file %s (%s)", where,
                               o->tmp_path, strerror(e));
        free(o->path);
        free(o->tmp_path);
        o->path = o->tmp_path = NULL;
        return o->status;
    }
    return BORN_OK;
}

void io_out_open_memory(io_out *o, const char *where) {
    memset(o, 0, sizeof *o);
    o->where = where;
    o->memory = true;
    o->fd = -1;
}

static born_status write_fail(io_out *o, int e, bool simulated) {
    return o->status = born_error(BORN_ERR_IO, "%s: write error after %" PRIu64 " bytes (%s%s)",
                                  o->where, o->pos, strerror(e), simulated ? ", simulated" : "");
}

born_status io_out_write(io_out *o, const void *data, size_t len) {
    if (o->status != BORN_OK) return o->status;
    if (len == 0) return BORN_OK;
    if (o->memory) {
        if (io_buf_reserve(&o->mem, o->mem.len + len, o->where) != BORN_OK)
            return o->status = BORN_ERR_MEMORY;
        memcpy(o->mem.data + o->mem.len, data, len);
        o->mem.len += len;
        o->pos += len;
        return BORN_OK;
    }
    const uint8_t *p = data;
    size_t todo = len;
    bool simulated = false;
    int64_t limit = atomic_load(&fail_after);
    if (limit >= 0 && o->pos + len > (uint64_t)limit) {
        todo = o->pos >= (uint64_t)limit ? 0 : (size_t)((uint64_t)limit - o->pos);
        simulated = true;
    }
    while (todo > 0) {
        size_t chunk = todo > ((size_t)1 << 30) ? (size_t)1 << 30 : todo;
        ssize_t put = write(o->fd, p, chunk);
        if (put < 0) {
            if (errno == EINTR) continue;
            return write_fail(o, errno, false);
        }
        if (put == 0) return write_fail(o, ENOSPC, false);
        p += put;
        todo -= (size_t)put;
        o->pos += (uint64_t)put;
    }
    if (simulated) return write_fail(o, EIO, true);
    return BORN_OK;
}

born_status io_out_zeros(io_out *o, size_t n) {
    static const uint8_t zeros[256];
    while (n > 0 && o->status == BORN_OK) {
        size_t k = n < sizeof zeros ? n : sizeof zeros;
        io_out_write(o, zeros, k);
        n -= k;
    }
    return o->status;
}

born_status io_out_patch(io_out *o, uint64_t offset, const void *data, size_t len) {
    if (o->status != BORN_OK) return o->status;
    if (offset + len > o->pos)
        return o->status = born_error(BORN_ERR_INTERNAL, "%s: patch past the end", o->where);
    if (o->memory) {
        memcpy(o->mem.data + offset, data, len);
        return BORN_OK;
    }
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t put = pwrite(o->fd, p, len, (off_t)offset);
        if (put < 0 && errno == EINTR) continue;
        if (put <= 0) return write_fail(o, put < 0 ? errno : ENOSPC, false);
        p += put;
        len -= (size_t)put;
        offset += (uint64_t)put;
    }
    return BORN_OK;
}

void io_out_abort(io_out *o) {
    if (o->memory) {
        free(o->mem.data);
        o->mem = (io_buf){0};
        return;
    }
    if (o->fd >= 0) close(o->fd);
    o->fd = -1;
    if (o->tmp_path) unlink(o->tmp_path);
    free(o->tmp_path);
    free(o->path);
    o->tmp_path = o->path = NULL;
}

/* fsyncs the directory holding path so that the rename itself is durable (best effort: some
 * file systems do not support it). */
static void sync_parent(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir) return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

born_status io_out_commit(io_out *o, void **out, size_t *out_len) {
    if (o->status != BORN_OK) {
        io_out_abort(o);
        return o->status;
    }
    if (o->memory) {
        if (!o->mem.data && io_buf_reserve(&o->mem, 1, o->where) != BORN_OK) {
            io_out_abort(o);
            return o->status = BORN_ERR_MEMORY;
        }
        *out = o->mem.data;
        *out_len = o->mem.len;
        o->mem = (io_buf){0};
        return BORN_OK;
    }
    if (fsync(o->fd) != 0) {
        o->status = born_error(BORN_ERR_IO, "%s: fsync failed (%s)", o->where, strerror(errno));
    } else {
        int fd = o->fd;
        o->fd = -1;
        if (close(fd) != 0)
            o->status = born_error(BORN_ERR_IO, "%s: close failed (%s)", o->where, strerror(errno));
        else if (rename(o->tmp_path, o->path) != 0)
            o->status = born_error(BORN_ERR_IO, "%s: cannot rename %s into place (%s)", o->where,
                                   o->tmp_path, strerror(errno));
    }
    if (o->status != BORN_OK) {
        io_out_abort(o);
        return o->status;
    }
    sync_parent(o->path);
    free(o->tmp_path);
    free(o->path);
    o->tmp_path = o->path = NULL;
    return BORN_OK;
}

born_status io_tensor_bytes(const char *where, const born_tensor *t, born_tensor **tmp,
                            const void **data, size_t *nbytes) {
    *tmp = NULL;
    born_tensor *tt = (born_tensor *)t;
    size_t n = born_dtype_nbytes(born_tensor_dtype(t), born_tensor_numel(t));
    if (born_tensor_device(t).type == BORN_DEVICE_CPU && born_tensor_is_contiguous(t)) {
        *data = n ? born_data_ptr(tt) : (const void *)"";
        *nbytes = n;
        return BORN_OK;
    }
    born_no_grad_begin();
    born_tensor *d = born_detach(tt);
    born_tensor *c = born_tensor_device(t).type == BORN_DEVICE_CPU ? NULL : born_to(d, BORN_CPU);
    born_tensor *r = born_contiguous(c ? c : d);
    born_free(c);
    born_free(d);
    born_no_grad_end();
    if (!r) return born_error(BORN_ERR_INTERNAL, "%s: cannot make the tensor contiguous", where);
    *tmp = r;
    *data = n ? born_data_ptr(r) : (const void *)"";
    *nbytes = n;
    return BORN_OK;
}
