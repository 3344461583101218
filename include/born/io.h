/* Born io (layer 7): file formats. For now JSON: a strict RFC 8259 parser that builds a read-only
 * document, and a streaming writer. docs/formats/json.md lists every choice the parser makes where
 * the RFC leaves one (duplicate keys, surrogates, limits, byte order marks, number ranges).
 *
 * Ownership: a parsed document (born_json) is owned by the caller and freed with born_json_free;
 * every value, key and string read from it is borrowed and stays valid until the document is
 * freed. A writer is owned by the caller and freed with born_json_writer_free. */
#ifndef BORN_IO_H
#define BORN_IO_H

#include "born/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------ */
/* JSON documents                                                                               */

typedef enum born_json_type {
    BORN_JSON_NONE = 0, /* no value: what born_json_type_of(NULL) returns, e.g. for a missing key */
    BORN_JSON_NULL,
    BORN_JSON_BOOL,
    BORN_JSON_NUMBER,
    BORN_JSON_STRING,
    BORN_JSON_ARRAY,
    BORN_JSON_OBJECT
} born_json_type;

/* A parsed document (opaque, owned) and a value inside one (opaque, borrowed). */
typedef struct born_json born_json;
typedef struct born_json_value born_json_value;

typedef struct born_json_parse_params {
    int max_depth;             /* deepest nesting of arrays and objects (default 512) */
    size_t max_size;           /* longest input in bytes (default 256 MiB) */
    bool reject_duplicate_keys; /* default false: when a key repeats in an object, its last
                                 * value wins, kept at the first key's position (as Python's json
                                 * and JSONTestSuite's y_ files); true makes a repeat an error */
} born_json_parse_params;

BORN_API born_json_parse_params born_json_parse_default_params(void);

/* Parses len bytes of UTF-8 JSON text (RFC 8259, strictly: no comments, trailing commas, NaN,
 * byte order mark or invalid UTF-8) into a new document the caller frees with born_json_free.
 * params may be NULL for the defaults. On failure returns NULL and records BORN_ERR_FORMAT with a
 * message naming the line, the column (in bytes, from 1), the byte offset, what was expected and
 * what was found; BORN_ERR_MEMORY when memory runs out; BORN_ERR_ARGUMENT for NULL text. */
BORN_API born_json *born_json_parse(const char *text, size_t len,
                                    const born_json_parse_params *params);

/* Reads the file at path and parses it as born_json_parse does; messages start with the path.
 * Reports BORN_ERR_IO when the file cannot be read. */
BORN_API born_json *born_json_load(const char *path, const born_json_parse_params *params);

/* Frees a document and everything borrowed from it; NULL is ignored. */
BORN_API void born_json_free(born_json *doc);

/* The document's top-level value (borrowed), or NULL for a NULL document. */
BORN_API const born_json_value *born_json_root(const born_json *doc);

/* The value's type; BORN_JSON_NONE for NULL. */
BORN_API born_json_type born_json_type_of(const born_json_value *value);

/* The type's name as JSON says it ("object", "number"); a static string. */
BORN_API const char *born_json_type_name(born_json_type type);

/* Value readers. Each stores the result through its out-pointer and returns BORN_OK, or leaves it
 * untouched and returns BORN_ERR_FORMAT when the value has another type (or, for numbers, does
 * not fit), and BORN_ERR_ARGUMENT for NULL pointers. A NULL value keeps an error already recorded
 * (so a chain of lookups needs one check at its end). */
BORN_API born_status born_json_get_bool(const born_json_value *value, bool *out);

/* The number as the nearest double; a number too large for a double (1e400) is an error rather
 * than infinity. Numbers too small round to 0 or a subnormal. */
BORN_API born_status born_json_get_double(const born_json_value *value, double *out);

/* The number as an int64 when it is exactly an integer in range: 3, -0, 1.0, 2e3 are; 1.5,
 * 9223372036854775808 and 1e19 are errors. */
BORN_API born_status born_json_get_int64(const born_json_value *value, int64_t *out);

/* The number's exact text as it appeared in the input (NUL-terminated, borrowed), its length
 * through len (may be NULL); NULL and an error for non-numbers. */
BORN_API const char *born_json_number_text(const born_json_value *value, size_t *len);

/* The string's decoded UTF-8 bytes (NUL-terminated, borrowed) and their count through len, which
 * may be NULL; the bytes may contain NUL (from \u0000), so len is the length to trust. */
BORN_API born_status born_json_get_string(const born_json_value *value, const char **str,
                                          size_t *len);

/* The number of elements of an array / members of an object; 0 and an error for other types. */
BORN_API size_t born_json_array_length(const born_json_value *array);
BORN_API size_t born_json_object_size(const born_json_value *object);

/* The array's element at index (borrowed); NULL and BORN_ERR_ARGUMENT when index is out of range,
 * BORN_ERR_FORMAT when the value is not an array. */
BORN_API const born_json_value *born_json_array_get(const born_json_value *array, size_t index);

/* The object's member at index, in document order: returns its value and stores its key (and the
 * key's length, which may be NULL) through the out-pointers. Errors as born_json_array_get. */
BORN_API const born_json_value *born_json_object_member(const born_json_value *object,
                                                        size_t index, const char **key,
                                                        size_t *key_len);

/* The value of the member named key (NUL-terminated), or NULL without an error when there is
 * none; NULL and BORN_ERR_FORMAT when the value is not an object. Objects with more than a few
 * members are searched through a sorted index, in O(log n). */
BORN_API const born_json_value *born_json_object_get(const born_json_value *object,
                                                     const char *key);

/* As born_json_object_get, for a key of key_len bytes that may contain NUL. */
BORN_API const born_json_value *born_json_object_find(const born_json_value *object,
                                                      const char *key, size_t key_len);

/* True when a and b are the same JSON value: strings byte for byte, numbers by exact decimal
 * value (1.0 equals 1 and 10e-1; -0 equals 0; exponents of more than 17 digits are compared as
 * written), arrays element by element, objects as sets of members regardless of order. Two NULLs
 * are equal. */
BORN_API bool born_json_value_equal(const born_json_value *a, const born_json_value *b);

/* ------------------------------------------------------------------------------------------ */
/* JSON writer: builds text in a growable buffer, checking that the calls form one well-formed
 * value (a key only directly inside an object, a value after each key, containers closed in
 * order). The first error sticks: later calls return it and write nothing.                     */

typedef struct born_json_writer born_json_writer;

typedef struct born_json_writer_params {
    int indent;                  /* spaces per level; 0 (default) writes compact text */
    bool escape_line_separators; /* write U+2028 and U+2029 as \u2028 / \u2029 so that the text is
                                  * also valid JavaScript (default true) */
} born_json_writer_params;

BORN_API born_json_writer_params born_json_writer_default_params(void);

/* A new, empty writer (owned; free with born_json_writer_free); params may be NULL. */
BORN_API born_json_writer *born_json_writer_new(const born_json_writer_params *params);
BORN_API void born_json_writer_free(born_json_writer *writer);

/* Containers. Each reports BORN_ERR_ARGUMENT when called where it is not allowed (a value where
 * a key is due, an end that does not match the open container, a second top-level value). */
BORN_API born_status born_json_write_begin_object(born_json_writer *writer);
BORN_API born_status born_json_write_end_object(born_json_writer *writer);
BORN_API born_status born_json_write_begin_array(born_json_writer *writer);
BORN_API born_status born_json_write_end_array(born_json_writer *writer);

/* A member's key inside an object: NUL-terminated, or key_len bytes. The key must be valid
 * UTF-8 (BORN_ERR_ARGUMENT otherwise); it is escaped as born_json_write_string does. */
BORN_API born_status born_json_write_key(born_json_writer *writer, const char *key);
BORN_API born_status born_json_write_key_n(born_json_writer *writer, const char *key,
                                           size_t key_len);

/* A string value: NUL-terminated, or len bytes (which may contain NUL). It must be valid UTF-8
 * (BORN_ERR_ARGUMENT otherwise); '"', '\\' and control characters are escaped. */
BORN_API born_status born_json_write_string(born_json_writer *writer, const char *str);
BORN_API born_status born_json_write_string_n(born_json_writer *writer, const char *str,
                                              size_t len);

/* A number in the shortest form that reads back as the same double (0.1, 1e+300, -0);
 * NaN and infinities have no JSON form and report BORN_ERR_ARGUMENT. */
BORN_API born_status born_json_write_double(born_json_writer *writer, double value);
BORN_API born_status born_json_write_int64(born_json_writer *writer, int64_t value);
BORN_API born_status born_json_write_bool(born_json_writer *writer, bool value);
BORN_API born_status born_json_write_null(born_json_writer *writer);

/* Writes a parsed value and everything inside it; numbers keep their exact input text. */
BORN_API born_status born_json_write_value(born_json_writer *writer, const born_json_value *value);

/* The finished text (NUL-terminated, borrowed until the writer is written to again or freed) and
 * its length through len (may be NULL). NULL and BORN_ERR_ARGUMENT while the value is incomplete
 * (no value yet, or containers still open), or the writer's first error if it has one. */
BORN_API const char *born_json_writer_text(const born_json_writer *writer, size_t *len);

/* ------------------------------------------------------------------------------------------ */
/* Compression: DEFLATE (RFC 1951) and gzip (RFC 1952), decoded by Born itself so that reading
 * the shipped .gz datasets needs no zlib. Decompressed data is malloc'd; free it with free().
 * Malformed data records BORN_ERR_FORMAT with a message naming "buffer" and the byte offset. */

/* The CRC-32 of gzip, zip and PNG (reflected polynomial 0xEDB88320), continuing from crc: start
 * with 0 and pass each piece's result to the next call; any split of the data gives the same
 * value. data may be NULL only with len 0. */
BORN_API uint32_t born_crc32(uint32_t crc, const void *data, size_t len);

/* Decompresses a gzip file held in memory: one or more members (concatenated), each checked
 * against its CRC-32 and length. On success *out is a malloc'd buffer (never NULL, even when
 * empty) of *out_len bytes. More than max_out bytes of output (a "zip bomb"), a malformed or
 * truncated stream, a checksum mismatch and bytes after the last member are errors; nothing is
 * returned then. Reports BORN_ERR_ARGUMENT for NULL out pointers. */
BORN_API born_status born_gzip_decompress(const void *data, size_t len, size_t max_out,
                                          void **out, size_t *out_len);

/* Decompresses raw DEFLATE data (no zlib or gzip wrapper) as born_gzip_decompress does. With
 * in_used non-NULL, *in_used receives how many bytes the stream occupies and bytes after it are
 * allowed; with in_used NULL, bytes after the final block are an error. */
BORN_API born_status born_inflate(const void *data, size_t len, size_t max_out, void **out,
                                  size_t *out_len, size_t *in_used);

/* ------------------------------------------------------------------------------------------ */
/* IDX files (the MNIST format): the magic bytes 00 00, an element type (0x08 u8, 0x09 i8, 0x0B
 * i16, 0x0C i32, 0x0D f32, 0x0E f64), the number of dimensions, each dimension as a big-endian
 * u32, then the elements row-major and big-endian.                                            */

/* Reads an IDX file, raw or gzip-compressed (recognised by its magic bytes, not its name), into
 * a new contiguous tensor of the matching dtype in host byte order. Reports BORN_ERR_IO when the
 * file cannot be read, and BORN_ERR_FORMAT (naming the path and the byte offset) for a bad magic,
 * an unknown element type, more than BORN_MAX_DIMS dimensions, sizes that overflow, truncated
 * data, bytes after the data, and any gzip error. */
BORN_API born_tensor *born_idx_read(const char *path);

/* As born_idx_read, from len bytes in memory (raw or gzip); messages name "buffer". */
BORN_API born_tensor *born_idx_parse(const void *data, size_t len);

/* Writes t (any layout; the elements go row-major) as a raw IDX file. Accepts u8, i8, i16, i32,
 * f32 and f64 (other dtypes: BORN_ERR_DTYPE); every size must fit in 32 bits (BORN_ERR_SHAPE). */
BORN_API born_status born_idx_write(const char *path, const born_tensor *t);

/* As born_idx_write, into a new malloc'd buffer *out (free() it) of *out_len bytes. */
BORN_API born_status born_idx_encode(const born_tensor *t, void **out, size_t *out_len);

/* ------------------------------------------------------------------------------------------ */
/* NPY files (numpy.save / numpy.load): a magic "\x93NUMPY", a version (1.0, 2.0 or 3.0), a header
 * that is a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }, and
 * the raw data.                                                                                */

/* Reads an .npy file into a new contiguous C-order tensor in host byte order. dtypes (either byte
 * order): f2 f4 f8 (f16 f32 f64), i1 i2 i4 i8, u1 (u8), b1 (bool; any nonzero byte reads as
 * true), and u2 / u4, which widen exactly to i32 / i64. Fortran-order data is transposed into C
 * order. u8 (uint64), complex, string, object and structured dtypes report BORN_ERR_UNSUPPORTED
 * naming the dtype; a malformed header (parsed strictly: exactly the keys 'descr',
 * 'fortran_order' and 'shape', each once), truncated data or bytes after the data report
 * BORN_ERR_FORMAT naming the path and the byte offset; an unreadable file BORN_ERR_IO. */
BORN_API born_tensor *born_npy_read(const char *path);

/* As born_npy_read, from len bytes in memory; messages name "buffer". */
BORN_API born_tensor *born_npy_parse(const void *data, size_t len);

/* Writes t (any layout) as a version 1.0 .npy file in C order and host byte order, byte for byte
 * what numpy.save writes for the same array. bf16 has no numpy dtype (BORN_ERR_DTYPE). */
BORN_API born_status born_npy_write(const char *path, const born_tensor *t);

/* As born_npy_write, into a new malloc'd buffer *out (free() it) of *out_len bytes. */
BORN_API born_status born_npy_encode(const born_tensor *t, void **out, size_t *out_len);

/* ------------------------------------------------------------------------------------------ */
/* String maps: the free-form metadata of tensor files and checkpoints.                        */

typedef struct born_string_entry {
    char *key;   /* owned by the map */
    char *value; /* owned by the map */
} born_string_entry;

/* An ordered map from UTF-8 strings to UTF-8 strings; read entries directly through
 * items[0..count). Keys are unique. */
typedef struct born_string_map {
    born_string_entry *items;
    int64_t count;
    int64_t capacity;
} born_string_map;

/* A new empty map (owned; free with born_string_map_free). */
BORN_API born_string_map *born_string_map_new(void);

/* Frees every key, value and the map. NULL is ignored. */
BORN_API void born_string_map_free(born_string_map *map);

/* Sets key to value (copies of both), replacing the value of an existing key in place. Reports
 * BORN_ERR_ARGUMENT for NULL pointers. */
BORN_API born_status born_string_map_set(born_string_map *map, const char *key,
                                         const char *value);

/* The value of key (borrowed), or NULL without an error when there is none. */
BORN_API const char *born_string_map_get(const born_string_map *map, const char *key);

/* ------------------------------------------------------------------------------------------ */
/* Tensor files: Born's own .born format (docs/formats/born.md), safetensors
 * (docs/formats/safetensors.md) and GGUF (docs/formats/gguf.md), read through one handle.
 *
 * Opening a file maps it into memory (mmap) and validates its whole header: every size, offset,
 * dtype and shape is checked against the file's bounds before anything is returned, so a
 * truncated, damaged or hostile file gives BORN_ERR_FORMAT (or BORN_ERR_UNSUPPORTED for a
 * version or dtype Born does not know) with a message naming the file and what is wrong. The
 * tensors it gives are zero-copy CPU tensors over the mapping: the mapping lives until the handle
 * and the last such tensor are released, in any order. Writing to such a tensor is allowed and
 * never reaches the file (the mapping is private, copy-on-write). Do not truncate or rewrite a
 * file while it is mapped (Born's own writers never do: they replace files by renaming).      */

typedef enum born_file_format {
    BORN_FORMAT_AUTO = 0,   /* by content when reading; by extension when writing */
    BORN_FORMAT_BORN,        /* .born */
    BORN_FORMAT_SAFETENSORS, /* .safetensors */
    BORN_FORMAT_GGUF         /* .gguf (llama.cpp), read only through born_file: see below */
} born_file_format;

/* When to check a .born file's data section against its SHA-256 (the header's own SHA-256 is
 * always checked). safetensors files carry no checksum. */
typedef enum born_checksum_policy {
    BORN_CHECKSUM_AUTO = 0, /* at open, when the data section is at most verify_limit bytes */
    BORN_CHECKSUM_ALWAYS,   /* at open, whatever the size (reads the whole file) */
    BORN_CHECKSUM_NEVER     /* only when born_file_verify is called */
} born_checksum_policy;

typedef struct born_file_params {
    born_file_format format;     /* default AUTO: "BORN" or "GGUF" magic, or a safetensors
                                  * header */
    born_checksum_policy verify; /* default AUTO */
    uint64_t verify_limit;       /* default 64 MiB (SHA-256 runs at ~0.2 GB/s: ~0.3 s) */
    uint64_t max_header;         /* longest JSON header accepted; default 100,000,000 bytes
                                  * (the safetensors reference's limit) */
    bool read_into_memory;       /* default false: tensors borrow a mapping of the file; true:
                                  * the file is read into anonymous memory in 2 MiB pages where
                                  * the kernel gives them (fewer TLB misses when weights are
                                  * streamed; the memory is private to the process) */
} born_file_params;

BORN_API born_file_params born_file_default_params(void);

/* An open tensor file (opaque, owned; close with born_file_close). */
typedef struct born_file born_file;

/* What the header says about one tensor; the strings are borrowed from the handle. */
typedef struct born_tensor_info {
    const char *name;
    born_dtype dtype;       /* BORN_DTYPE_COUNT when Born has no such dtype (safetensors U16,
                             * U32, U64, F8_*, C64, F4, F6_*): such a tensor is listed but cannot
                             * be loaded */
    const char *dtype_name; /* as the file spells it: "f32" in .born, "F32" in safetensors */
    int ndim;
    int64_t shape[BORN_MAX_DIMS];
    uint64_t offset; /* where its bytes start, from the start of the file */
    uint64_t nbytes;
} born_tensor_info;

/* Opens and validates the file at path (params may be NULL for the defaults). Returns a new
 * handle, or NULL with BORN_ERR_IO (cannot open or map), BORN_ERR_FORMAT or
 * BORN_ERR_UNSUPPORTED recorded; messages start with the path. */
BORN_API born_file *born_file_open(const char *path, const born_file_params *params);

/* As born_file_open, from len bytes in memory, which are copied (so the handle and its tensors
 * do not depend on data); messages name "buffer". */
BORN_API born_file *born_file_open_memory(const void *data, size_t len,
                                          const born_file_params *params);

/* Releases the handle; tensors taken from it stay valid. NULL is ignored. */
BORN_API void born_file_close(born_file *f);

/* The file's format (BORN_FORMAT_BORN or BORN_FORMAT_SAFETENSORS). */
BORN_API born_file_format born_file_get_format(const born_file *f);

/* The number of tensors, in the order their data lies in the file. */
BORN_API int64_t born_file_count(const born_file *f);

/* The header's description of tensor index (0 <= index < count). */
BORN_API born_status born_file_tensor_info(const born_file *f, int64_t index,
                                           born_tensor_info *info);

/* The index of the tensor named name, or -1 (without an error) when there is none; O(log n). */
BORN_API int64_t born_file_find(const born_file *f, const char *name);

/* A new zero-copy tensor over the named (or index-th) tensor's bytes. NULL with
 * BORN_ERR_ARGUMENT for an unknown name or index, BORN_ERR_UNSUPPORTED for a dtype Born lacks.
 * A safetensors tensor whose bytes are not aligned to its dtype is copied instead. */
BORN_API born_tensor *born_file_get(born_file *f, const char *name);
BORN_API born_tensor *born_file_get_index(born_file *f, int64_t index);

/* A new list (owned) of every tensor, in file order, each a zero-copy tensor as born_file_get's. */
BORN_API born_tensor_list *born_file_to_list(born_file *f);

/* The file's metadata (borrowed; empty when the file has none): .born "metadata", safetensors
 * "__metadata__". */
BORN_API const born_string_map *born_file_metadata(const born_file *f);

/* The .born header's "config" object (borrowed, valid until born_file_close), or NULL when the
 * file has none (always for safetensors). */
BORN_API const born_json_value *born_file_config(const born_file *f);

/* Checks a .born file's data section against its SHA-256 now (once; later calls return the first
 * result). BORN_ERR_FORMAT "data checksum mismatch" when the data is damaged; BORN_OK for
 * safetensors, which has no checksum. */
BORN_API born_status born_file_verify(born_file *f);

/* As born_file_open with the format forced to safetensors. */
BORN_API born_file *born_safetensors_open(const char *path, const born_file_params *params);

/* ------------------------------------------------------------------------------------------ */
/* Writing .born files. The writer streams: it creates a temporary file next to the target
 * ("<path>.tmp-<pid>-<n>"), writes each tensor's bytes as it is added (the model is never held
 * twice in memory), and on finish writes the header, fsyncs, and renames the temporary file over
 * the target, so a crash or error at any point leaves the previous file intact.               */

typedef struct born_file_writer born_file_writer;

/* Starts writing path. NULL with BORN_ERR_IO when the temporary file cannot be created. */
BORN_API born_file_writer *born_file_writer_open(const char *path);

/* Appends tensor t (any dtype, layout and device; written row-major) under name, which must be
 * non-empty, valid UTF-8 and unused (BORN_ERR_ARGUMENT otherwise, and nothing is written). A
 * write error (BORN_ERR_IO) makes every later call fail; only finish or abort remain. */
BORN_API born_status born_file_writer_add(born_file_writer *w, const char *name,
                                          const born_tensor *t);

/* Sets a metadata entry (replacing an earlier value of key); both valid UTF-8. */
BORN_API born_status born_file_writer_set_metadata(born_file_writer *w, const char *key,
                                                   const char *value);

/* Sets the "config" object (e.g. the model's architecture) from JSON text, which must parse to an
 * object (BORN_ERR_ARGUMENT otherwise); it is stored compact. */
BORN_API born_status born_file_writer_set_config(born_file_writer *w, const char *json_text,
                                                 size_t len);

/* Writes the header, fsyncs and renames the file into place, then frees w (on success and on
 * failure; on failure the temporary file is removed and the target is untouched). */
BORN_API born_status born_file_writer_finish(born_file_writer *w);

/* Removes the temporary file and frees w; the target is untouched. NULL is ignored. */
BORN_API void born_file_writer_abort(born_file_writer *w);

/* Writes every tensor of list, and metadata (may be NULL), as a .born file at path. */
BORN_API born_status born_file_save(const char *path, const born_tensor_list *list,
                                    const born_string_map *metadata);

/* As born_file_save with a config (JSON object text, may be NULL), into a new malloc'd buffer
 * *out (free() it) of *out_len bytes. */
BORN_API born_status born_file_encode(const born_tensor_list *list,
                                      const born_string_map *metadata, const char *config_json,
                                      void **out, size_t *out_len);

/* ------------------------------------------------------------------------------------------ */
/* Writing safetensors files, byte for byte as the reference implementation (the `safetensors`
 * Python package) writes the same tensors: tensors sorted by dtype alignment (descending) then
 * name, a compact JSON header padded with spaces to a multiple of 8 bytes, data packed without
 * gaps. metadata (may be NULL: no "__metadata__") is written in the map's order; the reference
 * writes a Rust HashMap's random order, so files agree byte for byte when there are at most one
 * metadata entry. Every Born dtype has a safetensors name; the data streams from the tensors
 * (which may be zero-copy tensors of an open file) and the file is replaced atomically, as the
 * .born writer does. Header larger than 100,000,000 bytes: BORN_ERR_ARGUMENT. */
BORN_API born_status born_safetensors_save(const char *path, const born_tensor_list *list,
                                           const born_string_map *metadata);

/* As born_safetensors_save, into a new malloc'd buffer *out (free() it) of *out_len bytes. */
BORN_API born_status born_safetensors_encode(const born_tensor_list *list,
                                             const born_string_map *metadata, void **out,
                                             size_t *out_len);

/* ------------------------------------------------------------------------------------------ */
/* State dicts and training checkpoints. */

typedef struct born_module born_module;
typedef struct born_optimizer born_optimizer;
typedef struct born_lr_scheduler born_lr_scheduler;

/* Saves born_module_state_dict(m) to path as .born or safetensors (format AUTO: safetensors when
 * the path ends in ".safetensors", else .born). */
BORN_API born_status born_module_save(born_module *m, const char *path, born_file_format format);

/* Loads a .born or safetensors file (told apart by content) into m with
 * born_module_load_state_dict(m, ..., strict); on failure m is unchanged. */
BORN_API born_status born_module_load(born_module *m, const char *path, bool strict);

/* Everything a training run needs to resume exactly. module is required; the others may be
 * NULL. */
typedef struct born_checkpoint {
    born_module *module;          /* saved under "model.<key>" */
    born_optimizer *optimizer;    /* "optim.<key>" */
    born_lr_scheduler *scheduler; /* "sched.<key>" */
    born_generator *generator;    /* "rng": [2] i64 holding (seed, offset) */
    int64_t step;                 /* "step": 0-dim i64 */
    born_string_map *metadata;    /* user metadata: saved as the file's metadata; on load, the
                                   * file's entries are set into it when it is not NULL */
} born_checkpoint;

/* Writes c as one .born file, atomically (temporary file, fsync, rename): if the write fails at
 * any point, the file that was at path before is left as it was. */
BORN_API born_status born_checkpoint_save(const char *path, const born_checkpoint *c);

/* Restores every non-NULL member of c from the file (verifying its checksum) and sets c->step.
 * A member given in c but missing from the file is an error; parts of the file with no member
 * in c are skipped. All or nothing: on any failure, the module, optimizer, scheduler, generator,
 * step and metadata are left as they were. */
BORN_API born_status born_checkpoint_load(const char *path, born_checkpoint *c);

/* ------------------------------------------------------------------------------------------ */
/* GGUF (llama.cpp's model files, versions 2 and 3; docs/formats/gguf.md). A GGUF file is one
 * more format of born_file: born_file_open recognises its "GGUF" magic, validates the whole
 * file as it does the others (every count, length, offset and size against the file's bounds
 * before anything is allocated for it; a truncated, damaged or hostile file gives
 * BORN_ERR_FORMAT naming the file, the byte offset and what is wrong), and born_file_count /
 * born_file_tensor_info / born_file_get / born_file_to_list give its tensors as zero-copy CPU
 * tensors over the mapping. Version 1 (2023) and big-endian files report BORN_ERR_UNSUPPORTED.
 *
 * Shapes: GGUF lists a tensor's dims fastest-varying first (ggml's ne[0] is the row length);
 * Born's shapes are row-major, slowest first, so the dims come out reversed: a weight stored
 * with ne = [K, N] (N rows of K elements, as ggml's mul_mat takes it) is a Born tensor of shape
 * [N, K], ready for born_linear. born_tensor_info.shape holds Born's order. GGUF allows at most 4
 * dims; ne[0] (Born's last dim) must be a multiple of the type's block size.
 *
 * Types: ggml types map to Born dtypes (f32 f16 bf16 f64 i8 i16 i32 i64 and the block-quantized
 * q4_0 q4_1 q5_0 q5_1 q8_0 q8_1 q2_K..q8_K iq4_nl iq4_xs, with identical bytes). Types ggml
 * defines that Born lacks (iq2_xxs, iq1_s, tq1_0, mxfp4, ...) are validated and listed with
 * dtype BORN_DTYPE_COUNT and ggml's name in dtype_name; loading one reports
 * BORN_ERR_UNSUPPORTED. A type number ggml does not define makes the file fail to open, naming
 * the tensor and the number.
 *
 * Metadata is typed, so it is read here rather than through born_file_metadata (which is empty
 * for GGUF). Values, keys and strings borrowed from the handle stay valid until born_file_close.
 * Errors name the function, the file and the key: a missing key is BORN_ERR_ARGUMENT, a value of
 * another type or out of range BORN_ERR_FORMAT ("key \"llama.block_count\" is string, not
 * u32"). */

/* GGUF's metadata value types, with GGUF's numbering. */
typedef enum born_gguf_type {
    BORN_GGUF_U8 = 0,
    BORN_GGUF_I8 = 1,
    BORN_GGUF_U16 = 2,
    BORN_GGUF_I16 = 3,
    BORN_GGUF_U32 = 4,
    BORN_GGUF_I32 = 5,
    BORN_GGUF_F32 = 6,
    BORN_GGUF_BOOL = 7,
    BORN_GGUF_STRING = 8,
    BORN_GGUF_ARRAY = 9,
    BORN_GGUF_U64 = 10,
    BORN_GGUF_I64 = 11,
    BORN_GGUF_F64 = 12,
    BORN_GGUF_TYPE_COUNT
} born_gguf_type;

/* The type's short name ("u32", "string", "array"), or "invalid"; a static string. */
BORN_API const char *born_gguf_type_name(born_gguf_type type);

/* A metadata value: a key's value or an element of an array, read with the born_gguf_value_*
 * functions. A small struct the caller keeps anywhere; it borrows from the handle. */
typedef struct born_gguf_value {
    born_gguf_type type;      /* the value's type */
    born_gguf_type elem_type; /* ARRAY: the elements' type (BORN_GGUF_TYPE_COUNT otherwise) */
    uint64_t count;           /* ARRAY: the number of elements; STRING: the length in bytes */
    uint64_t offset;          /* where the value's bytes start in the file: the number, the
                               * string's first byte, the array's first element */
    /* private */
    const born_file *file_;
    int64_t kv_;    /* the key it belongs to */
    int64_t index_; /* its index in the enclosing array, -1 for a key's own value */
} born_gguf_value;

/* As born_file_open with the format forced to GGUF. */
BORN_API born_file *born_gguf_open(const char *path, const born_file_params *params);

/* The file's GGUF version (2 or 3), 0 when f is not a GGUF file. */
BORN_API uint32_t born_gguf_version(const born_file *f);

/* The data alignment (general.alignment, default 32), 0 when f is not a GGUF file. */
BORN_API uint32_t born_gguf_alignment(const born_file *f);

/* Where the data section starts (tensor offsets in the file count from here), 0 if not GGUF. */
BORN_API uint64_t born_gguf_data_offset(const born_file *f);

/* The number of metadata keys (0 when f is not a GGUF file), in file order. */
BORN_API int64_t born_gguf_kv_count(const born_file *f);

/* Key index's name (NUL-terminated, borrowed), or NULL with BORN_ERR_ARGUMENT when out of range. */
BORN_API const char *born_gguf_kv_key(const born_file *f, int64_t index);

/* Key index's value. BORN_ERR_ARGUMENT when index is out of range or f is not a GGUF file. */
BORN_API born_status born_gguf_kv_value(const born_file *f, int64_t index,
                                        born_gguf_value *out);

/* The index of key, or -1 (without an error) when the file has no such key; O(log n). */
BORN_API int64_t born_gguf_find_key(const born_file *f, const char *key);

/* key's value; BORN_ERR_ARGUMENT naming the key when there is none. */
BORN_API born_status born_gguf_get(const born_file *f, const char *key,
                                   born_gguf_value *out);

/* Reading a value. Integers convert between widths and signedness when the value fits (an i32
 * key read as u32 gives its value if it is not negative, as llama.cpp does); floats read as f64
 * exactly and as f32 rounded; integers read as floats convert; bool and string read only as
 * themselves. Anything else is BORN_ERR_FORMAT naming the key and both types; a value that does
 * not fit names the value. */
BORN_API born_status born_gguf_value_u32(const born_gguf_value *v, uint32_t *out);
BORN_API born_status born_gguf_value_i32(const born_gguf_value *v, int32_t *out);
BORN_API born_status born_gguf_value_u64(const born_gguf_value *v, uint64_t *out);
BORN_API born_status born_gguf_value_i64(const born_gguf_value *v, int64_t *out);
BORN_API born_status born_gguf_value_f32(const born_gguf_value *v, float *out);
BORN_API born_status born_gguf_value_f64(const born_gguf_value *v, double *out);
BORN_API born_status born_gguf_value_bool(const born_gguf_value *v, bool *out);

/* A string's bytes and their count (len may be NULL). A key's own string value is
 * NUL-terminated; a string inside an array points into the file and is NOT: use len. Strings
 * are bytes as the file has them (GGUF says UTF-8; Born does not check values). */
BORN_API born_status born_gguf_value_string(const born_gguf_value *v, const char **str,
                                            size_t *len);

/* Element index of an array (BORN_ERR_ARGUMENT when out of range, BORN_ERR_FORMAT when v is not
 * an array). O(1) for numbers and for the strings of a key's own array (tokenizer vocabularies);
 * elements of arrays nested in arrays are found by walking. */
BORN_API born_status born_gguf_array_at(const born_gguf_value *array, uint64_t index,
                                        born_gguf_value *out);

/* Typed reads by key: born_gguf_get and then the value readers above. */
BORN_API born_status born_gguf_get_u32(const born_file *f, const char *key, uint32_t *out);
BORN_API born_status born_gguf_get_i32(const born_file *f, const char *key, int32_t *out);
BORN_API born_status born_gguf_get_u64(const born_file *f, const char *key, uint64_t *out);
BORN_API born_status born_gguf_get_i64(const born_file *f, const char *key, int64_t *out);
BORN_API born_status born_gguf_get_f32(const born_file *f, const char *key, float *out);
BORN_API born_status born_gguf_get_f64(const born_file *f, const char *key, double *out);
BORN_API born_status born_gguf_get_bool(const born_file *f, const char *key, bool *out);
BORN_API born_status born_gguf_get_string(const born_file *f, const char *key,
                                          const char **str, size_t *len);

/* An array key's element type (may be NULL) and length. */
BORN_API born_status born_gguf_get_array(const born_file *f, const char *key,
                                         born_gguf_type *elem_type, uint64_t *count);

/* Element index of an array key, read as the value readers do. */
BORN_API born_status born_gguf_get_array_i64(const born_file *f, const char *key,
                                             uint64_t index, int64_t *out);
BORN_API born_status born_gguf_get_array_f64(const born_file *f, const char *key,
                                             uint64_t index, double *out);
BORN_API born_status born_gguf_get_array_string(const born_file *f, const char *key,
                                                uint64_t index, const char **str, size_t *len);

/* Tensor index's ggml type number (as born_file_tensor_info orders tensors), or -1 with
 * BORN_ERR_ARGUMENT when out of range or f is not a GGUF file. */
BORN_API int born_gguf_tensor_type(const born_file *f, int64_t index);

/* ggml's name of a ggml type number ("q4_K"), or NULL for a number ggml does not define. */
BORN_API const char *born_ggml_type_name(int ggml_type);

/* The Born dtype of a ggml type, or BORN_DTYPE_COUNT when Born has none (or the number is not a
 * ggml type). */
BORN_API born_dtype born_ggml_type_dtype(int ggml_type);

/* The ggml type of a Born dtype, or -1 for u8 and bool, which GGUF cannot store. */
BORN_API int born_ggml_type_of(born_dtype dtype);

/* ------------------------------------------------------------------------------------------ */
/* Writing GGUF (version 3, little-endian). Metadata and tensor descriptions are collected in
 * memory; the file is written in GGUF's order (header, metadata, tensor infos, then the data,
 * every tensor aligned to general.alignment and padded after), streaming: tensor data goes to
 * the file as it comes and is never held twice, and the file is replaced atomically as the
 * other writers do ("<path>.tmp-<pid>-<n>", fsync, rename).
 *
 * Keys and tensor names must be non-empty, valid UTF-8 without NUL (BORN_ERR_ARGUMENT). Setting
 * a key again replaces its value in place. "general.alignment" must be set as a u32 power of
 * two; it sets the alignment of the data (default 32). Tensors: any Born dtype but u8 and bool,
 * at most 4 dims, written with their dims reversed into GGUF's order (the reader's inverse).
 *
 * Two ways to give tensors, freely mixed, written in the order they were added:
 *   born_gguf_writer_add_tensor keeps a reference to the tensor (zero-copy tensors of an open
 *     file cost nothing) and writes it when its turn comes;
 *   born_gguf_writer_declare_tensor only describes it; its data must then be passed with
 *     born_gguf_writer_write_tensor, in order, after everything has been added (the first
 *     write_tensor writes the header; metadata and tensors cannot be added after it). This is
 *     how a converter streams tensors it computes one at a time. */

typedef struct born_gguf_writer born_gguf_writer;

/* A writer for path (NULL with BORN_ERR_IO when the temporary file cannot be created), or one
 * that builds the file in memory (born_gguf_writer_finish_memory). */
BORN_API born_gguf_writer *born_gguf_writer_open(const char *path);
BORN_API born_gguf_writer *born_gguf_writer_open_memory(void);

/* Scalar and string values. Inside an array opened with born_gguf_writer_begin_array, key must
 * be NULL and the value (of the array's element type) is appended to it. */
BORN_API born_status born_gguf_writer_set_u8(born_gguf_writer *w, const char *key, uint8_t value);
BORN_API born_status born_gguf_writer_set_i8(born_gguf_writer *w, const char *key, int8_t value);
BORN_API born_status born_gguf_writer_set_u16(born_gguf_writer *w, const char *key, uint16_t value);
BORN_API born_status born_gguf_writer_set_i16(born_gguf_writer *w, const char *key, int16_t value);
BORN_API born_status born_gguf_writer_set_u32(born_gguf_writer *w, const char *key, uint32_t value);
BORN_API born_status born_gguf_writer_set_i32(born_gguf_writer *w, const char *key, int32_t value);
BORN_API born_status born_gguf_writer_set_u64(born_gguf_writer *w, const char *key, uint64_t value);
BORN_API born_status born_gguf_writer_set_i64(born_gguf_writer *w, const char *key, int64_t value);
BORN_API born_status born_gguf_writer_set_f32(born_gguf_writer *w, const char *key, float value);
BORN_API born_status born_gguf_writer_set_f64(born_gguf_writer *w, const char *key, double value);
BORN_API born_status born_gguf_writer_set_bool(born_gguf_writer *w, const char *key, bool value);
BORN_API born_status born_gguf_writer_set_string(born_gguf_writer *w, const char *key,
                                                 const char *value);
BORN_API born_status born_gguf_writer_set_string_n(born_gguf_writer *w, const char *key,
                                                   const char *value, size_t len);

/* An array of count numbers or bools of elem_type from a C array (uint8_t ... double; bool as
 * C's bool). */
BORN_API born_status born_gguf_writer_set_array(born_gguf_writer *w, const char *key,
                                                born_gguf_type elem_type, const void *data,
                                                uint64_t count);

/* An array of count strings; lens may be NULL (NUL-terminated strings) or give each length. */
BORN_API born_status born_gguf_writer_set_string_array(born_gguf_writer *w, const char *key,
                                                       const char *const *strs,
                                                       const size_t *lens, uint64_t count);

/* Opens an array of elem_type (any type, arrays included) under key (NULL when it is itself an
 * element of an open array of arrays); values set with a NULL key become its elements until
 * born_gguf_writer_end_array. Nesting is limited to 32 levels, as the reader's. */
BORN_API born_status born_gguf_writer_begin_array(born_gguf_writer *w, const char *key,
                                                  born_gguf_type elem_type);
BORN_API born_status born_gguf_writer_end_array(born_gguf_writer *w);

/* Copies a value read from a GGUF file (any type, nested arrays included) under key (NULL inside
 * an open array). */
BORN_API born_status born_gguf_writer_set_value(born_gguf_writer *w, const char *key,
                                                const born_gguf_value *value);

/* Adds tensor t (any layout and device), keeping a reference to it until it is written. */
BORN_API born_status born_gguf_writer_add_tensor(born_gguf_writer *w, const char *name,
                                                 const born_tensor *t);

/* Describes a tensor whose data will come through born_gguf_writer_write_tensor. */
BORN_API born_status born_gguf_writer_declare_tensor(born_gguf_writer *w, const char *name,
                                                     born_dtype dtype, int ndim,
                                                     const int64_t *shape);

/* Writes the data of the next declared tensor, which must be named name and have the declared
 * dtype and shape (tensors added with add_tensor before it are written first). */
BORN_API born_status born_gguf_writer_write_tensor(born_gguf_writer *w, const char *name,
                                                   const born_tensor *t);

/* Writes what remains (a declared tensor without data is an error), fsyncs and renames the file
 * into place, then frees w, on success and on failure (the target is then untouched). */
BORN_API born_status born_gguf_writer_finish(born_gguf_writer *w);

/* As finish, for a memory writer: the file in a new malloc'd buffer *out (free() it). */
BORN_API born_status born_gguf_writer_finish_memory(born_gguf_writer *w, void **out,
                                                    size_t *out_len);

/* Removes the temporary file (or buffer) and frees w. NULL is ignored. */
BORN_API void born_gguf_writer_abort(born_gguf_writer *w);

#ifdef __cplusplus
}
#endif
#endif /* BORN_IO_H */
