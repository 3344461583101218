/* Born io (layer 7): file formats: JSON (a strict RFC 8259 parser that builds a read-only
 * document, and a streaming writer), gzip/DEFLATE, IDX and NPY. docs/formats/json.md lists every choice the parser makes where
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


#ifdef __cplusplus
}
#endif
#endif /* BORN_IO_H */
