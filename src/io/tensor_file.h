/* Internal: what the .born, safetensors and GGUF readers and writers share: the refcounted file
 * mapping that zero-copy tensors borrow, the open-file handle (struct born_file) that both
 * parsers fill, helpers for strict header parsing, and the atomic output file. */
#ifndef BORN_IO_TENSOR_FILE_H
#define BORN_IO_TENSOR_FILE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "born/io.h"
#include "io/io_util.h"

/* ------------------------------------------------------------------------------------------ */
/* The mapping                                                                                  */

/* A file's bytes: a private (copy-on-write) mmap of the whole file, or a malloc'd copy of the
 * file or of a caller's buffer (64-byte aligned). The born_file holds one reference and every tensor's storage one. */
typedef struct io_mapping {
    atomic_int refs;
    uint8_t *base;
    size_t len;
    bool mmapped;
} io_mapping;

/* Maps the regular file at path (len may be 0: base is then NULL), or with read_in reads it
 * into anonymous memory in 2 MiB pages where the kernel gives them (see born_file_params).
 * Records BORN_ERR_IO naming `where` on failure. */
io_mapping *io_mapping_open(const char *where, const char *path, bool read_in);

/* A mapping holding a 64-byte aligned copy of data[0..len). */
io_mapping *io_mapping_copy(const char *where, const void *data, size_t len);

void io_mapping_retain(io_mapping *m);
void io_mapping_release(io_mapping *m);

/* ------------------------------------------------------------------------------------------ */
/* The open file                                                                                */

typedef struct tf_entry {
    char *name;             /* owned */
    born_dtype dtype;       /* BORN_DTYPE_COUNT: Born has no such dtype */
    const char *dtype_name; /* static */
    int ndim;
    int64_t shape[BORN_MAX_DIMS];
    uint64_t offset; /* from the start of the file */
    uint64_t nbytes;
    int ggml_type; /* GGUF: the tensor's ggml type number */
} tf_entry;

struct gguf_meta; /* GGUF's typed metadata (io/gguf_internal.h) */

struct born_file {
    born_file_format format;
    char *where; /* "born_file_open: <path>", the prefix of every message */
    io_mapping *map;
    tf_entry *entries; /* in data order */
    int64_t count;
    int64_t *by_name; /* entry indices sorted by name */
    born_string_map metadata;
    born_json *doc;                /* the parsed header (.born; NULL for safetensors) */
    const born_json_value *config; /* inside doc, or NULL */
    /* .born only */
    uint64_t data_offset, data_length;
    uint8_t data_sha256[32];
    bool has_checksum;
    atomic_int verified; /* 0 not yet, 1 matched, -1 mismatched (threads may race to set it) */
    struct gguf_meta *gguf; /* GGUF only */
};

/* The parsers: validate f->map's bytes and fill the entries, metadata and config. The entries
 * come out sorted by offset and checked against the bounds; both call tf_index_names. */
born_status born_format_parse(born_file *f, const born_file_params *params);
born_status safetensors_parse(born_file *f, const born_file_params *params);
born_status gguf_parse(born_file *f, const born_file_params *params);

/* Frees f->gguf (born_file_close). */
void gguf_meta_free(struct gguf_meta *m);

/* Sorts f->entries by (offset, nbytes), keeping the header's order among equal pairs (which
 * only empty tensors can form in a valid file). */
born_status tf_sort_by_offset(born_file *f);

/* Reads a JSON object of string values into f->metadata; `what` names it in messages. */
born_status tf_read_metadata(born_file *f, const born_json_value *obj, const char *what);

/* Parses a header's JSON text (strictly; duplicate keys rejected), re-recording a parse error
 * as "<where>: header: <the parser's message>". */
born_json *tf_parse_header(const char *where, const uint8_t *text, size_t len);

/* Builds f->by_name and rejects duplicate names (BORN_ERR_FORMAT naming the name). */
born_status tf_index_names(born_file *f);

/* Appends to a string map without looking for an existing key (the callers have already
 * rejected duplicates). */
born_status tf_map_append(born_string_map *map, const char *key, const char *value);

/* Empties a map embedded in a struct (frees its entries). */
void tf_map_clear(born_string_map *map);

/* Reads a JSON number that is a non-negative integer written with digits only (no sign,
 * fraction or exponent), as the reference implementations' usize fields require. */
bool tf_json_uint(const born_json_value *v, uint64_t *out);

/* True when a tensor of this shape can exist in Born (shape_check's rule: the product of the
 * sizes above 1 is at most INT64_MAX / 16, so every stride is representable, even for shapes
 * with no elements such as [0, 2^62, 2^62]). */
bool tf_shape_fits(int ndim, const int64_t *shape);

/* The safetensors spelling of a Born dtype ("F32"), and its sort rank in the reference's Dtype
 * enum (the writer sorts by it). */
const char *safetensors_dtype_name(born_dtype dtype);

/* ------------------------------------------------------------------------------------------ */
/* Output: a temporary file next to the target, renamed into place on commit; or a memory
 * buffer. The first error sticks.                                                            */

typedef struct io_out {
    const char *where;
    bool memory;
    int fd;
    char *path, *tmp_path;
    io_buf mem;
    uint64_t pos; /* bytes written so far (the next write's offset) */
    born_status status;
} io_out;

/* Creates "<path>.tmp-<pid>-<n>" (mode 0666 less the umask). */
born_status io_out_open_file(io_out *o, const char *where, const char *path);
void io_out_open_memory(io_out *o, const char *where);

born_status io_out_write(io_out *o, const void *data, size_t len);
born_status io_out_zeros(io_out *o, size_t n);

/* Overwrites bytes already written (the .born prefix). */
born_status io_out_patch(io_out *o, uint64_t offset, const void *data, size_t len);

/* File: fsync, rename over the target, fsync the directory; closes. Memory: hands the buffer
 * over through *out / *out_len. On failure everything is cleaned up as by io_out_abort. */
born_status io_out_commit(io_out *o, void **out, size_t *out_len);

/* Closes and removes the temporary file (or frees the buffer). Safe to call twice. */
void io_out_abort(io_out *o);

/* Test hook: when bytes >= 0, file writes fail (EIO) once that many bytes have been written to
 * any one file, simulating a full disk or a crash mid-write; -1 turns it off. */
void io_out_fail_after(int64_t bytes);

/* The bytes of t as a contiguous CPU buffer: t's own memory when it already is one (*tmp NULL),
 * else a new contiguous copy in *tmp (born_free it). */
born_status io_tensor_bytes(const char *where, const born_tensor *t, born_tensor **tmp,
                            const void **data, size_t *nbytes);

#endif
