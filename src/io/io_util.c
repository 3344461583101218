/* Helpers shared by the binary readers: growable buffers, whole-file reads and writes, byte
 * swapping. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "io/io_util.h"

born_status io_buf_reserve(io_buf *b, size_t need, const char *where) {
    if (need <= b->cap) return BORN_OK;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    uint8_t *grown = realloc(b->data, cap);
    if (!grown)
        return born_error(BORN_ERR_MEMORY, "%s: out of memory growing a buffer to %zu bytes",
                          where, cap);
    b->data = grown;
    b->cap = cap;
    return BORN_OK;
}

born_status io_read_file(const char *where, const char *path, size_t max_size, uint8_t **data,
                         size_t *len) {
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return born_error(BORN_ERR_IO, "%s: cannot open (%s)", where, strerror(errno));
    io_buf b = {0};
    /* a regular file's size sizes the buffer at once; anything else grows as it reads */
    struct stat st;
    size_t hint = 0;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
        hint = (uint64_t)st.st_size < (uint64_t)max_size ? (size_t)st.st_size + 1 : max_size;
    born_status status = io_buf_reserve(&b, hint ? hint : 65536, where);
    while (status == BORN_OK) {
        if (b.len == b.cap) {
            status = io_buf_reserve(&b, b.cap + 1, where);
            if (status != BORN_OK) break;
        }
        size_t room = b.cap - b.len;
        if (max_size < SIZE_MAX && room > max_size - b.len + 1) room = max_size - b.len + 1;
        size_t got = fread(b.data + b.len, 1, room, f);
        b.len += got;
        if (b.len > max_size) {
            status = born_error(BORN_ERR_FORMAT, "%s: the file is larger than the limit of %zu "
                                "bytes", where, max_size);
            break;
        }
        if (got < room) {
            if (ferror(f))
                status = born_error(BORN_ERR_IO, "%s: read error (%s)", where, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (status != BORN_OK) {
        free(b.data);
        return status;
    }
    *data = b.data;
    *len = b.len;
    return BORN_OK;
}

born_status io_write_file(const char *where, const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return born_error(BORN_ERR_IO, "%s: cannot create (%s)", where, strerror(errno));
    size_t put = len ? fwrite(data, 1, len, f) : 0;
    int write_errno = errno;
    bool failed = put != len || ferror(f);
    if (fclose(f) != 0 && !failed) {
        failed = true;
        write_errno = errno;
    }
    if (failed) {
        remove(path);
        return born_error(BORN_ERR_IO, "%s: write error (%s)", where, strerror(write_errno));
    }
    return BORN_OK;
}

void io_byteswap(void *data, size_t n, size_t size) {
    uint8_t *p = data;
    switch (size) {
    case 2:
        for (size_t i = 0; i < n; i++, p += 2) {
            uint16_t v;
            memcpy(&v, p, 2);
            v = __builtin_bswap16(v);
            memcpy(p, &v, 2);
        }
        break;
    case 4:
        for (size_t i = 0; i < n; i++, p += 4) {
            uint32_t v;
            memcpy(&v, p, 4);
            v = __builtin_bswap32(v);
            memcpy(p, &v, 4);
        }
        break;
    case 8:
        for (size_t i = 0; i < n; i++, p += 8) {
            uint64_t v;
            memcpy(&v, p, 8);
            v = __builtin_bswap64(v);
            memcpy(p, &v, 8);
        }
        break;
    default: break;
    }
}
