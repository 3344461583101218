/* Internal: helpers shared by the binary readers (DEFLATE/gzip, IDX, NPY): a growable byte buffer,
 * reading a whole file with a size limit, and the decompressors' internal entry points, which take
 * a message prefix ("born_idx_read: data/x.gz") so that every error names the file or "buffer". */
#ifndef BORN_IO_IO_UTIL_H
#define BORN_IO_IO_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "born/io.h"

/* A malloc'd byte buffer: len bytes used out of cap. */
typedef struct io_buf {
    uint8_t *data;
    size_t len, cap;
} io_buf;

/* Grows b so that it can hold at least `need` bytes (need >= b->len). Records BORN_ERR_MEMORY
 * naming `where` on failure. */
born_status io_buf_reserve(io_buf *b, size_t need, const char *where);

/* Reads the whole file at path into a new malloc'd buffer (*data, freed by the caller; never
 * NULL on success, even for an empty file). A file longer than max_size is an error
 * (BORN_ERR_FORMAT). Messages start with `where`, which should name the path. */
born_status io_read_file(const char *where, const char *path, size_t max_size, uint8_t **data,
                         size_t *len);

/* Writes len bytes to path (created or truncated), reporting BORN_ERR_IO with `where`. */
born_status io_write_file(const char *where, const char *path, const void *data, size_t len);

/* True when the host stores integers little-endian. */
static inline bool io_host_little_endian(void) {
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

/* Reverses the bytes of each of n elements of `size` bytes (1, 2, 4 or 8) in place. */
void io_byteswap(void *data, size_t n, size_t size);

/* Inflates the raw DEFLATE stream in[0..len) (RFC 1951), appending to out. `base` is the stream's
 * offset within the whole input, used only in messages. Back-references may reach at most to
 * out->len as it was on entry (the start of this stream). out->len never exceeds max_out: when the
 * stream would produce more, this fails (BORN_ERR_FORMAT), or, when `partial` is true, stops
 * successfully with exactly max_out bytes and *ended = false. On success *used is the number of
 * input bytes the stream occupies (its last byte counts whole) and *ended tells whether the final
 * block was reached. */
born_status io_inflate(const char *where, const uint8_t *in, size_t len, size_t base, io_buf *out,
                       size_t max_out, bool partial, size_t *used, bool *ended);

/* Decompresses a gzip file (RFC 1952, one or more members, each CRC-32 and ISIZE checked) into
 * out (which must start empty). With `partial`, decoding stops successfully once out holds
 * max_out bytes (a prefix, whose checksums were not verified); otherwise more output than max_out
 * is an error. Anything after the last member is an error. */
born_status io_gunzip(const char *where, const uint8_t *in, size_t len, size_t max_out,
                      bool partial, io_buf *out);

/* True when data starts with the gzip magic bytes 1f 8b. */
static inline bool io_is_gzip(const uint8_t *data, size_t len) {
    return len >= 2 && data[0] == 0x1f && data[1] == 0x8b;
}

#endif
